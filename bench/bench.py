#!/usr/bin/env python3
"""The measurements of bench/run.sh. Runs inside the private network and
mount namespace that run.sh sets up (loopback only, /etc/hosts mapping the
SES name to 127.0.0.2); not meant to be started by hand.

Layout: each proxy listens on 127.0.0.1:1587 and relays to 127.0.0.2:587,
where smtp-sink (SMTP workloads) or benchtool's server (everything else)
listens. "direct" is the client straight to 127.0.0.2:587.

Topologies: "shared" leaves every process to the scheduler on all CPUs;
"apart" pins the proxy (its whole process tree, every thread) to CPU 1 and
the client, the server, the scraper and this harness (its log drains) to
CPU 0.  Run as `bench.py scrape URL MAX` it is the /metrics scraper of the
--scrape comparison.
"""
import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

LISTEN = ("127.0.0.1", "1587")
UPSTREAM = ("127.0.0.2", "587")
# "-mt": one thread, worker or process per CPU: HAProxy's and nginx's own
# default, and ses-smtp-proxy with --workers N.  The plain names run one.
PROXIES = ["ses-smtp-proxy", "ses-smtp-proxy-mt", "haproxy", "haproxy-mt",
           "nginx", "nginx-mt", "socat"]
OURS = ["ses-smtp-proxy", "ses-smtp-proxy-mt"]
PEERS = ["haproxy", "haproxy-mt", "nginx", "nginx-mt", "socat"]
# apart: the relay as one process against every peer configuration
PROXIES_APART = ["ses-smtp-proxy"] + PEERS
# --scrape: the relay with --health-listen, without and with a scraper
SCRAPED = "ses-smtp-proxy+scraper"
HEALTH = ("127.0.0.1", "9587")
PROXY_CPU, CLIENT_CPU = 1, 0  # apart
TICK = os.sysconf("SC_CLK_TCK")
LOG = sys.stderr
ALL_CPUS = os.sched_getaffinity(0)


def is_ours(name):
    """ses-smtp-proxy in any variant (-mt, +scraper)."""
    return name.split("+")[0] in OURS


def log(*a):
    print(*a, file=LOG, flush=True)


# ------------------------------------------------------------ processes

def children(pid):
    """All descendants of pid (a /proc scan; bounded by the process count)."""
    by_parent = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                st = f.read()
        except OSError:
            continue
        ppid = int(st[st.rindex(")") + 2:].split()[1])
        by_parent.setdefault(ppid, []).append(int(d))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        for c in by_parent.get(p, []):
            out.append(c)
            todo.append(c)
    return out


def tree(pid):
    return [pid] + children(pid)


def tcp_segments():
    """TCP segments sent in this network namespace so far (Tcp: OutSegs in
    /proc/net/snmp): client, proxy and server together, since the run has
    the namespace to itself."""
    with open("/proc/net/snmp") as f:
        rows = [line.split() for line in f if line.startswith("Tcp:")]
    return int(rows[1][rows[0].index("OutSegs")])


def cpu_seconds(pid):
    """utime+stime of the tree, plus cutime+cstime of the root (reaped
    children, e.g. socat's per-connection processes)."""
    total = 0
    for i, p in enumerate(tree(pid)):
        try:
            with open(f"/proc/{p}/stat") as f:
                st = f.read()
        except OSError:
            continue
        fields = st[st.rindex(")") + 2:].split()
        total += int(fields[11]) + int(fields[12])
        if i == 0:
            total += int(fields[13]) + int(fields[14])
    return total / TICK


def pss_kib(pid):
    total = 0
    for p in tree(pid):
        try:
            with open(f"/proc/{p}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


def fd_count(pid):
    n = 0
    for p in tree(pid):
        try:
            n += len(os.listdir(f"/proc/{p}/fd"))
        except OSError:
            pass
    return n


def stop(proc, timeout=10):
    if proc is None:
        return
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
    drain = getattr(proc, "drain", None)
    if drain is not None:
        drain.join(2)


def _drain_to(pipe, path):
    """Copy a proxy's stderr pipe to ${path} until EOF."""
    with open(path, "ab") as out:
        for chunk in iter(lambda: pipe.read1(65536), b""):
            out.write(chunk)
    pipe.close()


def port_free(timeout=10):
    """Wait until nothing listens on 127.0.0.1:1587 (bounded)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        out = subprocess.run(["ss", "-Hltn", "sport = :1587"],
                             capture_output=True, text=True).stdout
        if not out.strip():
            return
        time.sleep(0.02)
    raise RuntimeError("port 1587 still in use")


# ---------------------------------------------------------------- proxies

class Env:
    def __init__(self, args):
        self.args = args
        self.work = Path(args.workdir)
        self.tool = args.tool
        self.bin = args.proxy_bin
        self.server = None
        self.server_kind = None
        self.anomalies = []
        self.ses_logs = []
        self.pinning = {}  # apart: proxy -> (processes, threads) checked
        self.scrapes = {}  # scraper answers: "status" -> count
        self.topo = "shared"
        self._write_configs()

    def set_topology(self, topo):
        """Start a topology's measurements: fresh anomalies and logs; this
        harness (and the log-drain threads it starts later) on the client's
        CPU when apart, on every CPU when shared."""
        self.stop_server()
        self.topo = topo
        self.anomalies, self.ses_logs, self.pinning = [], [], {}
        self.scrapes = {}
        os.sched_setaffinity(0, {CLIENT_CPU} if topo == "apart"
                             else ALL_CPUS)
        self.wake = self.wakecost()

    def wakecost(self):
        """What a wake-up costs the waker on this machine: "sleeping_us S
        polling_us P" from benchtool (CPU 0 wakes a thread waiting on CPU
        1), or "" where it cannot run."""
        if not {PROXY_CPU, CLIENT_CPU} <= ALL_CPUS:
            return ""
        try:
            r = subprocess.run([self.tool, "wakecost", "1000"],
                               capture_output=True, text=True, timeout=60)
        except (subprocess.TimeoutExpired, OSError):
            return ""
        m = re.fullmatch(r"sleeping_us (\S+) polling_us (\S+)\n", r.stdout)
        if r.returncode != 0 or not m:
            return ""
        return (f"waking a thread that waits on a CPU idle for 1 ms costs "
                f"the waker {m.group(1)} µs, where no thread waits (it "
                f"polls) {m.group(2)} µs (`benchtool wakecost 1000`)")

    def _write_configs(self):
        w = self.work
        mc = self.args.max_conns
        # HAProxy needs 2 fds per connection + 2 per splice pipe; 32 pipes
        # cover every bulk transfer here (one connection at a time)
        hmc = min(mc, (self.args.nofile - 2 * 32 - 100) // 2)
        hcfg = f"""\
