//! The proxy handshake's byte stream: blocking reads and writes on the connected socket,
//! every one bounded by the handshake's deadline (`-w`) and every read by a size limit.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::Instant;

use anyhow::{anyhow, bail, Context, Result};

use crate::net::os_message;

/// The longest status or header line an HTTP proxy may send.
pub const MAX_LINE: usize = 8192;

pub struct Wire<'a> {
    s: &'a mut TcpStream,
    /// When the whole handshake must be over; `None` waits as long as the proxy does.
    end: Option<Instant>,
}

impl<'a> Wire<'a> {
    pub fn new(s: &'a mut TcpStream, end: Option<Instant>) -> Wire<'a> {
        Wire { s, end }
    }

    /// Set the socket's timeouts to what is left of the deadline.
    fn arm(&mut self) -> Result<()> {
        let Some(end) = self.end else {
            return Ok(());
        };
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(timed_out());
        }
        self.s
            .set_read_timeout(Some(left))
            .context("setsockopt SO_RCVTIMEO")?;
        self.s
            .set_write_timeout(Some(left))
            .context("setsockopt SO_SNDTIMEO")?;
        Ok(())
    }

    pub fn send(&mut self, b: &[u8]) -> Result<()> {
        let mut sent = 0;
        while sent < b.len() {
            self.arm()?;
            match self.s.write(&b[sent..]) {
                Ok(0) => bail!("proxy write: connection closed"),
                Ok(n) => sent += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => bail!("proxy write: {}", os_message(&wire_error(e))),
            }
        }
        Ok(())
    }

    /// Exactly `n` bytes (n is small: a SOCKS reply).
    pub fn recv(&mut self, n: usize) -> Result<Vec<u8>> {
        let mut buf = vec![0u8; n];
        let mut got = 0;
        while got < n {
            self.arm()?;
            match self.s.read(&mut buf[got..]) {
                Ok(0) => bail!("proxy read: connection closed by the proxy ({got} of {n} bytes)"),
                Ok(k) => got += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => bail!("proxy read: {}", os_message(&wire_error(e))),
            }
        }
        Ok(buf)
    }

    /// One line without its CR LF, read a byte at a time so that nothing after the
    /// proxy's headers (the peer's first bytes) is taken from the socket.
    pub fn line(&mut self) -> Result<String> {
        let mut line = Vec::new();
        loop {
            let b = self.recv(1)?[0];
            match b {
                b'\n' => break,
                b'\r' => {}
                _ if line.len() >= MAX_LINE => {
                    bail!("proxy read: line longer than {MAX_LINE} bytes")
                }
                _ => line.push(b),
            }
        }
        Ok(String::from_utf8_lossy(&line).into_owned())
    }

    /// Back to a plain socket for the bridge.
    pub fn disarm(self) -> Result<()> {
        self.s
            .set_read_timeout(None)
            .context("setsockopt SO_RCVTIMEO")?;
        self.s
            .set_write_timeout(None)
            .context("setsockopt SO_SNDTIMEO")?;
        Ok(())
    }
}

fn timed_out() -> anyhow::Error {
    anyhow!("proxy handshake: Connection timed out")
}

/// A socket timeout reads as EAGAIN; say what it means.
fn wire_error(e: io::Error) -> io::Error {
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
            io::Error::from_raw_os_error(libc::ETIMEDOUT)
        }
        _ => e,
    }
}
