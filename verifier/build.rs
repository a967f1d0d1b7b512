//! Stamps `--version` with the commit and the target. The commit comes from
//! `GKE_AWS_VERIFIER_COMMIT` (image builds without `.git`), else git, else "unknown".

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=GKE_AWS_VERIFIER_COMMIT");
    // HEAD names the branch; the branch's ref (or packed-refs) moves with each commit.
    println!("cargo:rerun-if-changed=../.git/HEAD");
    if let Some(branch) = std::fs::read_to_string("../.git/HEAD")
        .ok()
        .and_then(|head| head.strip_prefix("ref: ").map(|r| r.trim().to_owned()))
    {
        // Only files that exist: a missing one would make cargo rerun this on every build.
        for file in [format!("../.git/{branch}"), "../.git/packed-refs".to_owned()] {
            if std::path::Path::new(&file).exists() {
                println!("cargo:rerun-if-changed={file}");
            }
        }
    }
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
