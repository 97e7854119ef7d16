"""Privilege (PRV-01, PRV-02, PRV-03, PRV-04, PRV-06, PRV-07; SECURITY.md
section 3, steps 2-3): started as root the proxy drops to --user
(65534:65534 by default) with no groups and no capability left, sets
NO_NEW_PRIVS itself, sets its rlimits; started as root without
CAP_SETUID/CAP_SETGID it refuses to start (pitfall P7 in docs/TESTING.md);
started as a non-root user it keeps that user and sandboxes itself all the
same.

PRV-08 (no payload in logs) is in test_logs.py. Writing to / and /tmp from
inside the proxy (PRV-07 proper) and calling setuid(0) after the drop
(PRV-03 proper) need a test hook compiled into a test build; here they are
checked from outside through /proc and the log."""

import errno
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from fakes import SES_GREETING, ses_name
from helpers import (connect, connection_refused, read_line, wait_for,
                     write_allowlist)
from sandboxlib import (SANITIZER, SYSTEM_PYTHON, ProbeClients, caps, groups,
                        ids, open_files, proc_limits, proc_status,
                        run_until_exit, seccomp_errno_prefix, start_under,
                        tasks)

MODES = pytest.mark.parametrize("pid1", [False, True], ids=["child", "pid1"])
NOBODY = 65534
USAGE = 2
RUNTIME = 1


def greeting():
    with connect() as s:
        return read_line(s)


def assert_ids(pid, uid, gid):
    """Every task: real, effective, saved and fs ids; no supplementary
    group."""
    for tid in tasks(pid):
        st = proc_status(pid, tid)
        assert ids(st, "Uid") == [uid] * 4, f"task {tid}: Uid {st['Uid']}"
        assert ids(st, "Gid") == [gid] * 4, f"task {tid}: Gid {st['Gid']}"
        assert groups(st) == [], f"task {tid}: Groups {st['Groups']}"


def assert_sandboxed(pid):
    """NO_NEW_PRIVS and the seccomp filter, in every task."""
    for tid in tasks(pid):
        st = proc_status(pid, tid)
        assert st["NoNewPrivs"] == "1", f"task {tid}: NoNewPrivs {st['NoNewPrivs']}"
        if not SANITIZER:
            assert st["Seccomp"] == "2", f"task {tid}: Seccomp {st['Seccomp']}"
            assert int(st["Seccomp_filters"]) >= 1


def assert_ready_event(proxy, uid, gid):
    if SANITIZER:
        assert proxy.named("sandbox_disabled")
        return
    ready = proxy.named("sandbox_ready")
    assert len(ready) == 1, proxy.log_text()
    assert (ready[0]["uid"], ready[0]["gid"]) == (uid, gid)
    assert ready[0]["seccomp"] == "filter"


@pytest.fixture
def readable_allowlist():
    """An allowlist that a non-root uid can read (tmp_path is 0700 root)."""
    d = Path(tempfile.mkdtemp(prefix="ses-prv-", dir="/tmp"))
    d.chmod(0o755)
    path = write_allowlist(d / "ip-ranges.json")
    path.chmod(0o644)
    yield path
    shutil.rmtree(d, ignore_errors=True)


# --------------------------------------------------------------------------
# PRV-01, PRV-03, PRV-04: started as root (as Docker without --user does)
# --------------------------------------------------------------------------

@MODES
def test_prv01_root_start_runs_as_65534_everywhere(dns, ses, proxy_factory, pid1):
    proxy = proxy_factory(pid1=pid1)
    assert len(tasks(proxy.pid)) == 1, "the relay is single-threaded"
    assert_ids(proxy.pid, NOBODY, NOBODY)
    assert_ready_event(proxy, NOBODY, NOBODY)
    assert greeting() == SES_GREETING
    assert ses.connections == 1


@MODES
def test_prv01_supplementary_groups_dropped(dns, ses, proxy_factory, pid1):
    """Root here has no supplementary group, so start it with two (as an
    image whose root is in groups would) to see setgroups at work."""
    proxy = start_under(proxy_factory, ["setpriv", "--groups", "4,27"],
                        pid1=pid1)
    assert_ids(proxy.pid, NOBODY, NOBODY)
    assert greeting() == SES_GREETING


