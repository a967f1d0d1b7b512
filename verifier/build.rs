//! Stamps `--version` with the commit and the target. The commit comes from
//! `GKE_AWS_VERIFIER_COMMIT` (image builds without `.git`), else git, else "unknown".

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=GKE_AWS_VERIFIER_COMMIT");
    // HEAD moves on checkout, not on every commit: dev builds stay incremental.
    println!("cargo:rerun-if-changed=../.git/HEAD");
    let commit = std::env::var("GKE_AWS_VERIFIER_COMMIT")
        .ok()
        .filter(|c| !c.is_empty())
        .or_else(|| {
            let out = Command::new("git")
                .args(["rev-parse", "--short=12", "HEAD"])
                .output()
                .ok()?;
            out.status
                .success()
                .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=GKE_AWS_VERIFIER_COMMIT={commit}");
    println!(
        "cargo:rustc-env=GKE_AWS_VERIFIER_TARGET={}",
        std::env::var("TARGET").unwrap_or_default()
    );
}
