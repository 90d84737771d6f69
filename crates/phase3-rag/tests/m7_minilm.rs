//! m7: the hand-written all-MiniLM-L6-v2 gives sentence-transformers' vectors, padding changes
//! nothing, and a broken model folder is an error naming the broken file.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use phase3_rag::dense::DenseIndex;
use phase3_rag::minilm::{cosine, model_dir, MiniLm, MAX_SEQ_LEN};
use phase3_rag::retrieve::Retriever;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn dir() -> PathBuf {
    model_dir(&root(), &root().join(".data")).expect("the all-MiniLM-L6-v2 files")
}

/// Loaded once: the 90 MB checkpoint is read a single time for all tests of this file.
fn model() -> &'static MiniLm {
    static MODEL: OnceLock<MiniLm> = OnceLock::new();
    MODEL.get_or_init(|| MiniLm::load(&dir()).expect("loading all-MiniLM-L6-v2"))
}

/// `(text, embedding)` of `../shared/models/minilm_reference.json`, computed by
/// sentence-transformers from the same files.
fn reference() -> Vec<(String, Vec<f32>)> {
    let path = root().join("../shared/models/minilm_reference.json");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("reference file")).unwrap();
    assert_eq!(json["max_seq_length"], MAX_SEQ_LEN);
    json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|it| {
            let v = it["embedding"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap() as f32)
                .collect();
            (it["text"].as_str().unwrap().to_string(), v)
        })
        .collect()
}

#[test]
fn m7_minilm_matches_sentence_transformers() {
    let refs = reference();
    let texts: Vec<&str> = refs.iter().map(|(t, _)| t.as_str()).collect();
    // The reference covers the edge cases: empty, one letter, Unicode, longer than 256 tokens.
    assert!(texts.contains(&"") && texts.contains(&"a"));
    let lens: Vec<usize> = model()
        .tokenize(&texts)
        .unwrap()
        .iter()
        .map(Vec::len)
        .collect();
    assert!(lens.contains(&MAX_SEQ_LEN), "a text is truncated: {lens:?}");
    assert!(lens.iter().all(|&n| n <= MAX_SEQ_LEN));

    let ours = model().encode_all(&texts, 4).unwrap();
    let mut worst = (f64::INFINITY, "");
    for ((text, want), got) in refs.iter().zip(&ours) {
        assert_eq!(got.len(), 384);
        let c = cosine(got, want);
        if c < worst.0 {
            worst = (c, text);
        }
        assert!(c >= 0.9999, "{text:?}: cosine {c}");
        let norm: f32 = got.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5, "{text:?}: norm {norm}");
    }
    eprintln!(
        "worst: 1 - cosine = {:.1e} for {:?}",
        1.0 - worst.0,
        worst.1
    );
}

#[test]
fn m7_minilm_padding_does_not_change_a_vector() {
    let texts = [
        "a",
        "The quick brown fox jumps over the lazy dog.",
        "",
        "Dense retrieval embeds queries and documents in one space, then ranks by cosine.",
    ];
    let batch = model().encode_batch(&texts).unwrap();
    for (text, b) in texts.iter().zip(&batch) {
        let alone = model().encode(text).unwrap();
        let diff = alone
            .iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0f32, f32::max);
        assert!(diff <= 1e-5, "{text:?}: max |batched - alone| = {diff}");
    }
}

/// The hand-written engine (packed batches, fused kernels, worker threads) computes what the
/// candle reference computes, and the same bits on one thread as on two.
#[test]
fn m7_minilm_fast_engine_equals_the_candle_reference() {
    let texts: Vec<String> = reference().into_iter().map(|(t, _)| t).collect();
    let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
    let ids = model().tokenize(&texts).unwrap();
    let reference = model().embed_ids(&ids).unwrap();
    let one = model().embed_packed(&ids, 3, 1).unwrap();
    let two = model().embed_packed(&ids, 3, 2).unwrap();
    assert_eq!(one, two, "the thread count changed a vector");
    for ((text, a), b) in texts.iter().zip(&reference).zip(&one) {
        let diff = a
            .iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0f32, f32::max);
        assert!(diff <= 1e-5, "{text:?}: max |fast - candle| = {diff}");
    }
    // encode_all reorders by length and tokenises inside the workers; the vectors stay in order.
    let all = model().encode_all(&texts, 2).unwrap();
    for (text, (a, b)) in texts.iter().zip(all.iter().zip(&reference)) {
        let diff = a
            .iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0f32, f32::max);
        assert!(diff <= 1e-5, "{text:?}: max |encode_all - candle| = {diff}");
    }
    // Bad ids are an error from both engines, not a panic.
    let bad = vec![vec![101, 999_999, 102]];
    let e = model().embed_packed(&bad, 1, 1).unwrap_err().to_string();
    assert!(e.contains("999999"), "{e}");
    assert!(model().embed_ids(&bad).is_err());
    assert!(model().embed_packed(&[vec![]], 1, 1).is_err());
}

