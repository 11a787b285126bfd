"""Run untrusted Python (model-written code, generated task code) in a locked-down subprocess.

Each run gets a fresh temporary directory as its working directory and home, an empty environment
(no inherited variables, so no secrets), and these limits:

- CPU time (RLIMIT_CPU) and a wall-clock timeout (the whole process group is killed);
- address space (RLIMIT_AS), file size (RLIMIT_FSIZE), open files, and process count (RLIMIT_NPROC);
- no network: a fresh network namespace with no interfaces when the runner is root, and in every
  case a preamble that makes socket creation fail;
- when the runner is root, the code runs under a fresh unprivileged uid, so it cannot write the
  caller's files, read its environment through /proc, or signal its processes, and every process
  it leaves behind (even in a new session) is found by uid and killed. Without root, it runs in its
  own session with the same limits, and its process group is killed afterwards.

    result = run_python("print(1 + 1)")
    result.ok, result.stdout, result.reason
"""
from __future__ import annotations

import contextlib
import ctypes
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass

CLONE_NEWNET = 0x40000000
UID_RANGE = (61000, 64999)  # one fresh unprivileged uid per run (no passwd entry needed)

# runs first inside the sandbox: no sockets, no subprocess escape to the network
_PREAMBLE = """
import socket as _s
def _blocked(*a, **k):
    raise OSError("network access is disabled in the sandbox")
_s.socket = _blocked
_s.create_connection = _blocked
_s.socketpair = _blocked
del _s, _blocked
"""


@dataclass
class SandboxResult:
    ok: bool  # exited 0 within the limits
    returncode: int | None
    stdout: str
    stderr: str
    reason: str  # "ok", "error", "timeout", "killed:<signal>"


@dataclass(frozen=True)
class Limits:
    cpu_s: int = 5
    wall_s: float = 10.0
    memory_mb: int = 512
    file_mb: int = 10
    nproc: int = 32
    nofile: int = 64
    output_chars: int = 100_000


def _preexec(limits: Limits, workdir: str, uid: int | None):
    def fn():
        os.setsid()
        resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_s, limits.cpu_s + 1))
        mem = limits.memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
        fsz = limits.file_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_FSIZE, (fsz, fsz))
        resource.setrlimit(resource.RLIMIT_NOFILE, (limits.nofile, limits.nofile))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if uid is not None:
            libc = ctypes.CDLL("libc.so.6", use_errno=True)
            libc.unshare(CLONE_NEWNET)  # best effort: no interfaces at all
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
        # per-user process limit: set after dropping to the sandbox user, so it counts only its processes
        resource.setrlimit(resource.RLIMIT_NPROC, (limits.nproc, limits.nproc))
        os.chdir(workdir)

    return fn


def run_python(code: str, stdin: str = "", limits: Limits = Limits()) -> SandboxResult:
    """Execute `code` with a fresh interpreter inside the sandbox; never raises for what the code does."""
    uid = _fresh_uid() if os.geteuid() == 0 else None
    workdir = tempfile.mkdtemp(prefix="delta-sandbox-")
    try:
        script = os.path.join(workdir, "main.py")
        with open(script, "w") as f:
            f.write(_PREAMBLE + "\n" + code)
        if uid is not None:
            os.chown(workdir, uid, uid)
            os.chown(script, uid, uid)
        env = {"PATH": "/usr/bin:/bin", "HOME": workdir, "TMPDIR": workdir, "PYTHONDONTWRITEBYTECODE": "1",
               "PYTHONHASHSEED": "0", "LANG": "C.UTF-8"}
        # -I: isolated mode (no user site, no PYTHON* variables, no cwd on sys.path); -S: no site imports
        cmd = [interpreter(unprivileged=uid is not None), "-I", "-S", script]
        # output goes to files the caller owns (bounded by RLIMIT_FSIZE), not pipes: a process the
        # code leaves behind could hold a pipe open and stall the reader
        io_dir = tempfile.mkdtemp(prefix="delta-sandbox-io-")
        try:
            paths = [os.path.join(io_dir, n) for n in ("stdin", "stdout", "stderr")]
            with open(paths[0], "w") as f:
                f.write(stdin)
            with open(paths[0], "rb") as fin, open(paths[1], "wb") as fout, open(paths[2], "wb") as ferr:
                proc = subprocess.Popen(cmd, stdin=fin, stdout=fout, stderr=ferr, env=env, cwd=workdir,
                                        preexec_fn=_preexec(limits, workdir, uid), close_fds=True)
                try:
                    proc.wait(timeout=limits.wall_s)
                    reason = "ok" if proc.returncode == 0 else (
                        f"killed:{signal.Signals(-proc.returncode).name}" if proc.returncode < 0 else "error")
                except subprocess.TimeoutExpired:
                    reason = "timeout"
                _kill_group(proc.pid)  # anything the code left running in its session
                if uid is not None:
                    _kill_uid(uid)  # and anything that escaped it
                proc.wait()
            out, err = (_read_head(paths[1], limits.output_chars), _read_tail(paths[2], limits.output_chars))
        finally:
            shutil.rmtree(io_dir, ignore_errors=True)
        return SandboxResult(ok=reason == "ok", returncode=proc.returncode, stdout=out, stderr=err, reason=reason)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _read_head(path: str, n: int) -> str:
    with open(path, "rb") as f:
        return f.read(n).decode(errors="replace")


def _read_tail(path: str, n: int) -> str:
    with open(path, "rb") as f:
        f.seek(max(0, os.path.getsize(path) - n))
        return f.read().decode(errors="replace")


def _world_executable(path: str) -> bool:
    """Can a user with no rights of its own run this file (every folder on the way searchable)?"""
    import stat

    path = os.path.realpath(path)
    parts = path.split(os.sep)
    for i in range(1, len(parts)):
        d = os.sep.join(parts[:i]) or os.sep
        if not os.stat(d).st_mode & stat.S_IXOTH:
            return False
    return bool(os.stat(path).st_mode & stat.S_IXOTH)


def interpreter(unprivileged: bool) -> str:
    """The Python that runs sandboxed code: this one, or a system one if the sandbox user cannot reach it."""
    if not unprivileged:
        return sys.executable
    for cand in (sys.executable, sys._base_executable, "/usr/bin/python3", "/usr/local/bin/python3"):
        if cand and os.path.exists(cand) and _world_executable(cand):
            return os.path.realpath(cand)
    raise RuntimeError("no Python interpreter is executable by an unprivileged user (the sandbox drops "
                       "root); install a system python3 (e.g. apt-get install python3)")


def _fresh_uid() -> int:
    import random

    in_use = {_owner(p) for p in os.listdir("/proc") if p.isdigit()}
    while True:
        uid = random.randint(*UID_RANGE)
        if uid not in in_use:
            return uid


def _owner(pid: str) -> int | None:
    """The uid of a live process (None for a zombie or a process that is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                return None
        return os.stat(f"/proc/{pid}").st_uid
    except (OSError, IndexError):
        return None


def _kill_uid(uid: int) -> None:
    for _ in range(3):  # a fork bomb may spawn while we sweep
        pids = [int(p) for p in os.listdir("/proc") if p.isdigit() and _owner(p) == uid]
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)
