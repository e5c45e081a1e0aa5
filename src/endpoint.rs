//! One descriptor as the loop sees it: its token, what readiness it last reported, and
//! the interest it is registered with.
//!
//! mio is edge-triggered: an event says "became ready", and the flag stays set until an
//! operation hits EAGAIN. Regular files and /dev/null cannot be registered (epoll says
//! EPERM), so they are `always_ready` and never wait.

use std::io;
use std::os::fd::RawFd;

use mio::event::Event;
use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};

pub struct Endpoint {
    pub fd: RawFd,
    pub token: Token,
    /// epoll refused the fd: every operation is tried at once, none waits.
    pub always_ready: bool,
    /// Not known to be empty: a read may succeed.
    pub readable: bool,
    /// Not known to be full: a write may succeed.
    pub writable: bool,
    /// What the fd is registered for now (`None`: not registered).
    registered: Option<Interest>,
}

impl Endpoint {
    pub fn new(fd: RawFd, token: Token) -> Endpoint {
        Endpoint {
            fd,
            token,
            always_ready: false,
            readable: true,
            writable: true,
            registered: None,
        }
    }

    /// Record an event for this endpoint's token.
    pub fn on_event(&mut self, ev: &Event) {
        if ev.is_readable() || ev.is_read_closed() || ev.is_error() {
            self.readable = true;
        }
        if ev.is_writable() || ev.is_write_closed() || ev.is_error() {
            self.writable = true;
        }
    }

    /// A non-blocking connect has completed: the socket may be written at once (its
    /// writable edge was taken by the connect).
    pub fn connected(&mut self) {
        self.writable = true;
    }

    /// An operation would block: wait for the next edge (unless the fd cannot wait).
    pub fn blocked_read(&mut self) {
        self.readable = self.always_ready;
    }

    pub fn blocked_write(&mut self) {
        self.writable = self.always_ready;
    }

    /// Make the registration match `want`, with as few syscalls as possible.
    pub fn set_interest(&mut self, reg: &Registry, want: Option<Interest>) -> io::Result<()> {
        if self.always_ready || want == self.registered {
            return Ok(());
        }
        let mut src = SourceFd(&self.fd);
        let res = match (self.registered, want) {
            (None, Some(i)) => reg.register(&mut src, self.token, i),
            (Some(_), Some(i)) => reg.reregister(&mut src, self.token, i),
            (Some(_), None) => reg.deregister(&mut src),
            (None, None) => Ok(()),
        };
        match res {
            Ok(()) => {
                self.registered = want;
                Ok(())
            }
            // Regular files and /dev/null: epoll refuses them, and they never block.
            Err(e) if e.raw_os_error() == Some(libc::EPERM) => {
                self.always_ready = true;
                self.readable = true;
                self.writable = true;
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Deregister before the fd is closed or handed on.
    pub fn release(&mut self, reg: &Registry) {
        let _ = self.set_interest(reg, None);
    }

    /// The fd is closed next, by its owner: the close takes it out of epoll, so a
    /// deregistration would be a syscall for nothing. That holds because the close is
    /// the last reference to the socket: rnc never duplicates one, and every socket is
    /// close-on-exec, so no child holds a copy. Used where clients come and go.
    pub fn closing(&mut self) {
        self.registered = None;
    }
}

/// READABLE if `r`, WRITABLE if `w`; `None` when neither (mio has no empty interest).
pub fn interest(r: bool, w: bool) -> Option<Interest> {
    match (r, w) {
        (true, true) => Some(Interest::READABLE | Interest::WRITABLE),
        (true, false) => Some(Interest::READABLE),
        (false, true) => Some(Interest::WRITABLE),
        (false, false) => None,
    }
}
