//! Retrievers built from a config: [`RetrieverSpec`] (BM25, MiniLM, the dual encoder trained here,
//! or a hybrid), [`Rrf`] (reciprocal rank fusion of retrievers built before it), and the
//! collections they run on ([`CollectionSpec`], [`find_collection`]). m7 evaluates them, m8 and m9
//! put their passages before the reader.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use anyhow::{anyhow, bail, ensure, Context as _, Result};
use candle_core::DType;
use run_context::Context;
use serde::{Deserialize, Serialize};

use crate::beir::Collection;
use crate::bm25::{Bm25Config, Bm25Index};
use crate::dense::DenseIndex;
use crate::dual::{DualConfig, DualEncoder, TrainLog};
use crate::minilm::{model_dir, MiniLm};
use crate::retrieve::{Hit, Retriever};
use crate::world::{World, WorldConfig};

/// A collection in the BEIR layout — a folder, or a world generated from its config — and
/// published numbers on it to compare with.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CollectionSpec {
    pub name: String,
    /// Folder name, looked up in the workspace, the data cache and then `../shared/data/`.
    #[serde(default)]
    pub dir: Option<String>,
    /// Instead of a folder: a generated world ([`crate::world`]), written to the data cache.
    #[serde(default)]
    pub world: Option<WorldConfig>,
    /// Not read: records made before the published numbers moved to `configs/references.toml`
    /// list them here; kept so their configs still parse.
    #[serde(default, skip_serializing)]
    pub reference: Option<BTreeMap<String, f64>>,
}

impl CollectionSpec {
    /// The collection's folder, generating the world first if it is one.
    pub fn materialise(&self, ctx: &Context) -> Result<PathBuf> {
        match (&self.dir, &self.world) {
            (Some(dir), None) => find_collection(ctx, dir),
            (None, Some(w)) => {
                let dir = ctx.data_cache.join("worlds").join(&self.name);
                World::generate(w)?
                    .write_beir(&dir)
                    .with_context(|| format!("writing world `{}` to {}", self.name, dir.display()))?;
                Ok(dir)
            }
            _ => bail!(
                "collection `{}`: give exactly one of `dir` (a BEIR folder) or `world` (a generated world)",
                self.name
            ),
        }
    }
}

/// One retriever to build on each collection.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum RetrieverSpec {
    /// BM25 over this crate's inverted index ([`crate::bm25`]).
    Bm25 {
        name: String,
        #[serde(default)]
        bm25: Bm25Config,
    },
    /// all-MiniLM-L6-v2 ([`crate::minilm`]) with exact cosine search.
    Minilm {
        name: String,
        /// Documents encoded per batch.
        #[serde(default = "default_batch")]
        batch_size: usize,
    },
    /// The dual encoder of [`crate::dual`], trained from scratch on the collection's training
    /// questions (`qrels/train.tsv`) before its documents are encoded; exact cosine search.
    /// Collections without training questions skip it.
    Dual {
        name: String,
        #[serde(default)]
        dual: DualConfig,
        /// Documents encoded per batch.
        #[serde(default = "default_batch")]
        batch_size: usize,
    },
    /// Reciprocal rank fusion (Cormack et al., 2009) of retrievers listed before it:
    /// score(d) = Σ over the fused runs of 1 / (k + rank of d), each run to `depth` or to the depth
    /// asked for, whichever is deeper.
    Hybrid {
        name: String,
        of: Vec<String>,
        #[serde(default = "default_rrf_k")]
        k: f64,
        #[serde(default = "default_fuse_depth")]
        depth: usize,
    },
}

fn default_batch() -> usize {
    32
}

/// How deep each input of a fusion is read, at least: a document second in both rankings should
/// beat one first in one and missing from the other, which a fusion of two top-1 lists cannot see.
fn default_fuse_depth() -> usize {
    100
}

/// The constant of the RRF paper, used unchanged by most systems since.
fn default_rrf_k() -> f64 {
    60.0
}

impl RetrieverSpec {
    pub fn name(&self) -> &str {
        match self {
            RetrieverSpec::Bm25 { name, .. }
            | RetrieverSpec::Minilm { name, .. }
            | RetrieverSpec::Dual { name, .. }
            | RetrieverSpec::Hybrid { name, .. } => name,
        }
    }

    /// Why this retriever cannot be built on the collection in `dir`, if it cannot: the dual
    /// encoder needs training questions.
    pub fn skip_reason(&self, dir: &Path) -> Option<String> {
        match self {
            RetrieverSpec::Dual { .. } if !dir.join("qrels").join("train.tsv").is_file() => {
                Some("no training questions (qrels/train.tsv) to train it on".into())
            }
            _ => None,
        }
    }

