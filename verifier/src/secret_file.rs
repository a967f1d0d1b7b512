//! Files that hold secrets, and the folders they live in: the one place for the rules the
//! credential cache and the token file both follow.
//! - A private folder is owned by the running user and writable by nobody else, so nobody
//!   else can plant, swap or remove what is in it.
//! - A secret file is opened without following a symlink or blocking on a FIFO, must be a
//!   regular file owned by the running user, and is read up to a limit.
//! - Writes are whole or not at all (a temporary file renamed over the target), with the
//!   mode set explicitly, whatever the umask.

use std::fs::{self, File, OpenOptions, Permissions};
use std::io::{self, ErrorKind, Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};

/// The effective user: the one files must belong to.
pub fn running_user() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

fn refused(why: String) -> io::Error {
    io::Error::new(ErrorKind::InvalidData, why)
}

/// Creates `folder` (and its missing parents) owner-only, then checks it is private.
pub fn create_private_folder(folder: &Path) -> io::Result<()> {
    fs::DirBuilder::new().recursive(true).mode(0o700).create(folder)?;
    check_private_folder(folder)
}

/// `folder` is a folder owned by the running user that neither group nor others may write.
pub fn check_private_folder(folder: &Path) -> io::Result<()> {
    let metadata = fs::metadata(folder)?;
    if !metadata.is_dir() {
        return Err(refused(format!("{} is not a folder", folder.display())));
    }
    let user = running_user();
    if metadata.uid() != user {
        return Err(refused(format!(
            "{} belongs to uid {}, not to this user (uid {user}): another user could plant files in it",
            folder.display(),
            metadata.uid()
        )));
    }
    if metadata.mode() & 0o022 != 0 {
        return Err(refused(format!(
            "{} is writable by {} (mode {:04o}): they could plant files in it",
            folder.display(),
            if metadata.mode() & 0o002 != 0 {
                "anyone"
            } else {
                "its group"
            },
            metadata.mode() & 0o7777
        )));
    }
    Ok(())
}

/// What a path that must be a regular file is instead, if anything: from `lstat`, so a
/// symlink is named as one (never followed), and devices are refused before being opened.
pub fn not_a_regular_file(metadata: &fs::Metadata) -> Option<&'static str> {
    let kind = metadata.file_type();
    if kind.is_file() {
        None
    } else if kind.is_symlink() {
        Some("a symlink")
    } else if kind.is_dir() {
        Some("a folder")
    } else {
        use std::os::unix::fs::FileTypeExt;
        Some(if kind.is_fifo() {
            "a FIFO"
        } else if kind.is_char_device() || kind.is_block_device() {
            "a device"
        } else if kind.is_socket() {
            "a socket"
        } else {
            "not a regular file"
        })
    }
}

/// Opens `path` with `options`, never following a symlink (`O_NOFOLLOW`) nor waiting on a
/// FIFO (`O_NONBLOCK`), and keeps it only if it is a regular file owned by the running user.
pub fn open_private(path: &Path, options: &mut OpenOptions) -> io::Result<File> {
    match fs::symlink_metadata(path) {
        Ok(listed) => {
            if let Some(what) = not_a_regular_file(&listed) {
                return Err(refused(format!("{} is {what}, not a regular file", path.display())));
            }
        }
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let file = options
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            // Swapped for a symlink between the look and the open.
            Some(libc::ELOOP) => refused(format!("{} is a symlink, not a regular file", path.display())),
            _ => e,
        })?;
    let opened = file.metadata()?;
    if let Some(what) = not_a_regular_file(&opened) {
        return Err(refused(format!("{} is {what}, not a regular file", path.display())));
    }
    let user = running_user();
    if opened.uid() != user {
        return Err(refused(format!(
            "{} belongs to uid {}, not to this user (uid {user})",
            path.display(),
            opened.uid()
        )));
    }
    Ok(file)
}

