//! A projected service-account token volume: the kubelet's side of cluster mode. It writes
//! the token to a file atomically and writes a fresh one once the current one is 80% through
//! its life (the kubelet's rule), so a reader always finds a whole, valid token.

use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::KsaToken;
use super::refresh::{self, Ack, Command};
use super::state::Shared;

/// A token file kept fresh by a task on the caller's runtime; the task stops when this is
/// dropped (the file stays, as a volume outlives a crashed kubelet).
#[derive(Debug)]
pub struct ProjectedToken {
    path: PathBuf,
    commands: mpsc::Sender<Command>,
    writes: Arc<AtomicU64>,
    task: JoinHandle<()>,
}

impl ProjectedToken {
    pub(super) async fn start(shared: Arc<Shared>, path: PathBuf, token: KsaToken) -> std::io::Result<ProjectedToken> {
        let writes = Arc::new(AtomicU64::new(0));
        // The first token is in place before the caller goes on, as before a pod starts.
        write_token(&shared, &path, &token, false)?;
        writes.fetch_add(1, Ordering::Relaxed);
        // Timed from this write, not from when the task first runs.
        let first_refresh = Instant::now() + refresh_after(&token);
        let (commands, receiver) = mpsc::channel(4);
        // The control endpoints act on the issuer's latest projected token.
        shared.set_projected(commands.clone());
        let task = tokio::spawn(refresh_loop(
            shared,
            path.clone(),
            token,
            Arc::clone(&writes),
            receiver,
            first_refresh,
        ));
        Ok(ProjectedToken {
            path,
            commands,
            writes,
            task,
        })
    }

    /// The token file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How many tokens have been written (the first one included).
    pub fn writes(&self) -> u64 {
        self.writes.load(Ordering::Relaxed)
    }

    /// Writes a fresh token now and resumes refreshing at 80% of its life.
    pub async fn refresh(&self) -> std::io::Result<()> {
        self.send(Command::Refresh).await
    }

    /// Writes a signed token that expired an hour ago, and stops refreshing until
    /// [`refresh`](Self::refresh): a kubelet that stopped rotating the volume.
    pub async fn expire(&self) -> std::io::Result<()> {
        self.send(Command::Expire).await
    }

    async fn send(&self, command: fn(Ack) -> Command) -> std::io::Result<()> {
        refresh::send(&self.commands, command).await
    }
}

impl Drop for ProjectedToken {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn refresh_loop(
    shared: Arc<Shared>,
    path: PathBuf,
    token: KsaToken,
    writes: Arc<AtomicU64>,
    mut commands: mpsc::Receiver<Command>,
    first_refresh: Instant,
) {
    let refresh_after = refresh_after(&token);
    let mut next = Some(first_refresh);
    loop {
        let command = tokio::select! {
            () = sleep_until(next) => None,
            command = commands.recv() => match command {
                Some(command) => Some(command),
                None => return,
            },
        };
        let (expired, ack) = match command {
            None => (false, None),
            Some(Command::Refresh(ack)) => (false, Some(ack)),
            Some(Command::Expire(ack)) => (true, Some(ack)),
        };
        let result = write_token(&shared, &path, &token, expired);
        match &result {
            Ok(()) => {
                writes.fetch_add(1, Ordering::Relaxed);
            }
            Err(error) => tracing::warn!(path = %path.display(), %error, "cannot write the projected token"),
        }
        // After a failed write the kubelet retries; so do we, on the next period.
        next = (!expired).then(|| Instant::now() + refresh_after);
        if let Some(ack) = ack {
            let _ = ack.send(result);
        }
    }
}

/// The kubelet refreshes once 80% of the token's life has passed.
fn refresh_after(token: &KsaToken) -> std::time::Duration {
    token.lifetime.mul_f64(0.8)
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// Mints a token and replaces the file atomically: a temporary file (owner-only) in the
/// same folder, then a rename, so a reader sees the old token or the new one, never half.
fn write_token(shared: &Shared, path: &Path, token: &KsaToken, expired: bool) -> std::io::Result<()> {
    let jwt = shared.mint(token, expired)?;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "the token path names no file"))?;
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let temp = dir.join(format!(
        ".{}.{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&temp)
        .and_then(|mut file| {
            file.write_all(jwt.as_bytes())?;
            file.sync_all()
        })
        .and_then(|()| std::fs::rename(&temp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    written
}
