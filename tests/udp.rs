//! `-u`: the seed's UDP client and server, datagram boundaries, peers, refusals, exits.

use std::fs::File;
use std::net::UdpSocket;
use std::time::{Duration, Instant};

use crate::util::*;

fn udp_peer() -> (UdpSocket, u16) {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(SECS5)).unwrap();
    let p = s.local_addr().unwrap().port();
    (s, p)
}

fn recv(s: &UdpSocket) -> (Vec<u8>, std::net::SocketAddr) {
    let mut buf = vec![0u8; 70000];
    let (n, from) = s.recv_from(&mut buf).expect("datagram within deadline");
    buf.truncate(n);
    (buf, from)
}

/// `rnc -v -n -u -l [-k] 127.0.0.1 0` and its port (nc's `Bound on ADDR PORT`).
fn udp_server(keep: bool) -> (Rnc, u16) {
    let mut args = vec!["-v", "-n", "-u", "-l"];
    if keep {
        args.push("-k");
    }
    args.extend(["127.0.0.1", "0"]);
    let mut r = rnc(args).spawn();
    let port = r.bound_port();
    (r, port)
}

#[test]
fn seed_client_against_an_echo_peer() {
    let (peer, port) = udp_peer();
    let mut r = rnc(["-u", "127.0.0.1", &port.to_string()]).spawn();
    r.send(b"Client 1 says hi!\n");
    let (msg, from) = recv(&peer);
    assert_eq!(msg, b"Client 1 says hi!\n");
    peer.send_to(&msg, from).unwrap();
    assert_eq!(r.read_out(18, SECS5), b"Client 1 says hi!\n");
}

#[test]
fn seed_server_first_peer_rule_and_reply() {
    let (mut r, port) = udp_server(false);
    let (a, _) = udp_peer();
    let (b, _) = udp_peer();
    a.send_to(b"Client 1 says hi!\n", ("127.0.0.1", port))
        .unwrap();
    assert_eq!(r.read_out(18, SECS5), b"Client 1 says hi!\n");
    r.wait_err("Connection received on 127.0.0.1", SECS5);
    // The socket is now connected to A: B is not heard, A still is.
    b.send_to(b"Client 2 says hi!\n", ("127.0.0.1", port))
        .unwrap();
    a.send_to(b"again from 1\n", ("127.0.0.1", port)).unwrap();
    assert_eq!(r.read_out(13, SECS5), b"again from 1\n");
    r.send(b"server reply\n");
    assert_eq!(recv(&a).0, b"server reply\n");
}

