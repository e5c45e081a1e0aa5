//! One link: it moves bytes between a TLS socket ("net") and the mode's end of a
//! socketpair ("app"), on the one event loop.
//!
//! Backpressure both ways with bounded buffers: the app end is read only when rustls has
//! no ciphertext waiting (so rustls holds at most one chunk); the socket is read (one
//! chunk into `inbox`, which rustls takes a record at a time) only when the inbox is
//! empty and every plaintext byte already decrypted has gone to the app end; what the
//! app end could not take at once waits in `held` (at most one chunk), and nothing more
//! is decrypted until it has gone. Both descriptors stay
//! registered for reading and writing (edge-triggered), so a link costs no syscalls
//! beyond its I/O.

use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::os::unix::net::UnixStream;
use std::time::Instant;

use rustls::{ClientConnection, CommonState, Connection};
use socket2::Socket;

use super::{cert, verify};
use crate::conn::Peer;
use crate::endpoint::Endpoint;
use crate::net::os_message;

/// Plaintext read from the app end at a time (four TLS records).
pub(super) const CHUNK: usize = 64 * 1024;

pub(super) const NET: usize = 0;
pub(super) const APP: usize = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    /// A relay's far connect, not yet answered.
    Connecting,
    Handshaking,
    Open,
}

pub(super) struct Link {
    pub(super) tls: Connection,
    pub(super) net: Socket,
    pub(super) app: UnixStream,
    pub(super) eps: [Endpoint; 2],
    pub(super) phase: Phase,
    /// Connect and handshake must be done by then.
    pub(super) deadline: Instant,
    /// When it was made (accepted, for a listener's client).
    pub(super) born: Instant,
    /// A listener's client: the mode's end and the peer, handed over once the handshake
    /// has completed.
    pub(super) handoff: Option<(UnixStream, Peer)>,
    /// The peer, for messages.
    pub(super) who: String,
    /// The mode's end (its descriptor number), for `local_addr`.
    pub(super) theirs: i32,
    /// Plaintext from the peer that the app end could not take yet.
    pub(super) held: Vec<u8>,
    /// Ciphertext read from the socket, not yet taken by rustls (which reads 4 KiB at
    /// a time: one 64 KiB read here saves the syscalls). Freed when empty, so an idle
    /// link holds none.
    pub(super) inbox: Vec<u8>,
    pub(super) inbox_pos: usize,
    /// rustls has no decrypted byte left: the socket may be read.
    pub(super) plain_empty: bool,
    pub(super) net_eof: bool,
    /// The app end reached EOF: close_notify is queued.
    pub(super) app_eof: bool,
    pub(super) fin_sent: bool,
    /// The peer sent close_notify (or FIN): the app end got its FIN.
    pub(super) peer_done: bool,
    /// The app end is closed for good: what the peer sends is dropped.
    pub(super) app_gone: bool,
}

/// Why a link ended early.
pub(super) enum Failure {
    Io(io::Error),
    Tls(rustls::Error),
    TimedOut,
}

impl Failure {
    pub(super) fn describe(&self) -> String {
        match self {
            Failure::Io(e) => os_message(e),
            Failure::Tls(e) => verify::describe(e),
            Failure::TimedOut => "timed out".into(),
        }
    }
}

/// `TLS 1.3, TLS_AES_128_GCM_SHA256, ALPN h2, peer CN=x (SHA-256 ...)`: the `-v` line.
pub fn summary(c: &CommonState) -> String {
    let version = match c.protocol_version() {
        Some(rustls::ProtocolVersion::TLSv1_3) => "TLS 1.3".to_string(),
        Some(rustls::ProtocolVersion::TLSv1_2) => "TLS 1.2".to_string(),
        Some(v) => format!("{v:?}"),
        None => "no version".into(),
    };
    let suite = c
        .negotiated_cipher_suite()
        .and_then(|s| s.suite().as_str())
        .unwrap_or("no suite")
        .replacen("TLS13_", "TLS_", 1);
    let alpn = c
        .alpn_protocol()
        .map_or("none".into(), |p| String::from_utf8_lossy(p).into_owned());
    let peer = match c.peer_certificates().and_then(|v| v.first()) {
        Some(leaf) => format!(
            "peer {} (SHA-256 {})",
            cert::subject(leaf),
            cert::hex_colons(&cert::sha256(leaf))
        ),
        None => "no peer certificate".into(),
    };
    format!("{version}, {suite}, ALPN {alpn}, {peer}")
}

