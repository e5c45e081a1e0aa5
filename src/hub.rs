//! The hub: listeners and many clients on the one event loop, each client with its own
//! bounded output queue. `--echo` gives every client its own bytes back; `--chat` relays
//! every client's lines to all the others and to the server's stdout, and the server's
//! stdin lines to all clients.
//!
//! Nothing here waits for one client. A chat client whose queue would pass `QUEUE_MAX`
//! is disconnected; an echo client whose echo is not being read is not read from either
//! (at most one read, `ECHO_READ`, is held for it), so TCP pushes back on it alone.
//!
//! The socket type stays at the edge: `Doors` hands over connected, nonblocking stream
//! sockets as `Conn`s, and the hub only reads, writes, shuts down and closes them.

use std::collections::{HashMap, HashSet};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::time::Instant;

use anyhow::Result;
use mio::event::Event;
use mio::{Interest, Registry, Token};

use crate::buf::{sys_read, sys_write};
use crate::chat::{self, Command, Framer};
use crate::endpoint::Endpoint;
use crate::event_loop::{Flow, Session};
use crate::listener;
use crate::net::os_message;
use crate::stdio;

/// The most bytes queued for one chat client; a client that falls further behind is
/// disconnected. Also the bound of the server's stdout queue (lines are dropped there).
pub const QUEUE_MAX: usize = 1024 * 1024;
/// One read from an echo client; also the most held for one whose echo is not read.
pub const ECHO_READ: usize = 64 * 1024;
/// One read from a chat client or stdin.
const CHAT_READ: usize = 16 * 1024;
/// A step stops reading chat clients once it has this many bytes of lines to deliver,
/// so one step adds at most about this much (plus one read) to any queue.
const STEP_BATCH: usize = 256 * 1024;
/// Connections accepted per step, so a burst of connects does not starve the clients.
const ACCEPT_BATCH: usize = 256;
/// A drained queue keeps at most this much memory for the next time.
const KEEP_CAPACITY: usize = 16 * 1024;

/// Tokens of the server's stdin and stdout (below the listeners').
const STDIN: Token = Token(8);
const STDOUT: Token = Token(9);
/// Client tokens start here, above the listeners'.
const FIRST_CLIENT: usize = 64;

/// A client connection handed to the hub: a connected, nonblocking stream socket.
pub struct Conn {
    pub fd: OwnedFd,
    /// How `-v` and warnings name the client: `HOST PORT`.
    pub label: String,
}

/// Where clients come from: listening sockets of some kind.
pub trait Doors {
    fn owns(&self, t: Token) -> bool;
    fn on_event(&mut self, ev: &Event);
    /// Up to `max` new connections.
    fn accept(&mut self, now: Instant, max: usize) -> Result<Vec<Conn>>;
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
    Chat {
        names: bool,
    },
    /// `--broker`: raw bytes from each client to all others, no framing, no prefix.
    Broker,
}

/// Settings of a hub beyond its kind.
#[derive(Debug, Clone, Copy)]
pub struct HubOpts {
    pub max_conns: usize,
    pub verbose: u8,
    /// `-d`: the chat server does not read its stdin.
    pub no_stdin: bool,
}

/// Bytes waiting to go to one descriptor: `buf[pos..]`.
#[derive(Default)]
struct OutQueue {
    buf: Vec<u8>,
    pos: usize,
}

