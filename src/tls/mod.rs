//! TLS as one transport between the kernel socket and whatever descriptor a mode uses.
//!
//! A `link` owns the TCP (or Unix stream) socket and one end of a socketpair; the mode
//! gets the other end and reads and writes plaintext on it as if it were the socket,
//! with nc's half-close rules: EOF on the mode's end becomes close_notify and FIN, the
//! peer's close_notify becomes a FIN on the mode's end. The links live on the one event
//! loop (`event_loop` hands them their own token range), so the modes need no change
//! beyond where a connection is made or accepted:
//! - connect mode: `connect` (a blocking handshake, as its connect is blocking);
//! - every listener: `Listeners::accept` passes each client through `accept` and takes
//!   the clients whose handshake has completed from `take_ready`;
//! - `--relay-ssl`: `relay_connect` on the relay's non-blocking far socket.
//!
//! - `link`: one link's data path; `set`: the links on the loop, and the hand-over.
//! - `setup`: the flags → rustls configurations; `verify`: the server check and its
//!   failure lines; `cert`: fingerprints, pins, names, the ephemeral certificate.

mod cert;
mod link;
mod set;
mod setup;
mod verify;

use std::io;
use std::net::IpAddr;
use std::os::fd::OwnedFd;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, ServerConfig};

use crate::config::{Attach, Config, Mode};
use crate::conn::{Conn, Peer};

pub use set::{drain, idle, on_event, owns, step};

/// A handshake without -w gives up after this long.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

/// The TLS flags, checked (`Opts::from_cli` in `setup`).
#[derive(Debug, Clone, Default)]
pub struct Opts {
    /// `--ssl`: rnc's own end (connect or listen) speaks TLS.
    ssl: bool,
    /// `--relay-ssl`: the relay's far side speaks TLS.
    relay_out: bool,
    cert: Option<String>,
    key: Option<String>,
    trustfile: Option<String>,
    servername: Option<String>,
    alpn: Vec<Vec<u8>>,
    suites: Option<Vec<rustls::SupportedCipherSuite>>,
    pin: Option<[u8; 32]>,
    no_verify: bool,
}

/// What the links and the integration points need, set once at start.
struct Settings {
    client: Option<Arc<ClientConfig>>,
    server: Option<Arc<ServerConfig>>,
    relay: Option<Arc<ClientConfig>>,
    servername: Option<String>,
    wait: Duration,
    /// A listener without -k: one client, whose failed handshake ends rnc.
    once: bool,
}

static SETTINGS: OnceLock<Settings> = OnceLock::new();

/// Build the configurations the mode needs (and the ephemeral certificate); call once
/// before any socket is made.
pub fn install(cfg: &Config) -> Result<()> {
    let Some(opts) = &cfg.tls else {
        return Ok(());
    };
    let listen = match &cfg.mode {
        Mode::Listen { at, .. } => Some(at.name().map(String::from)),
        _ => None,
    };
    if opts.no_verify {
        crate::say!("rnc: warning: --ssl-no-verify: the peer's certificate is not checked");
    }
    let server = match (&listen, opts.ssl) {
        (Some(addr), true) => Some(setup::server(opts, names(addr.as_deref()))?),
        _ => None,
    };
    let client = match listen.is_none() && opts.ssl {
        true => Some(setup::client(opts)?),
        false => None,
    };
    let relay = match (opts.relay_out, cfg.attach()) {
        (true, Some(Attach::Tcp { .. })) => Some(setup::client(opts)?),
        _ => None,
    };
    let _ = SETTINGS.set(Settings {
        client,
        server,
        relay,
        servername: opts.servername.clone(),
        wait: cfg.wait.unwrap_or(HANDSHAKE_TIMEOUT),
        once: matches!(cfg.mode, Mode::Listen { many: false, .. }),
    });
    Ok(())
}

