//! The proxy server's handshake phase of a relay link (`-l --proxy-type`): the far
//! side of the link is not known until the client's request names it. The parsing is
//! `proxy::server`'s; this file does the I/O on the loop: reads into the handshake,
//! writes its small replies, starts the far connect without blocking, and afterwards
//! hands the link to its two pumps.
//!
//! A name in a request (a SOCKS5 domain, SOCKS4a, an HTTP host) is looked up with
//! getaddrinfo, which the loop waits for: literal addresses and /etc/hosts names cost
//! nothing, a DNS name one query of at most a second per name server (`bound_lookups`).
//! `-n` refuses names.

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mio::Registry;

use super::{start_connect, Far, Link, LinkRules, LinkState, CLIENT, FAR_R, FAR_W};
use crate::buf::{sys_read, sys_write};
use crate::conn::Conn;
use crate::endpoint::{interest, Endpoint};
use crate::net;
use crate::proxy::server::{Failure, Host, Request, Serve, Shake, Step};
use crate::pump::{Pump, Shaping, Tap};
use crate::stdio::FdKind;

/// After a refusal, the client's further bytes are read and dropped for this long at
/// most (so that the reply is not lost to a reset), up to `DRAIN_MAX` bytes.
const DRAIN_FOR: Duration = Duration::from_secs(1);
const DRAIN_MAX: usize = 64 * 1024;

pub struct Handshake {
    serve: Serve,
    shake: Shake,
    phase: Phase,
    /// The whole handshake (request and connect) ends by then.
    deadline: Instant,
    /// The client sent EOF.
    eof: bool,
}

enum Phase {
    Reading,
    Connecting,
    /// Refused: the reply is sent and the write side shut; reading and dropping.
    Draining {
        until: Instant,
        left: usize,
    },
}

impl Handshake {
    pub fn new(serve: &Serve, now: Instant, wait: Duration) -> Box<Handshake> {
        Box::new(Handshake {
            serve: serve.clone(),
            shake: Shake::new(serve.kind),
            phase: Phase::Reading,
            deadline: now + wait,
            eof: false,
        })
    }
}

/// The -v name of a target: `host:port`, and the address when it was a name.
fn describe(r: &Request, addr: Option<SocketAddr>) -> String {
    match (&r.host, addr) {
        (Host::Name(_), Some(a)) => format!("{}:{} ({a})", r.host, r.port),
        _ => format!("{}:{}", r.host, r.port),
    }
}

impl Link {
    /// One step of the handshake; `Ok(None)` once the tunnel is open and the pumps
    /// take over.
    pub(super) fn shake_step(
        &mut self,
        reg: &Registry,
        now: Instant,
        rules: &LinkRules,
    ) -> io::Result<Option<LinkState>> {
        loop {
            let Some(hs) = self.hs.as_mut() else {
                return Ok(None);
            };
            match hs.phase {
                Phase::Reading => {
                    if let Some(state) = self.read_request(reg, now, rules)? {
                        return Ok(Some(state));
                    }
                }
                Phase::Connecting => return self.connect_step(reg, now, rules),
                Phase::Draining { until, left } => {
                    return self.drain(reg, now, until, left).map(Some)
                }
            }
        }
    }

