use std::io::{self, Write};
use std::sync::Arc;

use gke_aws_verifier::cli::{Cli, Command, ExplainArgs, ReportFormat, VerifyArgs};
use gke_aws_verifier::clock::SystemClock;
use gke_aws_verifier::error::Failure;
use gke_aws_verifier::exit_code::ExitCode;
use gke_aws_verifier::logging;
use gke_aws_verifier::verify::report::Report;
use gke_aws_verifier::{
    credentials::credential_process, credentials::token_file, explain, verify, verify::all_profiles,
    verify::pushgateway,
};

fn main() -> std::process::ExitCode {
    let cli = Cli::parse_noting_sources();
    if let Command::Audit(args) = &cli.command {
        return exec_audit(&args.args);
    }
    logging::init(cli.log_format, cli.log_level);
    // One thread is plenty for three sequential calls, and starts faster.
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            complain(&format!("unexpected error: cannot start the async runtime: {e}"));
            return exit(ExitCode::Unexpected);
        }
    };
    let code = runtime.block_on(run(cli.command));
    // Don't wait for blocking tasks: a helper that timed out waiting for the cache lock
    // must exit now, not when the lock's holder lets go.
    runtime.shutdown_background();
    exit(code)
}

async fn run(command: Command) -> ExitCode {
    match command {
        Command::Verify(args) => run_verify(args).await,
        Command::CredentialProcess(args) => finish(
            async {
                let credentials = credential_process::run(&args.settings()?).await?;
                // stdout carries the credentials and nothing else.
                let json = serde_json::to_string(&credentials)
                    .map_err(|e| Failure::Unexpected(format!("cannot serialize the credentials: {e}")))?;
                print_stdout(&format!("{json}\n"))
            }
            .await,
        ),
        Command::TokenFile(args) => {
            finish(async { token_file::run(&args.settings()?, Arc::new(SystemClock)).await }.await)
        }
        Command::Explain(args) => run_explain(args).await,
        // Replaced by gke-aws-audit in main, before the runtime starts.
        Command::Audit(_) => ExitCode::Unexpected,
    }
}

async fn run_explain(args: ExplainArgs) -> ExitCode {
    let report = match args.settings() {
        Ok(settings) => explain::run(&settings).await,
        Err(e) => explain::ExplainReport::from_failure(Failure::Input(e)),
    };
    let text = match args.format {
        ReportFormat::Json => format!("{}\n", report.to_json()),
        ReportFormat::Text => report.to_text(),
    };
    match print_stdout(&text) {
        Ok(()) => report.exit_code(),
        Err(failure) => finish(Err(failure)),
    }
}

async fn run_verify(args: VerifyArgs) -> ExitCode {
    if args.profiles.all_profiles {
        return run_verify_all_profiles(args).await;
    }
    let report = match args.settings() {
        Ok(settings) => {
            let report = verify::run(&settings).await;
            if let Some(url) = &args.pushgateway {
                pushgateway::push_outcome(url, &settings, &report).await;
            }
            report
        }
        Err(e) => Report::from_failure(Failure::Input(e)),
    };
    let report = Report {
        profile: args.profiles.chosen.profile.clone(),
        ..report
    };
    let text = match args.format {
        ReportFormat::Json => format!("{}\n", report.to_json()),
        ReportFormat::Text => report.to_text(),
    };
    match print_stdout(&text) {
        Ok(()) => report.exit_code(),
        Err(failure) => finish(Err(failure)),
    }
}

/// `verify --all-profiles`: every role of the config file, one report entry each.
async fn run_verify_all_profiles(args: VerifyArgs) -> ExitCode {
    let report = match args.all_profile_settings() {
        Ok(profiles) => {
            let report = all_profiles::run(&profiles).await;
            if let Some(url) = &args.pushgateway {
                // One group per role and bucket, as for single runs.
                for ((_, settings), role_report) in profiles.iter().zip(&report.reports) {
                    pushgateway::push_outcome(url, settings, role_report).await;
                }
            }
            report
        }
        Err(e) => all_profiles::ProfilesReport::from_failure(Failure::Input(e)),
    };
    let text = match args.format {
        ReportFormat::Json => format!("{}\n", report.to_json()),
        ReportFormat::Text => report.to_text(),
    };
    match print_stdout(&text) {
        Ok(()) => report.exit_code(),
        Err(failure) => finish(Err(failure)),
    }
}

/// Writes the data output. A reader that went away (`| head`) ends the run quietly, with
/// the verdict's code; any other failure (a full disk) is an error, never a panic.
fn print_stdout(text: &str) -> Result<(), Failure> {
    let mut stdout = io::stdout().lock();
    match stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Failure::Unexpected(format!("cannot write to stdout: {e}"))),
    }
}

/// Errors of the credential helpers go to stderr, with their hint.
fn finish(result: Result<(), Failure>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::Success,
        Err(failure) => {
            complain(&format!("gke-aws-verifier: {failure}"));
            failure.exit_code()
        }
    }
}

/// stderr may be closed too: a message that cannot be written is dropped, not a panic.
fn complain(message: &str) {
    let _ = writeln!(io::stderr().lock(), "{message}");
}

fn exit(code: ExitCode) -> std::process::ExitCode {
    std::process::ExitCode::from(i32::from(code) as u8)
}

/// `audit` is its own binary (kube-rs stays out of this one's 8 MB): `gke-aws-audit` beside
/// this executable replaces this process, so its exit code and output are the command's.
fn exec_audit(args: &[std::ffi::OsString]) -> std::process::ExitCode {
    use std::os::unix::process::CommandExt;
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join("gke-aws-audit")));
    let Some(path) = beside.filter(|p| p.is_file()) else {
        complain(
            "gke-aws-verifier: audit runs gke-aws-audit, which is not installed beside this binary; put it in the \
             same folder (make release-audit builds it; the image carries both)",
        );
        return exit(ExitCode::BadInput);
    };
    // argv[0] tells the audit how it was invoked, so its messages name this command.
    let error = std::process::Command::new(&path)
        .arg0("gke-aws-verifier audit")
        .args(args)
        .exec();
    complain(&format!("gke-aws-verifier: cannot run {}: {error}", path.display()));
    exit(ExitCode::Unexpected)
}
