//! `rnc -z host port...`: check many ports at once on the one loop.
//!
//! Every connect is non-blocking with its own deadline, and up to `parallel` are in
//! flight. A port is open when a connect completes to a peer that is not the socket
//! itself (a connect to a free port of the ephemeral range can land on itself: TCP
//! simultaneous open). With several addresses for the host they are tried in resolver
//! order and the first that answers wins, as nc does. Reports go out in ascending port
//! order as soon as every lower port is settled, whatever order the answers come in.
//!
//! UDP (`-zu`): an empty datagram on a connected socket, sent again during the wait so
//! one lost datagram or rate-limited ICMP reply does not decide. The port is open
//! unless an ICMP port-unreachable comes back (the socket then reports ECONNREFUSED):
//! "open" means "no refusal seen", as with nc.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::io::{self, Write};
use std::mem::MaybeUninit;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};
use mio::event::Event;
use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use crate::config::{Config, ScanPlan};
use crate::event_loop::{self, Flow, Session};
use crate::net;
use crate::stdio;
use crate::token::FIRST_SESSION as FIRST_SESSION_TOKEN;

/// Without -w a port check must not hang for the kernel's two minutes.
pub const DEFAULT_SCAN_TIMEOUT: Duration = Duration::from_secs(5);
/// Without -w, how long a UDP port has to refuse (nc.openbsd takes 3 s too).
pub const DEFAULT_UDP_WAIT: Duration = Duration::from_secs(3);
/// Connects in flight at once unless `--parallel` says otherwise.
pub const DEFAULT_PARALLEL: usize = 1024;
/// Descriptors left for stdio, the poller and the signal pipes.
const RESERVED_FDS: u64 = 32;
/// Datagrams sent to each UDP port over its wait.
const UDP_SENDS: u32 = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    Tcp,
    Udp,
}

impl Proto {
    fn name(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
}

/// Everything a scan needs, resolved: no names left to look up but services.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The host as the user wrote it, for the report lines.
    pub host: String,
    /// Its addresses in resolver order.
    pub addrs: Vec<IpAddr>,
    /// Each port once, in scan order.
    pub ports: Vec<u16>,
    pub proto: Proto,
    /// Per connect (TCP) or per port (UDP).
    pub timeout: Duration,
    pub parallel: usize,
    /// `-i`: the pause between one port's answer and the next port's connect.
    pub interval: Option<Duration>,
    pub source: Option<IpAddr>,
    pub source_port: Option<u16>,
    pub so_debug: bool,
    /// -T -I -O -M -m -b -S on every probe socket.
    pub tune: crate::sockopt::Tune,
    /// `-n`: no service names in the report.
    pub numeric: bool,
    pub verbose: u8,
    pub json: bool,
}

