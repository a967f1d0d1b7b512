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
    /// Lifetime of issued tokens, in seconds.
    #[arg(
        long,
        env = "METADATA_EMULATOR_TOKEN_LIFETIME",
        value_name = "SECS",
        default_value_t = 3600
    )]
    token_lifetime: u64,
    /// Drop metadata connections for this many seconds after start (fractions allowed).
    #[arg(
        long,
        env = "METADATA_EMULATOR_NOT_READY_FOR",
        value_name = "SECS",
        default_value_t = 0.0
    )]
    not_ready_for: f64,
    /// Fault: the KSA lacks the GSA annotation (identity 404, email = PROJECT.svc.id.goog).
    #[arg(long, env = "METADATA_EMULATOR_KSA_NOT_ANNOTATED")]
    ksa_not_annotated: bool,
    /// Fault: the IAM binding is missing (identity 403).
    #[arg(long, env = "METADATA_EMULATOR_BINDING_MISSING")]
    binding_missing: bool,
    /// Fault: the next N metadata requests answer 503.
    #[arg(long, env = "METADATA_EMULATOR_SERVER_ERRORS", value_name = "N", default_value_t = 0)]
    server_errors: u32,
    /// Fault: the identity endpoint answers 200 with a proxy's HTML login page.
    #[arg(long, env = "METADATA_EMULATOR_HTML_BODY")]
    html_body: bool,
    /// Fault: the identity endpoint answers 200 with text that is not a JWT.
    #[arg(long, env = "METADATA_EMULATOR_GARBAGE_BODY")]
    garbage_body: bool,
    /// Fault: issued tokens expired an hour ago.
    #[arg(long, env = "METADATA_EMULATOR_EXPIRED_TOKENS")]
    expired_tokens: bool,
    /// Fault: outage, metadata connections are dropped without an answer.
    #[arg(long, env = "METADATA_EMULATOR_REFUSE")]
    refuse: bool,
    /// Fault: delay every metadata answer by this many milliseconds.
    #[arg(long, env = "METADATA_EMULATOR_SLOW_MS", value_name = "MS")]
    slow_ms: Option<u64>,
}

impl Args {
    fn into_config(self) -> Result<Config, String> {
        let not_ready_for = Duration::try_from_secs_f64(self.not_ready_for)
            .map_err(|error| format!("--not-ready-for {}: {error}", self.not_ready_for))?;
        let defaults = Config::default();
        Ok(Config {
            gsa_email: self.gsa_email.unwrap_or(defaults.gsa_email),
            unique_id: self.unique_id.unwrap_or(defaults.unique_id),
            project_id: self.project_id.unwrap_or(defaults.project_id),
            namespace: self.namespace.unwrap_or(defaults.namespace),
            ksa: self.ksa.unwrap_or(defaults.ksa),
            hostname: self.hostname.unwrap_or(defaults.hostname),
            token_lifetime: Duration::from_secs(self.token_lifetime),
            not_ready_for,
            faults: Faults {
                ksa_not_annotated: self.ksa_not_annotated,
                binding_missing: self.binding_missing,
                server_errors: self.server_errors,
                html_body: self.html_body,
                garbage_body: self.garbage_body,
                expired_tokens: self.expired_tokens,
                refuse: self.refuse,
                slow: self.slow_ms.map(Duration::from_millis),
            },
            ..defaults
        })
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
    let config = args.into_config()?;
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
