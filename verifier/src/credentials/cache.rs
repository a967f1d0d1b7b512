//! The credential cache of `credential-process`: one file per set of inputs (role, audience,
//! session name, lifetime, STS endpoint, identity source), written atomically and readable
//! only by its owner, in a folder only its owner may write, plus a lock file so that
//! concurrent helpers on an empty or stale cache make one STS call between them.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, ErrorKind};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use aws_smithy_types::DateTime;
use aws_smithy_types::date_time::Format;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::InputError;
use crate::secret_file;

/// Credentials are served from the cache until this long before they expire.
pub const REFRESH_MARGIN_SECS: i64 = 5 * 60;

/// AWS's `credential_process` output, version 1.
/// <https://docs.aws.amazon.com/cli/latest/userguide/cli-configure-sourcing-external.html>
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ProcessCredentials {
    pub version: u8,
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
    /// RFC 3339.
    pub expiration: String,
}

impl fmt::Debug for ProcessCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The last four characters (not bytes: a corrupt file may hold any UTF-8).
        let id = &self.access_key_id;
        let suffix = id.char_indices().rev().nth(3).map_or(id.as_str(), |(i, _)| &id[i..]);
        f.debug_struct("ProcessCredentials")
            .field("access_key_id", &format!("...{suffix}"))
            .field("expiration", &self.expiration)
            .finish()
    }
}

/// What a set of credentials was obtained for. An entry is served only for exactly the same:
/// credentials for another role, audience, session, lifetime, STS endpoint or identity
/// source are never handed out, even if their file were found under this one's name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObtainedFor {
    pub role_arn: String,
    pub audience: String,
    pub session_name: String,
    pub duration_seconds: Option<i32>,
    /// The STS endpoint that issued them.
    pub sts_endpoint: String,
    /// Where the web-identity token came from: `metadata:HOST` or `file:PATH`.
    pub identity_source: String,
}

/// A cache file: what the credentials were obtained for, their expiry as Unix seconds, and them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    pub obtained_for: ObtainedFor,
    pub expires_at: i64,
    pub credentials: ProcessCredentials,
}

impl Entry {
    /// Parses a cache file; `None` for anything that is not a well-formed entry.
    pub fn parse(bytes: &[u8]) -> Option<Entry> {
        let entry: Entry = serde_json::from_slice(bytes).ok()?;
        entry.credentials.complete(entry.expires_at).then_some(entry)
    }

    /// Whether this entry may be served for `obtained_for` at `now`: obtained for exactly
    /// that, and not within [`REFRESH_MARGIN_SECS`] of expiry.
    pub fn serves(&self, obtained_for: &ObtainedFor, now: i64) -> bool {
        self.obtained_for == *obtained_for && self.expires_at.saturating_sub(now) > REFRESH_MARGIN_SECS
    }
}

impl ProcessCredentials {
    /// Version 1, every key present, and an RFC 3339 `Expiration` that is `expires_at`.
    pub fn complete(&self, expires_at: i64) -> bool {
        self.version == 1
            && !self.access_key_id.is_empty()
            && !self.secret_access_key.is_empty()
            && !self.session_token.is_empty()
            && DateTime::from_str(&self.expiration, Format::DateTime).is_ok_and(|t| t.secs() == expires_at)
    }

    /// Fit to print at `now`: complete and not expired. Anything else is STS's failure, never
    /// something to hand to an SDK.
    pub fn usable(&self, expires_at: i64, now: i64) -> bool {
        self.complete(expires_at) && expires_at > now
    }
}

/// Largest cache file read: an entry is well under a kilobyte.
pub const MAX_ENTRY_BYTES: u64 = 64 * 1024;

/// The folder of cache files.
pub struct CredentialCache {
    folder: PathBuf,
}

impl CredentialCache {
    /// Opens the cache folder, creating it owner-only. One that is not the running user's, or
    /// that group or others may write, is refused: anyone who can write there could plant
    /// credentials. Cheap: it runs on every AWS CLI call.
    pub fn open(folder: &Path) -> Result<Self, InputError> {
        secret_file::create_private_folder(folder).map_err(|e| match e.kind() {
            ErrorKind::InvalidData => InputError::new(
                "--cache-dir",
                format!(
                    "{e}. Use a folder only you can write: `chmod 700 {}` if it is yours, or point \
                     --cache-dir at a new folder (e.g. {}), which the helper creates owner-only",
                    folder.display(),
                    folder.join("gke-aws-verifier").display()
                ),
            ),
            _ => unusable(folder, e),
        })?;
        Ok(Self {
            folder: folder.to_owned(),
        })
    }

