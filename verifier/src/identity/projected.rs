//! A projected Kubernetes service-account token read from a file (cluster mode).
//!
//! The kubelet writes projected volumes through symlinks (`token -> ..data/token`,
//! `..data -> ..2026_11_30_08_00_00.123`) and swaps `..data` atomically on refresh. We follow
//! symlinks one hop at a time and only while they stay inside the volume's folder (the path's
//! parent), then open the file without following links and without blocking, and read it only
//! if it is a small regular file: a FIFO, a device or a link out of the volume is refused.
//! <https://kubernetes.io/docs/concepts/storage/projected-volumes/#serviceaccounttoken>

use std::collections::VecDeque;
use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read as _};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Component, Path, PathBuf};

use tokio::time::Instant;

use super::ksa_token::{KsaToken, STAGE};
use crate::error::StageError;
use crate::identity::id_token::IdToken;
use crate::secret_file::folder_of;

/// Projected tokens are about 1 KiB; anything far larger is not one.
pub const MAX_TOKEN_BYTES: u64 = 16 * 1024;
/// The kubelet uses two hops; a longer chain is not a projected volume.
const MAX_SYMLINK_HOPS: usize = 8;
/// The kubelet may swap `..data` between our walk and our open: try again a few times.
const ATTEMPTS: usize = 3;

/// Why the file was not read: I/O (named for the hint) or a refusal on safety grounds.
#[derive(Debug)]
enum ReadFailure {
    Io(io::Error),
    Unsafe(String),
}

impl From<io::Error> for ReadFailure {
    fn from(e: io::Error) -> Self {
        ReadFailure::Io(e)
    }
}

/// What a token file holds: a projected KSA token (cluster mode), or a Google ID token (the
/// file `token-file` keeps for the SDKs).
#[derive(Debug, Clone)]
pub enum FileToken {
    Google(IdToken),
    Kubernetes(KsaToken),
}

/// Reads the token file at `path` safely, by `deadline`, and tells which kind of token it holds
/// by its issuer.
pub async fn read_file_token(path: &Path, deadline: Instant) -> Result<FileToken, StageError> {
    let text = read_text(path, deadline).await?;
    match IdToken::decode(&text) {
        Ok(google) if google.claims.issued_by_google() => Ok(FileToken::Google(google)),
        _ => decode(path, &text).map(FileToken::Kubernetes),
    }
}

/// Reads and decodes the token at `path`, safely (see the module's notes), by `deadline`.
pub async fn read_token(path: &Path, deadline: Instant) -> Result<KsaToken, StageError> {
    let text = read_text(path, deadline).await?;
    decode(path, &text)
}

fn decode(path: &Path, text: &str) -> Result<KsaToken, StageError> {
    KsaToken::decode(text).map_err(|why| {
        StageError::new(
            STAGE,
            "NotAToken",
            format!("{}: {why}", path.display()),
            "--token-file (AWS_WEB_IDENTITY_TOKEN_FILE) must name the file of a projected serviceAccountToken volume, \
             which holds one Kubernetes service-account token (a JWT).",
        )
    })
}

/// The token file's text, read safely, by `deadline`: for a caller that decides what kind of
/// token it holds (a Google ID token kept by `token-file`, or a projected KSA token).
pub async fn read_text(path: &Path, deadline: Instant) -> Result<String, StageError> {
    let owned = path.to_owned();
    let read = tokio::task::spawn_blocking(move || read_inside_volume(&owned));
    match tokio::time::timeout_at(deadline, read).await {
        Err(_) => Err(StageError::new(
            STAGE,
            "Timeout",
            format!("reading {} did not finish before the deadline", path.display()),
            "The token file's filesystem is not answering; a projected volume lives in memory and answers at once.",
        )),
        Ok(Err(join)) => Err(StageError::new(
            STAGE,
            "TokenFileUnreadable",
            join.to_string(),
            "Report this as a bug.",
        )),
        Ok(Ok(result)) => result.map_err(|failure| diagnose(path, failure)),
    }
}

