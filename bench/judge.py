"""Judge throughput: concurrency N vs sequential, against the same local judge server.

One llama.cpp server (the judge model of the profile, `slots` parallel slots) answers the same
number of rubric judgments twice: one request at a time, then N at a time. Different traces in
each run, so the server's prompt cache helps both equally (the shared rubric prefix) and neither
reuses the other's answers. Prints judgments/s of each and the ratio (goal >= 0.8 * min(N, slots)).

    python bench/judge.py [--model qwen2.5-coder-0.5b] [--judgments 16] [--concurrency 8]
"""
from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from delta_utils.core.store import RecordCache  # noqa: E402
from delta_utils.data.tasks import make_problems  # noqa: E402
from delta_utils.profile.config import ServerSpec  # noqa: E402
from delta_utils.serving.engine import complete, endpoint, model_identity  # noqa: E402
from delta_utils.stages.judge import _request  # noqa: E402


def solution(p) -> str:
    sym = {"add": "+", "sub": "-", "mul": "*", "div": "/"}
    return "\n".join([f"Step {i + 1}: {s.a} {sym[s.op]} {s.b} = {s.result}" for i, s in enumerate(p.steps)]
                     + [f"The answer is {p.answer}."])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="qwen2.5-coder-0.5b")
    ap.add_argument("--judgments", type=int, default=16)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--slots", type=int, default=8)
    ap.add_argument("--max-tokens", type=int, default=96)
    a = ap.parse_args()

    problems = make_problems("arithmetic", 2 * a.judgments, seed=123, min_steps=1, max_steps=3)
    reqs = [_request(p.id, p.question, solution(p), 0, 0) for p in problems]
    seq_reqs, par_reqs = reqs[: a.judgments], reqs[a.judgments:]
    sampling = {"temperature": 0.6, "top_p": 1.0, "max_tokens": a.max_tokens, "seed": 0}
    tmp = Path(tempfile.mkdtemp(prefix="bench-judge-"))
    ident = model_identity(a.model, "llamacpp")
    print(f"judge {a.model}, {a.judgments} judgments per mode, server slots {a.slots}")
    with endpoint("llamacpp", a.model, server=ServerSpec(slots=a.slots, ctx_per_slot=1024), log_dir=tmp) as ep:
        same = lambda: contextlib.nullcontext(ep)  # noqa: E731  both modes use this one server
        # warm-up: the rubric prefix enters the prompt cache of every slot
        with RecordCache(tmp / "warm.sqlite") as c:
            complete(same, reqs[: a.slots], sampling | {"max_tokens": 1}, c, ident, concurrency=a.slots, desc="warm")
        results = {}
        for name, rq, conc in [("sequential", seq_reqs, 1), (f"concurrency {a.concurrency}", par_reqs, a.concurrency)]:
            with RecordCache(tmp / f"{conc}.sqlite") as c:
                t0 = time.monotonic()
                recs = complete(same, rq, sampling, c, ident, concurrency=conc, desc=name)
                dt = time.monotonic() - t0
            toks = sum(r["completion_tokens"] for r in recs)
            ptoks = sum(r["prompt_tokens"] for r in recs)
            results[name] = len(recs) / dt
            print(f"{name:>15}: {len(recs)} judgments in {dt:6.1f} s = {len(recs) / dt:.3f} judgments/s, "
                  f"{toks / dt:5.1f} generated tok/s, {ptoks / len(recs):.0f} prompt tokens per judgment")
    seq, par = results["sequential"], results[f"concurrency {a.concurrency}"]
    goal = 0.8 * min(a.concurrency, a.slots)
    print(f"ratio = {par / seq:.2f}x (goal >= {goal:.1f}x)")


if __name__ == "__main__":
    main()
