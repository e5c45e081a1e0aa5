//! The proxy client: `-x`/`--proxy` with `-X`/`--proxy-type`, `--proxy-auth`, `-P` and
//! `--proxy-dns`. A blocking handshake on the connected socket, bounded by `-w`, before
//! the bridge (or `-F`, or the `-z` check) gets the socket.

mod http;
pub mod md5;
pub mod server;
mod socks;
mod wire;

use std::net::{IpAddr, TcpStream};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Result};

use crate::cli::Cli;
use crate::config::{parse_port, Config};
use crate::net::{self, Source};
use wire::Wire;

/// The environment variable that gives `-P` its password without a terminal.
pub const PASS_ENV: &str = "RNC_PROXY_PASS";

/// The proxy protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Socks4,
    Socks5,
    Http,
}

/// `--proxy-dns`: who resolves the target's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dns {
    Local,
    Remote,
    Both,
    None,
}

#[derive(Clone, PartialEq, Eq)]
pub struct Auth {
    pub user: String,
    pub pass: String,
    /// What HTTP Basic encodes: `--proxy-auth`'s text as given (ncat sends `a` as
    /// `a`, not `a:`), or `user:pass` for `-P`.
    pub basic: String,
}

impl std::fmt::Debug for Auth {
    // The password never reaches a debug print.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Auth({:?}, <password>)", self.user)
    }
}

#[derive(Debug, Clone)]
pub struct Proxy {
    pub kind: Kind,
    pub host: String,
    pub port: u16,
    pub auth: Option<Auth>,
    pub dns: Dns,
}

/// What the proxy is asked to reach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Ip(IpAddr),
    Name(String),
}

impl Proxy {
    /// The proxy settings of the command line, with nc.openbsd's refusals.
    pub fn from_cli(cli: &Cli) -> Result<Option<Proxy>> {
        let addr = match (&cli.proxy_x, &cli.proxy) {
            (Some(_), Some(_)) => bail!("cannot use -x and --proxy together"),
            (a, b) => a.as_ref().or(b.as_ref()),
        };
        let Some(addr) = addr else {
            return no_proxy(cli);
        };
        if cli.udp {
            bail!("no proxy support for UDP mode");
        }
        if cli.listen {
            bail!("no proxy support for listen");
        }
        if cli.unixsock {
            bail!("no proxy support for unix sockets");
        }
        if cli.source.is_some() {
            bail!("no proxy support for local source address");
        }
        // nc.openbsd's -x speaks SOCKS5 by default, ncat's --proxy HTTP.
        let kind = match cli.proxy_type.as_deref() {
            Some(t) => parse_kind(t)?,
            None if cli.proxy_x.is_some() => Kind::Socks5,
            None => Kind::Http,
        };
        let (host, port) = split_addr(addr, kind)?;
        let auth = match (&cli.proxy_auth, &cli.proxy_user) {
            (Some(_), Some(_)) => bail!("cannot use -P and --proxy-auth together"),
            (Some(a), None) => Some(parse_auth(a)),
            (None, Some(u)) => Some(user_auth(u, kind, &host)?),
            (None, None) => None,
        };
        let dns = match cli.proxy_dns.as_deref() {
            None | Some("remote") => Dns::Remote,
            Some("local") => Dns::Local,
            Some("both") => Dns::Both,
            Some("none") => Dns::None,
            Some(d) => bail!("proxy DNS type invalid: {d} (use local, remote, both or none)"),
        };
        Ok(Some(Proxy {
            kind,
            host,
            port,
            auth,
            dns,
        }))
    }

    /// The target as the proxy is to be given it, after `--proxy-dns`.
    fn target(&self, host: &str, port: u16, cfg: &Config) -> Result<Target> {
        let bare = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        if let Ok(ip) = bare.parse::<IpAddr>() {
            return Ok(Target::Ip(ip));
        }
        // SOCKS4 carries IPv4 addresses only.
        let family = match self.kind {
            Kind::Socks4 => net::Family::V4,
            _ => cfg.family,
        };
        let local = || net::resolve(host, port, family, cfg.numeric).map(|a| Target::Ip(a[0].ip()));
        match self.dns {
            Dns::Local => local(),
            Dns::Remote => Ok(Target::Name(host.to_string())),
            Dns::Both => Ok(local().unwrap_or_else(|_| Target::Name(host.to_string()))),
            Dns::None => bail!("--proxy-dns none: {host} is not an address"),
        }
    }
}

/// Proxy options with no proxy address are a mistake, not something to ignore, unless
/// they are the proxy server's (`server::Serve` takes those).
fn no_proxy(cli: &Cli) -> Result<Option<Proxy>> {
    if crate::flags::proxy_server(cli) {
        return Ok(None);
    }
    if cli.listen && cli.proxy_auth.is_some() {
        bail!("--proxy-auth with -l needs --proxy-type: the proxy server");
    }
    for (set, flag) in [
        (cli.proxy_type.is_some(), "-X/--proxy-type"),
        (cli.proxy_auth.is_some(), "--proxy-auth"),
        (cli.proxy_user.is_some(), "-P"),
        (cli.proxy_dns.is_some(), "--proxy-dns"),
    ] {
        if set {
            bail!("{flag} needs a proxy: use -x or --proxy");
        }
    }
    Ok(None)
}

