//! `token-file` through a simulated day of one-minute tokens, with outages on the way.
//!
//! Tokio's paused clock runs the day in seconds of real time: the emulator dates its tokens
//! by it (`Clock::Tokio`) and the helper judges them by it. The helper talks to the emulator
//! over real HTTP. Every simulated second the test reads the file, as an SDK would.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use gke_aws_verifier::clock::Clock;
use gke_aws_verifier::credentials::token_file::{self, Settings};
use gke_aws_verifier::identity::id_token::IdToken;
use gke_aws_verifier::identity::{IdentitySettings, IdentitySource};
use testkit::emulator::{self, Config, Emulator, Faults};
use tokio::time::Instant;

const DAY: u64 = 24 * 60 * 60;
const HOUR: u64 = 60 * 60;
const TOKEN_LIFETIME: u64 = 60;
/// The helper refreshes at half life.
const REFRESH_EVERY: u64 = TOKEN_LIFETIME / 2;
/// Longer than a token lives: the file must go rather than hold an expired token.
const LONG_OUTAGE: (u64, u64) = (12 * HOUR, 12 * HOUR + 5 * 60);
/// The helper's longest pause between refresh attempts, plus the second it is read in.
const RECOVERY: u64 = 30 + 1;
/// An outage shorter than what is left of the token when its refresh falls due, placed to
/// straddle that refresh: from 5 s before the refresh of the first token seen after 6 h, for
/// 15 s. The file must keep the still-valid token through it.
const SHORT_OUTAGE_AFTER: u64 = 6 * HOUR;
const SHORT_OUTAGE_LEAD: i64 = 5;
const SHORT_OUTAGE_LENGTH: i64 = 15;

/// The short outage, once placed: the token it must not cost, and when it runs (Unix seconds).
struct ShortOutage {
    iat: i64,
    from: i64,
    issued_before: Option<u64>,
    over: bool,
}

/// The emulator's `Clock::Tokio` seen from the helper: wall time at start, advanced by
/// Tokio's paused clock.
struct PausedClock {
    wall_at_start: SystemTime,
    start: Instant,
}

impl Clock for PausedClock {
    fn now(&self) -> SystemTime {
        self.wall_at_start + self.start.elapsed()
    }
}

/// What the metadata server does from a given second of the day on.
fn fault_schedule() -> Vec<(u64, Faults)> {
    let healthy = Faults::default();
    vec![
        (
            3 * HOUR,
            Faults {
                server_errors: 3,
                ..Faults::default()
            },
        ),
        (
            LONG_OUTAGE.0,
            Faults {
                refuse: true,
                ..Faults::default()
            },
        ),
        (LONG_OUTAGE.1, healthy.clone()),
        (
            18 * HOUR,
            Faults {
                slow: Some(Duration::from_secs(3)),
                ..Faults::default()
            },
        ),
        (18 * HOUR + 10 * 60, healthy),
    ]
}

/// The token in the file, if there is a file; panics on a partial or corrupt one.
fn read_token(path: &Path) -> Option<IdToken> {
    let raw = std::fs::read_to_string(path).ok()?;
    Some(IdToken::decode(&raw).unwrap_or_else(|e| panic!("partial or corrupt token file: {e}")))
}

