//! The proxy password of `-P user`: from the RNC_PROXY_PASS environment variable (for
//! scripts: it stays out of `ps`), else typed on the terminal with echo off, as
//! nc.openbsd's readpassphrase(3) does.

use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;

use anyhow::{bail, Context, Result};

pub const ENV: &str = "RNC_PROXY_PASS";

/// The longest password read from the terminal.
const MAX_PASS: usize = 1024;

pub fn password(user: &str, proxy_host: &str) -> Result<String> {
    if let Ok(p) = std::env::var(ENV) {
        return Ok(p);
    }
    let Ok(mut tty) = OpenOptions::new().read(true).write(true).open("/dev/tty") else {
        bail!("no proxy password for {user}: set {ENV} or run rnc on a terminal");
    };
    let fd = tty.as_raw_fd();
    // SAFETY: termios is plain data; tcgetattr fills it for a valid descriptor.
    let mut saved: libc::termios = unsafe { std::mem::zeroed() };
    // SAFETY: valid fd and pointer.
    if unsafe { libc::tcgetattr(fd, &mut saved) } != 0 {
        bail!("no proxy password for {user}: /dev/tty is not a terminal; set {ENV}");
    }
    let mut quiet = saved;
    quiet.c_lflag &= !(libc::ECHO | libc::ECHONL);
    quiet.c_lflag |= libc::ICANON;
    // SAFETY: valid fd and termios.
    unsafe { libc::tcsetattr(fd, libc::TCSAFLUSH, &quiet) };
    let _ = write!(tty, "Proxy password for {user}@{proxy_host}: ");
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
            _ if line.len() >= MAX_PASS => bail!("proxy password longer than {MAX_PASS} bytes"),
            _ => line.push(b[0]),
        }
    }
    String::from_utf8(line).context("proxy password is not UTF-8")
}
