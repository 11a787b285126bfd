"""Start and stop the inference servers the pipeline talks to over the OpenAI protocol.

    with llamacpp_server(gguf, slots=8, log_dir=run_dir) as url:   # CPU, GGUF
        ...  # AsyncOpenAI(base_url=url)

    with vllm_server(vllm_command(hub_id), log_dir=run_dir) as url:  # GPU, paper scale
        ...

Each server is its own process (memory is returned when it stops), listens on a
free port on 127.0.0.1, keeps its log in the run folder, and is health-checked
before the block runs. ``python -m delta_utils.serving.serve --gguf F --port P`` is the
llama.cpp server process itself (xllamacpp: llama.cpp's native C++ server with
continuous batching and JSON-schema constrained output); a `llama-server` binary
compiled for this CPU (`make llama-server`, see `llama_server_binary`) runs instead
when present.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path


class ServerError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def _die_with_parent() -> None:
    """In the child, before exec: get SIGTERM when the parent dies (even by SIGKILL), so no server is orphaned."""
    import ctypes

    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def wait_healthy(url: str, proc: subprocess.Popen, timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServerError(f"server exited with code {proc.returncode} while starting; see {log}:\n{_tail(log)}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            pass
        time.sleep(0.25)
    raise ServerError(f"server not healthy at {url} after {timeout:.0f}s; see {log}:\n{_tail(log)}")


def _tail(path: Path, n: int = 15) -> str:
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return "(no log)"


@contextlib.contextmanager
def _server_process(cmd: list[str], port: int, health_path: str, log_dir: Path, name: str,
                    startup_timeout: float, env: dict | None = None) -> Iterator[str]:
    if port_in_use(port):
        raise ServerError(f"port {port} on 127.0.0.1 is already in use; pick another or leave port unset")
    log_dir = Path(log_dir)
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / f"server-{name}.log"
    with open(log, "ab") as logf:
        logf.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(cmd)}\n".encode())
        logf.flush()
        proc = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True, preexec_fn=_die_with_parent)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base + health_path, proc, startup_timeout, log)
        yield base + "/v1"
    finally:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def default_threads() -> int:
    """CPU threads for a llama.cpp server: OMP_NUM_THREADS when set (the convention torch follows too, so one
    setting caps both; the test suite's two workers set it to 1 each), else every core."""
    try:
        return max(1, int(os.environ.get("OMP_NUM_THREADS", "")))
    except ValueError:
        return max(1, os.cpu_count() or 1)


def llama_server_binary() -> str | None:
    """The llama.cpp server binary to run, if any: DELTA_LAB_LLAMA_SERVER (a path; empty or `xllamacpp` picks
    the wheel), else a `llama-server` beside this Python (what `make llama-server` builds, compiled for this
    CPU's instructions), else None: xllamacpp's prebuilt server, which is compiled for AVX2 only."""
    env = os.environ.get("DELTA_LAB_LLAMA_SERVER")
    if env is not None:
        if env in ("", "xllamacpp"):
            return None
        if not (Path(env).is_file() and os.access(env, os.X_OK)):
            raise ServerError(f"DELTA_LAB_LLAMA_SERVER={env!r} is not an executable file")
        return env
    beside = Path(sys.executable).parent / "llama-server"
    return str(beside) if beside.is_file() and os.access(beside, os.X_OK) else None


@contextlib.contextmanager
def llamacpp_server(gguf: Path, *, log_dir: Path, slots: int = 8, ctx_per_slot: int = 2048,
                    threads: int | None = None, port: int | None = None,
                    startup_timeout: float = 180.0) -> Iterator[str]:
    """llama.cpp's server on a GGUF file, in a child process; yields the OpenAI base URL."""
    gguf = Path(gguf)
    if not gguf.is_file():
        raise ServerError(f"GGUF file not found: {gguf}")
    port = port or free_port()
    threads = threads or default_threads()
    binary = llama_server_binary()
    if binary:  # llama.cpp's own server binary, built for this CPU (`make llama-server`)
        cmd = [binary, "--model", str(gguf), "--host", "127.0.0.1", "--port", str(port), "--parallel", str(slots),
               "--ctx-size", str(slots * ctx_per_slot), "--threads", str(threads), "--threads-batch", str(threads),
               "--cont-batching", "--jinja", "--no-warmup"]
    else:
        cmd = [sys.executable, "-m", "delta_utils.serving.serve", "--gguf", str(gguf), "--port", str(port),
               "--slots", str(slots), "--ctx", str(slots * ctx_per_slot), "--threads", str(threads)]
    with _server_process(cmd, port, "/health", log_dir, gguf.stem, startup_timeout) as url:
        yield url


def lora_rank(folder: Path) -> int | None:
    """The LoRA rank of an adapter folder, or None for a full model folder."""
    cfg = Path(folder) / "adapter_config.json"
    return int(json.loads(cfg.read_text()).get("r", 16)) if cfg.is_file() else None


def vllm_lora_rank(rank: int) -> int:
    """vLLM's `max_lora_rank` for an adapter of this rank: vLLM accepts powers of two from 8 up."""
    return max(8, 1 << (rank - 1).bit_length())


def vllm_command(model: str, *, port: int | None = None, revision: str | None = None,
                 served_name: str | None = None, lora: dict[str, str] | None = None, max_lora_rank: int = 16,
                 max_model_len: int | None = None, tensor_parallel_size: int = 1, seed: int = 0,
                 extra_args: list[str] = ()) -> list[str]:
    """The `vllm serve` command line for one model: full weights (a hub id or folder), or a base model with
    LoRA adapters (`lora`: served name -> adapter folder), each then requested by its served name.
    `port` None leaves it for `vllm_server` to fill in."""
    cmd = ["vllm", "serve", str(model), "--host", "127.0.0.1", "--seed", str(seed)]
    if port is not None:
        cmd += ["--port", str(port)]
    if revision:
        cmd += ["--revision", revision]
    if served_name:
        cmd += ["--served-model-name", served_name]
    if max_model_len:
        cmd += ["--max-model-len", str(max_model_len)]
    if tensor_parallel_size > 1:
        cmd += ["--tensor-parallel-size", str(tensor_parallel_size)]
    if lora:
        cmd += ["--enable-lora", "--max-lora-rank", str(max_lora_rank), "--max-loras", str(len(lora)),
                "--lora-modules", *(f"{name}={path}" for name, path in lora.items())]
    return cmd + list(extra_args)


def vllm_executable() -> str:
    """The `vllm` command to run: DELTA_LAB_VLLM (vLLM lives in its own venv, with the torch and transformers it
    pins: docs/scaling.md), else a `vllm` on PATH."""
    env = os.environ.get("DELTA_LAB_VLLM")
    if env:
        if not (Path(env).is_file() and os.access(env, os.X_OK)):
            raise ServerError(f"DELTA_LAB_VLLM={env!r} is not an executable file")
        return env
    found = shutil.which("vllm")
    if not found:
        raise ServerError("no `vllm` command: install vLLM in its own venv (pip install -r requirements-vllm.txt) and "
                          "set DELTA_LAB_VLLM to its bin/vllm (docs/scaling.md)")
    return found


@contextlib.contextmanager
def vllm_server(cmd: list[str], *, log_dir: Path, startup_timeout: float = 1200.0) -> Iterator[str]:
    """Run a `vllm_command` in its own process (GPU memory is freed when it exits); yields the OpenAI base URL.
    The command's `vllm` is the one `vllm_executable` finds."""
    if cmd[0] == "vllm":
        cmd = [vllm_executable(), *cmd[1:]]
    if "--port" in cmd:
        port = int(cmd[cmd.index("--port") + 1])
    else:
        port = free_port()
        cmd = [*cmd, "--port", str(port)]
    name = cmd[2].strip("/").replace("/", "__")
    with _server_process(cmd, port, "/health", log_dir, name, startup_timeout) as url:
        yield url


def _serve_main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="llama.cpp server (xllamacpp) on one GGUF file")
    ap.add_argument("--gguf", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--slots", type=int, default=8)
    ap.add_argument("--ctx", type=int, default=16384)
    ap.add_argument("--threads", type=int, default=default_threads())
    a = ap.parse_args(argv)

    import xllamacpp as xlc

    p = xlc.CommonParams()
    p.model.path = a.gguf
    p.n_parallel = a.slots
    p.n_ctx = a.ctx
    p.port = a.port
    p.hostnames = ["127.0.0.1"]
    p.cpuparams.n_threads = a.threads
    p.cpuparams_batch.n_threads = a.threads
    p.cont_batching = True
    p.use_jinja = True
    p.warmup = False
    server = xlc.Server(p)
    print(json.dumps({"listening": a.port, "gguf": a.gguf, "slots": a.slots}), flush=True)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    while not stop:
        time.sleep(0.2)
    del server


if __name__ == "__main__":
    _serve_main()
