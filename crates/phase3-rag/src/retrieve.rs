//! What every retriever is to the evaluation: given a query's text, the ids of the best `k`
//! documents with their scores, best first.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use anyhow::Result;

/// One ranked hit: a document id of the collection and the retriever's score (higher is better).
#[derive(Clone, Debug, PartialEq)]
pub struct Hit {
    pub doc_id: String,
    pub score: f64,
}

/// A retriever over one collection.
pub trait Retriever {
    /// Short name for tables and figures (`bm25`, `minilm`, `hybrid`, …).
    fn name(&self) -> String;
    /// The best `k` documents for `query`, best first. Ties may come in any order: the evaluation
    /// re-sorts them the way trec_eval does.
    fn search(&self, query: &str, k: usize) -> Result<Vec<Hit>>;

    /// The best `k` documents for each of `queries`, in their order. The default asks one query at a
    /// time; an encoder-backed retriever overrides it to encode the queries in batches, which is
    /// several times faster than one by one.
    fn search_batch(&self, queries: &[&str], k: usize) -> Result<Vec<Vec<Hit>>> {
        queries.iter().map(|q| self.search(q, k)).collect()
    }
}

/// A retriever that remembers its rankings: each query is searched once, `depth` deep, and any
/// `k ≤ depth` is answered with the first `k` hits of that ranking. Two things follow: a query asked
/// again (a training question drawn many times, one question at k = 1…5) costs a lookup, and the
/// top-k for every k are prefixes of one ranking, as a reader varying k should see them.
pub struct Memo {
    inner: Rc<dyn Retriever>,
    depth: usize,
    seen: RefCell<HashMap<String, Rc<[Hit]>>>,
}

impl Memo {
    pub fn new(inner: Rc<dyn Retriever>, depth: usize) -> Memo {
        Memo {
            inner,
            depth: depth.max(1),
            seen: RefCell::new(HashMap::new()),
        }
    }

    /// Searches every query not yet remembered, in one batch.
    pub fn prefetch(&self, queries: &[&str]) -> Result<()> {
        let mut todo: Vec<&str> = {
            let seen = self.seen.borrow();
            queries
                .iter()
                .copied()
                .filter(|q| !seen.contains_key(*q))
                .collect()
        };
        todo.sort_unstable();
        todo.dedup();
        let ranked = self.inner.search_batch(&todo, self.depth)?;
        let mut seen = self.seen.borrow_mut();
        for (q, hits) in todo.into_iter().zip(ranked) {
            seen.insert(q.to_string(), hits.into());
        }
        Ok(())
    }

    /// The remembered ranking of `query` (searched now if it is new).
    pub fn ranking(&self, query: &str) -> Result<Rc<[Hit]>> {
        if let Some(hits) = self.seen.borrow().get(query) {
            return Ok(hits.clone());
        }
        let hits: Rc<[Hit]> = self.inner.search(query, self.depth)?.into();
        self.seen
            .borrow_mut()
            .insert(query.to_string(), hits.clone());
        Ok(hits)
    }
}

impl Retriever for Memo {
    fn name(&self) -> String {
        self.inner.name()
    }

    fn search(&self, query: &str, k: usize) -> Result<Vec<Hit>> {
        if k > self.depth {
            return self.inner.search(query, k);
        }
        let hits = self.ranking(query)?;
        Ok(hits[..k.min(hits.len())].to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    /// Ranks documents `d0…d9` by closeness to the query's length; counts its searches.
    struct Counting {
        calls: Cell<usize>,
    }

    impl Retriever for Counting {
        fn name(&self) -> String {
            "counting".into()
        }
        fn search(&self, query: &str, k: usize) -> Result<Vec<Hit>> {
            self.calls.set(self.calls.get() + 1);
            let mut hits: Vec<Hit> = (0..10)
                .map(|d| Hit {
                    doc_id: format!("d{d}"),
                    score: -((d as f64) - query.len() as f64).abs(),
                })
                .collect();
            hits.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.doc_id.cmp(&b.doc_id)));
            hits.truncate(k);
            Ok(hits)
        }
    }

    #[test]
    fn m8_memo_answers_every_k_with_prefixes_of_one_search() {
        let inner = Rc::new(Counting {
            calls: Cell::new(0),
        });
        let memo = Memo::new(inner.clone(), 5);
        let five = memo.search("abcd", 5).unwrap();
        assert_eq!(five, inner.search("abcd", 5).unwrap());
        inner.calls.set(0);
        for k in 1..=5 {
            assert_eq!(memo.search("abcd", k).unwrap(), five[..k].to_vec());
        }
        assert_eq!(
            inner.calls.get(),
            0,
            "remembered queries are not searched again"
        );
        memo.prefetch(&["ab", "abc", "ab", "abcd"]).unwrap();
        assert_eq!(inner.calls.get(), 2, "only the new queries, once each");
        assert_eq!(
            memo.search("abc", 2).unwrap(),
            inner.search("abc", 2).unwrap()
        );
        // Deeper than remembered: asked of the retriever itself.
        assert_eq!(memo.search("abc", 8).unwrap().len(), 8);
    }
}