pub fn run(cfg: &Config, plan: &ScanPlan) -> Result<i32> {
    if cfg.unix() {
        anyhow::bail!("-U is not supported with -z");
    }
    if let Some(p) = &cfg.proxy {
        let src = net::Source {
            addr: None,
            port: plan.source_port,
        };
        if let Some(within) = cfg.wrap.retry {
            proxy_wait_open(cfg, p, plan, &src, within);
        }
        return crate::proxy::scan(cfg, p, &plan.host, &plan.ports, &src);
    }
    let proto = if cfg.udp() { Proto::Udp } else { Proto::Tcp };
    let source = plan
        .source
        .as_deref()
        .map(|s| net::source_addr(s, cfg.family, cfg.numeric))
        .transpose()?;
    let mut addrs: Vec<IpAddr> = Vec::new();
    for a in net::resolve(&plan.host, plan.ports[0], cfg.family, cfg.numeric)? {
        // Only addresses the source address can reach; each once (one per socket type).
        if source.is_none_or(|s| s.is_ipv4() == a.is_ipv4()) && !addrs.contains(&a.ip()) {
            addrs.push(a.ip());
        }
    }
    if addrs.is_empty() {
        anyhow::bail!(
            "getaddrinfo for host \"{}\" port {}: no address of the source address's family",
            plan.host,
            plan.ports[0]
        );
    }

    let limit = stdio::raise_nofile_limit();
    let cap = limit.saturating_sub(RESERVED_FDS).max(1);
    let cap = usize::try_from(cap).unwrap_or(usize::MAX);
    let want = plan.parallel.unwrap_or(DEFAULT_PARALLEL);
    if want > cap && plan.parallel.is_some() && cfg.verbose > 0 {
        crate::say!("rnc: --parallel {want} lowered to {cap} (open-file limit {limit})");
    }
    // -i: one port at a time, as nc.
    let parallel = if cfg.io.interval.is_some() {
        1
    } else {
        want.min(cap)
    };

    let mut ports = plan.ports.clone();
    if plan.random {
        shuffle(&mut ports, seed());
    }
    let timeout = cfg.wait.unwrap_or(match proto {
        Proto::Tcp => DEFAULT_SCAN_TIMEOUT,
        Proto::Udp => DEFAULT_UDP_WAIT,
    });
    let settings = Settings {
        host: plan.host.clone(),
        addrs,
        ports,
        proto,
        timeout,
        parallel,
        interval: cfg.io.interval,
        source,
        source_port: plan.source_port,
        so_debug: cfg.so_debug,
        tune: cfg.tune,
        numeric: cfg.numeric,
        verbose: cfg.verbose,
        json: plan.json,
    };
    if let Some(within) = cfg.wrap.retry {
        if let Some(code) = wait_open(&settings, within)? {
            return Ok(code);
        }
    }
    let mut scan = Scan::new(settings, io::stdout(), io::stderr());
    event_loop::run(&mut scan)
}

/// `--retry`: check the ports quietly until every one is open or the time is up; the
/// report is then that of one ordinary check. `Some(code)` when a signal ended it.
fn wait_open(s: &Settings, within: Duration) -> Result<Option<i32>> {
    let mut backoff = crate::retry::Backoff::new(within);
    let mut pending = s.ports.clone();
    for n in 1.. {
        let mut quiet = s.clone();
        quiet.ports = pending.clone();
        quiet.verbose = 0;
        quiet.json = false;
        quiet.timeout = s.timeout.min(backoff.left()).max(Duration::from_millis(1));
        let mut scan = Scan::new(quiet, io::sink(), io::sink());
        let code = event_loop::run(&mut scan)?;
        if code >= 128 {
            return Ok(Some(code));
        }
        let open = scan.open_ports();
        pending.retain(|p| !open.contains(p));
        if pending.is_empty() || backoff.left().is_zero() {
            break;
        }
        if s.verbose >= 2 {
            say_attempt(n, pending.len(), s.ports.len(), &backoff);
        }
        backoff.sleep();
    }
    Ok(None)
}

/// `--retry` through a proxy: each port still closed is asked again, one at a time
/// as the proxy scan does.
fn proxy_wait_open(
    cfg: &Config,
    p: &crate::proxy::Proxy,
    plan: &ScanPlan,
    src: &net::Source,
    within: Duration,
) {
    let mut backoff = crate::retry::Backoff::new(within);
    let mut pending = plan.ports.clone();
    for n in 1.. {
        pending.retain(|&port| !crate::proxy::port_open(cfg, p, &plan.host, port, src));
        if pending.is_empty() || backoff.left().is_zero() {
            return;
        }
        if cfg.verbose >= 2 {
            say_attempt(n, pending.len(), plan.ports.len(), &backoff);
        }
        backoff.sleep();
    }
}

/// -vv's line for an attempt of `--retry` with -z.
fn say_attempt(n: usize, pending: usize, all: usize, backoff: &crate::retry::Backoff) {
    crate::say!(
        "rnc: attempt {n}: {pending} of {all} ports not open yet; again in {} ms",
        backoff.next_pause().as_millis()
    );
}

