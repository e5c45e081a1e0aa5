//! Load client for bench/chat, bench/echo and bench/relay: many TCP clients on one mio loop.
//!
//! Usage: `load MODE --port P [options]`; prints one `key=value ...` line on stdout.
//!
//! Modes:
//! - `chat`: N clients join a chat server; each sends M lines (paced at R lines/s for
//!   the whole room, or all at once with R = 0); every client must receive every other
//!   client's lines. Measures deliveries/s and per-line latency (send to receipt).
//! - `idle`: N clients join and stay; one broadcast line checks all are served.
//! - `slow`: one client never reads (tiny receive buffer), one sends B bytes of lines
//!   while staying within W bytes of the slowest reader, R clients read. Reports
//!   whether the readers got everything and whether the stalled client was dropped.
//! - `flood`: one client never reads (tiny receive buffer), one floods the room with
//!   B bytes of numbered lines as fast as the server takes them, and one reads slowly
//!   (at most `--read-chunk` bytes every `--read-every-ms`) and checks that every line
//!   arrives, in order and intact. Prints `flood stalled_port=P` when the flood starts,
//!   so that the harness can watch the server drop the stalled client, which stays
//!   unread until `--hold` seconds after the flood began.
//! - `echo`: N clients each send K KiB (at most W bytes unanswered, 0 = no limit) and
//!   check every byte that comes back, then half-close and expect the server's FIN.
//! - `rate`: `--parallel` connections at a time, each connects, reads to EOF and checks
//!   it got exactly `--reply`, until `--conns` have completed or `--rate-time` seconds
//!   have passed; reports the connections per second.
//! - `target`: the far end for `rate`: accept, write `--reply`, close, until killed
//!   (with `--keep 1`: keep every connection open instead, for `tunnels`).
//! - `tunnels`: `--clients` connections, `--parallel` at a time, each kept open once
//!   it has the target's `--reply`; prints the time to open them all, then (with
//!   `--linger 1`) holds them until stdin closes.
//!
//! `rate` and `tunnels` go through a proxy with `--proxy socks5|http --target-port Q`:
//! each connection first asks the proxy (at `--port`) for 127.0.0.1:Q (SOCKS5 without
//! authentication: greeting, then the request once the method is chosen; or HTTP
//! CONNECT), then expects the target's reply as without a proxy.
//!
//! Chat lines are `M <sender> <seq> <nanos> <padding>`; a receiver takes whatever comes
//! before the first space as the server's prefix (`->` for rnc, `<userN>` for ncat).
//! Before measuring, sync lines (`S ...`) go round until every client has seen one, so
//! every client is known to be in the room.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use socket2::{Domain, Protocol, Socket, Type};

