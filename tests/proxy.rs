//! The proxy client (-x/-X, --proxy, --proxy-type, --proxy-auth, -P, --proxy-dns)
//! against real proxies (microsocks, ncat, tinyproxy, dante) and, for the refusals real
//! servers cannot be made to send, std::net peers that speak the protocol's bytes.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::thread;
use std::time::{Duration, Instant};

use crate::util::*;

/// rnc through a proxy to `host port`, with `extra` options before the operands.
fn via(extra: &[&str], host: &str, port: u16) -> Spawn {
    let mut a: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
    a.push(host.into());
    a.push(port.to_string());
    rnc(a)
}

/// Bytes both ways through the tunnel, then the peer closes and rnc exits 0.
fn round_trip(mut r: Rnc, target: &TcpListener) {
    let mut s = accept(target, SECS10);
    r.send(b"ping\n");
    assert_eq!(read_n(&mut s, 5), b"ping\n");
    s.write_all(b"pong\n").unwrap();
    assert_eq!(r.read_out(5, SECS5), b"pong\n");
    r.close_stdin();
    drop(s);
    assert!(r.read_out_to_end(SECS5).is_empty());
    assert_eq!(r.code(SECS5), 0, "{:?}", r.err_lines);
}

fn microsocks(auth: &[&str]) -> Option<(Daemon, String)> {
    let port = free_port();
    let p = port.to_string();
    let mut args = vec!["-i", "127.0.0.1", "-p", &p];
    args.extend_from_slice(auth);
    daemon("microsocks", &args, port).map(|d| (d, format!("127.0.0.1:{port}")))
}

#[test]
fn socks5_through_microsocks_to_an_address_and_a_name() {
    let Some((_ms, proxy)) = microsocks(&[]) else {
        return;
    };
    for host in ["127.0.0.1", "localhost"] {
        let (l, port) = peer_listener();
        let mut r = via(&["-v", "-x", &proxy], host, port).spawn();
        r.wait_err("succeeded!", SECS10);
        round_trip(r, &l);
    }
}

#[test]
fn socks5_user_and_password_from_the_environment_or_proxy_auth() {
    let Some((_ms, proxy)) = microsocks(&["-u", "bob", "-P", "s3cret"]) else {
        return;
    };
    let (l, port) = peer_listener();
    let r = via(&["-x", &proxy, "-P", "bob"], "127.0.0.1", port)
        .env("RNC_PROXY_PASS", "s3cret")
        .spawn();
    round_trip(r, &l);
    let r = via(
        &[
            "--proxy",
            &proxy,
            "--proxy-type",
            "socks5",
            "--proxy-auth",
            "bob:s3cret",
        ],
        "127.0.0.1",
        port,
    )
    .spawn();
    round_trip(r, &l);
}

#[test]
fn socks5_wrong_or_missing_credentials_are_one_line_and_exit_1() {
    let Some((_ms, proxy)) = microsocks(&["-u", "bob", "-P", "s3cret"]) else {
        return;
    };
    let (_l, port) = peer_listener();
    let mut r = via(
        &["-x", &proxy, "--proxy-auth", "bob:nope"],
        "127.0.0.1",
        port,
    )
    .spawn();
    assert_eq!(r.code(SECS10), 1);
    assert_eq!(
        r.err_lines,
        ["rnc: proxy authentication failed (SOCKS5 status 2)"]
    );
    let mut r = via(&["-x", &proxy], "127.0.0.1", port).spawn();
    assert_eq!(r.code(SECS10), 1);
    assert!(r.err_lines[0].starts_with("rnc: authentication method negotiation failed"));
    assert_eq!(r.err_lines.len(), 1);
}

#[test]
fn socks5_refused_target_reads_as_nc_openbsd_does() {
    let Some((_ms, proxy)) = microsocks(&[]) else {
        return;
    };
    let closed = free_port();
    let mut r = via(&["-x", &proxy], "127.0.0.1", closed).spawn();
    assert_eq!(r.code(SECS10), 1);
    assert_eq!(
        r.err_lines,
        ["rnc: connection failed, SOCKSv5 error: Connection refused"]
    );
}

