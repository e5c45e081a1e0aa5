//! The links of this process: a set owned by the one event loop (tokens from
//! `token::FIRST_TLS` up), made by connect, accept and the relay, and the listener
//! clients whose handshake has completed, handed over in accept order.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::event::Event;
use mio::{Interest, Registry, Token};
use rustls::{ClientConnection, Connection, ServerConfig, ServerConnection};
use socket2::Socket;

use super::link::{Failure, Link, Phase, APP, CHUNK, NET};
use super::settings;
use crate::conn::{Conn, Peer};
use crate::endpoint::Endpoint;
use crate::net::os_message;

/// Links' tokens, two each (net, app).
pub const FIRST_TOKEN: usize = crate::token::FIRST_TLS;
/// Listener clients reach the mode in the order they connected: one whose handshake
/// is done waits for those accepted before it, but no longer than this after they
/// were accepted (a stalled handshake must not hold up the others).
const IN_ORDER: Duration = Duration::from_millis(200);
/// After the mode has finished, how long its last bytes and close_notify may take.
const DRAIN_TIME: Duration = Duration::from_secs(5);
/// A link whose mode has closed its end (a stalled chat client the hub dropped, say)
/// gets this long to deliver its last bytes and close_notify to a peer that may never
/// read; then it goes, so stalled peers cannot pile up links.
const CLOSE_TIME: Duration = Duration::from_secs(10);

#[derive(Default)]
struct LinkSet {
    links: HashMap<usize, Link>,
    next: usize,
    /// Links with news: an event, or new.
    dirty: HashSet<usize>,
    /// Links not yet registered with the poll.
    new: Vec<usize>,
    /// Links in Connecting or Handshaking, which have a deadline.
    timed: HashSet<usize>,
    /// Listener clients whose handshake has completed, for `take_ready`, by accept
    /// order (link id).
    ready: BTreeMap<usize, (Conn, Peer)>,
    scratch: Vec<u8>,
    /// The mode has finished: links only flush, until then.
    draining: Option<Instant>,
    /// A listener that serves one client (no -k): the handshake that failed, which ends it.
    failed: Option<String>,
    /// Such a listener has its client.
    took_one: bool,
}

thread_local! {
    static SET: RefCell<LinkSet> = RefCell::new(LinkSet::default());
}

/// Both ends non-blocking from the start (no fcntl for each).
fn pair() -> io::Result<(UnixStream, UnixStream)> {
    let ty = socket2::Type::STREAM.nonblocking().cloexec();
    let (a, b) = Socket::pair(socket2::Domain::UNIX, ty, None)?;
    Ok((a.into(), b.into()))
}

/// A new link on `net`. With `peer` (a listener's client) the mode's end waits for
/// `take_ready`; without, it is returned now.
fn add(
    net: OwnedFd,
    mut tls: Connection,
    phase: Phase,
    who: String,
    deadline: Instant,
    peer: Option<Peer>,
) -> io::Result<Option<UnixStream>> {
    let (app, theirs) = pair()?;
    // rustls's own limit (64 KiB) would take part of a chunk; `send` bounds what it
    // holds instead (one chunk, only when the last is out).
    tls.set_buffer_limit(None);
    // Non-blocking already: accepted so, or made so by `established` or the relay.
    let net = Socket::from(net);
    let origin = theirs.as_raw_fd();
    let (handoff, give) = match peer {
        Some(p) => (Some((theirs, p)), None),
        None => (None, Some(theirs)),
    };
    // Records go out as soon as they are made: no Nagle delay behind an ACK.
    let _ = net.set_tcp_nodelay(true);
    SET.with_borrow_mut(|set| {
        let id = set.next;
        set.next += 1;
        let mut eps = [
            Endpoint::new(net.as_raw_fd(), Token(FIRST_TOKEN + 2 * id)),
            Endpoint::new(app.as_raw_fd(), Token(FIRST_TOKEN + 2 * id + 1)),
        ];
        if phase == Phase::Connecting {
            eps[NET].writable = false;
        }
        if phase != Phase::Open {
            set.timed.insert(id);
        }
        set.links.insert(
            id,
            Link {
                tls,
                net,
                app,
                eps,
                phase,
                deadline,
                born: Instant::now(),
                handoff,
                who,
                theirs: origin,
                held: Vec::new(),
                inbox: Vec::new(),
                inbox_pos: 0,
                plain_empty: false,
                net_eof: false,
                app_eof: false,
                fin_sent: false,
                peer_done: false,
                app_gone: false,
            },
        );
        set.new.push(id);
        set.dirty.insert(id);
    });
    Ok(give)
}

