"""Helpers for the sandbox and privilege tests (test_sandbox.py,
test_privilege.py): /proc readings, a way to start the proxy under an extra
exec-wrapper, and a tiny seccomp exec-wrapper.

The wrapper goes *after* the harness's mount binds and *before* the proxy:

    unshare --mount sh -c 'mount --bind ...; exec WRAPPER... proxy ARGS'

so the wrapper (setpriv, prlimit, or this file run as a script) may drop
the capabilities that `unshare --mount` needs. Every wrapper execs, so the
PID the harness finds is still the proxy's own.

Run as a script, this file is that seccomp exec-wrapper (stdlib only, run
by /usr/bin/python3; it must print nothing on success, since whatever it
writes to stderr lands in the proxy's log stream):

    sandboxlib.py errno NR ERRNO -- PROG ARGS   syscall NR fails with ERRNO
    sandboxlib.py allow -- PROG ARGS            an allow-all filter (a
                                                runtime profile to stack on)
    sandboxlib.py landlock-abi N -- PROG ARGS   the Landlock version query
                                                (landlock_create_ruleset with
                                                flags=VERSION) returns N: a
                                                seccomp user-notification
                                                supervisor answers it

The wrapper installs its filter without NO_NEW_PRIVS (it runs as root with
CAP_SYS_ADMIN), so the proxy's own PR_SET_NO_NEW_PRIVS is still what the
tests observe.
"""

import contextlib
import ctypes
import os
import platform
import struct
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SYSTEM_PYTHON = "/usr/bin/python3"

SANITIZER = os.environ.get("SES_IT_SANITIZER") == "1"

NR_LANDLOCK_CREATE_RULESET = 444     # same number on x86_64 and aarch64
LANDLOCK_CREATE_RULESET_VERSION = 1

# --------------------------------------------------------------------------
# /proc readings
# --------------------------------------------------------------------------


def proc_status(pid, task=None):
    """/proc/PID/status (or /proc/PID/task/TID/status) as {field: text}."""
    path = f"/proc/{pid}/status" if task is None else f"/proc/{pid}/task/{task}/status"
    out = {}
    for line in Path(path).read_text().splitlines():
        key, _, value = line.partition(":")
        out[key] = value.strip()
    return out


def tasks(pid):
    return sorted(int(t) for t in os.listdir(f"/proc/{pid}/task"))


def ids(status, field):
    """The four ids of a Uid: or Gid: line (real, effective, saved, fs)."""
    return [int(v) for v in status[field].split()]


def groups(status):
    return status["Groups"].split()


