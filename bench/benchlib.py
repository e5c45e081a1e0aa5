"""Helpers shared by the bench scripts: process plumbing, readiness, the
generator, the rnc and load-client builds, option parsing and output.

Python 3 standard library only; Linux only (it reads /proc).  Import it from a
script beside it:

    sys.dont_write_bytecode = True
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import benchlib as B

How tools are started (the "clean" spawn).  Linux carries the peak RSS of the
address space a process had before execve() into its ru_maxrss, so a tool
forked straight from this Python process would report at least the harness's
own peak (over 10 MiB).  With PR_SET_CHILD_SUBREAPER set on the harness, a
/bin/sh forks the tool in the background, prints its pid and exits; the tool is
re-parented to the harness, which reaps it with wait4, and its pre-exec address
space was a copy of the small shell.  `rss_floor_kb` in the headers is
/bin/true started the same way: the smallest figure this method can show.  A
side effect: tools run with SIGINT and SIGQUIT ignored (the harness kills with
SIGKILL), and a tool that forks per connection leaves its children to the
harness when it is killed; every Scope therefore ends with a sweep that kills
by pid and reaps every child of the harness that no Child waits for (an
unreaped child's pid cannot be reused, so no other process can be hit).
"""

import argparse
import ctypes
import fcntl
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HOST = "127.0.0.1"
BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(BENCH_DIR)
DEFAULT_RNC = os.path.join("target", "release", "rnc")              # relative to REPO_ROOT
DEFAULT_LOAD = os.path.join("target", "release", "examples", "load")

LISTEN_DEADLINE_S = 10.0    # a server must be in LISTEN state within this
SETUP_DEADLINE_S = 10.0     # helper start-up (generator, counter, launcher shell)
KILL_GRACE_S = 5.0          # after SIGKILL, how long to wait for the reap
BLOCK = 1 << 20             # generator block: 1 MiB
KIB = 1 << 10
MIB = 1 << 20
GIB = 1 << 30

# --------------------------------------------------------------------------
# Output and small helpers
# --------------------------------------------------------------------------


def log(msg):
    sys.stderr.write(msg + "\n")
    sys.stderr.flush()


def out(msg):
    sys.stdout.write(msg + "\n")
    sys.stdout.flush()


def fmt(v, spec="%.1f"):
    return "NA" if v is None else spec % v


def remaining(deadline):
    return max(0.0, deadline - time.perf_counter())


def parse_size(text):
    """'2G' -> 2*2**30.  Suffixes K, M, G, T (optionally with iB/B) are binary."""
    t = text.strip().upper()
    for suffix in ("IB", "B"):
        if t.endswith(suffix) and len(t) > len(suffix) and t[-len(suffix) - 1] in "KMGT":
            t = t[: -len(suffix)]
            break
    mult = 1
    if t and t[-1] in "KMGT":
        mult = 1 << (10 * ("KMGT".index(t[-1]) + 1))
        t = t[:-1]
    try:
        value = float(t) * mult
    except ValueError:
        raise argparse.ArgumentTypeError("bad size: %r (use e.g. 512M, 2G)" % text)
    if value < 1 or value != int(value):
        raise argparse.ArgumentTypeError("bad size: %r" % text)
    return int(value)


def parse_size_or_zero(text):
    return 0 if text.strip() == "0" else parse_size(text)


def human_size(n):
    for unit, shift in (("G", 30), ("M", 20), ("K", 10)):
        if n >= (1 << shift) and n % (1 << shift) == 0:
            return "%d%s" % (n >> shift, unit)
    return str(n)


def parse_list(ap, text, known, what, all_ok=False):
    """'a,b' -> ['a', 'b'], each checked against `known` (usage error otherwise);
    with `all_ok`, 'all' stands for every known one."""
    if all_ok and text.strip() == "all":
        return list(known)
    items = []
    for name in (n.strip() for n in text.split(",")):
        if not name:
            continue
        if name not in known:
            ap.error("unknown %s %r (known: %s)" % (what, name, ", ".join(known)))
        if name not in items:
            items.append(name)
    if not items:
        ap.error("no %s given" % what)
    return items


