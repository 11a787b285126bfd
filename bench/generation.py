"""Generation throughput: the project's default CPU backend vs plain transformers `generate`.

Same model (SmolLM2-135M-Instruct by default), same prompts, same max tokens, greedy decoding:
  A. llama.cpp's server (xllamacpp, Q4 GGUF, continuous batching) over the OpenAI protocol,
     exactly as 01_generate calls it;
  B. transformers `generate` at batch 1, fp32, one prompt after another (the naive baseline);
  C. transformers `generate` batched (reference: the in-process engine used for trained policies).
Prints tokens/s of each, the ratio A/B (goal >= 10x) and the peak memory of each engine.

    python bench/generation.py [--model smollm2-135m] [--prompts 32] [--max-tokens 128]
"""
from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from delta_utils.core.store import RecordCache  # noqa: E402
from delta_utils.data.tasks import chat_prompt, make_problems  # noqa: E402
from delta_utils.profile.config import ServerSpec  # noqa: E402
from delta_utils.serving import models  # noqa: E402
from delta_utils.serving.engine import Request, complete, endpoint, hf_complete, model_identity  # noqa: E402


def rss_of_tree_mb(pid: int) -> float:
    """Current RSS of a process and its descendants (Linux /proc)."""
    out = subprocess.run(["ps", "-o", "pid=,ppid=,rss=", "-e"], capture_output=True, text=True).stdout.split("\n")
    rows = [tuple(int(x) for x in line.split()) for line in out if line.strip()]
    kids, rss = {}, {}
    for p, pp, r in rows:
        kids.setdefault(pp, []).append(p)
        rss[p] = r
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        total += rss.get(p, 0)
        stack += kids.get(p, [])
    return total / 1024


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--prompts", type=int, default=32)
    ap.add_argument("--baseline-prompts", type=int, default=8, help="batch-1 transformers is slow: a subset")
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--slots", type=int, default=8)
    a = ap.parse_args()

    problems = make_problems("arithmetic", a.prompts, seed=99)
    reqs = [Request(item_id=p.id, messages=tuple(chat_prompt(p))) for p in problems]
    sampling = {"temperature": 0.0, "top_p": 1.0, "max_tokens": a.max_tokens, "seed": 0, "n": 1, "stop": []}
    tmp = Path(tempfile.mkdtemp(prefix="bench-gen-"))
    threads = os.cpu_count()
    print(f"model {a.model}, {a.prompts} prompts (baseline: {a.baseline_prompts}), max {a.max_tokens} tokens, "
          f"greedy, {threads} CPU threads")

    # A: llama.cpp server, as the pipeline uses it
    peak_server = [0.0]

    def open_ep():
        return endpoint("llamacpp", a.model, server=ServerSpec(slots=a.slots, ctx_per_slot=1024), log_dir=tmp)

    with RecordCache(tmp / "a.sqlite") as cache:
        t0 = time.monotonic()
        import threading

        stop = threading.Event()

        def watch():
            while not stop.is_set():
                peak_server[0] = max(peak_server[0], rss_of_tree_mb(os.getpid()))
                time.sleep(0.5)

        w = threading.Thread(target=watch, daemon=True)
        w.start()
        recs = complete(open_ep, reqs, sampling, cache, model_identity(a.model, "llamacpp"),
                        concurrency=a.slots, desc="llama.cpp")
        stop.set()
        w.join()
        dt_a = time.monotonic() - t0
    tok_a = sum(r["completion_tokens"] for r in recs)
    tps_a = tok_a / dt_a

    # B: transformers generate, batch 1
    hf = models.hf_dir(a.model)
    with RecordCache(tmp / "b.sqlite") as cache:
        t0 = time.monotonic()
        recs_b = hf_complete(hf, reqs[: a.baseline_prompts], sampling, cache, "hf", batch_size=1, desc="hf batch 1")
        dt_b = time.monotonic() - t0
    tok_b = sum(r["completion_tokens"] for r in recs_b)
    tps_b = tok_b / dt_b
    peak_b = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    # C: transformers generate, batched
    with RecordCache(tmp / "c.sqlite") as cache:
        t0 = time.monotonic()
        recs_c = hf_complete(hf, reqs, sampling, cache, "hf", batch_size=a.prompts, desc="hf batched")
        dt_c = time.monotonic() - t0
    tok_c = sum(r["completion_tokens"] for r in recs_c)
    tps_c = tok_c / dt_c
    peak_c = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    print(f"A llama.cpp server ({a.slots} slots):   {tok_a:6d} tokens in {dt_a:6.1f} s = {tps_a:6.1f} tok/s "
          f"(incl. server start; peak RSS of this process + server {peak_server[0]:.0f} MB)")
    print(f"B transformers generate, batch 1: {tok_b:6d} tokens in {dt_b:6.1f} s = {tps_b:6.1f} tok/s "
          f"(peak RSS {peak_b:.0f} MB, model load included)")
    print(f"C transformers generate, batch {a.prompts}: {tok_c:6d} tokens in {dt_c:6.1f} s = {tps_c:6.1f} tok/s "
          f"(peak RSS {peak_c:.0f} MB)")
    print(f"ratio A/B = {tps_a / tps_b:.1f}x (goal >= 10x); A/C = {tps_a / tps_c:.1f}x")


if __name__ == "__main__":
    main()
