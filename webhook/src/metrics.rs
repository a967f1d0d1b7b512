//! The webhook's Prometheus metrics, in the text exposition format: few enough to write by
//! hand, which keeps a metrics library out of the binary.

use std::fmt::Write;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// How an admission ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Injected,
    Skipped,
    Denied,
    /// Not a Pod (a rule that sends other objects): allowed unchanged, with a warning.
    NotPod,
}

/// The Kubernetes API requests that are paced when they come too often.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Paced {
    /// A list's first page.
    Relist,
    /// A new watch.
    Watch,
}

/// Why the HTTPS listener closed a connection itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closed {
    /// Its TLS handshake took longer than its bound.
    Handshake,
    /// A request's headers (or the first request after TLS) took longer than their bound.
    Headers,
    /// Idle between requests for longer than the keep-alive bound.
    Idle,
    /// All slots taken: closed to make room for a newcomer.
    Evicted,
}

/// Upper bounds of the latency buckets, in seconds: the goal is under 10 ms; the buckets go on
/// to the API server's timeout (`timeoutSeconds`, at most 30, 5 in the shipped configuration),
/// so a p99 near it can be told apart from one at 1 s (the WebhookSlow alert).
const BUCKETS: [f64; 13] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Debug, Default)]
pub struct Metrics {
    injected: AtomicU64,
    skipped: AtomicU64,
    denied: AtomicU64,
    not_pod: AtomicU64,
    cache_size: AtomicU64,
    cache_misses: AtomicU64,
    latency_buckets: [AtomicU64; BUCKETS.len()],
    latency_count: AtomicU64,
    latency_sum_micros: AtomicU64,
    accept_errors: AtomicU64,
    refused_connections_bytes: AtomicU64,
    relist_backoff_millis: AtomicU64,
    watch_backoff_millis: AtomicU64,
    cache_synced: AtomicU64,
    page_size: AtomicU64,
    closed: [AtomicU64; 4],
    certificate_expiry: AtomicI64,
    certificate_loaded: AtomicBool,
}

impl Metrics {
    pub fn admission(&self, outcome: Admission, took: Duration) {
        let counter = match outcome {
            Admission::Injected => &self.injected,
            Admission::Skipped => &self.skipped,
            Admission::Denied => &self.denied,
            Admission::NotPod => &self.not_pod,
        };
        counter.fetch_add(1, Relaxed);
        let seconds = took.as_secs_f64();
        for (bound, bucket) in BUCKETS.iter().zip(&self.latency_buckets) {
            if seconds <= *bound {
                bucket.fetch_add(1, Relaxed);
            }
        }
        self.latency_count.fetch_add(1, Relaxed);
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        self.latency_sum_micros.fetch_add(micros, Relaxed);
    }

    /// The served certificate's notAfter, in seconds since the Unix epoch (on load and reload).
    pub fn set_certificate_expiry(&self, not_after: i64) {
        self.certificate_expiry.store(not_after, Relaxed);
        self.certificate_loaded.store(true, Relaxed);
    }

    pub fn set_cache_size(&self, size: usize) {
        self.cache_size.store(size as u64, Relaxed);
    }

    /// Whether the KSA cache has held every KSA (its first full list is in).
    pub fn set_cache_synced(&self, synced: bool) {
        self.cache_synced.store(u64::from(synced), Relaxed);
    }

    /// The `limit` of the latest list page asked for.
    pub fn set_page_size(&self, limit: u32) {
        self.page_size.store(u64::from(limit), Relaxed);
    }

    /// A connection the listener closed itself.
    pub fn connection_closed(&self, why: Closed) {
        self.closed[why as usize].fetch_add(1, Relaxed);
    }

    /// A KSA the cache did not hold, asked of the API server directly.
    pub fn cache_miss(&self) {
        self.cache_misses.fetch_add(1, Relaxed);
    }

    /// `accept()` failed (e.g. out of file descriptors); the listener backs off.
    pub fn accept_error(&self) {
        self.accept_errors.fetch_add(1, Relaxed);
    }

    /// A request refused because the bytes buffered across all connections were at their bound.
    pub fn body_refused(&self) {
        self.refused_connections_bytes.fetch_add(1, Relaxed);
    }

