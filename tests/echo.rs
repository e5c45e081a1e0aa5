//! `rnc -l --echo` (TCP) and `rnc -u -l --echo` (UDP): every client gets its own bytes
//! back, the server holds little per client, and it keeps running.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream, UdpSocket};
use std::thread;
use std::time::{Duration, Instant};

use crate::util::*;

fn echo_server(extra: &[&str]) -> (Rnc, u16) {
    let mut a = vec!["-v", "-n", "-l", "--echo"];
    a.extend_from_slice(extra);
    a.extend_from_slice(&["127.0.0.1", "0"]);
    let mut r = rnc(a).spawn();
    let port = r.listen_port();
    (r, port)
}

#[test]
fn echo_returns_binary_bytes_and_keeps_running() {
    let (mut r, port) = echo_server(&[]);
    let all: Vec<u8> = (0..=255u8).chain((0..=255u8).rev()).collect();
    for _ in 0..2 {
        let mut c = connect(port);
        c.write_all(&all).unwrap();
        assert_eq!(read_n(&mut c, all.len()), all);
        c.write_all(b"\x00\r\n\xff").unwrap();
        assert_eq!(read_n(&mut c, 4), b"\x00\r\n\xff");
    }
    // A client that resets does not hurt the server either.
    let c = connect(port);
    reset(c);
    let mut c = connect(port);
    c.write_all(b"still here").unwrap();
    assert_eq!(read_n(&mut c, 10), b"still here");
    assert!(r.running());
}

#[test]
fn echo_4_mib_while_reading() {
    let (_r, port) = echo_server(&[]);
    let data = random_bytes(4 * 1024 * 1024, 7);
    let mut c = connect(port);
    let mut w = c.try_clone().unwrap();
    let d = data.clone();
    let writer = thread::spawn(move || {
        for chunk in d.chunks(100_000) {
            w.write_all(chunk).unwrap();
        }
    });
    let got = read_n(&mut c, data.len());
    writer.join().unwrap();
    assert_eq!(hash(&got), hash(&data));
}

#[test]
fn echo_half_close_sends_what_is_pending_then_closes() {
    let (mut r, port) = echo_server(&[]);
    let data = random_bytes(300_000, 3);
    let mut c = connect(port);
    let mut w = c.try_clone().unwrap();
    let d = data.clone();
    let writer = thread::spawn(move || {
        w.write_all(&d).unwrap();
        w.shutdown(Shutdown::Write).unwrap();
    });
    // Everything, then EOF: the server closes after its echo.
    let got = read_to_end(&mut c);
    writer.join().unwrap();
    assert_eq!(got.len(), data.len());
    assert_eq!(hash(&got), hash(&data));
    r.wait_err("Connection closed on 127.0.0.1", SECS5);
}

#[test]
fn echo_serves_many_clients_at_once() {
    let (_r, port) = echo_server(&[]);
    let mut clients: Vec<TcpStream> = (0..200).map(|_| connect(port)).collect();
    for (i, c) in clients.iter_mut().enumerate() {
        c.write_all(format!("client {i:03}\n").as_bytes()).unwrap();
    }
    for (i, c) in clients.iter_mut().enumerate() {
        assert_eq!(read_n(c, 11), format!("client {i:03}\n").as_bytes());
    }
}

/// Write without reading until the server stops taking bytes; returns how many went.
fn write_until_stalled(c: &mut TcpStream, cap: usize) -> usize {
    c.set_write_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let chunk = vec![b'e'; 64 * 1024];
    let mut sent = 0;
    while sent < cap {
        match c.write(&chunk) {
            Ok(n) => sent += n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => break,
            Err(e) => panic!("write: {e}"),
        }
    }
    sent
}

