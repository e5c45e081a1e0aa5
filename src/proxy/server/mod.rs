//! The proxy server's handshakes (`-l --proxy-type socks4|socks5|http`), as pure code
//! (but for the clock of the Digest nonces): bytes from the client go in, and out come
//! the replies to send, the target to connect to, or a refusal. The relay session (`mode/relay.rs`) does the I/O on its
//! loop: it reads into `Shake`, connects without blocking, and then pumps the tunnel.

mod digest;
mod http;
mod socks;

use std::io;
use std::net::{IpAddr, SocketAddr};

use anyhow::{bail, Result};

use super::{parse_kind, Auth, Kind};
use crate::cli::Cli;

/// The most a client may send before its request is complete: an HTTP head, or a
/// SOCKS request (which is at most a few hundred bytes).
pub const MAX_REQUEST: usize = 16 * 1024;

/// `-l --proxy-type`: the protocol served and the credentials it asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Serve {
    pub kind: Kind,
    pub auth: Option<Auth>,
}

impl Serve {
    /// The server's settings, when the command line asks for the proxy server.
    pub fn from_cli(cli: &Cli) -> Result<Option<Serve>> {
        if !crate::flags::proxy_server(cli) {
            return Ok(None);
        }
        let Some(t) = cli.proxy_type.as_deref() else {
            return Ok(None);
        };
        let kind = parse_kind(t)?;
        if cli.proxy_user.is_some() {
            bail!("-P is for the proxy client: the proxy server takes --proxy-auth user:pass");
        }
        if cli.proxy_dns.is_some() {
            bail!("--proxy-dns is for the proxy client: the proxy server resolves every name it is given");
        }
        let auth = match cli.proxy_auth.as_deref() {
            None => None,
            Some(a) => Some(server_auth(a, kind)?),
        };
        Ok(Some(Serve { kind, auth }))
    }
}

/// `--proxy-auth user:pass`; SOCKS4 checks the user id alone.
fn server_auth(a: &str, kind: Kind) -> Result<Auth> {
    let (user, pass) = match (a.split_once(':'), kind) {
        (Some((u, p)), _) => (u, p),
        (None, Kind::Socks4) => (a, ""),
        (None, _) => bail!("--proxy-auth for the proxy server needs user:pass"),
    };
    if user.is_empty() {
        bail!("proxy user name is empty");
    }
    if kind == Kind::Socks5 && (user.len() > 255 || pass.len() > 255) {
        bail!("SOCKS5 user names and passwords are at most 255 bytes");
    }
    Ok(Auth {
        user: user.to_string(),
        pass: pass.to_string(),
        basic: format!("{user}:{pass}"),
    })
}

/// The host a client asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    Ip(IpAddr),
    Name(String),
}

impl std::fmt::Display for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Host::Ip(IpAddr::V6(a)) => write!(f, "[{a}]"),
            Host::Ip(a) => write!(f, "{a}"),
            Host::Name(n) => f.write_str(n),
        }
    }
}

/// What a complete request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub host: Host,
    pub port: u16,
    /// HTTP GET, HEAD, POST: the request to pass on (its head rewritten, and the
    /// body that came with it).
    pub forward: Option<Vec<u8>>,
    /// The bytes of the body still to come from the client, passed on as they come;
    /// nothing after them goes to the target.
    pub more: u64,
}

/// What to do after the bytes received so far.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// The request is not complete yet.
    Need,
    /// Send this to the client and read on (the SOCKS5 method and auth replies).
    Reply(Vec<u8>),
    /// Connect to the target.
    Connect(Request),
    /// Send this (maybe nothing), then close; `why` goes in the -v line.
    Refuse { reply: Vec<u8>, why: String },
}

/// Why a target could not be reached, for the reply code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// No address for the name, or none of the family of -4/-6.
    NoAddress,
    Refused,
    NetUnreachable,
    HostUnreachable,
    TimedOut,
    /// The target is this proxy (an HTTP request loop).
    Loop,
    Other,
}

impl Failure {
    pub fn of(e: &io::Error) -> Failure {
        match e.raw_os_error() {
            Some(libc::ECONNREFUSED) => Failure::Refused,
            Some(libc::ENETUNREACH) => Failure::NetUnreachable,
            Some(libc::EHOSTUNREACH) => Failure::HostUnreachable,
            Some(libc::ETIMEDOUT) => Failure::TimedOut,
            _ if e.kind() == io::ErrorKind::TimedOut => Failure::TimedOut,
            _ => Failure::Other,
        }
    }
}

