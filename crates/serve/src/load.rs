//! A bounded load test against a running OpenAI-compatible server: concurrent clients, each a thread
//! with its own keep-alive connection, sending completions streamed and not, every reply checked
//! against a reference.
//!
//! "Lost or malformed" is measured, not assumed: before the load each distinct request is sent once,
//! alone, and its reply kept as the reference. Under load every reply must be a 200 whose text
//! (streamed: the concatenated chunks, closed by `[DONE]`), finish reason and token count equal the
//! reference's — generation is deterministic for a given request and seed, so any difference is a
//! reply that concurrency corrupted. The only other acceptable answer is a clean 503 (`overloaded`,
//! in OpenAI's error shape), and only where the plan expects the server to be over its limit.

use std::io::{BufRead, BufReader};
use std::sync::Barrier;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Result};
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// One distinct request of the test: a prompt and how to sample it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Case {
    pub prompt: String,
    pub max_tokens: usize,
    /// 0 = greedy.
    pub temperature: f64,
    pub seed: u64,
    pub stop: Vec<String>,
}

/// A reply as the client saw it, whole.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Reply {
    pub text: String,
    pub finish: String,
    pub completion_tokens: u64,
}

/// What every request of a run shares.
#[derive(Clone, Debug)]
pub struct Target {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    pub model: String,
}

/// How many clients send what.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    /// Clients at once, each with its own connection.
    pub clients: usize,
    /// Requests each client sends, one after the other.
    pub requests_per_client: usize,
    /// Share of requests streamed (drawn per request by the seed).
    pub stream_fraction: f64,
    /// Every client waits for all the others before each request, so they arrive together (the
    /// over-limit run); otherwise each sends its next request as soon as the last is answered.
    #[serde(default)]
    pub synchronized: bool,
}

/// One request under load: what was sent and what came back (reproducible: no times).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    pub client: usize,
    pub index: usize,
    /// Index into the run's cases.
    pub case: usize,
    pub stream: bool,
    /// HTTP status; 0 when no response arrived.
    pub status: u16,
    /// Why the reply is not acceptable (None: identical to the reference, or a clean 503 where the
    /// plan allows one).
    pub problem: Option<String>,
    pub completion_tokens: u64,
}

/// When one request ran, in milliseconds since the run started (a timing: not reproducible).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Timing {
    pub start_ms: f64,
    pub latency_ms: f64,
    /// Streamed replies: when the first piece of text arrived, from the request's start.
    pub first_token_ms: Option<f64>,
}

fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout_connect(Duration::from_secs(10))
        .timeout(Duration::from_secs(300))
        .max_idle_connections_per_host(1)
        .build()
}

fn body(t: &Target, c: &Case, stream: bool) -> Value {
    let mut b = json!({
        "model": t.model, "prompt": c.prompt, "max_tokens": c.max_tokens,
        "temperature": c.temperature, "seed": c.seed, "stop": c.stop, "stream": stream,
    });
    if stream {
        b["stream_options"] = json!({"include_usage": true});
    }
    b
}

/// What one request got: the status and, for a 200, the reply; or why nothing usable came.
struct Got {
    status: u16,
    reply: Result<Reply, String>,
    first_token: Option<Instant>,
}

fn send(agent: &ureq::Agent, t: &Target, c: &Case, stream: bool) -> Got {
    let resp = agent
        .post(&format!("{}/v1/completions", t.url))
        .set("Content-Type", "application/json")
        .send_string(&body(t, c, stream).to_string());
    let resp = match resp {
        Ok(r) => r,
        Err(ureq::Error::Status(code, r)) => {
            let text = r.into_string().unwrap_or_default();
            let why = match serde_json::from_str::<Value>(&text) {
                Ok(v) if v["error"]["message"].is_string() => format!(
                    "error {code} ({}): {}",
                    v["error"]["code"].as_str().unwrap_or("no code"),
                    v["error"]["message"].as_str().unwrap_or_default()
                ),
                _ => format!("error {code} not in OpenAI's shape: {text:.200}"),
            };
            return Got {
                status: code,
                reply: Err(why),
                first_token: None,
            };
        }
        Err(e) => {
            return Got {
                status: 0,
                reply: Err(format!("no response: {e}")),
                first_token: None,
            }
        }
    };
    let status = resp.status();
    if stream {
        let mut first_token = None;
        let reply = read_stream(resp.into_reader(), &mut first_token);
        Got {
            status,
            reply,
            first_token,
        }
    } else {
        let reply = resp
            .into_string()
            .map_err(|e| format!("body cut short: {e}"))
            .and_then(|s| whole(&s));
        Got {
            status,
            reply,
            first_token: None,
        }
    }
}

