//! `rnc -u -l` and `rnc -U -u -l`: datagram listeners.
//!
//! Without `-k`, as nc.openbsd: the first datagram's sender becomes the peer (the socket
//! is connected to it) and a bridge runs as for TCP. With `-k`, every sender is heard
//! and each stdin read goes, as one datagram, to the peer that sent the most recent
//! datagram (nc.openbsd sends stdin nowhere in that mode; ncat refuses it).

use std::collections::HashSet;
use std::io;
use std::mem::MaybeUninit;
use std::net::UdpSocket;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixDatagram;
use std::time::Instant;

use anyhow::{anyhow, Result};
use mio::event::Event;
use mio::{Registry, Token};
use socket2::{SockAddr, Socket};

use crate::access::Access;
use crate::bridge::{STDIN, STDOUT};
use crate::buf::{would_block, MemBuf, Step, DATAGRAM_ROOM, MEM_CAP};
use crate::config::{Config, IoRules};
use crate::conn::{Conn, Peer};
use crate::endpoint::{interest, Endpoint};
use crate::event_loop::{self, earliest, Flow, Session};
use crate::listener::permitted;
use crate::net::{self, os_message};
use crate::pump::MAX_DATAGRAM;
use crate::stdio;
use crate::stdio_pair::StdinSource;
use crate::unix::{self, SocketFile, UnixAddr};

use super::listen::{report_client, Arrival, OnePeer, Waiting, FIRST_LISTENER};

/// Room a receive needs so that no datagram is truncated.
/// Peers remembered for "new peer" lines; past this, old ones may be announced again.
const SEEN_MAX: usize = 4096;

/// A bound datagram socket and its endpoint.
pub type Bound = (Socket, Endpoint);

/// The bound datagram sockets of a listener (UDP, or one Unix datagram socket), each
/// with its endpoint, and the socket file to remove at exit (keep it until then).
/// Signals are caught before binding: one arriving later ends rnc through the loop,
/// which removes a socket file and restores stdio flags on the way out.
pub fn bind_datagram(
    cfg: &Config,
    addr: Option<&str>,
    port: u16,
    reuse_port: bool,
) -> Result<(Vec<Bound>, Option<SocketFile>)> {
    event_loop::catch_signals()?;
    let mut socket_file = None;
    let socks: Vec<Socket> = if cfg.unix() {
        let path = UnixAddr::parse(addr.unwrap_or_default())?;
        let (s, file) = unix::bind_dgram(&path)?;
        socket_file = file;
        s.set_nonblocking(true)?;
        if crate::report::verbose() > 0 {
            crate::say!("Bound on {path}");
        }
        vec![Socket::from(OwnedFd::from(s))]
    } else {
        let socks = bind_udp(cfg, addr, port, reuse_port)?;
        socks.into_iter().map(Socket::from).collect()
    };
    let socks = socks
        .into_iter()
        .enumerate()
        .map(|(i, s)| {
            let ep = Endpoint::new(s.as_raw_fd(), Token(FIRST_LISTENER + i));
            (s, ep)
        })
        .collect();
    Ok((socks, socket_file))
}

pub fn run(cfg: &Config, addr: Option<&str>, port: u16, keep_open: bool) -> Result<i32> {
    // --exec gives each peer a connected socket of its own on this port.
    let (socks, _socket_file) = bind_datagram(cfg, addr, port, cfg.attach().is_some())?;
    if let Some(attach) = cfg.attach() {
        return super::udp_exec::run(cfg, attach, socks);
    }
    if keep_open {
        event_loop::run(&mut EveryPeer::new(socks, cfg))
    } else {
        let first = FirstSender {
            socks,
            unix: cfg.unix(),
            access: cfg.access.clone(),
        };
        event_loop::run(&mut OnePeer::new(first, &cfg.io))
    }
}

/// Bind the UDP sockets of `-u -l [addr] port` (both stacks without an address) and
/// print nc.openbsd's `Bound on ADDR PORT` for each.
pub fn bind_udp(
    cfg: &Config,
    addr: Option<&str>,
    port: u16,
    reuse_port: bool,
) -> Result<Vec<UdpSocket>> {
    let opts = cfg.sock_opts(reuse_port);
    let socks = net::udp_sockets(addr, port, cfg.family, cfg.numeric, opts)?;
    if cfg.verbose > 0 {
        for s in &socks {
            let a = s.local_addr()?;
            crate::say!(
                "Bound on {} {}",
                net::host_name(a.ip(), cfg.numeric),
                a.port()
            );
        }
    }
    Ok(socks)
}

