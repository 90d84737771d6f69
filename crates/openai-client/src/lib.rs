//! A client for any OpenAI-compatible server (this project's, llama.cpp's, Ollama's, vLLM's …),
//! standing behind phase 2's [`LanguageModel`] trait (`phase2_lm::lm`) like our own GPT does.
//!
//! - `complete` posts to `/v1/completions` (greedy unless configured otherwise); `complete_streaming`
//!   reads the server-sent events as they come.
//! - `score` asks for the prompt's log-probabilities (`echo`, `logprobs: 0`, `max_tokens: 0`) of
//!   `prompt + continuation` and keeps the continuation's tokens: `Ok(None)` where the server does not
//!   offer that.
//! - Timeouts on connect and on every read; retries on 429, 5xx and failed connections with
//!   exponential backoff and jitter, honouring `Retry-After` — only before the first byte of a
//!   response body, so a streamed answer is never repeated.
//! - The API key comes from the config or an environment variable, is sent only in the
//!   `Authorization` header, and never appears in `Debug` output, errors or records.

use std::fmt;
use std::io::{BufRead, BufReader};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use phase2_lm::lm::{Completion, LanguageModel, Request, Scored};
use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// Where the server is and how to talk to it.
#[derive(Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ClientConfig {
    /// e.g. `http://127.0.0.1:8080/v1`.
    pub base_url: String,
    pub model: String,
    /// The key itself (avoid: prefer `api_key_env`).
    #[serde(default, skip_serializing)]
    pub api_key: Option<String>,
    /// An environment variable holding the key.
    #[serde(default)]
    pub api_key_env: Option<String>,
    #[serde(default)]
    pub temperature: f64,
    #[serde(default = "default_timeout")]
    pub timeout_s: f64,
    #[serde(default = "default_retries")]
    pub max_retries: u32,
    /// First backoff, doubled at each retry (before jitter).
    #[serde(default = "default_backoff")]
    pub backoff_ms: u64,
}

fn default_timeout() -> f64 {
    60.0
}
fn default_retries() -> u32 {
    4
}
fn default_backoff() -> u64 {
    200
}

impl ClientConfig {
    pub fn new(base_url: impl Into<String>, model: impl Into<String>) -> ClientConfig {
        ClientConfig {
            base_url: base_url.into(),
            model: model.into(),
            api_key: None,
            api_key_env: None,
            temperature: 0.0,
            timeout_s: default_timeout(),
            max_retries: default_retries(),
            backoff_ms: default_backoff(),
        }
    }
}

impl fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientConfig")
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("api_key_env", &self.api_key_env)
            .field("temperature", &self.temperature)
            .field("timeout_s", &self.timeout_s)
            .field("max_retries", &self.max_retries)
            .finish()
    }
}

/// The client.
pub struct OpenAiLm {
    cfg: ClientConfig,
    key: Option<String>,
    agent: ureq::Agent,
    /// Retries made so far (for tests and records).
    pub retries: u32,
}

