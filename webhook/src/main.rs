//! `gke-aws-webhook`: checks its flags and files, then serves. Exit 2 on bad input (before any
//! network call), 1 when it cannot serve.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use clap::Parser;
use gke_aws_verifier::input;
use gke_aws_webhook::connections::Limits;
use gke_aws_webhook::ksa_cache::KsaCache;
use gke_aws_webhook::metrics::Metrics;
use gke_aws_webhook::mutate::Settings;
use gke_aws_webhook::native_sidecars::{self, Policy, Support};
use gke_aws_webhook::server::{self, App};
use gke_aws_webhook::tls::ReloadingCert;
use gke_aws_webhook::{api_client, shutdown};
use tokio::net::TcpListener;

/// Mutating admission webhook: gives pods labelled gke-aws-verifier/inject=true keyless AWS
/// credentials from their ServiceAccount's amazonaws.com/role-arn annotation.
#[derive(Debug, Parser)]
#[command(name = "gke-aws-webhook", version)]
struct Cli {
    /// HTTPS address for the API server's AdmissionReviews (POST /mutate) and the liveness
    /// probe (GET /healthz). 10250: a private GKE cluster's control plane reaches nodes on 443
    /// and 10250 only, unless a firewall rule opens more.
    #[arg(long, default_value = "0.0.0.0:10250")]
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
    /// Minor versions the oldest node may be behind the API server (Kubernetes allows 3). With
    /// the API server's version, whether every kubelet runs native sidecars (1.29).
    #[arg(long, default_value_t = 3)]
    node_version_skew: u32,
    /// A GSA-mode pod (its token sidecar is a native sidecar) where a node may be older than
    /// 1.29: refuse it, or admit it with a warning.
    #[arg(long, value_enum, default_value = "refuse")]
    old_kubelets: Policy,
    /// Open HTTPS connections at most (also kept under the file descriptor limit); when all
    /// are taken, one is closed for a newcomer: the oldest that never completed a request,
    /// else the one idle the longest.
    #[arg(long, default_value_t = 256)]
    max_connections: usize,
    /// On SIGTERM, how long to keep answering while not ready (the Service's endpoints
    /// catch up) before the listener closes; a second signal skips the wait.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    shutdown_delay: Duration,
    #[command(flatten)]
    self_signed: gke_aws_webhook::self_signed::Flags,
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
    let metrics = Arc::new(Metrics::default());
    // Self-signed mode: the certificate files are the webhook's to write, before they are read.
    gke_aws_webhook::self_signed::start(&cli.self_signed, &cli.namespace, &cli.tls_cert_file, &cli.tls_key_file)
        .await?;
    let cert = ReloadingCert::load(&cli.tls_cert_file, &cli.tls_key_file, provider.clone(), metrics.clone())
        .map_err(bad_input)?;
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
    let no_config = |e: String| {
        bad_input(format!(
            "no Kubernetes API configuration ({e}); in a pod the in-cluster config is used, elsewhere set KUBECONFIG"
        ))
    };
    let config = kube::Config::infer().await.map_err(|e| no_config(e.to_string()))?;
    let client = api_client::client(config, metrics.clone()).map_err(|e| no_config(e.to_string()))?;
    let cache = KsaCache::start(client.clone(), metrics.clone());
    let max_connections = shutdown::within_fd_limit(cli.max_connections);
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
        sidecars: Support::default(),
        sidecar_policy: cli.old_kubelets,
        limits: Limits::new(max_connections, server::SHARED_BODY_BYTES, server::IDLE_TIMEOUT),
        draining: AtomicBool::new(false),
    });
    tokio::spawn(read_version(client, app.clone(), cli.node_version_skew));
    tracing::info!(listen = %https.local_addr().map_err(|e| (1, e.to_string()))?, metrics = %metrics_listener.local_addr().map_err(|e| (1, e.to_string()))?, "serving");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
    let mut signals = shutdown::Signals::new().map_err(|e| (1, format!("cannot handle signals: {e}")))?;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let serving = tokio::spawn(server::serve_https(https, acceptor, app.clone(), stopped));
    tokio::spawn(server::serve_metrics(metrics_listener, app.clone()));
    let signal = signals.next().await;
    // Not ready from now on; the Service takes the endpoint out while reviews are still answered.
    app.draining.store(true, Ordering::SeqCst);
    tracing::info!(signal, delay = ?cli.shutdown_delay, "shutting down: not ready, answering until the delay is over");
    tokio::select! {
        () = tokio::time::sleep(cli.shutdown_delay) => {}
        signal = signals.next() => tracing::info!(signal, "second signal: closing now"),
    }
    let _ = stop.send(true);
    let _ = serving.await;
    tracing::info!("shut down");
    Ok(())
}

/// Reads the API server's version until it answers, then judges native sidecar support.
async fn read_version(client: kube::Client, app: Arc<App>, skew: u32) {
    let mut backoff = Duration::from_secs(1);
    loop {
        match tokio::time::timeout(Duration::from_secs(10), client.apiserver_version()).await {
            Ok(Ok(info)) => {
                let verdict = native_sidecars::judge(&info.major, &info.minor, &info.git_version, skew);
                match &verdict {
                    native_sidecars::Verdict::Reliable => {
                        tracing::info!(
                            version = info.git_version,
                            skew,
                            "native sidecars: every kubelet the skew allows runs them"
                        )
                    }
                    native_sidecars::Verdict::Unreliable(why) => {
                        tracing::warn!(version = info.git_version, policy = ?app.sidecar_policy, "native sidecars cannot be relied on: {why}")
                    }
                }
                app.sidecars.set(verdict);
                return;
            }
            Ok(Err(error)) => tracing::warn!(%error, "cannot read the API server's version; retrying"),
            Err(_) => tracing::warn!("no answer to GET /version within 10s; retrying"),
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(30));
    }
}