def host_line(extra=""):
    """The `# host:` header line."""
    return "# host: %s cpus=%d python=%s%s" % (
        " ".join(os.uname()[i] for i in (0, 2, 4)), os.cpu_count() or 0,
        ".".join(map(str, sys.version_info[:3])), extra)


def display_path(path):
    """Path relative to the repository root when inside it (shorter output)."""
    ap = os.path.abspath(path)
    if ap.startswith(REPO_ROOT + os.sep):
        return os.path.relpath(ap, REPO_ROOT)
    return ap


def tail_of(f, limit=400):
    """Last bytes of a captured stderr file, on one line."""
    if f is None:
        return ""
    try:
        f.flush()
        f.seek(0, os.SEEK_END)
        f.seek(max(0, f.tell() - limit))
        data = f.read().decode("utf-8", "replace")
    except (OSError, ValueError):
        return ""
    return " ".join(data.split())


def set_pipe_size(fd, size):
    """Resize a pipe (0: leave the kernel default); returns the size in force."""
    if size and hasattr(fcntl, "F_SETPIPE_SZ"):
        try:
            fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, size)
        except OSError:
            pass
    try:
        return fcntl.fcntl(fd, fcntl.F_GETPIPE_SZ)
    except (OSError, AttributeError):
        return None


def probe_pipe_size(size):
    r, w = os.pipe()
    try:
        return set_pipe_size(w, size)
    finally:
        os.close(r)
        os.close(w)


def make_pipe(size):
    r, w = os.pipe()
    set_pipe_size(w, size)
    return r, w


class Context:
    """Per-run settings of a script (attributes set by its main)."""

    def __init__(self, tmp_prefix="rnc-bench-", clean_spawn=True):
        self.used_ports = set()
        self.seq = 0
        self.exes = {}
        self.clean_spawn = clean_spawn and enable_clean_spawn()
        if clean_spawn and not self.clean_spawn:
            log("# note: cannot become a child subreaper; tools are started directly and "
                "their RSS figures include this harness's own peak RSS")
        self.tmpdir = tempfile.mkdtemp(prefix=tmp_prefix)


def add_common_options(ap, spawn=True):
    """--spawn and -q, as every script spells them."""
    if spawn:
        ap.add_argument("--spawn", choices=["clean", "direct"], default="clean",
                        help="how tools are started: clean (through /bin/sh, so that "
                        "ru_maxrss is the tool's own) or direct (default: clean)")
    ap.add_argument("-q", "--quiet", action="store_true", help="no per-run lines on stderr")


def run_main(body, ctx):
    """Run body() with SIGTERM as Ctrl-C; exit status 130 when interrupted.
    Every stray child is reaped and the temporary directory removed at the end."""
    def on_term(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_term)
    try:
        return body()
    except KeyboardInterrupt:
        log("# interrupted")
        return 130
    finally:
        sweep_strays(time.perf_counter() + KILL_GRACE_S)
        shutil.rmtree(ctx.tmpdir, ignore_errors=True)


# --------------------------------------------------------------------------
# Children: every one is reaped by the harness with wait4 to read its rusage.
# --------------------------------------------------------------------------

LIVE_PIDS = set()   # pids of Child objects not yet reaped


