//! The links: each moves bytes between a TLS socket ("net") and the mode's end of a
//! socketpair ("app"), on the one event loop.
//!
//! Backpressure both ways with bounded buffers: the app end is read only when rustls has
//! no ciphertext waiting (so rustls holds at most one chunk), and the socket is read only
//! when every plaintext byte already decrypted has gone to the app end (so rustls holds
//! at most one record); what the app end could not take at once waits in `held` (at most
//! one chunk), and nothing more is read until it has gone. Both descriptors stay
//! registered for reading and writing (edge-triggered), so a link costs no syscalls
//! beyond its I/O.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet, VecDeque};
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::event::Event;
use mio::{Interest, Registry, Token};
use rustls::{ClientConnection, CommonState, Connection, ServerConfig, ServerConnection};
use socket2::Socket;

use super::{cert, settings, verify};
use crate::conn::{Conn, Peer};
use crate::endpoint::Endpoint;
use crate::net::os_message;

/// Links' tokens, two each (net, app).
pub const FIRST_TOKEN: usize = crate::token::FIRST_TLS;
/// Plaintext read from the app end at a time (four TLS records).
const CHUNK: usize = 64 * 1024;
/// After the mode has finished, how long its last bytes and close_notify may take.
const DRAIN_TIME: Duration = Duration::from_secs(5);

const NET: usize = 0;
const APP: usize = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// A relay's far connect, not yet answered.
    Connecting,
    Handshaking,
    Open,
}

struct Link {
    tls: Connection,
    net: Socket,
    app: UnixStream,
    eps: [Endpoint; 2],
    phase: Phase,
    /// Connect and handshake must be done by then.
    deadline: Instant,
    /// A listener's client: the mode's end and the peer, handed over once the handshake
    /// has completed.
    handoff: Option<(UnixStream, Peer)>,
    /// The peer, for messages.
    who: String,
    /// The mode's end (its descriptor number) and the socket's local address, for
    /// `local_addr`.
    theirs: (i32, Option<SocketAddr>),
    /// Plaintext from the peer that the app end could not take yet.
    held: Vec<u8>,
    /// rustls has no decrypted byte left: the socket may be read.
    plain_empty: bool,
    net_eof: bool,
    /// The app end reached EOF: close_notify is queued.
    app_eof: bool,
    fin_sent: bool,
    /// The peer sent close_notify (or FIN): the app end got its FIN.
    peer_done: bool,
    /// The app end is closed for good: what the peer sends is dropped.
    app_gone: bool,
}

#[derive(Default)]
struct LinkSet {
    links: HashMap<usize, Link>,
    next: usize,
    /// Links with news: an event, or new.
    dirty: HashSet<usize>,
    /// Links not yet registered with the poll.
    new: Vec<usize>,
    /// Links in Connecting or Handshaking, which have a deadline.
    timed: HashSet<usize>,
    /// Listener clients whose handshake has completed, for `take_ready`.
    ready: VecDeque<(Conn, Peer)>,
    scratch: Vec<u8>,
    /// The mode has finished: links only flush, until then.
    draining: Option<Instant>,
    /// A listener that serves one client (no -k): the handshake that failed, which ends it.
    failed: Option<String>,
    /// Such a listener has its client.
    took_one: bool,
}

thread_local! {
    static SET: RefCell<LinkSet> = RefCell::new(LinkSet::default());
}

/// Why a link ended early.
enum Failure {
    Io(io::Error),
    Tls(rustls::Error),
    TimedOut,
}

impl Failure {
    fn describe(&self) -> String {
        match self {
            Failure::Io(e) => os_message(e),
            Failure::Tls(e) => verify::describe(e),
            Failure::TimedOut => "timed out".into(),
        }
    }
}

fn verbose() -> u8 {
    settings().map_or(0, |s| s.verbose)
}

/// `TLS 1.3, TLS_AES_256_GCM_SHA384, ALPN h2, peer CN=x (SHA-256 ...)`: the `-v` line.
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

