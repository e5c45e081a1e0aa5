//! `--relay`, `--exec`, `--sh-exec`: each connection joined to a far side (another
//! socket, or a child process through its stdin/stdout pipes) by two pumps, with nc's
//! half-close passed through each way independently. Everything runs on the one loop:
//! far connects are non-blocking, child pipes are registered like sockets, and children
//! are reaped on SIGCHLD. UDP peers of `--exec` have their own session, `udp_exec.rs`.

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::process::{ChildStdin, ChildStdout};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use mio::event::Event;
use mio::{Registry, Token};
use socket2::{Domain, Protocol, Socket, Type};

use crate::child;
use crate::config::{Attach, Config};
use crate::conn::{Conn, Peer};
use crate::endpoint::{interest, Endpoint};
use crate::event_loop::{self, earliest, Flow, Session};
use crate::listener::{admit, Listeners};
use crate::net::{self, os_message};
use crate::proxy::server::Serve;
use crate::pump::{Pump, PumpError, Shaping, Tap};
use crate::stdio::FdKind;
use crate::token::Tokens;
use crate::unix::{self, UnixAddr};

/// A far connect without -w gives up after this long.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

const CLIENT: usize = 0;
const FAR_R: usize = 1;
const FAR_W: usize = 2;

#[path = "tunnel.rs"]
mod tunnel;

/// Where the far side is, resolved once at start (or, for the proxy server, named by
/// each client's request).
enum Target {
    Tcp { addr: SocketAddr, host: String },
    Unix(UnixAddr),
    Exec(Vec<String>),
    Proxy(Serve),
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
            Attach::Proxy(s) => Target::Proxy(s.clone()),
        })
    }
}

