"""Server benchmarks for bench/chat and bench/echo: rnc's --chat and --echo next to
ncat and socat, with many clients, on 127.0.0.1.

Python 3 standard library only; Linux only (it reads /proc). The clients are one
process, the load client (bench/load.rs, built as `cargo build --release --example
load`), which connects them all, drives them on one epoll loop and prints one
`key=value` line per run. This script starts each server, runs the load client
against it, reads the server's peak RSS and CPU time with wait4, and prints the
figures and the goals as PASS/FAIL lines. See README.md beside this file.

Process plumbing (Scope, Child, the clean spawn that makes ru_maxrss the tool's
own, wait_listen, pick_port) comes from bench/throughput.
"""

import argparse
import importlib.machinery
import importlib.util
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(BENCH_DIR)
DEFAULT_LOAD = os.path.join("target", "release", "examples", "load")


def _load_throughput():
    path = os.path.join(BENCH_DIR, "throughput")
    loader = importlib.machinery.SourceFileLoader("rnc_bench_throughput", path)
    spec = importlib.util.spec_from_loader(loader.name, loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


T = _load_throughput()
HOST = T.HOST
log, out, fmt = T.log, T.out, T.fmt

MIB = 1 << 20
KIB = 1 << 10

# --------------------------------------------------------------------------
# Servers: how each tool serves each bench.  `forks`: one process per client, so
# the peak RSS that counts is the whole process tree's (sampled from /proc).
# --------------------------------------------------------------------------

SERVERS = {
    "chat": {
        "rnc": {"argv": lambda exe, p: [exe, "-l", "--chat", HOST, str(p)], "forks": False},
        "ncat": {"exe": "ncat",
                 "argv": lambda exe, p: [exe, "-l", "-k", "--chat", "-m", "10000", HOST, str(p)],
                 "forks": False},
    },
    "echo": {
        "rnc": {"argv": lambda exe, p: [exe, "-l", "--echo", HOST, str(p)], "forks": False},
        "ncat": {"exe": "ncat",
                 "argv": lambda exe, p: [exe, "-l", "-k", "-m", "10000", "--exec", "/bin/cat",
                                         HOST, str(p)],
                 "forks": True},
        "socat": {"exe": "socat",
                  "argv": lambda exe, p: [exe, "TCP-LISTEN:%s,bind=%s,fork,reuseaddr" % (p, HOST),
                                          "PIPE"],
                  "forks": True},
    },
}

# --------------------------------------------------------------------------
# Scenarios.  `load`: the load client's mode and options; `metric`: the key of its
# output that is the headline figure; `deadline`: seconds the load client may take
# (the harness adds a margin before it kills everything).
# --------------------------------------------------------------------------

SCENARIOS = {
    "chat": [
        {"name": "paced", "reps": 3, "deadline": 30,
         "load": ["chat", "--clients", "10", "--lines", "50", "--rate", "250"],
         "metric": "deliveries_per_s"},
        {"name": "burst", "reps": 3, "deadline": 30,
         "load": ["chat", "--clients", "10", "--lines", "5000", "--rate", "0"],
         "metric": "deliveries_per_s"},
        {"name": "c1000", "reps": 1, "deadline": 120,
         "load": ["chat", "--clients", "1000", "--lines", "2", "--rate", "0",
                  "--parallel", "8", "--gap-us", "2000"],
         "metric": "deliveries_per_s"},
        {"name": "idle10k", "reps": 1, "deadline": 40,
         "load": ["idle", "--clients", "10000", "--hold", "2", "--parallel", "64",
                  "--gap-us", "100"],
         "metric": "bcast_ms"},
        {"name": "slow", "reps": 1, "deadline": 40,
         "load": ["slow", "--bytes", str(64 * MIB), "--receivers", "3",
                  "--window", str(512 * KIB), "--size", "100"],
         "metric": "MBps"},
    ],
    "echo": [
        {"name": "e10", "reps": 3, "deadline": 60,
         "load": ["echo", "--clients", "10", "--kib", "4096", "--window", str(64 * KIB)],
         "metric": "echo_MBps"},
        {"name": "e1000", "reps": 1, "deadline": 120,
         "load": ["echo", "--clients", "1000", "--kib", "128", "--window", str(64 * KIB),
                  "--parallel", "8", "--gap-us", "1000"],
         "metric": "echo_MBps"},
        {"name": "stream", "reps": 1, "deadline": 15,
         "load": ["echo", "--clients", "10", "--kib", "4096", "--window", "0",
                  "--fin", "early"],
         "metric": "echo_MBps"},
    ],
}

# --------------------------------------------------------------------------
# Process-tree RSS, for servers that fork a process per client.
# --------------------------------------------------------------------------

PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


def process_table():
    """{ppid: [pid, ...]} and {pid: rss_kb} from one scan of /proc."""
    children = {}
    rss = {}
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
        pid = int(name)
        children.setdefault(ppid, []).append(pid)
        rss[pid] = pages * PAGE_KB
    return children, rss


def descendants(root):
    children, _ = process_table()
    out, todo = [], list(children.get(root, []))
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def kill_tree(root):
    """SIGKILL every descendant of `root`: forking servers (ncat --exec, socat fork)
    leave per-connection children behind when only the parent is killed. The harness
    is their subreaper, so they are reaped as strays afterwards."""
    for pid in descendants(root):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def reap_strays(tracked, deadline):
    """Reap children re-parented to this process (not the ones a Child waits for)."""
    while time.perf_counter() < deadline:
        children, _ = process_table()
        strays = [p for p in children.get(os.getpid(), []) if p not in tracked]
        if not strays:
            return
        for pid in strays:
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, os.WNOHANG)
            except (ProcessLookupError, ChildProcessError):
                pass
        time.sleep(0.005)


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