/// One client's handshake: the bytes it sent that are not used yet, and the stage.
pub struct Shake {
    kind: Kind,
    stage: Stage,
    buf: Vec<u8>,
    /// The client's CONNECT or SOCKS request, once it was given.
    request: Option<Request>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// SOCKS5: the methods the client offers.
    Greeting,
    /// SOCKS5: RFC 1929 user and password.
    Login,
    /// The request proper (SOCKS4, SOCKS5, HTTP).
    Request,
    Done,
}

impl Shake {
    pub fn new(kind: Kind) -> Shake {
        Shake {
            kind,
            stage: match kind {
                Kind::Socks5 => Stage::Greeting,
                _ => Stage::Request,
            },
            buf: Vec::new(),
            request: None,
        }
    }

    /// Room for more bytes: the request is bounded.
    pub fn room(&self) -> usize {
        MAX_REQUEST.saturating_sub(self.buf.len())
    }

    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Take the next step with what has arrived; `eof`: the client sent all it will.
    pub fn step(&mut self, auth: Option<&Auth>, eof: bool) -> Step {
        let step = match (self.kind, self.stage) {
            (_, Stage::Done) => Step::Need,
            (Kind::Socks5, Stage::Greeting) => socks::greeting(&mut self.buf, auth),
            (Kind::Socks5, Stage::Login) => socks::login(&mut self.buf, auth),
            (Kind::Socks5, Stage::Request) => socks::request5(&mut self.buf),
            (Kind::Socks4, _) => socks::request4(&mut self.buf, auth),
            (Kind::Http, _) => http::request(&mut self.buf, auth, eof),
        };
        match &step {
            Step::Reply(_) if self.stage == Stage::Greeting && auth.is_some() => {
                self.stage = Stage::Login
            }
            Step::Reply(_) => self.stage = Stage::Request,
            Step::Connect(r) => {
                self.request = Some(r.clone());
                self.stage = Stage::Done;
            }
            Step::Refuse { .. } => self.stage = Stage::Done,
            Step::Need if self.room() == 0 => {
                self.stage = Stage::Done;
                return too_long(self.kind, &self.buf);
            }
            Step::Need if eof => {
                self.stage = Stage::Done;
                return Step::Refuse {
                    reply: Vec::new(),
                    why: "closed before its request was complete".into(),
                };
            }
            Step::Need => {}
        }
        step
    }

    /// The bytes the client sent after its request: the first of the tunnel's.
    pub fn rest(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.buf)
    }

    /// The reply once the target is connected; `bound` is rnc's end of that connection.
    pub fn granted(&self, bound: SocketAddr) -> Vec<u8> {
        match self.kind {
            Kind::Socks5 => socks::reply5(0, Some(bound)),
            Kind::Socks4 => socks::reply4(0x5a, Some(bound)),
            Kind::Http if self.forwarding() => Vec::new(),
            Kind::Http => http::status(200, None),
        }
    }

    /// The reply when the target cannot be reached.
    pub fn failed(&self, f: Failure) -> Vec<u8> {
        match self.kind {
            Kind::Socks5 => socks::reply5(socks::code5(f), None),
            Kind::Socks4 => socks::reply4(0x5b, None),
            Kind::Http => http::failure(f),
        }
    }

    /// An HTTP GET, HEAD or POST passed on rather than a tunnel.
    pub fn forwarding(&self) -> bool {
        self.request.as_ref().is_some_and(|r| r.forward.is_some())
    }
}

/// The request outgrew its bound.
fn too_long(kind: Kind, buf: &[u8]) -> Step {
    match kind {
        Kind::Http => http::too_long(buf),
        _ => Step::Refuse {
            reply: Vec::new(),
            why: format!("request longer than {MAX_REQUEST} bytes"),
        },
    }
}

/// A refusal with its reply.
fn refuse(reply: Vec<u8>, why: impl Into<String>) -> Step {
    Step::Refuse {
        reply,
        why: why.into(),
    }
}

#[cfg(test)]
mod tests;
