//! Phase 2 on one screen: tokenise a text, build a GPT, train it, sample from it (nanoGPT's
//! `train.py`, with forward and backward written by hand in `phase2_lm::fast`).
//!
//! ```sh
//! cargo run --release -p phase2-lm --example train_gpt                      # tiny-shakespeare
//! cargo run --release -p phase2-lm --example train_gpt -- --text my.txt     # any UTF-8 text
//! ```
//!
//! The idea: a language model outputs, for every position, a probability for every possible
//! next character; training lowers the cross-entropy (in nats) of the true next character. A
//! model that knows nothing gives each of the `V` characters `1 / V`, a loss of `ln V`: the
//! "uniform" line. Everything below that, measured on text the model never trained on, is
//! structure it has learned. The last line is `RESULT val_loss_start=… val_loss_end=… uniform=…`
//! and the program exits non-zero unless the final validation loss is below 0.75 × uniform
//! (tiny-shakespeare: 4.17 → about 2.05 in this small config; 0.75 × 4.17 = 3.13, which the
//! unigram frequencies alone (3.3) do not reach).
//!
//! A file it cannot use (missing, empty, binary or not UTF-8, too short for one training window
//! in each split) stops it with an error that names the file and says what is wrong.

use anyhow::{bail, Context, Result};
use phase2_lm::corpus::Corpus;
use phase2_lm::generate::Sampling;
use phase2_lm::generator::Generator;
use phase2_lm::model::GptConfig;
use phase2_lm::tokenizer::{AnyTokenizer, CharTokenizer, Tokenizer};
use phase2_lm::train::{Engine, RunConfig, TrainConfig, Trainer};
use std::path::{Path, PathBuf};
use std::time::Instant;

// Large tensor buffers are page-faulted on every step under glibc's allocator; mimalloc reuses them.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

// -- configuration: small enough to train in about half a minute on 2 cores --------------------
const BLOCK: usize = 64; // characters of context
const STEPS: usize = 1000;
const BATCH: usize = 16;
const SEED: u64 = 1337;
const SAMPLE_CHARS: usize = 200;

fn main() -> Result<()> {
    // -- the text: --text FILE, or tiny-shakespeare from the data cache ------------------------
    let path = text_path()?;
    let text = read_text(&path)?;
    let corpus = Corpus::split(&text); // first 90 % of the characters train, last 10 % validate
    let (n_train, n_val) = (
        corpus.train_text.chars().count(),
        corpus.val_text.chars().count(),
    );
    if n_val < BLOCK + 2 {
        bail!(
            "{}: {} characters are too few: the last 10 % (the validation split, {n_val} characters) \
             must hold one window of {BLOCK} + 1, so the file needs at least {} characters",
            path.display(),
            n_train + n_val,
            10 * (BLOCK + 2)
        );
    }

    // -- tokenise: one id per distinct character (nanoGPT's `stoi`) ---------------------------
    let tokenizer: AnyTokenizer = CharTokenizer::from_text(&text).into();
    let (train_ids, val_ids) = (
        tokenizer.encode(&corpus.train_text),
        tokenizer.encode(&corpus.val_text),
    );
    let vocab = tokenizer.vocab_size();
    let uniform = (vocab as f64).ln();
    println!(
        "text: {} ({} train / {} val characters, {vocab} distinct)",
        path.display(),
        train_ids.len(),
        val_ids.len()
    );

    // -- build: a 2-layer GPT, 4 heads of 16 dimensions ---------------------------------------
    let model = GptConfig {
        vocab_size: vocab,
        block_size: BLOCK,
        n_layer: 2,
        n_head: 4,
        d_model: 64,
        pos_emb: true,
    };
    let train = TrainConfig {
        steps: STEPS,
        batch_size: BATCH,
        max_lr: 3e-3,
        min_lr: 3e-4,
        warmup: 50,
        beta1: 0.9,
        beta2: 0.99,
        eps: 1e-8,
        weight_decay: 0.1,
        grad_clip: 1.0,
        eval_interval: 100,
        eval_iters: 20, // validation = 20 fixed batches of 16 windows
        log_interval: 100,
        seed: SEED,
        ops: Engine::Fast, // the hand-written forward and backward
        workers: 2,
        dropout: 0.0,
    };
    println!("model: {} parameters, block {BLOCK}", model.n_params());
    let mut trainer = Trainer::new(RunConfig { model, train })?;
    let val_batches = trainer.val_batches(&val_ids)?;

    // -- train: AdamW, warm-up + cosine, gradient clipping, all inside Trainer::step ----------
    let val_loss_start = trainer.evaluate(&val_batches)?;
    println!("step    0  val loss {val_loss_start:.3}  (uniform ln {vocab} = {uniform:.3})");
    let start = Instant::now();
    let mut loss_sum = 0.0;
    for step in 1..=STEPS {
        loss_sum += trainer.step(&train_ids)?.loss as f64;
        if step % 100 == 0 {
            let val = trainer.evaluate(&val_batches)?;
            println!(
                "step {step:>4}  train loss {:.3}  val loss {val:.3}  ({:.0} s)",
                loss_sum / 100.0,
                start.elapsed().as_secs_f64()
            );
            loss_sum = 0.0;
        }
    }
    let val_loss_end = trainer.evaluate(&val_batches)?;

    // -- sample: continue the first character of the validation text --------------------------
    let sampling = Sampling {
        temperature: 0.8,
        top_k: None,
        top_p: None,
    };
    let prompt: String = corpus.val_text.chars().take(1).collect();
    let mut generator = Generator::from_trainer(&trainer, tokenizer, sampling)?;
    let sample = generator.complete(&prompt, SAMPLE_CHARS, &[], SEED)?.text;
    println!("--- sample ---\n{prompt}{sample}\n--------------");

    println!("RESULT val_loss_start={val_loss_start:.4} val_loss_end={val_loss_end:.4} uniform={uniform:.4}");
    if val_loss_end >= 0.75 * uniform {
        bail!(
            "validation loss {val_loss_end:.3} is not clearly below uniform {uniform:.3} \
             (needs < 0.75 × uniform = {:.3}): the model did not learn",
            0.75 * uniform
        );
    }
    Ok(())
}

/// `--text FILE` from the command line, else tiny-shakespeare (from `.data/`, else downloaded into
/// it with its checksum verified).
fn text_path() -> Result<PathBuf> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [] => {
            let cache = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.data");
            let path = data_cache::fetch(&cache, &phase2_lm::data::tiny_shakespeare_file())?;
            Ok(path.canonicalize().unwrap_or(path))
        }
        [flag, file] if flag == "--text" => Ok(PathBuf::from(file)),
        _ => bail!(
            "usage: train_gpt [--text FILE]   (FILE: any UTF-8 text; default tiny-shakespeare)"
        ),
    }
}

/// The file as text, or an error naming it: missing, empty, binary, or not UTF-8.
fn read_text(path: &Path) -> Result<String> {
    let bytes =
        std::fs::read(path).with_context(|| format!("{}: cannot read the file", path.display()))?;
    if bytes.is_empty() {
        bail!(
            "{}: the file is empty: there is nothing to train on",
            path.display()
        );
    }
    if let Some(at) = bytes.iter().position(|&b| b == 0) {
        bail!(
            "{}: a NUL byte at offset {at}: this looks like a binary file, not text",
            path.display()
        );
    }
    String::from_utf8(bytes).map_err(|e| {
        anyhow::anyhow!(
            "{}: not UTF-8 text (invalid byte at offset {}): convert it to UTF-8, or is it a binary file?",
            path.display(),
            e.utf8_error().valid_up_to()
        )
    })
}
