//! stdin and stdout as the loop sees them.
//!
//! O_NONBLOCK lives on the open file description, which is shared with the user's
//! shell: `NonBlockGuard` records every flag before changing any (stdin and stdout are
//! often the same terminal) and puts them back on drop, on every exit path.

use std::io;
use std::os::fd::RawFd;

pub const STDIN: RawFd = 0;
pub const STDOUT: RawFd = 1;
pub const STDERR: RawFd = 2;

/// What kind of file a descriptor is; decides splice(2) and whether epoll takes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FdKind {
    Socket,
    Pipe,
    /// A regular file; `append` files refuse splice.
    File {
        append: bool,
    },
    /// /dev/null: epoll refuses it, splice writes to it.
    DevNull,
    /// A terminal or another character device.
    Tty,
    Other,
}

impl FdKind {
    pub fn of(fd: RawFd) -> io::Result<FdKind> {
        // SAFETY: fstat writes into a zeroed stat of the right type.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        if unsafe { libc::fstat(fd, &mut st) } != 0 {
            return Err(io::Error::last_os_error());
        }
        let kind = match st.st_mode & libc::S_IFMT {
            libc::S_IFSOCK => FdKind::Socket,
            libc::S_IFIFO => FdKind::Pipe,
            libc::S_IFREG => FdKind::File {
                append: get_fl(fd)? & libc::O_APPEND != 0,
            },
            libc::S_IFCHR if st.st_rdev == libc::makedev(1, 3) => FdKind::DevNull,
            libc::S_IFCHR => FdKind::Tty,
            _ => FdKind::Other,
        };
        Ok(kind)
    }
}

/// True when fd is a terminal (the "exit when the peer is done" rule of connect mode).
pub fn is_tty(fd: RawFd) -> bool {
    // SAFETY: isatty only inspects the descriptor.
    unsafe { libc::isatty(fd) == 1 }
}

/// True when fd refers to an open descriptor (`rnc <&-` starts with fd 0 closed).
pub fn is_open(fd: RawFd) -> bool {
    // SAFETY: F_GETFD only inspects the descriptor.
    unsafe { libc::fcntl(fd, libc::F_GETFD) != -1 }
}

/// Give stdout's reader its end of file (the peer has closed and all it sent is
/// out): a socket gets shutdown(SHUT_WR); a pipe's write end is closed by putting
/// /dev/null in its place (blocking again first: the pipe may be the shell's). Anything
/// else (a terminal, a file) is left as it is.
pub fn end_stdout(kind: FdKind) {
    match kind {
        // SAFETY: shutdown on our stdout socket.
        FdKind::Socket => unsafe {
            libc::shutdown(STDOUT, libc::SHUT_WR);
        },
        FdKind::Pipe => {
            if let Ok(fl) = get_fl(STDOUT) {
                let _ = set_fl(STDOUT, fl & !libc::O_NONBLOCK);
            }
            if let Ok(null) = std::fs::OpenOptions::new().write(true).open("/dev/null") {
                // SAFETY: dup2 onto our own stdout; `null` is closed after.
                unsafe { libc::dup2(std::os::fd::AsRawFd::as_raw_fd(&null), STDOUT) };
            }
        }
        _ => {}
    }
}

/// What `widen_pipes` asks for: the most an unprivileged process may (the default
/// of /proc/sys/fs/pipe-max-size).
const WIDE_PIPE: libc::c_int = 1 << 20;

/// A pipe on stdin or stdout holds up to 1 MiB instead of the default 64 KiB, so the
/// program at its other end is woken once per MiB instead of once per 64 KiB. The
/// kernel takes the pages only as they fill. Never shrinks a pipe; where the user's pipe limits refuse, the pipe
/// stays as it is.
pub fn widen_pipes(fds: &[RawFd]) {
    for &fd in fds {
        if FdKind::of(fd).ok() != Some(FdKind::Pipe) {
            continue;
        }
        // SAFETY: F_GETPIPE_SZ and F_SETPIPE_SZ only resize the pipe's buffer.
        unsafe {
            if libc::fcntl(fd, libc::F_GETPIPE_SZ) < WIDE_PIPE {
                libc::fcntl(fd, libc::F_SETPIPE_SZ, WIDE_PIPE);
            }
        }
    }
}

fn get_fl(fd: RawFd) -> io::Result<libc::c_int> {
    // SAFETY: F_GETFL only reads flags.
    let fl = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if fl == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(fl)
    }
}

fn set_fl(fd: RawFd, fl: libc::c_int) -> io::Result<()> {
    // SAFETY: F_SETFL with flags read from the same descriptor.
    if unsafe { libc::fcntl(fd, libc::F_SETFL, fl) } == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Puts O_NONBLOCK on the given descriptors and restores their flags on drop.
pub struct NonBlockGuard {
    saved: Vec<(RawFd, libc::c_int)>,
}

impl NonBlockGuard {
    pub fn new(fds: &[RawFd]) -> io::Result<NonBlockGuard> {
        // Read all first: when two fds share a description, the second read must not
        // see the flag the first set.
        let mut saved = Vec::new();
        for &fd in fds {
            if is_open(fd) {
                saved.push((fd, get_fl(fd)?));
            }
        }
        let guard = NonBlockGuard { saved };
        for &(fd, fl) in &guard.saved {
            set_fl(fd, fl | libc::O_NONBLOCK)?;
        }
        Ok(guard)
    }
}

impl NonBlockGuard {
    /// Put the original flags back for a while (rnc is about to stop on ^Z).
    pub fn suspend(&self) {
        for &(fd, fl) in self.saved.iter().rev() {
            let _ = set_fl(fd, fl);
        }
    }

    /// Set O_NONBLOCK again after `suspend`.
    pub fn resume(&self) {
        for &(fd, fl) in &self.saved {
            let _ = set_fl(fd, fl | libc::O_NONBLOCK);
        }
    }
}

impl Drop for NonBlockGuard {
    fn drop(&mut self) {
        self.suspend();
    }
}

/// Put /dev/null on fds 0, 1 and 2 if they are closed at start (`rnc ... <&-`), so no
/// socket rnc opens later can land on them and be taken for stdin or stdout.
pub fn fill_closed_std_fds() {
    for fd in 0..3 {
        if !is_open(fd) {
            // SAFETY: open returns the lowest free descriptor, which is `fd` here.
            unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR) };
        }
    }
}

/// Raise the soft RLIMIT_NOFILE to the hard limit: servers and scans hold one descriptor
/// per client or port in flight. Returns the limit now in force.
pub fn raise_nofile_limit() -> u64 {
    // SAFETY: getrlimit/setrlimit on a local struct.
    unsafe {
        let mut rl: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) != 0 {
            return 1024;
        }
        if rl.rlim_cur < rl.rlim_max {
            let want = libc::rlimit {
                rlim_cur: rl.rlim_max,
                rlim_max: rl.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &want) == 0 {
                return want.rlim_cur;
            }
        }
        rl.rlim_cur
    }
}
