//! Serving as an experiment, run by `cargo xtask serving`: the m8 reader behind the server on
//! loopback, load-tested within the queue limit and beyond it, into `records/m8/serving/`.
//!
//! The record keeps what reproduces apart from what is a timing: the cases, the reference replies
//! and every request's outcome under load (which case, streamed or not, status, any problem) are
//! fixed by the config and seed; latencies, wall times, and which requests of the over-limit run
//! found room (that depends on timing) sit in the `timings` artifact.
//!
//! `cargo xtask serve` starts the server itself (by default over the m8 reader).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, ensure, Context as _, Result};
use clap::{FromArgMatches, Subcommand};
use phase2_lm::tokenizer::Tokenizer as _;
use phase3_rag::reader::STOP;
use phase3_rag::saved::{self, SavedReader};
use serde::{Deserialize, Serialize};
use viz::log::{Figure, FigureKind, LogEntry};
use viz::plot::{line_grid, LineChart, Series};
use viz::record::{Record, RunWriter};
use viz::table::Table;
use viz::Context;

use serve::load::{self, percentile, Case, Outcome, Plan, Reply, Target, Timing};
use serve::registry::Registry;
use serve::server::{self, ServerConfig, StatsSnapshot};

/// Config folder name (`configs/serving/`) and `cargo xtask serving`.
pub const PHASE: &str = "serving";
/// The experiment, its config and its record (`records/m8/serving/`).
pub const SERVING: &str = "m8_serving";
const RECORD: &str = "serving";
/// The name the reader is served under.
const MODEL: &str = "reader";

const FIG_LATENCY: &str = "m8_serving_latency.png";
const FIG_TIMELINE: &str = "m8_serving_timeline.png";

/// Serving as `cargo xtask` sees it: one experiment, no milestone of its own (it serves m8's model).
pub fn phase() -> viz::phase::Phase {
    viz::phase::Phase {
        name: PHASE,
        about: "Serving: the m8 reader over the OpenAI API, load-tested on loopback",
        crate_dir: "crates/serve",
        experiments: &[SERVING],
        milestones: &[],
        run,
        figures,
        log_entries,
        commands,
        run_command,
    }
}

/// `configs/serving/m8_serving.toml`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServingConfig {
    pub seed: u64,
    /// Held-out questions of m8's record, each prompted as the reader is asked (its k best BM25
    /// passages); each becomes two cases, an answer and a continuation.
    pub prompts: usize,
    /// The answer: greedy, at most this many tokens, stopping at a newline (how m8 asks).
    pub answer_tokens: usize,
    /// The continuation: sampled, exactly this many tokens (no stop), a longer generation.
    pub continuation_tokens: usize,
    /// Temperature of the continuations (each with a seed of its own).
    pub temperature: f64,
    /// The server of the load run.
    pub server: Limits,
    /// Within the limit: every request is admitted.
    pub load: Plan,
    /// The server of the over-limit run.
    pub overload_server: Limits,
    /// Beyond the limit: more clients at once than the server has room for.
    pub overload: Plan,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    pub max_running: usize,
    pub max_queued: usize,
}

impl Limits {
    fn room(&self) -> usize {
        self.max_running + self.max_queued
    }
}

/// The `timings` artifact: everything that depends on the clock.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Timings {
    /// Each case alone, not streamed (ms).
    pub unloaded_ms: Vec<f64>,
    pub load: Vec<Timing>,
    pub load_wall_s: f64,
    /// The over-limit run whole: who got a reply and who a 503 depends on timing.
    pub overload: Vec<(Outcome, Timing)>,
    pub overload_wall_s: f64,
    /// The server's counters after the over-limit run.
    pub overload_server: ServerCounts,
}

/// [`StatsSnapshot`] as recorded.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ServerCounts {
    pub finished: u64,
    pub cancelled: u64,
    pub failed: u64,
    pub tokens: u64,
    pub overloaded: u64,
}

