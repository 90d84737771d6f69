//! Every function against the values scipy and statsmodels give for the same inputs
//! (`fixtures/scipy.json`, made once by `fixtures/make_fixtures.py`).

use serde_json::Value;
use stats::*;

fn fixtures() -> Value {
    let text = include_str!("fixtures/scipy.json");
    serde_json::from_str(text).expect("fixtures parse")
}

fn f(v: &Value) -> f64 {
    v.as_f64().expect("a number")
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array().expect("an array").iter().map(f).collect()
}

fn close(ours: f64, theirs: f64, what: &str) {
    let tol = 1e-9 * (1.0 + theirs.abs());
    assert!(
        (ours - theirs).abs() <= tol,
        "{what}: ours {ours:.15} vs reference {theirs:.15}"
    );
}

fn cases<'a>(fx: &'a Value, key: &str) -> &'a Vec<Value> {
    let cases = fx[key].as_array().expect("cases");
    assert!(!cases.is_empty(), "no {key} cases");
    cases
}

#[test]
fn sign_test_matches_binomtest_and_its_mid_p() {
    let fx = fixtures();
    for c in cases(&fx, "sign_test") {
        let (w, l) = (c["wins"].as_u64().unwrap(), c["losses"].as_u64().unwrap());
        let s = sign_test(w as usize, l as usize);
        close(s.p, f(&c["p"]), &format!("sign test {w}:{l}"));
        close(s.mid_p, f(&c["mid_p"]), &format!("mid-p {w}:{l}"));
    }
}

#[test]
fn wilson_and_clopper_pearson_match_statsmodels() {
    let fx = fixtures();
    for c in cases(&fx, "proportions") {
        let (k, n) = (
            c["k"].as_u64().unwrap() as usize,
            c["n"].as_u64().unwrap() as usize,
        );
        let level = f(&c["level"]);
        let w = wilson(k, n, level);
        let (wl, wh) = (f(&c["wilson"][0]), f(&c["wilson"][1]));
        close(
            w.low,
            wl.max(0.0),
            &format!("wilson low {k}/{n} at {level}"),
        );
        close(
            w.high,
            wh.min(1.0),
            &format!("wilson high {k}/{n} at {level}"),
        );
        let cp = clopper_pearson(k, n, level);
        close(
            cp.low,
            f(&c["clopper_pearson"][0]),
            &format!("CP low {k}/{n}"),
        );
        close(
            cp.high,
            f(&c["clopper_pearson"][1]),
            &format!("CP high {k}/{n}"),
        );
    }
}

#[test]
fn paired_t_matches_ttest_rel() {
    let fx = fixtures();
    for c in cases(&fx, "paired_t") {
        let (a, b) = (floats(&c["a"]), floats(&c["b"]));
        let t = paired_t(&a, &b, 0.95).unwrap();
        let what = format!("paired t over {} pairs", a.len());
        close(t.t, f(&c["t"]), &what);
        close(t.p, f(&c["p"]), &what);
        close(t.interval.low, f(&c["low"]), &what);
        close(t.interval.high, f(&c["high"]), &what);
        close(t.sd_difference, f(&c["sd_difference"]), &what);
    }
    assert!(paired_t(&[1.0], &[2.0], 0.95).is_err());
}

#[test]
fn t_quantiles_match_scipy() {
    let fx = fixtures();
    for c in cases(&fx, "t_quantile") {
        let (p, df) = (f(&c["p"]), f(&c["df"]));
        close(
            t_quantile(p, df),
            f(&c["q"]),
            &format!("t quantile {p} df {df}"),
        );
    }
}

#[test]
fn exact_signed_rank_matches_scipy() {
    let fx = fixtures();
    for c in cases(&fx, "wilcoxon") {
        let (a, b) = (floats(&c["a"]), floats(&c["b"]));
        let w = wilcoxon(&a, &b).unwrap();
        let what = format!("wilcoxon over {} pairs", a.len());
        close(w.statistic, f(&c["statistic"]), &what);
        close(w.p, f(&c["p"]), &what);
    }
}

#[test]
fn holm_matches_multipletests() {
    let fx = fixtures();
    for c in cases(&fx, "holm") {
        let p = floats(&c["p"]);
        let ours = holm(&p);
        for (o, t) in ours.iter().zip(floats(&c["adjusted"])) {
            close(*o, t, &format!("holm {p:?}"));
        }
    }
}

#[test]
fn sample_sd_matches_numpy_ddof_1() {
    let fx = fixtures();
    for c in cases(&fx, "sample_sd") {
        let x = floats(&c["x"]);
        close(sample_sd(&x), f(&c["sd"]), &format!("sd {x:?}"));
    }
}
