//! `gke-aws-audit`: checks its inputs (exit 2), audits, prints the report, exits 0 or 6 by
//! `--fail-on` (1 when stdout cannot be written): the verifier's codes, one meaning a number.

use std::io::{self, Write};

use clap::{CommandFactory, FromArgMatches};
use gke_aws_audit::cli::{Cli, Format};
use gke_aws_audit::{metrics, run};
use gke_aws_verifier::exit_code::ExitCode;

fn main() -> std::process::ExitCode {
    // A variable set but empty counts as unset, as in the verifier.
    let name = program_name(std::env::args_os().next());
    let command = gke_aws_verifier::empty_env::unset_empty(Cli::command(), &|v| std::env::var_os(v)).bin_name(&name);
    let cli = Cli::from_arg_matches(&command.get_matches()).unwrap_or_else(|e| e.exit());
    tracing_subscriber::fmt()
        .with_writer(io::stderr)
        .with_max_level(cli.log_level)
        .init();
    // kube's client and Google's take the process-wide default; aws-lc-rs is the only provider
    // compiled in. Installed before the settings: --gcp builds its credentials' client there.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            complain(&format!("{name}: cannot start the async runtime: {e}"));
            return exit(ExitCode::Unexpected);
        }
    };
    // Inside the runtime: Google's credentials start their token cache's task when built.
    let entered = runtime.enter();
    let in_cluster = std::env::var_os("KUBERNETES_SERVICE_HOST").is_some() && std::env::var_os("KUBECONFIG").is_none();
    let settings = match cli.settings(in_cluster) {
        Ok(settings) => settings,
        Err(e) => {
            complain(&format!("{name}: {e}"));
            return exit(ExitCode::BadInput);
        }
    };
    drop(entered);
    let report = runtime.block_on(async {
        let report = run::run(&settings).await;
        if let Some(url) = &settings.pushgateway {
            metrics::push(url, &report.clusters).await;
        }
        report
    });
    let text = match settings.format {
        Format::Json => format!("{}\n", report.to_json()),
        Format::Text => report.to_text(),
    };
    let mut stdout = io::stdout().lock();
    match stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush()) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {}
        Err(e) => {
            complain(&format!("{name}: cannot write to stdout: {e}"));
            return exit(ExitCode::Unexpected);
        }
    }
    exit(if report.failed() {
        ExitCode::Findings
    } else {
        ExitCode::Success
    })
}

fn exit(code: ExitCode) -> std::process::ExitCode {
    std::process::ExitCode::from(i32::from(code) as u8)
}

/// The program's name in messages, as invoked: `gke-aws-verifier audit` when the verifier ran
/// this binary (it passes that as argv[0]), else `gke-aws-audit`.
fn program_name(arg0: Option<std::ffi::OsString>) -> String {
    const VIA_VERIFIER: &str = "gke-aws-verifier audit";
    match arg0 {
        Some(arg0) if arg0 == VIA_VERIFIER => VIA_VERIFIER.to_owned(),
        _ => "gke-aws-audit".to_owned(),
    }
}

/// stderr may be closed too: a message that cannot be written is dropped, not a panic.
fn complain(message: &str) {
    let _ = writeln!(io::stderr().lock(), "{message}");
}