#[test]
fn zero_io_through_a_proxy_reports_open_and_closed_ports() {
    let Some((_ms, proxy)) = microsocks(&[]) else {
        return;
    };
    let (_l, open) = peer_listener();
    let closed = free_port();
    let mut r = via(&["-zv", "-x", &proxy], "127.0.0.1", open).spawn();
    assert_eq!(r.code(SECS10), 0);
    assert_eq!(
        r.err_lines,
        [format!(
            "Connection to 127.0.0.1 {open} port [tcp/*] succeeded!"
        )]
    );
    let mut r = via(&["-z", "-x", &proxy], "127.0.0.1", closed).spawn();
    assert_eq!(r.code(SECS10), 1);
    assert!(r.err_lines[0].contains("SOCKSv5 error: Connection refused"));
}

#[test]
fn proxy_command_shape_send_eof_and_detach() {
    // ssh's ProxyCommand: stdin to the peer, FIN at its end (-N), exit when the peer
    // closes; -d: nothing read from stdin, the peer's bytes still arrive.
    let Some((_ms, proxy)) = microsocks(&[]) else {
        return;
    };
    let (l, port) = peer_listener();
    let mut r = via(&["-N", "-X", "5", "-x", &proxy], "127.0.0.1", port).spawn();
    let mut s = accept(&l, SECS10);
    s.write_all(b"SSH-2.0-peer\r\n").unwrap();
    assert_eq!(r.read_out(14, SECS5), b"SSH-2.0-peer\r\n");
    r.send(b"SSH-2.0-test\r\n");
    r.close_stdin();
    // microsocks closes both ways at the first EOF; the FIN still gets through.
    assert_eq!(read_to_end(&mut s), b"SSH-2.0-test\r\n");
    drop(s);
    assert_eq!(r.code(SECS5), 0);

    let mut r = via(&["-d", "-q", "0", "-x", &proxy], "127.0.0.1", port).spawn();
    let mut s = accept(&l, SECS10);
    s.write_all(b"banner\n").unwrap();
    assert_eq!(r.read_out(7, SECS5), b"banner\n");
    drop(s);
    assert_eq!(r.code(SECS5), 0);
}

fn ncat_http(auth: &[&str]) -> Option<(Daemon, String)> {
    let port = free_port();
    let p = port.to_string();
    let mut args = vec!["-l", "127.0.0.1", &p, "--proxy-type", "http"];
    args.extend_from_slice(auth);
    daemon("ncat", &args, port).map(|d| (d, format!("127.0.0.1:{port}")))
}

#[test]
fn http_connect_through_ncat_with_and_without_basic_auth() {
    let (l, port) = peer_listener();
    if let Some((_n, proxy)) = ncat_http(&[]) {
        round_trip(via(&["--proxy", &proxy], "127.0.0.1", port).spawn(), &l);
        round_trip(
            via(&["-X", "connect", "-x", &proxy], "localhost", port).spawn(),
            &l,
        );
    }
    let Some((_n, proxy)) = ncat_http(&["--proxy-auth", "u:pw"]) else {
        return;
    };
    let r = via(
        &["--proxy", &proxy, "--proxy-auth", "u:pw"],
        "127.0.0.1",
        port,
    )
    .spawn();
    round_trip(r, &l);
    let r = via(
        &["-X", "connect", "-x", &proxy, "-P", "u"],
        "127.0.0.1",
        port,
    )
    .env("RNC_PROXY_PASS", "pw")
    .spawn();
    round_trip(r, &l);
    let mut r = via(&["--proxy", &proxy], "127.0.0.1", port).spawn();
    assert_eq!(r.code(SECS10), 1);
    assert_eq!(r.err_lines.len(), 1, "{:?}", r.err_lines);
    assert!(r.err_lines[0].starts_with("rnc: Proxy error: \"HTTP/1.0 407"));
    let mut r = via(
        &["--proxy", &proxy, "--proxy-auth", "u:bad"],
        "127.0.0.1",
        port,
    )
    .spawn();
    assert_eq!(r.code(SECS10), 1);
    assert!(r.err_lines[0].starts_with("rnc: proxy authentication failed: \"HTTP/1.0 407"));
}

fn tinyproxy(extra: &str) -> Option<(Daemon, String, TmpDir)> {
    let port = free_port();
    let dir = TmpDir::new("tinyproxy");
    let conf = dir.path.join("tinyproxy.conf");
    std::fs::write(
        &conf,
        format!(
            "Port {port}\nListen 127.0.0.1\nTimeout 10\nMaxClients 8\nAllow 127.0.0.1\n{extra}"
        ),
    )
    .unwrap();
    let c = conf.to_str().unwrap().to_string();
    daemon("tinyproxy", &["-d", "-c", &c], port).map(|d| (d, format!("127.0.0.1:{port}"), dir))
}

