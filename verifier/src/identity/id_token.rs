//! The Google-signed ID token: decoding its claims and the checks that can be made locally.
//! The signature is AWS's to check (it fetches Google's keys); we only make sure a failure
//! later can be explained, and never print the token itself.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

/// Issuers Google writes into ID tokens (both forms occur; AWS accepts both).
const GOOGLE_ISSUERS: [&str; 2] = ["https://accounts.google.com", "accounts.google.com"];

/// The last second a claim may name: the end of year 9999, RFC 3339's last. An `iat` or `exp`
/// outside 1970..=9999 is not a time, and arithmetic on it could overflow (an `exp` of -2^63
/// would otherwise pass for valid for 292 billion years).
pub const LATEST_TIME: i64 = 253_402_300_799;

/// The claims AWS's `accounts.google.com` provider looks at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    /// The audience the token was minted for (`accounts.google.com:oaud` in AWS conditions).
    pub aud: String,
    /// The GSA's numeric unique id (`accounts.google.com:aud` in AWS conditions).
    #[serde(default)]
    pub azp: String,
    /// Also the GSA's unique id (`accounts.google.com:sub`).
    pub sub: String,
    /// Present with `format=full`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    pub iat: i64,
    pub exp: i64,
}

/// Why a body is not a usable Google ID token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// Not three dot-separated base64url parts (HTML, plain text, an empty body).
    NotAJwt,
    /// A JWT, but not signed with RS256 as Google's are.
    UnexpectedAlgorithm(String),
    /// A JWT whose header or claims are not JSON, or lack `iss`, `aud`, `sub`, `iat` or `exp`.
    MalformedClaims(String),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::NotAJwt => {
                f.write_str("the body is not a JWT (expected three base64url parts separated by dots)")
            }
            DecodeError::UnexpectedAlgorithm(alg) => {
                write!(f, "the JWT is signed with {alg:?}, Google signs ID tokens with RS256")
            }
            DecodeError::MalformedClaims(why) => {
                write!(f, "the JWT's claims are unreadable: {why}")
            }
        }
    }
}

/// An ID token as received: the raw text (only ever sent to STS or written where asked) and its claims.
#[derive(Clone)]
pub struct IdToken {
    raw: String,
    pub claims: Claims,
}

impl fmt::Debug for IdToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdToken")
            .field("raw", &"<redacted>")
            .field("claims", &self.claims)
            .finish()
    }
}

#[derive(Deserialize)]
struct Header {
    alg: String,
}

impl IdToken {
    /// Decodes the token's header and claims, without checking the signature.
    pub fn decode(raw: &str) -> Result<Self, DecodeError> {
        let raw = raw.trim();
        let parts: Vec<&str> = raw.split('.').collect();
        let [header, claims, signature] = parts[..] else {
            return Err(DecodeError::NotAJwt);
        };
        if signature.is_empty() {
            return Err(DecodeError::NotAJwt);
        }
        let json = |part: &str| URL_SAFE_NO_PAD.decode(part).map_err(|_| DecodeError::NotAJwt);
        let header: Header =
            serde_json::from_slice(&json(header)?).map_err(|e| DecodeError::MalformedClaims(format!("header: {e}")))?;
        if header.alg != "RS256" {
            return Err(DecodeError::UnexpectedAlgorithm(header.alg));
        }
        let claims: Claims =
            serde_json::from_slice(&json(claims)?).map_err(|e| DecodeError::MalformedClaims(e.to_string()))?;
        claims.check_times()?;
        Ok(Self {
            raw: raw.to_owned(),
            claims,
        })
    }

    /// The token itself: for STS and the token file only, never for logs or reports.
    pub fn expose(&self) -> &str {
        &self.raw
    }
}

impl Claims {
    pub fn issued_by_google(&self) -> bool {
        GOOGLE_ISSUERS.contains(&self.iss.as_str())
    }

    /// Seconds until expiry by the local clock (negative once expired).
    pub fn seconds_left(&self, now: i64) -> i64 {
        self.exp.saturating_sub(now)
    }

