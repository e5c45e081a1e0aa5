//! The client-set core: every stream listener that serves many clients at once runs
//! here (`-l -k`, `--echo`, `--chat`, `--broker`). It owns the client table and its
//! tokens, one bounded queue per client, `--max-conns`, deferred close, the stall and
//! idle timeouts, the stdio pair, and the `-v` lines about clients. What the bytes mean
//! is the room's business (`room.rs`); echo is the one kind without a room.
//!
//! Flow control, for the kinds that fan out: nothing is ever dropped. While any
//! client's queue (or stdout's) is longer than `HIGH_WATER`, or all of them together
//! hold more than `BUDGET`, no source is read (not the talkers, not stdin), so TCP
//! pushes back on them. A client that takes no bytes for
//! `--stall-timeout` while bytes wait for it is disconnected, and the room goes on.
//! An echo client whose echo is not read is simply not read either (at most one read,
//! `ECHO_READ`, is held for it), so TCP pushes back on it alone.

use std::collections::{HashMap, HashSet};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

use anyhow::Result;
use mio::event::Event;
use mio::{Interest, Registry, Token};

use crate::buf::{sys_read, sys_write, Queue};
use crate::config::IoRules;
use crate::endpoint::Endpoint;
use crate::event_loop::{earliest, Flow, Session};
use crate::listener;
use crate::net::os_message;
use crate::room::{Fanout, Member, Room};
use crate::stdio_pair::{StdinSource, StdoutSink};
use crate::token::{self, Tokens};
use crate::wrap::{self, Dir};

/// Sources pause while any queue is longer than this.
pub const HIGH_WATER: usize = 256 * 1024;
/// All client queues together: past this, sources pause too (a thousand slow readers
/// must not each hold `HIGH_WATER`).
const BUDGET: usize = 32 * 1024 * 1024;
/// One read from an echo client; also the most held for one whose echo is not read.
pub const ECHO_READ: usize = crate::buf::CHUNK;
/// One read from a chat client (lines are framed from it).
const CHAT_READ: usize = 16 * 1024;
/// One read from a broker or `-k` client.
const RAW_READ: usize = crate::buf::CHUNK;
/// A step stops reading clients once it has this many bytes of messages to deliver,
/// so one step adds at most about this much (plus one read) to any queue.
const STEP_BATCH: usize = 256 * 1024;
/// Connections accepted per step, so a burst of connects does not starve the clients;
/// the rest are taken on the next step, at once.
const ACCEPT_BATCH: usize = 256;

/// A client handed to the hub: a connected, nonblocking stream socket and its name.
pub struct Arrival {
    pub fd: OwnedFd,
    /// How `-v` and warnings name the client: `HOST PORT`.
    pub label: String,
}

/// Where clients come from: listening sockets of some kind.
pub trait Doors {
    fn owns(&self, t: Token) -> bool;
    fn on_event(&mut self, ev: &Event);
    /// Up to `max` new connections.
    fn accept(&mut self, now: Instant, max: usize) -> Result<Vec<Arrival>>;
    /// Connections may be waiting that `accept` left for later.
    fn pending(&self) -> bool;
    /// A descriptor came free (after EMFILE).
    fn resume(&mut self);
    /// Register for new connections; returns when to look again if paused.
    fn arm(&mut self, reg: &Registry) -> Result<Option<Instant>>;
}

/// What the hub does with what clients send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HubKind {
    Echo,
    Room(Fanout),
}

/// Settings of a hub beyond its kind.
#[derive(Debug, Clone)]
pub struct HubOpts {
    pub max_conns: usize,
    /// stdin's rules (`-d -C -i -N -q`), for the kinds that read stdin.
    pub io: IoRules,
    /// `--stall-timeout`: a client that takes no bytes for this long is disconnected.
    pub stall: Duration,
    /// `-w`: a client with no traffic either way for this long is closed.
    pub idle: Option<Duration>,
}

struct Client {
    fd: OwnedFd,
    ep: Endpoint,
    label: String,
    out: Queue,
    member: Member,
    /// Nothing more is read: the client sent FIN (or, in a room, left it). It is
    /// closed once its queue is empty.
    eof: bool,
    /// FIN sent after stdin's end (`-N`).
    fin_sent: bool,
    /// In the hub's work list.
    queued: bool,
    /// The stall clock: the last write, or when bytes started to wait.
    progress_at: Instant,
    /// The idle clock (`-w`): the last byte either way.
    active_at: Instant,
}

