//! The bridge: stdin → socket and socket → stdout, two pumps on one connection, with
//! nc.openbsd's EOF and half-close rules in one place (`step`).

use std::io;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};
use mio::event::Event;
use mio::Registry;

use crate::config::IoRules;
use crate::conn::Conn;
use crate::endpoint::{interest, Endpoint};
use crate::event_loop::{earliest, Flow, Session};
use crate::net::os_message;
use crate::pump::{Framing, Pump, PumpError, Shaping, Tap};
use crate::stdio::{self, FdKind};

pub use crate::token::{NET, STDIN, STDOUT};

/// Which end of the connection rnc is: the rules at the peer's EOF differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Connect,
    Listen,
}

pub struct Bridge {
    net: Conn,
    /// The peer as `-v` lines name it (`HOST port PORT (udp)`).
    peer: String,
    net_ep: Endpoint,
    stdin_ep: Endpoint,
    stdout_ep: Endpoint,
    /// stdin → net
    up: Pump,
    /// net → stdout
    down: Pump,
    role: Role,
    rules: IoRules,
    /// stdin is a terminal: nobody will type "the rest" after the peer has gone.
    stdin_tty: bool,
    fin_sent: bool,
    /// When stdin's last byte was sent (for `-q`).
    eof_at: Option<Instant>,
    /// When a byte last moved either way (for `-w`).
    last_active: Instant,
    /// The peer can no longer take data (reset or closed after its FIN).
    net_write_closed: bool,
    /// `--send-only`: /dev/null, where the peer's bytes go.
    _discard: Option<std::fs::File>,
    /// What stdout is, and whether its reader has had its end of file.
    stdout_kind: FdKind,
    stdout_ended: bool,
}

impl Bridge {
    pub fn new(net: Conn, role: Role, rules: &IoRules, peer: String) -> Result<Bridge> {
        net.set_nonblocking()?;
        let (up_framing, down_framing) = match net.is_datagram() {
            true => (Framing::DatagramOut, Framing::DatagramIn),
            false => (Framing::Stream, Framing::Stream),
        };
        let stdin_kind = FdKind::of(stdio::STDIN).unwrap_or(FdKind::Other);
        let stdout_kind = FdKind::of(stdio::STDOUT).unwrap_or(FdKind::Other);
        let shaping = Shaping {
            crlf: rules.crlf,
            interval: rules.interval,
            ..Shaping::default()
        };
        let net_reads = Shaping {
            telnet: rules.telnet,
            read_limit: rules.recv_limit,
            ..Shaping::default()
        };
        // --send-only: the peer's bytes are read and dropped into /dev/null.
        let (discard, stdout_fd, stdout_kind) = match rules.send_only {
            true => {
                let null = std::fs::OpenOptions::new()
                    .write(true)
                    .open("/dev/null")
                    .map_err(|e| anyhow!("open /dev/null: {}", os_message(&e)))?;
                let fd = std::os::fd::AsRawFd::as_raw_fd(&null);
                (Some(null), fd, FdKind::DevNull)
            }
            false => (None, stdio::STDOUT, stdout_kind),
        };
        let mut up = if rules.no_stdin {
            Pump::finished_from_start()
        } else {
            Pump::framed(stdin_kind, FdKind::Socket, shaping, up_framing)
        };
        let mut down = Pump::framed(FdKind::Socket, stdout_kind, net_reads, down_framing);
        up.tap = Some(Tap::Sends);
        down.tap = Some(Tap::Receives);
        Ok(Bridge {
            net_ep: Endpoint::new(net.fd(), NET),
            net,
            peer,
            stdin_ep: Endpoint::new(stdio::STDIN, STDIN),
            stdout_ep: Endpoint::new(stdout_fd, STDOUT),
            _discard: discard,
            stdout_kind,
            stdout_ended: false,
            up,
            down,
            role,
            rules: rules.clone(),
            stdin_tty: stdio::is_tty(stdio::STDIN),
            fin_sent: false,
            eof_at: None,
            last_active: Instant::now(),
            net_write_closed: false,
        })
    }

    fn send_fin(&mut self) {
        if !self.fin_sent {
            self.fin_sent = true;
            self.net.shutdown_write();
        }
    }

