//! `rnc -u -l --echo [addr] port`: every datagram goes back to its sender, whole (the
//! UDP half of RFC 862). A small mode of its own, apart from the UDP bridge.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use mio::event::Event;
use mio::{Interest, Registry, Token};
use socket2::{Domain, Protocol, Socket, Type};

use crate::config::Config;
use crate::endpoint::Endpoint;
use crate::event_loop::{self, Flow, Session};
use crate::net::{self, Family};

/// The largest UDP payload (IPv4: 65,507 bytes; the buffer takes any).
const DATAGRAM_MAX: usize = 65536;
/// Datagrams echoed per socket per step, so one busy socket does not starve the other.
const TURN: usize = 64;
const FIRST_SOCKET: usize = 16;

pub fn run(cfg: &Config, addr: Option<&str>, port: u16) -> Result<i32> {
    let socks = bind(addr, port, cfg)?;
    if cfg.verbose > 0 {
        for s in &socks {
            let a = s.local_addr()?;
            // nc.openbsd's words for a UDP listener.
            eprintln!(
                "Bound on {} {}",
                net::host_name(a.ip(), cfg.numeric),
                a.port()
            );
        }
    }
    let socks = socks
        .into_iter()
        .enumerate()
        .map(|(i, sock)| Echoer {
            ep: Endpoint::new(sock.as_raw_fd(), Token(FIRST_SOCKET + i)),
            sock,
            held: None,
        })
        .collect();
    let mut s = UdpEcho {
        socks,
        buf: vec![0; DATAGRAM_MAX],
    };
    event_loop::run(&mut s)
}

fn bind_one(addr: &SocketAddr, cfg: &Config) -> Result<UdpSocket> {
    let sock = Socket::new(Domain::for_address(*addr), Type::DGRAM, Some(Protocol::UDP))
        .context("socket")?;
    sock.set_reuse_address(true)
        .context("setsockopt SO_REUSEADDR")?;
    if addr.is_ipv6() {
        sock.set_only_v6(true).context("setsockopt IPV6_V6ONLY")?;
    }
    if cfg.so_debug {
        let one: libc::c_int = 1;
        // SAFETY: valid fd, option pointer and length.
        let rc = unsafe {
            libc::setsockopt(
                sock.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_DEBUG,
                (&one as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error()).context("setsockopt SO_DEBUG");
        }
    }
    sock.bind(&(*addr).into()).context("bind failed")?;
    sock.set_nonblocking(true).context("fcntl O_NONBLOCK")?;
    Ok(sock.into())
}

/// As TCP listeners: the given address, or 0.0.0.0 and [::] on the same port.
fn bind(addr: Option<&str>, port: u16, cfg: &Config) -> Result<Vec<UdpSocket>> {
    if let Some(a) = addr {
        let addrs = net::resolve(a, port, cfg.family, cfg.numeric)?;
        return Ok(vec![bind_one(&addrs[0], cfg)?]);
    }
    let v4 = SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), port);
    let v6 = SocketAddr::new(Ipv6Addr::UNSPECIFIED.into(), port);
    match cfg.family {
        Family::V4 => return Ok(vec![bind_one(&v4, cfg)?]),
        Family::V6 => return Ok(vec![bind_one(&v6, cfg)?]),
        Family::Any => {}
    }
    for _ in 0..8 {
        let s4 = bind_one(&v4, cfg)?;
        let bound = s4.local_addr().context("getsockname")?.port();
        match bind_one(&SocketAddr::new(v6.ip(), bound), cfg) {
            Ok(s6) => return Ok(vec![s4, s6]),
            Err(_) if port == 0 => continue,
            // No IPv6 here (or the port is taken on IPv6 only): IPv4 alone.
            Err(_) => return Ok(vec![s4]),
        }
    }
    bail!("bind failed: no port free on both IPv4 and IPv6")
}

struct Echoer {
    sock: UdpSocket,
    ep: Endpoint,
    /// A datagram the socket would not send yet; nothing is read until it goes.
    held: Option<(Vec<u8>, SocketAddr)>,
}

struct UdpEcho {
    socks: Vec<Echoer>,
    buf: Vec<u8>,
}

/// Errors a send or receive may report for one peer (an ICMP error, a datagram too big):
/// that datagram is lost, the server goes on.
fn is_would_block(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::WouldBlock
}

impl Echoer {
    /// Echo up to `TURN` datagrams; true if more may be waiting.
    fn turn(&mut self, buf: &mut [u8]) -> bool {
        if let Some((data, to)) = &self.held {
            if !self.ep.writable {
                return false;
            }
            match self.sock.send_to(data, to) {
                Err(e) if is_would_block(&e) => {
                    self.ep.blocked_write();
                    return false;
                }
                _ => self.held = None,
            }
        }
        for _ in 0..TURN {
            if !self.ep.readable {
                return false;
            }
            let (n, from) = match self.sock.recv_from(buf) {
                Ok(got) => got,
                Err(e) if is_would_block(&e) => {
                    self.ep.blocked_read();
                    return false;
                }
                Err(_) => continue,
            };
            match self.sock.send_to(&buf[..n], from) {
                Err(e) if is_would_block(&e) => {
                    self.held = Some((buf[..n].to_vec(), from));
                    self.ep.blocked_write();
                    return false;
                }
                _ => {}
            }
        }
        true
    }
}

impl Session for UdpEcho {
    fn start(&mut self, reg: &Registry) -> Result<()> {
        for s in &mut self.socks {
            s.ep.set_interest(reg, Some(Interest::READABLE | Interest::WRITABLE))?;
        }
        Ok(())
    }

    fn on_event(&mut self, _reg: &Registry, ev: &Event) -> Result<()> {
        for s in &mut self.socks {
            if s.ep.token == ev.token() {
                s.ep.on_event(ev);
            }
        }
        Ok(())
    }

    fn step(&mut self, _reg: &Registry, now: Instant) -> Result<Flow> {
        let mut more = false;
        for s in &mut self.socks {
            more |= s.turn(&mut self.buf);
        }
        Ok(Flow::Wait(more.then_some(now)))
    }
}
