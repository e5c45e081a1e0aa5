//! HTTP CONNECT (RFC 9110 §9.3.6), with Basic or Digest (MD5) proxy authentication.
//! As ncat and nc.openbsd, the first request carries no credentials; a 407 answer names
//! the schemes the proxy takes, and the request is made again, on a new connection,
//! with the best of them.

use std::net::IpAddr;

use anyhow::{bail, Result};

use super::wire::Wire;
use super::{md5, Auth, Target};

/// Most header lines a proxy may send after its status line.
const MAX_HEADERS: usize = 64;

/// How a CONNECT request ended.
pub enum Reply {
    /// 2xx: the tunnel is open.
    Open,
    /// 407: the status line and the challenges of its Proxy-Authenticate headers.
    AuthWanted(String, Vec<Challenge>),
}

/// Send CONNECT (with `authorization`, a header value, if any) and read the answer.
pub fn connect(
    w: &mut Wire,
    target: &Target,
    port: u16,
    authorization: Option<&str>,
) -> Result<Reply> {
    w.send(request(target, port, authorization)?.as_bytes())?;
    let status = w.line()?;
    let code = status_code(&status);
    let mut challenges = Vec::new();
    for _ in 0..MAX_HEADERS {
        let line = w.line()?;
        if line.is_empty() {
            return match code {
                Some(200..=299) => Ok(Reply::Open),
                Some(407) => Ok(Reply::AuthWanted(status, challenges)),
                _ => bail!("Proxy error: \"{status}\""),
            };
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.trim().eq_ignore_ascii_case("proxy-authenticate") {
                challenges.extend(parse_challenges(value));
            }
        }
    }
    bail!("Too many proxy headers received")
}

/// The target as the request line and Host header name it.
pub fn authority(target: &Target, port: u16) -> Result<String> {
    Ok(match target {
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
    })
}

fn request(target: &Target, port: u16, authorization: Option<&str>) -> Result<String> {
    let authority = authority(target, port)?;
    let mut req = format!("CONNECT {authority} HTTP/1.0\r\nHost: {authority}\r\n");
    if let Some(a) = authorization {
        req.push_str(&format!("Proxy-Authorization: {a}\r\n"));
    }
    req.push_str("\r\n");
    Ok(req)
}

/// One challenge of a Proxy-Authenticate header: a scheme and its parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub scheme: String,
    pub params: Vec<(String, String)>,
}

