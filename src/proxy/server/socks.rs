//! SOCKS4/4a and SOCKS5 (RFC 1928, with RFC 1929 user/password) from the server's
//! side: CONNECT only; BIND and UDP ASSOCIATE get "command not supported".

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::{refuse, Failure, Host, Request, Step};
use crate::proxy::Auth;

const NO_AUTH: u8 = 0x00;
const USER_PASS: u8 = 0x02;
const NO_METHOD: u8 = 0xff;

/// SOCKS5 reply codes (RFC 1928 §6).
const GENERAL: u8 = 0x01;
const NET_UNREACHABLE: u8 = 0x03;
const HOST_UNREACHABLE: u8 = 0x04;
const REFUSED: u8 = 0x05;
const TTL_EXPIRED: u8 = 0x06;
const BAD_COMMAND: u8 = 0x07;
const BAD_ADDRESS: u8 = 0x08;

/// The client's methods: VER NMETHODS METHODS...
pub fn greeting(buf: &mut Vec<u8>, auth: Option<&Auth>) -> Step {
    let [ver, n, ..] = buf[..] else {
        return Step::Need;
    };
    if ver != 5 {
        return refuse(Vec::new(), format!("not a SOCKS5 greeting (version {ver})"));
    }
    let end = 2 + usize::from(n);
    if buf.len() < end {
        return Step::Need;
    }
    let want = match auth {
        Some(_) => USER_PASS,
        None => NO_AUTH,
    };
    let offered = buf[2..end].contains(&want);
    buf.drain(..end);
    match offered {
        true => Step::Reply(vec![5, want]),
        false if auth.is_some() => refuse(vec![5, NO_METHOD], "no user/password method offered"),
        false => refuse(
            vec![5, NO_METHOD],
            "no method without authentication offered",
        ),
    }
}

/// RFC 1929: VER=1 ULEN UNAME PLEN PASSWD.
pub fn login(buf: &mut Vec<u8>, auth: Option<&Auth>) -> Step {
    let [ver, ulen, ..] = buf[..] else {
        return Step::Need;
    };
    if ver != 1 {
        return refuse(vec![1, 1], format!("bad user/password version {ver}"));
    }
    let u_end = 2 + usize::from(ulen);
    let Some(&plen) = buf.get(u_end) else {
        return Step::Need;
    };
    let end = u_end + 1 + usize::from(plen);
    if buf.len() < end {
        return Step::Need;
    }
    let (user, pass) = (&buf[2..u_end], &buf[u_end + 1..end]);
    let ok = auth.is_some_and(|a| a.user.as_bytes() == user && a.pass.as_bytes() == pass);
    let who = String::from_utf8_lossy(user).into_owned();
    buf.drain(..end);
    match ok {
        true => Step::Reply(vec![1, 0]),
        false => refuse(
            vec![1, 1],
            format!("authentication failed for user \"{who}\""),
        ),
    }
}

/// VER CMD RSV ATYP DST.ADDR DST.PORT
pub fn request5(buf: &mut Vec<u8>) -> Step {
    let [ver, cmd, _, atyp, ..] = buf[..] else {
        return Step::Need;
    };
    if ver != 5 {
        return refuse(reply5(GENERAL, None), format!("bad request version {ver}"));
    }
    let (host, at) = match atyp {
        1 if buf.len() >= 8 => {
            let ip: [u8; 4] = buf[4..8].try_into().unwrap_or_default();
            (Host::Ip(IpAddr::from(ip)), 8)
        }
        4 if buf.len() >= 20 => {
            let ip: [u8; 16] = buf[4..20].try_into().unwrap_or_default();
            (Host::Ip(IpAddr::from(Ipv6Addr::from(ip))), 20)
        }
        3 if buf.len() > 4 && buf.len() >= 5 + usize::from(buf[4]) => {
            let end = 5 + usize::from(buf[4]);
            let name = String::from_utf8_lossy(&buf[5..end]).into_owned();
            (Host::Name(name), end)
        }
        1 | 3 | 4 => return Step::Need,
        _ => {
            return refuse(
                reply5(BAD_ADDRESS, None),
                format!("address type {atyp} not supported"),
            )
        }
    };
    if buf.len() < at + 2 {
        return Step::Need;
    }
    let port = u16::from_be_bytes([buf[at], buf[at + 1]]);
    buf.drain(..at + 2);
    match cmd {
        1 => connect_to(host, port),
        2 => refuse(reply5(BAD_COMMAND, None), "BIND not supported"),
        3 => refuse(reply5(BAD_COMMAND, None), "UDP ASSOCIATE not supported"),
        _ => refuse(
            reply5(BAD_COMMAND, None),
            format!("command {cmd} not supported"),
        ),
    }
}

