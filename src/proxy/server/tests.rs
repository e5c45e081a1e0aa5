use super::*;

fn auth(u: &str, p: &str) -> Auth {
    Auth {
        user: u.into(),
        pass: p.into(),
        basic: format!("{u}:{p}"),
    }
}

/// Feed `bytes` one at a time (every split must work), then step.
fn feed(s: &mut Shake, bytes: &[u8], auth: Option<&Auth>) -> Vec<Step> {
    let mut steps = Vec::new();
    for b in bytes {
        s.push(&[*b]);
        match s.step(auth, false) {
            Step::Need => {}
            st => steps.push(st),
        }
    }
    steps
}

fn connect(host: Host, port: u16) -> Step {
    Step::Connect(Request {
        host,
        port,
        forward: None,
        more: 0,
    })
}

#[test]
fn socks5_connect_to_each_address_type() {
    let ip4 = Host::Ip("10.1.2.3".parse().unwrap());
    let ip6 = Host::Ip("::1".parse().unwrap());
    for (req, host) in [
        (&b"\x05\x01\x00\x01\x0a\x01\x02\x03\x00\x50"[..], ip4),
        (
            &b"\x05\x01\x00\x04\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\x01\x00\x50"[..],
            ip6,
        ),
        (
            &b"\x05\x01\x00\x03\x0bexample.org\x00\x50"[..],
            Host::Name("example.org".into()),
        ),
    ] {
        let mut s = Shake::new(Kind::Socks5);
        let mut bytes = b"\x05\x01\x00".to_vec();
        bytes.extend_from_slice(req);
        bytes.extend_from_slice(b"tail");
        let steps = feed(&mut s, &bytes, None);
        assert_eq!(steps, vec![Step::Reply(vec![5, 0]), connect(host, 80)]);
        // What followed the request belongs to the tunnel.
        assert_eq!(s.rest(), b"tail");
    }
}

#[test]
fn socks5_refuses_bind_udp_and_missing_methods() {
    for (cmd, why) in [(2u8, "BIND"), (3, "UDP ASSOCIATE")] {
        let mut s = Shake::new(Kind::Socks5);
        let mut bytes = b"\x05\x01\x00\x05".to_vec();
        bytes.extend_from_slice(&[cmd, 0, 1, 127, 0, 0, 1, 0, 80]);
        let steps = feed(&mut s, &bytes, None);
        let Step::Refuse { reply, why: w } = &steps[1] else {
            panic!("{steps:?}");
        };
        assert_eq!(reply[..2], [5, 7]);
        assert!(w.starts_with(why));
    }
    let mut s = Shake::new(Kind::Socks5);
    let steps = feed(&mut s, b"\x05\x01\x00", Some(&auth("u", "p")));
    assert!(matches!(&steps[0], Step::Refuse { reply, .. } if reply == &[5, 0xff]));
}

#[test]
fn socks5_user_and_password() {
    let a = auth("bob", "pw");
    let mut s = Shake::new(Kind::Socks5);
    let steps = feed(&mut s, b"\x05\x02\x00\x02\x01\x03bob\x02pw", Some(&a));
    assert_eq!(
        steps,
        vec![Step::Reply(vec![5, 2]), Step::Reply(vec![1, 0])]
    );
    let mut s = Shake::new(Kind::Socks5);
    let steps = feed(&mut s, b"\x05\x01\x02\x01\x03bob\x02px", Some(&a));
    assert!(matches!(&steps[1], Step::Refuse { reply, .. } if reply == &[1, 1]));
}

#[test]
fn socks4_and_4a_with_the_user_id() {
    let a = auth("me", "");
    let mut s = Shake::new(Kind::Socks4);
    let steps = feed(&mut s, b"\x04\x01\x00\x16\x7f\x00\x00\x01me\x00", Some(&a));
    assert_eq!(
        steps,
        vec![connect(Host::Ip("127.0.0.1".parse().unwrap()), 22)]
    );
    let mut s = Shake::new(Kind::Socks4);
    let steps = feed(
        &mut s,
        b"\x04\x01\x00\x16\x00\x00\x00\x01me\x00host\x00",
        Some(&a),
    );
    assert_eq!(steps, vec![connect(Host::Name("host".into()), 22)]);
    let mut s = Shake::new(Kind::Socks4);
    let steps = feed(&mut s, b"\x04\x01\x00\x16\x7f\x00\x00\x01you\x00", Some(&a));
    assert!(matches!(&steps[0], Step::Refuse { reply, .. } if reply[1] == 0x5d));
    let bound = "127.0.0.1:4660".parse().unwrap();
    assert_eq!(s.granted(bound), vec![0, 0x5a, 0x12, 0x34, 127, 0, 0, 1]);
}

fn http(req: &str, auth: Option<&Auth>) -> Step {
    let mut s = Shake::new(Kind::Http);
    s.push(req.as_bytes());
    s.step(auth, true)
}

fn code(step: &Step) -> u16 {
    let Step::Refuse { reply, .. } = step else {
        panic!("not refused: {step:?}");
    };
    String::from_utf8_lossy(&reply[9..12]).parse().unwrap()
}

