//! `cargo xtask bench`: training speed of the bench config, ours against PyTorch on the same machine.
//!
//! Each of our trainer versions (candle autograd over the readable model, and the hand-written engine,
//! each on one and on two cores) and, with `--torch PYTHON`, the PyTorch reference trainer
//! (`crates/phase2-lm/scripts/torch_gpt.py`) train the bench model for the same number of steps,
//! alternating A B A B so that machine load drifts hit both alike. Reported: training tokens/s,
//! achieved GFLOP/s (6·params·tokens + attention, nanoGPT's estimate) and peak resident memory. The
//! result is recorded (`records/m6/bench`), and every invocation is appended to its history.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use serde::{Deserialize, Serialize};
use viz::record::{Record, RunWriter};

use crate::records::{metric, BenchFullSummary, BenchSummary, ParitySummary};
use phase2_lm::corpus::{build_tokenizer, Corpus, TokenizerSpec};
use phase2_lm::model::GptConfig;
use phase2_lm::tokenizer::Tokenizer;
use phase2_lm::train::{Engine, RunConfig, TrainConfig, Trainer};

/// The bench's records live with m6's.
pub const MILESTONE: &str = "m6";
/// Record names: the speed runs, the whole-config runs, the PyTorch replay.
/// The trainer name of PyTorch's rows (ours are the variants' names).
pub const PYTORCH: &str = "pytorch";
pub const BENCH_RUN: &str = "bench";
pub const BENCH_FULL_RUN: &str = "bench_full";
pub const PARITY_RUN: &str = "torch_parity";

/// One trainer version to time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BenchVariant {
    pub name: String,
    pub ops: Engine,
    pub workers: usize,
}

/// `configs/phase2/bench.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BenchConfig {
    pub model: GptConfig,
    pub train: TrainConfig,
    /// Steps timed per trainer and round (the `--steps` flag overrides it).
    pub steps: usize,
    /// A B A B: how many times each trainer runs.
    pub rounds: usize,
    pub variants: Vec<BenchVariant>,
}

/// One trainer's measured speed (mean over rounds).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchRow {
    /// Variant name, or "pytorch".
    pub trainer: String,
    pub tokens_per_s: f64,
    pub gflops: f64,
    /// Peak resident memory (MiB): our process while this trainer ran (the high-water mark is reset
    /// before each run), or the PyTorch child process.
    pub peak_mem_mib: f64,
    pub steps: usize,
    /// Per-round tokens/s, in run order.
    pub rounds: Vec<f64>,
    /// Validation loss after the last round (ours: the fixed validation batches; PyTorch: its own
    /// `eval_iters` random batches). Comparable with nanoGPT's 1.88 only when `steps` = 2000.
    pub val_loss: f64,
    /// Ours only, in the full-length run: mean loss over every window of the validation split.
    #[serde(default)]
    pub val_loss_full: Option<f64>,
    /// The run's seed, in the full-length runs (one row per trainer and seed).
    #[serde(default)]
    pub seed: Option<u64>,
}

/// One line of the speed history kept across invocations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub git_commit: String,
    pub started: f64,
    pub rows: Vec<BenchRow>,
}

/// Training FLOPs per token: 6 per parameter (forward 2, backward 4) plus the attention score and
/// value products, 12 · layers · d_model · T (nanoGPT's `estimate_mfu`).
pub fn flops_per_token(m: &GptConfig) -> f64 {
    6.0 * m.n_params() as f64 + 12.0 * (m.n_layer * m.d_model * m.block_size) as f64
}

/// Resets this process's peak resident set size (`VmHWM`) to its current size (Linux ≥ 4.0: writing 5
/// to `/proc/self/clear_refs`), so the next [`peak_rss_mib`] reading is the peak of what ran since.
/// Returns false where the kernel does not allow it.
pub fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// Peak resident set size of a process (`VmHWM` in `/proc/<pid>/status`), in MiB.
pub fn peak_rss_mib(pid: &str) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// What one timed run of our trainer gives.
struct OursRun {
    tokens_per_s: f64,
    /// Mean over the fixed validation batches.
    val_loss: f64,
    /// Peak resident memory of this run (MiB), where the kernel lets us reset the high-water mark.
    peak_mib: f64,
    trainer: Trainer,
}