/// A connection whose handshake is done (connect mode): returns the mode's end.
pub fn established(net: OwnedFd, tls: Connection) -> io::Result<UnixStream> {
    let net = Socket::from(net);
    net.set_nonblocking(true)?;
    let theirs = add(
        net.into(),
        tls,
        Phase::Open,
        "the server".into(),
        Instant::now(),
        None,
    )?;
    Ok(theirs.expect("no peer: the end comes back"))
}

/// A relay's far socket with its connect under way: returns the relay's end at once.
pub fn connecting(
    net: OwnedFd,
    tls: ClientConnection,
    host: &str,
    deadline: Instant,
) -> io::Result<UnixStream> {
    let theirs = add(
        net,
        tls.into(),
        Phase::Connecting,
        host.into(),
        deadline,
        None,
    )?;
    Ok(theirs.expect("no peer: the end comes back"))
}

/// A listener's client: handed over by `take_ready` once its handshake completes. A
/// listener without -k takes one client only, as nc does (the others are closed).
pub fn accept(net: OwnedFd, peer: Peer, cfg: Arc<ServerConfig>) {
    let once = settings().is_some_and(|s| s.once);
    if once && SET.with_borrow_mut(|set| std::mem::replace(&mut set.took_one, true)) {
        return;
    }
    let who = peer.describe(true);
    let fail = |e: &dyn std::fmt::Display| {
        if crate::report::verbose() > 0 {
            crate::say!("rnc: tls handshake with {who} failed: {e}");
        }
    };
    let tls = match ServerConnection::new(cfg) {
        Ok(t) => t,
        Err(e) => return fail(&e),
    };
    let wait = settings().map_or(super::HANDSHAKE_TIMEOUT, |s| s.wait);
    let deadline = Instant::now() + wait;
    if let Err(e) = add(
        net,
        tls.into(),
        Phase::Handshaking,
        who.clone(),
        deadline,
        Some(peer),
    ) {
        fail(&os_message(&e));
    }
}

/// Up to `max` listener clients whose handshake has completed. A listener without -k
/// ends with its one client's failed handshake, as it would with any other failure.
pub fn take_ready(out: &mut Vec<(Conn, Peer)>, max: usize) -> anyhow::Result<()> {
    SET.with_borrow_mut(|set| {
        if let Some(e) = set.failed.take() {
            return Err(anyhow::anyhow!(e));
        }
        let (bound, _) = set.in_order(Instant::now());
        while out.len() < max {
            match set.ready.first_entry() {
                Some(e) if *e.key() < bound => out.push(e.remove()),
                _ => break,
            }
        }
        Ok(())
    })
}

pub fn has_ready() -> bool {
    SET.with_borrow(|set| set.releasable(Instant::now()))
}

/// The listeners have closed: clients still in their handshake, or not yet taken, go.
pub fn drop_pending() {
    SET.with_borrow_mut(|set| {
        set.ready.clear();
        let pending: Vec<usize> = set
            .links
            .iter()
            .filter(|(_, l)| l.handoff.is_some())
            .map(|(&id, _)| id)
            .collect();
        for id in pending {
            set.links.remove(&id);
            set.timed.remove(&id);
        }
    });
}

pub fn owns(t: Token) -> bool {
    t.0 >= FIRST_TOKEN
}

pub fn on_event(ev: &Event) {
    let t = ev.token().0 - FIRST_TOKEN;
    SET.with_borrow_mut(|set| {
        if let Some(l) = set.links.get_mut(&(t / 2)) {
            l.eps[t % 2].on_event(ev);
            set.dirty.insert(t / 2);
        }
    });
}

/// The local address of the socket behind the mode's end `fd` (a TLS client).
pub fn local_addr(fd: i32) -> Option<SocketAddr> {
    SET.with_borrow(|set| {
        set.links
            .values()
            .find(|l| l.theirs == fd)
            .and_then(|l| l.net.local_addr().ok()?.as_socket())
    })
}

/// No link is left.
pub fn idle() -> bool {
    SET.with_borrow(|set| set.links.is_empty())
}

