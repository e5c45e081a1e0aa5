//! nc.openbsd's socket flags, each seen by the kernel or from the other side: the TTL
//! and TOS of received datagrams (IP_RECVTTL, IP_RECVTOS), buffer sizes read back from
//! rnc's own socket (pidfd_getfd), the minimum TTL dropping packets, broadcast allowed,
//! TCP MD5 signatures agreeing or not.

use std::io::Write;
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

use crate::util::*;

fn set_int(fd: RawFd, level: i32, name: i32, v: i32) {
    // SAFETY: valid socket, pointer to a live int.
    let rc = unsafe { libc::setsockopt(fd, level, name, (&v as *const i32).cast(), 4) };
    assert_eq!(rc, 0, "setsockopt {level}/{name}");
}

fn get_int(fd: RawFd, level: i32, name: i32) -> i32 {
    let mut v: i32 = 0;
    let mut len: libc::socklen_t = 4;
    // SAFETY: valid socket, pointer to a live int and its length.
    let rc = unsafe { libc::getsockopt(fd, level, name, (&mut v as *mut i32).cast(), &mut len) };
    assert_eq!(rc, 0);
    v
}

/// One datagram and the (level, type, value) of each int control message with it.
fn recv_with_cmsgs(s: &UdpSocket) -> (Vec<u8>, Vec<(i32, i32, i32)>) {
    let mut buf = [0u8; 2048];
    let (n, cmsgs) = recv_msg(s.as_raw_fd(), &mut buf).unwrap_or_else(|e| panic!("recvmsg: {e}"));
    let ints = cmsgs
        .into_iter()
        .map(|(level, kind, data)| {
            // IP_TOS arrives as one byte; the others as an int.
            let v = match (level, kind) {
                (libc::IPPROTO_IP, libc::IP_TOS) => i32::from(data[0]),
                _ => i32::from_ne_bytes(data[..4].try_into().unwrap()),
            };
            (level, kind, v)
        })
        .collect();
    (buf[..n].to_vec(), ints)
}

fn udp_peer(addr: &str) -> (UdpSocket, u16) {
    let s = UdpSocket::bind(addr).unwrap();
    s.set_read_timeout(Some(SECS5)).unwrap();
    let port = s.local_addr().unwrap().port();
    (s, port)
}

#[test]
fn ttl_and_tos_of_sent_packets_as_the_peer_sees_them() {
    let (peer, port) = udp_peer("127.0.0.1:0");
    set_int(peer.as_raw_fd(), libc::IPPROTO_IP, libc::IP_RECVTTL, 1);
    set_int(peer.as_raw_fd(), libc::IPPROTO_IP, libc::IP_RECVTOS, 1);
    let mut r = rnc([
        "-u",
        "-M",
        "7",
        "-T",
        "lowdelay",
        "127.0.0.1",
        &port.to_string(),
    ])
    .spawn();
    r.send(b"x\n");
    let (data, cm) = recv_with_cmsgs(&peer);
    assert_eq!(data, b"x\n");
    assert!(cm.contains(&(libc::IPPROTO_IP, libc::IP_TTL, 7)), "{cm:?}");
    assert!(
        cm.contains(&(libc::IPPROTO_IP, libc::IP_TOS, 0x10)),
        "{cm:?}"
    );
}

#[test]
fn hop_limit_and_traffic_class_over_ipv6() {
    let Ok(peer) = UdpSocket::bind("[::1]:0") else {
        eprintln!("SKIP: no IPv6 loopback here");
        return;
    };
    peer.set_read_timeout(Some(SECS5)).unwrap();
    let port = peer.local_addr().unwrap().port();
    set_int(
        peer.as_raw_fd(),
        libc::IPPROTO_IPV6,
        libc::IPV6_RECVHOPLIMIT,
        1,
    );
    set_int(
        peer.as_raw_fd(),
        libc::IPPROTO_IPV6,
        libc::IPV6_RECVTCLASS,
        1,
    );
    let mut r = rnc(["-u", "-M", "9", "-T", "af11", "::1", &port.to_string()]).spawn();
    r.send(b"y\n");
    let (_, cm) = recv_with_cmsgs(&peer);
    assert!(
        cm.contains(&(libc::IPPROTO_IPV6, libc::IPV6_HOPLIMIT, 9)),
        "{cm:?}"
    );
    assert!(
        cm.contains(&(libc::IPPROTO_IPV6, libc::IPV6_TCLASS, 0x28)),
        "{cm:?}"
    );
}