/// One connect in flight: its socket and what it is for.
struct Attempt {
    sock: Socket,
    /// Index into `Scan::sorted`.
    idx: usize,
    /// Index into `Settings::addrs`.
    addr: usize,
    started: Instant,
    /// UDP datagrams sent so far.
    sends: u32,
    /// Tells this attempt's timers from those of an earlier attempt in the same slot.
    serial: u64,
}

/// What is known about one port.
#[derive(Default)]
struct PortState {
    /// The address that answered and, when it did answer, how fast.
    open: Option<(SocketAddr, Option<Duration>)>,
    /// `connect to HOST port P (tcp) failed: ...`, one per address that failed.
    failures: Vec<String>,
    done: bool,
}

/// How a check of an attempt came out.
enum Status {
    Pending,
    Open(Option<Duration>),
    Failed(io::Error),
    /// Connected to itself: closed, reported as a refusal.
    SelfConnect,
}

/// The scan session: a slab of attempts, a timer heap, and the ordered report.
pub struct Scan<O: Write, E: Write> {
    s: Settings,
    /// The ports in ascending order: the report's order.
    sorted: Vec<u16>,
    states: Vec<PortState>,
    /// Ports (indices into `sorted`) in scan order; `next` is the first not started.
    order: Vec<usize>,
    next: usize,
    /// Next addresses to try for ports whose attempt failed: (index, address).
    retries: VecDeque<(usize, usize)>,
    /// Attempts in flight; slot i has token FIRST_SESSION_TOKEN + i.
    slots: Vec<Option<Attempt>>,
    free: Vec<usize>,
    in_flight: usize,
    /// Connects allowed in flight; lowered if descriptors run out.
    cap: usize,
    /// (when, slot, serial): connect deadlines and UDP resends.
    timers: BinaryHeap<Reverse<(Instant, usize, u64)>>,
    serial: u64,
    /// Slots that had an event in the last batch.
    ready: Vec<usize>,
    /// A TCP socket whose connect was refused at once, for the next connect of its
    /// family ([IPv4, IPv6]): Linux lets a closed socket connect again, which saves a
    /// socket(2) and a close(2) per refused port.
    spare: [Option<Socket>; 2],
    /// With -i: no new port before this instant.
    not_before: Option<Instant>,
    /// Ports reported so far (a prefix of `sorted`).
    printed: usize,
    report_failures: bool,
    any_open: bool,
    /// The ports found open, for `--retry`.
    opened: Vec<u16>,
    out: O,
    err: E,
    /// stdout is gone (`| head -1`): stop scanning.
    out_broken: bool,
}

impl<O: Write, E: Write> Scan<O, E> {
    pub fn new(s: Settings, out: O, err: E) -> Scan<O, E> {
        let mut sorted = s.ports.clone();
        sorted.sort_unstable();
        let order = s
            .ports
            .iter()
            .map(|p| sorted.binary_search(p).expect("port is in sorted"))
            .collect();
        // One port: its refusal is news with -v. Many: only with -vv, so a range stays
        // readable.
        let report_failures = if sorted.len() == 1 {
            s.verbose >= 1
        } else {
            s.verbose >= 2
        };
        Scan {
            states: sorted.iter().map(|_| PortState::default()).collect(),
            sorted,
            order,
            next: 0,
            retries: VecDeque::new(),
            slots: Vec::new(),
            free: Vec::new(),
            in_flight: 0,
            cap: s.parallel.max(1),
            timers: BinaryHeap::new(),
            serial: 0,
            ready: Vec::new(),
            spare: [None, None],
            not_before: None,
            printed: 0,
            report_failures,
            any_open: false,
            opened: Vec::new(),
            out,
            err,
            out_broken: false,
            s,
        }
    }

    /// The ports found open.
    fn open_ports(&self) -> &[u16] {
        &self.opened
    }

    fn exit_code(&self) -> i32 {
        if self.any_open {
            0
        } else {
            1
        }
    }

