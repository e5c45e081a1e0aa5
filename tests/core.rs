//! The client-set core under every many-client listener: clients that queue while rnc
//! is stopped are all served, and stdin's rules (-C, -i, -w) hold with -k.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::os::unix::net::UnixStream;
use std::thread;
use std::time::{Duration, Instant};

use crate::util::*;

const CLIENTS: usize = 1000;

/// Let this test process hold a thousand sockets at once.
fn raise_nofile() {
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid struct.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl);
        rl.rlim_cur = rl.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &rl);
    }
}

/// A server that stays up while it serves; stopped, it gets `CLIENTS` connections in
/// its backlog, then continued: every one must be accepted within seconds.
fn all_served_after_sigstop(args: &[&str], unix: Option<&str>) {
    let mut r = rnc(args).spawn();
    let port = match unix {
        None => r.listen_port(),
        Some(p) => {
            r.wait_err(&format!("Listening on {p}"), SECS5);
            0
        }
    };
    r.signal(libc::SIGSTOP);
    let mut tcp = Vec::new();
    let mut local = Vec::new();
    for _ in 0..CLIENTS {
        match unix {
            None => tcp.push(TcpStream::connect(("127.0.0.1", port)).unwrap()),
            Some(p) => local.push(UnixStream::connect(p).unwrap()),
        }
    }
    r.signal(libc::SIGCONT);
    r.wait_err_count("Connection received on", CLIENTS, Duration::from_secs(30));
    assert!(r.running(), "{args:?}");
    // The last client to queue is served like the first.
    if let Some(c) = tcp.last_mut() {
        c.set_read_timeout(Some(SECS5)).unwrap();
        check_served(args, c);
    }
    drop(tcp);
    drop(local);
}

/// One client's bytes do what the mode says.
fn check_served(args: &[&str], c: &mut TcpStream) {
    if args.contains(&"--echo") || args.contains(&"/bin/cat") {
        c.write_all(b"ping\n").unwrap();
        assert_eq!(read_n(c, 5), b"ping\n", "{args:?}");
    }
}

