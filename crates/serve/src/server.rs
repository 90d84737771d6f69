//! The HTTP server: `/v1/models`, `/v1/completions`, `/v1/chat/completions` over the models of a
//! [`Registry`], on tokio.
//!
//! How it holds up:
//! - Generation runs on tokio's blocking threads, at most `max_running` at once (a semaphore);
//!   up to `max_queued` more requests wait for a slot, and any beyond that get a 503 at once.
//! - A streamed reply goes through a bounded channel: a client that stops reading for
//!   [`SLOW_CLIENT`] loses its stream and frees its slot; one that disconnects stops its generation
//!   at the next token (the channel closes). A non-streamed request whose client disconnects is
//!   cancelled the same way (its handler is dropped, which raises a flag the generation checks).
//! - Limits: request body size, header and body read timeouts, a `max_tokens` cap, prompt + completion
//!   within the model's context.
//! - Every request must name this server in `Host` (DNS rebinding), must not come from a browser
//!   page of another origin (`Origin`; no CORS headers are ever sent), must send JSON as
//!   `application/json`, and — when a key is set — `Authorization: Bearer KEY`, compared in constant
//!   time. Binding to anything but loopback requires a key.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{ensure, Context as _, Result};
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use phase2_lm::generate::Sampling;
use phase2_lm::generator::{Completion as Generated, Finish};
use phase2_lm::tokenizer::Tokenizer;
use serde_json::{json, Value};
use subtle::ConstantTimeEq;
use tokio::sync::{mpsc, Semaphore};
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::StreamExt as _;

use crate::api::{ApiError, ChatRequest, CompletionRequest, Params, Usage};
use crate::chat;
use crate::registry::{Model, Registry};

/// How long a streaming client may leave a chunk unread before its stream is dropped.
pub const SLOW_CLIENT: Duration = Duration::from_secs(30);

/// Everything a server is started with.
#[derive(Clone)]
pub struct ServerConfig {
    pub bind: SocketAddr,
    pub registry: Registry,
    /// When set, every request needs `Authorization: Bearer KEY`.
    pub api_key: Option<String>,
    /// Generations running at once.
    pub max_running: usize,
    /// Requests waiting for a slot; beyond this a request gets a 503.
    pub max_queued: usize,
    /// The largest `max_tokens` accepted.
    pub max_tokens: usize,
    /// The largest request body, in bytes.
    pub body_limit: usize,
    /// Time allowed to send the request headers, and the body.
    pub read_timeout: Duration,
}

impl ServerConfig {
    /// Defaults for a loopback server over `registry`: port `port` (0: any free port).
    pub fn local(registry: Registry, port: u16) -> ServerConfig {
        ServerConfig {
            bind: SocketAddr::from(([127, 0, 0, 1], port)),
            registry,
            api_key: None,
            max_running: 2,
            max_queued: 32,
            max_tokens: 512,
            body_limit: 1 << 20,
            read_timeout: Duration::from_secs(10),
        }
    }
}

struct AppState {
    registry: Registry,
    api_key: Option<Vec<u8>>,
    hosts: Vec<String>,
    origins: Vec<String>,
    running: Arc<Semaphore>,
    admitted: AtomicUsize,
    capacity: usize,
    max_tokens: usize,
    body_limit: usize,
    read_timeout: Duration,
    next_id: AtomicU64,
    stats: Arc<Stats>,
}

/// A request counted against the queue limit until dropped.
struct Admission(Arc<AppState>);

impl Drop for Admission {
    fn drop(&mut self) {
        self.0.admitted.fetch_sub(1, Ordering::SeqCst);
    }
}

fn admit(state: &Arc<AppState>) -> Result<Admission, ApiError> {
    if state.admitted.fetch_add(1, Ordering::SeqCst) >= state.capacity {
        state.admitted.fetch_sub(1, Ordering::SeqCst);
        state.stats.overloaded.fetch_add(1, Ordering::SeqCst);
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "server_error",
            "the server is at its limit of running and queued requests; retry later",
        )
        .code("overloaded"));
    }
    Ok(Admission(state.clone()))
}

