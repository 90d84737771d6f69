//! The OpenAI API as this server speaks it: request bodies (what is read, what is refused), the
//! checked parameters a generation runs with, and errors in OpenAI's shape with their status codes.
//!
//! Fields a client sends that this server does not use (`user`, `logit_bias`, …) are ignored, as
//! OpenAI-compatible servers commonly do; fields whose meaning it cannot honour (`n` > 1, top
//! alternatives in `logprobs`) are refused with a 400 that names them, never silently dropped.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// An error as OpenAI returns it: `{"error": {"message", "type", "param", "code"}}` with a status.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    pub kind: &'static str,
    pub param: Option<&'static str>,
    pub code: Option<&'static str>,
}

impl ApiError {
    /// A 400 about `param`.
    pub fn invalid(param: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
            kind: "invalid_request_error",
            param: Some(param),
            code: None,
        }
    }

    pub fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
            kind,
            param: None,
            code: None,
        }
    }

    pub fn code(mut self, code: &'static str) -> ApiError {
        self.code = Some(code);
        self
    }

    /// The JSON body.
    pub fn body(&self) -> serde_json::Value {
        json!({"error": {
            "message": self.message,
            "type": self.kind,
            "param": self.param,
            "code": self.code,
        }})
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(self.body())).into_response()
    }
}

/// `prompt`: one string (a list is accepted when it holds exactly one).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct StreamOptions {
    #[serde(default)]
    pub include_usage: bool,
}

/// `POST /v1/completions`.
#[derive(Debug, Clone, Deserialize)]
pub struct CompletionRequest {
    pub model: String,
    pub prompt: OneOrMany,
    pub max_tokens: Option<i64>,
    #[serde(flatten)]
    pub sampling: SamplingFields,
    #[serde(default)]
    pub echo: bool,
    pub logprobs: Option<i64>,
    pub best_of: Option<i64>,
}

/// The sampling and streaming fields both endpoints take.
#[derive(Debug, Clone, Deserialize)]
pub struct SamplingFields {
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub stop: Option<OneOrMany>,
    pub seed: Option<i64>,
    #[serde(default)]
    pub stream: bool,
    pub stream_options: Option<StreamOptions>,
    pub n: Option<i64>,
}

/// One chat message; `content` is text (content parts are refused).
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Message {
    pub role: String,
    pub content: String,
}

/// `POST /v1/chat/completions`.
#[derive(Debug, Clone, Deserialize)]
pub struct ChatRequest {
    pub model: String,
    pub messages: Vec<serde_json::Value>,
    pub max_tokens: Option<i64>,
    pub max_completion_tokens: Option<i64>,
    #[serde(flatten)]
    pub sampling: SamplingFields,
    pub logprobs: Option<bool>,
}

/// What a generation runs with, every value checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Params {
    pub max_tokens: usize,
    pub temperature: f64,
    pub top_p: f64,
    pub stop: Vec<String>,
    pub seed: u64,
    pub stream: bool,
    pub include_usage: bool,
}

/// OpenAI's defaults: 16 tokens for completions, temperature 1, top_p 1.
const DEFAULT_MAX_TOKENS: i64 = 16;
/// Stop sequences per request, as OpenAI allows.
const MAX_STOPS: usize = 4;

