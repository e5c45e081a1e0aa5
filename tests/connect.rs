//! Connect mode: nc.openbsd's EOF and half-close rules, errors, odd stdio.

use std::fs::File;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use crate::util::*;

const SHORT: Duration = Duration::from_millis(300);

#[test]
fn stdin_eof_sends_no_fin_by_default_and_waits_for_the_peer() {
    let (l, port) = peer_listener();
    let mut r = client(&[], port);
    let mut s = accept(&l, SECS5);
    r.send(b"hello\n");
    r.close_stdin();
    assert_eq!(read_n(&mut s, 6), b"hello\n");
    assert!(!sees_eof(&mut s, SHORT), "no FIN without -N");
    assert!(r.running());
    s.write_all(b"REPLY\n").unwrap();
    assert_eq!(r.read_out(6, SECS5), b"REPLY\n");
    drop(s);
    assert_eq!(r.code(SECS5), 0);
}

#[test]
fn dash_n_sends_fin_at_stdin_eof_and_still_gets_the_reply() {
    let (l, port) = peer_listener();
    let mut r = client(&["-N"], port);
    let mut s = accept(&l, SECS5);
    r.send(b"hello\n");
    r.close_stdin();
    assert_eq!(read_to_end(&mut s), b"hello\n");
    s.write_all(b"REPLY\n").unwrap();
    drop(s);
    assert_eq!(r.read_out_to_end(SECS5), b"REPLY\n");
    assert_eq!(r.code(SECS5), 0);
}

#[test]
fn dash_q_quits_after_eof_even_if_the_peer_stays() {
    let (l, port) = peer_listener();
    let mut r = client(&["-q", "0.5"], port);
    let mut s = accept(&l, SECS5);
    r.close_stdin();
    assert!(sees_eof(&mut s, SECS5), "-q sends FIN");
    let t = Instant::now();
    assert_eq!(r.code(SECS5), 0);
    assert!(t.elapsed() < Duration::from_secs(3));
    drop(s);
}

#[test]
fn dash_q_quits_when_the_peer_closes_first() {
    let (l, port) = peer_listener();
    let mut r = client(&["-q", "30"], port);
    let mut s = accept(&l, SECS5);
    r.send(b"q\n");
    r.close_stdin();
    assert_eq!(read_to_end(&mut s), b"q\n");
    s.write_all(b"answer").unwrap();
    drop(s);
    assert_eq!(r.read_out_to_end(SECS5), b"answer");
    assert_eq!(r.code(SECS5), 0);
}

#[test]
fn dash_q_zero_quits_at_once() {
    let (l, port) = peer_listener();
    let mut r = client(&["-q", "0"], port);
    let mut s = accept(&l, SECS5);
    r.send(b"last words\n");
    r.close_stdin();
    assert_eq!(r.code(SECS5), 0);
    assert_eq!(read_to_end(&mut s), b"last words\n", "nothing lost");
}

#[test]
fn peer_closing_first_does_not_lose_stdin() {
    let (l, port) = peer_listener();
    let mut r = client(&[], port);
    let mut s = accept(&l, SECS5);
    s.write_all(b"bye\n").unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    assert_eq!(r.read_out(4, SECS5), b"bye\n");
    // The peer only half-closed: it still reads what rnc sends until stdin ends.
    r.send(b"more\n");
    r.send(b"and more\n");
    r.close_stdin();
    assert_eq!(read_to_end(&mut s), b"more\nand more\n");
    assert_eq!(r.code(SECS5), 0);
}

#[test]
fn dash_w_is_an_idle_timeout() {
    let (l, port) = peer_listener();
    let mut r = client(&["-w", "1"], port);
    let _s = accept(&l, SECS5);
    let t = Instant::now();
    assert_eq!(r.code(SECS5), 0);
    assert!(t.elapsed() >= Duration::from_millis(900));
}

#[test]
fn dash_w_bounds_the_connect() {
    // An address that never answers is not available offline; a refused connect
    // must still fail fast with the nc message.
    let port = {
        let (_l, p) = peer_listener();
        p
    };
    let mut r = client(&["-w", "2"], port);
    assert_eq!(r.code(SECS5), 1);
    assert_eq!(
        r.err_lines,
        [format!(
            "rnc: connect to 127.0.0.1 port {port} (tcp) failed: Connection refused"
        )]
    );
}

