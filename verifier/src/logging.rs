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
    let layer = tracing_subscriber::fmt::layer();
    match format {
        LogFormat::Text => tracing_subscriber::registry()
            .with(
                layer
                    .with_writer(|| BoundedLines(std::io::stderr()))
                    .with_target(false)
                    .with_ansi(false)
                    .with_filter(filter),
            )
            .init(),
        // Cut by field, not by line: a cut JSON line would not parse.
        LogFormat::Json => tracing_subscriber::registry()
            .with(
                layer
                    .with_writer(std::io::stderr)
                    .event_format(CloudLogging)
                    .with_filter(filter),
            )
            .init(),
    }
}

/// The longest log line written: whatever a peer put into a field, one event is one bounded
/// line (a huge value repeated by every retry would otherwise flood the node's logs).
const MAX_LINE_BYTES: usize = 4096;
/// The longest field value of a JSON line, which is cut by field to stay valid JSON.
const MAX_FIELD_CHARS: usize = 1024;

/// A writer that cuts each event (tracing's formatter writes one event in one call) to
/// [`MAX_LINE_BYTES`], on a character boundary, keeping it one line.
struct BoundedLines<W>(W);

impl<W: std::io::Write> std::io::Write for BoundedLines<W> {
    fn write(&mut self, event: &[u8]) -> std::io::Result<usize> {
        if event.len() <= MAX_LINE_BYTES {
            self.0.write_all(event)?;
            return Ok(event.len());
        }
        let mut cut = MAX_LINE_BYTES;
        while cut > 0 && (event[cut] & 0xC0) == 0x80 {
            cut -= 1;
        }
        self.0.write_all(&event[..cut])?;
        self.0.write_all("… (cut)\n".as_bytes())?;
        // All of it is dealt with: the rest is dropped on purpose.
        Ok(event.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// A JSON field's value, cut to [`MAX_FIELD_CHARS`].
fn bounded_value(value: &str) -> Value {
    if value.chars().count() <= MAX_FIELD_CHARS {
        return value.into();
    }
    let cut: String = value.chars().take(MAX_FIELD_CHARS).collect();
    format!("{cut}… (cut)").into()
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
        self.0.insert(field.name().into(), bounded_value(value));
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
        self.0.insert(field.name().into(), bounded_value(&format!("{value:?}")));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_line_is_bounded() {
        use std::io::Write as _;
        let mut out = BoundedLines(Vec::new());
        out.write_all(b"short\n").unwrap();
        let long = format!("WARN retrying host={}\n", "é".repeat(100_000));
        out.write_all(long.as_bytes()).unwrap();
        let written = String::from_utf8(out.0).expect("cut on a character boundary");
        let lines: Vec<&str> = written.lines().collect();
        assert_eq!(lines.len(), 2, "{}", written.len());
        assert_eq!(lines[0], "short");
        assert!(lines[1].len() <= MAX_LINE_BYTES + 12 && lines[1].ends_with("… (cut)"));
        let value = bounded_value(&"v".repeat(100_000));
        assert_eq!(value.as_str().unwrap().chars().count(), MAX_FIELD_CHARS + 7);
    }

    #[test]
    fn severities_are_cloud_loggings() {
        assert_eq!(
            [Level::ERROR, Level::WARN, Level::INFO, Level::DEBUG, Level::TRACE].map(severity),
            ["ERROR", "WARNING", "INFO", "DEBUG", "DEBUG"]
        );
    }
}
