//! `rnc -l -k`: many clients at once. What stdin gives goes to every client; what any
//! client sends goes to stdout, each read kept whole. A slow client holds stdin back
//! (nothing is dropped), never the other clients' data to stdout.

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::{anyhow, Result};
use mio::event::Event;
use mio::{Registry, Token};

use crate::bridge::{STDIN, STDOUT};
use crate::buf::{MemBuf, Step, MEM_CAP};
use crate::config::{Config, IoRules};
use crate::conn::{Conn, Peer};
use crate::endpoint::{interest, Endpoint};
use crate::event_loop::{Flow, Session};
use crate::listener::Listeners;
use crate::net::os_message;
use crate::stdio;

/// Client tokens start here, above the listeners'.
const FIRST_CLIENT: usize = 64;
/// Bytes of stdin queued per client before stdin reading pauses.
const CLIENT_QUEUE: usize = 256 * 1024;
/// One read from a client or stdin.
const CHUNK: usize = 64 * 1024;

struct Client {
    sock: Conn,
    ep: Endpoint,
    peer: Peer,
    /// stdin bytes not yet sent to this client.
    out: MemBuf,
    /// The client sent its FIN.
    eof: bool,
    fin_sent: bool,
}

pub struct KeepOpen {
    listeners: Listeners,
    clients: BTreeMap<Token, Client>,
    next_token: usize,
    stdin_ep: Endpoint,
    stdin_eof: bool,
    stdout_ep: Endpoint,
    /// Client data on its way to stdout.
    stdout_buf: MemBuf,
    io: IoRules,
    verbose: u8,
    numeric: bool,
    /// `--max-conns`: more clients than this are closed at once.
    max_conns: usize,
}

impl KeepOpen {
    pub fn new(listeners: Listeners, cfg: &Config) -> Result<KeepOpen> {
        Ok(KeepOpen {
            listeners,
            clients: BTreeMap::new(),
            next_token: FIRST_CLIENT,
            stdin_ep: Endpoint::new(stdio::STDIN, STDIN),
            stdin_eof: cfg.io.no_stdin,
            stdout_ep: Endpoint::new(stdio::STDOUT, STDOUT),
            stdout_buf: MemBuf::new(MEM_CAP),
            io: cfg.io.clone(),
            verbose: cfg.verbose,
            numeric: cfg.numeric,
            max_conns: cfg.max_conns,
        })
    }

    fn add(&mut self, sock: Conn, peer: Peer) -> Result<()> {
        sock.set_nonblocking()?;
        super::listen::report_client(&peer, self.verbose, self.numeric);
        let token = Token(self.next_token);
        self.next_token += 1;
        let ep = Endpoint::new(sock.fd(), token);
        self.clients.insert(
            token,
            Client {
                sock,
                ep,
                peer,
                out: MemBuf::new(CLIENT_QUEUE),
                eof: false,
                fin_sent: false,
            },
        );
        Ok(())
    }

