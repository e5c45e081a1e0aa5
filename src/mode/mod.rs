//! One file per mode: each gets its sockets and hands a session to the event loop.

mod connect;
mod keep_open;
mod listen;
mod scan;
mod serve;
mod udp_echo;

use anyhow::Result;

use crate::config::{Config, Mode, ServeKind};

/// Run the mode the command line chose; returns the exit code.
pub fn run(cfg: &Config) -> Result<i32> {
    match &cfg.mode {
        // UDP echo is its own small mode; the general UDP and Unix modes come later.
        Mode::Serve {
            addr,
            port,
            kind: ServeKind::Echo,
        } if cfg.udp && !cfg.unix => return udp_echo::run(cfg, addr.as_deref(), *port),
        _ => {}
    }
    if cfg.udp || cfg.unix {
        anyhow::bail!("-u and -U are not supported yet");
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
        Mode::Scan { host, ports } => scan::run(cfg, host, ports),
        Mode::Serve { addr, port, kind } => serve::run(cfg, addr.as_deref(), *port, *kind),
    }
}