fn diagnose(path: &Path, failure: ReadFailure) -> StageError {
    let shown = path.display();
    match failure {
        ReadFailure::Io(e) if e.kind() == io::ErrorKind::NotFound => StageError::new(
            STAGE,
            "TokenFileMissing",
            format!("{shown}: {e}"),
            format!(
                "No token at {shown}. Mount a projected serviceAccountToken volume (audience sts.amazonaws.com, \
                 expirationSeconds 3600, path token) at {} in this container, or fix --token-file \
                 (AWS_WEB_IDENTITY_TOKEN_FILE).",
                folder_of(path).display()
            ),
        ),
        ReadFailure::Io(e) if e.kind() == io::ErrorKind::PermissionDenied => StageError::new(
            STAGE,
            "TokenFileUnreadable",
            format!("{shown}: {e}"),
            "The container's user may not read the projected token: set the pod's securityContext.fsGroup (or run \
             as the user the kubelet gives the file to), or fix --token-file.",
        ),
        ReadFailure::Io(e) => StageError::new(
            STAGE,
            "TokenFileUnreadable",
            format!("{shown}: {e}"),
            "Point --token-file (AWS_WEB_IDENTITY_TOKEN_FILE) at the token file of a projected serviceAccountToken volume.",
        ),
        ReadFailure::Unsafe(why) => StageError::new(
            STAGE,
            "TokenFileRefused",
            format!("{shown}: {why}"),
            "The token must be a small regular file inside its volume's folder, reached through symlinks that stay in \
             that folder (as the kubelet writes projected volumes). Point --token-file at the projected volume's file.",
        ),
    }
}

/// The walk, open and read, retried when the kubelet swaps the volume under us.
fn read_inside_volume(path: &Path) -> Result<String, ReadFailure> {
    let mut attempt = 1;
    loop {
        match resolve_inside(path).and_then(|real| read_regular(&real)) {
            Err(ReadFailure::Io(e)) if attempt < ATTEMPTS && swapped_under_us(&e) => attempt += 1,
            result => return result,
        }
    }
}

/// NotFound: the old timestamped folder was removed; ELOOP: a link appeared where we open.
fn swapped_under_us(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(libc::ELOOP)
}

/// Follows `path`'s symlinks one hop at a time, refusing any that leaves the folder `path`
/// is in; returns the file's real path, with no symlink left in it.
fn resolve_inside(path: &Path) -> Result<PathBuf, ReadFailure> {
    let volume = fs::canonicalize(folder_of(path))?;
    let name = path
        .file_name()
        .ok_or_else(|| ReadFailure::Unsafe("the path names a folder, not a file".into()))?;
    let mut pending: VecDeque<OsString> = VecDeque::from([name.to_owned()]);
    let mut resolved = volume.clone();
    let mut hops = 0;
    while let Some(step) = pending.pop_front() {
        if step == ".." {
            if resolved == volume {
                return Err(ReadFailure::Unsafe("a symlink leads out of the volume's folder".into()));
            }
            resolved.pop();
            continue;
        }
        let candidate = resolved.join(&step);
        if !fs::symlink_metadata(&candidate)?.file_type().is_symlink() {
            resolved = candidate;
            continue;
        }
        hops += 1;
        if hops > MAX_SYMLINK_HOPS {
            return Err(ReadFailure::Unsafe(format!(
                "more than {MAX_SYMLINK_HOPS} symlinks to follow"
            )));
        }
        let target = fs::read_link(&candidate)?;
        let relative = if target.is_absolute() {
            let inside = target.strip_prefix(&volume).map_err(|_| {
                ReadFailure::Unsafe(format!(
                    "a symlink points out of the volume's folder, to {}",
                    target.display()
                ))
            })?;
            resolved = volume.clone();
            inside.to_owned()
        } else {
            target
        };
        for component in relative.components().rev() {
            match component {
                Component::Normal(name) => pending.push_front(name.to_owned()),
                Component::ParentDir => pending.push_front("..".into()),
                Component::CurDir | Component::RootDir | Component::Prefix(_) => {}
            }
        }
    }
    Ok(resolved)
}

