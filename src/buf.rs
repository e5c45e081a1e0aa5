//! Bounded byte queues between a source and a destination descriptor.
//!
//! `Buffer::Pipe` moves bytes with splice(2) through a pipe rnc owns, so the data never
//! enters user space (socket ↔ pipe, file or /dev/null). `Buffer::Mem` is a fixed
//! array with read(2)/write(2) for everything else (terminals, `-C`, `-i`). Neither
//! allocates after it is made.

use std::cell::RefCell;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// What one attempt to move bytes did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Moved(usize),
    /// The source has no more data, ever.
    Eof,
    /// The descriptor would block: wait for its readiness event.
    Blocked,
    /// Our own pipe refused more, though the source may still have data: drain first.
    Full,
}

/// Size of a memory buffer: large enough that a bulk transfer makes few syscalls.
pub const MEM_CAP: usize = 128 * 1024;
/// Size asked for a splice pipe (the kernel may grant less; it counts as kernel memory,
/// not as rnc's RSS).
const PIPE_CAP: usize = 1024 * 1024;

fn cvt(rc: isize) -> io::Result<usize> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc as usize)
    }
}

/// read(2), retrying EINTR.
pub fn sys_read(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        // SAFETY: buf is valid for writes of buf.len() bytes.
        match cvt(unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) }) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            r => return r,
        }
    }
}

/// write(2), retrying EINTR.
pub fn sys_write(fd: RawFd, buf: &[u8]) -> io::Result<usize> {
    loop {
        // SAFETY: buf is valid for reads of buf.len() bytes.
        match cvt(unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) }) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            r => return r,
        }
    }
}

fn sys_splice(from: RawFd, to: RawFd, len: usize) -> io::Result<usize> {
    loop {
        // SAFETY: plain descriptors, no offsets.
        let rc = unsafe {
            libc::splice(
                from,
                std::ptr::null_mut(),
                to,
                std::ptr::null_mut(),
                len,
                libc::SPLICE_F_MOVE | libc::SPLICE_F_NONBLOCK,
            )
        };
        match cvt(rc) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            r => return r,
        }
    }
}

/// One read's worth of bytes wherever rnc reads a stream in chunks.
pub const CHUNK: usize = 64 * 1024;
/// Room for the largest datagram, so that a receive never truncates one.
pub const DATAGRAM_ROOM: usize = 65536;

/// The operation would block: wait for the descriptor's next readiness event.
pub fn would_block(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::WouldBlock
}

/// A fixed array used as a FIFO: bytes live in `data[start..end]`.
pub struct MemBuf {
    data: Box<[u8]>,
    start: usize,
    end: usize,
}

