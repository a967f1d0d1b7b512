//! `session_name::from_pod_name` (from `HOSTNAME`). Invariants: never panics, and the
//! result is always a valid STS session name by `session_name::explicit` (2-64 characters
//! of [A-Za-z0-9_+=,.@-]), which accepts it unchanged; a pod name that is already valid
//! and has no leading or trailing '-' is kept as is.
#![no_main]

use gke_aws_verifier::session_name;
use libfuzzer_sys::fuzz_target;

fn check(pod: Option<&str>) {
    let name = session_name::from_pod_name(pod);
    assert!((2..=64).contains(&name.len()), "{pod:?} -> {name:?}");
    assert!(
        name.chars().all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c)),
        "{pod:?} -> {name:?}"
    );
    assert_eq!(session_name::explicit(&name).as_deref(), Ok(name.as_str()), "{pod:?}");
    if let Some(pod) = pod
        && session_name::explicit(pod).is_ok()
        && !pod.starts_with('-')
        && !pod.ends_with('-')
    {
        assert_eq!(name, pod, "a valid pod name is kept");
    }
}

fuzz_target!(|data: &[u8]| {
    check(None);
    // Any bytes: HOSTNAME read lossily, as an OsString would be.
    check(Some(&String::from_utf8_lossy(data)));
    // And the explicit check itself must never panic on arbitrary text.
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = session_name::explicit(text);
    }
});
