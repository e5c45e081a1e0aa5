//! The flag table (src/flags.rs, printed in the man page) against the real binary:
//! every refused cell prints its exact line and exits 1; every "yes" cell is accepted
//! and runs. The flags' effects in each mode are tested where each flag is.

use std::net::{TcpListener, UdpSocket};
use std::os::unix::net::{UnixDatagram, UnixListener};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crate::util::*;

use crate::bin::flags::{Col, Role, Row, COLS, ROWS};

/// Peers for the connect-side columns: they accept and hold whatever comes (or take
/// datagrams), and count.
struct Peers {
    tcp: [u16; 2],
    udp: [u16; 2],
    unix: PathBuf,
    unix_dgram: PathBuf,
    heard: Arc<AtomicUsize>,
}

fn hold_streams<S: Send + 'static>(
    accept: impl Fn() -> std::io::Result<S> + Send + 'static,
    n: Arc<AtomicUsize>,
) {
    thread::spawn(move || {
        let mut held = Vec::new();
        while let Ok(s) = accept() {
            n.fetch_add(1, Ordering::SeqCst);
            held.push(s);
        }
    });
}

fn count_datagrams(recv: impl Fn(&mut [u8]) -> bool + Send + 'static, n: Arc<AtomicUsize>) {
    thread::spawn(move || {
        let mut buf = [0u8; 2048];
        while recv(&mut buf) {
            n.fetch_add(1, Ordering::SeqCst);
        }
    });
}

fn peers(dir: &std::path::Path) -> Peers {
    let heard = Arc::new(AtomicUsize::new(0));
    let mut tcp = [0; 2];
    let mut udp = [0; 2];
    for (i, host) in ["127.0.0.1:0", "[::1]:0"].iter().enumerate() {
        let l = TcpListener::bind(host).unwrap();
        tcp[i] = l.local_addr().unwrap().port();
        hold_streams(move || l.accept(), heard.clone());
        let u = UdpSocket::bind(host).unwrap();
        udp[i] = u.local_addr().unwrap().port();
        count_datagrams(move |b| u.recv(b).is_ok(), heard.clone());
    }
    let unix = dir.join("peer");
    let l = UnixListener::bind(&unix).unwrap();
    hold_streams(move || l.accept(), heard.clone());
    let unix_dgram = dir.join("dgram-peer");
    let u = UnixDatagram::bind(&unix_dgram).unwrap();
    count_datagrams(move |b| u.recv(b).is_ok(), heard.clone());
    Peers {
        tcp,
        udp,
        unix,
        unix_dgram,
        heard,
    }
}

/// A self-signed certificate and key for the TLS rows, made by OpenSSL, and its pin.
struct TlsFiles {
    cert: String,
    key: String,
    pin: String,
}

fn tls_files(dir: &std::path::Path) -> TlsFiles {
    let cert = dir.join("cert.pem").to_str().unwrap().to_string();
    let key = dir.join("key.pem").to_str().unwrap().to_string();
    let made = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
        ])
        .args([
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-keyout",
            &key,
        ])
        .args(["-out", &cert])
        .output()
        .expect("openssl must be installed for the TLS rows (.ci/run installs it)");
    assert!(made.status.success(), "openssl req: {made:?}");
    let fp = std::process::Command::new("openssl")
        .args(["x509", "-noout", "-fingerprint", "-sha256", "-in", &cert])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&fp.stdout);
    let pin = text.trim().rsplit('=').next().unwrap().to_string();
    TlsFiles { cert, key, pin }
}

