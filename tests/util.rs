//! The harness: spawn rnc with piped stdio, read its stderr line by line and its
//! stdout as bytes, each with a deadline; kill it on drop.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

pub const SECS5: Duration = Duration::from_secs(5);
pub const SECS10: Duration = Duration::from_secs(10);

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_rnc")
}

/// A running rnc.
pub struct Rnc {
    pub child: Child,
    pub stdin: Option<ChildStdin>,
    stderr: Receiver<String>,
    stdout: Option<Receiver<Vec<u8>>>,
    /// Every stderr line seen so far.
    pub err_lines: Vec<String>,
    out_buf: Vec<u8>,
    out_eof: bool,
}

pub struct Spawn {
    /// A command that runs rnc (`ip netns exec NAME`), or empty.
    prefix: Vec<String>,
    args: Vec<String>,
    stdin: Stdio,
    stdout: Option<Stdio>,
    /// RLIMIT_NOFILE (soft and hard) for the child.
    nofile: Option<u64>,
    /// Environment variables set for the child.
    envs: Vec<(String, String)>,
}

pub fn rnc<I, S>(args: I) -> Spawn
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    Spawn {
        prefix: Vec::new(),
        args: args.into_iter().map(|s| s.as_ref().to_string()).collect(),
        stdin: Stdio::piped(),
        stdout: None,
        nofile: None,
        envs: Vec::new(),
    }
}

impl Spawn {
    pub fn stdin(mut self, s: impl Into<Stdio>) -> Spawn {
        self.stdin = s.into();
        self
    }

    pub fn stdout(mut self, s: impl Into<Stdio>) -> Spawn {
        self.stdout = Some(s.into());
        self
    }

    /// Set an environment variable for rnc.
    pub fn env(mut self, k: &str, v: &str) -> Spawn {
        self.envs.push((k.to_string(), v.to_string()));
        self
    }

    /// Start rnc with at most `n` descriptors (its hard limit too, so it cannot raise it).
    pub fn nofile(mut self, n: u64) -> Spawn {
        self.nofile = Some(n);
        self
    }

    pub fn spawn(self) -> Rnc {
        use std::os::unix::process::CommandExt;
        let piped_out = self.stdout.is_none();
        let mut cmd = match self.prefix.split_first() {
            Some((first, rest)) => {
                let mut c = Command::new(first);
                c.args(rest).arg(bin());
                c
            }
            None => Command::new(bin()),
        };
        cmd.args(&self.args)
            .envs(self.envs.iter().map(|(k, v)| (k, v)))
            .stdin(self.stdin)
            .stdout(self.stdout.unwrap_or_else(Stdio::piped))
            .stderr(Stdio::piped());
        if let Some(n) = self.nofile {
            // SAFETY: setrlimit is async-signal-safe; nothing else runs in the child.
            unsafe {
                cmd.pre_exec(move || {
                    let rl = libc::rlimit {
                        rlim_cur: n,
                        rlim_max: n,
                    };
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &rl) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        let mut child = cmd.spawn().expect("spawn rnc");
        let (etx, erx) = mpsc::channel();
        let err = child.stderr.take().unwrap();
        thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                if etx.send(line).is_err() {
                    break;
                }
            }
        });
        let stdout = if piped_out {
            let (otx, orx) = mpsc::channel();
            let mut out = child.stdout.take().unwrap();
            thread::spawn(move || {
                let mut buf = vec![0u8; 256 * 1024];
                loop {
                    match out.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            if otx.send(buf[..n].to_vec()).is_err() {
                                break;
                            }
                        }
                    }
                }
            });
            Some(orx)
        } else {
            None
        };
        Rnc {
            stdin: child.stdin.take(),
            child,
            stderr: erx,
            stdout,
            err_lines: Vec::new(),
            out_buf: Vec::new(),
            out_eof: false,
        }
    }
}

impl Rnc {
    /// Wait for a stderr line containing `needle`; returns it.
    pub fn wait_err(&mut self, needle: &str, within: Duration) -> String {
        if let Some(l) = self.err_lines.iter().find(|l| l.contains(needle)) {
            return l.clone();
        }
        let end = Instant::now() + within;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.stderr.recv_timeout(left) {
                Ok(line) => {
                    self.err_lines.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(e) => panic!(
                    "no stderr line with {needle:?} ({e:?}); got {:?}",
                    self.err_lines
                ),
            }
        }
    }