    /// A datagram peer answered with ICMP port-unreachable: say so with -v and go on,
    /// since replies may still come (nc.openbsd keeps the session too).
    fn refused(&self, e: &io::Error) -> bool {
        if self.net.is_datagram() && e.raw_os_error() == Some(libc::ECONNREFUSED) {
            if crate::report::verbose() > 0 {
                crate::say!("rnc: connect to {} failed: {}", self.peer, os_message(e));
            }
            return true;
        }
        false
    }

    /// Run both pumps; errors become an exit or an error message.
    fn pump(&mut self, now: Instant) -> Result<Option<i32>> {
        let mut moved = false;
        // Each reported refusal consumes the socket's pending error: try again, boundedly.
        for _ in 0..4 {
            match self.pump_once(now)? {
                Pumped::Moved(m) => {
                    moved |= m;
                    break;
                }
                Pumped::Refused => moved = true,
                Pumped::Exit(code) => return Ok(Some(code)),
            }
        }
        if moved {
            self.last_active = now;
        }
        Ok(None)
    }

    fn pump_once(&mut self, now: Instant) -> Result<Pumped> {
        let mut moved = false;
        if !self.net_write_closed {
            match self.up.progress(&mut self.stdin_ep, &mut self.net_ep, now) {
                Ok(m) => moved |= m,
                Err(PumpError::Write(e)) if self.refused(&e) => return Ok(Pumped::Refused),
                Err(PumpError::Read(e)) => {
                    return Err(anyhow!("read from stdin failed: {}", os_message(&e)))
                }
                // The peer closed after sending its FIN (nc: the network's write side
                // hung up): stop sending and reading stdin; not an error.
                Err(PumpError::Write(e)) if is_hangup(&e) && self.answered_and_left() => {
                    self.net_write_closed = true;
                    self.up.stop_reading();
                }
                Err(PumpError::Write(e)) => {
                    return Err(anyhow!("write to network failed: {}", os_message(&e)))
                }
            }
        }
        match self
            .down
            .progress(&mut self.net_ep, &mut self.stdout_ep, now)
        {
            Ok(m) => moved |= m,
            Err(PumpError::Read(e)) if self.refused(&e) => return Ok(Pumped::Refused),
            // The peer answered and closed before reading all we sent, so its kernel
            // reset the connection: nc.openbsd ends quietly, and so does rnc.
            Err(PumpError::Read(e))
                if is_hangup(&e) && (self.net_write_closed || self.answered_and_left()) =>
            {
                self.down.stop_reading();
                self.net_write_closed = true;
                self.up.stop_reading();
            }
            Err(PumpError::Read(e)) => {
                return Err(anyhow!("read from network failed: {}", os_message(&e)))
            }
            // The reader of our stdout went away (`rnc ... | head`): stop quietly.
            Err(PumpError::Write(e)) if e.kind() == io::ErrorKind::BrokenPipe => {
                return Ok(Pumped::Exit(0))
            }
            Err(PumpError::Write(e)) => {
                return Err(anyhow!("write to stdout failed: {}", os_message(&e)))
            }
        }
        Ok(Pumped::Moved(moved))
    }
}

impl Bridge {
    /// A reset now means the peer answered and left without reading all we sent: it
    /// sent something (or its FIN), and we sent something. nc.openbsd takes that
    /// quietly; a reset out of the blue is still an error.
    fn answered_and_left(&self) -> bool {
        let spoke = self.down.src_done() || self.down.total > 0 || !self.down.is_empty();
        spoke && self.up.total > 0
    }
}

/// What one round of both pumps did.
enum Pumped {
    Moved(bool),
    Refused,
    Exit(i32),
}

fn is_hangup(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
    )
}

impl Session for Bridge {
    fn on_event(&mut self, _reg: &Registry, ev: &Event) -> Result<()> {
        match ev.token() {
            STDIN => self.stdin_ep.on_event(ev),
            STDOUT => self.stdout_ep.on_event(ev),
            NET => {
                // A hang-up (both ways closed, or a reset) after the peer's EOF: nothing
                // more can be sent, as nc.openbsd learns from POLLHUP.
                if ev.is_write_closed() && self.down.src_done() && !self.net.is_datagram() {
                    self.net_write_closed = true;
                    self.up.stop_reading();
                }
                self.net_ep.on_event(ev)
            }
            _ => {} // Sporadic events happen (mio docs): ignore unknown tokens.
        }
        Ok(())
    }