    /// Start connects while there is room, ports left and (with -i) the pause is over.
    fn launch(&mut self, reg: &Registry) -> Result<()> {
        while self.in_flight < self.cap {
            let (idx, addr) = if let Some(r) = self.retries.pop_front() {
                r
            } else if self.next < self.order.len() {
                if self.not_before.is_some_and(|t| Instant::now() < t) {
                    return Ok(());
                }
                self.next += 1;
                (self.order[self.next - 1], 0)
            } else {
                return Ok(());
            };
            if !self.start(reg, idx, addr)? {
                // Out of descriptors: retry this one when an attempt ends, and keep
                // fewer in flight from now on.
                self.retries.push_front((idx, addr));
                if self.in_flight == 0 {
                    return Err(anyhow!("socket: {}", net::os_message(&fd_shortage())));
                }
                self.cap = self.in_flight;
                return Ok(());
            }
            // Loopback settles most connects at once: report as we go.
            self.flush();
            if self.out_broken {
                return Ok(());
            }
        }
        Ok(())
    }

    /// One attempt at one address of one port. False when descriptors ran out.
    fn start(&mut self, reg: &Registry, idx: usize, addr_i: usize) -> Result<bool> {
        let addr = SocketAddr::new(self.s.addrs[addr_i], self.sorted[idx]);
        let started = Instant::now();
        let spare = self.spare[usize::from(addr.is_ipv6())].take();
        let sock = match spare.map_or_else(|| self.socket_for(&addr), Ok) {
            Ok(s) => s,
            Err(e) if net::out_of_resources(&e) => return Ok(false),
            Err(e) => {
                self.failed(idx, addr_i, &e);
                return Ok(true);
            }
        };
        let status = match self.s.proto {
            Proto::Tcp => match sock.connect(&SockAddr::from(addr)) {
                Ok(()) => Self::tcp_status(&sock, &addr, started),
                Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {
                    // The kernel may have settled it already (loopback does).
                    Self::tcp_status(&sock, &addr, started)
                }
                Err(e) if net::out_of_resources(&e) && self.in_flight > 0 => return Ok(false),
                Err(e) => Status::Failed(e),
            },
            Proto::Udp => match sock
                .connect(&SockAddr::from(addr))
                .and_then(|()| sock.send(&[]))
            {
                Ok(_) => Status::Pending,
                Err(e) => Status::Failed(e),
            },
        };
        match status {
            Status::Pending => {
                let slot = self.free.pop().unwrap_or_else(|| {
                    self.slots.push(None);
                    self.slots.len() - 1
                });
                let interest = match self.s.proto {
                    Proto::Tcp => Interest::WRITABLE,
                    Proto::Udp => Interest::READABLE,
                };
                let token = Token(FIRST_SESSION_TOKEN + slot);
                if let Err(e) = reg.register(&mut SourceFd(&sock.as_raw_fd()), token, interest) {
                    self.free.push(slot);
                    if net::out_of_resources(&e) && self.in_flight > 0 {
                        return Ok(false);
                    }
                    return Err(anyhow!("epoll_ctl: {}", net::os_message(&e)));
                }
                self.serial += 1;
                let first_wake = match self.s.proto {
                    Proto::Tcp => started + self.s.timeout,
                    Proto::Udp => started + self.s.timeout / UDP_SENDS,
                };
                self.timers.push(Reverse((first_wake, slot, self.serial)));
                self.slots[slot] = Some(Attempt {
                    sock,
                    idx,
                    addr: addr_i,
                    started,
                    sends: 1,
                    serial: self.serial,
                });
                self.in_flight += 1;
            }
            Status::Failed(e) => {
                if self.reusable(&e) {
                    self.spare[usize::from(addr.is_ipv6())] = Some(sock);
                }
                self.failed(idx, addr_i, &e);
            }
            status => self.settle(idx, addr_i, addr, status),
        }
        Ok(true)
    }

