//! Set-but-empty environment variables count as unset.
//!
//! A Helm value or a kustomize patch left blank renders `VERIFY_FORMAT=""`: clap would take the
//! empty string as the flag's value and fail with `a value is required for '--format'`, naming
//! a flag the user never passed. Like aws-config, which reads a blank `AWS_ACCESS_KEY_ID` as not
//! set (`err_if_blank` in aws-config 1.13 `src/environment/credentials.rs`), every variable that
//! maps to a flag is dropped from the command when it is empty, so the flag's default (or its
//! own "is required" message) applies. The few variables whose emptiness is an error are checked
//! where they are used, naming the variable (`AWS_REGION`, see `cli::resolve_region`).

use std::ffi::{OsStr, OsString};

use clap::Command;

/// `command` with the environment equivalent of every argument whose variable is set but empty
/// removed, in every subcommand; `env` reads the environment (`std::env::var_os`).
pub fn unset_empty(command: Command, env: &impl Fn(&OsStr) -> Option<OsString>) -> Command {
    let empty: Vec<clap::Id> = command
        .get_arguments()
        .filter(|arg| arg.get_env().and_then(env).is_some_and(|value| value.is_empty()))
        .map(|arg| arg.get_id().clone())
        .collect();
    let mut command = empty
        .into_iter()
        .fold(command, |command, id| command.mut_arg(id, |arg| arg.env(None)));
    let names: Vec<String> = command.get_subcommands().map(|sub| sub.get_name().to_owned()).collect();
    for name in names {
        command = command.mut_subcommand(name, |sub| unset_empty(sub, env));
    }
    command
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{Arg, ArgAction};

    fn command() -> Command {
        Command::new("t")
            .arg(
                Arg::new("format")
                    .long("format")
                    .env("T_FORMAT")
                    .value_parser(["text", "json"]),
            )
            .subcommand(Command::new("sub").arg(Arg::new("flag").long("flag").env("T_FLAG").action(ArgAction::SetTrue)))
    }

    #[test]
    fn an_empty_variable_is_unset_in_every_subcommand() {
        let env = |name: &OsStr| (name == "T_FORMAT" || name == "T_FLAG").then(OsString::new);
        let command = unset_empty(command(), &env);
        assert_eq!(
            command
                .get_arguments()
                .find(|a| a.get_id() == "format")
                .unwrap()
                .get_env(),
            None
        );
        let sub = command.find_subcommand("sub").unwrap();
        assert_eq!(
            sub.get_arguments().find(|a| a.get_id() == "flag").unwrap().get_env(),
            None
        );
    }

    #[test]
    fn a_set_variable_is_kept() {
        let env = |name: &OsStr| (name == "T_FORMAT").then(|| OsString::from("json"));
        let command = unset_empty(command(), &env);
        assert_eq!(
            command
                .get_arguments()
                .find(|a| a.get_id() == "format")
                .unwrap()
                .get_env(),
            Some(OsStr::new("T_FORMAT"))
        );
    }
}