/// Tokens/s of `steps` training steps from a fresh model, and its validation loss afterwards.
fn time_ours(cfg: &RunConfig, train: &[u32], val: &[u32], steps: usize) -> Result<OursRun> {
    let reset = reset_peak_rss();
    let mut trainer = Trainer::new(cfg.clone())?;
    let start = Instant::now();
    for _ in 0..steps {
        trainer.step(train)?;
    }
    let tokens_per_s = (steps * trainer.tokens_per_step()) as f64 / start.elapsed().as_secs_f64();
    let batches = trainer.val_batches(val)?;
    let val_loss = trainer.evaluate(&batches)?;
    let peak_mib = if reset {
        peak_rss_mib("self").unwrap_or(f64::NAN)
    } else {
        f64::NAN
    };
    Ok(OursRun {
        tokens_per_s,
        val_loss,
        peak_mib,
        trainer,
    })
}

/// Output of one `torch_gpt.py` run.
#[derive(Debug, Clone, Deserialize)]
struct TorchResult {
    train_tokens_per_s: f64,
    val_loss: f64,
}

/// The flags that give `scripts/torch_gpt.py` our model and schedule: its argparse's `--batch`,
/// `--block`, `--d`, `--heads`, `--layers`, `--lr`, `--min-lr` and `--warmup` (for the bench config
/// they equal the script's defaults; any other size — `bench --size long` — needs them). The script
/// has no dropout: what it times is the model without, and so must ours be.
pub fn torch_size_args(model: &GptConfig, train: &TrainConfig) -> Vec<String> {
    [
        ("--batch", train.batch_size.to_string()),
        ("--block", model.block_size.to_string()),
        ("--d", model.d_model.to_string()),
        ("--heads", model.n_head.to_string()),
        ("--layers", model.n_layer.to_string()),
        ("--lr", train.max_lr.to_string()),
        ("--min-lr", train.min_lr.to_string()),
        ("--warmup", train.warmup.to_string()),
    ]
    .into_iter()
    .flat_map(|(flag, value)| [flag.to_string(), value])
    .collect()
}

