//! `genesys-sim`: the simulated Genesys Cloud org as a standalone server (see `cli.rs`).

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    genesys_sim::cli::run("genesys-sim", std::env::args_os().skip(1).collect()).await
}