impl MemBuf {
    pub fn new(cap: usize) -> MemBuf {
        MemBuf {
            data: vec![0; cap].into_boxed_slice(),
            start: 0,
            end: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.end - self.start
    }

    pub fn room(&self) -> usize {
        self.data.len() - self.len()
    }

    pub fn bytes(&self) -> &[u8] {
        &self.data[self.start..self.end]
    }

    /// The free tail, compacting first when the free space is split.
    fn tail(&mut self) -> &mut [u8] {
        if self.end == self.data.len() && self.start > 0 {
            self.data.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        &mut self.data[self.end..]
    }

    pub fn consume(&mut self, n: usize) {
        self.start += n;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Append bytes; the caller checked `room()`.
    pub fn push(&mut self, bytes: &[u8]) {
        let n = bytes.len();
        self.tail()[..n].copy_from_slice(bytes);
        self.end += n;
    }

    /// Read at most `max` bytes from fd into the free space.
    pub fn fill_from(&mut self, fd: RawFd, max: usize) -> io::Result<Step> {
        let tail = self.tail();
        if tail.is_empty() {
            return Ok(Step::Full);
        }
        let n = tail.len().min(max);
        match sys_read(fd, &mut tail[..n]) {
            Ok(0) => Ok(Step::Eof),
            Ok(n) => {
                self.end += n;
                Ok(Step::Moved(n))
            }
            Err(e) if would_block(&e) => Ok(Step::Blocked),
            Err(e) => Err(e),
        }
    }

    /// Like `fill_from`, but a LF not already preceded by CR goes in as CR LF (`-C`, as
    /// nc.openbsd: CR LF input stays CR LF). `after_cr` carries "the last byte read was
    /// CR" from one read to the next.
    pub fn fill_crlf_from(
        &mut self,
        fd: RawFd,
        max: usize,
        after_cr: &mut bool,
    ) -> io::Result<Step> {
        let mut scratch = [0u8; 16 * 1024];
        // Worst case every byte is a LF and doubles.
        let want = (self.room().min(max) / 2).min(scratch.len());
        if want == 0 {
            return Ok(Step::Full);
        }
        match sys_read(fd, &mut scratch[..want]) {
            Ok(0) => Ok(Step::Eof),
            Ok(n) => {
                for line in scratch[..n].split_inclusive(|&b| b == b'\n') {
                    match line.split_last() {
                        Some((b'\n', body)) => {
                            let has_cr = match body.last() {
                                Some(&b) => b == b'\r',
                                None => *after_cr,
                            };
                            self.push(body);
                            self.push(if has_cr { b"\n" } else { b"\r\n" });
                        }
                        _ => self.push(line),
                    }
                    *after_cr = line.last() == Some(&b'\r');
                }
                Ok(Step::Moved(n))
            }
            Err(e) if would_block(&e) => Ok(Step::Blocked),
            Err(e) => Err(e),
        }
    }

    /// Write at most `limit` queued bytes to fd.
    pub fn drain_to(&mut self, fd: RawFd, limit: usize) -> io::Result<Step> {
        let n = self.len().min(limit);
        if n == 0 {
            return Ok(Step::Blocked);
        }
        match sys_write(fd, &self.data[self.start..self.start + n]) {
            Ok(n) => {
                self.consume(n);
                Ok(Step::Moved(n))
            }
            Err(e) if would_block(&e) => Ok(Step::Blocked),
            Err(e) => Err(e),
        }
    }
}

/// A pipe rnc owns, holding `len` bytes moved in by splice and not yet moved out.
pub struct PipeBuf {
    /// Read and write ends; `None` once handed back (`release`, `drop`) while empty:
    /// an idle pump holds no descriptors, and takes a pipe again when bytes come.
    fds: Option<(OwnedFd, OwnedFd)>,
    len: usize,
    cap: usize,
}

/// How many empty pipes are kept for reuse.
const SPARE_MAX: usize = 64;

thread_local! {
    /// Empty pipes of pumps that ended, kept for the next ones: a short relayed
    /// connection would otherwise spend most of its system calls making, sizing and
    /// closing its two pipes.
    static SPARE_PIPES: RefCell<Vec<(OwnedFd, OwnedFd, usize)>> = const { RefCell::new(Vec::new()) };
}

impl Drop for PipeBuf {
    fn drop(&mut self) {
        self.release();
    }
}

impl PipeBuf {
    fn rd(&self) -> RawFd {
        self.fds.as_ref().expect("pipe in use").0.as_raw_fd()
    }

    fn wr(&self) -> RawFd {
        self.fds.as_ref().expect("pipe in use").1.as_raw_fd()
    }

    /// An empty queue; its pipe is taken when the first bytes come (a spare one, or
    /// a new one), so a connection that never sends this way costs no descriptors.
    pub fn new() -> io::Result<PipeBuf> {
        Ok(PipeBuf {
            fds: None,
            len: 0,
            cap: PIPE_CAP,
        })
    }

    /// Hand the pipe back while it is empty (to the spares, or closed when they are
    /// full): a pump with nothing to move keeps no descriptors.
    pub fn release(&mut self) {
        // Only a pipe known to be empty may serve another pump.
        if self.len > 0 {
            return;
        }
        if let Some((rd, wr)) = self.fds.take() {
            SPARE_PIPES.with(|p| {
                let mut p = p.borrow_mut();
                if p.len() < SPARE_MAX {
                    p.push((rd, wr, self.cap));
                }
            });
        }
    }

    /// A pipe again, after `release`.
    fn ensure(&mut self) -> io::Result<()> {
        if self.fds.is_none() {
            let (rd, wr, cap) = acquire()?;
            self.fds = Some((rd, wr));
            self.cap = cap;
        }
        Ok(())
    }

    pub fn fill_from(&mut self, fd: RawFd) -> io::Result<Step> {
        if self.len >= self.cap {
            return Ok(Step::Full);
        }
        self.ensure()?;
        match sys_splice(fd, self.wr(), self.cap - self.len) {
            Ok(0) => Ok(Step::Eof),
            Ok(n) => {
                self.len += n;
                Ok(Step::Moved(n))
            }
            // With bytes already queued the pipe may be out of slots while the source
            // still has data; only an empty pipe proves the source is dry.
            Err(e) if would_block(&e) && self.len > 0 => Ok(Step::Full),
            Err(e) if would_block(&e) => Ok(Step::Blocked),
            Err(e) => Err(e),
        }
    }

    pub fn drain_to(&mut self, fd: RawFd) -> io::Result<Step> {
        if self.len == 0 {
            return Ok(Step::Blocked);
        }
        match sys_splice(self.rd(), fd, self.len) {
            Ok(n) => {
                self.len -= n;
                Ok(Step::Moved(n))
            }
            Err(e) if would_block(&e) => Ok(Step::Blocked),
            Err(e) => Err(e),
        }
    }

    /// Take the queued bytes out into memory (when splice turns out not to work on
    /// the destination after all).
    pub fn into_mem(mut self) -> io::Result<MemBuf> {
        let mut mem = MemBuf::new(MEM_CAP.max(self.len));
        while self.len > 0 {
            let want = self.len;
            let tail = mem.tail();
            let n = want.min(tail.len());
            let n = sys_read(self.rd(), &mut tail[..n])?;
            mem.end += n;
            self.len -= n;
        }
        Ok(mem)
    }
}

/// A spare pipe, or a new one: (read end, write end, capacity).
fn acquire() -> io::Result<(OwnedFd, OwnedFd, usize)> {
    if let Some(spare) = SPARE_PIPES.with(|p| p.borrow_mut().pop()) {
        return Ok(spare);
    }
    let mut fds = [0; 2];
    // SAFETY: fds has room for two descriptors.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: pipe2 returned two fresh descriptors we now own.
    let (rd, wr) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // SAFETY: F_SETPIPE_SZ on our pipe; F_GETPIPE_SZ reports what the kernel granted.
    let cap = unsafe {
        libc::fcntl(wr.as_raw_fd(), libc::F_SETPIPE_SZ, PIPE_CAP as libc::c_int);
        libc::fcntl(wr.as_raw_fd(), libc::F_GETPIPE_SZ)
    };
    let cap = if cap > 0 { cap as usize } else { 64 * 1024 };
    Ok((rd, wr, cap))
}

/// The queue of one pump: spliced or in memory.
pub enum Buffer {
    Mem(MemBuf),
    Pipe(PipeBuf),
}

impl Buffer {
    pub fn len(&self) -> usize {
        match self {
            Buffer::Mem(m) => m.len(),
            Buffer::Pipe(p) => p.len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn has_room(&self) -> bool {
        match self {
            Buffer::Mem(m) => m.room() > 0,
            Buffer::Pipe(p) => p.len < p.cap,
        }
    }
}

/// The queue of a many-client session: bytes waiting to go to one descriptor,
/// `buf[pos..]`. It grows as messages are pushed (the session bounds it by pausing its
/// sources) and gives its memory back when drained, so ten thousand idle clients cost
/// nothing.
#[derive(Default)]
pub struct Queue {
    buf: Vec<u8>,
    pos: usize,
}

/// A drained queue keeps at most this much memory for the next time.
const QUEUE_KEEP: usize = 16 * 1024;

impl Queue {
    pub fn len(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub fn is_empty(&self) -> bool {
        self.pos == self.buf.len()
    }

    pub fn push(&mut self, bytes: &[u8]) {
        if self.pos > 0 && self.pos >= self.buf.len() / 2 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// Write until the queue is empty or `ep` would block; returns the bytes written.
    pub fn flush(&mut self, ep: &mut crate::endpoint::Endpoint) -> io::Result<usize> {
        let mut sent = 0;
        while ep.writable && !self.is_empty() {
            match sys_write(ep.fd, &self.buf[self.pos..]) {
                Ok(n) => {
                    self.pos += n;
                    sent += n;
                    if !self.is_empty() {
                        ep.blocked_write();
                    }
                }
                Err(e) if would_block(&e) => ep.blocked_write(),
                Err(e) => return Err(e),
            }
        }
        if self.is_empty() {
            self.pos = 0;
            self.buf.clear();
            if self.buf.capacity() > QUEUE_KEEP {
                self.buf = Vec::new();
            }
        }
        Ok(sent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixStream;

    #[test]
    fn crlf_adds_a_cr_before_bare_lfs_only() {
        let (a, b) = UnixStream::pair().unwrap();
        sys_write(a.as_raw_fd(), b"a\nbc\n\nd\r\ne\r").unwrap();
        let mut m = MemBuf::new(64);
        let mut cr = false;
        assert_eq!(
            m.fill_crlf_from(b.as_raw_fd(), 64, &mut cr).unwrap(),
            Step::Moved(11)
        );
        assert_eq!(m.bytes(), b"a\r\nbc\r\n\r\nd\r\ne\r");
        // A CR at the end of one read and its LF at the start of the next: no CR added.
        sys_write(a.as_raw_fd(), b"\nf\n").unwrap();
        assert_eq!(
            m.fill_crlf_from(b.as_raw_fd(), 64, &mut cr).unwrap(),
            Step::Moved(3)
        );
        assert_eq!(m.bytes(), b"a\r\nbc\r\n\r\nd\r\ne\r\nf\r\n");
    }

    #[test]
    fn mem_compacts_and_keeps_order() {
        let (a, b) = UnixStream::pair().unwrap();
        let mut m = MemBuf::new(8);
        sys_write(a.as_raw_fd(), b"12345678").unwrap();
        m.fill_from(b.as_raw_fd(), usize::MAX).unwrap();
        m.consume(5);
        sys_write(a.as_raw_fd(), b"abcde").unwrap();
        m.fill_from(b.as_raw_fd(), usize::MAX).unwrap();
        assert_eq!(m.bytes(), b"678abcde");
    }

    #[test]
    fn pipe_round_trip() {
        let (a, b) = UnixStream::pair().unwrap();
        let (c, d) = UnixStream::pair().unwrap();
        b.set_nonblocking(true).unwrap();
        let mut p = PipeBuf::new().unwrap();
        assert_eq!(p.fill_from(b.as_raw_fd()).unwrap(), Step::Blocked);
        sys_write(a.as_raw_fd(), b"hello").unwrap();
        assert_eq!(p.fill_from(b.as_raw_fd()).unwrap(), Step::Moved(5));
        assert_eq!(p.drain_to(c.as_raw_fd()).unwrap(), Step::Moved(5));
        let mut out = [0u8; 5];
        assert_eq!(sys_read(d.as_raw_fd(), &mut out).unwrap(), 5);
        assert_eq!(&out, b"hello");
        drop(a);
        assert_eq!(p.fill_from(b.as_raw_fd()).unwrap(), Step::Eof);
    }
}
