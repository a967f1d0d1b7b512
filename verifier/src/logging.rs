//! Logs on stderr: readable text, or Cloud Logging's structured JSON (`severity`, `message`,
//! fields) so that GKE's logging agent files each line at the right severity.
//! <https://cloud.google.com/logging/docs/structured-logging>

use std::fmt;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::filter::Targets;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::prelude::*;
use tracing_subscriber::registry::LookupSpan;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// `level` applies to this program's own logs. Dependencies stay at `warn`: the SDK's
/// debug logs describe requests, and a request to STS carries the ID token.
pub fn init(format: LogFormat, level: tracing::level_filters::LevelFilter) {
    // `Targets` rather than `EnvFilter`: no regex engine in the binary, and RUST_LOG cannot
    // turn on the SDK's request logs by accident.
    let filter = Targets::new()
        .with_default(tracing::Level::WARN)
        .with_target("gke_aws_verifier", level);
    let layer = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    match format {
        LogFormat::Text => tracing_subscriber::registry()
            .with(layer.with_target(false).with_ansi(false).with_filter(filter))
            .init(),
        LogFormat::Json => tracing_subscriber::registry()
            .with(layer.event_format(CloudLogging).with_filter(filter))
            .init(),
    }
}

/// One JSON object per line, in the shape Cloud Logging reads from a container's stderr.
struct CloudLogging;

impl<S, N> FormatEvent<S, N> for CloudLogging
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(&self, _ctx: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        let mut fields = FieldMap(Map::new());
        event.record(&mut fields);
        let mut entry = Map::new();
        entry.insert("severity".into(), severity(*event.metadata().level()).into());
        entry.insert("message".into(), fields.0.remove("message").unwrap_or_default());
        entry.insert("target".into(), event.metadata().target().into());
        entry.extend(fields.0);
        writeln!(writer, "{}", Value::Object(entry))
    }
}

/// Cloud Logging's names for tracing's levels.
fn severity(level: Level) -> &'static str {
    match level {
        Level::ERROR => "ERROR",
        Level::WARN => "WARNING",
        Level::INFO => "INFO",
        Level::DEBUG | Level::TRACE => "DEBUG",
    }
}

struct FieldMap(Map<String, Value>);

impl Visit for FieldMap {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name().into(), format!("{value:?}").into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severities_are_cloud_loggings() {
        assert_eq!(
            [Level::ERROR, Level::WARN, Level::INFO, Level::DEBUG, Level::TRACE].map(severity),
            ["ERROR", "WARNING", "INFO", "DEBUG", "DEBUG"]
        );
    }
}