fn pair() -> io::Result<(UnixStream, UnixStream)> {
    let (a, b) = UnixStream::pair()?;
    a.set_nonblocking(true)?;
    b.set_nonblocking(true)?;
    Ok((a, b))
}

/// A new link on `net`. With `peer` (a listener's client) the mode's end waits for
/// `take_ready`; without, it is returned now.
fn add(
    net: OwnedFd,
    mut tls: Connection,
    phase: Phase,
    who: String,
    deadline: Instant,
    peer: Option<Peer>,
) -> io::Result<Option<UnixStream>> {
    let (app, theirs) = pair()?;
    // rustls's own limit (64 KiB) would take part of a chunk; `send` bounds what it
    // holds instead (one chunk, only when the last is out).
    tls.set_buffer_limit(None);
    let net = Socket::from(net);
    net.set_nonblocking(true)?;
    let origin = (
        theirs.as_raw_fd(),
        net.local_addr().ok().and_then(|a| a.as_socket()),
    );
    let (handoff, give) = match peer {
        Some(p) => (Some((theirs, p)), None),
        None => (None, Some(theirs)),
    };
    // Records go out as soon as they are made: no Nagle delay behind an ACK.
    let _ = net.set_tcp_nodelay(true);
    SET.with_borrow_mut(|set| {
        let id = set.next;
        set.next += 1;
        let mut eps = [
            Endpoint::new(net.as_raw_fd(), Token(FIRST_TOKEN + 2 * id)),
            Endpoint::new(app.as_raw_fd(), Token(FIRST_TOKEN + 2 * id + 1)),
        ];
        if phase == Phase::Connecting {
            eps[NET].writable = false;
        }
        if phase != Phase::Open {
            set.timed.insert(id);
        }
        set.links.insert(
            id,
            Link {
                tls,
                net,
                app,
                eps,
                phase,
                deadline,
                handoff,
                who,
                theirs: origin,
                held: Vec::new(),
                plain_empty: false,
                net_eof: false,
                app_eof: false,
                fin_sent: false,
                peer_done: false,
                app_gone: false,
            },
        );
        set.new.push(id);
        set.dirty.insert(id);
    });
    Ok(give)
}

/// A connection whose handshake is done (connect mode): returns the mode's end.
pub fn established(net: OwnedFd, tls: Connection) -> io::Result<UnixStream> {
    let theirs = add(
        net,
        tls,
        Phase::Open,
        "the server".into(),
        Instant::now(),
        None,
    )?;
    Ok(theirs.expect("no peer: the end comes back"))
}

/// A relay's far socket with its connect under way: returns the relay's end at once.
pub fn connecting(
    net: OwnedFd,
    tls: ClientConnection,
    host: &str,
    deadline: Instant,
) -> io::Result<UnixStream> {
    let theirs = add(
        net,
        tls.into(),
        Phase::Connecting,
        host.into(),
        deadline,
        None,
    )?;
    Ok(theirs.expect("no peer: the end comes back"))
}

/// A listener's client: handed over by `take_ready` once its handshake completes. A
/// listener without -k takes one client only, as nc does (the others are closed).
pub fn accept(net: OwnedFd, peer: Peer, cfg: Arc<ServerConfig>) {
    let once = settings().is_some_and(|s| s.once);
    if once && SET.with_borrow_mut(|set| std::mem::replace(&mut set.took_one, true)) {
        return;
    }
    let who = peer.describe(true);
    let fail = |e: &dyn std::fmt::Display| {
        if verbose() > 0 {
            crate::say!("rnc: tls handshake with {who} failed: {e}");
        }
    };
    let tls = match ServerConnection::new(cfg) {
        Ok(t) => t,
        Err(e) => return fail(&e),
    };
    let wait = settings().map_or(super::HANDSHAKE_TIMEOUT, |s| s.wait);
    let deadline = Instant::now() + wait;
    if let Err(e) = add(
        net,
        tls.into(),
        Phase::Handshaking,
        who.clone(),
        deadline,
        Some(peer),
    ) {
        fail(&os_message(&e));
    }
}