    /// Cached credentials obtained for `obtained_for` that are still fresh at `now`. A missing,
    /// stale, corrupt or foreign entry is a miss (replaced on the next store); a file that
    /// cannot be read safely (unreadable, a symlink, a FIFO, someone else's) is an error, as
    /// it would never be replaced either.
    pub fn read_fresh(&self, obtained_for: &ObtainedFor, now: i64) -> Result<Option<ProcessCredentials>, InputError> {
        let path = self.entry_path(obtained_for);
        let bytes = match secret_file::read_private(&path, MAX_ENTRY_BYTES) {
            Ok(Some(bytes)) => bytes,
            Ok(None) => return Ok(None),
            Err(e) => return Err(unsafe_file(&path, e)),
        };
        match Entry::parse(&bytes) {
            Some(entry) if entry.serves(obtained_for, now) => Ok(Some(entry.credentials)),
            Some(entry) if entry.obtained_for != *obtained_for => {
                tracing::warn!(path = %path.display(), "ignoring a cache file obtained for something else; it will be replaced");
                Ok(None)
            }
            Some(_) => Ok(None),
            None => {
                tracing::warn!(path = %path.display(), "ignoring a corrupt cache file; it will be replaced");
                Ok(None)
            }
        }
    }

    /// An exclusive lock for refreshing `obtained_for`'s entry; held until the returned file
    /// is dropped. Opening it (before any network call) also proves the folder can take the
    /// refresh.
    pub fn lock_file(&self, obtained_for: &ObtainedFor) -> Result<File, InputError> {
        let path = self.lock_path(obtained_for);
        secret_file::open_private(
            &path,
            OpenOptions::new().write(true).create(true).truncate(false).mode(0o600),
        )
        .map_err(|e| match e.kind() {
            ErrorKind::InvalidData => unsafe_file(&path, e),
            _ => unusable(&self.folder, e),
        })
    }

    /// Writes the entry whole. Call with the lock held: then temporary files of this entry
    /// are only ever a killed helper's, and are removed first.
    pub fn store(
        &self,
        obtained_for: &ObtainedFor,
        expires_at: i64,
        credentials: &ProcessCredentials,
    ) -> io::Result<()> {
        let entry = Entry {
            obtained_for: obtained_for.clone(),
            expires_at,
            credentials: credentials.clone(),
        };
        let json = serde_json::to_vec(&entry).map_err(io::Error::other)?;
        let path = self.entry_path(obtained_for);
        secret_file::remove_leftover_temporaries(&path);
        secret_file::write_atomically(&path, &json, 0o600)
    }

    /// A readable name, the role's, and a SHA-256 of everything the entry is for, so that
    /// different inputs never share a file and the name is the same in every build.
    pub fn entry_path(&self, obtained_for: &ObtainedFor) -> PathBuf {
        self.folder.join(entry_file_name(obtained_for))
    }

    pub fn lock_path(&self, obtained_for: &ObtainedFor) -> PathBuf {
        self.entry_path(obtained_for).with_extension("lock")
    }
}

/// The entry's file name: one path component, whatever the role ARN holds.
pub fn entry_file_name(obtained_for: &ObtainedFor) -> String {
    let role: String = obtained_for
        .role_arn
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .take(40)
        .collect();
    let identity = serde_json::to_vec(obtained_for).unwrap_or_default();
    let digest = Sha256::digest(&identity);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("{role}-{hex}.json")
}

fn unusable(folder: &Path, e: io::Error) -> InputError {
    InputError::new(
        "--cache-dir",
        format!(
            "{} is not a usable cache folder ({e}); point --cache-dir or XDG_CACHE_HOME at a writable folder (in a pod, an emptyDir)",
            folder.display()
        ),
    )
}

fn unsafe_file(path: &Path, e: io::Error) -> InputError {
    InputError::new(
        "--cache-dir",
        format!(
            "cannot use the cache file {} ({e}); remove it or fix its owner",
            path.display()
        ),
    )
}

#[cfg(test)]
mod tests {
    use std::fs::{self, Permissions};
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    /// 2026-11-28T12:00:00Z
    const EXPIRES_AT: i64 = 1_795_867_200;

    fn credentials() -> ProcessCredentials {
        ProcessCredentials {
            version: 1,
            access_key_id: "ASIAEXAMPLE1234".into(),
            secret_access_key: "secret".into(),
            session_token: "token".into(),
            expiration: "2026-11-28T12:00:00Z".into(),
        }
    }

