//! `rnc -u -l [-k] port --exec|--sh-exec`: one child per UDP peer.
//!
//! A new peer's first datagram, read on the shared bound sockets, gives the peer a
//! socket of its own (bound to the same address with SO_REUSEPORT and connected to it,
//! so the kernel hands it that peer's datagrams from then on) and a child. Each datagram
//! goes to the child's stdin whole; each read of its stdout goes back as one datagram.
//!
//! UDP has no EOF, so a peer is retired (its socket closed, its entry gone):
//! - when its child has exited and its output is sent; if more datagrams wait, a new
//!   child takes them instead;
//! - when it has been idle, with no datagram in and no output out, for `-w` seconds
//!   (`IDLE` without `-w`); its child then gets SIGTERM;
//! - on an error of its socket (an ICMP "port unreachable": the peer has gone).
//!
//! `--max-conns` bounds the children alive at once; a new peer over it is not served
//! (its datagram is dropped, with a `-v` line).

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::process::{ChildStdin, ChildStdout};
use std::time::{Duration, Instant};

use anyhow::Result;
use mio::event::Event;
use mio::{Registry, Token};

use crate::access::Access;
use crate::child;
use crate::config::{Attach, Config};
use crate::conn::{Conn, Peer};
use crate::endpoint::{interest, Endpoint};
use crate::event_loop::{self, Flow, Session};
use crate::listener::permitted;
use crate::net::{self, os_message};
use crate::pump::{Framing, Pump, PumpError, Shaping, Tap};
use crate::stdio::FdKind;

use super::listen::report_client;

/// A peer with no datagram in and no output out for this long is retired (without -w):
/// long enough for a request-and-answer exchange with pauses, short enough that
/// peers that went away do not pile up children.
pub const IDLE: Duration = Duration::from_secs(60);
/// Peer tokens start here; each peer has three (socket, child's stdout, child's stdin).
const FIRST_PEER: usize = 64;
const SOCK: usize = 0;
const OUT: usize = 1;
const IN: usize = 2;

/// One peer: its socket, its child, and the two directions between them.
struct PeerLink {
    sock: UdpSocket,
    pid: u32,
    stdin: Option<ChildStdin>,
    _stdout: ChildStdout,
    eps: [Endpoint; 3],
    /// peer → child's stdin, a datagram at a time
    up: Pump,
    /// child's stdout → peer, one datagram per read
    down: Pump,
    exited: bool,
    /// The child stopped reading: its datagrams wait here for the next child.
    stdin_gone: bool,
    last_active: Instant,
}

enum State {
    Alive(Instant),
    Done,
}

fn token(id: usize, idx: usize) -> Token {
    Token(FIRST_PEER + id * 3 + idx)
}

impl PeerLink {
    fn open(id: usize, sock: UdpSocket, peer: &Peer, argv: &[String]) -> Result<PeerLink> {
        sock.set_nonblocking(true)?;
        let env = child::env_for(&Conn::Udp(sock.try_clone()?), peer);
        let c = child::spawn(argv, &env)?;
        Ok(PeerLink {
            eps: [
                Endpoint::new(sock.as_raw_fd(), token(id, SOCK)),
                Endpoint::new(c.stdout.as_raw_fd(), token(id, OUT)),
                Endpoint::new(c.stdin.as_raw_fd(), token(id, IN)),
            ],
            sock,
            pid: c.pid,
            stdin: Some(c.stdin),
            _stdout: c.stdout,
            up: Pump::framed(
                FdKind::Socket,
                FdKind::Pipe,
                Shaping::default(),
                Framing::DatagramIn,
            )
            .tapped(Tap::Receives),
            down: down_pump(),
            exited: false,
            stdin_gone: false,
            last_active: Instant::now(),
        })
    }

    /// The child has exited with its output sent: if the peer has more to say (queued
    /// here or on its socket), a new child takes over on the same socket.
    fn respawn_for_more(&mut self, reg: &Registry, peer: &Peer, argv: &[String]) -> Result<bool> {
        let mut one = [0u8; 1];
        if self.up.is_empty() && self.sock.peek(&mut one).is_err() {
            return Ok(false);
        }
        let env = child::env_for(&Conn::Udp(self.sock.try_clone()?), peer);
        let c = child::spawn(argv, &env)?;
        self.eps[OUT].release(reg);
        self.eps[IN].release(reg);
        self.eps[OUT] = Endpoint::new(c.stdout.as_raw_fd(), self.eps[OUT].token);
        self.eps[IN] = Endpoint::new(c.stdin.as_raw_fd(), self.eps[IN].token);
        self.pid = c.pid;
        self.stdin = Some(c.stdin);
        self._stdout = c.stdout;
        self.down = down_pump();
        self.exited = false;
        self.stdin_gone = false;
        Ok(true)
    }

