//! The model behind every role of m11 and m12: our policy (m10's checkpoint, in process) or any
//! model an OpenAI-compatible server serves — one config line (`openai = { base_url = …, model =
//! … }`) switches every system of an evaluation to it.

use std::path::Path;

use anyhow::{ensure, Result};
use openai_client::{ClientConfig, OpenAiLm};
use phase2_lm::generate::Sampling;
use phase2_lm::generator::Loaded;
use phase2_lm::lm::{GptLm, LanguageModel};

/// Where the model comes from.
pub enum Models {
    /// Our GPT: its config, weights and tokenizer, loaded once and shared by every worker.
    Own(Loaded),
    OpenAi(ClientConfig),
}

/// A worker's models: one greedy (every role), one sampling (solvers trying again).
pub type Pair<'a> = (Box<dyn LanguageModel + 'a>, Box<dyn LanguageModel + 'a>);

impl Models {
    /// The policy saved in `dir` (m10's), or `openai` when given.
    pub fn load(dir: &Path, openai: Option<ClientConfig>) -> Result<Models> {
        if let Some(c) = openai {
            return Ok(Models::OpenAi(c));
        }
        ensure!(
            dir.join("config.toml").is_file(),
            "no agent policy in {}: run `cargo xtask phase4 --only m10_agent` first",
            dir.display()
        );
        Ok(Models::Own(Loaded::load(dir)?))
    }

    /// For tables: `policy (m10)` or the served model's name.
    pub fn name(&self) -> String {
        match self {
            Models::Own(_) => "policy (m10)".into(),
            Models::OpenAi(c) => format!("{} at {}", c.model, c.base_url),
        }
    }

    /// A greedy model and one sampling at `temperature`, for one worker.
    pub fn pair(&self, temperature: f64) -> Result<Pair<'_>> {
        Ok(match self {
            Models::Own(weights) => {
                let make =
                    |sampling: Sampling, name: &str| -> Result<Box<dyn LanguageModel + '_>> {
                        Ok(Box::new(GptLm::new(name, weights.generator(sampling)?)))
                    };
                (
                    make(GptLm::greedy(), "policy")?,
                    make(
                        Sampling {
                            temperature,
                            top_k: None,
                            top_p: None,
                        },
                        "policy (sampling)",
                    )?,
                )
            }
            Models::OpenAi(c) => {
                let mut hot = c.clone();
                hot.temperature = temperature;
                (
                    Box::new(OpenAiLm::new(c.clone())?),
                    Box::new(OpenAiLm::new(hot)?),
                )
            }
        })
    }
}

/// `f` over `items` on `workers` threads, each with its own [`Models::pair`]; results in input
/// order, so a run is the same whatever the number of workers.
pub fn par_map<T: Sync, R: Send>(
    items: &[T],
    workers: usize,
    models: &Models,
    temperature: f64,
    f: &(dyn Fn(&mut dyn LanguageModel, &mut dyn LanguageModel, &T) -> R + Sync),
    tick: &(dyn Fn() + Sync),
) -> Result<Vec<R>> {
    let workers = workers.clamp(1, items.len().max(1));
    let per = items.len().div_ceil(workers).max(1);
    let parts: Vec<Result<Vec<R>>> = std::thread::scope(|s| {
        let handles: Vec<_> = items
            .chunks(per)
            .map(|chunk| {
                s.spawn(move || -> Result<Vec<R>> {
                    let (mut lm, mut retry) = models.pair(temperature)?;
                    Ok(chunk
                        .iter()
                        .map(|item| {
                            let r = f(lm.as_mut(), retry.as_mut(), item);
                            tick();
                            r
                        })
                        .collect())
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a worker panicked"))
            .collect()
    });
    let mut all = Vec::with_capacity(items.len());
    for p in parts {
        all.extend(p?);
    }
    Ok(all)
}