struct Args {
    mode: String,
    port: u16,
    clients: usize,
    lines: usize,
    rate: f64,
    size: usize,
    kib: usize,
    window: usize,
    bytes: usize,
    receivers: usize,
    hold: f64,
    deadline: f64,
    parallel: usize,
    /// Echo: half-close right after the last byte is sent (`early`), or once every
    /// byte is back (`late`; ncat --exec loses the tail of the echo otherwise).
    fin_early: bool,
    /// After printing, wait for stdin to close before closing the clients (so the
    /// harness can see whether the server is still alive while they are connected).
    linger: bool,
    /// Microseconds between connect starts (servers with a short backlog drop SYNs
    /// in a burst, and the kernel retries them only after a second).
    gap_us: u64,
    /// Rate and target: what the target writes before it closes.
    reply: String,
    /// Rate: connections to complete, the time bound for new ones, and the
    /// deadline of one connection (seconds).
    conns: usize,
    rate_time: f64,
    conn_timeout: f64,
    /// Flood: the slow reader reads at most `read_chunk` bytes every
    /// `read_every_ms` milliseconds.
    read_chunk: usize,
    read_every_ms: u64,
    /// Rate and tunnels: the proxy protocol (`none`, `socks5`, `http`) and the port of
    /// the target behind it.
    proxy: Proxy,
    target_port: u16,
    /// Target: keep the connections open.
    keep: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Proxy {
    None,
    Socks5,
    Http,
}

fn parse_args() -> Result<Args, String> {
    let mut it = std::env::args().skip(1);
    let mode = it
        .next()
        .ok_or("usage: load chat|idle|slow|flood|echo|rate|target --port P ...")?;
    let mut a = Args {
        mode,
        port: 0,
        clients: 10,
        lines: 10,
        rate: 0.0,
        size: 64,
        kib: 128,
        window: 64 * 1024,
        bytes: 64 << 20,
        receivers: 3,
        hold: 1.0,
        deadline: 30.0,
        parallel: 256,
        gap_us: 0,
        fin_early: false,
        linger: false,
        reply: "hi\n".into(),
        conns: 2000,
        rate_time: 5.0,
        conn_timeout: 5.0,
        read_chunk: 16 * 1024,
        read_every_ms: 10,
        proxy: Proxy::None,
        target_port: 0,
        keep: false,
    };
    while let Some(k) = it.next() {
        let v = it.next().ok_or(format!("{k} needs a value"))?;
        let bad = |_: std::num::ParseIntError| format!("bad value for {k}: {v}");
        let badf = |_: std::num::ParseFloatError| format!("bad value for {k}: {v}");
        match k.as_str() {
            "--port" => a.port = v.parse().map_err(bad)?,
            "--clients" => a.clients = v.parse().map_err(bad)?,
            "--lines" => a.lines = v.parse().map_err(bad)?,
            "--rate" => a.rate = v.parse().map_err(badf)?,
            "--size" => a.size = v.parse().map_err(bad)?,
            "--kib" => a.kib = v.parse().map_err(bad)?,
            "--window" => a.window = v.parse().map_err(bad)?,
            "--bytes" => a.bytes = v.parse().map_err(bad)?,
            "--receivers" => a.receivers = v.parse().map_err(bad)?,
            "--hold" => a.hold = v.parse().map_err(badf)?,
            "--deadline" => a.deadline = v.parse().map_err(badf)?,
            "--parallel" => a.parallel = v.parse().map_err(bad)?,
            "--gap-us" => a.gap_us = v.parse().map_err(bad)?,
            "--fin" => a.fin_early = v == "early",
            "--linger" => a.linger = v == "1",
            "--reply" => a.reply = v.replace("\\n", "\n"),
            "--conns" => a.conns = v.parse().map_err(bad)?,
            "--rate-time" => a.rate_time = v.parse().map_err(badf)?,
            "--conn-timeout" => a.conn_timeout = v.parse().map_err(badf)?,
            "--read-chunk" => a.read_chunk = v.parse().map_err(bad)?,
            "--read-every-ms" => a.read_every_ms = v.parse().map_err(bad)?,
            "--proxy" => {
                a.proxy = match v.as_str() {
                    "none" => Proxy::None,
                    "socks5" => Proxy::Socks5,
                    "http" => Proxy::Http,
                    _ => return Err(format!("bad value for {k}: {v}")),
                }
            }
            "--target-port" => a.target_port = v.parse().map_err(bad)?,
            "--keep" => a.keep = v == "1",
            _ => return Err(format!("unknown option {k}")),
        }
    }
    if a.port == 0 {
        return Err("--port is required".into());
    }
    if a.parallel == 0 || a.size < 32 || a.read_chunk == 0 {
        return Err("--parallel and --read-chunk must be >= 1, --size >= 32".into());
    }
    Ok(a)
}

fn raise_nofile() {
    // SAFETY: getrlimit/setrlimit on a local struct.
    unsafe {
        let mut rl: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) == 0 {
            rl.rlim_cur = rl.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &rl);
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum State {
    Connecting,
    Open,
    Failed,
    /// The server closed (FIN or reset).
    Closed,
}

struct Client {
    sock: TcpStream,
    state: State,
    inbuf: Vec<u8>,
    out: Vec<u8>,
    out_pos: usize,
    writable: bool,
    /// Never read (the stalled client of `slow`).
    mute: bool,
    // chat
    synced: bool,
    got: u64,
    got_bytes: u64,
    self_echo: u64,
    garbled: u64,
    // echo
    sent: usize,
    recvd: usize,
    bad: bool,
    shut: bool,
}

impl Client {
    fn new(sock: TcpStream) -> Client {
        Client {
            sock,
            state: State::Connecting,
            inbuf: Vec::new(),
            out: Vec::new(),
            out_pos: 0,
            writable: false,
            mute: false,
            synced: false,
            got: 0,
            got_bytes: 0,
            self_echo: 0,
            garbled: 0,
            sent: 0,
            recvd: 0,
            bad: false,
            shut: false,
        }
    }

    fn open(&self) -> bool {
        self.state == State::Open
    }

    fn queue(&mut self, b: &[u8]) {
        if self.out_pos == self.out.len() {
            self.out.clear();
            self.out_pos = 0;
        }
        self.out.extend_from_slice(b);
    }

    fn pending(&self) -> usize {
        self.out.len() - self.out_pos
    }

    fn flush(&mut self) {
        while self.open() && self.writable && self.out_pos < self.out.len() {
            match self.sock.write(&self.out[self.out_pos..]) {
                Ok(n) => self.out_pos += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.writable = false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => self.state = State::Closed,
            }
        }
    }
}

/// Start a nonblocking connect (with a small receive buffer if asked).
fn start_connect(addr: &SocketAddr, rcvbuf: Option<usize>) -> io::Result<TcpStream> {
    let s = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
    if let Some(n) = rcvbuf {
        s.set_recv_buffer_size(n)?;
    }
    s.set_nonblocking(true)?;
    match s.connect(&(*addr).into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(e) => return Err(e),
    }
    Ok(TcpStream::from_std(s.into()))
}

struct Load {
    /// The open tunnels of `tunnels`, held until exit.
    held: Vec<TcpStream>,
    poll: Poll,
    events: Events,
    clients: Vec<Client>,
    scratch: Vec<u8>,
    base: Instant,
}

impl Load {
    fn new() -> Load {
        Load {
            held: Vec::new(),
            poll: Poll::new().expect("epoll"),
            events: Events::with_capacity(4096),
            clients: Vec::new(),
            scratch: vec![0; 256 * 1024],
            base: Instant::now(),
        }
    }

    fn nanos(&self) -> u64 {
        self.base.elapsed().as_nanos() as u64
    }

    /// Connect n clients, at most `parallel` at a time; returns how many are open.
    fn connect(
        &mut self,
        addr: &SocketAddr,
        n: usize,
        parallel: usize,
        gap_us: u64,
        deadline: Instant,
    ) -> usize {
        self.connect_with(addr, n, parallel, gap_us, deadline, |_| None)
    }

    fn connect_with(
        &mut self,
        addr: &SocketAddr,
        n: usize,
        parallel: usize,
        gap_us: u64,
        deadline: Instant,
        rcvbuf: impl Fn(usize) -> Option<usize>,
    ) -> usize {
        let first = self.clients.len();
        let mut started = 0;
        let mut in_flight = 0;
        let gap = Duration::from_micros(gap_us);
        let mut next_start = Instant::now();
        while Instant::now() < deadline {
            while started < n && in_flight < parallel && Instant::now() >= next_start {
                next_start += gap;
                // A connect that fails at once (out of ports, out of fds) is not retried;
                // the client is simply missing from the count.
                if let Ok(mut s) = start_connect(addr, rcvbuf(started)) {
                    let i = self.clients.len();
                    self.poll
                        .registry()
                        .register(&mut s, Token(i), Interest::READABLE | Interest::WRITABLE)
                        .expect("register");
                    self.clients.push(Client::new(s));
                    in_flight += 1;
                }
                started += 1;
            }
            if started == n && in_flight == 0 {
                break;
            }
            let until = if started < n && in_flight < parallel {
                next_start.min(deadline)
            } else {
                deadline
            };
            self.wait(until, |c| {
                if c.state == State::Connecting && c.writable {
                    c.state = match (c.sock.take_error(), c.sock.peer_addr()) {
                        (Ok(None), Ok(_)) => {
                            let _ = c.sock.set_nodelay(true);
                            State::Open
                        }
                        _ => State::Failed,
                    };
                }
            });
            in_flight = self.clients[first..]
                .iter()
                .filter(|c| c.state == State::Connecting)
                .count();
        }
        self.clients[first..].iter().filter(|c| c.open()).count()
    }

    /// One poll (until `deadline` at most, 10 ms at most); `f` sees each client with
    /// an event after its flags are updated.
    fn wait(&mut self, deadline: Instant, mut f: impl FnMut(&mut Client)) {
        let t = deadline
            .saturating_duration_since(Instant::now())
            .min(Duration::from_millis(10));
        if let Err(e) = self.poll.poll(&mut self.events, Some(t)) {
            if e.kind() != io::ErrorKind::Interrupted {
                panic!("poll: {e}");
            }
        }
        let now = self.base.elapsed().as_nanos() as u64;
        for ev in self.events.iter() {
            let i = ev.token().0;
            let c = &mut self.clients[i];
            if ev.is_writable() || ev.is_write_closed() || ev.is_error() {
                c.writable = true;
            }
            f(c);
            // Whatever the server says meanwhile (ncat's announcements) is read and
            // dropped: a client that does not read can stall a server that blocks.
            while c.open() && !c.mute {
                match c.sock.read(&mut self.scratch) {
                    Ok(0) => c.state = State::Closed,
                    Ok(n) => split_lines(c, i, &self.scratch[..n], now, &mut |_, _, _, _| {}),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => c.state = State::Closed,
                }
            }
        }
    }

    /// Poll once, then read every client with an event and hand each complete line to
    /// `line(client, index, line, now_nanos)`.
    fn pump_lines(
        &mut self,
        deadline: Instant,
        mut line: impl FnMut(&mut Client, usize, &[u8], u64),
    ) {
        let mut ready = Vec::new();
        {
            let t = deadline
                .saturating_duration_since(Instant::now())
                .min(Duration::from_millis(5));
            if let Err(e) = self.poll.poll(&mut self.events, Some(t)) {
                if e.kind() != io::ErrorKind::Interrupted {
                    panic!("poll: {e}");
                }
            }
            for ev in self.events.iter() {
                let i = ev.token().0;
                if ev.is_writable() || ev.is_write_closed() || ev.is_error() {
                    self.clients[i].writable = true;
                }
                if ev.is_readable() || ev.is_read_closed() || ev.is_error() {
                    ready.push(i);
                }
            }
        }
        let now = self.base.elapsed().as_nanos() as u64;
        for i in ready {
            let c = &mut self.clients[i];
            while c.open() && !c.mute {
                match c.sock.read(&mut self.scratch) {
                    Ok(0) => c.state = State::Closed,
                    Ok(n) => {
                        c.got_bytes += n as u64;
                        split_lines(c, i, &self.scratch[..n], now, &mut line);
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => c.state = State::Closed,
                }
            }
        }
        for c in &mut self.clients {
            c.flush();
        }
    }
}

/// Hand every complete line of `data` (after what `c.inbuf` holds) to `line`.
fn split_lines(
    c: &mut Client,
    i: usize,
    data: &[u8],
    now: u64,
    line: &mut impl FnMut(&mut Client, usize, &[u8], u64),
) {
    let mut start = 0;
    if !c.inbuf.is_empty() {
        let Some(p) = find_nl(data) else {
            c.inbuf.extend_from_slice(data);
            return;
        };
        let mut held = std::mem::take(&mut c.inbuf);
        held.extend_from_slice(&data[..p]);
        line(c, i, &held, now);
        held.clear();
        c.inbuf = held;
        start = p + 1;
    }
    while let Some(p) = find_nl(&data[start..]) {
        line(c, i, &data[start..start + p], now);
        start += p + 1;
    }
    c.inbuf.extend_from_slice(&data[start..]);
}

/// The first LF, eight bytes at a time.
fn find_nl(s: &[u8]) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    const NL: u64 = LO * b'\n' as u64;
    let mut chunks = s.chunks_exact(8);
    let mut off = 0;
    for ch in &mut chunks {
        let v = u64::from_le_bytes(ch.try_into().unwrap()) ^ NL;
        let z = v.wrapping_sub(LO) & !v & HI;
        if z != 0 {
            return Some(off + (z.trailing_zeros() / 8) as usize);
        }
        off += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(|&b| b == b'\n')
        .map(|p| off + p)
}

/// A received chat line without the server's prefix (what comes before the first
/// space). ncat prefixes each read rather than each line, so a line of ours may also
/// arrive bare; it counts as delivered.
fn payload(line: &[u8]) -> Option<&[u8]> {
    if line.starts_with(b"M ") || line.starts_with(b"S ") || line.starts_with(b"F ") {
        return Some(line);
    }
    let sp = line.iter().position(|&b| b == b' ')?;
    Some(&line[sp + 1..])
}

/// `M sender seq nanos pad` → (sender, seq, nanos); the line must be `size` bytes
/// with its LF, padded with `x`.
fn parse_m(p: &[u8], size: usize) -> Option<(usize, u64, u64)> {
    if p.len() + 1 != size || p.last() != Some(&b'x') {
        return None;
    }
    let rest = p.strip_prefix(b"M ")?;
    let (sender, rest) = number(rest)?;
    let (seq, rest) = number(rest)?;
    let (nanos, _) = number(rest)?;
    Some((sender as usize, seq, nanos))
}

/// Leading decimal digits and the rest after one space.
fn number(s: &[u8]) -> Option<(u64, &[u8])> {
    let mut v = 0u64;
    for (k, &b) in s.iter().enumerate() {
        match b {
            b'0'..=b'9' => v = v.checked_mul(10)?.checked_add(u64::from(b - b'0'))?,
            b' ' if k > 0 => return Some((v, &s[k + 1..])),
            _ => return None,
        }
    }
    None
}

fn m_line(sender: usize, seq: u64, nanos: u64, size: usize) -> Vec<u8> {
    let mut l = format!("M {sender} {seq} {nanos} ").into_bytes();
    while l.len() + 1 < size {
        l.push(b'x');
    }
    if l.last() == Some(&b' ') {
        l.push(b'x');
    }
    l.push(b'\n');
    l
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i] as f64 / 1e6
}

/// Sync lines go round until every open client has seen one from another client.
fn sync(l: &mut Load, deadline: Instant) -> usize {
    let open: Vec<usize> = (0..l.clients.len())
        .filter(|&i| l.clients[i].open())
        .collect();
    if open.len() < 2 {
        return open.len();
    }
    sync_by(l, deadline, open[0], open[1])
}

/// Clients `a` and `b` send sync lines until every open client has seen one.
fn sync_by(l: &mut Load, deadline: Instant, a: usize, b: usize) -> usize {
    let mut k = 0u64;
    let mut next = Instant::now();
    loop {
        let now = Instant::now();
        let missing = l.clients.iter().filter(|c| c.open() && !c.synced).count();
        if missing == 0 || now >= deadline {
            break;
        }
        if now >= next {
            k += 1;
            for s in [a, b] {
                l.clients[s].queue(format!("S {k}\n").as_bytes());
                l.clients[s].flush();
            }
            next = now + Duration::from_millis(100);
        }
        l.pump_lines(deadline.min(next), |c, _, line, _| {
            if payload(line).is_some_and(|p| p.starts_with(b"S ")) {
                c.synced = true;
            }
        });
    }
    l.clients.iter().filter(|c| c.open() && c.synced).count()
}

fn kv(pairs: &[(&str, String)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn chat(a: &Args, l: &mut Load, idle: bool) -> String {
    let size = a.size;
    let addr: SocketAddr = ([127, 0, 0, 1], a.port).into();
    let t_start = Instant::now();
    let deadline = t_start + Duration::from_secs_f64(a.deadline);
    let connected = l.connect(&addr, a.clients, a.parallel, a.gap_us, deadline);
    let connect_s = t_start.elapsed().as_secs_f64();
    let synced = sync(l, deadline);
    let n = a.clients;
    let members: Vec<usize> = (0..l.clients.len())
        .filter(|&i| l.clients[i].open() && l.clients[i].synced)
        .collect();
    let mut out = vec![
        ("clients", n.to_string()),
        ("connected", format!("{connected}/{n}")),
        ("synced", format!("{synced}/{n}")),
        ("connect_s", format!("{connect_s:.2}")),
    ];
    if synced < n {
        out.push(("complete", format!("0/{n}")));
        return kv(&out);
    }
    if idle {
        // Hold the room, then one line from client 0 must reach every other client.
        let hold_end = Instant::now() + Duration::from_secs_f64(a.hold);
        while Instant::now() < hold_end {
            l.pump_lines(hold_end, |_, _, _, _| {});
        }
        for c in &mut l.clients {
            c.got = 0;
        }
        let n = l.clients.len();
        let t0 = Instant::now();
        let line = m_line(0, 0, l.nanos(), a.size);
        l.clients[0].queue(&line);
        l.clients[0].flush();
        let mut lat = Vec::new();
        while Instant::now() < deadline {
            let done = (1..n).all(|i| l.clients[i].got >= 1);
            if done {
                break;
            }
            l.pump_lines(deadline, |c, _, line, now| {
                if let Some((_, _, t)) = payload(line).and_then(|p| parse_m(p, size)) {
                    c.got += 1;
                    lat.push(now.saturating_sub(t));
                }
            });
        }
        let got = (1..n).filter(|&i| l.clients[i].got >= 1).count();
        lat.sort_unstable();
        out.push(("complete", format!("{}/{}", got, n - 1)));
        out.push((
            "bcast_ms",
            format!("{:.3}", t0.elapsed().as_secs_f64() * 1e3),
        ));
        out.push(("lat_p50_ms", format!("{:.3}", percentile(&lat, 0.5))));
        out.push(("lat_p99_ms", format!("{:.3}", percentile(&lat, 0.99))));
        return kv(&out);
    }

    // Measurement: M lines per client.
    let total_lines = a.lines * members.len();
    let expected_per = (a.lines * (members.len() - 1)) as u64;
    for c in &mut l.clients {
        c.got = 0;
    }
    let mut lat: Vec<u64> = Vec::with_capacity(total_lines * (members.len() - 1));
    let t0 = Instant::now();
    let mut sent = 0usize;
    if a.rate <= 0.0 {
        for (k, &i) in members.iter().enumerate() {
            let mut buf = Vec::with_capacity(a.lines * a.size);
            for seq in 0..a.lines {
                buf.extend_from_slice(&m_line(k, seq as u64, l.nanos(), a.size));
            }
            l.clients[i].queue(&buf);
            l.clients[i].flush();
        }
        sent = total_lines;
    }
    let interval = if a.rate > 0.0 {
        Duration::from_secs_f64(1.0 / a.rate)
    } else {
        Duration::ZERO
    };
    let mut next_send = t0;
    let mut last_rx = t0;
    let mut seen = 0;
    let index: HashMap<usize, usize> = members.iter().enumerate().map(|(k, &i)| (i, k)).collect();
    loop {
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        let done = sent == total_lines && members.iter().all(|&i| l.clients[i].got >= expected_per);
        if done {
            break;
        }
        while sent < total_lines && now >= next_send {
            let k = sent % members.len();
            let seq = (sent / members.len()) as u64;
            let line = m_line(k, seq, l.nanos(), a.size);
            let c = &mut l.clients[members[k]];
            c.queue(&line);
            c.flush();
            sent += 1;
            next_send += interval;
        }
        let wait_until = if sent < total_lines {
            next_send.min(deadline)
        } else {
            deadline
        };
        l.pump_lines(wait_until, |c, i, line, now| {
            let Some(p) = payload(line) else { return };
            if p.starts_with(b"S ") || !p.starts_with(b"M ") {
                return;
            }
            match parse_m(p, size) {
                Some((sender, _, t)) => {
                    if index.get(&i) == Some(&sender) {
                        c.self_echo += 1;
                    }
                    c.got += 1;
                    lat.push(now.saturating_sub(t));
                }
                None => c.garbled += 1,
            }
        });
        if lat.len() > seen {
            seen = lat.len();
            last_rx = Instant::now();
        }
    }
    let wall = last_rx.duration_since(t0).as_secs_f64().max(1e-6);
    let delivered: u64 = members.iter().map(|&i| l.clients[i].got).sum();
    let complete = members
        .iter()
        .filter(|&&i| l.clients[i].got >= expected_per)
        .count();
    lat.sort_unstable();
    out.extend([
        ("lines", a.lines.to_string()),
        ("rate", format!("{}", a.rate)),
        (
            "delivered",
            format!("{}/{}", delivered, expected_per * members.len() as u64),
        ),
        ("complete", format!("{complete}/{n}")),
        (
            "deliveries_per_s",
            format!("{:.0}", delivered as f64 / wall),
        ),
        ("wall_s", format!("{wall:.3}")),
        ("lat_p50_ms", format!("{:.3}", percentile(&lat, 0.5))),
        ("lat_p99_ms", format!("{:.3}", percentile(&lat, 0.99))),
        ("lat_max_ms", format!("{:.3}", percentile(&lat, 1.0))),
        (
            "self_echo",
            members
                .iter()
                .map(|&i| l.clients[i].self_echo)
                .sum::<u64>()
                .to_string(),
        ),
        (
            "garbled",
            members
                .iter()
                .map(|&i| l.clients[i].garbled)
                .sum::<u64>()
                .to_string(),
        ),
    ]);
    kv(&out)
}

fn slow(a: &Args, l: &mut Load) -> String {
    let size = a.size;
    let addr: SocketAddr = ([127, 0, 0, 1], a.port).into();
    let t_start = Instant::now();
    let deadline = t_start + Duration::from_secs_f64(a.deadline);
    // Client 0 stalls (tiny receive buffer, never read); 1 sends; the rest read.
    let want = 2 + a.receivers;
    let connected = l.connect_with(&addr, 1, 1, 0, deadline, |_| Some(4096));
    let connected = connected + l.connect(&addr, want - 1, a.parallel, a.gap_us, deadline);
    if l.clients.len() < want || !l.clients[0].open() {
        return kv(&[
            ("connected", format!("{connected}/{want}")),
            ("complete", format!("0/{}", a.receivers)),
        ]);
    }
    // The stalled client takes no part in the sync: it reads nothing, ever.
    l.clients[0].mute = true;
    l.clients[0].synced = true;
    let synced = sync(l, deadline) - 1;
    let mut out = vec![
        ("connected", format!("{connected}/{want}")),
        ("synced", format!("{}/{}", synced, want - 1)),
    ];
    if synced < want - 1 {
        out.push(("complete", format!("0/{}", a.receivers)));
        return kv(&out);
    }
    for c in &mut l.clients {
        c.got = 0;
        c.got_bytes = 0;
    }
    let line_len = a.size;
    let total_lines = a.bytes / line_len;
    let readers: Vec<usize> = (2..want).collect();
    let mut lat = Vec::new();
    let mut sent = 0usize;
    let t0 = Instant::now();
    let chunk_lines = (16 * 1024 / line_len).max(1);
    loop {
        if Instant::now() >= deadline {
            break;
        }
        let min_got = readers.iter().map(|&i| l.clients[i].got).min().unwrap_or(0) as usize;
        if min_got >= total_lines {
            break;
        }
        // Keep at most `window` bytes ahead of the slowest reader.
        let s = &mut l.clients[1];
        while sent < total_lines
            && s.open()
            && s.pending() < 64 * 1024
            && (sent - min_got) * line_len < a.window
        {
            let mut buf = Vec::with_capacity(chunk_lines * line_len);
            let now = l.base.elapsed().as_nanos() as u64;
            for _ in 0..chunk_lines.min(total_lines - sent) {
                buf.extend_from_slice(&m_line(1, sent as u64, now, line_len));
                sent += 1;
            }
            s.queue(&buf);
            s.flush();
        }
        l.pump_lines(deadline, |c, _, line, now| {
            if let Some((_, _, t)) = payload(line).and_then(|p| parse_m(p, size)) {
                c.got += 1;
                lat.push(now.saturating_sub(t));
            }
        });
    }
    let wall = t0.elapsed().as_secs_f64();
    let complete = readers
        .iter()
        .filter(|&&i| l.clients[i].got as usize >= total_lines)
        .count();
    // Was the stalled client dropped? Read it now: EOF or reset within 5 s says yes.
    let stalled = &mut l.clients[0];
    stalled.mute = false;
    let mut dropped = false;
    let end = Instant::now() + Duration::from_secs(5);
    let mut buf = vec![0u8; 1 << 16];
    while Instant::now() < end && stalled.state == State::Open {
        match stalled.sock.read(&mut buf) {
            Ok(0) => dropped = true,
            Ok(_) => continue,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(20));
                continue;
            }
            Err(_) => dropped = true,
        }
        break;
    }
    lat.sort_unstable();
    out.extend([
        ("lines", total_lines.to_string()),
        ("sent_lines", sent.to_string()),
        ("complete", format!("{complete}/{}", a.receivers)),
        ("wall_s", format!("{wall:.3}")),
        (
            "MBps",
            format!("{:.1}", (sent * line_len) as f64 / 1e6 / wall),
        ),
        ("lat_p50_ms", format!("{:.3}", percentile(&lat, 0.5))),
        ("lat_p99_ms", format!("{:.3}", percentile(&lat, 0.99))),
        ("stalled_dropped", (dropped as u8).to_string()),
    ]);
    kv(&out)
}

/// The bytes the echo clients send: client `i` sends `TABLE[(i * 4099 + off) % P]` at
/// offset `off`, so generating and checking are slice copies and compares.
const P: usize = 65521;

fn pattern_table() -> Vec<u8> {
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    (0..P)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 56) as u8
        })
        .collect()
}