    fn step(&mut self, reg: &Registry, now: Instant, idle: Duration) -> io::Result<State> {
        let [s, out, inp] = &mut self.eps;
        let moved_up = match self.up.progress(s, inp, now) {
            Ok(m) => m,
            // The child stopped reading: keep the peer's datagrams for the next one.
            Err(PumpError::Write(e)) if e.kind() == io::ErrorKind::BrokenPipe => {
                inp.blocked_write();
                self.stdin_gone = true;
                true
            }
            Err(PumpError::Read(e)) | Err(PumpError::Write(e)) => return Err(e),
        };
        let moved_down = match self.down.progress(out, s, now) {
            Ok(m) => m,
            Err(PumpError::Read(e)) | Err(PumpError::Write(e)) => return Err(e),
        };
        if moved_up || moved_down {
            self.last_active = now;
        }
        if self.down.finished() && self.exited {
            return Ok(State::Done);
        }
        let idle_at = self.last_active + idle;
        if now >= idle_at {
            return Ok(State::Done);
        }
        let up_w = !self.stdin_gone && self.up.wants_write(now);
        self.eps[SOCK].set_interest(
            reg,
            interest(self.up.wants_read(), self.down.wants_write(now)),
        )?;
        self.eps[OUT].set_interest(reg, interest(self.down.wants_read(), false))?;
        if self.stdin.is_some() {
            self.eps[IN].set_interest(reg, interest(false, up_w))?;
        }
        Ok(State::Alive(idle_at))
    }

    /// Close the peer's socket and pipes; a child still running is asked to stop.
    fn close(mut self, reg: &Registry) {
        for ep in &mut self.eps {
            ep.release(reg);
        }
        if !self.exited {
            child::end(self.pid);
        }
    }
}

fn down_pump() -> Pump {
    Pump::framed(
        FdKind::Pipe,
        FdKind::Socket,
        Shaping::default(),
        Framing::DatagramOut,
    )
    .tapped(Tap::Sends)
}

/// The program of `--exec` (split as ncat does) or `--sh-exec` (through `/bin/sh -c`).
fn argv_of(attach: &Attach) -> Vec<String> {
    match attach {
        Attach::Exec(argv) => argv.clone(),
        Attach::Shell(cmd) => vec!["/bin/sh".into(), "-c".into(), cmd.clone()],
        // Config allows only --exec and --sh-exec with -u.
        Attach::Tcp { .. } | Attach::Unix(_) | Attach::Proxy(_) => Vec::new(),
    }
}

struct UdpExec {
    /// The shared bound sockets, where new peers show up.
    socks: Vec<(UdpSocket, Endpoint)>,
    links: BTreeMap<usize, (SocketAddr, PeerLink)>,
    /// Which link serves each peer.
    peers: HashMap<SocketAddr, usize>,
    next_id: usize,
    scratch: Box<[u8]>,
    argv: Vec<String>,
    idle: Duration,
    max: usize,
    access: Access,
}

