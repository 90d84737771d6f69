//! m4: the data cache and the train/validation split.

use phase2_lm::data::{cached_or_fetch, sha256_hex, train_val_split, Expected};

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

fn expected_for(content: &[u8]) -> Expected {
    Expected {
        file: "corpus.txt".into(),
        bytes: content.len(),
        sha256: sha256_hex(content),
        url: "https://example.org/corpus.txt".into(),
    }
}

#[test]
fn m4_cache_miss_fetches_verifies_and_writes_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let content = b"to be or not to be";
    let text = cached_or_fetch(dir.path(), expected_for(content), || Ok(content.to_vec())).unwrap();
    assert_eq!(text.as_bytes(), content);
    assert_eq!(
        std::fs::read(dir.path().join("corpus.txt")).unwrap(),
        content
    );
    // Second call: served from the cache, no fetch.
    let again = cached_or_fetch(dir.path(), expected_for(content), || {
        panic!("fetched twice")
    });
    assert_eq!(again.unwrap().as_bytes(), content);
}

#[test]
fn m4_offline_error_says_where_to_put_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let err =
        cached_or_fetch(dir.path(), expected_for(b"x"), || anyhow::bail!("offline")).unwrap_err();
    let msg = format!("{err:#}");
    let path = dir.path().join("corpus.txt");
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    assert!(msg.contains("https://example.org/corpus.txt"), "{msg}");
    assert!(!path.exists());
}

#[test]
fn m4_wrong_checksum_is_an_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("corpus.txt");
    std::fs::write(&path, b"to be or not to bE").unwrap();
    let err = cached_or_fetch(dir.path(), expected_for(b"to be or not to be"), || {
        panic!("a corrupt cache must not be silently replaced")
    })
    .unwrap_err();
    let msg = format!("{err:#}");
    assert!(
        msg.contains(&path.display().to_string()) && msg.contains("sha256"),
        "{msg}"
    );
    // A corrupt download is rejected and not written.
    let empty = tempfile::tempdir().unwrap();
    let err = cached_or_fetch(empty.path(), expected_for(b"abc"), || Ok(b"abd".to_vec()));
    assert!(err.is_err());
    assert!(!empty.path().join("corpus.txt").exists());
}