    /// Refused (by SO_ERROR, so the socket is back in CLOSE) and never bound by hand:
    /// the socket can connect again.
    fn reusable(&self, e: &io::Error) -> bool {
        self.s.proto == Proto::Tcp
            && e.raw_os_error() == Some(libc::ECONNREFUSED)
            && self.s.source.is_none()
            && self.s.source_port.is_none()
    }

    fn socket_for(&self, addr: &SocketAddr) -> io::Result<Socket> {
        let (ty, proto) = match self.s.proto {
            Proto::Tcp => (Type::STREAM, Protocol::TCP),
            Proto::Udp => (Type::DGRAM, Protocol::UDP),
        };
        let sock = Socket::new(Domain::for_address(*addr), ty.nonblocking(), Some(proto))?;
        if self.s.so_debug {
            net::set_so_debug(&sock)?;
        }
        self.s
            .tune
            .apply(&sock, addr.is_ipv6(), Some(addr))
            .map_err(|e| io::Error::other(format!("{e:#}")))?;
        if self.s.source.is_some() || self.s.source_port.is_some() {
            let ip = self.s.source.unwrap_or(if addr.is_ipv4() {
                IpAddr::V4(Ipv4Addr::UNSPECIFIED)
            } else {
                IpAddr::V6(Ipv6Addr::UNSPECIFIED)
            });
            sock.set_reuse_address(true)?;
            sock.bind(&SocketAddr::new(ip, self.s.source_port.unwrap_or(0)).into())?;
        }
        Ok(sock)
    }

    /// A TCP connect's state, asked by connecting again (the classic way): EALREADY
    /// while in progress, 0 or EISCONN once connected, else the error that ended it.
    /// A failed connect leaves the socket ready to connect anew; reading SO_ERROR
    /// instead would leave it to fail the next connect with ECONNABORTED.
    fn tcp_status(sock: &Socket, addr: &SocketAddr, started: Instant) -> Status {
        match sock.connect(&SockAddr::from(*addr)) {
            Ok(()) => {}
            Err(e) => match e.raw_os_error() {
                Some(libc::EISCONN) => {}
                Some(libc::EALREADY | libc::EINPROGRESS | libc::EINTR) => return Status::Pending,
                _ => return Status::Failed(e),
            },
        }
        let (peer, local) = match (sock.peer_addr(), sock.local_addr()) {
            (Ok(p), Ok(l)) => (p, l),
            (Err(e), _) | (_, Err(e)) => return Status::Failed(e),
        };
        if peer == local {
            // Connected to itself: nothing listens there. Close with RST so the port
            // is not held in TIME_WAIT.
            let _ = sock.set_linger(Some(Duration::ZERO));
            return Status::SelfConnect;
        }
        Status::Open(Some(started.elapsed()))
    }

    /// A UDP port's state: an answer (open), a refusal, or nothing yet.
    fn udp_status(sock: &Socket, started: Instant) -> Status {
        let mut buf = [MaybeUninit::<u8>::uninit(); 1];
        match sock.recv(&mut buf) {
            // Anything that comes back (even an empty datagram) is an answer.
            Ok(_) => Status::Open(Some(started.elapsed())),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Status::Pending,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Status::Pending,
            Err(e) => Status::Failed(e),
        }
    }

    /// Check the attempt in `slot` after an event or at a deadline.
    fn check(&mut self, slot: usize) -> Status {
        let Some(a) = self.slots[slot].as_ref() else {
            return Status::Pending;
        };
        match self.s.proto {
            Proto::Tcp => {
                let addr = SocketAddr::new(self.s.addrs[a.addr], self.sorted[a.idx]);
                Self::tcp_status(&a.sock, &addr, a.started)
            }
            Proto::Udp => Self::udp_status(&a.sock, a.started),
        }
    }