#[test]
fn http_connect_through_tinyproxy_with_and_without_basic_auth() {
    let (l, port) = peer_listener();
    if let Some((_t, proxy, _dir)) = tinyproxy("") {
        round_trip(
            via(&["-X", "connect", "-x", &proxy], "127.0.0.1", port).spawn(),
            &l,
        );
        // A refusal is the proxy's status line, quoted, on one line.
        let mut r = via(&["-X", "connect", "-x", &proxy], "127.0.0.1", free_port()).spawn();
        assert_eq!(r.code(SECS10), 1);
        assert_eq!(r.err_lines.len(), 1, "{:?}", r.err_lines);
        assert!(
            r.err_lines[0].starts_with("rnc: Proxy error: \"HTTP/1.0 5"),
            "{:?}",
            r.err_lines
        );
    }
    let Some((_t, proxy, _dir)) = tinyproxy("BasicAuth alice wonder\n") else {
        return;
    };
    let r = via(
        &["--proxy", &proxy, "--proxy-auth", "alice:wonder"],
        "127.0.0.1",
        port,
    )
    .spawn();
    round_trip(r, &l);
    let mut r = via(&["--proxy", &proxy], "127.0.0.1", port).spawn();
    assert_eq!(r.code(SECS10), 1);
    assert!(r.err_lines[0].contains(" 407 "), "{:?}", r.err_lines);
}

fn dante() -> Option<(Daemon, String, TmpDir)> {
    let port = free_port();
    let dir = TmpDir::new("dante");
    let conf = dir.path.join("danted.conf");
    std::fs::write(
        &conf,
        format!(
            "logoutput: stderr\ninternal: 127.0.0.1 port = {port}\nexternal: 127.0.0.1\n\
             clientmethod: none\nsocksmethod: none\n\
             client pass {{\n from: 127.0.0.0/8 to: 0.0.0.0/0\n}}\n\
             socks pass {{\n from: 127.0.0.0/8 to: 127.0.0.0/8\n command: connect\n}}\n"
        ),
    )
    .unwrap();
    let pid = dir.path.join("danted.pid");
    let (c, p) = (
        conf.to_str().unwrap().to_string(),
        pid.to_str().unwrap().to_string(),
    );
    daemon("danted", &["-f", &c, "-N", "1", "-p", &p], port)
        .map(|d| (d, format!("127.0.0.1:{port}"), dir))
}

#[test]
fn socks4_through_dante_and_its_refusal() {
    let Some((_d, proxy, _dir)) = dante() else {
        return;
    };
    let (l, port) = peer_listener();
    round_trip(
        via(&["-X", "4", "-x", &proxy], "127.0.0.1", port).spawn(),
        &l,
    );
    let r = via(
        &["-X", "socks4", "--proxy-dns", "local", "-x", &proxy],
        "localhost",
        port,
    );
    round_trip(r.spawn(), &l);
    let mut r = via(&["-X", "4", "-x", &proxy], "127.0.0.1", free_port()).spawn();
    assert_eq!(r.code(SECS10), 1);
    assert_eq!(
        r.err_lines,
        ["rnc: connection failed, SOCKSv4 error: Request rejected or failed"]
    );
}

/// A fake proxy: accepts one client, reads `reads[i]` bytes and answers `reply[i]` in
/// turn, then closes. Returns what it read.
fn fake(
    reply: &'static [&'static [u8]],
    reads: &'static [usize],
) -> (u16, thread::JoinHandle<Vec<u8>>) {
    let (l, port) = peer_listener();
    let h = thread::spawn(move || {
        let mut s = accept(&l, SECS10);
        let mut seen = Vec::new();
        for (i, &n) in reads.iter().enumerate() {
            seen.extend(read_n(&mut s, n));
            if let Some(r) = reply.get(i) {
                s.write_all(r).unwrap();
            }
        }
        seen
    });
    (port, h)
}