fn params(
    max_tokens: Option<i64>,
    min_tokens: i64,
    cap: usize,
    f: SamplingFields,
) -> Result<Params, ApiError> {
    let SamplingFields {
        temperature,
        top_p,
        stop,
        seed,
        stream,
        stream_options,
        n,
    } = f;
    let max_tokens = max_tokens.unwrap_or(DEFAULT_MAX_TOKENS.min(cap as i64));
    if max_tokens < min_tokens || max_tokens > cap as i64 {
        return Err(ApiError::invalid(
            "max_tokens",
            format!("max_tokens must be between {min_tokens} and {cap}, got {max_tokens}"),
        ));
    }
    let temperature = temperature.unwrap_or(1.0);
    if !(0.0..=2.0).contains(&temperature) {
        return Err(ApiError::invalid(
            "temperature",
            format!("temperature must be between 0 and 2, got {temperature}"),
        ));
    }
    let top_p = top_p.unwrap_or(1.0);
    if !(top_p > 0.0 && top_p <= 1.0) {
        return Err(ApiError::invalid(
            "top_p",
            format!("top_p must be in (0, 1], got {top_p}"),
        ));
    }
    let stop = stop.map(OneOrMany::into_vec).unwrap_or_default();
    if stop.len() > MAX_STOPS || stop.iter().any(|s| s.is_empty() || s.len() > 256) {
        return Err(ApiError::invalid(
            "stop",
            format!("stop takes at most {MAX_STOPS} non-empty sequences of at most 256 bytes"),
        ));
    }
    if n.is_some_and(|n| n != 1) {
        return Err(ApiError::invalid("n", "only n = 1 is supported"));
    }
    if stream_options.is_some() && !stream {
        return Err(ApiError::invalid(
            "stream_options",
            "stream_options is only allowed with stream: true",
        ));
    }
    Ok(Params {
        max_tokens: max_tokens as usize,
        temperature,
        top_p,
        stop,
        // Without a seed each request draws its own (OpenAI's behaviour); with one, the same
        // request gives the same text.
        seed: seed.map_or_else(rand::random, |s| s as u64),
        stream,
        include_usage: stream_options.is_some_and(|o| o.include_usage),
    })
}

/// A checked completion request: its one prompt, parameters, and whether it only scores the
/// prompt (`echo` with `logprobs` and `max_tokens: 0`).
#[derive(Debug, Clone)]
pub struct Completion {
    pub model: String,
    pub prompt: String,
    pub params: Params,
    pub echo: bool,
    pub logprobs: bool,
}

impl CompletionRequest {
    pub fn check(self, cap: usize) -> Result<Completion, ApiError> {
        let prompts = self.prompt.into_vec();
        let [prompt] = <[String; 1]>::try_from(prompts).map_err(|v| {
            ApiError::invalid(
                "prompt",
                format!("one prompt per request is supported, got {}", v.len()),
            )
        })?;
        if self.best_of.is_some_and(|b| b != 1) {
            return Err(ApiError::invalid(
                "best_of",
                "only best_of = 1 is supported",
            ));
        }
        let logprobs = match self.logprobs {
            None => false,
            Some(0) => true,
            Some(n) => {
                return Err(ApiError::invalid(
                    "logprobs",
                    format!("top alternatives are not returned: logprobs must be 0 (the chosen tokens' log-probabilities), got {n}"),
                ))
            }
        };
        let p = params(self.max_tokens, 0, cap, self.sampling)?;
        if logprobs && !(self.echo && p.max_tokens == 0) {
            return Err(ApiError::invalid(
                "logprobs",
                "log-probabilities are returned for the prompt only: use echo: true with max_tokens: 0",
            ));
        }
        if p.max_tokens == 0 && !(self.echo && logprobs) {
            return Err(ApiError::invalid(
                "max_tokens",
                "max_tokens: 0 is only meaningful with echo: true and logprobs: 0 (scoring the prompt)",
            ));
        }
        if p.max_tokens == 0 && p.stream {
            return Err(ApiError::invalid(
                "stream",
                "scoring a prompt is not streamed",
            ));
        }
        Ok(Completion {
            model: self.model,
            prompt,
            params: p,
            echo: self.echo,
            logprobs,
        })
    }
}

/// A checked chat request.
#[derive(Debug, Clone)]
pub struct Chat {
    pub model: String,
    pub messages: Vec<Message>,
    pub params: Params,
}