# --------------------------------------------------------------------------
# One run
# --------------------------------------------------------------------------

def parse_kv(line):
    return dict(kv.split("=", 1) for kv in line.split() if "=" in kv)


def run_one(ctx, bench, scen, tool):
    """Server + load client; returns a dict of figures (run_ok=False with a reason)."""
    spec = SERVERS[bench][tool]
    with T.Scope(ctx) as scope:
        port = T.pick_port(ctx)
        devnull_r = scope.fd(os.open(os.devnull, os.O_RDONLY))
        devnull_w = scope.fd(os.open(os.devnull, os.O_WRONLY))
        srv_err = scope.errfile()
        server = scope.launch("server", spec["argv"](ctx.exes[tool], port),
                              stdin=devnull_r, stdout=devnull_w, stderr=srv_err)
        if not T.wait_listen(port, server, time.perf_counter() + T.LISTEN_DEADLINE_S):
            why = T.describe_exit(server) if server.done.is_set() else "not listening in time"
            return {"run_ok": False, "reason": "server setup: %s: %s" % (why, T.tail_of(srv_err))}
        sampler = None
        if spec["forks"]:
            sampler = TreeSampler(server.pid, 0.5)
            sampler.start()
        argv = [ctx.load] + scen["load"] + ["--port", str(port), "--linger", "1",
                                            "--deadline", str(scen["deadline"])]
        # The load client prints its figures, then keeps its clients connected until its
        # stdin closes: whether the server is still alive is read in between.
        load_err = scope.errfile()
        load = scope.popen("load", argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                           stderr=load_err)
        res = {"run_ok": True}
        timer = threading.Timer(scen["deadline"] + 30, load.kill)
        timer.start()
        try:
            line = load.popen.stdout.readline().decode()
        finally:
            timer.cancel()
        died = server.done.is_set()
        load.popen.stdin.close()
        load.wait_until(time.perf_counter() + T.KILL_GRACE_S + 10)
        if line.startswith("mode="):
            res.update(parse_kv(line))
        elif load.killed:
            res = {"run_ok": False, "reason": "load client timed out"}
        else:
            res = {"run_ok": False, "reason": "load client %s: %s" % (
                T.describe_exit(load), T.tail_of(load_err, 300))}
        if sampler is not None:
            sampler.stop.set()
            sampler.join()
        if spec["forks"]:
            kill_tree(server.pid)
        scope.kill_all()
        server.wait_until(time.perf_counter() + T.KILL_GRACE_S)
        reap_strays({c.pid for c in scope.children}, time.perf_counter() + T.KILL_GRACE_S)
        res["srv_died"] = int(died)
        if died:
            res["srv_exit"] = T.describe_exit(server) + ": " + T.tail_of(srv_err, 200)
        res["srv_rss_kb"] = server.maxrss_kb()
        res["srv_cpu_s"] = server.cpu_s()
        if sampler is not None:
            res["srv_tree_rss_kb"] = sampler.peak
        return res


# --------------------------------------------------------------------------
# Figures and goals
# --------------------------------------------------------------------------

