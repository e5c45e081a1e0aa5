//! `-o` and `--hex-dump`: the session's bytes in a file, as ncat writes them.
//!
//! The files are opened O_NONBLOCK and written from the loop without waiting: what a
//! file (a FIFO, say) will not take yet waits in a bounded queue. A write that fails
//! (a full disk) or a queue that overflows stops that log with one line; the
//! connection is never held up and loses nothing.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;

use anyhow::{Context, Result};

use super::Dir;
use crate::net::os_message;

/// A log that falls this far behind its file is stopped.
const MOST_PENDING: usize = 4 << 20;

/// One log file and what it has not taken yet.
struct Sink {
    file: File,
    /// How the command line named it, for the messages: `-o FILE`.
    name: String,
    pending: Vec<u8>,
    stopped: bool,
}

impl Sink {
    fn open(flag: &str, path: &str, append: bool) -> Result<Sink> {
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .append(append)
            .truncate(!append)
            .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
            .mode(0o644)
            .open(path)
            .with_context(|| format!("{flag} {path}"))?;
        Ok(Sink {
            file,
            name: format!("{flag} {path}"),
            pending: Vec::new(),
            stopped: false,
        })
    }

    fn write(&mut self, bytes: &[u8]) {
        if self.stopped {
            return;
        }
        let rest = match self.pending.is_empty() {
            true => match self.write_some(bytes) {
                Some(n) => &bytes[n..],
                None => return,
            },
            false => bytes,
        };
        if self.pending.len() + rest.len() > MOST_PENDING {
            self.stop("the file does not keep up");
            return;
        }
        self.pending.extend_from_slice(rest);
        self.flush();
    }

    /// Write what the file takes now; `None` once the log has stopped.
    fn write_some(&mut self, bytes: &[u8]) -> Option<usize> {
        let mut done = 0;
        while done < bytes.len() {
            match self.file.write(&bytes[done..]) {
                Ok(0) => break,
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.stop(&os_message(&e));
                    return None;
                }
            }
        }
        Some(done)
    }

    fn flush(&mut self) {
        if self.pending.is_empty() || self.stopped {
            return;
        }
        let pending = std::mem::take(&mut self.pending);
        if let Some(n) = self.write_some(&pending) {
            self.pending = pending;
            self.pending.drain(..n);
        }
    }

    fn stop(&mut self, why: &str) {
        crate::say!("rnc: {}: {why}; log stopped", self.name);
        self.stopped = true;
        self.pending = Vec::new();
    }
}

/// ncat's hex dump, with a line naming the direction before each chunk.
struct Hex {
    sink: Sink,
    /// Offsets run on per direction: [sent, received].
    offset: [u64; 2],
}

impl Hex {
    fn record(&mut self, dir: Dir, bytes: &[u8], peer: Option<&str>) {
        let i = usize::from(dir == Dir::Received);
        let (head, to) = match dir {
            Dir::Sent => ("> sent", "to"),
            Dir::Received => ("< received", "from"),
        };
        let mut text = format!("{head} {} bytes", bytes.len());
        if let Some(p) = peer {
            text.push_str(&format!(" {to} {p}"));
        }
        text.push('\n');
        for (k, line) in bytes.chunks(16).enumerate() {
            dump_line(&mut text, self.offset[i] + 16 * k as u64, line);
        }
        self.offset[i] += bytes.len() as u64;
        self.sink.write(text.as_bytes());
    }
}

/// `0010   72 0a  ...  r.`: the offset, 16 bytes in hex (a gap after 8), then them
/// as ASCII with dots for all but the graphic characters.
fn dump_line(out: &mut String, offset: u64, line: &[u8]) {
    use std::fmt::Write as _;
    let _ = write!(out, "{offset:04x}   ");
    for i in 0..16 {
        match line.get(i) {
            Some(b) => {
                let _ = write!(out, "{b:02x} ");
            }
            None => out.push_str("   "),
        }
        if i == 7 {
            out.push(' ');
        }
    }
    out.push(' ');
    for i in 0..16 {
        out.push(match line.get(i) {
            Some(&b) if b.is_ascii_graphic() => b as char,
            Some(_) => '.',
            None => ' ',
        });
    }
    out.push('\n');
}

/// The open logs.
#[derive(Default)]
pub struct Logs {
    raw: Option<Sink>,
    hex: Option<Hex>,
}

impl Logs {
    pub fn open(output: Option<&str>, hex: Option<&str>, append: bool) -> Result<Logs> {
        Ok(Logs {
            raw: output.map(|p| Sink::open("-o", p, append)).transpose()?,
            hex: hex
                .map(|p| Sink::open("--hex-dump", p, append))
                .transpose()?
                .map(|sink| Hex {
                    sink,
                    offset: [0, 0],
                }),
        })
    }

    pub fn any(&self) -> bool {
        self.raw.is_some() || self.hex.is_some()
    }

    pub fn record(&mut self, dir: Dir, bytes: &[u8], peer: Option<&str>) {
        if let Some(r) = &mut self.raw {
            r.write(bytes);
        }
        if let Some(h) = &mut self.hex {
            h.record(dir, bytes, peer);
        }
    }

    /// At exit: what the files would not take yet gets one more chance.
    pub fn finish(&mut self) {
        for s in [self.raw.as_mut(), self.hex.as_mut().map(|h| &mut h.sink)]
            .into_iter()
            .flatten()
        {
            s.flush();
            if !s.pending.is_empty() && !s.stopped {
                let n = s.pending.len();
                s.stop(&format!("{n} bytes not written"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dump_lines_are_ncats() {
        let mut s = String::new();
        dump_line(&mut s, 0, b"hello from serve");
        dump_line(&mut s, 16, b"r\n");
        assert_eq!(
            s,
            "0000   68 65 6c 6c 6f 20 66 72  6f 6d 20 73 65 72 76 65  hello.from.serve\n\
             0010   72 0a                                             r.              \n"
        );
    }
}