#[tokio::test(start_paused = true)]
async fn a_simulated_day_of_one_minute_tokens_never_leaves_an_expired_token_in_the_file() {
    // Read first, the helper's clock runs a hair behind the emulator's: a refresh due at
    // second N then gets a token issued in second N, not N - 1.
    let clock = Arc::new(PausedClock {
        wall_at_start: SystemTime::now(),
        start: Instant::now(),
    });
    let emulator = Emulator::start(Config {
        token_lifetime: Duration::from_secs(TOKEN_LIFETIME),
        clock: emulator::Clock::Tokio,
        ..Config::default()
    })
    .await
    .expect("emulator starts");
    let folder = tempfile::tempdir().unwrap();
    let path = folder.path().join("token");
    let settings = Settings {
        identity: IdentitySettings {
            source: IdentitySource::MetadataServer { host: emulator.host() },
            audience: "sts.amazonaws.com".to_owned(),
            timeout: Duration::from_secs(10),
        },
        path: path.clone(),
        once: false,
        file_mode: 0o640,
    };

    let mut schedule = fault_schedule().into_iter().peekable();
    let mut missing_at = Vec::new();
    let mut tokens_seen = 0;
    let mut last_iat = None;
    let mut short_outage: Option<ShortOutage> = None;
    let observe_a_day = async {
        for second in 1..=DAY {
            tokio::time::sleep_until(clock.start + Duration::from_secs(second)).await;
            while let Some((_, faults)) = schedule.next_if(|(at, _)| *at <= second) {
                emulator.set_faults(faults);
            }
            if let Some(outage) = short_outage.as_mut().filter(|o| !o.over) {
                let now = clock.unix_now();
                match outage.issued_before {
                    None if now >= outage.from => {
                        outage.issued_before = Some(emulator.tokens_issued());
                        emulator.set_faults(Faults {
                            refuse: true,
                            ..Faults::default()
                        });
                    }
                    Some(issued) if now >= outage.from + SHORT_OUTAGE_LENGTH => {
                        // The refresh fell due inside the outage and was refused: the file
                        // still holds the token from before it, which is still valid.
                        assert!(
                            now > outage.iat + REFRESH_EVERY as i64,
                            "the outage straddled the refresh"
                        );
                        assert_eq!(emulator.tokens_issued(), issued, "the outage refused the refresh");
                        let kept = read_token(&path).expect("the file keeps the valid token through a short outage");
                        assert_eq!(kept.claims.iat, outage.iat);
                        emulator.set_faults(Faults::default());
                        outage.over = true;
                    }
                    _ => {}
                }
            }
            let Some(token) = read_token(&path) else {
                missing_at.push(second);
                continue;
            };
            let now = clock.unix_now();
            assert!(
                token.claims.exp > now,
                "second {second}: the file holds a token that expired at {} (now {now})",
                token.claims.exp
            );
            if last_iat != Some(token.claims.iat) {
                last_iat = Some(token.claims.iat);
                tokens_seen += 1;
                if short_outage.is_none() && second >= SHORT_OUTAGE_AFTER {
                    short_outage = Some(ShortOutage {
                        iat: token.claims.iat,
                        from: token.claims.iat + REFRESH_EVERY as i64 - SHORT_OUTAGE_LEAD,
                        issued_before: None,
                        over: false,
                    });
                }
            }
        }
    };
    tokio::select! {
        result = token_file::run(&settings, clock.clone()) => panic!("token-file stopped: {result:?}"),
        () = observe_a_day => {}
    }

    assert!(short_outage.is_some_and(|o| o.over), "the short outage took place");
    let (outage_start, outage_end) = LONG_OUTAGE;
    assert!(
        !missing_at.is_empty(),
        "the long outage outlasted the token, so the file must have been removed"
    );
    assert!(
        missing_at
            .iter()
            .all(|s| (outage_start..=outage_end + RECOVERY).contains(s)),
        "the file was missing outside the long outage, at seconds {missing_at:?}"
    );
    let refreshes_due = DAY / REFRESH_EVERY;
    let issued = emulator.tokens_issued();
    assert!(
        issued <= refreshes_due + 1,
        "{issued} tokens fetched: more often than at half life"
    );
    // Token times are whole seconds, so a refresh may come up to a second after half life.
    let refreshes_at_the_latest = DAY / (REFRESH_EVERY + 1);
    let missed = (outage_end - outage_start) / REFRESH_EVERY + 1;
    assert!(
        tokens_seen >= refreshes_at_the_latest - missed,
        "only {tokens_seen} refreshes reached the file ({issued} fetched)"
    );
    assert!(read_token(&path).is_some(), "the day ends with a token in the file");
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o640);
    let files: Vec<_> = std::fs::read_dir(folder.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(files, ["token"], "no temporary file is left behind");
}