#[test]
fn echo_stops_reading_a_client_that_does_not_read() {
    let (r, port) = echo_server(&[]);
    let mut c = connect(port);
    let cap = 256 * 1024 * 1024;
    let sent = write_until_stalled(&mut c, cap);
    // Kernel buffers both ways plus one held read: far less than what we offered.
    assert!(sent < cap, "server kept reading {sent} bytes");
    assert!(r.rss_kb() < 32 * 1024, "server RSS {} KiB", r.rss_kb());
    // Another client is served meanwhile.
    let mut other = connect(port);
    other.write_all(b"not blocked").unwrap();
    assert_eq!(read_n(&mut other, 11), b"not blocked");
    // Reading resumes the stalled client: every byte comes back.
    let mut got = 0;
    let mut buf = vec![0u8; 256 * 1024];
    let end = Instant::now() + SECS10;
    while got < sent {
        assert!(Instant::now() < end, "echo {got}/{sent} bytes");
        let n = c.read(&mut buf).unwrap();
        assert!(n > 0 && buf[..n].iter().all(|&b| b == b'e'));
        got += n;
    }
    assert_eq!(got, sent);
}

#[test]
fn udp_echo_returns_each_datagram_whole_to_its_sender() {
    let mut r = rnc(["-v", "-n", "-u", "-l", "--echo", "127.0.0.1", "0"]).spawn();
    let line = r.wait_err("Bound on 127.0.0.1", SECS5);
    let port: u16 = line.rsplit(' ').next().unwrap().parse().unwrap();
    let a = UdpSocket::bind("127.0.0.1:0").unwrap();
    let b = UdpSocket::bind("127.0.0.1:0").unwrap();
    for s in [&a, &b] {
        s.set_read_timeout(Some(SECS5)).unwrap();
        s.connect(("127.0.0.1", port)).unwrap();
    }
    let mut buf = vec![0u8; 65536];
    for size in [1usize, 1000, 8192, 60_000] {
        let da = random_bytes(size, size as u64);
        let db = random_bytes(size, size as u64 + 1);
        a.send(&da).unwrap();
        b.send(&db).unwrap();
        let n = a.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], &da[..], "datagram of {size} to a");
        let n = b.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], &db[..], "datagram of {size} to b");
    }
    // An empty datagram is a datagram too.
    a.send(b"").unwrap();
    assert_eq!(a.recv(&mut buf).unwrap(), 0);
}

#[test]
fn max_conns_closes_extra_clients_at_once() {
    let (mut r, port) = echo_server(&["--max-conns", "2"]);
    let mut a = connect(port);
    let mut b = connect(port);
    r.wait_err_count("Connection received on", 2, SECS5);
    let mut c = connect(port);
    r.wait_err("--max-conns 2 reached: closed 127.0.0.1", SECS5);
    assert!(sees_eof(&mut c, SECS5));
    for (s, msg) in [(&mut a, b"a"), (&mut b, b"b")] {
        s.write_all(msg).unwrap();
        assert_eq!(read_n(s, 1), msg);
    }
    // A place frees up: the next client is served.
    drop(a);
    r.wait_err("Connection closed on", SECS5);
    let mut d = connect(port);
    d.write_all(b"d").unwrap();
    assert_eq!(read_n(&mut d, 1), b"d");
}

#[test]
fn out_of_descriptors_pauses_accepting_without_spinning() {
    // Few descriptors: some clients wait in the backlog (accept fails with EMFILE).
    let mut r = rnc(["-v", "-n", "-l", "--echo", "127.0.0.1", "0"])
        .nofile(32)
        .spawn();
    let port = r.listen_port();
    let mut clients: Vec<TcpStream> = (0..40).map(|_| connect(port)).collect();
    // The first client is served.
    clients[0].write_all(b"first").unwrap();
    assert_eq!(read_n(&mut clients[0], 5), b"first");
    // Waiting clients must not make the server spin: little CPU over half a second.
    let before = r.cpu_time();
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_millis(500) {
        thread::sleep(Duration::from_millis(50));
    }
    let used = r.cpu_time() - before;
    assert!(
        used < Duration::from_millis(150),
        "{used:?} of CPU while out of fds"
    );
    assert!(r.running());
    // Clients leave; the last one, still in the backlog so far, gets served.
    let mut last = clients.pop().unwrap();
    clients.truncate(5);
    last.write_all(b"last").unwrap();
    assert_eq!(read_n(&mut last, 4), b"last");
}