/// Opens `real` without following a link or blocking on a FIFO, and reads it only if the
/// opened file is a regular file no larger than [`MAX_TOKEN_BYTES`].
fn read_regular(real: &Path) -> Result<String, ReadFailure> {
    let listed = fs::symlink_metadata(real)?;
    // Checked before opening too: opening some devices has effects of its own.
    refuse_unless_regular(&listed)?;
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(real)?;
    let opened = file.metadata()?;
    refuse_unless_regular(&opened)?;
    if (opened.dev(), opened.ino()) != (listed.dev(), listed.ino()) {
        return Err(ReadFailure::Io(io::Error::from_raw_os_error(libc::ELOOP)));
    }
    read_bounded(file)
}

fn refuse_unless_regular(metadata: &fs::Metadata) -> Result<(), ReadFailure> {
    let kind = metadata.file_type();
    let what = if kind.is_file() {
        if metadata.len() > MAX_TOKEN_BYTES {
            return Err(ReadFailure::Unsafe(format!(
                "{} bytes, more than a token's {MAX_TOKEN_BYTES}",
                metadata.len()
            )));
        }
        return Ok(());
    } else if kind.is_dir() {
        "a folder"
    } else if kind.is_fifo() {
        "a FIFO"
    } else if kind.is_char_device() || kind.is_block_device() {
        "a device"
    } else if kind.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    };
    Err(ReadFailure::Unsafe(format!("{what}, not a regular file")))
}

