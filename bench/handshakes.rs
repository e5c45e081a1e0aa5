//! Handshake load client for bench/tls: TLS 1.3 handshakes on one mio loop.
//!
//! Usage: `handshakes --port P [--parallel N] [--time SECS] [--resume]`; prints one
//! `key=value ...` line on stdout.
//!
//! `--parallel` connections are in flight at a time. Each connects to 127.0.0.1:P,
//! completes a TLS 1.3 handshake, sends close_notify and its FIN, and reads until the
//! server closes, so a connection is counted only once the server has finished with
//! it. New connections start until `--time` seconds have passed; those in flight then
//! finish (each within `--conn-timeout` seconds).
//!
//! Without `--resume` every handshake is a full one. With it each of the `--parallel`
//! slots is one client that reconnects: it keeps the server's session tickets (in its
//! own store, so that no slot goes without) and offers one on its next connection; the
//! line counts how many handshakes the server actually resumed.
//!
//! The client checks no certificate and no signature: it measures the server, and on a
//! machine with few CPUs it must cost less than the server it loads. It is a benchmark
//! client only.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::Resumption;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, HandshakeKind};

struct Args {
    port: u16,
    parallel: usize,
    time: f64,
    resume: bool,
    conn_timeout: f64,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        port: 0,
        parallel: 16,
        time: 5.0,
        resume: false,
        conn_timeout: 5.0,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--resume" {
            a.resume = true;
            continue;
        }
        let v = it.next().ok_or(format!("{flag} needs a value"))?;
        let bad = || format!("{flag}: bad value {v}");
        match flag.as_str() {
            "--port" => a.port = v.parse().map_err(|_| bad())?,
            "--parallel" => a.parallel = v.parse().map_err(|_| bad())?,
            "--time" => a.time = v.parse().map_err(|_| bad())?,
            "--conn-timeout" => a.conn_timeout = v.parse().map_err(|_| bad())?,
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    if a.port == 0 || a.parallel == 0 {
        return Err("usage: handshakes --port P [--parallel N] [--time S] [--resume]".into());
    }
    Ok(a)
}

/// Accepts any certificate: see the module's doc.
#[derive(Debug)]
struct Unchecked(Vec<rustls::SignatureScheme>);

impl ServerCertVerifier for Unchecked {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.clone()
    }
}

fn config(resume: bool) -> Arc<ClientConfig> {
    let prov = Arc::new(rustls::crypto::ring::default_provider());
    let schemes = prov.signature_verification_algorithms.supported_schemes();
    let mut cfg = ClientConfig::builder_with_provider(prov)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .expect("TLS 1.3 with ring")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Unchecked(schemes)))
        .with_no_client_auth();
    if !resume {
        cfg.resumption = Resumption::disabled();
    }
    Arc::new(cfg)
}

/// One connection in flight.
struct Conn {
    sock: TcpStream,
    tls: ClientConnection,
    started: Instant,
    /// close_notify queued and the write side shut once it is sent.
    closing: bool,
    shut: bool,
}

enum Outcome {
    Pending,
    Done(Option<HandshakeKind>),
    Failed(String),
}

impl Conn {
    fn open(addr: SocketAddr, cfg: &Arc<ClientConfig>) -> io::Result<Conn> {
        let name = ServerName::try_from("localhost").expect("a valid name");
        Ok(Conn {
            sock: TcpStream::connect(addr)?,
            tls: ClientConnection::new(cfg.clone(), name).map_err(io::Error::other)?,
            started: Instant::now(),
            closing: false,
            shut: false,
        })
    }

