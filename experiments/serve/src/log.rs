//! The serving entry of the experiment log, rebuilt from the record: its prose is in
//! `templates/m8_serving.md`, its numbers and tables are computed here.

use anyhow::Result;
use serde::Serialize;
use serve::load::{percentile, Outcome, Reply};
use viz::log::{Figure, FigureKind, LogEntry};
use viz::record::Record;
use viz::table::Table;
use viz::template::render_block;
use viz::Context;

use super::records::ServingSummary;
use super::{loaded, record, Loaded, ServingConfig, FIG_LATENCY, FIG_TIMELINE, SERVING};

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

const TEMPLATE: &str = include_str!("../templates/m8_serving.md");

/// What `templates/m8_serving.md` needs: the setup's values and the measured ones.
#[derive(Serialize)]
struct ServingText {
    #[serde(flatten)]
    setup: SetupText,
    runs_table: String,
    kinds_table: String,
    server_tokens: String,
    tokens: String,
    n_load: String,
    problems: Option<ProblemText>,
    tokens_differ: bool,
    unloaded_mean: String,
    loaded_mean: String,
    throughput: String,
    little: String,
    speedup: String,
    streaming: Option<StreamingText>,
    over_bad: Option<ProblemText>,
    over_ok: String,
    over_503: String,
    refusal: Option<String>,
}

/// The setup's values, all from the config and the record.
#[derive(Serialize)]
struct SetupText {
    params_m: String,
    block_size: String,
    prompts: String,
    k: String,
    answer_tokens: String,
    continuation_tokens: String,
    temperature: String,
    cases: String,
    load_clients: String,
    load_requests: String,
    stream_percent: String,
    max_running: String,
    max_queued: String,
    over_clients: String,
    over_requests: String,
    over_room: String,
    provenance: String,
}

/// How many requests went wrong, and what was wrong with the first.
#[derive(Serialize)]
struct ProblemText {
    n: String,
    first: String,
}

/// Medians of a streamed continuation's first and last token (ms).
#[derive(Serialize)]
struct StreamingText {
    first: String,
    last: String,
}

/// One row of the runs table.
struct RunRow<'a> {
    name: String,
    n: usize,
    ok: usize,
    refused: String,
    bad: usize,
    wall: f64,
    tok: f64,
    lat: &'a [f64],
}

impl RunRow<'_> {
    fn cells(self) -> Vec<String> {
        let [p50, p95, p99] = pcts(self.lat);
        vec![
            self.name,
            self.n.to_string(),
            self.ok.to_string(),
            self.refused,
            self.bad.to_string(),
            format!("{:.1}", self.ok as f64 / self.wall),
            format!("{:.0}", self.tok / self.wall),
            p50,
            p95,
            p99,
        ]
    }
}

/// Latencies by kind of request within the limit: answers and continuations, streamed or not.
fn kinds_table(l: &Loaded) -> Table {
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
    kinds
}

/// Counts and totals the runs table reads, from the record.
struct RunTotals {
    cases: f64,
    unloaded_s: f64,
    ref_tokens: f64,
    n_load: usize,
    problems: usize,
    tokens: f64,
    over_ok: usize,
    over_503: usize,
    over_bad: usize,
    over_tokens: f64,
}

/// One row per run: each case alone, within the limit, beyond it.
fn runs_table(l: &Loaded, t: RunTotals, all: &[f64], over_lat: &[f64]) -> Table {
    let cfg = &l.cfg;
    let over = &l.timings.overload;
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
    runs.push(
        RunRow {
            name: "each case alone, one after another".to_string(),
            n: t.cases as usize,
            ok: t.cases as usize,
            refused: "–".into(),
            bad: 0,
            wall: t.unloaded_s,
            tok: t.ref_tokens,
            lat: &l.timings.unloaded_ms,
        }
        .cells(),
    );
    runs.push(
        RunRow {
            name: format!(
                "within the limit: {} clients × {}",
                cfg.load.clients, cfg.load.requests_per_client
            ),
            n: t.n_load,
            ok: t.n_load - t.problems,
            refused: "–".into(),
            bad: t.problems,
            wall: l.timings.load_wall_s,
            tok: t.tokens,
            lat: all,
        }
        .cells(),
    );
    runs.push(
        RunRow {
            name: format!(
                "beyond the limit: {} clients at once × {}",
                cfg.overload.clients, cfg.overload.requests_per_client
            ),
            n: over.len(),
            ok: t.over_ok,
            refused: t.over_503.to_string(),
            bad: t.over_bad,
            wall: l.timings.overload_wall_s,
            tok: t.over_tokens,
            lat: over_lat,
        }
        .cells(),
    );
    runs
}