    /// `iat` and `exp` are times (1970 to 9999) and `exp` comes after `iat`: then every
    /// difference of them and of the clock fits an `i64`.
    fn check_times(&self) -> Result<(), DecodeError> {
        let time = 0..=LATEST_TIME;
        if !time.contains(&self.iat) || !time.contains(&self.exp) {
            return Err(DecodeError::MalformedClaims(format!(
                "iat {} or exp {} is not a time between 1970 and 9999",
                self.iat, self.exp
            )));
        }
        if self.exp <= self.iat {
            return Err(DecodeError::MalformedClaims(format!(
                "exp {} is not after iat {}",
                self.exp, self.iat
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A token with the given claims JSON; the signature is not checked, so any bytes do.
    pub fn token_with(header: &str, claims: &str) -> String {
        format!(
            "{}.{}.c2lnbmF0dXJl",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(claims)
        )
    }

    const CLAIMS: &str = r#"{"iss":"https://accounts.google.com","aud":"sts.amazonaws.com","azp":"1122","sub":"1122","email":"v@p.iam.gserviceaccount.com","email_verified":true,"iat":1000,"exp":4600}"#;

    #[test]
    fn decodes_google_claims() {
        let token = IdToken::decode(&token_with(r#"{"alg":"RS256","kid":"k","typ":"JWT"}"#, CLAIMS)).unwrap();
        assert_eq!(token.claims.aud, "sts.amazonaws.com");
        assert_eq!((token.claims.azp.as_str(), token.claims.sub.as_str()), ("1122", "1122"));
        assert_eq!(token.claims.email.as_deref(), Some("v@p.iam.gserviceaccount.com"));
        assert_eq!(token.claims.seconds_left(4000), 600);
        assert!(token.claims.issued_by_google());
    }

    #[test]
    fn rejects_what_is_not_a_google_token() {
        for (case, body, expected) in [
            (
                "html from a proxy",
                "<html><body>Sign in</body></html>".to_owned(),
                DecodeError::NotAJwt,
            ),
            ("empty body", String::new(), DecodeError::NotAJwt),
            ("two parts", "abc.def".to_owned(), DecodeError::NotAJwt),
            ("not base64", "a!b.c!d.e!f".to_owned(), DecodeError::NotAJwt),
            (
                "unsigned",
                format!(
                    "{}.",
                    token_with(r#"{"alg":"none"}"#, CLAIMS).rsplit_once('.').unwrap().0
                ),
                DecodeError::NotAJwt,
            ),
            (
                "hs256",
                token_with(r#"{"alg":"HS256"}"#, CLAIMS),
                DecodeError::UnexpectedAlgorithm("HS256".into()),
            ),
        ] {
            assert_eq!(IdToken::decode(&body).unwrap_err(), expected, "{case}");
        }
        let missing_exp = token_with(r#"{"alg":"RS256"}"#, r#"{"iss":"x","aud":"a","sub":"1","iat":1}"#);
        assert!(matches!(
            IdToken::decode(&missing_exp),
            Err(DecodeError::MalformedClaims(_))
        ));
    }

    #[test]
    fn absurd_times_are_not_a_token() {
        for (iat, exp) in [
            (i64::MIN, i64::MIN),
            (1000, i64::MIN),
            (-1, 4600),
            (1000, -1),
            (1000, i64::MAX),
            (i64::MAX, i64::MAX),
            (1000, LATEST_TIME + 1),
            (4600, 1000),
            (1000, 1000),
        ] {
            let claims = CLAIMS
                .replace("\"iat\":1000", &format!("\"iat\":{iat}"))
                .replace("\"exp\":4600", &format!("\"exp\":{exp}"));
            let token = token_with(r#"{"alg":"RS256"}"#, &claims);
            assert!(
                matches!(IdToken::decode(&token), Err(DecodeError::MalformedClaims(_))),
                "iat {iat} exp {exp}"
            );
        }
        let latest = CLAIMS.replace("\"exp\":4600", &format!("\"exp\":{LATEST_TIME}"));
        let token = IdToken::decode(&token_with(r#"{"alg":"RS256"}"#, &latest)).unwrap();
        assert_eq!(token.claims.seconds_left(i64::MIN), i64::MAX, "saturates, never wraps");
        // Beyond i64 altogether: serde refuses it.
        let huge = CLAIMS.replace("\"exp\":4600", "\"exp\":99999999999999999999");
        assert!(IdToken::decode(&token_with(r#"{"alg":"RS256"}"#, &huge)).is_err());
    }

    #[test]
    fn debug_output_never_shows_the_token() {
        let raw = token_with(r#"{"alg":"RS256"}"#, CLAIMS);
        let token = IdToken::decode(&raw).unwrap();
        let shown = format!("{token:?}");
        assert!(!shown.contains(&raw) && !shown.contains("c2lnbmF0dXJl"), "{shown}");
    }
}
