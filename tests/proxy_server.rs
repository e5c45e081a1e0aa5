//! The proxy server (`-l --proxy-type socks5|socks4|http`): rnc's own proxy client and
//! real third-party clients (curl, nc.openbsd, ncat) through it to std::net targets;
//! the refusals (authentication, BIND, UDP ASSOCIATE, unreachable targets), the -v
//! lines, --max-conns and --allow/--deny.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::thread;
use std::time::Duration;

use crate::util::*;

/// `rnc -v -n -l --proxy-type KIND EXTRA... 127.0.0.1 0`, and its port.
fn proxy(kind: &str, extra: &[&str]) -> (Rnc, u16) {
    let mut a = vec!["--proxy-type", kind];
    a.extend_from_slice(extra);
    listener(&a)
}

/// The same without -n: names in requests are looked up.
fn proxy_resolving(kind: &str, extra: &[&str]) -> (Rnc, u16) {
    let mut a = vec!["-v", "-l", "--proxy-type", kind];
    a.extend_from_slice(extra);
    a.extend_from_slice(&["127.0.0.1", "0"]);
    let mut r = rnc(a).spawn();
    let port = r.listen_port();
    (r, port)
}

/// Whether `prog` is on PATH; if not, a loud SKIP line.
fn have(prog: &str) -> bool {
    let path = std::env::var_os("PATH").unwrap_or_default();
    if std::env::split_paths(&path).any(|d| d.join(prog).is_file()) {
        return true;
    }
    eprintln!("SKIP: {prog} is not installed; install it to run this test");
    false
}

/// The peer accepted through the tunnel: bytes both ways.
fn echo_once(target: &TcpListener, client: &mut impl ReadWrite) {
    let mut s = accept(target, SECS10);
    client.put(b"ping\n");
    assert_eq!(read_n(&mut s, 5), b"ping\n");
    s.write_all(b"pong\n").unwrap();
    assert_eq!(client.get(5), b"pong\n");
}

/// A client's two directions, whether a socket or a child's stdio.
trait ReadWrite {
    fn put(&mut self, b: &[u8]);
    fn get(&mut self, n: usize) -> Vec<u8>;
}

impl ReadWrite for TcpStream {
    fn put(&mut self, b: &[u8]) {
        self.write_all(b).unwrap();
    }
    fn get(&mut self, n: usize) -> Vec<u8> {
        read_n(self, n)
    }
}

impl ReadWrite for Rnc {
    fn put(&mut self, b: &[u8]) {
        self.send(b);
    }
    fn get(&mut self, n: usize) -> Vec<u8> {
        self.read_out(n, SECS10)
    }
}

/// A raw client of the proxy that has sent `hello` and read `n` reply bytes.
fn raw(port: u16, hello: &[u8], n: usize) -> (TcpStream, Vec<u8>) {
    let mut s = connect(port);
    s.write_all(hello).unwrap();
    let r = read_n(&mut s, n);
    (s, r)
}

/// A SOCKS5 greeting (no authentication) and CONNECT to 127.0.0.1:target.
fn socks5_connect(target: u16) -> Vec<u8> {
    let mut r = vec![5, 1, 0, 5, 1, 0, 1, 127, 0, 0, 1];
    r.extend_from_slice(&target.to_be_bytes());
    r
}

#[test]
fn rnc_client_through_rnc_server_each_protocol_with_and_without_auth() {
    for (kind, x, auth) in [
        ("socks5", "5", None),
        ("socks5", "5", Some("bob:s3cret")),
        ("socks4", "4", None),
        ("socks4", "4", Some("bob:")),
        ("http", "connect", None),
        ("http", "connect", Some("bob:s3cret")),
    ] {
        let server_auth: Vec<&str> = auth.map(|a| vec!["--proxy-auth", a]).unwrap_or_default();
        let (mut p, port) = proxy(kind, &server_auth);
        let (l, tport) = peer_listener();
        let xaddr = format!("127.0.0.1:{port}");
        let mut args = vec!["-x", &xaddr, "-X", x];
        let a;
        if let Some(au) = auth {
            a = au.to_string();
            args.extend_from_slice(&["--proxy-auth", &a]);
        }
        let tp = tport.to_string();
        args.extend_from_slice(&["127.0.0.1", &tp]);
        let mut c = rnc(&args).spawn();
        echo_once(&l, &mut c);
        c.close_stdin();
        drop(c);
        let line = p.wait_err("rnc: tunnel", SECS10);
        assert!(
            line.contains(&format!(
                "-> 127.0.0.1:{tport} closed: 5 bytes up, 5 bytes down"
            )),
            "{kind}: {line}"
        );
    }
}