/// The setup's values, all from the config and the record.
fn setup_text(
    rec: &Record,
    summary: &ServingSummary,
    cfg: &ServingConfig,
    cases: f64,
) -> Result<SetupText> {
    Ok(SetupText {
        params_m: format!("{:.2}", summary.model_params as f64 / 1e6),
        block_size: summary.block_size.to_string(),
        prompts: cfg.prompts.to_string(),
        k: summary.k.to_string(),
        answer_tokens: cfg.answer_tokens.to_string(),
        continuation_tokens: cfg.continuation_tokens.to_string(),
        temperature: format!("{}", cfg.temperature),
        cases: format!("{cases:.0}"),
        load_clients: cfg.load.clients.to_string(),
        load_requests: cfg.load.requests_per_client.to_string(),
        stream_percent: format!("{:.0}", 100.0 * cfg.load.stream_fraction),
        max_running: cfg.server.max_running.to_string(),
        max_queued: cfg.server.max_queued.to_string(),
        over_clients: cfg.overload.clients.to_string(),
        over_requests: cfg.overload.requests_per_client.to_string(),
        over_room: cfg.overload_server.room().to_string(),
        provenance: rec.provenance(),
    })
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
    let summary: ServingSummary = rec.summary_as()?;
    let server_tokens = summary.load.server_tokens as f64;
    let cases = summary.cases as f64;
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

    let runs = runs_table(
        &l,
        RunTotals {
            cases,
            unloaded_s,
            ref_tokens,
            n_load,
            problems: problems.len(),
            tokens,
            over_ok,
            over_503,
            over_bad: over_bad.len(),
            over_tokens,
        },
        &all,
        &over_lat,
    );
    let kinds = kinds_table(&l);

    // Little's law: with every client always waiting on one request, the mean latency is the
    // number of clients over the throughput.
    let throughput = n_load as f64 / l.timings.load_wall_s;
    let mean = all.iter().sum::<f64>() / all.len().max(1) as f64;
    let unloaded_mean =
        l.timings.unloaded_ms.iter().sum::<f64>() / l.timings.unloaded_ms.len().max(1) as f64;
    let (p50_first, p50_streamed) = (percentile(&first, 50.0), percentile(&streamed, 50.0));
    // Conclusions, each computed from the record.
    let values = ServingText {
        setup: setup_text(&rec, &summary, cfg, cases)?,
        runs_table: runs.markdown().trim_end().to_string(),
        kinds_table: kinds.markdown().trim_end().to_string(),
        server_tokens: format!("{server_tokens:.0}"),
        tokens: format!("{tokens:.0}"),
        n_load: n_load.to_string(),
        problems: problems.first().map(|p| ProblemText {
            n: problems.len().to_string(),
            first: p.problem.as_deref().unwrap_or_default().to_string(),
        }),
        tokens_differ: server_tokens != tokens,
        unloaded_mean: format!("{unloaded_mean:.0}"),
        loaded_mean: format!("{mean:.0}"),
        throughput: format!("{throughput:.1}"),
        little: format!("{:.0}", 1e3 * cfg.load.clients as f64 / throughput),
        speedup: format!(
            "{:.1}",
            (tokens / l.timings.load_wall_s) / (ref_tokens / unloaded_s)
        ),
        streaming: (!first.is_empty()).then(|| StreamingText {
            first: ms(p50_first),
            last: ms(p50_streamed),
        }),
        over_bad: over_bad.first().map(|o| ProblemText {
            n: over_bad.len().to_string(),
            first: o.problem.as_deref().unwrap_or_default().to_string(),
        }),
        over_ok: over_ok.to_string(),
        over_503: over_503.to_string(),
        refusal: (!refused_lat.is_empty()).then(|| ms(percentile(&refused_lat, 50.0))),
    };
    let block = |name: &str| render_block("m8_serving.md", TEMPLATE, name, &values);
    Ok(vec![LogEntry {
        id: SERVING.into(),
        milestone: 8,
        title: block("title")?,
        takeaway: block("takeaway")?,
        question: block("question")?,
        setup: block("setup")?,
        results: block("results")?,
        details: block("details")?,
        figures: vec![
            Figure::new(
                FIG_LATENCY,
                FigureKind::Benchmarks,
                block("caption_m8_serving_latency")?,
            ),
            Figure::new(
                FIG_TIMELINE,
                FigureKind::Benchmarks,
                block("caption_m8_serving_timeline")?,
            ),
        ],
        discussion: block("discussion")?,
    }])
}
