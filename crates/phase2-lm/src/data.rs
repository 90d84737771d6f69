//! Tiny-shakespeare through the data cache, and the train/validation split.
//!
//! The corpus is Karpathy's tiny-shakespeare (1,115,394 bytes). The [`data_cache`] crate looks it up in
//! the data cache (`.data/` by default) first and downloads it only if it is missing; either way its
//! size and SHA-256 are checked, so every run of every milestone trains on the same bytes. The split is
//! nanoGPT's: the first 90 % of the tokens train, the last 10 % validate, so our losses are comparable
//! with its numbers.

use anyhow::Result;
use data_cache::DataFile;

/// Where the corpus is downloaded from when it is not in the cache.
pub const TINY_SHAKESPEARE_URL: &str =
    "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt";

/// Tiny-shakespeare as the data cache knows it: `tinyshakespeare.txt`, 1,115,394 bytes, its SHA-256.
pub fn tiny_shakespeare_file() -> DataFile {
    DataFile::new(
        "tinyshakespeare.txt",
        TINY_SHAKESPEARE_URL,
        1_115_394,
        "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
    )
}

/// Tiny-shakespeare as text: from `ctx.data_cache`, else downloaded (checksum verified) into it.
///
/// Offline with an empty cache, the error says which file to put where and where to get it. A file
/// in the cache whose checksum is wrong is an error naming that file (it is never silently replaced).
pub fn tiny_shakespeare(ctx: &run_context::Context) -> Result<String> {
    data_cache::fetch_text(&ctx.data_cache, &tiny_shakespeare_file())
}

/// The share of a corpus, from its start, that trains; the rest validates (nanoGPT's split).
pub const TRAIN_FRACTION: f64 = 0.9;

/// [`TRAIN_FRACTION`] / the rest, split by position, as nanoGPT does (`n = (0.9 * len) as usize`).
pub fn train_val_split<T: Clone>(tokens: &[T]) -> (Vec<T>, Vec<T>) {
    let n = (TRAIN_FRACTION * tokens.len() as f64) as usize;
    (tokens[..n].to_vec(), tokens[n..].to_vec())
}