impl OpenAiLm {
    pub fn new(cfg: ClientConfig) -> Result<OpenAiLm> {
        let key = match (&cfg.api_key, &cfg.api_key_env) {
            (Some(k), _) => Some(k.clone()),
            (None, Some(var)) => Some(
                std::env::var(var)
                    .with_context(|| format!("the API key variable `{var}` is not set"))?,
            ),
            (None, None) => None,
        };
        if !(cfg.timeout_s > 0.0 && cfg.timeout_s.is_finite()) {
            bail!("timeout_s must be a positive number of seconds");
        }
        let t = Duration::from_secs_f64(cfg.timeout_s);
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(t.min(Duration::from_secs(10)))
            .timeout_read(t)
            .timeout_write(t)
            .build();
        Ok(OpenAiLm {
            cfg,
            key,
            agent,
            retries: 0,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}/{path}", self.cfg.base_url.trim_end_matches('/'))
    }

    /// Posts `body`, retrying on 429/5xx/connection failures before any response body is read.
    /// An error response other than those comes back as `Err(Status)`.
    fn post(&mut self, path: &str, body: &Value) -> Result<ureq::Response, Failure> {
        let url = self.url(path);
        let mut attempt = 0;
        loop {
            let mut req = self
                .agent
                .post(&url)
                .set("Content-Type", "application/json");
            if let Some(k) = &self.key {
                req = req.set("Authorization", &format!("Bearer {k}"));
            }
            let wait = match req.send_string(&body.to_string()) {
                Ok(resp) => return Ok(resp),
                Err(ureq::Error::Status(code, resp)) => {
                    let retry_after = resp
                        .header("Retry-After")
                        .and_then(|v| v.trim().parse::<f64>().ok());
                    let text = resp.into_string().unwrap_or_default();
                    if (code == 429 || code >= 500) && attempt < self.cfg.max_retries {
                        retry_after
                    } else {
                        return Err(Failure::Status(code, error_message(&text)));
                    }
                }
                Err(ureq::Error::Transport(t)) => {
                    if attempt < self.cfg.max_retries {
                        None
                    } else {
                        return Err(Failure::Other(anyhow!("{url}: {t}")));
                    }
                }
            };
            attempt += 1;
            self.retries += 1;
            let backoff = self.cfg.backoff_ms as f64 * 2f64.powi(attempt as i32 - 1) / 1e3;
            let jitter = rand::thread_rng().gen_range(0.5..1.5);
            let secs = wait.map_or(backoff * jitter, |w| w.clamp(0.0, 60.0));
            std::thread::sleep(Duration::from_secs_f64(secs));
        }
    }

    fn body(&self, r: &Request, stream: bool) -> Value {
        let mut body = json!({
            "model": self.cfg.model,
            "prompt": r.prompt,
            "max_tokens": r.max_tokens,
            "temperature": self.cfg.temperature,
            "seed": r.seed,
            "stream": stream,
        });
        if !r.stop.is_empty() {
            body["stop"] = json!(r.stop);
        }
        body
    }

    /// [`LanguageModel::complete`], handing each piece of text to `on_text` as the server sends it.
    pub fn complete_streaming(
        &mut self,
        r: &Request,
        mut on_text: impl FnMut(&str),
    ) -> Result<Completion> {
        let mut body = self.body(r, true);
        body["stream_options"] = json!({"include_usage": true});
        let resp = self
            .post("completions", &body)
            .map_err(Failure::into_error)?;
        let mut text = String::new();
        let mut usage = None;
        let mut finish = None;
        for line in BufReader::new(resp.into_reader()).lines() {
            let line = line.context("reading the event stream")?;
            let Some(data) = line.strip_prefix("data:") else {
                continue;
            };
            let data = data.trim();
            if data == "[DONE]" {
                break;
            }
            let v: Value = serde_json::from_str(data)
                .with_context(|| format!("a streamed event is not JSON: {data}"))?;
            if let Some(e) = v.get("error") {
                bail!("the server failed mid-stream: {}", e["message"]);
            }
            if let Some(u) = v.get("usage").filter(|u| !u.is_null()) {
                usage = Some(u.clone());
            }
            if let Some(c) = v["choices"].get(0) {
                if let Some(t) = c["text"].as_str() {
                    on_text(t);
                    text.push_str(t);
                }
                if let Some(f) = c["finish_reason"].as_str() {
                    finish = Some(f.to_string());
                }
            }
        }
        let finish = finish.context("the stream ended without a finish reason")?;
        let usage = usage.unwrap_or(Value::Null);
        Ok(Completion {
            text,
            prompt_tokens: usage["prompt_tokens"].as_u64().unwrap_or(0) as usize,
            completion_tokens: usage["completion_tokens"].as_u64().unwrap_or(0) as usize,
            stopped: finish == "stop",
        })
    }
}

/// Why a request failed: the server's status and message, or anything else.
enum Failure {
    Status(u16, String),
    Other(anyhow::Error),
}

impl Failure {
    fn into_error(self) -> anyhow::Error {
        match self {
            Failure::Status(code, msg) => anyhow!("the server answered {code}: {msg}"),
            Failure::Other(e) => e,
        }
    }
}

/// The message of an OpenAI-shaped error body, or the body itself.
fn error_message(body: &str) -> String {
    serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| v["error"]["message"].as_str().map(str::to_string))
        .unwrap_or_else(|| body.chars().take(300).collect())
}

impl LanguageModel for OpenAiLm {
    fn name(&self) -> String {
        self.cfg.model.clone()
    }

    fn complete(&mut self, r: &Request) -> Result<Completion> {
        let body = self.body(r, false);
        let resp = self
            .post("completions", &body)
            .map_err(Failure::into_error)?;
        let v: Value = resp.into_json().context("the completion is not JSON")?;
        let c = &v["choices"][0];
        let text = c["text"]
            .as_str()
            .with_context(|| format!("the completion has no text: {v}"))?;
        Ok(Completion {
            text: text.to_string(),
            prompt_tokens: v["usage"]["prompt_tokens"].as_u64().unwrap_or(0) as usize,
            completion_tokens: v["usage"]["completion_tokens"].as_u64().unwrap_or(0) as usize,
            stopped: c["finish_reason"] == "stop",
        })
    }

    fn score(&mut self, prompt: &str, continuation: &str) -> Result<Option<Scored>> {
        let body = json!({
            "model": self.cfg.model,
            "prompt": format!("{prompt}{continuation}"),
            "max_tokens": 0,
            "echo": true,
            "logprobs": 0,
        });
        let resp = match self.post("completions", &body) {
            Ok(r) => r,
            // A server that refuses the scoring request itself does not offer scores.
            Err(Failure::Status(400 | 404 | 422, _)) => return Ok(None),
            Err(f) => return Err(f.into_error()),
        };
        let v: Value = resp.into_json().context("the scores are not JSON")?;
        let lp = &v["choices"][0]["logprobs"];
        let (Some(offsets), Some(values)) = (
            lp["text_offset"].as_array(),
            lp["token_logprobs"].as_array(),
        ) else {
            return Ok(None);
        };
        let start = prompt.len() as u64;
        let first = offsets
            .iter()
            .position(|o| o.as_u64().is_some_and(|o| o >= start))
            .context("no token of the continuation came back")?;
        if offsets[first].as_u64() != Some(start) {
            bail!("the server's tokens do not split prompt and continuation at their boundary");
        }
        let token_logprobs = values[first..]
            .iter()
            .map(|x| {
                x.as_f64()
                    .context("a token log-probability is not a number")
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Some(Scored { token_logprobs }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serve_client_config_never_shows_its_key() {
        let mut c = ClientConfig::new("http://127.0.0.1:1/v1", "m");
        c.api_key = Some("sk-secret-secret-secret".into());
        let shown = format!("{c:?}");
        assert!(!shown.contains("secret"), "{shown}");
        let saved = serde_json::to_string(&c).unwrap();
        assert!(!saved.contains("secret"), "{saved}");
        assert_eq!(
            error_message(r#"{"error": {"message": "no such model"}}"#),
            "no such model"
        );
    }
}
