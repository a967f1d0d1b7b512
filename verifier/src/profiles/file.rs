//! Where `--profile` and `--all-profiles` find the pod's roles: the shared AWS config file the
//! SDKs read (`--config-file`, else `AWS_CONFIG_FILE`, else `~/.aws/config`), read once,
//! bounded, and parsed by [`crate::profiles`]. Without those flags no AWS config file is read.
//!
//! The file is no secret (it holds ARNs and paths) and arrives through a `downwardAPI` or
//! ConfigMap volume, whose files are symlinks into a folder the kubelet swaps: symlinks are
//! followed as the SDKs follow them, but only a regular file is read (never a FIFO or a device,
//! which could block or never end).

use std::fs::OpenOptions;
use std::io::Read as _;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::error::InputError;
use crate::profiles::{self, ConfigFile, MAX_CONFIG_BYTES, Profile, ProfileError};

/// The flag a config file problem is reported against.
pub const CONFIG_FLAG: &str = "--config-file";
/// The flag a profile problem is reported against.
pub const PROFILE_FLAG: &str = "--profile";

/// The config file to read: `given` (the flag, or `AWS_CONFIG_FILE` through it), else the SDKs'
/// default `~/.aws/config`. A leading `~/` is the home folder, as the SDKs expand it.
pub fn location(given: Option<&Path>, home: Option<&Path>) -> Result<PathBuf, InputError> {
    let given = given.filter(|p| !p.as_os_str().is_empty());
    let path = given.map_or_else(|| PathBuf::from("~/.aws/config"), Path::to_path_buf);
    let Ok(rest) = path.strip_prefix("~") else {
        return Ok(path);
    };
    match home.filter(|h| !h.as_os_str().is_empty()) {
        Some(home) => Ok(home.join(rest)),
        None => Err(InputError::new(
            CONFIG_FLAG,
            format!(
                "{} needs HOME, which is not set; give --config-file or AWS_CONFIG_FILE",
                path.display()
            ),
        )),
    }
}

/// Reads and parses the config file at `path`.
pub fn load(path: &Path) -> Result<ConfigFile, InputError> {
    let text = read_bounded(path).map_err(|problem| {
        InputError::new(
            CONFIG_FLAG,
            format!(
                "{}: {problem}; point --config-file (or AWS_CONFIG_FILE) at the pod's AWS config file",
                path.display()
            ),
        )
    })?;
    profiles::parse_file(&text).map_err(|e| InputError::new(CONFIG_FLAG, format!("{}: {e}", path.display())))
}

/// The web identity profile `name` of the file at `path`.
pub fn select(path: &Path, name: &str) -> Result<Profile, InputError> {
    check_name(name)?;
    let file = load(path)?;
    file.select(name)
        .cloned()
        .map_err(|e| InputError::new(PROFILE_FLAG, format!("{e} (in {})", path.display())))
}

/// Every web identity profile of the file at `path`, for `--all-profiles`: at least one, and
/// no more than a pod may have.
pub fn every(path: &Path) -> Result<Vec<Profile>, InputError> {
    let file = load(path)?;
    let most = profiles::MAX_NAMED_ROLES + 1;
    if file.profiles.is_empty() {
        return Err(InputError::new(
            "--all-profiles",
            format!(
                "{} has no web identity profile (role_arn with web_identity_token_file){}",
                path.display(),
                others(&file)
            ),
        ));
    }
    if file.profiles.len() > most {
        return Err(InputError::new(
            "--all-profiles",
            format!(
                "{} has {} web identity profiles, more than the {most} of a pod (the default role and {} named ones); \
                 name one with --profile",
                path.display(),
                file.profiles.len(),
                profiles::MAX_NAMED_ROLES
            ),
        ));
    }
    Ok(file.profiles)
}

/// `--profile`'s value as the SDKs would name a profile.
fn check_name(name: &str) -> Result<(), InputError> {
    if name == profiles::DEFAULT_PROFILE || profiles::valid_name(name) {
        Ok(())
    } else {
        Err(InputError::new(
            PROFILE_FLAG,
            format!(
                "{name:?} is not a profile name; expected 1 to {} letters, digits, '-' or '_'",
                profiles::MAX_NAME_CHARS
            ),
        ))
    }
}

fn others(file: &ConfigFile) -> String {
    if file.others.is_empty() {
        return String::new();
    }
    let names: Vec<String> = file
        .others
        .iter()
        .map(|o| ProfileError::NotWebIdentity(o.clone()).to_string())
        .collect();
    format!("; {}", names.join("; "))
}