impl UdpExec {
    /// Datagrams on the shared sockets: from a known peer (sent before its own socket
    /// was connected) they go to its child; from a new peer they start one.
    fn intake(&mut self) {
        for i in 0..self.socks.len() {
            while self.socks[i].1.readable {
                let (s, ep) = &mut self.socks[i];
                let (n, from) = match s.recv_from(&mut self.scratch) {
                    Ok(x) => x,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        ep.blocked_read();
                        break;
                    }
                    Err(_) => continue, // an ICMP error for some earlier peer
                };
                let local = s.local_addr();
                let bytes = self.scratch[..n].to_vec();
                if let Some((_, l)) = self.peers.get(&from).and_then(|id| self.links.get_mut(id)) {
                    l.up.preload(&bytes);
                    continue;
                }
                if let Ok(local) = local {
                    self.new_peer(local, from, &bytes);
                }
            }
        }
    }

    fn new_peer(&mut self, local: SocketAddr, from: SocketAddr, first: &[u8]) {
        let peer = Peer::Inet(from);
        if !permitted(&self.access, &peer) {
            return;
        }
        // Retired children that have not exited yet count too.
        if self.links.len().max(child::count()) >= self.max {
            if crate::report::verbose() > 0 {
                crate::say!(
                    "rnc: --max-conns {} reached: dropped a datagram from {}",
                    self.max,
                    peer.describe(crate::report::numeric())
                );
            }
            return;
        }
        report_client(&peer);
        let id = self.next_id;
        self.next_id += 1;
        let link = net::udp_peer_socket(&local, &from)
            .and_then(|sock| PeerLink::open(id, sock, &peer, &self.argv));
        match link {
            Ok(mut l) => {
                l.up.preload(first);
                self.links.insert(id, (from, l));
                self.peers.insert(from, id);
            }
            Err(e) => {
                // A program that cannot run is the server's fault: said without -v.
                let cause = e
                    .downcast_ref::<io::Error>()
                    .map(os_message)
                    .unwrap_or_else(|| format!("{e:#}"));
                let what = e.to_string();
                crate::say!("rnc: {what}: {cause}");
            }
        }
    }

    /// Step every peer; retire those that are done. Returns the earliest deadline.
    fn step_peers(&mut self, reg: &Registry, now: Instant) -> Option<Instant> {
        let mut deadline: Option<Instant> = None;
        let mut done = Vec::new();
        for (&id, (addr, l)) in self.links.iter_mut() {
            match l.step(reg, now, self.idle) {
                Ok(State::Alive(d)) => deadline = Some(deadline.map_or(d, |x| x.min(d))),
                Ok(State::Done) => {
                    let peer = Peer::Inet(*addr);
                    if l.exited && matches!(l.respawn_for_more(reg, &peer, &self.argv), Ok(true)) {
                        // Step again at once: the new child's pipes are ready.
                        deadline = Some(now);
                        continue;
                    }
                    done.push(id);
                }
                Err(e) => {
                    if crate::report::verbose() > 1 {
                        crate::say!(
                            "rnc: client {}: {}",
                            Peer::Inet(*addr).describe(true),
                            os_message(&e)
                        );
                    }
                    done.push(id);
                }
            }
        }
        for id in done {
            if let Some((addr, l)) = self.links.remove(&id) {
                self.peers.remove(&addr);
                l.close(reg);
            }
        }
        deadline
    }
}

impl Session for UdpExec {
    fn on_event(&mut self, _reg: &Registry, ev: &Event) -> Result<()> {
        let t = ev.token();
        for (_, ep) in &mut self.socks {
            if ep.token == t {
                ep.on_event(ev);
            }
        }
        if t.0 >= FIRST_PEER {
            let (id, idx) = ((t.0 - FIRST_PEER) / 3, (t.0 - FIRST_PEER) % 3);
            if let Some((_, l)) = self.links.get_mut(&id) {
                l.eps[idx].on_event(ev);
            }
        }
        Ok(())
    }

    fn on_child_exit(&mut self) {
        let gone = child::reap();
        for (_, l) in self.links.values_mut() {
            if gone.contains(&l.pid) {
                l.exited = true;
            }
        }
    }

    fn step(&mut self, reg: &Registry, now: Instant) -> Result<Flow> {
        self.intake();
        let deadline = self.step_peers(reg, now);
        for (_, ep) in &mut self.socks {
            ep.set_interest(reg, interest(true, false))?;
        }
        Ok(Flow::Wait(deadline))
    }
}

/// Serve every peer of the bound sockets `socks` with a child of its own.
pub fn run(cfg: &Config, attach: &Attach, socks: Vec<super::datagram::Bound>) -> Result<i32> {
    let socks = socks
        .into_iter()
        .map(|(s, ep)| (UdpSocket::from(s), ep))
        .collect();
    let mut session = UdpExec {
        socks,
        links: BTreeMap::new(),
        peers: HashMap::new(),
        next_id: 0,
        scratch: vec![0u8; crate::buf::DATAGRAM_ROOM].into_boxed_slice(),
        argv: argv_of(attach),
        idle: cfg.wait.unwrap_or(IDLE),
        max: cfg.max_conns,
        access: cfg.access.clone(),
    };
    event_loop::run(&mut session)
}