    /// Wait until `n` stderr lines in all contain `needle`.
    pub fn wait_err_count(&mut self, needle: &str, n: usize, within: Duration) {
        let end = Instant::now() + within;
        while self.err_lines.iter().filter(|l| l.contains(needle)).count() < n {
            let left = end.saturating_duration_since(Instant::now());
            match self.stderr.recv_timeout(left) {
                Ok(line) => self.err_lines.push(line),
                Err(e) => panic!(
                    "fewer than {n} stderr lines with {needle:?} ({e:?}); got {:?}",
                    self.err_lines
                ),
            }
        }
    }

    /// Resident memory now, in KiB (VmRSS).
    pub fn rss_kb(&self) -> u64 {
        proc_status_kb(self.child.id(), "VmRSS:")
    }

    /// Peak resident memory so far, in KiB (VmHWM).
    pub fn peak_rss_kb(&self) -> u64 {
        proc_status_kb(self.child.id(), "VmHWM:")
    }

    /// CPU time used so far (user + system).
    pub fn cpu_time(&self) -> Duration {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap();
        // Fields after the command name, which is in parentheses: utime is the 12th.
        let rest = &stat[stat.rfind(')').unwrap() + 2..];
        let f: Vec<&str> = rest.split(' ').collect();
        let ticks: u64 = f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap();
        // SAFETY: sysconf only reads a constant.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
        Duration::from_millis(ticks * 1000 / hz)
    }

    /// The port from nc's `Listening on ADDR PORT` (first listener).
    pub fn listen_port(&mut self) -> u16 {
        let line = self.wait_err("Listening on", SECS5);
        line.rsplit(' ').next().unwrap().parse().expect("port")
    }

    /// The port from nc's `Bound on ADDR PORT` (a UDP listener).
    pub fn bound_port(&mut self) -> u16 {
        let line = self.wait_err("Bound on", SECS5);
        line.rsplit(' ').next().unwrap().parse().expect("port")
    }

    /// Send bytes to rnc's stdin.
    pub fn send(&mut self, data: &[u8]) {
        self.stdin
            .as_mut()
            .expect("stdin piped")
            .write_all(data)
            .unwrap();
    }

    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    fn pull_stdout(&mut self, until: Instant) -> bool {
        let rx = self.stdout.as_ref().expect("stdout piped");
        match rx.recv_timeout(until.saturating_duration_since(Instant::now())) {
            Ok(chunk) => {
                self.out_buf.extend_from_slice(&chunk);
                true
            }
            Err(RecvTimeoutError::Disconnected) => {
                self.out_eof = true;
                false
            }
            Err(RecvTimeoutError::Timeout) => false,
        }
    }

    /// Read stdout until it holds `n` bytes; returns them (and keeps the rest).
    pub fn read_out(&mut self, n: usize, within: Duration) -> Vec<u8> {
        let end = Instant::now() + within;
        while self.out_buf.len() < n && !self.out_eof && Instant::now() < end {
            self.pull_stdout(end);
        }
        assert!(
            self.out_buf.len() >= n,
            "stdout: wanted {n} bytes, got {:?}",
            String::from_utf8_lossy(&self.out_buf)
        );
        self.out_buf.drain(..n).collect()
    }

    /// Stop reading rnc's stdout: the pipe closes at the next chunk, as with `| head`.
    pub fn stop_reading_stdout(&mut self) {
        self.stdout = None;
    }

    /// Everything on stdout until rnc closes it.
    pub fn read_out_to_end(&mut self, within: Duration) -> Vec<u8> {
        let end = Instant::now() + within;
        while !self.out_eof {
            assert!(Instant::now() < end, "stdout not closed in {within:?}");
            self.pull_stdout(end);
        }
        std::mem::take(&mut self.out_buf)
    }

    /// Wait for exit; panics after `within`.
    pub fn wait(&mut self, within: Duration) -> ExitStatus {
        let end = Instant::now() + within;
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                // Collect the rest of stderr for assertions.
                while let Ok(l) = self.stderr.recv_timeout(Duration::from_millis(500)) {
                    self.err_lines.push(l);
                }
                return st;
            }
            assert!(
                Instant::now() < end,
                "rnc still running after {within:?}; stderr {:?}",
                self.err_lines
            );
            thread::sleep(Duration::from_millis(5));
        }
    }

    /// Exit code; a signal death fails the test.
    pub fn code(&mut self, within: Duration) -> i32 {
        let st = self.wait(within);
        st.code()
            .unwrap_or_else(|| panic!("killed by signal {:?}", st.signal()))
    }

    /// The next stderr line, if one comes within `within`.
    pub fn next_err(&mut self, within: Duration) -> Option<String> {
        let l = self.stderr.recv_timeout(within).ok()?;
        self.err_lines.push(l.clone());
        Some(l)
    }

    /// True if rnc is still running.
    pub fn running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: kill on our own child's pid.
        unsafe { libc::kill(self.child.id() as i32, sig) };
    }
}