/// The file's text: a regular file (through symlinks), at most [`MAX_CONFIG_BYTES`], UTF-8.
fn read_bounded(path: &Path) -> Result<String, String> {
    // O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused just below.
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| format!("cannot open it: {e}"))?;
    let metadata = file.metadata().map_err(|e| format!("cannot stat it: {e}"))?;
    if !metadata.is_file() {
        return Err("not a regular file".into());
    }
    let mut bytes = Vec::new();
    file.take(MAX_CONFIG_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read it: {e}"))?;
    if bytes.len() > MAX_CONFIG_BYTES {
        return Err(format!("larger than {MAX_CONFIG_BYTES} bytes"));
    }
    String::from_utf8(bytes).map_err(|_| "not UTF-8 text".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_is_the_flag_else_the_sdks_default() {
        let home = Some(Path::new("/home/u"));
        assert_eq!(
            location(Some(Path::new("/etc/aws/config")), home).unwrap(),
            PathBuf::from("/etc/aws/config")
        );
        assert_eq!(location(None, home).unwrap(), PathBuf::from("/home/u/.aws/config"));
        assert_eq!(
            location(Some(Path::new("")), home).unwrap(),
            PathBuf::from("/home/u/.aws/config")
        );
        assert_eq!(
            location(Some(Path::new("~/c")), home).unwrap(),
            PathBuf::from("/home/u/c")
        );
        assert_eq!(location(None, None).unwrap_err().field, CONFIG_FLAG);
    }

    fn write(dir: &Path, text: &str) -> PathBuf {
        let path = dir.join("config");
        std::fs::write(&path, text).unwrap();
        path
    }

    const POD: &str = "[default]\nrole_arn = arn:aws:iam::1:role/d\nweb_identity_token_file = /t\n\
                       [profile reader]\nrole_arn = arn:aws:iam::1:role/r\nweb_identity_token_file = /t\n\
                       [profile cached]\ncredential_process = gke-aws-verifier credential-process --profile reader\n";

    #[test]
    fn select_names_what_the_file_has() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), POD);
        assert_eq!(select(&path, "reader").unwrap().role_arn, "arn:aws:iam::1:role/r");
        let unknown = select(&path, "writer").unwrap_err();
        assert_eq!(unknown.field, PROFILE_FLAG);
        assert!(unknown.problem.contains("the file has default, reader"), "{unknown}");
        let cached = select(&path, "cached").unwrap_err();
        assert!(
            cached.problem.contains("no role_arn and no web_identity_token_file"),
            "{cached}"
        );
        assert_eq!(select(&path, "a b").unwrap_err().field, PROFILE_FLAG);
        assert_eq!(every(&path).unwrap().len(), 2);
    }

    #[test]
    fn every_wants_one_to_eleven_profiles() {
        let dir = tempfile::tempdir().unwrap();
        let none = every(&write(dir.path(), "[profile cached]\ncredential_process = x\n")).unwrap_err();
        assert!(
            none.problem.contains("no web identity profile") && none.problem.contains("credential_process"),
            "{none}"
        );
        let many: String = (0..12)
            .map(|i| format!("[profile r{i}]\nrole_arn = arn:aws:iam::1:role/r\nweb_identity_token_file = /t\n"))
            .collect();
        assert!(
            every(&write(dir.path(), &many))
                .unwrap_err()
                .problem
                .contains("12 web identity profiles")
        );
    }

    #[test]
    fn only_a_bounded_regular_file_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let missing = load(&dir.path().join("nope")).unwrap_err();
        assert_eq!(missing.field, CONFIG_FLAG);
        assert!(missing.problem.contains("cannot open"), "{missing}");
        assert!(load(dir.path()).unwrap_err().problem.contains("not a regular file"));
        let fifo = dir.path().join("fifo");
        let c_path = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path; mkfifo has no other preconditions.
        assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
        assert!(load(&fifo).unwrap_err().problem.contains("not a regular file"));
        let big = write(dir.path(), &"#".repeat(MAX_CONFIG_BYTES + 1));
        assert!(load(&big).unwrap_err().problem.contains("larger than"));
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(write(dir.path(), POD), &link).unwrap();
        assert_eq!(load(&link).unwrap().profiles.len(), 2, "a volume's symlink is followed");
        let syntax = load(&write(dir.path(), "[profile a]\nregion: x\n")).unwrap_err();
        assert!(syntax.problem.contains("line 2"), "{syntax}");
    }
}
