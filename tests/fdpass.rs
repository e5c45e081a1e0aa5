//! `-F`: the connected socket arrives over a socketpair with SCM_RIGHTS and works.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;

use crate::util::*;

/// One descriptor received with SCM_RIGHTS (the socket's read timeout bounds the wait).
fn recv_fd(s: &UnixStream) -> Option<OwnedFd> {
    let mut byte = [0u8; 1];
    let (n, cmsgs) = recv_msg(s.as_raw_fd(), &mut byte).ok()?;
    let (_, kind, data) = cmsgs.first()?;
    if n == 0 || *kind != libc::SCM_RIGHTS {
        return None;
    }
    let fd = RawFd::from_ne_bytes(data.get(..4)?.try_into().ok()?);
    // SAFETY: the descriptor just arrived with SCM_RIGHTS and nothing else owns it.
    Some(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn passes_a_working_socket(extra: &[&str], port: u16, l: &std::net::TcpListener) {
    let (ours, theirs) = UnixStream::pair().unwrap();
    ours.set_read_timeout(Some(SECS5)).unwrap();
    let mut a: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
    a.extend(["-F".into(), "127.0.0.1".into(), port.to_string()]);
    let mut r = rnc(a).stdout(OwnedFd::from(theirs)).spawn();
    let mut peer = accept(l, SECS10);
    let fd = recv_fd(&ours).expect("a descriptor over the socketpair");
    assert_eq!(r.code(SECS5), 0, "{:?}", r.err_lines);
    let mut s = TcpStream::from(fd);
    s.set_read_timeout(Some(SECS5)).unwrap();
    s.write_all(b"via fd\n").unwrap();
    assert_eq!(read_n(&mut peer, 7), b"via fd\n");
    peer.write_all(b"back\n").unwrap();
    let mut got = [0u8; 5];
    s.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"back\n");
}

#[test]
fn dash_f_passes_the_connected_socket_and_exits() {
    let (l, port) = peer_listener();
    passes_a_working_socket(&[], port, &l);
}

#[test]
fn dash_f_passes_the_socket_after_the_proxy_handshake() {
    let mp = free_port();
    let Some(_ms) = daemon(
        "microsocks",
        &["-i", "127.0.0.1", "-p", &mp.to_string()],
        mp,
    ) else {
        return;
    };
    let (l, port) = peer_listener();
    passes_a_working_socket(&["-x", &format!("127.0.0.1:{mp}")], port, &l);
}

#[test]
fn dash_f_on_a_pipe_is_one_line_and_refuses_listen() {
    let (_l, port) = peer_listener();
    let mut r = rnc(["-F", "127.0.0.1", &port.to_string()]).spawn();
    assert_eq!(r.code(SECS5), 1);
    assert_eq!(
        r.err_lines,
        ["rnc: sendmsg: Socket operation on non-socket"]
    );
    let mut r = rnc(["-F", "-l", "0"]).spawn();
    assert_eq!(r.code(SECS5), 1);
    assert_eq!(r.err_lines, ["rnc: cannot use -F and -l"]);
}
