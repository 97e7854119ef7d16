#!/usr/bin/env python3
"""The measurements of bench/run.sh. Runs inside the private network and
mount namespace that run.sh sets up (loopback only, /etc/hosts mapping the
SES name to 127.0.0.2); not meant to be started by hand.

Layout: each proxy listens on 127.0.0.1:1587 and relays to 127.0.0.2:587,
where smtp-sink (SMTP workloads) or benchtool's server (everything else)
listens. "direct" is the client straight to 127.0.0.2:587.
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
TICK = os.sysconf("SC_CLK_TCK")
LOG = sys.stderr


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
        self._write_configs()

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
        ncpu = os.cpu_count()
        (w / "haproxy-mt.cfg").write_text(
            hcfg.replace("nbthread 1", f"nbthread {ncpu}").replace(
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
        # worker_connections counts per worker; far above every workload
        (w / "nginx-mt.conf").write_text(
            ncfg.replace("worker_processes 1;", f"worker_processes {ncpu};")
            .replace(f"{w}/nginx.pid", f"{w}/nginx-mt.pid"))

    def proxy_cmd(self, name):
        w = self.work
        if name in OURS:
            mt = ["--workers", str(os.cpu_count())] if name.endswith("-mt") \
                else []
            return [self.bin, "--region", "us-east-1",
                    "--listen", f"{LISTEN[0]}:{LISTEN[1]}",
                    "--ip-ranges", str(w / "ip-ranges.json"),
                    "--max-conns", str(self.args.max_conns),
                    "--stats-interval", "0", "--idle-timeout", "600",
                    "--log-format", "text"] + mt
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
        proc = subprocess.Popen(self.proxy_cmd(name), stdout=subprocess.DEVNULL,
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
        return proc, ms

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
        stop(proc)
        if name in OURS:
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
        self.server = subprocess.Popen(cmd, stdout=subprocess.PIPE,
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
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
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
    p = subprocess.Popen([env.tool, "idle", *target(name), str(n)],
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


# ---------------------------------------------------------------- driver

def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def main():
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
    args = ap.parse_args()
    if args.proxies:
        PROXIES[:] = [p for p in PROXIES if p in args.proxies.split(",")]
    env = Env(args)
    names = ["direct"] + PROXIES
    R = {}  # metric -> name -> [values]

    def add(metric, name, v):
        R.setdefault(metric, {}).setdefault(name, []).append(v)

    def rotation(rep):
        k = rep % len(names)
        return names[k:] + names[:k]

    phases = [
        ("smtp", ["smtp_many", "smtp_one"]),
        ("tool", ["bulk_up", "bulk_down", "ping_unpinned", "ping_pinned",
                  "connrate", "idle"]),
    ]
    if args.only:
        only = args.only.split(",")
        phases = [(k, [w for w in wls if w in only]) for k, wls in phases]
        phases = [(k, wls) for k, wls in phases if wls]
    t_start = time.monotonic()
    try:
        for kind, workloads in phases:
            env.start_server(kind)
            for wl in workloads:
                for rep in range(args.reps):
                    for name in rotation(rep):
                        proc = None
                        if name != "direct":
                            proc, ms = env.start_proxy(name)
                            add("startup_ms", name, ms)
                        try:
                            log(f"[{time.monotonic() - t_start:6.1f}s] {wl} "
                                f"rep {rep + 1}/{args.reps} {name}")
                            if wl in ("smtp_many", "smtp_one"):
                                r, c, sg = smtp(env, name, proc,
                                                wl == "smtp_many")
                                add(wl, name, r)
                                add(wl + "_cpu", name, c)
                                add(wl + "_segs", name, sg)
                            elif wl in ("bulk_up", "bulk_down"):
                                g, c = bulk(env, name, proc, wl[5:])
                                add(wl, name, g)
                                add(wl + "_cpu", name, c)
                            elif wl.startswith("ping"):
                                m, p99 = pingpong(env, name, proc,
                                                  wl == "ping_pinned")
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
                        finally:
                            if proc:
                                if proc.poll() is not None:
                                    env.anomalies.append(
                                        f"{name} exited during {wl} rc="
                                        f"{proc.returncode}")
                                env.stop_proxy(name, proc, wl)
    finally:
        env.stop_server()

    # --check with the real ip-ranges.json (read only), plus one AMAZON
    # us-east-1 entry for 127.0.0.2, the local server (--allow-cidr
    # refuses loopback)
    check = []
    if (args.real_ranges and os.path.exists(args.real_ranges)
            and not args.only):
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
                add("startup_real_ms", "ses-smtp-proxy",
                    (time.monotonic() - t0) * 1000 if ok else None)
                stop(proc)
        finally:
            env.stop_server()

    # ses-smtp-proxy log summary
    reasons, levels = {}, {}
    for wl, text in env.ses_logs:
        for m in re.finditer(r"event=conn_close .*?reason=(\S+)", text):
            k = f"{wl}: {m.group(1)}"
            reasons[k] = reasons.get(k, 0) + 1
        for m in re.finditer(r"level=(warn|error)\S* event=(\S+)", text):
            k = f"{m.group(1)} {m.group(2)}"
            levels[k] = levels.get(k, 0) + 1

    raw = {"args": vars(args), "results": R, "check_ms": check,
           "ses_conn_close_reasons": reasons, "ses_warnings": levels,
           "anomalies": env.anomalies,
           "seconds": time.monotonic() - t_start}
    Path(args.out).with_suffix(".json").write_text(json.dumps(raw, indent=1))
    Path(args.out).write_text(render(args, R, check, reasons, levels,
                                     env.anomalies,
                                     time.monotonic() - t_start))
    log(f"wrote {args.out} in {time.monotonic() - t_start:.0f}s")


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
    ("ping_unpinned_med", "1-byte RTT median, unpinned", "µs", False, "{:.1f}"),
    ("ping_unpinned_p99", "1-byte RTT p99, unpinned", "µs", False, "{:.1f}"),
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


def render(args, R, check, reasons, levels, anomalies, secs):
    names = ["direct"] + PROXIES
    out = [f"# ses-smtp-proxy benchmark ({args.label} run)", ""]
    out.append(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
               f"{os.cpu_count()} CPUs, kernel {os.uname().release}, "
               f"RLIMIT_NOFILE {args.nofile}; "
               f"{args.reps} repetitions, proxies alternated, medians; "
               f"run took {secs:.0f} s. Cells: median (ratio to direct). "
               "Best ses: the better of ses-smtp-proxy (one process) and "
               "ses-smtp-proxy-mt (`--workers` = CPUs, marked -mt); best "
               "peer: the best of the other five.")
    out.append("")
    out.append("| metric | unit | " + " | ".join(names) +
               " | best ses / direct | best ses / best peer | best ses vs "
               "best peer, every run |")
    out.append("|---|---|" + "---|" * (len(names) + 3))
    for key, label, unit, hib, fmt in ROWS:
        if key not in R:
            continue
        label = label.format(n=args.idle_conns)
        m = {n: med(R[key].get(n, [])) for n in names}
        cells = []
        d = m.get("direct")
        for n in names:
            v = m[n]
            if v is None:
                cells.append("–")
            elif d and n != "direct" and key not in ("connrate_fail", "idle_fail"):
                cells.append(f"{fmt.format(v)} ({v / d:.2f}×)")
            else:
                cells.append(fmt.format(v))
        ours = {n: m[n] for n in OURS if m.get(n) is not None}
        peers = {n: m[n] for n in PEERS if m.get(n) is not None}
        rd = rb = vs = "–"
        if ours:
            me = (max if hib else min)(ours, key=ours.get)
            s = ours[me]
            tag = "" if me == "ses-smtp-proxy" else " (-mt)"
            rd = f"{s / d:.2f}×{tag}" if d else "–"
        if ours and peers:
            best = (max if hib else min)(peers, key=peers.get)
            if peers[best]:
                rb = f"{s / peers[best]:.2f}×{tag} ({best})"
            elif s == 0:
                rb = f"= ({best})"
            vs = versus(R[key].get(me, []), R[key].get(best, []), hib)
        out.append(f"| {label} | {unit} | " + " | ".join(cells) +
                   f" | {rd} | {rb} | {vs} |")
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
    out.append("ses-smtp-proxy `conn_close` reasons by workload, whole run: " +
               (", ".join(f"{k} {v}" for k, v in sorted(reasons.items()))
                or "none logged"))
    out.append("")
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
