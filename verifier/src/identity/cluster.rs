//! Cluster mode's identity stage, whole: the projected token read safely, checked locally,
//! then its issuer checked as AWS will (unless `--skip-issuer-check`).

use tokio::time::Instant;

use super::issuer::{IssuerCheck, IssuerClient};
use super::ksa_token::{self, ClusterIdentity, KsaToken, KubernetesClaims};
use crate::error::StageError;

/// A projected KSA token that passed the checks, and what its issuer check found.
#[derive(Debug, Clone)]
pub struct ClusterToken {
    token: KsaToken,
    /// `None` when the issuer check was skipped.
    issuer: Option<IssuerCheck>,
}

impl ClusterToken {
    /// Checks a token read from its file for `audience` at `now` (Unix seconds), then its
    /// issuer through `issuer` (`None`: skipped), all by `deadline`.
    pub async fn check(
        token: KsaToken,
        audience: &str,
        issuer: Option<&IssuerClient>,
        now: i64,
        deadline: Instant,
    ) -> Result<Self, StageError> {
        ksa_token::check(&token, audience, now)?;
        let issuer = match issuer {
            Some(client) => Some(client.check(&token, deadline).await?),
            None => None,
        };
        Ok(Self { token, issuer })
    }

    /// The token itself: for STS only, never for logs or reports.
    pub fn expose(&self) -> &str {
        self.token.expose()
    }

    pub fn claims(&self) -> &KubernetesClaims {
        &self.token.claims
    }

    /// What the report shows: the claims, the issuer check's outcome, never the token.
    pub fn details(&self, now: i64) -> ClusterIdentity {
        let mut details = ClusterIdentity::new(&self.token.claims, now);
        details.issuer_note = match &self.issuer {
            Some(check) => check.note.clone(),
            None => Some("issuer not checked (--skip-issuer-check)".into()),
        };
        details.jwks_uri = self.issuer.as_ref().map(|check| check.jwks_uri.clone());
        details
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::identity::ksa_token::tests::projected as projected_token;
    use crate::identity::projected;

    #[tokio::test]
    async fn a_skipped_issuer_check_is_said_in_the_report() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("token");
        std::fs::write(&path, projected_token(r#"["sts.amazonaws.com"]"#, 1000, 4600)).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        let read = || async { projected::read_token(&path, deadline).await.unwrap() };
        let token = ClusterToken::check(read().await, "sts.amazonaws.com", None, 2000, deadline)
            .await
            .unwrap();
        let details = token.details(2000);
        assert_eq!(
            details.issuer_note.as_deref(),
            Some("issuer not checked (--skip-issuer-check)")
        );
        assert_eq!((details.jwks_uri, details.expires_in_s), (None, 2600));
        let wrong = ClusterToken::check(read().await, "other", None, 2000, deadline)
            .await
            .unwrap_err();
        assert_eq!(wrong.code, "AudienceMismatch");
    }
}
