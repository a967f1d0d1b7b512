//! Reaching one cluster: a kube-rs client from the in-cluster config or a kubeconfig context,
//! with connect and read deadlines set where it is built.

use std::time::Duration;

use kube::config::{Config, KubeConfigOptions, Kubeconfig};

use crate::cli::Target;

/// The name a target goes by in the report.
pub fn name_of(target: &Target) -> String {
    match target {
        Target::InCluster => "in-cluster".to_owned(),
        Target::Context(name) => name.clone(),
        Target::Current => Kubeconfig::read()
            .ok()
            .and_then(|k| k.current_context)
            .unwrap_or_else(|| "current-context".to_owned()),
    }
}

/// A client for `target`; `Err` says why none could be built (it becomes a finding).
pub async fn client(target: &Target, timeout: Duration) -> Result<kube::Client, String> {
    let mut config = match target {
        Target::InCluster => Config::incluster().map_err(|e| format!("in-cluster config: {e}"))?,
        Target::Current => Config::from_kubeconfig(&KubeConfigOptions::default())
            .await
            .map_err(|e| format!("kubeconfig: {e}"))?,
        Target::Context(context) => Config::from_kubeconfig(&KubeConfigOptions {
            context: Some(context.clone()),
            ..KubeConfigOptions::default()
        })
        .await
        .map_err(|e| format!("kubeconfig context {context:?}: {e}"))?,
    };
    config.connect_timeout = Some(timeout);
    config.read_timeout = Some(timeout);
    config.write_timeout = Some(timeout);
    config.reset_reader_on_write = true;
    kube::Client::try_from(config).map_err(|e| format!("client: {e}"))
}
