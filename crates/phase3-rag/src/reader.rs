//! The reader (m8): a prompt of retrieved passages and a question, an answer read off the model's
//! continuation, and exact match the way SQuAD scores it.
//!
//! A prompt is plain text every backend can read:
//!
//! ```text
//! * Soldok Faarbordholm: She was born in 1977 in Gaalvik.
//! * Soldok Fagerholm: Soldok Fagerholm works for Norvik Labs.
//! Q: What is Soldok Faarbordholm's hometown?
//! A:
//! ```
//!
//! and the answer is the continuation up to the first newline (`" Gaalvik\n"` when training). Each
//! passage line starts with its document's title: a sentence-sized chunk often names its entity
//! only by a pronoun ("She was born…"), so without the title neither a retriever nor a reader could
//! tell whose fact it is. The title follows `"* "` so that its first word is tokenized with a
//! leading space, exactly as the same name inside the question is: the reader can match the two
//! token for token.
//!
//! [`Passages`] cuts every document of a world into chunks ([`crate::chunk`]) and knows, for each
//! question, which passage states the fact it asks (the *gold* passage).

use std::collections::HashMap;

use anyhow::{ensure, Context as _, Result};
use serde::{Deserialize, Serialize};

use crate::chunk::{ChunkConfig, Chunker};
use crate::world::{Document, Question};

/// Where an answer ends.
pub const STOP: &str = "\n";

/// One chunk of a document, ready for a prompt.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Passage {
    /// `"{doc_id}#{n}"`: the document's n-th chunk.
    pub id: String,
    pub doc_id: String,
    pub title: String,
    pub text: String,
}

impl Passage {
    /// The line a prompt shows (and a retriever indexes, as `title + " " + text`).
    pub fn line(&self) -> String {
        format!("* {}: {}\n", self.title, self.text)
    }
}

/// The prompt for `question` over `passages`, in the order given (best first).
pub fn prompt(passages: &[&Passage], question: &str) -> String {
    let mut s = String::new();
    for p in passages {
        s.push_str(&p.line());
    }
    s.push_str("Q: ");
    s.push_str(question.trim());
    s.push_str("\nA:");
    s
}

/// What the model should continue a prompt with: the answer after one space, then [`STOP`].
pub fn continuation(answer: &str) -> String {
    format!(" {}{STOP}", answer.trim())
}

/// The longest prefix of `passages` (best first) whose prompt takes at most `budget` tokens by
/// `count`, and that prompt. Passages are dropped from the end — the worst-ranked first — so a
/// prompt never exceeds the model's context; zero passages is the closed-book prompt.
pub fn fit_prompt<'p>(
    passages: &[&'p Passage],
    question: &str,
    budget: usize,
    count: impl Fn(&str) -> usize,
) -> Result<(String, Vec<&'p Passage>)> {
    let mut used: Vec<&Passage> = passages.to_vec();
    loop {
        let text = prompt(&used, question);
        if count(&text) <= budget {
            return Ok((text, used));
        }
        ensure!(
            used.pop().is_some(),
            "the question alone takes more than {budget} tokens: {question:?}"
        );
    }
}

