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
use std::path::Path;
use std::time::Instant;

use anyhow::{bail, ensure, Context as _, Result};
use clap::{FromArgMatches, Subcommand};
use phase2_lm::tokenizer::Tokenizer as _;
use phase3_rag::reader::STOP;
use phase3_rag::saved::{self, SavedReader};
use serde::{Deserialize, Serialize};
use viz::phase::{Experiment, Outputs};
use viz::plot::entity::Entity;
use viz::plot::{FigureSpec, LineChart, LineGrid, Marker, Series};
use viz::record::{Record, RunWriter};
use viz::Context;

use serve::load::{self, percentile, Case, Outcome, Plan, Reply, Target, Timing};
use serve::registry::{Model, Registry};

mod log;
pub mod records;
use log::log_entries;
use records::{LoadSummary, OverloadSummary, ServingSummary};
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
        experiments: &[Experiment {
            name: SERVING,
            run: run_serving,
        }],
        milestones: &[],
        outputs: &[Outputs {
            figures,
            log_entries,
        }],
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

/// Runs the serving experiment (the only name is [`SERVING`]), writing its record.
pub fn run(ctx: &Context, name: &str) -> Result<()> {
    phase().run(ctx, name)
}

/// The m8 reader and m8's held-out questions, from phase 3's checkpoint and record.
fn reader_and_questions(
    ctx: &Context,
    cfg: &ServingConfig,
    dir: &Path,
) -> Result<(SavedReader, Questions)> {
    let reader = SavedReader::load(dir).with_context(|| {
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
    let questions: Questions = m8_record.artifact("questions")?;
    ensure!(
        questions.len() >= cfg.prompts,
        "{SERVING}: `prompts` = {} but m8's record holds {} questions",
        cfg.prompts,
        questions.len()
    );
    Ok((reader, questions))
}

/// m8's held-out questions by id: the question and its gold answers.
type Questions = BTreeMap<String, (String, Vec<String>)>;

/// Two cases per question, prompted as the reader is asked: its answer and a sampled continuation.
fn build_cases(
    cfg: &ServingConfig,
    reader: &SavedReader,
    questions: &Questions,
    model: &Model,
    budget: usize,
) -> Result<Vec<Case>> {
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
    Ok(cases)
}

/// What the two runs measured: references and load within the limit, then everybody at once.
struct Measured {
    expected: Vec<Reply>,
    unloaded_ms: Vec<f64>,
    loaded: Vec<(Outcome, Timing)>,
    load_wall_s: f64,
    before: StatsSnapshot,
    after: StatsSnapshot,
    overload: Vec<(Outcome, Timing)>,
    overload_wall_s: f64,
    overload_server: StatsSnapshot,
}

fn measure(
    ctx: &Context,
    cfg: &ServingConfig,
    cases: &[Case],
    registry: &Registry,
    max_tokens: usize,
) -> Result<Measured> {
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
    let (expected, unloaded_ms) = load::references(&t, cases, || bar.inc(1))?;
    bar.finish_and_clear();
    let before = running.stats();
    let total = (cfg.load.clients * cfg.load.requests_per_client) as u64;
    let bar = ctx.progress(total, "load");
    let t0 = Instant::now();
    let loaded = load::run(&t, cases, &expected, &cfg.load, cfg.seed, false, || {
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
        cases,
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
    Ok(Measured {
        expected,
        unloaded_ms,
        loaded,
        load_wall_s,
        before,
        after,
        overload,
        overload_wall_s,
        overload_server,
    })
}

fn run_serving(ctx: &Context) -> Result<String> {
    let (cfg, raw): (ServingConfig, toml::Value) = ctx.load_config(PHASE, SERVING)?;
    check(&cfg)?;
    let mut rec = RunWriter::create(ctx, saved::MILESTONE, RECORD, &raw, cfg.seed)?;
    let dir = saved::reader_dir(ctx);
    let (reader, questions) = reader_and_questions(ctx, &cfg, &dir)?;
    let registry = Registry::load(&[(MODEL.to_string(), dir.clone())])?;
    let model = registry.get(MODEL).expect("just loaded");
    let max_tokens = cfg.answer_tokens.max(cfg.continuation_tokens);
    let budget = model.context().saturating_sub(max_tokens);
    let cases = build_cases(&cfg, &reader, &questions, &model, budget)?;
    let Measured {
        expected,
        unloaded_ms,
        loaded,
        load_wall_s,
        before,
        after,
        overload,
        overload_wall_s,
        overload_server,
    } = measure(ctx, &cfg, &cases, &registry, max_tokens)?;
    let over_total = (cfg.overload.clients * cfg.overload.requests_per_client) as u64;

    let (outcomes, load_timings): (Vec<Outcome>, Vec<Timing>) = loaded.into_iter().unzip();
    let problems = outcomes.iter().filter(|o| o.problem.is_some()).count();
    let over_problems = overload.iter().filter(|(o, _)| o.problem.is_some()).count();
    let over_ok = overload.iter().filter(|(o, _)| o.status == 200).count();
    let tokens: u64 = outcomes.iter().map(|o| o.completion_tokens).sum();

    rec.summaries(&ServingSummary {
        cases: cases.len() as u64,
        load: LoadSummary {
            requests: outcomes.len() as u64,
            streamed: outcomes.iter().filter(|o| o.stream).count() as u64,
            problems: problems as u64,
            completion_tokens: tokens,
            server_tokens: after.tokens - before.tokens,
            server_cancelled: after.cancelled - before.cancelled,
        },
        overload: OverloadSummary {
            requests: overload.len() as u64,
            problems: over_problems as u64,
        },
        model_params: model.weights.config.n_params() as u64,
        block_size: model.context() as u64,
        k: reader.settings.k as u64,
    })?;
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

pub fn figures(ctx: &Context) -> Result<Vec<FigureSpec>> {
    let Some(rec) = record(ctx) else {
        return Ok(Vec::new());
    };
    let l = loaded(&rec)?;
    Ok(vec![latency_figure(&l), timeline_figure(&l)])
}

/// Every 5th percentile of `xs` (5 %, 10 % … 100 %): a distribution as a few marks, drawn over a
/// line it would otherwise hide.
fn every_5_percent(xs: &[f64]) -> Vec<(f64, f64)> {
    (1..=20)
        .map(|i| {
            let p = 5.0 * f64::from(i);
            (percentile(xs, p), p)
        })
        .filter(|pt| pt.0.is_finite())
        .collect()
}

/// `m8_serving_latency.png`: each kind of request alone and under load, one panel per kind.
fn latency_figure(l: &Loaded) -> FigureSpec {
    let panel = |answers: bool, title: String| {
        let kind = |o: &Outcome| l.is_answer(o) == answers;
        LineChart::new(title, "latency (ms, log scale)", "requests at or below (%)")
            .log_x()
            .x_ticks(vec![
                2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0,
            ])
            .y_range(0.0, 100.0)
            .series(Series::new("alone", cdf(&l.alone(answers))).entity(Entity::Alone))
            .series(Series::new(
                "loaded, not streamed",
                cdf(&l.latencies(|o| kind(o) && !o.stream)),
            ))
            // Marks, not lines: under load a streamed reply's first token lands about with its
            // last, and lines would lie hidden under each other and under the unstreamed one. The
            // first token's open rings sit over the whole reply's diamonds where the two meet.
            .series(
                Series::new(
                    "loaded, streamed: whole (every 5 %)",
                    every_5_percent(&l.latencies(|o| kind(o) && o.stream)),
                )
                .points(Marker::Diamond),
            )
            .series(
                Series::new(
                    "loaded, streamed: first token (every 5 %)",
                    every_5_percent(&l.first_tokens(kind)),
                )
                .points(Marker::Ring),
            )
    };
    // Per kind, the medians: alone, under load not streamed, and a streamed reply's first token
    // and whole reply.
    let median = |xs: Vec<f64>| percentile(&xs, 50.0);
    let medians = |answers: bool| {
        let kind = |o: &Outcome| l.is_answer(o) == answers;
        (
            median(l.alone(answers)),
            median(l.latencies(|o| kind(o) && !o.stream)),
            median(l.first_tokens(kind)),
            median(l.latencies(|o| kind(o) && o.stream)),
        )
    };
    let panel_title = |what: String, answers: bool| {
        let (alone, loaded, first, _) = medians(answers);
        format!(
            "{what}: median {alone:.0} ms alone, {loaded:.0} ms loaded, first token {first:.0} ms"
        )
    };
    // The finding: under load, how late a streamed reply's first token comes, as a share of its
    // whole reply's time (medians), over both kinds.
    let shares: Vec<f64> = [true, false]
        .into_iter()
        .map(|a| {
            let (_, _, first, whole) = medians(a);
            100.0 * first / whole
        })
        .filter(|s| s.is_finite())
        .collect();
    let lo = shares.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = shares.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let share = if format!("{lo:.0}") == format!("{hi:.0}") {
        format!("{hi:.0} %")
    } else {
        format!("{lo:.0}–{hi:.0} %")
    };
    FigureSpec::new(
        FIG_LATENCY,
        LineGrid::new(
            format!(
                "{} clients: first streamed token at {share} of the whole reply's time (medians)",
                l.cfg.load.clients,
            ),
            vec![
                panel(
                    true,
                    panel_title(
                        format!("Answers (greedy, ≤ {} tokens)", l.cfg.answer_tokens),
                        true,
                    ),
                ),
                panel(
                    false,
                    panel_title(
                        format!("Continuations ({} tokens)", l.cfg.continuation_tokens),
                        false,
                    ),
                ),
            ],
            2,
        ),
    )
}

/// `m8_serving_timeline.png`: throughput over time within the limit, and the over-limit run's
/// replies and refusals.
fn timeline_figure(l: &Loaded) -> FigureSpec {
    const BINS: usize = 25;
    let done = |t: &Timing| t.start_ms + t.latency_ms;
    let load_wall = l.timings.load_wall_s;
    // Rates from zero (a truncated axis would make the bin-to-bin jitter look violent), the bin
    // width said in the panel titles.
    let bin_s = load_wall / BINS as f64;
    let top = |points: &[(f64, f64)]| 1.1 * points.iter().map(|p| p.1).fold(0.0, f64::max);
    let within_x = "time into the load run (s)";
    let token_rate = rate(
        l.outcomes
            .iter()
            .zip(&l.timings.load)
            .map(|(o, t)| (done(t), o.completion_tokens as f64)),
        load_wall,
        BINS,
    );
    let tokens = LineChart::new(
        format!("Tokens/s, {bin_s:.2} s bins"),
        within_x,
        "tokens per second",
    )
    .y_range(0.0, top(&token_rate))
    .series(Series::new("tokens", token_rate));
    let reply_rate = rate(
        l.timings.load.iter().map(|t| (done(t), 1.0)),
        load_wall,
        BINS,
    );
    let replies = LineChart::new(
        format!("Replies/s, {bin_s:.2} s bins"),
        within_x,
        "replies per second",
    )
    .y_range(0.0, top(&reply_rate))
    .series(Series::new("answered (200)", reply_rate).entity(Entity::Answered));
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
    let (answered, refused) = (over(200), over(503));
    // Counts from zero: a running total never dips below it.
    let most = top(&answered).max(top(&refused)) / 1.1;
    let beyond = LineChart::new(
        format!(
            "{} clients, room for {}",
            l.cfg.overload.clients,
            l.cfg.overload_server.room()
        ),
        "time into the over-limit run (s)",
        "requests so far",
    )
    .y_range(0.0, 1.05 * most.max(1.0))
    .series(Series::new("answered (200)", answered).entity(Entity::Answered))
    .series(Series::new("refused (503)", refused).entity(Entity::Refused));
    // The finding: throughput within the limit (over the whole run), refusals beyond it.
    let tokens_total: u64 = l.outcomes.iter().map(|o| o.completion_tokens).sum();
    let refusals = l
        .timings
        .overload
        .iter()
        .filter(|(o, _)| o.status == 503)
        .count();
    FigureSpec::new(
        FIG_TIMELINE,
        LineGrid::new(
            format!(
                "{:.0} tokens/s, {:.0} replies/s within the limit; beyond it, {refusals} of {} refused",
                tokens_total as f64 / load_wall,
                l.outcomes.len() as f64 / load_wall,
                l.timings.overload.len()
            ),
            vec![tokens, replies, beyond],
            3,
        ),
    )
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