#[test]
fn socks5_domain_and_ipv6_targets() {
    let (l, tport) = peer_listener();
    let mut req = vec![5, 1, 0, 5, 1, 0, 3, 9];
    req.extend_from_slice(b"localhost");
    req.extend_from_slice(&tport.to_be_bytes());
    // -n: no names looked up, so the host is unreachable (0x04).
    let (_p, port) = proxy("socks5", &[]);
    let (_s, r) = raw(port, &req, 2 + 10);
    assert_eq!(r[..4], [5, 0, 5, 4], "-n refuses names");
    let (_p, port) = proxy_resolving("socks5", &[]);
    let (mut s, r) = raw(port, &req, 2 + 10);
    assert_eq!(r[..4], [5, 0, 5, 0], "method and success");
    echo_once(&l, &mut s);
    // IPv6, when the machine has ::1.
    let Ok(l6) = TcpListener::bind("[::1]:0") else {
        eprintln!("SKIP: no ::1 here");
        return;
    };
    let mut req = vec![5, 1, 0, 5, 1, 0, 4];
    req.extend_from_slice(&std::net::Ipv6Addr::LOCALHOST.octets());
    req.extend_from_slice(&l6.local_addr().unwrap().port().to_be_bytes());
    let (mut s, r) = raw(port, &req, 2 + 22);
    assert_eq!(r[..5], [5, 0, 5, 0, 0]);
    assert_eq!(r[5], 4, "bound address is IPv6");
    echo_once(&l6, &mut s);
}

#[test]
fn socks5_refusals_bind_udp_auth_and_unreachable() {
    let (mut p, port) = proxy("socks5", &[]);
    for cmd in [2u8, 3] {
        let (mut s, r) = raw(port, &[5, 1, 0, 5, cmd, 0, 1, 127, 0, 0, 1, 0, 9], 2 + 10);
        assert_eq!(r[2..4], [5, 7], "command {cmd}: not supported");
        assert!(sees_eof(&mut s, SECS5));
    }
    p.wait_err("BIND not supported", SECS5);
    p.wait_err("UDP ASSOCIATE not supported", SECS5);
    // A closed port: connection refused, 0x05.
    let closed = free_port();
    let (mut s, r) = raw(port, &socks5_connect(closed), 2 + 10);
    assert_eq!(r[2..4], [5, 5]);
    assert!(sees_eof(&mut s, SECS5));
    p.wait_err("Connection refused", SECS5);

    let (_pa, port) = proxy("socks5", &["--proxy-auth", "bob:s3cret"]);
    let (_s, r) = raw(port, &[5, 1, 0], 2);
    assert_eq!(r, [5, 0xff], "no acceptable method");
    let (mut s, r) = raw(port, b"\x05\x01\x02\x01\x03bob\x05wrong", 4);
    assert_eq!(r, [5, 2, 1, 1], "RFC 1929 failure");
    assert!(sees_eof(&mut s, SECS5));
}

#[test]
fn socks4_user_id_and_refusal() {
    let (_p, port) = proxy("socks4", &["--proxy-auth", "bob"]);
    let (l, tport) = peer_listener();
    let mut req = vec![4, 1];
    req.extend_from_slice(&tport.to_be_bytes());
    req.extend_from_slice(&[127, 0, 0, 1]);
    let mut good = req.clone();
    good.extend_from_slice(b"bob\0");
    let (mut s, r) = raw(port, &good, 8);
    assert_eq!(r[..2], [0, 0x5a]);
    echo_once(&l, &mut s);
    req.extend_from_slice(b"eve\0");
    let (_s, r) = raw(port, &req, 8);
    assert_eq!(r[..2], [0, 0x5d]);
}

/// Send an HTTP request to the proxy and read its answer to the end.
fn http_exchange(port: u16, req: &str) -> String {
    let mut s = connect(port);
    s.write_all(req.as_bytes()).unwrap();
    String::from_utf8_lossy(&read_to_end(&mut s)).into_owned()
}

