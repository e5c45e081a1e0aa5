//! Names, addresses and sockets: resolve, connect, bind, and the `-v` lines in nc's words.

use std::ffi::{CStr, CString};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::os::fd::AsRawFd;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

/// `-4`, `-6` or either.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Family {
    #[default]
    Any,
    V4,
    V6,
}

impl Family {
    pub fn allows(self, addr: &SocketAddr) -> bool {
        match self {
            Family::Any => true,
            Family::V4 => addr.is_ipv4(),
            Family::V6 => addr.is_ipv6(),
        }
    }
}

/// Services rnc knows even where /etc/services is missing (minimal containers).
const WELL_KNOWN: &[(&str, u16)] = &[
    ("ftp", 21),
    ("ssh", 22),
    ("telnet", 23),
    ("smtp", 25),
    ("domain", 53),
    ("http", 80),
    ("pop3", 110),
    ("imap", 143),
    ("https", 443),
    ("submission", 587),
    ("imaps", 993),
    ("pop3s", 995),
];

/// The port of a service name (`http` → 80), from the system's services database.
pub fn service_port(name: &str) -> Result<u16> {
    service_port_proto(name, "tcp")
}

/// The port of a service name for `proto` (`tcp` or `udp`).
pub fn service_port_proto(name: &str, proto: &str) -> Result<u16> {
    let c = CString::new(name).map_err(|_| anyhow!("bad service name"))?;
    let proto = CString::new(proto).map_err(|_| anyhow!("bad protocol name"))?;
    // SAFETY: both pointers are valid C strings; the result points into libc's static
    // storage and is read before any other lookup can run (rnc is single-threaded).
    let ent = unsafe { libc::getservbyname(c.as_ptr(), proto.as_ptr()) };
    if !ent.is_null() {
        // SAFETY: non-null servent from libc.
        let port = unsafe { (*ent).s_port };
        return Ok(u16::from_be(port as u16));
    }
    WELL_KNOWN
        .iter()
        .find(|(n, _)| *n == name)
        .map(|&(_, p)| p)
        .ok_or_else(|| anyhow!("unknown service"))
}

/// The service name of a port for `[tcp/NAME]`, or `*` when there is none.
pub fn service_name(port: u16, proto: &str) -> String {
    let proto = CString::new(proto).expect("static proto");
    // SAFETY: valid C string; result read at once (see service_port).
    let ent = unsafe { libc::getservbyport(i32::from(port.to_be()), proto.as_ptr()) };
    if ent.is_null() {
        return "*".into();
    }
    // SAFETY: non-null servent with a NUL-terminated name.
    unsafe { CStr::from_ptr((*ent).s_name) }
        .to_string_lossy()
        .into_owned()
}

/// True when a positional looks like a port rather than a host (for `-l -p P X`).
pub fn looks_like_port(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_digit())
}

fn strip_brackets(host: &str) -> &str {
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
}

/// Every address of `host` in resolver order, filtered by family. With `numeric`
/// (`-n`) only literal addresses are accepted, as nc does.
pub fn resolve(host: &str, port: u16, family: Family, numeric: bool) -> Result<Vec<SocketAddr>> {
    let h = strip_brackets(host);
    let ctx = || format!("getaddrinfo for host \"{host}\" port {port}");
    let addrs: Vec<SocketAddr> = if let Ok(ip) = h.parse::<IpAddr>() {
        vec![SocketAddr::new(ip, port)]
    } else if numeric {
        return Err(anyhow!("Name or service not known")).with_context(ctx);
    } else {
        (h, port)
            .to_socket_addrs()
            .map_err(|e| anyhow!(gai_message(&e)))
            .with_context(ctx)?
            .collect()
    };
    let addrs: Vec<SocketAddr> = addrs.into_iter().filter(|a| family.allows(a)).collect();
    if addrs.is_empty() {
        return Err(anyhow!("no address of the requested family")).with_context(ctx);
    }
    Ok(addrs)
}

/// std wraps getaddrinfo's text; keep only the resolver's own words.
fn gai_message(e: &io::Error) -> String {
    let s = e.to_string();
    s.strip_prefix("failed to lookup address information: ")
        .unwrap_or(&s)
        .to_string()
}

/// A host name for messages: the reverse lookup of `ip` (nc does this unless `-n`),
/// or the address itself.
pub fn host_name(ip: IpAddr, numeric: bool) -> String {
    if numeric {
        return ip.to_string();
    }
    let sa = SockAddr::from(SocketAddr::new(ip, 0));
    let mut buf = [0 as libc::c_char; 1025];
    // SAFETY: sa is a valid sockaddr of the given length; buf is writable for its length.
    let rc = unsafe {
        libc::getnameinfo(
            sa.as_ptr().cast(),
            sa.len(),
            buf.as_mut_ptr(),
            buf.len() as libc::socklen_t,
            std::ptr::null_mut(),
            0,
            libc::NI_NAMEREQD,
        )
    };
    if rc != 0 {
        return ip.to_string();
    }
    // SAFETY: getnameinfo wrote a NUL-terminated string.
    unsafe { CStr::from_ptr(buf.as_ptr()) }
        .to_string_lossy()
        .into_owned()
}

