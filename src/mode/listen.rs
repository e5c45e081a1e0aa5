//! `rnc -l [addr] port` and `rnc -l -U path`: wait for one client, then bridge it with
//! stdin/stdout (with `-k`, the hub serves many at once; `-u` is in
//! `datagram.rs`).

use std::time::Instant;

use anyhow::Result;
use mio::event::Event;
use mio::Registry;

use crate::bridge::{Bridge, Role};
use crate::config::{Config, IoRules};
use crate::conn::{Conn, Peer};
use crate::event_loop::{self, Flow, Session};
use crate::listener::{Listener, Listeners};
use crate::net::{self};
use crate::unix::{self, SocketFile, UnixAddr};

pub use crate::token::FIRST_LISTENER;

/// `-l` without `-k`: the first client, bridged with stdin/stdout.
pub fn run(cfg: &Config, addr: Option<&str>, port: u16) -> Result<i32> {
    let (listeners, _socket_file) = bind(cfg, addr, port)?;
    event_loop::run(&mut OnePeer::new(listeners, &cfg.io))
}

/// Bind the listening sockets of `-l [addr] port` or `-l -U path`, print nc's lines,
/// and return them with the access rules in force. Keep the `SocketFile` until rnc
/// exits: its drop removes the socket file rnc made.
pub fn bind(
    cfg: &Config,
    addr: Option<&str>,
    port: u16,
) -> Result<(Listeners, Option<SocketFile>)> {
    // Signals are caught before binding: one arriving later ends rnc through the
    // loop, which removes a socket file and restores stdio flags on the way out.
    event_loop::catch_signals()?;
    let opts = cfg.sock_opts(false);
    let mut socket_file = None;
    let socks = if cfg.unix() {
        let path = UnixAddr::parse(addr.unwrap_or_default())?;
        let (l, file) = unix::listen_stream(&path)?;
        socket_file = file;
        if cfg.verbose > 0 {
            crate::say!("Bound on {path}");
            crate::say!("Listening on {path}");
        }
        vec![Listener::Unix(l, path.to_string())]
    } else {
        let socks = net::listeners(addr, port, cfg.family, cfg.numeric, opts)?;
        if cfg.verbose > 0 {
            for l in &socks {
                let a = l.local_addr()?;
                crate::say!(
                    "Listening on {} {}",
                    net::host_name(a.ip(), cfg.numeric),
                    a.port()
                );
            }
        }
        socks.into_iter().map(Listener::Tcp).collect()
    };
    let listeners = Listeners::new(socks, FIRST_LISTENER).with_access(cfg.access.clone());
    Ok((listeners, socket_file))
}

/// The one peer of a listener that does not keep listening: say who it is (-v) and
/// bridge it with stdin/stdout.
pub fn bridge_to(conn: Conn, peer: &Peer, io: &IoRules) -> Result<Bridge> {
    report_client(peer);
    Bridge::new(conn, Role::Listen, io, peer.describe(true))
}

/// Print nc's `Connection received on HOST PORT`.
pub fn report_client(peer: &Peer) {
    if crate::report::verbose() > 0 {
        let who = peer.describe(crate::report::numeric());
        crate::say!("Connection received on {who}");
    }
}

/// Where the one peer of a listener without `-k` comes from: a stream listener's
/// first accepted client, or the sender of a datagram listener's first datagram.
pub trait Arrival {
    fn on_event(&mut self, ev: &Event);
    /// The peer, connected, once it has come (its source is closed then: nc.openbsd
    /// serves one); else register for it and say until when to wait.
    fn arrive(&mut self, reg: &Registry, now: Instant) -> Result<Waiting>;
}

/// What `Arrival::arrive` found.
pub enum Waiting {
    Came(Conn, Peer),
    Until(Option<Instant>),
}

/// `-l` and `-u -l` without `-k`: wait for the one peer, then bridge it with stdio.
pub struct OnePeer<A: Arrival> {
    arrival: Option<A>,
    bridge: Option<Bridge>,
    io: IoRules,
}

impl<A: Arrival> OnePeer<A> {
    pub fn new(arrival: A, io: &IoRules) -> OnePeer<A> {
        OnePeer {
            arrival: Some(arrival),
            bridge: None,
            io: io.clone(),
        }
    }
}

impl<A: Arrival> Session for OnePeer<A> {
    fn on_event(&mut self, reg: &Registry, ev: &Event) -> Result<()> {
        match (&mut self.bridge, &mut self.arrival) {
            (Some(b), _) => b.on_event(reg, ev),
            (None, Some(a)) => {
                a.on_event(ev);
                Ok(())
            }
            (None, None) => Ok(()),
        }
    }

    fn step(&mut self, reg: &Registry, now: Instant) -> Result<Flow> {
        if self.bridge.is_none() {
            let Some(a) = self.arrival.as_mut() else {
                return Ok(Flow::Exit(0));
            };
            let (conn, peer) = match a.arrive(reg, now)? {
                Waiting::Came(conn, peer) => (conn, peer),
                Waiting::Until(t) => return Ok(Flow::Wait(t)),
            };
            self.arrival = None;
            self.bridge = Some(bridge_to(conn, &peer, &self.io)?);
        }
        match &mut self.bridge {
            Some(b) => b.step(reg, now),
            None => Ok(Flow::Exit(0)),
        }
    }
}

/// The first client of the stream listeners; the listeners close when it comes (a
/// second client is refused).
impl Arrival for Listeners {
    fn on_event(&mut self, ev: &Event) {
        Listeners::on_event(self, ev)
    }

    fn arrive(&mut self, reg: &Registry, now: Instant) -> Result<Waiting> {
        match self.accept(now, 1)?.pop() {
            Some((conn, peer)) => {
                self.release(reg);
                Ok(Waiting::Came(conn, peer))
            }
            None => Ok(Waiting::Until(self.arm(reg)?)),
        }
    }
}