global
    nbthread 1
    maxconn {hmc}
    maxpipes 32
    tune.maxaccept 64
    log stderr format raw local0 emerg
    pidfile {w}/haproxy.pid
defaults
    mode tcp
    timeout connect 10s
    timeout client 600s
    timeout server 600s
    maxconn {hmc}
    option splice-auto
    option tcp-smart-accept
    option tcp-smart-connect
frontend fe
    bind {LISTEN[0]}:{LISTEN[1]} backlog 4096
    default_backend be
backend be
    server s1 {UPSTREAM[0]}:{UPSTREAM[1]}
"""
        (w / "haproxy.cfg").write_text(hcfg)
        # -mt: HAProxy's default, a thread per CPU it is bound to at start
        (w / "haproxy-mt.cfg").write_text(
            hcfg.replace("    nbthread 1\n", "").replace(
                f"{w}/haproxy.pid", f"{w}/haproxy-mt.pid"))
        ncfg = f"""\
load_module /usr/lib/nginx/modules/ngx_stream_module.so;
daemon off;
master_process on;
worker_processes 1;
worker_rlimit_nofile {self.args.nofile};
pid {w}/nginx.pid;
error_log {w}/nginx-error.log warn;
events {{
    worker_connections {min(2 * mc + 64, self.args.nofile - 16)};
    multi_accept on;
}}
stream {{
    server {{
        listen {LISTEN[0]}:{LISTEN[1]} backlog=4096;
        proxy_pass {UPSTREAM[0]}:{UPSTREAM[1]};
        proxy_connect_timeout 10s;
        proxy_timeout 600s;
        proxy_buffer_size 16k;
        tcp_nodelay on;
    }}
}}
"""
        (w / "nginx.conf").write_text(ncfg)
        # worker_connections counts per worker; far above every workload.
        # -mt: "auto", a worker per online CPU (nginx 1.22 ignores the
        # affinity it inherits)
        (w / "nginx-mt.conf").write_text(
            ncfg.replace("worker_processes 1;", "worker_processes auto;")
            .replace(f"{w}/nginx.pid", f"{w}/nginx-mt.pid"))

    def proxy_cmd(self, name):
        w = self.work
        if is_ours(name):
            mt = ["--workers", str(os.cpu_count())] if name.endswith("-mt") \
                else []
            health = (["--health-listen", f"{HEALTH[0]}:{HEALTH[1]}"]
                      if self.args.scrape else [])
            return [self.bin, "--region", "us-east-1",
                    "--listen", f"{LISTEN[0]}:{LISTEN[1]}",
                    "--ip-ranges", str(w / "ip-ranges.json"),
                    "--max-conns", str(self.args.max_conns),
                    "--stats-interval", "0", "--idle-timeout", "600",
                    "--log-format", "text"] + mt + health
        if name in ("haproxy", "haproxy-mt"):
            return ["haproxy", "-db", "-f", str(w / f"{name}.cfg")]
        if name in ("nginx", "nginx-mt"):
            return ["nginx", "-c", str(w / f"{name}.conf"), "-p", str(w)]
        if name == "socat":
            return ["socat",
                    f"TCP-LISTEN:{LISTEN[1]},bind={LISTEN[0]},reuseaddr,"
                    "fork,backlog=4096,nodelay",
                    f"TCP:{UPSTREAM[0]}:{UPSTREAM[1]},nodelay"]
        raise ValueError(name)

    def start_proxy(self, name):
        """Start a proxy; return (proc, ms to the first relayed echo).

        Its stderr is a pipe drained into a file by a thread, as Docker's
        and ECS's log drivers drain a container's stderr: a proxy's log
        writes cost what they cost in deployment (a pipe), not what a
        journaled ext4 file costs."""
        port_free()
        t0 = time.monotonic()
        cmd = self.proxy_cmd(name)
        if self.topo == "apart":
            cmd = ["taskset", "-c", str(PROXY_CPU)] + cmd
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, start_new_session=True)
        proc.drain = threading.Thread(
            target=_drain_to, args=(proc.stderr, self.work / f"{name}.stderr"),
            daemon=True)
        proc.drain.start()
        ready = self.wait_ready()
        ms = (time.monotonic() - t0) * 1000
        if not ready:
            stop(proc)
            raise RuntimeError(f"{name} did not become ready")
        try:
            self.check_pinned(name, proc)
        except RuntimeError:
            stop(proc)
            raise
        return proc, ms

    def client(self, cmd):
        """${cmd} pinned to the client's CPU in the apart topology."""
        if self.topo == "apart":
            return ["taskset", "-c", str(CLIENT_CPU)] + cmd
        return cmd

    def check_pinned(self, name, proc):
        """Apart: every thread of every process of the proxy's tree must be
        on CPU 1 alone (`taskset -p` on each thread id); raise otherwise.
        Keeps the largest tree seen per proxy for the report."""
        if self.topo != "apart":
            return
        procs, tids, wrong = 0, 0, []
        for p in tree(proc.pid):
            try:
                ts = os.listdir(f"/proc/{p}/task")
            except OSError:
                continue  # exited meanwhile (a socat child)
            procs += 1
            for t in ts:
                r = subprocess.run(["taskset", "-c", "-p", t],
                                   capture_output=True, text=True)
                if r.returncode != 0:
                    continue  # the thread ended meanwhile
                tids += 1
                cpus = r.stdout.rsplit(":", 1)[-1].strip()
                if cpus != str(PROXY_CPU):
                    wrong.append(f"pid {p} tid {t} on CPUs {cpus}")
        if wrong or not tids:
            raise RuntimeError(f"{name}: not all on CPU {PROXY_CPU}: "
                               f"{', '.join(wrong) or 'no thread found'}")
        seen = self.pinning.get(name, (0, 0))
        self.pinning[name] = (max(seen[0], procs), max(seen[1], tids))

    def wait_ready(self, timeout_ms=15000):
        if self.server_kind == "smtp":
            end = time.monotonic() + timeout_ms / 1000
            import socket
            while time.monotonic() < end:
                try:
                    with socket.create_connection(LISTEN, timeout=1) as s:
                        if s.recv(3) == b"220":
                            return True
                except OSError:
                    pass
                time.sleep(0.002)
            return False
        r = subprocess.run([self.tool, "waitport", *LISTEN, str(timeout_ms)],
                           capture_output=True, text=True)
        return r.returncode == 0

    def stop_proxy(self, name, proc, wl=""):
        try:
            if proc.poll() is None:
                self.check_pinned(name, proc)  # threads started later too
        finally:
            stop(proc)
        if is_ours(name):
            self.scan_ses_log(name, wl)

    def scan_ses_log(self, name, wl):
        """Keep ses-smtp-proxy's log of one run, by workload."""
        p = self.work / f"{name}.stderr"
        text = p.read_text(errors="replace")
        self.ses_logs.append((f"{name} {wl}", text))
        p.write_text("")

    # servers
    def start_server(self, kind):
        if self.server_kind == kind:
            return
        self.stop_server()
        if kind == "smtp":
            cmd = ["smtp-sink", "-u", "nobody", "-m", "2000",
                   f"{UPSTREAM[0]}:{UPSTREAM[1]}", "4096"]
        else:
            cmd = [self.tool, "server", *UPSTREAM]
        self.server = subprocess.Popen(self.client(cmd),
                                       stdout=subprocess.PIPE,
                                       stderr=open(self.work / f"server-{kind}.stderr", "ab"),
                                       start_new_session=True)
        self.server_kind = kind
        end = time.monotonic() + 10
        while time.monotonic() < end:
            out = subprocess.run(["ss", "-Hltn", "sport = :587"],
                                 capture_output=True, text=True).stdout
            if out.strip():
                return
            time.sleep(0.02)
        raise RuntimeError(f"{kind} server did not listen")

    def stop_server(self):
        if self.server is not None:
            stop(self.server)
        self.server = None
        self.server_kind = None


