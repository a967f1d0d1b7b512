//! How the process meets its end and its limits: SIGTERM (what the kubelet sends on a rollout
//! or a drain; as PID 1 nothing else would handle it) and SIGINT start the shutdown; the file
//! descriptor limit caps the connections kept open.

/// SIGTERM and SIGINT, as one stream of names.
pub struct Signals {
    terminate: tokio::signal::unix::Signal,
    interrupt: tokio::signal::unix::Signal,
}

impl Signals {
    /// Installs the handlers (from then on neither signal ends the process by itself).
    pub fn new() -> std::io::Result<Signals> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Signals {
            terminate: signal(SignalKind::terminate())?,
            interrupt: signal(SignalKind::interrupt())?,
        })
    }

    /// The next signal's name.
    pub async fn next(&mut self) -> &'static str {
        tokio::select! {
            _ = self.terminate.recv() => "SIGTERM",
            _ = self.interrupt.recv() => "SIGINT",
        }
    }
}

/// File descriptors kept for everything but the HTTPS connections (listeners, the Kubernetes
/// API client's connections, the certificate files, the metrics listener's connections).
const RESERVED_FDS: usize = 64;

/// `wanted` connections, or fewer when the soft `RLIMIT_NOFILE` would not allow them.
pub fn within_fd_limit(wanted: usize) -> usize {
    let limit = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .as_deref()
        .and_then(open_files_limit);
    match limit {
        Some(limit) if limit < wanted + RESERVED_FDS => {
            let allowed = limit.saturating_sub(RESERVED_FDS).max(1);
            tracing::warn!(
                limit,
                wanted,
                allowed,
                "the file descriptor limit caps --max-connections"
            );
            allowed
        }
        _ => wanted,
    }
}

/// The soft limit from `/proc/self/limits`' "Max open files" line.
fn open_files_limit(limits: &str) -> Option<usize> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..].split_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_soft_limit_is_read() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units\nMax open files            1024                 524288               files\n";
        assert_eq!(super::open_files_limit(limits), Some(1024));
        assert_eq!(super::open_files_limit("Max open files unlimited"), None);
    }
}