    /// Read what the client sent and act on it. `Some` when waiting or done.
    fn read_request(
        &mut self,
        reg: &Registry,
        now: Instant,
        rules: &LinkRules,
    ) -> io::Result<Option<LinkState>> {
        let fd = self.client.fd();
        let hs = self.hs.as_mut().expect("in handshake");
        let mut chunk = [0u8; 4096];
        while !hs.eof && hs.shake.room() > 0 {
            let want = hs.shake.room().min(chunk.len());
            match sys_read(fd, &mut chunk[..want]) {
                Ok(0) => hs.eof = true,
                // A short read emptied the socket: more bytes will come with a new
                // edge, so no read is spent to hear EAGAIN.
                Ok(n) if n < want => {
                    hs.shake.push(&chunk[..n]);
                    break;
                }
                Ok(n) => hs.shake.push(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        let auth = hs.serve.auth.clone();
        match hs.shake.step(auth.as_ref(), hs.eof) {
            Step::Need if now >= hs.deadline => {
                self.refused(reg, now, Vec::new(), "handshake timed out", rules)
            }
            Step::Need => {
                let deadline = hs.deadline;
                self.eps[CLIENT].set_interest(reg, interest(true, false))?;
                Ok(Some(LinkState::Alive(Some(deadline))))
            }
            Step::Reply(bytes) => {
                send_all(fd, &bytes)?;
                Ok(None)
            }
            Step::Refuse { reply, why } => self.refused(reg, now, reply, &why, rules),
            Step::Connect(req) => self.start(reg, now, req, rules),
        }
    }

    /// Send the refusal, shut the write side, and drain for a while.
    fn refused(
        &mut self,
        reg: &Registry,
        now: Instant,
        reply: Vec<u8>,
        why: &str,
        rules: &LinkRules,
    ) -> io::Result<Option<LinkState>> {
        if crate::report::verbose() > 0 {
            crate::say!(
                "rnc: proxy client {}: {why}",
                self.peer.describe(rules.numeric)
            );
        }
        // The reply is a few bytes to a socket whose buffer is empty; a client that
        // cannot take them is gone.
        let _ = send_all(self.client.fd(), &reply);
        self.client.shutdown_write();
        let hs = self.hs.as_mut().expect("in handshake");
        let until = now + DRAIN_FOR;
        hs.phase = Phase::Draining {
            until,
            left: DRAIN_MAX,
        };
        self.drain(reg, now, until, DRAIN_MAX).map(Some)
    }

    fn drain(
        &mut self,
        reg: &Registry,
        now: Instant,
        until: Instant,
        mut left: usize,
    ) -> io::Result<LinkState> {
        let mut chunk = [0u8; 4096];
        loop {
            if now >= until || left == 0 {
                return Ok(LinkState::Done);
            }
            match sys_read(self.client.fd(), &mut chunk[..left.min(4096)]) {
                Ok(0) => return Ok(LinkState::Done),
                Ok(n) => left -= n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Ok(LinkState::Done),
            }
        }
        if let Some(hs) = self.hs.as_mut() {
            hs.phase = Phase::Draining { until, left };
        }
        self.eps[CLIENT].set_interest(reg, interest(true, false))?;
        Ok(LinkState::Alive(Some(until)))
    }

    /// Look the target up and start connecting to it.
    fn start(
        &mut self,
        reg: &Registry,
        now: Instant,
        req: Request,
        rules: &LinkRules,
    ) -> io::Result<Option<LinkState>> {
        let host = match &req.host {
            Host::Ip(ip) => ip.to_string(),
            Host::Name(n) => n.clone(),
        };
        let addr = match net::resolve(&host, req.port, rules.family, rules.numeric) {
            Ok(a) => a[0],
            Err(e) => {
                let why = format!("{}: {e:#}", describe(&req, None));
                return self.unreachable(reg, now, Failure::NoAddress, &why, rules);
            }
        };
        self.label = Some(describe(&req, Some(addr)));
        if req.forward.is_some() && is_self(addr, &self.client) {
            let why = format!("request loop: {} is this proxy", describe(&req, None));
            return self.unreachable(reg, now, Failure::Loop, &why, rules);
        }
        let sock = match start_connect(addr) {
            Ok(s) => s,
            Err(e) => {
                let why = format!(
                    "connect to {}: {}",
                    describe(&req, Some(addr)),
                    net::os_message(&e)
                );
                return self.unreachable(reg, now, Failure::of(&e), &why, rules);
            }
        };
        let conn = Conn::Tcp(sock.into());
        let fd = conn.fd();
        self.far = Far::Sock(conn);
        self.eps[FAR_R] = Endpoint::new(fd, self.eps[FAR_R].token);
        self.eps[FAR_W] = Endpoint::new(fd, self.eps[FAR_W].token);
        let hs = self.hs.as_mut().expect("in handshake");
        self.connecting = Some(hs.deadline);
        hs.phase = Phase::Connecting;
        self.forward = req.forward.map(|f| (f, req.more));
        // The client is not read until the tunnel is open.
        self.eps[CLIENT].set_interest(reg, None)?;
        self.connect_step(reg, now, rules)
    }

    fn unreachable(
        &mut self,
        reg: &Registry,
        now: Instant,
        f: Failure,
        why: &str,
        rules: &LinkRules,
    ) -> io::Result<Option<LinkState>> {
        let reply = self.hs.as_ref().expect("in handshake").shake.failed(f);
        self.refused(reg, now, reply, why, rules)
    }

    fn connect_step(
        &mut self,
        reg: &Registry,
        now: Instant,
        rules: &LinkRules,
    ) -> io::Result<Option<LinkState>> {
        match self.finish_connect(now) {
            Ok(false) => {
                self.eps[FAR_R].set_interest(reg, interest(false, true))?;
                Ok(Some(LinkState::Alive(self.connecting)))
            }
            Ok(true) => self.open_tunnel(rules).map(|_| None),
            Err(e) => {
                self.connecting = None;
                self.eps[FAR_R].release(reg);
                self.far = Far::None;
                let label = self.label.clone().unwrap_or_default();
                let why = format!("connect to {label}: {}", net::os_message(&e));
                self.unreachable(reg, now, Failure::of(&e), &why, rules)
            }
        }
    }

    /// Connected: reply, and give the link its pumps.
    fn open_tunnel(&mut self, rules: &LinkRules) -> io::Result<()> {
        let Some(mut hs) = self.hs.take() else {
            return Ok(());
        };
        let Far::Sock(Conn::Tcp(s)) = &self.far else {
            return Ok(());
        };
        let bound = s.local_addr()?;
        send_all(self.client.fd(), &hs.shake.granted(bound))?;
        let rest = hs.shake.rest();
        let up = match (self.forward.take(), rest.is_empty()) {
            (Some((req, more)), _) => {
                // One request passed on: the client's bytes after its body are not.
                let mut p = Pump::new(FdKind::Other, FdKind::Socket, Shaping::default());
                p.preload(&req);
                p.limit_reads(more);
                p
            }
            (None, true) => Pump::new(FdKind::Socket, FdKind::Socket, Shaping::default()),
            (None, false) => {
                let mut p = Pump::new(FdKind::Other, FdKind::Socket, Shaping::default());
                p.preload(&rest);
                p
            }
        };
        // --stats and -o count a tunnel's bytes as the relay's.
        self.up = up.tapped(Tap::Receives);
        self.down =
            Pump::new(FdKind::Socket, FdKind::Socket, Shaping::default()).tapped(Tap::Sends);
        self.eps[FAR_R].writable = true;
        self.active_at = Instant::now();
        if crate::report::verbose() > 1 {
            crate::say!(
                "rnc: tunnel {} -> {} open",
                self.peer.describe(rules.numeric),
                self.label.as_deref().unwrap_or("?")
            );
        }
        Ok(())
    }
}

/// Bound the time a name lookup can hold the loop: one try, one second per name
/// server, unless the user's RES_OPTIONS says otherwise. Set before the first lookup
/// (the listen address's), while rnc has one thread.
pub fn bound_lookups() {
    if std::env::var_os("RES_OPTIONS").is_none() {
        std::env::set_var("RES_OPTIONS", "timeout:1 attempts:1");
    }
}

/// The target is this proxy's own listening address (an HTTP request loop).
fn is_self(addr: SocketAddr, client: &Conn) -> bool {
    let Conn::Tcp(s) = client else {
        return false;
    };
    let Ok(local) = s.local_addr() else {
        return false;
    };
    let local_ip = local.ip();
    addr == local
        || (addr.port() == local.port()
            && (addr.ip().is_loopback() || addr.ip().is_unspecified())
            && local_ip.is_loopback())
}

/// Write a small reply whole: the socket is fresh, its send buffer empty.
fn send_all(fd: i32, mut b: &[u8]) -> io::Result<()> {
    while !b.is_empty() {
        match sys_write(fd, b) {
            Ok(n) => b = &b[n..],
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
