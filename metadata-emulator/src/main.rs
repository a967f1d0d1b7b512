//! `gke-metadata-emulator`: the emulator as a process, for the demo, benchmarks and
//! scripts. Prints `listening on HOST:PORT` on stdout once bound; logs go to stderr.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;
use gke_metadata_emulator::process::{announce, init_logging, stop_signal};
use gke_metadata_emulator::{Config, Emulator, Faults};

/// Emulates the GKE metadata server's Workload Identity endpoints on a local port.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, env = "METADATA_EMULATOR_LISTEN", default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// The Google service account the pod's KSA maps to.
    #[arg(long, env = "METADATA_EMULATOR_GSA_EMAIL")]
    gsa_email: Option<String>,
    /// The GSA's 21-digit unique id (the tokens' `sub` and `azp`).
    #[arg(long, env = "METADATA_EMULATOR_UNIQUE_ID")]
    unique_id: Option<String>,
    /// The project id.
    #[arg(long, env = "METADATA_EMULATOR_PROJECT_ID")]
    project_id: Option<String>,
    /// The pod's namespace.
    #[arg(long, env = "METADATA_EMULATOR_NAMESPACE")]
    namespace: Option<String>,
    /// The pod's Kubernetes service account.
    #[arg(long, env = "METADATA_EMULATOR_KSA")]
    ksa: Option<String>,
    /// What `instance/hostname` answers.
    #[arg(long, env = "METADATA_EMULATOR_HOSTNAME")]
    hostname: Option<String>,
    /// Lifetime of issued tokens (e.g. `1h`, `60s`).
    #[arg(long, env = "METADATA_EMULATOR_TOKEN_LIFETIME", value_name = "DURATION", default_value = "1h", value_parser = humantime::parse_duration)]
    token_lifetime: Duration,
    /// Drop metadata connections for this long after start (e.g. `2s`), as on a new pod.
    #[arg(long, env = "METADATA_EMULATOR_NOT_READY_FOR", value_name = "DURATION", default_value = "0s", value_parser = humantime::parse_duration)]
    not_ready_for: Duration,
    /// Faults in force at start; the control endpoint changes them later.
    #[command(flatten)]
    faults: Faults,
}

impl Args {
    fn into_config(self) -> Config {
        let defaults = Config::default();
        Config {
            gsa_email: self.gsa_email.unwrap_or(defaults.gsa_email),
            unique_id: self.unique_id.unwrap_or(defaults.unique_id),
            project_id: self.project_id.unwrap_or(defaults.project_id),
            namespace: self.namespace.unwrap_or(defaults.namespace),
            ksa: self.ksa.unwrap_or(defaults.ksa),
            hostname: self.hostname.unwrap_or(defaults.hostname),
            token_lifetime: self.token_lifetime,
            not_ready_for: self.not_ready_for,
            faults: self.faults,
            ..defaults
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    init_logging();
    match run(Args::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("gke-metadata-emulator: {message}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), String> {
    let listen = args.listen;
    let config = args.into_config();
    // Catch signals before announcing the port: a script may send one right after.
    let stop = stop_signal().map_err(|error| format!("cannot watch signals: {error}"))?;
    tracing::info!(gsa = %config.gsa_email, faults = ?config.faults, "starting");
    let emulator = Emulator::start_on(config, listen)
        .await
        .map_err(|error| format!("cannot listen on {listen}: {error}"))?;
    // Scripts read the port from this line.
    announce(&[format!("listening on {}", emulator.addr())])?;
    stop.await;
    tracing::info!("stopping");
    emulator.shutdown().await;
    Ok(())
}
