//! Google-style ID tokens: the claims, RS256 signing and the JWKS that verifies them.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::digest::{SHA256, digest};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_SHA256};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;

/// The issuer of ID tokens minted for service accounts.
pub const ISSUER: &str = "https://accounts.google.com";

/// An RSA-2048 key pair that signs tokens with RS256, named by a `kid`.
///
/// Generated in memory at start: no private key ever lives in the repository.
pub struct SigningKey {
    pair: KeyPair,
    kid: String,
    /// The public modulus and exponent, big-endian without leading zeros.
    n: Vec<u8>,
    e: Vec<u8>,
    rng: SystemRandom,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Generates a fresh key. CPU-bound (tens of milliseconds): call it off the async
    /// runtime, e.g. in `spawn_blocking`.
    pub fn generate() -> std::io::Result<SigningKey> {
        let pair =
            KeyPair::generate(KeySize::Rsa2048).map_err(|_| std::io::Error::other("RSA-2048 key generation failed"))?;
        let public = pair.public_key();
        let n = public.modulus().big_endian_without_leading_zero().to_vec();
        let e = public.exponent().big_endian_without_leading_zero().to_vec();
        // Google's kids are 40 hex digits; derive ours from the modulus so it is stable
        // for the key's life and differs between keys.
        let kid = hex(&digest(&SHA256, &n).as_ref()[..20]);
        Ok(SigningKey {
            pair,
            kid,
            n,
            e,
            rng: SystemRandom::new(),
        })
    }

    /// The key id that tokens carry in their header and the JWKS lists.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public key as a JWK Set, shaped like `https://www.googleapis.com/oauth2/v3/certs`.
    pub fn jwks(&self) -> serde_json::Value {
        serde_json::json!({
            "keys": [{
                "kty": "RSA",
                "alg": "RS256",
                "use": "sig",
                "kid": self.kid,
                "n": URL_SAFE_NO_PAD.encode(&self.n),
                "e": URL_SAFE_NO_PAD.encode(&self.e),
            }]
        })
    }

    /// Serializes `claims` and signs them: `header.payload.signature`, all base64url.
    /// The header is Google's: `alg`, `kid`, `typ`.
    pub fn sign(&self, claims: &Claims) -> std::io::Result<String> {
        self.sign_json(
            &serde_json::json!({ "alg": "RS256", "kid": self.kid, "typ": "JWT" }),
            claims,
        )
    }

    /// Signs any claims under `header` (which must say `alg: RS256`).
    pub(crate) fn sign_json(&self, header: &serde_json::Value, claims: &impl Serialize) -> std::io::Result<String> {
        let signing_input = format!("{}.{}", encode_json(header)?, encode_json(claims)?);
        let mut signature = vec![0; self.pair.public_modulus_len()];
        self.pair
            .sign(&RSA_PKCS1_SHA256, &self.rng, signing_input.as_bytes(), &mut signature)
            .map_err(|_| std::io::Error::other("RS256 signing failed"))?;
        Ok(format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature)))
    }
}

/// The claims of an ID token the metadata server mints for a service account.
///
/// Field order is alphabetical, as in Google's tokens.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Claims {
    /// The `audience` query parameter.
    pub aud: String,
    /// The GSA's unique id (same as `sub`).
    pub azp: String,
    /// The GSA's email, only with `format=full`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Always `true` alongside `email`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
    /// Expiry, seconds since the Unix epoch.
    pub exp: u64,
    /// Issue time, seconds since the Unix epoch.
    pub iat: u64,
    /// Always [`ISSUER`].
    pub iss: String,
    /// The GSA's unique id.
    pub sub: String,
}

/// What one identity request asks for, and the server settings that shape the answer.
pub struct TokenRequest<'a> {
    /// The `audience` query parameter.
    pub audience: &'a str,
    /// `format=full` adds `email` and `email_verified`.
    pub full_format: bool,
    /// The GSA's email.
    pub email: &'a str,
    /// The GSA's unique id.
    pub unique_id: &'a str,
    /// `exp - iat`.
    pub lifetime: Duration,
    /// Back-date the token so that it expired an hour ago.
    pub expired: bool,
}

impl Claims {
    /// The claims Google puts in an ID token for `request`, issued at `now`.
    pub fn new(request: &TokenRequest<'_>, now: SystemTime) -> Claims {
        let now = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        let lifetime = request.lifetime.as_secs();
        let iat = if request.expired {
            now.saturating_sub(lifetime + 3600)
        } else {
            now
        };
        Claims {
            aud: request.audience.to_owned(),
            azp: request.unique_id.to_owned(),
            email: request.full_format.then(|| request.email.to_owned()),
            email_verified: request.full_format.then_some(true),
            exp: iat + lifetime,
            iat,
            iss: ISSUER.to_owned(),
            sub: request.unique_id.to_owned(),
        }
    }
}

fn encode_json<T: Serialize>(value: &T) -> std::io::Result<String> {
    Ok(URL_SAFE_NO_PAD.encode(serde_json::to_vec(value)?))
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use aws_lc_rs::rsa::PublicKeyComponents;
    use aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256;

    use super::*;

    fn request(full_format: bool, expired: bool) -> TokenRequest<'static> {
        TokenRequest {
            audience: "sts.amazonaws.com",
            full_format,
            email: "sa@p.iam.gserviceaccount.com",
            unique_id: "112233445566778899001",
            lifetime: Duration::from_secs(3600),
            expired,
        }
    }

    #[test]
    fn standard_claims_have_no_email_and_full_claims_do() {
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let standard = Claims::new(&request(false, false), now);
        assert_eq!((standard.email, standard.email_verified), (None, None));
        assert_eq!((standard.iat, standard.exp), (1_700_000_000, 1_700_003_600));
        assert_eq!(standard.azp, standard.sub);
        let full = Claims::new(&request(true, false), now);
        assert_eq!(full.email.as_deref(), Some("sa@p.iam.gserviceaccount.com"));
        assert_eq!(full.email_verified, Some(true));
    }

    #[test]
    fn expired_claims_keep_the_lifetime_but_end_an_hour_ago() {
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let claims = Claims::new(&request(false, true), now);
        assert_eq!(claims.exp, 1_700_000_000 - 3600);
        assert_eq!(claims.exp - claims.iat, 3600);
    }

    #[test]
    fn signed_token_verifies_with_the_public_components() {
        let key = SigningKey::generate().expect("key");
        let token = key
            .sign(&Claims::new(&request(true, false), SystemTime::now()))
            .expect("sign");
        let (input, signature) = token.rsplit_once('.').expect("three parts");
        let public = PublicKeyComponents {
            n: &key.n[..],
            e: &key.e[..],
        };
        let signature = URL_SAFE_NO_PAD.decode(signature).expect("base64url");
        public
            .verify(&RSA_PKCS1_2048_8192_SHA256, input.as_bytes(), &signature)
            .expect("signature verifies");
        assert_eq!(key.kid().len(), 40);
        assert_eq!(key.jwks()["keys"][0]["kid"], key.kid());
    }
}