/// A non-streamed `text_completion`.
fn whole(text: &str) -> Result<Reply, String> {
    let v: Value =
        serde_json::from_str(text).map_err(|e| format!("not JSON ({e}): {text:.200}"))?;
    let choice = &v["choices"][0];
    Ok(Reply {
        text: choice["text"]
            .as_str()
            .ok_or("no choices[0].text")?
            .to_string(),
        finish: choice["finish_reason"]
            .as_str()
            .ok_or("no finish_reason")?
            .to_string(),
        completion_tokens: v["usage"]["completion_tokens"]
            .as_u64()
            .ok_or("no usage.completion_tokens")?,
    })
}

/// An event stream of `text_completion` chunks: text, one finish reason, the usage chunk, `[DONE]`
/// last and nothing after it.
fn read_stream(
    body: impl std::io::Read,
    first_token: &mut Option<Instant>,
) -> Result<Reply, String> {
    let mut text = String::new();
    let mut finish = None;
    let mut tokens = None;
    let mut done = false;
    for line in BufReader::new(body).lines() {
        let line = line.map_err(|e| format!("stream cut short: {e}"))?;
        let Some(data) = line.strip_prefix("data:") else {
            continue;
        };
        let data = data.trim();
        if done {
            return Err(format!("data after [DONE]: {data:.100}"));
        }
        if data == "[DONE]" {
            done = true;
            continue;
        }
        let v: Value = serde_json::from_str(data)
            .map_err(|e| format!("a chunk is not JSON ({e}): {data:.100}"))?;
        if let Some(u) = v.get("usage").filter(|u| !u.is_null()) {
            tokens = Some(
                u["completion_tokens"]
                    .as_u64()
                    .ok_or("usage without completion_tokens")?,
            );
        }
        if let Some(choice) = v["choices"].as_array().and_then(|c| c.first()) {
            let piece = choice["text"].as_str().ok_or("a chunk without text")?;
            if !piece.is_empty() && first_token.is_none() {
                *first_token = Some(Instant::now());
            }
            text.push_str(piece);
            if let Some(f) = choice["finish_reason"].as_str() {
                if finish.replace(f.to_string()).is_some() {
                    return Err("two finish reasons".into());
                }
            }
        }
    }
    if !done {
        return Err("the stream ended without [DONE]".into());
    }
    Ok(Reply {
        text,
        finish: finish.ok_or("no finish reason")?,
        completion_tokens: tokens.ok_or("no usage chunk")?,
    })
}

/// Each case sent once, alone and not streamed: the replies the load must reproduce, and how long
/// each took unloaded (ms).
pub fn references(
    t: &Target,
    cases: &[Case],
    mut tick: impl FnMut(),
) -> Result<(Vec<Reply>, Vec<f64>)> {
    let agent = agent();
    let mut replies = Vec::with_capacity(cases.len());
    let mut ms = Vec::with_capacity(cases.len());
    for (i, c) in cases.iter().enumerate() {
        let t0 = Instant::now();
        let got = send(&agent, t, c, false);
        ms.push(t0.elapsed().as_secs_f64() * 1e3);
        match got.reply {
            Ok(r) if got.status == 200 => replies.push(r),
            Ok(_) => bail!("reference request {i} got status {}", got.status),
            Err(why) => bail!("reference request {i} ({:.60}…) failed: {why}", c.prompt),
        }
        tick();
    }
    Ok((replies, ms))
}

