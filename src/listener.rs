//! The listening sockets of every server mode, and accepting from them.
//!
//! Out of descriptors (EMFILE/ENFILE) or socket memory, accept would fail on every
//! wakeup and spin the loop; instead accepting pauses until a client leaves or a short
//! delay passes.

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::net::UnixListener;
use std::time::{Duration, Instant};

use anyhow::Result;
use mio::event::Event;
use mio::{Interest, Registry, Token};
use socket2::SockAddr;

use crate::access::Access;
use crate::conn::{Conn, Peer};
use crate::endpoint::Endpoint;

/// How long accepting rests after running out of descriptors.
const EMFILE_PAUSE: Duration = Duration::from_millis(250);

/// A listening stream socket.
pub enum Listener {
    Tcp(TcpListener),
    /// With the path it listens on, which names clients that bound none.
    Unix(UnixListener, String),
}

impl Listener {
    fn fd(&self) -> i32 {
        match self {
            Listener::Tcp(l) => l.as_raw_fd(),
            Listener::Unix(l, _) => l.as_raw_fd(),
        }
    }

    /// The next client, non-blocking.
    fn accept(&self) -> io::Result<(Conn, Peer)> {
        match self {
            Listener::Tcp(l) => accept_tcp(l).map(|(s, a)| (Conn::Tcp(s), Peer::Inet(a))),
            Listener::Unix(l, path) => {
                let (s, a) = l.accept()?;
                // Should it fail, this client is dropped like one that left early.
                s.set_nonblocking(true)
                    .map_err(|_| io::Error::from(io::ErrorKind::ConnectionAborted))?;
                let peer = match a.is_unnamed() {
                    true => path.clone(),
                    false => crate::unix::describe(&a),
                };
                Ok((Conn::Unix(s), Peer::Unix(peer)))
            }
        }
    }
}

/// accept4 with SOCK_NONBLOCK: one system call where accept and fcntl would be three,
/// which counts when every client is short (TLS handshakes, the relay's rate).
fn accept_tcp(l: &TcpListener) -> io::Result<(TcpStream, SocketAddr)> {
    let flags = libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
    // SAFETY: accept4 writes at most `len` bytes of address into the storage that
    // try_init provides, and sets `len` to what it wrote.
    let (fd, addr) = unsafe {
        SockAddr::try_init(|storage, len| {
            match libc::accept4(l.as_raw_fd(), storage.cast(), len, flags) {
                -1 => Err(io::Error::last_os_error()),
                fd => Ok(fd),
            }
        })?
    };
    // SAFETY: accept4 returned a new descriptor that nothing else owns.
    let stream = unsafe { TcpStream::from_raw_fd(fd) };
    let addr = addr
        .as_socket()
        .ok_or_else(|| io::Error::other("accept: not an IP address"))?;
    Ok((stream, addr))
}

pub struct Listeners {
    socks: Vec<(Listener, Endpoint)>,
    paused_until: Option<Instant>,
    access: Access,
}

impl Listeners {
    /// Tokens `first..first + n` go to the n listeners.
    pub fn new(socks: Vec<Listener>, first: usize) -> Listeners {
        let socks = socks
            .into_iter()
            .enumerate()
            .map(|(i, l)| {
                let ep = Endpoint::new(l.fd(), Token(first + i));
                (l, ep)
            })
            .collect();
        Listeners {
            socks,
            paused_until: None,
            access: Access::default(),
        }
    }

    /// Refuse peers the rules do not permit, logging them with -v.
    pub fn with_access(mut self, access: Access) -> Listeners {
        self.access = access;
        self
    }

    pub fn owns(&self, t: Token) -> bool {
        self.socks.iter().any(|(_, ep)| ep.token == t)
    }

    pub fn on_event(&mut self, ev: &Event) {
        for (_, ep) in &mut self.socks {
            if ep.token == ev.token() {
                ep.on_event(ev);
            }
        }
    }