/// Why a client goes.
enum Leave {
    /// It sent FIN and has its echo (or its last lines).
    Done,
    Error(io::Error),
    /// Bytes waited for it and it took none for the stall timeout.
    Stalled,
    /// No traffic for `-w`.
    Idle,
}

/// What a client's turn found.
enum Turn {
    /// More can be done at once (it was not read until EAGAIN).
    Again,
    /// Waits for an event.
    Idle,
    /// Readable, but not read: the room is full. It goes again when the room has room.
    Held,
    Gone(Leave),
}

pub struct Hub<D: Doors> {
    doors: D,
    opts: HubOpts,
    tokens: Tokens,
    clients: HashMap<Token, Client>,
    /// Clients with something to do this step.
    work: Vec<Token>,
    room: Option<Room>,
    stdin: StdinSource,
    stdout: StdoutSink,
    /// Clients with bytes queued.
    backlog: HashSet<Token>,
    /// Some readable client was not read because the room was full.
    held: bool,
    stdin_ended: bool,
    /// One read's worth of bytes.
    scratch: Vec<u8>,
    /// Clients to close at the end of the step.
    gone: Vec<(Token, Leave)>,
}

impl<D: Doors> Hub<D> {
    pub fn new(doors: D, kind: HubKind, opts: HubOpts) -> Hub<D> {
        let room = match kind {
            HubKind::Room(f) => Some(Room::new(f)),
            HubKind::Echo => None,
        };
        let mut io = opts.io.clone();
        // Echo never reads stdin (its clients talk to themselves).
        io.no_stdin |= room.is_none();
        Hub {
            doors,
            stdin: StdinSource::new(&io),
            stdout: StdoutSink::new(),
            opts,
            tokens: Tokens::new(1),
            clients: HashMap::new(),
            work: Vec::new(),
            room,
            backlog: HashSet::new(),
            held: false,
            stdin_ended: false,
            scratch: vec![0; ECHO_READ],
            gone: Vec::new(),
        }
    }

    fn accept(&mut self, reg: &Registry, now: Instant) -> Result<()> {
        let mut got = self.doors.accept(now, ACCEPT_BATCH)?;
        for c in listener::admit(&mut got, self.clients.len(), self.opts.max_conns) {
            if crate::report::verbose() > 0 {
                crate::say!(
                    "rnc: --max-conns {} reached: closed {}",
                    self.opts.max_conns,
                    c.label
                );
            }
        }
        for conn in got {
            let id = self.tokens.take();
            let t = self.tokens.token(id, 0);
            let mut c = Client {
                ep: Endpoint::new(conn.fd.as_raw_fd(), t),
                fd: conn.fd,
                label: conn.label,
                out: Queue::default(),
                member: Member::default(),
                eof: false,
                fin_sent: false,
                queued: true,
                progress_at: now,
                active_at: now,
            };
            // Edge-triggered, registered once for both: a socket not written to until
            // EAGAIN sends no writable edges, and one not read sends no readable ones.
            if let Err(e) =
                c.ep.set_interest(reg, Some(Interest::READABLE | Interest::WRITABLE))
            {
                // epoll is out of memory: this client cannot be served; the others can.
                crate::say!("rnc: closed {}: epoll_ctl: {}", c.label, os_message(&e));
                self.tokens.give_back(id);
                continue;
            }
            if let Some(room) = &mut self.room {
                room.join(t, &mut c.member);
            }
            self.clients.insert(t, c);
            self.work.push(t);
        }
        Ok(())
    }

    /// Sources wait while some queue is long: nothing is dropped, TCP pushes back.
    /// Also while all client queues together hold more than `BUDGET`.
    fn paused(&self) -> bool {
        if self.stdout.len() > HIGH_WATER {
            return true;
        }
        let mut total = 0;
        for c in self.backlog.iter().filter_map(|t| self.clients.get(t)) {
            total += c.out.len();
            if c.out.len() > HIGH_WATER || total > BUDGET {
                return true;
            }
        }
        false
    }

    /// stdin's bytes for every client, when the room has room.
    fn read_stdin(&mut self, now: Instant, paused: bool) -> Result<bool> {
        let Some(room) = &mut self.room else {
            return Ok(false);
        };
        // Bytes for nobody would be lost: stdin waits for the first client.
        if self.clients.is_empty() {
            return Ok(false);
        }
        let more = self.stdin.take(now, !paused, usize::MAX, |b| {
            // What stdin says to the clients is logged once, not once per client.
            wrap::log(Dir::Sent, b);
            room.stdin_said(b)
        })?;
        if self.stdin.finished() && !self.stdin_ended {
            self.stdin_ended = true;
            room.stdin_ended();
        }
        Ok(more)
    }

