"""OpenAI Batch API mode: judge at half the price, in chunks under the API's limits, resumable by batch id.

The Batch API caps one batch at 50,000 requests and 200 MB of input file. The requests are sorted by
cache key and cut into chunks under both limits (``max_requests``, and ``max_bytes`` of JSONL lines,
newlines included); the cut depends on the request set alone, not on what is already cached, so a
rerun cuts the same chunks. In each chunk, the requests not yet in the cache are written as JSONL
(``custom_id`` = the cache key), uploaded with ``purpose="batch"``, and submitted as one batch on
``/v1/chat/completions``. Its id is saved in the stage folder at once (``batches.json``, keyed by a
hash of the chunk's keys). All chunks are submitted before any is waited for, so they run in parallel
on the provider's side; as each batch ends, its answers are stored in the same record cache as the
online path and its id is dropped. A killed run resumes: a chunk fully in the cache is skipped, a
chunk with a saved id is picked up again (not paid twice), and only the others are submitted.
Requests a batch reports as failed are left out of the cache (a rerun submits only those).

``plan_chunks(line_bytes, max_requests, max_bytes)`` gives the chunk sizes for known line sizes, and
``estimate_chunks(n_requests, mean_line_bytes, max_requests, max_bytes)`` the number of batches from a
mean line size, e.g. for ``make check`` to say how many batches a stage will need.
"""
from __future__ import annotations

import itertools
import json
import math
import time
from pathlib import Path

from ..core.quiet import bar as progress_bar
from ..core.store import RecordCache, atomic_write_json, content_hash
from .engine import Endpoint, Request, request_key, top_logprobs

TERMINAL = {"completed", "failed", "expired", "cancelled"}
URL = "/v1/chat/completions"


def plan_chunks(line_bytes: list[int], max_requests: int = 50_000, max_bytes: int = 200_000_000) -> list[int]:
    """Sizes of the chunks that cut request lines (in order, each `line_bytes` long) into batches of at most
    `max_requests` lines and `max_bytes` bytes. Greedy: a chunk closes when the next line would break a limit."""
    sizes, n, b = [], 0, 0
    for x in line_bytes:
        if x > max_bytes:
            raise ValueError(f"a batch request line is {x} bytes, over max_bytes={max_bytes} "
                             f"(the Batch API input file limit): shorten the request or raise the limit")
        if n == max_requests or b + x > max_bytes:
            sizes.append(n)
            n, b = 0, 0
        n, b = n + 1, b + x
    return sizes + [n] if n else sizes