/// Connect mode's handshake, on the blocking socket, before anything else is sent.
pub fn handshake(
    sock: &Socket,
    tls: &mut ClientConnection,
    deadline: Instant,
) -> Result<(), String> {
    while tls.is_handshaking() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err("timed out".into());
        }
        let _ = sock.set_read_timeout(Some(left));
        let _ = sock.set_write_timeout(Some(left));
        if let Err(e) = tls.complete_io(&mut &*sock) {
            return Err(
                match e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
                    Some(t) => verify::describe(t),
                    None if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                    {
                        "timed out".into()
                    }
                    None if e.kind() == io::ErrorKind::UnexpectedEof => {
                        "the server closed the connection".into()
                    }
                    None => os_message(&e),
                },
            );
        }
    }
    let _ = sock.set_read_timeout(None);
    let _ = sock.set_write_timeout(None);
    Ok(())
}

impl Link {
    /// Move what can be moved now. Ok(false) when the link is done.
    pub(super) fn drive(&mut self, buf: &mut [u8], draining: bool) -> Result<bool, Failure> {
        loop {
            let mut moved = false;
            if self.phase == Phase::Connecting {
                if !self.connected()? {
                    return Ok(true);
                }
                moved = true;
            }
            moved |= self.flush()?;
            moved |= self.deliver(buf)?;
            moved |= self.receive()?;
            moved |= self.send(buf, draining)?;
            if self.fin_sent && (self.peer_done || self.app_gone) && self.held.is_empty() {
                return Ok(false);
            }
            if !moved {
                return Ok(true);
            }
        }
    }

    /// A relay's far connect: true once it has succeeded.
    fn connected(&mut self) -> Result<bool, Failure> {
        if !self.eps[NET].writable {
            return Ok(false);
        }
        if let Some(e) = self.net.take_error().map_err(Failure::Io)? {
            return Err(Failure::Io(e));
        }
        match self.net.peer_addr() {
            Ok(_) => {
                self.phase = Phase::Handshaking;
                Ok(true)
            }
            Err(e) if e.raw_os_error() == Some(libc::ENOTCONN) => {
                self.eps[NET].blocked_write();
                Ok(false)
            }
            Err(e) => Err(Failure::Io(e)),
        }
    }