impl From<StatsSnapshot> for ServerCounts {
    fn from(s: StatsSnapshot) -> ServerCounts {
        ServerCounts {
            finished: s.finished,
            cancelled: s.cancelled,
            failed: s.failed,
            tokens: s.tokens,
            overloaded: s.overloaded,
        }
    }
}

fn check(cfg: &ServingConfig) -> Result<()> {
    ensure!(cfg.prompts >= 1, "{SERVING}: `prompts` must be at least 1");
    ensure!(
        cfg.answer_tokens >= 1 && cfg.continuation_tokens >= 1,
        "{SERVING}: `answer_tokens` and `continuation_tokens` must be at least 1"
    );
    ensure!(
        cfg.server.max_running >= 1 && cfg.overload_server.max_running >= 1,
        "{SERVING}: `max_running` must be at least 1"
    );
    ensure!(
        cfg.load.clients >= 1 && cfg.load.requests_per_client >= 1,
        "{SERVING}: `load` needs clients and requests"
    );
    ensure!(
        cfg.load.clients <= cfg.server.room(),
        "{SERVING}: `load.clients` ({}) must fit the server's room (`server.max_running` + `server.max_queued` = {}): the load run stays within the limit",
        cfg.load.clients,
        cfg.server.room()
    );
    ensure!(
        cfg.overload.clients > cfg.overload_server.room(),
        "{SERVING}: `overload.clients` ({}) must exceed `overload_server`'s room ({}): the over-limit run must go over it",
        cfg.overload.clients,
        cfg.overload_server.room()
    );
    ensure!(
        cfg.overload.synchronized,
        "{SERVING}: `overload.synchronized` must be true (its clients must arrive together)"
    );
    Ok(())
}

pub fn run(ctx: &Context, name: &str) -> Result<()> {
    ensure!(
        name == SERVING,
        "unknown serving experiment `{name}`; valid names: {SERVING}"
    );
    let start = Instant::now();
    let summary = run_serving(ctx)?;
    println!("{name}: {summary} ({:.0} s)", start.elapsed().as_secs_f64());
    Ok(())
}

