//! `credential-process`: AWS's `credential_process` helper. Serves cached credentials while
//! they are fresh; otherwise one helper (under a file lock) runs the identity and STS stages
//! and refreshes the cache while any others wait for it.

use std::path::PathBuf;
use std::time::{Duration, UNIX_EPOCH};

use aws_smithy_runtime_api::client::http::SharedHttpClient;
use tokio::time::Instant;

use crate::cache::{self, CredentialCache, ProcessCredentials};
use crate::clock::unix_now;
use crate::error::{Failure, Stage, StageError};
use crate::metadata::MetadataServer;
use crate::sdk;
use crate::sts::{self, AssumedRole, RoleRequest};

#[derive(Debug, Clone)]
pub struct Settings {
    pub metadata_host: String,
    pub audience: String,
    pub region: String,
    pub role: RoleRequest,
    pub cache_dir: PathBuf,
    pub timeout: Duration,
}

pub async fn run(settings: &Settings) -> Result<ProcessCredentials, Failure> {
    let deadline = Instant::now() + settings.timeout;
    let cache = CredentialCache::open(&settings.cache_dir)?;
    let role = &settings.role;
    let key = cache::key(
        role.role_arn.as_str(),
        &settings.audience,
        &role.session_name,
        role.duration_seconds,
    );
    if let Some(credentials) = cache.read_fresh(&key, unix_now())? {
        tracing::debug!("served from cache");
        return Ok(credentials);
    }

    let lock = cache.lock_file(&key)?;
    let waited = tokio::time::timeout_at(
        deadline,
        tokio::task::spawn_blocking(move || lock.lock().map(|()| lock)),
    )
    .await;
    let _lock = match waited {
        Ok(Ok(Ok(lock))) => lock,
        Ok(Ok(Err(e))) => return Err(Failure::Unexpected(format!("cannot lock the credential cache: {e}"))),
        Ok(Err(e)) => return Err(Failure::Unexpected(format!("cache lock task failed: {e}"))),
        Err(_) => return Err(StageError::timed_out(Stage::Sts, settings.timeout).into()),
    };
    // Whoever held the lock before us has most likely just refreshed the entry.
    if let Some(credentials) = cache.read_fresh(&key, unix_now())? {
        tracing::debug!("served from cache after waiting for another helper");
        return Ok(credentials);
    }

    let https_client = sdk::https_client()?;
    let assumed = assume_role(settings, https_client, deadline).await?;
    let expires_at = assumed
        .expiration
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let credentials = ProcessCredentials {
        version: 1,
        access_key_id: assumed.credentials.access_key_id().to_owned(),
        secret_access_key: assumed.credentials.secret_access_key().to_owned(),
        session_token: assumed.credentials.session_token().unwrap_or_default().to_owned(),
        expiration: assumed.expiration_rfc3339(),
    };
    if let Err(e) = cache.store(&key, expires_at, &credentials) {
        tracing::warn!(error = %e, "could not write the credential cache; the next call will ask STS again");
    }
    Ok(credentials)
}

/// The identity and STS stages of `verify`, with the same retries and diagnosis.
async fn assume_role(
    settings: &Settings,
    https_client: Option<SharedHttpClient>,
    deadline: Instant,
) -> Result<AssumedRole, StageError> {
    let metadata_server = MetadataServer::new(&settings.metadata_host);
    let token = metadata_server.checked_token(&settings.audience, None, deadline);
    let identity = Stage::GcpIdentity.run(deadline, settings.timeout, token);
    let ((token, _), sdk_config) = tokio::join!(identity, sdk::load(&settings.region, https_client));
    let token = token?;
    Stage::Sts
        .run(
            deadline,
            settings.timeout,
            sts::assume_role(&sdk_config, &settings.role, &token),
        )
        .await
        .0
}