/// Who sent a datagram, for `-v` lines and access rules.
pub fn peer_of(sa: &SockAddr) -> Peer {
    if let Some(a) = sa.as_socket() {
        Peer::Inet(a)
    } else if let Some(p) = sa.as_pathname() {
        Peer::Unix(p.display().to_string())
    } else if let Some(n) = sa.as_abstract_namespace() {
        Peer::Unix(format!("@{}", String::from_utf8_lossy(n)))
    } else {
        Peer::Unix("(unnamed)".into())
    }
}

/// The sender of the first datagram: the socket it came to is connected to it (the
/// datagram stays queued for the bridge), the other sockets close.
struct FirstSender {
    socks: Vec<Bound>,
    unix: bool,
    access: Access,
}

impl FirstSender {
    /// Peek at the first datagram (it stays queued for the bridge) to learn its sender.
    fn first_sender(&mut self) -> Result<Option<(usize, SockAddr)>> {
        for (i, (s, ep)) in self.socks.iter_mut().enumerate() {
            if !ep.readable {
                continue;
            }
            let mut one = [MaybeUninit::<u8>::uninit(); 1];
            match s.peek_from(&mut one) {
                Ok((_, from)) if permitted(&self.access, &peer_of(&from)) => {
                    return Ok(Some((i, from)))
                }
                // Not allowed: take the datagram off the queue unread, look again.
                Ok(_) => {
                    let _ = s.recv_from(&mut one);
                }
                Err(e) if would_block(&e) => ep.blocked_read(),
                // A stale ICMP error from an earlier peer: consumed; look again.
                Err(e) if e.raw_os_error() == Some(libc::ECONNREFUSED) => {}
                Err(e) => return Err(anyhow!("recvfrom failed: {}", os_message(&e))),
            }
        }
        Ok(None)
    }
}

impl Arrival for FirstSender {
    fn on_event(&mut self, ev: &Event) {
        for (_, ep) in &mut self.socks {
            if ep.token == ev.token() {
                ep.on_event(ev);
            }
        }
    }

    fn arrive(&mut self, reg: &Registry, _now: Instant) -> Result<Waiting> {
        let Some((i, from)) = self.first_sender()? else {
            for (_, ep) in &mut self.socks {
                ep.set_interest(reg, interest(true, false))?;
            }
            return Ok(Waiting::Until(None));
        };
        for (_, ep) in &mut self.socks {
            ep.release(reg);
        }
        let (sock, _) = self.socks.swap_remove(i);
        self.socks.clear();
        // An unnamed Unix sender cannot be answered; hear it all the same.
        if !(self.unix && from.is_unnamed()) {
            sock.connect(&from)
                .map_err(|e| anyhow!("connect failed: {}", os_message(&e)))?;
        }
        let conn = match self.unix {
            true => Conn::UnixDgram(UnixDatagram::from(OwnedFd::from(sock))),
            false => Conn::Udp(UdpSocket::from(sock)),
        };
        Ok(Waiting::Came(conn, peer_of(&from)))
    }
}

/// `-u -l -k`: every peer is heard; stdin answers the latest.
struct EveryPeer {
    socks: Vec<(Socket, Endpoint)>,
    stdin: StdinSource,
    stdout_ep: Endpoint,
    /// Datagrams received, on their way to stdout.
    out: MemBuf,
    /// One stdin read, waiting to go out as one datagram.
    pending: MemBuf,
    /// Socket index and address of the peer that sent the most recent datagram.
    last: Option<(usize, SockAddr)>,
    seen: HashSet<Peer>,
    scratch: Box<[MaybeUninit<u8>]>,
    /// `-w`: the last datagram either way.
    active_at: Instant,
    io: IoRules,
    access: Access,
}

impl EveryPeer {
    fn new(socks: Vec<(Socket, Endpoint)>, cfg: &Config) -> EveryPeer {
        EveryPeer {
            socks,
            stdin: StdinSource::new(&cfg.io),
            stdout_ep: Endpoint::new(stdio::STDOUT, STDOUT),
            out: MemBuf::new(MEM_CAP),
            pending: MemBuf::new(MAX_DATAGRAM * 2),
            last: None,
            seen: HashSet::new(),
            scratch: vec![MaybeUninit::uninit(); DATAGRAM_ROOM].into_boxed_slice(),
            active_at: Instant::now(),
            io: cfg.io.clone(),
            access: cfg.access.clone(),
        }
    }