/// Walk the pattern of client `i` from `off` alongside `buf`, one table run at a time.
fn pattern_runs(
    i: usize,
    off: usize,
    len: usize,
    mut f: impl FnMut(usize, usize, usize) -> bool,
) -> bool {
    let mut done = 0;
    while done < len {
        let k = (i * 4099 + off + done) % P;
        let n = (len - done).min(P - k);
        if !f(done, k, n) {
            return false;
        }
        done += n;
    }
    true
}

fn echo(a: &Args, l: &mut Load) -> String {
    let addr: SocketAddr = ([127, 0, 0, 1], a.port).into();
    let t_start = Instant::now();
    let deadline = t_start + Duration::from_secs_f64(a.deadline);
    let connected = l.connect(&addr, a.clients, a.parallel, a.gap_us, deadline);
    let setup_s = t_start.elapsed().as_secs_f64();
    let n = l.clients.len();
    let total = a.kib * 1024;
    let window = if a.window == 0 { usize::MAX } else { a.window };
    let t0 = Instant::now();
    let mut block = vec![0u8; 64 * 1024];
    let table = pattern_table();
    let mut last_rx = Instant::now();
    let mut eof_ok = 0;
    let mut failures: HashMap<&'static str, usize> = HashMap::new();
    let mut ready = Vec::new();
    loop {
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        // Send what the window allows.
        let mut all_done = true;
        for (i, c) in l.clients.iter_mut().enumerate() {
            if !c.open() {
                continue;
            }
            if c.recvd < total || !c.shut {
                all_done = false;
            }
            while c.writable && c.sent < total && c.sent - c.recvd < window && c.pending() == 0 {
                let n = (total - c.sent)
                    .min(block.len())
                    .min(window - (c.sent - c.recvd));
                pattern_runs(i, c.sent, n, |at, k, len| {
                    block[at..at + len].copy_from_slice(&table[k..k + len]);
                    true
                });
                match c.sock.write(&block[..n]) {
                    Ok(k) => c.sent += k,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => c.writable = false,
                    Err(_) => c.state = State::Closed,
                }
            }
            let fin_due = if a.fin_early {
                c.sent == total
            } else {
                c.recvd == total
            };
            if fin_due && !c.shut && c.open() {
                let _ = c.sock.shutdown(Shutdown::Write);
                c.shut = true;
            }
        }
        if all_done
            && l.clients
                .iter()
                .all(|c| !c.open() || c.state == State::Closed)
        {
            break;
        }
        if l.clients.iter().all(|c| !c.open()) {
            break;
        }
        let t = deadline
            .saturating_duration_since(now)
            .min(Duration::from_millis(10));
        if let Err(e) = l.poll.poll(&mut l.events, Some(t)) {
            if e.kind() != io::ErrorKind::Interrupted {
                panic!("poll: {e}");
            }
        }
        ready.clear();
        for ev in l.events.iter() {
            let c = &mut l.clients[ev.token().0];
            if ev.is_writable() || ev.is_write_closed() || ev.is_error() {
                c.writable = true;
            }
            ready.push(ev.token().0);
        }
        for &i in &ready {
            let c = &mut l.clients[i];
            while c.open() {
                match c.sock.read(&mut l.scratch) {
                    Ok(0) => {
                        c.state = State::Closed;
                        if c.recvd == total && c.shut {
                            eof_ok += 1;
                        }
                    }
                    Ok(k) => {
                        let got = &l.scratch[..k];
                        if !c.bad
                            && !pattern_runs(i, c.recvd, k, |at, t, len| {
                                got[at..at + len] == table[t..t + len]
                            })
                        {
                            c.bad = true;
                        }
                        c.recvd += k;
                        last_rx = Instant::now();
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(_) => c.state = State::Failed,
                }
            }
        }
    }
    // Throughput counts until the last byte came back, not until the server's FIN.
    let wall = last_rx
        .saturating_duration_since(t0)
        .as_secs_f64()
        .max(1e-6);
    let mut ok = 0;
    let mut bytes = 0usize;
    for c in &l.clients {
        bytes += c.recvd.min(total);
        let why = match c.state {
            State::Failed if c.sent == 0 => Some("connect"),
            _ if c.bad => Some("corrupt"),
            _ if c.recvd == total => None,
            State::Closed if c.sent == 0 => Some("closed_before_send"),
            State::Closed | State::Failed => Some("closed_early"),
            _ => Some("deadline"),
        };
        match why {
            None => ok += 1,
            Some(w) => *failures.entry(w).or_default() += 1,
        }
    }
    let mut fail: Vec<String> = failures.iter().map(|(k, v)| format!("{k}:{v}")).collect();
    fail.sort();
    let out = vec![
        ("clients", n.to_string()),
        ("connected", format!("{connected}/{n}")),
        ("setup_s", format!("{setup_s:.3}")),
        ("kib", a.kib.to_string()),
        ("window", a.window.to_string()),
        ("ok", format!("{ok}/{n}")),
        ("eof_ok", format!("{eof_ok}/{n}")),
        ("bytes_back", bytes.to_string()),
        ("wall_s", format!("{wall:.3}")),
        ("echo_MBps", format!("{:.1}", bytes as f64 / 1e6 / wall)),
        (
            "failures",
            if fail.is_empty() {
                "-".into()
            } else {
                fail.join(",")
            },
        ),
    ];
    kv(&out)
}

// ---------------------------------------------------------------------------
// flood: a stalled client and a slow reader while one client floods the room.
// ---------------------------------------------------------------------------

/// Flood line `seq`: `F <seq> <pad>` LF, `size` bytes; the pad is a function of
/// `seq`, so a receiver can rebuild the whole line from its number.
fn f_line(seq: u64, size: usize, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(format!("F {seq} ").as_bytes());
    let mut j = seq;
    while out.len() - start + 1 < size {
        out.push(b'a' + (j % 26) as u8);
        j += 1;
    }
    out.push(b'\n');
}

/// The slow reader's check: every flood line, in order, byte for byte.
struct FloodCheck {
    size: usize,
    next: u64,
    got: u64,
    lost: u64,
    garbled: u64,
    expect: Vec<u8>,
}

impl FloodCheck {
    fn line(&mut self, line: &[u8]) {
        let Some(p) = payload(line) else {
            self.garbled += 1;
            return;
        };
        if p.starts_with(b"S ") {
            return;
        }
        let Some((seq, _)) = p.strip_prefix(b"F ").and_then(number) else {
            self.garbled += 1;
            return;
        };
        self.expect.clear();
        f_line(seq, self.size, &mut self.expect);
        if self.expect[..self.expect.len() - 1] != *p || seq < self.next {
            self.garbled += 1;
            return;
        }
        self.lost += seq - self.next;
        self.got += 1;
        self.next = seq + 1;
    }
}

/// Read at most `budget` bytes from `c` and check the lines in them.
fn read_budget(c: &mut Client, budget: usize, scratch: &mut [u8], check: &mut FloodCheck) {
    let mut left = budget;
    while left > 0 && c.open() {
        let n = left.min(scratch.len());
        match c.sock.read(&mut scratch[..n]) {
            Ok(0) => c.state = State::Closed,
            Ok(k) => {
                left -= k;
                c.got_bytes += k as u64;
                split_lines(c, 0, &scratch[..k], 0, &mut |_, _, line, _| {
                    check.line(line)
                });
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => c.state = State::Closed,
        }
    }
}

/// Did the server close `c`? Reads what is queued for up to `within`: EOF or a
/// reset says yes; data that stops coming says no.
fn closed_by_server(c: &mut Client, within: Duration) -> bool {
    let end = Instant::now() + within;
    let mut buf = vec![0u8; 1 << 16];
    while Instant::now() < end {
        match c.sock.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(20))
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return true,
        }
    }
    false
}

