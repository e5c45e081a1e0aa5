//! `rnc -l [addr] port`: wait for one client, then bridge it with stdin/stdout
//! (with `-k`, `keep_open.rs` serves many at once).

use std::net::{TcpListener, TcpStream};
use std::time::Instant;

use anyhow::Result;
use mio::event::Event;
use mio::Registry;

use crate::bridge::{Bridge, Role};
use crate::config::{Config, IoRules};
use crate::event_loop::{self, Flow, Session};
use crate::listener::Listeners;
use crate::net::{self, SockOpts};
use crate::stdio::{self, NonBlockGuard};

/// Listener tokens; clients of `-k` start above them.
pub const FIRST_LISTENER: usize = 16;

/// Bind the listening sockets of `-l [addr] port` and print nc's `Listening on` lines.
pub fn bind(cfg: &Config, addr: Option<&str>, port: u16) -> Result<Vec<TcpListener>> {
    let opts = SockOpts {
        so_debug: cfg.so_debug,
    };
    let socks = net::listeners(addr, port, cfg.family, cfg.numeric, opts)?;
    if cfg.verbose > 0 {
        for l in &socks {
            let a = l.local_addr()?;
            eprintln!(
                "Listening on {} {}",
                net::host_name(a.ip(), cfg.numeric),
                a.port()
            );
        }
    }
    Ok(socks)
}

pub fn run(cfg: &Config, addr: Option<&str>, port: u16, keep_open: bool) -> Result<i32> {
    let socks = bind(cfg, addr, port)?;
    let _restore = NonBlockGuard::new(&[stdio::STDIN, stdio::STDOUT])?;
    let listeners = Listeners::new(socks, FIRST_LISTENER);
    if keep_open {
        let mut s = super::keep_open::KeepOpen::new(listeners, cfg)?;
        event_loop::run(&mut s)
    } else {
        let mut s = ListenOnce {
            listeners: Some(listeners),
            bridge: None,
            io: cfg.io.clone(),
            verbose: cfg.verbose,
            numeric: cfg.numeric,
        };
        event_loop::run(&mut s)
    }
}

/// Print nc's `Connection received on HOST PORT`.
pub fn report_client(c: &TcpStream, verbose: u8, numeric: bool) {
    if verbose > 0 {
        if let Ok(p) = c.peer_addr() {
            eprintln!(
                "Connection received on {} {}",
                net::host_name(p.ip(), numeric),
                p.port()
            );
        }
    }
}

/// Accepting until the first client, then its bridge. The listeners close at the first
/// accept (nc.openbsd without -k): a second client is refused.
struct ListenOnce {
    listeners: Option<Listeners>,
    bridge: Option<Bridge>,
    io: IoRules,
    verbose: u8,
    numeric: bool,
}

impl Session for ListenOnce {
    fn start(&mut self, _reg: &Registry) -> Result<()> {
        Ok(())
    }

    fn on_event(&mut self, reg: &Registry, ev: &Event) -> Result<()> {
        match (&mut self.bridge, &mut self.listeners) {
            (Some(b), _) => b.on_event(reg, ev),
            (None, Some(l)) => {
                l.on_event(ev);
                Ok(())
            }
            (None, None) => Ok(()),
        }
    }

    fn step(&mut self, reg: &Registry, now: Instant) -> Result<Flow> {
        if self.bridge.is_none() {
            let Some(l) = self.listeners.as_mut() else {
                return Ok(Flow::Exit(0));
            };
            let mut got = l.accept(now, 1)?;
            let Some((client, _)) = got.pop() else {
                return Ok(Flow::Wait(l.arm(reg)?));
            };
            if let Some(l) = self.listeners.take() {
                l.close(reg);
            }
            report_client(&client, self.verbose, self.numeric);
            self.bridge = Some(Bridge::new(client, Role::Listen, &self.io)?);
        }
        match &mut self.bridge {
            Some(b) => b.step(reg, now),
            None => Ok(Flow::Exit(0)),
        }
    }
}