def fnum(v):
    """A figure for the summary lines: whole numbers when large."""
    if v is None:
        return "NA"
    return "%.0f" % v if abs(v) >= 100 else "%.3f" % v


def num(v):
    try:
        x = float(v)
        return None if x != x else x   # NaN -> None
    except (TypeError, ValueError):
        return None


def frac(v):
    """'990/1000' -> (990, 1000)."""
    try:
        a, b = v.split("/")
        return int(a), int(b)
    except (AttributeError, ValueError):
        return None


def median_of(runs, key):
    vals = [num(r.get(key)) for r in runs]
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None


def worst_frac(runs, key):
    fs = [frac(r.get(key)) for r in runs]
    fs = [f for f in fs if f]
    return min(fs, key=lambda f: f[0] / f[1] if f[1] else 0) if fs else None


def fmt_frac(f):
    return "NA" if f is None else "%d/%d" % f


def all_complete(runs, key="complete"):
    fs = [frac(r.get(key)) for r in runs]
    return bool(runs) and all(f is not None and f[0] == f[1] and f[1] > 0 for f in fs)


class Summary:
    def __init__(self, bench, scen, tool, runs):
        self.bench, self.scen, self.tool, self.runs = bench, scen, tool, runs
        ok = [r for r in runs if r.get("run_ok")]
        self.ok = ok
        self.value = median_of(ok, scen["metric"])
        self.p50 = median_of(ok, "lat_p50_ms")
        self.p99 = median_of(ok, "lat_p99_ms")
        self.rss = max((r["srv_rss_kb"] for r in ok if r.get("srv_rss_kb") is not None),
                       default=None)
        self.tree = max((r["srv_tree_rss_kb"] for r in ok if r.get("srv_tree_rss_kb")),
                        default=None)
        self.died = sum(r.get("srv_died", 0) for r in runs)

    def complete(self, key="complete"):
        return all_complete(self.ok, key) and len(self.ok) == len(self.runs)

    def line(self):
        s, ok = self.scen, self.ok
        vals = [num(r.get(s["metric"])) for r in ok]
        vals = [v for v in vals if v is not None]
        fields = [
            ("bench", self.bench), ("scenario", s["name"]), ("tool", self.tool),
            ("metric", s["metric"]), ("value", fnum(self.value)),
            ("min", fnum(min(vals) if vals else None)),
            ("max", fnum(max(vals) if vals else None)),
            ("n", "%d/%d" % (len(ok), len(self.runs))),
        ]
        for key in ("lat_p50_ms", "lat_p99_ms"):
            v = median_of(ok, key)
            if v is not None:
                fields.append((key, "%.3f" % v))
        for key in ("complete", "delivered", "connected", "synced", "ok", "eof_ok",
                    "stalled_dropped"):
            f = worst_frac(ok, key)
            if f is not None:
                fields.append((key, fmt_frac(f)))
            elif any(key in r for r in ok):
                fields.append((key, "%d/%d" % (sum(int(r.get(key, 0)) for r in ok), len(ok))))
        for key in ("garbled", "self_echo"):
            if any(key in r for r in ok):
                fields.append((key, "%d" % sum(int(r.get(key, 0)) for r in ok)))
        for key in ("connect_s", "setup_s", "wall_s", "failures"):
            if ok and key in ok[-1]:
                fields.append((key, ok[-1][key]))
        fields += [("srv_rss_kb", fmt(self.rss, "%d"))]
        if self.tree is not None:
            fields.append(("srv_tree_rss_kb", "%d" % self.tree))
        cpu = median_of(ok, "srv_cpu_s")
        fields.append(("srv_cpu_s", fmt(cpu, "%.2f")))
        fields.append(("srv_died", "%d/%d" % (self.died, len(self.runs))))
        fields.append(("runs", ",".join(
            (fnum(num(r.get(s["metric"]))) if r.get("run_ok") else "fail")
            for r in self.runs)))
        return " ".join("%s=%s" % kv for kv in fields)


def goal(text, passed, detail):
    out("goal: %s: %s (%s)" % (text, "PASS" if passed else "FAIL", detail))
    return passed


