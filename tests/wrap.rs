//! What scripts wrap around nc, built in: --retry, --stats/--json, -o/--hex-dump,
//! --progress, and durations with units.

use std::fs::File;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use crate::util::*;

// ---- --retry ----

#[test]
fn retry_connects_once_the_port_opens() {
    let port = free_port();
    let mut r = rnc([
        "-vv",
        "-n",
        "--retry",
        "10s",
        "127.0.0.1",
        &port.to_string(),
    ])
    .spawn();
    // rnc has tried (and failed) at least once: now open the port.
    r.wait_err("attempt 1 failed", SECS5);
    let l = TcpListener::bind(("127.0.0.1", port)).unwrap();
    let opened = Instant::now();
    let mut s = accept(&l, SECS5);
    // Settled backoff: the opening is noticed within 100 ms (bounded loosely
    // here, for a loaded machine).
    assert!(
        opened.elapsed() < Duration::from_secs(2),
        "{:?}",
        opened.elapsed()
    );
    r.send(b"after the wait\n");
    assert_eq!(read_n(&mut s, 15), b"after the wait\n");
    r.close_stdin();
    drop(s);
    assert_eq!(r.code(SECS5), 0);
    r.wait_err("succeeded", SECS5);
}

#[test]
fn retry_gives_up_with_the_status_of_one_try() {
    let port = free_port();
    let start = Instant::now();
    let mut r = rnc(["-n", "--retry", "600ms", "127.0.0.1", &port.to_string()]).spawn();
    assert_eq!(r.code(SECS5), 1);
    let took = start.elapsed();
    assert!(took >= Duration::from_millis(600), "{took:?}");
    assert_eq!(
        r.err_lines,
        [format!(
            "rnc: connect to 127.0.0.1 port {port} (tcp) failed: Connection refused"
        )]
    );
}

#[test]
fn retry_with_z_waits_for_every_port() {
    let (a, b) = (free_port(), free_port());
    let ports = [a.to_string(), b.to_string()];
    let mut r = rnc([
        "-zvv",
        "-n",
        "--retry",
        "10s",
        "127.0.0.1",
        &ports[0],
        &ports[1],
    ])
    .spawn();
    r.wait_err("attempt 1: 2 of 2 ports not open yet", SECS5);
    let _la = TcpListener::bind(("127.0.0.1", a)).unwrap();
    r.wait_err("1 of 2 ports not open yet", SECS5);
    let _lb = TcpListener::bind(("127.0.0.1", b)).unwrap();
    assert_eq!(r.code(SECS10), 0);
    let open: Vec<_> = r
        .err_lines
        .iter()
        .filter(|l| l.contains("succeeded"))
        .collect();
    assert_eq!(open.len(), 2, "{:?}", r.err_lines);
}

#[test]
fn retry_with_z_gives_up_on_a_port_that_never_opens() {
    let (l, open) = peer_listener();
    let closed = free_port();
    let mut r = rnc([
        "-z",
        "-n",
        "--retry",
        "500ms",
        "127.0.0.1",
        &open.to_string(),
        &closed.to_string(),
    ])
    .spawn();
    let start = Instant::now();
    // One port open: exit 0, as for one try of -z, once the time is up.
    assert_eq!(r.code(SECS5), 0);
    assert!(start.elapsed() >= Duration::from_millis(400));
    drop(l);
}

#[test]
fn retry_with_z_through_a_proxy() {
    let sp = free_port();
    let Some(_ms) = daemon(
        "microsocks",
        &["-i", "127.0.0.1", "-p", &sp.to_string()],
        sp,
    ) else {
        return;
    };
    let port = free_port();
    let proxy = format!("127.0.0.1:{sp}");
    let p = port.to_string();
    let mut r = rnc([
        "-zvv",
        "-n",
        "-x",
        &proxy,
        "--retry",
        "10s",
        "127.0.0.1",
        &p,
    ])
    .spawn();
    r.wait_err("attempt 1: 1 of 1 ports not open yet", SECS5);
    let _l = TcpListener::bind(("127.0.0.1", port)).unwrap();
    assert_eq!(r.code(SECS10), 0);
    r.wait_err("succeeded", SECS5);
}

// ---- --stats and --json ----

