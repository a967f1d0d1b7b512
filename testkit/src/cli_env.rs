//! Every environment variable of a clap command, run through the real binary: set but empty it
//! behaves as unset, and set it behaves as its flag on the command line.
//!
//! The walk covers every subcommand and every argument with `env =`, so a new flag's variable is
//! checked the day it is added: a variable missing from the caller's sample values fails the run.

use std::path::Path;
use std::process::{Command, Output};

use clap::ArgAction;

/// One run's observable result.
#[derive(Debug, PartialEq, Eq)]
pub struct Outcome {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Outcome {
    fn from(output: Output) -> Self {
        Outcome {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

/// One argument a variable sets.
#[derive(Debug, Clone)]
pub struct Variable {
    /// The subcommands leading to the argument (`["verify"]`; empty for a top-level one).
    pub path: Vec<String>,
    /// `--flag`.
    pub flag: String,
    /// The variable's name.
    pub name: String,
    /// A flag that takes no value (`--explain`): set as `true`, given as the bare flag.
    pub switch: bool,
}

/// Every argument of `command` and its subcommands that has a variable.
pub fn variables(command: &clap::Command) -> Vec<Variable> {
    fn walk(command: &clap::Command, path: &[String], out: &mut Vec<Variable>) {
        for arg in command.get_arguments() {
            if let (Some(name), Some(long)) = (arg.get_env(), arg.get_long()) {
                out.push(Variable {
                    path: path.to_vec(),
                    flag: format!("--{long}"),
                    name: name.to_string_lossy().into_owned(),
                    switch: matches!(arg.get_action(), ArgAction::SetTrue),
                });
            }
        }
        for sub in command.get_subcommands() {
            let mut path = path.to_vec();
            path.push(sub.get_name().to_owned());
            walk(sub, &path, out);
        }
    }
    let mut out = Vec::new();
    walk(command, &[], &mut out);
    out
}

/// Runs `bin` with a clean environment (`HOME` a fresh folder, `extra_env` added) and `args`.
pub fn run(bin: &Path, home: &Path, extra_env: &[(&str, &str)], args: &[String]) -> Outcome {
    let mut command = Command::new(bin);
    command.env_clear().env("HOME", home).args(args);
    for (name, value) in extra_env {
        command.env(name, value);
    }
    command.output().expect("the binary runs").into()
}

/// Checks every variable of `command`: empty equals unset, and `samples`' value equals the same
/// value given as the flag, and neither is a parse error. `args(variable, flag_args)` builds
/// the command line that fails early, without network, around the variable's flag arguments
/// (empty when the variable carries the value). Variables listed in `error_when_empty` are
/// skipped in the empty check: their callers test that error themselves.
pub fn check_every_variable(
    bin: &Path,
    command: &clap::Command,
    samples: &[(&str, &str)],
    error_when_empty: &[&str],
    args: impl Fn(&Variable, Vec<String>) -> Vec<String>,
) -> usize {
    let home = std::env::temp_dir().join(format!("cli-env-{}", std::process::id()));
    std::fs::create_dir_all(&home).unwrap();
    let variables = variables(command);
    assert!(
        !variables.is_empty(),
        "the command has no variables: is the walk broken?"
    );
    for variable in &variables {
        let Some((_, sample)) = samples.iter().find(|(name, _)| *name == variable.name) else {
            panic!(
                "{} ({} of {:?}) has no sample value: add one to the test's table",
                variable.name, variable.flag, variable.path
            );
        };
        let unset = run(bin, &home, &[], &args(variable, vec![]));
        let context = format!("{} ({} of {:?})", variable.name, variable.flag, variable.path);
        for parse_error in ["a value is required", "invalid value", "unexpected argument"] {
            assert!(
                !unset.stderr.contains(parse_error),
                "{context}: the base run fails to parse: {unset:?}"
            );
        }
        if !error_when_empty.contains(&variable.name.as_str()) {
            let empty = run(bin, &home, &[(&variable.name, "")], &args(variable, vec![]));
            assert_eq!(empty, unset, "{context}: set but empty must behave as unset");
        }
        let set = run(bin, &home, &[(&variable.name, sample)], &args(variable, vec![]));
        let flag_args = if variable.switch {
            vec![variable.flag.clone()]
        } else {
            vec![variable.flag.clone(), (*sample).to_owned()]
        };
        let given = run(bin, &home, &[], &args(variable, flag_args));
        assert_eq!(
            set, given,
            "{context}={sample:?} must behave as {} {sample:?}",
            variable.flag
        );
        for parse_error in ["a value is required", "invalid value"] {
            assert!(
                !set.stderr.contains(parse_error),
                "{context}={sample:?} fails to parse: {set:?}"
            );
        }
    }
    let _ = std::fs::remove_dir_all(&home);
    variables.len()
}
