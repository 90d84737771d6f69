//! The server and the client against each other on loopback: a real server on a free port, started
//! and stopped by each test, over a tiny model trained here; no mock stands in.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::{Arc, Barrier};
use std::time::Duration;

use openai_client::{ClientConfig, OpenAiLm};
use phase2_lm::generate::Sampling;
use phase2_lm::generator::Generator;
use phase2_lm::lm::{LanguageModel, Request};
use phase2_lm::model::GptConfig;
use phase2_lm::tokenizer::{AnyTokenizer, CharTokenizer, Tokenizer};
use phase2_lm::train::{RunConfig, TrainConfig, Trainer};
use serde_json::{json, Value};
use serve::registry::Registry;
use serve::server::{self, Running, ServerConfig};

const TEXT: &str = "User: the cat sat on the mat.\nAssistant: the dog sat on the log.\n";

/// A tiny character model trained for a few steps, saved as a checkpoint in `dir`.
fn checkpoint(dir: &Path) {
    checkpoint_with_block(dir, 64, 20)
}

/// As [`checkpoint`], reading `block_size` tokens, trained for `steps` steps.
fn checkpoint_with_block(dir: &Path, block_size: usize, steps: usize) {
    let tok: AnyTokenizer = CharTokenizer::from_text(TEXT).into();
    let ids = tok.encode(&TEXT.repeat(30));
    let train: TrainConfig = toml::from_str(
        "steps = 20\nbatch_size = 4\nmax_lr = 1e-2\nmin_lr = 1e-3\nwarmup = 2\neval_interval = 10\neval_iters = 1\nseed = 5",
    )
    .unwrap();
    let model = GptConfig {
        vocab_size: tok.vocab_size(),
        block_size,
        n_layer: 2,
        n_head: 2,
        d_model: 32,
        pos_emb: true,
    };
    let mut trainer = Trainer::new(RunConfig { model, train }).unwrap();
    for _ in 0..steps {
        trainer.step(&ids).unwrap();
    }
    phase2_lm::checkpoint::save(dir, &trainer, &tok).unwrap();
}

struct Fixture {
    _dir: tempfile::TempDir,
    ckpt: std::path::PathBuf,
    registry: Registry,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let ckpt = dir.path().join("tiny");
    checkpoint(&ckpt);
    let registry = Registry::load(&[("tiny".to_string(), ckpt.clone())]).unwrap();
    Fixture {
        _dir: dir,
        ckpt,
        registry,
    }
}

fn start(f: &Fixture, edit: impl FnOnce(&mut ServerConfig)) -> Running {
    let mut cfg = ServerConfig::local(f.registry.clone(), 0);
    edit(&mut cfg);
    server::spawn(cfg).unwrap()
}

/// POST `body` as JSON; the status and the body.
fn post(s: &Running, path: &str, body: &Value) -> (u16, String) {
    match ureq::post(&format!("{}{path}", s.url()))
        .set("Content-Type", "application/json")
        .send_string(&body.to_string())
    {
        Ok(r) => (r.status(), r.into_string().unwrap()),
        Err(ureq::Error::Status(code, r)) => (code, r.into_string().unwrap()),
        Err(e) => panic!("{path}: {e}"),
    }
}

fn post_json(s: &Running, path: &str, body: &Value) -> Value {
    let (code, text) = post(s, path, body);
    assert_eq!(code, 200, "{path} {body}: {text}");
    serde_json::from_str(&text).unwrap()
}

/// The `data:` payloads of an event stream, without the final `[DONE]` (asserted present).
fn events(text: &str) -> Vec<Value> {
    let data: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .map(str::trim)
        .collect();
    assert_eq!(data.last(), Some(&"[DONE]"), "{text}");
    data[..data.len() - 1]
        .iter()
        .map(|d| serde_json::from_str(d).unwrap())
        .collect()
}