enum Far {
    /// The proxy server's link before its request named the target.
    None,
    Sock(Conn),
    Child {
        pid: u32,
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
    peer: Peer,
    /// `-w`: the link closes after this long with no byte either way.
    idle: Option<Duration>,
    /// The last instant a byte moved, and the byte counts then.
    active_at: Instant,
    moved: u64,
    /// The proxy server's handshake, until the tunnel is open.
    hs: Option<Box<tunnel::Handshake>>,
    /// The proxy server's target, for the -v lines.
    label: Option<String>,
    /// An HTTP request the proxy server passes on once connected, and the bytes of
    /// its body still to come from the client.
    forward: Option<(Vec<u8>, u64)>,
}

enum LinkState {
    Alive(Option<Instant>),
    Done,
    /// No byte moved for `-w`.
    Idle,
}

/// What every link of a relay shares.
struct LinkRules {
    /// `-w`: bound on the far connect, and on a link's silence.
    wait: Option<Duration>,
    /// `-C` (with -e/-c): CR LF line ends from the program.
    crlf: bool,
    /// What the proxy server's messages and lookups need.
    numeric: bool,
    family: net::Family,
}

/// Start one child for this client, its pipes registered like sockets.
fn spawn(argv: &[String], client: &Conn, peer: &Peer) -> Result<Far> {
    let c = child::spawn(argv, &child::env_for(client, peer))?;
    Ok(Far::Child {
        pid: c.pid,
        stdin: Some(c.stdin),
        stdout: c.stdout,
    })
}

impl Link {
    /// `tokens` are the link's three: client, far read, far write.
    fn open(
        tokens: [Token; 3],
        client: Conn,
        peer: Peer,
        target: &Target,
        rules: &LinkRules,
    ) -> Result<Link> {
        let wait = rules.wait;
        let (far, connecting, far_kind) = match target {
            Target::Proxy(serve) => return Ok(Link::shaking(tokens, client, peer, serve, rules)),
            Target::Tcp { addr, host } => {
                let s = start_connect(*addr).context("socket")?;
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
            Far::None => (-1, -1),
            Far::Sock(c) => (c.fd(), c.fd()),
            Far::Child { stdin, stdout, .. } => (
                stdout.as_raw_fd(),
                stdin.as_ref().map_or(-1, |s| s.as_raw_fd()),
            ),
        };
        Ok(Link {
            eps: [
                Endpoint::new(client.fd(), tokens[CLIENT]),
                Endpoint::new(far_r, tokens[FAR_R]),
                Endpoint::new(far_w, tokens[FAR_W]),
            ],
            client,
            far,
            up: Pump::new(FdKind::Socket, far_kind, Shaping::default()).tapped(Tap::Receives),
            // -C with -e/-c: the program's LF line ends reach the client as CR LF.
            down: Pump::new(
                far_kind,
                FdKind::Socket,
                Shaping {
                    crlf: rules.crlf,
                    ..Shaping::default()
                },
            )
            .tapped(Tap::Sends),
            idle: wait,
            active_at: Instant::now(),
            moved: 0,
            connecting,
            up_closed: false,
            down_closed: false,
            child_exited: false,
            peer,
            hs: None,
            label: None,
            forward: None,
        })
    }

    /// A proxy server's link: the handshake first, no far side yet.
    fn shaking(
        tokens: [Token; 3],
        client: Conn,
        peer: Peer,
        serve: &Serve,
        rules: &LinkRules,
    ) -> Link {
        let now = Instant::now();
        Link {
            eps: [
                Endpoint::new(client.fd(), tokens[CLIENT]),
                Endpoint::new(-1, tokens[FAR_R]),
                Endpoint::new(-1, tokens[FAR_W]),
            ],
            client,
            far: Far::None,
            up: Pump::finished_from_start(),
            down: Pump::finished_from_start(),
            idle: rules.wait,
            active_at: now,
            moved: 0,
            connecting: None,
            up_closed: false,
            down_closed: false,
            child_exited: false,
            peer,
            hs: Some(tunnel::Handshake::new(
                serve,
                now,
                rules.wait.unwrap_or(CONNECT_TIMEOUT),
            )),
            label: None,
            forward: None,
        }
    }

    /// The proxy server's -v line when a tunnel ends: who, where, and the bytes.
    fn tunnel_summary(&self, numeric: bool) -> Option<String> {
        let label = self.label.as_ref().filter(|_| self.hs.is_none())?;
        Some(format!(
            "rnc: tunnel {} -> {label} closed: {} bytes up, {} bytes down",
            self.peer.describe(numeric),
            self.up.total,
            self.down.total
        ))
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

    fn step(&mut self, reg: &Registry, now: Instant, rules: &LinkRules) -> io::Result<LinkState> {
        if self.hs.is_some() {
            if let Some(state) = self.shake_step(reg, now, rules)? {
                return Ok(state);
            }
        }
        if self.connecting.is_some() {
            if !self.finish_connect(now)? {
                self.eps[FAR_R].set_interest(reg, interest(false, true))?;
                return Ok(LinkState::Alive(self.connecting));
            }
            // Connected: the far socket is writable now.
            self.eps[FAR_R].connected();
        }
        self.pump(now)?;
        if self.pass_eofs() {
            return Ok(LinkState::Done);
        }
        let moved = self.up.total + self.down.total;
        if moved != self.moved {
            (self.moved, self.active_at) = (moved, now);
        }
        let idle_at = self.idle.map(|w| self.active_at + w);
        if idle_at.is_some_and(|t| now >= t) {
            return Ok(LinkState::Idle);
        }
        self.arm(reg, now)?;
        Ok(LinkState::Alive(idle_at))
    }

    /// Both pumps: client → far side, far side → client.
    fn pump(&mut self, now: Instant) -> io::Result<()> {
        let child = self.is_child();
        let [c, fr, fw] = &mut self.eps;
        let far_w = if child { fw } else { &mut *fr };
        if !self.up_closed {
            match self.up.progress(c, far_w, now) {
                Ok(_) => {}
                Err(PumpError::Read(e)) => return Err(e),
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
            Ok(_) => Ok(()),
            Err(PumpError::Read(e)) | Err(PumpError::Write(e)) => Err(e),
        }
    }

    /// EOF from one side becomes FIN (or a closed pipe) to the other, once drained.
    /// Returns true when the link is done.
    fn pass_eofs(&mut self) -> bool {
        if self.up.finished() && !self.up_closed {
            self.up_closed = true;
            match &mut self.far {
                Far::None => {}
                Far::Sock(s) => s.shutdown_write(),
                Far::Child { stdin, .. } => {
                    self.eps[FAR_W].closing();
                    drop(stdin.take());
                }
            }
        }
        if self.down.finished() && !self.down_closed {
            self.down_closed = true;
            self.client.shutdown_write();
        }
        match self.is_child() {
            // The child's output is all sent and it is gone (or the client is done).
            true => self.down_closed && (self.up_closed || self.child_exited),
            false => self.up_closed && self.down_closed,
        }
    }

    /// Interest from the pumps' state.
    fn arm(&mut self, reg: &Registry, now: Instant) -> io::Result<()> {
        let up_w = !self.up_closed && self.up.wants_write(now);
        let client_r = !self.up_closed && self.up.wants_read();
        let client = interest(client_r, self.down.wants_write(now));
        self.eps[CLIENT].set_interest(reg, client)?;
        if self.is_child() {
            self.eps[FAR_R].set_interest(reg, interest(self.down.wants_read(), false))?;
            if !self.up_closed {
                self.eps[FAR_W].set_interest(reg, interest(false, up_w))?;
            }
            Ok(())
        } else {
            self.eps[FAR_R].set_interest(reg, interest(self.down.wants_read(), up_w))
        }
    }

    /// A child still running sees its pipes close here, exits, and is reaped later
    /// (the registry in `child` keeps it until then). Dropping the link closes its
    /// descriptors, and the closes take them out of epoll.
    fn close(mut self) {
        for ep in &mut self.eps {
            ep.closing();
        }
    }
}

pub struct Relay {
    listeners: Option<Listeners>,
    keep_open: bool,
    links: BTreeMap<usize, Link>,
    /// Three tokens a link (client, far read, far write).
    tokens: Tokens,
    target: Target,
    max_links: usize,
    rules: LinkRules,
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
            keep_open,
            links: BTreeMap::new(),
            tokens: Tokens::new(3),
            target: Target::resolve(cfg, attach)?,
            max_links: cfg.max_conns,
            rules: LinkRules {
                wait: cfg.wait,
                crlf: cfg.io.crlf,
                numeric: cfg.numeric,
                family: cfg.family,
            },
            failed: None,
        })
    }

