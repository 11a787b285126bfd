"""Hostile snippets run in the sandbox: each one is contained, and the caller is unharmed."""
import os
import socket
import subprocess
import threading
import time

import pytest

from delta_utils.core.sandbox import Limits, run_python
from delta_utils.profile.config import REPO_ROOT

FAST = Limits(cpu_s=2, wall_s=6, memory_mb=256, file_mb=5, nproc=16)
ROOT = os.geteuid() == 0


def test_plain_code_runs():
    r = run_python("import math\nprint(math.factorial(5))\nprint(input())", stdin="hello\n")
    assert r.ok and r.stdout.split() == ["120", "hello"]


def test_fork_bomb(tmp_path):
    bomb = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass"
    r = run_python(bomb, limits=FAST)
    assert not r.ok and r.reason in ("timeout", "killed:SIGXCPU", "killed:SIGKILL", "error")
    time.sleep(0.5)
    assert os.getloadavg()[0] < 200  # the machine is still usable


def test_memory_bomb():
    r = run_python("x = bytearray(4 * 1024**3)\nprint('allocated')", limits=FAST)
    assert not r.ok and "allocated" not in r.stdout and "MemoryError" in r.stderr


def test_infinite_loop_cpu():
    t0 = time.monotonic()
    r = run_python("while True:\n    pass", limits=FAST)
    assert not r.ok and r.reason in ("killed:SIGXCPU", "timeout") and time.monotonic() - t0 < 10


def test_sleep_forever_wall_clock():
    t0 = time.monotonic()
    r = run_python("import time\ntime.sleep(600)", limits=FAST)
    assert r.reason == "timeout" and time.monotonic() - t0 < 10


def test_rm_rf_outside_its_dir(tmp_path):
    canary = tmp_path / "canary"
    canary.mkdir()
    (canary / "keep.txt").write_text("precious")
    os.chmod(tmp_path, 0o755)
    r = run_python(f"import shutil\nshutil.rmtree({str(canary)!r})\nprint('deleted')", limits=FAST)
    assert (canary / "keep.txt").read_text() == "precious"
    if ROOT:
        assert not r.ok and "deleted" not in r.stdout


@pytest.mark.skipif(not ROOT, reason="protecting the caller's files needs the uid drop (runner is root)")
def test_write_into_the_repository():
    target = REPO_ROOT / "pwned.txt"
    r = run_python(f"open({str(target)!r}, 'w').write('x')", limits=FAST)
    assert not r.ok and not target.exists()


def test_environment_secrets_are_scrubbed(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-in-parent")
    r = run_python("import os\nprint(os.environ)\nprint(open('/proc/self/environ').read())", limits=FAST)
    assert "sk-secret-in-parent" not in r.stdout + r.stderr


@pytest.mark.skipif(not ROOT, reason="reading /proc/<pid>/environ is blocked by the uid drop")
def test_parent_environ_via_proc(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-in-parent")
    r = run_python(f"print(open('/proc/{os.getpid()}/environ').read())", limits=FAST)
    assert "sk-secret-in-parent" not in r.stdout and not r.ok


def test_socket_is_blocked():
    r = run_python("import socket\ns = socket.socket()\ns.connect(('127.0.0.1', 9))\nprint('connected')", limits=FAST)
    assert not r.ok and "connected" not in r.stdout and "network access is disabled" in r.stderr


@pytest.mark.skipif(not ROOT, reason="the empty network namespace needs root")
def test_raw_socket_bypass_cannot_reach_loopback():
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port = srv.getsockname()[1]
    got = []
    threading.Thread(target=lambda: got.append(srv.accept()), daemon=True).start()
    code = (f"import _socket\ns = _socket.socket()\ns.settimeout(2)\ns.connect(('127.0.0.1', {port}))\n"
            "print('connected')")
    r = run_python(code, limits=FAST)
    srv.close()
    assert "connected" not in r.stdout and not got


def test_huge_file():
    r = run_python("f = open('big.bin', 'wb')\nfor _ in range(100):\n    f.write(b'x' * 1024**2)\nprint('wrote')",
                   limits=FAST)
    assert not r.ok and "wrote" not in r.stdout


def _victim():
    """A process of the caller's (a sleeping child) for hostile code to try to kill; alive means unharmed."""
    return subprocess.Popen(["sleep", "60"])


def test_kill_the_parent():
    victim = _victim()
    try:
        r = run_python("import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\n"
                       f"os.kill({victim.pid}, signal.SIGKILL)\nprint('sent')", limits=FAST)
        assert "sent" not in r.stdout or not ROOT  # without root the parent is our own uid; see below
        time.sleep(0.2)
        assert victim.poll() is None or not ROOT  # the caller's processes survive
    finally:
        victim.kill()


@pytest.mark.skipif(not ROOT, reason="signalling other processes is blocked by the uid drop")
def test_kill_everything():
    victim = _victim()
    try:
        run_python("import os, signal\nos.kill(-1, signal.SIGKILL)\nprint('survived')", limits=FAST)
        time.sleep(0.2)
        assert victim.poll() is None  # kill(-1) reached none of the caller's (root's) processes
    finally:
        victim.kill()


@pytest.mark.skipif(not ROOT, reason="finding escaped processes by uid needs the uid drop")
def test_background_daemon_is_reaped():
    code = ("import subprocess, os\n"
            "p = subprocess.Popen(['/bin/sleep', '300'], start_new_session=True)\n"
            "print(os.getuid(), p.pid)")
    r = run_python(code, limits=FAST)
    uid, pid = map(int, r.stdout.split())
    time.sleep(0.2)
    from delta_utils.core.sandbox import _owner

    assert _owner(str(pid)) != uid  # gone, or a zombie waiting to be reaped by init


def test_flood_of_output_is_truncated():
    r = run_python("while True:\n    print('spam' * 100)", limits=Limits(cpu_s=2, wall_s=4, output_chars=10_000))
    assert not r.ok and len(r.stdout) <= 10_000


def test_recursion_bomb():
    r = run_python("def f(n):\n    return f(n + 1)\nf(0)", limits=FAST)
    assert not r.ok and "RecursionError" in r.stderr


def test_raise_own_limits():
    r = run_python("import resource\nresource.setrlimit(resource.RLIMIT_CPU, (10**6, 10**6))\nprint('raised')",
                   limits=FAST)
    assert not r.ok and "raised" not in r.stdout


@pytest.mark.skipif(not ROOT, reason="reading root-only files is blocked by the uid drop")
def test_read_root_only_file():
    r = run_python("print(open('/etc/shadow').read())", limits=FAST)
    assert not r.ok and "root:" not in r.stdout