    /// stdin → every client's queue, as much as the fullest queue can take.
    fn read_stdin(&mut self) -> Result<()> {
        while !self.stdin_eof && self.stdin_ep.readable && !self.clients.is_empty() {
            let room = self
                .clients
                .values()
                .map(|c| c.out.room())
                .min()
                .unwrap_or(0);
            let want = room.min(CHUNK);
            if want == 0 {
                return Ok(());
            }
            let mut chunk = [0u8; CHUNK];
            match crate::buf::sys_read(stdio::STDIN, &mut chunk[..want]) {
                Ok(0) => self.stdin_eof = true,
                Ok(n) => self
                    .clients
                    .values_mut()
                    .for_each(|c| c.out.push(&chunk[..n])),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    self.stdin_ep.blocked_read()
                }
                Err(e) => return Err(anyhow!("read from stdin failed: {}", os_message(&e))),
            }
        }
        Ok(())
    }

    /// Clients → stdout and queues → clients. Returns the clients to drop.
    fn serve_clients(&mut self) -> Vec<Token> {
        let mut gone = Vec::new();
        for (&t, c) in &mut self.clients {
            // One read per client per round keeps the clients fair with each other.
            if !c.eof && c.ep.readable && self.stdout_buf.room() >= CHUNK {
                match self.stdout_buf.fill_from(c.ep.fd, CHUNK) {
                    Ok(Step::Eof) => c.eof = true,
                    Ok(Step::Blocked) => c.ep.blocked_read(),
                    Ok(_) => {}
                    Err(e) => {
                        Self::log_leave(
                            self.verbose,
                            c,
                            &format!("read failed: {}", os_message(&e)),
                        );
                        gone.push(t);
                        continue;
                    }
                }
            }
            while c.ep.writable && c.out.len() > 0 {
                match c.out.drain_to(c.ep.fd, usize::MAX) {
                    Ok(Step::Blocked) => c.ep.blocked_write(),
                    Ok(_) => {}
                    Err(e) => {
                        Self::log_leave(
                            self.verbose,
                            c,
                            &format!("write failed: {}", os_message(&e)),
                        );
                        gone.push(t);
                        break;
                    }
                }
            }
            if self.stdin_eof && self.io.send_eof && c.out.len() == 0 && !c.fin_sent {
                c.fin_sent = true;
                c.sock.shutdown_write();
            }
            // nc: a client that sent its FIN is done once nothing is queued for it.
            if c.eof && (c.out.len() == 0 || c.fin_sent) && !gone.contains(&t) {
                gone.push(t);
            }
        }
        gone
    }

    fn log_leave(verbose: u8, c: &Client, why: &str) {
        if verbose > 1 {
            crate::say!("rnc: client {}: {why}", c.peer.describe(true));
        }
    }
}

impl Session for KeepOpen {
    fn on_event(&mut self, _reg: &Registry, ev: &Event) -> Result<()> {
        let t = ev.token();
        if t == STDIN {
            self.stdin_ep.on_event(ev);
        } else if t == STDOUT {
            self.stdout_ep.on_event(ev);
        } else if self.listeners.owns(t) {
            self.listeners.on_event(ev);
        } else if let Some(c) = self.clients.get_mut(&t) {
            c.ep.on_event(ev);
        }
        Ok(())
    }

    fn step(&mut self, reg: &Registry, now: Instant) -> Result<Flow> {
        let mut got = self.listeners.accept(now, 256)?;
        for (_, peer) in crate::listener::admit(&mut got, self.clients.len(), self.max_conns) {
            if self.verbose > 0 {
                crate::say!(
                    "rnc: --max-conns {} reached: closed {}",
                    self.max_conns,
                    peer.describe(self.numeric)
                );
            }
        }
        for (sock, peer) in got {
            self.add(sock, peer)?;
        }
        loop {
            let before = (self.stdout_buf.len(), self.stdin_eof);
            self.read_stdin()?;
            let gone = self.serve_clients();
            for t in &gone {
                if let Some(mut c) = self.clients.remove(t) {
                    c.ep.release(reg);
                    self.listeners.resume();
                }
            }
            // Client data → stdout.
            while self.stdout_ep.writable && self.stdout_buf.len() > 0 {
                match self.stdout_buf.drain_to(stdio::STDOUT, usize::MAX) {
                    Ok(Step::Blocked) => self.stdout_ep.blocked_write(),
                    Ok(_) => {}
                    // The reader of our stdout is gone: stop quietly, as the bridge does.
                    Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                        return Ok(Flow::Exit(0))
                    }
                    Err(e) => return Err(anyhow!("write to stdout failed: {}", os_message(&e))),
                }
            }
            // Go round again only if stdout made room for clients that were held back.
            if gone.is_empty() && before == (self.stdout_buf.len(), self.stdin_eof) {
                break;
            }
        }

        let stdin_room = self.clients.values().all(|c| c.out.room() > 0);
        if !self.io.no_stdin && !self.stdin_eof {
            self.stdin_ep
                .set_interest(reg, interest(stdin_room && !self.clients.is_empty(), false))?;
        } else {
            self.stdin_ep.release(reg);
        }
        self.stdout_ep
            .set_interest(reg, interest(false, self.stdout_buf.len() > 0))?;
        let read_ok = self.stdout_buf.room() >= CHUNK;
        for c in self.clients.values_mut() {
            c.ep.set_interest(reg, interest(read_ok && !c.eof, c.out.len() > 0))?;
        }
        Ok(Flow::Wait(self.listeners.arm(reg)?))
    }
}