/// A duplicate of the socket of rnc (pid) connected to `peer`, through pidfd_getfd.
fn rnc_socket(pid: u32, peer: SocketAddr) -> Option<OwnedFd> {
    // SAFETY: plain syscalls; the returned descriptors are checked and owned.
    let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) } as i32;
    if pidfd < 0 {
        return None;
    }
    let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd) };
    for entry in std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.flatten() {
        let Ok(n) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        // SAFETY: as above.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), n, 0) } as i32;
        if fd < 0 {
            continue;
        }
        let s = unsafe { TcpStream::from_raw_fd(fd) };
        if s.peer_addr().ok() == Some(peer) {
            return Some(s.into());
        }
    }
    None
}

#[test]
fn buffer_sizes_read_back_from_rnc_socket() {
    let (l, port) = peer_listener();
    let r = rnc(["-I", "8192", "-O", "16384", "127.0.0.1", &port.to_string()]).spawn();
    let s = accept(&l, SECS5);
    let Some(fd) = rnc_socket(r.child.id(), s.local_addr().unwrap()) else {
        eprintln!("SKIP: pidfd_getfd is not available here");
        return;
    };
    // Linux doubles the value asked for (socket(7)).
    assert_eq!(
        get_int(fd.as_raw_fd(), libc::SOL_SOCKET, libc::SO_RCVBUF),
        2 * 8192
    );
    assert_eq!(
        get_int(fd.as_raw_fd(), libc::SOL_SOCKET, libc::SO_SNDBUF),
        2 * 16384
    );
}

#[test]
fn min_ttl_makes_the_kernel_drop_packets_below_it() {
    // Linux enforces IP_MINTTL on TCP: a SYN with a lower TTL is dropped unanswered.
    let (mut r, port) = listener(&["-m", "100"]);
    let to = SocketAddr::from(([127, 0, 0, 1], port)).into();
    let low = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    low.set_ttl_v4(64).unwrap();
    let e = low
        .connect_timeout(&to, Duration::from_millis(500))
        .unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::TimedOut, "{e}");
    let high = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    high.set_ttl_v4(200).unwrap();
    high.connect_timeout(&to, SECS5).unwrap();
    let mut high = TcpStream::from(high);
    high.write_all(b"high\n").unwrap();
    assert_eq!(r.read_out(5, SECS5), b"high\n");
}

#[test]
fn broadcast_needs_dash_b() {
    // 127.255.255.255 is the loopback's broadcast address: the datagram stays on lo.
    let (peer, port) = udp_peer("0.0.0.0:0");
    let p = port.to_string();
    let mut r = rnc(["-u", "127.255.255.255", &p]).spawn();
    assert_eq!(r.code(SECS5), 1);
    assert!(
        r.err_lines[0].ends_with("Permission denied"),
        "{:?}",
        r.err_lines
    );
    let mut r = rnc(["-u", "-b", "127.255.255.255", &p]).spawn();
    r.send(b"all\n");
    let mut buf = [0u8; 16];
    let (n, _) = peer.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"all\n");
}

#[test]
fn tcp_md5_signatures_must_agree() {
    let (mut srv, port) = {
        let mut r = rnc(["-v", "-n", "-l", "-S", "127.0.0.1", "0"])
            .env("RNC_MD5SIG_PASS", "k3y")
            .spawn();
        let p = r.listen_port();
        (r, p)
    };
    let p = port.to_string();
    let mut cli = rnc(["-N", "-S", "127.0.0.1", &p])
        .env("RNC_MD5SIG_PASS", "k3y")
        .spawn();
    cli.send(b"signed\n");
    cli.close_stdin();
    assert_eq!(srv.read_out(7, SECS5), b"signed\n");
    drop(srv);
    drop(cli);
    // A signing client gets no answer from a listener without the key.
    let (_l, port) = peer_listener();
    let mut cli = rnc(["-w", "1", "-S", "127.0.0.1", &port.to_string()])
        .env("RNC_MD5SIG_PASS", "k3y")
        .spawn();
    assert_eq!(cli.code(SECS10), 1);
    assert!(
        cli.err_lines[0].contains("timed out"),
        "{:?}",
        cli.err_lines
    );
}

#[test]
fn bad_values_in_nc_openbsd_words() {
    for (args, want) in [
        (&["-T", "256"][..], "illegal tos value 256"),
        (&["-T", "fast"][..], "illegal tos value fast"),
        (&["-I", "0"][..], "TCP receive window too small: 0"),
        (
            &["-O", "2000000000"][..],
            "TCP send window too large: 2000000000",
        ),
        (&["-M", "256"][..], "ttl is too large"),
        (&["-m", "x"][..], "minttl is invalid"),
        (
            &["-V", "1"][..],
            "no alternate routing table support available",
        ),
    ] {
        let mut a = args.to_vec();
        a.extend(["127.0.0.1", "9"]);
        let mut r = rnc(a).spawn();
        assert_eq!(r.code(SECS5), 1, "{args:?}");
        assert_eq!(r.err_lines, [format!("rnc: {want}")], "{args:?}");
    }
}
