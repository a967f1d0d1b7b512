//! `explain`'s input files (a report, claims, a trust policy): a regular file or `-` for
//! standard input, read whole up to a bound and by the run's deadline. A FIFO, a device or a
//! folder is refused before it is read; a file that does not fit is refused, not cut.

use std::io::Read as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use tokio::time::Instant;

use crate::error::InputError;

/// Reads `path` (`-`: standard input) as text for the flag `field`.
pub async fn read(field: &'static str, path: &Path, limit: u64, deadline: Instant) -> Result<String, InputError> {
    let owned: PathBuf = path.to_owned();
    let work = tokio::task::spawn_blocking(move || read_now(&owned, limit));
    let shown = if path == Path::new("-") {
        "standard input".to_owned()
    } else {
        path.display().to_string()
    };
    match tokio::time::timeout_at(deadline, work).await {
        Err(_) => Err(InputError::new(
            field,
            format!("{shown} gave no end of input before --timeout; pipe a file or give a path"),
        )),
        Ok(Err(join)) => Err(InputError::new(field, format!("{shown}: {join}"))),
        Ok(Ok(result)) => result.map_err(|why| InputError::new(field, format!("{shown} {why}"))),
    }
}

fn read_now(path: &Path, limit: u64) -> Result<String, String> {
    let mut bytes = Vec::new();
    if path == Path::new("-") {
        std::io::stdin()
            .lock()
            .take(limit + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| format!("cannot be read: {e}"))?;
    } else {
        let file = std::fs::OpenOptions::new()
            .read(true)
            // Never wait on a FIFO nor take a terminal.
            .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC)
            .open(path)
            .map_err(|e| format!("cannot be opened: {e}"))?;
        let metadata = file.metadata().map_err(|e| format!("cannot be read: {e}"))?;
        if let Some(what) = crate::secret_file::not_a_regular_file(&metadata) {
            return Err(format!("is {what}, not a regular file"));
        }
        file.take(limit + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| format!("cannot be read: {e}"))?;
    }
    if bytes.len() as u64 > limit {
        return Err(format!("is larger than {} KiB", limit / 1024));
    }
    String::from_utf8(bytes).map_err(|_| "is not UTF-8 text".to_owned())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn regular_files_only_and_bounded() {
        let folder = tempfile::tempdir().unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        let file = folder.path().join("report.json");
        std::fs::write(&file, "{}").unwrap();
        assert_eq!(read("--report", &file, 10, deadline).await.unwrap(), "{}");
        let error = read("--report", &file, 1, deadline).await.unwrap_err();
        assert!(error.problem.contains("larger than"), "{error}");
        let error = read("--report", folder.path(), 10, deadline).await.unwrap_err();
        assert!(error.problem.contains("a folder"), "{error}");
        let fifo = folder.path().join("fifo");
        let c_path = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
        let error = read("--report", &fifo, 10, deadline).await.unwrap_err();
        assert!(error.problem.contains("a FIFO"), "{error}");
    }
}