    /// Give every client in `work` its turn: write, then read (once) unless paused.
    fn turns(&mut self, now: Instant, paused: bool) {
        let work = std::mem::take(&mut self.work);
        for t in work {
            let Some(c) = self.clients.get_mut(&t) else {
                continue;
            };
            c.queued = false;
            let turn = match &mut self.room {
                // Echo has no sources to pause and no stall rule: no backlog to keep.
                None => echo_turn(c, &mut self.scratch, now),
                Some(room) => {
                    let full = paused || room.batch.len() >= STEP_BATCH;
                    let turn = room_turn(t, c, room, &mut self.scratch, now, full);
                    match c.out.is_empty() {
                        false => self.backlog.insert(t),
                        true => self.backlog.remove(&t),
                    };
                    turn
                }
            };
            match turn {
                Turn::Again => {
                    if let Some(c) = self.clients.get_mut(&t) {
                        c.queued = true;
                    }
                    self.work.push(t);
                }
                Turn::Held if paused => self.held = true,
                // Only this step's batch is full: the client goes again next step.
                Turn::Held => {
                    if let Some(c) = self.clients.get_mut(&t) {
                        c.queued = true;
                    }
                    self.work.push(t);
                }
                Turn::Idle => {}
                Turn::Gone(why) => self.gone.push((t, why)),
            }
        }
    }

    /// Every message of this step to the clients it is for, and to stdout.
    fn deliver(&mut self, now: Instant) {
        let Some(room) = &mut self.room else {
            return;
        };
        if room.msgs.is_empty() {
            return;
        }
        for (&t, c) in &mut self.clients {
            if c.eof {
                continue;
            }
            let was_empty = c.out.is_empty();
            // Runs of consecutive messages for this client go in with one copy.
            let mut run: Option<(usize, usize)> = None;
            for m in room.msgs.iter().filter(|m| m.goes_to(t)) {
                run = match run {
                    Some((s, e)) if e == m.start => Some((s, m.end)),
                    Some((s, e)) => {
                        c.out.push(&room.batch[s..e]);
                        Some((m.start, m.end))
                    }
                    None => Some((m.start, m.end)),
                };
            }
            let Some((s, e)) = run else {
                continue;
            };
            c.out.push(&room.batch[s..e]);
            if was_empty {
                c.progress_at = now;
            }
            match c.out.flush(&mut c.ep).inspect(|&n| sent(n)) {
                Err(e) => self.gone.push((t, Leave::Error(e))),
                Ok(n) if n > 0 => {
                    c.progress_at = now;
                    c.active_at = now;
                }
                Ok(_) => {}
            }
            if !c.out.is_empty() {
                self.backlog.insert(t);
            }
        }
        for m in room.msgs.iter().filter(|m| m.stdout) {
            self.stdout.push(&room.batch[m.start..m.end]);
        }
        room.clear(STEP_BATCH * 2);
    }

    /// After stdin's end, `-N` sends every client a FIN once its queue is empty.
    fn send_fins(&mut self) {
        if !(self.stdin_ended && self.opts.io.send_eof && self.room.is_some()) {
            return;
        }
        for c in self.clients.values_mut() {
            if !c.fin_sent && c.out.is_empty() {
                c.fin_sent = true;
                // SAFETY: shutdown on a socket we own.
                unsafe { libc::shutdown(c.fd.as_raw_fd(), libc::SHUT_WR) };
            }
        }
    }

    /// Clients past the stall or idle timeout go; returns when the next one would.
    fn timeouts(&mut self, now: Instant) -> Option<Instant> {
        let mut next = None;
        if self.room.is_some() {
            for t in &self.backlog {
                let Some(c) = self.clients.get(t) else {
                    continue;
                };
                let at = c.progress_at + self.opts.stall;
                match now >= at {
                    true => self.gone.push((*t, Leave::Stalled)),
                    false => next = earliest(next, Some(at)),
                }
            }
        }
        if let Some(idle) = self.opts.idle {
            for (t, c) in &self.clients {
                let at = c.active_at + idle;
                match now >= at {
                    true => self.gone.push((*t, Leave::Idle)),
                    false => next = earliest(next, Some(at)),
                }
            }
        }
        next
    }