fn read_bounded(file: File) -> Result<String, ReadFailure> {
    let mut bytes = Vec::new();
    file.take(MAX_TOKEN_BYTES + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_TOKEN_BYTES {
        return Err(ReadFailure::Unsafe(format!(
            "it grew past a token's {MAX_TOKEN_BYTES} bytes while read"
        )));
    }
    String::from_utf8(bytes).map_err(|_| ReadFailure::Unsafe("not text (a token is ASCII)".into()))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;
    use std::time::Duration;

    use super::*;
    use crate::identity::ksa_token::{self, tests::projected};

    const AUD: &str = r#"["sts.amazonaws.com"]"#;

    fn soon() -> Instant {
        Instant::now() + Duration::from_secs(10)
    }

    /// A projected volume as the kubelet lays it out, in a fresh folder.
    fn kubelet_volume(token: &str) -> (tempfile::TempDir, PathBuf) {
        let root = tempfile::tempdir().unwrap();
        let volume = root.path().join("aws-token");
        let data = volume.join("..2026_11_30_08_00_00.123456789");
        fs::create_dir_all(&data).unwrap();
        fs::write(data.join("token"), token).unwrap();
        symlink("..2026_11_30_08_00_00.123456789", volume.join("..data")).unwrap();
        symlink("..data/token", volume.join("token")).unwrap();
        (root, volume.join("token"))
    }

    /// Read, then the local checks, as the cluster identity stage does.
    async fn checked_token(path: &Path, audience: &str, now: i64, deadline: Instant) -> Result<KsaToken, StageError> {
        let token = read_token(path, deadline).await?;
        ksa_token::check(&token, audience, now)?;
        Ok(token)
    }

    #[tokio::test]
    async fn reads_through_the_kubelets_symlinks() {
        let raw = projected(AUD, 1000, 4600);
        let (_root, path) = kubelet_volume(&raw);
        let token = checked_token(&path, "sts.amazonaws.com", 2000, soon()).await.unwrap();
        assert_eq!(token.expose(), raw);
        assert_eq!(token.claims.service_account(), Some(("team", "reader")));
        // An absolute link that stays inside the volume is followed too.
        let absolute = path.with_file_name("absolute");
        symlink(
            path.parent().unwrap().canonicalize().unwrap().join("..data/token"),
            &absolute,
        )
        .unwrap();
        assert_eq!(read_token(&absolute, soon()).await.unwrap().expose(), raw);
    }

    #[tokio::test]
    async fn refuses_what_is_not_a_small_regular_file_inside_the_volume() {
        let (root, path) = kubelet_volume(&projected(AUD, 1000, 4600));
        let volume = path.parent().unwrap();
        let outside = root.path().join("elsewhere");
        fs::write(&outside, projected(AUD, 1000, 4600)).unwrap();
        symlink(&outside, volume.join("absolute-out")).unwrap();
        symlink("../elsewhere", volume.join("relative-out")).unwrap();
        symlink("..data/../../elsewhere", volume.join("through-data-out")).unwrap();
        symlink("loop", volume.join("loop")).unwrap();
        let fifo = volume.join("fifo");
        let c_path = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
        fs::write(volume.join("big"), vec![b'a'; MAX_TOKEN_BYTES as usize + 1]).unwrap();
        fs::write(volume.join("binary"), [0xff, 0xfe, b'.']).unwrap();
        symlink("/dev/zero", volume.join("device")).unwrap();
        fs::write(volume.join("html"), "<html>login</html>").unwrap();
        for (name, code, says) in [
            ("absolute-out", "TokenFileRefused", "out of the volume"),
            ("relative-out", "TokenFileRefused", "out of the volume"),
            ("through-data-out", "TokenFileRefused", "out of the volume"),
            ("loop", "TokenFileRefused", "symlinks to follow"),
            ("fifo", "TokenFileRefused", "a FIFO"),
            ("big", "TokenFileRefused", "more than"),
            ("binary", "TokenFileRefused", "not text"),
            ("device", "TokenFileRefused", "out of the volume"),
            ("..data", "TokenFileRefused", "a folder"),
            ("missing", "TokenFileMissing", "No such file"),
            ("html", "NotAToken", "not a JWT"),
        ] {
            let error = read_token(&volume.join(name), soon()).await.unwrap_err();
            assert_eq!((error.code.as_str(), error.stage), (code, STAGE), "{name}: {error}");
            assert!(error.message.contains(says), "{name}: {error}");
        }
        let missing = read_token(&volume.join("missing"), soon()).await.unwrap_err();
        assert!(
            missing.hint.contains("projected serviceAccountToken volume"),
            "{}",
            missing.hint
        );
    }

    #[tokio::test]
    async fn a_device_in_the_volume_itself_is_refused_before_it_is_opened() {
        let path = Path::new("/dev/null");
        let error = read_token(path, soon()).await.unwrap_err();
        assert_eq!(error.code, "TokenFileRefused", "{error}");
        assert!(error.message.contains("a device"), "{error}");
    }

    #[tokio::test]
    async fn unreadable_files_name_the_fix() {
        let error = if crate::secret_file::running_user() == 0 {
            // Root reads any file: the diagnosis alone (tests/rust/unprivileged.sh runs the
            // real case as nobody).
            let denied = io::Error::from(io::ErrorKind::PermissionDenied);
            diagnose(Path::new("/var/run/secrets/aws/token"), ReadFailure::Io(denied))
        } else {
            use std::os::unix::fs::PermissionsExt;
            let (_root, path) = kubelet_volume(&projected(AUD, 1000, 4600));
            fs::set_permissions(fs::canonicalize(&path).unwrap(), fs::Permissions::from_mode(0o000)).unwrap();
            read_token(&path, soon()).await.unwrap_err()
        };
        assert_eq!(error.code, "TokenFileUnreadable", "{error}");
        assert!(error.hint.contains("fsGroup"), "{}", error.hint);
    }

    #[tokio::test]
    async fn a_file_is_told_google_or_kubernetes_by_its_issuer() {
        let (_root, path) = kubelet_volume(&projected(AUD, 1000, 4600));
        assert!(matches!(
            read_file_token(&path, soon()).await,
            Ok(FileToken::Kubernetes(_))
        ));
        let google = crate::identity::id_token::tests::token_with(
            r#"{"alg":"RS256"}"#,
            r#"{"iss":"https://accounts.google.com","aud":"sts.amazonaws.com","azp":"1","sub":"1","iat":1,"exp":2}"#,
        );
        let (_root, path) = kubelet_volume(&google);
        assert!(matches!(read_file_token(&path, soon()).await, Ok(FileToken::Google(_))));
        let (_root, path) = kubelet_volume("<html>login</html>");
        assert_eq!(read_file_token(&path, soon()).await.unwrap_err().code, "NotAToken");
    }

    #[tokio::test]
    async fn the_local_checks_apply_after_reading() {
        let (_root, path) = kubelet_volume(&projected(AUD, 1000, 4600));
        let error = checked_token(&path, "other", 2000, soon()).await.unwrap_err();
        assert_eq!(error.code, "AudienceMismatch");
    }
}