#[test]
fn m7_minilm_dense_index_ranks_the_paraphrase_first() {
    let docs = [
        "The cat sat on the mat.",
        "Stock markets fell sharply on Monday.",
        "Photosynthesis turns light into chemical energy in plants.",
    ];
    let ids = vec!["cat".into(), "stocks".into(), "plants".into()];
    let model = MiniLm::load(&dir()).unwrap();
    let index = DenseIndex::build("minilm", Box::new(model), ids, &docs, 2).unwrap();
    let hits = index
        .search("How do plants make energy from sunlight?", 2)
        .unwrap();
    assert_eq!(hits.len(), 2);
    assert_eq!(hits[0].doc_id, "plants");
    assert!(hits[0].score > hits[1].score);
    assert_eq!(index.search("anything", 10).unwrap().len(), 3);
}

/// A copy of the model folder in a temporary directory, to break.
fn copy_model() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    for f in ["config.json", "tokenizer.json", "model.safetensors"] {
        std::fs::copy(dir().join(f), tmp.path().join(f)).unwrap();
    }
    tmp
}

fn load_error(dir: &Path) -> String {
    match MiniLm::load(dir) {
        Ok(_) => panic!("loading {} should fail", dir.display()),
        Err(e) => format!("{e:#}"),
    }
}

#[test]
fn m7_minilm_missing_file_is_an_error_naming_it() {
    for f in ["config.json", "tokenizer.json", "model.safetensors"] {
        let tmp = tempfile::tempdir().unwrap();
        for g in ["config.json", "tokenizer.json", "model.safetensors"] {
            if g != f {
                // Hard links: the 90 MB checkpoint is not copied three times.
                let (src, dst) = (dir().join(g), tmp.path().join(g));
                std::fs::hard_link(&src, &dst)
                    .or_else(|_| std::fs::copy(&src, &dst).map(|_| ()))
                    .unwrap();
            }
        }
        let msg = load_error(tmp.path());
        assert!(
            msg.contains(&tmp.path().join(f).display().to_string()),
            "{f}: {msg}"
        );
    }
}

#[test]
fn m7_minilm_truncated_safetensors_is_an_error_naming_it() {
    let tmp = copy_model();
    let path = tmp.path().join("model.safetensors");
    let len = std::fs::metadata(&path).unwrap().len();
    let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    f.set_len(len / 2).unwrap();
    drop(f);
    let msg = load_error(tmp.path());
    assert!(msg.contains(&path.display().to_string()), "{msg}");

    // Cut inside the header too: still an error, not a panic.
    let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    f.set_len(20).unwrap();
    drop(f);
    let msg = load_error(tmp.path());
    assert!(msg.contains(&path.display().to_string()), "{msg}");
}

#[test]
fn m7_minilm_cache_entries_match_the_shared_copies() {
    // `../shared/models` is laid out as the data cache would be (`all-MiniLM-L6-v2/<file>`), so
    // fetching from it checks each entry's size and SHA-256 against the shared bytes: a machine
    // without `../shared` downloads exactly what the reference vectors were computed from.
    let shared = root().join("../shared/models");
    for f in phase3_rag::minilm::minilm_files() {
        assert!(
            f.url
                .starts_with("https://huggingface.co/sentence-transformers/all-MiniLM-L6-v2/"),
            "{}",
            f.url
        );
        let path = data_cache::fetch_with(&shared, &f, |_, _| {
            anyhow::bail!("{} should be in ../shared, not downloaded", f.name)
        })
        .unwrap();
        assert_eq!(path, shared.join(&f.name));
    }
}