/// Raises its flag when dropped: the handler of a non-streamed request is dropped when its client
/// disconnects, and the generation polls the flag.
struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// What the server has done, counted as it goes: how tests see that a disconnect stopped a
/// generation, and how the load test checks the server's token count against its clients'.
#[derive(Default)]
pub struct Stats {
    running: AtomicUsize,
    finished: AtomicU64,
    cancelled: AtomicU64,
    failed: AtomicU64,
    tokens: AtomicU64,
    overloaded: AtomicU64,
}

/// A reading of [`Stats`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// Generations running now.
    pub running: usize,
    /// Generations that ended by a stop sequence or `max_tokens`.
    pub finished: u64,
    /// Generations stopped because their client left (or stopped reading).
    pub cancelled: u64,
    /// Generations that failed.
    pub failed: u64,
    /// Tokens generated, cancelled generations included.
    pub tokens: u64,
    /// Requests refused with a 503 because running and queued requests were at their limit.
    pub overloaded: u64,
}

impl Stats {
    pub fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            running: self.running.load(Ordering::SeqCst),
            finished: self.finished.load(Ordering::SeqCst),
            cancelled: self.cancelled.load(Ordering::SeqCst),
            failed: self.failed.load(Ordering::SeqCst),
            tokens: self.tokens.load(Ordering::SeqCst),
            overloaded: self.overloaded.load(Ordering::SeqCst),
        }
    }

    /// Runs `job`, counting it.
    fn run(&self, job: &Job, on_text: impl FnMut(&str) -> bool) -> anyhow::Result<Generated> {
        self.running.fetch_add(1, Ordering::SeqCst);
        let out = job.run(on_text);
        match &out {
            Ok(c) => {
                self.tokens
                    .fetch_add(c.tokens.len() as u64, Ordering::SeqCst);
                let n = if c.finish == Finish::Cancelled {
                    &self.cancelled
                } else {
                    &self.finished
                };
                n.fetch_add(1, Ordering::SeqCst);
            }
            Err(_) => {
                self.failed.fetch_add(1, Ordering::SeqCst);
            }
        }
        self.running.fetch_sub(1, Ordering::SeqCst);
        out
    }
}

fn is_loopback(addr: &SocketAddr) -> bool {
    addr.ip().is_loopback()
}

/// The router, for a server bound at `bound`, counting into `stats`.
fn app(cfg: &ServerConfig, bound: SocketAddr, stats: Arc<Stats>) -> Router {
    let port = bound.port();
    let mut hosts = vec![
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        format!("[::1]:{port}"),
    ];
    if !is_loopback(&bound) {
        hosts.push(bound.to_string());
    }
    let origins = hosts.iter().map(|h| format!("http://{h}")).collect();
    let state = Arc::new(AppState {
        registry: cfg.registry.clone(),
        api_key: cfg.api_key.as_ref().map(|k| k.as_bytes().to_vec()),
        hosts,
        origins,
        running: Arc::new(Semaphore::new(cfg.max_running.max(1))),
        admitted: AtomicUsize::new(0),
        capacity: cfg.max_running.max(1) + cfg.max_queued,
        max_tokens: cfg.max_tokens,
        body_limit: cfg.body_limit,
        read_timeout: cfg.read_timeout,
        next_id: AtomicU64::new(1),
        stats,
    });
    Router::new()
        .route("/v1/models", get(models))
        .route("/v1/completions", post(completions))
        .route("/v1/chat/completions", post(chat_completions))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), guard))
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "invalid_request_error",
        "no such endpoint",
    )
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "invalid_request_error",
        "method not allowed on this endpoint",
    )
}

/// Host, Origin and API key, before any handler.
async fn guard(State(s): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let headers = req.headers();
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    if !s.hosts.iter().any(|h| h.eq_ignore_ascii_case(host)) {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "invalid_request_error",
            format!("Host `{host}` is not this server"),
        )
        .into_response();
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or("");
        if !s.origins.iter().any(|o| o.eq_ignore_ascii_case(origin)) {
            return ApiError::new(
                StatusCode::FORBIDDEN,
                "invalid_request_error",
                "cross-origin requests are refused",
            )
            .into_response();
        }
    }
    if let Some(key) = &s.api_key {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|h| h.to_str().ok())
            .and_then(|h| h.strip_prefix("Bearer "))
            .unwrap_or("")
            .as_bytes();
        // Lengths differ → not equal; equal lengths are compared in constant time.
        if !bool::from(given.ct_eq(key)) {
            return ApiError::new(
                StatusCode::UNAUTHORIZED,
                "authentication_error",
                "missing or wrong API key (Authorization: Bearer KEY)",
            )
            .code("invalid_api_key")
            .into_response();
        }
    }
    next.run(req).await
}

