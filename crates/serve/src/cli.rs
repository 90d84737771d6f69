//! The server's command line, shared by the `serve` binary and `cargo xtask serve`.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, Result};

use crate::registry::{parse_spec, Registry};
use crate::server::{self, ServerConfig};

/// Serves trained checkpoints over the OpenAI API (loopback unless given a key).
#[derive(clap::Args, Debug, Clone)]
pub struct ServeArgs {
    /// A model to serve, as NAME=CHECKPOINT_DIR (repeatable); requests name it by NAME.
    #[arg(long = "model")]
    pub models: Vec<String>,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,
    /// Environment variable holding the API key (required to bind beyond loopback).
    #[arg(long)]
    pub api_key_env: Option<String>,
    /// Generations running at once.
    #[arg(long, default_value_t = 2)]
    pub max_running: usize,
    /// Requests waiting for a slot before the server answers 503.
    #[arg(long, default_value_t = 32)]
    pub max_queued: usize,
    /// The largest max_tokens accepted.
    #[arg(long, default_value_t = 512)]
    pub max_tokens: usize,
}

impl ServeArgs {
    /// Serves until Ctrl-C. Without `--model`, serves `default` (NAME, DIR) when given.
    pub fn run(self, default: Option<(String, PathBuf)>) -> Result<()> {
        let mut specs = self
            .models
            .iter()
            .map(|s| parse_spec(s))
            .collect::<Result<Vec<_>>>()?;
        if specs.is_empty() {
            specs.extend(default);
        }
        anyhow::ensure!(
            !specs.is_empty(),
            "nothing to serve: name a checkpoint with --model NAME=DIR"
        );
        let registry = Registry::load(&specs)?;
        let api_key = match &self.api_key_env {
            Some(var) => Some(std::env::var(var).with_context(|| format!("`{var}` is not set"))?),
            None => None,
        };
        let cfg = ServerConfig {
            bind: self.bind,
            api_key,
            max_running: self.max_running,
            max_queued: self.max_queued,
            max_tokens: self.max_tokens,
            ..ServerConfig::local(registry, 0)
        };
        let running = server::spawn(cfg)?;
        eprintln!(
            "serving {} on {} (Ctrl-C stops)",
            specs
                .iter()
                .map(|(n, d)| format!("{n} ({})", d.display()))
                .collect::<Vec<_>>()
                .join(", "),
            running.url()
        );
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        rt.block_on(tokio::signal::ctrl_c())?;
        running.stop()
    }
}