    /// Close the clients that went this step.
    fn close_gone(&mut self) {
        for (t, why) in std::mem::take(&mut self.gone) {
            let Some(mut c) = self.clients.remove(&t) else {
                continue;
            };
            self.backlog.remove(&t);
            if let Some(room) = &mut self.room {
                if !c.eof {
                    room.leave(t, &mut c.member);
                }
            }
            say_leave(&c, &why, crate::report::verbose(), self.opts.stall);
            // `c` is dropped at the end of this turn, which closes its socket.
            c.ep.closing();
            if let Some((id, _)) = self.tokens.owner(t) {
                self.tokens.give_back(id);
            }
            self.doors.resume();
        }
    }

    /// The sources were paused and are not now: every client that may have bytes to
    /// read gets a turn (their readable edges were not consumed).
    fn resume_sources(&mut self) {
        for (&t, c) in &mut self.clients {
            if c.ep.readable && !c.eof && !c.queued {
                c.queued = true;
                self.work.push(t);
            }
        }
    }

    /// stdout's turn; `Some(code)` when the session ends because of it.
    fn flush_stdout(&mut self) -> Result<Option<i32>> {
        let Some(e) = self.stdout.flush() else {
            return Ok(None);
        };
        let stdio_kind = self.room.as_ref().is_some_and(|r| r.kind == Fanout::Stdio);
        match (e.kind() == io::ErrorKind::BrokenPipe, stdio_kind) {
            // The reader of our stdout is gone: nc stops quietly.
            (true, true) => Ok(Some(0)),
            (false, true) => anyhow::bail!("write to stdout failed: {}", os_message(&e)),
            // A room only shows its traffic on stdout: it goes on without it.
            (true, false) => Ok(None),
            (false, false) => {
                crate::say!("rnc: write to stdout failed: {}", os_message(&e));
                Ok(None)
            }
        }
    }

    /// `-q`: the session ends this long after stdin's end.
    fn quit_at(&self) -> Option<Instant> {
        let q = self.opts.io.quit_after_eof?;
        Some(self.stdin.done_at? + q)
    }
}

/// The `-v` line (or the warning) for a client that goes, and how it goes: FIN after
/// a clean end, RST when it stalled (the kernel drops what it still holds for it).
fn say_leave(c: &Client, why: &Leave, verbose: u8, stall: Duration) {
    match why {
        Leave::Done | Leave::Idle => {
            // SAFETY: shutdown on a socket we own.
            unsafe { libc::shutdown(c.fd.as_raw_fd(), libc::SHUT_WR) };
            if verbose > 0 {
                crate::say!("Connection closed on {}", c.label);
            }
        }
        Leave::Error(e) => {
            if verbose > 0 {
                crate::say!("Connection closed on {}: {}", c.label, os_message(e));
            }
        }
        Leave::Stalled => {
            if verbose > 0 {
                crate::say!(
                    "rnc: disconnected {}: took no data for {} ms (--stall-timeout)",
                    c.label,
                    stall.as_millis()
                );
            }
            crate::net::abort_on_close(&c.fd);
        }
    }
}

/// Bytes written to a client, for --stats.
fn sent(n: usize) {
    wrap::count(Dir::Sent, n);
}