#[test]
fn dash_d_never_reads_stdin() {
    let (l, port) = peer_listener();
    let mut r = client(&["-d"], port);
    let mut s = accept(&l, SECS5);
    r.send(b"not for the peer\n");
    r.close_stdin();
    assert!(!sees_eof(&mut s, SHORT));
    s.write_all(b"x").unwrap();
    drop(s);
    assert_eq!(r.read_out_to_end(SECS5), b"x");
    assert_eq!(r.code(SECS5), 0);
}

#[test]
fn dash_c_sends_crlf() {
    let (l, port) = peer_listener();
    let mut r = client(&["-C", "-N"], port);
    let mut s = accept(&l, SECS5);
    // A bare LF gets its CR; a CR LF already there stays as it is (nc.openbsd).
    r.send(b"GET / HTTP/1.0\nHost: x\r\n\n");
    r.close_stdin();
    assert_eq!(read_to_end(&mut s), b"GET / HTTP/1.0\r\nHost: x\r\n\r\n");
    drop(s);
    assert_eq!(r.code(SECS5), 0);
}

#[test]
fn dash_i_spaces_lines() {
    let (l, port) = peer_listener();
    let mut r = client(&["-i", "0.3", "-N"], port);
    let mut s = accept(&l, SECS5);
    r.send(b"one\ntwo\n");
    r.close_stdin();
    assert_eq!(read_n(&mut s, 4), b"one\n");
    let t = Instant::now();
    assert_eq!(read_n(&mut s, 4), b"two\n");
    assert!(
        t.elapsed() >= Duration::from_millis(200),
        "{:?}",
        t.elapsed()
    );
    assert!(sees_eof(&mut s, SECS5));
    drop(s);
    assert_eq!(r.code(SECS5), 0);
}

#[test]
fn refused_is_one_line_and_exit_1() {
    let port = {
        let (_l, p) = peer_listener();
        p
    };
    let mut r = client(&[], port);
    assert_eq!(r.code(SECS5), 1);
    assert_eq!(
        r.err_lines,
        [format!(
            "rnc: connect to 127.0.0.1 port {port} (tcp) failed: Connection refused"
        )]
    );
}

#[test]
fn reset_is_one_line_and_exit_1() {
    let (l, port) = peer_listener();
    let mut r = client(&[], port);
    let s = accept(&l, SECS5);
    reset(s);
    assert_eq!(r.code(SECS5), 1);
    assert_eq!(r.err_lines.len(), 1, "{:?}", r.err_lines);
    assert!(
        r.err_lines[0].starts_with("rnc: ") && r.err_lines[0].contains("Connection reset by peer"),
        "{:?}",
        r.err_lines
    );
}

#[test]
fn stdout_closed_by_its_reader_exits_quietly() {
    let (l, port) = peer_listener();
    let mut r = client(&[], port);
    let mut s = accept(&l, SECS5);
    s.write_all(b"0123456789").unwrap();
    assert_eq!(r.read_out(10, SECS5), b"0123456789");
    // Like `| head -c 10`: the reader goes away, the peer keeps talking.
    r.stop_reading_stdout();
    let chunk = vec![b'x'; 64 * 1024];
    let t = Instant::now();
    while r.running() && t.elapsed() < SECS5 {
        if s.write_all(&chunk).is_err() {
            break;
        }
    }
    assert_eq!(r.code(SECS5), 0);
    assert!(r.err_lines.is_empty(), "{:?}", r.err_lines);
}

