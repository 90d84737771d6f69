//! m4: character and byte-level BPE tokenizers.

use phase2_lm::tokenizer::{AnyTokenizer, BpeTokenizer, CharTokenizer, Tokenizer};
use proptest::prelude::*;

/// A few lines of tiny-shakespeare-like text (with non-ASCII) to train small tokenizers on.
const SAMPLE: &str = "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n\n\
First Citizen:\nYou are all resolved rather to die than to famish?\n\nAll:\nResolved. resolved.\n\n\
First Citizen:\nFirst, you know Caius Marcius is chief enemy to the people. Café naïve — 東京 1234 5678!\n";

#[test]
fn m4_char_ids_are_the_sorted_set_of_characters() {
    let t = CharTokenizer::from_text("hello");
    assert_eq!(t.chars(), &['e', 'h', 'l', 'o']);
    assert_eq!(t.vocab_size(), 4);
    assert_eq!(t.encode("hello"), vec![1, 0, 2, 2, 3]);
    assert_eq!(t.decode(&[1, 0, 2, 2, 3]), "hello");
}

#[test]
fn m4_char_unknown_characters_are_skipped_or_an_error() {
    let t = CharTokenizer::from_text("hello");
    assert_eq!(
        t.encode("hez!"),
        vec![1, 0],
        "unknown characters are skipped"
    );
    let err = t.try_encode("hez").unwrap_err().to_string();
    assert!(err.contains("'z'") && err.contains("byte 2"), "{err}");
    assert_eq!(
        t.decode(&[0, 99]),
        "e\u{FFFD}",
        "out-of-range ids decode to U+FFFD"
    );
}

/// The textbook example (Wikipedia, "Byte pair encoding"): aaabdaaabac -> aa, ab, then aaab.
#[test]
fn m4_bpe_learns_the_most_frequent_pairs_first() {
    let t = BpeTokenizer::train("aaabdaaabac", 259, false).unwrap();
    let (a, b) = (b'a' as u32, b'b' as u32);
    assert_eq!(t.merges(), &[(a, a), (a, b), (256, 257)]);
    assert_eq!(t.vocab_size(), 259);
    assert_eq!(
        t.encode("aaabdaaabac"),
        vec![258, b'd' as u32, 258, a, b'c' as u32]
    );
    assert_eq!(t.token_bytes(258), Some(&b"aaab"[..]));
}

#[test]
fn m4_bpe_stops_when_the_text_runs_out_of_pairs() {
    let t = BpeTokenizer::train("abc", 1000, false).unwrap();
    assert_eq!(t.vocab_size(), 258, "ab then (ab)c, then no pair is left");
    assert!(
        BpeTokenizer::train("abc", 100, false).is_err(),
        "vocab below 256 is an error"
    );
}

/// Textbook BPE, recounting every pair before each merge: the reference for the incremental one.
fn naive_bpe(pieces: &[Vec<u8>], n_merges: usize) -> Vec<(u32, u32)> {
    let mut seqs: Vec<Vec<u32>> = pieces
        .iter()
        .map(|p| p.iter().map(|&b| b as u32).collect())
        .collect();
    let mut merges = Vec::new();
    for r in 0..n_merges {
        let mut counts = std::collections::BTreeMap::new();
        for s in &seqs {
            for w in s.windows(2) {
                *counts.entry((w[0], w[1])).or_insert(0usize) += 1;
            }
        }
        // Max count, ties to the smallest pair (BTreeMap iterates pairs in increasing order).
        let Some((&pair, _)) = counts.iter().rev().max_by_key(|(_, &c)| c) else {
            break;
        };
        let new = 256 + r as u32;
        for s in &mut seqs {
            let mut out = Vec::with_capacity(s.len());
            let mut i = 0;
            while i < s.len() {
                if i + 1 < s.len() && (s[i], s[i + 1]) == pair {
                    out.push(new);
                    i += 2;
                } else {
                    out.push(s[i]);
                    i += 1;
                }
            }
            *s = out;
        }
        merges.push(pair);
    }
    merges
}

#[test]
fn m4_bpe_incremental_training_matches_naive_recounting() {
    let text = SAMPLE.repeat(3) + "aaaaaaa bbbbbb aaaa";
    let fast = BpeTokenizer::train(&text, 256 + 60, false).unwrap();
    assert_eq!(
        fast.merges(),
        naive_bpe(&[text.as_bytes().to_vec()], 60).as_slice()
    );
    // Naive encoding = replay the merges on the text; must equal the heap-based encoder.
    let mut seq: Vec<u32> = text.bytes().map(|b| b as u32).collect();
    for (r, &pair) in fast.merges().iter().enumerate() {
        let mut out = Vec::new();
        let mut i = 0;
        while i < seq.len() {
            if i + 1 < seq.len() && (seq[i], seq[i + 1]) == pair {
                out.push(256 + r as u32);
                i += 2;
            } else {
                out.push(seq[i]);
                i += 1;
            }
        }
        seq = out;
    }
    assert_eq!(fast.encode(&text), seq);
}