    /// Ciphertext → the socket; then the FIN once close_notify is out.
    fn flush(&mut self) -> Result<bool, Failure> {
        let mut moved = false;
        while self.tls.wants_write() && self.eps[NET].writable {
            // The last records (close_notify behind them) are corked: the FIN goes in
            // the same segment, one packet for the peer to take instead of two.
            let more = self.app_eof && !self.fin_sent;
            match self.tls.write_tls(&mut Corked(&self.net, more)) {
                Ok(_) => moved = true,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.eps[NET].blocked_write(),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Failure::Io(e)),
            }
        }
        if self.app_eof && !self.fin_sent && !self.tls.wants_write() {
            let _ = self.net.shutdown(Shutdown::Write);
            self.fin_sent = true;
            moved = true;
        }
        Ok(moved)
    }

    /// Decrypted bytes → the app end, and the peer's close_notify (or bare FIN) as a FIN.
    fn deliver(&mut self, buf: &mut [u8]) -> Result<bool, Failure> {
        let mut moved = false;
        loop {
            if !self.held.is_empty() {
                if !self.eps[APP].writable {
                    return Ok(moved);
                }
                match (&self.app).write(&self.held) {
                    Ok(n) => {
                        self.held.drain(..n);
                        moved = true;
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        self.eps[APP].blocked_write();
                        return Ok(moved);
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => self.app_closed(),
                }
                continue;
            }
            if self.peer_done || self.phase != Phase::Open {
                self.plain_empty = true;
                return Ok(moved);
            }
            match self.tls.reader().read(buf) {
                Ok(0) => self.peer_finished(),
                Ok(_) if self.app_gone => {}
                Ok(n) => self.pass_on(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.plain_empty = true;
                    return Ok(moved);
                }
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    if crate::report::verbose() > 0 {
                        crate::say!(
                            "rnc: tls: {} closed without close_notify: what it sent may be truncated",
                            self.who
                        );
                    }
                    self.peer_finished();
                }
                Err(e) => return Err(Failure::Io(e)),
            }
            moved = true;
        }
    }

    /// Plaintext to the app end, straight from `buf`; what it cannot take now is held.
    fn pass_on(&mut self, data: &[u8]) {
        let mut sent = 0;
        while sent < data.len() && self.eps[APP].writable {
            match (&self.app).write(&data[sent..]) {
                Ok(n) => sent += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.eps[APP].blocked_write(),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    self.app_closed();
                    return;
                }
            }
        }
        self.held.extend_from_slice(&data[sent..]);
    }

    fn peer_finished(&mut self) {
        self.peer_done = true;
        let _ = self.app.shutdown(Shutdown::Write);
    }

    /// The mode closed its end: nothing more can reach it, and it has nothing to send.
    fn app_closed(&mut self) {
        self.app_gone = true;
        self.held.clear();
        if !self.app_eof {
            self.app_eof = true;
            self.tls.send_close_notify();
        }
    }

    /// The socket → rustls, once every decrypted byte has gone on.
    fn receive(&mut self) -> Result<bool, Failure> {
        if self.net_eof || !self.plain_empty || !self.held.is_empty() {
            return Ok(false);
        }
        if self.inbox_pos == self.inbox.len() {
            if !self.eps[NET].readable {
                return Ok(false);
            }
            if let Some(moved) = self.refill()? {
                return Ok(moved);
            }
        }
        // An empty inbox here is the socket's EOF, which rustls must see too.
        match self.tls.read_tls(&mut &self.inbox[self.inbox_pos..]) {
            Ok(n) => {
                self.inbox_pos += n;
                if self.inbox_pos == self.inbox.len() {
                    self.inbox = Vec::new();
                    self.inbox_pos = 0;
                }
                self.net_eof = n == 0;
                self.plain_empty = false;
                if let Err(e) = self.tls.process_new_packets() {
                    // Tell the peer why (the alert rustls queued), as far as it goes.
                    let _ = self.tls.write_tls(&mut &self.net);
                    return Err(Failure::Tls(e));
                }
                if self.phase == Phase::Handshaking && !self.tls.is_handshaking() {
                    self.phase = Phase::Open;
                    if crate::report::verbose() > 0 {
                        crate::say!("rnc: tls: {}: {}", self.who, summary(&self.tls));
                    }
                }
                // FIN before the handshake finished: nothing will come of it.
                if self.net_eof && self.phase != Phase::Open {
                    return Err(Failure::Io(io::Error::from(io::ErrorKind::UnexpectedEof)));
                }
                Ok(true)
            }
            Err(e) => Err(Failure::Io(e)),
        }
    }

    /// One read of the socket into the empty inbox. `Some(moved)`: nothing for rustls
    /// now; `None`: bytes (or the EOF) are there.
    fn refill(&mut self) -> Result<Option<bool>, Failure> {
        // Into the spare capacity: zeroing 64 KiB for a 200-byte handshake record
        // would cost more than the read.
        self.inbox.clear();
        self.inbox.reserve(CHUNK);
        self.inbox_pos = 0;
        match self.net.recv(self.inbox.spare_capacity_mut()) {
            Ok(n) => {
                // SAFETY: recv initialised the first n bytes of the spare capacity.
                unsafe { self.inbox.set_len(n) };
                Ok(None)
            }
            Err(e) => {
                self.inbox = Vec::new();
                match e.kind() {
                    io::ErrorKind::WouldBlock => {
                        self.eps[NET].blocked_read();
                        Ok(Some(false))
                    }
                    io::ErrorKind::Interrupted => Ok(Some(true)),
                    _ => Err(Failure::Io(e)),
                }
            }
        }
    }

    /// The app end → rustls, one chunk at a time, only when the last one is out.
    fn send(&mut self, buf: &mut [u8], draining: bool) -> Result<bool, Failure> {
        if self.phase != Phase::Open || self.app_eof || self.tls.wants_write() {
            return Ok(false);
        }
        if !self.eps[APP].readable {
            return Ok(false);
        }
        match (&self.app).read(buf) {
            Ok(0) => {
                self.app_eof = true;
                self.tls.send_close_notify();
            }
            Ok(n) => {
                // Never short: without a buffer limit rustls takes it all, and the
                // check above keeps what it holds to this one chunk.
                self.tls
                    .writer()
                    .write_all(&buf[..n])
                    .map_err(Failure::Io)?;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                self.eps[APP].blocked_read();
                if draining {
                    // All the mode wrote is in: close_notify follows it.
                    self.app_closed();
                    return Ok(true);
                }
                return Ok(false);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => self.app_closed(),
        }
        Ok(true)
    }
}

/// The socket as rustls writes to it, with MSG_MORE when the FIN follows at once
/// (shutdown sends what was held back).
struct Corked<'a>(&'a Socket, bool);

impl Corked<'_> {
    fn flags(&self) -> libc::c_int {
        if self.1 {
            libc::MSG_MORE
        } else {
            0
        }
    }
}

impl Write for Corked<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.send_with_flags(buf, self.flags())
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        self.0.send_vectored_with_flags(bufs, self.flags())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