async fn models(State(s): State<Arc<AppState>>) -> Json<Value> {
    let data: Vec<Value> = s
        .registry
        .names()
        .map(
            |n| json!({"id": n, "object": "model", "created": 0, "owned_by": "ml-from-scratch-rs"}),
        )
        .collect();
    Json(json!({"object": "list", "data": data}))
}

/// The body as JSON of type `T`: `application/json`, within the size limit and read timeout.
async fn read_json<T: serde::de::DeserializeOwned>(
    s: &AppState,
    headers: &HeaderMap,
    body: Body,
) -> Result<T, ApiError> {
    let json_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !json_type {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "invalid_request_error",
            "the body must be JSON sent as Content-Type: application/json",
        ));
    }
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request_error",
            format!("the body is larger than {} bytes", s.body_limit),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > s.body_limit) {
        return Err(too_large());
    }
    let bytes: Bytes = match tokio::time::timeout(
        s.read_timeout,
        axum::body::to_bytes(body, s.body_limit),
    )
    .await
    {
        Err(_) => {
            return Err(ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "invalid_request_error",
                "the body did not arrive in time",
            ))
        }
        Ok(Err(_)) => return Err(too_large()),
        Ok(Ok(b)) => b,
    };
    serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            format!("the body is not a valid request: {e}"),
        )
    })
}

fn model(s: &AppState, name: &str) -> Result<Arc<Model>, ApiError> {
    s.registry.get(name).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            format!(
                "the model `{name}` does not exist (have: {})",
                s.registry.names().collect::<Vec<_>>().join(", ")
            ),
        )
        .code("model_not_found")
    })
}

/// Tokens of `prompt`, checked against the model's context with `max_tokens` more.
fn prompt_tokens(m: &Model, prompt: &str, max_tokens: usize) -> Result<usize, ApiError> {
    let ids = m.weights.tokenizer.try_encode(prompt).map_err(|e| {
        ApiError::invalid(
            "prompt",
            format!(
                "the prompt cannot be encoded by `{}`'s tokenizer: {e}",
                m.name
            ),
        )
    })?;
    if ids.is_empty() {
        return Err(ApiError::invalid("prompt", "the prompt is empty"));
    }
    if ids.len() + max_tokens > m.context() {
        return Err(ApiError::invalid(
            "prompt",
            format!(
                "`{}` reads at most {} tokens; this request asks for {} ({} in the prompt, {} to generate)",
                m.name,
                m.context(),
                ids.len() + max_tokens,
                ids.len(),
                max_tokens
            ),
        )
        .code("context_length_exceeded"));
    }
    Ok(ids.len())
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn finish_reason(f: Finish) -> &'static str {
    match f {
        Finish::Stop => "stop",
        Finish::Length | Finish::Cancelled => "length",
    }
}

fn sampling(p: &Params) -> Sampling {
    Sampling {
        temperature: p.temperature,
        top_k: None,
        top_p: (p.top_p < 1.0).then_some(p.top_p),
    }
}

fn internal(e: anyhow::Error) -> ApiError {
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "server_error",
        format!("generation failed: {e:#}"),
    )
}

/// One generation's request, ready to run on a blocking thread.
struct Job {
    model: Arc<Model>,
    prompt: String,
    params: Params,
}

impl Job {
    /// Runs it, handing text to `on_text` (false stops it).
    fn run(&self, on_text: impl FnMut(&str) -> bool) -> anyhow::Result<Generated> {
        let mut g = self.model.generator(sampling(&self.params))?;
        let stop: Vec<&str> = self.params.stop.iter().map(String::as_str).collect();
        g.complete_with(
            &self.prompt,
            self.params.max_tokens,
            &stop,
            self.params.seed,
            on_text,
        )
    }
}