/// A raw HTTP/1.1 request (to send what a well-behaved client would not); the status line's code.
fn raw(s: &Running, request: &str) -> u16 {
    let mut c = TcpStream::connect(s.addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    c.write_all(request.as_bytes()).unwrap();
    let mut buf = [0u8; 64];
    let n = c.read(&mut buf).unwrap();
    let head = String::from_utf8_lossy(&buf[..n]);
    head.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn serve_every_endpoint_and_streams_that_concatenate_to_the_whole() {
    let f = fixture();
    let s = start(&f, |_| {});
    let models: Value = ureq::get(&format!("{}/v1/models", s.url()))
        .call()
        .unwrap()
        .into_json()
        .unwrap();
    assert_eq!(models["data"][0]["id"], "tiny");

    let ask = json!({"model": "tiny", "prompt": "the ", "max_tokens": 30, "temperature": 1.0, "seed": 7, "stop": ["."]});
    let whole = post_json(&s, "/v1/completions", &ask);
    let text = whole["choices"][0]["text"].as_str().unwrap();
    assert!(
        !text.contains('.'),
        "cut before the stop sequence: {text:?}"
    );
    assert_eq!(whole["usage"]["prompt_tokens"], 4);
    assert_eq!(
        whole["usage"]["total_tokens"],
        4 + whole["usage"]["completion_tokens"].as_u64().unwrap()
    );
    // The same request and seed from the generator itself.
    let mut g = Generator::from_checkpoint(
        &f.ckpt,
        Sampling {
            temperature: 1.0,
            top_k: None,
            top_p: None,
        },
    )
    .unwrap();
    assert_eq!(g.complete("the ", 30, &["."], 7).unwrap().text, text);

    let mut streamed = ask.clone();
    streamed["stream"] = json!(true);
    streamed["stream_options"] = json!({"include_usage": true});
    let (code, body) = post(&s, "/v1/completions", &streamed);
    assert_eq!(code, 200);
    let ev = events(&body);
    let joined: String = ev
        .iter()
        .filter_map(|e| e["choices"].get(0).and_then(|c| c["text"].as_str()))
        .collect();
    assert_eq!(joined, text, "the chunks concatenate to the whole text");
    assert_eq!(ev.last().unwrap()["usage"], whole["usage"]);
    assert!(ev.iter().any(|e| e["choices"]
        .get(0)
        .is_some_and(|c| c["finish_reason"] == whole["choices"][0]["finish_reason"])));

    let chat = json!({"model": "tiny", "messages": [{"role": "user", "content": "the cat"}], "max_tokens": 12, "seed": 3});
    let whole = post_json(&s, "/v1/chat/completions", &chat);
    assert_eq!(whole["object"], "chat.completion");
    let content = whole["choices"][0]["message"]["content"].as_str().unwrap();
    let mut streamed = chat.clone();
    streamed["stream"] = json!(true);
    let (_, body) = post(&s, "/v1/chat/completions", &streamed);
    let ev = events(&body);
    assert_eq!(ev[0]["choices"][0]["delta"]["role"], "assistant");
    let joined: String = ev
        .iter()
        .filter_map(|e| e["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(joined, content);

    // Scoring: echo + logprobs 0 + max_tokens 0 gives the prompt's tokens and log-probabilities.
    let scored = post_json(
        &s,
        "/v1/completions",
        &json!({"model": "tiny", "prompt": "the cat sat", "echo": true, "logprobs": 0, "max_tokens": 0}),
    );
    let lp = &scored["choices"][0]["logprobs"];
    assert_eq!(scored["choices"][0]["text"], "the cat sat");
    assert_eq!(lp["tokens"].as_array().unwrap().len(), 11);
    assert!(
        lp["token_logprobs"][0].is_null(),
        "the first token has no context"
    );
    let expected = g.prompt_logprobs("the cat sat").unwrap().token_logprobs;
    for (a, b) in lp["token_logprobs"].as_array().unwrap()[1..]
        .iter()
        .zip(&expected)
    {
        assert!((a.as_f64().unwrap() - b).abs() < 1e-9);
    }
    assert_eq!(lp["text_offset"][4], 4);
    s.stop().unwrap();
}

#[test]
fn serve_bad_input_gets_a_clean_4xx_and_the_server_keeps_serving() {
    let f = fixture();
    let s = start(&f, |c| c.body_limit = 4096);
    let url = format!("{}/v1/completions", s.url());
    let send =
        |ct: &str, body: &str| match ureq::post(&url).set("Content-Type", ct).send_string(body) {
            Ok(r) => (r.status(), String::new()),
            Err(ureq::Error::Status(code, r)) => (code, r.into_string().unwrap()),
            Err(e) => panic!("{e}"),
        };
    let (code, body) = send("application/json", "{\"model\": \"tiny\", \"prompt\": ");
    assert_eq!(code, 400);
    let e: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        e["error"]["type"], "invalid_request_error",
        "OpenAI's error shape"
    );
    assert_eq!(send("text/plain", "{}").0, 415);
    assert_eq!(send("application/json", &"x".repeat(5000)).0, 413);
    for (body, status, what) in [
        (
            json!({"model": "nope", "prompt": "the"}),
            404,
            "model_not_found",
        ),
        (
            json!({"model": "../tiny", "prompt": "the"}),
            404,
            "model_not_found",
        ),
        (
            json!({"model": "tiny", "prompt": "the ".repeat(20), "max_tokens": 10}),
            400,
            "context_length_exceeded",
        ),
        (
            json!({"model": "tiny", "prompt": "the", "max_tokens": -5}),
            400,
            "max_tokens",
        ),
        (
            json!({"model": "tiny", "prompt": "the", "max_tokens": 100000}),
            400,
            "max_tokens",
        ),
        (
            json!({"model": "tiny", "prompt": "the", "temperature": 1e9}),
            400,
            "temperature",
        ),
        (
            json!({"model": "tiny", "prompt": "the", "top_p": -1}),
            400,
            "top_p",
        ),
        (
            json!({"model": "tiny", "prompt": "zzz\u{1F600}"}),
            400,
            "prompt",
        ),
        (json!({"model": "tiny", "prompt": ""}), 400, "prompt"),
    ] {
        let (code, text) = post(&s, "/v1/completions", &body);
        assert_eq!(code, status, "{body}: {text}");
        let e: Value = serde_json::from_str(&text).unwrap();
        assert!(
            e["error"]["code"] == what || e["error"]["param"] == what,
            "{body}: {text}"
        );
    }
    let port = s.addr.port();
    let body = r#"{"model":"tiny","prompt":"the"}"#;
    let request = |host: &str, extra: &str| {
        format!(
            "POST /v1/completions HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    };
    assert_eq!(
        raw(&s, &request("evil.example:80", "")),
        403,
        "DNS rebinding"
    );
    assert_eq!(
        raw(
            &s,
            &request(
                &format!("localhost:{port}"),
                "Origin: http://evil.example\r\n"
            )
        ),
        403,
        "a page of another origin"
    );
    assert_eq!(raw(&s, &request(&format!("localhost:{port}"), "")), 200);
    assert_eq!(
        raw(&s, &format!("GET /v1/completions HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n")),
        405
    );
    assert_eq!(
        raw(
            &s,
            &format!(
                "GET /etc/passwd HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
            )
        ),
        404
    );

    // A client that goes away mid-stream: the server carries on with the next request.
    let mut c = TcpStream::connect(s.addr).unwrap();
    let body = r#"{"model":"tiny","prompt":"the","max_tokens":50,"stream":true}"#;
    write!(
        c,
        "POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut first = [0u8; 16];
    c.read_exact(&mut first).unwrap();
    drop(c);
    let ok = post_json(
        &s,
        "/v1/completions",
        &json!({"model": "tiny", "prompt": "the", "max_tokens": 5}),
    );
    assert_eq!(ok["choices"][0]["finish_reason"], "length");
    s.stop().unwrap();
}

#[test]
fn serve_api_keys_and_bindings() {
    let f = fixture();
    let key = "sk-local-0123456789abcdef";
    let s = start(&f, |c| c.api_key = Some(key.into()));
    let url = format!("{}/v1/models", s.url());
    let status = |auth: Option<&str>| {
        let mut r = ureq::get(&url);
        if let Some(a) = auth {
            r = r.set("Authorization", a);
        }
        match r.call() {
            Ok(r) => r.status(),
            Err(ureq::Error::Status(code, _)) => code,
            Err(e) => panic!("{e}"),
        }
    };
    assert_eq!(status(None), 401);
    assert_eq!(status(Some("Bearer sk-local-0123456789abcdeX")), 401);
    assert_eq!(status(Some(&format!("Bearer {key}"))), 200);
    s.stop().unwrap();

    let mut open = ServerConfig::local(f.registry.clone(), 0);
    open.bind = "0.0.0.0:0".parse().unwrap();
    let e = server::spawn(open).err().unwrap().to_string();
    assert!(e.contains("needs an API key"), "{e}");
}

#[test]
fn serve_over_the_limit_answers_503_and_nothing_else() {
    let f = fixture();
    let s = start(&f, |c| {
        c.max_running = 1;
        c.max_queued = 1;
    });
    let s = Arc::new(s);
    let mut saw_503 = false;
    for _round in 0..20 {
        let clients = 12;
        let barrier = Arc::new(Barrier::new(clients));
        let handles: Vec<_> = (0..clients)
            .map(|i| {
                let (s, barrier) = (s.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    post(
                        &s,
                        "/v1/completions",
                        &json!({"model": "tiny", "prompt": "the", "max_tokens": 60, "seed": i}),
                    )
                })
            })
            .collect();
        for h in handles {
            let (code, body) = h.join().unwrap();
            match code {
                200 => {
                    let v: Value = serde_json::from_str(&body).unwrap();
                    assert_eq!(v["usage"]["completion_tokens"], 60);
                }
                503 => {
                    let v: Value = serde_json::from_str(&body).unwrap();
                    assert_eq!(v["error"]["code"], "overloaded");
                    saw_503 = true;
                }
                other => panic!("status {other}: {body}"),
            }
        }
        if saw_503 {
            break;
        }
    }
    assert!(
        saw_503,
        "12 clients at once against 2 places never met a 503"
    );
}

#[test]
fn serve_the_client_is_a_language_model_over_the_server() {
    let f = fixture();
    let s = start(&f, |_| {});
    let mut lm = OpenAiLm::new(ClientConfig::new(format!("{}/v1", s.url()), "tiny")).unwrap();
    let mut g = Generator::from_checkpoint(
        &f.ckpt,
        Sampling {
            temperature: 0.0,
            top_k: None,
            top_p: None,
        },
    )
    .unwrap();
    let r = Request {
        prompt: "the d",
        max_tokens: 20,
        stop: &["\n"],
        seed: 1,
    };
    let c = lm.complete(&r).unwrap();
    assert_eq!(
        c.text,
        g.complete("the d", 20, &["\n"], 1).unwrap().text,
        "greedy"
    );
    assert_eq!(c.prompt_tokens, 5);
    let mut pieces = Vec::new();
    let streamed = lm
        .complete_streaming(&r, |p| pieces.push(p.to_string()))
        .unwrap();
    assert_eq!(streamed, c);
    assert_eq!(pieces.concat(), c.text);
    let scored = lm
        .score("the cat ", "sat on")
        .unwrap()
        .expect("our server scores");
    let expected = g.score("the cat ", "sat on").unwrap().token_logprobs;
    assert_eq!(scored.token_logprobs.len(), expected.len());
    for (a, b) in scored.token_logprobs.iter().zip(&expected) {
        assert!((a - b).abs() < 1e-4, "{a} vs {b}");
    }
    // An unknown model is an error that says so, not a retry loop.
    let mut wrong = OpenAiLm::new(ClientConfig::new(format!("{}/v1", s.url()), "nope")).unwrap();
    let e = wrong.complete(&r).unwrap_err().to_string();
    assert!(e.contains("404") && e.contains("nope"), "{e}");
    assert_eq!(wrong.retries, 0);
    s.stop().unwrap();

    // Nothing listening: retried with backoff, then an error.
    let mut cfg = ClientConfig::new("http://127.0.0.1:9/v1", "tiny");
    cfg.max_retries = 2;
    cfg.backoff_ms = 1;
    let mut gone = OpenAiLm::new(cfg).unwrap();
    assert!(gone.complete(&r).is_err());
    assert_eq!(gone.retries, 2);
}

/// Polls the server's counters until `done` holds (10 s at most).
fn wait_for(s: &Running, what: &str, done: impl Fn(&server::StatsSnapshot) -> bool) {
    let t0 = std::time::Instant::now();
    while !done(&s.stats()) {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "waited 10 s for {what}: {:?}",
            s.stats()
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn serve_generation_stops_when_its_client_disconnects() {
    // A long context so that a whole generation takes far longer than noticing a closed socket.
    let dir = tempfile::tempdir().unwrap();
    let ckpt = dir.path().join("long");
    checkpoint_with_block(&ckpt, 1024, 1);
    let registry = Registry::load(&[("long".to_string(), ckpt)]).unwrap();
    let mut cfg = ServerConfig::local(registry, 0);
    cfg.max_tokens = 1000;
    let s = server::spawn(cfg).unwrap();
    let request = |stream: bool| {
        let body = json!({"model": "long", "prompt": "the", "max_tokens": 1000, "temperature": 1.0, "seed": 3, "stream": stream}).to_string();
        format!(
            "POST /v1/completions HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            s.addr,
            body.len()
        )
    };

    // Streamed: read until the first piece of text arrives, then hang up.
    let mut c = TcpStream::connect(s.addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    c.write_all(request(true).as_bytes()).unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&seen).contains("\"text\"") {
        let n = c.read(&mut buf).unwrap();
        assert!(n > 0, "the stream closed before any text");
        seen.extend_from_slice(&buf[..n]);
    }
    drop(c);
    wait_for(&s, "the streamed generation to stop", |st| {
        st.cancelled == 1 && st.running == 0
    });
    let after_stream = s.stats();
    assert_eq!(after_stream.finished, 0, "{after_stream:?}");
    assert!(after_stream.tokens < 1000, "{after_stream:?}");

    // Not streamed: hang up while the generation runs.
    let mut c = TcpStream::connect(s.addr).unwrap();
    c.write_all(request(false).as_bytes()).unwrap();
    wait_for(&s, "the generation to start", |st| st.running == 1);
    drop(c);
    wait_for(&s, "the whole-reply generation to stop", |st| {
        st.cancelled == 2 && st.running == 0
    });
    let after = s.stats();
    assert_eq!(after.finished, 0, "{after:?}");
    assert!(after.tokens - after_stream.tokens < 1000, "{after:?}");

    // And the server serves the next request to its end.
    let v = post_json(
        &s,
        "/v1/completions",
        &json!({"model": "long", "prompt": "the", "max_tokens": 5}),
    );
    assert_eq!(v["usage"]["completion_tokens"], 5);
    assert_eq!(s.stats().finished, 1);
}