#[test]
fn every_listener_mode_serves_a_backlog_of_a_thousand() {
    raise_nofile();
    // The relay's target accepts and holds whatever comes.
    let target = TcpListener::bind("127.0.0.1:0").unwrap();
    let relay_to = format!("127.0.0.1:{}", target.local_addr().unwrap().port());
    // (Detached: it holds what it accepts until the test process ends.)
    thread::spawn(move || {
        let mut held = Vec::new();
        for s in target.incoming().flatten() {
            held.push(s);
        }
    });
    for extra in [
        &["-k"][..],
        &["--echo"],
        &["--chat"],
        &["--broker"],
        &["-k", "--relay", &relay_to],
    ] {
        let mut args = vec!["-v", "-n", "-l"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["127.0.0.1", "0"]);
        all_served_after_sigstop(&args, None);
    }
    let dir = std::env::temp_dir().join(format!("rnc-core-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("s");
    let p = path.to_str().unwrap();
    all_served_after_sigstop(&["-v", "-l", "-k", "-U", p], Some(p));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn exec_listener_serves_a_backlog() {
    raise_nofile();
    // A child per client: a smaller crowd, the same rule.
    let mut r = rnc(["-v", "-n", "-l", "-k", "-e", "/bin/cat", "127.0.0.1", "0"]).spawn();
    let port = r.listen_port();
    r.signal(libc::SIGSTOP);
    let mut cs: Vec<TcpStream> = (0..300).map(|_| connect(port)).collect();
    r.signal(libc::SIGCONT);
    r.wait_err_count("Connection received on", 300, Duration::from_secs(30));
    let last = cs.last_mut().unwrap();
    last.write_all(b"ping\n").unwrap();
    assert_eq!(read_n(last, 5), b"ping\n");
}

#[test]
fn keep_open_applies_crlf_to_stdin() {
    let (mut r, port) = server(&["-C"]);
    let mut a = connect(port);
    let mut b = connect(port);
    r.wait_err_count("Connection received", 2, SECS5);
    r.send(b"one\ntwo\r\n");
    assert_eq!(read_n(&mut a, 10), b"one\r\ntwo\r\n");
    assert_eq!(read_n(&mut b, 10), b"one\r\ntwo\r\n");
}

#[test]
fn keep_open_sends_one_line_per_interval() {
    let (mut r, port) = server(&["-i", "300ms"]);
    let mut a = connect(port);
    r.wait_err("Connection received", SECS5);
    r.send(b"1\n2\n3\n");
    let start = Instant::now();
    assert_eq!(read_n(&mut a, 2), b"1\n");
    assert_eq!(read_n(&mut a, 2), b"2\n");
    assert_eq!(read_n(&mut a, 2), b"3\n");
    // Two pauses lie between the three lines.
    assert!(
        start.elapsed() >= Duration::from_millis(550),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn keep_open_closes_a_client_idle_for_w() {
    let (mut r, port) = server(&["-w", "300ms"]);
    let mut idle = connect(port);
    r.wait_err("Connection received", SECS5);
    let mut buf = [0u8; 16];
    // Closed by rnc (EOF), not by the 5 s read timeout.
    let start = Instant::now();
    assert_eq!(idle.read(&mut buf).unwrap(), 0);
    assert!(start.elapsed() < SECS5);
    r.wait_err("Connection closed on", SECS5);
    assert!(r.running());
}

#[test]
fn exec_with_crlf_sends_the_programs_lines_with_cr_lf() {
    // ncat -C --sh-exec: the program's output reaches the client as CR LF lines.
    let (mut r, port) = listener(&["-C", "-c", "printf 'ABC\\nDEF\\n'"]);
    let mut c = connect(port);
    r.wait_err("Connection received", SECS5);
    assert_eq!(read_to_end(&mut c), b"ABC\r\nDEF\r\n");
}

#[test]
fn relay_and_exec_close_a_link_idle_for_w() {
    let target = TcpListener::bind("127.0.0.1:0").unwrap();
    let to = format!("127.0.0.1:{}", target.local_addr().unwrap().port());
    let held = thread::spawn(move || target.accept().unwrap());
    for attach in [["--relay", to.as_str()], ["-e", "/bin/cat"]] {
        let (mut r, port) = server(&["-w", "300ms", attach[0], attach[1]]);
        let mut c = connect(port);
        c.write_all(b"x\n").unwrap();
        let mut buf = [0u8; 16];
        let start = Instant::now();
        // The link goes quiet; rnc ends it (EOF here) well before the 5 s read timeout.
        while c.read(&mut buf).unwrap() > 0 {}
        assert!(start.elapsed() < SECS5, "{attach:?}");
        r.wait_err("idle (-w)", SECS5);
        assert!(r.running());
    }
    drop(held.join().unwrap());
}

#[test]
fn udp_keep_open_takes_interval_and_wait() {
    // -u -l -k -i: one stdin line per datagram, one interval apart.
    let mut r = rnc([
        "-v",
        "-n",
        "-u",
        "-l",
        "-k",
        "-i",
        "200ms",
        "127.0.0.1",
        "0",
    ])
    .spawn();
    let port = r.bound_port();
    let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
    peer.set_read_timeout(Some(SECS5)).unwrap();
    peer.send_to(b"hi\n", ("127.0.0.1", port)).unwrap();
    assert_eq!(r.read_out(3, SECS5), b"hi\n");
    r.send(b"a\nb\n");
    let mut buf = [0u8; 64];
    let start = Instant::now();
    let n = peer.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"a\n");
    let n = peer.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"b\n");
    assert!(start.elapsed() >= Duration::from_millis(150));
    // -u -l -k -w: rnc exits once nothing moved for that long.
    let mut r = rnc(["-n", "-u", "-l", "-k", "-w", "300ms", "127.0.0.1", "0"]).spawn();
    assert_eq!(r.code(SECS5), 0);
}

#[test]
fn keep_open_answers_every_clients_fin_with_its_own() {
    // A side-by-side run once saw 2 of 12 -k clients wait for a FIN that never came.
    let (mut r, port) = server(&[]);
    let mut cs: Vec<TcpStream> = (0..50).map(|_| connect(port)).collect();
    r.wait_err_count("Connection received", 50, SECS10);
    for (i, c) in cs.iter_mut().enumerate() {
        c.write_all(format!("{i}\n").as_bytes()).unwrap();
        c.shutdown(std::net::Shutdown::Write).unwrap();
    }
    for c in &mut cs {
        let mut buf = [0u8; 16];
        assert_eq!(c.read(&mut buf).unwrap(), 0, "no FIN back");
    }
    r.wait_err_count("Connection closed on", 50, SECS10);
}

/// rnc's stdin and stdout pipes grow to 1 MiB (fewer wakeups of the program at the
/// other end).
#[test]
fn stdio_pipes_grow_to_a_mebibyte() {
    use std::os::fd::AsRawFd;
    let pipe_size = |r: &Rnc| {
        let fd = r.stdin.as_ref().unwrap().as_raw_fd();
        // SAFETY: F_GETPIPE_SZ only reads the size of our end of rnc's stdin pipe.
        unsafe { libc::fcntl(fd, libc::F_GETPIPE_SZ) }
    };
    let (r, _) = listener(&[]);
    let end = Instant::now() + SECS5;
    while pipe_size(&r) != 1 << 20 && Instant::now() < end {
        thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(pipe_size(&r), 1 << 20);
}