def goals_chat(S):
    """The chat goals; S maps (scenario, tool) -> Summary."""
    res = []
    r, n = S.get(("paced", "rnc")), S.get(("paced", "ncat"))
    if r:
        res.append(goal("chat paced 250 lines/s, 10 clients: rnc p50 <= 1 ms",
                        r.complete() and r.p50 is not None and r.p50 <= 1.0,
                        "rnc p50 %s ms, ncat p50 %s ms, rnc complete %s" % (
                            fmt(r.p50, "%.3f"), fmt(n.p50 if n else None, "%.3f"),
                            fmt_frac(worst_frac(r.ok, "complete")))))
    r, n = S.get(("c1000", "rnc")), S.get(("c1000", "ncat"))
    if r:
        ratio = r.p99 / n.p99 if (n and r.p99 is not None and n.p99) else None
        res.append(goal("chat 1000 clients: all connected and served, rnc p99 <= 0.1 x ncat p99",
                        r.complete() and all_complete(r.ok, "connected") and ratio is not None
                        and ratio <= 0.1,
                        "rnc p99 %s ms, ncat p99 %s ms, ratio %s, rnc complete %s" % (
                            fmt(r.p99, "%.1f"), fmt(n.p99 if n else None, "%.1f"),
                            fmt(ratio, "%.3f"), fmt_frac(worst_frac(r.ok, "complete")))))
    r = S.get(("idle10k", "rnc"))
    if r:
        res.append(goal("chat 10000 idle clients: all connected, rnc RSS <= 64 MiB",
                        all_complete(r.ok, "connected") and all_complete(r.ok, "synced")
                        and r.complete() and r.rss is not None and r.rss <= 64 * 1024,
                        "connected %s, served %s, rss %s KiB" % (
                            fmt_frac(worst_frac(r.ok, "connected")),
                            fmt_frac(worst_frac(r.ok, "complete")), fmt(r.rss, "%d"))))
    r = S.get(("slow", "rnc"))
    if r:
        dropped = bool(r.ok) and all(r2.get("stalled_dropped") == "1" for r2 in r.ok)
        res.append(goal("chat slow client: others get all 64 MiB, RSS < 64 MiB, stalled "
                        "client disconnected",
                        r.complete() and dropped and r.rss is not None and r.rss < 64 * 1024,
                        "readers complete %s, stalled dropped %s, rss %s KiB" % (
                            fmt_frac(worst_frac(r.ok, "complete")), dropped,
                            fmt(r.rss, "%d"))))
    return res


def goals_echo(S):
    res = []
    for name, what in (("e10", "10 clients x 4 MiB"), ("e1000", "1000 clients x 128 KiB")):
        r, n = S.get((name, "rnc")), S.get((name, "ncat"))
        if not r:
            continue
        ratio = r.value / n.value if (n and r.value is not None and n.value) else None
        res.append(goal("echo %s: every byte back, rnc >= 2 x ncat" % what,
                        r.complete("ok") and ratio is not None and ratio >= 2.0,
                        "rnc %s MB/s, ncat %s MB/s, ratio %s, rnc ok %s" % (
                            fmt(r.value, "%.1f"), fmt(n.value if n else None, "%.1f"),
                            fmt(ratio, "%.2f"), fmt_frac(worst_frac(r.ok, "ok")))))
    return res


GOALS = {"chat": goals_chat, "echo": goals_echo}

# --------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------

def ensure_load(args):
    """The load client, built when missing or older than its source (or with --build)."""
    path = os.path.abspath(args.load) if args.load else os.path.join(REPO_ROOT, DEFAULT_LOAD)
    src = os.path.join(BENCH_DIR, "load.rs")
    stale = not os.path.exists(path) or (
        os.path.exists(src) and os.path.getmtime(src) > os.path.getmtime(path))
    if args.build or (args.load is None and stale):
        log("# building the load client: cargo build --release --example load")
        rc = subprocess.call(["cargo", "build", "--release", "--example", "load"],
                             cwd=REPO_ROOT, stdin=subprocess.DEVNULL, stdout=sys.stderr)
        if rc != 0:
            return None
    return path if os.access(path, os.X_OK) else None


