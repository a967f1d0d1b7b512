//! The chain both `verify` and `credential-process` walk: the identity stage, then STS,
//! each timed and bounded by the run's deadline. The SDK's configuration loads (it reads
//! files) while the identity stage waits for its token.

use aws_config::SdkConfig;
use tokio::time::Instant;

use crate::aws::sdk;
use crate::aws::sts::{self, AssumedRole, RoleSettings};
use crate::error::{InputError, StageError};
use crate::identity::{Identity, IdentitySettings};
use crate::stage::Stage;

/// A stage's result and the milliseconds it took.
#[derive(Debug)]
pub struct Timed<T> {
    pub value: T,
    pub elapsed_ms: u64,
}

/// Both stages passed.
#[derive(Debug)]
pub struct Assumed {
    pub identity: Timed<Identity>,
    pub role: Timed<AssumedRole>,
    /// For the stages that follow (S3), with the same client, region and endpoints.
    pub sdk_config: SdkConfig,
}

/// A stage failed; `identity` is set when the identity stage had passed.
#[derive(Debug)]
pub struct Failed {
    pub identity: Option<Timed<Identity>>,
    pub error: Timed<StageError>,
}

/// Runs identity then STS until `deadline`. Bad input (a CA bundle that does not parse) is
/// found before any call.
pub async fn assume_role(
    identity: &IdentitySettings,
    role: &RoleSettings,
    expected_gsa: Option<&str>,
    deadline: Instant,
) -> Result<Result<Assumed, Failed>, InputError> {
    // One read of the CA bundle for STS, S3 and a cluster issuer.
    let tls = sdk::tls_context()?;
    let issuer_client = identity.issuer_client(&tls);
    let https_client = sdk::https_client(tls);
    let first_stage = identity.source_stage();
    let token = Identity::obtain(identity, expected_gsa, issuer_client.as_ref(), deadline);
    let token = first_stage.run_named(deadline, identity.timeout, token, Identity::stage);
    let ((token, elapsed_ms), sdk_config) = tokio::join!(token, sdk::load(&role.region, https_client));
    let token = match token {
        Ok(token) => Timed {
            value: token,
            elapsed_ms,
        },
        Err(error) => {
            return Ok(Err(Failed {
                identity: None,
                error: Timed {
                    value: error,
                    elapsed_ms,
                },
            }));
        }
    };
    let (assumed, elapsed_ms) = Stage::Sts
        .run(
            deadline,
            identity.timeout,
            sts::assume_role(&sdk_config, &role.request, &token.value),
        )
        .await;
    Ok(match assumed {
        Ok(assumed) => Ok(Assumed {
            identity: token,
            role: Timed {
                value: assumed,
                elapsed_ms,
            },
            sdk_config,
        }),
        Err(error) => Err(Failed {
            identity: Some(token),
            error: Timed {
                value: error,
                elapsed_ms,
            },
        }),
    })
}
