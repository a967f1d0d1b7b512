//! What the emulated pod looks like ([`Config`]) and how its metadata server misbehaves ([`Faults`]).

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The identity of the emulated pod and the behaviour of its metadata server.
///
/// Build it with struct update syntax so that new fields don't break callers:
/// `Config { token_lifetime: Duration::from_secs(60), ..Config::default() }`.
#[derive(Clone, Debug)]
pub struct Config {
    /// The Google service account (GSA) the KSA is annotated with.
    pub gsa_email: String,
    /// The GSA's numeric unique id (21 digits): the `sub` and `azp` of its ID tokens.
    pub unique_id: String,
    /// The project id; the Workload Identity pool is `PROJECT.svc.id.goog`.
    pub project_id: String,
    /// The pod's namespace, quoted in GKE's "not annotated" message.
    pub namespace: String,
    /// The pod's Kubernetes service account (KSA).
    pub ksa: String,
    /// What `/computeMetadata/v1/instance/hostname` answers (the node's name on GKE).
    pub hostname: String,
    /// `exp - iat` of the issued ID tokens; Google's are valid for one hour.
    pub token_lifetime: Duration,
    /// For this long after start, metadata requests get their connection closed without
    /// an answer, as on a new GKE pod whose metadata server is not ready yet.
    pub not_ready_for: Duration,
    /// The faults in force at start; change them later with `set_faults`.
    pub faults: Faults,
    /// The clock that dates the tokens.
    pub clock: Clock,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            gsa_email: "verifier@demo-project.iam.gserviceaccount.com".to_owned(),
            unique_id: "112233445566778899001".to_owned(),
            project_id: "demo-project".to_owned(),
            namespace: "gke-aws".to_owned(),
            ksa: "verifier".to_owned(),
            hostname: "gke-demo-default-pool-0a1b2c3d-wxyz.c.demo-project.internal".to_owned(),
            token_lifetime: Duration::from_secs(3600),
            not_ready_for: Duration::ZERO,
            faults: Faults::default(),
            clock: Clock::System,
        }
    }
}

impl Config {
    /// The Workload Identity pool, `PROJECT.svc.id.goog`: what GKE answers for the
    /// email of a KSA that has no GSA annotation.
    pub fn workload_pool(&self) -> String {
        format!("{}.svc.id.goog", self.project_id)
    }
}

/// How the emulator tells the time it writes into tokens (`iat`, `exp`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Clock {
    /// The machine's clock.
    #[default]
    System,
    /// The machine's clock at start, advanced by Tokio's clock since. On a paused Tokio
    /// runtime (`#[tokio::test(start_paused = true)]`) tokens then age as fast as the test
    /// advances time: a day of one-minute tokens runs in seconds.
    Tokio,
}

/// Failure modes of the metadata server, each mirroring something GKE really does.
///
/// The default is a healthy server. As JSON (the `PUT /emulator/v1/faults` body) every
/// field is optional and `slow` is spelled `slow_ms`, in milliseconds:
/// `{"server_errors": 2, "slow_ms": 250}`. The binary's flags are these fields
/// (`--server-errors 2 --slow 250ms`).
#[derive(Clone, Default, Debug, PartialEq, Eq, Serialize, Deserialize, clap::Args)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// The KSA has no `iam.gke.io/gcp-service-account` annotation: the identity endpoint
    /// answers 404 with GKE's message and the email endpoint answers the pool name.
    #[arg(long, env = "METADATA_EMULATOR_KSA_NOT_ANNOTATED")]
    pub ksa_not_annotated: bool,
    /// The GSA lacks the `roles/iam.workloadIdentityUser` binding for the KSA: the
    /// identity endpoint answers 403 with GKE's message.
    #[arg(long, env = "METADATA_EMULATOR_BINDING_MISSING")]
    pub binding_missing: bool,
    /// The next this-many metadata requests answer 503 (a 5xx burst); counts down.
    #[arg(long, env = "METADATA_EMULATOR_SERVER_ERRORS", value_name = "N", default_value_t = 0)]
    pub server_errors: u32,
    /// The identity endpoint answers 200 with an HTML page (a proxy's login page).
    #[arg(long, env = "METADATA_EMULATOR_HTML_BODY")]
    pub html_body: bool,
    /// The identity endpoint answers 200 with text that is not a JWT.
    #[arg(long, env = "METADATA_EMULATOR_GARBAGE_BODY")]
    pub garbage_body: bool,
    /// Issued tokens expired an hour ago (`exp` in the past, `exp - iat` unchanged).
    #[arg(long, env = "METADATA_EMULATOR_EXPIRED_TOKENS")]
    pub expired_tokens: bool,
    /// An outage: metadata requests get their connection closed without an answer.
    #[arg(long, env = "METADATA_EMULATOR_REFUSE")]
    pub refuse: bool,
    /// Every metadata answer is delayed by this much (e.g. `250ms`).
    #[serde(rename = "slow_ms", with = "millis")]
    #[arg(long, env = "METADATA_EMULATOR_SLOW", value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub slow: Option<Duration>,
}

/// `Option<Duration>` as a whole number of milliseconds, for the JSON control API.
mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(d) => s.serialize_some(&u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        Ok(Option::<u64>::deserialize(d)?.map(Duration::from_millis))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_unique_id_has_21_digits() {
        let id = Config::default().unique_id;
        assert_eq!(id.len(), 21);
        assert!(id.bytes().all(|b| b.is_ascii_digit()));
    }

    #[test]
    fn faults_json_is_partial_and_slow_is_in_millis() {
        let faults: Faults = serde_json::from_str(r#"{"server_errors": 2, "slow_ms": 250}"#).expect("valid faults");
        assert_eq!(
            faults,
            Faults {
                server_errors: 2,
                slow: Some(Duration::from_millis(250)),
                ..Faults::default()
            }
        );
        let back = serde_json::to_value(&faults).expect("serializable");
        assert_eq!(back["slow_ms"], 250);
        assert_eq!(back["refuse"], false);
    }

    #[test]
    fn unknown_fault_names_are_rejected() {
        assert!(serde_json::from_str::<Faults>(r#"{"refused": true}"#).is_err());
    }

    #[test]
    fn workload_pool_is_project_svc_id_goog() {
        assert_eq!(Config::default().workload_pool(), "demo-project.svc.id.goog");
    }
}
