//! The children of `--exec` and `--sh-exec`.
//!
//! `spawn` starts one with its stdin and stdout as non-blocking pipes, in a process
//! group of its own, and reports a program that cannot run as `exec PROG: strerror`.
//! Every child stays in one registry until it is reaped, so that `reap` (on SIGCHLD)
//! can say which have exited and `end_all` (on every way out of rnc) can stop the rest:
//! a child never outlives rnc.

use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::conn::{Conn, Peer};

/// After SIGTERM, how long `end_all` waits for the children before SIGKILL.
const GRACE: Duration = Duration::from_secs(2);

/// Children not yet reaped.
static LIVE: Mutex<Vec<Child>> = Mutex::new(Vec::new());

fn live() -> MutexGuard<'static, Vec<Child>> {
    // A panic elsewhere must not stop the clean-up: the list stays usable.
    LIVE.lock().unwrap_or_else(|p| p.into_inner())
}

/// A running child: its id (also its process group) and its pipes, non-blocking.
pub struct Spawned {
    pub pid: u32,
    pub stdin: ChildStdin,
    pub stdout: ChildStdout,
}

/// The environment a child gets, with ncat's names as aliases for existing handler
/// scripts: `RNC_REMOTE_ADDR` and `NCAT_REMOTE_ADDR`, and so on.
pub fn env_for(client: &Conn, peer: &Peer) -> Vec<(String, String)> {
    let (proto, local) = match client {
        Conn::Tcp(s) => ("TCP", s.local_addr().ok()),
        Conn::Udp(s) => ("UDP", s.local_addr().ok()),
        // A TLS client's plaintext end: the socket behind it says what it is.
        Conn::Unix(s) => match crate::tls::local_addr(s.as_raw_fd()) {
            Some(l) => ("TCP", Some(l)),
            None => ("UNIX", None),
        },
        _ => ("UNIX", None),
    };
    let mut vars = Vec::new();
    match peer {
        Peer::Inet(a) => {
            vars.push(("REMOTE_ADDR", a.ip().to_string()));
            vars.push(("REMOTE_PORT", a.port().to_string()));
        }
        Peer::Unix(p) => vars.push(("REMOTE_ADDR", p.clone())),
    }
    if let Some(l) = local {
        vars.push(("LOCAL_ADDR", l.ip().to_string()));
        vars.push(("LOCAL_PORT", l.port().to_string()));
    }
    vars.push(("PROTO", proto.to_string()));
    vars.into_iter()
        .flat_map(|(k, v)| [(format!("RNC_{k}"), v.clone()), (format!("NCAT_{k}"), v)])
        .collect()
}

/// Start `argv` with `env`. A program that is missing or not executable is an error
/// `exec PROG: strerror`, returned here (the standard library reports exec's errno back
/// through a close-on-exec pipe).
pub fn spawn(argv: &[String], env: &[(String, String)]) -> Result<Spawned> {
    let prog = argv.first().map(String::as_str).unwrap_or_default();
    let mut cmd = Command::new(prog);
    cmd.args(argv.iter().skip(1))
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        // Its own group: ending it ends what it started too (`sh -c 'a; b'`).
        .process_group(0);
    // rnc's own descriptors are all close-on-exec; this also keeps out any descriptor
    // rnc inherited without the flag. It marks them rather than closing them: the
    // standard library's exec-error pipe must stay open until exec.
    // SAFETY: close_range is async-signal-safe; nothing else runs here. Kernels
    // without CLOSE_RANGE_CLOEXEC (before 5.11) refuse it, and the flags rnc set apply.
    unsafe {
        cmd.pre_exec(|| {
            libc::syscall(
                libc::SYS_close_range,
                3u32,
                u32::MAX,
                libc::CLOSE_RANGE_CLOEXEC,
            );
            Ok(())
        });
    }
    let mut child = cmd.spawn().with_context(|| format!("exec {prog}"))?;
    let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
        unreachable!("both pipes were asked for");
    };
    let pid = child.id();
    live().push(child);
    set_nonblocking(stdin.as_raw_fd()).context("fcntl O_NONBLOCK")?;
    set_nonblocking(stdout.as_raw_fd()).context("fcntl O_NONBLOCK")?;
    Ok(Spawned { pid, stdin, stdout })
}

fn set_nonblocking(fd: i32) -> io::Result<()> {
    // SAFETY: fcntl on a descriptor we own.
    unsafe {
        let fl = libc::fcntl(fd, libc::F_GETFL);
        if fl == -1 || libc::fcntl(fd, libc::F_SETFL, fl | libc::O_NONBLOCK) == -1 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Reap every child that has exited (call on SIGCHLD); returns their ids.
pub fn reap() -> Vec<u32> {
    let mut gone = Vec::new();
    live().retain_mut(|c| match c.try_wait() {
        Ok(None) => true,
        _ => {
            gone.push(c.id());
            false
        }
    });
    gone
}

/// How many children are running (not yet reaped).
pub fn count() -> usize {
    live().len()
}

/// Ask one child (and its group) to stop; it is reaped later, as any other.
pub fn end(pid: u32) {
    if live().iter().any(|c| c.id() == pid) {
        signal_group(pid, libc::SIGTERM);
    }
}

fn signal_group(pid: u32, sig: i32) {
    // SAFETY: kill(2) on the group of a child still in the registry (not reaped, so
    // its id cannot have been reused).
    unsafe { libc::kill(-(pid as i32), sig) };
}

/// Stop every child: SIGTERM to each group, up to `GRACE` to exit, then SIGKILL; all
/// are reaped before this returns.
pub fn end_all() {
    let mut kids = std::mem::take(&mut *live());
    for c in &kids {
        signal_group(c.id(), libc::SIGTERM);
    }
    let until = Instant::now() + GRACE;
    while !kids.is_empty() && Instant::now() < until {
        kids.retain_mut(|c| matches!(c.try_wait(), Ok(None)));
        if !kids.is_empty() {
            // rnc is on its way out and its loop is gone: a short poll is enough here.
            thread::sleep(Duration::from_millis(5));
        }
    }
    for mut c in kids {
        signal_group(c.id(), libc::SIGKILL);
        let _ = c.wait();
    }
}

/// Ends every child when dropped: held by `main` for the life of rnc.
pub struct EndAllOnDrop;

impl Drop for EndAllOnDrop {
    fn drop(&mut self) {
        end_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_program_is_an_exec_error() {
        let e = spawn(&["/nonexistent/prog".into()], &[]).err().unwrap();
        let line = format!("{e:#}");
        assert_eq!(
            line,
            "exec /nonexistent/prog: No such file or directory (os error 2)"
        );
    }
}
