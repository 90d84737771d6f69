//! m4: the train/validation split, and the corpus's entry in the data cache (the cache's own rules are
//! tested in the `data-cache` crate).

use phase2_lm::data::{tiny_shakespeare_file, train_val_split};

#[test]
fn m4_split_is_ninety_ten_by_position() {
    let tokens: Vec<u32> = (0..1000).collect();
    let (train, val) = train_val_split(&tokens);
    assert_eq!(train, (0..900).collect::<Vec<_>>());
    assert_eq!(val, (900..1000).collect::<Vec<_>>());
    let (train, val) = train_val_split(&[1u8, 2, 3]);
    assert_eq!(
        (train.len(), val.len()),
        (2, 1),
        "n = (0.9 * 3) as usize = 2"
    );
}

#[test]
fn m4_offline_with_an_empty_cache_names_the_corpus_path_and_url() {
    let dir = tempfile::tempdir().unwrap();
    let err = data_cache::fetch_with(dir.path(), &tiny_shakespeare_file(), |_, _| {
        anyhow::bail!("offline")
    })
    .unwrap_err();
    let msg = format!("{err:#}");
    assert!(
        msg.contains(&dir.path().join("tinyshakespeare.txt").display().to_string()),
        "{msg}"
    );
    assert!(
        msg.contains("karpathy/char-rnn") && msg.contains("86c4e6aa"),
        "{msg}"
    );
}