/// nc's `Connection to HOST PORT port [tcp/SERVICE] succeeded!`; HOST reads
/// `name (address)` when the user gave a name.
/// With `numeric` (`-n`) the service is `*`, as nc prints it.
pub fn succeeded_line(host: &str, addr: &SocketAddr, proto: &str, numeric: bool) -> String {
    let ip = addr.ip().to_string();
    let shown = if strip_brackets(host) == ip {
        ip
    } else {
        format!("{host} ({ip})")
    };
    format!(
        "Connection to {shown} {} port [{proto}/{}] succeeded!",
        addr.port(),
        if numeric {
            "*".to_string()
        } else {
            service_name(addr.port(), proto)
        }
    )
}

/// Settings shared by every socket rnc opens.
#[derive(Debug, Clone, Copy, Default)]
pub struct SockOpts {
    pub so_debug: bool,
    /// nc.openbsd's socket flags (-T -I -O -M -m -b -S).
    pub tune: crate::sockopt::Tune,
    /// SO_REUSEPORT on bound UDP sockets, so that per-peer sockets (`-u -l --exec`)
    /// can share the port.
    pub reuse_port: bool,
}

fn new_socket(addr: &SocketAddr, opts: SockOpts) -> Result<Socket> {
    let sock = Socket::new(
        Domain::for_address(*addr),
        Type::STREAM,
        Some(Protocol::TCP),
    )
    .context("socket")?;
    if opts.so_debug {
        set_so_debug(&sock).context("setsockopt SO_DEBUG")?;
    }
    opts.tune.apply(&sock, addr.is_ipv6(), Some(addr))?;
    Ok(sock)
}

/// Out of descriptors, or of memory for sockets: a pause, not a failure (accept and
/// the scan wait for something to close, then go on).
pub fn out_of_resources(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}

/// Close with a reset (SO_LINGER 0): the kernel drops what it still holds for the
/// peer instead of trickling it out after the close.
pub fn abort_on_close(fd: &impl std::os::fd::AsFd) {
    let _ = socket2::SockRef::from(fd).set_linger(Some(std::time::Duration::ZERO));
}

