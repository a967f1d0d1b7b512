//! `aws-sts-gate`: moto's STS with AWS's web-identity checks, as a process for the demo.
//! Prints `listening on 127.0.0.1:PORT` on stdout once bound; logs go to stderr.

use std::net::SocketAddr;

use clap::Parser;
use gke_metadata_emulator::StsGate;
use gke_metadata_emulator::process::{announce, init_logging, stop_signal};

/// Passes AWS calls to moto, refusing AssumeRoleWithWebIdentity as AWS STS would: no OIDC
/// provider for the token's issuer, an audience that is not a client ID, an expired token,
/// or a trust policy that does not allow it.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// moto's endpoint, http://HOST:PORT.
    #[arg(long, env = "STS_GATE_UPSTREAM")]
    upstream: String,
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, env = "STS_GATE_LISTEN", default_value = "127.0.0.1:0")]
    listen: SocketAddr,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    init_logging();
    match run(Args::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("aws-sts-gate: {message}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), String> {
    let stop = stop_signal().map_err(|error| format!("cannot watch signals: {error}"))?;
    let gate = StsGate::start_on(&args.upstream, args.listen)
        .await
        .map_err(|error| format!("cannot start on {}: {error}", args.listen))?;
    announce(&[format!("listening on {}", gate.addr())])?;
    stop.await;
    tracing::info!("stopping");
    gate.shutdown().await;
    Ok(())
}