    /// Take the attempt out of its slot; closing the socket removes it from epoll.
    fn finish(&mut self, slot: usize, status: Status) {
        if let Some(a) = self.slots[slot].take() {
            self.free.push(slot);
            self.in_flight -= 1;
            let addr = SocketAddr::new(self.s.addrs[a.addr], self.sorted[a.idx]);
            self.settle(a.idx, a.addr, addr, status);
        }
    }

    fn settle(&mut self, idx: usize, addr_i: usize, addr: SocketAddr, status: Status) {
        match status {
            Status::Pending => {}
            Status::Open(latency) => {
                self.states[idx].open = Some((addr, latency));
                self.opened.push(self.sorted[idx]);
                self.any_open = true;
                self.port_done(idx);
            }
            Status::Failed(e) => self.failed(idx, addr_i, &e),
            Status::SelfConnect => {
                let e = io::Error::from_raw_os_error(libc::ECONNREFUSED);
                self.failed(idx, addr_i, &e);
            }
        }
    }

    /// Record a failure; try the host's next address, or give up on the port.
    fn failed(&mut self, idx: usize, addr_i: usize, e: &io::Error) {
        let line = format!(
            "connect to {} port {} ({}) failed: {}",
            self.s.host,
            self.sorted[idx],
            self.s.proto.name(),
            net::os_message(e)
        );
        self.states[idx].failures.push(line);
        if addr_i + 1 < self.s.addrs.len() {
            self.retries.push_back((idx, addr_i + 1));
        } else {
            self.port_done(idx);
        }
    }

    fn port_done(&mut self, idx: usize) {
        self.states[idx].done = true;
        if let Some(pause) = self.s.interval {
            self.not_before = Some(Instant::now() + pause);
        }
    }

    /// Deadlines and UDP resends that are due.
    fn fire_timers(&mut self, now: Instant) {
        while let Some(&Reverse((when, slot, serial))) = self.timers.peek() {
            if when > now {
                break;
            }
            self.timers.pop();
            if self.slots[slot].as_ref().is_none_or(|a| a.serial != serial) {
                continue; // the attempt ended already
            }
            // An answer may have come in at the last moment.
            match self.check(slot) {
                Status::Pending => {}
                done => {
                    self.finish(slot, done);
                    continue;
                }
            }
            let timeout = self.s.timeout;
            let a = self.slots[slot].as_mut().expect("checked above");
            match self.s.proto {
                Proto::Tcp => {
                    let e = io::Error::from_raw_os_error(libc::ETIMEDOUT);
                    self.finish(slot, Status::Failed(e));
                }
                Proto::Udp if a.sends < UDP_SENDS => {
                    a.sends += 1;
                    let next = a.started + timeout * a.sends / UDP_SENDS;
                    let sent = a.sock.send(&[]);
                    self.timers.push(Reverse((next, slot, serial)));
                    match sent {
                        Err(e) if e.kind() != io::ErrorKind::WouldBlock => {
                            self.finish(slot, Status::Failed(e))
                        }
                        _ => {}
                    }
                }
                // No refusal within the wait: open, as far as anyone can tell.
                Proto::Udp => self.finish(slot, Status::Open(None)),
            }
        }
    }

    /// Report every settled port at the front of the ascending order.
    fn flush(&mut self) {
        while self.printed < self.sorted.len() && self.states[self.printed].done {
            let port = self.sorted[self.printed];
            let st = std::mem::take(&mut self.states[self.printed]);
            self.printed += 1;
            if self.report_failures {
                for f in &st.failures {
                    let _ = writeln!(self.err, "rnc: {f}");
                }
            }
            let Some((addr, latency)) = st.open else {
                continue;
            };
            if self.s.verbose > 0 {
                let line =
                    net::succeeded_line(&self.s.host, &addr, self.s.proto.name(), self.s.numeric);
                let _ = writeln!(self.err, "{line}");
            }
            if self.s.json && !self.out_broken {
                let service = if self.s.numeric {
                    "*".to_string()
                } else {
                    net::service_name(port, self.s.proto.name())
                };
                let line = json_line(&self.s.host, &addr, port, self.s.proto, &service, latency);
                if writeln!(self.out, "{line}")
                    .and_then(|()| self.out.flush())
                    .is_err()
                {
                    self.out_broken = true;
                }
            }
        }
    }
}