    /// The wait before the latest relist or watch of the KSA cache (zero when not backing off).
    pub fn set_api_backoff(&self, kind: Paced, delay: Duration) {
        let millis = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        match kind {
            Paced::Relist => self.relist_backoff_millis.store(millis, Relaxed),
            Paced::Watch => self.watch_backoff_millis.store(millis, Relaxed),
        }
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP gke_aws_webhook_admissions_total Pod admissions by outcome."
        );
        let _ = writeln!(out, "# TYPE gke_aws_webhook_admissions_total counter");
        for (outcome, counter) in [
            ("injected", &self.injected),
            ("skipped", &self.skipped),
            ("denied", &self.denied),
            ("not_pod", &self.not_pod),
        ] {
            let _ = writeln!(
                out,
                "gke_aws_webhook_admissions_total{{outcome=\"{outcome}\"}} {}",
                counter.load(Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP gke_aws_webhook_ksa_cache_size ServiceAccounts in the watch cache."
        );
        let _ = writeln!(out, "# TYPE gke_aws_webhook_ksa_cache_size gauge");
        let _ = writeln!(out, "gke_aws_webhook_ksa_cache_size {}", self.cache_size.load(Relaxed));
        for (name, help, value) in [
            (
                "gke_aws_webhook_ksa_cache_synced",
                "1 once the KSA cache has held every KSA (its first full list); until then KSAs not seen yet are read from the API server.",
                self.cache_synced.load(Relaxed),
            ),
            (
                "gke_aws_webhook_ksa_list_page_size",
                "The limit of the latest page of the KSA list, sized to the objects' bytes.",
                self.page_size.load(Relaxed),
            ),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} gauge");
            let _ = writeln!(out, "{name} {value}");
        }
        let name = "gke_aws_webhook_connections_closed_total";
        let _ = writeln!(
            out,
            "# HELP {name} HTTPS connections the webhook closed itself: handshake or headers too slow, idle too long, or evicted for a newcomer."
        );
        let _ = writeln!(out, "# TYPE {name} counter");
        for (reason, counter) in ["handshake", "headers", "idle", "evicted"].iter().zip(&self.closed) {
            let _ = writeln!(out, "{name}{{reason=\"{reason}\"}} {}", counter.load(Relaxed));
        }
        if self.certificate_loaded.load(Relaxed) {
            let name = "gke_aws_webhook_serving_certificate_expiry_timestamp_seconds";
            let _ = writeln!(
                out,
                "# HELP {name} notAfter of the serving certificate the webhook serves, in seconds since the Unix epoch."
            );
            let _ = writeln!(out, "# TYPE {name} gauge");
            let _ = writeln!(out, "{name} {}", self.certificate_expiry.load(Relaxed));
        }
        let _ = writeln!(
            out,
            "# HELP gke_aws_webhook_ksa_cache_misses_total KSA lookups the cache could not answer, sent to the API server."
        );
        let _ = writeln!(out, "# TYPE gke_aws_webhook_ksa_cache_misses_total counter");
        let _ = writeln!(
            out,
            "gke_aws_webhook_ksa_cache_misses_total {}",
            self.cache_misses.load(Relaxed)
        );
        for (name, help, value) in [
            (
                "gke_aws_webhook_accept_errors_total",
                "Failed accept() calls on the HTTPS listener (e.g. out of file descriptors), each followed by a backoff.",
                self.accept_errors.load(Relaxed),
            ),
            (
                "gke_aws_webhook_requests_refused_busy_total",
                "Requests refused because the request bytes buffered across all connections were at their bound.",
                self.refused_connections_bytes.load(Relaxed),
            ),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} counter");
            let _ = writeln!(out, "{name} {value}");
        }
        let name = "gke_aws_webhook_ksa_api_backoff_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} The wait before the KSA cache's latest relist or watch (0: not backing off)."
        );
        let _ = writeln!(out, "# TYPE {name} gauge");
        for (kind, millis) in [
            ("relist", &self.relist_backoff_millis),
            ("watch", &self.watch_backoff_millis),
        ] {
            let _ = writeln!(
                out,
                "{name}{{request=\"{kind}\"}} {}",
                millis.load(Relaxed) as f64 / 1e3
            );
        }
        let name = "gke_aws_webhook_admission_duration_seconds";
        let _ = writeln!(out, "# HELP {name} Time to answer an admission review.");
        let _ = writeln!(out, "# TYPE {name} histogram");
        for (bound, bucket) in BUCKETS.iter().zip(&self.latency_buckets) {
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {}", bucket.load(Relaxed));
        }
        let count = self.latency_count.load(Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(out, "{name}_sum {}", self.latency_sum_micros.load(Relaxed) as f64 / 1e6);
        let _ = writeln!(out, "{name}_count {count}");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_and_latency_are_counted() {
        let m = Metrics::default();
        m.admission(Admission::Injected, Duration::from_micros(800));
        m.admission(Admission::Denied, Duration::from_millis(30));
        m.cache_miss();
        m.set_cache_size(7);
        m.set_cache_synced(true);
        m.admission(Admission::NotPod, Duration::from_micros(10));
        m.connection_closed(Closed::Headers);
        let text = m.render();
        for line in [
            "gke_aws_webhook_admissions_total{outcome=\"injected\"} 1",
            "gke_aws_webhook_admissions_total{outcome=\"skipped\"} 0",
            "gke_aws_webhook_admissions_total{outcome=\"denied\"} 1",
            "gke_aws_webhook_ksa_cache_size 7",
            "gke_aws_webhook_ksa_cache_synced 1",
            "gke_aws_webhook_admissions_total{outcome=\"not_pod\"} 1",
            "gke_aws_webhook_connections_closed_total{reason=\"headers\"} 1",
            "gke_aws_webhook_connections_closed_total{reason=\"idle\"} 0",
            "gke_aws_webhook_ksa_cache_misses_total 1",
            "gke_aws_webhook_admission_duration_seconds_bucket{le=\"0.001\"} 2",
            "gke_aws_webhook_admission_duration_seconds_bucket{le=\"0.025\"} 2",
            "gke_aws_webhook_admission_duration_seconds_bucket{le=\"0.05\"} 3",
            "gke_aws_webhook_admission_duration_seconds_bucket{le=\"+Inf\"} 3",
            "gke_aws_webhook_admission_duration_seconds_sum 0.03081",
            "gke_aws_webhook_admission_duration_seconds_count 3",
        ] {
            assert!(text.lines().any(|l| l == line), "{line:?} missing from\n{text}");
        }
    }

    #[test]
    fn slow_answers_land_in_the_buckets_up_to_the_api_servers_timeout() {
        let m = Metrics::default();
        m.admission(Admission::Injected, Duration::from_millis(1_800));
        m.admission(Admission::Injected, Duration::from_millis(4_200));
        m.admission(Admission::Denied, Duration::from_secs(12));
        let text = m.render();
        for line in [
            "gke_aws_webhook_admission_duration_seconds_bucket{le=\"1\"} 0",
            "gke_aws_webhook_admission_duration_seconds_bucket{le=\"2.5\"} 1",
            "gke_aws_webhook_admission_duration_seconds_bucket{le=\"5\"} 2",
            "gke_aws_webhook_admission_duration_seconds_bucket{le=\"10\"} 2",
            "gke_aws_webhook_admission_duration_seconds_bucket{le=\"+Inf\"} 3",
        ] {
            assert!(text.lines().any(|l| l == line), "{line:?} missing from\n{text}");
        }
    }

    #[test]
    fn the_cache_and_the_certificate_are_told() {
        let m = Metrics::default();
        let text = m.render();
        assert!(
            text.lines().any(|l| l == "gke_aws_webhook_ksa_cache_synced 0"),
            "{text}"
        );
        // No certificate loaded: no expiry, rather than a 1970 one that would page.
        assert!(!text.contains("serving_certificate_expiry"), "{text}");
        m.set_cache_synced(true);
        m.set_certificate_expiry(1_893_456_000);
        let text = m.render();
        for line in [
            "gke_aws_webhook_ksa_cache_synced 1",
            "gke_aws_webhook_serving_certificate_expiry_timestamp_seconds 1893456000",
        ] {
            assert!(text.lines().any(|l| l == line), "{line:?} missing from\n{text}");
        }
    }
}
