//! The milestone table at the top of README.md: every milestone of every phase — built phases from
//! their own descriptions, planned ones from `configs/roadmap.toml` — with its status, key figure and
//! key number, all read from the records (a milestone without records says so); and [`Roadmap`], the
//! planned phases it reads.

use std::path::Path;

use anyhow::{bail, Result};
use serde::Deserialize;
use viz::log::LogEntry;
use viz::phase::Phase;
use viz::record::{list_records, Record, Status};

/// `configs/roadmap.toml`: phases planned but not built.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Roadmap {
    #[serde(default)]
    pub phase: Vec<PlannedPhase>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlannedPhase {
    pub name: String,
    pub about: String,
    #[serde(default)]
    pub milestone: Vec<PlannedMilestone>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlannedMilestone {
    pub number: u32,
    pub title: String,
}

impl Roadmap {
    /// The roadmap of the workspace at `root`, without what has a crate now (`built`): a built
    /// phase's own milestones replace the planned ones of the same number (a phase may be built
    /// milestone by milestone, its later milestones still planned), and a built phase is no longer
    /// "planned".
    pub fn load(root: &Path, built: &[Phase]) -> Result<Roadmap> {
        let path = root.join("configs").join("roadmap.toml");
        if !path.exists() {
            return Ok(Roadmap { phase: Vec::new() });
        }
        let (mut roadmap, _): (Roadmap, toml::Value) = viz::load_toml(&path)?;
        let built_milestones: Vec<u32> = built
            .iter()
            .flat_map(|p| p.milestones.iter().map(|m| m.number))
            .collect();
        for p in &mut roadmap.phase {
            p.milestone
                .retain(|m| !built_milestones.contains(&m.number));
        }
        roadmap.phase.retain(|p| !p.milestone.is_empty());
        Ok(roadmap)
    }

    /// Whether `name` is a phase with no crate at all yet (none of `built`).
    pub fn is_unbuilt(&self, name: &str, built: &[Phase]) -> bool {
        !built.iter().any(|p| p.name == name) && self.phase.iter().any(|p| p.name == name)
    }
}

/// One row before it is rendered.
struct Row {
    number: u32,
    title: String,
    status: String,
    figure: String,
    number_text: String,
}

/// Markdown for the README's `milestones` block.
pub fn table(ctx: &viz::Context, phases: &[Phase], roadmap: &Roadmap) -> Result<String> {
    let records = list_records(&ctx.records)?;
    let mut rows = Vec::new();
    for p in phases {
        let entries: Vec<LogEntry> = p.log_entries(ctx).unwrap_or_default();
        for m in p.milestones {
            let mine: Vec<Record> = records
                .iter()
                .filter(|r| {
                    r.parent()
                        .and_then(|d| d.file_name())
                        .is_some_and(|d| d == format!("m{}", m.number).as_str())
                })
                .filter_map(|r| Record::load_dir(r).ok())
                .collect();
            let status = if mine.is_empty() {
                "not run yet"
            } else if mine.iter().all(|r| r.meta.status == Status::Finished) {
                "done"
            } else {
                "incomplete run"
            };
            let figure = entries
                .iter()
                .find(|e| e.milestone == m.number)
                .and_then(|e| e.figures.first())
                .map(|f| format!("[{0}](visualizations/{0})", f.file))
                .unwrap_or_default();
            rows.push(Row {
                number: m.number,
                title: m.title.to_string(),
                status: status.to_string(),
                figure,
                number_text: (m.headline)(ctx).unwrap_or_default(),
            });
        }
    }
    for p in &roadmap.phase {
        for m in &p.milestone {
            rows.push(Row {
                number: m.number,
                title: m.title.clone(),
                status: "planned".to_string(),
                figure: String::new(),
                number_text: String::new(),
            });
        }
    }
    rows.sort_by_key(|r| r.number);
    if let Some(w) = rows.windows(2).find(|w| w[0].number == w[1].number) {
        bail!("milestone m{} is described twice", w[0].number);
    }
    let mut t =
        viz::table::Table::new(&["milestone", "what", "status", "key figure", "key number"]);
    for r in rows {
        t.push(vec![
            format!("m{}", r.number),
            r.title,
            r.status,
            r.figure,
            r.number_text,
        ]);
    }
    Ok(t.markdown())
}
