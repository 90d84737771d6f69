//! How a typed summary maps onto `meta.json`'s flat `summary` object.
//!
//! A summary is a struct of numbers; a field that is itself a struct or a map (one entry per
//! retriever, per condition, per layer …) is stored under `outer/inner` keys, so the record stays a
//! flat table of headline numbers that any tool can read, and a typed struct reads it back.
//! Reading splits the keys on `/` again. One record family stores both a number and its breakdown
//! (`bm25/ndcg_cut_10` and `bm25/ndcg_cut_10/lookup`): there the number stays a leaf and the
//! breakdown's keys stay whole (`ndcg_cut_10/lookup`) inside the parent, where a flattened map
//! field of the summary type collects them.

use std::collections::BTreeMap;

use anyhow::{bail, Context as _, Result};
use serde_json::{Map, Value};

/// A typed summary as `key -> number` pairs (see [`flatten`]).
pub(super) fn flat<T: serde::Serialize>(summary: &T) -> Result<Vec<(String, f64)>> {
    flatten(serde_json::to_value(summary).context("serialising a summary")?)
}

/// `summary` as `key -> number` pairs (`None` fields left out, nested objects joined with `/`).
fn flatten(value: Value) -> Result<Vec<(String, f64)>> {
    let Value::Object(fields) = value else {
        bail!("a summary must be a struct of numbers");
    };
    let mut out = Vec::new();
    flatten_into(String::new(), fields, &mut out)?;
    Ok(out)
}

fn flatten_into(
    prefix: String,
    fields: Map<String, Value>,
    out: &mut Vec<(String, f64)>,
) -> Result<()> {
    for (key, v) in fields {
        let key = if prefix.is_empty() {
            key
        } else {
            format!("{prefix}/{key}")
        };
        match v {
            Value::Null => {}
            Value::Number(n) => {
                let x = n.as_f64().context("summary number out of range")?;
                out.push((key, x));
            }
            Value::Object(inner) => flatten_into(key, inner, out)?,
            other => bail!("summary field `{key}` is not a number: {other}"),
        }
    }
    Ok(())
}

/// The flat summary as nested JSON objects, split on `/` (see the module's note on a key that is
/// both a number and a prefix). Whole numbers become integers, so a count reads into an integer.
pub(super) fn unflatten(summary: &BTreeMap<String, f64>) -> Value {
    let pairs: Vec<(&str, f64)> = summary.iter().map(|(k, &v)| (k.as_str(), v)).collect();
    nest(&pairs)
}

fn nest(pairs: &[(&str, f64)]) -> Value {
    let mut groups: BTreeMap<&str, Vec<(&str, f64)>> = BTreeMap::new();
    let mut leaves: BTreeMap<&str, f64> = BTreeMap::new();
    for &(key, v) in pairs {
        match key.split_once('/') {
            Some((head, rest)) => groups.entry(head).or_default().push((rest, v)),
            None => {
                leaves.insert(key, v);
            }
        }
    }
    let mut map = Map::new();
    for (head, rest) in groups {
        if let Some(&v) = leaves.get(head) {
            // Both a number and a breakdown: the breakdown's keys stay whole beside the number.
            map.insert(head.to_string(), number(v));
            for (k, v) in rest {
                map.insert(format!("{head}/{k}"), number(v));
            }
            leaves.remove(head);
        } else {
            map.insert(head.to_string(), nest(&rest));
        }
    }
    for (k, v) in leaves {
        map.insert(k.to_string(), number(v));
    }
    Value::Object(map)
}

fn number(v: f64) -> Value {
    if v.fract() == 0.0 && v.abs() < 9.0e15 {
        serde_json::json!(v as i64)
    } else {
        serde_json::json!(v)
    }
}