/// Runs `plan` against the server: every request's outcome (checked against `expected`, one per
/// case) and timing, in client-then-index order. `allow_503`: a clean `overloaded` 503 is an
/// acceptable answer (the over-limit run), not a problem.
pub fn run(
    t: &Target,
    cases: &[Case],
    expected: &[Reply],
    plan: &Plan,
    seed: u64,
    allow_503: bool,
    tick: impl Fn() + Sync,
) -> Result<Vec<(Outcome, Timing)>> {
    ensure!(plan.clients >= 1, "the plan needs at least one client");
    ensure!(
        !cases.is_empty() && cases.len() == expected.len(),
        "one reference per case"
    );
    ensure!(
        (0.0..=1.0).contains(&plan.stream_fraction),
        "stream_fraction must be within 0..=1, not {}",
        plan.stream_fraction
    );
    let barrier = Barrier::new(plan.clients);
    let t0 = Instant::now();
    let tick = &tick;
    let per_client: Vec<Vec<(Outcome, Timing)>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..plan.clients)
            .map(|client| {
                let barrier = &barrier;
                scope.spawn(move || {
                    // Each client draws its requests from its own stream of the seed.
                    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
                    rng.set_stream(client as u64);
                    let agent = agent();
                    barrier.wait();
                    let mut out = Vec::with_capacity(plan.requests_per_client);
                    for index in 0..plan.requests_per_client {
                        let case = rng.gen_range(0..cases.len());
                        let stream = rng.gen_bool(plan.stream_fraction);
                        if plan.synchronized && index > 0 {
                            barrier.wait();
                        }
                        let start = Instant::now();
                        let got = send(&agent, t, &cases[case], stream);
                        let latency = start.elapsed();
                        let problem = judge(&got, &expected[case], allow_503);
                        let completion_tokens = match (&got.reply, got.status) {
                            (Ok(r), 200) => r.completion_tokens,
                            _ => 0,
                        };
                        out.push((
                            Outcome {
                                client,
                                index,
                                case,
                                stream,
                                status: got.status,
                                problem,
                                completion_tokens,
                            },
                            Timing {
                                start_ms: (start - t0).as_secs_f64() * 1e3,
                                latency_ms: latency.as_secs_f64() * 1e3,
                                first_token_ms: got
                                    .first_token
                                    .map(|f| (f - start).as_secs_f64() * 1e3),
                            },
                        ));
                        tick();
                    }
                    out
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a load-test client panicked"))
            .collect()
    });
    Ok(per_client.into_iter().flatten().collect())
}

/// Why a reply is not acceptable, or None.
fn judge(got: &Got, want: &Reply, allow_503: bool) -> Option<String> {
    match (&got.reply, got.status) {
        (Ok(r), 200) if r == want => None,
        (Ok(r), 200) => Some(format!(
            "reply differs from its reference: {:?} ({}, {} tokens) vs {:?} ({}, {} tokens)",
            r.text, r.finish, r.completion_tokens, want.text, want.finish, want.completion_tokens
        )),
        (Err(why), 503) if allow_503 && why.starts_with("error 503 (overloaded)") => None,
        (Err(why), _) => Some(why.clone()),
        (Ok(_), s) => Some(format!("status {s}")),
    }
}

/// The `p`-th percentile of `xs` by the nearest-rank method (the smallest value with at least p %
/// of the values at or below it); NaN for no values.
pub fn percentile(xs: &[f64], p: f64) -> f64 {
    if xs.is_empty() {
        return f64::NAN;
    }
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * v.len() as f64).ceil().max(1.0) as usize;
    v[rank.min(v.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_by_nearest_rank() {
        let xs: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&xs, 50.0), 50.0);
        assert_eq!(percentile(&xs, 95.0), 95.0);
        assert_eq!(percentile(&xs, 99.0), 99.0);
        assert_eq!(percentile(&xs, 100.0), 100.0);
        assert_eq!(percentile(&[3.0, 1.0, 2.0], 50.0), 2.0);
        assert_eq!(percentile(&[7.0], 1.0), 7.0);
        assert!(percentile(&[], 50.0).is_nan());
    }

    #[test]
    fn a_stream_must_close_with_done_and_carry_one_finish_and_usage() {
        let chunk = |t: &str, f: Option<&str>| {
            format!(
                "data: {}\n\n",
                json!({"choices": [{"text": t, "finish_reason": f}]})
            )
        };
        let usage = format!(
            "data: {}\n\n",
            json!({"choices": [], "usage": {"completion_tokens": 2}})
        );
        let good = format!(
            "{}{}{}{usage}data: [DONE]\n\n",
            chunk(" a", None),
            chunk("b", None),
            chunk("", Some("stop"))
        );
        let mut first = None;
        let r = read_stream(good.as_bytes(), &mut first).unwrap();
        assert_eq!(
            r,
            Reply {
                text: " ab".into(),
                finish: "stop".into(),
                completion_tokens: 2
            }
        );
        assert!(first.is_some());
        let cut = format!("{}{}", chunk(" a", None), chunk("", Some("stop")));
        assert!(read_stream(cut.as_bytes(), &mut None)
            .unwrap_err()
            .contains("[DONE]"));
        let after = format!("{good}{}", chunk("x", None));
        assert!(read_stream(after.as_bytes(), &mut None)
            .unwrap_err()
            .contains("after [DONE]"));
        let twice = format!(
            "{}{}{usage}data: [DONE]\n\n",
            chunk("", Some("stop")),
            chunk("", Some("length"))
        );
        assert!(read_stream(twice.as_bytes(), &mut None)
            .unwrap_err()
            .contains("two finish"));
        let garbled = "data: {\"choices\": [\n\ndata: [DONE]\n\n";
        assert!(read_stream(garbled.as_bytes(), &mut None)
            .unwrap_err()
            .contains("not JSON"));
    }
}
