"""Where the judge's time goes: one llama.cpp server, the same labelled solutions, each request mode in turn.

Modes (all greedy, the rubric of `02_judge`):
  expected    the JSON reply under the JSON-schema grammar, with top log-probabilities (tiny's `judge.scoring`)
  nogrammar   the same without the grammar
  nologprobs  the same without log-probabilities
  chained     five one-token calls, each continuing the reply written up to the next score (`scoring: chained`)
Prints, per mode, the wall time, the tokens llama.cpp evaluated as prompt and decoded, and its own summed
per-request times (requests overlap on the server's slots, so those sums exceed the wall). Talks to the server
directly (no completions cache), and reads the model file once before the first server starts, so the first
mode does not pay for a cold page cache. The server is the one the pipeline would run: a native `llama-server`
from `make llama-server` if built, or DELTA_LAB_LLAMA_SERVER (`xllamacpp` for the wheel); run it under each to
compare builds.

    python bench/judge_modes.py [--model qwen2.5-coder-1.5b] [--n 16] [--modes expected,nogrammar,nologprobs,chained]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import httpx  # noqa: E402

from delta_utils.data.rubric import DIMENSION_NAMES, judge_messages, reply_prefix  # noqa: E402
from delta_utils.serving.models import gguf_path  # noqa: E402
from delta_utils.serving.serve import llama_server_binary, llamacpp_server  # noqa: E402
from delta_utils.stages.judge import RESPONSE_FORMAT, TOP_LOGPROBS  # noqa: E402


def bodies(mode: str, messages: list[dict], picks: list[int]) -> dict:
    """The request of `mode`; for `chained`, the one after the scores `picks`."""
    if mode == "chained":
        return {"messages": messages + [{"role": "assistant", "content": reply_prefix(picks)}], "max_tokens": 1,
                "temperature": 0, "logprobs": True, "top_logprobs": TOP_LOGPROBS}
    body = {"messages": messages, "max_tokens": 96, "temperature": 0}
    if mode != "nologprobs":
        body.update(logprobs=True, top_logprobs=TOP_LOGPROBS)
    if mode != "nogrammar":
        body["response_format"] = RESPONSE_FORMAT
    return body


async def run_mode(url: str, mode: str, rows: list[dict], slots: int) -> dict:
    sem, timings = asyncio.Semaphore(slots), []
    async with httpx.AsyncClient(timeout=900) as client:
        async def post(body: dict) -> None:
            r = await client.post(url + "/v1/chat/completions", json=body)
            r.raise_for_status()
            timings.append(r.json().get("timings", {}))

        async def item(row: dict) -> None:
            async with sem:
                messages = judge_messages(row["question"], row["text"])
                calls = len(DIMENSION_NAMES) if mode == "chained" else 1
                for k in range(calls):
                    await post(bodies(mode, messages, [3] * k))

        t0 = time.monotonic()
        await asyncio.gather(*(item(r) for r in rows))
        wall = time.monotonic() - t0
    total = {k: sum(t.get(k) or 0 for t in timings) for k in ("prompt_n", "prompt_ms", "predicted_n", "predicted_ms")}
    return {"mode": mode, "wall_s": wall, "calls": len(timings), **total}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="qwen2.5-coder-1.5b")
    ap.add_argument("--n", type=int, default=16)
    ap.add_argument("--slots", type=int, default=8)
    ap.add_argument("--modes", default="expected,nogrammar,nologprobs,chained")
    args = ap.parse_args()
    rows = [json.loads(line) for line in open(REPO / "tests/data/labelled_solutions.jsonl")][: args.n]
    gguf = gguf_path(args.model)
    with open(gguf, "rb") as f:  # warm the page cache
        while f.read(1 << 24):
            pass
    print(f"{args.model}, {args.n} labelled solutions, {args.slots} slots, server: "
          f"{llama_server_binary() or 'xllamacpp (wheel)'}")
    for mode in args.modes.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            with llamacpp_server(gguf, log_dir=Path(tmp), slots=args.slots, ctx_per_slot=1024) as url:
                r = asyncio.run(run_mode(url.rstrip("/").removesuffix("/v1"), mode, rows, args.slots))
        print(f"  {r['mode']:<11} wall {r['wall_s']:6.1f} s  calls {r['calls']:4d}  prompt tokens {r['prompt_n']:6d} "
              f"({r['prompt_ms'] / 1000:6.1f} s summed)  decoded {r['predicted_n']:5d} "
              f"({r['predicted_ms'] / 1000:6.1f} s summed)", flush=True)


if __name__ == "__main__":
    main()
