//! The models a server offers: each a name given on the command line and the checkpoint it was
//! loaded from. Requests name a model; the name is looked up here and never used as a path.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, ensure, Context, Result};
use phase2_lm::generate::Sampling;
use phase2_lm::generator::{Generator, Loaded};

/// One loaded checkpoint, by name: its weights are read once and shared by every request.
pub struct Model {
    pub name: String,
    pub weights: Loaded,
}

impl Model {
    pub fn load(name: &str, dir: &Path) -> Result<Model> {
        ensure!(
            valid_name(name),
            "model name `{name}`: use 1–64 letters, digits, `.`, `_` or `-`, not starting with `.`"
        );
        let weights = Loaded::load(dir)
            .with_context(|| format!("model `{name}`: loading the checkpoint {}", dir.display()))?;
        Ok(Model {
            name: name.to_string(),
            weights,
        })
    }

    /// A generator over the shared weights (its own KV cache), sampling as given.
    pub fn generator(&self, sampling: Sampling) -> Result<Generator<'_>> {
        self.weights.generator(sampling)
    }

    /// The longest prompt + completion, in tokens.
    pub fn context(&self) -> usize {
        self.weights.config.block_size
    }
}

/// Names a model may have.
pub fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// `NAME=DIR` as given to `--model`.
pub fn parse_spec(spec: &str) -> Result<(String, PathBuf)> {
    let Some((name, dir)) = spec.split_once('=') else {
        bail!("`--model {spec}`: expected NAME=CHECKPOINT_DIR");
    };
    Ok((name.to_string(), PathBuf::from(dir)))
}

/// The models by name.
#[derive(Clone, Default)]
pub struct Registry {
    models: BTreeMap<String, Arc<Model>>,
}

impl Registry {
    pub fn load(specs: &[(String, PathBuf)]) -> Result<Registry> {
        ensure!(
            !specs.is_empty(),
            "no model to serve: give --model NAME=CHECKPOINT_DIR"
        );
        let mut models = BTreeMap::new();
        for (name, dir) in specs {
            let m = Model::load(name, dir)?;
            ensure!(
                models.insert(name.clone(), Arc::new(m)).is_none(),
                "model `{name}` is given twice"
            );
        }
        Ok(Registry { models })
    }

    pub fn get(&self, name: &str) -> Option<Arc<Model>> {
        self.models.get(name).cloned()
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.models.keys().map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serve_model_names_cannot_be_paths() {
        assert!(valid_name("m8-reader.v1"));
        for bad in ["", "../etc", "a/b", ".hidden", "a b", "é", &"x".repeat(65)] {
            assert!(!valid_name(bad), "{bad}");
        }
        assert_eq!(
            parse_spec("gpt=checkpoints/m6").unwrap(),
            ("gpt".to_string(), PathBuf::from("checkpoints/m6"))
        );
        assert!(parse_spec("checkpoints/m6").is_err());
    }
}
