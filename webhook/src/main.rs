//! `gke-aws-webhook`: checks its flags and files, then serves. Exit 2 on bad input (before any
//! network call), 1 when it cannot serve.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use gke_aws_verifier::input;
use gke_aws_webhook::ksa_cache::KsaCache;
use gke_aws_webhook::metrics::Metrics;
use gke_aws_webhook::mutate::Settings;
use gke_aws_webhook::server::{self, App};
use gke_aws_webhook::tls::ReloadingCert;
use tokio::net::TcpListener;

/// Mutating admission webhook: gives pods labelled gke-aws-verifier/inject=true keyless AWS
/// credentials from their ServiceAccount's amazonaws.com/role-arn annotation.
#[derive(Debug, Parser)]
#[command(name = "gke-aws-webhook", version)]
struct Cli {
    /// HTTPS address for the API server's AdmissionReviews (POST /mutate).
    #[arg(long, default_value = "0.0.0.0:8443")]
    listen: SocketAddr,
    /// PEM certificate chain for --listen; re-read when it changes.
    #[arg(long)]
    tls_cert_file: PathBuf,
    /// PEM private key for --listen; re-read when it changes.
    #[arg(long)]
    tls_key_file: PathBuf,
    /// Plain-HTTP address of /metrics, /healthz and /readyz.
    #[arg(long, default_value = "0.0.0.0:9090")]
    metrics_listen: SocketAddr,
    /// Image of the token-file sidecar (the gke-aws-verifier image, e.g. REGISTRY/gke-aws-verifier:0.1.0).
    #[arg(long)]
    sidecar_image: String,
    /// AWS region for pods whose KSA has no amazonaws.com/region annotation.
    #[arg(long)]
    default_region: Option<String>,
    /// CPU of the injected init container and sidecar, requests = limits (10m to 2); a pod may
    /// override it with the annotation gke-aws-verifier/sidecar-cpu.
    #[arg(long, default_value = gke_aws_webhook::resources::DEFAULT_CPU)]
    sidecar_cpu: String,
    /// Memory of the injected init container and sidecar, requests = limits (32Mi to 1Gi); a pod
    /// may override it with the annotation gke-aws-verifier/sidecar-memory.
    #[arg(long, default_value = gke_aws_webhook::resources::DEFAULT_MEMORY)]
    sidecar_memory: String,
    /// The webhook's own namespace, whose pods are never mutated.
    #[arg(long, env = "POD_NAMESPACE", default_value = "gke-aws-webhook")]
    namespace: String,
    /// error, warn, info or debug.
    #[arg(long, default_value = "info")]
    log_level: tracing::Level,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(cli.log_level)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("gke-aws-webhook: cannot start the async runtime: {error}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err((code, message)) => {
            eprintln!("gke-aws-webhook: {message}");
            ExitCode::from(code)
        }
    }
}

async fn run(cli: Cli) -> Result<(), (u8, String)> {
    let bad_input = |message: String| (2, message);
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    // kube's client takes the process-wide default; ours is the only one compiled in.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let cert = ReloadingCert::load(&cli.tls_cert_file, &cli.tls_key_file, provider.clone()).map_err(bad_input)?;
    let default_region = match cli.default_region.as_deref() {
        Some(region) => {
            Some(input::region(region).map_err(|e| bad_input(format!("invalid --default-region: {}", e.problem)))?)
        }
        None => None,
    };
    if cli.sidecar_image.trim().is_empty() || cli.sidecar_image.contains(char::is_whitespace) {
        return Err(bad_input(
            "invalid --sidecar-image: expected an image reference such as REGISTRY/gke-aws-verifier:0.1.0".into(),
        ));
    }
    let resources = gke_aws_webhook::resources::Resources {
        cpu: gke_aws_webhook::resources::cpu(&cli.sidecar_cpu)
            .map_err(|problem| bad_input(format!("invalid --sidecar-cpu: {:?} {problem}", cli.sidecar_cpu)))?,
        memory: gke_aws_webhook::resources::memory(&cli.sidecar_memory)
            .map_err(|problem| bad_input(format!("invalid --sidecar-memory: {:?} {problem}", cli.sidecar_memory)))?,
    };
    let tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| (1, format!("TLS setup: {e}")))?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(cert));
    let mut tls = tls;
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    let https = TcpListener::bind(cli.listen)
        .await
        .map_err(|e| bad_input(format!("invalid --listen: cannot listen on {}: {e}", cli.listen)))?;
    let metrics_listener = TcpListener::bind(cli.metrics_listen).await.map_err(|e| {
        bad_input(format!(
            "invalid --metrics-listen: cannot listen on {}: {e}",
            cli.metrics_listen
        ))
    })?;
    let client = kube::Client::try_default().await.map_err(|e| {
        bad_input(format!(
            "no Kubernetes API configuration ({e}); in a pod the in-cluster config is used, elsewhere set KUBECONFIG"
        ))
    })?;
    let metrics = Arc::new(Metrics::default());
    let cache = KsaCache::start(client, metrics.clone());
    let settings = Settings {
        sidecar_image: cli.sidecar_image,
        default_region,
        own_namespace: cli.namespace,
        resources,
    };
    let app = Arc::new(App {
        cache,
        settings,
        metrics,
    });
    tracing::info!(listen = %https.local_addr().map_err(|e| (1, e.to_string()))?, metrics = %metrics_listener.local_addr().map_err(|e| (1, e.to_string()))?, "serving");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
    tokio::select! {
        () = server::serve_https(https, acceptor, app.clone()) => Ok(()),
        () = server::serve_metrics(metrics_listener, app) => Ok(()),
        _ = tokio::signal::ctrl_c() => Ok(()),
    }
}
