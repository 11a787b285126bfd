"""OpenAI Batch API mode: judge at half the price, resumable by batch id.

The requests not yet in the cache are written as JSONL (``custom_id`` = the cache key), uploaded
with ``purpose="batch"``, and submitted as one batch on ``/v1/chat/completions``. The batch id is
saved in the stage folder at once (``batches.json``, keyed by a hash of the request set), so a
killed run picks the same batch up again instead of paying twice. When the batch completes, each
answer is stored in the same record cache as the online path; requests the batch reports as
failed are left out of the cache (a rerun submits only those).
"""
from __future__ import annotations

import json
import time
from pathlib import Path

from tqdm.auto import tqdm

from .engine import Endpoint, Request, request_key
from .store import RecordCache, atomic_write_json, content_hash

TERMINAL = {"completed", "failed", "expired", "cancelled"}


def _body(endpoint: Endpoint, req: Request, sampling: dict) -> dict:
    return {"model": endpoint.model, "messages": list(req.messages), "max_tokens": sampling["max_tokens"],
            "temperature": sampling["temperature"], "top_p": sampling.get("top_p", 1.0),
            "seed": sampling.get("seed", 0) + req.sample, **req.extra}


def complete_batch(endpoint: Endpoint, requests: list[Request], sampling: dict, cache: RecordCache, model_id: str,
                   state_dir: Path, poll_s: float = 30.0, max_wait_s: float = 26 * 3600,
                   desc: str = "batch") -> list[dict | None]:
    from openai import OpenAI

    keys = [request_key(model_id, r, sampling) for r in requests]
    have = cache.get_many(keys)
    todo = [(k, r) for k, r in zip(keys, requests) if k not in have]
    if todo:
        client = OpenAI(base_url=endpoint.base_url, api_key=endpoint.api_key, max_retries=5)
        state_path = Path(state_dir) / "batches.json"
        state = json.loads(state_path.read_text()) if state_path.is_file() else {}
        set_id = content_hash(sorted(k for k, _ in todo))
        batch_id = state.get(set_id)
        if batch_id is None:
            lines = [json.dumps({"custom_id": k, "method": "POST", "url": "/v1/chat/completions",
                                 "body": _body(endpoint, r, sampling)}) for k, r in todo]
            f = client.files.create(file=("requests.jsonl", ("\n".join(lines) + "\n").encode()), purpose="batch")
            batch = client.batches.create(input_file_id=f.id, endpoint="/v1/chat/completions",
                                          completion_window="24h")
            batch_id = batch.id
            state[set_id] = batch_id
            atomic_write_json(state_path, state)  # before waiting: a killed run resumes this batch
            print(f"[{desc}] submitted batch {batch_id} with {len(todo)} requests", flush=True)
        else:
            print(f"[{desc}] resuming batch {batch_id}", flush=True)
        batch = _wait(client, batch_id, len(todo), poll_s, max_wait_s, desc)
        if batch.output_file_id:
            by_key = dict(todo)
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
                cache.put(key, {"key": key, "model": model_id, "item_id": req.item_id, "sample": req.sample,
                                "text": body["choices"][0]["message"].get("content") or "",
                                "finish_reason": body["choices"][0].get("finish_reason"),
                                "prompt_tokens": usage.get("prompt_tokens"),
                                "completion_tokens": usage.get("completion_tokens"), "wall_s": None,
                                "batch_id": batch_id}, kind=model_id)
        if batch.status != "completed":
            print(f"[{desc}] batch {batch_id} ended {batch.status}; answered items are kept", flush=True)
        state.pop(set_id, None)  # finished: a rerun submits only what is still missing
        atomic_write_json(state_path, state)
        have = cache.get_many(keys)
    return [have.get(k) for k in keys]


def _wait(client, batch_id: str, total: int, poll_s: float, max_wait_s: float, desc: str):
    bar = tqdm(total=total, desc=f"{desc} {batch_id}", unit="req", mininterval=2.0)
    deadline = time.monotonic() + max_wait_s
    try:
        while True:
            batch = client.batches.retrieve(batch_id)
            counts = getattr(batch, "request_counts", None)
            if counts is not None:
                bar.n = (counts.completed or 0) + (counts.failed or 0)
                bar.refresh()
            if batch.status in TERMINAL:
                return batch
            if time.monotonic() > deadline:
                raise TimeoutError(f"batch {batch_id} still {batch.status} after {max_wait_s:.0f} s; rerun to resume it")
            time.sleep(poll_s)
    finally:
        bar.close()
