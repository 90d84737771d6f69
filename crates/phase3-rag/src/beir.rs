//! A test collection in the BEIR layout: the format most retrieval benchmarks ship in, so that a
//! collection from BEIR (or one converted to it, like CISI in `shared/data/cisi`) loads unchanged.
//!
//! ```text
//! corpus.jsonl      one JSON object a line: {"_id": "...", "title": "...", "text": "..."}
//! queries.jsonl     one JSON object a line: {"_id": "...", "text": "..."}
//! qrels/test.tsv    header `query-id  corpus-id  score`, then one tab-separated row per judgement
//! ```
//!
//! Judgements are integers: graded relevance (0 = judged non-relevant, 1, 2, … more relevant) and,
//! in some collections, negative values. The evaluation ([`crate::metrics`]) follows trec_eval:
//! only values ≥ 1 are relevant, values ≤ 0 are not, and the values themselves are nDCG's gains.
//!
//! Loading is strict, because a silently dropped line changes every number computed downstream:
//! a malformed line, a missing field, a duplicate id, an empty query or a judgement for a query
//! the collection doesn't have is an error naming the file and the line. Judged documents that
//! are absent from the corpus are *not* an error — trec_eval counts them (a relevant document the
//! corpus lacks can never be retrieved, so it caps recall) — [`Collection::judged_outside_corpus`]
//! counts them so the caller can warn.

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use serde_json::Value;

/// Relevance judgements: query id → document id → relevance (≤ 0 non-relevant, ≥ 1 relevant,
/// larger is more relevant). Ordered maps, so that everything derived from them iterates in one
/// reproducible order.
pub type Qrels = BTreeMap<String, BTreeMap<String, i32>>;

/// One document of the corpus.
#[derive(Clone, Debug, PartialEq)]
pub struct Doc {
    pub id: String,
    pub title: String,
    pub text: String,
}

/// One query.
#[derive(Clone, Debug, PartialEq)]
pub struct Query {
    pub id: String,
    pub text: String,
}

/// A corpus, its queries and the judgements of one split, in file order.
#[derive(Clone, Debug, PartialEq)]
pub struct Collection {
    pub docs: Vec<Doc>,
    pub queries: Vec<Query>,
    pub qrels: Qrels,
}

/// The header line BEIR writes at the top of every qrels file.
const QRELS_HEADER: [&str; 3] = ["query-id", "corpus-id", "score"];

impl Collection {
    /// Loads `dir/corpus.jsonl`, `dir/queries.jsonl` and the test judgements `dir/qrels/test.tsv`.
    pub fn load(dir: &Path) -> Result<Collection> {
        Collection::load_split(dir, "test")
    }

    /// Loads the corpus, the queries and the judgements of `split` (`dir/qrels/{split}.tsv`):
    /// BEIR collections may also ship `train` and `dev` judgements over the same corpus.
    pub fn load_split(dir: &Path, split: &str) -> Result<Collection> {
        let docs = load_corpus(&dir.join("corpus.jsonl"))?;
        let queries = load_queries(&dir.join("queries.jsonl"))?;
        let qrels_path = dir.join("qrels").join(format!("{split}.tsv"));
        let qrels = load_qrels(&qrels_path)?;
        let query_ids: HashSet<&str> = queries.iter().map(|q| q.id.as_str()).collect();
        if let Some(q) = qrels.keys().find(|q| !query_ids.contains(q.as_str())) {
            bail!(
                "{}: judgements for query `{q}`, which queries.jsonl does not have",
                qrels_path.display()
            );
        }
        Ok(Collection {
            docs,
            queries,
            qrels,
        })
    }

    /// The queries that have at least one judgement (of any value) in this split: the ones an
    /// evaluation can score. trec_eval skips the others.
    pub fn judged_queries(&self) -> Vec<&Query> {
        self.queries
            .iter()
            .filter(|q| self.qrels.contains_key(&q.id))
            .collect()
    }

    /// How many *relevant* judgements (relevance ≥ 1) name a document the corpus doesn't have.
    /// They still count in recall's and MAP's denominators (as in trec_eval), so no retriever
    /// over this corpus can reach recall 1 on those queries; callers should report the count.
    pub fn judged_outside_corpus(&self) -> usize {
        let ids: HashSet<&str> = self.docs.iter().map(|d| d.id.as_str()).collect();
        relevant_outside(&self.qrels, &ids)
    }
}

/// Counts relevant judgements (relevance ≥ 1) whose document id is not in `corpus_ids`.
fn relevant_outside(qrels: &Qrels, corpus_ids: &HashSet<&str>) -> usize {
    qrels
        .values()
        .flat_map(|judged| judged.iter())
        .filter(|(doc, &rel)| rel >= 1 && !corpus_ids.contains(doc.as_str()))
        .count()
}

