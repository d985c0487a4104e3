"""The first code a sandboxed Python process runs (`python -I sandbox_boot.py SETTINGS_JSON`), inside the
namespaces bubblewrap made for it (see `python_tool.py`), with the code to run on stdin.

It imports nothing of ours: it is started by path, in a process of its own, and must stay small enough
to audit at a glance. In order:

1. **Working directory.** A tmpfs of `dir_mib` MiB and `dir_files` files in all is mounted on it (the
   one writable place; bubblewrap made the rest of the tree read-only).
2. **User.** It empties the capability bounding set. Started as root (bubblewrap then keeps only
   CAP_SYS_ADMIN, CAP_SETPCAP, CAP_SETUID and CAP_SETGID), it leaves every group and becomes a uid and
   gid of its own (`uid`, drawn by the caller); started as anyone else, it is already that user's uid,
   65534 in a user namespace of its own.
   Then every capability set is cleared, `no_new_privs` is set, and all of it is checked.
3. **Report.** The confinement (each layer and what it achieved) is the first JSON line written to the
   report descriptor.
4. **Warden and code.** It forks. The child closes the report descriptor, sets the resource limits
   (`tasks` threads: RLIMIT_NPROC counts the tasks of a user, and this user is the sandbox's alone),
   loads the seccomp allowlist (every system call it does not name fails with EPERM) and runs the code.
   The parent, the warden, never runs the caller's code: it waits for the child and writes how it ended
   (exit status or signal, as the kernel tells it) as the second line, with the exception the child
   says it raised only when the child exited with status 1 (what raising means here). Nothing the code
   does can write to the report descriptor or stop the warden (no signal to another process, no ptrace).

A layer that cannot be applied: the first line is `{"refused": "..."}` naming it and how to get it, and
nothing runs. `PDR_SANDBOX_BREAK=LAYER` (tests only) makes that layer fail here for real (its module
cannot be imported), to show that the sandbox then refuses.
"""

import json
import os
import resource
import sys

PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 22, 2
MS_NOSUID, MS_NODEV = 2, 4
PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS, PR_GET_NO_NEW_PRIVS = 24, 38, 39
CAP_VERSION_3 = 0x20080522
REFUSED = 125  # the exit status of a sandbox that ran nothing


def broken(layer: str, settings: dict) -> None:
    """The test hook: the module the layer needs cannot be imported in this process."""
    if settings.get("break") == layer:
        sys.modules["ctypes"] = None  # type: ignore[assignment]


def directory(settings: dict) -> None:
    """Mount the working directory: a tmpfs of `dir_mib` MiB and `dir_files` files in all."""
    broken("filesystem", settings)
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    here = os.getcwd()
    options = "size={dir_mib}m,nr_inodes={dir_files},mode=0777".format(**settings)
    if libc.mount(b"pdr-work", here.encode(), b"tmpfs", MS_NOSUID | MS_NODEV, options.encode()) != 0:
        raise OSError(ctypes.get_errno(), f"no tmpfs could be mounted on {here}")
    os.chdir(here)  # the new mount, not the directory under it


def user(settings: dict) -> str:
    """Become an unprivileged user with no capability and no_new_privs; say which."""
    broken("user", settings)
    import ctypes

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [
            ("effective", ctypes.c_uint32),
            ("permitted", ctypes.c_uint32),
            ("inheritable", ctypes.c_uint32),
        ]

    libc = ctypes.CDLL(None, use_errno=True)
    started_as_root = os.getuid() == 0
    cap = 0
    while libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) == 0:  # until EINVAL: past the last capability
        cap += 1
    if started_as_root:
        os.setgroups([])
        uid = settings["uid"]
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)
    header, data = Header(CAP_VERSION_3, 0), (Data * 2)()
    if libc.capset(ctypes.byref(header), data) != 0:  # every set empty
        raise OSError(ctypes.get_errno(), "capset failed")
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "no_new_privs could not be set")
    libc.capget(ctypes.byref(header), data)
    held = [d.effective | d.permitted | d.inheritable for d in data]
    if 0 in (*os.getresuid(), *os.getresgid()) or os.getgroups() or any(held):
        raise PermissionError(f"still privileged: uid {os.getresuid()}, capabilities {held}")
    if libc.prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1:
        raise PermissionError("no_new_privs is not set")
    if started_as_root:
        return f"uid {os.getuid()}, a user of its own (dropped from root), no capabilities, no_new_privs"
    return (
        f"the caller's uid (uid {os.getuid()} in a user namespace of its own), no capabilities, no_new_privs"
    )