#[test]
fn http_refusals_407_502_405_400() {
    let (_p, port) = proxy("http", &["--proxy-auth", "bob:s3cret"]);
    let r = http_exchange(port, "CONNECT 127.0.0.1:9 HTTP/1.0\r\n\r\n");
    assert!(r.starts_with("HTTP/1.0 407 "), "{r}");
    assert!(r.contains("Proxy-Authenticate: Basic realm="), "{r}");
    let (_p, port) = proxy("http", &[]);
    let closed = free_port();
    let r = http_exchange(
        port,
        &format!("CONNECT 127.0.0.1:{closed} HTTP/1.0\r\n\r\n"),
    );
    assert!(r.starts_with("HTTP/1.0 502 "), "{r}");
    let r = http_exchange(port, "DELETE http://127.0.0.1/ HTTP/1.0\r\n\r\n");
    assert!(r.starts_with("HTTP/1.0 405 "), "{r}");
    let r = http_exchange(port, "GET / HTTP/1.0\r\n\r\n");
    assert!(r.starts_with("HTTP/1.0 400 "), "{r}");
    // A request to the proxy itself would loop.
    let r = http_exchange(
        port,
        &format!("GET http://127.0.0.1:{port}/ HTTP/1.0\r\n\r\n"),
    );
    assert!(r.starts_with("HTTP/1.0 403 "), "{r}");
}

#[test]
fn http_post_body_follows_up_to_its_length() {
    let (_p, port) = proxy("http", &[]);
    let (l, tport) = peer_listener();
    let mut c = connect(port);
    let head = format!("POST http://127.0.0.1:{tport}/x HTTP/1.0\r\nContent-Length: 6\r\n\r\n");
    c.write_all(format!("{head}ab").as_bytes()).unwrap();
    let mut s = accept(&l, SECS10);
    let want = "POST /x HTTP/1.0\r\nContent-Length: 6\r\nHost: 127.0.0.1:";
    let got = read_n(&mut s, want.len());
    assert_eq!(String::from_utf8_lossy(&got), want);
    // The rest of the body, then bytes past it: only the body reaches the server.
    c.write_all(b"cdefEXTRA").unwrap();
    let rest = String::from_utf8_lossy(&read_to_end(&mut s)).into_owned();
    assert!(
        rest.ends_with("Connection: close\r\n\r\nabcdef"),
        "{rest:?}"
    );
    s.write_all(b"HTTP/1.0 200 OK\r\n\r\nok").unwrap();
    drop(s);
    assert_eq!(read_to_end(&mut c), b"HTTP/1.0 200 OK\r\n\r\nok");
}

/// A one-shot HTTP server: answers each of `n` requests with `hello`.
fn web(n: usize) -> u16 {
    let (l, port) = peer_listener();
    thread::spawn(move || {
        for _ in 0..n {
            let mut s = accept(&l, SECS10);
            let mut head = Vec::new();
            let mut b = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && s.read(&mut b).unwrap_or(0) == 1 {
                head.push(b[0]);
            }
            let _ = s.write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nhello");
        }
    });
    port
}