/// The figures of a --stats line: (sent, received).
fn stats_of(line: &str) -> (u64, u64) {
    let words: Vec<&str> = line.split_whitespace().collect();
    let sent = words.iter().position(|w| *w == "sent,").expect("sent");
    let recv = words
        .iter()
        .position(|w| *w == "received")
        .expect("received");
    (
        words[sent - 2].parse().unwrap(),
        words[recv - 2].parse().unwrap(),
    )
}

/// The value of `"key":N` in a JSON object.
fn json_num(obj: &str, key: &str) -> u64 {
    let at = obj.find(&format!("\"{key}\":")).expect(key) + key.len() + 3;
    let end = obj[at..]
        .find(|c: char| !c.is_ascii_digit())
        .map_or(obj.len(), |e| at + e);
    obj[at..end].parse().unwrap()
}

#[test]
fn stats_in_connect_mode_count_the_bytes_moved() {
    let (l, port) = peer_listener();
    let up = random_bytes(300_000, 1);
    let down = random_bytes(123_457, 2);
    let mut r = rnc(["-N", "--stats", "127.0.0.1", &port.to_string()]).spawn();
    let mut s = accept(&l, SECS5);
    r.send(&up);
    r.close_stdin();
    assert_eq!(hash(&read_to_end(&mut s)), hash(&up));
    s.write_all(&down).unwrap();
    drop(s);
    assert_eq!(r.read_out_to_end(SECS10).len(), down.len());
    assert_eq!(r.code(SECS5), 0);
    let line = r.wait_err("bytes sent", SECS5);
    assert_eq!(stats_of(&line), (300_000, 123_457), "{line}");
    assert!(line.contains(" s (") && line.contains("/s up"), "{line}");
}

#[test]
fn json_in_listen_mode_counts_bytes_and_the_connection() {
    let (mut r, port) = listener(&["--json"]);
    let mut c = connect(port);
    c.write_all(&random_bytes(70_000, 3)).unwrap();
    r.send(b"from stdin\n");
    assert_eq!(read_n(&mut c, 11), b"from stdin\n");
    assert_eq!(r.read_out(70_000, SECS5).len(), 70_000);
    r.close_stdin();
    drop(c);
    assert_eq!(r.code(SECS5), 0);
    let obj = r.wait_err("{\"sent\":", SECS5);
    assert_eq!(json_num(&obj, "sent"), 11, "{obj}");
    assert_eq!(json_num(&obj, "received"), 70_000, "{obj}");
    assert_eq!(json_num(&obj, "connections"), 1, "{obj}");
    assert!(
        obj.contains("\"elapsed_s\":") && obj.ends_with('}'),
        "{obj}"
    );
}

#[test]
fn stats_of_a_server_count_every_client() {
    let (mut r, port) = server(&["--echo", "--stats"]);
    let mut total = 0;
    for (i, n) in [1000usize, 65_536, 7].into_iter().enumerate() {
        let data = random_bytes(n, 10 + i as u64);
        let mut c = connect(port);
        c.write_all(&data).unwrap();
        c.shutdown(std::net::Shutdown::Write).unwrap();
        assert_eq!(hash(&read_to_end(&mut c)), hash(&data));
        total += n as u64;
    }
    r.signal(libc::SIGTERM);
    assert_eq!(r.code(SECS5), 128 + libc::SIGTERM);
    let line = r.wait_err("bytes sent", SECS5);
    assert_eq!(stats_of(&line), (total, total), "{line}");
    assert!(line.ends_with(", 3 connections"), "{line}");
}

#[test]
fn stats_of_a_broker_count_the_fan_out() {
    let (mut r, port) = server(&["--broker", "--stats"]);
    let mut a = connect(port);
    let mut b = connect(port);
    let mut c = connect(port);
    r.wait_err_count("Connection received on", 3, SECS5);
    let data = random_bytes(50_000, 30);
    a.write_all(&data).unwrap();
    // Every byte from a goes to b and c: received once, sent twice.
    assert_eq!(hash(&read_n(&mut b, data.len())), hash(&data));
    assert_eq!(hash(&read_n(&mut c, data.len())), hash(&data));
    assert_eq!(r.read_out(data.len(), SECS5).len(), data.len());
    r.signal(libc::SIGTERM);
    r.code(SECS5);
    let line = r.wait_err("bytes sent", SECS5);
    assert_eq!(stats_of(&line), (100_000, 50_000), "{line}");
    assert!(line.ends_with(", 3 connections"), "{line}");
}

