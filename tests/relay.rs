//! `--relay`, `--exec`, `--sh-exec`: one process, one loop, half-close both ways.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use crate::util::*;

#[test]
fn relay_passes_half_close_both_ways() {
    let (up, up_port) = peer_listener();
    let (_r, port) = server(&["--relay", &format!("127.0.0.1:{up_port}")]);
    let mut c = connect(port);
    c.write_all(b"request").unwrap();
    c.shutdown(Shutdown::Write).unwrap();
    let mut u = accept(&up, SECS5);
    assert_eq!(
        read_to_end(&mut u),
        b"request",
        "client FIN reaches the target"
    );
    u.write_all(b"response").unwrap();
    drop(u);
    assert_eq!(
        read_to_end(&mut c),
        b"response",
        "target FIN reaches the client"
    );
}

#[test]
fn refused_target_closes_that_client_only() {
    let closed = {
        let (_l, p) = peer_listener();
        p
    };
    let (mut r, port) = server(&["--relay", &format!("127.0.0.1:{closed}")]);
    let mut c = connect(port);
    let mut buf = Vec::new();
    let _ = c.read_to_end(&mut buf);
    assert!(buf.is_empty());
    r.wait_err("Connection refused", SECS5);
    assert!(r.running(), "the listener stays up");
    let mut c2 = connect(port);
    let _ = c2.read_to_end(&mut buf);
    assert!(r.running());
}

#[test]
fn many_clients_through_one_relay() {
    // An echo target: one thread per connection.
    let (up, up_port) = peer_listener();
    thread::spawn(move || {
        for s in up.incoming() {
            let Ok(mut s) = s else { break };
            thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = s.read(&mut buf) {
                    if n == 0 || s.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            });
        }
    });
    let (_r, port) = server(&["--relay", &format!("127.0.0.1:{up_port}")]);
    let clients: Vec<_> = (0..50)
        .map(|i| {
            thread::spawn(move || {
                let mut c = connect(port);
                let msg = random_bytes(100_000, i + 1);
                let w = {
                    let mut c = c.try_clone().unwrap();
                    let msg = msg.clone();
                    thread::spawn(move || {
                        c.write_all(&msg).unwrap();
                        c.shutdown(Shutdown::Write).unwrap();
                    })
                };
                let got = read_to_end(&mut c);
                w.join().unwrap();
                got == msg
            })
        })
        .collect();
    for c in clients {
        assert!(c.join().unwrap(), "a client's bytes came back changed");
    }
}

#[test]
fn exec_gets_environment_and_no_stray_descriptors() {
    let (_r, port) = server(&[
        "-c",
        "echo $RNC_REMOTE_ADDR $NCAT_REMOTE_ADDR $RNC_PROTO $RNC_LOCAL_PORT; ls /proc/self/fd",
    ]);
    let mut c = connect(port);
    let local = c.local_addr().unwrap();
    let out = String::from_utf8(read_to_end(&mut c)).unwrap();
    let mut lines = out.lines();
    assert_eq!(
        lines.next().unwrap(),
        format!("127.0.0.1 127.0.0.1 TCP {port}")
    );
    let fds: Vec<&str> = lines.collect();
    // ls's own directory handle is 3; nothing of rnc's is there.
    assert_eq!(fds, ["0", "1", "2", "3"], "descriptors in the child");
    let _ = local;
}

#[test]
fn client_eof_reaches_the_child() {
    let (_r, port) = server(&["-e", "/usr/bin/wc -c"]);
    let mut c = connect(port);
    c.write_all(&[b'x'; 12345]).unwrap();
    c.shutdown(Shutdown::Write).unwrap();
    let out = String::from_utf8(read_to_end(&mut c)).unwrap();
    assert_eq!(out.trim(), "12345");
}

#[test]
fn child_exit_closes_the_connection_after_its_output() {
    let (_r, port) = server(&["-c", "echo bye"]);
    let mut c = connect(port);
    // The client keeps its side open; the child's exit still ends the connection.
    assert_eq!(read_to_end(&mut c), b"bye\n");
}

