//! The stdin flags' effect in every mode whose cell in the flag table says "yes":
//! -C, -d, -i, -N and -q were the flags that the modes used to ignore. Each probe sees
//! the effect from the other end of the connection.

use std::io::{ErrorKind, Read};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::os::unix::net::{UnixListener, UnixStream};
use std::time::{Duration, Instant};

use crate::bin::flags::{Col, ROWS};
use crate::util::*;

/// The test's end of rnc's connection.
enum End {
    Tcp(TcpStream),
    Unix(UnixStream),
    Udp(UdpSocket),
}

impl End {
    /// Up to `buf.len()` bytes, or `None` at EOF; an error after `within`.
    fn read(&mut self, buf: &mut [u8], within: Duration) -> std::io::Result<usize> {
        match self {
            End::Tcp(s) => s.set_read_timeout(Some(within)).and_then(|_| s.read(buf)),
            End::Unix(s) => s.set_read_timeout(Some(within)).and_then(|_| s.read(buf)),
            End::Udp(s) => s.set_read_timeout(Some(within)).and_then(|_| s.recv(buf)),
        }
    }

    /// Everything until `n` newlines have come (or EOF), with when each newline came.
    fn lines(&mut self, n: usize) -> (Vec<u8>, Vec<Instant>) {
        let (mut got, mut at) = (Vec::new(), Vec::new());
        let mut buf = [0u8; 4096];
        let end = Instant::now() + SECS10;
        while at.len() < n && Instant::now() < end {
            match self.read(&mut buf, SECS5) {
                Ok(0) => break,
                Ok(k) => {
                    for &b in &buf[..k] {
                        got.push(b);
                        if b == b'\n' {
                            at.push(Instant::now());
                        }
                    }
                }
                Err(e) => panic!("read: {e}; got {got:?}"),
            }
        }
        (got, at)
    }

    /// Nothing arrives for a short while (the one negative check: -d).
    fn quiet(&mut self) -> bool {
        let mut buf = [0u8; 64];
        matches!(self.read(&mut buf, Duration::from_millis(300)),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut))
    }

    /// The connection ends (FIN) after any bytes still in flight.
    fn ends(&mut self) -> bool {
        let mut buf = [0u8; 4096];
        loop {
            match self.read(&mut buf, SECS5) {
                Ok(0) => return true,
                Ok(_) => {}
                Err(_) => return false,
            }
        }
    }
}

/// rnc with `flag` in the mode of `col`, and the test's end of its one connection.
fn session(col: Col, flag: &[&str], dir: &std::path::Path) -> (Rnc, End) {
    let mut args: Vec<String> = vec!["-v".into(), "-n".into()];
    let listen_base: &[&str] = match col {
        Col::Listen => &["-l"],
        Col::KeepOpen => &["-l", "-k"],
        Col::Chat => &["-l", "--chat"],
        Col::Broker => &["-l", "--broker"],
        _ => &[],
    };
    args.extend(flag.iter().map(|s| s.to_string()));
    if !listen_base.is_empty() {
        args.extend(listen_base.iter().map(|s| s.to_string()));
        args.extend(["127.0.0.1".into(), "0".into()]);
        let mut r = rnc(&args).spawn();
        let port = r.listen_port();
        let c = connect(port);
        r.wait_err("Connection received", SECS5);
        return (r, End::Tcp(c));
    }
    match col {
        Col::Connect => {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            let port = l.local_addr().unwrap().port().to_string();
            args.extend(["127.0.0.1".into(), port]);
            let r = rnc(&args).spawn();
            (r, End::Tcp(l.accept().unwrap().0))
        }
        Col::Unix => {
            let path = dir.join(format!("u{}", flag.join("")));
            let _ = std::fs::remove_file(&path);
            let l = UnixListener::bind(&path).unwrap();
            args.extend(["-U".into(), path.to_str().unwrap().into()]);
            let r = rnc(&args).spawn();
            (r, End::Unix(l.accept().unwrap().0))
        }
        Col::Udp => {
            let u = UdpSocket::bind("127.0.0.1:0").unwrap();
            let port = u.local_addr().unwrap().port().to_string();
            args.extend(["-u".into(), "127.0.0.1".into(), port]);
            (rnc(&args).spawn(), End::Udp(u))
        }
        c => unreachable!("no probe for {c:?}"),
    }
}

/// The modes a probe runs in: those of the table's columns it can observe, where the
/// table says "yes".
fn yes_columns(flag: &str) -> Vec<Col> {
    let row = ROWS.iter().find(|r| r.flag == flag).unwrap();
    [
        Col::Connect,
        Col::Listen,
        Col::KeepOpen,
        Col::Udp,
        Col::Unix,
        Col::Chat,
        Col::Broker,
    ]
    .into_iter()
    .filter(|&c| row.cell(c).is_none())
    .collect()
}

fn dir(tag: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("rnc-fx-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn crlf_reaches_the_other_end_in_every_mode() {
    let d = dir("C");
    for col in yes_columns("-C") {
        let (mut r, mut end) = session(col, &["-C"], &d);
        r.send(b"a\n");
        let (got, _) = end.lines(1);
        assert!(got.ends_with(b"a\r\n"), "-C in {col:?}: {got:?}");
    }
}

#[test]
fn no_stdin_sends_nothing_in_every_mode() {
    let d = dir("d");
    for col in yes_columns("-d") {
        let (mut r, mut end) = session(col, &["-d"], &d);
        r.send(b"a\n");
        assert!(end.quiet(), "-d in {col:?}: stdin was read");
        assert!(r.running(), "-d in {col:?}");
    }
}

#[test]
fn interval_spaces_the_lines_in_every_mode() {
    let d = dir("i");
    for col in yes_columns("-i") {
        let (mut r, mut end) = session(col, &["-i", "250ms"], &d);
        r.send(b"a\nb\n");
        let (_, at) = end.lines(2);
        assert_eq!(at.len(), 2, "-i in {col:?}");
        let gap = at[1] - at[0];
        assert!(gap >= Duration::from_millis(200), "-i in {col:?}: {gap:?}");
    }
}

#[test]
fn send_eof_ends_the_connection_after_stdin_in_every_mode() {
    let d = dir("N");
    for col in yes_columns("-N") {
        let (mut r, mut end) = session(col, &["-N"], &d);
        r.send(b"a\n");
        r.close_stdin();
        assert!(end.ends(), "-N in {col:?}: no FIN after stdin's end");
    }
}

#[test]
fn quit_after_eof_ends_rnc_in_every_mode() {
    let d = dir("q");
    for col in yes_columns("-q") {
        let (mut r, _end) = session(col, &["-q", "0"], &d);
        r.send(b"a\n");
        r.close_stdin();
        assert_eq!(r.code(SECS5), 0, "-q in {col:?}");
    }
}