/// Reads a secret file of at most `limit` bytes; `None` if there is none.
pub fn read_private(path: &Path, limit: u64) -> io::Result<Option<Vec<u8>>> {
    let file = match open_private(path, OpenOptions::new().read(true)) {
        Ok(file) => file,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut bytes = Vec::new();
    file.take(limit + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(refused(format!(
            "{} is larger than {limit} bytes, more than it could hold",
            path.display()
        )));
    }
    Ok(Some(bytes))
}

/// Longest suffix a temporary file adds to its target's name: `.` before, and
/// `.{pid}-{sequence}-{nonce}.tmp` after (10, 10 and 16 characters).
pub const TEMPORARY_NAME_EXTRA: usize = 1 + 1 + 10 + 1 + 10 + 1 + 16 + 4;

/// A temporary file this old is a killed writer's: a write takes milliseconds. Its age, not
/// its pid, says so: containers of one pod share the folder but not the pid namespace.
const LEFTOVER_AGE: std::time::Duration = std::time::Duration::from_secs(60);

/// Writes `contents` to a temporary file beside `path`, then renames it over `path`: a reader
/// sees the old file or the new one, never half of one. The file has exactly `mode` from
/// creation on: set explicitly, so the umask neither widens nor narrows it.
pub fn write_atomically(path: &Path, contents: &[u8], mode: u32) -> io::Result<()> {
    static SEQUENCE: AtomicU32 = AtomicU32::new(0);
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(ErrorKind::InvalidInput, "path has no file name"))?;
    // The nonce keeps two writers apart that share a folder but not a pid namespace (both
    // may be pid 1); create_new refuses a clash anyway.
    let nonce = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let temporary = folder_of(path).join(format!(
        ".{}.{}-{}-{nonce:016x}.tmp",
        name.to_string_lossy(),
        std::process::id(),
        SEQUENCE.fetch_add(1, Ordering::Relaxed)
    ));
    let written = (|| {
        // create_new (O_EXCL) never follows a planted symlink; O_NOFOLLOW says so twice.
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode & 0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&temporary)?;
        file.set_permissions(Permissions::from_mode(mode))?;
        file.write_all(contents)?;
        file.sync_all()?;
        fs::rename(&temporary, path)
    })();
    if written.is_err() {
        let _ = fs::remove_file(&temporary);
    }
    written
}

/// Removes the temporary files of `path` that a writer killed mid-write left (SIGKILL, OOM):
/// those older than [`LEFTOVER_AGE`], whoever wrote them.
pub fn remove_leftover_temporaries(path: &Path) {
    let (Some(name), Ok(entries)) = (path.file_name(), fs::read_dir(folder_of(path))) else {
        return;
    };
    let prefix = format!(".{}.", name.to_string_lossy());
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let ours = file_name
            .to_str()
            .and_then(|n| n.strip_prefix(&prefix))
            .and_then(|rest| rest.strip_suffix(".tmp"))
            .is_some_and(|rest| !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-'));
        let age = entry
            .metadata()
            .ok()
            .and_then(|m| m.modified().ok())
            .and_then(|modified| modified.elapsed().ok());
        if !ours || age.is_none_or(|age| age < LEFTOVER_AGE) {
            continue;
        }
        match fs::remove_file(entry.path()) {
            Ok(()) => tracing::info!(file = %entry.path().display(), "removed a temporary file a killed writer left"),
            Err(e) => {
                tracing::warn!(file = %entry.path().display(), error = %e, "cannot remove a leftover temporary file")
            }
        }
    }
}

/// The folder `path` is in (`.` for a bare file name).
pub fn folder_of(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// Checks that files can be created in `folder`, by creating a new file (never opening one
/// found there, which could be a planted symlink) and removing it.
pub fn check_writable_folder(folder: &Path) -> io::Result<()> {
    static SEQUENCE: AtomicU32 = AtomicU32::new(0);
    let mut last = None;
    for _ in 0..3 {
        let probe = folder.join(format!(
            ".write-check-{}-{}",
            std::process::id(),
            SEQUENCE.fetch_add(1, Ordering::Relaxed)
        ));
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&probe)
        {
            Ok(_) => return fs::remove_file(probe),
            // Someone else's file by that name: leave it alone and try another name.
            Err(e) if e.kind() == ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::other("no free name for the write check")))
}

#[cfg(test)]
mod tests {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;

    use super::*;

    fn mkfifo(path: &Path) {
        let c_path = CString::new(path.as_os_str().as_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
    }

    fn names_in(folder: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(folder)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn replaces_the_file_whole_with_exactly_the_mode_asked_whatever_the_umask() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("token");
        // SAFETY: umask only changes this process's file creation mask.
        let old = unsafe { libc::umask(0o077) };
        write_atomically(&path, b"first", 0o600).unwrap();
        write_atomically(&path, b"second", 0o640).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        unsafe { libc::umask(old) };
        assert_eq!(fs::read(&path).unwrap(), b"second");
        assert_eq!(mode, 0o640, "0640 even under umask 077");
        assert_eq!(
            names_in(folder.path()),
            vec!["token"],
            "no temporary file is left behind"
        );
    }

    #[test]
    fn a_missing_folder_is_an_error_not_a_partial_file() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("missing/token");
        assert_eq!(
            write_atomically(&path, b"x", 0o600).unwrap_err().kind(),
            ErrorKind::NotFound
        );
        assert!(check_writable_folder(&folder.path().join("missing")).is_err());
        assert!(check_writable_folder(folder.path()).is_ok());
        assert_eq!(names_in(folder.path()), Vec::<String>::new(), "the probe is removed");
    }

    #[test]
    fn the_write_check_never_follows_a_planted_symlink() {
        let folder = tempfile::tempdir().unwrap();
        let victim = folder.path().join("victim");
        fs::write(&victim, b"precious").unwrap();
        for sequence in 0..10 {
            let planted = folder
                .path()
                .join(format!(".write-check-{}-{sequence}", std::process::id()));
            std::os::unix::fs::symlink(&victim, planted).unwrap();
        }
        assert!(check_writable_folder(folder.path()).is_err());
        assert_eq!(
            fs::read(&victim).unwrap(),
            b"precious",
            "the symlink's target is untouched"
        );
    }

