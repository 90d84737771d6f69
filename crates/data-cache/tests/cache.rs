//! The cache rules: a miss downloads, verifies and stores; a hit never downloads; offline and corrupt
//! cases are errors that name the path, and nothing wrong is ever left under the real name.

use std::io::Write;
use std::path::Path;

use data_cache::{fetch_with, read_text, sha256_hex, DataFile};

fn file_for(content: &[u8]) -> DataFile {
    DataFile::new(
        "corpus.txt",
        "https://example.org/corpus.txt",
        content.len() as u64,
        &sha256_hex(content),
    )
}

fn serve(content: &'static [u8]) -> impl FnOnce(&str, &mut dyn Write) -> anyhow::Result<()> {
    move |_, sink| {
        // In small pieces, as a network would.
        for chunk in content.chunks(3) {
            sink.write_all(chunk)?;
        }
        Ok(())
    }
}

fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn miss_fetches_verifies_and_writes_the_cache_then_hits() {
    let dir = tempfile::tempdir().unwrap();
    let content = b"to be or not to be";
    let path = fetch_with(dir.path(), &file_for(content), serve(content)).unwrap();
    assert_eq!(path, dir.path().join("corpus.txt"));
    assert_eq!(read_text(&path).unwrap().as_bytes(), content);
    let again = fetch_with(dir.path(), &file_for(content), |_, _| {
        panic!("fetched twice")
    });
    assert_eq!(again.unwrap(), path);
    assert_eq!(leftovers(dir.path()), vec!["corpus.txt".to_string()]);
}

#[test]
fn a_file_in_a_sub_folder_of_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let content = b"weights";
    let mut file = file_for(content);
    file.name = "models/tiny/model.bin".into();
    let path = fetch_with(dir.path(), &file, serve(content)).unwrap();
    assert_eq!(std::fs::read(path).unwrap(), content);
}

#[test]
fn offline_error_says_where_to_put_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let err = fetch_with(dir.path(), &file_for(b"x"), |_, _| anyhow::bail!("offline")).unwrap_err();
    let msg = format!("{err:#}");
    let path = dir.path().join("corpus.txt");
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    assert!(msg.contains("https://example.org/corpus.txt"), "{msg}");
    assert!(msg.contains("sha256"), "{msg}");
    assert!(
        leftovers(dir.path()).is_empty(),
        "{:?}",
        leftovers(dir.path())
    );
}

#[test]
fn a_corrupt_cache_is_an_error_naming_the_file_and_is_not_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("corpus.txt");
    std::fs::write(&path, b"to be or not to bE").unwrap();
    let err = fetch_with(dir.path(), &file_for(b"to be or not to be"), |_, _| {
        panic!("a corrupt cache must not be silently replaced")
    })
    .unwrap_err();
    let msg = format!("{err:#}");
    assert!(
        msg.contains(&path.display().to_string()) && msg.contains("sha256"),
        "{msg}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), b"to be or not to bE");
}

#[test]
fn a_wrong_or_oversized_download_is_rejected_and_not_written() {
    for served in [&b"abd"[..], &b"abcdef"[..], &b"ab"[..]] {
        let dir = tempfile::tempdir().unwrap();
        let served: &'static [u8] = Box::leak(served.to_vec().into_boxed_slice());
        let err = fetch_with(dir.path(), &file_for(b"abc"), serve(served)).unwrap_err();
        assert!(
            format!("{err:#}").contains("corpus.txt") || format!("{err:#}").contains("example.org")
        );
        assert!(
            leftovers(dir.path()).is_empty(),
            "{:?}",
            leftovers(dir.path())
        );
    }
}