#[test]
fn stats_of_a_relay_count_what_its_clients_moved() {
    let (l, far) = peer_listener();
    let relay = format!("127.0.0.1:{far}");
    let (mut r, port) = server(&["--relay", &relay, "--stats"]);
    let (up, down) = (random_bytes(200_000, 20), random_bytes(90_001, 21));
    let mut c = connect(port);
    let mut b = accept(&l, SECS5);
    c.write_all(&up).unwrap();
    c.shutdown(std::net::Shutdown::Write).unwrap();
    assert_eq!(hash(&read_to_end(&mut b)), hash(&up));
    b.write_all(&down).unwrap();
    drop(b);
    assert_eq!(hash(&read_to_end(&mut c)), hash(&down));
    r.signal(libc::SIGTERM);
    r.code(SECS5);
    let line = r.wait_err("bytes sent", SECS5);
    // Sent and received are the client's side: what went to it and came from it.
    assert_eq!(stats_of(&line), (90_001, 200_000), "{line}");
    assert!(line.ends_with(", 1 connection"), "{line}");
}

// ---- -o and --hex-dump ----

#[test]
fn output_and_hex_dump_hold_the_traffic() {
    let dir = TmpDir::new("wrap-log");
    let (raw, hex) = (dir.path.join("raw"), dir.path.join("hex"));
    let (l, port) = peer_listener();
    let mut r = rnc([
        "-N",
        "-o",
        raw.to_str().unwrap(),
        "--hex-dump",
        hex.to_str().unwrap(),
        "127.0.0.1",
        &port.to_string(),
    ])
    .spawn();
    let mut s = accept(&l, SECS5);
    let hi = b"hi there, this is the client sending 40+ bytes\n";
    r.send(hi);
    r.close_stdin();
    assert_eq!(read_to_end(&mut s), hi);
    s.write_all(b"hello from server\n").unwrap();
    drop(s);
    assert_eq!(r.read_out_to_end(SECS5), b"hello from server\n");
    assert_eq!(r.code(SECS5), 0);
    let mut want = hi.to_vec();
    want.extend_from_slice(b"hello from server\n");
    assert_eq!(std::fs::read(&raw).unwrap(), want);
    let dump = std::fs::read_to_string(&hex).unwrap();
    assert_eq!(
        dump,
        "> sent 47 bytes\n\
         0000   68 69 20 74 68 65 72 65  2c 20 74 68 69 73 20 69  hi.there,.this.i\n\
         0010   73 20 74 68 65 20 63 6c  69 65 6e 74 20 73 65 6e  s.the.client.sen\n\
         0020   64 69 6e 67 20 34 30 2b  20 62 79 74 65 73 0a     ding.40+.bytes. \n\
         < received 18 bytes\n\
         0000   68 65 6c 6c 6f 20 66 72  6f 6d 20 73 65 72 76 65  hello.from.serve\n\
         0010   72 0a                                             r.              \n"
    );
}

#[test]
fn append_output_keeps_what_was_there() {
    let dir = TmpDir::new("wrap-append");
    let raw = dir.path.join("raw");
    std::fs::write(&raw, b"before\n").unwrap();
    let (mut r, port) = listener(&["--append-output", "-o", raw.to_str().unwrap()]);
    let mut c = connect(port);
    c.write_all(b"line\n").unwrap();
    drop(c);
    assert_eq!(r.read_out(5, SECS5), b"line\n");
    r.close_stdin();
    assert_eq!(r.code(SECS5), 0);
    assert_eq!(std::fs::read(&raw).unwrap(), b"before\nline\n");
}

#[test]
fn output_of_a_keep_open_listener_holds_every_client() {
    let dir = TmpDir::new("wrap-k");
    let raw = dir.path.join("raw");
    let (mut r, port) = server(&["-o", raw.to_str().unwrap()]);
    for line in [&b"one\n"[..], b"two\n"] {
        let mut c = connect(port);
        c.write_all(line).unwrap();
        assert_eq!(r.read_out(4, SECS5), line);
        drop(c);
    }
    r.signal(libc::SIGTERM);
    r.code(SECS5);
    assert_eq!(std::fs::read(&raw).unwrap(), b"one\ntwo\n");
}