fn run_serving(ctx: &Context) -> Result<String> {
    let (cfg, raw): (ServingConfig, toml::Value) = ctx.load_config(PHASE, SERVING)?;
    check(&cfg)?;
    let mut rec = RunWriter::create(ctx, saved::MILESTONE, RECORD, &raw, cfg.seed)?;
    let dir = saved::reader_dir(ctx);
    let reader = SavedReader::load(&dir).with_context(|| {
        if ctx.quick {
            "a smoke run of serving reads the reader of phase 3's smoke run, which each `--quick` run \
             clears: run both at once with `cargo xtask all --quick`"
                .to_string()
        } else {
            format!("{SERVING} serves the m8 reader")
        }
    })?;
    let m8_record = Record::load(ctx, saved::MILESTONE, "reader").with_context(|| {
        format!(
            "{SERVING} asks m8's held-out questions, from its record: run `cargo xtask phase3 --only {}` first",
            saved::READER
        )
    })?;
    let questions: BTreeMap<String, (String, Vec<String>)> = m8_record.artifact("questions")?;
    ensure!(
        questions.len() >= cfg.prompts,
        "{SERVING}: `prompts` = {} but m8's record holds {} questions",
        cfg.prompts,
        questions.len()
    );
    let registry = Registry::load(&[(MODEL.to_string(), dir.clone())])?;
    let model = registry.get(MODEL).expect("just loaded");
    let max_tokens = cfg.answer_tokens.max(cfg.continuation_tokens);
    let budget = model.context().saturating_sub(max_tokens);
    let count = |s: &str| {
        model
            .weights
            .tokenizer
            .try_encode(s)
            .map_or(s.len(), |t| t.len())
    };
    let mut cases = Vec::with_capacity(2 * cfg.prompts);
    for (i, (question, _)) in questions.values().take(cfg.prompts).enumerate() {
        let (prompt, _, _) = reader.prompt(question, reader.settings.k, budget, count)?;
        cases.push(Case {
            prompt: prompt.clone(),
            max_tokens: cfg.answer_tokens,
            temperature: 0.0,
            seed: 0,
            stop: vec![STOP.to_string()],
        });
        cases.push(Case {
            prompt,
            max_tokens: cfg.continuation_tokens,
            temperature: cfg.temperature,
            seed: i as u64,
            stop: Vec::new(),
        });
    }
    let target = |url: String| Target {
        url,
        model: MODEL.to_string(),
    };
    let spawn = |limits: &Limits| {
        server::spawn(ServerConfig {
            max_running: limits.max_running,
            max_queued: limits.max_queued,
            max_tokens,
            ..ServerConfig::local(registry.clone(), 0)
        })
    };

    // Within the limit: the references first (each case alone), then the load.
    let running = spawn(&cfg.server)?;
    let t = target(running.url());
    let bar = ctx.progress(cases.len() as u64, "references");
    let (expected, unloaded_ms) = load::references(&t, &cases, || bar.inc(1))?;
    bar.finish_and_clear();
    let before = running.stats();
    let total = (cfg.load.clients * cfg.load.requests_per_client) as u64;
    let bar = ctx.progress(total, "load");
    let t0 = Instant::now();
    let loaded = load::run(&t, &cases, &expected, &cfg.load, cfg.seed, false, || {
        bar.inc(1)
    })?;
    let load_wall_s = t0.elapsed().as_secs_f64();
    bar.finish_and_clear();
    let after = running.stats();
    running.stop()?;

    // Beyond the limit: everybody at once, several times.
    let running = spawn(&cfg.overload_server)?;
    let t = target(running.url());
    let over_total = (cfg.overload.clients * cfg.overload.requests_per_client) as u64;
    let bar = ctx.progress(over_total, "over the limit");
    let t0 = Instant::now();
    let overload = load::run(
        &t,
        &cases,
        &expected,
        &cfg.overload,
        cfg.seed + 1,
        true,
        || bar.inc(1),
    )?;
    let overload_wall_s = t0.elapsed().as_secs_f64();
    bar.finish_and_clear();
    let overload_server = running.stats();
    running.stop()?;

    let (outcomes, load_timings): (Vec<Outcome>, Vec<Timing>) = loaded.into_iter().unzip();
    let problems = outcomes.iter().filter(|o| o.problem.is_some()).count();
    let over_problems = overload.iter().filter(|(o, _)| o.problem.is_some()).count();
    let over_ok = overload.iter().filter(|(o, _)| o.status == 200).count();
    let tokens: u64 = outcomes.iter().map(|o| o.completion_tokens).sum();

    rec.summary("cases", cases.len() as f64);
    rec.summary("load/requests", outcomes.len() as f64);
    rec.summary(
        "load/streamed",
        outcomes.iter().filter(|o| o.stream).count() as f64,
    );
    rec.summary("load/problems", problems as f64);
    rec.summary("load/completion_tokens", tokens as f64);
    rec.summary("load/server_tokens", (after.tokens - before.tokens) as f64);
    rec.summary(
        "load/server_cancelled",
        (after.cancelled - before.cancelled) as f64,
    );
    rec.summary("overload/requests", overload.len() as f64);
    rec.summary("overload/problems", over_problems as f64);
    rec.summary("model_params", model.weights.config.n_params() as f64);
    rec.summary("block_size", model.context() as f64);
    rec.summary("k", reader.settings.k as f64);
    rec.artifact("cases", &cases)?;
    rec.artifact("references", &expected)?;
    rec.artifact("load_requests", &outcomes)?;
    rec.artifact(
        "timings",
        &Timings {
            unloaded_ms,
            load: load_timings.clone(),
            load_wall_s,
            overload,
            overload_wall_s,
            overload_server: overload_server.into(),
        },
    )?;
    rec.finish()?;
    let lat: Vec<f64> = load_timings.iter().map(|t| t.latency_ms).collect();
    Ok(format!(
        "{} requests by {} clients: {problems} lost or malformed, {:.1} requests/s, {:.0} tokens/s, p50 {:.0} ms, p99 {:.0} ms; over the limit {over_ok} answered, {} refused with 503, {over_problems} anything else",
        outcomes.len(),
        cfg.load.clients,
        outcomes.len() as f64 / load_wall_s,
        tokens as f64 / load_wall_s,
        percentile(&lat, 50.0),
        percentile(&lat, 99.0),
        over_total as usize - over_ok - over_problems,
    ))
}