/// Up to `max` listener clients whose handshake has completed. A listener without -k
/// ends with its one client's failed handshake, as it would with any other failure.
pub fn take_ready(out: &mut Vec<(Conn, Peer)>, max: usize) -> anyhow::Result<()> {
    SET.with_borrow_mut(|set| {
        if let Some(e) = set.failed.take() {
            return Err(anyhow::anyhow!(e));
        }
        while out.len() < max {
            match set.ready.pop_front() {
                Some(c) => out.push(c),
                None => break,
            }
        }
        Ok(())
    })
}

pub fn has_ready() -> bool {
    SET.with_borrow(|set| !set.ready.is_empty())
}

/// The listeners have closed: clients still in their handshake, or not yet taken, go.
pub fn drop_pending() {
    SET.with_borrow_mut(|set| {
        set.ready.clear();
        let pending: Vec<usize> = set
            .links
            .iter()
            .filter(|(_, l)| l.handoff.is_some())
            .map(|(&id, _)| id)
            .collect();
        for id in pending {
            set.links.remove(&id);
            set.timed.remove(&id);
        }
    });
}

pub fn owns(t: Token) -> bool {
    t.0 >= FIRST_TOKEN
}

pub fn on_event(ev: &Event) {
    let t = ev.token().0 - FIRST_TOKEN;
    SET.with_borrow_mut(|set| {
        if let Some(l) = set.links.get_mut(&(t / 2)) {
            l.eps[t % 2].on_event(ev);
            set.dirty.insert(t / 2);
        }
    });
}

/// The local address of the socket behind the mode's end `fd` (a TLS client).
pub fn local_addr(fd: i32) -> Option<SocketAddr> {
    SET.with_borrow(|set| {
        set.links
            .values()
            .find(|l| l.theirs.0 == fd)
            .and_then(|l| l.theirs.1)
    })
}

/// No link is left.
pub fn idle() -> bool {
    SET.with_borrow(|set| set.links.is_empty())
}

/// The mode has finished: links send what the mode wrote, then close_notify and FIN,
/// and drop what the peer sends; handshakes in progress are abandoned. Returns when to
/// give up.
pub fn drain(now: Instant) -> Instant {
    drop_pending();
    SET.with_borrow_mut(|set| {
        let until = now + DRAIN_TIME;
        set.draining = Some(until);
        let ids: Vec<usize> = set.links.keys().copied().collect();
        for id in ids {
            if let Some(l) = set.links.get_mut(&id) {
                l.app_gone = true;
                l.held.clear();
            }
            set.dirty.insert(id);
        }
        until
    })
}

/// Register new links, move the bytes the events allowed, end the links that are done
/// or late; returns when to look again.
pub fn step(reg: &Registry, now: Instant) -> io::Result<Option<Instant>> {
    SET.with_borrow_mut(|set| set.step(reg, now))
}