    fn obtained_for() -> ObtainedFor {
        ObtainedFor {
            role_arn: "arn:aws:iam::123456789012:role/reader".into(),
            audience: "sts.amazonaws.com".into(),
            session_name: "pod".into(),
            duration_seconds: None,
            sts_endpoint: "https://sts.us-east-1.amazonaws.com".into(),
            identity_source: "metadata:metadata.google.internal".into(),
        }
    }

    #[test]
    fn serves_fresh_entries_only_for_exactly_what_they_were_obtained_for() {
        let folder = tempfile::tempdir().unwrap();
        let cache = CredentialCache::open(&folder.path().join("cache")).unwrap();
        let wanted = obtained_for();
        assert_eq!(cache.read_fresh(&wanted, 0).unwrap(), None);
        cache.store(&wanted, EXPIRES_AT, &credentials()).unwrap();
        assert_eq!(
            cache.read_fresh(&wanted, EXPIRES_AT - REFRESH_MARGIN_SECS - 1).unwrap(),
            Some(credentials())
        );
        assert_eq!(
            cache.read_fresh(&wanted, EXPIRES_AT - REFRESH_MARGIN_SECS).unwrap(),
            None,
            "stale within the margin"
        );
        let path = cache.entry_path(&wanted);
        assert!(path.file_name().unwrap().to_str().unwrap().starts_with("reader-"));
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(
            fs::metadata(folder.path().join("cache")).unwrap().permissions().mode() & 0o777,
            0o700
        );

        // Each input that changes what STS would give changes the entry, and an entry found
        // under another's name (planted, or a hash collision) is not served.
        let others = [
            ObtainedFor {
                role_arn: "arn:aws:iam::123456789012:role/writer".into(),
                ..obtained_for()
            },
            ObtainedFor {
                audience: "other".into(),
                ..obtained_for()
            },
            ObtainedFor {
                session_name: "other-pod".into(),
                ..obtained_for()
            },
            ObtainedFor {
                duration_seconds: Some(900),
                ..obtained_for()
            },
            ObtainedFor {
                sts_endpoint: "http://127.0.0.1:1".into(),
                ..obtained_for()
            },
            ObtainedFor {
                identity_source: "file:/tmp/token".into(),
                ..obtained_for()
            },
        ];
        for other in others {
            assert_ne!(cache.entry_path(&other), path, "{other:?}");
            assert_eq!(cache.read_fresh(&other, 0).unwrap(), None, "{other:?}");
            fs::copy(&path, cache.entry_path(&other)).unwrap();
            assert_eq!(cache.read_fresh(&other, 0).unwrap(), None, "planted for {other:?}");
        }
    }

    #[test]
    fn the_file_name_is_a_sha256_stable_across_builds() {
        let cache = CredentialCache {
            folder: PathBuf::from("/c"),
        };
        // Pinned: a name that changed with the Rust release (as DefaultHasher's may) would
        // only be a miss, but a stable one is what the tests and operators can rely on.
        let name = cache.entry_path(&obtained_for());
        let name = name.file_name().unwrap().to_str().unwrap();
        assert!(name.starts_with("reader-") && name.ends_with(".json"), "{name}");
        assert_eq!(name.len(), "reader-".len() + 64 + ".json".len(), "{name}");
        assert_eq!(cache.entry_path(&obtained_for()), cache.entry_path(&obtained_for()));
    }

    #[test]
    fn a_shared_or_foreign_cache_folder_is_refused_naming_the_fix() {
        let base = tempfile::tempdir().unwrap();
        let folder = base.path().join("shared");
        fs::create_dir(&folder).unwrap();
        fs::set_permissions(&folder, Permissions::from_mode(0o777)).unwrap();
        let error = CredentialCache::open(&folder).err().unwrap();
        assert_eq!(error.field, "--cache-dir");
        assert!(
            error.problem.contains("writable by anyone") && error.problem.contains("chmod 700"),
            "{}",
            error.problem
        );
    }

