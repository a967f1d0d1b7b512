//! `KsaToken::decode`, `check` and the report's details: whatever a token file holds (cluster
//! mode reads a file any container of the pod may have written).
//! Invariants: never panics; on success the kept token is exactly the trimmed text, with three
//! parts and a signature; the local checks and the details render at any clock, absurd times
//! included; neither `Debug` nor an error shows the token.
#![no_main]

use gke_aws_verifier::identity::ksa_token::{self, ClusterIdentity, KsaToken};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&now_byte, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let trimmed = text.trim();
    match KsaToken::decode(text) {
        Ok(token) => {
            assert_eq!(token.expose(), trimmed, "the token must be the trimmed text");
            let parts: Vec<&str> = trimmed.split('.').collect();
            assert_eq!(parts.len(), 3, "a decoded token has three parts");
            assert!(!parts[2].is_empty(), "a decoded token has a signature");
            let shown = format!("{token:?}");
            assert!(trimmed.len() < 8 || !shown.contains(trimmed), "Debug shows the token: {shown}");
            // Clocks at the edges too: the arithmetic must never overflow.
            let now = match now_byte % 4 {
                0 => 0,
                1 => i64::MIN,
                2 => i64::MAX,
                _ => token.claims.iat,
            };
            for audience in ["sts.amazonaws.com", ""] {
                if let Err(e) = ksa_token::check(&token, audience, now) {
                    assert!(!e.message.contains(trimmed) && !e.hint.contains(trimmed), "an error shows the token");
                }
            }
            let details = ClusterIdentity::new(&token.claims, now);
            let json = serde_json::to_string(&details).expect("details serialize");
            assert!(trimmed.len() < 8 || !json.contains(trimmed), "the details show the token");
        }
        Err(why) => {
            assert!(!why.is_empty());
            // A token-shaped text (two dots, as a JWT) is never echoed; the messages' own
            // words may of course contain a short or dotless input.
            let token_shaped = trimmed.len() >= 8 && trimmed.matches('.').count() >= 2;
            assert!(!token_shaped || !why.contains(trimmed), "the error shows the text: {why}");
        }
    }
});
