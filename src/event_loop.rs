//! The one place that polls.
//!
//! A `Session` (a bridge, a listener, a scan) registers its descriptors, gets every
//! event, and after each batch says whether to go on and until when it may sleep.
//! Signals arrive through a self-pipe per signal, so the loop returns normally and every
//! `Drop` guard (stdio flags, sockets) runs. The loop also owns O_NONBLOCK on stdin and
//! stdout: it is set after the handlers are installed and restored when `run` returns.

use std::io::{self, Read};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::sync::OnceLock;
use std::time::Instant;

use anyhow::{Context, Result};
use mio::event::Event;
use mio::{Events, Interest, Poll, Registry, Token};

use crate::stdio::{self, NonBlockGuard};
use crate::tls;

/// Signals rnc handles: the first three end it cleanly (exit code 128 + the signal
/// number); SIGCHLD is passed to the session, which reaps its children; SIGTSTP (^Z)
/// gives the terminal its flags back before rnc stops.
const SIGNALS: [i32; 5] = [
    signal_hook::consts::SIGINT,
    signal_hook::consts::SIGTERM,
    signal_hook::consts::SIGHUP,
    signal_hook::consts::SIGCHLD,
    signal_hook::consts::SIGTSTP,
];

/// What a session wants after a batch of events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Keep going; wake at this instant even if nothing happens.
    Wait(Option<Instant>),
    /// Stop with this exit code.
    Exit(i32),
}

pub trait Session {
    /// Register the first descriptors (most sessions register in `step`, as their
    /// buffers decide).
    fn start(&mut self, _reg: &Registry) -> Result<()> {
        Ok(())
    }
    /// One readiness event for one of the session's tokens.
    fn on_event(&mut self, reg: &Registry, ev: &Event) -> Result<()>;
    /// Do the I/O the events allowed, fix interests, and decide what happens next.
    /// Also called once before the first poll and whenever a deadline passes.
    fn step(&mut self, reg: &Registry, now: Instant) -> Result<Flow>;
    /// A child process changed state (SIGCHLD): reap what has exited.
    fn on_child_exit(&mut self) {}
}

/// The read ends of the signal pipes, one per entry of `SIGNALS`, once installed.
static SIGNAL_PIPES: OnceLock<Vec<UnixStream>> = OnceLock::new();

/// Catch SIGINT, SIGTERM, SIGHUP and SIGCHLD from now on (idempotent). Listeners call
/// this before they bind, so a signal can never leave a socket file behind; connect
/// mode calls it only through `run`, after its blocking connect, so Ctrl-C still
/// interrupts a connect that hangs.
pub fn catch_signals() -> Result<()> {
    if SIGNAL_PIPES.get().is_some() {
        return Ok(());
    }
    let mut readers = Vec::new();
    for &sig in SIGNALS.iter() {
        let (rx, tx) = UnixStream::pair().context("socketpair")?;
        rx.set_nonblocking(true).context("fcntl O_NONBLOCK")?;
        tx.set_nonblocking(true).context("fcntl O_NONBLOCK")?;
        // The write end stays registered with signal-hook for the life of the process.
        signal_hook::low_level::pipe::register(sig, OwnedFd::from(tx))
            .context("installing a signal handler")?;
        readers.push(rx);
    }
    let _ = SIGNAL_PIPES.set(readers);
    Ok(())
}

/// The sooner of two optional deadlines.
pub fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Run a session until it exits or a signal arrives; returns the exit code.
pub fn run(session: &mut impl Session) -> Result<i32> {
    let mut poll = Poll::new().context("epoll_create")?;
    let mut events = Events::with_capacity(1024);

    catch_signals()?;
    let mut sig_readers = Vec::new();
    for (i, rx) in SIGNAL_PIPES
        .get()
        .expect("installed above")
        .iter()
        .enumerate()
    {
        let mut rx = mio::net::UnixStream::from_std(rx.try_clone().context("dup")?);
        poll.registry()
            .register(&mut rx, Token(i), Interest::READABLE)
            .context("epoll_ctl")?;
        sig_readers.push(rx);
    }

    // Only now, with the handlers in place, change the flags the shell shares with us:
    // any signal from here on returns through this function and the guard restores them.
    let restore = NonBlockGuard::new(&[stdio::STDIN, stdio::STDOUT]).context("fcntl O_NONBLOCK")?;
    stdio::widen_pipes(&[stdio::STDIN, stdio::STDOUT]);
    session.start(poll.registry())?;
    loop {
        // TLS links (src/tls) first, so clients whose handshake just completed are
        // there for the session's accept; again after, for the links it just made.
        tls::step(poll.registry(), Instant::now())?;
        let flow = session.step(poll.registry(), Instant::now())?;
        let deadline = match flow {
            Flow::Exit(code) => return drain_links(&mut poll, &mut events, code),
            Flow::Wait(d) => {
                let d = earliest(d, tls::step(poll.registry(), Instant::now())?);
                // --progress wakes the loop for its redraws.
                earliest(d, crate::wrap::tick(Instant::now()))
            }
        };
        let timeout = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        match poll.poll(&mut events, timeout) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e).context("epoll_wait"),
        }
        for ev in events.iter() {
            let Token(t) = ev.token();
            if t < crate::token::FIRST_SESSION {
                if let Some(rx) = sig_readers.get_mut(t) {
                    let mut sink = [0u8; 64];
                    while matches!(rx.read(&mut sink), Ok(n) if n > 0) {}
                    match SIGNALS[t] {
                        signal_hook::consts::SIGCHLD => {
                            session.on_child_exit();
                            continue;
                        }
                        signal_hook::consts::SIGTSTP => {
                            // The shell takes the terminal back while rnc is stopped: it
                            // must not find O_NONBLOCK on it.
                            restore.suspend();
                            // SAFETY: raise(2) on ourselves; execution resumes here
                            // on SIGCONT.
                            unsafe { libc::raise(libc::SIGSTOP) };
                            restore.resume();
                            continue;
                        }
                        _ => {}
                    }
                    return Ok(128 + SIGNALS[t]);
                }
                continue;
            }
            if tls::owns(ev.token()) {
                tls::on_event(ev);
                continue;
            }
            session.on_event(poll.registry(), ev)?;
        }
    }
}

/// The session is done: TLS links still send what it wrote, then close_notify and FIN
/// (as the kernel would send a plain socket's last bytes after close), for a bounded
/// time. A signal ends this at once.
fn drain_links(poll: &mut Poll, events: &mut Events, code: i32) -> Result<i32> {
    if tls::idle() {
        return Ok(code);
    }
    let until = tls::drain(Instant::now());
    loop {
        let wake = tls::step(poll.registry(), Instant::now())?;
        let now = Instant::now();
        if tls::idle() || now >= until {
            return Ok(code);
        }
        let timeout = earliest(wake, Some(until)).map(|d| d.saturating_duration_since(now));
        match poll.poll(events, timeout) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e).context("epoll_wait"),
        }
        for ev in events.iter() {
            match ev.token() {
                t if tls::owns(t) => tls::on_event(ev),
                Token(t) if t < crate::token::FIRST_SESSION && SIGNALS[t] != libc::SIGCHLD => {
                    return Ok(code)
                }
                _ => {}
            }
        }
    }
}