# --------------------------------------------------------------- workloads

def target(name):
    return UPSTREAM if name == "direct" else LISTEN


def run_tool(env, *a, timeout=300, pin=None):
    cmd = [env.tool, *a]
    if pin is not None:
        cmd = ["taskset", "-c", str(pin)] + cmd
    else:
        cmd = env.client(cmd)
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(a)}: {r.stderr.strip()}")
    if r.stderr.strip():
        env.anomalies.append(f"{' '.join(a[:1])}: {r.stderr.strip()}")
    return r.stdout


def smtp(env, name, proc, many):
    a = env.args
    host = "%s:%s" % target(name)
    if many:
        n, opts = a.smtp_many, ["-d"]
    else:
        n, opts = a.smtp_one, []
    cmd = ["smtp-source", "-s", str(a.smtp_sessions), "-m", str(n), "-l",
           "1000", "-f", "from@example.com", "-t", "to@example.com", *opts,
           host]
    c0 = cpu_seconds(proc.pid) if proc else 0
    s0 = tcp_segments()
    t0 = time.monotonic()
    r = subprocess.run(env.client(cmd), capture_output=True, text=True,
                       timeout=600)
    t = time.monotonic() - t0
    time.sleep(0.05)  # let socat reap its children
    segs = (tcp_segments() - s0) / n
    cpu = (cpu_seconds(proc.pid) - c0) * 1e6 / n if proc else None
    if r.returncode != 0 or r.stderr.strip():
        env.anomalies.append(f"smtp-source via {name}: rc={r.returncode} "
                             f"{r.stderr.strip()[:300]}")
        if r.returncode != 0:
            return None, None, None
    return n / t, cpu, segs


def bulk(env, name, proc, direction):
    nbytes = env.args.bulk_bytes
    c0 = cpu_seconds(proc.pid) if proc else 0
    out = run_tool(env, "bulk", direction, *target(name), str(nbytes))
    secs = float(out.split()[1])
    time.sleep(0.05)  # let socat reap its child
    c1 = cpu_seconds(proc.pid) if proc else 0
    gib = nbytes / 2**30
    return gib / secs, (c1 - c0) / gib if proc else None


