//! One direction of a bridge: bytes from a source endpoint to a destination endpoint,
//! through a bounded buffer, with backpressure (a full buffer stops reading, an empty one
//! stops writing) and an EOF that is seen exactly once.

use std::io;
use std::time::{Duration, Instant};

use crate::buf::{Buffer, MemBuf, PipeBuf, Step, MEM_CAP};
use crate::endpoint::Endpoint;
use crate::stdio::FdKind;

/// Which side of a pump failed, so the caller can word the error.
#[derive(Debug)]
pub enum PumpError {
    Read(io::Error),
    Write(io::Error),
}

/// Line shaping for stdin → net: `-C` and `-i`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Shaping {
    pub crlf: bool,
    pub interval: Option<Duration>,
}

/// How bytes are grouped on the way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// A byte stream: any split is fine.
    Stream,
    /// Into a datagram socket: each read from the source leaves as one datagram.
    DatagramOut,
    /// From a datagram socket: each datagram is taken whole; an empty one is not EOF.
    DatagramIn,
}

/// The largest UDP payload over IPv4; a read for one datagram never takes more.
pub const MAX_DATAGRAM: usize = 65507;
/// Room a receive needs so that no datagram is truncated.
const DATAGRAM_ROOM: usize = 65536;

pub struct Pump {
    buf: Buffer,
    shaping: Shaping,
    framing: Framing,
    /// The source reported EOF (or reading was stopped for good).
    src_done: bool,
    /// `-i`: no line goes out before this instant.
    hold_until: Option<Instant>,
    /// Bytes moved to the destination so far.
    pub total: u64,
}

/// splice(2) needs a pipe on one side; rnc puts its own pipe in the middle, which works
/// for sockets, pipes and files as sources and sockets, pipes, files and /dev/null as
/// destinations. Files opened with O_APPEND refuse splice; terminals are not worth it.
fn can_splice(src: FdKind, dst: FdKind) -> bool {
    let src_ok = matches!(src, FdKind::Socket | FdKind::Pipe | FdKind::File { .. });
    let dst_ok = matches!(
        dst,
        FdKind::Socket | FdKind::Pipe | FdKind::File { append: false } | FdKind::DevNull
    );
    src_ok && dst_ok
}

impl Pump {
    pub fn new(src: FdKind, dst: FdKind, shaping: Shaping) -> Pump {
        Pump::framed(src, dst, shaping, Framing::Stream)
    }

    pub fn framed(src: FdKind, dst: FdKind, shaping: Shaping, framing: Framing) -> Pump {
        let plain = !shaping.crlf && shaping.interval.is_none() && framing == Framing::Stream;
        let buf = match plain && can_splice(src, dst) {
            true => PipeBuf::new()
                .map(Buffer::Pipe)
                .unwrap_or_else(|_| Buffer::Mem(MemBuf::new(MEM_CAP))),
            false => Buffer::Mem(MemBuf::new(MEM_CAP)),
        };
        Pump {
            buf,
            shaping,
            framing,
            src_done: false,
            hold_until: None,
            total: 0,
        }
    }

    /// A pump with nothing to move (`-d`): finished from the start.
    pub fn finished_from_start() -> Pump {
        let mut p = Pump::new(FdKind::Other, FdKind::Other, Shaping::default());
        p.buf = Buffer::Mem(MemBuf::new(0));
        p.src_done = true;
        p
    }

    pub fn wants_read(&self) -> bool {
        !self.src_done
            && match self.framing {
                Framing::Stream => self.buf.has_room(),
                // One datagram at a time, so a read never merges two.
                Framing::DatagramOut => self.buf.is_empty(),
                Framing::DatagramIn => self.room() >= DATAGRAM_ROOM,
            }
    }

    fn room(&self) -> usize {
        match &self.buf {
            Buffer::Mem(m) => m.room(),
            Buffer::Pipe(_) => 0,
        }
    }

    pub fn wants_write(&self, now: Instant) -> bool {
        !self.buf.is_empty() && self.hold_until.is_none_or(|t| now >= t)
    }