def caps(status):
    """{CapInh: int, CapPrm: ..., CapEff: ..., CapBnd: ..., CapAmb: ...}."""
    return {k: int(status[k], 16) for k in
            ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")}


def proc_limits(pid):
    """/proc/PID/limits as {"Max open files": (soft, hard)}; "unlimited"
    is kept as a string."""
    lines = Path(f"/proc/{pid}/limits").read_text().splitlines()
    out = {}
    for line in lines[1:]:
        name = line[:26].strip()
        cols = line[26:].split()
        conv = [c if c == "unlimited" else int(c) for c in cols[:2]]
        out[name] = tuple(conv)
    return out


def open_files(pid):
    """Targets of /proc/PID/fd/* (socket:[..], pipe:[..], anon_inode:..,
    or a path)."""
    d = f"/proc/{pid}/fd"
    out = {}
    for fd in os.listdir(d):
        try:
            out[int(fd)] = os.readlink(f"{d}/{fd}")
        except OSError:
            pass
    return out


def kernel_landlock_abi():
    """The Landlock ABI this kernel reports to the test process, or 0."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    abi = libc.syscall(ctypes.c_long(NR_LANDLOCK_CREATE_RULESET),
                       ctypes.c_void_p(0), ctypes.c_size_t(0),
                       ctypes.c_uint32(LANDLOCK_CREATE_RULESET_VERSION))
    return abi if abi > 0 else 0


# --------------------------------------------------------------------------
# Starting the proxy under an exec-wrapper
# --------------------------------------------------------------------------


@contextlib.contextmanager
def exec_prefix(prefix):
    """Within the block, the harness starts the proxy as
    `PREFIX... proxy ARGS` after its mount binds (proxyproc.wrapped_command
    is swapped for the block's duration only; no harness file changes)."""
    import proxyproc

    original = proxyproc.wrapped_command
    prefix = [str(p) for p in prefix or ()]

    def wrapped(binary, hosts, resolv, args, pid1=False):
        if not prefix:
            return original(binary, hosts, resolv, args, pid1)
        return original(prefix[0], hosts, resolv,
                        [*prefix[1:], str(binary), *args], pid1)

    proxyproc.wrapped_command = wrapped
    try:
        yield
    finally:
        proxyproc.wrapped_command = original


def seccomp_errno_prefix(errno_value, nr=NR_LANDLOCK_CREATE_RULESET):
    return [SYSTEM_PYTHON, str(HERE / "sandboxlib.py"), "errno", str(nr),
            str(errno_value), "--"]


def seccomp_allow_prefix():
    return [SYSTEM_PYTHON, str(HERE / "sandboxlib.py"), "allow", "--"]


def landlock_abi_prefix(abi):
    return [SYSTEM_PYTHON, str(HERE / "sandboxlib.py"), "landlock-abi",
            str(abi), "--"]


def start_under(proxy_factory, prefix, *args, **kw):
    """proxy_factory(*args, **kw) with the proxy exec'd through prefix."""
    with exec_prefix(prefix):
        return proxy_factory(*args, **kw)


def run_until_exit(proxy_factory, prefix, *args, timeout=5, **kw):
    """Start a proxy that is expected to stop by itself during startup.
    Returns (proxy, returncode); returncode is None if it kept running
    (teardown then stops it)."""
    with exec_prefix(prefix):
        proxy = proxy_factory(*args, wait_listening=False,
                              wait_resolved=False, **kw)
    rc = proxy.wait(timeout)
    if rc is not None:
        proxy.stopped_on_purpose = True
    return proxy, rc


class ProbeClients:
    """Background clients that keep connecting to the proxy's address while
    it starts; every byte any of them receives is kept in .received. A
    proxy that never serves gives none (at most a connection that the
    kernel completed from the backlog, then reset at exit)."""

    def __init__(self, addr=("127.0.0.1", 1587)):
        import threading
        self.addr = addr
        self.received = []
        self.connected = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        import socket
        import time
        while not self._stop.is_set():
            try:
                s = socket.create_connection(self.addr, timeout=0.2)
            except OSError:
                time.sleep(0.005)
                continue
            self.connected += 1
            with s:
                s.settimeout(0.5)
                try:
                    data = s.recv(4096)
                except OSError:
                    data = b""
                if data:
                    self.received.append(data)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(5)
        return False


# --------------------------------------------------------------------------
# The seccomp exec-wrapper (script mode). Raw classic BPF through ctypes:
# no package beyond the Python standard library.
# --------------------------------------------------------------------------

_BPF_LD_W_ABS = 0x20
_BPF_JEQ_K = 0x15
_BPF_RET_K = 0x06
_RET_ALLOW = 0x7FFF0000
_RET_ERRNO = 0x00050000
_RET_USER_NOTIF = 0x7FC00000
_OFF_NR, _OFF_ARCH = 0, 4
_OFF_ARG2_LO = 16 + 2 * 8          # args[2], low 32 bits (little endian)

_ARCH = {"x86_64": (0xC000003E, 317), "aarch64": (0xC00000B7, 277)}

_SECCOMP_SET_MODE_FILTER = 1
_SECCOMP_FILTER_FLAG_NEW_LISTENER = 1 << 3
_NOTIF_SIZE, _RESP_SIZE = 80, 24    # struct seccomp_notif, _notif_resp


def _iowr(nr, size):
    return (3 << 30) | (size << 16) | (ord("!") << 8) | nr


_IOCTL_NOTIF_RECV = _iowr(0, _NOTIF_SIZE)
_IOCTL_NOTIF_SEND = _iowr(1, _RESP_SIZE)


class _SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8),
                ("jf", ctypes.c_uint8), ("k", ctypes.c_uint32)]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_SockFilter))]


