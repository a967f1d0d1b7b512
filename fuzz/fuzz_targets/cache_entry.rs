//! `cache::Entry::parse` and what decides whether an entry is served: a cache file as found on
//! disk (another helper's, a truncated one, a planted one). Invariants: never panics; on
//! `Some` the entry is complete (version 1, every key, an `Expiration` that is `expires_at`),
//! it round-trips through its file format, its `Debug` (used in logs) hides the secret key;
//! it is served only for exactly what it was obtained for, and only while usable; and its
//! file name is one path component, whatever the role ARN holds.
#![no_main]

use gke_aws_verifier::credentials::cache::{self, Entry, ObtainedFor, REFRESH_MARGIN_SECS};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The file name comes from what the entry claims to be for: any text must make one
    // component, never a path.
    if let Ok(obtained_for) = serde_json::from_slice::<ObtainedFor>(data) {
        check_file_name(&obtained_for);
    }
    let Some(entry) = Entry::parse(data) else {
        return;
    };
    let creds = &entry.credentials;
    assert_eq!(creds.version, 1);
    assert!(!creds.access_key_id.is_empty() && !creds.secret_access_key.is_empty() && !creds.session_token.is_empty());
    assert!(creds.complete(entry.expires_at));
    check_file_name(&entry.obtained_for);

    let json = serde_json::to_vec(&entry).expect("an entry serializes");
    let again = Entry::parse(&json).expect("a serialized entry parses");
    assert_eq!(again, entry, "an entry round-trips through its file format");

    // Served for what it was obtained for while fresh; never for anything else.
    for now in [
        i64::MIN,
        0,
        entry.expires_at.saturating_sub(REFRESH_MARGIN_SECS + 1),
        entry.expires_at,
        i64::MAX,
    ] {
        if entry.serves(&entry.obtained_for, now) {
            assert!(creds.usable(entry.expires_at, now), "served an unusable entry at {now}");
            assert!(entry.expires_at.saturating_sub(now) > REFRESH_MARGIN_SECS);
        }
        let mut other = entry.obtained_for.clone();
        other.session_name.push('x');
        assert!(!entry.serves(&other, now), "served for another session");
        let mut other = entry.obtained_for.clone();
        other.sts_endpoint.push('x');
        assert!(!entry.serves(&other, now), "served for another STS endpoint");
    }

    let _ = format!("{entry:?}");
    // The credentials' Debug must not show the secret key (unless the fuzzer made the secret
    // a substring of what is meant to be shown, e.g. the expiration).
    let shown = format!("{creds:?}");
    let secret = creds.secret_access_key.as_str();
    assert!(
        secret.len() < 8
            || !shown.contains(secret)
            || creds.expiration.contains(secret)
            || creds.access_key_id.contains(secret),
        "Debug of the credentials shows the secret key: {shown}"
    );
});

fn check_file_name(obtained_for: &ObtainedFor) {
    let name = cache::entry_file_name(obtained_for);
    assert!(!name.contains('/') && !name.contains('\0'), "{name:?}");
    assert!(name.ends_with(".json") && name.len() <= 40 + 1 + 64 + 5, "{name:?}");
}
