//! The one reporter: every message rnc prints goes through here.
//!
//! stderr may be a pipe whose reader has gone, or a full disk. A message that cannot be
//! written is dropped: it never panics and never changes the exit status (nc.openbsd
//! and ncat carry on the same way).
//!
//! `--progress` keeps a status line at the bottom of the terminal; a message clears
//! it first (the next redraw puts it back), so the two never share a line.

use std::fmt;
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering, Ordering::Relaxed};

/// The status line is on the screen.
static STATUS_SHOWN: AtomicBool = AtomicBool::new(false);

/// Carriage return and erase to the end of the line.
const ERASE: &[u8] = b"\r\x1b[K";

/// Write one line to stderr, ignoring failure.
pub fn line(args: fmt::Arguments<'_>) {
    let mut err = std::io::stderr().lock();
    // One write per line, so lines from one process never interleave mid-line.
    let mut text = Vec::with_capacity(128);
    if STATUS_SHOWN.swap(false, Relaxed) {
        text.extend_from_slice(ERASE);
    }
    let _ = text.write_fmt(args);
    text.push(b'\n');
    let _ = err.write_all(&text);
}

/// Draw the status line (no newline), over the one before.
pub fn status(s: &str) {
    let mut text = Vec::with_capacity(ERASE.len() + s.len());
    text.extend_from_slice(ERASE);
    text.extend_from_slice(s.as_bytes());
    let _ = std::io::stderr().lock().write_all(&text);
    STATUS_SHOWN.store(true, Relaxed);
}

/// Erase the status line, if it is shown.
pub fn clear_status() {
    if STATUS_SHOWN.swap(false, Relaxed) {
        let _ = std::io::stderr().lock().write_all(ERASE);
    }
}

/// `say!(...)`: a line on stderr, as the standard library's stderr macro writes one,
/// but never panicking.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::report::line(format_args!($($arg)*))
    };
}

/// `-v`'s count and `-n`, set once from the command line: every part of rnc asks here
/// instead of carrying its own copies.
static VERBOSE: AtomicU8 = AtomicU8::new(0);
static NUMERIC: AtomicBool = AtomicBool::new(false);

pub fn init(verbose: u8, numeric: bool) {
    VERBOSE.store(verbose, Ordering::Relaxed);
    NUMERIC.store(numeric, Ordering::Relaxed);
}

/// How many `-v` were given.
pub fn verbose() -> u8 {
    VERBOSE.load(Ordering::Relaxed)
}

/// `-n`: addresses in messages stay numeric (no reverse lookups).
pub fn numeric() -> bool {
    NUMERIC.load(Ordering::Relaxed)
}
