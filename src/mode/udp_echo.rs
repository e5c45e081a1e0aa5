//! `rnc -u -l --echo [addr] port`: every datagram goes back to its sender, whole (the
//! UDP half of RFC 862). A small mode of its own, apart from the UDP bridge.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::Instant;

use anyhow::Result;
use mio::event::Event;
use mio::{Interest, Registry, Token};

use crate::config::Config;
use crate::endpoint::Endpoint;
use crate::event_loop::{self, Flow, Session};

/// The largest UDP payload (IPv4: 65,507 bytes; the buffer takes any).
const DATAGRAM_MAX: usize = 65536;
/// Datagrams echoed per socket per step, so one busy socket does not starve the other.
const TURN: usize = 64;
const FIRST_SOCKET: usize = 16;

pub fn run(cfg: &Config, addr: Option<&str>, port: u16) -> Result<i32> {
    event_loop::catch_signals()?;
    let socks = super::datagram::bind_udp(cfg, addr, port, false)?;
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
