//! `--allow`, `--deny` and their files: refused peers are closed before any byte moves.

use std::io::{Read, Write};
use std::net::{TcpStream, UdpSocket};

use crate::util::*;

/// Connect, send a line, and report whether the server printed it.
fn refused(r: &mut Rnc, mut c: TcpStream) -> bool {
    let _ = c.write_all(b"knock\n");
    let mut buf = [0u8; 1];
    c.set_read_timeout(Some(SECS5)).unwrap();
    // A refused client is closed at once: EOF (or a reset), never data.
    let closed = matches!(c.read(&mut buf), Ok(0) | Err(_));
    if closed {
        r.wait_err("not allowed", SECS5);
    }
    closed
}

#[test]
fn allow_admits_only_matching_sources() {
    let (mut r, port) = server(&["--allow", "127.0.0.2"]);
    assert!(refused(&mut r, connect(port)));
    // rnc as a client from 127.0.0.2 (-s) is let in.
    let mut c = rnc(["-N", "-s", "127.0.0.2", "127.0.0.1", &port.to_string()]).spawn();
    c.send(b"from .2\n");
    c.close_stdin();
    assert_eq!(r.read_out(8, SECS5), b"from .2\n");
    assert!(r.running());
}

#[test]
fn deny_ranges_win_and_others_pass() {
    let (mut r, port) = server(&["--deny", "127.0.0.0/30"]);
    assert!(refused(&mut r, connect(port)));
    let mut c = rnc(["-N", "-s", "127.0.0.9", "127.0.0.1", &port.to_string()]).spawn();
    c.send(b"from .9\n");
    c.close_stdin();
    assert_eq!(r.read_out(8, SECS5), b"from .9\n");
}