/// The names of an ephemeral listener certificate: the listen address if given, the
/// host's name, and the loopback names.
fn names(addr: Option<&str>) -> Vec<String> {
    let mut v: Vec<String> = addr.map(String::from).into_iter().collect();
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most buf.len() bytes into buf.
    if unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } == 0 {
        let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
        v.extend(std::str::from_utf8(&buf[..end]).ok().map(String::from));
    }
    for n in ["localhost", "127.0.0.1", "::1"] {
        v.push(n.into());
    }
    // rcgen refuses what is neither a DNS name nor an address (a Unix socket path).
    v.retain(|n| n.parse::<IpAddr>().is_ok() || ServerName::try_from(n.as_str()).is_ok());
    v.dedup();
    v
}

fn settings() -> Option<&'static Settings> {
    SETTINGS.get()
}

/// The name to send as SNI and check the certificate against.
fn server_name(host: &str) -> Result<ServerName<'static>> {
    let name = settings()
        .and_then(|s| s.servername.clone())
        .unwrap_or_else(|| host.to_string());
    if let Ok(ip) = name.parse::<IpAddr>() {
        return Ok(ServerName::IpAddress(ip.into()));
    }
    ServerName::try_from(name.clone())
        .map_err(|_| anyhow!("{name} is not a host name TLS can check (use --ssl-servername)"))
}

/// Connect mode: handshake on the connected socket (blocking, bounded by -w), verified
/// before anything is sent; then the mode gets the plaintext end. Without --ssl, the
/// connection as it is.
pub fn connect(conn: Conn, host: &str, what: &str) -> Result<Conn> {
    let Some(s) = settings() else { return Ok(conn) };
    let Some(cfg) = &s.client else {
        return Ok(conn);
    };
    let fd: OwnedFd = match conn {
        Conn::Tcp(t) => t.into(),
        Conn::Unix(u) => u.into(),
        other => return Ok(other),
    };
    // A name for -U (a path): what --ssl-servername says, or localhost.
    let host = if host.contains('/') {
        "localhost"
    } else {
        host
    };
    let name = server_name(host)?;
    let mut tls = ClientConnection::new(cfg.clone(), name).context("tls")?;
    let sock = socket2::Socket::from(fd);
    let deadline = Instant::now() + s.wait;
    link::handshake(&sock, &mut tls, deadline)
        .map_err(|e| anyhow!("tls handshake with {what} failed: {e}"))?;
    if crate::report::verbose() > 0 {
        crate::say!("rnc: tls: {}", link::summary(&tls));
    }
    set::established(sock.into(), tls.into())
        .map(Conn::Unix)
        .context("socketpair")
}

/// A listener's client: TCP and Unix streams go into a handshake (and come back from
/// `take_ready` once it completes); anything else, or without --ssl, comes back now.
pub fn accept(conn: Conn, peer: Peer) -> Option<(Conn, Peer)> {
    let Some(cfg) = settings().and_then(|s| s.server.clone()) else {
        return Some((conn, peer));
    };
    match conn {
        Conn::Tcp(t) => set::accept(t.into(), peer, cfg),
        Conn::Unix(u) => set::accept(u.into(), peer, cfg),
        other => return Some((other, peer)),
    }
    None
}

pub use set::{drop_pending, has_ready, local_addr, take_ready};

/// `--relay-ssl`: the relay's far socket (non-blocking, its connect under way) becomes
/// a TLS client; the relay gets the plaintext end at once.
pub fn relay_connect(sock: OwnedFd, host: &str, deadline: Instant) -> io::Result<Conn> {
    let Some(cfg) = settings().and_then(|s| s.relay.clone()) else {
        return Ok(Conn::Tcp(sock.into()));
    };
    let name = server_name(host).map_err(io::Error::other)?;
    let tls = ClientConnection::new(cfg, name).map_err(io::Error::other)?;
    set::connecting(sock, tls, host, deadline).map(Conn::Unix)
}
