//! The credential cache of `credential-process`: one file per role, audience and session
//! name, written atomically and readable only by its owner, plus a lock file so that
//! concurrent helpers on an empty or stale cache make one STS call between them.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::{self, ErrorKind};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

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

/// A cache file: the credentials, their expiry as Unix seconds, and what they were issued for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub key: String,
    pub expires_at: i64,
    pub credentials: ProcessCredentials,
}

impl Entry {
    /// Parses a cache file; `None` for anything that is not a well-formed entry.
    pub fn parse(bytes: &[u8]) -> Option<Entry> {
        let entry: Entry = serde_json::from_slice(bytes).ok()?;
        let complete = entry.credentials.version == 1
            && !entry.credentials.access_key_id.is_empty()
            && !entry.credentials.secret_access_key.is_empty();
        complete.then_some(entry)
    }

    fn fresh(&self, key: &str, now: i64) -> bool {
        self.key == key && self.expires_at - now > REFRESH_MARGIN_SECS
    }
}

/// The folder of cache files.
pub struct CredentialCache {
    folder: PathBuf,
}

impl CredentialCache {
    /// Opens (creating, owner-only) the cache folder. Cheap: it runs on every AWS CLI call.
    pub fn open(folder: &Path) -> Result<Self, InputError> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(folder)
            .map_err(|e| unusable(folder, e))?;
        Ok(Self {
            folder: folder.to_owned(),
        })
    }

    /// Cached credentials for `key` that are still fresh at `now`. A missing, stale or
    /// corrupt file is a miss (a corrupt one is replaced on the next store); a file that
    /// cannot be read at all is an error, as it would never be replaced either.
    pub fn read_fresh(&self, key: &str, now: i64) -> Result<Option<ProcessCredentials>, InputError> {
        let path = self.entry_path(key);
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(InputError::new(
                    "--cache-dir",
                    format!(
                        "cannot read the cache file {} ({e}); remove it or fix its owner",
                        path.display()
                    ),
                ));
            }
        };
        match Entry::parse(&bytes) {
            Some(entry) if entry.fresh(key, now) => Ok(Some(entry.credentials)),
            Some(_) => Ok(None),
            None => {
                tracing::warn!(path = %path.display(), "ignoring a corrupt cache file; it will be replaced");
                Ok(None)
            }
        }
    }

    /// An exclusive lock for refreshing `key`; held until the returned file is dropped.
    /// Opening it (before any network call) also proves the folder can take the refresh.
    pub fn lock_file(&self, key: &str) -> Result<File, InputError> {
        OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(self.entry_path(key).with_extension("lock"))
            .map_err(|e| unusable(&self.folder, e))
    }

    pub fn store(&self, key: &str, expires_at: i64, credentials: &ProcessCredentials) -> io::Result<()> {
        let entry = Entry {
            key: key.to_owned(),
            expires_at,
            credentials: credentials.clone(),
        };
        let json = serde_json::to_vec(&entry).map_err(io::Error::other)?;
        secret_file::write_atomically(&self.entry_path(key), &json, 0o600)
    }

    /// A readable, filesystem-safe name: the role name and a hash of the whole key.
    pub fn entry_path(&self, key: &str) -> PathBuf {
        // DefaultHasher may change between Rust releases; a changed name is only a cache miss.
        let mut hasher = DefaultHasher::new();
        key.hash(&mut hasher);
        let role: String = key
            .split('|')
            .next()
            .unwrap_or_default()
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
            .take(40)
            .collect();
        self.folder.join(format!("{role}-{:016x}.json", hasher.finish()))
    }
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

/// What a set of credentials was issued for: the same inputs get the same cache entry.
pub fn key(role_arn: &str, audience: &str, session_name: &str, duration_seconds: Option<i32>) -> String {
    format!("{role_arn}|{audience}|{session_name}|{}", duration_seconds.unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn credentials() -> ProcessCredentials {
        ProcessCredentials {
            version: 1,
            access_key_id: "ASIAEXAMPLE1234".into(),
            secret_access_key: "secret".into(),
            session_token: "token".into(),
            expiration: "2026-11-28T12:00:00Z".into(),
        }
    }

    #[test]
    fn serves_fresh_entries_only_for_the_same_key() {
        let folder = tempfile::tempdir().unwrap();
        let cache = CredentialCache::open(&folder.path().join("cache")).unwrap();
        let key = key(
            "arn:aws:iam::123456789012:role/reader",
            "sts.amazonaws.com",
            "pod",
            None,
        );
        assert_eq!(cache.read_fresh(&key, 0).unwrap(), None);
        cache.store(&key, 10_000, &credentials()).unwrap();
        assert_eq!(
            cache.read_fresh(&key, 10_000 - REFRESH_MARGIN_SECS - 1).unwrap(),
            Some(credentials())
        );
        assert_eq!(
            cache.read_fresh(&key, 10_000 - REFRESH_MARGIN_SECS).unwrap(),
            None,
            "stale within the margin"
        );
        let other = key.replace("pod", "other-pod");
        assert_eq!(cache.read_fresh(&other, 0).unwrap(), None);
        let path = cache.entry_path(&key);
        assert!(path.file_name().unwrap().to_str().unwrap().starts_with("reader-"));
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(
            fs::metadata(folder.path().join("cache")).unwrap().permissions().mode() & 0o777,
            0o700
        );
    }

    #[test]
    fn corrupt_entries_are_misses() {
        let folder = tempfile::tempdir().unwrap();
        let cache = CredentialCache::open(folder.path()).unwrap();
        let key = key("arn:aws:iam::123456789012:role/reader", "a", "s", None);
        for corrupt in [
            &b""[..],
            b"{",
            b"null",
            br#"{"key":"x","expires_at":1,"credentials":{"Version":2}}"#,
        ] {
            fs::write(cache.entry_path(&key), corrupt).unwrap();
            assert_eq!(cache.read_fresh(&key, 0).unwrap(), None);
        }
        // Well-formed JSON for the right key, far from expiry, but not usable credentials.
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
        ] {
            let entry = Entry {
                key: key.clone(),
                expires_at: i64::MAX,
                credentials,
            };
            let json = serde_json::to_vec(&entry).unwrap();
            assert_eq!(Entry::parse(&json), None, "{entry:?}");
            fs::write(cache.entry_path(&key), json).unwrap();
            assert_eq!(cache.read_fresh(&key, 0).unwrap(), None);
        }
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
