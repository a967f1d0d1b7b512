//! `token-file`: keeps a fresh Google ID token in a file for the AWS SDKs' own web-identity
//! support (`AWS_WEB_IDENTITY_TOKEN_FILE`), which re-reads the file whenever it refreshes.
//! The file is replaced atomically, refreshed at half its token's life, kept through
//! metadata-server outages while the token is valid, removed once it would be expired,
//! and left in place on SIGTERM, which ends the helper within a second at any point.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::time::Instant;

use crate::clock::Clock;
use crate::error::{Failure, InputError, Stage, StageError};
use crate::identity::id_token::IdToken;
use crate::identity::metadata::MetadataServer;
use crate::identity::{IdentitySettings, IdentitySource};
use crate::secret_file;

/// The modes `--file-mode` accepts. 0640, the default: owner and group may read (the app
/// container may run as another user in the pod's fsGroup). 0644 is for the injection
/// webhook's sidecar, where the app's user is not known in advance and the pod (its own
/// in-memory volume) is the boundary, not the file's mode.
const FILE_MODES: [u32; 3] = [0o600, 0o640, 0o644];
/// Give up on a token this long before it expires (at most a quarter of its life): the
/// SDK needs time to use it.
const EXPIRY_MARGIN_SECS: i64 = 10;
const MAX_PAUSE: Duration = Duration::from_secs(30);

#[derive(Debug, Clone)]
pub struct Settings {
    /// The metadata server's identity: `token-file` is what makes a token file.
    pub identity: IdentitySettings,
    pub path: PathBuf,
    pub once: bool,
    /// One of [`FILE_MODES`].
    pub file_mode: u32,
}

/// `--file-mode`: 0600, 0640 or 0644 (the leading 0 optional).
pub fn parse_file_mode(text: &str) -> Result<u32, String> {
    u32::from_str_radix(text.trim_start_matches('0'), 8)
        .ok()
        .filter(|mode| FILE_MODES.contains(mode))
        .ok_or_else(|| format!("{text:?} is not one of 0600, 0640 (the default) or 0644"))
}

/// Longest file name the folder takes, with room for the temporary file's suffix.
const NAME_MAX: usize = 255;
const PATH_MAX: usize = 4096;

