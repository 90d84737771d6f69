//! Markdown tables built from records.

use crate::plot::fmt_num;

/// A plain Markdown table.
#[derive(Clone, Debug, Default)]
pub struct Table {
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
}

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

impl Table {
    pub fn new(headers: &[&str]) -> Table {
        Table {
            headers: headers.iter().map(|h| h.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    /// Append a row; missing cells are left empty, extra cells are an error in `markdown`.
    pub fn row(mut self, cells: Vec<String>) -> Table {
        self.rows.push(cells);
        self
    }

    pub fn push(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// Numeric columns (numbers, percentages, ratios) are right-aligned, text columns left-aligned.
    pub fn markdown(&self) -> String {
        let n = self.headers.len();
        let numeric = |c: usize| {
            let cells: Vec<&str> = self
                .rows
                .iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.trim_matches(|ch| ch == '*' || ch == ' '))
                .filter(|s| !s.is_empty() && *s != "—" && *s != "–")
                .collect();
            !cells.is_empty()
                && cells.iter().all(|s| {
                    s.trim_end_matches(['%', '×', 'x'])
                        .trim()
                        .replace(',', "")
                        .parse::<f64>()
                        .is_ok()
                })
        };
        let mut out = String::new();
        out.push_str(&format!(
            "| {} |\n",
            self.headers
                .iter()
                .map(|h| cell(h))
                .collect::<Vec<_>>()
                .join(" | ")
        ));
        out.push_str(&format!(
            "|{}\n",
            (0..n)
                .map(|i| if numeric(i) { " ---: |" } else { " --- |" })
                .collect::<String>()
        ));
        for r in &self.rows {
            let mut cells: Vec<String> = r.iter().map(|c| cell(c)).collect();
            cells.resize(n.max(cells.len()), String::new());
            out.push_str(&format!("| {} |\n", cells.join(" | ")));
        }
        out
    }
}

/// One numeric column of a [`metric_table`].
#[derive(Clone, Debug)]
pub struct MetricCol {
    pub name: String,
    pub values: Vec<f64>,
    pub lower_is_better: bool,
    pub decimals: usize,
}

impl MetricCol {
    pub fn new(
        name: impl Into<String>,
        values: Vec<f64>,
        lower_is_better: bool,
        decimals: usize,
    ) -> MetricCol {
        MetricCol {
            name: name.into(),
            values,
            lower_is_better,
            decimals,
        }
    }
}

fn fmt_fixed(v: f64, decimals: usize) -> String {
    if !v.is_finite() {
        return "—".into();
    }
    if v != 0.0 && (v.abs() < 10f64.powi(-(decimals as i32)) || v.abs() >= 1e7) {
        return fmt_num(v);
    }
    format!("{v:.decimals$}")
}

/// A table of metrics, one row per run, with the best value of each column in bold.
pub fn metric_table(row_header: &str, rows: &[String], cols: &[MetricCol]) -> String {
    let mut headers = vec![row_header.to_string()];
    headers.extend(cols.iter().map(|c| c.name.clone()));
    let mut t = Table {
        headers,
        rows: Vec::new(),
    };
    let best: Vec<Option<usize>> = cols
        .iter()
        .map(|c| {
            let better = |a: f64, b: f64| if c.lower_is_better { a < b } else { a > b };
            c.values
                .iter()
                .enumerate()
                .filter(|(_, v)| v.is_finite())
                .fold(None, |acc: Option<(usize, f64)>, (i, &v)| match acc {
                    Some((_, b)) if !better(v, b) => acc,
                    _ => Some((i, v)),
                })
                .map(|(i, _)| i)
        })
        .collect();
    for (r, name) in rows.iter().enumerate() {
        let mut cells = vec![name.clone()];
        for (c, col) in cols.iter().enumerate() {
            let v = col.values.get(r).copied().unwrap_or(f64::NAN);
            let s = fmt_fixed(v, col.decimals);
            // Bold only a real winner: ties with another row's identical text stay plain.
            let tied = col
                .values
                .iter()
                .filter(|&&o| fmt_fixed(o, col.decimals) == s)
                .count()
                > 1;
            cells.push(if best[c] == Some(r) && !tied && rows.len() > 1 {
                format!("**{s}**")
            } else {
                s
            });
        }
        t.rows.push(cells);
    }
    t.markdown()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn best_in_bold() {
        let md = metric_table(
            "optimizer",
            &["sgd".into(), "adam".into()],
            &[
                MetricCol::new("loss", vec![0.5, 0.25], true, 3),
                MetricCol::new("acc %", vec![90.0, 80.0], false, 1),
            ],
        );
        assert!(md.contains("| adam | **0.250** | 80.0 |"), "{md}");
        assert!(md.contains("| sgd | 0.500 | **90.0** |"), "{md}");
        assert!(
            md.starts_with("| optimizer | loss | acc % |\n| --- | ---: | ---: |\n"),
            "{md}"
        );
    }

    #[test]
    fn pipes_are_escaped() {
        let md = Table::new(&["a"]).row(vec!["x|y".into()]).markdown();
        assert!(md.contains("x\\|y"));
    }
}