@MODES
def test_prv03_no_capability_left(dns, ses, proxy_factory, pid1):
    """CapInh/CapPrm/CapEff/CapAmb are cleared by setresuid; CapBnd only by
    PR_CAPBSET_DROP, which the issue asks for as well."""
    proxy = proxy_factory(pid1=pid1)
    # The test is meaningful only if the proxy started with capabilities.
    assert caps(proc_status(os.getpid()))["CapEff"] != 0
    for tid in tasks(proxy.pid):
        c = caps(proc_status(proxy.pid, tid))
        left = {k: hex(v) for k, v in c.items() if k != "CapBnd" and v}
        assert left == {}, f"task {tid}: capabilities left: {left}"


def test_prv03_root_start_clears_the_inheritable_set(dns, ses, proxy_factory):
    """setresuid from root clears every set but the inheritable one: a root
    started with inheritable capabilities must not keep them."""
    proxy = start_under(proxy_factory, ["setpriv", "--inh-caps",
                                        "+net_admin,+kill"])
    assert_ids(proxy.pid, NOBODY, NOBODY)
    c = caps(proc_status(proxy.pid))
    assert (c["CapInh"], c["CapPrm"], c["CapEff"], c["CapAmb"]) == \
        (0, 0, 0, 0), {k: hex(v) for k, v in c.items()}


@MODES
def test_prv03_bounding_set_emptied(dns, ses, proxy_factory, pid1):
    proxy = proxy_factory(pid1=pid1)
    assert caps(proc_status(os.getpid()))["CapBnd"] != 0
    for tid in tasks(proxy.pid):
        bnd = caps(proc_status(proxy.pid, tid))["CapBnd"]
        assert bnd == 0, f"task {tid}: CapBnd {bnd:#018x}"


@MODES
def test_prv04_no_new_privs_set_by_the_binary(dns, ses, proxy_factory, pid1):
    # Nothing above the proxy sets NO_NEW_PRIVS (Fargate cannot).
    assert proc_status(os.getpid())["NoNewPrivs"] == "0"
    proxy = proxy_factory(pid1=pid1)
    assert_sandboxed(proxy.pid)


@pytest.mark.parametrize("how", ["flag", "env", "flag_over_env"])
def test_prv01_user_flag_and_run_as(dns, ses, proxy_factory, how):
    args, env = [], None
    if how in ("flag", "flag_over_env"):
        args = ["--user", "1000:1001"]
    if how == "env":
        env = {"RUN_AS": "1000:1001"}
    if how == "flag_over_env":
        env = {"RUN_AS": "2000:2001"}
    proxy = proxy_factory(*args, env=env)
    assert_ids(proxy.pid, 1000, 1001)
    assert_ready_event(proxy, 1000, 1001)
    assert caps(proc_status(proxy.pid))["CapEff"] == 0
    assert greeting() == SES_GREETING


# --------------------------------------------------------------------------
# PRV-02 (pitfall P7 in docs/TESTING.md): root that cannot change ids fails
# closed
# --------------------------------------------------------------------------

def caps_wrapper(bounding):
    """Root whose capabilities after exec are only those left in the
    bounding set (`docker run --user 0 --cap-drop=...`)."""
    return ["setpriv", "--bounding-set", bounding, "--inh-caps", "-all",
            "--ambient-caps", "-all"]


PRIVDROP_CALLS = ("prctl PR_CAPBSET_DROP", "setgroups", "setresgid",
                  "setresuid")


@MODES
@pytest.mark.parametrize("dropped,failing", [
    ("-all", PRIVDROP_CALLS),          # --cap-drop=ALL: the first one fails
    ("-setgid", ("setgroups",)),
    ("-setuid", ("setresuid",)),
], ids=["cap-drop-all", "no-setgid", "no-setuid"])
def test_prv02_root_without_setid_caps_fails_closed(dns, ses, proxy_factory,
                                                    pid1, dropped, failing):
    with ProbeClients() as probes:
        proxy, rc = run_until_exit(proxy_factory, caps_wrapper(dropped),
                                   pid1=pid1)
    assert rc is not None, "still running as root without CAP_SETUID/SETGID"
    assert rc != 0
    assert rc == RUNTIME, f"exit {rc}"
    failed = proxy.named("privdrop_failed")
    assert len(failed) == 1, proxy.log_text()
    msg = failed[0]["error"]
    assert any(msg.startswith(call) for call in failing), msg
    assert os.strerror(errno.EPERM) in msg, msg
    # Nothing after the drop ran: no sandbox, no resolution, no session.
    for event in ("landlock", "sandbox_ready", "upstream_resolved",
                  "conn_open", "conn_close"):
        assert proxy.named(event) == [], f"{event} logged: {proxy.log_text()}"
    assert dns.query_count(ses_name()) == 0
    assert ses.connections == 0
    assert probes.received == [], f"a client got bytes: {probes.received}"
    assert connection_refused()