impl Drop for Rnc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `rnc -v -n -l EXTRA... 127.0.0.1 0`, and the port it bound.
pub fn listener(extra: &[&str]) -> (Rnc, u16) {
    let mut a = vec!["-v", "-n", "-l"];
    a.extend_from_slice(extra);
    a.extend_from_slice(&["127.0.0.1", "0"]);
    let mut r = rnc(a).spawn();
    let port = r.listen_port();
    (r, port)
}

/// `rnc -v -n -k -l 127.0.0.1 0 EXTRA...` (a server of many clients), and its port.
pub fn server(extra: &[&str]) -> (Rnc, u16) {
    let mut a = vec!["-v", "-n", "-k", "-l", "127.0.0.1", "0"];
    a.extend_from_slice(extra);
    let mut r = rnc(a).spawn();
    let port = r.listen_port();
    (r, port)
}

/// A std listener on 127.0.0.1 with its port.
pub fn peer_listener() -> (TcpListener, u16) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let p = l.local_addr().unwrap().port();
    (l, p)
}

/// Accept with a deadline.
pub fn accept(l: &TcpListener, within: Duration) -> TcpStream {
    l.set_nonblocking(true).unwrap();
    let end = Instant::now() + within;
    loop {
        match l.accept() {
            Ok((s, _)) => {
                s.set_nonblocking(false).unwrap();
                s.set_read_timeout(Some(within)).unwrap();
                return s;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                assert!(Instant::now() < end, "no connection within {within:?}");
                thread::sleep(Duration::from_millis(2));
            }
            Err(e) => panic!("accept: {e}"),
        }
    }
}

/// Connect to 127.0.0.1:port with read timeouts set.
pub fn connect(port: u16) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(SECS5)).unwrap();
    s
}

/// Read exactly n bytes (deadline from the socket's read timeout).
pub fn read_n(s: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut v = vec![0; n];
    s.read_exact(&mut v).expect("read_exact");
    v
}

/// Read until EOF.
pub fn read_to_end(s: &mut TcpStream) -> Vec<u8> {
    let mut v = Vec::new();
    s.read_to_end(&mut v).expect("read_to_end");
    v
}

/// True if the peer's FIN arrives within `within` (no data expected first).
pub fn sees_eof(s: &mut TcpStream, within: Duration) -> bool {
    s.set_read_timeout(Some(within)).unwrap();
    let mut b = [0u8; 1];
    let r = s.read(&mut b);
    s.set_read_timeout(Some(SECS5)).unwrap();
    match r {
        Ok(0) => true,
        Ok(_) => panic!("unexpected data"),
        Err(_) => false,
    }
}

/// Close with RST (SO_LINGER 0).
pub fn reset(s: TcpStream) {
    use std::os::fd::AsRawFd;
    let l = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: valid socket and option.
    unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&l as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
    drop(s);
}

/// A small deterministic pseudo-random byte stream (xorshift).
pub fn random_bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut v = Vec::with_capacity(n + 8);
    while v.len() < n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.truncate(n);
    v
}

/// FNV-1a, enough to compare large transfers.
pub fn hash(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf29ce484222325u64, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x100000001b3)
    })
}

/// A network namespace of the test's own, with its loopback up; deleted on drop.
pub struct NetNs {
    pub name: String,
}

impl NetNs {
    /// None (after saying why on stderr) where namespaces are unavailable: not root,
    /// no `ip`, or a kernel without them. Tests then skip.
    pub fn new(tag: &str) -> Option<NetNs> {
        let name = format!("rnc-test-{}-{tag}", std::process::id());
        if !run_quiet("ip", &["netns", "add", &name]) {
            eprintln!("skipped: cannot create a network namespace (ip netns add)");
            return None;
        }
        let ns = NetNs { name };
        if !ns.ip(&["link", "set", "lo", "up"]) {
            eprintln!("skipped: cannot set up the namespace's loopback");
            return None;
        }
        Some(ns)
    }

    /// `ip -n NAME args...`; true on success.
    pub fn ip(&self, args: &[&str]) -> bool {
        let mut all = vec!["-n", &self.name];
        all.extend_from_slice(args);
        run_quiet("ip", &all)
    }

    /// Run a command inside the namespace; true on success.
    pub fn exec(&self, args: &[&str]) -> bool {
        let mut all = vec!["netns", "exec", &self.name];
        all.extend_from_slice(args);
        run_quiet("ip", &all)
    }

