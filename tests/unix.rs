//! `-U`: Unix stream and datagram sockets, abstract names, socket files.

use std::io::Write;
use std::os::unix::net::{UnixDatagram, UnixListener, UnixStream};
use std::path::PathBuf;

use crate::util::*;

fn tmp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("rnc-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn unix_connect(path: &std::path::Path) -> UnixStream {
    let s = UnixStream::connect(path).unwrap();
    s.set_read_timeout(Some(SECS5)).unwrap();
    s
}

#[test]
fn stream_listen_and_connect_and_file_removed_on_exit() {
    let dir = tmp_dir("stream");
    let path = dir.join("s");
    let p = path.to_str().unwrap();
    let mut srv = rnc(["-v", "-l", "-U", p]).spawn();
    srv.wait_err(&format!("Listening on {p}"), SECS5);
    let mut cli = rnc(["-N", "-U", p]).spawn();
    cli.send(b"over unix\n");
    cli.close_stdin();
    srv.send(b"reply\n");
    assert_eq!(cli.read_out(6, SECS5), b"reply\n");
    assert_eq!(srv.read_out_to_end(SECS5), b"over unix\n");
    assert_eq!(srv.code(SECS5), 0);
    assert!(!path.exists(), "rnc removes its socket file on exit");
    srv.close_stdin();
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn stale_socket_file_is_replaced_but_a_live_one_is_not() {
    let dir = tmp_dir("stale");
    let path = dir.join("s");
    let p = path.to_str().unwrap();
    drop(UnixListener::bind(&path).unwrap()); // leaves its file behind
    assert!(path.exists());
    let mut srv = rnc(["-v", "-l", "-U", p]).spawn();
    srv.wait_err("Listening on", SECS5);
    let mut c = unix_connect(&path);
    c.write_all(b"fresh").unwrap();
    drop(c);
    assert_eq!(srv.read_out_to_end(SECS5), b"fresh");
    assert_eq!(srv.code(SECS5), 0);

    let live = UnixListener::bind(&path).unwrap();
    let mut r = rnc(["-l", "-U", p]).spawn();
    assert_eq!(r.code(SECS5), 1);
    assert!(
        r.err_lines[0].contains("Address already in use"),
        "{:?}",
        r.err_lines
    );
    assert!(path.exists(), "a live listener keeps its file");
    drop(live);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn socket_file_removed_on_sigterm() {
    let dir = tmp_dir("term");
    let path = dir.join("s");
    let mut srv = rnc(["-v", "-l", "-U", path.to_str().unwrap()]).spawn();
    srv.wait_err("Listening on", SECS5);
    assert!(path.exists());
    srv.signal(libc::SIGTERM);
    assert_eq!(srv.code(SECS5), 143);
    assert!(!path.exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn abstract_names() {
    let name = format!("@rnc-test-{}", std::process::id());
    let mut srv = rnc(["-v", "-l", "-U", &name]).spawn();
    srv.wait_err(&format!("Listening on {name}"), SECS5);
    let mut cli = rnc(["-N", "-U", &name]).spawn();
    cli.send(b"abstract");
    cli.close_stdin();
    assert_eq!(srv.read_out_to_end(SECS5), b"abstract");
    assert_eq!(srv.code(SECS5), 0);
    assert_eq!(cli.code(SECS5), 0);
}

#[test]
fn datagram_server_and_client() {
    let dir = tmp_dir("dgram");
    let path = dir.join("d");
    let p = path.to_str().unwrap();
    let mut srv = rnc(["-v", "-u", "-l", "-U", p]).spawn();
    srv.wait_err(&format!("Bound on {p}"), SECS5);
    let mut cli = rnc(["-u", "-U", p]).spawn();
    cli.send(b"Client 1 says hi!\n");
    assert_eq!(srv.read_out(18, SECS5), b"Client 1 says hi!\n");
    srv.send(b"hi back\n");
    assert_eq!(cli.read_out(8, SECS5), b"hi back\n");
    // A std peer sees one datagram per stdin read.
    let peer_path = dir.join("peer");
    let peer = UnixDatagram::bind(&peer_path).unwrap();
    peer.set_read_timeout(Some(SECS5)).unwrap();
    let mut c2 = rnc(["-u", "-U", peer_path.to_str().unwrap()]).spawn();
    c2.send(b"one datagram");
    let mut buf = [0u8; 100];
    let n = peer.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"one datagram");
    drop(srv);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn keep_open_over_unix() {
    let dir = tmp_dir("keep");
    let path = dir.join("s");
    let mut srv = rnc(["-v", "-k", "-l", "-U", path.to_str().unwrap()]).spawn();
    srv.wait_err("Listening on", SECS5);
    let mut a = unix_connect(&path);
    let mut b = unix_connect(&path);
    a.write_all(b"a\n").unwrap();
    assert_eq!(srv.read_out(2, SECS5), b"a\n");
    b.write_all(b"b\n").unwrap();
    assert_eq!(srv.read_out(2, SECS5), b"b\n");
    srv.send(b"all\n");
    let mut got = [0u8; 4];
    use std::io::Read;
    a.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"all\n");
    b.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"all\n");
    drop(srv);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn echo_and_chat_over_unix() {
    use std::io::Read;
    let dir = tmp_dir("hub");
    let echo_path = dir.join("echo");
    let mut echo = rnc(["-v", "-l", "--echo", "-U", echo_path.to_str().unwrap()]).spawn();
    echo.wait_err("Listening on", SECS5);
    let mut c = unix_connect(&echo_path);
    c.write_all(b"ping over unix\n").unwrap();
    let mut got = [0u8; 15];
    c.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"ping over unix\n");

    let chat_path = dir.join("chat");
    let mut chat = rnc(["-v", "-l", "--chat", "-U", chat_path.to_str().unwrap()]).spawn();
    chat.wait_err("Listening on", SECS5);
    let mut a = unix_connect(&chat_path);
    let mut b = unix_connect(&chat_path);
    chat.wait_err_count("Connection received", 2, SECS5);
    a.write_all(b"hola\n").unwrap();
    let mut line = [0u8; 8];
    b.read_exact(&mut line).unwrap();
    assert_eq!(&line, b"-> hola\n");
    drop((echo, chat));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn datagram_client_binds_the_source_path_and_removes_it_at_exit() {
    // OpenBSD's regress test unix-dgram-clientsock: `nc -U -u -s client.sock server.sock`.
    let dir = tmp_dir("dgram-s");
    let srv_path = dir.join("server.sock");
    let cli_path = dir.join("client.sock");
    let srv = UnixDatagram::bind(&srv_path).unwrap();
    srv.set_read_timeout(Some(SECS5)).unwrap();
    // A stale file from an earlier run is replaced.
    drop(UnixDatagram::bind(&cli_path).unwrap());
    let mut cli = rnc([
        "-u",
        "-U",
        "-s",
        cli_path.to_str().unwrap(),
        srv_path.to_str().unwrap(),
    ])
    .spawn();
    cli.send(b"hello\n");
    let mut buf = [0u8; 100];
    let (n, from) = srv.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"hello\n");
    assert_eq!(from.as_pathname(), Some(cli_path.as_path()), "bound to -s");
    srv.send_to(b"reply\n", &cli_path).unwrap();
    assert_eq!(cli.read_out(6, SECS5), b"reply\n");
    cli.signal(libc::SIGTERM);
    cli.wait(SECS5);
    assert!(
        !cli_path.exists(),
        "the client socket file is removed at exit"
    );
    // A stream client has no address to bind: refused, not ignored.
    let mut bad = rnc([
        "-U",
        "-s",
        cli_path.to_str().unwrap(),
        srv_path.to_str().unwrap(),
    ])
    .spawn();
    assert_eq!(bad.code(SECS5), 1);
    bad.wait_err("rnc: -s with -U needs -u", SECS5);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn datagram_echo_over_unix() {
    let dir = tmp_dir("dgram-echo");
    let path = dir.join("echo.sock");
    let p = path.to_str().unwrap();
    let mut srv = rnc(["-v", "-u", "-l", "-U", "--echo", p]).spawn();
    srv.wait_err(&format!("Bound on {p}"), SECS5);
    let me = UnixDatagram::bind(dir.join("me.sock")).unwrap();
    me.set_read_timeout(Some(SECS5)).unwrap();
    for msg in [&b"one"[..], b"two datagrams"] {
        me.send_to(msg, &path).unwrap();
        let mut buf = [0u8; 64];
        let n = me.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], msg, "each datagram back whole");
    }
    srv.signal(libc::SIGTERM);
    srv.wait(SECS5);
    assert!(!path.exists(), "the socket file is removed at exit");
    std::fs::remove_dir_all(&dir).unwrap();
}
