//! Secrets rnc asks for (the proxy password of `-P`, the TCP MD5 key of `-S`): from an
//! environment variable (for scripts: it stays out of `ps`), else typed on the
//! terminal with echo off, as nc.openbsd's readpassphrase(3) does.

use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;

use anyhow::{bail, Context, Result};

/// The longest secret read from the terminal.
const MAX_PASS: usize = 1024;

/// `env`'s value, else a line typed after `prompt` on /dev/tty with echo off; `what`
/// names the secret in errors.
pub fn ask(env: &str, prompt: &str, what: &str) -> Result<String> {
    if let Ok(p) = std::env::var(env) {
        return Ok(p);
    }
    let Ok(mut tty) = OpenOptions::new().read(true).write(true).open("/dev/tty") else {
        bail!("no {what}: set {env} or run rnc on a terminal");
    };
    let fd = tty.as_raw_fd();
    // SAFETY: termios is plain data; tcgetattr fills it for a valid descriptor.
    let mut saved: libc::termios = unsafe { std::mem::zeroed() };
    // SAFETY: valid fd and pointer.
    if unsafe { libc::tcgetattr(fd, &mut saved) } != 0 {
        bail!("no {what}: /dev/tty is not a terminal; set {env}");
    }
    let mut quiet = saved;
    quiet.c_lflag &= !(libc::ECHO | libc::ECHONL);
    quiet.c_lflag |= libc::ICANON;
    // SAFETY: valid fd and termios.
    unsafe { libc::tcsetattr(fd, libc::TCSAFLUSH, &quiet) };
    let _ = tty.write_all(prompt.as_bytes());
    let line = read_line(&mut tty);
    // SAFETY: valid fd and the termios read above: echo comes back whatever happened.
    unsafe { libc::tcsetattr(fd, libc::TCSAFLUSH, &saved) };
    let _ = tty.write_all(b"\n");
    line
}

fn read_line(tty: &mut std::fs::File) -> Result<String> {
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    loop {
        match tty.read(&mut b).context("read /dev/tty")? {
            0 => break,
            _ if b[0] == b'\n' => break,
            _ if line.len() >= MAX_PASS => bail!("secret longer than {MAX_PASS} bytes"),
            _ => line.push(b[0]),
        }
    }
    String::from_utf8(line).context("secret is not UTF-8")
}