    /// The source hit EOF and every byte reached the destination.
    pub fn finished(&self) -> bool {
        self.src_done && self.buf.is_empty()
    }

    pub fn src_done(&self) -> bool {
        self.src_done
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Stop reading the source for good (nc: the other side of the bridge is gone).
    pub fn stop_reading(&mut self) {
        self.src_done = true;
    }

    /// When `-i` next lets a line out, if a line is waiting for it.
    pub fn deadline(&self, now: Instant) -> Option<Instant> {
        self.hold_until.filter(|&t| t > now && !self.buf.is_empty())
    }

    /// Move bytes until both sides would block (or the buffer state forbids more).
    /// Returns whether any byte moved.
    pub fn progress(
        &mut self,
        src: &mut Endpoint,
        dst: &mut Endpoint,
        now: Instant,
    ) -> Result<bool, PumpError> {
        let mut any = false;
        loop {
            let mut moved = false;
            if self.wants_read() && src.readable {
                match self.fill(src.fd).map_err(PumpError::Read)? {
                    Step::Moved(_) => moved = true,
                    Step::Eof => {
                        self.src_done = true;
                        moved = true;
                    }
                    Step::Blocked => src.blocked_read(),
                    Step::Full => {}
                }
            }
            if self.wants_write(now) && dst.writable {
                match self.drain(dst.fd, now).map_err(PumpError::Write)? {
                    Step::Moved(n) => {
                        self.total += n as u64;
                        moved = true;
                    }
                    Step::Blocked => dst.blocked_write(),
                    Step::Eof | Step::Full => {}
                }
            }
            if !moved {
                return Ok(any);
            }
            any = true;
        }
    }

    fn fill(&mut self, fd: i32) -> io::Result<Step> {
        let max = match self.framing {
            Framing::DatagramOut => MAX_DATAGRAM,
            _ => usize::MAX,
        };
        let step = match &mut self.buf {
            Buffer::Mem(m) if self.shaping.crlf => m.fill_crlf_from(fd, max),
            Buffer::Mem(m) => m.fill_from(fd, max),
            Buffer::Pipe(p) => p.fill_from(fd),
        };
        // A datagram socket reads 0 for an empty datagram; it has no EOF.
        if self.framing == Framing::DatagramIn && step.as_ref().is_ok_and(|s| *s == Step::Eof) {
            return Ok(Step::Moved(0));
        }
        match step {
            // The kernel cannot splice from this source after all: fall back to memory
            // (the pipe is empty, so nothing is lost).
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) && self.buf.is_empty() => {
                self.buf = Buffer::Mem(MemBuf::new(MEM_CAP));
                self.fill(fd)
            }
            r => r,
        }
    }

    fn drain(&mut self, fd: i32, now: Instant) -> io::Result<Step> {
        match &mut self.buf {
            Buffer::Mem(m) => {
                let Some(every) = self.shaping.interval else {
                    return m.drain_to(fd, usize::MAX);
                };
                // -i: one line at a time, then a pause. A line that does not end within
                // the buffer goes out as it is once the buffer is full or stdin ended.
                let bytes = m.bytes();
                let line = match bytes.iter().position(|&b| b == b'\n') {
                    Some(i) => i + 1,
                    None if self.src_done || m.room() == 0 => bytes.len(),
                    None => return Ok(Step::Full),
                };
                let step = m.drain_to(fd, line)?;
                if step == Step::Moved(line) {
                    self.hold_until = Some(now + every);
                }
                Ok(step)
            }
            Buffer::Pipe(p) => match p.drain_to(fd) {
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                    let Buffer::Pipe(p) =
                        std::mem::replace(&mut self.buf, Buffer::Mem(MemBuf::new(0)))
                    else {
                        unreachable!("matched Pipe above")
                    };
                    self.buf = Buffer::Mem(p.into_mem()?);
                    self.drain(fd, now)
                }
                r => r,
            },
        }
    }
}