fn curl(args: &[&str]) -> (bool, String) {
    let out = Command::new("curl")
        .args(["-s", "-S", "--max-time", "10"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    (out.status.success(), text)
}

#[test]
fn curl_through_socks5_socks4_and_http() {
    if !have("curl") {
        return;
    }
    let (_s5, p5) = proxy_resolving("socks5", &["--proxy-auth", "bob:s3cret"]);
    let (_s4, p4) = proxy_resolving("socks4", &[]);
    let (_h, ph) = proxy_resolving("http", &["--proxy-auth", "bob:s3cret"]);
    let cases: Vec<Vec<String>> = vec![
        vec![
            format!("socks5h://127.0.0.1:{p5}"),
            "--proxy-user".into(),
            "bob:s3cret".into(),
        ],
        vec![
            format!("socks5://127.0.0.1:{p5}"),
            "--proxy-user".into(),
            "bob:s3cret".into(),
        ],
        vec![format!("socks4a://127.0.0.1:{p4}")],
        vec![format!("socks4://127.0.0.1:{p4}")],
        // Plain GET passed on, and CONNECT (-p).
        vec![
            format!("http://127.0.0.1:{ph}"),
            "--proxy-user".into(),
            "bob:s3cret".into(),
        ],
        vec![
            format!("http://127.0.0.1:{ph}"),
            "--proxy-user".into(),
            "bob:s3cret".into(),
            "-p".into(),
        ],
    ];
    let wport = web(cases.len());
    let url = format!("http://localhost:{wport}/");
    for c in &cases {
        let mut args: Vec<&str> = vec!["-x"];
        args.extend(c.iter().map(String::as_str));
        args.push(&url);
        let (ok, body) = curl(&args);
        assert!(ok && body == "hello", "curl {args:?}: {body:?}");
    }
    // The wrong password: 407 from the HTTP proxy, a failure from SOCKS5.
    let (ok, _) = curl(&[
        "-f",
        "-x",
        &format!("http://127.0.0.1:{ph}"),
        "--proxy-user",
        "bob:x",
        &url,
    ]);
    assert!(!ok);
    let (ok, _) = curl(&[
        "-x",
        &format!("socks5h://127.0.0.1:{p5}"),
        "--proxy-user",
        "bob:x",
        &url,
    ]);
    assert!(!ok);
}

/// A third-party client program through the proxy to a std target, both ways.
fn tool_round_trip(prog: &str, args: &[String], target: &TcpListener) {
    let mut c = Command::new(prog)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut s = accept(target, SECS10);
    c.stdin.as_mut().unwrap().write_all(b"ping\n").unwrap();
    assert_eq!(read_n(&mut s, 5), b"ping\n", "{prog} {args:?}");
    s.write_all(b"pong\n").unwrap();
    drop(s);
    let mut out = Vec::new();
    let mut stdout = c.stdout.take().unwrap();
    let reader = thread::spawn(move || {
        let mut b = [0u8; 5];
        let _ = stdout.read_exact(&mut b);
        b.to_vec()
    });
    let end = std::time::Instant::now() + SECS10;
    while !reader.is_finished() && std::time::Instant::now() < end {
        thread::sleep(Duration::from_millis(5));
    }
    let _ = c.kill();
    let _ = c.wait();
    out.extend(reader.join().unwrap());
    assert_eq!(out, b"pong\n", "{prog} {args:?}");
}

#[test]
fn nc_openbsd_through_socks5_socks4_and_connect() {
    if !have("nc.openbsd") {
        return;
    }
    for (kind, x) in [("socks5", "5"), ("socks4", "4"), ("http", "connect")] {
        let (_p, port) = proxy(kind, &[]);
        let (l, tport) = peer_listener();
        let args: Vec<String> = [
            "-X",
            x,
            "-x",
            &format!("127.0.0.1:{port}"),
            "127.0.0.1",
            &tport.to_string(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        tool_round_trip("nc.openbsd", &args, &l);
    }
}

#[test]
fn ncat_through_socks4_socks5_and_http() {
    if !have("ncat") {
        return;
    }
    for kind in ["socks4", "socks5", "http"] {
        let (_p, port) = proxy(kind, &[]);
        let (l, tport) = peer_listener();
        let args: Vec<String> = [
            "--proxy",
            &format!("127.0.0.1:{port}"),
            "--proxy-type",
            kind,
            "127.0.0.1",
            &tport.to_string(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        tool_round_trip("ncat", &args, &l);
    }
}

#[test]
fn max_conns_allow_and_deny_apply() {
    let (mut p, port) = proxy("socks5", &["--max-conns", "1"]);
    let (l, tport) = peer_listener();
    let (mut first, r) = raw(port, &socks5_connect(tport), 12);
    assert_eq!(r[2..4], [5, 0]);
    echo_once(&l, &mut first);
    // The second is closed at once while the first tunnel lives.
    let mut second = connect(port);
    assert!(sees_eof(&mut second, SECS5));
    p.wait_err("--max-conns 1 reached", SECS5);
    drop(first);
    p.wait_err("rnc: tunnel", SECS5);

    for rule in [["--deny", "127.0.0.1"], ["--allow", "10.0.0.0/8"]] {
        let (mut p, port) = proxy("socks5", &rule);
        let mut s = connect(port);
        let _ = s.write_all(&[5, 1, 0]);
        let mut b = [0u8; 2];
        assert!(
            !matches!(s.read(&mut b), Ok(n) if n > 0),
            "{rule:?}: refused client got a reply"
        );
        p.wait_err("127.0.0.1", SECS5);
    }
    // Allowed: served.
    let (_p, port) = proxy("socks5", &["--allow", "127.0.0.0/8"]);
    let (_s, r) = raw(port, &[5, 1, 0], 2);
    assert_eq!(r, [5, 0]);
}

#[test]
fn a_silent_client_is_dropped_after_w() {
    let (mut p, port) = proxy("socks5", &["-w", "1"]);
    let mut s = connect(port);
    assert!(sees_eof(&mut s, SECS5));
    p.wait_err("handshake timed out", SECS5);
}