    #[test]
    fn private_folders_are_created_owner_only_and_shared_ones_refused() {
        let base = tempfile::tempdir().unwrap();
        let folder = base.path().join("a/b");
        create_private_folder(&folder).unwrap();
        assert_eq!(fs::metadata(&folder).unwrap().mode() & 0o777, 0o700);
        for (mode, says) in [(0o777, "anyone"), (0o770, "its group"), (0o1777, "anyone")] {
            fs::set_permissions(&folder, Permissions::from_mode(mode)).unwrap();
            let error = check_private_folder(&folder).unwrap_err().to_string();
            assert!(error.contains(says), "{mode:o}: {error}");
        }
        fs::set_permissions(&folder, Permissions::from_mode(0o755)).unwrap();
        check_private_folder(&folder).unwrap();
        let file = base.path().join("file");
        fs::write(&file, b"").unwrap();
        assert!(create_private_folder(&file).is_err());
    }

    #[test]
    fn only_regular_files_are_opened_and_reads_are_bounded() {
        let folder = tempfile::tempdir().unwrap();
        let regular = folder.path().join("regular");
        fs::write(&regular, b"12345").unwrap();
        assert_eq!(read_private(&regular, 5).unwrap().unwrap(), b"12345");
        assert!(
            read_private(&regular, 4)
                .unwrap_err()
                .to_string()
                .contains("larger than 4 bytes")
        );
        assert_eq!(read_private(&folder.path().join("missing"), 5).unwrap(), None);

        let link = folder.path().join("link");
        std::os::unix::fs::symlink(&regular, &link).unwrap();
        let fifo = folder.path().join("fifo");
        mkfifo(&fifo);
        for (path, what) in [
            (&link, "a symlink"),
            (&fifo, "a FIFO"),
            (&folder.path().to_owned(), "a folder"),
        ] {
            let error = read_private(path, 5).unwrap_err().to_string();
            assert!(error.contains(what), "{error}");
            let error = open_private(path, OpenOptions::new().write(true).create(true))
                .unwrap_err()
                .to_string();
            assert!(error.contains(what), "{error}");
        }
        assert!(
            open_private(Path::new("/dev/null"), OpenOptions::new().read(true))
                .unwrap_err()
                .to_string()
                .contains("a device")
        );
        // A dangling symlink is not created through either.
        let dangling = folder.path().join("dangling");
        std::os::unix::fs::symlink(folder.path().join("target"), &dangling).unwrap();
        assert!(open_private(&dangling, OpenOptions::new().write(true).create(true)).is_err());
        assert!(!folder.path().join("target").exists());
    }

    #[test]
    fn what_another_user_owns_is_refused() {
        // As root, a folder and a file handed to nobody; as anyone else, root's own.
        let base = tempfile::tempdir().unwrap();
        let (folder, file) = if running_user() == 0 {
            let (folder, file) = (base.path().join("nobodys"), base.path().join("nobodys-file"));
            fs::create_dir(&folder).unwrap();
            fs::set_permissions(&folder, Permissions::from_mode(0o700)).unwrap();
            fs::write(&file, b"x").unwrap();
            std::os::unix::fs::chown(&folder, Some(65534), Some(65534)).unwrap();
            std::os::unix::fs::chown(&file, Some(65534), Some(65534)).unwrap();
            (folder, file)
        } else {
            (Path::new("/").to_owned(), Path::new("/etc/passwd").to_owned())
        };
        let error = check_private_folder(&folder).unwrap_err().to_string();
        assert!(error.contains("not to this user"), "{error}");
        let error = read_private(&file, 1 << 20).unwrap_err().to_string();
        assert!(error.contains("not to this user"), "{error}");
    }

    #[test]
    fn leftovers_of_killed_writers_are_removed_and_live_ones_kept() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("token");
        let old = std::time::SystemTime::now() - 2 * LEFTOVER_AGE;
        let files = [
            (".token.1-0-00000000000000ab.tmp", Some(old)),
            (".token.1-1-00000000000000cd.tmp", None),
            (".other.1-0-00000000000000ab.tmp", Some(old)),
            (".token.not-a-temporary", Some(old)),
        ];
        for (name, modified) in files {
            let file = File::create(folder.path().join(name)).unwrap();
            if let Some(modified) = modified {
                file.set_modified(modified).unwrap();
            }
        }
        remove_leftover_temporaries(&path);
        assert_eq!(
            names_in(folder.path()),
            vec![
                ".other.1-0-00000000000000ab.tmp",
                ".token.1-1-00000000000000cd.tmp",
                ".token.not-a-temporary"
            ]
        );
    }
}