    /// Move the connection on as far as the socket lets it.
    fn drive(&mut self) -> Outcome {
        loop {
            match self.flush() {
                Ok(true) => {}
                Ok(false) => return Outcome::Pending,
                Err(e) => return Outcome::Failed(format!("write: {e}")),
            }
            match self.tls.read_tls(&mut self.sock) {
                Ok(0) if self.closing => return Outcome::Done(self.tls.handshake_kind()),
                Ok(0) => return Outcome::Failed("closed during the handshake".into()),
                Ok(_) => {
                    if let Err(e) = self.tls.process_new_packets() {
                        return Outcome::Failed(format!("tls: {e}"));
                    }
                    // Nothing is expected, but what comes must not pile up.
                    let mut sink = [0u8; 4096];
                    while matches!(self.tls.reader().read(&mut sink), Ok(n) if n > 0) {}
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Outcome::Pending,
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset && self.closing => {
                    return Outcome::Done(self.tls.handshake_kind())
                }
                Err(e) => return Outcome::Failed(format!("read: {e}")),
            }
        }
    }

    /// Write what rustls has; once the handshake is done, close. `Ok(false)` when the
    /// socket is full (wait for writable).
    fn flush(&mut self) -> io::Result<bool> {
        loop {
            if !self.tls.is_handshaking() && !self.closing {
                self.tls.send_close_notify();
                self.closing = true;
            }
            if !self.tls.wants_write() {
                break;
            }
            match self.tls.write_tls(&mut self.sock) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::NotConnected => return Ok(false),
                Err(e) => return Err(e),
            }
        }
        if self.closing && !self.shut {
            self.sock.shutdown(Shutdown::Write)?;
            self.shut = true;
        }
        Ok(true)
    }
}

#[derive(Default)]
struct Tally {
    full: u64,
    resumed: u64,
    failed: u64,
    first_error: Option<String>,
}

impl Tally {
    fn count(&mut self, o: Outcome) {
        match o {
            Outcome::Pending => {}
            Outcome::Done(Some(HandshakeKind::Resumed)) => self.resumed += 1,
            Outcome::Done(_) => self.full += 1,
            Outcome::Failed(e) => {
                self.failed += 1;
                self.first_error.get_or_insert(e);
            }
        }
    }
}

fn run(a: &Args) -> io::Result<String> {
    let addr = SocketAddr::from(([127, 0, 0, 1], a.port));
    let cfgs: Vec<Arc<ClientConfig>> = (0..a.parallel).map(|_| config(a.resume)).collect();
    let mut poll = Poll::new()?;
    let mut events = Events::with_capacity(1024);
    let mut slots: Vec<Option<Conn>> = (0..a.parallel).map(|_| None).collect();
    let mut tally = Tally::default();
    let start = Instant::now();
    let stop_new = start + Duration::from_secs_f64(a.time);
    let conn_timeout = Duration::from_secs_f64(a.conn_timeout);
    loop {
        let now = Instant::now();
        for (i, slot) in slots.iter_mut().enumerate() {
            if slot
                .as_ref()
                .is_some_and(|c| now - c.started > conn_timeout)
            {
                let mut c = slot.take().expect("checked");
                poll.registry().deregister(&mut c.sock)?;
                tally.count(Outcome::Failed("timed out".into()));
            }
            if slot.is_none() && now < stop_new {
                let mut c = Conn::open(addr, &cfgs[i])?;
                let both = Interest::READABLE | Interest::WRITABLE;
                poll.registry().register(&mut c.sock, Token(i), both)?;
                *slot = Some(c);
            }
        }
        if slots.iter().all(Option::is_none) {
            break;
        }
        poll.poll(&mut events, Some(Duration::from_millis(100)))?;
        for ev in events.iter() {
            let Some(c) = slots[ev.token().0].as_mut() else {
                continue;
            };
            let o = c.drive();
            if !matches!(o, Outcome::Pending) {
                let mut c = slots[ev.token().0].take().expect("present");
                poll.registry().deregister(&mut c.sock)?;
                tally.count(o);
            }
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let done = tally.full + tally.resumed;
    let mut line = format!(
        "handshakes={done} full={} resumed={} failed={} secs={secs:.3} rate={:.1}",
        tally.full,
        tally.resumed,
        tally.failed,
        done as f64 / secs
    );
    if let Some(e) = tally.first_error {
        line.push_str(&format!(" first_error={:?}", e));
    }
    Ok(line)
}

fn main() -> ExitCode {
    let a = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("handshakes: {e}");
            return ExitCode::from(2);
        }
    };
    match run(&a) {
        Ok(line) => {
            let _ = writeln!(io::stdout(), "{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("handshakes: {e}");
            ExitCode::FAILURE
        }
    }
}
