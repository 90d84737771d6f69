//! `serve --model NAME=CHECKPOINT_DIR …`: the checkpoints on an OpenAI-compatible API.

use anyhow::Result;
use clap::Parser;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "serve",
    about = "Serves trained checkpoints over the OpenAI API"
)]
struct Cli {
    #[command(flatten)]
    args: serve::cli::ServeArgs,
}

fn main() -> Result<()> {
    Cli::parse().args.run(None)
}
