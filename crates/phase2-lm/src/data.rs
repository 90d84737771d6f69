//! Tiny-shakespeare through the data cache, and the train/validation split.
//!
//! The corpus is Karpathy's tiny-shakespeare (1,115,394 bytes). It is looked up in the data cache
//! (`.data/` by default) first; only if it is missing is it downloaded, and either way its SHA-256 is
//! checked so every run of every milestone trains on the same bytes. The split is nanoGPT's: the first
//! 90 % of the tokens train, the last 10 % validate, so our losses are comparable with its numbers.

use std::fs;
use std::io::Read;
use std::path::Path;

use anyhow::{bail, Context as _, Result};
use sha2::{Digest, Sha256};

/// File name of the corpus inside the data cache.
pub const TINY_SHAKESPEARE_FILE: &str = "tinyshakespeare.txt";
/// Where the corpus is downloaded from when it is not in the cache.
pub const TINY_SHAKESPEARE_URL: &str =
    "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt";
/// SHA-256 of the corpus (hex).
pub const TINY_SHAKESPEARE_SHA256: &str =
    "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed";
/// Size of the corpus in bytes.
pub const TINY_SHAKESPEARE_BYTES: usize = 1_115_394;

/// Tiny-shakespeare as text: from `ctx.data_cache`, else downloaded (checksum verified) into it.
///
/// Offline with an empty cache, the error says which file to put where and where to get it. A file
/// in the cache whose checksum is wrong is an error naming that file (it is never silently replaced).
pub fn tiny_shakespeare(ctx: &viz::Context) -> Result<String> {
    cached_or_fetch(&ctx.data_cache, Expected::tiny_shakespeare(), || {
        download(TINY_SHAKESPEARE_URL)
    })
}

/// 90 % / 10 % split by position, as nanoGPT does (`n = (0.9 * len) as usize`).
pub fn train_val_split<T: Clone>(tokens: &[T]) -> (Vec<T>, Vec<T>) {
    let n = (0.9 * tokens.len() as f64) as usize;
    (tokens[..n].to_vec(), tokens[n..].to_vec())
}

/// What a cached file must be: its name in the cache, size, checksum and origin (for error messages).
#[derive(Debug, Clone)]
pub struct Expected {
    pub file: String,
    pub bytes: usize,
    pub sha256: String,
    pub url: String,
}

impl Expected {
    pub fn tiny_shakespeare() -> Self {
        Expected {
            file: TINY_SHAKESPEARE_FILE.into(),
            bytes: TINY_SHAKESPEARE_BYTES,
            sha256: TINY_SHAKESPEARE_SHA256.into(),
            url: TINY_SHAKESPEARE_URL.into(),
        }
    }
}

/// The cache logic with the download injected, so tests can exercise "offline" and "corrupt".
///
/// 1. `cache/<file>` exists: verify it, return it (error naming the path if it does not verify).
/// 2. Otherwise call `fetch`; on failure, explain where to put the file. Verify what came back, then
///    write it atomically (`viz::write_atomic`) so a crash never leaves a half-written corpus behind.
pub fn cached_or_fetch(
    cache: &Path,
    expected: Expected,
    fetch: impl FnOnce() -> Result<Vec<u8>>,
) -> Result<String> {
    let path = cache.join(&expected.file);
    if path.exists() {
        let bytes = fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        verify(&bytes, &expected).with_context(|| {
            format!(
                "{} is corrupt: delete it to download it again, or replace it with {}",
                path.display(),
                expected.url
            )
        })?;
        return String::from_utf8(bytes)
            .with_context(|| format!("{} is not UTF-8", path.display()));
    }
    let bytes = fetch().with_context(|| missing_message(&path, &expected))?;
    verify(&bytes, &expected).with_context(|| format!("downloaded {} is wrong", expected.url))?;
    viz::write_atomic(&path, &bytes)?;
    String::from_utf8(bytes).with_context(|| format!("{} is not UTF-8", expected.url))
}

fn missing_message(path: &Path, expected: &Expected) -> String {
    format!(
        "{} is not in the data cache and could not be downloaded: put the file at {} \
         (download it from {}; {} bytes, sha256 {})",
        expected.file,
        path.display(),
        expected.url,
        expected.bytes,
        expected.sha256
    )
}

/// Checks size and SHA-256.
fn verify(bytes: &[u8], expected: &Expected) -> Result<()> {
    if bytes.len() != expected.bytes {
        bail!("expected {} bytes, found {}", expected.bytes, bytes.len());
    }
    let digest = sha256_hex(bytes);
    if digest != expected.sha256 {
        bail!("expected sha256 {}, found {digest}", expected.sha256);
    }
    Ok(())
}

/// Lower-case hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn download(url: &str) -> Result<Vec<u8>> {
    let response = ureq::get(url)
        .timeout(std::time::Duration::from_secs(60))
        .call()
        .with_context(|| format!("GET {url}"))?;
    let mut bytes = Vec::new();
    response
        .into_reader()
        .take(64 << 20)
        .read_to_end(&mut bytes)
        .with_context(|| format!("reading the body of {url}"))?;
    Ok(bytes)
}