impl OutQueue {
    fn len(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn is_empty(&self) -> bool {
        self.pos == self.buf.len()
    }

    fn push(&mut self, bytes: &[u8]) {
        if self.pos > 0 && self.pos >= self.buf.len() / 2 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// Write until the queue is empty or `ep` would block.
    fn flush(&mut self, fd: RawFd, ep: &mut Endpoint) -> io::Result<()> {
        while ep.writable && !self.is_empty() {
            match sys_write(fd, &self.buf[self.pos..]) {
                Ok(n) => {
                    self.pos += n;
                    if !self.is_empty() {
                        ep.blocked_write();
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => ep.blocked_write(),
                Err(e) => return Err(e),
            }
        }
        if self.is_empty() {
            self.pos = 0;
            self.buf.clear();
            if self.buf.capacity() > KEEP_CAPACITY {
                self.buf = Vec::new();
            }
        }
        Ok(())
    }
}

struct Client {
    fd: OwnedFd,
    ep: Endpoint,
    label: String,
    out: OutQueue,
    /// Chat: the client's unterminated line.
    framer: Framer,
    /// Chat with names: the client's name.
    name: Option<String>,
    /// Nothing more is read: the client sent FIN (or, in a chat, left the room). It is
    /// closed once its queue is empty.
    eof: bool,
    /// In the hub's work list.
    queued: bool,
}

/// Why a client goes.
enum Leave {
    /// It sent FIN and has its echo (or its last lines).
    Done,
    Error(io::Error),
    /// Its queue passed `QUEUE_MAX`.
    Overflow,
}

/// What a client's turn found.
enum Turn {
    /// More can be done at once (it was not read until EAGAIN).
    Again,
    /// Waits for an event.
    Idle,
    Gone(Leave),
}

/// Who gets a chat message.
#[derive(Clone, Copy, PartialEq, Eq)]
enum To {
    /// Every client in the room but `except`.
    Room {
        except: Option<Token>,
    },
    One(Token),
}

/// One chat message: `batch[start..end]`.
struct Msg {
    to: To,
    start: usize,
    end: usize,
    /// Printed on the server's stdout too.
    stdout: bool,
}

impl Msg {
    fn goes_to(&self, t: Token) -> bool {
        match self.to {
            To::Room { except } => except != Some(t),
            To::One(o) => o == t,
        }
    }
}

/// Chat state: the messages of this step, names, and the server's own stdin and stdout.
struct Room {
    names: bool,
    /// `--broker`: each read goes out as it came (no lines, no prefix, no escaping).
    raw: bool,
    taken: HashSet<String>,
    next_user: u64,
    batch: Vec<u8>,
    msgs: Vec<Msg>,
    stdin_ep: Endpoint,
    stdin_framer: Framer,
    stdin_done: bool,
    stdout_ep: Endpoint,
    stdout: OutQueue,
    /// stdout failed (its reader left): the chat goes on without it.
    stdout_gone: bool,
    /// Lines not printed because stdout was too slow, since the last report.
    stdout_dropped: u64,
}

/// The name the server's own lines carry with `--chat-names`.
const SERVER_NAME: &str = "server";

impl Room {
    fn new(names: bool, raw: bool, no_stdin: bool) -> Room {
        let mut taken = HashSet::new();
        taken.insert(SERVER_NAME.to_string());
        Room {
            names,
            raw,
            taken,
            next_user: 1,
            batch: Vec::new(),
            msgs: Vec::new(),
            stdin_ep: Endpoint::new(stdio::STDIN, STDIN),
            stdin_framer: Framer::default(),
            stdin_done: no_stdin,
            stdout_ep: Endpoint::new(stdio::STDOUT, STDOUT),
            stdout: OutQueue::default(),
            stdout_gone: false,
            stdout_dropped: 0,
        }
    }

    fn line(&mut self, to: To, stdout: bool, name: Option<&str>, line: &[u8]) {
        let start = self.batch.len();
        match self.raw {
            true => self.batch.extend_from_slice(line),
            false => chat::relay_line(&mut self.batch, name, line),
        }
        let end = self.batch.len();
        self.msgs.push(Msg {
            to,
            start,
            end,
            stdout,
        });
    }

    fn notice(&mut self, to: To, stdout: bool, text: &str) {
        let start = self.batch.len();
        chat::notice(&mut self.batch, text);
        let end = self.batch.len();
        self.msgs.push(Msg {
            to,
            start,
            end,
            stdout,
        });
    }

    /// A free default name: `user1`, `user2`, ... skipping names someone chose.
    fn new_name(&mut self) -> String {
        loop {
            let n = format!("user{}", self.next_user);
            self.next_user += 1;
            if self.taken.insert(n.clone()) {
                return n;
            }
        }
    }

    fn join(&mut self, t: Token, c: &mut Client) {
        if self.names {
            let name = self.new_name();
            self.notice(
                To::Room { except: Some(t) },
                true,
                &format!("{name} joined"),
            );
            self.notice(
                To::One(t),
                false,
                &format!("you are {name}; /nick NAME renames"),
            );
            c.name = Some(name);
        }
    }

    /// Bytes as read: framed into lines for the chat, passed on whole for the broker.
    fn heard(&mut self, t: Token, c: &mut Client, bytes: &[u8]) {
        if self.raw {
            self.line(To::Room { except: Some(t) }, true, None, bytes);
            return;
        }
        let mut framer = std::mem::take(&mut c.framer);
        framer.feed(bytes, |l| self.said(t, c, l));
        c.framer = framer;
    }

    /// The client has left the room: its last unterminated line goes out, then the news.
    fn leave(&mut self, t: Token, c: &mut Client) {
        let to = To::Room { except: Some(t) };
        let mut framer = std::mem::take(&mut c.framer);
        framer.finish(|l| self.line(to, true, c.name.as_deref(), l));
        if let Some(name) = c.name.take() {
            self.taken.remove(&name);
            self.notice(to, true, &format!("{name} left"));
        }
    }

    /// A line from client `t`: relayed, or a `/nick` with names on.
    fn said(&mut self, t: Token, c: &mut Client, line: &[u8]) {
        let to = To::Room { except: Some(t) };
        let cmd = match self.names {
            true => chat::command(line),
            false => Command::Say,
        };
        match cmd {
            Command::Say => self.line(to, true, c.name.as_deref(), line),
            Command::BadNick(why) => self.notice(To::One(t), false, why),
            Command::Nick(new) if c.name.as_deref() == Some(new) => {}
            Command::Nick(new) if self.taken.contains(new) => {
                self.notice(To::One(t), false, &format!("{new} is taken"))
            }
            Command::Nick(new) => {
                let old = c.name.replace(new.to_string()).unwrap_or_default();
                self.taken.remove(&old);
                self.taken.insert(new.to_string());
                let text = format!("{old} is now {new}");
                self.notice(To::Room { except: None }, true, &text);
            }
        }
    }

    /// stdin lines go to every client. One read per step; returns true if more may wait.
    fn read_stdin(&mut self, scratch: &mut [u8]) -> Result<bool> {
        if self.stdin_done || !self.stdin_ep.readable {
            return Ok(false);
        }
        let to = To::Room { except: None };
        let name = self.names.then_some(SERVER_NAME);
        match sys_read(stdio::STDIN, &mut scratch[..CHAT_READ]) {
            Ok(0) => {
                self.stdin_done = true;
                let mut f = std::mem::take(&mut self.stdin_framer);
                f.finish(|l| self.line(to, false, name, l));
                Ok(false)
            }
            Ok(n) if self.raw => {
                self.line(to, false, None, &scratch[..n]);
                Ok(true)
            }
            Ok(n) => {
                let mut f = std::mem::take(&mut self.stdin_framer);
                f.feed(&scratch[..n], |l| self.line(to, false, name, l));
                self.stdin_framer = f;
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                self.stdin_ep.blocked_read();
                Ok(false)
            }
            Err(e) => anyhow::bail!("read from stdin failed: {}", os_message(&e)),
        }
    }

    /// The messages meant for stdout go into its queue, or are counted as dropped.
    fn queue_stdout(&mut self) {
        if self.stdout_gone {
            return;
        }
        for m in &self.msgs {
            if !m.stdout {
                continue;
            }
            if self.stdout.len() + (m.end - m.start) > QUEUE_MAX {
                self.stdout_dropped += 1;
            } else {
                self.stdout.push(&self.batch[m.start..m.end]);
            }
        }
    }

    fn flush_stdout(&mut self) {
        if self.stdout_gone {
            return;
        }
        match self.stdout.flush(stdio::STDOUT, &mut self.stdout_ep) {
            Ok(()) => {}
            // The reader of our stdout left (`| head`): serve the clients regardless.
            Err(e) => {
                if e.kind() != io::ErrorKind::BrokenPipe {
                    crate::say!("rnc: write to stdout failed: {}", os_message(&e));
                }
                self.stdout_gone = true;
                self.stdout = OutQueue::default();
            }
        }
        if self.stdout.is_empty() && self.stdout_dropped > 0 {
            crate::say!(
                "rnc: stdout too slow: {} chat lines not printed",
                self.stdout_dropped
            );
            self.stdout_dropped = 0;
        }
    }
}

pub struct Hub<D: Doors> {
    doors: D,
    opts: HubOpts,
    clients: HashMap<Token, Client>,
    next_token: usize,
    /// Clients with something to do this step.
    work: Vec<Token>,
    room: Option<Room>,
    /// One read's worth of bytes.
    scratch: Vec<u8>,
    /// Clients to close at the end of the step.
    gone: Vec<(Token, Leave)>,
}

impl<D: Doors> Hub<D> {
    pub fn new(doors: D, kind: HubKind, opts: HubOpts) -> Hub<D> {
        let room = match kind {
            HubKind::Chat { names } => Some(Room::new(names, false, opts.no_stdin)),
            HubKind::Broker => Some(Room::new(false, true, opts.no_stdin)),
            HubKind::Echo => None,
        };
        Hub {
            doors,
            opts,
            clients: HashMap::new(),
            next_token: FIRST_CLIENT,
            work: Vec::new(),
            room,
            scratch: vec![0; ECHO_READ],
            gone: Vec::new(),
        }
    }

    fn accept(&mut self, reg: &Registry, now: Instant) -> Result<()> {
        let mut got = self.doors.accept(now, ACCEPT_BATCH)?;
        for c in listener::admit(&mut got, self.clients.len(), self.opts.max_conns) {
            if self.opts.verbose > 0 {
                crate::say!(
                    "rnc: --max-conns {} reached: closed {}",
                    self.opts.max_conns,
                    c.label
                );
            }
        }
        for conn in got {
            let t = Token(self.next_token);
            self.next_token += 1;
            let mut c = Client {
                ep: Endpoint::new(conn.fd.as_raw_fd(), t),
                fd: conn.fd,
                label: conn.label,
                out: OutQueue::default(),
                framer: Framer::default(),
                name: None,
                eof: false,
                queued: true,
            };
            // Edge-triggered, registered once for both: a socket not written to until
            // EAGAIN sends no writable edges, and one not read sends no readable ones.
            if let Err(e) =
                c.ep.set_interest(reg, Some(Interest::READABLE | Interest::WRITABLE))
            {
                // epoll is out of memory: this client cannot be served; the others can.
                crate::say!("rnc: closed {}: epoll_ctl: {}", c.label, os_message(&e));
                continue;
            }
            if let Some(room) = &mut self.room {
                room.join(t, &mut c);
            }
            self.clients.insert(t, c);
            self.work.push(t);
        }
        Ok(())
    }

    /// Give every client in `work` its turn: read (once) and write.
    fn turns(&mut self) {
        let work = std::mem::take(&mut self.work);
        for t in work {
            let Some(c) = self.clients.get_mut(&t) else {
                continue;
            };
            c.queued = false;
            let turn = match &mut self.room {
                None => echo_turn(c, &mut self.scratch),
                Some(room) => {
                    // Enough for this step: the rest of the room reads next time.
                    if room.batch.len() >= STEP_BATCH && !c.eof && c.ep.readable {
                        Turn::Again
                    } else {
                        chat_turn(t, c, room, &mut self.scratch)
                    }
                }
            };
            match turn {
                Turn::Again => {
                    c.queued = true;
                    self.work.push(t);
                }
                Turn::Idle => {}
                Turn::Gone(why) => self.gone.push((t, why)),
            }
        }
    }

    /// Chat: every message of this step to the clients it is for, and to stdout.
    fn deliver(&mut self) {
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
            // Runs of consecutive messages for this client go in with one copy.
            let mut run: Option<(usize, usize)> = None;
            for m in &room.msgs {
                if m.goes_to(t) {
                    run = match run {
                        Some((s, e)) if e == m.start => Some((s, m.end)),
                        Some((s, e)) => {
                            c.out.push(&room.batch[s..e]);
                            Some((m.start, m.end))
                        }
                        None => Some((m.start, m.end)),
                    };
                }
            }
            let Some((s, e)) = run else {
                continue;
            };
            c.out.push(&room.batch[s..e]);
            if let Err(e) = c.out.flush(c.fd.as_raw_fd(), &mut c.ep) {
                self.gone.push((t, Leave::Error(e)));
            } else if c.out.len() > QUEUE_MAX {
                self.gone.push((t, Leave::Overflow));
            }
        }
        room.queue_stdout();
        room.msgs.clear();
        room.batch.clear();
        if room.batch.capacity() > STEP_BATCH * 2 {
            room.batch = Vec::new();
        }
    }

    /// Close the clients that went this step.
    fn close_gone(&mut self, reg: &Registry) {
        for (t, why) in std::mem::take(&mut self.gone) {
            let Some(mut c) = self.clients.remove(&t) else {
                continue;
            };
            if let Some(room) = &mut self.room {
                if !c.eof {
                    room.leave(t, &mut c);
                }
            }
            match why {
                Leave::Done => {
                    // The peer sent FIN and has everything: FIN back, then close.
                    // SAFETY: shutdown on a socket we own.
                    unsafe { libc::shutdown(c.fd.as_raw_fd(), libc::SHUT_WR) };
                    if self.opts.verbose > 0 {
                        crate::say!("Connection closed on {}", c.label);
                    }
                }
                Leave::Error(e) => {
                    if self.opts.verbose > 0 {
                        crate::say!("Connection closed on {}: {}", c.label, os_message(&e));
                    }
                }
                Leave::Overflow => {
                    crate::say!(
                        "rnc: disconnected {}: more than {} KiB queued (not reading)",
                        c.label,
                        QUEUE_MAX / 1024
                    );
                    // Abort (RST): the kernel drops what it still holds for the client
                    // instead of trickling it out after the close.
                    let off = libc::linger {
                        l_onoff: 1,
                        l_linger: 0,
                    };
                    // SAFETY: setsockopt on a socket we own, with a valid linger struct.
                    unsafe {
                        libc::setsockopt(
                            c.fd.as_raw_fd(),
                            libc::SOL_SOCKET,
                            libc::SO_LINGER,
                            (&off as *const libc::linger).cast(),
                            std::mem::size_of::<libc::linger>() as libc::socklen_t,
                        )
                    };
                }
            }
            c.ep.release(reg);
            self.doors.resume();
        }
    }
}

/// An echo client's turn: what is held goes out first; only then is more read, and it
/// goes straight back, keeping only what the socket would not take.
fn echo_turn(c: &mut Client, scratch: &mut [u8]) -> Turn {
    let fd = c.fd.as_raw_fd();
    if let Err(e) = c.out.flush(fd, &mut c.ep) {
        return Turn::Gone(Leave::Error(e));
    }
    if c.out.is_empty() && !c.eof && c.ep.readable {
        match sys_read(fd, &mut scratch[..ECHO_READ]) {
            Ok(0) => c.eof = true,
            Ok(n) => {
                let mut sent = 0;
                if c.ep.writable {
                    match sys_write(fd, &scratch[..n]) {
                        Ok(k) => sent = k,
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

/// A chat client's turn: flush its queue, then read once and frame lines into the room.
fn chat_turn(t: Token, c: &mut Client, room: &mut Room, scratch: &mut [u8]) -> Turn {
    let fd = c.fd.as_raw_fd();
    if let Err(e) = c.out.flush(fd, &mut c.ep) {
        return Turn::Gone(Leave::Error(e));
    }
    if !c.eof && c.ep.readable {
        match sys_read(fd, &mut scratch[..CHAT_READ]) {
            Ok(0) => {
                // FIN: the client leaves the room now; it is closed once it has its queue.
                c.eof = true;
                room.leave(t, c);
            }
            Ok(n) => room.heard(t, c, &scratch[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => c.ep.blocked_read(),
            Err(e) => return Turn::Gone(Leave::Error(e)),
        }
    }
    if c.eof && c.out.is_empty() {
        return Turn::Gone(Leave::Done);
    }
    if !c.eof && c.ep.readable {
        Turn::Again
    } else {
        Turn::Idle
    }
}

impl<D: Doors> Session for Hub<D> {
    fn start(&mut self, reg: &Registry) -> Result<()> {
        if let Some(room) = &mut self.room {
            if !room.stdin_done {
                room.stdin_ep.set_interest(reg, Some(Interest::READABLE))?;
            }
            room.stdout_ep.set_interest(reg, Some(Interest::WRITABLE))?;
        }
        Ok(())
    }

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
        } else if let Some(room) = &mut self.room {
            match t {
                STDIN => room.stdin_ep.on_event(ev),
                STDOUT => room.stdout_ep.on_event(ev),
                _ => {} // Sporadic events happen (mio docs): ignore unknown tokens.
            }
        }
        Ok(())
    }

    fn step(&mut self, reg: &Registry, now: Instant) -> Result<Flow> {
        self.accept(reg, now)?;
        let mut stdin_more = false;
        if let Some(room) = &mut self.room {
            stdin_more = room.read_stdin(&mut self.scratch)?;
        }
        self.turns();
        // Leaving can say something to the room, which can overflow someone else.
        loop {
            self.deliver();
            if self.gone.is_empty() {
                break;
            }
            self.close_gone(reg);
        }
        if let Some(room) = &mut self.room {
            room.flush_stdout();
            if room.stdin_done {
                room.stdin_ep.release(reg);
            }
        }
        let paused = self.doors.arm(reg)?;
        let busy = !self.work.is_empty() || stdin_more || self.doors.pending();
        Ok(Flow::Wait(if busy { Some(now) } else { paused }))
    }
}