/// The command line of `row`'s flag in `col`; `None` where the column is the flag
/// itself (its own mode).
fn command(
    row: &Row,
    col: Col,
    p: &Peers,
    tls: &TlsFiles,
    dir: &std::path::Path,
    n: usize,
) -> Option<Vec<String>> {
    let v6 = usize::from(row.flag == "-6");
    let host = ["127.0.0.1", "::1"][v6];
    let relay = format!("127.0.0.1:{}", p.tcp[0]);
    let base: Vec<&str> = match col {
        Col::Connect => vec![],
        Col::Listen => vec!["-l"],
        Col::KeepOpen => vec!["-l", "-k"],
        Col::Udp if row.role == Role::Listen => vec!["-u", "-l"],
        Col::Udp => vec!["-u"],
        Col::Unix if row.role == Role::Listen => vec!["-U", "-l"],
        Col::Unix => vec!["-U"],
        Col::Scan => vec!["-z"],
        Col::Echo => vec!["-l", "--echo"],
        Col::Chat => vec!["-l", "--chat"],
        Col::Broker => vec!["-l", "--broker"],
        Col::Relay => vec!["-l", "-k", "--relay", &relay],
        Col::Exec => vec!["-l", "-k", "-e", "/bin/cat"],
        Col::Proxy => vec!["-l", "--proxy-type", "socks5"],
    };
    // -X is --proxy-type, given once.
    let twice = col == Col::Proxy && row.sample.contains(&"-X");
    if base.contains(&row.sample[0]) || (col == Col::Exec && row.flag == "-c") || twice {
        return None;
    }
    let listening = base.contains(&"-l") || row.flag == "-l";
    let unix = base.contains(&"-U") || row.flag == "-U";
    let udp = base.contains(&"-u") || row.flag == "-u";
    let sock = dir.join(format!("l{n}"));
    let operands: Vec<String> = match (listening, unix, udp) {
        (true, true, _) => vec![sock.to_str().unwrap().into()],
        (false, true, true) => vec![p.unix_dgram.to_str().unwrap().into()],
        (false, true, false) => vec![p.unix.to_str().unwrap().into()],
        // -s and -p name the listen address and port where rnc listens.
        (true, false, _) if row.flag == "-s" => vec!["0".into()],
        (true, false, _) if row.flag == "-p" => vec![host.into()],
        (true, false, _) => vec![host.into(), "0".into()],
        (false, false, true) => vec![host.into(), p.udp[v6].to_string()],
        (false, false, false) => vec![host.into(), p.tcp[v6].to_string()],
    };
    let mut args: Vec<String> = vec!["-v".into()];
    args.extend(base.iter().map(|s| s.to_string()));
    // A proxy flag's sample names the TCP peer as its proxy.
    let tcp = p.tcp[0].to_string();
    args.extend(row.sample.iter().map(|s| {
        s.replace("{tcp}", &tcp)
            .replace("{cert}", &tls.cert)
            .replace("{key}", &tls.key)
            .replace("{pin}", &tls.pin)
    }));
    args.extend(operands);
    Some(args)
}

/// A refused cell: the exact line, exit status 1, nothing else.
fn check_refused(args: &[String], line: &str) -> Result<(), String> {
    let mut r = rnc(args).stdin(std::process::Stdio::null()).spawn();
    let code = r.code(SECS5);
    let want = format!("rnc: {line}");
    match (code, r.err_lines.first()) {
        (1, Some(got)) if *got == want && r.err_lines.len() == 1 => Ok(()),
        _ => Err(format!(
            "{args:?}: want {want:?} and exit 1; got exit {code}, {:?}",
            r.err_lines
        )),
    }
}

/// A "yes" cell: rnc runs the mode (it listens, connects, or finishes its check)
/// instead of refusing. `silent_ok`: the mode shows no sign a peer can see (a TCP MD5
/// connect to a peer without the key never completes), so running without a
/// refusal for half a second is the sign.
fn check_accepted(args: &[String], p: &Peers, silent_ok: bool) -> Result<(), String> {
    let before = p.heard.load(Ordering::SeqCst);
    // The secrets of -P and -S, as a script gives them (never on the command line).
    let mut r = rnc(args)
        .env("RNC_PROXY_PASS", "secret")
        .env("RNC_MD5SIG_PASS", "secret")
        .spawn();
    // Something to send where rnc sends stdin (a datagram is heard only once sent).
    if let Some(stdin) = r.stdin.as_mut() {
        // A check (-z) may have finished already: a closed stdin is no failure.
        let _ = std::io::Write::write_all(stdin, b"hello\n");
    }
    let end = Instant::now() + SECS5;
    let quiet_until = Instant::now() + Duration::from_millis(500);
    while Instant::now() < end {
        if silent_ok && Instant::now() >= quiet_until && r.running() {
            return Ok(());
        }
        if let Some(l) = r.next_err(Duration::from_millis(20)) {
            let signs = ["Listening on", "Bound on", "succeeded", "Connection to"];
            // (An "rnc: ..." line may be news, such as a TLS listener's fingerprint: a
            // refusal shows as the exit status.)
            if signs.iter().any(|s| l.contains(s)) {
                return Ok(());
            }
        }
        if p.heard.load(Ordering::SeqCst) > before {
            return Ok(());
        }
        if !r.running() {
            let code = r.code(SECS5);
            return match code {
                0 => Ok(()),
                _ => Err(format!("{args:?}: exit {code}, {:?}", r.err_lines)),
            };
        }
    }
    Err(format!(
        "{args:?}: no sign of running within 5 s: {:?}",
        r.err_lines
    ))
}

#[test]
fn every_cell_of_the_flag_table_holds() {
    let dir = std::env::temp_dir().join(format!("rnc-flags-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let p = peers(&dir);
    let tls = tls_files(&dir);
    let mut failures = Vec::new();
    let mut n = 0;
    for row in ROWS {
        for &col in &COLS {
            n += 1;
            let Some(args) = command(row, col, &p, &tls, &dir, n) else {
                continue;
            };
            let res = match row.cell(col) {
                Some(line) => check_refused(&args, &line),
                None => check_accepted(&args, &p, row.flag == "-S"),
            };
            if let Err(e) = res {
                failures.push(format!("{} in {}: {e}", row.flag, col.name()));
            }
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(
        failures.is_empty(),
        "{} cells fail:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