#[test]
fn http_connect_and_its_refusals() {
    let a = auth("user", "pass");
    assert_eq!(
        http("CONNECT h:22 HTTP/1.0\r\n\r\n", None),
        connect(Host::Name("h".into()), 22)
    );
    assert_eq!(
        http("CONNECT [::1]:22 HTTP/1.1\r\nHost: x\r\n\r\n", None),
        connect(Host::Ip("::1".parse().unwrap()), 22)
    );
    for bad in [
        "CONNECT h HTTP/1.0",
        "CONNECT h: HTTP/1.0",
        "CONNECT [::1] HTTP/1.0",
        "bad",
    ] {
        assert_eq!(code(&http(&format!("{bad}\r\n\r\n"), None)), 400, "{bad}");
    }
    assert_eq!(code(&http("NOTHING http://h/ HTTP/1.0\r\n\r\n", None)), 405);
    let no_auth = http("CONNECT h:1 HTTP/1.0\r\n\r\n", Some(&a));
    assert_eq!(code(&no_auth), 407);
    let Step::Refuse { reply, .. } = no_auth else {
        unreachable!()
    };
    assert!(String::from_utf8_lossy(&reply).contains("Proxy-Authenticate: Basic"));
    for (hdr, ok) in [
        ("Proxy-Authorization: Basic dXNlcjpwYXNz", true),
        ("pROXY-aUTHORIZATION: BASIC dXNlcjpwYXNz", true),
        (
            "Proxy-Authorization:\t  Basic  \r\n\t  \n dXNlcjpwYXNz",
            true,
        ),
        ("Proxy-Authorization: Basic dXNlcjpwYXNz extra", false),
        ("Proxy-Authorization: Basic bm9ib2R5OnBhc3M=", false),
        ("Proxy-Authorization: ", false),
    ] {
        let step = http(&format!("CONNECT h:1 HTTP/1.0\r\n{hdr}\r\n\r\n"), Some(&a));
        assert_eq!(matches!(step, Step::Connect(_)), ok, "{hdr}");
    }
}

#[test]
fn http_overlong_heads() {
    let mut s = Shake::new(Kind::Http);
    s.push(format!("CONNECT {}:1 HTTP/1.0\r\n", "A".repeat(MAX_REQUEST)).as_bytes());
    assert!([413, 414].contains(&code(&s.step(None, false))));
    let mut s = Shake::new(Kind::Http);
    s.push(b"CONNECT h:1 HTTP/1.0\r\n");
    while s.room() > 0 {
        s.push(b"Header: Value\r\n");
    }
    assert_eq!(code(&s.step(None, false)), 413);
}

fn forwarded(req: &str) -> String {
    match http(req, None) {
        Step::Connect(Request {
            forward: Some(f), ..
        }) => String::from_utf8(f).unwrap(),
        s => panic!("not forwarded: {s:?}"),
    }
}

#[test]
fn http_get_head_post_are_passed_on_rewritten() {
    let f = forwarded("GET http://h:8080 HTTP/1.0\r\n\r\n");
    assert_eq!(
        f,
        "GET / HTTP/1.0\r\nHost: h:8080\r\nConnection: close\r\n\r\n"
    );
    let f = forwarded(
        "GET http://h/%41 HTTP/1.0\r\nKeep-Alive: 300\r\nOne: 1\r\n\
         Connection: keep-alive, two\r\nTwo: 2\r\nProxy-Authorization: x\r\n\r\n",
    );
    assert_eq!(
        f,
        "GET /%41 HTTP/1.0\r\nOne: 1\r\nHost: h:80\r\nConnection: close\r\n\r\n"
    );
    let f = forwarded("POST http://h/ HTTP/1.0\r\nContent-Length: 2\r\n\r\nabc\n");
    assert!(f.ends_with("\r\n\r\nab"), "{f:?}");
    // The client closed before the whole body: what came is passed on.
    let f = forwarded("POST http://h/ HTTP/1.0\r\nContent-Length: 10\r\n\r\nabc\n");
    assert!(f.ends_with("\r\n\r\nabc\n"), "{f:?}");
    // Still open: the rest of the body is to follow, and no more.
    let mut s = Shake::new(Kind::Http);
    s.push(b"POST http://h/ HTTP/1.0\r\nContent-Length: 10\r\n\r\nabc\n");
    assert!(matches!(
        s.step(None, false),
        Step::Connect(Request { more: 6, .. })
    ));
    assert!(forwarded("HEAD http://h/ HTTP/1.1\r\n\r\n").starts_with("HEAD / HTTP/1.1\r\n"));
    let chunked = "POST http://h/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n";
    assert_eq!(code(&http(chunked, None)), 411);
    for bad in ["GET h HTTP/1.0", "GET / HTTP/1.0"] {
        assert_eq!(code(&http(&format!("{bad}\r\n\r\n"), None)), 400, "{bad}");
    }
}

#[test]
fn failures_map_to_reply_codes() {
    let s5 = Shake::new(Kind::Socks5);
    assert_eq!(s5.failed(Failure::Refused)[1], 0x05);
    assert_eq!(s5.failed(Failure::NetUnreachable)[1], 0x03);
    assert_eq!(s5.failed(Failure::NoAddress)[1], 0x04);
    let h = Shake::new(Kind::Http);
    assert!(h.failed(Failure::Refused).starts_with(b"HTTP/1.0 502"));
    assert!(h.failed(Failure::TimedOut).starts_with(b"HTTP/1.0 504"));
    assert!(h.failed(Failure::NoAddress).starts_with(b"HTTP/1.0 504"));
    assert!(h.failed(Failure::Loop).starts_with(b"HTTP/1.0 403"));
}
