//! `redact::redact` and `redact::cap`, the last line of defence for secrets in messages.
//! The input's first line is a secret and the rest the text around it; the secret is planted
//! in each spelling a peer may echo it in (STS's form body, its XML, credential JSON, a JWT).
//! Invariants: never panics; the planted secret never survives; no JWT-shaped word survives
//! in any text; `cap` is one line, bounded.
#![no_main]

use gke_aws_verifier::redact::{self, MESSAGE_LIMIT};
use libfuzzer_sys::fuzz_target;

/// Where the secret goes in a template (a control character: never part of a secret).
const SLOT: &str = "\u{1}";

/// The names whose values redact removes.
const NAMES: [&str; 4] = ["WebIdentityToken", "SessionToken", "SecretAccessKey", "Password"];

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    check_no_jwt_survives(text);
    check_cap(text);

    let (secret, around) = text.split_once('\n').unwrap_or((text, ""));
    // Secrets as STS and Google mint them: base64 or base64url, long enough to be one, and
    // not starting with padding (`=` only ever ends base64).
    let base64 = |b: u8| b.is_ascii_alphanumeric() || b"+/=-_".contains(&b);
    if secret.len() < 8 || !secret.bytes().all(base64) || secret.starts_with('=') || around.contains(SLOT) {
        return;
    }
    // The text around is a peer's message; planting inside a secret name's own spelling is
    // a different test (of a message built to defeat redaction), not this one.
    if NAMES.iter().any(|n| around.contains(n)) {
        return;
    }
    let middle = (0..=around.len() / 2)
        .rev()
        .find(|i| around.is_char_boundary(*i))
        .unwrap_or(0);
    let (before, after) = around.split_at(middle);
    let mut templates = vec![
        format!("{before}Action=AssumeRoleWithWebIdentity&WebIdentityToken={SLOT}&RoleArn=r{after}"),
        format!("{before}<SessionToken>{SLOT}</SessionToken>{after}"),
        format!("{before}{{\"SecretAccessKey\":\"{SLOT}\",\"Version\":1}}{after}"),
        format!("{before}<SecretAccessKey>{SLOT}</SecretAccessKey>{after}"),
        format!("{before}\"SessionToken\": \"{SLOT}\"{after}"),
    ];
    if !secret.contains(['+', '/']) {
        templates.push(format!("{before} eyJ{SLOT}.eyJ{SLOT}.{SLOT} {after}"));
    }
    for template in templates {
        // The secret may also be plain text of the message around it (`RoleArn=r…`): then
        // finding it says nothing. Judged on the message as a perfect redaction would leave it.
        if template.replace(SLOT, "<redacted>").contains(secret) {
            continue;
        }
        let message = template.replace(SLOT, secret);
        let out = redact::redact(&message);
        assert!(
            !out.contains(secret),
            "the secret survived:\n in: {message:?}\nout: {out:?}"
        );
        assert!(
            !redact::cap(&message).contains(secret),
            "cap kept the secret of {message:?}"
        );
    }
});

fn is_base64url(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

/// A JWS in compact form: a word starting `eyJ`, three base64url parts joined by dots.
fn check_no_jwt_survives(text: &str) {
    let out = redact::redact(text);
    let bytes = out.as_bytes();
    for start in 0..bytes.len() {
        if !bytes[start..].starts_with(b"eyJ")
            || (start > 0 && (is_base64url(bytes[start - 1]) || bytes[start - 1] == b'='))
        {
            continue;
        }
        let run: Vec<&[u8]> = bytes[start..]
            .split(|b| !(is_base64url(*b) || *b == b'.'))
            .next()
            .unwrap_or_default()
            .split(|b| *b == b'.')
            .collect();
        let jwt = run.len() >= 3 && run[..3].iter().all(|part| !part.is_empty());
        assert!(!jwt, "a JWT survived:\n in: {text:?}\nout: {out:?}");
    }
}

fn check_cap(text: &str) {
    let capped = redact::cap(text);
    assert!(!capped.contains(|c: char| c.is_control()), "{capped:?}");
    assert!(
        capped.chars().count() <= MESSAGE_LIMIT + "… (cut)".chars().count(),
        "{}",
        capped.len()
    );
}