def test_prv02_the_advised_capabilities_are_enough(dns, ses, proxy_factory):
    """Root with exactly what the privdrop_failed message advises (K8s
    `drop: [ALL]`, `add: [SETUID, SETGID]`) starts: without CAP_SETPCAP
    the bounding set is kept, and that is logged (capbset_kept)."""
    proxy, rc = run_until_exit(proxy_factory,
                               caps_wrapper("-all,+setuid,+setgid"), timeout=2)
    assert rc is None, proxy.log_text()
    # upstream_resolved follows the sandbox (also in the sanitizer build,
    # which logs no sandbox_ready).
    proxy.wait_event("upstream_resolved", timeout=5)
    assert_ids(proxy.pid, NOBODY, NOBODY)
    assert proxy.named("capbset_kept"), proxy.log_text()


def status_under(wrapper):
    """/proc/self/status of a program started under wrapper, as {field:
    text}."""
    import subprocess
    out = subprocess.run(wrapper + ["cat", "/proc/self/status"],
                         capture_output=True, text=True, timeout=10, check=True)
    return dict(l.split(":", 1) for l in out.stdout.splitlines() if ":" in l)


def test_prv02_wrapper_really_leaves_root_without_caps():
    """The setpriv line above gives uid 0 with no capability at all."""
    st = status_under(caps_wrapper("-all"))
    assert st["Uid"].split() == ["0"] * 4
    assert all(int(st[k], 16) == 0 for k in ("CapPrm", "CapEff", "CapBnd"))


# --------------------------------------------------------------------------
# Started as a non-root user (the image's USER 65534:65534, K8s runAsUser)
# --------------------------------------------------------------------------

AMBIENT = ("net_admin", "dac_override", "sys_ptrace", "kill")
NONROOT = 4242


def nonroot_wrapper(ambient=(), uid=NONROOT):
    """setpriv: uid and gid ${uid}, no group, and the capabilities
    ${ambient} in the inheritable and ambient sets (so that execve makes
    them permitted and effective), the bounding set left full."""
    wrapper = ["setpriv", "--reuid", str(uid), "--regid", str(uid),
               "--clear-groups"]
    if not ambient:
        return wrapper + ["--inh-caps", "-all"]
    caps = ",".join(f"+{c}" for c in ambient)
    return wrapper + ["--inh-caps", caps, "--ambient-caps", caps]


@MODES
def test_non_root_start_keeps_its_uid_and_sandboxes(dns, ses, proxy_factory,
                                                    readable_allowlist, pid1):
    proxy = start_under(proxy_factory, nonroot_wrapper(), "--ip-ranges",
                        readable_allowlist, pid1=pid1)
    assert proxy.named("privdrop_failed") == []
    assert_ids(proxy.pid, NONROOT, NONROOT)
    assert_sandboxed(proxy.pid)
    assert_ready_event(proxy, NONROOT, NONROOT)
    c = caps(proc_status(proxy.pid))
    assert (c["CapPrm"], c["CapEff"], c["CapInh"], c["CapAmb"]) == (0, 0, 0, 0)
    limits = proc_limits(proxy.pid)
    assert limits["Max core file size"] == (0, 0)
    assert limits["Max processes"] == (0, 0)
    for _ in range(2):
        assert greeting() == SES_GREETING
    assert ses.connections == 2


def test_nonroot_wrapper_really_gives_ambient_caps():
    """The setpriv line below starts a program as uid 4242 holding the
    four capabilities in every set (0x81022: the issue's reproduction)."""
    st = status_under(nonroot_wrapper(AMBIENT))
    assert st["Uid"].split() == [str(NONROOT)] * 4
    for k in ("CapInh", "CapPrm", "CapEff", "CapAmb"):
        assert int(st[k], 16) == 0x81022, (k, st[k])


@MODES
@pytest.mark.parametrize("setpcap", [False, True],
                         ids=["no-setpcap", "with-setpcap"])