fn record(ctx: &Context) -> Option<Record> {
    Record::load(ctx, saved::MILESTONE, RECORD).ok()
}

/// Everything the figures and the log read, from the record.
struct Loaded {
    cfg: ServingConfig,
    cases: Vec<Case>,
    outcomes: Vec<Outcome>,
    timings: Timings,
}

fn loaded(rec: &Record) -> Result<Loaded> {
    let outcomes: Vec<Outcome> = rec.artifact("load_requests")?;
    let timings: Timings = rec.artifact("timings")?;
    ensure!(
        outcomes.len() == timings.load.len(),
        "record {}: {} outcomes but {} timings",
        rec.dir.display(),
        outcomes.len(),
        timings.load.len()
    );
    let cases: Vec<Case> = rec.artifact("cases")?;
    ensure!(
        outcomes.iter().all(|o| o.case < cases.len()),
        "record {}: an outcome names a case that is not recorded",
        rec.dir.display()
    );
    Ok(Loaded {
        cfg: rec.config_as()?,
        cases,
        outcomes,
        timings,
    })
}

impl Loaded {
    /// Latencies (ms) of the load run's requests that `keep` selects.
    fn latencies(&self, keep: impl Fn(&Outcome) -> bool) -> Vec<f64> {
        self.outcomes
            .iter()
            .zip(&self.timings.load)
            .filter(|(o, _)| keep(o))
            .map(|(_, t)| t.latency_ms)
            .collect()
    }

    /// When the first token of the streamed requests that `keep` selects arrived (ms).
    fn first_tokens(&self, keep: impl Fn(&Outcome) -> bool) -> Vec<f64> {
        self.outcomes
            .iter()
            .zip(&self.timings.load)
            .filter(|(o, _)| keep(o))
            .filter_map(|(_, t)| t.first_token_ms)
            .collect()
    }

    /// Whether the outcome's case is an answer (stops at a newline) rather than a continuation.
    fn is_answer(&self, o: &Outcome) -> bool {
        !self.cases[o.case].stop.is_empty()
    }

    /// The unloaded latencies (ms) of answers (`true`) or continuations.
    fn alone(&self, answers: bool) -> Vec<f64> {
        self.cases
            .iter()
            .zip(&self.timings.unloaded_ms)
            .filter(|(c, _)| c.stop.is_empty() != answers)
            .map(|(_, &t)| t)
            .collect()
    }
}

/// The empirical distribution of `xs`: (value, % of values at or below it).
fn cdf(xs: &[f64]) -> Vec<(f64, f64)> {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len() as f64;
    v.iter()
        .enumerate()
        .map(|(i, &x)| (x, 100.0 * (i + 1) as f64 / n))
        .collect()
}

/// Events per second at `times_ms` (each with a weight), in `bins` equal bins over `wall_s`: (bin
/// centre in s, rate).
fn rate(times_ms: impl Iterator<Item = (f64, f64)>, wall_s: f64, bins: usize) -> Vec<(f64, f64)> {
    let width = wall_s.max(1e-3) / bins as f64;
    let mut sums = vec![0.0; bins];
    for (t, weight) in times_ms {
        let b = ((t / 1e3 / width) as usize).min(bins - 1);
        sums[b] += weight;
    }
    sums.into_iter()
        .enumerate()
        .map(|(i, c)| ((i as f64 + 0.5) * width, c / width))
        .collect()
}