impl<O: Write, E: Write> Session for Scan<O, E> {
    fn start(&mut self, _reg: &Registry) -> Result<()> {
        Ok(())
    }

    fn on_event(&mut self, _reg: &Registry, ev: &Event) -> Result<()> {
        if let Some(slot) = ev.token().0.checked_sub(FIRST_SESSION_TOKEN) {
            if self.slots.get(slot).is_some_and(Option::is_some) {
                self.ready.push(slot);
            }
        }
        Ok(())
    }

    fn step(&mut self, reg: &Registry, now: Instant) -> Result<Flow> {
        for slot in std::mem::take(&mut self.ready) {
            match self.check(slot) {
                Status::Pending => {}
                done => self.finish(slot, done),
            }
        }
        self.fire_timers(now);
        self.launch(reg)?;
        self.flush();
        if self.printed == self.sorted.len() || self.out_broken {
            return Ok(Flow::Exit(self.exit_code()));
        }
        let mut wake = self.timers.peek().map(|Reverse((t, _, _))| *t);
        if self.in_flight < self.cap && self.next < self.order.len() {
            if let Some(t) = self.not_before {
                wake = Some(wake.map_or(t, |w| w.min(t)));
            }
        }
        Ok(Flow::Wait(wake))
    }
}

fn fd_shortage() -> io::Error {
    io::Error::from_raw_os_error(libc::EMFILE)
}

/// `{"host":…,"address":…,"port":…,"proto":…,"service":…,"latency_ms":…}`
/// `service` is `*` when the port has no name (or under -n).
fn json_line(
    host: &str,
    addr: &SocketAddr,
    port: u16,
    proto: Proto,
    service: &str,
    latency: Option<Duration>,
) -> String {
    let service = match service {
        "*" => "null".to_string(),
        s => json_str(s),
    };
    let latency = latency.map_or("null".to_string(), |d| {
        format!("{:.3}", d.as_secs_f64() * 1000.0)
    });
    format!(
        "{{\"host\":{},\"address\":{},\"port\":{port},\"proto\":\"{}\",\"service\":{service},\"latency_ms\":{latency}}}",
        json_str(host),
        json_str(&addr.ip().to_string()),
        proto.name(),
    )
}

/// A JSON string literal.
fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A seed for `-r`: the clock and the process id (no crate; not for secrets).
fn seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    nanos ^ (u64::from(std::process::id()) << 32) ^ 0x9e37_79b9_7f4a_7c15
}

