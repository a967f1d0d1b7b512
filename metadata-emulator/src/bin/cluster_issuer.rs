//! `gke-cluster-issuer`: a GKE cluster's OIDC issuer as a process, for the demo and scripts.
//! Writes the test CA (and, with `--token-file`, a projected KSA token kept fresh), then
//! prints `listening on 127.0.0.1:PORT` and `issuer URL` on stdout; logs go to stderr.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use gke_metadata_emulator::process::{announce, init_logging, stop_signal};
use gke_metadata_emulator::{ClusterIssuer, IssuerConfig, IssuerFaults, KsaToken};

/// Plays a GKE cluster's OIDC issuer (discovery document and JWKS over HTTPS) and the
/// kubelet's projected service-account token.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, env = "CLUSTER_ISSUER_LISTEN", default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// The cluster's project.
    #[arg(long, env = "CLUSTER_ISSUER_PROJECT_ID", default_value = "demo-project")]
    project_id: String,
    /// The cluster's zone or region.
    #[arg(long, env = "CLUSTER_ISSUER_LOCATION", default_value = "europe-west1")]
    location: String,
    /// The cluster's name.
    #[arg(long, env = "CLUSTER_ISSUER_CLUSTER", default_value = "demo-cluster")]
    cluster: String,
    /// Serve the issuer as https://HOST/v1/... (e.g. container.googleapis.com, a URL IAM can
    /// register); clients reach it with HTTPS_PROXY=http://127.0.0.1:PORT (this process).
    #[arg(long, env = "CLUSTER_ISSUER_PUBLIC_HOST")]
    public_host: Option<String>,
    /// Where to write the test CA's certificate (PEM), for clients' `SSL_CERT_FILE`.
    #[arg(long, env = "CLUSTER_ISSUER_CA_FILE")]
    ca_file: PathBuf,
    /// Keep a projected KSA token in this file, refreshed at 80% of its life.
    #[arg(long, env = "CLUSTER_ISSUER_TOKEN_FILE")]
    token_file: Option<PathBuf>,
    /// The pod's namespace.
    #[arg(long, env = "CLUSTER_ISSUER_NAMESPACE", default_value = "gke-aws")]
    namespace: String,
    /// The pod's Kubernetes service account.
    #[arg(long, env = "CLUSTER_ISSUER_KSA", default_value = "verifier")]
    ksa: String,
    /// The pod's name (default: KSA-0).
    #[arg(long, env = "CLUSTER_ISSUER_POD")]
    pod: Option<String>,
    /// The token's audience; repeat for several.
    #[arg(
        long = "audience",
        env = "CLUSTER_ISSUER_AUDIENCE",
        default_value = "sts.amazonaws.com"
    )]
    audiences: Vec<String>,
    /// The token's lifetime (`expirationSeconds`), e.g. `1h`, `10m`.
    #[arg(long, env = "CLUSTER_ISSUER_TOKEN_LIFETIME", default_value = "1h", value_parser = humantime::parse_duration)]
    token_lifetime: Duration,
    /// Faults in force at start; `PUT /emulator/v1/faults` changes them later.
    #[command(flatten)]
    faults: IssuerFaults,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    init_logging();
    match run(Args::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("gke-cluster-issuer: {message}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), String> {
    if args.token_lifetime.is_zero() {
        return Err("--token-lifetime must be more than zero, e.g. 1h".to_owned());
    }
    // Catch signals before announcing the port: a script may send one right after.
    let stop = stop_signal().map_err(|error| format!("cannot watch signals: {error}"))?;
    let config = IssuerConfig {
        project_id: args.project_id,
        location: args.location,
        cluster: args.cluster,
        public_host: args.public_host,
        faults: args.faults,
        ..IssuerConfig::default()
    };
    let issuer = ClusterIssuer::start_on(config, args.listen)
        .await
        .map_err(|error| format!("cannot start on {}: {error}", args.listen))?;
    std::fs::write(&args.ca_file, issuer.ca_pem())
        .map_err(|error| format!("--ca-file {}: {error}", args.ca_file.display()))?;
    let projected = match &args.token_file {
        Some(path) => {
            let token = KsaToken {
                pod: args.pod.unwrap_or_else(|| format!("{}-0", args.ksa)),
                audiences: args.audiences,
                lifetime: args.token_lifetime,
                ..KsaToken::new(&args.namespace, &args.ksa)
            };
            let projected = issuer
                .project(path, token)
                .await
                .map_err(|error| format!("--token-file {}: {error}", path.display()))?;
            Some(projected)
        }
        None => None,
    };
    tracing::info!(issuer = issuer.url(), "serving discovery and JWKS");
    announce(&[
        format!("listening on {}", issuer.addr()),
        format!("issuer {}", issuer.url()),
    ])?;
    stop.await;
    tracing::info!("stopping");
    drop(projected);
    issuer.shutdown().await;
    Ok(())
}
