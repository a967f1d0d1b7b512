//! `credential-process`: AWS's `credential_process` helper. Serves cached credentials while
//! they are fresh; otherwise one helper (under a file lock) runs the identity and STS stages
//! and refreshes the cache while any others wait for it.

use std::path::PathBuf;

use tokio::time::Instant;

use crate::aws::sdk::Endpoints;
use crate::aws::sts::{AssumedRole, RoleSettings};
use crate::chain;
use crate::clock::unix_now;
use crate::credentials::cache::{CredentialCache, ObtainedFor, ProcessCredentials};
use crate::error::{Failure, Stage, StageError};
use crate::identity::IdentitySettings;

#[derive(Debug, Clone)]
pub struct Settings {
    pub identity: IdentitySettings,
    pub role: RoleSettings,
    pub cache_dir: PathBuf,
    /// Where STS calls go: part of what a cached entry was obtained for.
    pub endpoints: Endpoints,
}

pub async fn run(settings: &Settings) -> Result<ProcessCredentials, Failure> {
    let deadline = Instant::now() + settings.identity.timeout;
    let cache = CredentialCache::open(&settings.cache_dir)?;
    let obtained_for = obtained_for(settings);
    if let Some(credentials) = cache.read_fresh(&obtained_for, unix_now())? {
        tracing::debug!("served from cache");
        return Ok(credentials);
    }

    let lock = cache.lock_file(&obtained_for)?;
    let waited = tokio::time::timeout_at(
        deadline,
        tokio::task::spawn_blocking(move || lock.lock().map(|()| lock)),
    )
    .await;
    let _lock = match waited {
        Ok(Ok(Ok(lock))) => lock,
        Ok(Ok(Err(e))) => return Err(Failure::Unexpected(format!("cannot lock the credential cache: {e}"))),
        Ok(Err(e)) => return Err(Failure::Unexpected(format!("cache lock task failed: {e}"))),
        Err(_) => return Err(lock_held(&cache.lock_path(&obtained_for), settings).into()),
    };
    // Whoever held the lock before us has most likely just refreshed the entry.
    if let Some(credentials) = cache.read_fresh(&obtained_for, unix_now())? {
        tracing::debug!("served from cache after waiting for another helper");
        return Ok(credentials);
    }

    let assumed = assume_role(settings, deadline).await?;
    let expires_at = assumed.expires_at();
    let credentials = ProcessCredentials {
        version: 1,
        access_key_id: assumed.credentials.access_key_id().to_owned(),
        secret_access_key: assumed.credentials.secret_access_key().to_owned(),
        session_token: assumed.credentials.session_token().unwrap_or_default().to_owned(),
        expiration: assumed.expiration_rfc3339(),
    };
    if let Err(e) = cache.store(&obtained_for, expires_at, &credentials) {
        tracing::warn!(error = %e, "could not write the credential cache; the next call will ask STS again");
    }
    Ok(credentials)
}

/// Everything that decides which credentials STS gives: the cache serves an entry only for
/// exactly these.
fn obtained_for(settings: &Settings) -> ObtainedFor {
    let role = &settings.role.request;
    ObtainedFor {
        role_arn: role.role_arn.as_str().to_owned(),
        audience: settings.identity.audience.clone(),
        session_name: role.session_name.clone(),
        duration_seconds: role.duration_seconds,
        sts_endpoint: settings.endpoints.sts_url(&settings.role.region),
        identity_source: settings.identity.source.describe(),
    }
}

/// The deadline passed while another helper held the cache lock: no network call was made.
fn lock_held(lock: &std::path::Path, settings: &Settings) -> StageError {
    StageError::new(
        Stage::Sts,
        "CacheLockTimeout",
        format!(
            "another credential-process held the cache lock {} for the whole --timeout ({}); STS was not called",
            lock.display(),
            humantime::format_duration(settings.identity.timeout)
        ),
        "Another helper for the same role is still waiting on STS, or a stuck process keeps the lock \
         (`fuser -v LOCKFILE` names it): end that process, or raise --timeout.",
    )
}

/// The chain's identity and STS stages, as `verify` runs them.
async fn assume_role(settings: &Settings, deadline: Instant) -> Result<AssumedRole, Failure> {
    match chain::assume_role(&settings.identity, &settings.role, None, deadline).await? {
        Ok(assumed) => Ok(assumed.role.value),
        Err(failed) => Err(failed.error.value.into()),
    }
}
