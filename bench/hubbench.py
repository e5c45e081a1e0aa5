"""Server benchmarks for bench/chat and bench/echo: rnc's --chat, --broker and
--echo next to ncat and socat, with many clients, on 127.0.0.1.

The clients are one process, the load client (bench/load.rs, built as `cargo
build --release --example load`), which drives them all on one epoll loop and
prints one `key=value` line per run.  This module starts each server, runs the
load client against it, reads the server's peak RSS and CPU time with wait4,
and prints the figures and the goals as PASS/FAIL lines; `HELP` is the method
text of each script's --help.
"""

import argparse
import os
import re
import shutil
import statistics
import subprocess
import threading
import time

import benchlib as B
from benchlib import HOST, KIB, MIB, fmt, log, out

# --------------------------------------------------------------------------
# Servers: how each tool serves each bench.  `forks`: one process per client, so
# the peak RSS that counts is the whole process tree's (sampled from /proc).
# --------------------------------------------------------------------------

SERVERS = {
    "chat": {
        "rnc": {"exe": "rnc", "argv": lambda exe, p: [exe, "-l", "--chat", HOST, str(p)],
                "forks": False},
        "ncat": {"exe": "ncat",
                 "argv": lambda exe, p: [exe, "-l", "-k", "--chat", "-m", "10000", HOST, str(p)],
                 "forks": False},
        "rnc-broker": {"exe": "rnc",
                       "argv": lambda exe, p: [exe, "-l", "--broker", HOST, str(p)],
                       "forks": False},
        "ncat-broker": {"exe": "ncat",
                        "argv": lambda exe, p: [exe, "-l", "-k", "--broker", "-m", "10000",
                                                HOST, str(p)],
                        "forks": False},
    },
    "echo": {
        "rnc": {"exe": "rnc", "argv": lambda exe, p: [exe, "-l", "--echo", HOST, str(p)],
                "forks": False},
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
# (the harness adds a margin before it kills everything); `tools`: the servers it
# runs against (default: the bench's first two, or three for echo).
# --------------------------------------------------------------------------

BASE_TOOLS = {"chat": ["rnc", "ncat"], "echo": ["rnc", "ncat", "socat"]}
STALL_READ_CHUNK = 16 * KIB     # the slow reader of `stall`: this much ...
STALL_READ_EVERY_MS = 10        # ... every this many milliseconds
STALL_MARGIN_S = 5.0            # the stalled client must be gone by the timeout + this
STALL_TIMEOUT_MAX_S = 5.0       # the longest stall timeout the issue allows
STALL_FLAG = "--stall-timeout"

def stall_scenario(nbytes):
    """The `stall` row for a flood of `nbytes`: its deadline allows 1.5 times the
    slow reader's pace, plus 20 s for the stall timeout and setup."""
    pace = STALL_READ_CHUNK * 1000.0 / STALL_READ_EVERY_MS
    return {"name": "stall", "reps": 1, "deadline": int(nbytes / pace * 1.5 + 20),
            "load": ["flood", "--bytes", str(nbytes), "--size", "128",
                     "--read-chunk", str(STALL_READ_CHUNK),
                     "--read-every-ms", str(STALL_READ_EVERY_MS)],
            "metric": "MBps", "tools": ["rnc", "rnc-broker", "ncat", "ncat-broker"],
            "watch_stall": True}

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
        stall_scenario(64 * MIB),
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

# --------------------------------------------------------------------------
# One run
# --------------------------------------------------------------------------

class StallWatcher(threading.Thread):
    """How long after the flood's start the server stops holding a socket to the
    stalled client (port `peer` on its side): `gone_s`, None while it holds one."""

    def __init__(self, pid, port, peer, every=0.05):
        super().__init__(daemon=True)
        self.pid, self.port, self.peer, self.every = pid, port, peer, every
        self.t0 = time.perf_counter()
        self.gone_s = None
        self.stop = threading.Event()

    def held(self):
        inodes = {s[3] for s in B.tcp_sockets(self.port) if s[1] == self.peer}
        try:
            return bool(inodes & B.socket_inodes(self.pid))
        except OSError:
            return False        # the server is gone, and its sockets with it

    def run(self):
        while not self.stop.is_set():
            if not self.held():
                self.gone_s = time.perf_counter() - self.t0
                return
            self.stop.wait(self.every)

def server_argv(ctx, scen, tool, port):
    spec = SERVERS[ctx.bench][tool]
    argv = spec["argv"](ctx.exes[tool], port)
    if scen.get("watch_stall") and spec["exe"] == "rnc":
        argv += ctx.stall_args
    return argv

def start_server(ctx, scope, scen, tool):
    """(server, port, stderr file), or (None, reason, None)."""
    port = B.pick_port(ctx)
    devnull_r = scope.fd(os.open(os.devnull, os.O_RDONLY))
    devnull_w = scope.fd(os.open(os.devnull, os.O_WRONLY))
    srv_err = scope.errfile()
    server = scope.launch("server", server_argv(ctx, scen, tool, port),
                          stdin=devnull_r, stdout=devnull_w, stderr=srv_err)
    if not B.wait_listen(port, server, time.perf_counter() + B.LISTEN_DEADLINE_S):
        why = B.describe_exit(server) if server.done.is_set() else "not listening in time"
        return None, "server setup: %s: %s" % (why, B.tail_of(srv_err)), None
    return server, port, srv_err

def read_load(load, server, port):
    """The load client's figures line; a `flood stalled_port=P` line before it
    starts a StallWatcher.  Returns (line, watcher or None)."""
    watcher = None
    while True:
        line = load.popen.stdout.readline().decode()
        if line.startswith("flood stalled_port=") and watcher is None:
            watcher = StallWatcher(server.pid, port, int(line.split("=", 1)[1]))
            watcher.start()
            continue
        return line, watcher

def run_load(ctx, scope, scen, server, port):
    """Run the load client against `port`: its figures, with run_ok and srv_died."""
    deadline, extra = scen["deadline"], []
    if scen.get("watch_stall"):
        # The stalled client stays unread until its time to be dropped has passed.
        hold = (ctx.stall_s or STALL_TIMEOUT_MAX_S) + STALL_MARGIN_S
        deadline, extra = max(deadline, int(hold) + 10), ["--hold", "%g" % hold]
    argv = [ctx.load] + scen["load"] + extra + ["--port", str(port), "--linger", "1",
                                                "--deadline", str(deadline)]
    # The load client prints its figures, then keeps its clients connected until its
    # stdin closes: whether the server is still alive is read in between.
    load_err = scope.errfile()
    load = scope.popen("load", argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                       stderr=load_err)
    timer = threading.Timer(deadline + 30, load.kill)
    timer.start()
    try:
        line, watcher = read_load(load, server, port)
    finally:
        timer.cancel()
    died = server.done.is_set()
    if watcher is not None:
        watcher.stop.set()
        watcher.join()
    load.popen.stdin.close()
    load.wait_until(time.perf_counter() + B.KILL_GRACE_S + 10)
    if line.startswith("mode="):
        res = dict(B.parse_kv(line), run_ok=True)
    elif load.killed:
        res = {"run_ok": False, "reason": "load client timed out"}
    else:
        res = {"run_ok": False, "reason": "load client %s: %s" % (
            B.describe_exit(load), B.tail_of(load_err, 300))}
    if watcher is not None:
        res["stall_gone_s"] = watcher.gone_s
    res["srv_died"] = int(died)
    return res

def run_one(ctx, bench, scen, tool):
    """Server + load client; returns a dict of figures (run_ok=False with a reason)."""
    spec = SERVERS[bench][tool]
    with B.Scope(ctx) as scope:
        server, port, srv_err = start_server(ctx, scope, scen, tool)
        if server is None:
            return {"run_ok": False, "reason": port}
        sampler = None
        if spec["forks"]:
            sampler = B.TreeSampler(server.pid, 0.5)
            sampler.start()
        res = run_load(ctx, scope, scen, server, port)
        if sampler is not None:
            sampler.stop.set()
            sampler.join()
            res["srv_tree_rss_kb"] = sampler.peak
            B.kill_tree(server.pid)
        scope.kill_all()
        server.wait_until(time.perf_counter() + B.KILL_GRACE_S)
        if res["srv_died"]:
            res["srv_exit"] = B.describe_exit(server) + ": " + B.tail_of(srv_err, 200)
        res["srv_rss_kb"] = server.maxrss_kb()
        res["srv_cpu_s"] = server.cpu_s()
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
        for key in ("lost", "garbled", "self_echo", "reader_closed"):
            if any(key in r for r in ok):
                fields.append((key, "%d" % sum(int(r.get(key, 0)) for r in ok)))
        if any("stall_gone_s" in r for r in ok):
            gone = [r.get("stall_gone_s") for r in ok]
            fields.append(("stall_gone_s", "NA" if None in gone else "%.2f" % max(gone)))
        for key in ("connect_s", "setup_s", "wall_s", "flood_s", "failures"):
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

def stall_goal(r, kind, ctx):
    """The stall goal of one rnc server kind (--chat or --broker)."""
    gone = [x.get("stall_gone_s") for x in r.ok]
    gone_s = None if not gone or None in gone else max(gone)
    lo = ctx.stall_s
    in_time = gone_s is not None and (lo is None or lo - 0.1 <= gone_s <= lo + STALL_MARGIN_S) \
        and (lo is not None or gone_s <= STALL_TIMEOUT_MAX_S + STALL_MARGIN_S)
    rss_ok = r.rss is not None and r.rss < 64 * 1024
    text = ("chat stall, %s: the slow reader gets every byte intact, the stalled client is "
            "gone after the stall timeout, rnc RSS < 64 MiB" % kind)
    return goal(text, r.complete() and ctx.stall_flag and in_time and rss_ok,
                "reader delivered %s lost %s garbled %s, stalled client gone after %s s "
                "(timeout %s s, flag %s), rss %s KiB" % (
                    fmt_frac(worst_frac(r.ok, "delivered")),
                    sum(int(x.get("lost", 0)) for x in r.ok),
                    sum(int(x.get("garbled", 0)) for x in r.ok), fmt(gone_s, "%.2f"),
                    fmt(lo, "%g"), "%s given" % STALL_FLAG if ctx.stall_flag else "missing",
                    fmt(r.rss, "%d")))

def goals_chat(S, ctx):
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
    for tool, kind in (("rnc", "--chat"), ("rnc-broker", "--broker")):
        r = S.get(("stall", tool))
        if r:
            res.append(stall_goal(r, kind, ctx))
    return res

def goals_echo(S, ctx):
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

_HELP_COMMON = """
Servers (PORT a free port; stdin and stdout /dev/null), started through /bin/sh
so that ru_maxrss is the server's own (see bench/throughput --help).  ncat runs
with -m 10000 everywhere: its default of 100 clients would fail the larger
scenarios at once.  Connects run a few at a time (ncat's backlog is 10 and
socat's 5, and a SYN dropped from a full backlog is retried only a second
later); setup time is in no figure.

Output: one line per scenario and tool: `value` (the scenario's metric: median
over the runs that finished) `min max n` (finished/made), `lat_p50_ms
lat_p99_ms` (median over runs of each run's percentiles, send to receipt),
`complete delivered connected synced ok eof_ok` (worst run), `srv_rss_kb`
(the server's peak RSS), `srv_tree_rss_kb` (servers that fork: peak summed RSS
of the tree, sampled every 0.5 s), `srv_cpu_s`, `srv_died` (runs in which the
server exited before it was killed), `runs`; then the goal lines and a count.
stderr gets one line per run (-q: none).  The server and the load client share
the CPUs: compare tools within one run.

Exit status: 0 when the benchmark ran (whatever the goals say), 1 when nothing
could run (no load client, no tool), 2 on a usage error, 130 when interrupted.
"""

HELP = {
    "chat": """Scenarios (tools: rnc, ncat; stall also rnc-broker, ncat-broker):

  paced    10 clients, 50 lines each, 250 lines/s for the room (3 reps)
  burst    10 clients, 5,000 lines each, all at once (3 reps)
  c1000    1,000 clients, 2 lines each, all at once
  idle10k  10,000 clients join, stay 2 s, then one line goes to all
  slow     one client never reads (4 KiB receive buffer); one sends 64 MiB of
           100-byte lines, staying within 512 KiB of the slowest of 3 readers
  stall    one client never reads (4 KiB receive buffer, connected first); one
           client floods the room with --flood-bytes (64 MiB) of numbered
           128-byte lines as fast as the server takes them; one client reads
           at most 16 KiB every 10 ms and checks every line, in order and byte
           for byte.  The harness watches /proc/net/tcp for the server's
           socket to the stalled client (`stall_gone_s`: seconds from the
           flood's start until the server no longer holds it) and passes rnc
           --stall-timeout when rnc's --help lists it (--stall-timeout here, or
           the default --help shows).  Run for --chat and --broker.  A flood
           of a few MiB fits in the kernel's socket buffers and tests nothing
           but the harness: keep --flood-bytes at 16M or more for figures.

Chat lines are `M <sender> <seq> <nanoseconds> <padding>`, 64 bytes with the LF;
a receiver strips the server's prefix (what comes before the first space: `->`
for rnc, `<userN>` for ncat) and takes the latency from the timestamp.  Before
measuring, sync lines go round until every client has seen one.

Goals:
  paced         rnc's p50 latency <= 1 ms, every line delivered
  c1000         every client connected and served, rnc's p99 <= 0.1 x ncat's
  idle10k       every client connected and served, rnc's peak RSS <= 64 MiB
  slow          every reader gets all 64 MiB, the stalled client disconnected,
                rnc's peak RSS < 64 MiB
  stall         (--chat and --broker each) the slow reader gets every byte,
                intact and in order; the stalled client is gone no earlier than
                the stall timeout and at most 5 s after it (the flag missing from
                rnc --help fails the goal); rnc's peak RSS < 64 MiB.  ncat runs
                for comparison only, bounded by the scenario's deadline.
""" + _HELP_COMMON,
    "echo": """Scenarios (tools: rnc, ncat --exec /bin/cat, socat PIPE):

  e10      10 clients x 4 MiB, at most 64 KiB unanswered each (3 reps)
  e1000    1,000 clients x 128 KiB, at most 64 KiB unanswered each
  stream   10 clients x 4 MiB, no window, FIN right after the last byte (15 s)

An echo client checks every byte that comes back against its pattern and sends
FIN once all of it is back (ncat --exec cuts the echo short when the FIN comes
earlier), then waits for the server's FIN.

Goals:
  e10, e1000    every byte back, rnc's MB/s >= 2 x ncat's
""" + _HELP_COMMON,
}

def parse_seconds(text):
    """'2', '2s', '1500ms', '1m', '1h' -> seconds (None if unreadable)."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*(ms|s|m|h)?\s*", text or "")
    if not m:
        return None
    return float(m.group(1)) * {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0,
                                None: 1.0}[m.group(2)]

def help_default(text, flag):
    """The default --help gives for `flag` (clap's `[default: X]`, or `Default: X.`
    in its paragraph), or None."""
    entry = re.search(r"^\s*(?:-\w, )?" + re.escape(flag) + r"\b", text, re.M)
    if not entry:
        return None
    para = text[entry.end():]
    end = re.search(r"\n\s*-{1,2}[a-zA-Z]", para)
    para = para[:end.start()] if end else para
    m = re.search(r"[Dd]efault:\s*([0-9.]+(?:ms|s|m|h)?)", para)
    return m.group(1) if m else None


def stall_setup(ctx, wanted):
    """Whether rnc has the stall-timeout flag (its --help lists it): the flag to pass
    (`wanted`, else the default --help gives) and the timeout the check expects."""
    try:
        text = subprocess.run([ctx.exes.get("rnc") or ctx.exes["rnc-broker"], "--help"],
                              capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired, KeyError):
        text = ""
    if STALL_FLAG not in text:
        ctx.stall_args, ctx.stall_flag = [], False
        ctx.stall_s = parse_seconds(wanted) or STALL_TIMEOUT_MAX_S
        out("# rnc --help lists no %s: the flag is missing; the stall check expects the "
            "stalled client gone within %g s + %g s" % (STALL_FLAG, ctx.stall_s,
                                                       STALL_MARGIN_S))
        return
    value = wanted or help_default(text, STALL_FLAG)
    ctx.stall_flag = True
    ctx.stall_args = [STALL_FLAG, value] if value else []
    ctx.stall_s = parse_seconds(value) if value else None
    out("# rnc stall timeout: %s %s (expected %s s)" % (
        STALL_FLAG, value or "(default unknown)", fmt(ctx.stall_s, "%g")))

def parse_args(bench, argv):
    scens = SCENARIOS[bench]
    tools_all = list(SERVERS[bench])
    ap = argparse.ArgumentParser(
        prog="bench/%s" % bench, formatter_class=argparse.RawDescriptionHelpFormatter,
        description="%s server benchmark: rnc against %s." % (
            bench, ", ".join(t for t in tools_all if not t.startswith("rnc"))),
        epilog=HELP[bench])
    ap.add_argument("--scenarios", default=",".join(s["name"] for s in scens),
                    help="comma-separated scenarios (default: all: %(default)s)")
    ap.add_argument("--tools", default=",".join(tools_all),
                    help="comma-separated tools (default: %(default)s; each scenario runs "
                    "the ones it serves)")
    ap.add_argument("--reps", type=int, default=None,
                    help="repetitions of every scenario (default: per scenario, 1 to 3)")
    if bench == "chat":
        ap.add_argument("--flood-bytes", type=B.parse_size, default=64 * MIB,
                        help="stall: bytes the flooder sends (default: 64M)")
        ap.add_argument("--stall-timeout", default=None,
                        help="stall: value passed to rnc's %s when its --help lists the "
                        "flag (default: the default --help shows)" % STALL_FLAG)
    B.add_build_options(ap, load=True)
    B.add_common_options(ap, spawn=False)
    args = ap.parse_args(argv)
    if bench == "chat":
        scens = [stall_scenario(args.flood_bytes) if s["name"] == "stall" else s
                 for s in scens]
    by_name = {s["name"]: s for s in scens}
    wanted = B.parse_list(ap, args.scenarios, list(by_name), "scenario")
    tools = B.parse_list(ap, args.tools, tools_all, "tool")
    return args, [by_name[s] for s in wanted], tools

def main(bench, argv=None):
    args, scens, tools = parse_args(bench, argv)
    ctx = B.Context("rnc-bench-")
    ctx.bench = bench
    ctx.stall_args, ctx.stall_flag, ctx.stall_s = [], False, None
    return B.run_main(lambda: _run(bench, args, scens, tools, ctx), ctx)

def scen_tools(bench, scen, active):
    return [t for t in active if t in scen.get("tools", BASE_TOOLS[bench])]

def _resolve(bench, args, scens, tools, ctx):
    """The tools some scenario runs, with their paths; None when nothing can run."""
    active = []
    rnc = None
    for t in tools:
        if not any(t in s.get("tools", BASE_TOOLS[bench]) for s in scens):
            continue
        exe = SERVERS[bench][t]["exe"]
        if exe == "rnc":
            rnc = rnc or B.ensure_rnc(args)
            path, why = rnc
        else:
            path = shutil.which(exe)
            why = "not installed" if path is None else ""
        if path is None:
            out("# skip tool=%s reason=%s" % (t, why))
            continue
        ctx.exes[t] = path
        active.append(t)
    ctx.load, why = B.ensure_load(args)
    if ctx.load is None:
        out("# no load client: %s" % why)
        return None
    if not active:
        out("# nothing to run")
        return None
    return active

def _header(bench, args, scens, active, ctx):
    import resource
    out("# bench=%s %s scenarios=%s spawn=%s" % (
        bench, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        ",".join(s["name"] for s in scens), "clean" if ctx.clean_spawn else "direct"))
    out(B.host_line(" nofile=%d" % resource.getrlimit(resource.RLIMIT_NOFILE)[0]))
    if any(s.get("watch_stall") for s in scens) and any(
            SERVERS[bench][t]["exe"] == "rnc" for t in active):
        stall_setup(ctx, args.stall_timeout)
    for t in active:
        argv = SERVERS[bench][t]["argv"](B.display_path(ctx.exes[t]), "PORT")
        out("# tool=%s server: %s" % (t, " ".join(argv)))
    for s in scens:
        out("# scenario=%s reps=%d tools=%s load: %s --deadline %d" % (
            s["name"], args.reps or s["reps"], ",".join(scen_tools(bench, s, active)),
            " ".join(s["load"]), s["deadline"]))

def _run(bench, args, scens, tools, ctx):
    active = _resolve(bench, args, scens, tools, ctx)
    if active is None:
        return 1
    _header(bench, args, scens, active, ctx)
    runs = {(s["name"], t): [] for s in scens for t in scen_tools(bench, s, active)}
    most = max(args.reps or s["reps"] for s in scens)
    for rep in range(most):
        k = rep % len(active)
        order = active[k:] + active[:k]   # rotate: no tool always goes first
        for s in scens:
            if rep >= (args.reps or s["reps"]):
                continue
            for t in scen_tools(bench, s, order):
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
    for (name, t), rs in runs.items():
        S[(name, t)] = Summary(bench, next(s for s in scens if s["name"] == name), t, rs)
        out(S[(name, t)].line())
    results = GOALS[bench](S, ctx)
    if results:
        out("goals: %d/%d PASS" % (sum(results), len(results)))
    return 0