/// SQuAD's answer normalisation: lower case, punctuation removed, the articles "a", "an" and
/// "the" removed, white space collapsed. Exact match compares answers after it.
pub fn normalize_answer(s: &str) -> String {
    let lower: String = s
        .to_lowercase()
        .chars()
        .filter(|c| !c.is_ascii_punctuation())
        .collect();
    lower
        .split_whitespace()
        .filter(|w| !matches!(*w, "a" | "an" | "the"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whether `prediction` is `gold` after [`normalize_answer`].
pub fn exact_match(prediction: &str, gold: &str) -> bool {
    normalize_answer(prediction) == normalize_answer(gold)
}

/// Whether `text` says `phrase`: the normalised phrase occurs in the normalised text as whole words.
/// How a wrong answer is traced to where the reader copied it from.
pub fn mentions(text: &str, phrase: &str) -> bool {
    let phrase = normalize_answer(phrase);
    !phrase.is_empty() && format!(" {} ", normalize_answer(text)).contains(&format!(" {phrase} "))
}

/// Every document of a collection cut into passages, with each question's gold passage.
pub struct Passages {
    pub config: ChunkConfig,
    pub passages: Vec<Passage>,
    /// Passage id → index.
    index: HashMap<String, usize>,
    /// Document id → its passages' indices, in order.
    by_doc: HashMap<String, Vec<usize>>,
}

impl Passages {
    /// Chunk every document with `config`.
    pub fn new(config: ChunkConfig, docs: impl IntoIterator<Item = Document>) -> Result<Passages> {
        let chunker = Chunker::new(config.clone())?;
        let mut passages = Vec::new();
        for doc in docs {
            for (n, c) in chunker.chunk(&doc.id, &doc.text).into_iter().enumerate() {
                passages.push(Passage {
                    id: format!("{}#{n}", doc.id),
                    doc_id: doc.id.clone(),
                    title: doc.title.clone(),
                    text: c.text,
                });
            }
        }
        Ok(Passages::from_passages(config, passages))
    }

    /// A collection of passages cut before (a subset of another [`Passages`]).
    pub fn from_passages(config: ChunkConfig, passages: Vec<Passage>) -> Passages {
        let mut by_doc: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, p) in passages.iter().enumerate() {
            by_doc.entry(p.doc_id.clone()).or_default().push(i);
        }
        let index = passages
            .iter()
            .enumerate()
            .map(|(i, p)| (p.id.clone(), i))
            .collect();
        Passages {
            config,
            passages,
            index,
            by_doc,
        }
    }

    pub fn get(&self, id: &str) -> Option<&Passage> {
        self.index.get(id).map(|&i| &self.passages[i])
    }

    /// The passages of one document, in order.
    pub fn of_doc(&self, doc_id: &str) -> impl Iterator<Item = &Passage> + '_ {
        self.by_doc
            .get(doc_id)
            .into_iter()
            .flatten()
            .map(|&i| &self.passages[i])
    }

    /// For each hop of `question`'s chain, the passage of its document that states it (contains
    /// the hop's sentence whole, or at least its value where the sentence was cut), without
    /// repeats. An error if a hop's document has no such passage.
    pub fn gold(&self, question: &Question) -> Result<Vec<&Passage>> {
        let mut out: Vec<&Passage> = Vec::new();
        for hop in &question.chain {
            let found = self
                .of_doc(&hop.doc_id)
                .find(|p| p.text.contains(&hop.sentence))
                .or_else(|| {
                    self.of_doc(&hop.doc_id)
                        .find(|p| p.text.contains(&hop.value))
                })
                .with_context(|| {
                    format!(
                        "question {}: no passage of {} states {:?}",
                        question.id, hop.doc_id, hop.sentence
                    )
                })?;
            if !out.iter().any(|p| p.id == found.id) {
                out.push(found);
            }
        }
        Ok(out)
    }
}

impl Passages {
    /// Writes the passages as a BEIR-layout collection (`corpus.jsonl` with passage ids,
    /// `queries.jsonl`, `qrels/{test,train}.tsv` judging each question's gold passages), so every
    /// retriever of m7 — and `cargo xtask rag-eval` — runs on passages as on documents.
    pub fn write_beir(&self, dir: &std::path::Path, questions: &[Question]) -> Result<()> {
        use std::fmt::Write as _;
        std::fs::create_dir_all(dir.join("qrels"))
            .with_context(|| format!("creating {}", dir.join("qrels").display()))?;
        let mut corpus = String::new();
        for p in &self.passages {
            let line = serde_json::json!({"_id": p.id, "title": p.title, "text": p.text});
            writeln!(corpus, "{line}").expect("writing to a String");
        }
        let mut queries = String::new();
        for q in questions {
            let line = serde_json::json!({"_id": q.id, "text": q.text});
            writeln!(queries, "{line}").expect("writing to a String");
        }
        let mut qrels = [String::new(), String::new()];
        for (split, out) in qrels.iter_mut().enumerate() {
            out.push_str("query-id\tcorpus-id\tscore\n");
            for q in questions.iter().filter(|q| q.train == (split == 1)) {
                for p in self.gold(q)? {
                    writeln!(out, "{}\t{}\t1", q.id, p.id).expect("writing to a String");
                }
            }
        }
        let [test, train] = qrels;
        for (name, body) in [
            ("corpus.jsonl", corpus),
            ("queries.jsonl", queries),
            ("qrels/test.tsv", test),
            ("qrels/train.tsv", train),
        ] {
            let path = dir.join(name);
            std::fs::write(&path, body).with_context(|| format!("writing {}", path.display()))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn passage(id: &str, title: &str, text: &str) -> Passage {
        Passage {
            id: format!("{id}#0"),
            doc_id: id.into(),
            title: title.into(),
            text: text.into(),
        }
    }

    #[test]
    fn m8_prompt_lists_passages_best_first_then_the_question() {
        let a = passage("person-1", "Ann Vik", "She was born in 1950.");
        let b = passage("city-2", "Gaalvik", "It is a city in Norland.");
        let p = prompt(&[&a, &b], " When was Ann Vik born? ");
        assert_eq!(
            p,
            "* Ann Vik: She was born in 1950.\n* Gaalvik: It is a city in Norland.\nQ: When was Ann Vik born?\nA:"
        );
        assert_eq!(prompt(&[], "Who?"), "Q: Who?\nA:");
        assert_eq!(continuation(" Gaalvik "), " Gaalvik\n");
    }

    #[test]
    fn m8_fit_prompt_drops_the_worst_ranked_passages_first() {
        let ps: Vec<Passage> = (0..5)
            .map(|i| passage(&format!("d{i}"), "T", "x"))
            .collect();
        let refs: Vec<&Passage> = ps.iter().collect();
        let chars = |s: &str| s.chars().count();
        let whole = chars(&prompt(&refs, "q"));
        let (_, used) = fit_prompt(&refs, "q", whole, chars).unwrap();
        assert_eq!(used.len(), 5);
        let (text, used) = fit_prompt(&refs, "q", whole - 1, chars).unwrap();
        assert_eq!(used.len(), 4);
        assert_eq!(used[3].id, "d3#0", "the last-ranked passage goes first");
        assert!(chars(&text) < whole);
        let err = fit_prompt(&refs, "a long question", 3, chars).unwrap_err();
        assert!(err.to_string().contains("a long question"), "{err}");
    }

    #[test]
    fn m8_answers_are_normalised_like_squad() {
        assert_eq!(
            normalize_answer("  The  University of Tregate. "),
            "university of tregate"
        );
        assert!(exact_match(
            "university of tregate",
            "University of Tregate"
        ));
        assert!(exact_match("1977.", "1977"));
        assert!(exact_match("An Apple", "apple"));
        assert!(!exact_match("1976", "1977"));
        assert!(!exact_match("Gaalvik Labs", "Gaalvik"));
        assert!(mentions("She works at Gaalvik Labs.", "gaalvik labs"));
        assert!(mentions("Born in 1977, in Gaalvik.", "1977"));
        assert!(
            !mentions("She works at Gaalvik Labs.", "Gaalvik Lab"),
            "whole words only"
        );
        assert!(
            !mentions("She works at Gaalvik Labs.", "the"),
            "nothing left to mention"
        );
        assert!(!exact_match("", "Gaalvik"));
        // Articles only as whole words: "Theodor" keeps its "The".
        assert_eq!(normalize_answer("Theodor Ansel"), "theodor ansel");
    }
}
