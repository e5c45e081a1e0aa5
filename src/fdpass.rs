//! `-F`: hand the connected socket to the process on our stdout (a Unix socket) with
//! SCM_RIGHTS, then exit: ssh's `ProxyUseFdpass yes` reads it and talks on it itself.

use std::os::fd::RawFd;

use anyhow::{bail, Result};

use crate::net::os_message;
use crate::stdio;

pub fn send(fd: RawFd) -> Result<i32> {
    if stdio::is_tty(stdio::STDOUT) {
        bail!("Cannot pass file descriptor to tty");
    }
    let mut byte = [0u8; 1];
    let mut iov = libc::iovec {
        iov_base: byte.as_mut_ptr().cast(),
        iov_len: 1,
    };
    // SAFETY: CMSG_SPACE is a pure size computation.
    let space = unsafe { libc::CMSG_SPACE(std::mem::size_of::<RawFd>() as u32) } as usize;
    let mut control = vec![0u8; space];
    // SAFETY: msghdr is plain data; every pointer set below outlives the sendmsg call.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = space as _;
    // SAFETY: the control buffer holds one cmsg with room for one descriptor.
    unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<RawFd>() as u32) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<RawFd>(), fd);
    }
    loop {
        // SAFETY: valid descriptor and a fully built msghdr.
        let n = unsafe { libc::sendmsg(stdio::STDOUT, &msg, 0) };
        if n == 1 {
            return Ok(0);
        }
        let e = std::io::Error::last_os_error();
        if n < 0 && e.kind() == std::io::ErrorKind::Interrupted {
            continue;
        }
        bail!("sendmsg: {}", os_message(&e));
    }
}