pub fn set_so_debug(sock: &Socket) -> io::Result<()> {
    let one: libc::c_int = 1;
    // SAFETY: valid fd, option pointer and length.
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_DEBUG,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Where a connect starts from: `-s` and `-p`.
#[derive(Debug, Clone, Default)]
pub struct Source {
    pub addr: Option<IpAddr>,
    pub port: Option<u16>,
}

/// One TCP connect to one address, bounded by `timeout` (`-w`). Blocking: it runs
/// before the event loop starts, with default signal handling, so Ctrl-C still works.
pub fn connect_one(
    addr: &SocketAddr,
    src: &Source,
    timeout: Option<Duration>,
    opts: SockOpts,
) -> io::Result<std::net::TcpStream> {
    let sock = new_socket(addr, opts).map_err(io::Error::other)?;
    if src.addr.is_some() || src.port.is_some() {
        sock.set_reuse_address(true)?;
        sock.bind(&source_sockaddr(addr, src).into())?;
    }
    let sa: SockAddr = (*addr).into();
    match timeout {
        Some(t) => sock.connect_timeout(&sa, t.max(Duration::from_millis(1)))?,
        None => sock.connect(&sa)?,
    }
    Ok(sock.into())
}

/// The local address for `-s`/`-p`, in the family of the destination.
pub fn source_sockaddr(dest: &SocketAddr, src: &Source) -> SocketAddr {
    let ip = src.addr.unwrap_or(if dest.is_ipv4() {
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    } else {
        IpAddr::V6(Ipv6Addr::UNSPECIFIED)
    });
    SocketAddr::new(ip, src.port.unwrap_or(0))
}

/// Parse `-s`: an address literal, or a name resolved to one address.
pub fn source_addr(s: &str, family: Family, numeric: bool) -> Result<IpAddr> {
    Ok(resolve(s, 0, family, numeric)?[0].ip())
}

/// Bind a listening socket: SO_REUSEADDR as nc, the system's maximum backlog, and
/// IPV6_V6ONLY so an IPv4 and an IPv6 listener can share a port.
pub fn listen_on(addr: &SocketAddr, opts: SockOpts) -> Result<std::net::TcpListener> {
    let sock = bound_socket(addr, Type::STREAM, Protocol::TCP, opts)?;
    // The kernel caps this at net.core.somaxconn: the system maximum.
    sock.listen(i32::MAX).context("listen")?;
    Ok(sock.into())
}

/// A UDP socket of its own for one peer of `-u -l --exec`: bound to the listener's
/// address with SO_REUSEPORT and connected, so the kernel hands it that peer's
/// datagrams from now on.
pub fn udp_peer_socket(local: &SocketAddr, peer: &SocketAddr) -> Result<std::net::UdpSocket> {
    let opts = SockOpts {
        so_debug: false,
        tune: Default::default(),
        reuse_port: true,
    };
    let sock = bound_socket(local, Type::DGRAM, Protocol::UDP, opts)?;
    match sock.connect(&(*peer).into()) {
        Ok(()) => Ok(sock.into()),
        Err(e) => Err(e).context("connect"),
    }
}

/// A UDP socket bound for `-u -l`.
pub fn udp_bind(addr: &SocketAddr, opts: SockOpts) -> Result<std::net::UdpSocket> {
    Ok(bound_socket(addr, Type::DGRAM, Protocol::UDP, opts)?.into())
}

fn bound_socket(addr: &SocketAddr, ty: Type, proto: Protocol, opts: SockOpts) -> Result<Socket> {
    let sock = Socket::new(Domain::for_address(*addr), ty, Some(proto)).context("socket")?;
    if opts.so_debug {
        set_so_debug(&sock).context("setsockopt SO_DEBUG")?;
    }
    opts.tune.apply(&sock, addr.is_ipv6(), None)?;
    sock.set_reuse_address(true)
        .context("setsockopt SO_REUSEADDR")?;
    if opts.reuse_port {
        sock.set_reuse_port(true)
            .context("setsockopt SO_REUSEPORT")?;
    }
    if addr.is_ipv6() {
        sock.set_only_v6(true).context("setsockopt IPV6_V6ONLY")?;
    }
    sock.bind(&(*addr).into()).context("bind failed")?;
    sock.set_nonblocking(true).context("fcntl O_NONBLOCK")?;
    Ok(sock)
}

/// The listeners for `rnc -l [addr] port`. With no address and no -4/-6, both
/// 0.0.0.0 and [::] on the same port (ncat does this; nc.openbsd binds IPv4 only).
pub fn listeners(
    addr: Option<&str>,
    port: u16,
    family: Family,
    numeric: bool,
    opts: SockOpts,
) -> Result<Vec<std::net::TcpListener>> {
    bind_all(
        addr,
        port,
        family,
        numeric,
        |a| listen_on(a, opts),
        |l| l.local_addr().map(|a| a.port()),
    )
}

/// The sockets for `rnc -u -l [addr] port`, on both stacks as `listeners`.
pub fn udp_sockets(
    addr: Option<&str>,
    port: u16,
    family: Family,
    numeric: bool,
    opts: SockOpts,
) -> Result<Vec<std::net::UdpSocket>> {
    bind_all(
        addr,
        port,
        family,
        numeric,
        |a| udp_bind(a, opts),
        |s| s.local_addr().map(|a| a.port()),
    )
}

fn bind_all<T>(
    addr: Option<&str>,
    port: u16,
    family: Family,
    numeric: bool,
    bind: impl Fn(&SocketAddr) -> Result<T>,
    port_of: impl Fn(&T) -> io::Result<u16>,
) -> Result<Vec<T>> {
    if let Some(a) = addr {
        let addrs = resolve(a, port, family, numeric)?;
        return Ok(vec![bind(&addrs[0])?]);
    }
    let v4 = SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), port);
    let v6 = SocketAddr::new(Ipv6Addr::UNSPECIFIED.into(), port);
    match family {
        Family::V4 => return Ok(vec![bind(&v4)?]),
        Family::V6 => return Ok(vec![bind(&v6)?]),
        Family::Any => {}
    }
    // Port 0: the kernel picks a port for IPv4; IPv6 must then get the same one, which
    // another program may hold on IPv6 only. Try a few picks before giving up on IPv6.
    for _ in 0..8 {
        let s4 = bind(&v4)?;
        let bound = port_of(&s4).context("getsockname")?;
        match bind(&SocketAddr::new(v6.ip(), bound)) {
            Ok(s6) => return Ok(vec![s4, s6]),
            Err(e) if port == 0 && is_addr_in_use(&e) => continue,
            // No IPv6 on this host: IPv4 alone, as nc.openbsd always does.
            Err(_) => return Ok(vec![s4]),
        }
    }
    bail!("bind failed: no port free on both IPv4 and IPv6")
}

fn is_addr_in_use(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::AddrInUse)
    })
}

/// nc's text for a failed connect: `connect to HOST port PORT (tcp) failed: REASON`.
pub fn connect_failed(host: &str, port: u16, e: &io::Error) -> String {
    format!(
        "connect to {host} port {port} (tcp) failed: {}",
        os_message(e)
    )
}

/// The strerror text of an error, without Rust's ` (os error N)` suffix.
pub fn os_message(e: &io::Error) -> String {
    match e.raw_os_error() {
        // SAFETY: strerror returns a valid C string for any errno.
        Some(n) => unsafe { CStr::from_ptr(libc::strerror(n)) }
            .to_string_lossy()
            .into_owned(),
        None if e.kind() == io::ErrorKind::TimedOut => "Connection timed out".into(),
        None => e.to_string(),
    }
}
