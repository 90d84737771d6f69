//! Names from syllable generators: pronounceable, fictional (no word list, so no real person can
//! turn up), and cheap enough for a million entities.
//!
//! The near-duplicate variants are what make the world hard for lexical retrieval: "Halvard Steen"
//! and "Halvard Steene" share a first name and differ by one letter, "Norvik Labs" and "Norvik Lab
//! Systems" share the distinctive stem. A retriever that matches names loosely (subword tokens,
//! stemming, dense vectors) confuses them; the evaluation sees it.

use rand::seq::SliceRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// Consonants that may begin a name.
const ONSETS: &[&str] = &[
    "b", "br", "d", "f", "g", "h", "k", "kl", "l", "m", "n", "r", "s", "st", "t", "v", "sv", "tr",
];
/// Consonants inside a name (single ones, so names stay pronounceable).
const INNER_ONSETS: &[&str] = &["b", "d", "g", "k", "l", "m", "n", "r", "s", "t", "v"];
/// Plain vowels weighted up; a few long ones for flavour.
const VOWELS: &[&str] = &[
    "a", "a", "e", "e", "i", "o", "o", "u", "aa", "ei", "y", "ee",
];
/// Codas after the first syllable: short, so that clusters stay small.
const FIRST_CODAS: &[&str] = &["", "", "l", "r", "n", "s"];
const CODAS: &[&str] = &["", "", "l", "r", "n", "s", "rd", "nd", "lt", "rn", "k", "m"];
const SURNAME_ENDS: &[&str] = &[
    "sen", "berg", "strom", "vik", "dahl", "holm", "lund", "stad", "gaard", "ness", "land", "er",
];
const CITY_ENDS: &[&str] = &[
    "holt", "heim", "vik", "borg", "stad", "fjord", "dal", "by", "havn", "mark", "wick", "ford",
];
const COUNTRY_ENDS: &[&str] = &["ia", "land", "mark", "ova", "istan", "ora"];
const UNIVERSITY_ENDS: &[&str] = &["ton", "more", "bridge", "field", "wood", "gate", "ley"];

/// Company suffixes. No suffix is the first word of another, so that a company's full name never
/// occurs as a prefix of another's ("Norvik Lab" would be a prefix of "Norvik Lab Systems").
const COMPANY_SUFFIXES: &[&str] = &[
    "Labs",
    "Lab Systems",
    "Works",
    "Group",
    "Holdings",
    "Industries",
    "Dynamics",
    "Systems",
    "Analytics",
    "Robotics",
    "Foods",
    "Logistics",
];

/// University name forms; `{}` is the generated stem.
const UNIVERSITY_FORMS: &[&str] = &[
    "{} University",
    "University of {}",
    "{} Institute of Technology",
    "{} College",
    "{} Polytechnic",
];

fn pick<'a>(rng: &mut ChaCha8Rng, options: &[&'a str]) -> &'a str {
    options.choose(rng).expect("non-empty table")
}

fn capitalized(mut s: String) -> String {
    if let Some(first) = s.get_mut(0..1) {
        first.make_ascii_uppercase();
    }
    s
}

/// A capitalised word: a first syllable, an inner syllable with probability `inner`, then
/// `ending` ("Hal" + "vard", "Var" + "holt").
fn word(rng: &mut ChaCha8Rng, inner: f64, ending: &str) -> String {
    let mut s = String::with_capacity(16);
    s.push_str(pick(rng, ONSETS));
    s.push_str(pick(rng, VOWELS));
    s.push_str(pick(rng, FIRST_CODAS));
    if rng.gen_bool(inner) {
        s.push_str(pick(rng, INNER_ONSETS));
        s.push_str(pick(rng, VOWELS));
        s.push_str(pick(rng, CODAS));
    }
    s.push_str(ending);
    capitalized(s)
}

/// First names and surnames, drawn from pools much smaller than the population: as in a real
/// directory, many people share a first name or a surname, so a query's name tokens also match
/// other people's documents and only the pair identifies the person.
pub(super) struct PersonNames {
    first: Vec<String>,
    last: Vec<String>,
}

impl PersonNames {
    pub(super) fn new(rng: &mut ChaCha8Rng, people: usize) -> PersonNames {
        let first = (0..(people / 25).max(40))
            .map(|_| word(rng, 1.0, ""))
            .collect();
        let last = (0..(people / 5).max(80))
            .map(|_| {
                // A third of surnames are one bare syllable ("Steen"), the others have a family
                // ending ("Steenberg").
                let ending = if rng.gen_bool(0.33) {
                    ""
                } else {
                    pick(rng, SURNAME_ENDS)
                };
                word(rng, 0.3, ending)
            })
            .collect();
        PersonNames { first, last }
    }

    pub(super) fn draw(&self, rng: &mut ChaCha8Rng) -> String {
        let first = self.first.choose(rng).expect("non-empty pool");
        let last = self.last.choose(rng).expect("non-empty pool");
        format!("{first} {last}")
    }
}

pub(super) fn city(rng: &mut ChaCha8Rng) -> String {
    let ending = pick(rng, CITY_ENDS);
    word(rng, 0.3, ending)
}

pub(super) fn country(rng: &mut ChaCha8Rng) -> String {
    let ending = pick(rng, COUNTRY_ENDS);
    word(rng, 0.5, ending)
}

pub(super) fn company(rng: &mut ChaCha8Rng) -> String {
    let stem = word(rng, 0.7, "");
    format!("{stem} {}", pick(rng, COMPANY_SUFFIXES))
}

pub(super) fn university(rng: &mut ChaCha8Rng) -> String {
    let ending = pick(rng, UNIVERSITY_ENDS);
    let stem = word(rng, 0.5, ending);
    pick(rng, UNIVERSITY_FORMS).replace("{}", &stem)
}

pub(super) fn person_variant(rng: &mut ChaCha8Rng, name: &str) -> String {
    let mut variant = name.to_string();
    match rng.gen_range(0..3) {
        0 => variant.push('e'),
        1 => variant.push('s'),
        _ => {
            let last = variant.chars().last().expect("names are non-empty");
            variant.push(last);
        }
    }
    variant
}

/// A company's near-duplicate: the same stem with another suffix ("Norvik Labs" → "Norvik Lab
/// Systems"; "Labs" and "Lab Systems" pair up on purpose, they share a word).
pub(super) fn company_variant(rng: &mut ChaCha8Rng, name: &str) -> String {
    let (stem, suffix) = split_company(name);
    let other = match suffix {
        "Labs" => "Lab Systems",
        "Lab Systems" => "Labs",
        _ => loop {
            let s = pick(rng, COMPANY_SUFFIXES);
            if s != suffix {
                break s;
            }
        },
    };
    format!("{stem} {other}")
}

fn split_company(name: &str) -> (&str, &str) {
    let (stem, suffix) = name.split_once(' ').expect("company names have a suffix");
    (stem, suffix)
}

/// A university's near-duplicate: the same stem in another form ("Ostmore University" →
/// "Ostmore College").
pub(super) fn university_variant(rng: &mut ChaCha8Rng, name: &str) -> String {
    let (form, stem) = UNIVERSITY_FORMS
        .iter()
        .find_map(|form| {
            let (before, after) = form.split_once("{}").expect("forms contain {}");
            let stem = name.strip_prefix(before)?.strip_suffix(after)?;
            (!stem.is_empty() && !stem.contains(' ')).then_some((*form, stem))
        })
        .expect("university names come from UNIVERSITY_FORMS");
    loop {
        let other = pick(rng, UNIVERSITY_FORMS);
        if other != form {
            return other.replace("{}", stem);
        }
    }
}
