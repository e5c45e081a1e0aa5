//! nc.openbsd's socket flags: -T (TOS or traffic class), -I/-O (buffers), -M (TTL or
//! hop limit), -m (minimum TTL or hop count), -b (broadcast), -S (TCP MD5 signature)
//! and -V (routing table, which Linux lacks). Parsed with nc.openbsd's limits and
//! words, applied where each socket is created, in nc.openbsd's order.

use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;

use anyhow::{bail, Context, Result};
use socket2::Socket;

use crate::cli::Cli;

/// The largest -I/-O nc.openbsd takes (65536 << 14).
const MAX_WINDOW: u64 = 1 << 30;
/// Linux's TCP_MD5SIG_MAXKEYLEN.
const MD5_MAX_KEY: usize = 80;
/// Linux's TCP_MD5SIG_EXT and its prefix flag (linux/tcp.h).
const TCP_MD5SIG_EXT: libc::c_int = 32;
const TCP_MD5SIG_FLAG_PREFIX: u8 = 1;

/// The environment variable that gives -S its key without a terminal.
pub const MD5_ENV: &str = "RNC_MD5SIG_PASS";

#[derive(Debug, Clone, Copy, Default)]
pub struct Tune {
    /// `-T`: IP_TOS on IPv4, IPV6_TCLASS on IPv6.
    pub tos: Option<i32>,
    /// `-I`: SO_RCVBUF.
    pub rcvbuf: Option<i32>,
    /// `-O`: SO_SNDBUF.
    pub sndbuf: Option<i32>,
    /// `-M`: IP_TTL or IPV6_UNICAST_HOPS.
    pub ttl: Option<i32>,
    /// `-m`: IP_MINTTL or IPV6_MINHOPCOUNT.
    pub min_ttl: Option<i32>,
    /// `-b`: SO_BROADCAST.
    pub broadcast: bool,
    /// `-S`: the TCP MD5 key (RFC 2385) for the peer, or for any peer of a listener.
    pub md5: Option<Md5Key>,
}

/// A TCP MD5 key, at most 80 bytes, kept inline so that `Tune` stays `Copy`.
#[derive(Clone, Copy)]
pub struct Md5Key {
    len: usize,
    key: [u8; MD5_MAX_KEY],
}

impl std::fmt::Debug for Md5Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Md5Key(<secret>)")
    }
}

impl Tune {
    pub fn from_cli(cli: &Cli) -> Result<Tune> {
        if cli.rtable.is_some() {
            bail!("no alternate routing table support available");
        }
        let num = |v: &Option<String>, lo: u64, hi: u64, what: &str| -> Result<Option<i32>> {
            v.as_deref()
                .map(|s| bounded(s, lo, hi).map_err(|why| anyhow::anyhow!("{what} {why}: {s}")))
                .transpose()
        };
        let md5 = match cli.md5sig {
            true => Some(md5_key()?),
            false => None,
        };
        Ok(Tune {
            tos: cli.tos.as_deref().map(parse_tos).transpose()?,
            rcvbuf: num(&cli.rcvbuf, 1, MAX_WINDOW, "TCP receive window")?,
            sndbuf: num(&cli.sndbuf, 1, MAX_WINDOW, "TCP send window")?,
            ttl: ttl(&cli.ttl, "ttl")?,
            min_ttl: ttl(&cli.min_ttl, "minttl")?,
            broadcast: cli.broadcast,
            md5,
        })
    }

    /// Set every option asked for on a new socket, before bind and connect. `peer` is
    /// the address connected to (the MD5 key is for it), or `None` for a listener.
    pub fn apply(&self, sock: &Socket, v6: bool, peer: Option<&SocketAddr>) -> Result<()> {
        let fd = sock.as_raw_fd();
        if self.broadcast {
            set_int(fd, libc::SOL_SOCKET, libc::SO_BROADCAST, 1)
                .context("setsockopt SO_BROADCAST")?;
        }
        if let Some(t) = self.tos {
            match v6 {
                true => set_int(fd, libc::IPPROTO_IPV6, libc::IPV6_TCLASS, t),
                false => set_int(fd, libc::IPPROTO_IP, libc::IP_TOS, t),
            }
            .context("set IP ToS")?;
        }
        if let Some(n) = self.rcvbuf {
            set_int(fd, libc::SOL_SOCKET, libc::SO_RCVBUF, n)
                .context("set TCP receive buffer size")?;
        }
        if let Some(n) = self.sndbuf {
            set_int(fd, libc::SOL_SOCKET, libc::SO_SNDBUF, n)
                .context("set TCP send buffer size")?;
        }
        if let Some(t) = self.ttl {
            match v6 {
                true => set_int(fd, libc::IPPROTO_IPV6, libc::IPV6_UNICAST_HOPS, t),
                false => set_int(fd, libc::IPPROTO_IP, libc::IP_TTL, t),
            }
            .context("set IP TTL")?;
        }
        if let Some(t) = self.min_ttl {
            match v6 {
                true => set_int(fd, libc::IPPROTO_IPV6, libc::IPV6_MINHOPCOUNT, t),
                false => set_int(fd, libc::IPPROTO_IP, libc::IP_MINTTL, t),
            }
            .context("set IP min TTL")?;
        }
        if let Some(k) = &self.md5 {
            set_md5(fd, k, v6, peer).context("setsockopt TCP_MD5SIG_EXT")?;
        }
        Ok(())
    }
}

/// An integer in [lo, hi] with strtonum's words for the others.
fn bounded(s: &str, lo: u64, hi: u64) -> std::result::Result<i32, &'static str> {
    match s.parse::<i64>() {
        Ok(n) if n < lo as i64 => Err("too small"),
        Ok(n) if n > hi as i64 => Err("too large"),
        Ok(n) => Ok(n as i32),
        Err(_) => Err("invalid"),
    }
}