class Child:
    """A child process reaped by a waiter thread with wait4.

    waitid(WNOWAIT) first: the exit time is taken as soon as the process dies
    and /proc/PID/io can still be read (e.g. the write count of a sink); the
    pid is then reaped under self.lock, which kill() also takes, so kill() can
    never signal a reused pid.
    """

    def __init__(self, name, pid, popen=None):
        self.name = name
        self.pid = pid
        self.popen = popen          # set when started by subprocess.Popen
        self.lock = threading.Lock()
        self.reaped = self.lost = self.killed = False
        self.status = self.rusage = self.exit_time = None
        self.io = {}
        self.done = threading.Event()
        LIVE_PIDS.add(pid)
        self.thread = threading.Thread(target=self._wait, name="wait-%s" % name,
                                       daemon=True)
        self.thread.start()

    def _read_io(self):
        try:
            with open("/proc/%d/io" % self.pid) as f:
                for line in f:
                    k, _, v = line.partition(":")
                    self.io[k.strip()] = int(v)
        except (OSError, ValueError):
            pass

    def _wait(self):
        try:
            while True:
                try:
                    os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOWAIT)
                    break
                except InterruptedError:
                    continue
            t = time.perf_counter()
            self._read_io()
            with self.lock:
                _, status, ru = os.wait4(self.pid, 0)
                self.status, self.rusage, self.exit_time = status, ru, t
                self.reaped = True
                LIVE_PIDS.discard(self.pid)
                if self.popen is not None:
                    self.popen.returncode = os.waitstatus_to_exitcode(status)
        except ChildProcessError:
            with self.lock:
                self.reaped = self.lost = True
                LIVE_PIDS.discard(self.pid)
                if self.popen is not None and self.popen.returncode is None:
                    self.popen.returncode = -255
        finally:
            self.done.set()

    def wait_until(self, deadline):
        return self.done.wait(remaining(deadline))

    def kill(self):
        with self.lock:
            if not self.reaped:
                try:
                    os.kill(self.pid, signal.SIGKILL)
                    self.killed = True
                except ProcessLookupError:
                    pass

    @property
    def exitcode(self):
        return None if self.status is None else os.waitstatus_to_exitcode(self.status)

    def maxrss_kb(self):
        return self.rusage.ru_maxrss if self.rusage is not None else None

    def cpu_s(self):
        if self.rusage is None:
            return None
        return self.rusage.ru_utime + self.rusage.ru_stime


def describe_exit(child):
    if child.lost:
        return "%s lost" % child.name
    code = child.exitcode
    if code is None:
        return "%s still running" % child.name
    if code < 0:
        return "%s killed by signal %d" % (child.name, -code)
    return "%s exit %d" % (child.name, code)


# --------------------------------------------------------------------------
# The process table: strays, trees, summed RSS.
# --------------------------------------------------------------------------

PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