/// What a reply looks like: the `object` names and where the text goes.
#[derive(Clone, Copy, PartialEq)]
enum Shape {
    Text,
    Chat,
}

impl Shape {
    fn id(self, n: u64) -> String {
        match self {
            Shape::Text => format!("cmpl-{n}"),
            Shape::Chat => format!("chatcmpl-{n}"),
        }
    }

    fn whole(self, id: &str, model: &str, text: &str, finish: Finish, usage: Usage) -> Value {
        match self {
            Shape::Text => json!({
                "id": id, "object": "text_completion", "created": now(), "model": model,
                "choices": [{"index": 0, "text": text, "logprobs": null, "finish_reason": finish_reason(finish)}],
                "usage": usage,
            }),
            Shape::Chat => json!({
                "id": id, "object": "chat.completion", "created": now(), "model": model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                             "logprobs": null, "finish_reason": finish_reason(finish)}],
                "usage": usage,
            }),
        }
    }

    fn chunk(self, id: &str, model: &str, text: Option<&str>, finish: Option<Finish>) -> Value {
        let finish = finish.map(finish_reason);
        match self {
            Shape::Text => json!({
                "id": id, "object": "text_completion", "created": now(), "model": model,
                "choices": [{"index": 0, "text": text.unwrap_or(""), "logprobs": null, "finish_reason": finish}],
            }),
            Shape::Chat => {
                let delta = match text {
                    Some(t) => json!({"content": t}),
                    None if finish.is_none() => json!({"role": "assistant", "content": ""}),
                    None => json!({}),
                };
                json!({
                    "id": id, "object": "chat.completion.chunk", "created": now(), "model": model,
                    "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}],
                })
            }
        }
    }

    fn usage_chunk(self, id: &str, model: &str, usage: Usage) -> Value {
        let object = match self {
            Shape::Text => "text_completion",
            Shape::Chat => "chat.completion.chunk",
        };
        json!({"id": id, "object": object, "created": now(), "model": model, "choices": [], "usage": usage})
    }
}