const STALLED: usize = 0;
const FLOODER: usize = 1;
const READER: usize = 2;

fn flood(a: &Args, l: &mut Load) -> String {
    let addr: SocketAddr = ([127, 0, 0, 1], a.port).into();
    let deadline = Instant::now() + Duration::from_secs_f64(a.deadline);
    // The stalled client first (tiny receive buffer, never reads or writes), so the
    // server has taken it in before the two others sync.
    let connected = l.connect_with(&addr, 1, 1, 0, deadline, |_| Some(4096))
        + l.connect(&addr, 2, 2, 0, deadline);
    let mut out = vec![("connected", format!("{connected}/3"))];
    if l.clients.len() < 3 || l.clients.iter().any(|c| !c.open()) {
        out.push(("complete", "0/1".into()));
        return kv(&out);
    }
    l.clients[STALLED].mute = true;
    l.clients[STALLED].synced = true;
    let synced = sync_by(l, deadline, FLOODER, READER);
    out.push(("synced", format!("{synced}/3")));
    if synced < 3 {
        out.push(("complete", "0/1".into()));
        return kv(&out);
    }
    // Let the last sync lines arrive: none may fall into the middle of the flood.
    let quiet = Instant::now() + Duration::from_millis(200);
    while Instant::now() < quiet {
        l.pump_lines(quiet, |_, _, _, _| {});
    }
    let port = l.clients[STALLED].sock.local_addr().map_or(0, |s| s.port());
    println!("flood stalled_port={port}");
    let _ = io::stdout().flush();
    let started = Instant::now();
    let (check, sent, wall, flood_s) = flood_run(a, l, deadline);
    // Keep the stalled client unread until `--hold` seconds after the flood began,
    // so that a server's stall timeout can run out even when the flood was short.
    let hold_end = (started + Duration::from_secs_f64(a.hold)).min(deadline);
    while Instant::now() < hold_end {
        l.pump_lines(hold_end, |_, _, _, _| {});
    }
    let reader_closed = !l.clients[READER].open();
    let stalled_eof = closed_by_server(&mut l.clients[STALLED], Duration::from_secs(2));
    let total = (a.bytes / a.size) as u64;
    let complete = check.got == total && check.lost == 0 && check.garbled == 0;
    out.extend([
        ("lines", total.to_string()),
        ("sent_lines", sent.to_string()),
        ("delivered", format!("{}/{total}", check.got)),
        ("lost", check.lost.to_string()),
        ("garbled", check.garbled.to_string()),
        ("complete", format!("{}/1", complete as u8)),
        ("bytes_ok", (check.got * a.size as u64).to_string()),
        ("reader_closed", (reader_closed as u8).to_string()),
        ("wall_s", format!("{wall:.3}")),
        (
            "flood_s",
            flood_s.map_or("NA".into(), |s| format!("{s:.3}")),
        ),
        (
            "MBps",
            format!("{:.2}", (check.got * a.size as u64) as f64 / 1e6 / wall),
        ),
        ("stalled_port", port.to_string()),
        ("stalled_eof", (stalled_eof as u8).to_string()),
    ]);
    kv(&out)
}

