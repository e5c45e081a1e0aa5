//! One file per mode: each gets its sockets and hands a session to the event loop.
//! `run` chooses, with one `match` on the mode, its transport and what the bytes meet.

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

use crate::config::{Config, Meets, Mode, ServeKind, Transport};

/// Run the mode the command line chose; returns the exit code.
pub fn run(cfg: &Config) -> Result<i32> {
    use Transport::{Udp, UnixDgram};
    crate::report::init(cfg.verbose, cfg.numeric);
    crate::tls::install(cfg)?;
    let (at, many, meets) = match &cfg.mode {
        Mode::Scan(plan) => return scan::run(cfg, plan),
        Mode::Connect {
            to,
            source,
            source_port,
            ..
        } => {
            let host = to.name().unwrap_or_default();
            return connect::run(cfg, host, to.port(), source.as_deref(), *source_port);
        }
        Mode::Listen { at, many, meets } => (at, *many, meets),
    };
    let (addr, port) = (at.name(), at.port());
    match (cfg.transport, meets) {
        (Udp | UnixDgram, Meets::Server(ServeKind::Echo)) => udp_echo::run(cfg, addr, port),
        // The first peer (or every peer with -k, or a child per peer with -e).
        (Udp | UnixDgram, _) => datagram::run(cfg, addr, port, many),
        (_, Meets::Stdio) if !many => listen::run(cfg, addr, port),
        (_, Meets::Stdio) => serve::run(cfg, addr, port, None),
        (_, Meets::Server(kind)) => serve::run(cfg, addr, port, Some(*kind)),
        (_, Meets::Attach(attach)) => relay::listen(cfg, attach, addr, port, many),
    }
}
