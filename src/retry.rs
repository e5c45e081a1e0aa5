//! `--retry`: try again until it works or the time is up.
//!
//! The pause starts at 50 ms and grows to 90 ms, no further: a port that opens is
//! noticed within 100 ms (the pause and one connect), and a refused connect on a
//! live network costs one SYN and one RST, so ten or so tries a second are cheap.

use std::time::{Duration, Instant};

use anyhow::Result;

const FIRST_PAUSE: Duration = Duration::from_millis(50);
const MOST_PAUSE: Duration = Duration::from_millis(90);

/// The pauses between attempts, up to an end.
pub struct Backoff {
    end: Instant,
    pause: Duration,
}

impl Backoff {
    pub fn new(within: Duration) -> Backoff {
        Backoff {
            end: Instant::now() + within,
            pause: FIRST_PAUSE,
        }
    }

    /// Time left before the end (zero once it has passed).
    pub fn left(&self) -> Duration {
        self.end.saturating_duration_since(Instant::now())
    }

    /// The next pause, cut short by the end.
    pub fn next_pause(&self) -> Duration {
        self.pause.min(self.left())
    }

    /// Sleep the pause (the loop has not started: nothing else is waiting), then grow it.
    pub fn sleep(&mut self) {
        std::thread::sleep(self.next_pause());
        self.pause = (self.pause * 3 / 2).min(MOST_PAUSE);
    }
}

/// Run `attempt` until it succeeds or `within` has passed; without `within`, once. The
/// attempt gets the time left, to bound its own wait. The error is the last attempt's.
pub fn until<T>(
    within: Option<Duration>,
    verbose: u8,
    mut attempt: impl FnMut(Option<Duration>) -> Result<T>,
) -> Result<T> {
    let Some(within) = within else {
        return attempt(None);
    };
    let mut backoff = Backoff::new(within);
    for n in 1.. {
        let e = match attempt(Some(backoff.left().max(Duration::from_millis(1)))) {
            Ok(t) => return Ok(t),
            Err(e) => e,
        };
        if backoff.left().is_zero() {
            return Err(e);
        }
        if verbose >= 2 {
            crate::say!(
                "rnc: attempt {n} failed: {}; again in {} ms",
                crate::error_line(&e),
                backoff.next_pause().as_millis()
            );
        }
        backoff.sleep();
    }
    unreachable!("the loop returns")
}

/// The bound on one connect: `-w`, cut down to the time `--retry` has left.
pub fn bound(wait: Option<Duration>, left: Option<Duration>) -> Option<Duration> {
    match (wait, left) {
        (Some(w), Some(l)) => Some(w.min(l)),
        (w, l) => w.or(l),
    }
}