    /// rnc inside the namespace.
    pub fn rnc<I, S>(&self, args: I) -> Spawn
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut sp = rnc(args);
        sp.prefix = ["ip", "netns", "exec", &self.name]
            .iter()
            .map(|s| s.to_string())
            .collect();
        sp
    }

    /// An address whose SYNs vanish: a veth pair inside the namespace and a
    /// permanent neighbour entry whose MAC no interface has, so every frame sent to
    /// `10.203.0.2` is dropped by the peer interface without an answer.
    pub fn blackhole(&self) -> Option<&'static str> {
        let ok = self.ip(&["link", "add", "v0", "type", "veth", "peer", "name", "v1"])
            && self.ip(&["link", "set", "v0", "up"])
            && self.ip(&["link", "set", "v1", "up"])
            && self.ip(&["addr", "add", "10.203.0.1/24", "dev", "v0"])
            && self.ip(&[
                "neigh",
                "add",
                "10.203.0.2",
                "lladdr",
                "02:00:00:00:02:03",
                "dev",
                "v0",
                "nud",
                "permanent",
            ]);
        if !ok {
            eprintln!("skipped: cannot set up a veth pair in the namespace");
            return None;
        }
        Some("10.203.0.2")
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        run_quiet("ip", &["netns", "del", &self.name]);
    }
}

fn run_quiet(prog: &str, args: &[&str]) -> bool {
    Command::new(prog)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn proc_status_kb(pid: u32, key: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with(key)).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// A third-party server (microsocks, tinyproxy, ncat, danted) run for one test; killed
/// and reaped on drop.
pub struct Daemon {
    child: Child,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Start `prog args` and wait until 127.0.0.1:`port` accepts. None, after a loud SKIP
/// line on stderr, when the program is not installed or never listens.
pub fn daemon(prog: &str, args: &[&str], port: u16) -> Option<Daemon> {
    let child = match Command::new(prog)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("SKIP: {prog} is not available ({e}); install it to run this test");
            return None;
        }
    };
    let mut d = Daemon { child };
    let end = Instant::now() + SECS5;
    while Instant::now() < end {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Some(d);
        }
        if let Ok(Some(st)) = d.child.try_wait() {
            eprintln!("SKIP: {prog} exited at start ({st})");
            return None;
        }
        thread::sleep(Duration::from_millis(10));
    }
    eprintln!("SKIP: {prog} did not listen on port {port} within {SECS5:?}");
    None
}

/// A port free right now on 127.0.0.1 (for programs that need one named).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A directory of the test's own under the system's temp dir; removed on drop.
pub struct TmpDir {
    pub path: std::path::PathBuf,
}

impl TmpDir {
    pub fn new(tag: &str) -> TmpDir {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("rnc-{tag}-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&path).unwrap();
        TmpDir { path }
    }
}

impl Drop for TmpDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// `rnc ARGS... 127.0.0.1 PORT`: a connect-mode rnc.
pub fn client(args: &[&str], port: u16) -> Rnc {
    let mut a: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    a.push("127.0.0.1".into());
    a.push(port.to_string());
    rnc(a).spawn()
}

/// A pty pair: (master, slave), or None where there is none.
pub fn pty() -> Option<(std::fs::File, std::os::fd::OwnedFd)> {
    let (mut master, mut slave) = (0, 0);
    // SAFETY: openpty fills two descriptors; null name/termios/winsize are allowed.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    if rc != 0 {
        return None;
    }
    // SAFETY: fresh descriptors we own.
    unsafe {
        use std::os::fd::FromRawFd;
        Some((
            std::fs::File::from_raw_fd(master),
            std::os::fd::OwnedFd::from_raw_fd(slave),
        ))
    }
}

/// A control message: (level, type, data).
pub type Cmsg = (i32, i32, Vec<u8>);

/// One recvmsg on `fd` into `buf` (the socket's read timeout bounds the wait): the
/// bytes received, and the control messages with them.
pub fn recv_msg(fd: std::os::fd::RawFd, buf: &mut [u8]) -> std::io::Result<(usize, Vec<Cmsg>)> {
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let mut control = [0u8; 256];
    // SAFETY: plain data; every pointer outlives recvmsg.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = control.len() as _;
    // SAFETY: a valid descriptor and msghdr.
    let n = unsafe { libc::recvmsg(fd, &mut msg, 0) };
    if n < 0 {
        return Err(std::io::Error::last_os_error());
    }
    let mut cmsgs = Vec::new();
    // SAFETY: walking the control messages the kernel wrote, within msg_controllen.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            let len = (*c).cmsg_len as usize - libc::CMSG_LEN(0) as usize;
            let data = std::slice::from_raw_parts(libc::CMSG_DATA(c), len).to_vec();
            cmsgs.push(((*c).cmsg_level, (*c).cmsg_type, data));
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    Ok((n as usize, cmsgs))
}
