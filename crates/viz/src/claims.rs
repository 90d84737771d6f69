//! Comparisons in words. Every log sentence and README row that weighs two systems is worded here
//! from a [`stats::Judged`] comparison, so the word ("better", "worse", "tied") always comes from
//! [`stats::verdict`] after its family's correction, and the README and the log never disagree.

use stats::{Judged, PairedBinary};

/// A fraction as a percentage with one decimal: `0.123` → `12.3 %`.
pub fn pct(x: f64) -> String {
    format!("{:.1} %", 100.0 * x)
}

/// A p-value in a table cell: three decimals, or `< 0.001`.
pub fn p_cell(p: f64) -> String {
    if p < 0.001 {
        "< 0.001".into()
    } else {
        format!("{p:.3}")
    }
}

/// A p-value after "p" in a sentence: `= 0.070` or `< 0.001`.
pub fn p_value(p: f64) -> String {
    if p < 0.001 {
        p_cell(p)
    } else {
        format!("= {}", p_cell(p))
    }
}

/// How the comparison was read: alone (the milestone's primary comparison, or the only member of
/// its family) or corrected within a family of `m`.
pub fn reading(j: &Judged) -> String {
    if j.primary {
        "primary comparison".into()
    } else if j.family_size == 1 {
        "the only comparison of its family".into()
    } else {
        format!(
            "Holm-adjusted p {} over {} comparisons",
            p_value(j.p_adjusted),
            j.family_size
        )
    }
}

/// Two systems right or wrong on the same `items` ("questions", "tasks"): the difference in points,
/// the discordant counts, the exact test and the verdict — e.g. `+3.0 points (7 vs 1 questions;
/// exact McNemar p = 0.070; Holm-adjusted p = 0.281 over 8 comparisons): tied`.
pub fn paired_binary(c: &PairedBinary, j: &Judged, items: &str) -> String {
    format!(
        "{:+.1} points ({} vs {} {items}; exact McNemar p {}; {}): {}",
        100.0 * c.difference,
        c.test.wins,
        c.test.losses,
        p_value(c.test.p),
        reading(j),
        j.verdict.word()
    )
}

/// Two systems scored with a number on the same `items` (nDCG per query): the difference of the
/// means with `decimals`, its 95 % paired-bootstrap interval and the verdict — e.g. `+0.001 (95 %
/// interval −0.027 to +0.030 by paired bootstrap over 76 queries; primary comparison): tied`.
pub fn paired_numbers(p: &stats::Paired, j: &Judged, items: &str, decimals: usize) -> String {
    format!(
        "{:+.d$} (95 % interval {:+.d$} to {:+.d$} by paired bootstrap over {} {items}; {}): {}",
        p.difference,
        p.low,
        p.high,
        p.n,
        reading(j),
        j.verdict.word(),
        d = decimals
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_words_follow_the_corrected_test() {
        let c = stats::paired_binary(
            &[true, true, true, true, true, true, true, false, true],
            &[false, false, false, false, false, false, false, true, true],
        )
        .unwrap();
        assert_eq!((c.test.wins, c.test.losses), (7, 1));
        let alone = stats::judge_primary(c.difference, c.test.p);
        assert_eq!(
            paired_binary(&c, &alone, "questions"),
            "+66.7 points (7 vs 1 questions; exact McNemar p = 0.070; primary comparison): tied"
        );
        let fam = stats::judge_family(&[(c.difference, c.test.p), (0.1, 0.0001)]);
        assert!(paired_binary(&c, &fam[0], "tasks")
            .ends_with("Holm-adjusted p = 0.070 over 2 comparisons): tied"));
        assert_eq!(
            reading(&fam[1]),
            "Holm-adjusted p < 0.001 over 2 comparisons"
        );
    }
}