def test_non_root_start_clears_ambient_capabilities(dns, ses, proxy_factory,
                                                    readable_allowlist, pid1,
                                                    setpcap):
    """Started as uid 4242 with ambient capabilities: none is left in the
    inheritable, permitted, effective or ambient set. The bounding set is
    emptied where CAP_SETPCAP allows it; without it, what stays is logged
    (capbset_kept)."""
    ambient = AMBIENT + (("setpcap",) if setpcap else ())
    proxy = start_under(proxy_factory, nonroot_wrapper(ambient),
                        "--ip-ranges", readable_allowlist, pid1=pid1)
    assert_ids(proxy.pid, NONROOT, NONROOT)
    assert_sandboxed(proxy.pid)
    for tid in tasks(proxy.pid):
        c = caps(proc_status(proxy.pid, tid))
        left = {k: hex(v) for k, v in c.items() if k != "CapBnd" and v}
        assert left == {}, f"task {tid}: capabilities left: {left}"
        if setpcap:
            assert c["CapBnd"] == 0, f"task {tid}: CapBnd {c['CapBnd']:#x}"
    kept = proxy.named("capbset_kept")
    if setpcap:
        assert kept == [], proxy.log_text()
    else:
        assert len(kept) == 1 and kept[0]["level"] == "info", proxy.log_text()
        assert int(kept[0]["caps"], 16) == caps(proc_status(proxy.pid))["CapBnd"]
    assert greeting() == SES_GREETING


@pytest.mark.parametrize("how", ["flag", "env"])
def test_non_root_start_refuses_a_user_it_cannot_apply(dns, ses, proxy_factory,
                                                       readable_allowlist, how):
    """--user (or RUN_AS) names other ids than the non-root uid it was
    started as: only root can change them, so it refuses with exit 2 and
    a message naming the flag or variable, rather than ignore it."""
    args, env = ["--ip-ranges", readable_allowlist], None
    if how == "flag":
        args += ["--user", "1000:1001"]
    else:
        env = {"RUN_AS": "1000:1001"}
    with ProbeClients() as probes:
        proxy, rc = run_until_exit(proxy_factory, nonroot_wrapper(AMBIENT),
                                   *args, env=env)
    assert rc == USAGE, f"exit {rc}: {proxy.log_text()}"
    errors = proxy.named("config_error")
    assert len(errors) == 1, proxy.log_text()
    msg = errors[0]["error"]
    assert msg.startswith("--user 1000:1001" if how == "flag"
                          else "RUN_AS 1000:1001"), msg
    assert "--user" in msg and f"uid {NONROOT}" in msg, msg
    for event in ("listening", "sandbox_ready", "conn_open"):
        assert proxy.named(event) == [], proxy.log_text()
    assert probes.received == []


def test_non_root_start_accepts_a_user_it_already_has(dns, ses, proxy_factory,
                                                      readable_allowlist):
    proxy = start_under(proxy_factory, nonroot_wrapper(AMBIENT),
                        "--ip-ranges", readable_allowlist,
                        "--user", f"{NONROOT}:{NONROOT}")
    assert_ids(proxy.pid, NONROOT, NONROOT)
    assert caps(proc_status(proxy.pid))["CapEff"] == 0
    assert greeting() == SES_GREETING


# --------------------------------------------------------------------------
# Descriptors inherited from the launcher (`7</etc/shadow`)
# --------------------------------------------------------------------------

INHERITED_FDS = (7, 200)
OWN_KINDS = ("socket", "pipe", "anon_inode")
NR_CLOSE_RANGE = 436    # the same on x86_64 and aarch64

# Opens argv[1] read-only on each descriptor of argv[2] (comma list, left
# open across execve), then execs argv[3:].
_INHERIT = ("import os, sys\n"
            "fd = os.open(sys.argv[1], os.O_RDONLY)\n"
            "for n in sys.argv[2].split(','):\n"
            "    os.dup2(fd, int(n))\n"
            "os.close(fd)\n"
            "os.execv(sys.argv[3], sys.argv[3:])\n")


@pytest.fixture
def secret_file(tmp_path):
    """A root-owned file of mode 0600, as /etc/shadow is."""
    path = tmp_path / "shadow"
    path.write_text("root:$6$not-for-the-relay:19000:0:99999:7:::\n")
    path.chmod(0o600)
    return path


def inherit_prefix(path, fds=INHERITED_FDS):
    return [SYSTEM_PYTHON, "-c", _INHERIT, str(path),
            ",".join(str(fd) for fd in fds)]


