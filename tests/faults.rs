//! Faults: resets mid-transfer, stopped and killed peers, closed stdio, descriptor
//! exhaustion, a gigabyte, and signals in every mode.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::util::*;

#[test]
fn reset_mid_transfer_in_listen_mode_is_an_error_not_a_hang() {
    let (mut r, port) = listener(&[]);
    let mut c = connect(port);
    c.write_all(&[7u8; 100_000]).unwrap();
    assert_eq!(r.read_out(100_000, SECS5).len(), 100_000);
    reset(c);
    assert_eq!(r.code(SECS5), 1);
    assert!(r
        .err_lines
        .iter()
        .any(|l| l.contains("Connection reset by peer")));
}

#[test]
fn reset_of_one_keep_open_client_leaves_the_others() {
    let (mut r, port) = listener(&["-k"]);
    let a = connect(port);
    let mut b = connect(port);
    r.wait_err("Connection received", SECS5);
    reset(a);
    b.write_all(b"b lives\n").unwrap();
    assert_eq!(r.read_out(8, SECS5), b"b lives\n");
    r.send(b"to b\n");
    assert_eq!(read_n(&mut b, 5), b"to b\n");
}

#[test]
fn stopped_receiver_resumes_and_nothing_is_lost() {
    let (mut srv, port) = listener(&[]);
    let data = random_bytes(32 * 1024 * 1024, 11);
    let mut cli = rnc(["-N", "127.0.0.1", &port.to_string()]).spawn();
    let mut stdin = cli.stdin.take().unwrap();
    let d2 = data.clone();
    let feeder = thread::spawn(move || stdin.write_all(&d2).unwrap());
    let first = srv.read_out(1024 * 1024, SECS10);
    srv.signal(libc::SIGSTOP);
    // While the receiver is stopped, the sender fills every buffer and must wait
    // (not spin, not drop); give it a moment in that state.
    thread::sleep(Duration::from_millis(300));
    assert!(cli.running());
    srv.signal(libc::SIGCONT);
    let rest = srv.read_out_to_end(Duration::from_secs(60));
    feeder.join().unwrap();
    let mut got = first;
    got.extend_from_slice(&rest);
    assert_eq!(got.len(), data.len());
    assert!(got == data);
    assert_eq!(cli.code(SECS5), 0);
}

#[test]
fn sender_killed_mid_upload_ends_the_listener() {
    let (mut srv, port) = listener(&[]);
    let mut cli = rnc(["127.0.0.1", &port.to_string()]).spawn();
    cli.send(&[1u8; 50_000]);
    assert_eq!(srv.read_out(50_000, SECS5).len(), 50_000);
    cli.signal(libc::SIGKILL);
    let _ = cli.wait(SECS5);
    let code = srv.code(SECS5);
    assert!(code == 0 || code == 1, "exit {code}");
}

/// Spawn rnc with fd `fd` closed, the way `rnc ... <&-` does.
fn spawn_with_closed(fd: i32, args: &[String]) -> std::process::Child {
    let mut cmd = Command::new(bin());
    cmd.args(args).stderr(Stdio::piped());
    if fd == 0 {
        cmd.stdout(Stdio::piped());
    } else {
        cmd.stdin(Stdio::piped());
    }
    // SAFETY: close(2) only, in the child before exec.
    unsafe {
        cmd.pre_exec(move || {
            libc::close(fd);
            Ok(())
        });
    }
    cmd.spawn().unwrap()
}

#[test]
fn closed_stdin_is_not_mistaken_for_a_socket() {
    let (l, port) = peer_listener();
    let mut child = spawn_with_closed(0, &["-N".into(), "127.0.0.1".into(), port.to_string()]);
    let mut s = accept(&l, SECS5);
    // stdin closed reads as an empty stdin: FIN at once, nothing sent.
    assert!(read_to_end(&mut s).is_empty());
    s.write_all(b"hello").unwrap();
    drop(s);
    let mut out = Vec::new();
    child.stdout.take().unwrap().read_to_end(&mut out).unwrap();
    assert_eq!(out, b"hello");
    assert!(child.wait().unwrap().success());
}

#[test]
fn closed_stdout_is_not_mistaken_for_a_socket() {
    let (l, port) = peer_listener();
    let mut child = spawn_with_closed(1, &["-N".into(), "127.0.0.1".into(), port.to_string()]);
    let mut s = accept(&l, SECS5);
    child.stdin.take().unwrap().write_all(b"up").unwrap();
    assert_eq!(read_to_end(&mut s), b"up");
    s.write_all(b"into the void").unwrap();
    drop(s);
    let end = Instant::now() + SECS5;
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < end, "rnc hangs with stdout closed");
        thread::sleep(Duration::from_millis(5));
    }
}

fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let rest = stat.rsplit_once(')').map(|x| x.1).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 after ")".
    f.get(11).and_then(|x| x.parse().ok()).unwrap_or(0)
        + f.get(12).and_then(|x| x.parse::<u64>().ok()).unwrap_or(0)
}

#[test]
fn out_of_descriptors_the_server_pauses_and_recovers() {
    // RLIMIT_NOFILE 32 (hard), so rnc cannot raise it; a burst of 60 clients.
    let mut cmd = Command::new(bin());
    cmd.args(["-v", "-n", "-k", "-l", "127.0.0.1", "0"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    // SAFETY: setrlimit only, in the child before exec.
    unsafe {
        cmd.pre_exec(|| {
            let rl = libc::rlimit {
                rlim_cur: 32,
                rlim_max: 32,
            };
            libc::setrlimit(libc::RLIMIT_NOFILE, &rl);
            Ok(())
        });
    }
    let mut child = cmd.spawn().unwrap();
    let err = child.stderr.take().unwrap();
    let mut lines = std::io::BufReader::new(err);
    let mut line = String::new();
    std::io::BufRead::read_line(&mut lines, &mut line).unwrap();
    let port: u16 = line.trim().rsplit(' ').next().unwrap().parse().unwrap();
    thread::spawn(move || {
        let mut sink = String::new();
        let _ = lines.read_to_string(&mut sink);
    });
    let pid = child.id();
    let burst: Vec<_> = (0..60)
        .filter_map(|_| std::net::TcpStream::connect(("127.0.0.1", port)).ok())
        .collect();
    let t0 = cpu_ticks(pid);
    thread::sleep(Duration::from_millis(500));
    let spent = cpu_ticks(pid) - t0;
    assert!(
        spent < 20,
        "rnc used {spent} ticks in 0.5 s while out of descriptors"
    );
    assert!(child.try_wait().unwrap().is_none(), "the server died");
    drop(burst);
    // Served again once descriptors are free.
    let end = Instant::now() + SECS10;
    let mut stdin = child.stdin.take().unwrap();
    loop {
        let mut c = connect(port);
        c.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        stdin.write_all(b"again\n").unwrap();
        let mut buf = [0u8; 6];
        if c.read_exact(&mut buf).is_ok() {
            assert_eq!(&buf, b"again\n");
            break;
        }
        assert!(
            Instant::now() < end,
            "not served after descriptors came back"
        );
    }
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn one_gibibyte_connect_to_listen_intact() {
    const TOTAL: usize = 1 << 30;
    const CHUNK: usize = 1 << 20;
    let (mut srv, port) = listener(&[]);
    let mut cli = rnc(["-N", "127.0.0.1", &port.to_string()]).spawn();
    let mut stdin = cli.stdin.take().unwrap();
    let feeder = thread::spawn(move || {
        for i in 0..TOTAL / CHUNK {
            stdin.write_all(&random_bytes(CHUNK, i as u64 + 1)).unwrap();
        }
    });
    let mut i = 0;
    let end = Instant::now() + Duration::from_secs(120);
    while i < TOTAL / CHUNK {
        let got = srv.read_out(CHUNK, end.saturating_duration_since(Instant::now()));
        assert!(
            got == random_bytes(CHUNK, i as u64 + 1),
            "chunk {i} differs"
        );
        i += 1;
    }
    feeder.join().unwrap();
    assert!(srv.read_out_to_end(SECS10).is_empty());
    assert_eq!(srv.code(SECS5), 0);
    assert_eq!(cli.code(SECS5), 0);
}

/// A pipe for rnc's stdin, plus our own handle on the same open file description, so
/// O_NONBLOCK left behind by rnc would show.
fn shared_stdin() -> (File, OwnedFd, File) {
    let mut fds = [0; 2];
    // SAFETY: fds has room for two.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    // SAFETY: fresh descriptors we own.
    let (rd, wr) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    let mine = rd.try_clone().unwrap();
    (File::from(rd), mine, File::from(wr))
}

fn nonblocking(fd: &OwnedFd) -> bool {
    // SAFETY: F_GETFL on our descriptor.
    unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) & libc::O_NONBLOCK != 0 }
}

#[test]
fn signals_in_every_mode_restore_flags() {
    let (tcp_peer, tcp_port) = peer_listener();
    let udp_peer = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let udp_port = udp_peer.local_addr().unwrap().port().to_string();
    let tcp_port = tcp_port.to_string();
    let modes: Vec<Vec<&str>> = vec![
        vec!["127.0.0.1", &tcp_port],
        vec!["-v", "-n", "-l", "127.0.0.1", "0"],
        vec!["-v", "-n", "-k", "-l", "127.0.0.1", "0"],
        vec!["-u", "127.0.0.1", &udp_port],
        vec!["-v", "-n", "-u", "-l", "127.0.0.1", "0"],
        vec!["-v", "-n", "-k", "-l", "127.0.0.1", "0", "-e", "/bin/cat"],
        vec!["-v", "-n", "-l", "--chat", "127.0.0.1", "0"],
        vec!["-v", "-n", "-l", "--echo", "127.0.0.1", "0"],
        vec!["-v", "-n", "-l", "--broker", "127.0.0.1", "0"],
    ];
    for (sig, code) in [
        (libc::SIGINT, 130),
        (libc::SIGTERM, 143),
        (libc::SIGHUP, 129),
    ] {
        for args in &modes {
            let (rd, mine, _wr) = shared_stdin();
            let mut r = rnc(args.clone()).stdin(rd).spawn();
            let mut _peer = None;
            if args.contains(&"-l") {
                let ready = if args.contains(&"-u") {
                    "Bound on"
                } else {
                    "Listening on"
                };
                r.wait_err(ready, SECS5);
            } else if !args.contains(&"-u") {
                _peer = Some(accept(&tcp_peer, SECS5));
            }
            // The loop is running once its stdin is non-blocking.
            let end = Instant::now() + SECS5;
            while !nonblocking(&mine) && Instant::now() < end {
                thread::sleep(Duration::from_millis(2));
            }
            r.signal(sig);
            assert_eq!(r.code(SECS5), code, "{args:?} signal {sig}");
            assert!(!nonblocking(&mine), "{args:?}: O_NONBLOCK left on stdin");
        }
    }
}

fn proc_state(pid: u32) -> char {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    stat.rsplit_once(')')
        .and_then(|x| x.1.split_whitespace().next())
        .and_then(|s| s.chars().next())
        .unwrap_or('?')
}

#[test]
fn ctrl_z_gives_the_terminal_its_flags_back() {
    let (l, port) = peer_listener();
    let (rd, mine, _wr) = shared_stdin();
    let mut r = rnc(["127.0.0.1", &port.to_string()]).stdin(rd).spawn();
    let _s = accept(&l, SECS5);
    let wait_for = |what: &dyn Fn() -> bool, msg: &str| {
        let end = Instant::now() + SECS5;
        while !what() {
            assert!(Instant::now() < end, "{msg}");
            thread::sleep(Duration::from_millis(2));
        }
    };
    wait_for(&|| nonblocking(&mine), "rnc never set O_NONBLOCK");
    r.signal(libc::SIGTSTP);
    let pid = r.child.id();
    wait_for(&|| proc_state(pid) == 'T', "rnc did not stop on SIGTSTP");
    assert!(!nonblocking(&mine), "stopped with O_NONBLOCK on stdin");
    r.signal(libc::SIGCONT);
    wait_for(
        &|| nonblocking(&mine),
        "O_NONBLOCK not set again after SIGCONT",
    );
    r.signal(libc::SIGTERM);
    assert_eq!(r.code(SECS5), 143);
    assert!(!nonblocking(&mine));
}

/// A pipe whose read end is already closed: writes to it fail with EPIPE.
fn widowed_pipe() -> OwnedFd {
    let mut fds = [0i32; 2];
    // SAFETY: pipe2 fills two fresh descriptors, owned below.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: both are ours; the read end is closed at once.
    unsafe {
        drop(OwnedFd::from_raw_fd(fds[0]));
        OwnedFd::from_raw_fd(fds[1])
    }
}

/// Wait for rnc with a deadline; its exit code (a signal death fails).
fn exit_code(child: &mut std::process::Child, within: Duration) -> i32 {
    let end = Instant::now() + within;
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return st.code().expect("exited, not killed");
        }
        assert!(Instant::now() < end, "rnc still running");
        thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn stderr_whose_reader_is_gone_changes_nothing() {
    // Bad input: the error line cannot be written; still exit 1, never a panic (101).
    for args in [
        &["127.0.0.1", "99999"][..],
        &["-l"][..],
        &["--no-such-flag"][..],
    ] {
        let mut child = Command::new(bin())
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(widowed_pipe())
            .spawn()
            .unwrap();
        assert_eq!(exit_code(&mut child, SECS5), 1, "{args:?}");
    }
    // A -v listener with a client: every -v line fails, the bytes still flow, exit 0.
    let dir = std::env::temp_dir().join(format!("rnc-widowed-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("s");
    let mut child = Command::new(bin())
        .args(["-v", "-l", "-U", path.to_str().unwrap()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(widowed_pipe())
        .spawn()
        .unwrap();
    let end = Instant::now() + SECS5;
    let mut c = loop {
        match std::os::unix::net::UnixStream::connect(&path) {
            Ok(c) => break c,
            Err(_) => {
                assert!(Instant::now() < end, "the listener never came up");
                thread::sleep(Duration::from_millis(5));
            }
        }
    };
    c.write_all(b"through\n").unwrap();
    drop(c);
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    assert_eq!(out, "through\n");
    assert_eq!(exit_code(&mut child, SECS5), 0);
    std::fs::remove_dir_all(&dir).unwrap();
}
