//! What both binaries do as processes: log to stderr, stop on SIGTERM or SIGINT, and
//! announce their port on stdout. Not part of the library's API.

use std::io::{IsTerminal as _, Write as _};

use tokio::signal::unix::{SignalKind, signal};

/// Logs to stderr at `RUST_LOG`'s level (default `info`).
pub fn init_logging() {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
}

/// Registers for SIGTERM and SIGINT now; the future resolves on the first of them.
pub fn stop_signal() -> std::io::Result<impl Future<Output = ()>> {
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = terminate.recv() => {}
            _ = interrupt.recv() => {}
        }
    })
}

/// Prints `lines` to stdout and flushes them now: scripts wait for them.
pub fn announce(lines: &[String]) -> Result<(), String> {
    let mut stdout = std::io::stdout().lock();
    lines
        .iter()
        .try_for_each(|line| writeln!(stdout, "{line}"))
        .and_then(|()| stdout.flush())
        .map_err(|error| format!("cannot write to stdout: {error}"))
}