    fn receive(&mut self) -> Result<bool> {
        let mut moved = false;
        for (i, (s, ep)) in self.socks.iter_mut().enumerate() {
            while ep.readable && self.out.room() >= DATAGRAM_ROOM {
                match s.recv_from(&mut self.scratch) {
                    Ok((_, from)) if !permitted(&self.access, &peer_of(&from)) => {}
                    Ok((n, from)) => {
                        // SAFETY: recv_from initialised the first n bytes.
                        let bytes = unsafe {
                            std::slice::from_raw_parts(self.scratch.as_ptr().cast::<u8>(), n)
                        };
                        self.out.push(bytes);
                        crate::wrap::moved(crate::wrap::Dir::Received, bytes);
                        let peer = peer_of(&from);
                        if crate::report::verbose() > 0 && !self.seen.contains(&peer) {
                            if self.seen.len() >= SEEN_MAX {
                                self.seen.clear();
                            }
                            report_client(&peer);
                            self.seen.insert(peer);
                        }
                        if !from.is_unnamed() {
                            self.last = Some((i, from));
                        }
                        moved = true;
                    }
                    Err(e) if would_block(&e) => ep.blocked_read(),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    // Errors queued by ICMP for one peer must not stop the others.
                    Err(e) => {
                        if crate::report::verbose() > 1 {
                            crate::say!("rnc: recvfrom: {}", os_message(&e));
                        }
                    }
                }
            }
        }
        Ok(moved)
    }

    fn send(&mut self) -> bool {
        let Some((i, to)) = &self.last else {
            return false;
        };
        let (s, ep) = &mut self.socks[*i];
        if self.pending.len() == 0 || !ep.writable {
            return false;
        }
        match s.send_to(self.pending.bytes(), to) {
            Ok(_) => {
                let n = self.pending.len();
                crate::wrap::moved(crate::wrap::Dir::Sent, self.pending.bytes());
                self.pending.consume(n);
                true
            }
            Err(e) if would_block(&e) => {
                ep.blocked_write();
                false
            }
            Err(e) => {
                if crate::report::verbose() > 0 {
                    crate::say!(
                        "rnc: sendto {} failed: {}",
                        peer_of(to).describe(true),
                        os_message(&e)
                    );
                }
                let n = self.pending.len();
                self.pending.consume(n);
                true
            }
        }
    }
}

impl Session for EveryPeer {
    fn on_event(&mut self, _reg: &Registry, ev: &Event) -> Result<()> {
        match ev.token() {
            STDIN => self.stdin.on_event(ev),
            STDOUT => self.stdout_ep.on_event(ev),
            t => {
                for (_, ep) in &mut self.socks {
                    if ep.token == t {
                        ep.on_event(ev);
                    }
                }
            }
        }
        Ok(())
    }

    fn step(&mut self, reg: &Registry, now: Instant) -> Result<Flow> {
        loop {
            let mut moved = self.receive()?;
            while self.stdout_ep.writable && self.out.len() > 0 {
                match self.out.drain_to(stdio::STDOUT, usize::MAX) {
                    Ok(Step::Blocked) => self.stdout_ep.blocked_write(),
                    Ok(_) => moved = true,
                    Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return Ok(Flow::Exit(0)),
                    Err(e) => return Err(anyhow!("write to stdout failed: {}", os_message(&e))),
                }
            }
            // Read stdin only once someone can be answered, one datagram at a time.
            if self.pending.len() == 0 && self.last.is_some() {
                let pending = &mut self.pending;
                moved |= self
                    .stdin
                    .take(now, true, MAX_DATAGRAM, |b| pending.push(b))?;
            }
            moved |= self.send();
            if !moved {
                break;
            }
            self.active_at = now;
        }
        self.deadline(now, reg)
    }
}

impl EveryPeer {
    /// `-q` after stdin's end, `-w` after the last datagram: exit, or when to look again.
    fn deadline(&mut self, now: Instant, reg: &Registry) -> Result<Flow> {
        let quit = self
            .io
            .quit_after_eof
            .and_then(|q| Some(self.stdin.done_at? + q));
        let idle = self.io.idle_timeout.map(|w| self.active_at + w);
        if quit.is_some_and(|t| now >= t) || idle.is_some_and(|t| now >= t) {
            return Ok(Flow::Exit(0));
        }
        let want_stdin = self.pending.len() == 0 && self.last.is_some();
        self.stdin.arm(reg, want_stdin)?;
        self.stdout_ep
            .set_interest(reg, interest(false, self.out.len() > 0))?;
        let room = self.out.room() >= DATAGRAM_ROOM;
        let sending = self.last.as_ref().map(|(i, _)| *i);
        for (i, (_, ep)) in self.socks.iter_mut().enumerate() {
            let w = self.pending.len() > 0 && sending == Some(i);
            ep.set_interest(reg, interest(room, w))?;
        }
        let wake = [quit, idle, self.stdin.deadline()]
            .into_iter()
            .fold(None, earliest);
        Ok(Flow::Wait(wake))
    }
}