def limit(settings: dict) -> str:
    cpu, memory, file_bytes = settings["cpu_s"], settings["memory_mib"] << 20, settings["file_mib"] << 20
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_FSIZE, (file_bytes, file_bytes))
    resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    said = "rlimit: cpu {cpu_s} s, memory {memory_mib} MiB, each file {file_mib} MiB, 64 open files"
    if settings["confine"]:  # the sandbox's user has its tasks alone: the caller's would count too
        resource.setrlimit(resource.RLIMIT_NPROC, (settings["tasks"], settings["tasks"]))
        said += ", {tasks} threads"
    return said.format(**settings)


def seccomp(settings: dict) -> str:
    """Load the allowlist the caller compiled: from here on, this process reaches no other process
    and makes no new one. It names this process by its PID, which in a new PID namespace is known."""
    broken("system calls", settings)
    import ctypes

    if os.getpid() != settings["pid"]:
        raise RuntimeError(f"the filter was built for PID {settings['pid']}, this is {os.getpid()}")

    class Program(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    code = bytes.fromhex(settings["filter"])
    buffer = ctypes.create_string_buffer(code, len(code))
    program = Program(len(code) // 8, ctypes.cast(buffer, ctypes.c_void_p))
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(program), 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "the seccomp filter could not be loaded")
    return settings["filter_says"]


def run(code: str, errors: int) -> None:
    """Run the code as `__main__`; an exception is printed, written to `errors`, and the exit status is 1."""
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
        try:
            os.write(errors, ("\n" + json.dumps({"exception": said[:2000]}) + "\n").encode())
        except OSError:
            pass
        os._exit(1)


def ended(child: int, errors: int) -> dict:
    """How the child ended, from the kernel; the exception it wrote only when it exited with status 1."""
    _, status = os.waitpid(child, 0)
    if os.WIFSIGNALED(status):
        return {"signal": os.WTERMSIG(status)}
    outcome: dict = {"exit": os.WEXITSTATUS(status)}
    if outcome["exit"] == 1:
        os.set_blocking(errors, False)
        said = b""
        try:
            while len(said) < 1 << 16 and (chunk := os.read(errors, 1 << 16)):
                said += chunk
        except BlockingIOError:  # what the child wrote before it ended is all there is
            pass
        for line in reversed(said.decode(errors="replace").splitlines()):
            try:
                value = json.loads(line)
            except ValueError:
                continue
            if isinstance(value, dict) and isinstance(value.get("exception"), str):
                outcome["exception"] = value["exception"][:2000]
                break
    return outcome


def refuse(report: int, layer: str, exc: BaseException) -> None:
    os.write(report, (json.dumps({"refused": layer, "why": f"{type(exc).__name__}: {exc}"}) + "\n").encode())
    os._exit(REFUSED)


def main() -> None:
    settings = json.loads(sys.argv[1])
    report = settings["report_fd"]
    code = sys.stdin.read()
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)  # the code reads an empty stdin, not its own source
    os.close(null)
    layers: dict = dict(settings["layers"])  # what bubblewrap set up: namespaces, file system
    if settings["confine"]:
        for name, confine in (("filesystem", directory), ("user", user)):
            try:
                layers[name] = confine(settings) or layers[name]
            except Exception as exc:  # noqa: BLE001 - a layer is missing: run nothing
                refuse(report, name, exc)
    errors_read, errors_write = os.pipe()
    ready_read, ready_write = os.pipe()
    child = os.fork()
    if child == 0:
        os.close(report)
        os.close(errors_read)
        os.close(ready_read)
        os.set_blocking(errors_write, False)  # a pipe the code filled cannot hold its exception up
        for name, confine in (("limits", limit), ("system calls", seccomp)):
            if name == "limits" or settings["confine"]:
                try:
                    layers[name] = confine(settings)
                except Exception as exc:  # noqa: BLE001
                    refuse(ready_write, name, exc)
        os.write(ready_write, json.dumps(layers).encode())
        os.close(ready_write)  # from here on, nothing this process writes reaches the report
        run(code, errors_write)
        return  # the interpreter ends as for any script: threads joined, output flushed
    os.close(errors_write)
    os.close(ready_write)
    said = b""
    while chunk := os.read(ready_read, 1 << 16):  # until the child closed it, before the code ran
        said += chunk
    confined = (
        json.loads(said) if said else {"refused": "start", "why": "the child ended before it was ready"}
    )
    os.write(report, (json.dumps(confined) + "\n").encode())
    os.write(report, (json.dumps(ended(child, errors_read)) + "\n").encode())
    os._exit(0)


if __name__ == "__main__":
    main()
