//! Listen mode: one client, `-k` with concurrent clients, both stacks, stdin at EOF.

use std::fs::File;
use std::io::Write;
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

use crate::util::*;

const SHORT: Duration = Duration::from_millis(300);

#[test]
fn one_client_then_exit_and_refuse_the_next() {
    let (mut r, port) = listener(&[]);
    let mut c = connect(port);
    r.wait_err("Connection received on 127.0.0.1", SECS5);
    c.write_all(b"client1\n").unwrap();
    r.send(b"to client\n");
    assert_eq!(read_n(&mut c, 10), b"to client\n");
    drop(c);
    assert_eq!(r.read_out_to_end(SECS5), b"client1\n");
    assert_eq!(r.code(SECS5), 0);
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
}

#[test]
fn dash_p_form_and_dev_null_stdin_keep_the_client() {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = probe.local_addr().unwrap().port();
    drop(probe);
    let mut r = rnc(["-v", "-n", "-l", "-p", &port.to_string(), "127.0.0.1"])
        .stdin(File::open("/dev/null").unwrap())
        .spawn();
    r.wait_err(&format!("Listening on 127.0.0.1 {port}"), SECS5);
    let mut c = connect(port);
    c.write_all(b"x\n").unwrap();
    // nc.openbsd keeps the connection: stdin at EOF is no reason to send FIN.
    assert!(!sees_eof(&mut c, SHORT));
    assert_eq!(r.read_out(2, SECS5), b"x\n");
    c.shutdown(Shutdown::Write).unwrap();
    assert_eq!(r.code(SECS5), 0);
}

#[test]
fn dash_n_sends_fin_to_the_client() {
    let (mut r, port) = listener(&["-N"]);
    let mut c = connect(port);
    r.send(b"all of it");
    r.close_stdin();
    assert_eq!(read_to_end(&mut c), b"all of it");
    drop(c);
    assert_eq!(r.code(SECS5), 0);
}

#[test]
fn keep_open_serves_clients_concurrently() {
    let (mut r, port) = listener(&["-k"]);
    let mut a = connect(port);
    let mut b = connect(port);
    r.wait_err("Connection received", SECS5);
    a.write_all(b"from a\n").unwrap();
    let first = r.read_out(7, SECS5);
    b.write_all(b"from b\n").unwrap();
    let second = r.read_out(7, SECS5);
    assert_eq!(first, b"from a\n");
    assert_eq!(second, b"from b\n");
    // stdin goes to every client.
    r.send(b"to all\n");
    assert_eq!(read_n(&mut a, 7), b"to all\n");
    assert_eq!(read_n(&mut b, 7), b"to all\n");
    drop(a);
    b.write_all(b"b still here\n").unwrap();
    assert_eq!(r.read_out(13, SECS5), b"b still here\n");
    drop(b);
    // A third client after both left.
    let mut c = connect(port);
    c.write_all(b"third\n").unwrap();
    assert_eq!(r.read_out(6, SECS5), b"third\n");
    assert!(r.running());
}

#[test]
fn no_address_listens_on_ipv4_and_ipv6() {
    let mut r = rnc(["-v", "-n", "-k", "-l", "0"]).spawn();
    let port = r.listen_port();
    let mut a = connect(port);
    a.write_all(b"four\n").unwrap();
    assert_eq!(r.read_out(5, SECS5), b"four\n");
    if let Ok(mut b) = TcpStream::connect(("::1", port)) {
        b.write_all(b"six\n").unwrap();
        assert_eq!(r.read_out(4, SECS5), b"six\n");
    } else {
        eprintln!("no IPv6 loopback here; IPv6 half skipped");
    }
}

#[test]
fn ipv6_listen_on_loopback() {
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        eprintln!("no IPv6 loopback here; skipped");
        return;
    }
    let mut r = rnc(["-v", "-n", "-l", "::1", "0"]).spawn();
    let port = r.listen_port();
    let mut c = TcpStream::connect(("::1", port)).unwrap();
    c.write_all(b"v6").unwrap();
    drop(c);
    assert_eq!(r.read_out_to_end(SECS5), b"v6");
    assert_eq!(r.code(SECS5), 0);
}

#[test]
fn random_64_mib_through_listen_from_connect_arrives_intact() {
    let data = random_bytes(64 * 1024 * 1024, 42);
    let (mut srv, port) = listener(&[]);
    let dir = std::env::temp_dir().join(format!("rnc-big-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let input = dir.join("in");
    std::fs::write(&input, &data).unwrap();
    // Through a pipe on the sending side, so the splice path from a pipe is covered too.
    let mut cli = rnc(["-N", "127.0.0.1", &port.to_string()]).spawn();
    let mut stdin = cli.stdin.take().unwrap();
    let feeder = std::thread::spawn(move || {
        let d = std::fs::read(&input).unwrap();
        stdin.write_all(&d).unwrap();
    });
    let got = srv.read_out_to_end(Duration::from_secs(60));
    feeder.join().unwrap();
    assert_eq!(got.len(), data.len());
    assert_eq!(hash(&got), hash(&data));
    assert_eq!(srv.code(SECS5), 0);
    assert_eq!(cli.code(SECS5), 0);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn keep_open_max_conns_closes_extra_clients() {
    let (mut r, port) = listener(&["-k", "--max-conns", "1"]);
    let mut a = connect(port);
    r.wait_err("Connection received on", SECS5);
    let mut b = connect(port);
    r.wait_err("--max-conns 1 reached: closed 127.0.0.1", SECS5);
    assert!(sees_eof(&mut b, SECS5));
    a.write_all(b"a stays\n").unwrap();
    assert_eq!(r.read_out(8, SECS5), b"a stays\n");
}

#[test]
fn dash_w_drops_an_idle_client_and_exits_0() {
    // nc.openbsd: `nc -l -w 1 PORT > file` ends 1 s after the client goes quiet.
    let (mut r, port) = listener(&["-w", "1"]);
    let mut c = connect(port);
    c.write_all(b"data\n").unwrap();
    assert_eq!(r.read_out(5, SECS5), b"data\n");
    let quiet = Instant::now();
    assert_eq!(r.code(SECS5), 0, "stderr {:?}", r.err_lines);
    assert!(
        quiet.elapsed() >= Duration::from_millis(900),
        "not before -w"
    );
    assert!(sees_eof(&mut c, SECS5), "the client is closed");
    // UDP as well: the first sender's bridge ends after -w of silence.
    let mut r = rnc(["-v", "-n", "-u", "-l", "-w", "1", "127.0.0.1", "0"]).spawn();
    let port = r.bound_port();
    let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    s.send_to(b"dgram\n", ("127.0.0.1", port)).unwrap();
    assert_eq!(r.read_out(6, SECS5), b"dgram\n");
    assert_eq!(r.code(SECS5), 0);
}