    /// Accept every pending connection (up to `max`), in listener order. They come
    /// back non-blocking (a TLS client's plaintext end too).
    pub fn accept(&mut self, now: Instant, max: usize) -> Result<Vec<(Conn, Peer)>> {
        let mut out = Vec::new();
        if self.paused_until.is_some_and(|t| now < t) {
            crate::tls::take_ready(&mut out, max)?;
            return Ok(out);
        }
        self.paused_until = None;
        'socks: for (l, ep) in &mut self.socks {
            while ep.readable && out.len() < max {
                match l.accept() {
                    Ok((conn, peer)) => {
                        if permitted(&self.access, &peer) {
                            // With --ssl the client comes back from take_ready below,
                            // once its handshake has completed.
                            crate::wrap::connection();
                            out.extend(crate::tls::accept(conn, peer));
                        }
                        // Refused: dropped here, closed before any byte moves.
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => ep.blocked_read(),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    // The client gave up before we took it: not our problem.
                    Err(e) if e.kind() == io::ErrorKind::ConnectionAborted => {}
                    // Linux reports a pending error of the new connection from accept:
                    // that client is lost, the next one may be fine.
                    Err(e) if is_client_error(&e) => {}
                    // Out of descriptors or socket memory: rest, then try again.
                    Err(e) if crate::net::out_of_resources(&e) => {
                        self.paused_until = Some(now + EMFILE_PAUSE);
                        break 'socks;
                    }
                    Err(e) => return Err(anyhow::Error::new(e).context("accept")),
                }
            }
        }
        crate::tls::take_ready(&mut out, max)?;
        Ok(out)
    }

    /// True when a listener may still hold connections that `accept` left for later
    /// (it stopped at `max`): the caller should look again without waiting for an event.
    pub fn pending(&self) -> bool {
        (self.paused_until.is_none() && self.socks.iter().any(|(_, ep)| ep.readable))
            || crate::tls::has_ready()
    }

    /// A descriptor came free: accepting may resume at once.
    pub fn resume(&mut self) {
        self.paused_until = None;
    }

    /// Register for accepts unless paused; returns when to look again if paused.
    pub fn arm(&mut self, reg: &Registry) -> Result<Option<Instant>> {
        let want = self.paused_until.is_none().then_some(Interest::READABLE);
        for (_, ep) in &mut self.socks {
            ep.set_interest(reg, want)?;
        }
        Ok(self.paused_until)
    }

    pub fn close(mut self, reg: &Registry) {
        self.release(reg);
    }

    /// Stop listening: deregister (the sockets close when `self` drops), and end the
    /// handshakes of clients not yet handed over.
    pub fn release(&mut self, reg: &Registry) {
        crate::tls::drop_pending();
        for (_, ep) in &mut self.socks {
            ep.release(reg);
        }
    }
}

/// Check a peer against the access rules; say so with -v when it is refused.
pub fn permitted(access: &Access, peer: &Peer) -> bool {
    let ok = match peer {
        Peer::Inet(a) => access.permits(a.ip()),
        Peer::Unix(_) => true,
    };
    if !ok && crate::report::verbose() > 0 {
        let who = peer.describe(crate::report::numeric());
        crate::say!("rnc: refused {who} (not allowed)");
    }
    ok
}

/// Errors accept(2) returns for one connection that failed before it was taken
/// (accept(2), "Error handling"), and EPERM from a firewall rule.
fn is_client_error(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(
            libc::ENETDOWN
                | libc::EPROTO
                | libc::ENOPROTOOPT
                | libc::EHOSTDOWN
                | libc::ENONET
                | libc::EHOSTUNREACH
                | libc::EOPNOTSUPP
                | libc::ENETUNREACH
                | libc::EPERM
        )
    )
}

/// `--max-conns`: with `serving` clients already, keep the accepted connections that fit
/// under `max` in `got` and return the others, which the caller closes at once.
pub fn admit<T>(got: &mut Vec<T>, serving: usize, max: usize) -> Vec<T> {
    let room = max.saturating_sub(serving);
    if got.len() > room {
        got.split_off(room)
    } else {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admit_keeps_what_fits_under_max_conns() {
        let mut got = vec![1, 2, 3];
        assert_eq!(admit(&mut got, 8, 10), [3]);
        assert_eq!(got, [1, 2]);
        let mut got = vec![1, 2, 3];
        assert_eq!(admit(&mut got, 12, 10), [1, 2, 3]);
        assert!(got.is_empty());
        let mut got = vec![1, 2, 3];
        assert!(admit(&mut got, 0, 10).is_empty());
        assert_eq!(got.len(), 3);
    }
}