def process_table():
    """{ppid: [pid, ...]} and {pid: rss_kb} from one scan of /proc."""
    children, rss = {}, {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as f:
                stat = f.read()
            with open("/proc/%s/statm" % name) as f:
                pages = int(f.read().split()[1])
        except (OSError, ValueError, IndexError):
            continue
        ppid = int(stat[stat.rfind(")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(name))
        rss[int(name)] = pages * PAGE_KB
    return children, rss


def children_of(pid):
    return process_table()[0].get(pid, [])


def descendants(root):
    children, _ = process_table()
    found, todo = [], list(children.get(root, []))
    while todo:
        p = todo.pop()
        found.append(p)
        todo.extend(children.get(p, []))
    return found


def kill_tree(root):
    """SIGKILL every descendant of `root` (a forking server's per-client children,
    left behind when only the parent is killed; the sweep reaps them)."""
    for pid in descendants(root):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def tree_rss_kb(root):
    """Sum of RSS over `root` and its descendants (one scan of /proc)."""
    children, rss = process_table()
    total, todo = 0, [root]
    while todo:
        p = todo.pop()
        total += rss.get(p, 0)
        todo.extend(children.get(p, []))
    return total


class TreeSampler(threading.Thread):
    """Peak of tree_rss_kb(pid), sampled every `every` seconds until stopped."""

    def __init__(self, pid, every):
        super().__init__(daemon=True)
        self.pid, self.every = pid, every
        self.peak = 0
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            self.peak = max(self.peak, tree_rss_kb(self.pid))
            self.stop.wait(self.every)


def sweep_strays(deadline):
    """Kill and reap the harness's children that no Child waits for (processes
    re-parented to it, see the module docstring).  False if some are left."""
    left = set()
    while True:
        strays = [p for p in children_of(os.getpid()) if p not in LIVE_PIDS]
        for pid in strays:
            if pid not in left:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                left.add(pid)
        for pid in list(left):
            try:
                if os.waitpid(pid, os.WNOHANG)[0] == pid:
                    left.discard(pid)
            except ChildProcessError:
                left.discard(pid)
        if not left and not strays:
            return True
        if time.perf_counter() >= deadline:
            return False
        time.sleep(0.005)


# --------------------------------------------------------------------------
# Scope: the children, fds and files of one run.
# --------------------------------------------------------------------------

LAUNCH_SCRIPT = 'f=$1; shift; exec 3<&0 || exit 125; "$@" 0<&3 3<&- & echo $! >"$f"'


class Scope:
    """Owns the children and fds of one run; kills, reaps and closes all on exit."""

    def __init__(self, ctx):
        self.ctx = ctx
        self.children = []
        self.fds = []
        self.files = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.kill_all()
        for c in self.children:
            c.done.wait(KILL_GRACE_S)
        if not sweep_strays(time.perf_counter() + KILL_GRACE_S):
            log("# warning: some re-parented processes could not be reaped")
        for fd in self.fds:
            try:
                os.close(fd)
            except OSError:
                pass
        for f in self.files:
            try:
                f.close()
            except OSError:
                pass
        for c in self.children:
            if c.popen is not None and c.popen.stdout is not None:
                c.popen.stdout.close()
        return False

    def kill_all(self):
        for c in self.children:
            c.kill()

    def fd(self, fd):
        self.fds.append(fd)
        return fd

    def close(self, fd):
        if fd in self.fds:
            self.fds.remove(fd)
        os.close(fd)

    def errfile(self):
        f = tempfile.TemporaryFile(dir=self.ctx.tmpdir)
        self.files.append(f)
        return f

    def popen(self, name, argv, **kw):
        p = subprocess.Popen(argv, **kw)
        c = Child(name, p.pid, popen=p)
        self.children.append(c)
        return c

    def launch(self, name, argv, stdin, stdout, stderr):
        """Start a measured tool (clean spawn, see the module docstring)."""
        if not self.ctx.clean_spawn:
            return self.popen(name, argv, stdin=stdin, stdout=stdout, stderr=stderr)
        self.ctx.seq += 1
        pidfile = os.path.join(self.ctx.tmpdir, "pid.%d" % self.ctx.seq)
        sh = subprocess.Popen(["/bin/sh", "-c", LAUNCH_SCRIPT, "sh", pidfile] + argv,
                              stdin=stdin, stdout=stdout, stderr=stderr)
        try:
            rc = sh.wait(timeout=SETUP_DEADLINE_S)
        except subprocess.TimeoutExpired:
            sh.kill()
            sh.wait()
            raise RuntimeError("launcher shell did not exit")
        with open(pidfile) as f:
            text = f.read().strip()
        os.unlink(pidfile)
        if rc != 0 or not text.isdigit():
            raise RuntimeError("launcher failed (rc=%s)" % rc)
        c = Child(name, int(text))
        self.children.append(c)
        return c

    def stop(self, child, drain_s=0.0):
        """Kill one child (a server that never exits by itself) and wait for its
        reap, so its rusage can be read.  True if it was still running.  A server
        that forks per connection is first given `drain_s` to reap its own
        children, so that their CPU time and peak RSS count in its rusage (wait4
        reports a process with the children it has reaped)."""
        deadline = time.perf_counter() + drain_s
        while children_of(child.pid) and time.perf_counter() < deadline:
            time.sleep(0.01)
        alive = not child.done.is_set()
        child.kill()
        child.wait_until(time.perf_counter() + KILL_GRACE_S)
        return alive


def enable_clean_spawn():
    """Become a child subreaper, so orphaned grandchildren are ours to wait4."""
    if not sys.platform.startswith("linux") or not os.path.exists("/bin/sh"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        PR_SET_CHILD_SUBREAPER = 36
        return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def measure_rss_floor(ctx):
    """ru_maxrss of /bin/true started the way tools are: an upper bound of the
    smallest figure the harness can report."""
    exe = shutil.which("true") or "/bin/true"
    with Scope(ctx) as scope:
        c = scope.launch("true", [exe], stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not c.wait_until(time.perf_counter() + SETUP_DEADLINE_S):
            return None
        return c.maxrss_kb()


# --------------------------------------------------------------------------
# The generator: a small Python child pushing one 1 MiB block over and over
# into its stdout pipe, with vmsplice (almost no CPU) or os.write.
# --------------------------------------------------------------------------

GEN_CODE = r"""
import os, sys
total, block, mode, ready = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
pattern = (bytes(range(256)) * (block // 256 + 1))[:block]
if mode == 'vmsplice':
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    class iovec(ctypes.Structure):
        _fields_ = [('base', ctypes.c_void_p), ('len', ctypes.c_size_t)]
    buf = ctypes.create_string_buffer(pattern, block)   # never modified
    base = ctypes.addressof(buf)
    vms = libc.vmsplice
    vms.restype = ctypes.c_ssize_t
    vms.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint]
    iov = iovec()
    ref = ctypes.byref(iov)
    def send(off, n):
        iov.base = base + off
        iov.len = n
        r = vms(1, ref, 1, 0)
        if r < 0:
            e = ctypes.get_errno()
            raise OSError(e, os.strerror(e))
        return r
else:
    mv = memoryview(pattern)
    def send(off, n):
        return os.write(1, mv[off:off + n])
os.write(ready, b'R')
os.close(ready)
left, off = total, 0
try:
    while left:
        n = send(off, min(left, block - off))
        left -= n
        off = (off + n) % block
except BrokenPipeError:
    sys.exit(3)
except OSError as e:
    sys.stderr.write('generator: %s\n' % e)
    sys.exit(3)
"""


def vmsplice_available():
    try:
        return hasattr(ctypes.CDLL(None), "vmsplice")
    except OSError:
        return False


def gen_mode(pipe_real):
    """vmsplice pays off only with a large pipe (it is slow into 64 KiB ones)."""
    big = pipe_real is not None and pipe_real >= BLOCK
    return "vmsplice" if big and vmsplice_available() else "write"


def wait_ready(scope, child, rfd, what):
    """Wait for the one byte `R` a helper writes on `rfd` once it is ready."""
    deadline = time.perf_counter() + SETUP_DEADLINE_S
    while True:
        r, _, _ = select.select([rfd], [], [], remaining(deadline))
        if r:
            ok = os.read(rfd, 1) == b"R"
            scope.close(rfd)
            if not ok:
                raise RuntimeError("%s died at start: %s" % (what, child.name))
            return
        if time.perf_counter() >= deadline:
            scope.close(rfd)
            raise RuntimeError("%s not ready within %.0f s" % (what, SETUP_DEADLINE_S))


def start_helper(scope, name, code, args, stdin, stdout):
    """A Python helper child that writes `R` on the fd given last once ready."""
    rr, rw = os.pipe()
    scope.fd(rr)
    scope.fd(rw)
    c = scope.popen(name, [sys.executable, "-I", "-S", "-c", code] + args + [str(rw)],
                    stdin=stdin, stdout=stdout, stderr=scope.errfile(), pass_fds=(rw,))
    scope.close(rw)
    wait_ready(scope, c, rr, name)
    return c


def start_generator(scope, nbytes, stdout_fd):
    return start_helper(scope, "generator", GEN_CODE,
                        [str(nbytes), str(BLOCK), scope.ctx.gen_mode],
                        subprocess.DEVNULL, stdout_fd)


def generator_pipe(scope, nbytes, pipe_size):
    """A generator of `nbytes` into a pipe of `pipe_size`: (generator, read end)."""
    r, w = make_pipe(pipe_size)
    scope.fd(r)
    scope.fd(w)
    gen = start_generator(scope, nbytes, w)
    scope.close(w)
    return gen, r


# --------------------------------------------------------------------------
# Readiness without probes: wait for the LISTEN socket in /proc/net/tcp{,6}.
# A probe connect() would be a client (the one an nc server accepts, or one a
# relay forwards).
# --------------------------------------------------------------------------

TCP_LISTEN_STATE = "0A"


def tcp_sockets(port, state=None):
    """(local port, remote port, state, inode) of the TCP sockets on local `port`."""
    found = []
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(path) as f:
                next(f, None)
                for line in f:
                    fields = line.split()
                    if len(fields) < 10 or (state and fields[3] != state):
                        continue
                    if int(fields[1].rpartition(":")[2], 16) == port:
                        found.append((port, int(fields[2].rpartition(":")[2], 16),
                                      fields[3], fields[9]))
        except OSError:
            continue
    return found


def listen_inodes(port):
    """Inodes of sockets in LISTEN state on local port `port`."""
    return {s[3] for s in tcp_sockets(port, TCP_LISTEN_STATE)}


def socket_inodes(pid):
    inodes = set()
    fddir = "/proc/%d/fd" % pid
    for name in os.listdir(fddir):
        try:
            target = os.readlink(os.path.join(fddir, name))
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def wait_held(listening, server, deadline):
    """True once `server` holds one of the sockets `listening()` returns (inodes);
    False when it exits or at the deadline."""
    while True:
        inodes = listening()
        if inodes:
            try:
                if inodes & socket_inodes(server.pid):
                    return True
            except OSError:
                return True  # cannot inspect its fds: trust the listener
        if server.done.is_set() or time.perf_counter() >= deadline:
            return False
        time.sleep(0.001)


def wait_listen(port, server, deadline):
    """True once `server` has a LISTEN socket on `port`; False on exit/deadline."""
    return wait_held(lambda: listen_inodes(port), server, deadline)


def pick_port(ctx):
    for _ in range(100):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind((HOST, 0))
            port = s.getsockname()[1]
        finally:
            s.close()
        if port not in ctx.used_ports and not listen_inodes(port):
            ctx.used_ports.add(port)
            return port
    raise RuntimeError("no free port found")


# --------------------------------------------------------------------------
# Binaries: rnc and the load client (bench/load.rs), built with cargo.
# --------------------------------------------------------------------------


def add_build_options(ap, load=False):
    """--rnc, --build (and --load): the binaries a script measures with."""
    ap.add_argument("--rnc", default=None,
                    help="rnc binary (default: %s in the repository root, built if missing)"
                    % DEFAULT_RNC)
    if load:
        ap.add_argument("--load", default=None,
                        help="load client (default: %s, built when missing or older than "
                        "bench/load.rs)" % DEFAULT_LOAD)
    ap.add_argument("--build", action="store_true",
                    help="run cargo build --release before measuring")
    ap.add_argument("--build-timeout", type=float, default=1800.0,
                    help="seconds allowed for cargo build (default: 1800)")


def cargo_build(args, what):
    """`cargo build --release [what...]`; None, or why it failed."""
    if not os.path.exists(os.path.join(REPO_ROOT, "Cargo.toml")) or not shutil.which("cargo"):
        return "not built and no Cargo.toml/cargo to build it"
    argv = ["cargo", "build", "--release"] + what
    log("# building: %s" % " ".join(argv))
    p = subprocess.Popen(argv, cwd=REPO_ROOT, stdin=subprocess.DEVNULL,
                         stdout=sys.stderr, stderr=sys.stderr)
    try:
        rc = p.wait(timeout=getattr(args, "build_timeout", 1800.0))
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        return "cargo build timed out"
    return None if rc == 0 else "%s failed (exit %d)" % (" ".join(argv), rc)


def executable(path):
    """(path, "") when it is an executable file, else (None, why)."""
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        return None, "no executable at %s" % display_path(path)
    return path, ""


def ensure_rnc(args):
    """(path, "") to the rnc binary, building it when the default one is missing;
    (None, why) when there is none."""
    path = os.path.abspath(args.rnc) if args.rnc else os.path.join(REPO_ROOT, DEFAULT_RNC)
    if args.build or (args.rnc is None and not os.path.exists(path)):
        why = cargo_build(args, [])
        if why:
            return None, why
    return executable(path)


def ensure_load(args):
    """(path, "") to the load client, built when missing or older than its source
    (or with --build); (None, why) when there is none."""
    return ensure_example(args, "load", getattr(args, "load", None))


def ensure_example(args, name, given=None):
    """(path, "") to the bench client bench/NAME.rs (cargo example NAME), built when
    missing or older than its source (or with --build); (None, why) when there is
    none."""
    default = os.path.join(REPO_ROOT, "target", "release", "examples", name)
    path = os.path.abspath(given) if given else default
    src = os.path.join(BENCH_DIR, name + ".rs")
    stale = not os.path.exists(path) or (
        os.path.exists(src) and os.path.getmtime(src) > os.path.getmtime(path))
    if getattr(args, "build", False) or (given is None and stale):
        why = cargo_build(args, ["--example", name])
        if why:
            return None, why
    return executable(path)


def parse_kv(line):
    """The load client's `key=value ...` line as a dict."""
    return dict(kv.split("=", 1) for kv in line.split() if "=" in kv)