#[test]
fn every_socks5_reply_code_is_one_line() {
    for (code, words) in [
        (1u8, "General SOCKS server failure"),
        (2, "Connection not allowed by ruleset"),
        (3, "Network unreachable"),
        (4, "Host unreachable"),
        (5, "Connection refused"),
        (6, "TTL expired"),
        (7, "Command not supported"),
        (8, "Address type not supported"),
        (0x42, "Unknown error (reply code 0x42)"),
    ] {
        let reply: &'static [u8] = Box::leak(Box::new([5, code, 0, 1, 0, 0, 0, 0, 0, 0]));
        let replies: &'static [&'static [u8]] = Box::leak(Box::new([&[5u8, 0][..], reply]));
        let (port, h) = fake(replies, &[3, 10]);
        let mut r = via(&["-x", &format!("127.0.0.1:{port}")], "10.9.8.7", 4321).spawn();
        assert_eq!(r.code(SECS10), 1);
        assert_eq!(
            r.err_lines,
            [format!("rnc: connection failed, SOCKSv5 error: {words}")]
        );
        let seen = h.join().unwrap();
        assert_eq!(seen, [5, 1, 0, 5, 1, 0, 1, 10, 9, 8, 7, 0x10, 0xe1]);
    }
}

#[test]
fn every_socks4_reply_code_is_one_line() {
    for (code, words) in [
        (91u8, "Request rejected or failed"),
        (92, "SOCKS server cannot connect to identd on the client"),
        (93, "Client program and identd report different user-ids"),
    ] {
        let reply: &'static [u8] = Box::leak(Box::new([0, code, 0, 0, 0, 0, 0, 0]));
        let replies: &'static [&'static [u8]] = Box::leak(Box::new([reply]));
        // SOCKS4a with the user id of -P: 8 + "me\0" + "example.org\0".
        let (port, h) = fake(replies, &[8 + 3 + 12]);
        let proxy = format!("127.0.0.1:{port}");
        let mut r = via(&["-X", "4", "-P", "me", "-x", &proxy], "example.org", 80).spawn();
        assert_eq!(r.code(SECS10), 1);
        assert_eq!(
            r.err_lines,
            [format!("rnc: connection failed, SOCKSv4 error: {words}")]
        );
        let seen = h.join().unwrap();
        assert_eq!(&seen[..8], [4, 1, 0, 80, 0, 0, 0, 1]);
        assert_eq!(&seen[8..], b"me\0example.org\0");
    }
}

#[test]
fn socks5_ipv6_and_name_targets_go_as_the_protocol_says() {
    let replies: &'static [&'static [u8]] = &[&[5, 0], &[5, 0, 0, 1, 0, 0, 0, 0, 0, 0]];
    let (port, h) = fake(replies, &[3, 22]);
    let mut r = via(
        &["-d", "-x", &format!("[::ffff:127.0.0.1]:{port}")],
        "[2001:db8::5]",
        22,
    )
    .spawn();
    let seen = h.join().unwrap();
    assert_eq!(seen[3..7], [5, 1, 0, 4]);
    assert_eq!(seen[7], 0x20);
    assert_eq!(seen[23..], [0, 22]);
    assert_eq!(r.code(SECS5), 0, "{:?}", r.err_lines);

    let (port, h) = fake(replies, &[3, 7 + 11]);
    let mut r = via(
        &["-d", "-x", &format!("127.0.0.1:{port}")],
        "example.org",
        22,
    )
    .spawn();
    assert_eq!(
        &h.join().unwrap()[3..],
        b"\x05\x01\x00\x03\x0bexample.org\x00\x16"
    );
    assert_eq!(r.code(SECS5), 0, "{:?}", r.err_lines);
}

