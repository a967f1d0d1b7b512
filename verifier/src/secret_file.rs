//! Files that hold secrets: written whole or not at all, and never readable by others.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};

/// Writes `contents` to a temporary file beside `path`, then renames it over `path`: a reader
/// sees the old file or the new one, never half of one. `mode` applies from creation on.
pub fn write_atomically(path: &Path, contents: &[u8], mode: u32) -> io::Result<()> {
    static SEQUENCE: AtomicU32 = AtomicU32::new(0);
    let folder = folder_of(path);
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no file name"))?;
    let temporary = folder.join(format!(
        ".{}.{}-{}.tmp",
        name.to_string_lossy(),
        std::process::id(),
        SEQUENCE.fetch_add(1, Ordering::Relaxed)
    ));
    let written = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&temporary)?;
        file.write_all(contents)?;
        file.sync_all()?;
        fs::rename(&temporary, path)
    })();
    if written.is_err() {
        let _ = fs::remove_file(&temporary);
    }
    written
}

/// The folder `path` is in (`.` for a bare file name).
pub fn folder_of(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// Checks that files can be created in `folder`, by creating and removing one.
pub fn check_writable_folder(folder: &Path) -> io::Result<()> {
    let probe = folder.join(format!(".write-check-{}", std::process::id()));
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&probe)?;
    fs::remove_file(probe)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn replaces_the_file_whole_with_private_permissions() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("token");
        write_atomically(&path, b"first", 0o600).unwrap();
        write_atomically(&path, b"second", 0o640).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"second");
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o640);
        let leftovers: Vec<_> = fs::read_dir(folder.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers, vec!["token"], "no temporary file is left behind");
    }

    #[test]
    fn a_missing_folder_is_an_error_not_a_partial_file() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("missing/token");
        assert_eq!(
            write_atomically(&path, b"x", 0o600).unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
        assert!(check_writable_folder(&folder.path().join("missing")).is_err());
        assert!(check_writable_folder(folder.path()).is_ok());
    }
}
