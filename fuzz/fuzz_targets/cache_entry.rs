//! `cache::Entry::parse`: a cache file as found on disk (another helper's, a truncated
//! one, someone else's junk). Invariants: never panics; on `Some` the entry is complete
//! (version 1, non-empty key id and secret), it serializes with serde_json and parses back
//! to an equal entry, and its `Debug` (used in logs) renders without panicking and without
//! the secret key.
#![no_main]

use gke_aws_verifier::cache::Entry;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some(entry) = Entry::parse(data) else {
        return;
    };
    assert_eq!(entry.credentials.version, 1);
    assert!(!entry.credentials.access_key_id.is_empty());
    assert!(!entry.credentials.secret_access_key.is_empty());

    let json = serde_json::to_vec(&entry).expect("an entry serializes");
    let again = Entry::parse(&json).expect("a serialized entry parses");
    assert_eq!(again, entry, "an entry round-trips through its file format");

    // Debug of the whole entry must not panic (it is what a log line would show)...
    let _ = format!("{entry:?}");
    // ...and the credentials' Debug must not show the secret key (unless the fuzzer made
    // the secret a substring of what is meant to be shown, e.g. the expiration).
    let creds = &entry.credentials;
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
