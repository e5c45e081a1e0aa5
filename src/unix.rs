//! Unix-domain addresses: paths and Linux abstract names (`@name`), binding with stale
//! socket files cleaned up, and removal of rnc's own socket file on exit.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::os::unix::net::{SocketAddr, UnixDatagram, UnixListener, UnixStream};
use std::path::PathBuf;

use anyhow::{bail, Context, Result};

/// A Unix socket address as the user wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UnixAddr {
    Path(PathBuf),
    /// Linux abstract namespace: no file, gone with the last socket.
    Abstract(Vec<u8>),
}

impl UnixAddr {
    pub fn parse(s: &str) -> Result<UnixAddr> {
        if s.is_empty() {
            bail!("missing socket path");
        }
        Ok(match s.strip_prefix('@') {
            Some(name) => UnixAddr::Abstract(name.as_bytes().to_vec()),
            None => UnixAddr::Path(PathBuf::from(s)),
        })
    }

    pub fn to_std(&self) -> io::Result<SocketAddr> {
        match self {
            UnixAddr::Path(p) => SocketAddr::from_pathname(p),
            UnixAddr::Abstract(n) => SocketAddr::from_abstract_name(n),
        }
    }
}

impl std::fmt::Display for UnixAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UnixAddr::Path(p) => write!(f, "{}", p.display()),
            UnixAddr::Abstract(n) => write!(f, "@{}", String::from_utf8_lossy(n)),
        }
    }
}

/// How a peer's address reads in `-v` lines.
pub fn describe(addr: &SocketAddr) -> String {
    if let Some(p) = addr.as_pathname() {
        p.display().to_string()
    } else if let Some(n) = addr.as_abstract_name() {
        format!("@{}", String::from_utf8_lossy(n))
    } else {
        "(unnamed)".into()
    }
}

/// Removes the socket file rnc bound, on drop, if it is still the same file.
pub struct SocketFile {
    path: PathBuf,
    ino: u64,
}

impl SocketFile {
    fn claim(addr: &UnixAddr) -> Option<SocketFile> {
        match addr {
            UnixAddr::Path(p) => std::fs::metadata(p).ok().map(|m| SocketFile {
                path: p.clone(),
                ino: m.ino(),
            }),
            UnixAddr::Abstract(_) => None,
        }
    }
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        if std::fs::metadata(&self.path).is_ok_and(|m| m.ino() == self.ino) {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Bind with `bind`; if the path is taken by a socket file nobody serves (a crashed
/// listener's leftover), remove it and bind again. A live listener keeps its file.
fn bind_fresh<T>(
    addr: &UnixAddr,
    bind: impl Fn(&SocketAddr) -> io::Result<T>,
    alive: impl Fn(&SocketAddr) -> bool,
) -> Result<(T, Option<SocketFile>)> {
    let sa = addr
        .to_std()
        .with_context(|| format!("bad socket address {addr}"))?;
    let sock = match bind(&sa) {
        Ok(s) => s,
        Err(e) if e.kind() == io::ErrorKind::AddrInUse => {
            let UnixAddr::Path(p) = addr else {
                return Err(e).with_context(|| format!("bind {addr} failed"));
            };
            let is_socket = std::fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_socket());
            if !is_socket || alive(&sa) {
                return Err(e).with_context(|| format!("bind {addr} failed"));
            }
            std::fs::remove_file(p).with_context(|| format!("removing stale socket {addr}"))?;
            bind(&sa).with_context(|| format!("bind {addr} failed"))?
        }
        Err(e) => return Err(e).with_context(|| format!("bind {addr} failed")),
    };
    Ok((sock, SocketFile::claim(addr)))
}

pub fn listen_stream(addr: &UnixAddr) -> Result<(UnixListener, Option<SocketFile>)> {
    let (l, f) = bind_fresh(addr, UnixListener::bind_addr, |sa| {
        UnixStream::connect_addr(sa).is_ok()
    })?;
    l.set_nonblocking(true).context("fcntl O_NONBLOCK")?;
    // The system's maximum backlog, as for TCP: clients that come while rnc is busy
    // (or stopped) wait in the kernel instead of failing.
    socket2::SockRef::from(&l)
        .listen(i32::MAX)
        .context("listen")?;
    Ok((l, f))
}

pub fn bind_dgram(addr: &UnixAddr) -> Result<(UnixDatagram, Option<SocketFile>)> {
    bind_fresh(addr, UnixDatagram::bind_addr, |sa| {
        UnixDatagram::unbound()
            .and_then(|s| s.connect_addr(sa))
            .is_ok()
    })
}

pub fn connect_stream(addr: &UnixAddr) -> Result<UnixStream> {
    let sa = addr
        .to_std()
        .with_context(|| format!("bad socket address {addr}"))?;
    UnixStream::connect_addr(&sa).with_context(|| format!("connect to {addr} failed"))
}

/// A datagram client needs an address of its own for replies to come back: `-s PATH`
/// (bound as nc.openbsd does, a stale file replaced, the file removed at exit with the
/// returned `SocketFile`), or else a unique abstract one from the kernel (autobind), so
/// no file is left behind.
pub fn connect_dgram(
    addr: &UnixAddr,
    source: Option<&UnixAddr>,
) -> Result<(UnixDatagram, Option<SocketFile>)> {
    let sa = addr
        .to_std()
        .with_context(|| format!("bad socket address {addr}"))?;
    let (sock, file) = match source {
        Some(src) => bind_dgram(src)?,
        None => (autobound_dgram().context("bind (autobind)")?, None),
    };
    sock.connect_addr(&sa)
        .with_context(|| format!("connect to {addr} failed"))?;
    Ok((sock, file))
}

fn autobound_dgram() -> io::Result<UnixDatagram> {
    // SAFETY: plain socket(2); the result is checked.
    let fd = unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd is a fresh descriptor we own.
    let sock = UnixDatagram::from(unsafe { OwnedFd::from_raw_fd(fd) });
    // SAFETY: zeroed sockaddr_un; binding with only the family asks for autobind.
    let rc = unsafe {
        let mut sa: libc::sockaddr_un = std::mem::zeroed();
        sa.sun_family = libc::AF_UNIX as libc::sa_family_t;
        libc::bind(
            sock.as_raw_fd(),
            (&sa as *const libc::sockaddr_un).cast(),
            std::mem::size_of::<libc::sa_family_t>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(sock)
}
