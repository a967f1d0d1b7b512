//! `IdToken::decode`: whatever the metadata server (or a proxy in front of it) answers.
//! Invariants: never panics; on success the kept token is exactly the trimmed body, it has
//! three dot-separated parts with a non-empty signature, and the claims survive a JSON
//! round trip; `Debug` never shows the token.
#![no_main]

use gke_aws_verifier::identity::id_token::{Claims, DecodeError, IdToken};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(body) = std::str::from_utf8(data) else {
        return;
    };
    match IdToken::decode(body) {
        Ok(token) => {
            let trimmed = body.trim();
            assert_eq!(token.expose(), trimmed, "the token must be the trimmed body");
            let parts: Vec<&str> = trimmed.split('.').collect();
            assert_eq!(parts.len(), 3, "a decoded token has three parts");
            assert!(!parts[2].is_empty(), "a decoded token has a signature");
            let json = serde_json::to_string(&token.claims).expect("claims serialize");
            let again: Claims = serde_json::from_str(&json).expect("serialized claims parse");
            assert_eq!(again, token.claims, "claims round-trip through JSON");
            let _ = token.claims.issued_by_google();
            let _ = token.claims.seconds_left(0);
            let shown = format!("{token:?}");
            assert!(
                trimmed.len() < 8 || !shown.contains(trimmed),
                "Debug must not show the token: {shown}"
            );
        }
        Err(e) => {
            // Error text is what the user sees: it must render, and never carry the token.
            let shown = e.to_string();
            assert!(!shown.is_empty());
            if let DecodeError::UnexpectedAlgorithm(alg) = &e {
                assert_ne!(alg, "RS256");
            }
        }
    }
});
