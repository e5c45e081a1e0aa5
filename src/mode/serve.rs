//! The stream listeners of every many-client hub (`-l -k`, `--echo`, `--chat`,
//! `--broker`, over TCP or `-U`): accepted sockets become nonblocking (TCP_NODELAY for
//! TCP) hub `Conn`s.

use std::time::{Duration, Instant};

use anyhow::Result;
use mio::event::Event;
use mio::{Registry, Token};

use crate::config::{Config, ServeKind};
use crate::conn;
use crate::event_loop;
use crate::hub::{Arrival, Doors, Hub, HubKind, HubOpts};
use crate::listener::Listeners;
use crate::room::Fanout;

/// `--stall-timeout` when not given.
pub const DEFAULT_STALL: Duration = Duration::from_secs(3);

/// Serve `kind` on the listeners of `-l [addr] port` (or `-U path`); `None` is `-k`.
pub fn run(cfg: &Config, addr: Option<&str>, port: u16, kind: Option<ServeKind>) -> Result<i32> {
    let (listeners, _socket_file) = super::listen::bind(cfg, addr, port)?;
    let doors = StreamDoors { listeners };
    let kind = match kind {
        None => HubKind::Room(Fanout::Stdio),
        Some(ServeKind::Echo) => HubKind::Echo,
        Some(ServeKind::Chat { names }) => HubKind::Room(Fanout::Chat { names }),
        Some(ServeKind::Broker) => HubKind::Room(Fanout::Broker),
    };
    let opts = HubOpts {
        max_conns: cfg.max_conns,
        io: cfg.io.clone(),
        stall: cfg.stall_timeout,
        idle: cfg.io.idle_timeout,
    };
    let mut hub = Hub::new(doors, kind, opts);
    event_loop::run(&mut hub)
}

/// Listening stream sockets (TCP or Unix) as the hub's doors.
struct StreamDoors {
    listeners: Listeners,
}

impl Doors for StreamDoors {
    fn owns(&self, t: Token) -> bool {
        self.listeners.owns(t)
    }

    fn on_event(&mut self, ev: &Event) {
        self.listeners.on_event(ev)
    }

    fn accept(&mut self, now: Instant, max: usize) -> Result<Vec<Arrival>> {
        let mut out = Vec::new();
        for (sock, peer) in self.listeners.accept(now, max)? {
            // Lines go out as soon as they are queued: no Nagle delay behind an ACK.
            if let conn::Conn::Tcp(s) = &sock {
                let _ = s.set_nodelay(true);
            }
            // Reverse lookups only where -v prints names anyway (nc does them there).
            let numeric = crate::report::numeric() || crate::report::verbose() == 0;
            let label = peer.describe(numeric);
            if crate::report::verbose() > 0 {
                crate::say!("Connection received on {label}");
            }
            out.push(Arrival {
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
