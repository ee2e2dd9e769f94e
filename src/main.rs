//! genesys-exporter: parse flags, start the exporter, run until SIGTERM/SIGINT.

use std::process::ExitCode;

use clap::Parser;
use genesys_exporter::app::Exporter;
use genesys_exporter::config::{Config, Flags};
use genesys_exporter::ErrorChain;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let flags = Flags::parse();
    if let Err(e) = init_logging(&flags.log_level, &flags.log_format) {
        eprintln!("genesys-exporter: --log.level: {e}");
        return ExitCode::from(2);
    }
    let config = match Config::from_flags(flags, std::env::var("GENESYS_CLIENT_SECRET").ok()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("genesys-exporter: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("genesys-exporter: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        let exporter = match Exporter::start(config).await {
            Ok(e) => e,
            Err(e) => {
                eprintln!("genesys-exporter: {}", ErrorChain(&e));
                return ExitCode::FAILURE;
            }
        };
        let signal = shutdown_signal().await;
        tracing::info!(signal, "shutting down");
        exporter.shutdown().await;
        ExitCode::SUCCESS
    })
}

fn init_logging(level: &str, format: &str) -> Result<(), String> {
    let filter = EnvFilter::try_new(level).map_err(|e| e.to_string())?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
    Ok(())
}

async fn shutdown_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = tokio::signal::ctrl_c() => "SIGINT",
            },
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                "SIGINT"
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "SIGINT"
    }
}
