//! Wall-clock time, in which ID tokens and STS credentials state their lifetimes.
//!
//! One-shot commands read the system clock through [`unix_now`]. `token-file` runs for days
//! and schedules by its tokens' `iat` and `exp`, so it takes a [`Clock`]: a test can then run
//! a whole day of refreshes on Tokio's paused clock in seconds.

use std::time::{SystemTime, UNIX_EPOCH};

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

fn unix_seconds(time: SystemTime) -> i64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}
