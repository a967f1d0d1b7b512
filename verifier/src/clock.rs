//! Wall-clock time, in which ID tokens and STS credentials state their lifetimes.
//!
//! One-shot commands read the system clock through [`unix_now`]. `token-file` runs for days
//! and schedules by its tokens' `iat` and `exp`, so it takes a [`Clock`]: a test can then run
//! a whole day of refreshes on Tokio's paused clock in seconds.

use std::time::{SystemTime, UNIX_EPOCH};

/// Tolerated difference between the pod's clock and the token issuer's before we call it skew.
pub const CLOCK_SKEW_LEEWAY_SECS: i64 = 60;

pub trait Clock: Send + Sync {
    fn now(&self) -> SystemTime;

    /// Now, as whole Unix seconds (the unit of `iat` and `exp`).
    fn unix_now(&self) -> i64 {
        unix_seconds(self.now())
    }
}

/// The machine's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// The machine's clock as Unix seconds.
pub fn unix_now() -> i64 {
    unix_seconds(SystemTime::now())
}

pub fn unix_seconds(time: SystemTime) -> i64 {
    // Before 1970 is 0, beyond i64 the largest: never a wrapped, negative "now".
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Logs, with both times, a token that starts after the pod's clock says it is: the pod's
/// clock is behind the issuer's (or the issuer's ahead). STS's clock decides; this is a warning.
pub fn warn_if_early(start: i64, now: i64) {
    if start > now.saturating_add(CLOCK_SKEW_LEEWAY_SECS) {
        tracing::warn!(
            token_valid_from = start,
            pod_clock = now,
            early_by_s = start.saturating_sub(now),
            "the token starts after the pod's clock says it is now: the pod's clock is behind the issuer's (check \
             NTP on the node); STS judges the token with its own clock"
        );
    }
}

/// Logs, with both times, a token whose `exp` the pod's clock has passed. The pod's clock may be
/// ahead of STS's, so this too is a warning: a token that is really expired comes back from STS
/// as `ExpiredTokenException`, which names STS's time beside the token's and the pod's.
pub fn warn_if_late(exp: i64, now: i64) {
    if exp <= now {
        tracing::warn!(
            token_expires = exp,
            pod_clock = now,
            late_by_s = now.saturating_sub(exp),
            "the token expired by the pod's clock: the pod's clock is ahead (check NTP on the node) or the token is a \
             stale copy; STS judges the token with its own clock"
        );
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn unix_seconds_never_wrap() {
        assert_eq!(
            unix_seconds(UNIX_EPOCH + Duration::from_secs(1_795_867_200)),
            1_795_867_200
        );
        assert_eq!(unix_seconds(UNIX_EPOCH - Duration::from_secs(10)), 0);
        if let Some(far) = UNIX_EPOCH.checked_add(Duration::from_secs(u64::MAX / 2 + 10)) {
            assert_eq!(unix_seconds(far), i64::MAX);
        }
    }
}