#[test]
fn regular_files_as_stdin_and_stdout() {
    let dir = std::env::temp_dir().join(format!("rnc-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let input = dir.join("in");
    let output = dir.join("out");
    let data = random_bytes(3 * 1024 * 1024 + 17, 7);
    std::fs::write(&input, &data).unwrap();
    let (l, port) = peer_listener();
    let mut r = rnc(["-N", "127.0.0.1", &port.to_string()])
        .stdin(File::open(&input).unwrap())
        .stdout(File::create(&output).unwrap())
        .spawn();
    let mut s = accept(&l, SECS5);
    let got = read_to_end(&mut s);
    assert_eq!(got.len(), data.len());
    assert!(got == data);
    s.write_all(b"reply into a file").unwrap();
    drop(s);
    assert_eq!(r.code(SECS5), 0);
    assert_eq!(std::fs::read(&output).unwrap(), b"reply into a file");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn dev_null_stdin_connect() {
    let (l, port) = peer_listener();
    let mut r = rnc(["-N", "127.0.0.1", &port.to_string()])
        .stdin(File::open("/dev/null").unwrap())
        .spawn();
    let mut s = accept(&l, SECS5);
    assert!(read_to_end(&mut s).is_empty());
    s.write_all(b"ok").unwrap();
    drop(s);
    assert_eq!(r.read_out_to_end(SECS5), b"ok");
    assert_eq!(r.code(SECS5), 0);
}

#[test]
fn ipv6_loopback() {
    let Ok(l) = TcpListener::bind("[::1]:0") else {
        eprintln!("no IPv6 loopback here; skipped");
        return;
    };
    let port = l.local_addr().unwrap().port();
    let mut r = rnc(["-v", "-N", "::1", &port.to_string()]).spawn();
    let mut s = accept(&l, SECS5);
    r.send(b"six");
    r.close_stdin();
    assert_eq!(read_to_end(&mut s), b"six");
    drop(s);
    assert_eq!(r.code(SECS5), 0);
    r.wait_err(
        &format!("Connection to ::1 {port} port [tcp/*] succeeded!"),
        SECS5,
    );
}

#[test]
fn sigterm_exits_143_and_restores_stdin_flags() {
    // Keep a handle on the same open file description as rnc's stdin: O_NONBLOCK lives
    // there, so we can see whether rnc put it back.
    let mut fds = [0; 2];
    // SAFETY: fds has room for two.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    // SAFETY: fresh descriptors we own.
    let (rd, wr) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    let mine = rd.try_clone().unwrap();
    let (l, port) = peer_listener();
    let mut r = rnc(["127.0.0.1", &port.to_string()])
        .stdin(File::from(rd))
        .spawn();
    let mut s = accept(&l, SECS5);
    let mut w = File::from(wr);
    w.write_all(b"ping").unwrap();
    assert_eq!(read_n(&mut s, 4), b"ping"); // rnc is in its loop, flags set
    r.signal(libc::SIGTERM);
    assert_eq!(r.code(SECS5), 143);
    // SAFETY: F_GETFL on our descriptor.
    let fl = unsafe { libc::fcntl(mine.as_raw_fd(), libc::F_GETFL) };
    assert_eq!(fl & libc::O_NONBLOCK, 0, "O_NONBLOCK left on stdin");
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest);
}

#[test]
fn sigint_exits_130() {
    let (l, port) = peer_listener();
    let mut r = client(&[], port);
    let mut s = accept(&l, SECS5);
    r.send(b"x");
    // The byte crossed: rnc is in its loop, where signals are caught.
    assert_eq!(read_n(&mut s, 1), b"x");
    r.signal(libc::SIGINT);
    assert_eq!(r.code(SECS5), 130);
}

#[test]
fn terminal_stdin_exits_once_the_peer_is_done() {
    // stdin is a terminal (a pty here): nobody pipes "the rest" in after the peer
    // closes, so rnc exits as soon as the peer's data is on stdout.
    let Some((_master, slave)) = pty() else {
        eprintln!("SKIP: no pty here");
        return;
    };
    let (l, port) = peer_listener();
    let mut r = rnc(["127.0.0.1", &port.to_string()])
        .stdin(File::from(slave))
        .spawn();
    let mut s = accept(&l, SECS5);
    s.write_all(b"bye\n").unwrap();
    drop(s);
    assert_eq!(r.read_out_to_end(SECS5), b"bye\n");
    assert_eq!(r.code(SECS5), 0);
}

/// The peer closes while stdin stays open (ssh's ProxyCommand): stdout's reader gets
/// its end of file at once, whatever rnc still has to send.
#[test]
fn peer_close_ends_stdout_while_stdin_stays_open() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port().to_string();
    let mut r = rnc(["127.0.0.1", &port]).spawn();
    let (mut s, _) = l.accept().unwrap();
    s.write_all(b"bye\n").unwrap();
    drop(s);
    assert_eq!(r.read_out_to_end(SECS5), b"bye\n");
    assert!(r.running(), "stdin is still open: rnc goes on");
}
