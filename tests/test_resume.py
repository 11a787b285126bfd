"""Crash safety of generation: SIGKILL mid-run then resume; a server that dies mid-run is restarted."""
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

from delta_utils.core.store import RecordCache
from delta_utils.data.tasks import chat_prompt, make_problems
from delta_utils.profile.config import ServerSpec
from delta_utils.serving.engine import Request, complete, endpoint, model_identity
from delta_utils.serving.serve import port_in_use

SAMPLING = {"temperature": 0.7, "top_p": 0.95, "max_tokens": 32, "seed": 0, "n": 1, "stop": []}
N = 10

SCRIPT = textwrap.dedent(f"""
    import sys
    from delta_utils.profile.config import ServerSpec
    from delta_utils.serving.engine import Request, complete, endpoint, model_identity
    from delta_utils.core.store import RecordCache
    from delta_utils.data.tasks import chat_prompt, make_problems
    reqs = [Request(item_id=p.id, messages=tuple(chat_prompt(p))) for p in make_problems("arithmetic", {N}, seed=11)]
    with RecordCache(sys.argv[1]) as cache:
        complete(lambda: endpoint("llamacpp", "smollm2-135m", server=ServerSpec(slots=1, ctx_per_slot=512),
                                  log_dir=sys.argv[2]), reqs, {SAMPLING!r}, cache,
                 model_identity("smollm2-135m", "llamacpp"), concurrency=1)
""")


def _requests():
    return [Request(item_id=p.id, messages=tuple(chat_prompt(p))) for p in make_problems("arithmetic", N, seed=11)]


def _server_ports(log_dir):
    ports = []
    for f in log_dir.glob("server-*.log"):
        for line in f.read_text(errors="replace").splitlines():
            if line.startswith("=== ") and "--port" in line:
                ports.append(int(line.split("--port ")[1].split()[0]))
    return ports


def test_sigkill_mid_generation_then_resume(tmp_path):
    db = tmp_path / "c.sqlite"
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT, str(db), str(tmp_path)])
    deadline = time.monotonic() + 240
    count = 0
    while time.monotonic() < deadline and proc.poll() is None:
        if db.exists():
            with RecordCache(db) as c:
                count = len(c)
            if count >= 3:
                break
        time.sleep(0.2)
    assert proc.poll() is None and 3 <= count < N, f"could not catch the run mid-way (count {count})"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    # the server child does not outlive its killed parent
    port = _server_ports(tmp_path)[-1]
    for _ in range(50):
        if not port_in_use(port):
            break
        time.sleep(0.2)
    assert not port_in_use(port)
    with RecordCache(db) as c:
        n_before = len(c)
    # resume: only the missing items are generated; nothing done before changes
    with RecordCache(db) as c:
        before = c.items()
        recs = complete(lambda: endpoint("llamacpp", "smollm2-135m", server=ServerSpec(slots=1, ctx_per_slot=512),
                                         log_dir=tmp_path), _requests(), SAMPLING, c,
                        model_identity("smollm2-135m", "llamacpp"), concurrency=1)
        after = c.items()
    assert len(recs) == N and len({r["key"] for r in recs}) == N and len(after) == N
    assert n_before >= 3 and all(after[k] == v for k, v in before.items())


def test_server_killed_mid_run_is_restarted(tmp_path):
    starts = []

    def open_ep():
        starts.append(time.monotonic())
        return endpoint("llamacpp", "smollm2-135m", server=ServerSpec(slots=1, ctx_per_slot=512), log_dir=tmp_path)

    with RecordCache(tmp_path / "c.sqlite") as cache:
        def killer():
            while len(cache) < 2:
                time.sleep(0.1)
            port = _server_ports(tmp_path)[-1]
            # the server process: xllamacpp's (python -m delta_utils.serving.serve) or a native llama-server
            out = subprocess.run(["pgrep", "-f", f"(delta_utils.serving.serve|llama-server) .*--port {port}( |$)"],
                                 capture_output=True, text=True)
            for pid in out.stdout.split():
                os.kill(int(pid), signal.SIGKILL)

        t = threading.Thread(target=killer, daemon=True)
        t.start()
        recs = complete(open_ep, _requests(), SAMPLING, cache, model_identity("smollm2-135m", "llamacpp"),
                        concurrency=1, max_retries=1)
        t.join(timeout=1)
        assert len(recs) == N and len(cache) == N
    assert len(starts) == 2  # one restart


def test_empty_request_list_is_an_error(tmp_path):
    import pytest

    with RecordCache(tmp_path / "c.sqlite") as cache, pytest.raises(ValueError, match="no prompts"):
        complete(lambda: None, [], SAMPLING, cache, "m")