/// The flood itself: (the reader's check, lines sent, wall seconds until the reader
/// is done, seconds until the flooder had written everything).
fn flood_run(a: &Args, l: &mut Load, deadline: Instant) -> (FloodCheck, u64, f64, Option<f64>) {
    let total = (a.bytes / a.size) as u64;
    let batch = (64 * 1024 / a.size).max(1);
    let every = Duration::from_millis(a.read_every_ms);
    let mut check = FloodCheck {
        size: a.size,
        next: 0,
        got: 0,
        lost: 0,
        garbled: 0,
        expect: Vec::with_capacity(a.size),
    };
    l.clients[READER].mute = true; // read on the clock below, not on events
    let (mut sent, mut buf) = (0u64, Vec::with_capacity(batch * a.size));
    let (t0, mut flood_s, mut next_read) = (Instant::now(), None, Instant::now());
    while Instant::now() < deadline {
        let f = &mut l.clients[FLOODER];
        while sent < total && f.open() && f.pending() < 256 * 1024 {
            buf.clear();
            while sent < total && buf.len() < batch * a.size {
                f_line(sent, a.size, &mut buf);
                sent += 1;
            }
            f.queue(&buf);
        }
        f.flush();
        if flood_s.is_none() && sent == total && f.pending() == 0 {
            flood_s = Some(t0.elapsed().as_secs_f64());
        }
        let now = Instant::now();
        if now >= next_read {
            let Load {
                clients, scratch, ..
            } = &mut *l;
            read_budget(&mut clients[READER], a.read_chunk, scratch, &mut check);
            next_read = now + every;
        }
        if check.next >= total || !l.clients[READER].open() {
            break;
        }
        l.pump_lines(next_read.min(deadline), |_, _, _, _| {});
    }
    (check, sent, t0.elapsed().as_secs_f64(), flood_s)
}

