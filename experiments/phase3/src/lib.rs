//! The phase-3 experiments, run end to end by `cargo xtask phase3`.
//!
//! Each experiment reads `configs/phase3/<name>.toml` and writes [`viz::record::RunWriter`]
//! records; figures and log entries are rebuilt from those records alone.
//!
//! * [`m7`] — retrieval: BM25 (and later dense and hybrid retrievers) on BEIR-layout collections,
//!   scored as trec_eval scores; `cargo xtask rag-eval --beir DIR` runs the same retrievers on any
//!   collection; `cargo xtask bench-rag [--python PY]` times BM25 and MiniLM against bm25s and
//!   sentence-transformers ([`bench`]).

pub mod bench;
pub mod intervals;
pub mod m7;
pub mod m8;
pub mod m9;
pub mod records;

use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::{FromArgMatches, Subcommand};
use viz::phase::{Experiment, Milestone, Outputs};
use viz::Context;

/// Config folder name (`configs/phase3/`).
pub const PHASE: &str = "phase3";

/// Every experiment of the phase, in run order.
pub const EXPERIMENTS: &[Experiment] = &[
    Experiment {
        name: m7::RETRIEVAL,
        run: m7::run_retrieval,
    },
    Experiment {
        name: m8::READER,
        run: m8::run_reader,
    },
    Experiment {
        name: m9::ABLATION,
        run: m9::run_ablation,
    },
];

/// What each milestone draws and writes, in log order.
const OUTPUTS: &[Outputs] = &[
    Outputs {
        figures: m7::figures,
        log_entries: m7::log_entries,
    },
    Outputs {
        figures: m8::figures,
        log_entries: m8::log_entries,
    },
    Outputs {
        figures: m9::figures,
        log_entries: m9::log_entries,
    },
];

/// Phase 3 as `cargo xtask` sees it.
pub fn phase() -> viz::phase::Phase {
    viz::phase::Phase {
        name: PHASE,
        about: "Phase 3 (m7–m9): retrieval (BM25, dense, hybrid), a reader over retrieved passages, RAG ablations",
        crate_dir: "crates/phase3-rag",
        experiments: EXPERIMENTS,
        milestones: &[
            Milestone {
                number: 7,
                title: "Retrieval: BM25, dense and hybrid",
                headline: m7::headline,
            },
            Milestone {
                number: 8,
                title: "A reader that answers from retrieved context",
                headline: m8::headline,
            },
            Milestone {
                number: 9,
                title: "RAG ablations",
                headline: m9::headline,
            },
        ],
        outputs: OUTPUTS,
        commands,
        run_command,
    }
}

/// Runs one experiment end to end from its config, writing its records.
pub fn run(ctx: &Context, name: &str) -> Result<()> {
    phase().run(ctx, name)
}

/// Phase 3's own subcommands.
#[derive(Subcommand)]
enum Command {
    /// Evaluate every retriever of configs/phase3/m7_retrieval.toml on a BEIR-layout directory
    /// (corpus.jsonl, queries.jsonl, qrels/test.tsv) and print one table row per retriever.
    RagEval {
        /// The collection directory.
        #[arg(long)]
        beir: PathBuf,
        /// Use the smoke config (configs/phase3/quick/).
        #[arg(long)]
        quick: bool,
    },
    /// Answer a question with the reader trained by m8 (checkpoints/m8_reader/): retrieve passages
    /// from its saved BM25 index, print them, then the answer.
    Ask {
        /// The question.
        question: String,
        /// Passages to retrieve (default: the largest k the reader was evaluated with).
        #[arg(long)]
        k: Option<usize>,
        /// Use the reader of the smoke run (scratch/quick).
        #[arg(long)]
        quick: bool,
    },
    /// Time BM25 (build, queries/s, one thread, on a generated world) and MiniLM (CISI documents/s,
    /// 2 threads) against bm25s and sentence-transformers, alternating rounds; records
    /// records/m7/bench_rag (configs/phase3/bench_rag.toml).
    BenchRag {
        /// Python with bm25s and sentence-transformers (runs crates/phase3-rag/scripts/rag_bench.py);
        /// without it only our side is timed.
        #[arg(long)]
        python: Option<PathBuf>,
        /// Rounds per side (default: the config's).
        #[arg(long)]
        rounds: Option<usize>,
        /// The smoke config: a small world, a few documents, into scratch/quick.
        #[arg(long)]
        quick: bool,
        /// No progress bar.
        #[arg(long)]
        quiet: bool,
    },
}

fn commands() -> Vec<clap::Command> {
    viz::phase::subcommands::<Command>(PHASE)
}

fn run_command(root: &Path, matches: &clap::ArgMatches) -> Result<()> {
    match Command::from_arg_matches(matches)? {
        Command::RagEval { beir, quick } => m7::rag_eval(root, &beir, quick),
        Command::Ask { question, k, quick } => {
            m8::ask(&Context::for_command(root, quick, true), &question, k)
        }
        Command::BenchRag {
            python,
            rounds,
            quick,
            quiet,
        } => bench::bench_rag(
            &Context::for_command(root, quick, quiet),
            python.as_deref(),
            rounds,
        ),
    }
}

const HEADLINES: &str = include_str!("../templates/headlines.md");

/// A milestone's line in the README's milestone table ([`viz::template::headline`]).
pub(crate) fn headline_text(block: &str, values: &impl serde::Serialize) -> String {
    viz::template::headline(HEADLINES, block, values)
}
