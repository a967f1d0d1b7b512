//! `token-file`: keeps a fresh Google ID token in a file for the AWS SDKs' own web-identity
//! support (`AWS_WEB_IDENTITY_TOKEN_FILE`), which re-reads the file whenever it refreshes.
//! The file is replaced atomically, refreshed at half its token's life, kept through
//! metadata-server outages while the token is valid, removed once it would be expired,
//! and left in place on SIGTERM.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::time::Instant;

use crate::clock::Clock;
use crate::error::{Failure, InputError};
use crate::id_token::IdToken;
use crate::metadata::MetadataServer;
use crate::secret_file;

/// Owner and group may read (the app container may run as another user in the pod's fsGroup).
const TOKEN_FILE_MODE: u32 = 0o640;
/// Give up on a token this long before it expires (at most a quarter of its life): the
/// SDK needs time to use it.
const EXPIRY_MARGIN_SECS: i64 = 10;
const MAX_PAUSE: Duration = Duration::from_secs(30);

#[derive(Debug, Clone)]
pub struct Settings {
    pub metadata_host: String,
    pub audience: String,
    pub path: PathBuf,
    pub once: bool,
    pub timeout: Duration,
}

/// Checks, before any network call, that the token file can be written where asked.
pub fn check_path(path: &Path) -> Result<(), InputError> {
    let folder = secret_file::folder_of(path);
    if path.file_name().is_none() || path.is_dir() {
        return Err(InputError::new(
            "--path",
            format!(
                "{} is a folder; give a file path such as /var/run/secrets/gke-aws/token",
                path.display()
            ),
        ));
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
    check_path(&settings.path)?;
    let mut shutdown =
        Shutdown::listen().map_err(|e| Failure::Unexpected(format!("cannot listen for signals: {e}")))?;
    let server = MetadataServer::new(&settings.metadata_host).with_clock(Arc::clone(&clock));
    let clock = clock.as_ref();
    let mut token = server
        .checked_token(&settings.audience, None, Instant::now() + settings.timeout)
        .await?;
    write(&settings.path, &token, clock)?;
    if settings.once {
        return Ok(());
    }
    loop {
        let half_life = (token.claims.exp - token.claims.iat).max(0) / 2;
        let refresh_at = instant_at(token.claims.iat + half_life, clock);
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
    let lifetime = current.claims.exp - current.claims.iat;
    let valid_until = instant_at(current.claims.exp - EXPIRY_MARGIN_SECS.min(lifetime / 4), clock);
    let attempts = async {
        let mut pause = Duration::from_secs(1);
        loop {
            match server
                .checked_token(&settings.audience, None, Instant::now() + settings.timeout)
                .await
            {
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
    write(&settings.path, &token, clock)?;
    Ok(token)
}

fn write(path: &Path, token: &IdToken, clock: &dyn Clock) -> Result<(), Failure> {
    secret_file::write_atomically(path, token.expose().as_bytes(), TOKEN_FILE_MODE)
        .map_err(|e| Failure::Unexpected(format!("cannot write the token file {}: {e}", path.display())))?;
    tracing::info!(path = %path.display(), expires_in_s = token.claims.exp - clock.unix_now(), "token file written");
    Ok(())
}

/// The Tokio instant at Unix time `unix_secs` by `clock` (now, if that is past), to the
/// clock's precision: whole seconds would let a removal slip past `exp`.
fn instant_at(unix_secs: i64, clock: &dyn Clock) -> Instant {
    let at = UNIX_EPOCH + Duration::from_secs(u64::try_from(unix_secs).unwrap_or(0));
    Instant::now() + at.duration_since(clock.now()).unwrap_or_default()
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