pub fn figures(ctx: &Context) -> Result<Vec<PathBuf>> {
    let Some(rec) = record(ctx) else {
        return Ok(Vec::new());
    };
    let l = loaded(&rec)?;
    let panel = |answers: bool, title: String| {
        let kind = |o: &Outcome| l.is_answer(o) == answers;
        LineChart::new(title, "latency (ms, log scale)", "requests at or below (%)")
            .log_x()
            .x_ticks(vec![
                2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0,
            ])
            .y_range(0.0, 100.0)
            .series(Series::new("alone (no load)", cdf(&l.alone(answers))).dashed())
            .series(Series::new(
                "under load, not streamed",
                cdf(&l.latencies(|o| kind(o) && !o.stream)),
            ))
            .series(Series::new(
                "under load, streamed: whole reply",
                cdf(&l.latencies(|o| kind(o) && o.stream)),
            ))
            .series(Series::new(
                "under load, streamed: first token",
                cdf(&l.first_tokens(kind)),
            ))
    };
    let path = ctx.figure(FIG_LATENCY);
    line_grid(
        &format!(
            "Latency of {} requests from {} clients at once, and of each case alone",
            l.outcomes.len(),
            l.cfg.load.clients
        ),
        &[
            panel(
                true,
                format!("Answers (greedy, ≤ {} tokens)", l.cfg.answer_tokens),
            ),
            panel(
                false,
                format!("Continuations ({} tokens)", l.cfg.continuation_tokens),
            ),
        ],
        2,
        &path,
    )?;

    // Throughput over time: within the limit, and the over-limit run's replies and refusals.
    const BINS: usize = 25;
    let done = |t: &Timing| t.start_ms + t.latency_ms;
    let load_wall = l.timings.load_wall_s;
    let tokens = LineChart::new(
        "Tokens generated, within the limit",
        "time since the load began (s)",
        "tokens per second",
    )
    .series(Series::new(
        "tokens",
        rate(
            l.outcomes
                .iter()
                .zip(&l.timings.load)
                .map(|(o, t)| (done(t), o.completion_tokens as f64)),
            load_wall,
            BINS,
        ),
    ));
    let replies = LineChart::new(
        "Replies, within the limit",
        "time since the load began (s)",
        "replies per second",
    )
    .series(
        Series::new(
            "answered (200)",
            rate(
                l.timings.load.iter().map(|t| (done(t), 1.0)),
                load_wall,
                BINS,
            ),
        )
        .colour_slot(2),
    );
    // Bursts of refusals are clearer as running totals than as rates.
    let over = |status: u16| {
        let mut ends: Vec<f64> = l
            .timings
            .overload
            .iter()
            .filter(|(o, _)| o.status == status)
            .map(|(_, t)| done(t) / 1e3)
            .collect();
        ends.sort_by(f64::total_cmp);
        let mut points = vec![(0.0, 0.0)];
        for (i, t) in ends.into_iter().enumerate() {
            points.push((t, i as f64));
            points.push((t, (i + 1) as f64));
        }
        points.push((
            l.timings.overload_wall_s,
            points.last().map_or(0.0, |p| p.1),
        ));
        points
    };
    let beyond = LineChart::new(
        format!(
            "Beyond the limit: {} clients at once, room for {}",
            l.cfg.overload.clients,
            l.cfg.overload_server.room()
        ),
        "time since the load began (s)",
        "requests so far",
    )
    .series(Series::new("answered (200)", over(200)).colour_slot(2))
    .series(Series::new("refused (503)", over(503)).colour_slot(3));
    let timeline = ctx.figure(FIG_TIMELINE);
    line_grid(
        "Serving the m8 reader on 2 cores: throughput over time",
        &[tokens, replies, beyond],
        2,
        &timeline,
    )?;
    Ok(vec![path, timeline])
}

