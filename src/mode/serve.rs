//! `rnc -l --echo|--chat [addr] port` (or `-U path`): stream listeners feeding the hub
//! (`hub.rs`). This file is the socket edge: accepted sockets become nonblocking
//! (TCP_NODELAY for TCP) `Conn`s.

use std::time::Instant;

use anyhow::Result;
use mio::event::Event;
use mio::{Registry, Token};

use crate::config::{Config, ServeKind};
use crate::conn;
use crate::event_loop;
use crate::hub::{Conn, Doors, Hub, HubKind, HubOpts};
use crate::listener::Listeners;

pub fn run(cfg: &Config, addr: Option<&str>, port: u16, kind: ServeKind) -> Result<i32> {
    let (listeners, _socket_file) = super::listen::bind(cfg, addr, port)?;
    let doors = StreamDoors {
        listeners,
        verbose: cfg.verbose,
        numeric: cfg.numeric,
    };
    let kind = match kind {
        ServeKind::Echo => HubKind::Echo,
        ServeKind::Chat { names } => HubKind::Chat { names },
        ServeKind::Broker => HubKind::Broker,
    };
    let opts = HubOpts {
        max_conns: cfg.max_conns,
        verbose: cfg.verbose,
        no_stdin: cfg.io.no_stdin,
    };
    let mut hub = Hub::new(doors, kind, opts);
    event_loop::run(&mut hub)
}

/// Listening stream sockets (TCP or Unix) as the hub's doors.
struct StreamDoors {
    listeners: Listeners,
    verbose: u8,
    numeric: bool,
}

impl Doors for StreamDoors {
    fn owns(&self, t: Token) -> bool {
        self.listeners.owns(t)
    }

    fn on_event(&mut self, ev: &Event) {
        self.listeners.on_event(ev)
    }

    fn accept(&mut self, now: Instant, max: usize) -> Result<Vec<Conn>> {
        let mut out = Vec::new();
        for (sock, peer) in self.listeners.accept(now, max)? {
            // A client that is gone already fails this; it is simply not served.
            if sock.set_nonblocking().is_err() {
                continue;
            }
            // Lines go out as soon as they are queued: no Nagle delay behind an ACK.
            if let conn::Conn::Tcp(s) = &sock {
                let _ = s.set_nodelay(true);
            }
            // Reverse lookups only where -v prints names anyway (nc does them there).
            let numeric = self.numeric || self.verbose == 0;
            let label = peer.describe(numeric);
            if self.verbose > 0 {
                crate::say!("Connection received on {label}");
            }
            out.push(Conn {
                fd: sock.into_fd(),
                label,
            });
        }
        Ok(out)
    }

    fn pending(&self) -> bool {
        self.listeners.pending()
    }

    fn resume(&mut self) {
        self.listeners.resume()
    }

    fn arm(&mut self, reg: &Registry) -> Result<Option<Instant>> {
        self.listeners.arm(reg)
    }
}