    #[test]
    fn planted_entries_and_locks_are_refused_not_followed() {
        let folder = tempfile::tempdir().unwrap();
        let cache = CredentialCache::open(folder.path()).unwrap();
        let wanted = obtained_for();
        let elsewhere = folder.path().join("elsewhere");
        fs::write(&elsewhere, b"").unwrap();
        std::os::unix::fs::symlink(&elsewhere, cache.entry_path(&wanted)).unwrap();
        let error = cache.read_fresh(&wanted, 0).unwrap_err();
        assert!(
            error.problem.contains("a symlink") && error.problem.contains("remove it"),
            "{}",
            error.problem
        );

        // A lock that is a (dangling) symlink: its target is never created.
        let target = folder.path().join("created-through-the-link");
        std::os::unix::fs::symlink(&target, cache.lock_path(&wanted)).unwrap();
        let error = cache.lock_file(&wanted).unwrap_err();
        assert!(error.problem.contains("a symlink"), "{}", error.problem);
        assert!(!target.exists());

        // Too big to be an entry: refused without reading it all.
        fs::remove_file(cache.entry_path(&wanted)).unwrap();
        fs::write(cache.entry_path(&wanted), vec![b' '; MAX_ENTRY_BYTES as usize + 1]).unwrap();
        let error = cache.read_fresh(&wanted, 0).unwrap_err();
        assert!(error.problem.contains("larger than"), "{}", error.problem);
    }

    #[test]
    fn leftovers_of_a_killed_helper_are_removed_by_the_next_store() {
        let folder = tempfile::tempdir().unwrap();
        let cache = CredentialCache::open(folder.path()).unwrap();
        let wanted = obtained_for();
        let entry = cache.entry_path(&wanted);
        let leftover = folder.path().join(format!(
            ".{}.4194305-0-00000000000000ab.tmp",
            entry.file_name().unwrap().to_str().unwrap()
        ));
        fs::write(&leftover, b"{\"half").unwrap();
        let an_hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
        fs::File::options()
            .write(true)
            .open(&leftover)
            .unwrap()
            .set_modified(an_hour_ago)
            .unwrap();
        cache.store(&wanted, EXPIRES_AT, &credentials()).unwrap();
        assert!(!leftover.exists());
    }

    #[test]
    fn corrupt_or_incomplete_entries_are_misses() {
        let folder = tempfile::tempdir().unwrap();
        let cache = CredentialCache::open(folder.path()).unwrap();
        let wanted = obtained_for();
        for corrupt in [
            &b""[..],
            b"{",
            b"null",
            br#"{"obtained_for":{},"expires_at":1,"credentials":{"Version":2}}"#,
        ] {
            fs::write(cache.entry_path(&wanted), corrupt).unwrap();
            assert_eq!(cache.read_fresh(&wanted, 0).unwrap(), None);
        }
        // Well-formed JSON for the right inputs, far from expiry, but not usable credentials.
        for credentials in [
            ProcessCredentials {
                version: 2,
                ..credentials()
            },
            ProcessCredentials {
                access_key_id: String::new(),
                ..credentials()
            },
            ProcessCredentials {
                secret_access_key: String::new(),
                ..credentials()
            },
            ProcessCredentials {
                session_token: String::new(),
                ..credentials()
            },
            ProcessCredentials {
                expiration: "tomorrow".into(),
                ..credentials()
            },
            ProcessCredentials {
                expiration: "2099-01-01T00:00:00Z".into(),
                ..credentials()
            },
        ] {
            let entry = Entry {
                obtained_for: wanted.clone(),
                expires_at: EXPIRES_AT,
                credentials,
            };
            let json = serde_json::to_vec(&entry).unwrap();
            assert_eq!(Entry::parse(&json), None, "{entry:?}");
            fs::write(cache.entry_path(&wanted), json).unwrap();
            assert_eq!(cache.read_fresh(&wanted, 0).unwrap(), None);
        }
    }

    #[test]
    fn credentials_expired_or_incomplete_are_not_usable() {
        assert!(credentials().usable(EXPIRES_AT, EXPIRES_AT - 1));
        assert!(!credentials().usable(EXPIRES_AT, EXPIRES_AT), "expired");
        assert!(!credentials().usable(EXPIRES_AT, i64::MAX));
        assert!(!credentials().usable(i64::MIN, 0));
        let empty = ProcessCredentials {
            access_key_id: String::new(),
            ..credentials()
        };
        assert!(!empty.usable(EXPIRES_AT, 0));
    }

    #[test]
    fn debug_of_a_non_ascii_key_id_does_not_panic() {
        // Found by the cache_entry fuzz target.
        let credentials = ProcessCredentials {
            access_key_id: "ASIAEXAMPLE€123".into(),
            ..credentials()
        };
        assert!(format!("{credentials:?}").contains("...€123"));
    }

    #[test]
    fn debug_shows_only_the_last_four_characters_of_the_key_id() {
        let shown = format!("{:?}", credentials());
        assert!(
            shown.contains("...1234") && !shown.contains("secret") && !shown.contains("ASIAEXAMPLE"),
            "{shown}"
        );
    }
}