/// Reads `corpus.jsonl`. `title` may be empty (many BEIR corpora have untitled documents) but
/// must be present; `text` may be empty too, since a document without an abstract is still a
/// document that can be judged.
pub fn load_corpus(path: &Path) -> Result<Vec<Doc>> {
    let mut docs = Vec::new();
    let mut seen = HashSet::new();
    for (line_no, object) in jsonl_objects(path)? {
        let at = || format!("{}:{line_no}", path.display());
        let id = string_field(&object, "_id").with_context(at)?;
        let title = string_field(&object, "title").with_context(at)?;
        let text = string_field(&object, "text").with_context(at)?;
        if id.is_empty() {
            bail!("{}: empty `_id`", at());
        }
        if !seen.insert(id.clone()) {
            bail!("{}: duplicate document id `{id}`", at());
        }
        docs.push(Doc { id, title, text });
    }
    Ok(docs)
}

/// Reads `queries.jsonl`. An empty (or all-whitespace) query text is an error: every retriever
/// would return nothing or noise for it, and the query would still count in the means.
pub fn load_queries(path: &Path) -> Result<Vec<Query>> {
    let mut queries = Vec::new();
    let mut seen = HashSet::new();
    for (line_no, object) in jsonl_objects(path)? {
        let at = || format!("{}:{line_no}", path.display());
        let id = string_field(&object, "_id").with_context(at)?;
        let text = string_field(&object, "text").with_context(at)?;
        if id.is_empty() {
            bail!("{}: empty `_id`", at());
        }
        if text.trim().is_empty() {
            bail!("{}: query `{id}` has an empty text", at());
        }
        if !seen.insert(id.clone()) {
            bail!("{}: duplicate query id `{id}`", at());
        }
        queries.push(Query { id, text });
    }
    Ok(queries)
}

/// Reads a qrels TSV: an optional `query-id corpus-id score` header, then rows of exactly three
/// tab-separated fields with an integer score. A (query, document) pair judged twice is an error,
/// as in trec_eval, since which of the two values should win is not ours to guess.
pub fn load_qrels(path: &Path) -> Result<Qrels> {
    let content = read(path)?;
    let mut qrels = Qrels::new();
    for (index, raw) in content.lines().enumerate() {
        let line_no = index + 1;
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        let line = if index == 0 {
            line.strip_prefix('\u{feff}').unwrap_or(line)
        } else {
            line
        };
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split('\t').collect();
        if index == 0 && fields == QRELS_HEADER {
            continue;
        }
        let at = format!("{}:{line_no}", path.display());
        let [query, doc, score] = fields[..] else {
            bail!(
                "{at}: expected 3 tab-separated fields (query-id, corpus-id, score), found {}: {line:?}",
                fields.len()
            );
        };
        let (query, doc) = (query.trim(), doc.trim());
        if query.is_empty() || doc.is_empty() {
            bail!("{at}: empty query or document id: {line:?}");
        }
        let score: i32 = score
            .trim()
            .parse()
            .map_err(|e| anyhow!("{at}: score {score:?} is not an integer ({e})"))?;
        let judged = qrels.entry(query.to_string()).or_default();
        if judged.insert(doc.to_string(), score).is_some() {
            bail!("{at}: query `{query}` judges document `{doc}` twice");
        }
    }
    Ok(qrels)
}

fn read(path: &Path) -> Result<String> {
    fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

/// The JSON objects of a JSON-lines file with their 1-based line numbers; blank lines (a trailing
/// newline, say) are skipped, anything else that isn't a JSON object is an error at its line.
fn jsonl_objects(path: &Path) -> Result<Vec<(usize, serde_json::Map<String, Value>)>> {
    let content = read(path)?;
    let mut objects = Vec::new();
    for (index, raw) in content.lines().enumerate() {
        let line_no = index + 1;
        let line = if index == 0 {
            raw.strip_prefix('\u{feff}').unwrap_or(raw)
        } else {
            raw
        };
        if line.trim().is_empty() {
            continue;
        }
        let value: Value = serde_json::from_str(line)
            .with_context(|| format!("{}:{line_no}: malformed JSON", path.display()))?;
        let Value::Object(object) = value else {
            bail!("{}:{line_no}: expected a JSON object", path.display());
        };
        objects.push((line_no, object));
    }
    Ok(objects)
}

fn string_field(object: &serde_json::Map<String, Value>, name: &str) -> Result<String> {
    match object.get(name) {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(other) => bail!("field `{name}` must be a string, found {other}"),
        None => bail!("missing field `{name}`"),
    }
}
