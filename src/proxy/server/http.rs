//! An HTTP/1.x proxy from the server's side, as ncat's: CONNECT opens a tunnel; GET,
//! HEAD and POST with an absolute `http://` URI are passed on once, with the head
//! rewritten (origin-form target, hop-by-hop fields dropped, `Connection: close`),
//! and the answer streams back until the server closes. Other methods get 405.

use std::net::IpAddr;

use super::{digest, refuse, Failure, Host, Request, Step, MAX_REQUEST};
use crate::proxy::http::base64;
use crate::proxy::Auth;

/// The longest request line that gets 413 rather than 414 when the head is too long.
const MAX_LINE: usize = 8 * 1024;

/// Fields that concern one connection only (RFC 9110 §7.6.1), never passed on.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authorization",
    "proxy-authenticate",
    "te",
    "trailer",
    "upgrade",
];

pub fn status(code: u16, extra: Option<&str>) -> Vec<u8> {
    let reason = match code {
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        405 => "Method Not Allowed",
        407 => "Proxy Authentication Required",
        411 => "Length Required",
        413 => "Request Entity Too Large",
        414 => "Request-URI Too Long",
        502 => "Bad Gateway",
        504 => "Gateway Timeout",
        _ => "Error",
    };
    let extra = extra.unwrap_or("");
    format!("HTTP/1.0 {code} {reason}\r\n{extra}\r\n").into_bytes()
}

fn reject(code: u16, why: impl Into<String>) -> Step {
    refuse(status(code, None), why)
}

/// The reply to a target that could not be reached (ncat says 504 for all of them;
/// a refused or unreachable target is a bad gateway).
pub fn failure(f: Failure) -> Vec<u8> {
    match f {
        Failure::Refused | Failure::NetUnreachable | Failure::HostUnreachable => status(502, None),
        Failure::Loop => status(403, None),
        Failure::NoAddress | Failure::TimedOut | Failure::Other => status(504, None),
    }
}

/// The head outgrew its bound: 414 if the request line alone did.
pub fn too_long(buf: &[u8]) -> Step {
    let line_done = buf.iter().take(MAX_LINE).any(|&b| b == b'\n');
    match line_done {
        true => reject(413, format!("request head longer than {MAX_REQUEST} bytes")),
        false => reject(414, format!("request line longer than {MAX_LINE} bytes")),
    }
}

/// Where the head ends (after its empty line), if it has.
fn head_end(buf: &[u8]) -> Option<usize> {
    let mut i = 0;
    while let Some(n) = buf[i..].iter().position(|&b| b == b'\n') {
        let line = &buf[i..i + n];
        i += n + 1;
        if line.is_empty() || line == b"\r" {
            return Some(i);
        }
    }
    None
}

/// The head as lines without their ends, folded lines (LWS) joined.
fn lines(head: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(head);
    let mut out: Vec<String> = Vec::new();
    for l in text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l)) {
        let folded = out.len() > 1 && l.starts_with([' ', '\t']);
        match out.last_mut() {
            Some(prev) if folded => {
                prev.push(' ');
                prev.push_str(l.trim());
            }
            _ if l.is_empty() => {}
            _ => out.push(l.to_string()),
        }
    }
    out
}