async fn completions(State(s): State<Arc<AppState>>, headers: HeaderMap, body: Body) -> Response {
    let req: CompletionRequest = match read_json(&s, &headers, body).await {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let req = match req.check(s.max_tokens) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let m = match model(&s, &req.model) {
        Ok(m) => m,
        Err(e) => return e.into_response(),
    };
    if req.logprobs {
        return score_prompt(s, m, req.prompt).await;
    }
    let n_prompt = match prompt_tokens(&m, &req.prompt, req.params.max_tokens) {
        Ok(n) => n,
        Err(e) => return e.into_response(),
    };
    let echo = req.echo.then(|| req.prompt.clone());
    let job = Job {
        model: m,
        prompt: req.prompt,
        params: req.params,
    };
    respond(s, job, n_prompt, Shape::Text, echo).await
}

async fn chat_completions(
    State(s): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let req: ChatRequest = match read_json(&s, &headers, body).await {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let mut req = match req.check(s.max_tokens) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let m = match model(&s, &req.model) {
        Ok(m) => m,
        Err(e) => return e.into_response(),
    };
    let prompt = chat::prompt(&req.messages);
    let n_prompt = match prompt_tokens(&m, &prompt, req.params.max_tokens) {
        Ok(n) => n,
        Err(e) => return e.into_response(),
    };
    if req.params.stop.len() < 4 && !req.params.stop.iter().any(|s| s == chat::TURN_STOP) {
        req.params.stop.push(chat::TURN_STOP.to_string());
    }
    let job = Job {
        model: m,
        prompt,
        params: req.params,
    };
    respond(s, job, n_prompt, Shape::Chat, None).await
}

/// `echo` + `logprobs: 0` + `max_tokens: 0`: the prompt's tokens and their log-probabilities.
async fn score_prompt(s: Arc<AppState>, m: Arc<Model>, prompt: String) -> Response {
    let n = match prompt_tokens(&m, &prompt, 0) {
        Ok(n) => n,
        Err(e) => return e.into_response(),
    };
    let admission = match admit(&s) {
        Ok(a) => a,
        Err(e) => return e.into_response(),
    };
    let Ok(permit) = s.running.clone().acquire_owned().await else {
        return internal(anyhow::anyhow!("the server is shutting down")).into_response();
    };
    let model = m.clone();
    let scored = tokio::task::spawn_blocking(move || {
        let _hold = (admission, permit);
        let mut g = model.generator(Sampling {
            temperature: 0.0,
            top_k: None,
            top_p: None,
        })?;
        g.prompt_logprobs(&prompt)
    })
    .await;
    let score = match scored {
        Ok(Ok(sc)) => sc,
        Ok(Err(e)) => return internal(e).into_response(),
        Err(e) => return internal(anyhow::anyhow!("{e}")).into_response(),
    };
    // Each token's text and where it starts in the prompt (OpenAI's `text_offset`, in bytes).
    let mut tokens = Vec::with_capacity(score.tokens.len());
    let mut offsets = Vec::with_capacity(score.tokens.len());
    let mut at = 0;
    for t in &score.tokens {
        let piece = m.weights.tokenizer.decode(&[*t]);
        offsets.push(at);
        at += piece.len();
        tokens.push(piece);
    }
    let mut logprobs: Vec<Value> = vec![Value::Null];
    logprobs.extend(score.token_logprobs.iter().map(|&l| json!(l)));
    let id = Shape::Text.id(s.next_id.fetch_add(1, Ordering::Relaxed));
    let text: String = tokens.concat();
    Json(json!({
        "id": id, "object": "text_completion", "created": now(), "model": m.name,
        "choices": [{"index": 0, "text": text, "finish_reason": "length", "logprobs": {
            "tokens": tokens, "token_logprobs": logprobs, "top_logprobs": null, "text_offset": offsets,
        }}],
        "usage": Usage::new(n, 0),
    }))
    .into_response()
}

/// Admits `job`, runs it on a blocking thread, and answers whole or as a stream.
async fn respond(
    s: Arc<AppState>,
    job: Job,
    n_prompt: usize,
    shape: Shape,
    echo: Option<String>,
) -> Response {
    let admission = match admit(&s) {
        Ok(a) => a,
        Err(e) => return e.into_response(),
    };
    let id = shape.id(s.next_id.fetch_add(1, Ordering::Relaxed));
    let name = job.model.name.clone();
    let stats = s.stats.clone();
    if !job.params.stream {
        let Ok(permit) = s.running.clone().acquire_owned().await else {
            return internal(anyhow::anyhow!("the server is shutting down")).into_response();
        };
        let cancel = Arc::new(AtomicBool::new(false));
        let _cancel_on_drop = CancelOnDrop(cancel.clone());
        let out = tokio::task::spawn_blocking(move || {
            let _hold = (admission, permit);
            stats.run(&job, |_| !cancel.load(Ordering::SeqCst))
        })
        .await;
        return match out {
            Ok(Ok(c)) => {
                let text = match echo {
                    Some(p) => format!("{p}{}", c.text),
                    None => c.text,
                };
                Json(shape.whole(
                    &id,
                    &name,
                    &text,
                    c.finish,
                    Usage::new(n_prompt, c.tokens.len()),
                ))
                .into_response()
            }
            Ok(Err(e)) => internal(e).into_response(),
            Err(e) => internal(anyhow::anyhow!("{e}")).into_response(),
        };
    }
    let include_usage = job.params.include_usage;
    let (tx, rx) = mpsc::channel::<Value>(16);
    let running = s.running.clone();
    tokio::spawn(async move {
        let Ok(permit) = running.acquire_owned().await else {
            return;
        };
        let _ = tokio::task::spawn_blocking(move || {
            let _hold = (admission, permit);
            // False when the client is gone or has not read for SLOW_CLIENT.
            let send = |v: Value| -> bool {
                let since = Instant::now();
                let mut v = v;
                loop {
                    match tx.try_send(v) {
                        Ok(()) => return true,
                        Err(mpsc::error::TrySendError::Closed(_)) => return false,
                        Err(mpsc::error::TrySendError::Full(back)) => {
                            if since.elapsed() > SLOW_CLIENT {
                                return false;
                            }
                            v = back;
                            std::thread::sleep(Duration::from_millis(2));
                        }
                    }
                }
            };
            // A chat stream opens with the assistant's role.
            if shape == Shape::Chat && !send(shape.chunk(&id, &name, None, None)) {
                return;
            }
            if let Some(p) = &echo {
                if !send(shape.chunk(&id, &name, Some(p), None)) {
                    return;
                }
            }
            match stats.run(&job, |piece| {
                send(shape.chunk(&id, &name, Some(piece), None))
            }) {
                Ok(c) if c.finish != Finish::Cancelled => {
                    send(shape.chunk(&id, &name, None, Some(c.finish)));
                    if include_usage {
                        send(shape.usage_chunk(&id, &name, Usage::new(n_prompt, c.tokens.len())));
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    send(internal(e).body());
                }
            }
        })
        .await;
    });
    let stream = ReceiverStream::new(rx)
        .map(|v| Ok::<Event, Infallible>(Event::default().data(v.to_string())))
        .chain(tokio_stream::once(Ok(Event::default().data("[DONE]"))));
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// A server running on its own thread (and tokio runtime) until [`Running::stop`] or drop.
pub struct Running {
    pub addr: SocketAddr,
    stats: Arc<Stats>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<Result<()>>>,
}

impl Running {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// What the server has done so far.
    pub fn stats(&self) -> StatsSnapshot {
        self.stats.snapshot()
    }

    /// Stops accepting, and returns once the server thread has ended.
    pub fn stop(mut self) -> Result<()> {
        self.shutdown_now()
    }

    fn shutdown_now(&mut self) -> Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        match self.thread.take() {
            Some(t) => t
                .join()
                .map_err(|_| anyhow::anyhow!("the server thread panicked"))?,
            None => Ok(()),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.shutdown_now();
    }
}

/// Binds `cfg.bind` now (so a busy port is an error here) and serves on a thread of its own.
pub fn spawn(cfg: ServerConfig) -> Result<Running> {
    check(&cfg)?;
    let listener =
        std::net::TcpListener::bind(cfg.bind).with_context(|| format!("binding {}", cfg.bind))?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let stats = Arc::new(Stats::default());
    let counted = stats.clone();
    let thread =
        std::thread::Builder::new()
            .name("serve".into())
            .spawn(move || -> Result<()> {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()?;
                rt.block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(listener)?;
                    serve_on(listener, &cfg, counted, async {
                        let _ = rx.await;
                    })
                    .await
                })
            })?;
    Ok(Running {
        addr,
        stats,
        shutdown: Some(tx),
        thread: Some(thread),
    })
}

/// The rules a configuration must meet before anything is bound.
pub fn check(cfg: &ServerConfig) -> Result<()> {
    ensure!(
        is_loopback(&cfg.bind) || cfg.api_key.as_ref().is_some_and(|k| !k.is_empty()),
        "binding {} (not loopback) needs an API key",
        cfg.bind
    );
    ensure!(
        cfg.api_key.as_ref().is_none_or(|k| k.len() >= 16),
        "the API key must be at least 16 characters"
    );
    ensure!(cfg.max_running >= 1, "max_running must be at least 1");
    ensure!(cfg.max_tokens >= 1, "max_tokens must be at least 1");
    Ok(())
}

/// Serves on `listener` until `shutdown` completes, counting into `stats`.
pub async fn serve_on(
    listener: tokio::net::TcpListener,
    cfg: &ServerConfig,
    stats: Arc<Stats>,
    shutdown: impl Future<Output = ()>,
) -> Result<()> {
    let app = app(cfg, listener.local_addr()?, stats);
    let header_timeout = cfg.read_timeout;
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => return Ok(()),
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let app = app.clone();
                tokio::spawn(async move {
                    let io = hyper_util::rt::TokioIo::new(stream);
                    let svc = hyper_util::service::TowerToHyperService::new(app);
                    let _ = hyper::server::conn::http1::Builder::new()
                        .timer(hyper_util::rt::TokioTimer::new())
                        .header_read_timeout(header_timeout)
                        .serve_connection(io, svc)
                        .await;
                });
            }
        }
    }
}
