//! What the serving record holds, typed once: its summary (written with
//! [`viz::record::RunWriter::summaries`], read with [`viz::record::Record::summary_as`]). A misspelt
//! field is a compile error, not a missing number. The run logs no metrics (its timings are
//! artifacts), so there are no metric keys to name.

use serde::{Deserialize, Serialize};

/// `records/m8/serving`: the cases, the load run and the overload run, and the model served.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct ServingSummary {
    pub cases: u64,
    pub load: LoadSummary,
    pub overload: OverloadSummary,
    pub model_params: u64,
    /// The model's context, in tokens.
    pub block_size: u64,
    /// Passages retrieved per prompt.
    pub k: u64,
}

/// The load run (within the server's limits): requests sent, streamed and gone wrong, and the
/// completion tokens the clients counted against those the server's stats counted.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct LoadSummary {
    pub requests: u64,
    pub streamed: u64,
    pub problems: u64,
    pub completion_tokens: u64,
    pub server_tokens: u64,
    pub server_cancelled: u64,
}

/// The overload run (beyond the server's limits): requests sent and gone wrong.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct OverloadSummary {
    pub requests: u64,
    pub problems: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use viz::record::Record;

    /// The committed record reads into [`ServingSummary`] and writes back exactly its summary.
    #[test]
    fn the_record_reads_into_its_type_and_writes_back_the_same_keys() {
        let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let rec = Record::load_dir(&repo.join("records/m8/serving")).unwrap();
        let typed: ServingSummary = rec.summary_as().unwrap();
        assert!(typed.load.requests > 0 && typed.k >= 1);
        let back = rec.summary_rewritten_as::<ServingSummary>().unwrap();
        assert_eq!(back, rec.meta.summary);
    }
}