#[test]
fn hex_dump_of_a_server_names_each_client() {
    let dir = TmpDir::new("wrap-server-hex");
    let hex = dir.path.join("hex");
    let (mut r, port) = server(&["--echo", "--hex-dump", hex.to_str().unwrap()]);
    let mut c = connect(port);
    let me = c.local_addr().unwrap().port();
    c.write_all(b"ping").unwrap();
    assert_eq!(read_n(&mut c, 4), b"ping");
    drop(c);
    r.signal(libc::SIGTERM);
    r.code(SECS5);
    let line = format!(
        "0000   70 69 6e 67{}ping{}\n",
        " ".repeat(39),
        " ".repeat(12)
    );
    assert_eq!(
        std::fs::read_to_string(&hex).unwrap(),
        format!(
            "< received 4 bytes from 127.0.0.1 {me}\n{line}> sent 4 bytes to 127.0.0.1 {me}\n{line}"
        )
    );
}

#[test]
fn output_in_a_missing_directory_is_one_line_before_any_connect() {
    let (l, port) = peer_listener();
    let dir = TmpDir::new("wrap-missing");
    let path = dir.path.join("no/such/dir/log");
    let mut r = rnc(["-o", path.to_str().unwrap(), "127.0.0.1", &port.to_string()]).spawn();
    assert_eq!(r.code(SECS5), 1);
    assert_eq!(
        r.err_lines,
        [format!(
            "rnc: -o {}: No such file or directory",
            path.display()
        )]
    );
    l.set_nonblocking(true).unwrap();
    assert!(l.accept().is_err(), "rnc connected anyway");
}

#[test]
fn a_full_disk_stops_the_log_and_loses_no_socket_data() {
    if !std::path::Path::new("/dev/full").exists() {
        eprintln!("SKIP: no /dev/full here");
        return;
    }
    let (l, port) = peer_listener();
    let data = random_bytes(2_000_000, 7);
    let mut r = rnc([
        "-N",
        "-o",
        "/dev/full",
        "--hex-dump",
        "/dev/full",
        "127.0.0.1",
        &port.to_string(),
    ])
    .spawn();
    let mut s = accept(&l, SECS5);
    let feed = data.clone();
    let mut stdin = r.stdin.take().unwrap();
    let writer = thread::spawn(move || stdin.write_all(&feed));
    assert_eq!(hash(&read_to_end(&mut s)), hash(&data));
    writer.join().unwrap().unwrap();
    drop(s);
    assert_eq!(r.code(SECS10), 0);
    assert_eq!(
        r.err_lines,
        [
            "rnc: -o /dev/full: No space left on device; log stopped",
            "rnc: --hex-dump /dev/full: No space left on device; log stopped"
        ]
    );
}

// ---- --progress ----

/// Everything rnc writes on its terminal stderr until it exits, and its exit code.
fn run_on_pty(args: &[&str], stdin: File) -> Option<(Vec<u8>, i32, Duration)> {
    let (mut master, slave) = pty()?;
    let start = Instant::now();
    let mut child = Command::new(bin())
        .args(args)
        .stdin(stdin)
        .stdout(Stdio::null())
        .stderr(File::from(slave))
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut buf = [0u8; 4096];
        // EIO once the child (the last holder of the slave) has gone.
        while let Ok(n) = master.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let end = Instant::now() + SECS10;
    let code = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st.code().unwrap_or(-1);
        }
        assert!(Instant::now() < end, "rnc did not exit");
        thread::sleep(Duration::from_millis(10));
    };
    let took = start.elapsed();
    let mut out = Vec::new();
    while let Ok(chunk) = rx.recv_timeout(Duration::from_millis(500)) {
        out.extend(chunk);
    }
    Some((out, code, took))
}

#[test]
fn progress_on_a_terminal_shows_percent_and_eta_and_is_cleared() {
    let dir = TmpDir::new("wrap-progress");
    let file = dir.path.join("in");
    // 400 lines, one every 3 ms (-i): over a second of sending.
    let text: String = (0..400).map(|i| format!("line {i:05}\n")).collect();
    std::fs::write(&file, &text).unwrap();
    let (l, port) = peer_listener();
    let reader = thread::spawn(move || {
        let mut s = accept(&l, SECS5);
        s.set_read_timeout(Some(SECS10)).unwrap();
        read_to_end(&mut s).len()
    });
    let port = port.to_string();
    let args = [
        "-v",
        "-n",
        "-N",
        "--progress",
        "-i",
        "3ms",
        "127.0.0.1",
        &port,
    ];
    let Some((out, code, took)) = run_on_pty(&args, File::open(&file).unwrap()) else {
        eprintln!("SKIP: no pty here");
        return;
    };
    assert_eq!(code, 0);
    assert_eq!(reader.join().unwrap(), text.len());
    let out = String::from_utf8_lossy(&out).into_owned();
    let draws = out.matches("\r\x1b[Ksent ").count();
    assert!(draws >= 2, "{out:?}");
    // At most 4 a second (and the first at once).
    let most = (took.as_secs_f64() * 4.0).ceil() as usize + 1;
    assert!(draws <= most, "{draws} draws in {took:?}");
    assert!(out.contains("%, ETA "), "{out:?}");
    // The -v line went out first, whole; the line is cleared at exit.
    assert!(out.starts_with("Connection to 127.0.0.1 "), "{out:?}");
    assert!(out.ends_with("\r\x1b[K"), "{out:?}");
}

