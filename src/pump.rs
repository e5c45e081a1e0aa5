//! One direction of a bridge: bytes from a source endpoint to a destination endpoint,
//! through a bounded buffer, with backpressure (a full buffer stops reading, an empty one
//! stops writing) and an EOF that is seen exactly once.

use std::io;
use std::time::{Duration, Instant};

use crate::buf::{Buffer, MemBuf, PipeBuf, Step, DATAGRAM_ROOM, MEM_CAP};
use crate::endpoint::Endpoint;
use crate::stdio::FdKind;

/// Which side of a pump failed, so the caller can word the error.
#[derive(Debug)]
pub enum PumpError {
    Read(io::Error),
    Write(io::Error),
}

/// Line shaping for stdin → net (`-C` and `-i`), and what is done with each read from
/// the network (`-t`, `-W`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Shaping {
    pub crlf: bool,
    pub interval: Option<Duration>,
    /// `-t`: answer telnet negotiation in each read, on the socket read from.
    pub telnet: bool,
    /// `-W`: stop reading the source after this many reads.
    pub read_limit: Option<u64>,
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

pub struct Pump {
    buf: Buffer,
    shaping: Shaping,
    framing: Framing,
    /// The source reported EOF (or reading was stopped for good).
    src_done: bool,
    /// `-C`: the last byte read was a CR (its LF needs none added).
    after_cr: bool,
    /// `-i`: no line goes out before this instant.
    hold_until: Option<Instant>,
    /// Bytes moved to the destination so far.
    pub total: u64,
    /// Which end is the network, for --stats and the session logs.
    pub tap: Option<Tap>,
    /// Read at most this many more bytes from the source (a memory pump), then take
    /// it as ended: the body of an HTTP request the proxy server passes on.
    read_left: Option<u64>,
}

/// A pump that crosses the network: its bytes are counted and logged (`wrap`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tap {
    /// Into a network socket: counted as written, logged as read.
    Sends,
    /// From a network socket: counted and logged as read.
    Receives,
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
    // A session log needs the bytes in memory.
    src_ok && dst_ok && !crate::wrap::logging()
}

impl Pump {
    pub fn new(src: FdKind, dst: FdKind, shaping: Shaping) -> Pump {
        Pump::framed(src, dst, shaping, Framing::Stream)
    }