fn ms(v: f64) -> String {
    if v.is_nan() {
        "–".into()
    } else if v < 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.0}")
    }
}

fn pcts(xs: &[f64]) -> [String; 3] {
    [50.0, 95.0, 99.0].map(|p| ms(percentile(xs, p)))
}

pub fn log_entries(ctx: &Context) -> Result<Vec<LogEntry>> {
    let Some(rec) = record(ctx) else {
        return Ok(Vec::new());
    };
    let l = loaded(&rec)?;
    let cfg = &l.cfg;
    let n_load = l.outcomes.len();
    let problems: Vec<&Outcome> = l.outcomes.iter().filter(|o| o.problem.is_some()).collect();
    let tokens: f64 = l.outcomes.iter().map(|o| o.completion_tokens as f64).sum();
    let server_tokens = rec.require("load/server_tokens")?;
    let cases = rec.require("cases")?;
    let unloaded_s: f64 = l.timings.unloaded_ms.iter().sum::<f64>() / 1e3;
    let reference: Vec<Reply> = rec.artifact("references")?;
    let ref_tokens: f64 = reference.iter().map(|r| r.completion_tokens as f64).sum();
    let over = &l.timings.overload;
    let over_ok = over
        .iter()
        .filter(|(o, _)| o.status == 200 && o.problem.is_none())
        .count();
    let over_503 = over
        .iter()
        .filter(|(o, _)| o.status == 503 && o.problem.is_none())
        .count();
    let over_bad: Vec<&Outcome> = over
        .iter()
        .map(|(o, _)| o)
        .filter(|o| o.problem.is_some())
        .collect();
    let over_tokens: f64 = over.iter().map(|(o, _)| o.completion_tokens as f64).sum();

    let all = l.latencies(|_| true);
    let streamed = l.latencies(|o| o.stream && !l.is_answer(o));
    let first = l.first_tokens(|o| !l.is_answer(o));
    let over_lat: Vec<f64> = over
        .iter()
        .filter(|(o, _)| o.status == 200)
        .map(|(_, t)| t.latency_ms)
        .collect();
    let refused_lat: Vec<f64> = over
        .iter()
        .filter(|(o, _)| o.status == 503)
        .map(|(_, t)| t.latency_ms)
        .collect();

    let mut runs = Table::new(&[
        "run",
        "requests",
        "correct replies",
        "clean 503s",
        "lost or malformed",
        "replies/s",
        "tokens/s",
        "p50 (ms)",
        "p95 (ms)",
        "p99 (ms)",
    ]);
    let row = |name: &str,
               n: usize,
               ok: usize,
               refused: String,
               bad: usize,
               wall: f64,
               tok: f64,
               lat: &[f64]| {
        let [p50, p95, p99] = pcts(lat);
        vec![
            name.to_string(),
            n.to_string(),
            ok.to_string(),
            refused,
            bad.to_string(),
            format!("{:.1}", ok as f64 / wall),
            format!("{:.0}", tok / wall),
            p50,
            p95,
            p99,
        ]
    };
    runs.push(row(
        "each case alone, one after another",
        cases as usize,
        cases as usize,
        "–".into(),
        0,
        unloaded_s,
        ref_tokens,
        &l.timings.unloaded_ms,
    ));
    runs.push(row(
        &format!(
            "within the limit: {} clients × {}",
            cfg.load.clients, cfg.load.requests_per_client
        ),
        n_load,
        n_load - problems.len(),
        "–".into(),
        problems.len(),
        l.timings.load_wall_s,
        tokens,
        &all,
    ));
    runs.push(row(
        &format!(
            "beyond the limit: {} clients at once × {}",
            cfg.overload.clients, cfg.overload.requests_per_client
        ),
        over.len(),
        over_ok,
        over_503.to_string(),
        over_bad.len(),
        l.timings.overload_wall_s,
        over_tokens,
        &over_lat,
    ));
    let mut kinds = Table::new(&[
        "within the limit",
        "requests",
        "tokens per reply",
        "p50 (ms)",
        "p95 (ms)",
        "p99 (ms)",
    ]);
    for answers in [true, false] {
        let what = if answers { "answers" } else { "continuations" };
        let kind = |o: &Outcome| l.is_answer(o) == answers;
        for (name, stream, xs) in [
            ("not streamed", false, l.latencies(|o| kind(o) && !o.stream)),
            (
                "streamed: whole reply",
                true,
                l.latencies(|o| kind(o) && o.stream),
            ),
            ("streamed: first token", true, l.first_tokens(kind)),
        ] {
            let picked: Vec<&Outcome> = l
                .outcomes
                .iter()
                .filter(|o| kind(o) && o.stream == stream)
                .collect();
            let per_reply = picked
                .iter()
                .map(|o| o.completion_tokens as f64)
                .sum::<f64>()
                / picked.len().max(1) as f64;
            let [p50, p95, p99] = pcts(&xs);
            kinds.push(vec![
                format!("{what}, {name}"),
                xs.len().to_string(),
                format!("{per_reply:.1}"),
                p50,
                p95,
                p99,
            ]);
        }
    }
    let results = format!(
        "{}\n\nBeyond the limit, the percentiles are of the answered requests.\n\n{}\n\nThe server \
         counted {server_tokens:.0} tokens generated during the load run; the clients received {tokens:.0}.",
        runs.markdown().trim_end(),
        kinds.markdown().trim_end()
    );

    let setup = format!(
        "The m8 reader ({:.2} M parameters, {:.0}-token context) served by the `serve` crate on \
         127.0.0.1, its clients threads of the same process, each with its own keep-alive \
         connection. {} held-out questions of m8's record, each prompted as the reader is asked \
         (its {} best BM25 passages), each sent twice: for its answer (greedy, at most {} tokens, \
         stopping at a newline, as m8 asks) and for a continuation ({} tokens sampled at temperature \
         {} with a seed of its own, no stop): {cases:.0} distinct requests. Each was \
         first answered alone; under load every reply must equal that reference (text, finish \
         reason, token count; streamed replies concatenated and closed by `[DONE]`), or it counts \
         as malformed. Within the limit: {} clients × {} requests, {:.0} % streamed (drawn by \
         seed), a server running {} generations at once with {} queued, so all are admitted. \
         Beyond the limit: {} clients sending together, {} times, to a server with room for {}. \
         Percentiles by nearest rank. {}",
        rec.require("model_params")? / 1e6,
        rec.require("block_size")?,
        cfg.prompts,
        rec.require("k")?,
        cfg.answer_tokens,
        cfg.continuation_tokens,
        cfg.temperature,
        cfg.load.clients,
        cfg.load.requests_per_client,
        100.0 * cfg.load.stream_fraction,
        cfg.server.max_running,
        cfg.server.max_queued,
        cfg.overload.clients,
        cfg.overload.requests_per_client,
        cfg.overload_server.room(),
        rec.provenance()
    );

    // Conclusions, each computed from the record.
    let mut discussion = if problems.is_empty() {
        format!(
            "All {n_load} replies under load were identical to their references: none lost, none \
             malformed, none refused. "
        )
    } else {
        format!(
            "{} of {n_load} replies under load were not acceptable; the first: {}. ",
            problems.len(),
            problems[0].problem.as_deref().unwrap_or_default()
        )
    };
    if server_tokens != tokens {
        discussion.push_str(&format!(
            "The server generated {server_tokens:.0} tokens but the clients received {tokens:.0}. "
        ));
    }
    // Little's law: with every client always waiting on one request, the mean latency is the
    // number of clients over the throughput.
    let throughput = n_load as f64 / l.timings.load_wall_s;
    let mean = all.iter().sum::<f64>() / all.len().max(1) as f64;
    let unloaded_mean =
        l.timings.unloaded_ms.iter().sum::<f64>() / l.timings.unloaded_ms.len().max(1) as f64;
    discussion.push_str(&format!(
        "Latency under load is queueing: a request alone takes {:.0} ms on average, under load {:.0} ms, \
         and Little's law — {} clients each always waiting on one request, served at {:.1} replies/s — \
         predicts {:.0} ms. With {} generations at once the server delivered {:.1}× the tokens per \
         second of one request at a time. ",
        unloaded_mean,
        mean,
        cfg.load.clients,
        throughput,
        1e3 * cfg.load.clients as f64 / throughput,
        cfg.server.max_running,
        (tokens / l.timings.load_wall_s) / (ref_tokens / unloaded_s),
    ));
    let (p50_first, p50_streamed) = (percentile(&first, 50.0), percentile(&streamed, 50.0));
    if !first.is_empty() {
        discussion.push_str(&format!(
            "Streaming does not shorten a reply; it shows its beginning sooner: a streamed {}-token \
             continuation's first token came at {} ms (median), its last at {} ms. Under load most of \
             the wait comes before the first token — queued for a slot — so streaming helps less than \
             the token count suggests. ",
            cfg.continuation_tokens,
            ms(p50_first),
            ms(p50_streamed)
        ));
    }
    if over_bad.is_empty() {
        discussion.push_str(&format!(
            "Beyond the limit the server answered {over_ok} requests in full and refused {over_503} \
             with a clean 503 (`overloaded`, in OpenAI's error shape) — nothing else{}.",
            if refused_lat.is_empty() {
                String::new()
            } else {
                format!(
                    "; a refusal took {} ms (median), so a client can back off at once",
                    ms(percentile(&refused_lat, 50.0))
                )
            }
        ));
    } else {
        discussion.push_str(&format!(
            "Beyond the limit {} requests got something other than a reply or a clean 503; the first: {}.",
            over_bad.len(),
            over_bad[0].problem.as_deref().unwrap_or_default()
        ));
    }

    Ok(vec![LogEntry {
        id: SERVING.into(),
        milestone: 8,
        title: "m8 — Serving the reader over the OpenAI API, under load".into(),
        question: "Does the server answer many clients at once correctly — every reply whole and \
                   identical to the one it gives a lone client — how fast, and does it refuse \
                   cleanly beyond its limit?"
            .into(),
        setup,
        results,
        figures: vec![
            Figure::new(
                FIG_LATENCY,
                FigureKind::Benchmarks,
                "Share of requests answered within a latency: each case alone, and under load by kind.",
            ),
            Figure::new(
                FIG_TIMELINE,
                FigureKind::Benchmarks,
                "Tokens and replies per second during the load run; beyond the limit, requests answered and refused so far.",
            ),
        ],
        discussion,
    }])
}

/// The serving phase's own subcommand.
#[derive(Subcommand)]
enum Command {
    /// Serve checkpoints over the OpenAI API until Ctrl-C (default: the m8 reader,
    /// checkpoints/m8_reader, as `reader`).
    Serve(serve::cli::ServeArgs),
}

fn commands() -> Vec<clap::Command> {
    viz::phase::subcommands::<Command>(PHASE)
}

fn run_command(root: &Path, m: &clap::ArgMatches) -> Result<()> {
    match Command::from_arg_matches(m)? {
        Command::Serve(args) => {
            let ctx = Context::full(root, false);
            let dir = saved::reader_dir(&ctx);
            if args.models.is_empty() && !dir.is_dir() {
                bail!(
                    "nothing to serve: no m8 reader in {} ({}), and no --model NAME=DIR given",
                    dir.display(),
                    viz::record::produced_by(
                        &ctx,
                        &format!("cargo xtask phase3 --only {}", saved::READER),
                        saved::MILESTONE,
                        "reader"
                    )
                );
            }
            args.run(Some((MODEL.to_string(), dir)))
        }
    }
}
