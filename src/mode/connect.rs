//! `rnc host port` (TCP), `-u` (UDP), `-U path` (Unix stream), `-U -u path` (Unix
//! datagram): get one connected socket, then bridge stdin/stdout with it.

use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use socket2::{Domain, Protocol, Socket, Type};

use crate::bridge::{Bridge, Role};
use crate::config::Config;
use crate::conn::{Conn, Peer};
use crate::event_loop;
use crate::net::{self, Source};
use crate::unix::{self, SocketFile, UnixAddr};

pub fn run(
    cfg: &Config,
    host: &str,
    port: u16,
    source: Option<&str>,
    source_port: Option<u16>,
) -> Result<i32> {
    // `--retry`: the whole way to a connected socket is tried again (a name that does
    // not resolve yet, a socket file not made yet, a port not open yet).
    let (conn, peer, _socket_file) = crate::retry::until(cfg.wrap.retry, cfg.verbose, |left| {
        open(cfg, host, port, source, source_port, left)
    })?;
    bridge(cfg, conn, peer)
}

/// One try at the connected socket; `left` is what `--retry` leaves for it. The
/// socket file is kept until rnc exits: its drop removes the `-U -u -s` file rnc made.
fn open(
    cfg: &Config,
    host: &str,
    port: u16,
    source: Option<&str>,
    source_port: Option<u16>,
    left: Option<Duration>,
) -> Result<(Conn, String, Option<SocketFile>)> {
    if cfg.unix() {
        let addr = UnixAddr::parse(host)?;
        let source = source.map(UnixAddr::parse).transpose()?;
        // (The flag table refuses -s for a stream client.)
        let (conn, file) = match cfg.udp() {
            true => {
                let (s, file) = unix::connect_dgram(&addr, source.as_ref())?;
                (Conn::UnixDgram(s), file)
            }
            false => (Conn::Unix(unix::connect_stream(&addr)?), None),
        };
        let conn = crate::tls::connect(conn, host, host)?;
        return Ok((conn, addr.to_string(), file));
    }
    let src = Source {
        addr: source
            .map(|s| net::source_addr(s, cfg.family, cfg.numeric))
            .transpose()?,
        port: source_port,
    };
    let proto = if cfg.udp() { "udp" } else { "tcp" };
    if let Some(p) = &cfg.proxy {
        // The proxy resolves the target (or not: --proxy-dns); no lookup here.
        let s = crate::proxy::connect(cfg, p, host, port, &src)?;
        if cfg.verbose > 0 {
            crate::say!("{}", crate::proxy::succeeded_line(host, port, cfg.numeric));
        }
        return Ok((Conn::Tcp(s), format!("{host} port {port} (tcp)"), None));
    }
    let addrs = net::resolve(host, port, cfg.family, cfg.numeric)?;
    let wait = crate::retry::bound(cfg.wait, left);
    let conn = match cfg.udp() {
        true => Conn::Udp(udp_connect(&addrs[0], &src, cfg)?),
        false => Conn::Tcp(connect_any(cfg, host, port, &addrs, &src, wait)?),
    };
    if let (Conn::Udp(s), true) = (&conn, cfg.verbose > 0) {
        udp_probe(s, host, port)?;
    }
    if cfg.verbose > 0 {
        let peer = match &conn {
            Conn::Udp(s) => s.peer_addr()?,
            Conn::Tcp(s) => s.peer_addr()?,
            _ => unreachable!("inet sockets only here"),
        };
        crate::say!("{}", net::succeeded_line(host, &peer, proto, cfg.numeric));
    }
    let what = format!("{host} port {port}");
    let conn = crate::tls::connect(conn, host, &what)?;
    Ok((conn, format!("{what} ({proto})"), None))
}

/// The connected socket goes to `-F`'s receiver, to `-e`/`-c`/`--relay`, or is
/// bridged with stdin/stdout.
fn bridge(cfg: &Config, conn: Conn, peer: String) -> Result<i32> {
    if cfg.pass_fd {
        return crate::fdpass::send(conn.fd());
    }
    if let Some(attach) = cfg.attach() {
        let far = match &conn {
            Conn::Tcp(s) => Peer::Inet(s.peer_addr()?),
            Conn::Unix(_) if !cfg.unix() => Peer::Unix(peer.clone()),
            _ => Peer::Unix(peer.clone()),
        };
        return super::relay::serve_one(cfg, attach, conn, far);
    }
    let mut bridge = Bridge::new(conn, Role::Connect, &cfg.io, peer)?;
    event_loop::run(&mut bridge)
}

/// `-u -v`: before saying "succeeded", make sure the port is not closed, as nc.openbsd
/// does, but with empty datagrams instead of its "X" bytes. On loopback the ICMP
/// refusal comes back within the next send; further away this proves nothing, as
/// nc.openbsd's probe.
fn udp_probe(s: &UdpSocket, host: &str, port: u16) -> Result<()> {
    for _ in 0..4 {
        if let Err(e) = s.send(&[]) {
            anyhow::bail!(
                "connect to {host} port {port} (udp) failed: {}",
                net::os_message(&e)
            );
        }
    }
    Ok(())
}

/// A UDP "connection": a socket that sends to and hears from one peer only.
fn udp_connect(addr: &SocketAddr, src: &Source, cfg: &Config) -> Result<UdpSocket> {
    let sock = Socket::new(Domain::for_address(*addr), Type::DGRAM, Some(Protocol::UDP))
        .context("socket")?;
    if cfg.so_debug {
        net::set_so_debug(&sock).context("setsockopt SO_DEBUG")?;
    }
    cfg.tune.apply(&sock, addr.is_ipv6(), Some(addr))?;
    if src.addr.is_some() || src.port.is_some() {
        sock.set_reuse_address(true)
            .context("setsockopt SO_REUSEADDR")?;
        sock.bind(&net::source_sockaddr(addr, src).into())
            .context("bind failed")?;
    }
    sock.connect(&(*addr).into())
        .with_context(|| format!("connect to {} port {} (udp) failed", addr.ip(), addr.port()))?;
    Ok(sock.into())
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
    let opts = cfg.sock_opts(false);
    let mut last = None;
    for (i, addr) in addrs.iter().enumerate() {
        match net::connect_one(addr, src, timeout, opts) {
            Ok(s) => return Ok(s),
            Err(e) => {
                if cfg.verbose > 0 && i + 1 < addrs.len() {
                    crate::say!("rnc: {}", net::connect_failed(host, port, &e));
                }
                last = Some(e);
            }
        }
    }
    let e = last.expect("resolve returns at least one address");
    Err(anyhow!(net::connect_failed(host, port, &e)))
}