def pingpong(env, name, proc, pinned):
    n = env.args.pings
    if pinned:
        # every process on one CPU (CPU 1), as the reference
        # figures: the proxy's added latency without cross-CPU wake-ups
        if proc:
            for p in tree(proc.pid):
                subprocess.run(["taskset", "-a", "-p", "-c", "1", str(p)],
                               capture_output=True)
        subprocess.run(["taskset", "-a", "-p", "-c", "1", str(env.server.pid)],
                       capture_output=True)
    try:
        # benchtool's server has, rarely, left a ping unanswered (seen once
        # in ~100 runs, direct as well as proxied): the client gives up
        # after 10 s and the run is repeated once on a new connection; the
        # lost attempt is listed among the anomalies.
        out = None
        for attempt in (1, 2):
            try:
                out = run_tool(env, "pingpong", *target(name), str(n),
                               pin=1 if pinned else None)
                break
            except RuntimeError as e:
                env.anomalies.append(f"pingpong via {name}, attempt "
                                     f"{attempt}: {e}")
    finally:
        if pinned:
            allc = f"0-{os.cpu_count() - 1}"
            subprocess.run(["taskset", "-a", "-p", "-c", allc,
                            str(env.server.pid)], capture_output=True)
    if out is None:
        return None, None  # listed among the anomalies; not in the medians
    f = out.split()
    return float(f[1]), float(f[3])


def connrate(env, name, proc):
    """(connections/s, failures, proxy CPU µs per connection, TCP segments
    per connection)."""
    c0 = cpu_seconds(proc.pid) if proc else 0
    s0 = tcp_segments()
    out = run_tool(env, "connrate", *target(name), "64",
                   str(env.args.connrate_seconds))
    time.sleep(0.05)  # let socat reap its children
    c1 = cpu_seconds(proc.pid) if proc else 0
    s1 = tcp_segments()
    f = out.split()
    conns, fails, secs = int(f[1]), int(f[3]), float(f[5])
    cpu = (c1 - c0) * 1e6 / conns if proc and conns else None
    segs = (s1 - s0) / conns if conns else None
    return conns / secs, fails, cpu, segs


def idle(env, name, proc):
    n = env.args.idle_conns
    pid = proc.pid if proc else None
    if pid:
        m0, f0 = pss_kib(pid), fd_count(pid)
    p = subprocess.Popen(env.client([env.tool, "idle", *target(name),
                                     str(n)]),
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         text=True)
    line = p.stdout.readline().split()
    ok, bad = (int(line[1]), int(line[2])) if len(line) == 3 else (0, n)
    res = None
    if pid:
        time.sleep(0.5)
        m1, f1 = pss_kib(pid), fd_count(pid)
        res = ((m1 - m0) / max(ok, 1), (f1 - f0) / max(ok, 1))
    p.stdin.close()
    p.wait(timeout=60)
    if bad:
        env.anomalies.append(f"idle via {name}: {bad} of {n} connections "
                             "failed the echo check")
    return res, bad


# ---------------------------------------------------------------- scraper

class _Stop(Exception):
    pass


def _raise_stop(*_):
    raise _Stop()


def scrape_main(url, max_requests):
    """The scraper process: GET ${url} once a second, at most
    ${max_requests} times or until SIGTERM; print "started" after the first
    answer, and at the end the count of each status ("error" for no HTTP
    answer) as one JSON line."""
    import http.client
    import urllib.parse
    signal.signal(signal.SIGTERM, _raise_stop)
    u = urllib.parse.urlsplit(url)
    counts = {}
    try:
        for i in range(max_requests):
            t0 = time.monotonic()
            try:
                c = http.client.HTTPConnection(u.hostname, u.port, timeout=2)
                try:
                    c.request("GET", u.path)
                    r = c.getresponse()
                    r.read()
                    k = str(r.status)
                finally:
                    c.close()
            except (OSError, http.client.HTTPException):
                k = "error"
            counts[k] = counts.get(k, 0) + 1
            if i == 0:
                print("started", flush=True)
            time.sleep(max(0.0, t0 + 1 - time.monotonic()))
    except _Stop:
        pass
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    print(json.dumps(counts), flush=True)


def start_scraper(env):
    """Start the scraper (on the client's CPU when apart); return once it
    has its first answer."""
    url = f"http://{HEALTH[0]}:{HEALTH[1]}/metrics"
    p = subprocess.Popen(env.client([sys.executable, __file__, "scrape", url,
                                     str(env.args.scrape_max)]),
                         stdout=subprocess.PIPE, text=True)
    if p.stdout.readline().strip() != "started":
        stop(p)
        raise RuntimeError("the scraper did not start")
    return p


def stop_scraper(env, p, name, wl):
    """Stop the scraper; add its answers to the topology's counts and list
    non-200 answers in the log."""
    p.send_signal(signal.SIGTERM)
    try:
        out, _ = p.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait(timeout=5)
        raise RuntimeError("the scraper did not stop within 10 s")
    counts = json.loads(out.strip().splitlines()[-1])
    for k, v in counts.items():
        env.scrapes[k] = env.scrapes.get(k, 0) + v
    bad = {k: v for k, v in counts.items() if k != "200"}
    log(f"  scraper during {wl} via {name}: {sum(counts.values())} GETs"
        + (", non-200: " + ", ".join(f"{k} ×{v}" for k, v in bad.items())
           if bad else ", all 200"))


# ---------------------------------------------------------------- driver

def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


# workloads by section, in phases by server kind
ALL_WORKLOADS = [
    ("smtp", ["smtp_many", "smtp_one"]),
    ("tool", ["bulk_up", "bulk_down", "ping_unpinned", "ping_pinned",
              "connrate", "idle"]),
]
# apart: no "everything on CPU 1" ping, and no idle memory (placement does
# not change it)
APART_WORKLOADS = [
    ("smtp", ["smtp_many", "smtp_one"]),
    ("tool", ["bulk_up", "bulk_down", "ping_unpinned", "connrate"]),
]
SCRAPE_WORKLOADS = [("smtp", ["smtp_one"]), ("tool", ["connrate"])]


