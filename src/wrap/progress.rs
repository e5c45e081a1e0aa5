//! `--progress`: one line on a terminal, redrawn at most 4 times a second.
//!
//! Without a terminal on stderr it does nothing: a log file or a pipe gets no
//! carriage returns, and `--stats` is the summary for those.

use std::time::{Duration, Instant};

use super::stats::{human_bytes, human_rate};

const EVERY: Duration = Duration::from_millis(250);

pub struct Progress {
    last_draw: Option<Instant>,
    /// (sent + received) at the last draw, for the current rate.
    last_total: u64,
    /// A regular file on stdin: the bytes there are to send.
    size: Option<u64>,
    /// The send rate, smoothed, for the ETA.
    up_rate: f64,
    last_sent: u64,
}

impl Progress {
    /// `stdin_sent`: stdin goes to the network (not -d), so a file there has a size to
    /// reach.
    pub fn on_terminal(stdin_sent: bool) -> Option<Progress> {
        if !crate::stdio::is_tty(crate::stdio::STDERR) {
            return None;
        }
        Some(Progress {
            last_draw: None,
            last_total: 0,
            size: stdin_file_left().filter(|_| stdin_sent),
            up_rate: 0.0,
            last_sent: 0,
        })
    }

    /// Redraw if due; the next time a redraw is due.
    pub fn tick(&mut self, now: Instant, started: Instant, totals: (u64, u64, u64)) -> Instant {
        if let Some(last) = self.last_draw {
            if now < last + EVERY {
                return last + EVERY;
            }
        }
        let (sent, received, _) = totals;
        let dt = self
            .last_draw
            .map_or(now - started, |l| now - l)
            .as_secs_f64()
            .max(0.001);
        let rate = (sent + received - self.last_total) as f64 / dt;
        let up = (sent - self.last_sent) as f64 / dt;
        self.up_rate = match self.last_draw {
            None => up,
            Some(_) => 0.7 * self.up_rate + 0.3 * up,
        };
        self.last_total = sent + received;
        self.last_sent = sent;
        self.last_draw = Some(now);
        crate::report::status(&self.line(sent, received, rate, now - started));
        now + EVERY
    }

    fn line(&self, sent: u64, received: u64, rate: f64, elapsed: Duration) -> String {
        let mut l = format!(
            "sent {}, received {}, {}, {}",
            human_bytes(sent as f64),
            human_bytes(received as f64),
            human_rate(rate),
            clock(elapsed.as_secs())
        );
        if let Some(size) = self.size.filter(|&s| s > 0) {
            let pct = (sent as f64 * 100.0 / size as f64).min(100.0);
            let left = size.saturating_sub(sent) as f64;
            let eta = match self.up_rate {
                r if r >= 1.0 => clock((left / r) as u64),
                _ => "--:--".to_string(),
            };
            l.push_str(&format!(", {pct:.0}%, ETA {eta}"));
        }
        l
    }
}

/// `m:ss`, or `h:mm:ss` past an hour.
fn clock(secs: u64) -> String {
    match secs {
        s if s >= 3600 => format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60),
        s => format!("{}:{:02}", s / 60, s % 60),
    }
}

/// The bytes left to read when stdin is a regular file: its size past the offset.
fn stdin_file_left() -> Option<u64> {
    // SAFETY: fstat into a zeroed stat we own; lseek on our stdin does not move it.
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        if libc::fstat(crate::stdio::STDIN, &mut st) != 0
            || st.st_mode & libc::S_IFMT != libc::S_IFREG
        {
            return None;
        }
        let at = libc::lseek(crate::stdio::STDIN, 0, libc::SEEK_CUR).max(0);
        Some((st.st_size - at).max(0) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clocks() {
        assert_eq!(clock(5), "0:05");
        assert_eq!(clock(3725), "1:02:05");
    }
}