/// Fisher–Yates with xorshift64*.
fn shuffle<T>(v: &mut [T], seed: u64) {
    let mut x = seed | 1;
    for i in (1..v.len()).rev() {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        let r = x.wrapping_mul(0x2545_f491_4f6c_dd1d);
        let j = (r % (i as u64 + 1)) as usize;
        v.swap(i, j);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{TcpListener, UdpSocket};

    fn settings(addrs: Vec<IpAddr>, ports: Vec<u16>) -> Settings {
        Settings {
            host: "testhost".into(),
            addrs,
            ports,
            proto: Proto::Tcp,
            timeout: Duration::from_secs(5),
            parallel: 64,
            interval: None,
            source: None,
            source_port: None,
            so_debug: false,
            tune: Default::default(),
            numeric: false,
            verbose: 2,
            json: true,
        }
    }

    /// Run a scan in-process; returns (exit code, stdout, stderr).
    fn scan(s: Settings) -> (i32, String, String) {
        let mut scan = Scan::new(s, Vec::new(), Vec::new());
        let code = event_loop::run(&mut scan).unwrap();
        (
            code,
            String::from_utf8(scan.out).unwrap(),
            String::from_utf8(scan.err).unwrap(),
        )
    }

    fn free_port() -> u16 {
        TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    }

    #[test]
    fn first_address_that_answers_wins() {
        // The host has two addresses; only the second has a listener.
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let v6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
        let v4 = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let (code, out, err) = scan(settings(vec![v6, v4], vec![port]));
        assert_eq!(code, 0, "{err}");
        assert_eq!(
            err,
            format!(
                "rnc: connect to testhost port {port} (tcp) failed: Connection refused\n\
                 Connection to testhost (127.0.0.1) {port} port [tcp/*] succeeded!\n"
            )
        );
        assert!(out.contains("\"address\":\"127.0.0.1\""), "{out}");
    }

    #[test]
    fn every_address_refused_is_one_line_each() {
        let port = free_port();
        let v6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
        let v4 = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let (code, out, err) = scan(settings(vec![v6, v4], vec![port]));
        assert_eq!(code, 1);
        assert!(out.is_empty());
        assert_eq!(err.lines().count(), 2, "{err}");
    }

    #[test]
    fn results_come_out_ascending() {
        let ls: Vec<TcpListener> = (0..4)
            .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
            .collect();
        let mut ports: Vec<u16> = ls.iter().map(|l| l.local_addr().unwrap().port()).collect();
        ports.push(free_port());
        ports.reverse();
        let mut s = settings(vec![IpAddr::V4(Ipv4Addr::LOCALHOST)], ports.clone());
        s.host = "127.0.0.1".into();
        s.verbose = 1;
        let (code, out, err) = scan(s);
        assert_eq!(code, 0);
        let got: Vec<u16> = err
            .lines()
            .map(|l| l.split(' ').nth(3).unwrap().parse().unwrap())
            .collect();
        let mut want: Vec<u16> = ls.iter().map(|l| l.local_addr().unwrap().port()).collect();
        want.sort_unstable();
        assert_eq!(got, want, "{err}");
        assert_eq!(out.lines().count(), 4);
    }

    #[test]
    fn udp_refusal_and_silence() {
        let quiet = UdpSocket::bind("127.0.0.1:0").unwrap();
        let open = quiet.local_addr().unwrap().port();
        let closed = UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut s = settings(vec![IpAddr::V4(Ipv4Addr::LOCALHOST)], vec![closed, open]);
        s.proto = Proto::Udp;
        s.timeout = Duration::from_millis(300);
        let (code, out, err) = scan(s);
        assert_eq!(code, 0, "{err}");
        assert!(
            err.contains(&format!("port {closed} (udp) failed: Connection refused")),
            "{err}"
        );
        assert!(
            err.contains(&format!(
                "testhost (127.0.0.1) {open} port [udp/*] succeeded!"
            )),
            "{err}"
        );
        assert!(out.contains("\"latency_ms\":null"), "{out}");
    }

    #[test]
    fn json_escapes_and_nulls() {
        let a: SocketAddr = "127.0.0.1:22".parse().unwrap();
        assert_eq!(
            json_line(
                "a\"b",
                &a,
                22,
                Proto::Tcp,
                "ssh",
                Some(Duration::from_micros(1500))
            ),
            "{\"host\":\"a\\\"b\",\"address\":\"127.0.0.1\",\"port\":22,\"proto\":\"tcp\",\
             \"service\":\"ssh\",\"latency_ms\":1.500}"
        );
        assert!(json_line("h", &a, 22, Proto::Udp, "*", None)
            .ends_with("\"proto\":\"udp\",\"service\":null,\"latency_ms\":null}"));
        assert_eq!(json_str("\u{1}\\"), "\"\\u0001\\\\\"");
    }

    #[test]
    fn shuffle_is_a_permutation() {
        let mut v: Vec<u32> = (0..1000).collect();
        shuffle(&mut v, 42);
        assert_ne!(v, (0..1000).collect::<Vec<_>>());
        v.sort_unstable();
        assert_eq!(v, (0..1000).collect::<Vec<_>>());
    }
}