def measure(env, wl, name, proc, add):
    """One workload, once, through one proxy (or direct); results via add."""
    if wl in ("smtp_many", "smtp_one"):
        r, c, sg = smtp(env, name, proc, wl == "smtp_many")
        add(wl, name, r)
        add(wl + "_cpu", name, c)
        add(wl + "_segs", name, sg)
    elif wl in ("bulk_up", "bulk_down"):
        g, c = bulk(env, name, proc, wl[5:])
        add(wl, name, g)
        add(wl + "_cpu", name, c)
    elif wl.startswith("ping"):
        m, p99 = pingpong(env, name, proc, wl == "ping_pinned")
        add(wl + "_med", name, m)
        add(wl + "_p99", name, p99)
    elif wl == "connrate":
        r, f, c, sg = connrate(env, name, proc)
        add("connrate", name, r)
        add("connrate_fail", name, f)
        add("connrate_cpu", name, c)
        add("connrate_segs", name, sg)
    elif wl == "idle":
        res, bad = idle(env, name, proc)
        add("idle_fail", name, bad)
        if res:
            add("idle_kib", name, res[0])
            add("idle_fds", name, res[1])


def run_matrix(env, phases, names, reps, t_start, tag):
    """Every workload, ${reps} times; within a repetition every name once,
    fresh, the order rotating per repetition (interleaved: a slow minute of
    the machine hits every proxy, not all repetitions of one).  Returns
    metric -> name -> [value per repetition]."""
    R = {}

    def add(metric, name, v):
        R.setdefault(metric, {}).setdefault(name, []).append(v)

    try:
        for kind, workloads in phases:
            env.start_server(kind)
            for wl in workloads:
                for rep in range(reps):
                    k = rep % len(names)
                    for name in names[k:] + names[:k]:
                        log(f"[{time.monotonic() - t_start:6.1f}s] {tag} {wl} "
                            f"rep {rep + 1}/{reps} {name}")
                        proc = scraper = None
                        if name != "direct":
                            proc, ms = env.start_proxy(name)
                            add("startup_ms", name, ms)
                        try:
                            if name == SCRAPED:
                                scraper = start_scraper(env)
                            measure(env, wl, name, proc, add)
                        finally:
                            if scraper:
                                stop_scraper(env, scraper, name, wl)
                            if proc:
                                if proc.poll() is not None:
                                    env.anomalies.append(
                                        f"{name} exited during {wl} rc="
                                        f"{proc.returncode}")
                                env.stop_proxy(name, proc, wl)
    finally:
        env.stop_server()
    return R


