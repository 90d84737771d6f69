//! Files a phase needs from the internet (a corpus, a test collection, model weights), fetched once
//! into a local cache directory and verified by size and SHA-256 every time they are used.
//!
//! Why a crate of its own: every phase needs it, none of them should have to depend on another
//! phase's model code to get it. Nothing here knows about any particular file: a [`DataFile`] names
//! one (cache name, URL, size, checksum), and [`fetch`] returns its verified path.
//!
//! The rules, in order:
//! 1. `cache/<name>` exists: verify it and return it. A wrong size or checksum is an error naming the
//!    path; a corrupt file is never silently replaced (delete it to download again).
//! 2. Otherwise download it, hashing as it streams into a temporary sibling file; verify; rename into
//!    place. A crash or a bad download never leaves a half-written or wrong file under the real name.
//! 3. Offline, the error says which file to put where, and where to get it.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};
use sha2::{Digest, Sha256};

/// One file the cache can hold: its name in the cache, where it comes from, and what it must be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataFile {
    /// File name inside the cache directory (may contain `/` for a sub-folder).
    pub name: String,
    /// Where it is downloaded from when it is not cached.
    pub url: String,
    /// Size in bytes.
    pub bytes: u64,
    /// SHA-256, lower-case hex.
    pub sha256: String,
}

impl DataFile {
    pub fn new(name: &str, url: &str, bytes: u64, sha256: &str) -> DataFile {
        DataFile {
            name: name.into(),
            url: url.into(),
            bytes,
            sha256: sha256.to_ascii_lowercase(),
        }
    }
}

/// The verified path of `file` in `cache`, downloading it over HTTPS first if it is missing.
pub fn fetch(cache: &Path, file: &DataFile) -> Result<PathBuf> {
    fetch_with(cache, file, download)
}

/// [`fetch`], read as UTF-8 text.
pub fn fetch_text(cache: &Path, file: &DataFile) -> Result<String> {
    read_text(&fetch(cache, file)?)
}

/// [`fetch`] with the download injected (`get(url, sink)` writes the body into `sink`), so tests can
/// play "offline", "corrupt download" and "cache hit" without a network.
pub fn fetch_with(
    cache: &Path,
    file: &DataFile,
    get: impl FnOnce(&str, &mut dyn Write) -> Result<()>,
) -> Result<PathBuf> {
    let path = cache.join(&file.name);
    if path.exists() {
        let mut f = fs::File::open(&path).with_context(|| format!("opening {}", path.display()))?;
        let (bytes, digest) =
            hash_stream(&mut f).with_context(|| format!("reading {}", path.display()))?;
        verify(bytes, &digest, file).with_context(|| {
            format!(
                "{} is corrupt: delete it to download it again, or replace it with {}",
                path.display(),
                file.url
            )
        })?;
        return Ok(path);
    }
    let dir = path.parent().unwrap_or(cache);
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let tmp = dir.join(format!(
        ".{}.part{}",
        path.file_name()
            .map_or("download".into(), |n| n.to_string_lossy()),
        std::process::id()
    ));
    let result = (|| -> Result<()> {
        let mut sink = HashingWriter {
            inner: fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?,
            hasher: Sha256::new(),
            bytes: 0,
            limit: file.bytes,
        };
        get(&file.url, &mut sink).with_context(|| missing_message(&path, file))?;
        sink.inner.sync_all().ok();
        let digest = hex(&sink.hasher.finalize());
        verify(sink.bytes, &digest, file)
            .with_context(|| format!("downloaded {} is wrong", file.url))?;
        fs::rename(&tmp, &path)
            .with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))
    })();
    if result.is_err() {
        fs::remove_file(&tmp).ok();
    }
    result.map(|()| path)
}

/// A cached file as UTF-8 text, with an error naming it otherwise.
pub fn read_text(path: &Path) -> Result<String> {
    let bytes = fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    String::from_utf8(bytes).with_context(|| format!("{} is not UTF-8", path.display()))
}

/// Lower-case hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn missing_message(path: &Path, file: &DataFile) -> String {
    format!(
        "{} is not in the data cache and could not be downloaded: put the file at {} \
         (download it from {}; {} bytes, sha256 {})",
        file.name,
        path.display(),
        file.url,
        file.bytes,
        file.sha256
    )
}

fn verify(bytes: u64, digest: &str, file: &DataFile) -> Result<()> {
    if bytes != file.bytes {
        bail!("expected {} bytes, found {bytes}", file.bytes);
    }
    if digest != file.sha256 {
        bail!("expected sha256 {}, found {digest}", file.sha256);
    }
    Ok(())
}

fn hash_stream(r: &mut dyn Read) -> std::io::Result<(u64, String)> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut n = 0u64;
    loop {
        let k = r.read(&mut buf)?;
        if k == 0 {
            return Ok((n, hex(&hasher.finalize())));
        }
        hasher.update(&buf[..k]);
        n += k as u64;
    }
}

/// Writes through to a file while hashing; refuses to grow past the expected size (a wrong URL that
/// serves something huge fails early instead of filling the disk).
struct HashingWriter {
    inner: fs::File,
    hasher: Sha256,
    bytes: u64,
    limit: u64,
}

impl Write for HashingWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.bytes + buf.len() as u64 > self.limit {
            return Err(std::io::Error::other(format!(
                "the download is larger than the expected {} bytes",
                self.limit
            )));
        }
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

fn download(url: &str, sink: &mut dyn Write) -> Result<()> {
    let response = ureq::get(url)
        .timeout(std::time::Duration::from_secs(120))
        .call()
        .with_context(|| format!("GET {url}"))?;
    std::io::copy(&mut response.into_reader(), sink)
        .with_context(|| format!("reading the body of {url}"))?;
    Ok(())
}