    fn add(&mut self, client: Conn, peer: Peer) -> Option<usize> {
        let id = self.tokens.take();
        let tokens = [0, 1, 2].map(|i| self.tokens.token(id, i));
        match Link::open(tokens, client, peer.clone(), &self.target, &self.rules) {
            Ok(l) => {
                self.links.insert(id, l);
                Some(id)
            }
            Err(e) => {
                self.tokens.give_back(id);
                self.link_failed(&peer, &e);
                None
            }
        }
    }

    fn link_failed(&mut self, peer: &Peer, e: &anyhow::Error) {
        let what = match &self.target {
            Target::Tcp { addr, host } => {
                format!("connect to {host} port {} (tcp) failed", addr.port())
            }
            Target::Unix(a) => format!("connect to {a} failed"),
            Target::Exec(argv) => format!("exec {}", argv[0]),
            Target::Proxy(_) => "proxy client".to_string(),
        };
        let cause = e
            .downcast_ref::<io::Error>()
            .map(os_message)
            .unwrap_or_else(|| format!("{e:#}"));
        // One client (connect mode, or -l without -k): its failure is rnc's, exit 1.
        if !self.keep_open {
            if self.failed.is_none() {
                self.failed = Some(anyhow!("{what}: {cause}"));
            }
        } else if crate::report::verbose() > 0 {
            crate::say!("rnc: {what}: {cause} (client {})", peer.describe(true));
        } else if matches!(self.target, Target::Exec(_)) {
            // A program that cannot run is the server's fault: said even without -v.
            crate::say!("rnc: {what}: {cause}");
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
        if let Some((id, idx)) = self.tokens.owner(t) {
            if let Some(l) = self.links.get_mut(&id) {
                l.eps[idx].on_event(ev);
            }
        }
        Ok(())
    }

    fn on_child_exit(&mut self) {
        let gone = child::reap();
        for l in self.links.values_mut() {
            if let Far::Child { pid, .. } = &l.far {
                if gone.contains(pid) {
                    l.child_exited = true;
                }
            }
        }
    }

    fn step(&mut self, reg: &Registry, now: Instant) -> Result<Flow> {
        self.accept(reg, now)?;
        // Children are reaped in on_child_exit, on SIGCHLD only: a child exists only
        // once its link does, so its signal is read after the link is in place.
        let deadline = self.step_links(reg, now);
        self.next(reg, now, deadline)
    }
}

impl Relay {
    /// New clients, each with its link (up to --max-conns; the rest are closed).
    fn accept(&mut self, reg: &Registry, now: Instant) -> Result<()> {
        if let Some(l) = &mut self.listeners {
            let mut got = l.accept(now, 256)?;
            for (_, peer) in admit(&mut got, self.links.len(), self.max_links) {
                // Over --max-conns: closed as soon as accepted (dropped here).
                if crate::report::verbose() > 0 {
                    crate::say!(
                        "rnc: --max-conns {} reached: closed {}",
                        self.max_links,
                        peer.describe(crate::report::numeric())
                    );
                }
            }
            for (client, peer) in got {
                super::listen::report_client(&peer);
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
        Ok(())
    }

    /// Every link's turn; the ones that ended are closed. Returns the next deadline.
    fn step_links(&mut self, reg: &Registry, now: Instant) -> Option<Instant> {
        let mut deadline: Option<Instant> = None;
        let mut done = Vec::new();
        for (&id, l) in self.links.iter_mut() {
            match l.step(reg, now, &self.rules) {
                Ok(LinkState::Alive(d)) => deadline = earliest(deadline, d),
                Ok(LinkState::Done) => done.push((id, None)),
                Ok(LinkState::Idle) => {
                    if crate::report::verbose() > 0 {
                        crate::say!("Connection closed on {}: idle (-w)", l.peer.describe(true));
                    }
                    done.push((id, None))
                }
                Err(e) => done.push((id, Some(e))),
            }
        }
        for (id, err) in done {
            let Some(l) = self.links.remove(&id) else {
                continue;
            };
            self.tokens.give_back(id);
            if crate::report::verbose() > 0 {
                if let Some(line) = l.tunnel_summary(self.rules.numeric) {
                    crate::say!("{line}");
                }
            }
            if let Some(e) = err {
                if l.connecting.is_some() {
                    self.link_failed(&l.peer.clone(), &anyhow::Error::new(e));
                } else if crate::report::verbose() > 1 {
                    crate::say!("rnc: client {}: {}", l.peer.describe(true), os_message(&e));
                }
            }
            l.close();
            if let Some(li) = &mut self.listeners {
                li.resume();
            }
        }
        deadline
    }

    /// Listen on, or (with no listener) end when the last link has.
    fn next(
        &mut self,
        reg: &Registry,
        now: Instant,
        mut deadline: Option<Instant>,
    ) -> Result<Flow> {
        match &mut self.listeners {
            // Connections left by this step's accept batch: take them at once.
            Some(l) if l.pending() => {
                l.arm(reg)?;
                deadline = Some(now);
            }
            Some(l) => {
                let paused = l.arm(reg)?;
                deadline = earliest(deadline, paused);
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

/// A TCP socket connecting to `addr` without blocking.
fn start_connect(addr: SocketAddr) -> io::Result<Socket> {
    // Non-blocking from the start: no fcntl calls per connection.
    let s = Socket::new(
        Domain::for_address(addr),
        Type::STREAM.nonblocking(),
        Some(Protocol::TCP),
    )?;
    match s.connect(&addr.into()) {
        Ok(()) => Ok(s),
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => Ok(s),
        Err(e) => Err(e),
    }
}

/// `rnc -l ... --relay/--exec`: serve clients from the listeners.
/// `-l --relay`, `-l -e`, `-l -c`: each client joined to its far side.
pub fn listen(
    cfg: &Config,
    attach: &Attach,
    addr: Option<&str>,
    port: u16,
    keep_open: bool,
) -> Result<i32> {
    if matches!(attach, Attach::Proxy(_)) {
        tunnel::bound_lookups();
    }
    let (listeners, _socket_file) = super::listen::bind(cfg, addr, port)?;
    serve(cfg, attach, listeners, keep_open)
}

fn serve(cfg: &Config, attach: &Attach, listeners: Listeners, keep_open: bool) -> Result<i32> {
    let mut relay = Relay::new(cfg, attach, Some(listeners), keep_open)?;
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