fn parse_kind(t: &str) -> Result<Kind> {
    match t.to_ascii_lowercase().as_str() {
        "4" | "socks4" | "socks4a" => Ok(Kind::Socks4),
        "5" | "socks5" => Ok(Kind::Socks5),
        "connect" | "http" => Ok(Kind::Http),
        _ => bail!("unsupported proxy protocol: {t} (use 4, 5 or connect; socks4, socks5 or http)"),
    }
}

/// `host`, `host:port`, `[v6]`, `[v6]:port`; the port defaults by protocol.
fn split_addr(addr: &str, kind: Kind) -> Result<(String, u16)> {
    let default = match kind {
        Kind::Http => 3128,
        Kind::Socks4 | Kind::Socks5 => 1080,
    };
    let (host, port) = if let Some(rest) = addr.strip_prefix('[') {
        match rest.split_once(']') {
            Some((h, "")) => (h, None),
            Some((h, p)) if p.starts_with(':') => (h, Some(&p[1..])),
            _ => bail!("proxy address invalid: {addr} (use host[:port] or [v6addr][:port])"),
        }
    } else {
        match addr.split_once(':') {
            Some((h, p)) if !p.contains(':') => (h, Some(p)),
            // A bare IPv6 address: no port.
            Some(_) if addr.parse::<IpAddr>().is_ok() => (addr, None),
            Some(_) => bail!("proxy address invalid: {addr} (put an IPv6 address in brackets)"),
            None => (addr, None),
        }
    };
    if host.is_empty() {
        bail!("proxy address invalid: {addr}");
    }
    let port = match port {
        Some(p) => parse_port(p, false)?,
        None => default,
    };
    Ok((host.to_string(), port))
}

/// `--proxy-auth user[:pass]`, as ncat takes it: without a colon, a user and no
/// password (use `-P` to be asked for one).
fn parse_auth(a: &str) -> Auth {
    let (user, pass) = a.split_once(':').unwrap_or((a, ""));
    Auth {
        user: user.to_string(),
        pass: pass.to_string(),
        basic: a.to_string(),
    }
}

/// `-P user`: the password from RNC_PROXY_PASS, else from the terminal without echo.
/// SOCKS4 sends a user id only, so it asks for none.
fn user_auth(user: &str, kind: Kind, proxy_host: &str) -> Result<Auth> {
    if user.is_empty() {
        bail!("proxy user name is empty");
    }
    let pass = match kind {
        Kind::Socks4 => String::new(),
        _ => crate::secret::ask(
            PASS_ENV,
            &format!("Proxy password for {user}@{proxy_host}: "),
            &format!("proxy password for {user}"),
        )?,
    };
    Ok(Auth {
        user: user.to_string(),
        basic: format!("{user}:{pass}"),
        pass,
    })
}

/// Connect to the proxy (trying each of its addresses), then ask it for `host port`.
/// `-w` bounds the whole: connect and handshake.
pub fn connect(cfg: &Config, p: &Proxy, host: &str, port: u16, src: &Source) -> Result<TcpStream> {
    let end = cfg.wait.map(|w| Instant::now() + w);
    let mut s = dial(cfg, p, src, end)?;
    handshake(&mut s, cfg, p, host, port, src, end)?;
    Ok(s)
}

/// The TCP connection to the proxy itself; its failure reads as nc's connect failure.
pub fn dial(cfg: &Config, p: &Proxy, src: &Source, end: Option<Instant>) -> Result<TcpStream> {
    let addrs = net::resolve(&p.host, p.port, cfg.family, cfg.numeric)?;
    let opts = cfg.sock_opts(false);
    let mut last = None;
    for (i, addr) in addrs.iter().enumerate() {
        let left = end.map(|e| e.saturating_duration_since(Instant::now()));
        if left == Some(Duration::ZERO) {
            break;
        }
        match net::connect_one(addr, src, left, opts) {
            Ok(s) => return Ok(s),
            Err(e) => {
                if cfg.verbose > 0 && i + 1 < addrs.len() {
                    crate::say!("rnc: {}", net::connect_failed(&p.host, p.port, &e));
                }
                last = Some(e);
            }
        }
    }
    let e = last.unwrap_or_else(|| std::io::Error::from_raw_os_error(libc::ETIMEDOUT));
    Err(anyhow!(net::connect_failed(&p.host, p.port, &e)))
}