#[allow(clippy::too_many_arguments)]
fn time_torch(
    python: &Path,
    script: &Path,
    data: &Path,
    size: &[String],
    steps: usize,
    threads: usize,
    seed: u64,
) -> Result<(TorchResult, f64)> {
    let mut child = Command::new(python)
        .arg(script)
        .arg("--data")
        .arg(data)
        .args(size)
        .args([
            "--iters",
            &steps.to_string(),
            "--threads",
            &threads.to_string(),
            "--seed",
            &seed.to_string(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {} {}", python.display(), script.display()))?;
    let pid = child.id().to_string();
    let mut stdout = child.stdout.take().context("no stdout")?;
    let mut stderr = child.stderr.take().context("no stderr")?;
    let out_thread = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err_thread = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    // VmHWM is a high-water mark, so the last reading before the process exits is its peak.
    let mut peak = 0.0f64;
    let status = loop {
        if let Some(m) = peak_rss_mib(&pid) {
            peak = peak.max(m);
        }
        if let Some(status) = child.try_wait()? {
            break status;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = out_thread.join().unwrap_or_default();
    let err = err_thread.join().unwrap_or_default();
    if !status.success() {
        bail!(
            "{} {} failed ({status}):\n{err}",
            python.display(),
            script.display()
        );
    }
    let last = out
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'))
        .with_context(|| {
            format!(
                "{} printed no JSON result line; output:\n{out}",
                script.display()
            )
        })?;
    let parsed: TorchResult = serde_json::from_str(last)
        .with_context(|| format!("parsing torch_gpt.py's result line: {last}"))?;
    Ok((parsed, peak))
}

/// What every bench run reads: the character-level corpus, the bench model sized to its vocabulary,
/// and the data file PyTorch's script is given.
struct BenchData {
    train: Vec<u32>,
    val: Vec<u32>,
    model: GptConfig,
    /// Training FLOPs per token of `model`.
    fpt: f64,
    data_file: std::path::PathBuf,
}

impl BenchData {
    fn load(ctx: &viz::Context, cfg: &BenchConfig) -> Result<BenchData> {
        // The file PyTorch reads: verified (downloaded if missing) by the data cache.
        let data_file =
            data_cache::fetch(&ctx.data_cache, &phase2_lm::data::tiny_shakespeare_file())?;
        let corpus = Corpus::split(&data_cache::read_text(&data_file)?);
        let tokenizer = build_tokenizer(&TokenizerSpec::Char {}, &corpus)?;
        let mut model = cfg.model.clone();
        model.vocab_size = tokenizer.vocab_size();
        Ok(BenchData {
            train: tokenizer.encode(&corpus.train_text),
            val: tokenizer.encode(&corpus.val_text),
            fpt: flops_per_token(&model),
            model,
            data_file,
        })
    }
}

/// Time every trainer version (and PyTorch, given its interpreter), print a table, record it.
pub fn bench(ctx: &viz::Context, torch_python: Option<&Path>, steps: Option<usize>) -> Result<()> {
    let (cfg, raw): (BenchConfig, toml::Value) = ctx.load_config(super::PHASE, "bench")?;
    bench_config(ctx, &cfg, &raw, BENCH_RUN, torch_python, steps)
}

/// The speed runs of [`bench`] for any model and batch (`cfg`), recorded as `m6/<run>` with `raw`
/// as its config: how `cargo xtask bench --size long` times the long run's model.
pub fn bench_config(
    ctx: &viz::Context,
    cfg: &BenchConfig,
    raw: &toml::Value,
    run: &str,
    torch_python: Option<&Path>,
    steps: Option<usize>,
) -> Result<()> {
    let steps = steps.unwrap_or(cfg.steps);
    if steps == 0 || cfg.rounds == 0 || cfg.variants.is_empty() {
        bail!("bench: steps, rounds and variants must be non-empty / > 0");
    }
    let data = BenchData::load(ctx, cfg)?;
    let script = match torch_python {
        Some(_) => script(ctx, "torch_gpt.py")?,
        None => std::path::PathBuf::new(),
    };
    let previous: Vec<HistoryEntry> = Record::load(ctx, MILESTONE, run)
        .ok()
        .and_then(|r| r.artifact("history").ok())
        .unwrap_or_default();
    let mut writer = RunWriter::create(ctx, MILESTONE, run, raw, cfg.train.seed)?;
    let torch = torch_python.map(|python| (python, script.as_path()));
    let timings = time_rounds(ctx, cfg, &data, torch, steps, &mut writer)?;
    let rows = bench_rows(cfg, &timings, data.fpt, steps, torch_python.is_some());
    print_header(run, cfg, &data, steps);
    record_rows(ctx, writer, previous, rows)
}

/// What the alternating rounds of [`bench_config`] measured.
struct Timings {
    /// Per trainer (ours in config order, then PyTorch), tokens/s of each round.
    rounds: Vec<Vec<f64>>,
    torch_peak: f64,
    torch_val: f64,
    our_val: Vec<f64>,
    our_peak: Vec<f64>,
}

/// Every trainer version for `steps` steps, then PyTorch (`torch`: its interpreter and script),
/// alternated for the config's rounds; tokens/s of each round into `writer`'s metrics.
fn time_rounds(
    ctx: &viz::Context,
    cfg: &BenchConfig,
    data: &BenchData,
    torch: Option<(&Path, &Path)>,
    steps: usize,
    writer: &mut RunWriter,
) -> Result<Timings> {
    let size = torch_size_args(&data.model, &cfg.train);
    let n_trainers = cfg.variants.len() + usize::from(torch.is_some());
    let mut t = Timings {
        rounds: vec![Vec::new(); n_trainers],
        torch_peak: 0.0f64,
        torch_val: f64::NAN,
        our_val: vec![f64::NAN; cfg.variants.len()],
        our_peak: vec![0.0f64; cfg.variants.len()],
    };
    let bar = ctx.progress((cfg.rounds * n_trainers) as u64, "bench");
    for round in 0..cfg.rounds {
        for (i, v) in cfg.variants.iter().enumerate() {
            let mut train_cfg = cfg.train.clone();
            train_cfg.ops = v.ops;
            train_cfg.workers = v.workers;
            let run = RunConfig {
                model: data.model.clone(),
                train: train_cfg,
            };
            let ours = time_ours(&run, &data.train, &data.val, steps)
                .with_context(|| format!("bench variant {}", v.name))?;
            let tps = ours.tokens_per_s;
            t.our_val[i] = ours.val_loss;
            t.our_peak[i] = t.our_peak[i].max(ours.peak_mib);
            writer.scalar(round as u64, &metric::tokens_per_s(&v.name), tps)?;
            t.rounds[i].push(tps);
            bar.inc(1);
            bar.set_message(format!("{} {tps:.0} tok/s", v.name));
        }
        if let Some((python, script)) = torch {
            let threads = std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2)
                .min(2);
            let (res, peak) = time_torch(
                python,
                script,
                &data.data_file,
                &size,
                steps,
                threads,
                cfg.train.seed,
            )?;
            writer.scalar(
                round as u64,
                &metric::tokens_per_s(PYTORCH),
                res.train_tokens_per_s,
            )?;
            t.rounds[n_trainers - 1].push(res.train_tokens_per_s);
            t.torch_peak = t.torch_peak.max(peak);
            t.torch_val = res.val_loss;
            bar.inc(1);
            bar.set_message(format!("pytorch {:.0} tok/s", res.train_tokens_per_s));
        }
    }
    bar.finish_and_clear();
    Ok(t)
}

/// One row per trainer: mean tokens/s over the rounds, GFLOP/s, peak memory, validation loss.
fn bench_rows(
    cfg: &BenchConfig,
    t: &Timings,
    fpt: f64,
    steps: usize,
    with_torch: bool,
) -> Vec<BenchRow> {
    let rounds = &t.rounds;
    let own_peak = peak_rss_mib("self").unwrap_or(f64::NAN);
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let mut rows: Vec<BenchRow> = cfg
        .variants
        .iter()
        .enumerate()
        .map(|(i, v)| BenchRow {
            trainer: v.name.clone(),
            tokens_per_s: mean(&rounds[i]),
            gflops: mean(&rounds[i]) * fpt / 1e9,
            peak_mem_mib: if t.our_peak[i].is_nan() {
                own_peak
            } else {
                t.our_peak[i]
            },
            steps,
            rounds: rounds[i].clone(),
            val_loss: t.our_val[i],
            val_loss_full: None,
            seed: None,
        })
        .collect();
    if with_torch {
        let r = &rounds[rounds.len() - 1];
        rows.push(BenchRow {
            trainer: PYTORCH.into(),
            tokens_per_s: mean(r),
            gflops: mean(r) * fpt / 1e9,
            peak_mem_mib: t.torch_peak,
            steps,
            rounds: r.clone(),
            val_loss: t.torch_val,
            val_loss_full: None,
            seed: None,
        });
    }
    rows
}

/// The bench table's heading on stdout (its rows follow as [`record_rows`] records them).
fn print_header(run: &str, cfg: &BenchConfig, data: &BenchData, steps: usize) {
    let model = &data.model;
    println!(
        "{run}: {} steps of {} layers × d_model {}, block {}, batch {} ({} params, {:.2} MFLOP/token), {} round(s)",
        steps,
        model.n_layer,
        model.d_model,
        model.block_size,
        cfg.train.batch_size,
        model.n_params(),
        data.fpt / 1e6,
        cfg.rounds
    );
    println!(
        "{:<18} {:>12} {:>9} {:>12} {:>9}",
        "trainer", "tokens/s", "GFLOP/s", "peak MiB", "val loss"
    );
}

/// Each row on stdout and its tokens/s into the summary, the ratio to PyTorch, the rows and the run's history
/// (`previous` plus this run) as artifacts, and the record finished.
fn record_rows(
    ctx: &viz::Context,
    mut writer: RunWriter,
    previous: Vec<HistoryEntry>,
    rows: Vec<BenchRow>,
) -> Result<()> {
    let mut tokens_per_s = BTreeMap::new();
    let mut ratio_vs_pytorch = None;
    for r in &rows {
        println!(
            "{:<18} {:>12.0} {:>9.2} {:>12.0} {:>9.3}",
            r.trainer, r.tokens_per_s, r.gflops, r.peak_mem_mib, r.val_loss
        );
        tokens_per_s.insert(
            metric::tokens_per_s(&r.trainer.replace(['+', '-'], "_")),
            r.tokens_per_s,
        );
    }
    let best = rows
        .iter()
        .filter(|r| r.trainer != PYTORCH)
        .map(|r| r.tokens_per_s)
        .fold(0.0, f64::max);
    if let Some(t) = rows.iter().find(|r| r.trainer == PYTORCH) {
        println!("ratio ours (best) / PyTorch: {:.2}", best / t.tokens_per_s);
        ratio_vs_pytorch = Some(best / t.tokens_per_s);
    }
    writer.summaries(&BenchSummary {
        ratio_vs_pytorch,
        tokens_per_s,
    })?;
    let (git_commit, _) = viz::record::git_state(&ctx.root);
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    let mut history = previous;
    history.push(HistoryEntry {
        git_commit,
        started,
        rows: rows.clone(),
    });
    writer.artifact("rows", &rows)?;
    writer.artifact("history", &history)?;
    writer.finish()
}

/// `cargo xtask bench --full`: the whole bench config (2000 steps) with our default trainer and, given
/// its interpreter, PyTorch, for `seeds` seeds (the config's seed, +1, ...): the validation loss the
/// speed runs are too short to show, and how much of it is the luck of one seed. Recorded as
/// `m6/bench_full`.
pub fn bench_full(ctx: &viz::Context, torch_python: Option<&Path>, seeds: usize) -> Result<()> {
    let (cfg, raw): (BenchConfig, toml::Value) = ctx.load_config(super::PHASE, "bench")?;
    if seeds == 0 {
        bail!("bench --full: --seeds must be >= 1");
    }
    let BenchData {
        train,
        val,
        model,
        fpt,
        data_file,
    } = BenchData::load(ctx, &cfg)?;
    let steps = cfg.train.steps;
    let script = match torch_python {
        Some(_) => Some(script(ctx, "torch_gpt.py")?),
        None => None,
    };
    let mut writer = RunWriter::create(ctx, MILESTONE, BENCH_FULL_RUN, &raw, cfg.train.seed)?;
    let per_seed = 1 + u64::from(torch_python.is_some());
    let bar = ctx.progress(per_seed * seeds as u64, "bench --full");
    let ours_name = format!("ours ({} x{})", cfg.train.ops, cfg.train.workers);
    let mut rows = Vec::new();
    for k in 0..seeds {
        let seed = cfg.train.seed + k as u64;
        bar.set_message(format!("{ours_name}, seed {seed}"));
        let mut train_cfg = cfg.train.clone();
        train_cfg.seed = seed;
        let run = RunConfig {
            model: model.clone(),
            train: train_cfg,
        };
        let mut ours = time_ours(&run, &train, &val, steps)?;
        let full = ours.trainer.evaluate_full(&val)?;
        bar.inc(1);
        writer.scalars(
            seed,
            &[
                (metric::VAL_LOSS, ours.val_loss),
                (metric::VAL_LOSS_FULL, full),
                (metric::TOKENS_PER_S, ours.tokens_per_s),
            ],
        )?;
        rows.push(BenchRow {
            trainer: ours_name.clone(),
            tokens_per_s: ours.tokens_per_s,
            gflops: ours.tokens_per_s * fpt / 1e9,
            peak_mem_mib: ours.peak_mib,
            steps,
            rounds: vec![ours.tokens_per_s],
            val_loss: ours.val_loss,
            val_loss_full: Some(full),
            seed: Some(seed),
        });
        if let (Some(python), Some(script)) = (torch_python, &script) {
            bar.set_message(format!("pytorch, seed {seed}"));
            let size = torch_size_args(&model, &cfg.train);
            let (res, peak) = time_torch(python, script, &data_file, &size, steps, 2, seed)?;
            bar.inc(1);
            writer.scalars(
                seed,
                &[
                    (metric::PYTORCH_VAL_LOSS, res.val_loss),
                    (metric::PYTORCH_TOKENS_PER_S, res.train_tokens_per_s),
                ],
            )?;
            rows.push(BenchRow {
                trainer: PYTORCH.into(),
                tokens_per_s: res.train_tokens_per_s,
                gflops: res.train_tokens_per_s * fpt / 1e9,
                peak_mem_mib: peak,
                steps,
                rounds: vec![res.train_tokens_per_s],
                val_loss: res.val_loss,
                val_loss_full: None,
                seed: Some(seed),
            });
        }
    }
    bar.finish_and_clear();
    for r in &rows {
        println!(
            "seed {:<5} {:<16} {:>7.0} tok/s  val loss {:.3} (whole split {})  peak {:.0} MiB",
            r.seed.unwrap_or(0),
            r.trainer,
            r.tokens_per_s,
            r.val_loss,
            r.val_loss_full.map_or("-".into(), |v| format!("{v:.3}")),
            r.peak_mem_mib
        );
    }
    let mean = |f: &dyn Fn(&BenchRow) -> Option<f64>, torch: bool| -> Option<f64> {
        let v: Vec<f64> = rows
            .iter()
            .filter(|r| (r.trainer == PYTORCH) == torch)
            .filter_map(f)
            .collect();
        (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
    };
    writer.summaries(&BenchFullSummary {
        val_loss: mean(&|r| Some(r.val_loss), false),
        val_loss_full: mean(&|r| r.val_loss_full, false),
        tokens_per_s: mean(&|r| Some(r.tokens_per_s), false),
        pytorch_val_loss: mean(&|r| Some(r.val_loss), true),
        pytorch_tokens_per_s: mean(&|r| Some(r.tokens_per_s), true),
        seeds: seeds as u64,
    })?;
    writer.artifact("rows", &rows)?;
    writer.finish()
}

/// A script of `crates/phase2-lm/scripts/` (the PyTorch reference trainer and the parity replay),
/// or an error saying where it was looked for.
fn script(ctx: &viz::Context, name: &str) -> Result<std::path::PathBuf> {
    let path = ctx
        .root
        .join("crates")
        .join("phase2-lm")
        .join("scripts")
        .join(name);
    if !path.exists() {
        bail!("{} does not exist", path.display());
    }
    Ok(path)
}

/// What `scripts/torch_parity.py` prints.
#[derive(Debug, Clone, Deserialize)]
struct ParityResult {
    losses: Vec<f64>,
    val_loss_full: f64,
    torch: String,
}

/// `cargo xtask bench --parity --torch PYTHON`: our trainer and PyTorch from the *same* initial
/// weights on the *same* batches. Our run writes its initial weights and every step's window
/// starts, trains the bench config, and `scripts/torch_parity.py` replays it with
/// `scripts/torch_gpt.py`'s model and training loop. Any gap between the two loss curves is a
/// difference between the implementations, not between random streams. Recorded as
/// `m6/torch_parity`.
pub fn bench_parity(ctx: &viz::Context, python: &Path) -> Result<()> {
    use std::io::Write;

    let (cfg, raw): (BenchConfig, toml::Value) = ctx.load_config(super::PHASE, "bench")?;
    let BenchData {
        train,
        val,
        model,
        data_file,
        ..
    } = BenchData::load(ctx, &cfg)?;
    let torch_gpt = script(ctx, "torch_gpt.py")?;
    let replay = script(ctx, "torch_parity.py")?;
    let steps = cfg.train.steps;
    let mut trainer = Trainer::new(RunConfig {
        model: model.clone(),
        train: cfg.train.clone(),
    })?;

    // The replay's inputs: initial weights (f32, `vars()` order), their names and shapes, and the
    // window starts the sampler will draw (a clone of its stream, so the run itself is untouched).
    let dir = tempfile::tempdir().context("creating a folder for the replay's inputs")?;
    let mut init = std::io::BufWriter::new(std::fs::File::create(dir.path().join("init.bin"))?);
    let mut names = String::new();
    for x in trainer.params() {
        init.write_all(&x.to_le_bytes())?;
    }
    for (name, shape) in phase2_lm::model::param_specs(&model) {
        names.push_str(&format!("{name} {shape:?}\n"));
    }
    init.flush()?;
    std::fs::write(dir.path().join("names.txt"), names)?;
    let mut rng = trainer.rng.clone();
    let mut starts = String::new();
    for _ in 0..steps {
        let row: Vec<String> = phase2_lm::train::window_starts(
            train.len(),
            cfg.train.batch_size,
            model.block_size,
            &mut rng,
        )
        .iter()
        .map(|i| i.to_string())
        .collect();
        starts.push_str(&row.join(" "));
        starts.push('\n');
    }
    std::fs::write(dir.path().join("starts.txt"), starts)?;

    let mut writer = RunWriter::create(ctx, MILESTONE, PARITY_RUN, &raw, cfg.train.seed)?;
    let bar = ctx.progress(steps as u64, "parity: ours");
    let mut ours = Vec::with_capacity(steps);
    for _ in 0..steps {
        ours.push(trainer.step(&train)?.loss as f64);
        bar.inc(1);
    }
    bar.finish_and_clear();
    let ours_full = trainer.evaluate_full(&val)?;

    if !ctx.quiet {
        eprintln!("parity: PyTorch replays the run ({steps} steps)…");
    }
    let out = Command::new(python)
        .arg(&replay)
        .arg("--torch-gpt")
        .arg(&torch_gpt)
        .arg("--data")
        .arg(&data_file)
        .arg("--dir")
        .arg(dir.path())
        .args([
            "--block",
            &model.block_size.to_string(),
            "--d",
            &model.d_model.to_string(),
            "--heads",
            &model.n_head.to_string(),
            "--layers",
            &model.n_layer.to_string(),
            "--lr",
            &cfg.train.max_lr.to_string(),
            "--min-lr",
            &cfg.train.min_lr.to_string(),
            "--warmup",
            &cfg.train.warmup.to_string(),
        ])
        .output()
        .with_context(|| format!("starting {} {}", python.display(), replay.display()))?;
    if !out.status.success() {
        bail!(
            "{} failed ({}):\n{}",
            replay.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'))
        .with_context(|| format!("{} printed no JSON line", replay.display()))?;
    let theirs: ParityResult = serde_json::from_str(line).context("parsing the replay's result")?;
    if theirs.losses.len() != steps {
        bail!("the replay ran {} steps, ours {steps}", theirs.losses.len());
    }
    let mut max_diff = 0f64;
    for (i, (a, b)) in ours.iter().zip(&theirs.losses).enumerate() {
        let step = (i + 1) as u64;
        writer.scalars(
            step,
            &[
                (metric::OURS_LOSS, *a),
                (metric::TORCH_LOSS, *b),
                (metric::ABS_DIFF, (a - b).abs()),
            ],
        )?;
        max_diff = max_diff.max((a - b).abs());
    }
    writer.summaries(&ParitySummary {
        max_abs_loss_diff: max_diff,
        ours_val_loss_full: ours_full,
        torch_val_loss_full: theirs.val_loss_full,
        steps: steps as u64,
    })?;
    writer.text("torch_version", &theirs.torch)?;
    println!(
        "parity: {steps} steps, largest |loss ours − torch| {max_diff:.2e}; whole-split val loss ours {ours_full:.6}, torch {:.6}",
        theirs.val_loss_full
    );
    writer.finish()
}