/// The mode has finished: links send what the mode wrote, then close_notify and FIN,
/// and drop what the peer sends; handshakes in progress are abandoned. Returns when to
/// give up.
pub fn drain(now: Instant) -> Instant {
    drop_pending();
    SET.with_borrow_mut(|set| {
        let until = now + DRAIN_TIME;
        set.draining = Some(until);
        let ids: Vec<usize> = set.links.keys().copied().collect();
        for id in ids {
            if let Some(l) = set.links.get_mut(&id) {
                l.app_gone = true;
                l.held.clear();
                // The mode may have written its last bytes since the loop last looked:
                // read the app end until it is empty, whatever readiness says.
                l.eps[APP].readable = true;
            }
            set.dirty.insert(id);
        }
        until
    })
}

/// Register new links, move the bytes the events allowed, end the links that are done
/// or late; returns when to look again.
pub fn step(reg: &Registry, now: Instant) -> io::Result<Option<Instant>> {
    SET.with_borrow_mut(|set| set.step(reg, now))
}

impl LinkSet {
    fn step(&mut self, reg: &Registry, now: Instant) -> io::Result<Option<Instant>> {
        for id in std::mem::take(&mut self.new) {
            if let Some(l) = self.links.get_mut(&id) {
                for ep in &mut l.eps {
                    ep.set_interest(reg, Some(Interest::READABLE | Interest::WRITABLE))?;
                }
            }
        }
        if self.scratch.is_empty() {
            self.scratch = vec![0u8; CHUNK];
        }
        let late: Vec<usize> = self
            .timed
            .iter()
            .filter(|id| self.links.get(id).is_some_and(|l| now >= l.deadline))
            .copied()
            .collect();
        for id in late {
            self.end(id, Some(Failure::TimedOut));
        }
        let draining = self.draining.is_some();
        for id in std::mem::take(&mut self.dirty) {
            let Some(l) = self.links.get_mut(&id) else {
                continue;
            };
            let res = l.drive(&mut self.scratch, draining);
            if l.phase == Phase::Open && l.app_gone {
                if self.timed.insert(id) {
                    l.deadline = now + CLOSE_TIME;
                }
            } else if l.phase == Phase::Open {
                self.timed.remove(&id);
                if let Some((app, peer)) = l.handoff.take() {
                    self.ready.insert(id, (Conn::Unix(app), peer));
                }
            }
            match res {
                Ok(true) => {}
                Ok(false) => self.end(id, None),
                Err(f) => self.end(id, Some(f)),
            }
        }
        // Something for the session's accept: look again at once.
        if self.releasable(now) || self.failed.is_some() {
            return Ok(Some(now));
        }
        let next = self
            .timed
            .iter()
            .filter_map(|id| self.links.get(id).map(|l| l.deadline))
            .min();
        let held_until = (!self.ready.is_empty())
            .then(|| self.in_order(now).1)
            .flatten();
        Ok([next, held_until, self.draining]
            .into_iter()
            .flatten()
            .min())
    }

    /// The accept-order rule: clients below the returned id may be handed over now;
    /// and when the earliest hold lifts.
    fn in_order(&self, now: Instant) -> (usize, Option<Instant>) {
        let holding = self.timed.iter().filter_map(|id| {
            let l = self.links.get(id)?;
            let until = l.born + IN_ORDER;
            (l.handoff.is_some() && now < until).then_some((*id, until))
        });
        holding.fold((usize::MAX, None), |(b, t), (id, until)| {
            (b.min(id), Some(t.map_or(until, |t: Instant| t.min(until))))
        })
    }

    fn releasable(&self, now: Instant) -> bool {
        self.ready
            .first_key_value()
            .is_some_and(|(id, _)| *id < self.in_order(now).0)
    }

    fn end(&mut self, id: usize, why: Option<Failure>) {
        self.timed.remove(&id);
        let Some(mut l) = self.links.remove(&id) else {
            return;
        };
        // `l` (its socket and app end) is dropped when this returns.
        for ep in &mut l.eps {
            ep.closing();
        }
        let Some(f) = why else { return };
        // A listener's client failing is its own business (-v); a server rnc chose to
        // talk to failing is news.
        let client_side = matches!(l.tls, Connection::Client(_));
        let during = l.phase != Phase::Open;
        if l.handoff.is_some() && settings().is_some_and(|s| s.once) {
            self.failed = Some(format!(
                "tls handshake with {} failed: {}",
                l.who,
                f.describe()
            ));
            return;
        }
        if crate::report::verbose() > 0 || (client_side && !during) {
            match during {
                true => crate::say!("rnc: tls handshake with {} failed: {}", l.who, f.describe()),
                false => crate::say!("rnc: tls: {}: {}", l.who, f.describe()),
            }
        }
    }
}