    /// Build the retriever over `collection` (documents as `title + " " + text`), read from `dir`
    /// (where the dual encoder finds its training questions); `built` holds the retrievers built
    /// before it, by name, which a hybrid fuses.
    pub fn build(
        &self,
        ctx: &Context,
        collection: &Collection,
        dir: &Path,
        built: &BTreeMap<String, Rc<dyn Retriever>>,
    ) -> Result<Built> {
        let ids = || collection.docs.iter().map(|d| d.id.clone()).collect();
        let texts = || {
            collection
                .docs
                .iter()
                .map(|d| format!("{} {}", d.title, d.text))
        };
        let ready = |retriever: Rc<dyn Retriever>| Built {
            retriever,
            training: None,
        };
        Ok(match self {
            RetrieverSpec::Bm25 { bm25, .. } => ready(Rc::new(Bm25Index::build(
                bm25.clone(),
                collection.docs.iter().map(|d| d.id.clone()).zip(texts()),
            )?)),
            RetrieverSpec::Minilm {
                name, batch_size, ..
            } => {
                let model = MiniLm::load(&model_dir(&ctx.root, &ctx.data_cache)?)?;
                let texts: Vec<String> = texts().collect();
                let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
                ready(Rc::new(DenseIndex::build(
                    name,
                    Box::new(model),
                    ids(),
                    &refs,
                    *batch_size,
                )?))
            }
            RetrieverSpec::Dual {
                name,
                dual,
                batch_size,
            } => {
                let texts: Vec<String> = texts().collect();
                let pairs = training_pairs(collection, dir)?;
                let mut encoder = DualEncoder::new(dual.clone(), DType::F32)?;
                let bar = ctx.progress(dual.steps as u64, &format!("m7 training `{name}`"));
                let log = encoder.train(&pairs, &texts, |_| bar.inc(1))?;
                bar.finish_and_clear();
                let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
                let index = DenseIndex::build(name, Box::new(encoder), ids(), &refs, *batch_size)?;
                Built {
                    retriever: Rc::new(index),
                    training: Some(log),
                }
            }
            RetrieverSpec::Hybrid { name, of, k, depth } => {
                ensure!(
                    !of.is_empty(),
                    "hybrid `{name}` fuses no retriever (`of` is empty)"
                );
                let parts = of
                    .iter()
                    .map(|n| {
                        built.get(n).cloned().ok_or_else(|| {
                            anyhow!("hybrid `{name}` fuses `{n}`, which is not a retriever listed before it")
                        })
                    })
                    .collect::<Result<Vec<_>>>()?;
                ready(Rc::new(Rrf {
                    parts,
                    k: *k,
                    depth: *depth,
                }))
            }
        })
    }
}

/// A built retriever, with the training log of one that was trained.
pub struct Built {
    pub retriever: Rc<dyn Retriever>,
    pub training: Option<TrainLog>,
}

/// The (question text, document index) pairs of the training judgements in `dir/qrels/train.tsv`:
/// one pair per judged relevant document (a two-document question gives two pairs).
fn training_pairs(collection: &Collection, dir: &Path) -> Result<Vec<(String, usize)>> {
    let train = Collection::load_split(dir, "train")?;
    let index: HashMap<&str, usize> = collection
        .docs
        .iter()
        .enumerate()
        .map(|(i, d)| (d.id.as_str(), i))
        .collect();
    let mut pairs = Vec::new();
    for q in train.judged_queries() {
        for (doc, &rel) in &train.qrels[&q.id] {
            if let (true, Some(&i)) = (rel > 0, index.get(doc.as_str())) {
                pairs.push((q.text.clone(), i));
            }
        }
    }
    Ok(pairs)
}

/// Reciprocal rank fusion of several retrievers' rankings, each read `depth` deep at least.
pub struct Rrf {
    parts: Vec<Rc<dyn Retriever>>,
    k: f64,
    depth: usize,
}

impl Rrf {
    /// The fused top `k` of one query's rankings (one per part).
    fn fuse(&self, rankings: impl Iterator<Item = Vec<Hit>>, k: usize) -> Vec<Hit> {
        let mut fused: BTreeMap<String, f64> = BTreeMap::new();
        for ranking in rankings {
            for (rank, hit) in ranking.into_iter().enumerate() {
                *fused.entry(hit.doc_id).or_default() += 1.0 / (self.k + (rank + 1) as f64);
            }
        }
        let mut hits: Vec<Hit> = fused
            .into_iter()
            .map(|(doc_id, score)| Hit { doc_id, score })
            .collect();
        hits.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then_with(|| b.doc_id.cmp(&a.doc_id))
        });
        hits.truncate(k);
        hits
    }
}

impl Retriever for Rrf {
    fn name(&self) -> String {
        let names: Vec<String> = self.parts.iter().map(|p| p.name()).collect();
        format!("rrf({})", names.join(", "))
    }

    fn search(&self, query: &str, k: usize) -> Result<Vec<Hit>> {
        let deep = k.max(self.depth);
        let rankings = self
            .parts
            .iter()
            .map(|p| p.search(query, deep))
            .collect::<Result<Vec<_>>>()?;
        Ok(self.fuse(rankings.into_iter(), k))
    }

    fn search_batch(&self, queries: &[&str], k: usize) -> Result<Vec<Vec<Hit>>> {
        let deep = k.max(self.depth);
        let mut per_part = self
            .parts
            .iter()
            .map(|p| Ok(p.search_batch(queries, deep)?.into_iter()))
            .collect::<Result<Vec<_>>>()?;
        Ok((0..queries.len())
            .map(|_| self.fuse(per_part.iter_mut().filter_map(Iterator::next), k))
            .collect())
    }
}

/// Where a collection folder is: a path in the workspace, the data cache, then `../shared/data/`
/// beside the checkout.
pub fn find_collection(ctx: &Context, dir: &str) -> Result<PathBuf> {
    let candidates = [
        ctx.root.join(dir),
        ctx.data_cache.join(dir),
        ctx.root.join("..").join("shared").join("data").join(dir),
    ];
    candidates
        .iter()
        .find(|p| p.join("corpus.jsonl").is_file())
        .cloned()
        .ok_or_else(|| {
            anyhow!(
                "collection `{dir}` not found: put it in the BEIR layout (corpus.jsonl, queries.jsonl, \
                 qrels/test.tsv) at {} or {}",
                candidates[1].display(),
                candidates[2].display()
            )
        })
}
