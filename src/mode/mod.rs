//! One file per mode: each gets its sockets and hands a session to the event loop.

mod connect;
mod datagram;
mod keep_open;
mod listen;
mod relay;
mod scan;
mod serve;
mod udp_echo;

use anyhow::Result;

use crate::config::{Config, Mode, ServeKind};

/// Run the mode the command line chose; returns the exit code.
pub fn run(cfg: &Config) -> Result<i32> {
    crate::tls::install(cfg)?;
    // UDP echo is its own small mode.
    if let Mode::Serve {
        addr,
        port,
        kind: ServeKind::Echo,
    } = &cfg.mode
    {
        if cfg.udp && !cfg.unix {
            return udp_echo::run(cfg, addr.as_deref(), *port);
        }
    }
    match &cfg.mode {
        Mode::Connect {
            host,
            port,
            source,
            source_port,
        } => connect::run(cfg, host, *port, source.as_deref(), *source_port),
        Mode::Listen {
            addr,
            port,
            keep_open,
        } => listen::run(cfg, addr.as_deref(), *port, *keep_open),
        Mode::Scan(plan) => scan::run(cfg, plan),
        Mode::Serve { addr, port, kind } => serve::run(cfg, addr.as_deref(), *port, *kind),
    }
}
