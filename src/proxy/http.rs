//! HTTP CONNECT (RFC 9110 §9.3.6) with Basic authentication.

use std::net::IpAddr;

use anyhow::{bail, Result};

use super::wire::Wire;
use super::{Auth, Target};

/// Most header lines a proxy may send after its status line.
const MAX_HEADERS: usize = 64;

pub fn connect(w: &mut Wire, target: &Target, port: u16, auth: Option<&Auth>) -> Result<()> {
    w.send(request(target, port, auth)?.as_bytes())?;
    let status = w.line()?;
    let code = status_code(&status);
    for _ in 0..MAX_HEADERS {
        if w.line()?.is_empty() {
            return match code {
                Some(200..=299) => Ok(()),
                Some(407) if auth.is_some() => bail!("proxy authentication failed: \"{status}\""),
                _ => bail!("Proxy error: \"{status}\""),
            };
        }
    }
    bail!("Too many proxy headers received")
}

fn request(target: &Target, port: u16, auth: Option<&Auth>) -> Result<String> {
    let authority = match target {
        Target::Ip(IpAddr::V6(a)) => format!("[{a}]:{port}"),
        Target::Ip(a) => format!("{a}:{port}"),
        Target::Name(n) => {
            if n.bytes()
                .any(|b| b.is_ascii_whitespace() || b"[]/@".contains(&b) || b < 0x20)
            {
                bail!("Invalid hostname: {n}");
            }
            format!("{n}:{port}")
        }
    };
    let mut req = format!("CONNECT {authority} HTTP/1.0\r\nHost: {authority}\r\n");
    if let Some(a) = auth {
        let cred = base64(format!("{}:{}", a.user, a.pass).as_bytes());
        req.push_str(&format!("Proxy-Authorization: Basic {cred}\r\n"));
    }
    req.push_str("\r\n");
    Ok(req)
}

/// `HTTP/1.1 200 Connection established` → 200.
fn status_code(line: &str) -> Option<u16> {
    let mut words = line.split_whitespace();
    if !words.next()?.starts_with("HTTP/") {
        return None;
    }
    words.next()?.parse().ok()
}

/// RFC 4648 base64 with padding, for the Basic credentials.
pub(super) fn base64(data: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ABC[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(i.as_bytes()), o);
        }
    }

    #[test]
    fn request_brackets_ipv6_and_refuses_odd_names() {
        let r = request(&Target::Ip("::1".parse().unwrap()), 22, None).unwrap();
        assert!(r.starts_with("CONNECT [::1]:22 HTTP/1.0\r\nHost: [::1]:22\r\n"));
        let a = Auth {
            user: "u".into(),
            pass: "p".into(),
        };
        let r = request(&Target::Name("h".into()), 1, Some(&a)).unwrap();
        assert!(r.contains("Proxy-Authorization: Basic dTpw\r\n"));
        assert!(request(&Target::Name("a b".into()), 1, None).is_err());
    }

    #[test]
    fn status_codes() {
        assert_eq!(status_code("HTTP/1.1 200 Go ahead"), Some(200));
        assert_eq!(status_code("HTTP/1.0 407 Auth"), Some(407));
        assert_eq!(status_code("SSH-2.0-x"), None);
    }
}