def assert_only_own_descriptors(pid, secret):
    """0, 1 and 2, and above them only what the relay opens itself
    (sockets, pipes, epoll); no descriptor of the inherited file."""
    st = os.stat(secret)
    for fd, target in open_files(pid).items():
        try:
            fst = os.stat(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue  # closed meanwhile
        assert (fst.st_dev, fst.st_ino) != (st.st_dev, st.st_ino), \
            f"{pid}: fd {fd} is the inherited {secret}"
        if fd > 2:
            assert target.split(":", 1)[0] in OWN_KINDS, \
                f"{pid}: fd {fd} -> {target}"


@MODES
def test_inherited_descriptors_closed(dns, ses, proxy_factory, secret_file,
                                      pid1):
    """Started as root with a root-only file open on fds 7 and 200: the
    relay, at uid 65534 and sandboxed, holds neither."""
    proxy = start_under(proxy_factory, inherit_prefix(secret_file), pid1=pid1)
    assert_ids(proxy.pid, NOBODY, NOBODY)
    assert_sandboxed(proxy.pid)
    assert_only_own_descriptors(proxy.pid, secret_file)
    assert greeting() == SES_GREETING


def test_inherited_descriptors_closed_in_every_worker(dns, ses, proxy_factory,
                                                      secret_file):
    """--workers 2: neither the supervisor nor a worker holds them."""
    proxy = start_under(proxy_factory, inherit_prefix(secret_file),
                        "--workers", "2")
    proxy.wait_count("upstream_resolved", 2, timeout=20)
    kids = wait_for(lambda: proxy._children(proxy.pid) if
                    len(proxy._children(proxy.pid)) >= 2 else None,
                    timeout=20, what="2 workers")
    for pid in [proxy.pid, *kids]:
        assert_only_own_descriptors(pid, secret_file)
    assert greeting() == SES_GREETING


def test_closed_stdin_gets_dev_null(dns, ses, proxy_factory):
    """Started with fd 0 closed: /dev/null takes it, so the first socket
    the relay opens cannot become its stdin (nor, for 1 and 2, its log)."""
    proxy = start_under(proxy_factory, ["sh", "-c", 'exec "$0" "$@" 0<&-'])
    assert open_files(proxy.pid)[0] == "/dev/null", open_files(proxy.pid)
    assert greeting() == SES_GREETING


def test_file_on_stdin_is_replaced_by_dev_null(dns, ses, proxy_factory,
                                              secret_file):
    """Started as root with a root-only file as stdin (0<secret): the
    relay never reads stdin, so the file is not kept where the splice row
    could move it out."""
    proxy = start_under(proxy_factory, ["sh", "-c",
                                        f'exec "$0" "$@" 0<{secret_file}'])
    assert_sandboxed(proxy.pid)
    assert open_files(proxy.pid)[0] == "/dev/null", open_files(proxy.pid)
    assert_only_own_descriptors(proxy.pid, secret_file)
    assert greeting() == SES_GREETING


def test_closed_stdin_without_dev_null_stops_startup(dns, ses, proxy_factory):
    """fd 0 closed and no /dev/null (an empty /dev): the relay cannot keep
    its standard descriptors apart from its sockets, so it exits 1."""
    hide_dev = ["unshare", "--mount", "sh", "-c",
                'mount -t tmpfs none /dev && exec "$0" "$@" 0<&-']
    with ProbeClients() as probes:
        proxy, rc = run_until_exit(proxy_factory, hide_dev)
    assert rc == RUNTIME, f"exit {rc}: {proxy.log_text()}"
    failed = proxy.named("startup_failed")
    assert len(failed) == 1 and "/dev/null" in failed[0]["error"], \
        proxy.log_text()
    assert proxy.named("listening") == [] and probes.received == []


# close_range denied (as a kernel before 5.9, or a runtime's seccomp
# profile, would): the fallback reads /proc/self/fd; with /proc hidden
# too, it closes every number up to the RLIMIT_NOFILE soft limit.
HIDE_PROC = ["unshare", "--mount", "sh", "-c",
             'mount -t tmpfs none /proc && exec "$0" "$@"']


@pytest.mark.parametrize("hide_proc", [False, pytest.param(
    True, marks=pytest.mark.skipif(SANITIZER, reason="the sanitizer "
                                   "runtime needs /proc itself"))],
    ids=["proc-fd", "rlimit-scan"])
def test_inherited_descriptors_closed_without_close_range(
        dns, ses, proxy_factory, secret_file, hide_proc):
    prefix = [*seccomp_errno_prefix(errno.ENOSYS, NR_CLOSE_RANGE),
              *inherit_prefix(secret_file)]
    if hide_proc:
        prefix = HIDE_PROC + prefix
    proxy = start_under(proxy_factory, prefix)
    assert_sandboxed(proxy.pid)
    assert_only_own_descriptors(proxy.pid, secret_file)
    assert greeting() == SES_GREETING


# --------------------------------------------------------------------------
# --user / RUN_AS and --landlock / LANDLOCK values
# --------------------------------------------------------------------------

BAD_USERS = ["0:0", "root", "65534", "a:b", "0:65534", "65534:0",
             "65534:65534:1", "-1:-1", "65534:", ":65534", " 65534:65534",
             "nobody:nogroup", "4294967296:1", "0x10:0x10"]


def assert_usage_error(result, *names):
    rc, out, err = result
    assert rc == USAGE, f"exit {rc}\nstdout: {out}\nstderr: {err[-2000:]}"
    assert any(n in err for n in names), f"no mention of {names}: {err!r}"
    assert "listening" not in err and "sandbox_ready" not in err


@pytest.mark.parametrize("value", BAD_USERS)
def test_bad_user_flag_refused(dns, run_proxy, value):
    assert_usage_error(run_proxy("--user", value), "--user")


@pytest.mark.parametrize("value", BAD_USERS)
def test_bad_run_as_refused(dns, run_proxy, value):
    assert_usage_error(run_proxy(env={"RUN_AS": value}), "RUN_AS")


@pytest.mark.parametrize("value", ["off", "Required", "best_effort", "1", ""])
def test_bad_landlock_mode_refused(dns, run_proxy, value):
    assert_usage_error(run_proxy("--landlock", value), "--landlock")
    assert_usage_error(run_proxy(env={"LANDLOCK": value or "none"}), "LANDLOCK")


# --------------------------------------------------------------------------
# PRV-06 rlimits, PRV-07 no file access
# --------------------------------------------------------------------------

@MODES
def test_prv06_rlimits(dns, ses, proxy_factory, pid1):
    """Started with a soft NOFILE of 64 (hard 4096): the proxy raises it to
    2 x max_conns + its reserve, and sets CORE and NPROC to 0."""
    proxy = start_under(proxy_factory, ["prlimit", "--nofile=64:4096"],
                        "--max-conns", "100", pid1=pid1)
    limits = proc_limits(proxy.pid)
    assert limits["Max core file size"] == (0, 0)
    assert limits["Max processes"] == (0, 0)
    soft, hard = limits["Max open files"]
    assert soft >= 2 * 100 + 32 and hard == 4096, limits["Max open files"]
    assert proxy.named("max_conns_lowered") == []
    assert greeting() == SES_GREETING


def test_prv06_nofile_hard_limit_too_low_lowers_max_conns(dns, ses, proxy_factory):
    proxy = start_under(proxy_factory, ["prlimit", "--nofile=64:100"],
                        "--max-conns", "100")
    lowered = proxy.named("max_conns_lowered")
    assert len(lowered) == 1, proxy.log_text()
    assert int(lowered[0]["nofile"]) == 100
    assert 1 <= int(lowered[0]["max_conns"]) <= (100 - 32) // 2
    assert proc_limits(proxy.pid)["Max open files"] == (100, 100)
    assert greeting() == SES_GREETING


@pytest.mark.skipif(SANITIZER, reason="Landlock is compiled out of this build")
@MODES
def test_prv07_no_file_access_after_startup(dns, ses, proxy_factory, pid1):
    """Without a test hook the write itself cannot be tried; what can be
    seen from outside: Landlock denies every file right, NO_NEW_PRIVS is
    set, and no descriptor of a file is left open after startup."""
    proxy = proxy_factory(pid1=pid1)
    ll = proxy.named("landlock")
    assert len(ll) == 1 and ll[0]["fs"] == "denied", proxy.log_text()
    assert proc_status(proxy.pid)["NoNewPrivs"] == "1"
    assert greeting() == SES_GREETING
    files = {fd: t for fd, t in open_files(proxy.pid).items()
             if t.startswith("/") and t != "/dev/null"}
    assert files == {}, f"files still open: {files}"
