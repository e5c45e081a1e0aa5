//! nc.openbsd parity of the bridge: -t telnet answers, -W, ncat's --send-only and
//! --recv-only, a write reset after the peer answered, -u -v to a closed port, -w 0
//! and -i's pause after the last line.

use std::io::{Read, Write};
use std::net::UdpSocket;
use std::time::{Duration, Instant};

use crate::util::*;

#[test]
fn telnet_answers_do_with_wont_and_will_with_dont_and_passes_the_bytes() {
    let (l, port) = peer_listener();
    let mut r = client(&["-t"], port);
    let mut s = accept(&l, SECS5);
    let sent = b"\xff\xfd\x01hi\xff\xfb\x03x\xff\xfe\x05\xff\xfc\x06end\n";
    s.write_all(sent).unwrap();
    assert_eq!(
        read_n(&mut s, 12),
        b"\xff\xfc\x01\xff\xfe\x03\xff\xfc\x05\xff\xfe\x06"
    );
    // As nc.openbsd: stdout gets the negotiation bytes too, unchanged.
    assert_eq!(r.read_out(sent.len(), SECS5), sent);
    drop(s);
}

#[test]
fn without_dash_t_nothing_is_answered() {
    let (l, port) = peer_listener();
    let mut r = client(&["-N"], port);
    let mut s = accept(&l, SECS5);
    s.write_all(b"\xff\xfd\x01").unwrap();
    assert_eq!(r.read_out(3, SECS5), b"\xff\xfd\x01");
    r.close_stdin();
    assert_eq!(read_to_end(&mut s), b"");
}

#[test]
fn recv_limit_quits_after_n_datagrams() {
    let mut r = rnc(["-v", "-u", "-l", "-W", "2", "127.0.0.1", "0"]).spawn();
    let line = r.wait_err("Bound on", SECS5);
    let port: u16 = line.rsplit(' ').next().unwrap().parse().unwrap();
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    for d in [&b"one\n"[..], b"two\n"] {
        s.send_to(d, ("127.0.0.1", port)).unwrap();
    }
    assert_eq!(r.read_out(8, SECS5), b"one\ntwo\n");
    assert_eq!(r.code(SECS5), 0);
}

#[test]
fn recv_limit_over_tcp_stops_reading_stdin_and_exits() {
    let (l, port) = peer_listener();
    let mut r = client(&["-W", "1"], port);
    let mut s = accept(&l, SECS5);
    s.write_all(b"first\n").unwrap();
    assert_eq!(r.read_out(6, SECS5), b"first\n");
    // stdin stays open: rnc leaves anyway.
    assert_eq!(r.code(SECS5), 0);
    let mut r = rnc(["-W", "0", "h", "1"]).spawn();
    assert_eq!(r.code(SECS5), 1);
    assert_eq!(r.err_lines, ["rnc: receive limit too small: 0"]);
}

#[test]
fn send_only_drops_what_the_peer_sends_and_quits_at_stdin_eof() {
    let (l, port) = peer_listener();
    let mut r = client(&["--send-only"], port);
    let mut s = accept(&l, SECS5);
    s.write_all(b"ignored\n").unwrap();
    r.send(b"data\n");
    r.close_stdin();
    assert_eq!(read_to_end(&mut s), b"data\n");
    assert!(r.read_out_to_end(SECS5).is_empty());
    assert_eq!(r.code(SECS5), 0);
}

#[test]
fn recv_only_sends_nothing() {
    let (l, port) = peer_listener();
    let mut r = client(&["--recv-only"], port);
    let mut s = accept(&l, SECS5);
    r.send(b"never sent\n");
    s.write_all(b"hello\n").unwrap();
    assert_eq!(r.read_out(6, SECS5), b"hello\n");
    s.shutdown(std::net::Shutdown::Write).unwrap();
    assert_eq!(read_to_end(&mut s), b"");
    assert_eq!(r.code(SECS5), 0);
}

#[test]
fn write_reset_after_the_peer_answered_and_closed_is_exit_0() {
    let (l, port) = peer_listener();
    let mut r = client(&[], port);
    let mut s = accept(&l, SECS5);
    r.send(&[b'x'; 1000]);
    let mut some = [0u8; 10];
    s.read_exact(&mut some).unwrap();
    s.write_all(b"answer\n").unwrap();
    assert_eq!(r.read_out(7, SECS5), b"answer\n");
    // Closing with unread bytes sends a reset; rnc's next write fails on it.
    drop(s);
    let end = Instant::now() + SECS5;
    while r.running() && Instant::now() < end {
        if let Some(stdin) = r.stdin.as_mut() {
            if stdin.write_all(&[b'y'; 4096]).is_err() {
                break;
            }
        }
    }
    assert_eq!(r.code(SECS5), 0, "{:?}", r.err_lines);
    assert!(r.err_lines.is_empty(), "{:?}", r.err_lines);
}

#[test]
fn udp_verbose_to_a_closed_port_fails_at_once() {
    let port = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let t = Instant::now();
    let mut r = client(&["-u", "-v", "-w", "3"], port);
    assert_eq!(r.code(SECS5), 1);
    assert!(t.elapsed() < Duration::from_secs(2));
    assert_eq!(
        r.err_lines,
        [format!(
            "rnc: connect to 127.0.0.1 port {port} (udp) failed: Connection refused"
        )]
    );
}

#[test]
fn wait_zero_connects_and_quits_at_once() {
    let (l, port) = peer_listener();
    let t = Instant::now();
    let mut r = client(&["-w", "0"], port);
    let _s = accept(&l, SECS5);
    // stdin stays open and the peer stays: -w 0 still quits.
    assert_eq!(r.code(SECS5), 0);
    assert!(t.elapsed() < Duration::from_secs(2));
}

#[test]
fn interval_also_waits_after_the_last_line() {
    let (l, port) = peer_listener();
    let mut r = client(&["-N", "-i", "0.4"], port);
    let mut s = accept(&l, SECS5);
    let t = Instant::now();
    r.send(b"a\nb\n");
    r.close_stdin();
    assert_eq!(read_to_end(&mut s), b"a\nb\n");
    // Two lines, each followed by its pause, before the FIN: as nc.openbsd.
    assert!(
        t.elapsed() >= Duration::from_millis(780),
        "{:?}",
        t.elapsed()
    );
    drop(s);
    assert_eq!(r.code(SECS5), 0);
}
