//! `rnc -l --echo|--chat [addr] port`: TCP listeners feeding the hub (`hub.rs`). This
//! file is the TCP edge: accepted sockets become nonblocking, TCP_NODELAY `Conn`s.

use std::os::fd::OwnedFd;
use std::time::Instant;

use anyhow::Result;
use mio::event::Event;
use mio::{Registry, Token};

use crate::config::{Config, ServeKind};
use crate::event_loop;
use crate::hub::{Conn, Doors, Hub, HubKind, HubOpts};
use crate::listener::Listeners;
use crate::net;
use crate::stdio::{self, NonBlockGuard};

pub fn run(cfg: &Config, addr: Option<&str>, port: u16, kind: ServeKind) -> Result<i32> {
    let socks = super::listen::bind(cfg, addr, port)?;
    let doors = TcpDoors {
        listeners: Listeners::new(socks, super::listen::FIRST_LISTENER),
        verbose: cfg.verbose,
        numeric: cfg.numeric,
    };
    let kind = match kind {
        ServeKind::Echo => HubKind::Echo,
        ServeKind::Chat { names } => HubKind::Chat { names },
    };
    let opts = HubOpts {
        max_conns: cfg.max_conns,
        verbose: cfg.verbose,
        no_stdin: cfg.io.no_stdin,
    };
    // Only the chat server uses stdin and stdout.
    let _restore = match kind {
        HubKind::Chat { .. } => Some(NonBlockGuard::new(&[stdio::STDIN, stdio::STDOUT])?),
        HubKind::Echo => None,
    };
    let mut hub = Hub::new(doors, kind, opts);
    event_loop::run(&mut hub)
}

/// TCP listening sockets as the hub's doors.
struct TcpDoors {
    listeners: Listeners,
    verbose: u8,
    numeric: bool,
}

impl Doors for TcpDoors {
    fn owns(&self, t: Token) -> bool {
        self.listeners.owns(t)
    }

    fn on_event(&mut self, ev: &Event) {
        self.listeners.on_event(ev)
    }

    fn accept(&mut self, now: Instant, max: usize) -> Result<Vec<Conn>> {
        let mut out = Vec::new();
        for (sock, peer) in self.listeners.accept(now, max)? {
            // A client that is gone already fails these; it is simply not served.
            if sock.set_nonblocking(true).is_err() {
                continue;
            }
            // Lines go out as soon as they are queued: no Nagle delay behind an ACK.
            let _ = sock.set_nodelay(true);
            // Reverse lookups only where -v prints names anyway (nc does them there).
            let numeric = self.numeric || self.verbose == 0;
            let label = format!("{} {}", net::host_name(peer.ip(), numeric), peer.port());
            if self.verbose > 0 {
                eprintln!("Connection received on {label}");
            }
            out.push(Conn {
                fd: OwnedFd::from(sock),
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
