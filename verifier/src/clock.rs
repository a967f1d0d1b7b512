//! Wall-clock time, in which ID tokens and STS credentials state their lifetimes.
//!
//! One-shot commands read the system clock through [`unix_now`]. `token-file` runs for days
//! and schedules by its tokens' `iat` and `exp`, so it takes a [`Clock`]: a test can then run
//! a whole day of refreshes on Tokio's paused clock in seconds.

use std::time::{SystemTime, UNIX_EPOCH};

pub trait Clock: Send + Sync {
    /// Now, as Unix seconds.
    fn unix_now(&self) -> i64;
}

/// The machine's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn unix_now(&self) -> i64 {
        unix_now()
    }
}

/// The machine's clock as Unix seconds.
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