/// Ask the proxy on `s` for `host port`; on success the socket carries the peer's bytes.
/// An HTTP proxy that wants credentials is asked again on a new connection (`src`).
pub fn handshake(
    s: &mut TcpStream,
    cfg: &Config,
    p: &Proxy,
    host: &str,
    port: u16,
    src: &Source,
    end: Option<Instant>,
) -> Result<()> {
    let target = p.target(host, port, cfg)?;
    let auth = p.auth.as_ref();
    let mut w = Wire::new(s, end);
    match p.kind {
        Kind::Socks4 => socks::socks4(&mut w, &target, port, auth.map(|a| a.user.as_str()))?,
        Kind::Socks5 => socks::socks5(&mut w, &target, port, auth)?,
        Kind::Http => {
            if let http::Reply::AuthWanted(status, challenges) =
                http::connect(&mut w, &target, port, None)?
            {
                let Some(a) = auth else {
                    bail!("Proxy error: \"{status}\" (use -P or --proxy-auth)");
                };
                let uri = http::authority(&target, port)?;
                let Some(header) = http::authorization(&challenges, a, &uri) else {
                    bail!("Proxy error: \"{status}\" (no Basic or Digest authentication offered)");
                };
                *s = dial(cfg, p, src, end)?;
                w = Wire::new(s, end);
                if let http::Reply::AuthWanted(status, _) =
                    http::connect(&mut w, &target, port, Some(&header))?
                {
                    bail!("proxy authentication failed: \"{status}\"");
                }
            }
        }
    }
    w.disarm()
}

/// nc.openbsd's `-v` line for a tunnel: the target as given, not the proxy's address.
pub fn succeeded_line(host: &str, port: u16, numeric: bool) -> String {
    let service = match numeric {
        true => "*".to_string(),
        false => net::service_name(port, "tcp"),
    };
    format!("Connection to {host} {port} port [tcp/{service}] succeeded!")
}

/// One quiet check of one port through the proxy (`--retry` with -z).
pub fn port_open(cfg: &Config, p: &Proxy, host: &str, port: u16, src: &Source) -> bool {
    let end = Some(Instant::now() + cfg.wait.unwrap_or(Duration::from_secs(5)));
    dial(cfg, p, src, end)
        .and_then(|mut s| handshake(&mut s, cfg, p, host, port, src, end))
        .is_ok()
}

/// `-z` through a proxy: one tunnel per port, opened and closed at once. A proxy that
/// cannot be reached ends the check; a refused port is reported with one port or -vv.
pub fn scan(cfg: &Config, p: &Proxy, host: &str, ports: &[u16], src: &Source) -> Result<i32> {
    let wait = cfg.wait.unwrap_or(Duration::from_secs(5));
    let mut open = false;
    for &port in ports {
        let end = Some(Instant::now() + wait);
        let mut s = dial(cfg, p, src, end)?;
        match handshake(&mut s, cfg, p, host, port, src, end) {
            Ok(()) => {
                open = true;
                if cfg.verbose > 0 {
                    crate::say!("{}", succeeded_line(host, port, cfg.numeric));
                }
            }
            Err(e) if ports.len() == 1 || cfg.verbose > 1 => crate::say!("rnc: {e:#}"),
            Err(_) => {}
        }
    }
    Ok(if open { 0 } else { 1 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_default_ports() {
        let s = |a, k| split_addr(a, k).unwrap();
        assert_eq!(s("p", Kind::Socks5), ("p".into(), 1080));
        assert_eq!(s("p", Kind::Http), ("p".into(), 3128));
        assert_eq!(s("p:8080", Kind::Http), ("p".into(), 8080));
        assert_eq!(s("[::1]", Kind::Socks4), ("::1".into(), 1080));
        assert_eq!(s("[::1]:9050", Kind::Socks5), ("::1".into(), 9050));
        assert_eq!(s("::1", Kind::Socks5), ("::1".into(), 1080));
        assert!(split_addr("[::1", Kind::Socks5).is_err());
        assert!(split_addr("p:0", Kind::Socks5).is_err());
        assert!(split_addr(":80", Kind::Socks5).is_err());
    }

    #[test]
    fn kinds_in_both_spellings() {
        assert_eq!(parse_kind("4").unwrap(), Kind::Socks4);
        assert_eq!(parse_kind("socks5").unwrap(), Kind::Socks5);
        assert_eq!(parse_kind("connect").unwrap(), Kind::Http);
        assert_eq!(parse_kind("HTTP").unwrap(), Kind::Http);
        assert!(
            format!("{:#}", parse_kind("6").unwrap_err()).starts_with("unsupported proxy protocol")
        );
    }

    #[test]
    fn auth_splits_at_the_first_colon() {
        let a = parse_auth("u:p:q");
        assert_eq!((a.user.as_str(), a.pass.as_str()), ("u", "p:q"));
        let a = parse_auth("u");
        assert_eq!((a.pass.as_str(), a.basic.as_str()), ("", "u"));
        assert!(!format!("{:?}", parse_auth("u:p:q")).contains("p:q"));
    }
}
