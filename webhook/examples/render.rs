//! What the webhook would make of a pod, offline: the pod as admitted, from a pod and its
//! ServiceAccount in JSON (`kubectl get -o json`, or written by hand), with the decision and
//! patch the webhook runs (`gke_aws_webhook::render`). The demo renders its two-role pod with it.
//!
//! usage: render --pod POD.json --service-account KSA.json [--namespace NS]
//!               [--default-region REGION] [--sidecar-image IMAGE]
//!
//! Prints the admitted pod (JSON) on stdout and the warnings on stderr; exit 1 with the denial's
//! message when the webhook would refuse the pod, 2 on bad input.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use gke_aws_webhook::mutate::{Annotations, Settings};
use gke_aws_webhook::resources::Resources;
use serde_json::Value;

/// Renders a pod as the webhook would admit it.
#[derive(Debug, Parser)]
struct Args {
    /// The pod, as JSON.
    #[arg(long)]
    pod: PathBuf,
    /// The pod's ServiceAccount, as JSON (only its annotations are read).
    #[arg(long)]
    service_account: PathBuf,
    /// The pod's namespace (default: the pod's metadata.namespace, else `default`).
    #[arg(long)]
    namespace: Option<String>,
    /// The webhook's --default-region.
    #[arg(long)]
    default_region: Option<String>,
    /// The webhook's --sidecar-image.
    #[arg(long, default_value = "gke-aws-verifier")]
    sidecar_image: String,
}

/// Largest input file: a pod or a ServiceAccount is well under this.
const MAX_INPUT_BYTES: u64 = 1024 * 1024;

fn read_json(flag: &str, path: &PathBuf) -> Result<Value, String> {
    let size = std::fs::metadata(path)
        .map_err(|e| format!("{flag} {}: {e}", path.display()))?
        .len();
    if size > MAX_INPUT_BYTES {
        return Err(format!(
            "{flag} {}: larger than {MAX_INPUT_BYTES} bytes",
            path.display()
        ));
    }
    let text = std::fs::read_to_string(path).map_err(|e| format!("{flag} {}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{flag} {}: not JSON: {e}", path.display()))
}

fn main() -> ExitCode {
    let args = Args::parse();
    let inputs = read_json("--pod", &args.pod).and_then(|pod| {
        let ksa = read_json("--service-account", &args.service_account)?;
        let annotations: Annotations = serde_json::from_value(ksa["metadata"]["annotations"].clone())
            .map_err(|e| format!("--service-account: metadata.annotations is not a map of strings: {e}"))?;
        let region = args
            .default_region
            .as_deref()
            .map(gke_aws_verifier::input::region)
            .transpose()
            .map_err(|e| format!("--default-region: {}", e.problem))?;
        Ok((pod, annotations, region))
    });
    let (pod, annotations, default_region) = match inputs {
        Ok(inputs) => inputs,
        Err(message) => {
            eprintln!("render: {message}");
            return ExitCode::from(2);
        }
    };
    let namespace = args
        .namespace
        .or_else(|| pod["metadata"]["namespace"].as_str().map(str::to_owned))
        .unwrap_or_else(|| "default".to_owned());
    let settings = Settings {
        sidecar_image: args.sidecar_image,
        default_region,
        own_namespace: "gke-aws-webhook".to_owned(),
        resources: Resources::default(),
    };
    match gke_aws_webhook::render::render(&pod, &namespace, Some(&annotations), &settings) {
        Ok(rendered) => {
            for warning in &rendered.warnings {
                eprintln!("Warning: {warning}");
            }
            if let Some(reason) = rendered.skipped {
                eprintln!("render: left alone: {reason}");
            }
            println!("{}", serde_json::to_string_pretty(&rendered.pod).unwrap_or_default());
            ExitCode::SUCCESS
        }
        Err(denial) => {
            eprintln!("render: denied: {denial}");
            ExitCode::from(1)
        }
    }
}