def _program(mode, arg):
    arch = _ARCH[platform.machine()][0]
    ins = [(_BPF_LD_W_ABS, 0, 0, _OFF_ARCH)]
    if mode == "allow":
        return [(_BPF_RET_K, 0, 0, _RET_ALLOW)]
    if mode == "errno":
        nr, err = arg
        ins += [(_BPF_JEQ_K, 0, 3, arch),                  # other arch: allow
                (_BPF_LD_W_ABS, 0, 0, _OFF_NR),
                (_BPF_JEQ_K, 0, 1, nr),
                (_BPF_RET_K, 0, 0, _RET_ERRNO | (err & 0xFFFF)),
                (_BPF_RET_K, 0, 0, _RET_ALLOW)]
        return ins
    if mode == "notify":
        ins += [(_BPF_JEQ_K, 0, 5, arch),
                (_BPF_LD_W_ABS, 0, 0, _OFF_NR),
                (_BPF_JEQ_K, 0, 3, NR_LANDLOCK_CREATE_RULESET),
                (_BPF_LD_W_ABS, 0, 0, _OFF_ARG2_LO),
                (_BPF_JEQ_K, 0, 1, LANDLOCK_CREATE_RULESET_VERSION),
                (_BPF_RET_K, 0, 0, _RET_USER_NOTIF),
                (_BPF_RET_K, 0, 0, _RET_ALLOW)]
        return ins
    raise ValueError(mode)


def _install(program, listener=False):
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    arr = (_SockFilter * len(program))(*[_SockFilter(*i) for i in program])
    prog = _SockFprog(len(program), arr)
    flags = _SECCOMP_FILTER_FLAG_NEW_LISTENER if listener else 0
    rv = libc.syscall(ctypes.c_long(_ARCH[platform.machine()][1]),
                      ctypes.c_ulong(_SECCOMP_SET_MODE_FILTER),
                      ctypes.c_ulong(flags), ctypes.byref(prog))
    if rv < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"seccomp(SET_MODE_FILTER): {os.strerror(err)}")
    return rv


def _supervise(fd, abi):
    """Answer every notified version query with abi until the proxy (our
    parent after the fork) is gone."""
    import fcntl
    import select

    null = os.open("/dev/null", os.O_RDWR)
    for std in (0, 1, 2):
        os.dup2(null, std)
    parent = os.getppid()
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    while os.getppid() == parent:
        if not poller.poll(200):
            continue
        buf = bytearray(_NOTIF_SIZE)
        try:
            fcntl.ioctl(fd, _IOCTL_NOTIF_RECV, buf, True)
        except OSError:
            continue
        notif_id = struct.unpack_from("<Q", buf, 0)[0]
        resp = bytearray(struct.pack("<QqiI", notif_id, abi, 0, 0))
        try:
            fcntl.ioctl(fd, _IOCTL_NOTIF_SEND, resp, True)
        except OSError:
            pass  # the task died meanwhile
    os._exit(0)


def _main(argv):
    sep = argv.index("--")
    mode, opts, prog = argv[0], argv[1:sep], argv[sep + 1:]
    if mode == "allow":
        _install(_program("allow", None))
    elif mode == "errno":
        _install(_program("errno", (int(opts[0]), int(opts[1]))))
    elif mode == "landlock-abi":
        fd = _install(_program("notify", None), listener=True)
        if os.fork() == 0:
            _supervise(fd, int(opts[0]))
        os.close(fd)
    else:
        raise SystemExit(f"sandboxlib.py: unknown mode {mode}")
    os.execv(prog[0], prog)


if __name__ == "__main__":
    _main(sys.argv[1:])