def estimate_chunks(n_requests: int, mean_line_bytes: float, max_requests: int = 50_000,
                    max_bytes: int = 200_000_000) -> int:
    """Number of batches for `n_requests` lines of `mean_line_bytes` each (what plan_chunks gives when all lines
    have that size)."""
    if mean_line_bytes > max_bytes:
        raise ValueError(f"a batch request line of {mean_line_bytes:.0f} bytes is over max_bytes={max_bytes}")
    per_chunk = min(max_requests, int(max_bytes // mean_line_bytes)) if mean_line_bytes > 0 else max_requests
    return math.ceil(n_requests / per_chunk)


def _body(endpoint: Endpoint, req: Request, sampling: dict) -> dict:
    return {"model": endpoint.model, "messages": list(req.messages), "max_tokens": sampling["max_tokens"],
            "temperature": sampling["temperature"], "top_p": sampling.get("top_p", 1.0),
            "seed": sampling.get("seed", 0) + req.sample, **req.extra}


def complete_batch(endpoint: Endpoint, requests: list[Request], sampling: dict, cache: RecordCache, model_id: str,
                   state_dir: Path, poll_s: float = 30.0, max_wait_s: float = 26 * 3600, desc: str = "batch",
                   max_requests: int = 50_000, max_bytes: int = 200_000_000) -> list[dict | None]:
    from openai import OpenAI

    keys = [request_key(model_id, r, sampling) for r in requests]
    have = cache.get_many(keys)
    if any(k not in have for k in keys):
        client = OpenAI(base_url=endpoint.base_url, api_key=endpoint.api_key, max_retries=5)
        state_path = Path(state_dir) / "batches.json"
        state = json.loads(state_path.read_text()) if state_path.is_file() else {}
        by_key = dict(zip(keys, requests))
        order = sorted(by_key)  # all requests, cached or not: a rerun cuts the same chunks

        def line(k: str) -> str:
            return json.dumps({"custom_id": k, "method": "POST", "url": URL,
                               "body": _body(endpoint, by_key[k], sampling)}) + "\n"

        sizes = plan_chunks([len(line(k).encode()) for k in order], max_requests, max_bytes)
        chunks = [order[end - n : end] for end, n in zip(itertools.accumulate(sizes), sizes)]
        pending = {}  # chunk id -> (batch id, keys asked)
        for i, chunk in enumerate(chunks):
            todo = [k for k in chunk if k not in have]
            if not todo:
                continue
            cid = content_hash(chunk)
            if cid in state:
                print(f"[{desc}] resuming batch {state[cid]} (chunk {i + 1}/{len(chunks)})", flush=True)
            else:
                f = client.files.create(file=("requests.jsonl", "".join(map(line, todo)).encode()), purpose="batch")
                state[cid] = client.batches.create(input_file_id=f.id, endpoint=URL, completion_window="24h").id
                atomic_write_json(state_path, state)  # before waiting: a killed run resumes this batch
                print(f"[{desc}] submitted batch {state[cid]} with {len(todo)} requests "
                      f"(chunk {i + 1}/{len(chunks)})", flush=True)
            pending[cid] = (state[cid], todo)
        total = sum(len(todo) for _, todo in pending.values())
        for cid, batch in _wait(client, {c: b for c, (b, _) in pending.items()}, total, poll_s, max_wait_s, desc):
            _store(client, batch, by_key, cache, model_id)
            if batch.status != "completed":
                print(f"[{desc}] batch {batch.id} ended {batch.status}; answered items are kept", flush=True)
            state.pop(cid, None)  # finished: a rerun submits only what is still missing
            atomic_write_json(state_path, state)
        have = cache.get_many(keys)
    return [have.get(k) for k in keys]


def _store(client, batch, by_key: dict[str, Request], cache: RecordCache, model_id: str) -> None:
    if not batch.output_file_id:
        return
    for line in client.files.content(batch.output_file_id).text.splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        key, resp = row.get("custom_id"), row.get("response") or {}
        if key not in by_key or resp.get("status_code") != 200:
            continue
        body = resp["body"]
        usage = body.get("usage") or {}
        req = by_key[key]
        choice = body["choices"][0]
        rec = {"key": key, "model": model_id, "item_id": req.item_id, "sample": req.sample,
               "text": choice["message"].get("content") or "", "finish_reason": choice.get("finish_reason"),
               "prompt_tokens": usage.get("prompt_tokens"), "completion_tokens": usage.get("completion_tokens"),
               "wall_s": None, "batch_id": batch.id}
        logprobs = top_logprobs((choice.get("logprobs") or {}).get("content"))
        if logprobs is not None:
            rec["logprobs"] = logprobs
        cache.put(key, rec, kind=model_id)


def _wait(client, batch_ids: dict[str, str], total: int, poll_s: float, max_wait_s: float, desc: str):
    """Poll the batches (chunk id -> batch id) until each ends; yield (chunk id, batch) as each does."""
    left, done = dict(batch_ids), {}
    bar = progress_bar(total, f"{desc} ({len(left)} batches)", unit="req")
    deadline = time.monotonic() + max_wait_s
    try:
        while True:
            for cid, bid in list(left.items()):
                batch = client.batches.retrieve(bid)
                counts = getattr(batch, "request_counts", None)
                if counts is not None:
                    done[cid] = (counts.completed or 0) + (counts.failed or 0)
                    bar.n = sum(done.values())
                    bar.refresh()
                if batch.status in TERMINAL:
                    del left[cid]
                    yield cid, batch
            if not left:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(left)} batches still running after {max_wait_s:.0f} s "
                                   f"({', '.join(left.values())}); rerun to resume them")
            time.sleep(poll_s)
    finally:
        bar.close()