def main(bench, argv=None):
    scens = SCENARIOS[bench]
    tools_all = list(SERVERS[bench])
    ap = argparse.ArgumentParser(
        prog="bench/%s" % bench,
        description="%s server benchmark: rnc against %s." % (
            bench, ", ".join(t for t in tools_all if t != "rnc")))
    ap.add_argument("--scenarios", default=",".join(s["name"] for s in scens),
                    help="comma-separated scenarios (default: all: %(default)s)")
    ap.add_argument("--tools", default=",".join(tools_all),
                    help="comma-separated tools (default: %(default)s)")
    ap.add_argument("--reps", type=int, default=None,
                    help="repetitions of every scenario (default: per scenario, 1 to 3)")
    ap.add_argument("--rnc", default=None, help="rnc binary (default: target/release/rnc)")
    ap.add_argument("--load", default=None,
                    help="load client (default: %s, built if missing)" % DEFAULT_LOAD)
    ap.add_argument("--build", action="store_true",
                    help="build rnc and the load client (cargo build --release) first")
    ap.add_argument("--build-timeout", type=float, default=1800.0, help=argparse.SUPPRESS)
    ap.add_argument("-q", "--quiet", action="store_true", help="no per-run lines on stderr")
    args = ap.parse_args(argv)

    wanted = [s for s in args.scenarios.split(",") if s]
    by_name = {s["name"]: s for s in scens}
    for s in wanted:
        if s not in by_name:
            ap.error("unknown scenario %r (known: %s)" % (s, ", ".join(by_name)))
    tools = [t for t in args.tools.split(",") if t]
    for t in tools:
        if t not in SERVERS[bench]:
            ap.error("unknown tool %r (known: %s)" % (t, ", ".join(tools_all)))

    ctx = T.Context()
    ctx.used_ports = set()
    ctx.seq = 0
    ctx.clean_spawn = T.enable_clean_spawn()
    ctx.tmpdir = tempfile.mkdtemp(prefix="rnc-bench-")
    ctx.exes = {}
    def on_term(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_term)
    try:
        return _run(bench, args, [by_name[s] for s in wanted], tools, ctx)
    except KeyboardInterrupt:
        log("# interrupted")
        return 130
    finally:
        shutil.rmtree(ctx.tmpdir, ignore_errors=True)


def _run(bench, args, scens, tools, ctx):
    active = []
    for t in tools:
        if t == "rnc":
            path, why = T.ensure_rnc(args)
        else:
            path = shutil.which(SERVERS[bench][t]["exe"])
            why = "not installed" if path is None else ""
        if path is None:
            out("# skip tool=%s reason=%s" % (t, why))
            continue
        ctx.exes[t] = path
        active.append(t)
    ctx.load = ensure_load(args)
    if ctx.load is None:
        out("# no load client (cargo build --release --example load failed)")
        return 1
    if not active:
        out("# nothing to run")
        return 1

    out("# bench=%s %s scenarios=%s spawn=%s" % (
        bench, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        ",".join(s["name"] for s in scens), "clean" if ctx.clean_spawn else "direct"))
    out("# host: %s cpus=%d python=%s nofile=%s" % (
        " ".join(os.uname()[i] for i in (0, 2, 4)), os.cpu_count() or 0,
        ".".join(map(str, sys.version_info[:3])),
        __import__("resource").getrlimit(__import__("resource").RLIMIT_NOFILE)[0]))
    for t in active:
        argv = SERVERS[bench][t]["argv"](T.display_path(ctx.exes[t]), "PORT")
        out("# tool=%s server: %s" % (t, " ".join(argv)))
    for s in scens:
        out("# scenario=%s reps=%d load: %s --deadline %d" % (
            s["name"], args.reps or s["reps"], " ".join(s["load"]), s["deadline"]))

    runs = {(s["name"], t): [] for s in scens for t in active}
    most = max(args.reps or s["reps"] for s in scens)
    for rep in range(most):
        k = rep % len(active)
        order = active[k:] + active[:k]   # rotate: no tool always goes first
        for s in scens:
            if rep >= (args.reps or s["reps"]):
                continue
            for t in order:
                t0 = time.perf_counter()
                try:
                    r = run_one(ctx, bench, s, t)
                except (RuntimeError, OSError) as e:
                    r = {"run_ok": False, "reason": "harness: %s" % e}
                runs[(s["name"], t)].append(r)
                if not args.quiet:
                    shown = {k2: ("%.2f" % v if isinstance(v, float) else v)
                             for k2, v in r.items() if k2 != "run_ok"}
                    log("# run rep=%d scenario=%s tool=%s took=%.1fs %s" % (
                        rep + 1, s["name"], t, time.perf_counter() - t0,
                        " ".join("%s=%s" % kv for kv in shown.items())))

    S = {}
    for s in scens:
        for t in active:
            S[(s["name"], t)] = Summary(bench, s, t, runs[(s["name"], t)])
            out(S[(s["name"], t)].line())
    results = GOALS[bench](S)
    if results:
        out("goals: %d/%d PASS" % (sum(results), len(results)))
    return 0
