//! `--ssl`: rnc against independent TLS stacks (Python's ssl module, openssl s_client,
//! ncat, socat), with certificates made here by rcgen.

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::{Duration, Instant};

use rcgen::{CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose};

use crate::util::*;

/// A program the test needs; a loud SKIP when it is missing.
fn have(prog: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {prog}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        eprintln!("SKIP: {prog} is not installed; this TLS test did not run");
    }
    found
}

/// Certificates for one test, in their own directory.
struct Certs {
    dir: PathBuf,
}

impl Certs {
    fn new(tag: &str) -> Certs {
        let dir = std::env::temp_dir().join(format!("rnc-tls-{tag}-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        ca.distinguished_name
            .push(DnType::CommonName, "rnc test CA");
        let ca = CertifiedIssuer::self_signed(ca, ca_key).unwrap();
        let c = Certs { dir };
        c.write("ca.pem", &ca.pem());
        let leaf = |name: &str, cn: &str, expired: bool| {
            let key = KeyPair::generate().unwrap();
            let mut p = CertificateParams::new(vec![name.to_string(), "127.0.0.1".into()]).unwrap();
            p.distinguished_name.push(DnType::CommonName, cn);
            if expired {
                p.not_before = rcgen::date_time_ymd(2020, 1, 1);
                p.not_after = rcgen::date_time_ymd(2021, 1, 1);
            }
            (p.signed_by(&key, &ca).unwrap().pem(), key.serialize_pem())
        };
        for (file, name, cn, expired) in [
            ("good", "localhost", "localhost", false),
            ("expired", "localhost", "localhost", true),
            ("other", "other.example", "other.example", false),
            ("client", "client.example", "rnc test client", false),
        ] {
            let (cert, key) = leaf(name, cn, expired);
            c.write(&format!("{file}.pem"), &cert);
            c.write(&format!("{file}.key"), &key);
        }
        let own = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        c.write("self.pem", &own.cert.pem());
        c.write("self.key", &own.signing_key.serialize_pem());
        c
    }

    fn write(&self, name: &str, text: &str) {
        fs::write(self.dir.join(name), text).unwrap();
    }

    fn path(&self, name: &str) -> String {
        self.dir.join(name).to_string_lossy().into_owned()
    }

    /// The SHA-256 fingerprint of a PEM certificate, in openssl's form.
    fn fingerprint(&self, name: &str) -> String {
        let pem = fs::read_to_string(self.dir.join(name)).unwrap();
        let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        let der = base64_decode(&b64);
        let d = ring::digest::digest(&ring::digest::SHA256, &der);
        d.as_ref()
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect::<Vec<_>>()
            .join(":")
    }
}

impl Drop for Certs {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

fn base64_decode(s: &str) -> Vec<u8> {
    let val = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        _ => 63,
    };
    let bytes: Vec<u8> = s.bytes().filter(|&c| c != b'=').collect();
    let mut out = Vec::new();
    for chunk in bytes.chunks(4) {
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            n |= (val(c) as u32) << (18 - 6 * i);
        }
        out.extend_from_slice(&n.to_be_bytes()[1..chunk.len()]);
    }
    out
}

/// A Python ssl peer (tests/tls_peer.py): its stdout lines, each awaited with a deadline.
struct Py {
    child: Child,
    lines: Receiver<String>,
    seen: Vec<String>,
}

impl Py {
    fn start(args: &[&str]) -> Py {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tls_peer.py");
        let mut child = Command::new("python3")
            .arg(script)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3");
        let (tx, rx) = mpsc::channel();
        let out = child.stdout.take().unwrap();
        thread::spawn(move || {
            for l in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        Py {
            child,
            lines: rx,
            seen: Vec::new(),
        }
    }

    /// A server: its port.
    fn server(args: &[&str]) -> (Py, u16) {
        let mut a = vec!["server"];
        a.extend_from_slice(args);
        let mut p = Py::start(&a);
        let port = p.line("port", SECS10).parse().unwrap();
        (p, port)
    }

    /// The rest of the first line that starts with `key ` (or `error`, which fails).
    fn line(&mut self, key: &str, within: Duration) -> String {
        let end = Instant::now() + within;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            let l = self
                .lines
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("peer said no {key:?} in {within:?}: {:?}", self.seen));
            self.seen.push(l.clone());
            if let Some(rest) = l.strip_prefix(&format!("{key} ")) {
                return rest.to_string();
            }
            if key != "error" && l.starts_with("error") {
                panic!("peer failed: {l} (after {:?})", self.seen);
            }
        }
    }
}

impl Drop for Py {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn p(port: u16) -> String {
    port.to_string()
}

#[test]
fn self_signed_is_refused_with_the_pin_that_accepts_it() {
    if !have("python3") {
        return;
    }
    let c = Certs::new("selfsigned");
    let (mut py, port) = Py::server(&[
        "hear",
        "--cert",
        &c.path("self.pem"),
        "--key",
        &c.path("self.key"),
    ]);
    let mut r = rnc(["--ssl", "localhost", &p(port)]).spawn();
    r.send(b"secret\n");
    assert_eq!(r.code(SECS10), 1);
    let line = r.wait_err("certificate verify failed", SECS5);
    assert!(line.contains("self-signed certificate"), "{line}");
    let fp = c.fingerprint("self.pem");
    assert!(line.ends_with(&format!("--ssl-pin {fp}")), "{line}");
    assert!(r.err_lines.len() == 1, "one line: {:?}", r.err_lines);
    // The server never got a byte of stdin: its handshake failed.
    py.line("error", SECS5);

    // Trust on first use: the pin from that line accepts exactly this certificate.
    let (mut py, port) = Py::server(&[
        "hear",
        "--cert",
        &c.path("self.pem"),
        "--key",
        &c.path("self.key"),
    ]);
    let mut r = rnc([
        "-N",
        "--ssl-pin",
        &fp.replace(':', "").to_lowercase(),
        "localhost",
        &p(port),
    ])
    .spawn();
    r.send(b"pinned\n");
    r.close_stdin();
    assert_eq!(py.line("got", SECS10), "pinned");
    assert_eq!(r.read_out_to_end(SECS10), b"bye\n");
    assert_eq!(r.code(SECS5), 0);
}

#[test]
fn the_default_store_and_a_trustfile_vouch_for_a_ca_signed_server() {
    if !have("python3") {
        return;
    }
    let c = Certs::new("store");
    for how in ["store", "trustfile"] {
        let (mut py, port) = Py::server(&[
            "hear",
            "--cert",
            &c.path("good.pem"),
            "--key",
            &c.path("good.key"),
        ]);
        let mut sp = rnc(["-N", "--ssl", "localhost", &p(port)]);
        sp = match how {
            // rustls-native-certs reads the store OpenSSL would: SSL_CERT_FILE names it.
            "store" => sp.env("SSL_CERT_FILE", &c.path("ca.pem")),
            _ => rnc([
                "-N",
                "--ssl-trustfile",
                &c.path("ca.pem"),
                "localhost",
                &p(port),
            ]),
        };
        let mut r = sp.spawn();
        r.send(b"hello\n");
        r.close_stdin();
        assert_eq!(py.line("got", SECS10), "hello", "{how}");
        assert_eq!(r.read_out_to_end(SECS10), b"bye\n");
        assert_eq!(r.code(SECS5), 0, "{how}");
    }
}

/// rnc as a client of a Python server with `cert`; returns rnc's stderr line and code.
fn refused(c: &Certs, cert: &str, extra: &[&str], needle: &str) -> String {
    let (_py, port) = Py::server(&[
        "hear",
        "--cert",
        &c.path(&format!("{cert}.pem")),
        "--key",
        &c.path(&format!("{cert}.key")),
    ]);
    let mut a = vec!["--ssl-trustfile".to_string(), c.path("ca.pem")];
    a.extend(extra.iter().map(|s| s.to_string()));
    a.extend(["localhost".to_string(), p(port)]);
    let mut r = rnc(a).spawn();
    assert_eq!(r.code(SECS10), 1, "{:?}", r.err_lines);
    r.wait_err(needle, SECS5)
}

#[test]
fn expired_wrong_name_and_wrong_pin_are_refused_by_name() {
    if !have("python3") {
        return;
    }
    let c = Certs::new("refusals");
    refused(&c, "expired", &[], "certificate has expired");
    let l = refused(&c, "other", &[], "name mismatch");
    assert!(l.contains("not for localhost"), "{l}");
    let l = refused(&c, "good", &["--ssl-pin", &"00".repeat(32)], "pin mismatch");
    assert!(l.contains(&c.fingerprint("good.pem")), "{l}");
    let l = refused(&c, "self", &[], "self-signed");
    assert!(l.contains("--ssl-pin"), "{l}");

    // --ssl-servername names the certificate's host instead.
    let (mut py, port) = Py::server(&[
        "hear",
        "--cert",
        &c.path("other.pem"),
        "--key",
        &c.path("other.key"),
    ]);
    let mut r = rnc([
        "-N",
        "--ssl-trustfile",
        &c.path("ca.pem"),
        "--ssl-servername",
        "other.example",
        "127.0.0.1",
        &p(port),
    ])
    .spawn();
    r.close_stdin();
    assert_eq!(py.line("sni", SECS10), "other.example");
    assert_eq!(r.code(SECS10), 0);
}

#[test]
fn no_verify_connects_and_says_so() {
    if !have("python3") {
        return;
    }
    let c = Certs::new("noverify");
    let (mut py, port) = Py::server(&[
        "hear",
        "--cert",
        &c.path("self.pem"),
        "--key",
        &c.path("self.key"),
    ]);
    let mut r = rnc(["-N", "--ssl-no-verify", "localhost", &p(port)]).spawn();
    r.wait_err("not checked", SECS5);
    r.close_stdin();
    assert_eq!(py.line("got", SECS10), "");
    assert_eq!(r.code(SECS10), 0);
}

#[test]
fn sni_and_alpn_as_the_server_sees_them() {
    if !have("python3") {
        return;
    }
    let c = Certs::new("sni");
    let (mut py, port) = Py::server(&[
        "hear",
        "--alpn",
        "http/1.1",
        "--cert",
        &c.path("good.pem"),
        "--key",
        &c.path("good.key"),
    ]);
    let mut r = rnc([
        "-v",
        "-N",
        "--ssl-trustfile",
        &c.path("ca.pem"),
        "--ssl-alpn",
        "h2,http/1.1",
        "localhost",
        &p(port),
    ])
    .spawn();
    r.close_stdin();
    assert_eq!(py.line("sni", SECS10), "localhost");
    assert_eq!(py.line("alpn", SECS5), "http/1.1");
    let l = r.wait_err("rnc: tls: TLS", SECS5);
    assert!(
        l.contains("ALPN http/1.1") && l.contains("peer CN=localhost"),
        "{l}"
    );
    assert_eq!(r.code(SECS10), 0);

    // An IP address destination: checked against the certificate, no SNI sent.
    let (mut py, port) = Py::server(&[
        "hear",
        "--cert",
        &c.path("good.pem"),
        "--key",
        &c.path("good.key"),
    ]);
    let mut r = rnc([
        "-N",
        "--ssl-trustfile",
        &c.path("ca.pem"),
        "127.0.0.1",
        &p(port),
    ])
    .spawn();
    r.close_stdin();
    assert_eq!(py.line("sni", SECS10), "-");
    assert_eq!(r.code(SECS10), 0);
}

#[test]
fn listener_picks_alpn_and_shows_it() {
    if !have("python3") {
        return;
    }
    let (mut r, port) = listener(&["--ssl", "--ssl-alpn", "foo,bar"]);
    let fp_line = r.wait_err("certificate for this run", SECS5);
    assert!(fp_line.contains("SHA-256 "), "{fp_line}");
    let mut py = Py::start(&[
        "client",
        "hear",
        "--port",
        &p(port),
        "--alpn",
        "bar,foo",
        "--sni",
        "myname",
    ]);
    assert_eq!(
        py.line("alpn", SECS10),
        "foo",
        "the listener's preference wins"
    );
    let l = r.wait_err("ALPN", SECS5);
    assert!(l.contains("ALPN foo"), "{l}");
    r.send(b"from rnc\n");
    r.close_stdin();
    // rnc -l without -N keeps its side open; the client's EOF ends it.
    drop(py);
    let _ = r.wait(SECS10);
}

#[test]
fn mutual_tls_on_a_listener() {
    if !have("python3") {
        return;
    }
    let c = Certs::new("mtls");
    let (mut r, port) = server(&[
        "--ssl",
        "--ssl-cert",
        &c.path("good.pem"),
        "--ssl-key",
        &c.path("good.key"),
        "--ssl-trustfile",
        &c.path("ca.pem"),
        "--echo",
    ]);
    // Without a client certificate: refused, and the server goes on.
    let mut bare = Py::start(&["client", "say", "x", "--port", &p(port)]);
    bare.line("error", SECS10);
    r.wait_err("tls handshake with", SECS5);
    let mut py = Py::start(&[
        "client",
        "ask",
        "ping",
        "--port",
        &p(port),
        "--cert",
        &c.path("client.pem"),
        "--key",
        &c.path("client.key"),
        "--cafile",
        &c.path("ca.pem"),
        "--sni",
        "localhost",
    ]);
    assert_eq!(py.line("peer", SECS10), "localhost");
    let l = r.wait_err("peer CN=rnc test client", SECS5);
    assert!(l.contains("SHA-256"), "{l}");
    assert_eq!(py.line("got", SECS10), "ping");
}

#[test]
fn mutual_tls_as_a_client() {
    if !have("python3") {
        return;
    }
    let c = Certs::new("mtlsc");
    let (mut py, port) = Py::server(&[
        "hear",
        "--cafile",
        &c.path("ca.pem"),
        "--cert",
        &c.path("good.pem"),
        "--key",
        &c.path("good.key"),
    ]);
    let mut r = rnc([
        "-N",
        "--ssl-trustfile",
        &c.path("ca.pem"),
        "--ssl-cert",
        &c.path("client.pem"),
        "--ssl-key",
        &c.path("client.key"),
        "localhost",
        &p(port),
    ])
    .spawn();
    r.close_stdin();
    assert_eq!(py.line("peer", SECS10), "rnc test client");
    assert_eq!(r.code(SECS10), 0);
}

#[test]
fn a_quarter_gib_both_ways_arrives_hash_equal() {
    if !have("python3") {
        return;
    }
    let c = Certs::new("bulk");
    let n: usize = 256 << 20;
    let input = c.dir.join("in");
    let output = c.dir.join("out");
    let data = random_bytes(n, 42);
    fs::write(&input, &data).unwrap();
    let want_up = hex(&data);
    drop(data);
    let (mut py, port) = Py::server(&[
        "both",
        &n.to_string(),
        "--cert",
        &c.path("good.pem"),
        "--key",
        &c.path("good.key"),
    ]);
    let mut r = rnc([
        "-N",
        "--ssl-trustfile",
        &c.path("ca.pem"),
        "localhost",
        &p(port),
    ])
    .stdin(fs::File::open(&input).unwrap())
    .stdout(fs::File::create(&output).unwrap())
    .spawn();
    let within = Duration::from_secs(240);
    let sent = py.line("sent", within);
    let recv = py.line("recv", within);
    let code = r.code(within);
    assert_eq!(
        recv,
        format!("{want_up} {n}"),
        "rnc → peer; {:?}",
        r.err_lines
    );
    assert_eq!(code, 0, "{:?}", r.err_lines);
    let got = fs::read(&output).unwrap();
    assert_eq!(got.len(), n, "peer → rnc");
    assert_eq!(hex(&got), sent, "peer → rnc");
}

fn hex(data: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, data)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn plain_client_on_a_tls_k_listener_fails_alone() {
    if !have("python3") {
        return;
    }
    let (mut r, port) = server(&["--ssl"]);
    let mut plain = connect(port);
    plain.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    let mut buf = Vec::new();
    let _ = plain.read_to_end(&mut buf);
    r.wait_err("tls handshake with 127.0.0.1", SECS5);
    // The next TLS client is served.
    let mut py = Py::start(&["client", "hear", "--port", &p(port)]);
    py.line("alpn", SECS10);
    r.wait_err("Connection received", SECS5);
    r.send(b"to tls client\n");
    assert!(r.running());
}

/// Python's OpenSSL client lists AES-256 first; rnc's listener chooses AES-128 by its
/// own order, and resumes a session from its stateless ticket.
#[test]
fn a_listener_prefers_aes_128_and_resumes_sessions() {
    if !have("python3") {
        return;
    }
    let (_r, port) = server(&["--ssl", "--echo"]);
    let mut py = Py::start(&["client", "resume", "--port", &p(port)]);
    for resumed in ["no", "yes"] {
        assert_eq!(py.line("cipher", SECS10), "TLS_AES_128_GCM_SHA256");
        assert_eq!(py.line("resumed", SECS10), resumed);
    }
}

#[test]
fn echo_chat_and_relay_over_tls() {
    if !have("python3") {
        return;
    }
    // --echo, to a Python client.
    let (mut r, port) = server(&["--ssl", "--echo"]);
    let fp = r
        .wait_err("certificate for this run", SECS5)
        .rsplit(' ')
        .next()
        .unwrap()
        .to_string();
    let mut py = Py::start(&["client", "ask", "ping", "--port", &p(port)]);
    assert_eq!(py.line("got", SECS10), "ping");

    // --chat: two rnc clients pinned to the listener's fresh certificate.
    let (mut chat, cport) = server(&["--ssl", "--chat"]);
    let cfp = chat
        .wait_err("certificate for this run", SECS5)
        .rsplit(' ')
        .next()
        .unwrap()
        .to_string();
    assert_ne!(fp, cfp, "a new certificate each run");
    let mut a = rnc(["--ssl-pin", &cfp, "127.0.0.1", &p(cport)]).spawn();
    let mut b = rnc(["--ssl-pin", &cfp, "127.0.0.1", &p(cport)]).spawn();
    chat.wait_err_count("Connection received", 2, SECS10);
    a.send(b"hello room\n");
    assert_eq!(b.read_out(14, SECS10), b"-> hello room\n");

    // --relay: TLS in, plain out (termination), to a std listener.
    let (up, up_port) = peer_listener();
    let (_relay, rport) = server(&["--ssl", "--relay", &format!("127.0.0.1:{up_port}")]);
    let mut py = Py::start(&["client", "say", "through", "--port", &p(rport)]);
    let mut u = accept(&up, SECS10);
    assert_eq!(read_n(&mut u, 7), b"through");
    u.write_all(b"back").unwrap();
    u.shutdown(Shutdown::Write).unwrap();
    assert_eq!(py.line("got", SECS10), "back");

    // --relay-ssl: plain in, TLS out (origination), to a Python server, verified.
    let c = Certs::new("relay");
    let (mut pys, sport) = Py::server(&[
        "hear",
        "--cert",
        &c.path("good.pem"),
        "--key",
        &c.path("good.key"),
    ]);
    let (_out, oport) = server(&[
        "--relay",
        &format!("127.0.0.1:{sport}"),
        "--relay-ssl",
        "--ssl-trustfile",
        &c.path("ca.pem"),
    ]);
    let mut plain = TcpStream::connect(("127.0.0.1", oport)).unwrap();
    plain.set_read_timeout(Some(SECS10)).unwrap();
    plain.write_all(b"origin\n").unwrap();
    plain.shutdown(Shutdown::Write).unwrap();
    assert_eq!(pys.line("got", SECS10), "origin");
    assert_eq!(read_to_end(&mut plain), b"bye\n");
}

#[test]
fn relay_with_tls_at_both_ends_and_exec_behind_tls() {
    if !have("python3") {
        return;
    }
    let c = Certs::new("both");
    // TLS in (the run's own certificate), TLS out (pinned to the server's).
    let (_pys, sport) = Py::server(&[
        "echo",
        "--cert",
        &c.path("good.pem"),
        "--key",
        &c.path("good.key"),
    ]);
    let fp = c.fingerprint("good.pem");
    let (_r, port) = server(&[
        "--ssl",
        "--relay",
        &format!("127.0.0.1:{sport}"),
        "--relay-ssl",
        "--ssl-pin",
        &fp,
    ]);
    let mut pyc = Py::start(&["client", "ask", "both ways", "--port", &p(port)]);
    assert_eq!(pyc.line("got", SECS10), "both ways");

    // -c behind TLS: the program sees plaintext, and TCP in its environment.
    let (_r, port) = server(&["--ssl", "-c", "echo \"$RNC_PROTO\"; cat"]);
    let mut py = Py::start(&["client", "ask", "ping", "--port", &p(port)]);
    assert_eq!(py.line("got", SECS10), "TCP");
}

#[test]
fn n_sends_close_notify_and_truncation_is_reported() {
    if !have("python3") {
        return;
    }
    let c = Certs::new("close");
    // -N: close_notify, then FIN; the peer's read ends cleanly (no "truncated").
    let (mut py, port) = Py::server(&[
        "hear",
        "--cert",
        &c.path("good.pem"),
        "--key",
        &c.path("good.key"),
    ]);
    let mut r = rnc([
        "-N",
        "--ssl-trustfile",
        &c.path("ca.pem"),
        "localhost",
        &p(port),
    ])
    .spawn();
    r.send(b"all of it\n");
    r.close_stdin();
    assert_eq!(py.line("got", SECS10), "all of it");
    assert!(!py.seen.iter().any(|l| l == "truncated"), "{:?}", py.seen);
    assert_eq!(r.read_out_to_end(SECS10), b"bye\n");
    assert_eq!(r.code(SECS5), 0);

    // -q 0: rnc quits at stdin EOF, but what it read is sent before close_notify.
    let (mut py, port) = Py::server(&[
        "hear",
        "--cert",
        &c.path("good.pem"),
        "--key",
        &c.path("good.key"),
    ]);
    let mut r = rnc([
        "-q",
        "0",
        "--ssl-trustfile",
        &c.path("ca.pem"),
        "localhost",
        &p(port),
    ])
    .spawn();
    r.send(b"last words\n");
    r.close_stdin();
    assert_eq!(r.code(SECS10), 0);
    assert_eq!(py.line("got", SECS10), "last words");
    assert!(!py.seen.iter().any(|l| l == "truncated"), "{:?}", py.seen);

    // A FIN with no close_notify: reported under -v, the data delivered, exit 0.
    let (_py, port) = Py::server(&[
        "plainclose",
        "--cert",
        &c.path("good.pem"),
        "--key",
        &c.path("good.key"),
    ]);
    let mut r = rnc([
        "-v",
        "-d",
        "--ssl-trustfile",
        &c.path("ca.pem"),
        "localhost",
        &p(port),
    ])
    .spawn();
    assert_eq!(r.read_out_to_end(SECS10), b"hi\n");
    r.wait_err("without close_notify", SECS5);
    assert_eq!(r.code(SECS5), 0);
}

#[test]
fn dtls_and_bad_pins_are_refused_with_one_line() {
    let mut r = rnc(["-u", "--ssl", "127.0.0.1", "9"]).spawn();
    assert_eq!(r.code(SECS5), 1);
    r.wait_err("DTLS is not supported", SECS5);
    let mut r = rnc(["--ssl-pin", "AB:CD", "127.0.0.1", "9"]).spawn();
    assert_eq!(r.code(SECS5), 1);
    r.wait_err("--ssl-pin wants a SHA-256 fingerprint", SECS5);
}

#[test]
fn openssl_s_client_verifies_a_listener_certificate() {
    if !have("openssl") {
        return;
    }
    let c = Certs::new("sclient");
    let (mut r, port) = listener(&[
        "--ssl",
        "--ssl-cert",
        &c.path("good.pem"),
        "--ssl-key",
        &c.path("good.key"),
    ]);
    let mut s = Command::new("openssl")
        .args([
            "s_client",
            "-connect",
            &format!("127.0.0.1:{port}"),
            "-CAfile",
            &c.path("ca.pem"),
            "-verify_return_error",
            "-verify_hostname",
            "localhost",
            "-quiet",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    s.stdin
        .as_mut()
        .unwrap()
        .write_all(b"from openssl\n")
        .unwrap();
    assert_eq!(r.read_out(13, SECS10), b"from openssl\n");
    r.send(b"from rnc\n");
    r.close_stdin();
    let mut got = vec![0u8; 9];
    s.stdout.as_mut().unwrap().read_exact(&mut got).unwrap();
    assert_eq!(got, b"from rnc\n");
    let _ = s.kill();
    let _ = s.wait();
}

#[test]
fn ncat_and_socat_talk_to_an_rnc_listener() {
    let c = Certs::new("peers");
    if have("ncat") {
        let (mut r, port) = listener(&["--ssl"]);
        let mut n = Command::new("ncat")
            .args(["--ssl", "127.0.0.1", &p(port)])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        n.stdin.as_mut().unwrap().write_all(b"from ncat\n").unwrap();
        assert_eq!(r.read_out(10, SECS10), b"from ncat\n");
        let _ = n.kill();
        let _ = n.wait();
    }
    if have("socat") {
        let (mut r, port) = listener(&[
            "--ssl",
            "--ssl-cert",
            &c.path("good.pem"),
            "--ssl-key",
            &c.path("good.key"),
        ]);
        let mut s = Command::new("socat")
            .args([
                "-",
                &format!("OPENSSL:localhost:{port},cafile={}", c.path("ca.pem")),
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        s.stdin
            .as_mut()
            .unwrap()
            .write_all(b"from socat\n")
            .unwrap();
        assert_eq!(r.read_out(11, SECS10), b"from socat\n");
        let _ = s.kill();
        let _ = s.wait();
    }
}
