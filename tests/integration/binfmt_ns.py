"""Run a command where AArch64 binaries execute under qemu-user, without touching this
machine's own binfmt_misc: ``python binfmt_ns.py QEMU-BINFMT-P ARGV...`` (as root).

The command gets a new user namespace (every uid and gid mapped to itself, so users and
file ownership are as outside) and a new mount namespace owned by it, with a binfmt_misc
instance of its own (Linux ≥ 6.7 gives each user namespace one) in which qemu-aarch64 is
registered with the F flag (the interpreter is opened now, so it works in any mount
namespace) and P (argv[0] preserved, as Debian's qemu-user-binfmt registers it).
Everything the command starts — sshd, the sessions of its users, what they exec — runs
AArch64 ELF files through that qemu; nothing outside sees the registration.
The command dies with this process (PR_SET_PDEATHSIG), so killing this one stops it.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

CLONE_NEWNS, CLONE_NEWUSER = 0x00020000, 0x10000000
PR_SET_PDEATHSIG = 1
MAGIC = (rb"\x7f\x45\x4c\x46\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00"
         rb"\xb7\x00")
MASK = (rb"\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff"
        rb"\xff\xff")


def _check(rc: int, what: str) -> None:
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _child(qemu: str, argv: list[str], ready_w: int, go_r: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    _check(libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "prctl")
    _check(libc.unshare(CLONE_NEWUSER | CLONE_NEWNS), "unshare")
    os.write(ready_w, b"1")
    os.read(go_r, 1)  # the parent has written our uid/gid maps
    os.setgid(0)
    os.setuid(0)
    _check(libc.mount(b"binfmt_misc", b"/proc/sys/fs/binfmt_misc", b"binfmt_misc", 0, None),
           "mount binfmt_misc")
    with open("/proc/sys/fs/binfmt_misc/register", "wb") as f:
        # P: argv[0] is kept (busybox picks its applet by it), which qemu learns from
        # being called as *-binfmt-P (Debian's /usr/libexec/qemu-binfmt/aarch64-binfmt-P)
        f.write(b":qemu-aarch64:M::" + MAGIC + b":" + MASK + b":" + qemu.encode() + b":FP")
    os.execvp(argv[0], argv)


def main() -> int:
    qemu, argv = sys.argv[1], sys.argv[2:]
    ready_r, ready_w = os.pipe()
    go_r, go_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            _child(qemu, argv, ready_w, go_r)
        except BaseException as exc:
            print(f"binfmt_ns: {exc}", file=sys.stderr, flush=True)
        os._exit(127)
    if os.read(ready_r, 1) != b"1":
        os.waitpid(pid, 0)
        return 127
    for name in ("uid_map", "gid_map"):
        with open(f"/proc/{pid}/{name}", "w") as f:
            f.write("0 0 4294967295\n")
    os.write(go_w, b"1")
    signal.signal(signal.SIGTERM, lambda *_: os._exit(143))  # the child follows (PDEATHSIG)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


if __name__ == "__main__":
    sys.exit(main())
