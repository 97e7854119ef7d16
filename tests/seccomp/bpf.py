"""A classic BPF interpreter for seccomp filters, so that a filter made for
another architecture (aarch64) can be checked on this x86_64 machine,
where the kernel cannot run it. test_bpf_eval.py proves it against the
kernel: the x86_64 filter's verdicts here must equal the probe's.

The program is read from the C source the generator writes and the binary
embeds (build/seccomp_bpf.c, build/arm64/seccomp_bpf.c); the input is
struct seccomp_data (linux/seccomp.h), little-endian:

    int nr; __u32 arch; __u64 instruction_pointer; __u64 args[6];
"""

import re
import struct
from pathlib import Path

# linux/audit.h
AUDIT_ARCH_X86_64 = 0xC000003E
AUDIT_ARCH_I386 = 0x40000003
AUDIT_ARCH_AARCH64 = 0xC00000B7
AUDIT_ARCH_ARM = 0x40000028

# linux/seccomp.h: the action is the high 16 bits of the return value.
RET_ACTION_FULL = 0xFFFF0000
RET_KILL_PROCESS = 0x80000000
RET_KILL_THREAD = 0x00000000
RET_ALLOW = 0x7FFF0000

SECCOMP_DATA_SIZE = 64
MASK32 = 0xFFFFFFFF

# linux/bpf_common.h
BPF_LD, BPF_LDX, BPF_ST, BPF_STX, BPF_ALU, BPF_JMP, BPF_RET, BPF_MISC = range(8)
BPF_W, BPF_IMM, BPF_ABS, BPF_MEM = 0x00, 0x00, 0x20, 0x60
BPF_K, BPF_X, BPF_A = 0x00, 0x08, 0x10
BPF_MEMWORDS = 16

_ALU = {
    0x00: lambda a, b: a + b, 0x10: lambda a, b: a - b,
    0x20: lambda a, b: a * b, 0x30: lambda a, b: a // b,
    0x40: lambda a, b: a | b, 0x50: lambda a, b: a & b,
    0x60: lambda a, b: a << b, 0x70: lambda a, b: a >> b,
    0x90: lambda a, b: a % b, 0xA0: lambda a, b: a ^ b,
}
_JMP = {
    0x10: lambda a, b: a == b, 0x20: lambda a, b: a > b,
    0x30: lambda a, b: a >= b, 0x40: lambda a, b: (a & b) != 0,
}


class BpfError(Exception):
    """The program is one the kernel would refuse or could not finish."""


def load_filters(path):
    """{C array name: [(code, jt, jf, k), ...]} from a generated
    seccomp_bpf.c."""
    text = Path(path).read_text()
    out = {}
    for m in re.finditer(r"const struct sock_filter (\w+)\[\] = \{(.*?)\};",
                         text, re.S):
        out[m.group(1)] = [tuple(int(x, 0) for x in ins) for ins in re.findall(
            r"\{\s*(0x[0-9a-f]+),\s*(\d+),\s*(\d+),\s*(0x[0-9a-f]+)\s*\}",
            m.group(2))]
    if not out:
        raise BpfError(f"{path}: no struct sock_filter array")
    return out


def seccomp_data(nr, arch, args, ip=0):
    """The 64 bytes the filter reads for one call."""
    args = list(args) + [0] * (6 - len(args))
    return struct.pack("<iIQ6Q", nr, arch, ip,
                       *[a & 0xFFFFFFFFFFFFFFFF for a in args])


def run(prog, data):
    """The filter's 32-bit return value for `data` (seccomp_data bytes).
    Only forward jumps exist in classic BPF, so the loop ends."""
    a = x = 0
    mem = [0] * BPF_MEMWORDS
    pc = 0
    while pc < len(prog):
        code, jt, jf, k = prog[pc]
        cls = code & 0x07
        pc += 1
        if cls == BPF_LD:
            mode = code & 0xE0
            if mode == BPF_ABS and code & 0x18 == BPF_W:
                if k % 4 or k + 4 > SECCOMP_DATA_SIZE:
                    raise BpfError(f"load at {k}")
                a = struct.unpack_from("<I", data, k)[0]
            elif mode == BPF_IMM:
                a = k
            elif mode == BPF_MEM and k < BPF_MEMWORDS:
                a = mem[k]
            else:
                raise BpfError(f"ld {code:#x}")
        elif cls == BPF_LDX:
            mode = code & 0xE0
            if mode == BPF_IMM:
                x = k
            elif mode == BPF_MEM and k < BPF_MEMWORDS:
                x = mem[k]
            else:
                raise BpfError(f"ldx {code:#x}")
        elif cls in (BPF_ST, BPF_STX):
            if k >= BPF_MEMWORDS:
                raise BpfError(f"st M[{k}]")
            mem[k] = a if cls == BPF_ST else x
        elif cls == BPF_ALU:
            op = code & 0xF0
            src = x if code & BPF_X else k
            if op == 0x80:              # BPF_NEG
                a = -a & MASK32
            elif op in _ALU:
                if op in (0x30, 0x90) and src == 0:
                    raise BpfError("division by zero")
                a = _ALU[op](a, src) & MASK32
            else:
                raise BpfError(f"alu {code:#x}")
        elif cls == BPF_JMP:
            op = code & 0xF0
            if op == 0x00:              # BPF_JA
                pc += k
            elif op in _JMP:
                pc += jt if _JMP[op](a, x if code & BPF_X else k) else jf
            else:
                raise BpfError(f"jmp {code:#x}")
        elif cls == BPF_RET:
            rval = code & 0x18
            if rval == BPF_K:
                return k
            if rval == BPF_A:
                return a
            raise BpfError(f"ret {code:#x}")
        else:                           # BPF_MISC: TAX, TXA
            if code & 0xF8 == 0x00:
                x = a
            elif code & 0xF8 == 0x80:
                a = x
            else:
                raise BpfError(f"misc {code:#x}")
    raise BpfError("fell off the end of the program")


def verdict(prog, nr, arch, args):
    """"allow", "kill" (process or thread) or the other action's name."""
    action = run(prog, seccomp_data(nr, arch, args)) & RET_ACTION_FULL
    if action == RET_ALLOW:
        return "allow"
    if action in (RET_KILL_PROCESS, RET_KILL_THREAD):
        return "kill"
    return f"action {action:#x}"


def musl_syscalls(arch_triplet):
    """{name: number} of musl's bits/syscall.h for `arch_triplet`
    (aarch64-linux-musl): the numbers the musl binary really uses."""
    path = Path("/usr/include") / arch_triplet / "bits" / "syscall.h"
    nums = {}
    for m in re.finditer(r"^#define __NR_(\w+)\s+(\d+)\s*$",
                         path.read_text(), re.M):
        nums[m.group(1)] = int(m.group(2))
    return nums
