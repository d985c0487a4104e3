"""The first code a sandboxed Python process runs (`python -I sandbox_boot.py LIMITS_JSON`).

It confines the process, then runs the code it reads from stdin. It imports nothing of ours: it is
started by path, in a process of its own, and must stay small enough to audit at a glance.

Confinement, in order (what each layer achieved is the first JSON line it writes to the report pipe; an
exception the code raised is the second):

1. resource limits: CPU seconds, address space, size of any file written, open files, no core dumps;
2. Landlock (Linux 5.13+): the file system is read-only but for the working directory and
   `/dev/null`, and `/proc` cannot be read (no other process's environment or memory);
3. seccomp: no new process (fork, vfork, clone without CLONE_THREAD), no socket of any family, no
   ptrace, no reading or writing another process's memory, no signal to another process.
"""

import errno
import json
import os
import resource
import sys

CLONE_THREAD = 0x00010000


def limit(limits: dict) -> None:
    cpu, memory, file_bytes = limits["cpu_s"], limits["memory_mib"] << 20, limits["file_mib"] << 20
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_FSIZE, (file_bytes, file_bytes))
    resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def landlock(workdir: str) -> str:
    from landlock.plumbing import FSAccess, landlock_abi_version
    from landlock.porcelain import Ruleset

    ruleset = Ruleset()
    read = FSAccess.EXECUTE | FSAccess.READ_FILE | FSAccess.READ_DIR
    for entry in os.scandir("/"):
        if entry.name != "proc" and entry.is_dir(follow_symlinks=False):
            ruleset.allow(entry.path, rules=read)
        elif entry.name != "proc":  # a top-level symlink (/bin -> usr/bin) or file: what it names
            target = os.path.realpath(entry.path)
            if os.path.isdir(target):
                ruleset.allow(target, rules=read)
    ruleset.allow("/dev/null", rules=FSAccess.READ_FILE | FSAccess.WRITE_FILE)
    ruleset.allow(workdir)
    ruleset.apply()
    return f"landlock (ABI {landlock_abi_version()}): read-only but the working directory, no /proc"


def seccomp() -> str:
    import pyseccomp as sc

    deny = sc.ERRNO(errno.EPERM)
    rules = sc.SyscallFilter(defaction=sc.ALLOW)
    for call in (
        "fork",
        "vfork",
        "socket",
        "socketpair",
        "ptrace",
        "process_vm_readv",
        "process_vm_writev",
        "tkill",
        "io_uring_setup",
        "unshare",
        "setns",
        "mount",
        "pidfd_open",
        "pidfd_send_signal",
    ):
        try:
            rules.add_rule(deny, call)
        except (OSError, ValueError):  # not a system call on this architecture
            pass
    rules.add_rule(deny, "clone", sc.Arg(0, sc.MASKED_EQ, CLONE_THREAD, 0))  # a process, not a thread
    rules.add_rule(sc.ERRNO(errno.ENOSYS), "clone3")  # flags unreadable: the C library falls back to clone
    pid = os.getpid()
    rules.add_rule(deny, "kill", sc.Arg(0, sc.NE, pid))
    rules.add_rule(deny, "tgkill", sc.Arg(0, sc.NE, pid))
    rules.load()
    return "seccomp: no new process, socket, ptrace, or signal to another process"


def main() -> None:
    limits = json.loads(sys.argv[1])
    report = os.fdopen(limits["report_fd"], "w")
    layers: dict[str, str] = {}
    limit(limits)
    layers["limits"] = "rlimit: cpu {cpu_s} s, memory {memory_mib} MiB, files {file_mib} MiB".format(**limits)
    for name, confine in (("filesystem", lambda: landlock(os.getcwd())), ("system calls", seccomp)):
        try:
            layers[name] = confine()
        except Exception as exc:  # noqa: BLE001 - the layer is missing here: say so and go on
            layers[name] = f"unavailable: {type(exc).__name__}: {exc}"
    report.write(json.dumps(layers) + "\n")
    report.flush()
    code = sys.stdin.read()
    sys.stdin = open(os.devnull)  # noqa: SIM115 - the code may read stdin: it is empty
    sys.argv = ["<python>"]
    namespace = {"__name__": "__main__", "__builtins__": __builtins__}
    try:
        exec(compile(code, "<python>", "exec"), namespace)  # noqa: S102 - running it is the point
    except SystemExit:
        raise
    except BaseException as exc:  # noqa: BLE001
        import traceback

        traceback.print_exc()
        for stream in (sys.stdout, sys.stderr):  # what the code printed before it failed is kept
            try:
                stream.flush()
            except OSError:  # a full file (the size limit): what fitted is already there
                pass
        said = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        report.write(json.dumps({"exception": said[:2000]}) + "\n")
        report.flush()
        os._exit(1)


if __name__ == "__main__":
    main()