/// Checks, before any network call, that the token file can be written where asked: a
/// regular file or nothing there (a device, a FIFO, a socket or a symlink is refused: the
/// rename would replace it, which is never what was meant), a name short enough, a folder
/// this user can create files in.
pub fn check_path(path: &Path) -> Result<(), InputError> {
    let refuse = |problem: String| Err(InputError::new("--path", problem));
    let folder = secret_file::folder_of(path);
    let Some(name) = path.file_name() else {
        return refuse(format!(
            "{} is a folder; give a file path such as /var/run/secrets/gke-aws/token",
            path.display()
        ));
    };
    let longest = NAME_MAX - secret_file::TEMPORARY_NAME_EXTRA;
    if name.len() > longest || path.as_os_str().len() > PATH_MAX - secret_file::TEMPORARY_NAME_EXTRA {
        return refuse(format!(
            "the file name is {} bytes (the path {}); give a name of at most {longest} bytes and a path under 4 KB",
            name.len(),
            path.as_os_str().len()
        ));
    }
    match std::fs::symlink_metadata(path) {
        Ok(found) => match secret_file::not_a_regular_file(&found) {
            None => {}
            Some("a folder") => {
                return refuse(format!(
                    "{} is a folder; give a file path such as /var/run/secrets/gke-aws/token",
                    path.display()
                ));
            }
            Some(what) => {
                return refuse(format!(
                    "{} is {what}; the token file is replaced whole by a rename, so give the path of \
                     a regular file or of none, in a folder of its own (in a pod, an emptyDir)",
                    path.display()
                ));
            }
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return refuse(format!("cannot look at {} ({e})", path.display())),
    }
    secret_file::check_writable_folder(folder).map_err(|e| {
        InputError::new(
            "--path",
            format!(
                "cannot write in {} ({e}); the folder must exist and be writable (in a pod, mount an emptyDir there)",
                folder.display()
            ),
        )
    })
}

/// Writes the token file, then (unless `--once`) keeps it fresh until SIGTERM or SIGINT.
/// Token lifetimes are judged by `clock`: [`SystemClock`](crate::clock::SystemClock) but in tests.
pub async fn run(settings: &Settings, clock: Arc<dyn Clock>) -> Result<(), Failure> {
    // Listening first: SIGTERM ends the helper at any point, during the first fetch too.
    let mut shutdown =
        Shutdown::listen().map_err(|e| Failure::Unexpected(format!("cannot listen for signals: {e}")))?;
    check_path(&settings.path)?;
    secret_file::remove_leftover_temporaries(&settings.path);
    let IdentitySource::MetadataServer { host } = &settings.identity.source else {
        return Err(InputError::new(
            "--path",
            "token-file writes the metadata server's token; it reads no token file",
        )
        .into());
    };
    let (audience, timeout) = (&settings.identity.audience, settings.identity.timeout);
    let server = MetadataServer::new(host).with_clock(Arc::clone(&clock));
    let clock = clock.as_ref();
    let first = async {
        let token = server.checked_token(audience, None, Instant::now() + timeout).await?;
        schedulable(token, clock)
    };
    let mut token = tokio::select! {
        token = first => token?,
        () = shutdown.received() => {
            return Err(Failure::Unexpected("stopped by a signal before the first token was written".into()));
        }
    };
    write(settings, &token, clock)?;
    if settings.once {
        return Ok(());
    }
    loop {
        let half_life = token.claims.exp.saturating_sub(token.claims.iat).max(0) / 2;
        let refresh_at = instant_at(token.claims.iat.saturating_add(half_life), clock);
        tokio::select! {
            () = tokio::time::sleep_until(refresh_at) => {}
            () = shutdown.received() => return Ok(()),
        }
        tokio::select! {
            fresh = refresh(&server, settings, &token, clock) => token = fresh?,
            () = shutdown.received() => return Ok(()),
        }
    }
}

/// Tries until a new token is written. While the old one is valid the file keeps it;
/// once it is about to expire the file is removed, as an expired token is worse than none.
async fn refresh(
    server: &MetadataServer,
    settings: &Settings,
    current: &IdToken,
    clock: &dyn Clock,
) -> Result<IdToken, Failure> {
    let lifetime = current.claims.exp.saturating_sub(current.claims.iat);
    let valid_until = instant_at(
        current.claims.exp.saturating_sub(EXPIRY_MARGIN_SECS.min(lifetime / 4)),
        clock,
    );
    let (audience, timeout) = (&settings.identity.audience, settings.identity.timeout);
    let attempts = async {
        let mut pause = Duration::from_secs(1);
        loop {
            let fetched = server.checked_token(audience, None, Instant::now() + timeout).await;
            match fetched.and_then(|token| schedulable(token, clock)) {
                // A caching server may answer the same token again: not a refresh, and
                // taking it as one would fetch again at once (its half life is past).
                Ok(token) if token.claims.iat > current.claims.iat => return token,
                Ok(_) => tracing::warn!("the metadata server answered the token it gave before; will retry"),
                Err(e) => tracing::warn!(code = %e.code, "token refresh failed, will retry: {}", e.message),
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(MAX_PAUSE);
        }
    };
    tokio::pin!(attempts);
    let token = tokio::select! {
        token = &mut attempts => token,
        () = tokio::time::sleep_until(valid_until) => {
            if std::fs::remove_file(&settings.path).is_ok() {
                tracing::error!(path = %settings.path.display(), "the metadata server stayed unavailable until the token expired; removed the token file");
            }
            attempts.await
        }
    };
    write(settings, &token, clock)?;
    Ok(token)
}

/// The one-shot commands leave expiry to STS's clock; token-file cannot: it refreshes the file
/// and removes it by the pod's clock, so a token that clock calls expired would be written and
/// removed at once, again and again. It is refused here, with both times and the fix.
fn schedulable(token: IdToken, clock: &dyn Clock) -> Result<IdToken, StageError> {
    let now = clock.unix_now();
    if token.claims.seconds_left(now) > 0 {
        return Ok(token);
    }
    Err(StageError::new(
        Stage::GcpIdentity,
        "TokenExpiredByPodClock",
        format!(
            "token expired at {} by the pod's clock ({} s ago)",
            token.claims.exp,
            now.saturating_sub(token.claims.exp)
        ),
        "token-file refreshes and removes the file by the pod's clock, so it cannot keep a token that clock calls \
         expired: the node's clock is ahead (check NTP on the node), or something between the pod and the metadata \
         server served a stale token.",
    ))
}

fn write(settings: &Settings, token: &IdToken, clock: &dyn Clock) -> Result<(), Failure> {
    let path = &settings.path;
    secret_file::write_atomically(path, token.expose().as_bytes(), settings.file_mode)
        .map_err(|e| Failure::Unexpected(format!("cannot write the token file {}: {e}", path.display())))?;
    tracing::info!(path = %path.display(), expires_in_s = token.claims.seconds_left(clock.unix_now()), "token file written");
    Ok(())
}

/// The Tokio instant at Unix time `unix_secs` by `clock` (now, if that is past), to the
/// clock's precision: whole seconds would let a removal slip past `exp`.
fn instant_at(unix_secs: i64, clock: &dyn Clock) -> Instant {
    let at = UNIX_EPOCH.checked_add(Duration::from_secs(u64::try_from(unix_secs).unwrap_or(0)));
    let wait = at.map_or(Duration::MAX, |at| at.duration_since(clock.now()).unwrap_or_default());
    // Tokens' times are bounded when decoded; a year is far past any token's life anyway.
    Instant::now() + wait.min(Duration::from_secs(365 * 24 * 3600))
}

/// SIGTERM (Kubernetes stopping the pod) or SIGINT.
struct Shutdown {
    terminate: Signal,
    interrupt: Signal,
}

impl Shutdown {
    fn listen() -> std::io::Result<Self> {
        Ok(Self {
            terminate: signal(SignalKind::terminate())?,
            interrupt: signal(SignalKind::interrupt())?,
        })
    }

    async fn received(&mut self) {
        tokio::select! {
            _ = self.terminate.recv() => tracing::info!("SIGTERM: exiting, the token file stays valid"),
            _ = self.interrupt.recv() => tracing::info!("SIGINT: exiting, the token file stays valid"),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;

    use super::*;

    #[test]
    fn file_modes_are_the_three_documented() {
        assert_eq!(parse_file_mode("0640"), Ok(0o640));
        assert_eq!(parse_file_mode("600"), Ok(0o600));
        assert_eq!(parse_file_mode("0644"), Ok(0o644));
        for refused in ["0666", "0777", "0", "", "rw-r-----", "0o640", "99999999999"] {
            assert!(parse_file_mode(refused).is_err(), "{refused}");
        }
    }

    #[test]
    fn special_files_symlinks_and_long_names_are_refused_before_anything_is_written() {
        let folder = tempfile::tempdir().unwrap();
        let fifo = folder.path().join("fifo");
        let c_path = CString::new(fifo.as_os_str().as_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
        let to_device = folder.path().join("stdout");
        std::os::unix::fs::symlink("/dev/null", &to_device).unwrap();
        let long = folder
            .path()
            .join("t".repeat(NAME_MAX - secret_file::TEMPORARY_NAME_EXTRA + 1));
        for (path, says) in [
            (fifo.as_path(), "a FIFO"),
            (Path::new("/dev/null"), "a device"),
            (to_device.as_path(), "a symlink"),
            (folder.path(), "a folder"),
            (long.as_path(), "the file name is"),
        ] {
            let error = check_path(path).unwrap_err();
            assert_eq!(error.field, "--path");
            assert!(error.problem.contains(says), "{}: {}", path.display(), error.problem);
        }
        let longest = folder
            .path()
            .join("t".repeat(NAME_MAX - secret_file::TEMPORARY_NAME_EXTRA));
        check_path(&longest).unwrap();
        secret_file::write_atomically(&longest, b"x", 0o600).expect("the longest name allowed can be written");
        let regular = folder.path().join("token");
        std::fs::write(&regular, b"old").unwrap();
        check_path(&regular).unwrap();
    }
}
