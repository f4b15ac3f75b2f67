//! `voicegate`: serve (default), simulate, loadtest. See README.md.

use clap::Parser as _;

mod cli;

fn main() -> anyhow::Result<()> {
    let args = cli::Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(cli::run(args))
}
