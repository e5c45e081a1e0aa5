//! SOCKS4 (and 4a) and SOCKS5 (RFC 1928, with RFC 1929 username/password) CONNECT.
//! Refusals are reported in nc.openbsd's words.

use std::net::IpAddr;

use anyhow::{bail, Result};

use super::wire::Wire;
use super::{Auth, Target};

/// SOCKS4 CONNECT; a name target goes as SOCKS4a (address 0.0.0.1, then the name).
pub fn socks4(w: &mut Wire, target: &Target, port: u16, user: Option<&str>) -> Result<()> {
    let user = user.unwrap_or("");
    if user.contains('\0') || user.len() > 255 {
        bail!("proxy user name invalid for SOCKS4");
    }
    let mut req = vec![4, 1];
    req.extend_from_slice(&port.to_be_bytes());
    match target {
        Target::Ip(IpAddr::V4(a)) => req.extend_from_slice(&a.octets()),
        Target::Ip(IpAddr::V6(a)) => bail!("SOCKS4 cannot reach the IPv6 address {a}"),
        Target::Name(_) => req.extend_from_slice(&[0, 0, 0, 1]),
    }
    req.extend_from_slice(user.as_bytes());
    req.push(0);
    if let Target::Name(n) = target {
        req.extend_from_slice(n.as_bytes());
        req.push(0);
    }
    w.send(&req)?;
    let rep = w.recv(8)?;
    if rep[1] != 90 {
        bail!(
            "connection failed, SOCKSv4 error: {}",
            socks4_reason(rep[1])
        );
    }
    Ok(())
}

/// SOCKSv4 reply codes, in the words of the SOCKS4 protocol text (nc.openbsd's).
pub fn socks4_reason(code: u8) -> String {
    match code {
        91 => "Request rejected or failed".into(),
        92 => "SOCKS server cannot connect to identd on the client".into(),
        93 => "Client program and identd report different user-ids".into(),
        c => format!("Unknown error (reply code {c})"),
    }
}

const NO_AUTH: u8 = 0;
const USER_PASS: u8 = 2;
const NO_METHOD: u8 = 0xff;

/// SOCKS5 CONNECT, offering username/password only when there are credentials.
pub fn socks5(w: &mut Wire, target: &Target, port: u16, auth: Option<&Auth>) -> Result<()> {
    let greeting: &[u8] = match auth {
        Some(_) => &[5, 2, NO_AUTH, USER_PASS],
        None => &[5, 1, NO_AUTH],
    };
    w.send(greeting)?;
    let rep = w.recv(2)?;
    if rep[0] != 5 {
        bail!("proxy error: not a SOCKS5 server (version {})", rep[0]);
    }
    match (rep[1], auth) {
        (NO_AUTH, _) => {}
        (USER_PASS, Some(a)) => login(w, a)?,
        (USER_PASS, None) => bail!(
            "proxy error: the SOCKS5 server asks for a user name and password (-P or --proxy-auth)"
        ),
        (NO_METHOD, None) => bail!(
            "authentication method negotiation failed (the proxy may want -P or --proxy-auth)"
        ),
        (NO_METHOD, Some(_)) => bail!("authentication method negotiation failed"),
        (m, _) => bail!("authentication method negotiation failed (method {m:#04x})"),
    }
    w.send(&connect_request(target, port)?)?;
    let head = w.recv(4)?;
    if head[1] != 0 {
        bail!(
            "connection failed, SOCKSv5 error: {}",
            socks5_reason(head[1])
        );
    }
    // The bound address, whose length depends on its type; read and drop it.
    let rest = match head[3] {
        1 => 4 + 2,
        4 => 16 + 2,
        3 => usize::from(w.recv(1)?[0]) + 2,
        t => bail!("connection failed, unsupported address type ({t})"),
    };
    w.recv(rest)?;
    Ok(())
}

/// RFC 1929: version 1, user, password; status 0 is success.
fn login(w: &mut Wire, a: &Auth) -> Result<()> {
    if a.user.len() > 255 || a.pass.len() > 255 {
        bail!("proxy user name or password too long for SOCKS5 (255 bytes at most)");
    }
    let mut req = vec![1, a.user.len() as u8];
    req.extend_from_slice(a.user.as_bytes());
    req.push(a.pass.len() as u8);
    req.extend_from_slice(a.pass.as_bytes());
    w.send(&req)?;
    let rep = w.recv(2)?;
    if rep[1] != 0 {
        bail!("proxy authentication failed (SOCKS5 status {})", rep[1]);
    }
    Ok(())
}

fn connect_request(target: &Target, port: u16) -> Result<Vec<u8>> {
    let mut req = vec![5, 1, 0];
    match target {
        Target::Ip(IpAddr::V4(a)) => {
            req.push(1);
            req.extend_from_slice(&a.octets());
        }
        Target::Ip(IpAddr::V6(a)) => {
            req.push(4);
            req.extend_from_slice(&a.octets());
        }
        Target::Name(n) => {
            if n.len() > 255 {
                bail!("host name too long for SOCKS5");
            }
            req.push(3);
            req.push(n.len() as u8);
            req.extend_from_slice(n.as_bytes());
        }
    }
    req.extend_from_slice(&port.to_be_bytes());
    Ok(req)
}

/// SOCKSv5 reply codes, in RFC 1928's words (nc.openbsd's).
pub fn socks5_reason(code: u8) -> String {
    match code {
        1 => "General SOCKS server failure".into(),
        2 => "Connection not allowed by ruleset".into(),
        3 => "Network unreachable".into(),
        4 => "Host unreachable".into(),
        5 => "Connection refused".into(),
        6 => "TTL expired".into(),
        7 => "Command not supported".into(),
        8 => "Address type not supported".into(),
        c => format!("Unknown error (reply code {c:#04x})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_by_target_kind() {
        let v4 = connect_request(&Target::Ip("10.1.2.3".parse().unwrap()), 80).unwrap();
        assert_eq!(v4, [5, 1, 0, 1, 10, 1, 2, 3, 0, 80]);
        let name = connect_request(&Target::Name("ab".into()), 443).unwrap();
        assert_eq!(name, [5, 1, 0, 3, 2, b'a', b'b', 1, 187]);
        let v6 = connect_request(&Target::Ip("::1".parse().unwrap()), 1).unwrap();
        assert_eq!(v6.len(), 4 + 16 + 2);
        assert!(connect_request(&Target::Name("x".repeat(256)), 1).is_err());
    }

    #[test]
    fn every_reply_code_has_words() {
        for c in 0..=255u8 {
            assert!(!socks5_reason(c).is_empty());
            assert!(!socks4_reason(c).is_empty());
        }
        assert_eq!(socks5_reason(5), "Connection refused");
    }
}