def real_ranges(env, args, R):
    """--check and a serve start with AWS's real ip-ranges.json (read only),
    plus one AMAZON us-east-1 entry for 127.0.0.2, the local server
    (--allow-cidr refuses loopback).  Returns the --check times in ms."""
    check = []
    doc = json.loads(Path(args.real_ranges).read_text())
    doc["prefixes"].append({"ip_prefix": "127.0.0.2/32",
                            "region": "us-east-1", "service": "AMAZON",
                            "network_border_group": "us-east-1"})
    ranges = env.work / "real-ip-ranges.json"
    ranges.write_text(json.dumps(doc))
    for _ in range(args.reps):
        t0 = time.monotonic()
        r = subprocess.run([args.proxy_bin, "--check", "--region",
                            "us-east-1", "--ip-ranges", str(ranges)],
                           capture_output=True, text=True, timeout=60)
        check.append((time.monotonic() - t0) * 1000)
        if r.returncode != 0:
            env.anomalies.append(f"--check real ranges rc={r.returncode}"
                                 f" {r.stderr.strip()[:200]}")
    # and a real serve start: time to the first relayed echo
    env.start_server("tool")
    try:
        for _ in range(args.reps):
            port_free()
            t0 = time.monotonic()
            proc = subprocess.Popen(
                [args.proxy_bin, "--region", "us-east-1", "--listen",
                 "127.0.0.1:1587", "--ip-ranges", str(ranges),
                 "--stats-interval", "0",
                 "--log-format", "text"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                start_new_session=True)
            ok = env.wait_ready()
            R.setdefault("startup_real_ms", {}).setdefault(
                "ses-smtp-proxy", []).append(
                (time.monotonic() - t0) * 1000 if ok else None)
            stop(proc)
    finally:
        env.stop_server()
    return check


def ses_log_summary(env):
    """ses-smtp-proxy's conn_close reasons by workload, and its warnings."""
    reasons, levels = {}, {}
    for wl, text in env.ses_logs:
        for m in re.finditer(r"event=conn_close .*?reason=(\S+)", text):
            k = f"{wl}: {m.group(1)}"
            reasons[k] = reasons.get(k, 0) + 1
        for m in re.finditer(r"level=(warn|error)\S* event=(\S+)", text):
            k = f"{m.group(1)} {m.group(2)}"
            levels[k] = levels.get(k, 0) + 1
    return reasons, levels


def select(phases, only):
    if not only:
        return phases
    only = only.split(",")
    phases = [(k, [w for w in wls if w in only]) for k, wls in phases]
    return [(k, wls) for k, wls in phases if wls]


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "scrape":
        scrape_main(sys.argv[2], int(sys.argv[3]))
        return
    # SIGTERM (run.sh's trap, timeout) unwinds the finally blocks that stop
    # every proxy, server and scraper this run started, by PID.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    ap = argparse.ArgumentParser()
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--tool", required=True)
    ap.add_argument("--proxy-bin", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--label", default="full")
    ap.add_argument("--real-ranges", default="")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--smtp-many", type=int, default=20000)
    ap.add_argument("--smtp-one", type=int, default=3000)
    ap.add_argument("--smtp-sessions", type=int, default=8)
    ap.add_argument("--bulk-bytes", type=int, default=2**30)
    ap.add_argument("--pings", type=int, default=20000)
    ap.add_argument("--connrate-seconds", type=float, default=3)
    ap.add_argument("--idle-conns", type=int, default=10000)
    ap.add_argument("--max-conns", type=int, default=20000)
    ap.add_argument("--nofile", type=int, default=1048576)
    ap.add_argument("--only", default="",
                    help="comma list of workloads to run (default: all)")
    ap.add_argument("--proxies", default="",
                    help="comma list of proxies to run (default: all)")
    ap.add_argument("--topology", default="shared",
                    help="comma list: shared, apart")
    ap.add_argument("--scrape", action="store_true",
                    help="the relay with --health-listen, without and with "
                    "a /metrics scraper, instead of the proxy comparison")
    ap.add_argument("--scrape-max", type=int, default=900,
                    help="most GETs per scraper run (one a second)")
    ap.add_argument("--halt-poll", type=int, default=None,
                    help="run.sh set the guest's idle polling window to "
                    "this many ns for the run: the sections are named "
                    "TOPOLOGY-haltpoll")
    args = ap.parse_args()
    topos = args.topology.split(",")
    if any(t not in ("shared", "apart") for t in topos):
        ap.error(f"--topology: {args.topology}: shared, apart or both")
    if "apart" in topos and not {PROXY_CPU, CLIENT_CPU} <= ALL_CPUS:
        ap.error(f"--topology apart: needs CPUs {CLIENT_CPU} and {PROXY_CPU}"
                 f", this process may use {sorted(ALL_CPUS)}")
    want = args.proxies.split(",") if args.proxies else None
    env = Env(args)
    t_start = time.monotonic()
    sections = {}
    for topo in topos:
        env.set_topology(topo)
        t0 = time.monotonic()
        if args.scrape:
            sec = "scrape-" + topo + haltpoll_suffix(args)
            names = ["ses-smtp-proxy", SCRAPED]
            phases = select(SCRAPE_WORKLOADS, args.only)
        else:
            sec = topo + haltpoll_suffix(args)
            proxies = PROXIES if topo == "shared" else PROXIES_APART
            names = ["direct"] + [p for p in proxies
                                  if want is None or p in want]
            phases = select(ALL_WORKLOADS if topo == "shared"
                            else APART_WORKLOADS, args.only)
        R = run_matrix(env, phases, names, args.reps, t_start, sec)
        check = []
        if (topo == "shared" and not args.scrape and not args.only
                and args.real_ranges and os.path.exists(args.real_ranges)):
            check = real_ranges(env, args, R)
        reasons, levels = ses_log_summary(env)
        secs = time.monotonic() - t0
        raw = {"args": vars(args), "topology": topo, "names": names,
               "results": R, "check_ms": check,
               "ses_conn_close_reasons": reasons, "ses_warnings": levels,
               "anomalies": env.anomalies, "pinning": env.pinning,
               "scraper_answers": env.scrapes, "seconds": secs}
        if args.scrape:
            md = render_scrape(args, topo, R, env, secs)
        else:
            md = render(args, topo, names, R, check, env, secs)
        md += "\n" + render_notes(reasons, levels, env.anomalies)
        sections[sec] = (md, raw)
    write_merged(Path(args.out), sections)
    log(f"wrote {args.out} in {time.monotonic() - t_start:.0f}s")


SECTION_ORDER = ["shared", "apart", "shared-haltpoll", "apart-haltpoll",
                 "scrape-shared", "scrape-apart", "scrape-shared-haltpoll",
                 "scrape-apart-haltpoll"]
HALT_POLL = Path("/sys/module/haltpoll/parameters/guest_halt_poll_ns")
CPUIDLE = Path("/sys/devices/system/cpu/cpuidle/current_driver")


def haltpoll_suffix(args):
    """The section of a run with --halt-poll is apart from the machine's
    own: a different machine setting, not a newer measurement."""
    return "" if args.halt_poll is None else "-haltpoll"


def idle_note():
    """How this machine's idle CPUs wait, which decides what waking one
    costs (bench/README.md, "The apart topology, in short")."""
    try:
        driver = CPUIDLE.read_text().strip()
    except OSError:
        return "no cpuidle driver"
    if driver != "haltpoll" or not HALT_POLL.exists():
        return f"cpuidle {driver}"
    ns = int(HALT_POLL.read_text())
    return (f"cpuidle haltpoll, an idle CPU polls {ns} ns before it halts"
            + (" (the kernel's default is 200000)" if ns != 200000 else ""))


MARK = re.compile(r"<!-- section (\S+) -->\n(.*?)<!-- end \1 -->\n",
                  re.S)


def write_merged(out, sections):
    """Write ${sections} (name -> (markdown, raw)) into ${out} and its .json,
    keeping the sections of earlier runs that this run did not measure
    (each section carries its own date and settings)."""
    md, raw = {}, {}
    out.parent.mkdir(parents=True, exist_ok=True)
    js = out.with_suffix(".json")
    if out.exists():
        md = {m.group(1): m.group(2) for m in MARK.finditer(out.read_text())}
    if js.exists():
        try:
            raw = json.loads(js.read_text()).get("sections", {})
        except (ValueError, AttributeError):
            raw = {}
    for name, (m, r) in sections.items():
        md[name], raw[name] = m, r
    order = [n for n in SECTION_ORDER if n in md]
    text = ["# ses-smtp-proxy benchmark", "",
            "Sections: " + ", ".join(order) + " (each from the latest run "
            "that measured it; `bench/README.md` says what they mean).", ""]
    for n in order:
        text += [f"<!-- section {n} -->", md[n].rstrip("\n"), "",
                 f"<!-- end {n} -->", ""]
    out.write_text("\n".join(text))
    js.write_text(json.dumps({"sections": {n: raw[n] for n in order
                                           if n in raw}}, indent=1))


# (metric, label, unit, higher_is_better, format)
ROWS = [
    ("smtp_many", "SMTP, many msgs/session", "msgs/s", True, "{:.0f}"),
    ("smtp_one", "SMTP, 1 msg/session", "msgs/s", True, "{:.0f}"),
    ("smtp_many_cpu", "proxy CPU, SMTP many msgs/session", "CPU µs/msg", False, "{:.1f}"),
    ("smtp_one_cpu", "proxy CPU, SMTP 1 msg/session", "CPU µs/msg", False, "{:.1f}"),
    ("smtp_many_segs", "TCP segments, SMTP many msgs/session", "segments/msg", False, "{:.1f}"),
    ("smtp_one_segs", "TCP segments, SMTP 1 msg/session", "segments/msg", False, "{:.1f}"),
    ("bulk_up", "bulk client→server", "GiB/s", True, "{:.2f}"),
    ("bulk_down", "bulk server→client", "GiB/s", True, "{:.2f}"),
    ("bulk_up_cpu", "proxy CPU, client→server", "CPU s/GiB", False, "{:.3f}"),
    ("bulk_down_cpu", "proxy CPU, server→client", "CPU s/GiB", False, "{:.3f}"),
    ("ping_unpinned_med", "1-byte RTT median, {ping}", "µs", False, "{:.1f}"),
    ("ping_unpinned_p99", "1-byte RTT p99, {ping}", "µs", False, "{:.1f}"),
    ("ping_pinned_med", "1-byte RTT median, pinned", "µs", False, "{:.1f}"),
    ("ping_pinned_p99", "1-byte RTT p99, pinned", "µs", False, "{:.1f}"),
    ("connrate", "connection rate, 64 clients", "conn/s", True, "{:.0f}"),
    ("connrate_fail", "connection failures (median per run)", "count", False, "{:.0f}"),
    ("connrate_cpu", "proxy CPU per connection", "CPU µs/conn", False, "{:.1f}"),
    ("connrate_segs", "TCP segments per connection", "segments/conn", False, "{:.1f}"),
    ("idle_kib", "memory per idle connection (PSS, {n} held)", "KiB", False, "{:.2f}"),
    ("idle_fds", "fds per idle connection", "fds", False, "{:.2f}"),
    ("idle_fail", "idle connections that failed (median)", "count", False, "{:.0f}"),
    ("startup_ms", "start to first relayed byte (test allowlist)", "ms", False, "{:.1f}"),
]
COUNTS = ("connrate_fail", "idle_fail")
PING = {"shared": "unpinned",
        "apart": f"client+server CPU {CLIENT_CPU}, proxy CPU {PROXY_CPU}"}


def versus(ours, theirs, hib):
    """Compare every run, not only the medians: "ahead" when ses's worst
    run beats the best peer's best run, "behind" when the reverse holds,
    else the two ranges overlap and the medians' ratio is within the
    run-to-run spread."""
    ours = [x for x in ours if x is not None]
    theirs = [x for x in theirs if x is not None]
    if not ours or not theirs:
        return "–"
    if not hib:
        ours, theirs = [-x for x in ours], [-x for x in theirs]
    if min(ours) > max(theirs):
        return "ahead"
    if max(ours) < min(theirs):
        return "behind"
    if min(ours) == max(ours) == min(theirs) == max(theirs):
        return "equal"
    return "ranges overlap"


def paired(ours, theirs, hib):
    """Repetition by repetition (the two ran minutes apart at most, in the
    same rotation): "ahead k/k" when ses was better in every one, "behind
    k/k" when worse in every one, "equal k/k" when tied in every one, else
    "mixed: ahead i, behind j of k"."""
    pairs = [(a, b) for a, b in zip(ours, theirs)
             if a is not None and b is not None]
    if not pairs:
        return "–"
    n = len(pairs)
    ahead = sum(1 for a, b in pairs if (a > b if hib else a < b))
    behind = sum(1 for a, b in pairs if (a < b if hib else a > b))
    for k, word in ((ahead, "ahead"), (behind, "behind"),
                    (n - ahead - behind, "equal")):
        if k == n:
            return f"{word} {n}/{n}"
    return f"mixed: ahead {ahead}, behind {behind} of {n}"


def spread(fmt, xs):
    """"median (min–max)" of the repetitions that gave a value."""
    xs = [x for x in xs if x is not None]
    if not xs:
        return "–"
    m = fmt.format(statistics.median(xs))
    if len(xs) == 1:
        return m
    return f"{m} ({fmt.format(min(xs))}–{fmt.format(max(xs))})"


def best_of(m, names, hib):
    have = {n: m[n] for n in names if m.get(n) is not None}
    if not have:
        return None
    return (max if hib else min)(have, key=have.get)


def render(args, topo, names, R, check, env, secs):
    ours_all = [n for n in names if is_ours(n)]
    peers_all = [n for n in names if n in PEERS]
    if topo == "apart":
        title = (f"## Apart: the proxy alone on CPU {PROXY_CPU}, client and "
                 f"server on CPU {CLIENT_CPU}")
    else:
        title = "## Shared: client, server and proxy on all CPUs"
    if args.halt_poll is not None:
        title += (f", idle CPUs polling {args.halt_poll} ns before they "
                  "halt (`--halt-poll`)")
    title += f" ({args.label} run)"
    out = [title, ""]
    out.append(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
               f"{os.cpu_count()} CPUs, kernel {os.uname().release}, "
               f"{idle_note()}"
               + (f"; {env.wake}" if env.wake else "") +
               f", RLIMIT_NOFILE {args.nofile}; "
               f"{args.reps} repetitions, proxies interleaved (every proxy "
               f"once per repetition, the order rotating); took {secs:.0f} s."
               " Cells: median (min–max over the repetitions). Best ses: "
               + ("the better of ses-smtp-proxy (one process) and "
                  "ses-smtp-proxy-mt (`--workers` = CPUs, marked -mt)"
                  if len(ours_all) > 1 else "ses-smtp-proxy (one process)")
               + "; best peer: the best median of the others (`-mt`: "
               "HAProxy without `nbthread`, nginx `worker_processes auto`). "
               "*Ranges*: ahead/behind when every run of one beats every "
               "run of the other; *per repetition*: in how many "
               "repetitions best ses beat best peer.")
    if env.pinning:
        out.append("")
        out.append("Pinning checked with `taskset -p` on every thread after "
                   "each start and before each stop (processes/threads, "
                   "most seen): " + ", ".join(
                       f"{n} {p}/{t}" for n, (p, t) in env.pinning.items())
                   + f", all on CPU {PROXY_CPU} only.")
    out.append("")
    out.append("| metric | unit | " + " | ".join(names) +
               " | best ses / direct | best ses / best peer | ranges | "
               "per repetition |")
    out.append("|---|---|" + "---|" * (len(names) + 4))
    for key, label, unit, hib, fmt in ROWS:
        if key not in R:
            continue
        label = label.format(n=args.idle_conns, ping=PING[topo])
        m = {n: med(R[key].get(n, [])) for n in names}
        cells = [spread(fmt, R[key].get(n, [])) for n in names]
        d = m.get("direct")
        me = best_of(m, ours_all, hib)
        best = best_of(m, peers_all, hib)
        rd = rb = vs = pr = "–"
        if me:
            s = m[me]
            tag = "" if me == "ses-smtp-proxy" else " (-mt)"
            if d and key not in COUNTS:
                rd = f"{s / d:.2f}×{tag}"
        if me and best:
            if m[best]:
                rb = f"{s / m[best]:.2f}×{tag} ({best})"
            elif s == 0:
                rb = f"= ({best})"
            vs = versus(R[key][me], R[key][best], hib)
            pr = paired(R[key][me], R[key][best], hib)
        out.append(f"| {label} | {unit} | " + " | ".join(cells) +
                   f" | {rd} | {rb} | {vs} | {pr} |")
    if check or "startup_real_ms" in R:
        out.append("")
        out.append("Startup with AWS's real ip-ranges.json "
                   f"({args.real_ranges}), ses-smtp-proxy only:")
        out.append("")
        if check:
            out.append(f"- `--check` wall time: median {med(check):.1f} ms "
                       f"(min {min(check):.1f}, max {max(check):.1f})")
        rs = R.get("startup_real_ms", {}).get("ses-smtp-proxy", [])
        if med(rs) is not None:
            out.append(f"- start to first relayed byte: median {med(rs):.1f} ms")
    out.append("")
    return "\n".join(out)


def render_scrape(args, topo, R, env, secs):
    where = (f"relay on CPU {PROXY_CPU}; client, server and scraper on CPU "
             f"{CLIENT_CPU}" if topo == "apart" else "every process on all "
             "CPUs")
    if args.halt_poll is not None:
        where += (f"; idle CPUs polling {args.halt_poll} ns before they "
                  "halt")
    out = [f"## Scrape cost, {topo} ({where}; {args.label} run)", ""]
    out.append(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
               f"{os.cpu_count()} CPUs, kernel {os.uname().release}, "
               f"{idle_note()}"
               + (f"; {env.wake}" if env.wake else "") + "; "
               f"{args.reps} repetitions, interleaved; took {secs:.0f} s. "
               "ses-smtp-proxy (one process) with `--health-listen "
               f"{HEALTH[0]}:{HEALTH[1]}` in both columns; *with scraper*: a "
               "process GETs `/metrics` once a second during the "
               "measurement. Cells: median (min–max); per repetition: "
               "how often the scraped relay was better (ahead) or worse "
               "(behind) than the other in the same repetition.")
    out.append("")
    out.append("| metric | unit | without scraper | with scraper | with / "
               "without | with scraper, per repetition |")
    out.append("|---|---|---|---|---|---|")
    for key, label, unit, hib, fmt in ROWS:
        if key not in R or not key.startswith(("smtp_one", "connrate")):
            continue
        a = R[key].get("ses-smtp-proxy", [])
        b = R[key].get(SCRAPED, [])
        ma, mb = med(a), med(b)
        ratio = f"{mb / ma:.3f}×" if ma and mb is not None else "–"
        out.append(f"| {label} | {unit} | {spread(fmt, a)} | "
                   f"{spread(fmt, b)} | {ratio} | {paired(b, a, hib)} |")
    out.append("")
    n = sum(env.scrapes.values())
    bad = {k: v for k, v in env.scrapes.items() if k != "200"}
    out.append(f"Scraper: {n} GETs of `/metrics`; " + (
        "non-200 answers: " + ", ".join(f"{k} ×{v}"
                                        for k, v in sorted(bad.items()))
        if bad else "all answered 200") + ".")
    out.append("")
    return "\n".join(out)


def render_notes(reasons, levels, anomalies):
    out = ["ses-smtp-proxy `conn_close` reasons by workload: " +
           (", ".join(f"{k} {v}" for k, v in sorted(reasons.items()))
            or "none logged"), ""]
    out.append("ses-smtp-proxy warnings/errors: " +
               (", ".join(f"{k} ×{v}" for k, v in sorted(levels.items()))
                or "none"))
    out.append("")
    if anomalies:
        out.append("Anomalies seen by the clients:")
        out.append("")
        seen = {}
        for a in anomalies:
            seen[a] = seen.get(a, 0) + 1
        for a, k in list(seen.items())[:40]:
            out.append(f"- {a}" + (f" (×{k})" if k > 1 else ""))
    else:
        out.append("No anomalies seen by the clients.")
    out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    main()
