//! One file per mode: each gets its sockets and hands a session to the event loop.

mod connect;
mod datagram;
mod listen;
mod relay;
mod scan;
mod serve;
mod udp_echo;
mod udp_exec;

use anyhow::Result;

pub use serve::DEFAULT_STALL;

use crate::config::{Config, Mode, ServeKind};

/// Run the mode the command line chose; returns the exit code.
pub fn run(cfg: &Config) -> Result<i32> {
    // UDP echo is its own small mode.
    if let Mode::Serve {
        addr,
        port,
        kind: ServeKind::Echo,
    } = &cfg.mode
    {
        if cfg.udp {
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
        Mode::Serve { addr, port, kind } => serve::run(cfg, addr.as_deref(), *port, Some(*kind)),
    }
}