fn connect_to(host: Host, port: u16) -> Step {
    Step::Connect(Request {
        host,
        port,
        forward: None,
        more: 0,
    })
}

/// VN=4 CD DSTPORT DSTIP USERID NUL [HOST NUL] (the host for 4a: DSTIP 0.0.0.x).
pub fn request4(buf: &mut Vec<u8>, auth: Option<&Auth>) -> Step {
    let [ver, cmd, p0, p1, a, b, c, d, ..] = buf[..] else {
        return Step::Need;
    };
    if ver != 4 {
        return refuse(Vec::new(), format!("not a SOCKS4 request (version {ver})"));
    }
    let Some(u_len) = buf[8..].iter().position(|&x| x == 0) else {
        return Step::Need;
    };
    let user = String::from_utf8_lossy(&buf[8..8 + u_len]).into_owned();
    let mut end = 8 + u_len + 1;
    let ip = Ipv4Addr::new(a, b, c, d);
    let host = match (a, b, c, d) {
        (0, 0, 0, x) if x != 0 => {
            let Some(h_len) = buf[end..].iter().position(|&x| x == 0) else {
                return Step::Need;
            };
            let name = String::from_utf8_lossy(&buf[end..end + h_len]).into_owned();
            end += h_len + 1;
            Host::Name(name)
        }
        _ => Host::Ip(IpAddr::V4(ip)),
    };
    buf.drain(..end);
    if let Some(a) = auth {
        if a.user != user {
            return refuse(reply4(0x5d, None), format!("user id \"{user}\" refused"));
        }
    }
    match cmd {
        1 => connect_to(host, u16::from_be_bytes([p0, p1])),
        _ => refuse(reply4(0x5b, None), format!("command {cmd} not supported")),
    }
}

/// VER REP RSV ATYP BND.ADDR BND.PORT
pub fn reply5(code: u8, bound: Option<SocketAddr>) -> Vec<u8> {
    let bound = bound.unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)));
    let mut r = vec![5, code, 0];
    match bound.ip() {
        IpAddr::V4(a) => {
            r.push(1);
            r.extend_from_slice(&a.octets());
        }
        IpAddr::V6(a) => {
            r.push(4);
            r.extend_from_slice(&a.octets());
        }
    }
    r.extend_from_slice(&bound.port().to_be_bytes());
    r
}

/// VN=0 CD DSTPORT DSTIP
pub fn reply4(code: u8, bound: Option<SocketAddr>) -> Vec<u8> {
    let (ip, port) = match bound {
        Some(SocketAddr::V4(a)) => (a.ip().octets(), a.port()),
        _ => ([0; 4], 0),
    };
    let mut r = vec![0, code];
    r.extend_from_slice(&port.to_be_bytes());
    r.extend_from_slice(&ip);
    r
}

/// The SOCKS5 reply code for a failed connect.
pub fn code5(f: Failure) -> u8 {
    match f {
        Failure::Refused => REFUSED,
        Failure::NetUnreachable => NET_UNREACHABLE,
        Failure::HostUnreachable | Failure::NoAddress => HOST_UNREACHABLE,
        Failure::TimedOut => TTL_EXPIRED,
        Failure::Loop | Failure::Other => GENERAL,
    }
}
