//! What phase 4's records hold, typed once: each run's summary (written with
//! [`viz::record::RunWriter::summaries`], read with [`viz::record::Record::summary_as`]) and the
//! names of the metrics its runs log. A misspelt field is a compile error, not a missing number.
//!
//! Names that are data — a variant, a system, a role, a task kind — are the keys of maps, looked up
//! through the methods here, which say what is missing.

use std::collections::BTreeMap;

use anyhow::{Context as _, Result};
use phase3_rag::world::QuestionKind;
use serde::{Deserialize, Serialize};

use crate::m10::kind_name;

/// Metric keys the phase-4 runs log.
pub mod metric {
    /// m10: the imitation loss, the mean over each logging interval (see [`train_loss`]).
    pub const TRAIN_LOSS: &str = "train_loss";

    /// m10: `train_loss/{variant}` — one variant's imitation loss.
    pub fn train_loss(variant: &str) -> String {
        format!("{TRAIN_LOSS}/{variant}")
    }
}

/// The share of one kind's held-out tasks answered exactly.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct KindSuccess {
    pub success: f64,
}

/// Success per task kind, keyed by the kind's name ([`kind_name`]).
pub type ByKind = BTreeMap<String, KindSuccess>;

/// [`ByKind`] from each kind's success.
pub fn by_kind(success: impl IntoIterator<Item = (QuestionKind, f64)>) -> ByKind {
    success
        .into_iter()
        .map(|(k, success)| (kind_name(k).to_string(), KindSuccess { success }))
        .collect()
}

/// One kind's success in `by_kind` (an error naming `who` and the kind when it is missing).
fn success_of(by_kind: &ByKind, who: &str, kind: QuestionKind) -> Result<f64> {
    let name = kind_name(kind);
    by_kind
        .get(name)
        .map(|k| k.success)
        .with_context(|| format!("{who} has no success for task kind `{name}`"))
}

/// m10 (`records/m10/agent`): the context of the fine-tuned policy and of m8's reader it started
/// from, the held-out tasks, and every variant's results, keyed by the variant's name.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct AgentSummary {
    pub block_size: u64,
    pub reader_block_size: u64,
    pub tasks: u64,
    #[serde(flatten)]
    pub variants: BTreeMap<String, VariantSummary>,
}

impl AgentSummary {
    /// The results of variant `name`.
    pub fn variant(&self, name: &str) -> Result<&VariantSummary> {
        self.variants
            .get(name)
            .with_context(|| format!("m10 record has no variant `{name}`"))
    }
}

/// m10: one variant's held-out success, over all and per task kind, and its training rows per role
/// (keyed by the role's name).
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct VariantSummary {
    pub success: f64,
    pub examples: BTreeMap<String, u64>,
    #[serde(flatten)]
    pub by_kind: ByKind,
}

impl VariantSummary {
    /// The success on one kind of task.
    pub fn success_of(&self, kind: QuestionKind) -> Result<f64> {
        success_of(&self.by_kind, "m10 variant", kind)
    }
}

/// m11 (`records/m11/team`): the team's held-out success, and how many answers the verifier sent
/// back.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct TeamSummary {
    pub success: f64,
    pub sent_back: u64,
}

/// m12 (`records/m12/eval`): the suite's size, and every system's success, keyed by the system's
/// name.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct EvalSummary {
    pub tasks: u64,
    #[serde(flatten)]
    pub systems: BTreeMap<String, SystemSummary>,
}

impl EvalSummary {
    /// The results of system `name`.
    pub fn system(&self, name: &str) -> Result<&SystemSummary> {
        self.systems
            .get(name)
            .with_context(|| format!("m12 record has no system `{name}`"))
    }
}

/// m12: one system's success on the suite, over all and per task kind.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct SystemSummary {
    pub success: f64,
    #[serde(flatten)]
    pub by_kind: ByKind,
}

impl SystemSummary {
    /// The success on one kind of task.
    pub fn success_of(&self, kind: QuestionKind) -> Result<f64> {
        success_of(&self.by_kind, "m12 system", kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use viz::record::Record;

    fn committed(milestone: &str, name: &str) -> Record {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../records")
            .join(milestone)
            .join(name);
        Record::load_dir(&dir).unwrap()
    }

    /// Every committed phase-4 record reads into its type and writes back exactly its summary.
    #[test]
    fn records_read_into_their_types_and_write_back_the_same_keys() {
        fn round_trip<T: Serialize + serde::de::DeserializeOwned>(rec: &Record) {
            let back = rec.summary_rewritten_as::<T>().unwrap();
            assert_eq!(back, rec.meta.summary, "{}", rec.dir.display());
        }
        round_trip::<AgentSummary>(&committed("m10", "agent"));
        round_trip::<TeamSummary>(&committed("m11", "team"));
        round_trip::<EvalSummary>(&committed("m12", "eval"));
    }

    #[test]
    fn lookups_name_what_is_missing() {
        let m10: AgentSummary = committed("m10", "agent").summary_as().unwrap();
        let spaced = m10.variant("spaced").unwrap();
        assert!(spaced.success_of(QuestionKind::MultiHop).unwrap() > 0.0);
        let e = format!(
            "{:#}",
            spaced.success_of(QuestionKind::Indirect).unwrap_err()
        );
        assert!(e.contains("indirect"), "{e}");
        let e = format!("{:#}", m10.variant("nobody").unwrap_err());
        assert!(e.contains("nobody"), "{e}");
        let m12: EvalSummary = committed("m12", "eval").summary_as().unwrap();
        assert!(m12.system("team").unwrap().success > 0.0);
        assert!(m12.system("nobody").is_err());
    }
}