/// An echo client's turn: what is held goes out first; only then is more read, and it
/// goes straight back, keeping only what the socket would not take.
fn echo_turn(c: &mut Client, scratch: &mut [u8], now: Instant) -> Turn {
    let fd = c.fd.as_raw_fd();
    match c.out.flush(&mut c.ep).inspect(|&n| sent(n)) {
        Err(e) => return Turn::Gone(Leave::Error(e)),
        Ok(n) if n > 0 => c.active_at = now,
        Ok(_) => {}
    }
    if c.out.is_empty() && !c.eof && c.ep.readable {
        match sys_read(fd, &mut scratch[..ECHO_READ]) {
            Ok(0) => c.eof = true,
            Ok(n) => {
                c.active_at = now;
                wrap::count(Dir::Received, n);
                wrap::log_peer(Dir::Received, &scratch[..n], Some(&c.label));
                // Logged as sent now, counted as it goes.
                wrap::log_peer(Dir::Sent, &scratch[..n], Some(&c.label));
                let mut sent = 0;
                if c.ep.writable {
                    match sys_write(fd, &scratch[..n]) {
                        Ok(k) => {
                            wrap::count(Dir::Sent, k);
                            sent = k
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                        Err(e) => return Turn::Gone(Leave::Error(e)),
                    }
                    if sent < n {
                        c.ep.blocked_write();
                    }
                }
                if sent < n {
                    c.out.push(&scratch[sent..n]);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => c.ep.blocked_read(),
            Err(e) => return Turn::Gone(Leave::Error(e)),
        }
    }
    // Half-close (RFC 862 over TCP): after the client's FIN, echo what is held, then go.
    if c.eof && c.out.is_empty() {
        return Turn::Gone(Leave::Done);
    }
    if !c.eof && c.ep.readable && c.out.is_empty() {
        Turn::Again
    } else {
        Turn::Idle
    }
}

/// A room client's turn: flush its queue, then (unless the room is full) read once
/// and hand the bytes to the room.
fn room_turn(
    t: Token,
    c: &mut Client,
    room: &mut Room,
    scratch: &mut [u8],
    now: Instant,
    full: bool,
) -> Turn {
    let fd = c.fd.as_raw_fd();
    match c.out.flush(&mut c.ep).inspect(|&n| sent(n)) {
        Err(e) => return Turn::Gone(Leave::Error(e)),
        Ok(n) if n > 0 => {
            c.progress_at = now;
            c.active_at = now;
        }
        Ok(_) => {}
    }
    if !c.eof && c.ep.readable && !full {
        let want = match room.kind {
            Fanout::Chat { .. } => CHAT_READ,
            Fanout::Broker | Fanout::Stdio => RAW_READ,
        };
        match sys_read(fd, &mut scratch[..want]) {
            Ok(0) => {
                // FIN: the client leaves the room now; it is closed once it has its queue.
                c.eof = true;
                room.leave(t, &mut c.member);
            }
            Ok(n) => {
                c.active_at = now;
                wrap::count(Dir::Received, n);
                wrap::log_peer(Dir::Received, &scratch[..n], Some(&c.label));
                room.heard(t, &mut c.member, &scratch[..n]);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => c.ep.blocked_read(),
            Err(e) => return Turn::Gone(Leave::Error(e)),
        }
    }
    if c.eof && c.out.is_empty() {
        return Turn::Gone(Leave::Done);
    }
    match (!c.eof && c.ep.readable, full) {
        (true, false) => Turn::Again,
        (true, true) => Turn::Held,
        (false, _) => Turn::Idle,
    }
}

impl<D: Doors> Session for Hub<D> {
    fn on_event(&mut self, _reg: &Registry, ev: &Event) -> Result<()> {
        let t = ev.token();
        if let Some(c) = self.clients.get_mut(&t) {
            c.ep.on_event(ev);
            if !c.queued {
                c.queued = true;
                self.work.push(t);
            }
        } else if self.doors.owns(t) {
            self.doors.on_event(ev);
        } else if t == token::STDIN {
            self.stdin.on_event(ev);
        } else if t == token::STDOUT {
            self.stdout.on_event(ev);
        }
        // Sporadic events happen (mio docs): unknown tokens are ignored.
        Ok(())
    }

    fn step(&mut self, reg: &Registry, now: Instant) -> Result<Flow> {
        self.accept(reg, now)?;
        let paused = self.paused();
        let stdin_more = self.read_stdin(now, paused)?;
        self.turns(now, paused);
        // Leaving can say something to the room, which can end someone else.
        loop {
            self.deliver(now);
            if self.gone.is_empty() {
                break;
            }
            self.close_gone();
        }
        if let Some(code) = self.flush_stdout()? {
            return Ok(Flow::Exit(code));
        }
        self.send_fins();
        let next = self.timeouts(now);
        self.close_gone();
        self.deliver(now);
        let quit = self.quit_at();
        if quit.is_some_and(|q| now >= q) {
            return Ok(Flow::Exit(0));
        }
        let paused = self.paused();
        let mut resumed = false;
        if self.held && !paused {
            self.held = false;
            self.resume_sources();
            resumed = true;
        }
        let stdin_wanted = self.room.is_some() && !paused && !self.clients.is_empty();
        self.stdin.arm(reg, stdin_wanted)?;
        self.stdout.arm(reg)?;
        let paused_doors = self.doors.arm(reg)?;
        let busy = !self.work.is_empty() || stdin_more || resumed || self.doors.pending();
        if busy {
            return Ok(Flow::Wait(Some(now)));
        }
        let wake = [paused_doors, next, quit, self.stdin.deadline()]
            .into_iter()
            .fold(None, earliest);
        Ok(Flow::Wait(wake))
    }
}
