//! `--relay`, `--exec`, `--sh-exec`: each connection joined to a far side (another
//! socket, or a child process through its stdin/stdout pipes) by two pumps, with nc's
//! half-close passed through each way independently. Everything runs on the one loop:
//! far connects are non-blocking, child pipes are registered like sockets, and children
//! are reaped on SIGCHLD.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use mio::event::Event;
use mio::{Registry, Token};
use socket2::{Domain, Protocol, Socket, Type};

use crate::access::Access;
use crate::config::{Attach, Config};
use crate::conn::{Conn, Peer};
use crate::endpoint::{interest, Endpoint};
use crate::event_loop::{self, Flow, Session};
use crate::listener::{admit, permitted, Listeners};
use crate::net::{self, os_message};
use crate::pump::{Framing, Pump, PumpError, Shaping};
use crate::stdio::FdKind;
use crate::unix::{self, UnixAddr};

/// Link tokens start here; each link has three (client, far read, far write).
const FIRST_LINK: usize = 64;
/// A far connect without -w gives up after this long.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

const CLIENT: usize = 0;
const FAR_R: usize = 1;
const FAR_W: usize = 2;

/// Where the far side is, resolved once at start.
enum Target {
    Tcp { addr: SocketAddr, host: String },
    Unix(UnixAddr),
    Exec(Vec<String>),
}

impl Target {
    fn resolve(cfg: &Config, attach: &Attach) -> Result<Target> {
        Ok(match attach {
            Attach::Tcp { host, port } => Target::Tcp {
                addr: net::resolve(host, *port, cfg.family, cfg.numeric)?[0],
                host: host.clone(),
            },
            Attach::Unix(p) => Target::Unix(UnixAddr::parse(p)?),
            Attach::Exec(argv) => Target::Exec(argv.clone()),
            Attach::Shell(cmd) => Target::Exec(vec!["/bin/sh".into(), "-c".into(), cmd.clone()]),
        })
    }
}

enum Far {
    Sock(Conn),
    Child {
        child: Child,
        stdin: Option<ChildStdin>,
        stdout: ChildStdout,
    },
}

struct Link {
    client: Conn,
    far: Far,
    eps: [Endpoint; 3],
    /// client → far
    up: Pump,
    /// far → client
    down: Pump,
    /// Far connect in progress, given up at this instant.
    connecting: Option<Instant>,
    up_closed: bool,
    down_closed: bool,
    child_exited: bool,
    /// A UDP peer's child closed its stdin: hold the peer's datagrams, don't retry.
    child_stdin_gone: bool,
    peer: Peer,
}

enum LinkState {
    Alive(Option<Instant>),
    Done,
}

fn token(id: usize, idx: usize) -> Token {
    Token(FIRST_LINK + id * 3 + idx)
}

/// Environment for a child, with ncat's names as aliases for existing handler scripts.
fn child_env(cmd: &mut Command, client: &Conn, peer: &Peer) {
    let (proto, local) = match client {
        Conn::Tcp(s) => ("TCP", s.local_addr().ok()),
        Conn::Udp(s) => ("UDP", s.local_addr().ok()),
        // A TLS client's plaintext end: the socket behind it says what it is.
        Conn::Unix(s) => match crate::tls::local_addr(s.as_raw_fd()) {
            Some(l) => ("TCP", Some(l)),
            None => ("UNIX", None),
        },
        _ => ("UNIX", None),
    };
    let mut set = |k: &str, v: String| {
        cmd.env(format!("RNC_{k}"), &v);
        cmd.env(format!("NCAT_{k}"), &v);
    };
    match peer {
        Peer::Inet(a) => {
            set("REMOTE_ADDR", a.ip().to_string());
            set("REMOTE_PORT", a.port().to_string());
        }
        Peer::Unix(p) => set("REMOTE_ADDR", p.clone()),
    }
    if let Some(l) = local {
        set("LOCAL_ADDR", l.ip().to_string());
        set("LOCAL_PORT", l.port().to_string());
    }
    set("PROTO", proto.to_string());
}

