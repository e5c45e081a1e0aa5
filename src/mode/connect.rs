//! `rnc host port`: connect, then bridge stdin/stdout with the socket.

use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use anyhow::{anyhow, Result};

use crate::bridge::{Bridge, Role};
use crate::config::Config;
use crate::event_loop;
use crate::net::{self, SockOpts, Source};
use crate::stdio::{self, NonBlockGuard};

pub fn run(
    cfg: &Config,
    host: &str,
    port: u16,
    source: Option<&str>,
    source_port: Option<u16>,
) -> Result<i32> {
    let addrs = net::resolve(host, port, cfg.family, cfg.numeric)?;
    let src = Source {
        addr: source
            .map(|s| net::source_addr(s, cfg.family, cfg.numeric))
            .transpose()?,
        port: source_port,
    };
    let stream = connect_any(cfg, host, port, &addrs, &src, cfg.wait)?;
    if cfg.verbose > 0 {
        let peer = stream.peer_addr()?;
        eprintln!("{}", net::succeeded_line(host, &peer, "tcp"));
    }
    let _restore = NonBlockGuard::new(&[stdio::STDIN, stdio::STDOUT])?;
    let mut bridge = Bridge::new(stream, Role::Connect, &cfg.io)?;
    event_loop::run(&mut bridge)
}

/// Try each address in turn, as nc does; the first that answers wins. With -v every
/// failure but the last is printed here; the last is the error returned.
pub fn connect_any(
    cfg: &Config,
    host: &str,
    port: u16,
    addrs: &[SocketAddr],
    src: &Source,
    timeout: Option<Duration>,
) -> Result<TcpStream> {
    let opts = SockOpts {
        so_debug: cfg.so_debug,
    };
    let mut last = None;
    for (i, addr) in addrs.iter().enumerate() {
        match net::connect_one(addr, src, timeout, opts) {
            Ok(s) => return Ok(s),
            Err(e) => {
                if cfg.verbose > 0 && i + 1 < addrs.len() {
                    eprintln!("rnc: {}", net::connect_failed(host, port, &e));
                }
                last = Some(e);
            }
        }
    }
    let e = last.expect("resolve returns at least one address");
    Err(anyhow!(net::connect_failed(host, port, &e)))
}