#[test]
fn datagram_boundaries_both_ways() {
    let (mut r, port) = udp_server(false);
    let (a, _) = udp_peer();
    let big = random_bytes(60_000, 3);
    a.send_to(b"x", ("127.0.0.1", port)).unwrap();
    assert_eq!(r.read_out(1, SECS5), b"x");
    a.send_to(&big, ("127.0.0.1", port)).unwrap();
    assert!(r.read_out(60_000, SECS5) == big);
    for m in [&b"one"[..], b"two", b"three"] {
        a.send_to(m, ("127.0.0.1", port)).unwrap();
    }
    assert_eq!(r.read_out(11, SECS5), b"onetwothree");
    // An empty datagram is not an end of file.
    a.send_to(b"", ("127.0.0.1", port)).unwrap();
    a.send_to(b"still here", ("127.0.0.1", port)).unwrap();
    assert_eq!(r.read_out(10, SECS5), b"still here");
    assert!(r.running());

    // stdin → network: a 60,000-byte file read goes out as one datagram.
    let dir = std::env::temp_dir().join(format!("rnc-udp-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("big");
    std::fs::write(&f, &big).unwrap();
    let (peer, pport) = udp_peer();
    let _c = rnc(["-u", "127.0.0.1", &pport.to_string()])
        .stdin(File::open(&f).unwrap())
        .spawn();
    let (got, _) = recv(&peer);
    assert_eq!(got.len(), 60_000, "one datagram, whole");
    assert!(got == big);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn keep_open_hears_every_peer_and_answers_the_latest() {
    let (mut r, port) = udp_server(true);
    let (a, _) = udp_peer();
    let (b, _) = udp_peer();
    a.send_to(b"from a\n", ("127.0.0.1", port)).unwrap();
    assert_eq!(r.read_out(7, SECS5), b"from a\n");
    b.send_to(b"from b\n", ("127.0.0.1", port)).unwrap();
    assert_eq!(r.read_out(7, SECS5), b"from b\n");
    r.wait_err("Connection received on 127.0.0.1", SECS5);
    r.send(b"to b\n");
    assert_eq!(recv(&b).0, b"to b\n");
    a.send_to(b"a again\n", ("127.0.0.1", port)).unwrap();
    assert_eq!(r.read_out(8, SECS5), b"a again\n");
    r.send(b"to a\n");
    assert_eq!(recv(&a).0, b"to a\n");
}

#[test]
fn icmp_refusal_is_reported_and_does_not_end_the_session() {
    let port = {
        let (_s, p) = udp_peer();
        p
    };
    let mut r = rnc(["-v", "-u", "127.0.0.1", &port.to_string()]).spawn();
    r.send(b"anyone?\n");
    r.wait_err("Connection refused", SECS5);
    assert!(r.running(), "a refusal does not end a UDP session");
    r.close_stdin();
}

#[test]
fn stdin_eof_keeps_waiting_for_the_reply() {
    let (peer, port) = udp_peer();
    let mut r = rnc(["-u", "-w", "2", "127.0.0.1", &port.to_string()]).spawn();
    r.send(b"ping\n");
    r.close_stdin();
    let (msg, from) = recv(&peer);
    assert_eq!(msg, b"ping\n");
    peer.send_to(b"pong\n", from).unwrap();
    assert_eq!(r.read_out(5, SECS5), b"pong\n");
    // -w 2: idle for two seconds after the reply, then exit 0.
    assert_eq!(r.code(SECS5), 0);
}

#[test]
fn dash_q_ends_a_udp_client() {
    let (peer, port) = udp_peer();
    let mut r = rnc(["-u", "-q", "0.3", "127.0.0.1", &port.to_string()]).spawn();
    r.send(b"bye\n");
    r.close_stdin();
    assert_eq!(recv(&peer).0, b"bye\n");
    let t = Instant::now();
    assert_eq!(r.code(SECS5), 0);
    assert!(t.elapsed() < Duration::from_secs(3));
}

#[test]
fn ipv6_udp_on_loopback() {
    let Ok(peer) = UdpSocket::bind("[::1]:0") else {
        eprintln!("no IPv6 loopback here; skipped");
        return;
    };
    peer.set_read_timeout(Some(SECS5)).unwrap();
    let port = peer.local_addr().unwrap().port();
    let mut r = rnc(["-u", "::1", &port.to_string()]).spawn();
    r.send(b"v6 datagram");
    let (msg, from) = recv(&peer);
    assert_eq!(msg, b"v6 datagram");
    peer.send_to(b"back", from).unwrap();
    assert_eq!(r.read_out(4, SECS5), b"back");
}

#[test]
fn exec_runs_one_child_per_peer() {
    let mut r = rnc(["-v", "-n", "-u", "-l", "127.0.0.1", "0", "-e", "/bin/cat"]).spawn();
    let port = r.bound_port();
    let (a, _) = udp_peer();
    let (b, _) = udp_peer();
    for round in 0..3 {
        let ma = format!("a{round}\n");
        let mb = format!("b{round}\n");
        a.send_to(ma.as_bytes(), ("127.0.0.1", port)).unwrap();
        b.send_to(mb.as_bytes(), ("127.0.0.1", port)).unwrap();
        assert_eq!(recv(&a).0, ma.as_bytes(), "a's child answers a");
        assert_eq!(recv(&b).0, mb.as_bytes(), "b's child answers b");
    }
    // One child each: two peers announced, not six.
    let joins = r
        .err_lines
        .iter()
        .filter(|l| l.starts_with("Connection received"))
        .count();
    assert!(joins <= 2, "{:?}", r.err_lines);
}

#[test]
fn exec_child_environment_over_udp() {
    let mut r = rnc([
        "-n",
        "-v",
        "-u",
        "-l",
        "127.0.0.1",
        "0",
        "-c",
        "read x; echo $x $RNC_PROTO $RNC_REMOTE_ADDR",
    ])
    .spawn();
    let port = r.bound_port();
    let (a, _) = udp_peer();
    a.send_to(b"hello\n", ("127.0.0.1", port)).unwrap();
    assert_eq!(recv(&a).0, b"hello UDP 127.0.0.1\n");
    // Once that child has exited (and been reaped), the next datagram starts another.
    let pid = r.child.id();
    let end = std::time::Instant::now() + SECS5;
    while !crate::relay::children_of(pid).is_empty() {
        assert!(std::time::Instant::now() < end, "the child was not reaped");
        std::thread::sleep(Duration::from_millis(5));
    }
    a.send_to(b"again\n", ("127.0.0.1", port)).unwrap();
    assert_eq!(recv(&a).0, b"again UDP 127.0.0.1\n");
}

/// Wait until rnc has at most `n` children; false at the deadline.
fn children_at_most(r: &Rnc, n: usize, within: Duration) -> bool {
    let end = Instant::now() + within;
    loop {
        if crate::relay::children_of(r.child.id()).len() <= n {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn exec_retires_idle_peers() {
    // cat never exits by itself (UDP has no EOF): -w 1 retires each peer after 1 s idle.
    let mut r = rnc([
        "-n",
        "-u",
        "-l",
        "-k",
        "-w",
        "1",
        "-v",
        "127.0.0.1",
        "0",
        "-e",
        "/bin/cat",
    ])
    .spawn();
    let port = r.bound_port();
    let peers: Vec<UdpSocket> = (0..50).map(|_| udp_peer().0).collect();
    for (i, p) in peers.iter().enumerate() {
        let m = format!("peer {i}\n");
        p.send_to(m.as_bytes(), ("127.0.0.1", port)).unwrap();
        assert_eq!(recv(p).0, m.as_bytes());
    }
    assert!(children_at_most(&r, 0, SECS10), "idle peers' children stay");
    // A retired peer that speaks again gets a new child.
    peers[0].send_to(b"again\n", ("127.0.0.1", port)).unwrap();
    assert_eq!(recv(&peers[0]).0, b"again\n");
}

#[test]
fn exec_children_are_bounded_by_max_conns() {
    let mut r = rnc([
        "-n",
        "-u",
        "-l",
        "-k",
        "-v",
        "-w",
        "1",
        "--max-conns",
        "2",
        "127.0.0.1",
        "0",
        "-e",
        "/bin/cat",
    ])
    .spawn();
    let port = r.bound_port();
    let (a, b, c) = (udp_peer().0, udp_peer().0, udp_peer().0);
    for p in [&a, &b] {
        p.send_to(b"hi\n", ("127.0.0.1", port)).unwrap();
        assert_eq!(recv(p).0, b"hi\n");
    }
    c.send_to(b"me too\n", ("127.0.0.1", port)).unwrap();
    r.wait_err(
        "--max-conns 2 reached: dropped a datagram from 127.0.0.1",
        SECS5,
    );
    assert!(crate::relay::children_of(r.child.id()).len() <= 2);
    // Once a and b are retired (idle), c is served.
    assert!(children_at_most(&r, 0, SECS10));
    c.send_to(b"now\n", ("127.0.0.1", port)).unwrap();
    assert_eq!(recv(&c).0, b"now\n");
}