impl ChatRequest {
    pub fn check(self, cap: usize) -> Result<Chat, ApiError> {
        if self.logprobs == Some(true) {
            return Err(ApiError::invalid(
                "logprobs",
                "chat completions do not return log-probabilities here; /v1/completions scores prompts",
            ));
        }
        if self.messages.is_empty() {
            return Err(ApiError::invalid("messages", "messages must not be empty"));
        }
        let messages = self
            .messages
            .into_iter()
            .map(|m| {
                serde_json::from_value::<Message>(m).map_err(|e| {
                    ApiError::invalid(
                        "messages",
                        format!("each message needs a string `role` and a string `content` ({e})"),
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        for m in &messages {
            if !matches!(m.role.as_str(), "system" | "user" | "assistant") {
                return Err(ApiError::invalid(
                    "messages",
                    format!("unknown role `{}` (system, user or assistant)", m.role),
                ));
            }
        }
        let params = params(
            self.max_completion_tokens.or(self.max_tokens),
            1,
            cap,
            self.sampling,
        )?;
        Ok(Chat {
            model: self.model,
            messages,
            params,
        })
    }
}

/// Token counts of one request.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct Usage {
    pub prompt_tokens: usize,
    pub completion_tokens: usize,
    pub total_tokens: usize,
}

impl Usage {
    pub fn new(prompt: usize, completion: usize) -> Usage {
        Usage {
            prompt_tokens: prompt,
            completion_tokens: completion,
            total_tokens: prompt + completion,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn completion(body: serde_json::Value) -> Result<Completion, ApiError> {
        serde_json::from_value::<CompletionRequest>(body)
            .unwrap()
            .check(64)
    }

    #[test]
    fn serve_parameters_are_checked_and_named() {
        let ok = completion(json!({"model": "m", "prompt": "hi", "seed": 3})).unwrap();
        assert_eq!(ok.params.max_tokens, 16);
        assert_eq!((ok.params.temperature, ok.params.top_p), (1.0, 1.0));
        for (body, param) in [
            (
                json!({"model": "m", "prompt": "hi", "max_tokens": -1}),
                "max_tokens",
            ),
            (
                json!({"model": "m", "prompt": "hi", "max_tokens": 65}),
                "max_tokens",
            ),
            (
                json!({"model": "m", "prompt": "hi", "temperature": 9.0}),
                "temperature",
            ),
            (json!({"model": "m", "prompt": "hi", "top_p": 0.0}), "top_p"),
            (
                json!({"model": "m", "prompt": "hi", "stop": ["a", "b", "c", "d", "e"]}),
                "stop",
            ),
            (json!({"model": "m", "prompt": "hi", "stop": ""}), "stop"),
            (json!({"model": "m", "prompt": "hi", "n": 2}), "n"),
            (json!({"model": "m", "prompt": ["a", "b"]}), "prompt"),
            (
                json!({"model": "m", "prompt": "hi", "logprobs": 3, "echo": true, "max_tokens": 0}),
                "logprobs",
            ),
            (
                json!({"model": "m", "prompt": "hi", "logprobs": 0}),
                "logprobs",
            ),
            (
                json!({"model": "m", "prompt": "hi", "max_tokens": 0}),
                "max_tokens",
            ),
        ] {
            let e = completion(body.clone()).unwrap_err();
            assert_eq!(e.status, StatusCode::BAD_REQUEST, "{body}");
            assert_eq!(e.param, Some(param), "{body}: {}", e.message);
        }
        let score = completion(
            json!({"model": "m", "prompt": "hi", "echo": true, "logprobs": 0, "max_tokens": 0}),
        )
        .unwrap();
        assert!(score.logprobs && score.echo && score.params.max_tokens == 0);
        let e = ApiError::invalid("top_p", "bad").body();
        assert_eq!(e["error"]["type"], "invalid_request_error");
        assert_eq!(e["error"]["param"], "top_p");
    }

    #[test]
    fn serve_chat_messages_need_a_known_role_and_text() {
        let chat = |m: serde_json::Value| {
            serde_json::from_value::<ChatRequest>(json!({"model": "m", "messages": m}))
                .unwrap()
                .check(64)
        };
        assert!(chat(json!([{"role": "user", "content": "hi"}])).is_ok());
        assert_eq!(chat(json!([])).unwrap_err().param, Some("messages"));
        assert_eq!(
            chat(json!([{"role": "tool", "content": "x"}]))
                .unwrap_err()
                .param,
            Some("messages")
        );
        assert_eq!(
            chat(json!([{"role": "user", "content": [{"type": "text"}]}]))
                .unwrap_err()
                .param,
            Some("messages")
        );
    }
}
