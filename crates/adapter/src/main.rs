//! `bridge-adapter`: consumes the bridge's Kafka events into PostgreSQL.

use std::process::ExitCode;

use bridge_adapter::Config;
use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    let _ = dotenvy::dotenv();
    let mut config = Config::parse();
    // The `dlq` commands report broker failures in their own error; librdkafka's
    // retry chatter would bury it.
    let quiet = config.command.is_some();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
                match quiet {
                    true => "warn,librdkafka=off,rdkafka=off",
                    false => "info,librdkafka=warn",
                }
                .into()
            }),
        )
        .with_writer(std::io::stderr)
        // Colours only on a terminal: a log file or journald gets plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    if let Some(bridge_adapter::replay::cli::Command::Dlq(command)) = config.command.take() {
        return bridge_adapter::replay::cli::run(&config, command).await;
    }
    if config.print_topics {
        for topic in config.topics() {
            println!("{topic}");
        }
        return ExitCode::SUCCESS;
    }
    let metrics = match bridge_adapter::metrics::install() {
        Ok(handle) => Some(handle),
        Err(err) => {
            tracing::error!(%err, "installing the metrics recorder");
            return ExitCode::FAILURE;
        }
    };
    match bridge_adapter::run(config, metrics, signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(%err, "bridge-adapter stopped");
            ExitCode::FAILURE
        }
    }
}

/// Completes at the first SIGTERM or SIGINT.
async fn signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("installing the SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("installing the SIGINT handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}
