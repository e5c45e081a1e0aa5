//! The socket at the far end of a bridge, whatever its family and type.

use std::io;
use std::net::{Shutdown, SocketAddr, TcpStream, UdpSocket};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::net::{UnixDatagram, UnixStream};

pub enum Conn {
    Tcp(TcpStream),
    Unix(UnixStream),
    Udp(UdpSocket),
    UnixDgram(UnixDatagram),
}

impl Conn {
    pub fn fd(&self) -> RawFd {
        match self {
            Conn::Tcp(s) => s.as_raw_fd(),
            Conn::Unix(s) => s.as_raw_fd(),
            Conn::Udp(s) => s.as_raw_fd(),
            Conn::UnixDgram(s) => s.as_raw_fd(),
        }
    }

    /// The descriptor alone, for code that needs no more than that (the hub).
    pub fn into_fd(self) -> OwnedFd {
        match self {
            Conn::Tcp(s) => s.into(),
            Conn::Unix(s) => s.into(),
            Conn::Udp(s) => s.into(),
            Conn::UnixDgram(s) => s.into(),
        }
    }

    /// Datagram sockets keep message boundaries and have no EOF.
    pub fn is_datagram(&self) -> bool {
        matches!(self, Conn::Udp(_) | Conn::UnixDgram(_))
    }

    pub fn set_nonblocking(&self) -> io::Result<()> {
        match self {
            Conn::Tcp(s) => s.set_nonblocking(true),
            Conn::Unix(s) => s.set_nonblocking(true),
            Conn::Udp(s) => s.set_nonblocking(true),
            Conn::UnixDgram(s) => s.set_nonblocking(true),
        }
    }

    /// Send FIN (streams only).
    pub fn shutdown_write(&self) {
        // ENOTCONN means the peer is already gone; nothing to tell it.
        let _ = match self {
            Conn::Tcp(s) => s.shutdown(Shutdown::Write),
            Conn::Unix(s) => s.shutdown(Shutdown::Write),
            Conn::Udp(_) | Conn::UnixDgram(_) => Ok(()),
        };
    }
}

/// Who is on the other end, for `-v` lines.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Peer {
    Inet(SocketAddr),
    Unix(String),
}

impl Peer {
    /// nc's `HOST PORT` (reverse-resolved unless -n), or the socket path.
    pub fn describe(&self, numeric: bool) -> String {
        match self {
            Peer::Inet(a) => format!("{} {}", crate::net::host_name(a.ip(), numeric), a.port()),
            Peer::Unix(p) => p.clone(),
        }
    }
}
