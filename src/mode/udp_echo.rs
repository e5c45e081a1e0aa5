//! `rnc -u -l --echo [addr] port` and `rnc -u -l -U --echo path`: every datagram goes
//! back to its sender, whole (the UDP half of RFC 862), if the access rules let the
//! sender in. A small mode of its own, apart from the UDP bridge. A Unix sender without
//! an address of its own cannot be answered; its datagrams are dropped.

use std::mem::MaybeUninit;
use std::time::Instant;

use anyhow::Result;
use mio::event::Event;
use mio::{Interest, Registry};
use socket2::{SockAddr, Socket};

use crate::access::Access;
use crate::config::Config;
use crate::endpoint::Endpoint;
use crate::event_loop::{self, Flow, Session};
use crate::listener::permitted;

/// The largest UDP payload (IPv4: 65,507 bytes; the buffer takes any).
/// Datagrams echoed per socket per step, so one busy socket does not starve the other.
const TURN: usize = 64;

pub fn run(cfg: &Config, addr: Option<&str>, port: u16) -> Result<i32> {
    let (socks, _socket_file) = super::datagram::bind_datagram(cfg, addr, port, false)?;
    let socks = socks
        .into_iter()
        .map(|(sock, ep)| Echoer {
            ep,
            sock,
            held: None,
        })
        .collect();
    let mut s = UdpEcho {
        socks,
        buf: vec![MaybeUninit::uninit(); crate::buf::DATAGRAM_ROOM],
        gate: Gate {
            access: cfg.access.clone(),
        },
    };
    event_loop::run(&mut s)
}

struct Echoer {
    sock: Socket,
    ep: Endpoint,
    /// A datagram the socket would not send yet; nothing is read until it goes.
    held: Option<(Vec<u8>, SockAddr)>,
}

struct UdpEcho {
    socks: Vec<Echoer>,
    buf: Vec<MaybeUninit<u8>>,
    gate: Gate,
}

/// Who gets an answer: `--allow`/`--deny` (with the `-v` refusal line), and only a
/// sender that has an address to answer.
struct Gate {
    access: Access,
}

impl Gate {
    fn admits(&self, from: &SockAddr) -> bool {
        if from.is_unnamed() {
            return false;
        }
        if self.access.is_open() {
            return true;
        }
        let peer = super::datagram::peer_of(from);
        permitted(&self.access, &peer)
    }
}

/// Errors a send or receive may report for one peer (an ICMP error, a datagram too big):
/// that datagram is lost, the server goes on.
impl Echoer {
    /// Echo up to `TURN` datagrams; true if more may be waiting.
    fn turn(&mut self, buf: &mut [MaybeUninit<u8>], gate: &Gate) -> bool {
        if let Some((data, to)) = &self.held {
            if !self.ep.writable {
                return false;
            }
            match self.sock.send_to(data, to) {
                Err(e) if crate::buf::would_block(&e) => {
                    self.ep.blocked_write();
                    return false;
                }
                Ok(k) => {
                    crate::wrap::moved(crate::wrap::Dir::Sent, &data[..k]);
                    self.held = None
                }
                Err(_) => self.held = None,
            }
        }
        for _ in 0..TURN {
            if !self.ep.readable {
                return false;
            }
            let (n, from) = match self.sock.recv_from(buf) {
                Ok(got) => got,
                Err(e) if crate::buf::would_block(&e) => {
                    self.ep.blocked_read();
                    return false;
                }
                Err(_) => continue,
            };
            if !gate.admits(&from) {
                continue;
            }
            // SAFETY: recv_from initialised the first n bytes.
            let data = unsafe { std::slice::from_raw_parts(buf.as_ptr().cast::<u8>(), n) };
            crate::wrap::moved(crate::wrap::Dir::Received, data);
            match self.sock.send_to(data, &from) {
                Err(e) if crate::buf::would_block(&e) => {
                    self.held = Some((data.to_vec(), from));
                    self.ep.blocked_write();
                    return false;
                }
                Ok(k) => crate::wrap::moved(crate::wrap::Dir::Sent, &data[..k]),
                Err(_) => {}
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
            more |= s.turn(&mut self.buf, &self.gate);
        }
        Ok(Flow::Wait(more.then_some(now)))
    }
}
