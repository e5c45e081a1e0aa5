//! stdin and stdout of a many-client session, with nc's stdin rules applied in one
//! place: `-d` (never read), `-C` (CR before a bare LF), `-i` (one line, then a pause)
//! and the instant of EOF that `-N` and `-q` count from.
//!
//! The session decides when stdin may be read (its queues have room) and where its
//! bytes go; stdout is one `Queue` that the session stops filling while it is long, so
//! no line is ever dropped.

use std::io;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use mio::Registry;

use crate::buf::{MemBuf, Queue, Step};
use crate::config::IoRules;
use crate::endpoint::{interest, Endpoint};
use crate::net::os_message;
use crate::stdio;
use crate::token;

/// One read from stdin.
const STDIN_READ: usize = crate::buf::CHUNK;

pub struct StdinSource {
    ep: Endpoint,
    buf: MemBuf,
    crlf: bool,
    after_cr: bool,
    interval: Option<Duration>,
    /// `-i`: nothing more goes out before this instant.
    hold_until: Option<Instant>,
    /// EOF was read (or `-d`).
    eof: bool,
    /// When EOF was read and everything before it handed out (`-q` counts from here).
    pub done_at: Option<Instant>,
    disabled: bool,
}

impl StdinSource {
    pub fn new(io: &IoRules) -> StdinSource {
        StdinSource {
            ep: Endpoint::new(stdio::STDIN, token::STDIN),
            buf: MemBuf::new(STDIN_READ * 2),
            crlf: io.crlf,
            after_cr: false,
            interval: io.interval,
            hold_until: None,
            eof: io.no_stdin,
            done_at: None,
            disabled: io.no_stdin,
        }
    }

    pub fn on_event(&mut self, ev: &mio::event::Event) {
        self.ep.on_event(ev);
    }

    /// Everything stdin will ever give has been handed out.
    pub fn finished(&self) -> bool {
        self.eof && self.buf.len() == 0 && self.hold_until.is_none()
    }

    /// Read stdin (if `may_read`) and hand what may go now to `out`: everything read
    /// (at most `max` bytes), or with `-i` one line per interval. Returns true if more
    /// may be ready at once.
    pub fn take(
        &mut self,
        now: Instant,
        may_read: bool,
        max: usize,
        out: impl FnOnce(&[u8]),
    ) -> Result<bool> {
        if self.hold_until.is_some_and(|t| now < t) {
            return Ok(false);
        }
        self.hold_until = None;
        let mut more = false;
        if may_read && !self.eof && self.ep.readable && self.buf.len() < STDIN_READ {
            more = self.read()?;
        }
        let bytes = self.buf.bytes();
        let bytes = &bytes[..bytes.len().min(max)];
        let n = match self.interval {
            None => bytes.len(),
            Some(_) => match bytes.iter().position(|&b| b == b'\n') {
                Some(i) => i + 1,
                None if self.eof || self.buf.room() == 0 => bytes.len(),
                None => 0,
            },
        };
        if n > 0 {
            out(&bytes[..n]);
            self.buf.consume(n);
            // nc.openbsd sleeps after every line it sends, the last one too.
            self.hold_until = self.interval.map(|i| now + i);
            more = more || self.buf.len() > 0;
        }
        if self.eof && self.buf.len() == 0 && self.hold_until.is_none() && self.done_at.is_none() {
            self.done_at = Some(now);
        }
        Ok(more)
    }

    fn read(&mut self) -> Result<bool> {
        let step = match self.crlf {
            true => self
                .buf
                .fill_crlf_from(stdio::STDIN, STDIN_READ, &mut self.after_cr),
            false => self.buf.fill_from(stdio::STDIN, STDIN_READ),
        };
        match step {
            Ok(Step::Eof) => self.eof = true,
            Ok(Step::Blocked) => self.ep.blocked_read(),
            Ok(Step::Moved(_)) => return Ok(true),
            Ok(Step::Full) => {}
            Err(e) => bail!("read from stdin failed: {}", os_message(&e)),
        }
        Ok(false)
    }

    /// When stdin wants the loop back (`-i`'s pause).
    pub fn deadline(&self) -> Option<Instant> {
        self.hold_until
    }

    /// Register for reading while the session wants stdin and it has more to give.
    pub fn arm(&mut self, reg: &Registry, want: bool) -> io::Result<()> {
        if self.disabled {
            return Ok(());
        }
        let want = want && !self.eof && self.buf.len() < STDIN_READ;
        self.ep.set_interest(reg, interest(want, false))
    }
}

pub struct StdoutSink {
    ep: Endpoint,
    pub queue: Queue,
    gone: bool,
}

impl StdoutSink {
    pub fn new() -> StdoutSink {
        StdoutSink {
            ep: Endpoint::new(stdio::STDOUT, token::STDOUT),
            queue: Queue::default(),
            gone: false,
        }
    }

    pub fn on_event(&mut self, ev: &mio::event::Event) {
        self.ep.on_event(ev);
    }

    pub fn push(&mut self, bytes: &[u8]) {
        if !self.gone {
            self.queue.push(bytes);
        }
    }

    /// Write what is queued. Returns the error the first time stdout fails; from then
    /// on the sink takes nothing.
    pub fn flush(&mut self) -> Option<io::Error> {
        if self.gone {
            return None;
        }
        let e = self.queue.flush(&mut self.ep).err()?;
        self.gone = true;
        self.queue = Queue::default();
        Some(e)
    }

    pub fn len(&self) -> usize {
        self.queue.len()
    }

    pub fn arm(&mut self, reg: &Registry) -> io::Result<()> {
        let want = !self.gone && !self.queue.is_empty();
        self.ep.set_interest(reg, interest(false, want))
    }
}