/// -M and -m: 0..255, with nc.openbsd's "ttl is too large".
fn ttl(v: &Option<String>, what: &str) -> Result<Option<i32>> {
    v.as_deref()
        .map(|s| bounded(s, 0, 255).map_err(|why| anyhow::anyhow!("{what} is {why}")))
        .transpose()
}

/// nc.openbsd's -T keywords, then 0x hex, then a decimal 0..255.
pub fn parse_tos(s: &str) -> Result<i32> {
    const WORDS: &[(&str, i32)] = &[
        ("af11", 0x28),
        ("af12", 0x30),
        ("af13", 0x38),
        ("af21", 0x48),
        ("af22", 0x50),
        ("af23", 0x58),
        ("af31", 0x68),
        ("af32", 0x70),
        ("af33", 0x78),
        ("af41", 0x88),
        ("af42", 0x90),
        ("af43", 0x98),
        ("critical", 0xa0),
        ("cs0", 0x00),
        ("cs1", 0x20),
        ("cs2", 0x40),
        ("cs3", 0x60),
        ("cs4", 0x80),
        ("cs5", 0xa0),
        ("cs6", 0xc0),
        ("cs7", 0xe0),
        ("ef", 0xb8),
        ("inetcontrol", 0xc0),
        ("lowcost", 0x02),
        ("lowdelay", 0x10),
        ("netcontrol", 0xe0),
        ("reliability", 0x04),
        ("throughput", 0x08),
    ];
    if let Some(&(_, v)) = WORDS.iter().find(|(w, _)| *w == s) {
        return Ok(v);
    }
    let n = match s.strip_prefix("0x") {
        Some(h) if !h.is_empty() => i64::from_str_radix(h, 16).ok(),
        _ => s.parse::<i64>().ok(),
    };
    match n {
        Some(n) if (0..=255).contains(&n) => Ok(n as i32),
        _ => bail!("illegal tos value {s}"),
    }
}

fn set_int(fd: i32, level: libc::c_int, name: libc::c_int, v: i32) -> io::Result<()> {
    // SAFETY: valid fd, pointer to a live c_int and its size.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&v as *const i32).cast(),
            std::mem::size_of::<i32>() as libc::socklen_t,
        )
    };
    match rc {
        0 => Ok(()),
        _ => Err(io::Error::last_os_error()),
    }
}

/// linux/tcp.h's struct tcp_md5sig.
#[repr(C)]
struct TcpMd5Sig {
    addr: libc::sockaddr_storage,
    flags: u8,
    prefixlen: u8,
    keylen: u16,
    ifindex: libc::c_int,
    key: [u8; MD5_MAX_KEY],
}

/// The key for the one peer connected to, or (a listener) for any peer of the family.
fn set_md5(fd: i32, k: &Md5Key, v6: bool, peer: Option<&SocketAddr>) -> io::Result<()> {
    // SAFETY: plain data, all zeroes is valid.
    let mut sig: TcpMd5Sig = unsafe { std::mem::zeroed() };
    match peer {
        Some(p) => {
            let sa = socket2::SockAddr::from(*p);
            // SAFETY: sa's bytes fit in sockaddr_storage.
            unsafe {
                std::ptr::copy_nonoverlapping(
                    sa.as_ptr().cast::<u8>(),
                    (&mut sig.addr as *mut libc::sockaddr_storage).cast::<u8>(),
                    sa.len() as usize,
                )
            };
        }
        None => {
            sig.addr.ss_family = if v6 { libc::AF_INET6 } else { libc::AF_INET } as _;
            sig.flags = TCP_MD5SIG_FLAG_PREFIX;
        }
    }
    sig.keylen = k.len as u16;
    sig.key = k.key;
    // SAFETY: valid fd and a live struct of the size given.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::IPPROTO_TCP,
            TCP_MD5SIG_EXT,
            (&sig as *const TcpMd5Sig).cast(),
            std::mem::size_of::<TcpMd5Sig>() as libc::socklen_t,
        )
    };
    match rc {
        0 => Ok(()),
        _ => Err(io::Error::last_os_error()),
    }
}

/// -S's key: from RNC_MD5SIG_PASS, else typed on the terminal as nc.openbsd asks.
fn md5_key() -> Result<Md5Key> {
    let pass = crate::secret::ask(MD5_ENV, "TCP MD5SIG password: ", "TCP MD5SIG password")?;
    let b = pass.as_bytes();
    if b.is_empty() || b.len() > MD5_MAX_KEY {
        bail!("TCP MD5SIG password must be 1 to {MD5_MAX_KEY} bytes");
    }
    let mut key = [0u8; MD5_MAX_KEY];
    key[..b.len()].copy_from_slice(b);
    Ok(Md5Key { len: b.len(), key })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tos_words_numbers_and_limits() {
        assert_eq!(parse_tos("lowdelay").unwrap(), 16);
        assert_eq!(parse_tos("af11").unwrap(), 40);
        assert_eq!(parse_tos("ef").unwrap(), 184);
        assert_eq!(parse_tos("0x2f").unwrap(), 47);
        assert_eq!(parse_tos("255").unwrap(), 255);
        assert_eq!(
            format!("{:#}", parse_tos("256").unwrap_err()),
            "illegal tos value 256"
        );
        assert!(parse_tos("foo").is_err());
        assert!(parse_tos("0x").is_err());
    }

    #[test]
    fn bounds_in_strtonum_words() {
        assert_eq!(bounded("0", 1, 10), Err("too small"));
        assert_eq!(bounded("11", 1, 10), Err("too large"));
        assert_eq!(bounded("x", 1, 10), Err("invalid"));
        assert_eq!(bounded("7", 1, 10), Ok(7));
    }
}