#[test]
fn progress_lines_never_share_a_line_with_messages() {
    // A listener draws while it waits; the client's -v line must start on a clean line.
    let port = free_port();
    let p = port.to_string();
    let client = thread::spawn(move || {
        let end = Instant::now() + SECS5;
        loop {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return;
            }
            assert!(Instant::now() < end, "rnc never listened");
            thread::sleep(Duration::from_millis(20));
        }
    });
    let null = File::open("/dev/null").unwrap();
    let args = ["-v", "-n", "-l", "--progress", "127.0.0.1", &p];
    let Some((out, code, _)) = run_on_pty(&args, null) else {
        eprintln!("SKIP: no pty here");
        return;
    };
    client.join().unwrap();
    assert_eq!(code, 0);
    let out = String::from_utf8_lossy(&out).into_owned();
    for msg in ["Listening on", "Connection received on"] {
        let at = out.find(msg).unwrap_or_else(|| panic!("{msg}: {out:?}"));
        let before = &out[..at];
        assert!(
            before.is_empty() || before.ends_with('\n') || before.ends_with("\r\x1b[K"),
            "{msg} shares a line: {out:?}"
        );
    }
}

#[test]
fn progress_without_a_terminal_prints_nothing() {
    let (l, port) = peer_listener();
    let mut r = rnc(["-N", "--progress", "127.0.0.1", &port.to_string()]).spawn();
    let mut s = accept(&l, SECS5);
    r.send(&random_bytes(100_000, 4));
    r.close_stdin();
    assert_eq!(read_to_end(&mut s).len(), 100_000);
    drop(s);
    assert_eq!(r.code(SECS5), 0);
    assert!(r.err_lines.is_empty(), "{:?}", r.err_lines);
}

// ---- durations ----

const GOOD: [&str; 6] = ["3", "0.5", "250ms", "1.5s", "2m", "1h"];
const FORMS: &str = "(seconds, or a number with ms, s, m or h)";

#[test]
fn every_time_flag_takes_units() {
    // Listener flags: rnc takes the value and listens.
    for flag in ["-w", "-q", "-i", "--stall-timeout"] {
        for v in GOOD {
            let mut r = rnc(["-v", "-n", "-l", "-k", flag, v, "127.0.0.1", "0"]).spawn();
            r.wait_err("Listening on", SECS5);
        }
    }
    // --retry: rnc takes it and connects.
    let (l, port) = peer_listener();
    for v in GOOD {
        let mut r = rnc(["-v", "-n", "--retry", v, "127.0.0.1", &port.to_string()]).spawn();
        r.wait_err("succeeded", SECS5);
        accept(&l, SECS5);
    }
}

#[test]
fn a_bad_duration_is_named_by_its_flag() {
    let cases = [
        ("-w", "-w timeout"),
        ("-q", "-q quit time"),
        ("-i", "-i interval"),
        ("--retry", "--retry"),
        ("--stall-timeout", "--stall-timeout"),
    ];
    for (flag, name) in cases {
        for bad in ["1x", "ms", "1.5.5s", "2 m", "nan", "1e300h"] {
            let mode: &[&str] = match flag {
                "--stall-timeout" => &["-l", "-k"],
                _ => &[],
            };
            let mut args: Vec<&str> = mode.to_vec();
            args.extend([flag, bad, "127.0.0.1", "1"]);
            let mut r = rnc(&args).spawn();
            assert_eq!(r.code(SECS5), 1, "{args:?}");
            assert_eq!(
                r.err_lines,
                [format!("rnc: {name} invalid: {bad} {FORMS}")],
                "{args:?}"
            );
        }
    }
}