#[test]
fn exec_cat_streams_without_deadlock() {
    let (_r, port) = server(&["-e", "/bin/cat"]);
    // The client writes 4 MiB before reading anything: rnc must keep both directions
    // moving with bounded buffers.
    let msg = random_bytes(4 * 1024 * 1024, 9);
    let mut c = connect(port);
    c.set_read_timeout(Some(SECS10)).unwrap();
    let mut w = c.try_clone().unwrap();
    let m2 = msg.clone();
    let writer = thread::spawn(move || {
        w.write_all(&m2).unwrap();
        w.shutdown(Shutdown::Write).unwrap();
    });
    let got = read_to_end(&mut c);
    writer.join().unwrap();
    assert!(got == msg);
}

pub fn children_of(pid: u32) -> Vec<(u32, char)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(p) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else {
            continue;
        };
        // pid (comm) state ppid ...
        let Some(rest) = stat.rsplit_once(')').map(|x| x.1) else {
            continue;
        };
        let mut f = rest.split_whitespace();
        let state = f.next().unwrap_or("?").chars().next().unwrap_or('?');
        let ppid: u32 = f.next().and_then(|x| x.parse().ok()).unwrap_or(0);
        if ppid == pid {
            out.push((p, state));
        }
    }
    out
}

#[test]
fn no_zombies_after_100_short_connections() {
    let (r, port) = server(&["-e", "/bin/echo hi"]);
    for _ in 0..100 {
        let mut c = connect(port);
        assert_eq!(read_to_end(&mut c), b"hi\n");
    }
    let pid = r.child.id();
    let end = Instant::now() + SECS10;
    loop {
        let kids = children_of(pid);
        if kids.is_empty() {
            break;
        }
        assert!(
            Instant::now() < end,
            "children left under rnc: {kids:?} (Z = zombie)"
        );
        thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn connect_mode_exec() {
    let (l, port) = peer_listener();
    let mut r = rnc(["127.0.0.1", &port.to_string(), "-e", "/bin/cat"]).spawn();
    let mut s = accept(&l, SECS5);
    s.write_all(b"echo through a child\n").unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    assert_eq!(read_to_end(&mut s), b"echo through a child\n");
    assert_eq!(r.code(SECS5), 0);
}

#[test]
fn connect_mode_relay_joins_two_servers() {
    let (a, pa) = peer_listener();
    let (b, pb) = peer_listener();
    let mut r = rnc([
        "127.0.0.1",
        &pa.to_string(),
        "--relay",
        &format!("127.0.0.1:{pb}"),
    ])
    .spawn();
    let mut sa = accept(&a, SECS5);
    let mut sb = accept(&b, SECS5);
    sa.write_all(b"a to b").unwrap();
    sa.shutdown(Shutdown::Write).unwrap();
    assert_eq!(read_to_end(&mut sb), b"a to b");
    sb.write_all(b"b to a").unwrap();
    drop(sb);
    assert_eq!(read_to_end(&mut sa), b"b to a");
    assert_eq!(r.code(SECS5), 0);
    let _ = TcpStream::connect(("127.0.0.1", pa));
}

#[test]
fn max_conns_bounds_concurrent_children() {
    let (mut r, port) = server(&["--max-conns", "2", "-e", "/bin/cat"]);
    let mut a = connect(port);
    let mut b = connect(port);
    a.write_all(b"a").unwrap();
    b.write_all(b"b").unwrap();
    assert_eq!(read_n(&mut a, 1), b"a");
    assert_eq!(read_n(&mut b, 1), b"b");
    // A third client while two children run: closed at once.
    let mut c = connect(port);
    let mut buf = Vec::new();
    let _ = c.read_to_end(&mut buf);
    assert!(buf.is_empty());
    r.wait_err("--max-conns 2 reached", SECS5);
    // One leaves: a new client is served again.
    drop(a);
    let end = Instant::now() + SECS5;
    loop {
        let mut d = connect(port);
        d.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let _ = d.write_all(b"d");
        let mut one = [0u8; 1];
        if d.read_exact(&mut one).is_ok() {
            assert_eq!(&one, b"d");
            break;
        }
        assert!(Instant::now() < end, "not served after a child left");
    }
}

#[test]
fn reset_mid_relay_closes_that_link_only() {
    let (up, up_port) = peer_listener();
    let (mut r, port) = server(&["--relay", &format!("127.0.0.1:{up_port}")]);
    let mut c = connect(port);
    c.write_all(&[1u8; 100_000]).unwrap();
    let mut u = accept(&up, SECS5);
    assert_eq!(read_n(&mut u, 100_000).len(), 100_000);
    reset(c);
    // The target's side ends (EOF or reset); the relay stays up for the next client.
    let mut buf = [0u8; 16];
    assert!(matches!(u.read(&mut buf), Ok(0) | Err(_)));
    assert!(r.running());
    let mut c2 = connect(port);
    c2.write_all(b"next").unwrap();
    let mut u2 = accept(&up, SECS5);
    assert_eq!(read_n(&mut u2, 4), b"next");
}

#[test]
fn single_client_relay_failure_exits_1() {
    // A Unix target that is not there fails at once, before any connect is pending.
    let dir = std::env::temp_dir().join(format!("rnc-relay-gone-{}", std::process::id()));
    let target = format!("unix:{}/none.sock", dir.display());
    let (mut r, port) = listener(&["--relay", &target]);
    let mut c = connect(port);
    let _ = read_to_end(&mut c);
    assert_eq!(r.code(SECS5), 1, "stderr {:?}", r.err_lines);
    r.wait_err("No such file or directory", SECS5);
}

#[test]
fn exec_of_a_missing_program_is_an_error_line_and_exit_1() {
    let plain = std::env::temp_dir().join(format!("rnc-not-exec-{}", std::process::id()));
    std::fs::write(&plain, "echo hi\n").unwrap();
    let plain = plain.to_str().unwrap().to_string();
    for prog in ["/nonexistent/prog", plain.as_str()] {
        let (mut r, port) = listener(&["-e", prog]);
        let mut c = connect(port);
        assert!(read_to_end(&mut c).is_empty());
        assert_eq!(r.code(SECS5), 1, "stderr {:?}", r.err_lines);
        let want = match prog {
            "/nonexistent/prog" => "rnc: exec /nonexistent/prog: No such file or directory",
            _ => &format!("rnc: exec {plain}: Permission denied"),
        };
        assert!(r.err_lines.iter().any(|l| l == want), "{:?}", r.err_lines);
        assert!(
            !r.err_lines.iter().any(|l| l.contains("fatal")),
            "{:?}",
            r.err_lines
        );
    }
    let _ = std::fs::remove_file(&plain);
    // Connect mode: the connection rnc made is the client.
    let (l, p) = peer_listener();
    let mut r = rnc(["-n", "127.0.0.1", &p.to_string(), "-e", "/nonexistent/prog"]).spawn();
    let _s = accept(&l, SECS5);
    assert_eq!(r.code(SECS5), 1);
    r.wait_err(
        "rnc: exec /nonexistent/prog: No such file or directory",
        SECS5,
    );
}

#[test]
fn exec_failure_with_k_closes_that_client_and_goes_on() {
    let mut r = rnc([
        "-n",
        "-k",
        "-l",
        "127.0.0.1",
        "0",
        "-e",
        "/nonexistent/prog",
        "-v",
    ])
    .spawn();
    let port = r.listen_port();
    for n in 1..=2 {
        let mut c = connect(port);
        assert!(read_to_end(&mut c).is_empty());
        r.wait_err_count(
            "exec /nonexistent/prog: No such file or directory",
            n,
            SECS5,
        );
    }
    assert!(r.running(), "the server goes on");
}

/// Wait until `pid` is gone (or a zombie about to be reaped by init); false at the deadline.
fn process_gone(pid: i32, within: Duration) -> bool {
    let end = Instant::now() + within;
    loop {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let state = stat.rsplit(") ").next().and_then(|s| s.chars().next());
        if stat.is_empty() || state == Some('Z') {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn children_end_with_rnc_on_every_signal() {
    for sig in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP] {
        // The shell and a grandchild it starts: both must go.
        let (mut r, port) = server(&["-c", "sleep 60 & echo $$ $!; wait"]);
        let mut c = connect(port);
        let mut line = Vec::new();
        let mut b = [0u8; 1];
        while !line.ends_with(b"\n") {
            assert_eq!(c.read(&mut b).unwrap(), 1, "the child's pids");
            line.push(b[0]);
        }
        let pids: Vec<i32> = String::from_utf8(line)
            .unwrap()
            .split_whitespace()
            .map(|p| p.parse().unwrap())
            .collect();
        r.signal(sig);
        assert_eq!(r.code(SECS10), 128 + sig);
        for pid in pids {
            assert!(process_gone(pid, SECS5), "child {pid} outlived rnc ({sig})");
        }
    }
}
