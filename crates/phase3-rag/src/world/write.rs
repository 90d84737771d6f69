//! Writing the world to disk: the BEIR layout that every retriever and the evaluation read, plus
//! the full question records. Documents are rendered and written one at a time, so a million of
//! them need no more memory than one.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::{Context, Result};

use super::World;

impl World {
    /// Writes the collection in the BEIR layout (see [`crate::beir`]) plus the full question
    /// records:
    ///
    /// ```text
    /// corpus.jsonl      {"_id", "title", "text"} per document, streamed
    /// queries.jsonl     {"_id", "text"} per question, training and test
    /// qrels/test.tsv    test questions: every document of the chain with score 1
    /// qrels/train.tsv   training questions, likewise
    /// questions.jsonl   the full `Question` records
    /// ```
    pub fn write_beir(&self, dir: &Path) -> Result<()> {
        fs::create_dir_all(dir.join("qrels"))
            .with_context(|| format!("creating {}", dir.join("qrels").display()))?;
        write_lines(&dir.join("corpus.jsonl"), |w| {
            for doc in self.documents() {
                serde_json::to_writer(&mut *w, &doc)?;
                w.write_all(b"\n")?;
            }
            Ok(())
        })?;
        write_lines(&dir.join("queries.jsonl"), |w| {
            for q in &self.questions {
                serde_json::to_writer(&mut *w, &serde_json::json!({"_id": q.id, "text": q.text}))?;
                w.write_all(b"\n")?;
            }
            Ok(())
        })?;
        for (split, train) in [("test", false), ("train", true)] {
            write_lines(&dir.join("qrels").join(format!("{split}.tsv")), |w| {
                w.write_all(b"query-id\tcorpus-id\tscore\n")?;
                for q in self.questions.iter().filter(|q| q.train == train) {
                    for doc in &q.gold_doc_ids {
                        writeln!(w, "{}\t{doc}\t1", q.id)?;
                    }
                }
                Ok(())
            })?;
        }
        write_lines(&dir.join("questions.jsonl"), |w| {
            for q in &self.questions {
                serde_json::to_writer(&mut *w, q)?;
                w.write_all(b"\n")?;
            }
            Ok(())
        })
    }
}

fn write_lines(path: &Path, body: impl FnOnce(&mut BufWriter<File>) -> Result<()>) -> Result<()> {
    let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut w = BufWriter::with_capacity(1 << 20, file);
    body(&mut w)
        .and_then(|()| Ok(w.flush()?))
        .with_context(|| format!("writing {}", path.display()))
}
