//! `serve --model NAME=CHECKPOINT_DIR …`: the checkpoints on an OpenAI-compatible API.

use std::net::SocketAddr;

use anyhow::{Context, Result};
use clap::Parser;
use serve::registry::{parse_spec, Registry};
use serve::server::{self, ServerConfig};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Serves trained checkpoints over the OpenAI API (loopback unless given a key).
#[derive(Parser)]
struct Args {
    /// A model to serve, as NAME=CHECKPOINT_DIR (repeatable); requests name it by NAME.
    #[arg(long = "model", required = true)]
    models: Vec<String>,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    bind: SocketAddr,
    /// Environment variable holding the API key (required to bind beyond loopback).
    #[arg(long)]
    api_key_env: Option<String>,
    /// Generations running at once.
    #[arg(long, default_value_t = 2)]
    max_running: usize,
    /// Requests waiting for a slot before the server answers 503.
    #[arg(long, default_value_t = 32)]
    max_queued: usize,
    /// The largest max_tokens accepted.
    #[arg(long, default_value_t = 512)]
    max_tokens: usize,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let specs = args
        .models
        .iter()
        .map(|s| parse_spec(s))
        .collect::<Result<Vec<_>>>()?;
    let registry = Registry::load(&specs)?;
    let api_key = match &args.api_key_env {
        Some(var) => Some(std::env::var(var).with_context(|| format!("`{var}` is not set"))?),
        None => None,
    };
    let cfg = ServerConfig {
        bind: args.bind,
        api_key,
        max_running: args.max_running,
        max_queued: args.max_queued,
        max_tokens: args.max_tokens,
        ..ServerConfig::local(registry, 0)
    };
    let running = server::spawn(cfg)?;
    eprintln!(
        "serving {} on {} (Ctrl-C stops)",
        specs
            .iter()
            .map(|(n, _)| n.as_str())
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