impl Challenge {
    fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// `Basic realm="r", NTLM, Digest realm="r", nonce="n"` → three challenges. A token
/// followed by `=` is a parameter of the challenge before it; any other starts one.
pub fn parse_challenges(v: &str) -> Vec<Challenge> {
    let b = v.as_bytes();
    let mut out: Vec<Challenge> = Vec::new();
    let mut i = 0;
    let skip = |i: &mut usize| {
        while *i < b.len() && (b[*i] == b' ' || b[*i] == b'\t' || b[*i] == b',') {
            *i += 1;
        }
    };
    loop {
        skip(&mut i);
        let start = i;
        while i < b.len() && !b" \t,=".contains(&b[i]) {
            i += 1;
        }
        if start == i {
            if i < b.len() {
                i += 1; // a stray '=': step over it
                continue;
            }
            return out;
        }
        let token = v[start..i].to_string();
        let mut j = i;
        while j < b.len() && (b[j] == b' ' || b[j] == b'\t') {
            j += 1;
        }
        if j < b.len() && b[j] == b'=' && !out.is_empty() {
            let (value, next) = param_value(v, j + 1);
            i = next;
            if let Some(c) = out.last_mut() {
                c.params.push((token, value));
            }
        } else {
            out.push(Challenge {
                scheme: token,
                params: Vec::new(),
            });
        }
    }
}

/// A parameter value from `at`: a quoted string (with \ escapes) or a token.
fn param_value(v: &str, mut at: usize) -> (String, usize) {
    let b = v.as_bytes();
    while at < b.len() && (b[at] == b' ' || b[at] == b'\t') {
        at += 1;
    }
    let mut out = Vec::new();
    if at < b.len() && b[at] == b'"' {
        at += 1;
        while at < b.len() && b[at] != b'"' {
            if b[at] == b'\\' && at + 1 < b.len() {
                at += 1;
            }
            out.push(b[at]);
            at += 1;
        }
        return (String::from_utf8_lossy(&out).into_owned(), at + 1);
    }
    let start = at;
    while at < b.len() && b[at] != b',' && b[at] != b' ' && b[at] != b'\t' {
        at += 1;
    }
    (v[start..at].to_string(), at)
}

/// The Proxy-Authorization value for the best challenge rnc can answer: Digest with MD5
/// over Basic (as ncat prefers it), or None when none is Basic or Digest.
pub fn authorization(challenges: &[Challenge], auth: &Auth, uri: &str) -> Option<String> {
    let digest = challenges.iter().find(|c| {
        c.scheme.eq_ignore_ascii_case("digest")
            && c.param("nonce").is_some()
            && c.param("algorithm")
                .is_none_or(|a| a.eq_ignore_ascii_case("md5"))
    });
    if let Some(c) = digest {
        return Some(digest_answer(c, auth, uri, &cnonce()));
    }
    challenges
        .iter()
        .any(|c| c.scheme.eq_ignore_ascii_case("basic"))
        .then(|| format!("Basic {}", base64(auth.basic.as_bytes())))
}

/// RFC 7616 with MD5: qop=auth when the proxy offers it, else the RFC 2069 form.
fn digest_answer(c: &Challenge, auth: &Auth, uri: &str, cnonce: &str) -> String {
    let realm = c.param("realm").unwrap_or("");
    let nonce = c.param("nonce").unwrap_or("");
    let ha1 = md5::hex(format!("{}:{realm}:{}", auth.user, auth.pass).as_bytes());
    let ha2 = md5::hex(format!("CONNECT:{uri}").as_bytes());
    let qop_auth = c
        .param("qop")
        .is_some_and(|q| q.split(',').any(|q| q.trim().eq_ignore_ascii_case("auth")));
    let quote = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
    let mut h = format!(
        "Digest username=\"{}\", realm=\"{}\", nonce=\"{}\", uri=\"{}\", algorithm=MD5",
        quote(&auth.user),
        quote(realm),
        quote(nonce),
        quote(uri)
    );
    let response = if qop_auth {
        let nc = "00000001";
        h.push_str(&format!(", qop=auth, nc={nc}, cnonce=\"{cnonce}\""));
        md5::hex(format!("{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}").as_bytes())
    } else {
        md5::hex(format!("{ha1}:{nonce}:{ha2}").as_bytes())
    };
    h.push_str(&format!(", response=\"{response}\""));
    if let Some(o) = c.param("opaque") {
        h.push_str(&format!(", opaque=\"{}\"", quote(o)));
    }
    h
}

/// A client nonce: 16 random bytes in hex.
fn cnonce() -> String {
    let mut b = [0u8; 16];
    // SAFETY: getrandom writes at most b.len() bytes into b.
    let n = unsafe { libc::getrandom(b.as_mut_ptr().cast(), b.len(), 0) };
    if n != b.len() as isize {
        // No entropy source: the time still makes it unique enough for a nonce.
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        b.copy_from_slice(&t.to_le_bytes());
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
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
        let r = request(&Target::Name("h".into()), 1, Some("Basic dTpw")).unwrap();
        assert!(r.contains("Proxy-Authorization: Basic dTpw\r\n"));
        assert!(request(&Target::Name("a b".into()), 1, None).is_err());
    }

    fn auth() -> Auth {
        Auth {
            user: "u".into(),
            pass: "p".into(),
            basic: "u:p".into(),
        }
    }

    #[test]
    fn challenges_in_one_header_or_several() {
        let c =
            parse_challenges(r#"Basic realm="r", NTLM, Digest realm="r", nonce="n", qop="auth""#);
        let schemes: Vec<&str> = c.iter().map(|c| c.scheme.as_str()).collect();
        assert_eq!(schemes, ["Basic", "NTLM", "Digest"]);
        assert_eq!(c[2].param("nonce"), Some("n"));
        assert_eq!(c[2].param("qop"), Some("auth"));
        assert!(parse_challenges("").is_empty());
        assert_eq!(parse_challenges("Negotiate")[0].scheme, "Negotiate");
    }

    #[test]
    fn digest_is_preferred_and_basic_is_the_fallback() {
        let both = parse_challenges(r#"Basic realm="r", Digest realm="r", nonce="n""#);
        assert!(authorization(&both, &auth(), "h:1")
            .unwrap()
            .starts_with("Digest "));
        let basic = parse_challenges(r#"Basic realm="r""#);
        assert_eq!(authorization(&basic, &auth(), "h:1").unwrap(), "Basic dTpw");
        assert!(authorization(&parse_challenges("NTLM"), &auth(), "h:1").is_none());
    }

    #[test]
    fn digest_answer_matches_rfc_2617_example() {
        // RFC 2617 §3.5, with its method and URI.
        let c = Challenge {
            scheme: "Digest".into(),
            params: vec![
                ("realm".into(), "testrealm@host.com".into()),
                ("qop".into(), "auth,auth-int".into()),
                ("nonce".into(), "dcd98b7102dd2f0e8b11d0f600bfb0c093".into()),
                ("opaque".into(), "5ccc069c403ebaf9f0171e9517f40e41".into()),
            ],
        };
        let a = Auth {
            user: "Mufasa".into(),
            pass: "Circle Of Life".into(),
            basic: String::new(),
        };
        let ha1 = md5::hex(b"Mufasa:testrealm@host.com:Circle Of Life");
        let ha2 = md5::hex(b"GET:/dir/index.html");
        let want = md5::hex(
            format!("{ha1}:dcd98b7102dd2f0e8b11d0f600bfb0c093:00000001:0a4f113b:auth:{ha2}")
                .as_bytes(),
        );
        assert_eq!(want, "6629fae49393a05397450978507c4ef1");
        let h = digest_answer(&c, &a, "h:1", "0a4f113b");
        assert!(
            h.contains("qop=auth, nc=00000001, cnonce=\"0a4f113b\""),
            "{h}"
        );
        assert!(
            h.contains("opaque=\"5ccc069c403ebaf9f0171e9517f40e41\""),
            "{h}"
        );
    }

    #[test]
    fn status_codes() {
        assert_eq!(status_code("HTTP/1.1 200 Go ahead"), Some(200));
        assert_eq!(status_code("HTTP/1.0 407 Auth"), Some(407));
        assert_eq!(status_code("SSH-2.0-x"), None);
    }
}
