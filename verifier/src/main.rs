use clap::Parser;

use gke_aws_verifier::cli::{Cli, Command, ReportFormat, VerifyArgs};
use gke_aws_verifier::error::Failure;
use gke_aws_verifier::exit_code::ExitCode;
use gke_aws_verifier::logging;
use gke_aws_verifier::report::Report;
use gke_aws_verifier::verify;

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    logging::init(cli.log_format, cli.log_level);
    // One thread is plenty for three sequential calls, and starts faster.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("unexpected error: cannot start the async runtime: {e}");
            return exit(ExitCode::Unexpected);
        }
    };
    exit(runtime.block_on(run(cli.command)))
}

async fn run(command: Command) -> ExitCode {
    match command {
        Command::Verify(args) => run_verify(args).await,
        Command::CredentialProcess(_) | Command::TokenFile(_) => {
            eprintln!("not implemented yet");
            ExitCode::Unexpected
        }
    }
}

async fn run_verify(args: VerifyArgs) -> ExitCode {
    let (report, code) = match args.settings() {
        Ok(settings) => {
            let report = verify::run(&settings).await;
            let code = report.exit_code();
            (report, code)
        }
        Err(e) => {
            let failure = Failure::Input(e);
            (Report::from_failure(&failure), failure.exit_code())
        }
    };
    match args.format {
        ReportFormat::Json => println!("{}", report.to_json()),
        ReportFormat::Text => print!("{}", report.to_text()),
    }
    code
}

fn exit(code: ExitCode) -> std::process::ExitCode {
    std::process::ExitCode::from(i32::from(code) as u8)
}