    pub fn framed(src: FdKind, dst: FdKind, shaping: Shaping, framing: Framing) -> Pump {
        let plain = !shaping.crlf
            && shaping.interval.is_none()
            && !shaping.telnet
            && framing == Framing::Stream;
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
            after_cr: false,
            hold_until: None,
            total: 0,
            tap: None,
            read_left: None,
        }
    }

    /// Take at most `n` more bytes from the source (memory pumps), then stop as at EOF.
    pub fn limit_reads(&mut self, n: u64) {
        self.read_left = Some(n);
        if n == 0 {
            self.src_done = true;
        }
    }

    /// The same pump, counted and logged as crossing the network.
    pub fn tapped(mut self, tap: Tap) -> Pump {
        self.tap = Some(tap);
        self
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

    /// The source hit EOF and every byte reached the destination (and, with `-i`, the
    /// pause after the last line is over, as nc.openbsd sleeps after every line).
    pub fn finished(&self) -> bool {
        self.src_done && self.buf.is_empty() && self.hold_until.is_none_or(|t| Instant::now() >= t)
    }

    pub fn src_done(&self) -> bool {
        self.src_done
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Queue bytes that were read elsewhere (a datagram taken off a shared socket).
    /// Returns false, dropping them, when there is no room: datagrams may be lost.
    pub fn preload(&mut self, bytes: &[u8]) -> bool {
        match &mut self.buf {
            Buffer::Mem(m) if m.room() >= bytes.len() => {
                m.push(bytes);
                true
            }
            _ => false,
        }
    }

    /// `-W`'s count of reads ran out.
    pub fn read_limit_hit(&self) -> bool {
        self.shaping.read_limit == Some(0)
    }

    /// Stop reading the source for good (nc: the other side of the bridge is gone).
    pub fn stop_reading(&mut self) {
        self.src_done = true;
    }

    /// When `-i` next lets a line out, if a line is waiting for it.
    pub fn deadline(&self, now: Instant) -> Option<Instant> {
        self.hold_until
            .filter(|&t| t > now && (!self.buf.is_empty() || self.src_done))
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
                let before = self.buf.len();
                match self.fill(src.fd).map_err(PumpError::Read)? {
                    Step::Moved(n) => {
                        self.tap_read(before, n);
                        self.after_read(src.fd, n);
                        moved = true;
                    }
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
                        if self.tap == Some(Tap::Sends) {
                            crate::wrap::count(crate::wrap::Dir::Sent, n);
                        }
                        moved = true;
                    }
                    Step::Blocked => dst.blocked_write(),
                    Step::Eof | Step::Full => {}
                }
            }
            if !moved {
                self.idle_release(src);
                return Ok(any);
            }
            any = true;
        }
    }

    /// Nothing waiting in the pipe and nothing to read: give the pipe back, so that an
    /// idle connection holds no descriptors but its socket (a relay or proxy server
    /// with ten thousand idle clients would otherwise hold forty thousand).
    fn idle_release(&mut self, src: &Endpoint) {
        if let Buffer::Pipe(p) = &mut self.buf {
            if !src.readable || self.src_done {
                p.release();
            }
        }
    }

    /// `n` bytes came in from the source and sit at the buffer's end, after `before`.
    fn tap_read(&self, before: usize, n: usize) {
        use crate::wrap::Dir;
        let dir = match self.tap {
            None => return,
            Some(Tap::Sends) => Dir::Sent,
            Some(Tap::Receives) => {
                crate::wrap::count(Dir::Received, n);
                Dir::Received
            }
        };
        if let Buffer::Mem(m) = &self.buf {
            crate::wrap::log(dir, m.bytes().get(before..).unwrap_or_default());
        }
    }

    /// `-t` and `-W` on a read of `n` bytes from `fd`.
    fn after_read(&mut self, fd: i32, n: usize) {
        if self.shaping.telnet {
            if let Buffer::Mem(m) = &self.buf {
                let bytes = m.bytes();
                let reply = crate::telnet::answers(&bytes[bytes.len() - n..]);
                // nc.openbsd writes the answer at once and only warns if it fails.
                if !reply.is_empty() && crate::buf::sys_write(fd, &reply).is_err() {
                    crate::say!("rnc: telnet answer not sent");
                }
            }
        }
        if let Some(left) = &mut self.shaping.read_limit {
            *left = left.saturating_sub(1);
            if *left == 0 {
                self.src_done = true;
            }
        }
    }

    fn fill(&mut self, fd: i32) -> io::Result<Step> {
        let max = match self.framing {
            Framing::DatagramOut => MAX_DATAGRAM,
            _ => usize::MAX,
        };
        let max = self.read_left.map_or(max, |left| {
            max.min(usize::try_from(left).unwrap_or(usize::MAX))
        });
        let step = match &mut self.buf {
            Buffer::Mem(m) if self.shaping.crlf => m.fill_crlf_from(fd, max, &mut self.after_cr),
            Buffer::Mem(m) => m.fill_from(fd, max),
            Buffer::Pipe(p) => p.fill_from(fd),
        };
        // A datagram socket reads 0 for an empty datagram; it has no EOF.
        if self.framing == Framing::DatagramIn && step.as_ref().is_ok_and(|s| *s == Step::Eof) {
            return Ok(Step::Moved(0));
        }
        if let (Some(left), Ok(Step::Moved(n))) = (self.read_left.as_mut(), &step) {
            *left = left.saturating_sub(*n as u64);
            if *left == 0 {
                self.src_done = true;
            }
        }
        match step {
            // The kernel cannot splice from this source after all: fall back to memory
            // (the pipe is empty, so nothing is lost).
            // Or no pipe can be had again (out of descriptors): memory then.
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::EINVAL | libc::EMFILE | libc::ENFILE)
                ) && self.buf.is_empty() =>
            {
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

#[cfg(test)]
mod tests {
    //! Properties of one pump over real pipes: for random chunk sizes, random readiness
    //! (events that come late, early or twice) and the short writes of a small pipe,
    //! the bytes out equal the bytes in, in order, and the end is seen exactly once.

    use super::*;
    use crate::buf::{sys_read, sys_write};
    use mio::Token;
    use proptest::prelude::*;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

    fn pipe(small: bool) -> (OwnedFd, OwnedFd) {
        let mut fds = [0; 2];
        // SAFETY: fds has room for two descriptors.
        assert_eq!(
            unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) },
            0
        );
        if small {
            // One page: writes into it come up short all the time.
            // SAFETY: our own pipe.
            unsafe { libc::fcntl(fds[1], libc::F_SETPIPE_SZ, 4096) };
        }
        // SAFETY: fresh descriptors we own.
        unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
    }

    #[derive(Debug, Clone)]
    enum Op {
        /// The producer writes up to n more bytes into the source.
        Feed(usize),
        /// The consumer reads up to n bytes from the destination.
        Take(usize),
        /// A readiness event arrives (or not) for each side, then the pump runs.
        Step { src: bool, dst: bool },
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (1usize..70_000).prop_map(Op::Feed),
            (1usize..70_000).prop_map(Op::Take),
            (any::<bool>(), any::<bool>()).prop_map(|(src, dst)| Op::Step { src, dst }),
        ]
    }

    fn run(data: &[u8], ops: &[Op], shaping: Shaping, small_out: bool) {
        let (in_r, in_w) = pipe(false);
        let (out_r, out_w) = pipe(small_out);
        let mut pump = Pump::new(FdKind::Pipe, FdKind::Pipe, shaping);
        let mut src = Endpoint::new(in_r.as_raw_fd(), Token(1));
        let mut dst = Endpoint::new(out_w.as_raw_fd(), Token(2));
        let mut in_w = Some(in_w);
        let (mut fed, mut got) = (0usize, Vec::new());
        let mut ends_seen = 0;
        let mut step =
            |pump: &mut Pump, src: &mut Endpoint, dst: &mut Endpoint, got: &mut Vec<u8>| {
                let was = pump.finished();
                pump.progress(src, dst, Instant::now()).expect("pump");
                if pump.finished() && !was {
                    ends_seen += 1;
                }
                let mut buf = vec![0u8; 1 << 16];
                while let Ok(n) = sys_read(out_r.as_raw_fd(), &mut buf) {
                    if n == 0 {
                        break;
                    }
                    got.extend_from_slice(&buf[..n]);
                }
            };
        let drive = ops.iter().cycle().take(ops.len().max(1) * 4);
        for op in drive {
            match *op {
                Op::Feed(n) => {
                    if let Some(w) = &in_w {
                        let end = (fed + n).min(data.len());
                        if let Ok(k) = sys_write(w.as_raw_fd(), &data[fed..end]) {
                            fed += k;
                        }
                        if fed == data.len() {
                            in_w = None; // EOF for the pump's source
                        }
                    }
                }
                Op::Take(n) => {
                    let mut buf = vec![0u8; n];
                    if let Ok(k) = sys_read(out_r.as_raw_fd(), &mut buf) {
                        got.extend_from_slice(&buf[..k]);
                    }
                }
                Op::Step { src: s, dst: d } => {
                    src.readable |= s;
                    dst.writable |= d;
                    step(&mut pump, &mut src, &mut dst, &mut got);
                }
            }
        }
        // Drain to the end: the rest of the input, then every event delivered.
        while fed < data.len() || in_w.is_some() || !pump.finished() {
            if let Some(w) = &in_w {
                if let Ok(k) = sys_write(w.as_raw_fd(), &data[fed..]) {
                    fed += k;
                }
                if fed == data.len() {
                    in_w = None;
                }
            }
            src.readable = true;
            dst.writable = true;
            step(&mut pump, &mut src, &mut dst, &mut got);
        }
        src.readable = true;
        dst.writable = true;
        step(&mut pump, &mut src, &mut dst, &mut got);
        assert_eq!(ends_seen, 1, "the end is seen exactly once");
        assert_eq!(got.len(), data.len());
        assert!(got == data, "bytes out differ from bytes in");
    }

    proptest! {
        // PROPTEST_CASES raises the count for a longer run.
            #![proptest_config(ProptestConfig::with_cases(
                std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(32)
            ))]

        #[test]
        fn spliced_bytes_out_equal_bytes_in(
            data in proptest::collection::vec(any::<u8>(), 0..100_000),
            ops in proptest::collection::vec(op(), 1..40),
            small in any::<bool>(),
        ) {
            run(&data, &ops, Shaping::default(), small);
        }

        #[test]
        fn buffered_bytes_out_equal_bytes_in(
            data in proptest::collection::vec(any::<u8>(), 0..100_000),
            ops in proptest::collection::vec(op(), 1..40),
        ) {
            // -i 0 forces the memory buffer and its line-at-a-time drain.
            let shaping = Shaping { crlf: false, interval: Some(Duration::ZERO), ..Default::default() };
            run(&data, &ops, shaping, true);
        }

        #[test]
        fn crlf_adds_a_cr_before_each_bare_lf(
            data in proptest::collection::vec(prop_oneof![Just(b'\n'), Just(b'\r'), any::<u8>()], 0..50_000),
            ops in proptest::collection::vec(op(), 1..20),
        ) {
            let mut want = Vec::new();
            for (i, &b) in data.iter().enumerate() {
                if b == b'\n' && (i == 0 || data[i - 1] != b'\r') {
                    want.push(b'\r');
                }
                want.push(b);
            }
            let (in_r, in_w) = pipe(false);
            let (out_r, out_w) = pipe(false);
            let mut pump = Pump::new(FdKind::Pipe, FdKind::Pipe, Shaping { crlf: true, interval: None, ..Default::default() });
            let mut src = Endpoint::new(in_r.as_raw_fd(), Token(1));
            let mut dst = Endpoint::new(out_w.as_raw_fd(), Token(2));
            let writer = std::thread::spawn(move || {
                // SAFETY: the write end moves into this thread and is closed at its end.
                let w = in_w;
                let mut off = 0;
                while off < data.len() {
                    match sys_write(w.as_raw_fd(), &data[off..]) {
                        Ok(k) => off += k,
                        Err(_) => std::thread::yield_now(),
                    }
                }
            });
            let mut got = Vec::new();
            let mut buf = vec![0u8; 1 << 16];
            let _ = ops;
            while !pump.finished() {
                src.readable = true;
                dst.writable = true;
                pump.progress(&mut src, &mut dst, Instant::now()).unwrap();
                while let Ok(n) = sys_read(out_r.as_raw_fd(), &mut buf) {
                    if n == 0 { break; }
                    got.extend_from_slice(&buf[..n]);
                }
                std::thread::yield_now();
            }
            writer.join().unwrap();
            prop_assert!(got == want);
        }
    }
}