    fn step(&mut self, reg: &Registry, now: Instant) -> Result<Flow> {
        if let Some(code) = self.pump(now)? {
            return Ok(Flow::Exit(code));
        }
        // -W: the reads ran out; nc.openbsd stops reading stdin too.
        if self.down.read_limit_hit() {
            self.up.stop_reading();
        }
        // --send-only: stdin sent, FIN, done.
        if self.rules.send_only && self.up.finished() {
            self.send_fin();
            return Ok(Flow::Exit(0));
        }
        self.stdin_ended(now);
        if self.peer_done(reg) {
            return Ok(Flow::Exit(0));
        }
        match self.timers(now) {
            Err(()) => Ok(Flow::Exit(0)),
            Ok(deadline) => {
                self.arm(reg, now)?;
                Ok(Flow::Wait(deadline))
            }
        }
    }
}

impl Bridge {
    /// stdin at EOF and all of it sent: FIN only with -N/-q (nc.openbsd sends none by
    /// default; the peer may still answer).
    fn stdin_ended(&mut self, now: Instant) {
        if self.up.finished() && !self.rules.no_stdin {
            if self.eof_at.is_none() {
                self.eof_at = Some(now);
            }
            if self.rules.send_eof && !self.net.is_datagram() {
                self.send_fin();
            }
        }
    }

    /// The peer closed and everything it sent is on stdout: stdout's reader gets its
    /// end of file, and the session is over once nc's rule says so.
    fn peer_done(&mut self, reg: &Registry) -> bool {
        if !self.down.finished() {
            return false;
        }
        // Its reader learns it at once (ssh's ProxyCommand waits for that end of file
        // while its own stdin to us stays open).
        if !self.stdout_ended {
            self.stdout_ended = true;
            // Out of epoll first: the descriptor is about to change.
            self.stdout_ep.release(reg);
            stdio::end_stdout(self.stdout_kind);
        }
        match self.role {
            // nc: a listener is done when its client has left and stdin's buffer is
            // empty; it does not wait for more stdin.
            Role::Listen => self.up.is_empty() || self.net_write_closed,
            // Connect: keep sending stdin until it ends (the peer may have only
            // half-closed), unless stdin is a terminal, where nobody is piping "the
            // rest" in.
            Role::Connect => self.up.finished() || self.stdin_tty || self.net_write_closed,
        }
    }

    /// -i's pause, -q and -w: the next instant to wake, or `Err` when one has run out.
    fn timers(&self, now: Instant) -> Result<Option<Instant>, ()> {
        let mut deadline = self.up.deadline(now);
        // -q: quit this long after stdin's EOF, whatever the peer does.
        if let (Some(q), Some(at)) = (self.rules.quit_after_eof, self.eof_at) {
            if now >= at + q {
                return Err(());
            }
            deadline = earliest(deadline, Some(at + q));
        }
        // -w (connect mode, and -l once a client is in): quit when nothing moved for
        // that long.
        if let Some(w) = self.rules.idle_timeout {
            let at = self.last_active + w.max(Duration::from_millis(1));
            if now >= at {
                return Err(());
            }
            deadline = earliest(deadline, Some(at));
        }
        Ok(deadline)
    }

    /// Interest from the pumps' state.
    fn arm(&mut self, reg: &Registry, now: Instant) -> Result<()> {
        let net_write = !self.net_write_closed && self.up.wants_write(now);
        if !self.rules.no_stdin {
            self.stdin_ep
                .set_interest(reg, interest(self.up.wants_read(), false))?;
        }
        if !self.stdout_ended {
            self.stdout_ep
                .set_interest(reg, interest(false, self.down.wants_write(now)))?;
        }
        // After the peer's EOF, stay registered to hear a hang-up (see on_event): stdin
        // may never end (ssh's ProxyCommand pipe), but the peer is gone for good.
        let watch_hup = self.down.src_done() && !self.net_write_closed && !self.net.is_datagram();
        self.net_ep.set_interest(
            reg,
            interest(self.down.wants_read() || watch_hup, net_write),
        )?;
        Ok(())
    }
}