#[test]
fn allowfile_with_comments_and_ipv6_deny() {
    let dir = std::env::temp_dir().join(format!("rnc-acl-it-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("allow");
    std::fs::write(&f, "# only the .3 host\n127.0.0.3 # comment\n").unwrap();
    let (mut r, port) = server(&["--allowfile", f.to_str().unwrap()]);
    assert!(refused(&mut r, connect(port)));
    std::fs::remove_dir_all(&dir).unwrap();

    if std::net::TcpListener::bind("[::1]:0").is_err() {
        return;
    }
    let mut r = rnc(["-v", "-n", "-k", "-l", "::1", "0", "--deny", "::1/128"]).spawn();
    let port = r.listen_port();
    let c = TcpStream::connect(("::1", port)).unwrap();
    assert!(refused(&mut r, c));
}

#[test]
fn denied_datagrams_are_dropped() {
    let mut r = rnc([
        "-v",
        "-n",
        "-u",
        "-l",
        "-k",
        "127.0.0.1",
        "0",
        "--deny",
        "127.0.0.1",
    ])
    .spawn();
    let port = r.bound_port();
    let a = UdpSocket::bind("127.0.0.1:0").unwrap();
    a.send_to(b"denied", ("127.0.0.1", port)).unwrap();
    r.wait_err("not allowed", SECS5);
    let b = UdpSocket::bind("127.0.0.5:0").unwrap();
    b.send_to(b"fine", ("127.0.0.1", port)).unwrap();
    assert_eq!(r.read_out(4, SECS5), b"fine");
}

#[test]
fn bad_entries_are_one_line() {
    let mut r = rnc(["-l", "0", "--allow", "10.0.0.0/40"]).spawn();
    assert_eq!(r.code(SECS5), 1);
    assert_eq!(r.err_lines.len(), 1, "{:?}", r.err_lines);
    assert!(r.err_lines[0].contains("10.0.0.0/40"));
}

#[test]
fn allowfile_in_ncat_form_several_a_line() {
    let dir = std::env::temp_dir().join(format!("rnc-acl-ncat-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("allow");
    std::fs::write(
        &f,
        "\n# ncat's form\n\n127.0.0.5 localhost\t127.0.0.2  # two a line\n\n",
    )
    .unwrap();
    // Without -n: the file names a host.
    let mut r = rnc([
        "-v",
        "-k",
        "-l",
        "127.0.0.1",
        "0",
        "--allowfile",
        f.to_str().unwrap(),
    ])
    .spawn();
    let port = r.listen_port();
    std::fs::remove_dir_all(&dir).unwrap();
    // localhost is 127.0.0.1: let in, as is 127.0.0.2; 127.0.0.9 is not.
    let mut c = connect(port);
    c.write_all(b"from .1\n").unwrap();
    assert_eq!(r.read_out(8, SECS5), b"from .1\n");
    let mut c2 = rnc(["-N", "-s", "127.0.0.2", "127.0.0.1", &port.to_string()]).spawn();
    c2.send(b"from .2\n");
    c2.close_stdin();
    assert_eq!(r.read_out(8, SECS5), b"from .2\n");
    let mut c9 = rnc(["-s", "127.0.0.9", "127.0.0.1", &port.to_string()]).spawn();
    c9.close_stdin();
    c9.wait(SECS5);
    r.wait_err("not allowed", SECS5);
}

#[test]
fn udp_echo_answers_only_allowed_peers() {
    let mut r = rnc([
        "-v",
        "-n",
        "-u",
        "-l",
        "--echo",
        "127.0.0.1",
        "0",
        "--deny",
        "127.0.0.1",
    ])
    .spawn();
    let port = r.bound_port();
    let denied = UdpSocket::bind("127.0.0.1:0").unwrap();
    let allowed = UdpSocket::bind("127.0.0.5:0").unwrap();
    allowed.set_read_timeout(Some(SECS5)).unwrap();
    denied.send_to(b"denied", ("127.0.0.1", port)).unwrap();
    allowed.send_to(b"fine", ("127.0.0.1", port)).unwrap();
    let mut buf = [0u8; 16];
    // The socket takes datagrams in order: once "fine" is back, "denied" was handled.
    let n = allowed.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"fine");
    r.wait_err("refused 127.0.0.1", SECS5);
    denied.set_nonblocking(true).unwrap();
    assert!(
        denied.recv(&mut buf).is_err(),
        "a denied peer got an answer"
    );
}

#[test]
fn rules_on_a_unix_listener_are_refused() {
    for extra in [&["--allow", "127.0.0.1"][..], &["--deny", "10.0.0.0/8"][..]] {
        let mut a = vec!["-l", "-U", "/nonexistent/rnc.sock"];
        a.extend_from_slice(extra);
        let mut r = rnc(a).spawn();
        assert_eq!(r.code(SECS5), 1);
        assert_eq!(
            r.err_lines,
            ["rnc: --allow and --deny need a TCP or UDP listener (-l)"]
        );
    }
}

/// The rules hold in every listener mode, stream and datagram, through the one
/// accept path: a denied peer gets nothing, an allowed one is served.
#[test]
fn access_rules_hold_in_every_listener_mode() {
    let stream_modes: [&[&str]; 7] = [
        &[],
        &["-k"],
        &["--echo"],
        &["--chat"],
        &["--broker"],
        &["-k", "--relay", "127.0.0.1:9"],
        &["-k", "-e", "/bin/cat"],
    ];
    for extra in stream_modes {
        let mut args = vec!["--deny", "127.0.0.1"];
        args.extend_from_slice(extra);
        let (mut r, port) = listener(&args);
        assert!(refused(&mut r, connect(port)), "{extra:?}");
        assert!(r.running(), "{extra:?}");
    }
    let datagram_modes: [&[&str]; 4] = [&[], &["-k"], &["--echo"], &["-k", "-e", "/bin/cat"]];
    for extra in datagram_modes {
        let mut args = vec!["-v", "-n", "-u", "-l", "--deny", "127.0.0.1"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["127.0.0.1", "0"]);
        let mut r = rnc(args).spawn();
        let port = r.bound_port();
        let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
        peer.send_to(b"knock\n", ("127.0.0.1", port)).unwrap();
        r.wait_err("not allowed", SECS5);
        // Nothing comes back to the denied peer, and rnc goes on.
        peer.set_read_timeout(Some(std::time::Duration::from_millis(200)))
            .unwrap();
        let mut buf = [0u8; 16];
        assert!(peer.recv(&mut buf).is_err(), "{extra:?}: answered");
        assert!(r.running(), "{extra:?}");
    }
}