fn set_nonblocking(fd: i32) -> io::Result<()> {
    // SAFETY: fcntl on a descriptor we own.
    unsafe {
        let fl = libc::fcntl(fd, libc::F_GETFL);
        if fl == -1 || libc::fcntl(fd, libc::F_SETFL, fl | libc::O_NONBLOCK) == -1 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Start one child with its stdin and stdout as non-blocking pipes.
fn spawn(argv: &[String], client: &Conn, peer: &Peer) -> Result<Far> {
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    child_env(&mut cmd, client, peer);
    // rnc's own descriptors are all close-on-exec; this also keeps out any descriptor
    // rnc itself inherited without that flag.
    // SAFETY: close_range is async-signal-safe; nothing else runs here.
    unsafe {
        cmd.pre_exec(|| {
            libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32);
            Ok(())
        });
    }
    let mut child = cmd
        .spawn()
        .with_context(|| format!("cannot run {}", argv[0]))?;
    let stdin = child.stdin.take().expect("piped");
    let stdout = child.stdout.take().expect("piped");
    set_nonblocking(stdin.as_raw_fd())?;
    set_nonblocking(stdout.as_raw_fd())?;
    Ok(Far::Child {
        child,
        stdin: Some(stdin),
        stdout,
    })
}

impl Link {
    fn open(
        id: usize,
        client: Conn,
        peer: Peer,
        target: &Target,
        wait: Option<Duration>,
    ) -> Result<Link> {
        client.set_nonblocking()?;
        let (far, connecting, far_kind) = match target {
            Target::Tcp { addr, host } => {
                let s = Socket::new(
                    Domain::for_address(*addr),
                    Type::STREAM,
                    Some(Protocol::TCP),
                )
                .context("socket")?;
                s.set_nonblocking(true).context("fcntl O_NONBLOCK")?;
                match s.connect(&(*addr).into()) {
                    Ok(()) => {}
                    Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
                    Err(e) => return Err(e.into()),
                }
                let deadline = Instant::now() + wait.unwrap_or(CONNECT_TIMEOUT);
                // --relay-ssl: the TLS link finishes the connect; the far end is its.
                match crate::tls::relay_connect(s.into(), host, deadline)? {
                    Conn::Tcp(s) => (Far::Sock(Conn::Tcp(s)), Some(deadline), FdKind::Socket),
                    far => (Far::Sock(far), None, FdKind::Socket),
                }
            }
            Target::Unix(a) => {
                let s = unix::connect_stream(a)?;
                s.set_nonblocking(true)?;
                (Far::Sock(Conn::Unix(s)), None, FdKind::Socket)
            }
            Target::Exec(argv) => (spawn(argv, &client, &peer)?, None, FdKind::Pipe),
        };
        let (far_r, far_w) = match &far {
            Far::Sock(c) => (c.fd(), c.fd()),
            Far::Child { stdin, stdout, .. } => (
                stdout.as_raw_fd(),
                stdin.as_ref().map_or(-1, |s| s.as_raw_fd()),
            ),
        };
        // A UDP peer: each datagram goes to the child whole; each read of the child's
        // output goes back as one datagram.
        let (up_framing, down_framing) = match client.is_datagram() {
            true => (Framing::DatagramIn, Framing::DatagramOut),
            false => (Framing::Stream, Framing::Stream),
        };
        Ok(Link {
            eps: [
                Endpoint::new(client.fd(), token(id, CLIENT)),
                Endpoint::new(far_r, token(id, FAR_R)),
                Endpoint::new(far_w, token(id, FAR_W)),
            ],
            client,
            far,
            up: Pump::framed(FdKind::Socket, far_kind, Shaping::default(), up_framing),
            down: Pump::framed(far_kind, FdKind::Socket, Shaping::default(), down_framing),
            connecting,
            up_closed: false,
            down_closed: false,
            child_exited: false,
            child_stdin_gone: false,
            peer,
        })
    }

    fn is_child(&self) -> bool {
        matches!(self.far, Far::Child { .. })
    }

    /// Check a pending far connect. Ok(true) when connected.
    fn finish_connect(&mut self, now: Instant) -> io::Result<bool> {
        let Some(deadline) = self.connecting else {
            return Ok(true);
        };
        let Far::Sock(Conn::Tcp(s)) = &self.far else {
            return Ok(true);
        };
        if let Some(e) = s.take_error()? {
            return Err(e);
        }
        match s.peer_addr() {
            Ok(_) => {
                self.connecting = None;
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::NotConnected => {
                if now >= deadline {
                    return Err(io::Error::from(io::ErrorKind::TimedOut));
                }
                self.eps[FAR_R].blocked_write();
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    /// A UDP peer's child has exited with its output sent: if the peer has more to
    /// say (queued here or on its socket), a new child takes over on the same socket.
    fn respawn_for_more(&mut self, reg: &Registry, target: &Target) -> io::Result<bool> {
        let Target::Exec(argv) = target else {
            return Ok(false);
        };
        let Conn::Udp(sock) = &self.client else {
            return Ok(false);
        };
        let mut one = [0u8; 1];
        let queued = !self.up.is_empty() || sock.peek(&mut one).is_ok();
        if !queued {
            return Ok(false);
        }
        let far = spawn(argv, &self.client, &self.peer).map_err(io::Error::other)?;
        self.eps[FAR_R].release(reg);
        self.eps[FAR_W].release(reg);
        if let Far::Child { stdin, stdout, .. } = &far {
            self.eps[FAR_R] = Endpoint::new(stdout.as_raw_fd(), self.eps[FAR_R].token);
            let w = stdin.as_ref().map_or(-1, |s| s.as_raw_fd());
            self.eps[FAR_W] = Endpoint::new(w, self.eps[FAR_W].token);
        }
        self.far = far;
        self.down = Pump::framed(
            FdKind::Pipe,
            FdKind::Socket,
            Shaping::default(),
            Framing::DatagramOut,
        );
        self.down_closed = false;
        self.child_exited = false;
        self.child_stdin_gone = false;
        Ok(true)
    }

    fn step(&mut self, reg: &Registry, now: Instant, target: &Target) -> io::Result<LinkState> {
        if self.connecting.is_some() {
            if !self.finish_connect(now)? {
                self.eps[FAR_R].set_interest(reg, interest(false, true))?;
                return Ok(LinkState::Alive(self.connecting));
            }
            // Connected: the far socket is writable now.
            self.eps[FAR_R].writable = true;
        }
        let child = self.is_child();
        let w = if child { FAR_W } else { FAR_R };
        let [c, fr, fw] = &mut self.eps;
        let far_w = if child { fw } else { &mut *fr };
        if !self.up_closed {
            match self.up.progress(c, far_w, now) {
                Ok(_) => {}
                Err(PumpError::Read(e)) => return Err(e),
                // A UDP peer's child stopped reading: keep its datagrams for the
                // next child (see respawn_for_more).
                Err(PumpError::Write(e))
                    if child
                        && self.client.is_datagram()
                        && e.kind() == io::ErrorKind::BrokenPipe =>
                {
                    self.eps[FAR_W].writable = false;
                    self.child_stdin_gone = true;
                }
                // The child stopped reading (it exited or closed stdin): the client's
                // further bytes have nowhere to go.
                Err(PumpError::Write(e)) if child && e.kind() == io::ErrorKind::BrokenPipe => {
                    self.up.stop_reading();
                    self.up_closed = true;
                }
                Err(PumpError::Write(e)) => return Err(e),
            }
        }
        let [c, fr, _] = &mut self.eps;
        match self.down.progress(fr, c, now) {
            Ok(_) => {}
            Err(PumpError::Read(e)) | Err(PumpError::Write(e)) => return Err(e),
        }

        // EOF from one side becomes FIN (or a closed pipe) to the other, once drained.
        if self.up.finished() && !self.up_closed {
            self.up_closed = true;
            match &mut self.far {
                Far::Sock(s) => s.shutdown_write(),
                Far::Child { stdin, .. } => {
                    self.eps[FAR_W].release(reg);
                    drop(stdin.take());
                }
            }
        }
        if self.down.finished() && !self.down_closed {
            self.down_closed = true;
            self.client.shutdown_write();
        }
        let done = match child {
            // The child's output is all sent and it is gone (or the client is done).
            true => self.down_closed && (self.up_closed || self.child_exited),
            false => self.up_closed && self.down_closed,
        };
        if done && self.client.is_datagram() && self.respawn_for_more(reg, target)? {
            return self.step(reg, now, target);
        }
        if done {
            return Ok(LinkState::Done);
        }

        let up_w = !self.up_closed && !self.child_stdin_gone && self.up.wants_write(now);
        self.eps[CLIENT].set_interest(
            reg,
            interest(
                !self.up_closed && self.up.wants_read(),
                self.down.wants_write(now),
            ),
        )?;
        if child {
            self.eps[FAR_R].set_interest(reg, interest(self.down.wants_read(), false))?;
            if !self.up_closed {
                self.eps[FAR_W].set_interest(reg, interest(false, up_w))?;
            }
        } else {
            self.eps[w].set_interest(reg, interest(self.down.wants_read(), up_w))?;
        }
        Ok(LinkState::Alive(None))
    }

    fn close(mut self, reg: &Registry) -> Option<Child> {
        for ep in &mut self.eps {
            if ep.fd >= 0 {
                ep.release(reg);
            }
        }
        match self.far {
            // Its pipes close here; it sees EOF and exits, and is reaped later.
            Far::Child { child, .. } if !self.child_exited => Some(child),
            _ => None,
        }
    }
}

/// `-u -l --exec`: the shared UDP sockets where new peers show up.
struct Intake {
    socks: Vec<(UdpSocket, Endpoint)>,
    /// Which link serves each peer.
    peers: HashMap<SocketAddr, usize>,
    scratch: Box<[u8]>,
}

pub struct Relay {
    listeners: Option<Listeners>,
    intake: Option<Intake>,
    keep_open: bool,
    links: BTreeMap<usize, Link>,
    next_id: usize,
    /// Children whose connection ended before they did.
    orphans: Vec<Child>,
    target: Target,
    max_links: usize,
    access: Access,
    wait: Option<Duration>,
    verbose: u8,
    numeric: bool,
    /// Connect mode: the error that ended the only link, for the exit code.
    failed: Option<anyhow::Error>,
}

impl Relay {
    fn new(
        cfg: &Config,
        attach: &Attach,
        listeners: Option<Listeners>,
        keep_open: bool,
    ) -> Result<Relay> {
        Ok(Relay {
            listeners,
            intake: None,
            keep_open,
            links: BTreeMap::new(),
            next_id: 0,
            orphans: Vec::new(),
            target: Target::resolve(cfg, attach)?,
            max_links: cfg.max_conns,
            access: cfg.access.clone(),
            wait: cfg.wait,
            verbose: cfg.verbose,
            numeric: cfg.numeric,
            failed: None,
        })
    }

    fn add(&mut self, client: Conn, peer: Peer) -> Option<usize> {
        let id = self.next_id;
        self.next_id += 1;
        match Link::open(id, client, peer.clone(), &self.target, self.wait) {
            Ok(l) => {
                self.links.insert(id, l);
                Some(id)
            }
            Err(e) => {
                self.link_failed(&peer, &e);
                None
            }
        }
    }

    /// Datagrams on the shared UDP sockets: from a known peer (sent before its own
    /// socket was connected) they go to its child; from a new peer they start one.
    fn intake(&mut self) {
        let Some(mut intake) = self.intake.take() else {
            return;
        };
        for (s, ep) in &mut intake.socks {
            while ep.readable {
                let (n, from) = match s.recv_from(&mut intake.scratch) {
                    Ok(x) => x,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        ep.blocked_read();
                        break;
                    }
                    Err(_) => continue, // an ICMP error for some earlier peer
                };
                let bytes = &intake.scratch[..n];
                let peer = Peer::Inet(from);
                if let Some(link) = intake
                    .peers
                    .get(&from)
                    .and_then(|id| self.links.get_mut(id))
                {
                    link.up.preload(bytes);
                    continue;
                }
                if !permitted(&self.access, &peer, self.verbose, self.numeric)
                    || self.links.len() >= self.max_links
                {
                    continue;
                }
                let local = match s.local_addr() {
                    Ok(l) => l,
                    Err(_) => continue,
                };
                let conn = match net::udp_peer_socket(&local, &from) {
                    Ok(c) => Conn::Udp(c),
                    Err(e) => {
                        self.link_failed(&peer, &e);
                        continue;
                    }
                };
                super::listen::report_client(&peer, self.verbose, self.numeric);
                if let Some(id) = self.add(conn, peer) {
                    if let Some(l) = self.links.get_mut(&id) {
                        l.up.preload(bytes);
                    }
                    intake.peers.insert(from, id);
                }
            }
        }
        self.intake = Some(intake);
    }

    fn link_failed(&mut self, peer: &Peer, e: &anyhow::Error) {
        let what = match &self.target {
            Target::Tcp { addr, host } => {
                format!("connect to {host} port {} (tcp) failed", addr.port())
            }
            Target::Unix(a) => format!("connect to {a} failed"),
            Target::Exec(argv) => format!("{} failed", argv[0]),
        };
        let cause = e
            .downcast_ref::<io::Error>()
            .map(os_message)
            .unwrap_or_else(|| format!("{e:#}"));
        if self.verbose > 0 {
            crate::say!("rnc: {what}: {cause} (client {})", peer.describe(true));
        }
        if self.listeners.is_none() && self.failed.is_none() {
            self.failed = Some(anyhow!("{what}: {cause}"));
        }
    }
}

impl Session for Relay {
    fn on_event(&mut self, _reg: &Registry, ev: &Event) -> Result<()> {
        let t = ev.token();
        if let Some(l) = &mut self.listeners {
            if l.owns(t) {
                l.on_event(ev);
                return Ok(());
            }
        }
        if let Some(i) = &mut self.intake {
            for (_, ep) in &mut i.socks {
                if ep.token == t {
                    ep.on_event(ev);
                }
            }
        }
        if t.0 >= FIRST_LINK {
            let (id, idx) = ((t.0 - FIRST_LINK) / 3, (t.0 - FIRST_LINK) % 3);
            if let Some(l) = self.links.get_mut(&id) {
                l.eps[idx].on_event(ev);
            }
        }
        Ok(())
    }

    fn on_child_exit(&mut self) {
        for l in self.links.values_mut() {
            if let Far::Child { child, .. } = &mut l.far {
                if !l.child_exited && matches!(child.try_wait(), Ok(Some(_))) {
                    l.child_exited = true;
                }
            }
        }
        self.orphans
            .retain_mut(|c| matches!(c.try_wait(), Ok(None)));
    }

    fn step(&mut self, reg: &Registry, now: Instant) -> Result<Flow> {
        if let Some(l) = &mut self.listeners {
            let mut got = l.accept(now, 256)?;
            for (_, peer) in admit(&mut got, self.links.len(), self.max_links) {
                // Over --max-conns: closed as soon as accepted (dropped here).
                if self.verbose > 0 {
                    crate::say!(
                        "rnc: --max-conns {} reached: closed {}",
                        self.max_links,
                        peer.describe(self.numeric)
                    );
                }
            }
            for (client, peer) in got {
                super::listen::report_client(&peer, self.verbose, self.numeric);
                self.add(client, peer);
                if !self.keep_open {
                    // nc without -k: one client, then the listener closes.
                    if let Some(l) = self.listeners.take() {
                        l.close(reg);
                    }
                    break;
                }
            }
        }
        // Children are reaped in on_child_exit, on SIGCHLD only: a child exists only
        // once its link does, so its signal is read after the link is in place.
        self.intake();

        let mut deadline: Option<Instant> = None;
        let mut done = Vec::new();
        for (&id, l) in self.links.iter_mut() {
            match l.step(reg, now, &self.target) {
                Ok(LinkState::Alive(d)) => {
                    deadline = match (deadline, d) {
                        (Some(a), Some(b)) => Some(a.min(b)),
                        (a, b) => a.or(b),
                    }
                }
                Ok(LinkState::Done) => done.push((id, None)),
                Err(e) => done.push((id, Some(e))),
            }
        }
        for (id, err) in done {
            let Some(l) = self.links.remove(&id) else {
                continue;
            };
            if let Some(e) = err {
                if l.connecting.is_some() {
                    self.link_failed(&l.peer.clone(), &anyhow::Error::new(e));
                } else if self.verbose > 1 {
                    crate::say!("rnc: client {}: {}", l.peer.describe(true), os_message(&e));
                }
            }
            if let (Some(i), Peer::Inet(a)) = (&mut self.intake, &l.peer) {
                i.peers.remove(a);
            }
            if let Some(child) = l.close(reg) {
                self.orphans.push(child);
            }
            if let Some(li) = &mut self.listeners {
                li.resume();
            }
        }

        if let Some(i) = &mut self.intake {
            for (_, ep) in &mut i.socks {
                ep.set_interest(reg, interest(true, false))?;
            }
            return Ok(Flow::Wait(deadline));
        }
        match &mut self.listeners {
            Some(l) => {
                let paused = l.arm(reg)?;
                deadline = match (deadline, paused) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
            }
            None if self.links.is_empty() => {
                return match self.failed.take() {
                    Some(e) => Err(e),
                    None => Ok(Flow::Exit(0)),
                };
            }
            None => {}
        }
        Ok(Flow::Wait(deadline))
    }
}

/// `rnc -l ... --relay/--exec`: serve clients from the listeners.
pub fn serve(cfg: &Config, attach: &Attach, listeners: Listeners, keep_open: bool) -> Result<i32> {
    let mut relay = Relay::new(cfg, attach, Some(listeners), keep_open)?;
    event_loop::run(&mut relay)
}

/// `rnc -u -l port --exec`: one child per UDP peer.
pub fn serve_datagrams(cfg: &Config, attach: &Attach, socks: Vec<UdpSocket>) -> Result<i32> {
    let mut relay = Relay::new(cfg, attach, None, true)?;
    relay.intake = Some(Intake {
        socks: socks
            .into_iter()
            .enumerate()
            .map(|(i, s)| {
                let ep = Endpoint::new(s.as_raw_fd(), Token(super::listen::FIRST_LISTENER + i));
                (s, ep)
            })
            .collect(),
        peers: HashMap::new(),
        scratch: vec![0u8; 65536].into_boxed_slice(),
    });
    event_loop::run(&mut relay)
}

/// `rnc host port --relay/--exec`: the connection rnc made is the client.
pub fn serve_one(cfg: &Config, attach: &Attach, conn: Conn, peer: Peer) -> Result<i32> {
    let mut relay = Relay::new(cfg, attach, None, false)?;
    relay.add(conn, peer);
    if let Some(e) = relay.failed.take() {
        return Err(e);
    }
    event_loop::run(&mut relay)
}