#[test]
fn m4_bpe_regex_split_keeps_merges_inside_words() {
    let text = SAMPLE.repeat(4);
    let t = BpeTokenizer::train(&text, 256 + 80, true).unwrap();
    for id in 256..t.vocab_size() as u32 {
        let s = String::from_utf8_lossy(t.token_bytes(id).unwrap()).into_owned();
        // GPT-2 pieces: a space may only lead, and letters never mix with punctuation.
        assert!(
            !s[1..].contains(' '),
            "token {id} = {s:?} crosses a word boundary"
        );
        let letters = s.chars().any(char::is_alphabetic);
        let punct = s.chars().any(|c| c.is_ascii_punctuation());
        assert!(
            !(letters && punct),
            "token {id} = {s:?} mixes letters and punctuation"
        );
    }
    // The same merges as naive BPE run on the distinct pieces weighted by their counts.
    let re = fancy_regex::Regex::new(phase2_lm::tokenizer::GPT2_SPLIT_PATTERN).unwrap();
    let pieces: Vec<Vec<u8>> = re
        .find_iter(&text)
        .map(|m| m.unwrap().as_str().as_bytes().to_vec())
        .collect();
    assert_eq!(t.merges(), naive_bpe(&pieces, 80).as_slice());
    assert!(
        t.encode(&text).len() < text.len() / 2,
        "BPE compresses its training text"
    );
}

#[test]
fn m4_tokenizers_round_trip_through_json() {
    let dir = tempfile::tempdir().unwrap();
    for tok in [
        AnyTokenizer::from(CharTokenizer::from_text(SAMPLE)),
        AnyTokenizer::from(BpeTokenizer::train(SAMPLE, 300, true).unwrap()),
        AnyTokenizer::from(BpeTokenizer::train(SAMPLE, 300, false).unwrap()),
    ] {
        let path = dir.path().join(format!("{}.json", tok.kind()));
        tok.save(&path).unwrap();
        let back = AnyTokenizer::load(&path).unwrap();
        assert_eq!(back, tok);
        assert_eq!(back.vocab_size(), tok.vocab_size());
        assert_eq!(back.encode(SAMPLE), tok.encode(SAMPLE));
    }
    let bad = dir.path().join("bad.json");
    std::fs::write(
        &bad,
        r#"{"kind":"bpe","regex_split":false,"merges":[[300,1]]}"#,
    )
    .unwrap();
    let err = format!("{:#}", AnyTokenizer::load(&bad).unwrap_err());
    assert!(
        err.contains("bad.json") && err.contains("does not exist yet"),
        "{err}"
    );
}

/// Small BPEs trained once for all property-test cases (with and without the regex split).
fn small_bpe(regex_split: bool) -> &'static BpeTokenizer {
    static BPE: std::sync::OnceLock<[BpeTokenizer; 2]> = std::sync::OnceLock::new();
    &BPE.get_or_init(|| {
        [false, true]
            .map(|regex_split| BpeTokenizer::train(SAMPLE, 256 + 100, regex_split).unwrap())
    })[regex_split as usize]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn m4_bpe_decode_encode_is_identity(text in any::<String>(), ascii in "[ -~\n]{0,200}") {
        for regex_split in [false, true] {
            let t = small_bpe(regex_split);
            for s in [&text, &ascii] {
                let ids = t.encode(s);
                prop_assert!(ids.iter().all(|&i| (i as usize) < t.vocab_size()));
                prop_assert_eq!(&t.decode(&ids), s);
            }
        }
    }

    #[test]
    fn m4_char_decode_encode_is_identity(text in any::<String>(), other in any::<String>()) {
        let t = CharTokenizer::from_text(&text);
        prop_assert_eq!(t.decode(&t.encode(&text)), text.clone());
        // Arbitrary other text never panics and only yields valid ids.
        prop_assert!(t.encode(&other).iter().all(|&i| (i as usize) < t.vocab_size()));
        prop_assert!(t.decode(&[0, 1, u32::MAX]).chars().count() <= 3);
    }

    #[test]
    fn m4_bpe_decodes_any_ids_without_panicking(ids in proptest::collection::vec(any::<u32>(), 0..50)) {
        let t = small_bpe(true);
        let _ = t.decode(&ids);
    }
}