// ---------------------------------------------------------------------------
// rate and target: short connections (bench/relay's connection rate).
// ---------------------------------------------------------------------------

/// The far end for `rate`: accept, write the reply, close; until killed.
fn target(a: &Args) -> ExitCode {
    let addr: SocketAddr = ([127, 0, 0, 1], a.port).into();
    let listener = match bind_listener(&addr) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("load: listen on {addr}: {e}");
            return ExitCode::from(1);
        }
    };
    let mut kept = Vec::new();
    loop {
        match listener.accept() {
            Ok((mut c, _)) => {
                let _ = c.write_all(a.reply.as_bytes());
                if a.keep {
                    kept.push(c);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                // Out of descriptors, say: wait a little rather than spin.
                eprintln!("load: accept: {e}");
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

fn bind_listener(addr: &SocketAddr) -> io::Result<std::net::TcpListener> {
    let s = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
    s.set_reuse_address(true)?;
    s.bind(&(*addr).into())?;
    s.listen(4096)?;
    Ok(s.into())
}

/// One short connection of `rate` (or one tunnel of `tunnels`).
struct Dial {
    sock: TcpStream,
    t0: Instant,
    open: bool,
    data: Vec<u8>,
    /// Through a proxy: 0 hello not sent, 1 waiting for the method (SOCKS5) or the
    /// status (HTTP), 2 waiting for the SOCKS5 reply, 3 the tunnel is open.
    phase: u8,
    hs: Vec<u8>,
}

/// How a connection goes: through which proxy, to which target, and whether it is
/// done at the reply (`tunnels`) or at EOF (`rate`).
struct Plan<'a> {
    proxy: Proxy,
    target_port: u16,
    reply: &'a [u8],
    hold: bool,
}

impl Dial {
    /// Advance on an event: None while it goes on, else the outcome (Err: why).
    fn advance(&mut self, buf: &mut [u8], plan: &Plan) -> Option<Result<(), String>> {
        if !self.open {
            match (self.sock.take_error(), self.sock.peer_addr()) {
                (Ok(None), Ok(_)) => self.open = true,
                (Ok(None), Err(e)) if e.kind() == io::ErrorKind::NotConnected => return None,
                (Ok(Some(e)), _) | (Err(e), _) | (Ok(None), Err(e)) => {
                    return Some(Err(format!("connect:{:?}", e.kind())))
                }
            }
        }
        if self.phase == 0 {
            let hello = match plan.proxy {
                Proxy::None => Vec::new(),
                Proxy::Socks5 => vec![5, 1, 0],
                Proxy::Http => {
                    format!("CONNECT 127.0.0.1:{0} HTTP/1.0\r\n\r\n", plan.target_port).into_bytes()
                }
            };
            if let Err(why) = self.send(&hello) {
                return Some(Err(why));
            }
            self.phase = if plan.proxy == Proxy::None { 3 } else { 1 };
        }
        let reply = plan.reply;
        loop {
            match self.sock.read(buf) {
                Ok(0) if self.data == reply && self.phase == 3 => return Some(Ok(())),
                Ok(0) => return Some(Err("short_reply".into())),
                Ok(n) if self.phase < 3 => {
                    self.hs.extend_from_slice(&buf[..n]);
                    if let Err(why) = self.handshake(plan) {
                        return Some(Err(why));
                    }
                }
                Ok(n) => self.data.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return None,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Some(Err(format!("{:?}", e.kind()))),
            }
            if self.data.len() > reply.len() {
                return Some(Err("long_reply".into()));
            }
            if plan.hold && self.phase == 3 && self.data == reply {
                return Some(Ok(()));
            }
        }
    }

    /// A few bytes to a socket with an empty send buffer: all at once or a failure.
    fn send(&mut self, b: &[u8]) -> Result<(), String> {
        match self.sock.write(b) {
            Ok(n) if n == b.len() => Ok(()),
            Ok(_) => Err("short_write".into()),
            Err(e) => Err(format!("write:{:?}", e.kind())),
        }
    }

    /// The proxy's answers so far: move on when each is whole.
    fn handshake(&mut self, plan: &Plan) -> Result<(), String> {
        match (plan.proxy, self.phase) {
            (Proxy::Socks5, 1) if self.hs.len() >= 2 => {
                if self.hs[..2] != [5, 0] {
                    return Err("socks5_method".into());
                }
                self.hs.drain(..2);
                let mut req = vec![5, 1, 0, 1, 127, 0, 0, 1];
                req.extend_from_slice(&plan.target_port.to_be_bytes());
                self.send(&req)?;
                self.phase = 2;
                self.handshake(plan)
            }
            (Proxy::Socks5, 2) if self.hs.len() >= 10 => {
                if self.hs[1] != 0 {
                    return Err(format!("socks5_reply_{}", self.hs[1]));
                }
                self.data.extend_from_slice(&self.hs[10..]);
                self.phase = 3;
                Ok(())
            }
            (Proxy::Http, 1) => {
                let Some(end) = self.hs.windows(4).position(|w| w == b"\r\n\r\n") else {
                    return Ok(());
                };
                let status = String::from_utf8_lossy(&self.hs[..end]).into_owned();
                if status.split_whitespace().nth(1) != Some("200") {
                    return Err("http_status".into());
                }
                self.data.extend_from_slice(&self.hs[end + 4..]);
                self.phase = 3;
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

/// The window rule of `rate`: connections that complete after the `conns`-th
/// completion or after the time bound are checked but not counted.
#[derive(Default)]
struct RateTally {
    done: usize,
    ok: usize,
    in_window: usize,
    end: Option<Instant>,
    errors: usize,
    why: std::collections::BTreeMap<String, usize>,
    slowest: f64,
}

impl RateTally {
    fn record(&mut self, outcome: Result<(), String>, t1: Instant, conns: usize, stop_at: Instant) {
        let t = Instant::now();
        self.slowest = self.slowest.max(t.duration_since(t1).as_secs_f64());
        self.done += 1;
        match outcome {
            Err(why) => {
                self.errors += 1;
                *self.why.entry(why).or_default() += 1;
            }
            Ok(()) => {
                self.ok += 1;
                if self.done <= conns && t <= stop_at {
                    self.in_window += 1;
                    if self.done == conns {
                        self.end = Some(t);
                    }
                }
            }
        }
    }
}

fn dial(poll: &Poll, addr: &SocketAddr, slot: usize) -> io::Result<Dial> {
    let mut sock = start_connect(addr, None)?;
    poll.registry().register(
        &mut sock,
        Token(slot),
        Interest::READABLE | Interest::WRITABLE,
    )?;
    Ok(Dial {
        sock,
        t0: Instant::now(),
        open: false,
        data: Vec::new(),
        phase: 0,
        hs: Vec::new(),
    })
}

fn rate(a: &Args) -> String {
    dial_loop(a, false, &mut Vec::new())
}

/// `tunnels`: open --clients tunnels and keep them in `held`.
fn tunnels(a: &Args, held: &mut Vec<TcpStream>) -> String {
    let a2 = Args {
        conns: a.clients,
        rate_time: a.deadline,
        conn_timeout: a.deadline,
        mode: a.mode.clone(),
        reply: a.reply.clone(),
        ..*a
    };
    dial_loop(&a2, true, held)
}

/// Connections `parallel` at a time until `conns` are done (or the time is up); with
/// `hold`, each is done (and kept) once it has the reply.
fn dial_loop(a: &Args, hold: bool, held: &mut Vec<TcpStream>) -> String {
    let addr: SocketAddr = ([127, 0, 0, 1], a.port).into();
    let reply = a.reply.as_bytes();
    let plan = Plan {
        proxy: a.proxy,
        target_port: a.target_port,
        reply,
        hold,
    };
    let mut poll = Poll::new().expect("epoll");
    let mut events = Events::with_capacity(1024);
    let mut slots: Vec<Option<Dial>> = (0..a.parallel).map(|_| None).collect();
    let t0 = Instant::now();
    let stop_at = t0 + Duration::from_secs_f64(a.rate_time);
    let conn_timeout = Duration::from_secs_f64(a.conn_timeout);
    let hard_end = stop_at + conn_timeout + Duration::from_secs(5);
    let mut t = RateTally::default();
    let mut buf = [0u8; 256];
    loop {
        let now = Instant::now();
        for (i, slot) in slots.iter_mut().enumerate() {
            if slot.is_none() && t.done < a.conns && Instant::now() < stop_at {
                match dial(&poll, &addr, i) {
                    Ok(d) => *slot = Some(d),
                    Err(e) => t.record(
                        Err(format!("connect:{:?}", e.kind())),
                        now,
                        a.conns,
                        stop_at,
                    ),
                }
            }
        }
        if now >= hard_end || slots.iter().all(Option::is_none) {
            break;
        }
        if let Err(e) = poll.poll(&mut events, Some(Duration::from_millis(10))) {
            if e.kind() != io::ErrorKind::Interrupted {
                panic!("poll: {e}");
            }
        }
        for ev in events.iter() {
            let slot = &mut slots[ev.token().0];
            let Some(d) = slot.as_mut() else { continue };
            if let Some(outcome) = d.advance(&mut buf, &plan) {
                t.record(outcome.clone(), d.t0, a.conns, stop_at);
                if let (Some(d), true, Ok(())) = (slot.take(), hold, outcome) {
                    held.push(d.sock);
                }
            }
        }
        for slot in &mut slots {
            if let Some(d) = slot.as_ref().filter(|d| d.t0.elapsed() > conn_timeout) {
                let why = if d.data == reply {
                    "timeout_after_reply_no_EOF"
                } else {
                    "timeout"
                };
                t.record(Err(why.into()), d.t0, a.conns, stop_at);
                *slot = None;
            }
        }
    }
    let finished = slots.iter().all(Option::is_none);
    let window = t.end.unwrap_or(stop_at).duration_since(t0).as_secs_f64();
    let why: Vec<String> = t.why.iter().map(|(k, v)| format!("{k}:{v}")).collect();
    kv(&[
        ("conns", t.in_window.to_string()),
        ("window_s", format!("{window:.3}")),
        (
            "conns_per_s",
            format!("{:.1}", t.in_window as f64 / window.max(1e-6)),
        ),
        ("conns_all", t.ok.to_string()),
        ("errors", t.errors.to_string()),
        (
            "why",
            if why.is_empty() {
                "-".into()
            } else {
                why.join(",")
            },
        ),
        ("finished", (finished as u8).to_string()),
        ("slowest_s", format!("{:.3}", t.slowest)),
    ])
}

fn main() -> ExitCode {
    let a = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("load: {e}");
            return ExitCode::from(2);
        }
    };
    raise_nofile();
    // The clients live here, so that they stay connected until stdin closes (--linger).
    let mut l = Load::new();
    let line = match a.mode.as_str() {
        "chat" => chat(&a, &mut l, false),
        "idle" => chat(&a, &mut l, true),
        "slow" => slow(&a, &mut l),
        "flood" => flood(&a, &mut l),
        "echo" => echo(&a, &mut l),
        "rate" => rate(&a),
        "tunnels" => tunnels(&a, &mut l.held),
        "target" => return target(&a),
        m => {
            eprintln!("load: unknown mode {m}");
            return ExitCode::from(2);
        }
    };
    println!("mode={} {line}", a.mode);
    if a.linger {
        let _ = io::stdout().flush();
        let _ = io::stdin().read_to_end(&mut Vec::new());
    }
    ExitCode::SUCCESS
}