/// `name: value` pairs, the value trimmed.
fn fields(lines: &[String]) -> Vec<(String, String)> {
    lines
        .iter()
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect()
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

pub fn request(buf: &mut Vec<u8>, auth: Option<&Auth>, eof: bool) -> Step {
    let Some(end) = head_end(buf) else {
        return Step::Need;
    };
    let lines = lines(&buf[..end]);
    let Some(first) = lines.first() else {
        return reject(400, "empty request");
    };
    let words: Vec<&str> = first.split_whitespace().collect();
    let [method, target, version] = words[..] else {
        return reject(400, format!("bad request line \"{first}\""));
    };
    if !version.starts_with("HTTP/") {
        return reject(400, format!("bad request line \"{first}\""));
    }
    let fields = fields(&lines[1..]);
    if let Some(a) = auth {
        if !authorized(field(&fields, "Proxy-Authorization"), method, a) {
            let challenge = format!(
                "Proxy-Authenticate: Basic realm=\"{}\"\r\n{}",
                digest::REALM,
                digest::challenge()
            );
            return refuse(status(407, Some(&challenge)), "proxy authentication failed");
        }
    }
    if method == "CONNECT" {
        return match authority(target) {
            Some((host, port)) => {
                buf.drain(..end);
                Step::Connect(Request {
                    host,
                    port,
                    forward: None,
                    more: 0,
                })
            }
            None => reject(400, format!("bad CONNECT target \"{target}\"")),
        };
    }
    if !["GET", "HEAD", "POST"].contains(&method) {
        return reject(405, format!("method {method} not supported"));
    }
    forward(buf, end, (method, target, version), &fields, eof)
}

/// `Basic <base64 of user:pass>` (the scheme in any case, nothing after the token),
/// or `Digest ...` with the response for this method.
fn authorized(value: Option<&str>, method: &str, a: &Auth) -> bool {
    let Some(v) = value else {
        return false;
    };
    if let Some((scheme, rest)) = v.split_once(char::is_whitespace) {
        if scheme.eq_ignore_ascii_case("digest") {
            return digest::verify(rest, method, a);
        }
    }
    let words: Vec<&str> = v.split_whitespace().collect();
    match words[..] {
        [scheme, token] if scheme.eq_ignore_ascii_case("basic") => {
            token == base64(format!("{}:{}", a.user, a.pass).as_bytes())
        }
        _ => false,
    }
}

/// `host:port`, `[v6]:port`; the port is required.
fn authority(s: &str) -> Option<(Host, u16)> {
    let (host, port) = match s.strip_prefix('[') {
        Some(rest) => {
            let (h, p) = rest.split_once("]:")?;
            (Host::Ip(IpAddr::V6(h.parse().ok()?)), p)
        }
        None => {
            let (h, p) = s.rsplit_once(':')?;
            if h.is_empty() || h.contains(':') {
                return None;
            }
            let host = match h.parse::<IpAddr>() {
                Ok(ip) => Host::Ip(ip),
                Err(_) => Host::Name(h.to_string()),
            };
            (host, p)
        }
    };
    let port: u16 = port.parse().ok().filter(|&p| p != 0)?;
    Some((host, port))
}

/// `http://authority[/path]` → the authority (port 80 by default) and the path.
fn absolute(uri: &str) -> Option<(Host, u16, String)> {
    let scheme = uri.get(..7)?;
    if !scheme.eq_ignore_ascii_case("http://") {
        return None;
    }
    let rest = &uri[7..];
    let (auth, path) = match rest.find(['/', '?']) {
        Some(i) => (&rest[..i], rest[i..].to_string()),
        None => (rest, "/".to_string()),
    };
    let path = match path.starts_with('?') {
        true => format!("/{path}"),
        false => path,
    };
    let with_port = match auth.ends_with(']') || !auth.contains(':') {
        true => format!("{auth}:80"),
        false => auth.to_string(),
    };
    let (host, port) = authority(&with_port)?;
    Some((host, port, path))
}

/// GET, HEAD, POST: the request rewritten for the origin server, with its body.
fn forward(
    buf: &mut Vec<u8>,
    end: usize,
    (method, target, version): (&str, &str, &str),
    fields: &[(String, String)],
    eof: bool,
) -> Step {
    let Some((host, port, path)) = absolute(target) else {
        return reject(400, format!("not an absolute http:// URI: \"{target}\""));
    };
    if field(fields, "Transfer-Encoding").is_some() {
        return reject(411, "chunked request bodies are not passed on");
    }
    let length = match field(fields, "Content-Length").map(str::parse::<u64>) {
        None => 0,
        Some(Ok(n)) => n,
        Some(Err(_)) => return reject(400, "bad Content-Length"),
    };
    // What came of the body goes with the head; the rest follows as it comes (none
    // once the client has closed).
    let have = (buf.len() - end) as u64;
    let now = length.min(have);
    let more = if eof { 0 } else { length - now };
    // Fields named in Connection are hop-by-hop too.
    let named: Vec<String> = fields
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("connection"))
        .flat_map(|(_, v)| v.split(',').map(|t| t.trim().to_ascii_lowercase()))
        .collect();
    let mut head = format!("{method} {path} {version}\r\n");
    for (n, v) in fields {
        let lower = n.to_ascii_lowercase();
        if !HOP_BY_HOP.contains(&lower.as_str()) && !named.contains(&lower) {
            head.push_str(&format!("{n}: {v}\r\n"));
        }
    }
    if field(fields, "Host").is_none() {
        head.push_str(&format!("Host: {host}:{port}\r\n"));
    }
    head.push_str("Connection: close\r\n\r\n");
    let mut out = head.into_bytes();
    out.extend_from_slice(&buf[end..end + now as usize]);
    buf.clear();
    Step::Connect(Request {
        host,
        port,
        forward: Some(out),
        more,
    })
}
