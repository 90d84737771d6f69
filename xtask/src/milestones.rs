//! The milestone table at the top of README.md: status, key figure and key number of m1–m12, all read
//! from the records (a milestone without records says so).

use std::fmt::Write as _;

use anyhow::Result;
use viz::log::LogEntry;
use viz::record::{list_records, Record, Status};

/// What each milestone is, for the table (phases 3 and 4 are planned, without a crate yet).
const MILESTONES: [(u32, &str); 12] = [
    (1, "Backprop by hand, gradient-checked"),
    (2, "MLP classifiers on 2-D data"),
    (3, "Optimizers from SGD to AdamW"),
    (4, "Tokenizers and n-gram baselines"),
    (5, "Attention you can look at"),
    (6, "A GPT trained on tiny-shakespeare"),
    (7, "Retrieval: BM25 and embeddings"),
    (8, "Retrieval-augmented generation"),
    (9, "RAG evaluation"),
    (10, "The agent loop"),
    (11, "Tools"),
    (12, "Agent evaluation"),
];

fn load(ctx: &viz::Context, m: &str, name: &str) -> Option<Record> {
    Record::load(ctx, m, name).ok()
}

/// The one number that says whether a milestone worked, from its records.
fn headline(ctx: &viz::Context, m: u32) -> Option<String> {
    match m {
        1 => {
            let r = load(ctx, "m1", "gradient_check")?;
            let worst = r
                .meta
                .summary
                .iter()
                .filter(|(k, _)| k.starts_with("max_rel_error/") && !k.contains("bug"))
                .map(|(_, v)| *v)
                .fold(0.0, f64::max);
            Some(format!("worst relative error {worst:.1e} (f64)"))
        }
        2 => {
            let mut parts = Vec::new();
            for d in ["moons", "circles", "spirals", "xor"] {
                let r = load(ctx, "m2", &format!("classifier_{d}"))?;
                parts.push(format!("{d} {:.1} %", 100.0 * r.summary("val_acc")?));
            }
            Some(format!("val acc: {}", parts.join(", ")))
        }
        3 => {
            // Mean final training loss over the comparison's seeds, per optimizer; the lowest wins.
            let mut best: Option<(String, f64)> = None;
            for opt in ["sgd", "momentum", "nesterov", "rmsprop", "adam", "adamw"] {
                let losses: Vec<f64> = (0..20)
                    .filter_map(|s| load(ctx, "m3", &format!("optimizer_comparison_{opt}_seed{s}")))
                    .filter_map(|r| r.summary("train_loss"))
                    .collect();
                if losses.is_empty() {
                    continue;
                }
                let mean = losses.iter().sum::<f64>() / losses.len() as f64;
                if best.as_ref().is_none_or(|b| mean < b.1) {
                    best = Some((format!("{opt} ({} seeds)", losses.len()), mean));
                }
            }
            best.map(|(who, v)| format!("lowest mean final train loss: {who} {v:.3}"))
        }
        4 => {
            let r = load(ctx, "m4", "ngrams")?;
            let best = (1..=12)
                .filter_map(|n| r.summary(&format!("kn_val_ppl_n{n}")).map(|p| (n, p)))
                .min_by(|a, b| a.1.total_cmp(&b.1))?;
            Some(format!(
                "best n-gram: n = {} at val perplexity {:.2}",
                best.0, best.1
            ))
        }
        5 => {
            let r = load(ctx, "m5", "attention")?;
            Some(format!(
                "induction score {:.2} (layer {}, head {})",
                r.summary("best_induction")?,
                r.summary("best_induction_layer")?,
                r.summary("best_induction_head")?
            ))
        }
        6 => {
            let r = load(ctx, "m6", "gpt_char")?;
            let mut s = match r.summary("val_loss_full") {
                Some(v) => format!("val loss {v:.3} nats/char (whole split)"),
                None => format!("val loss {:.3} nats/char", r.summary("val_loss")?),
            };
            if let Some(b) = load(ctx, "m6", "bench") {
                if let Some(ratio) = b.summary("ratio_vs_pytorch") {
                    let _ = write!(s, "; {ratio:.2}× PyTorch tokens/s");
                }
            }
            Some(s)
        }
        _ => None,
    }
}

/// Markdown for the README's `milestones` block.
pub fn table(ctx: &viz::Context, entries: &[LogEntry]) -> Result<String> {
    let records = list_records(&ctx.records)?;
    let mut t =
        viz::table::Table::new(&["milestone", "what", "status", "key figure", "key number"]);
    for (m, what) in MILESTONES {
        let mine: Vec<Record> = records
            .iter()
            .filter(|p| {
                p.parent()
                    .and_then(|d| d.file_name())
                    .is_some_and(|d| d == format!("m{m}").as_str())
            })
            .filter_map(|p| Record::load_dir(p).ok())
            .collect();
        let status = if m > 6 {
            "planned".to_string()
        } else if mine.is_empty() {
            "not run yet".to_string()
        } else if mine.iter().all(|r| r.meta.status == Status::Finished) {
            "done".to_string()
        } else {
            "incomplete run".to_string()
        };
        let figure = entries
            .iter()
            .find(|e| e.milestone == m)
            .and_then(|e| e.figures.first())
            .map(|f| format!("[{f}](visualizations/{f})"))
            .unwrap_or_default();
        let number = headline(ctx, m).unwrap_or_default();
        t.push(vec![
            format!("m{m}"),
            what.to_string(),
            status,
            figure,
            number,
        ]);
    }
    Ok(t.markdown())
}