#[test]
fn http_status_line_refusal_and_bytes_after_the_headers_reach_stdout() {
    let (l, port) = peer_listener();
    let h = thread::spawn(move || {
        let mut s = accept(&l, SECS10);
        let mut req = Vec::new();
        let mut b = [0u8; 1];
        while !req.ends_with(b"\r\n\r\n") {
            s.read_exact(&mut b).unwrap();
            req.push(b[0]);
        }
        s.write_all(b"HTTP/1.1 200 Go ahead\r\nServer: x\r\n\r\nhello\n")
            .unwrap();
        String::from_utf8(req).unwrap()
    });
    let mut r = via(
        &["-d", "--proxy", &format!("127.0.0.1:{port}")],
        "::1",
        8080,
    )
    .spawn();
    assert_eq!(r.read_out_to_end(SECS10), b"hello\n");
    assert!(h
        .join()
        .unwrap()
        .starts_with("CONNECT [::1]:8080 HTTP/1.0\r\n"));

    let (l, port) = peer_listener();
    let h = thread::spawn(move || {
        let mut s = accept(&l, SECS10);
        s.write_all(b"HTTP/1.1 403 Forbidden\r\nX: y\r\n\r\n")
            .unwrap();
        let mut rest = Vec::new();
        let _ = s.read_to_end(&mut rest);
    });
    let mut r = via(
        &["-X", "connect", "-x", &format!("127.0.0.1:{port}")],
        "h",
        1,
    )
    .spawn();
    assert_eq!(r.code(SECS10), 1);
    assert_eq!(
        r.err_lines,
        ["rnc: Proxy error: \"HTTP/1.1 403 Forbidden\""]
    );
    h.join().unwrap();
}

#[test]
fn dash_w_bounds_the_whole_handshake() {
    // A proxy that accepts and never answers.
    let (l, port) = peer_listener();
    let t = Instant::now();
    let mut r = via(&["-w", "1", "-x", &format!("127.0.0.1:{port}")], "h", 1).spawn();
    let _s = accept(&l, SECS5);
    assert_eq!(r.code(SECS10), 1);
    assert!(t.elapsed() < Duration::from_secs(4), "{:?}", t.elapsed());
    assert_eq!(r.err_lines, ["rnc: proxy read: Connection timed out"]);
}

#[test]
fn a_short_socks5_reply_is_an_error_not_a_hang() {
    let replies: &'static [&'static [u8]] = &[&[5]];
    let (l, port) = peer_listener();
    let h = thread::spawn(move || {
        let mut s = accept(&l, SECS10);
        read_n(&mut s, 3);
        s.write_all(replies[0]).unwrap();
    });
    let mut r = via(&["-x", &format!("127.0.0.1:{port}")], "h", 1).spawn();
    h.join().unwrap();
    assert_eq!(r.code(SECS10), 1);
    assert!(r.err_lines[0].starts_with("rnc: proxy read: connection closed by the proxy"));
}

#[test]
fn proxy_refused_with_listen_udp_unix_and_source_in_nc_openbsd_words() {
    for (args, want) in [
        (&["-l", "-x", "p", "1"][..], "no proxy support for listen"),
        (
            &["-u", "-x", "p", "h", "1"][..],
            "no proxy support for UDP mode",
        ),
        (
            &["-U", "-x", "p", "/tmp/s"][..],
            "no proxy support for unix sockets",
        ),
        (
            &["-s", "127.0.0.1", "-x", "p", "h", "1"][..],
            "no proxy support for local source address",
        ),
        (
            &["-X", "6", "-x", "p", "h", "1"][..],
            "unsupported proxy protocol: 6",
        ),
        (&["-X", "5", "h", "1"][..], "-X/--proxy-type needs a proxy"),
        (
            &["--proxy-dns", "x", "--proxy", "p", "h", "1"][..],
            "proxy DNS type invalid: x",
        ),
        (&["-x", "[::1", "h", "1"][..], "proxy address invalid: [::1"),
    ] {
        let mut r = rnc(args).spawn();
        assert_eq!(r.code(SECS5), 1, "{args:?}");
        assert_eq!(r.err_lines.len(), 1, "{args:?}: {:?}", r.err_lines);
        assert!(
            r.err_lines[0].starts_with(&format!("rnc: {want}")),
            "{args:?}: {:?}",
            r.err_lines
        );
    }
}

#[test]
fn proxy_dns_none_wants_an_address() {
    let mut r = via(
        &["--proxy-dns", "none", "-x", "127.0.0.1:1"],
        "example.org",
        80,
    )
    .spawn();
    assert_eq!(r.code(SECS5), 1);
    // The proxy is dialled first; with nothing there the connect fails.
    assert!(r.err_lines[0].contains("failed"), "{:?}", r.err_lines);
}

#[test]
fn no_password_and_no_terminal_is_a_clear_line() {
    let mut r = rnc(["-x", "127.0.0.1:1", "-P", "bob", "h", "1"]).spawn();
    assert_eq!(r.code(SECS5), 1);
    assert!(
        r.err_lines[0].contains("RNC_PROXY_PASS"),
        "{:?}",
        r.err_lines
    );
}