impl LinkSet {
    fn step(&mut self, reg: &Registry, now: Instant) -> io::Result<Option<Instant>> {
        for id in std::mem::take(&mut self.new) {
            if let Some(l) = self.links.get_mut(&id) {
                for ep in &mut l.eps {
                    ep.set_interest(reg, Some(Interest::READABLE | Interest::WRITABLE))?;
                }
            }
        }
        if self.scratch.is_empty() {
            self.scratch = vec![0u8; CHUNK];
        }
        let late: Vec<usize> = self
            .timed
            .iter()
            .filter(|id| self.links.get(id).is_some_and(|l| now >= l.deadline))
            .copied()
            .collect();
        for id in late {
            self.end(reg, id, Some(Failure::TimedOut));
        }
        let draining = self.draining.is_some();
        for id in std::mem::take(&mut self.dirty) {
            let Some(l) = self.links.get_mut(&id) else {
                continue;
            };
            let res = l.drive(&mut self.scratch, draining);
            if l.phase == Phase::Open {
                self.timed.remove(&id);
                if let Some((app, peer)) = l.handoff.take() {
                    self.ready.push_back((Conn::Unix(app), peer));
                }
            }
            match res {
                Ok(true) => {}
                Ok(false) => self.end(reg, id, None),
                Err(f) => self.end(reg, id, Some(f)),
            }
        }
        // Something for the session's accept: look again at once.
        if !self.ready.is_empty() || self.failed.is_some() {
            return Ok(Some(now));
        }
        let next = self
            .timed
            .iter()
            .filter_map(|id| self.links.get(id).map(|l| l.deadline))
            .min();
        Ok(match (next, self.draining) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        })
    }

    fn end(&mut self, reg: &Registry, id: usize, why: Option<Failure>) {
        self.timed.remove(&id);
        let Some(mut l) = self.links.remove(&id) else {
            return;
        };
        for ep in &mut l.eps {
            ep.release(reg);
        }
        let Some(f) = why else { return };
        // A listener's client failing is its own business (-v); a server rnc chose to
        // talk to failing is news.
        let client_side = matches!(l.tls, Connection::Client(_));
        let during = l.phase != Phase::Open;
        if l.handoff.is_some() && settings().is_some_and(|s| s.once) {
            self.failed = Some(format!(
                "tls handshake with {} failed: {}",
                l.who,
                f.describe()
            ));
            return;
        }
        if verbose() > 0 || (client_side && !during) {
            match during {
                true => crate::say!("rnc: tls handshake with {} failed: {}", l.who, f.describe()),
                false => crate::say!("rnc: tls: {}: {}", l.who, f.describe()),
            }
        }
    }
}

impl Link {
    /// Move what can be moved now. Ok(false) when the link is done.
    fn drive(&mut self, buf: &mut [u8], draining: bool) -> Result<bool, Failure> {
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
            match self.tls.write_tls(&mut &self.net) {
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
                Ok(n) => {
                    self.held.extend_from_slice(&buf[..n]);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.plain_empty = true;
                    return Ok(moved);
                }
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    if verbose() > 0 {
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
        if self.net_eof || !self.eps[NET].readable || !self.plain_empty || !self.held.is_empty() {
            return Ok(false);
        }
        match self.tls.read_tls(&mut &self.net) {
            Ok(n) => {
                self.net_eof = n == 0;
                self.plain_empty = false;
                if let Err(e) = self.tls.process_new_packets() {
                    // Tell the peer why (the alert rustls queued), as far as it goes.
                    let _ = self.tls.write_tls(&mut &self.net);
                    return Err(Failure::Tls(e));
                }
                if self.phase == Phase::Handshaking && !self.tls.is_handshaking() {
                    self.phase = Phase::Open;
                    if verbose() > 0 {
                        crate::say!("rnc: tls: {}: {}", self.who, summary(&self.tls));
                    }
                }
                // FIN before the handshake finished: nothing will come of it.
                if self.net_eof && self.phase != Phase::Open {
                    return Err(Failure::Io(io::Error::from(io::ErrorKind::UnexpectedEof)));
                }
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                self.eps[NET].blocked_read();
                Ok(false)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(true),
            Err(e) => Err(Failure::Io(e)),
        }
    }

    /// The app end → rustls, one chunk at a time, only when the last one is out.
    fn send(&mut self, buf: &mut [u8], draining: bool) -> Result<bool, Failure> {
        if self.phase != Phase::Open || self.app_eof || self.tls.wants_write() {
            return Ok(false);
        }
        if !self.eps[APP].readable {
            if draining {
                self.app_closed();
                return Ok(true);
            }
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
                return Ok(false);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => self.app_closed(),
        }
        Ok(true)
    }
}
