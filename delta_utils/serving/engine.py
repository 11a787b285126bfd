"""One way to call any model: completion requests, cached per item, run with a progress bar.

Served models (llama.cpp on CPU, vLLM on GPU, any remote endpoint) are called
over the OpenAI protocol with the async ``openai`` SDK under a concurrency
limit; a trained policy checkpoint is run in-process with transformers' batched
``generate``. Both take the same `Request`s and write the same records into a
`RecordCache`, keyed by (model, prompt, sampling, sample index): each record is
stored as soon as it arrives, a killed run resumes where it stopped and a warm
rerun makes no model call.
"""
from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.quiet import bar
from ..core.store import RecordCache, content_hash
from ..data.tasks import FEWSHOT_STOP, Problem, chat_prompt, fewshot_prompt
from .models import get_spec, gguf_path, weights_identity
from .serve import llamacpp_server, vllm_command, vllm_server


@dataclass(frozen=True)
class Request:
    """One completion: chat `messages` (chat models) or a plain `prompt` (base models)."""

    item_id: str
    sample: int = 0
    messages: tuple | None = None
    prompt: str | None = None
    extra: dict = field(default_factory=dict)  # e.g. response_format

    def payload(self) -> dict:
        return {"messages": self.messages, "prompt": self.prompt, "extra": self.extra}


def _as_requested(rec: dict | None, req: Request) -> dict | None:
    """A cached record answers every request with the same prompt; it carries the asking request's item id
    (two items with the same question text share one completion, not one id)."""
    return None if rec is None else {**rec, "item_id": req.item_id}


def top_logprobs(content) -> list | None:
    """A chat reply's per-token log-probabilities (OpenAI `choices[0].logprobs.content`, as objects or dicts)
    in compact form: [[token, [[alternative, logprob], ...]], ...]; None when the server sent none."""
    if not content:
        return None

    def get(x, k):
        return x.get(k) if isinstance(x, dict) else getattr(x, k, None)

    return [[get(t, "token"), [[get(a, "token"), round(float(get(a, "logprob")), 4)]
                               for a in (get(t, "top_logprobs") or [])]] for t in content]


def request_key(model_id: str, req: Request, sampling: dict) -> str:
    return content_hash(model_id, req.payload(), {k: v for k, v in sampling.items() if k != "n"}, req.sample, n=24)


@dataclass(frozen=True)
class Endpoint:
    base_url: str
    model: str  # the name the server knows the model by
    api_key: str = "not-needed"  # only ever read from the environment for remote endpoints
    extra_body: dict | None = None  # server-specific request fields (llama.cpp: cache_prompt)


def run_sync(coro: Coroutine) -> Any:
    """Run a coroutine to completion, also from inside Jupyter's running event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    box: dict = {}

    def target():
        try:
            box["value"] = asyncio.run(coro)
        except BaseException as e:  # re-raised in the caller's thread
            box["error"] = e

    t = threading.Thread(target=target)
    t.start()
    t.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


class _Progress:
    def __init__(self, total: int, desc: str):
        self.bar = bar(total, desc)  # a widget in JupyterLab, rare text redraws under the pipeline (quiet.py)
        self.tokens = 0
        self.t0 = time.monotonic()

    def update(self, tokens: int) -> None:
        self.tokens += tokens
        dt = max(time.monotonic() - self.t0, 1e-6)
        # refresh=False: a postfix change alone does not redraw the bar (each redraw was a saved output chunk)
        self.bar.set_postfix(tok_s=f"{self.tokens / dt:.1f}", refresh=False)
        self.bar.update(1)

    def close(self) -> None:
        self.bar.close()


# The lowest aggregate decode rate (tokens per second, summed over the requests in flight) a server of each backend
# is assumed to keep up under load. A request's timeout allows for every request in flight beside it to be decoded
# at that rate, so a request that waits in the server's queue does not time out for waiting (`request_timeout`).
# llama.cpp on 2 CPU cores: 1.5B ~15 tok/s, 0.5B ~40 (shared/README); one GPU under vLLM: thousands.
MIN_AGGREGATE_TOK_S = {"llamacpp": 5.0, "vllm": 100.0, "openai": 20.0, "openai_batch": 20.0}
TIMEOUT_FLOOR_S = 120.0  # scheduling, a slow first token
PREFILL_SPEEDUP = 4.0  # a prompt token costs at most 1/4 of a generated one (prefill is batched; usually far less)


def request_timeout(max_tokens: int, concurrency: int, backend: str = "llamacpp", prompt_tokens: int = 0) -> float:
    """Seconds one request may take: a floor plus the time to process, for each of the `concurrency` requests in
    flight, its prompt (`prompt_tokens`, at `PREFILL_SPEEDUP` times the decode rate) and `max_tokens` of output,
    at the backend's lowest assumed aggregate rate. Scales with the budget and the queue: 256 requests of 32k
    tokens on one GPU get ~23 h, 8 requests of 320 tokens on llama.cpp ~11 minutes."""
    rate = MIN_AGGREGATE_TOK_S.get(backend, min(MIN_AGGREGATE_TOK_S.values()))
    return TIMEOUT_FLOOR_S + (max_tokens + prompt_tokens / PREFILL_SPEEDUP) * max(1, concurrency) / rate


def complete(open_endpoint, requests: list[Request], sampling: dict, cache: RecordCache,
             model_id: str, concurrency: int = 8, desc: str = "generate", timeout: float | None = None,
             max_retries: int = 5, max_restarts: int = 2, allow_missing: bool = False) -> list[dict | None]:
    """Completions for `requests` from a served model; cached records are reused, new ones stored at once.

    `open_endpoint()` returns a context manager yielding an `Endpoint`; it is entered only
    when something is missing from the cache, so a warm rerun starts no server at all. If the
    server dies mid-run (connection errors after the client's retries), it is restarted up to
    `max_restarts` times and only the missing items are asked again. Items that still fail
    (e.g. 429/5xx past every retry) raise, or with `allow_missing` come back as None: they are
    not cached, so a rerun asks only for them. `timeout` (seconds per request) defaults to `request_timeout`
    for this sampling's max_tokens and `concurrency`.
    """
    if not requests:
        raise ValueError(f"{desc}: no prompts to complete (empty request list)")
    timeout = timeout or request_timeout(sampling["max_tokens"], concurrency)
    keys = [request_key(model_id, r, sampling) for r in requests]
    have = cache.get_many(keys)
    for restart in range(max_restarts + 1):
        todo = [(k, r) for k, r in zip(keys, requests) if k not in have]
        if not todo:
            break
        try:
            with open_endpoint() as ep:
                run_sync(_complete_async(ep, todo, sampling, cache, model_id, concurrency, desc, timeout,
                                         max_retries))
        except ServerLost as e:
            # the server died or stopped answering: what arrived is cached; restart and do the rest
            done = len(todo) - e.failed
            print(f"[{desc}] server lost after {done} of {len(todo)} items ({e.reason}); "
                  f"restart {restart + 1} of {max_restarts}", flush=True)
        have = cache.get_many(keys)
    missing = [k for k in keys if k not in have]
    if missing and not allow_missing:
        raise RuntimeError(f"{desc}: {len(missing)} completions missing after {max_restarts} restarts "
                           "(see the server log in the stage folder); rerun to continue — nothing done is lost")
    return [_as_requested(have.get(k), r) for k, r in zip(keys, requests)]


class SharedServer:
    """One server for several `complete` calls (e.g. a generator on every evaluation set, each with its own
    sampling): pass the instance as their `open_endpoint`. The server starts on first use, stays up between
    the calls and stops when the `with` block ends; a call that lost it (`ServerLost`) stops it, so the next
    use starts a fresh one. A block whose calls all hit the cache starts nothing.

        with SharedServer(lambda: endpoint("vllm", m, server=srv, log_dir=d)) as shared:
            for reqs, samp in work:
                complete(shared, reqs, samp, cache, model_id)
    """

    def __init__(self, open_endpoint):
        self._open, self._stack, self._endpoint = open_endpoint, None, None
        self.starts = 0

    def __enter__(self) -> SharedServer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        stack, self._stack, self._endpoint = self._stack, None, None
        if stack is not None:
            stack.close()

    @contextlib.contextmanager
    def __call__(self) -> Iterator[Endpoint]:
        if self._endpoint is None:
            stack = contextlib.ExitStack()
            self._endpoint = stack.enter_context(self._open())
            self._stack = stack
            self.starts += 1
        try:
            yield self._endpoint
        except ServerLost:
            self.close()
            raise


class ServerLost(RuntimeError):
    """Requests failed because the endpoint could not be reached (after the client's own retries)."""

    def __init__(self, failed: int, reason: str):
        super().__init__(f"{failed} requests failed: {reason}")
        self.failed, self.reason = failed, reason


async def _call(client, endpoint, key: str, req: Request, sampling: dict, model_id: str) -> dict:
    """One completion over the OpenAI protocol, as a cache record. Server-specific fields in `req.extra`'s
    `extra_body` (e.g. continue_final_message) join the endpoint's own."""
    t0 = time.monotonic()
    extra = dict(req.extra)
    body = {**(endpoint.extra_body or {}), **extra.pop("extra_body", {})} or None
    common = dict(model=endpoint.model, max_tokens=sampling["max_tokens"], temperature=sampling["temperature"],
                  top_p=sampling.get("top_p", 1.0), seed=sampling.get("seed", 0) + req.sample, **extra)
    stop = list(sampling.get("stop") or [])
    if req.messages is not None:
        r = await client.chat.completions.create(messages=list(req.messages), stop=stop or None, extra_body=body,
                                                 **common)
        text = r.choices[0].message.content or ""
        reasoning = reasoning_of(r.choices[0].message)
        lp = getattr(r.choices[0], "logprobs", None)
        logprobs = top_logprobs(getattr(lp, "content", None)) if lp is not None else None
    else:
        r = await client.completions.create(prompt=req.prompt, stop=stop or None, extra_body=body, **common)
        text, logprobs, reasoning = r.choices[0].text or "", None, None
    usage = r.usage
    rec = {"key": key, "model": model_id, "item_id": req.item_id, "sample": req.sample, "text": text,
           "finish_reason": r.choices[0].finish_reason,
           "prompt_tokens": getattr(usage, "prompt_tokens", None),
           "completion_tokens": getattr(usage, "completion_tokens", None),
           "wall_s": round(time.monotonic() - t0, 3)}
    if logprobs is not None:
        rec["logprobs"] = logprobs
    if reasoning:
        rec["reasoning"] = reasoning
    return rec


REASONING_FIELDS = ("reasoning_content", "reasoning")  # DeepSeek's API and vLLM's reasoning parsers; newer vLLM


def reasoning_of(message) -> str | None:
    """The reasoning an endpoint returned beside the answer (`message.content`), if any: DeepSeek's API and vLLM
    with a reasoning parser send it as `reasoning_content`, newer vLLM as `reasoning`. The SDK keeps such
    unknown fields on the message object (or they arrive in a dict)."""
    for f in REASONING_FIELDS:
        v = message.get(f) if isinstance(message, dict) else getattr(message, f, None)
        if v is None and not isinstance(message, dict):
            v = (getattr(message, "model_extra", None) or {}).get(f)
        if isinstance(v, str) and v.strip():
            return v
    return None


def _raise_errors(results: list, endpoint) -> None:
    """Re-raise what the requests of one pass failed with: a refused key as a clear error, lost connections
    and 429/5xx past the client's retries as `ServerLost` (the caller restarts), anything else as itself."""
    from openai import APIConnectionError, APIStatusError, APITimeoutError, AuthenticationError, PermissionDeniedError

    errors = [e for e in results if isinstance(e, BaseException)]
    transient = (APIConnectionError, APITimeoutError)
    lost = [e for e in errors if isinstance(e, transient)
            or (isinstance(e, APIStatusError) and (e.status_code == 429 or e.status_code >= 500))]
    denied = [e for e in errors if isinstance(e, (AuthenticationError, PermissionDeniedError))]
    if denied:
        raise PermissionError(
            f"the endpoint {endpoint.base_url} refused the API key (HTTP {denied[0].status_code}). "
            "Set a valid key in the environment (OPENAI_API_KEY or DELTA_LAB_OPENAI_API_KEY) for this "
            "endpoint; keys are never read from profiles.") from None
    if lost:
        raise ServerLost(len(lost), f"{type(lost[0]).__name__}: {lost[0]}")
    if errors:
        raise errors[0]


def _client(endpoint, timeout, max_retries):
    from openai import AsyncOpenAI

    return AsyncOpenAI(base_url=endpoint.base_url, api_key=endpoint.api_key, timeout=timeout, max_retries=max_retries)


async def _run_jobs(endpoint, jobs: list, concurrency: int, desc: str, timeout: float, max_retries: int) -> None:
    """Run `jobs` (each `async job(client) -> completion tokens`) up to `concurrency` at a time on one client,
    with a progress bar; then re-raise what they failed with (`_raise_errors`)."""
    client = _client(endpoint, timeout, max_retries)
    sem = asyncio.Semaphore(concurrency)
    progress = _Progress(len(jobs), desc)

    async def run(job) -> None:
        async with sem:
            progress.update(await job(client))

    try:
        results = await asyncio.gather(*(run(job) for job in jobs), return_exceptions=True)
    finally:
        progress.close()
        await client.close()
    _raise_errors(results, endpoint)


async def _complete_async(endpoint, todo, sampling, cache, model_id, concurrency, desc, timeout, max_retries):
    def one(key: str, req: Request):
        async def job(client) -> int:
            rec = await _call(client, endpoint, key, req, sampling, model_id)
            cache.put(key, rec, kind=model_id)
            return rec["completion_tokens"] or 0
        return job

    await _run_jobs(endpoint, [one(k, r) for k, r in todo], concurrency, desc, timeout, max_retries)


def complete_chained(open_endpoint, firsts: list[Request], advance, sampling: dict, cache: RecordCache,
                     model_id: str, concurrency: int = 8, desc: str = "generate", timeout: float | None = None,
                     max_retries: int = 5, max_restarts: int = 2) -> list[list[dict] | None]:
    """Chains of completions where each request depends on the replies before it.

    Chain i starts with `firsts[i]`; after each reply, `advance(i, records)` (the chain's records so far)
    gives its next request, or None when the chain is done. A chain's requests go one after another, so a
    server with a prompt cache (llama.cpp) evaluates only what each adds to the last; up to `concurrency`
    chains run at once. Every record is cached as it arrives, so a rerun replays the cached part of each chain
    without a call and asks only for the rest; a server that dies is restarted as in `complete`. Returns each
    chain's records, or None for a chain that could not be finished (not cached: a rerun asks again).
    """
    if not firsts:
        raise ValueError(f"{desc}: no chains to complete (empty request list)")
    timeout = timeout or request_timeout(sampling["max_tokens"], concurrency)

    def replay(i: int) -> tuple[list[dict], Request | None]:
        recs, req = [], firsts[i]
        while req is not None:
            rec = cache.get(request_key(model_id, req, sampling))
            if rec is None:
                return recs, req
            recs.append(_as_requested(rec, req))
            req = advance(i, recs)
        return recs, None

    for restart in range(max_restarts + 1):
        todo = [i for i in range(len(firsts)) if replay(i)[1] is not None]
        if not todo:
            break
        try:
            with open_endpoint() as ep:
                run_sync(_chains_async(ep, todo, replay, advance, sampling, cache, model_id, concurrency, desc,
                                       timeout, max_retries))
        except ServerLost as e:
            print(f"[{desc}] server lost with {e.failed} of {len(todo)} chains unfinished ({e.reason}); "
                  f"restart {restart + 1} of {max_restarts}", flush=True)
    out = []
    for i in range(len(firsts)):
        recs, pending = replay(i)
        out.append(recs if pending is None else None)
    return out


async def _chains_async(endpoint, todo, replay, advance, sampling, cache, model_id, concurrency, desc, timeout,
                        max_retries):
    def chain(i: int):
        async def job(client) -> int:
            recs, req = replay(i)
            tokens = 0
            while req is not None:
                key = request_key(model_id, req, sampling)
                rec = await _call(client, endpoint, key, req, sampling, model_id)
                cache.put(key, rec, kind=model_id)
                tokens += rec["completion_tokens"] or 0
                recs.append(_as_requested(rec, req))
                req = advance(i, recs)
            return tokens
        return job

    await _run_jobs(endpoint, [chain(i) for i in todo], concurrency, desc, timeout, max_retries)


# ---------------------------------------------------------------- in-process engine (trained policies)

def hf_complete(model_dir: Path, requests: list[Request], sampling: dict, cache: RecordCache, model_id: str,
                batch_size: int = 32, device: str = "cpu", desc: str = "generate",
                precision: str | None = None, score: tuple[list, Callable] | None = None) -> list[dict]:
    """Completions from a transformers checkpoint, batched in-process (same records as `complete`), its weights
    in `precision` ('fp32', 'bf16'; None: bf16 on CUDA, else fp32). `model_id` names the cache's records: give
    each precision its own, since the two decode differently.

    `score`: (texts, sink), a text (or None) per request to score after its prompt as well, greedy decoding only:
    for each request decoded now, `sink(index, logp, n_tokens)` gets the text's summed log-probability, from the
    prompt's forward pass that decoding makes anyway (05_evaluate's answer log-likelihood)."""
    keys = [request_key(model_id, r, sampling) for r in requests]
    have = cache.get_many(keys)
    todo = [(k, r) for k, r in zip(keys, requests) if k not in have]
    if todo:
        if score is not None:
            if sampling["temperature"] != 0:
                raise ValueError("hf_complete: `score` needs greedy decoding (temperature 0)")
            at = [i for i, k in enumerate(keys) if k not in have]
            score = ([score[0][i] for i in at], lambda j, logp, n, sink=score[1]: sink(at[j], logp, n))
        _hf_generate(Path(model_dir), todo, sampling, cache, model_id, batch_size, device, desc, precision, score)
        have = cache.get_many(keys)
    return [_as_requested(have[k], r) for k, r in zip(keys, requests)]


DTYPES = {"fp32": "float32", "bf16": "bfloat16"}


def _precision(precision: str | None, device: str) -> str:
    """`precision` as asked, or the default: bf16 on CUDA, fp32 elsewhere."""
    return precision or ("bf16" if device == "cuda" else "fp32")


def _load_hf(model_dir: Path, device: str, precision: str | None = None):
    """Tokenizer and model of a checkpoint (a LoRA adapter is merged into its base), in `precision` ('fp32' or
    'bf16'; None: bf16 on CUDA, fp32 elsewhere); the last one loaded is kept, so evaluating one checkpoint on
    several sets loads it once, and asking for it in bf16 after fp32 converts it in place rather than reloading.
    Keyed by the folder's file times, so a checkpoint rewritten in place is reloaded."""
    import torch

    precision = _precision(precision, device)
    stamp = tuple(sorted((f.name, f.stat().st_mtime_ns) for f in model_dir.iterdir() if f.is_file()))
    key = (str(model_dir.resolve()), device, stamp)
    if _LOADED.get("key") != key or (_LOADED["precision"] != precision and precision == "fp32"):
        _LOADED.clear()  # a new checkpoint, or fp32 asked of a model already rounded to bf16: load it afresh
        _LOADED.update(key=key, precision=precision, value=_load_hf_uncached(model_dir, device, precision))
    elif _LOADED["precision"] != precision:
        _LOADED["value"][1].to(getattr(torch, DTYPES[precision]))
        _LOADED["precision"] = precision
    return _LOADED["value"]


_LOADED: dict = {}


def _load_hf_uncached(model_dir: Path, device: str, precision: str | None = None):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    tok.padding_side = "left"
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    dtype = getattr(torch, DTYPES[_precision(precision, device)])
    if (model_dir / "adapter_config.json").is_file():
        # a LoRA adapter: merged into its base in fp32, then rounded once (merging in bf16 would round twice, and
        # a bf16 model would differ with the path that loaded it)
        from peft import AutoPeftModelForCausalLM

        model = AutoPeftModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).merge_and_unload().to(dtype)
    else:
        model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=dtype)
    return tok, model.to(device).eval()


def _hf_generate(model_dir, todo, sampling, cache, model_id, batch_size, device, desc, precision=None, score=None):
    import torch

    tok, model = _load_hf(model_dir, device, precision)
    texts = [tok.apply_chat_template(list(r.messages), tokenize=False, add_generation_prompt=True)
             if r.messages is not None else r.prompt for _, r in todo]
    # longest prompts first: less padding inside each batch
    order = sorted(range(len(todo)), key=lambda i: -len(texts[i]))
    progress = _Progress(len(todo), desc)
    greedy = sampling["temperature"] == 0
    try:
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            enc = tok([texts[i] for i in idx], return_tensors="pt", padding=True, add_special_tokens=False).to(device)
            t0 = time.monotonic()
            torch.manual_seed(sampling.get("seed", 0) + start)
            with torch.inference_mode():
                if greedy and score is not None:
                    conts = [tok(score[0][i], add_special_tokens=False).input_ids if score[0][i] else None
                             for i in idx]
                    gen, logps = greedy_decode(model, enc, sampling["max_tokens"], tok.pad_token_id, conts)
                    for i, c, v in zip(idx, conts, logps):
                        if v is not None:
                            score[1](i, v, len(c))
                elif greedy:
                    gen = greedy_decode(model, enc, sampling["max_tokens"], tok.pad_token_id)
                else:
                    out = model.generate(**enc, max_new_tokens=sampling["max_tokens"], do_sample=True,
                                         temperature=sampling["temperature"], top_p=sampling.get("top_p", 1.0),
                                         top_k=None, pad_token_id=tok.pad_token_id)
                    gen = out[:, enc["input_ids"].shape[1]:]
            wall = time.monotonic() - t0
            for row, i in enumerate(idx):
                ids = gen[row]
                ids = ids[ids != tok.pad_token_id]
                n_tok = int(ids.numel())
                key, req = todo[i]
                text = tok.decode(ids, skip_special_tokens=True)
                for s in sampling.get("stop") or []:
                    text = text.split(s)[0]
                rec = {"key": key, "model": model_id, "item_id": req.item_id, "sample": req.sample, "text": text,
                       "finish_reason": "length" if n_tok >= sampling["max_tokens"] else "stop",
                       "prompt_tokens": int(enc["attention_mask"][row].sum()), "completion_tokens": n_tok,
                       "wall_s": round(wall / len(idx), 3)}
                cache.put(key, rec, kind=model_id)
                progress.update(n_tok)
    finally:
        progress.close()


def greedy_decode(model, enc, max_new_tokens: int, pad_token_id: int, continuations: list | None = None):
    """Greedy continuations of a left-padded batch, as transformers' `generate` gives them (same positions,
    mask and stopping: the model's end-of-sequence tokens), as a [rows, steps] tensor padded with
    `pad_token_id`. A row that has ended leaves the batch and its cache: `generate` carries every row to the
    longest one's end, and on a CPU, where each step's cost grows with its rows, that is most of the work when a
    few answers ramble to `max_new_tokens` (bench/evaluate.py measures both).

    `continuations`: per row, token ids (or None) to score after the prompt as well; then it returns (tokens,
    log-probabilities), each row's summed log-probability of its continuation (None where it has none),
    teacher-forced on the prompt's own forward pass (`continuation_logps`)."""
    import torch
    from transformers import DynamicCache

    eos = model.generation_config.eos_token_id
    eos = torch.tensor([eos] if isinstance(eos, int) else list(eos or []), device=model.device)
    mask = enc["attention_mask"]
    positions = (mask.long().cumsum(-1) - 1).masked_fill(mask == 0, 0)
    cache = DynamicCache(config=model.config)
    out = model(input_ids=enc["input_ids"], attention_mask=mask, position_ids=positions, past_key_values=cache,
                use_cache=True, logits_to_keep=1)
    scores = None if continuations is None else continuation_logps(
        model, out.logits[:, -1, :], cache, mask, positions[:, -1:], continuations, pad_token_id)
    rows = torch.arange(mask.shape[0], device=mask.device)  # the batch rows still decoding
    gen = torch.full((mask.shape[0], max_new_tokens), pad_token_id, dtype=torch.long, device=mask.device)
    last = positions[:, -1:]
    for step in range(max_new_tokens):
        nxt = out.logits[:, -1, :].argmax(-1)
        gen[rows, step] = nxt
        alive = ~torch.isin(nxt, eos)
        if step == max_new_tokens - 1 or not alive.any():
            break
        if not alive.all():
            keep = alive.nonzero().squeeze(-1)
            cache.batch_select_indices(keep)
            rows, nxt, mask, last = rows[keep], nxt[keep], mask[keep], last[keep]
        mask = torch.cat([mask, mask.new_ones((mask.shape[0], 1))], dim=-1)
        last = last + 1
        out = model(input_ids=nxt[:, None], attention_mask=mask, position_ids=last, past_key_values=cache,
                    use_cache=True)
    return gen[:, : step + 1] if continuations is None else (gen[:, : step + 1], scores)


def continuation_logps(model, last_logits, cache, mask, last, continuations: list, pad_token_id: int) -> list:
    """Each row's summed log-probability of its continuation ids (None: not scored) after a prefilled prompt:
    `last_logits` [rows, vocab] from the prompt's last position, `cache` holding the prompt (left-padded, `mask`,
    `last` its last positions). The continuations go through one forward pass on that cache, right-padded, and
    the cache is then cut back to the prompt, exactly as it was (a copy is used where its layers keep a window
    and cutting back could not restore it). This is what 05_evaluate's answer log-likelihood computes on its own
    (`likelihood.completion_logps`), without a second pass over the prompts."""
    import copy

    import torch
    from transformers.cache_utils import DynamicLayer

    lens = [len(c) if c else 0 for c in continuations]
    out: list = [None] * len(continuations)
    if not any(lens):
        return out
    first = torch.log_softmax(last_logits.float(), -1)
    width = max(lens) - 1  # the last token of a continuation predicts nothing that is scored
    rest = None
    if width:
        dev = mask.device
        x = torch.full((len(lens), width), pad_token_id, dtype=torch.long, device=dev)
        m = torch.zeros((len(lens), width), dtype=mask.dtype, device=dev)
        for i, c in enumerate(continuations):
            if lens[i] > 1:
                x[i, : lens[i] - 1], m[i, : lens[i] - 1] = torch.tensor(c[:-1], device=dev), 1
        plain = all(type(layer) is DynamicLayer for layer in getattr(cache, "layers", [None]))
        work = cache if plain else copy.deepcopy(cache)
        o = model(input_ids=x, attention_mask=torch.cat([mask, m], dim=-1),
                  position_ids=last + 1 + torch.arange(width, device=dev), past_key_values=work, use_cache=True)
        rest = torch.log_softmax(o.logits.float(), -1)  # position k predicts a continuation's token k + 1
        if plain:
            cache.crop(-width)
    for i, c in enumerate(continuations):
        if lens[i]:
            v = first[i, c[0]]
            if lens[i] > 1:
                at = torch.arange(lens[i] - 1, device=rest.device)
                v = v + rest[i, at, torch.tensor(c[1:], device=rest.device)].sum()
            out[i] = float(v)
    return out


# ---------------------------------------------------------------- endpoints per backend

@contextlib.contextmanager
def endpoint(backend: str, model_name: str, *, server, log_dir: Path) -> Iterator[Endpoint]:
    """Start (or point at) the server for `model_name` and yield its OpenAI endpoint. A model with its own
    `endpoint_env` is reached there whatever the stage's backend."""
    spec = get_spec(model_name)
    if spec.endpoint_env:
        yield env_endpoint(spec.endpoint_env, spec.served_name or spec.hub_id)
    elif backend == "llamacpp":
        det = server.deterministic
        with llamacpp_server(gguf_path(model_name), log_dir=log_dir, slots=1 if det else server.slots,
                             ctx_per_slot=server.ctx_per_slot, threads=server.threads) as url:
            yield Endpoint(url, model_name, extra_body={"cache_prompt": False} if det else None)
    elif backend == "vllm":
        cmd = vllm_command(spec.hub_id, revision=spec.revision, tensor_parallel_size=server.tensor_parallel_size,
                           max_model_len=server.max_model_len, extra_args=server.vllm_args)
        with vllm_server(cmd, log_dir=log_dir) as url:
            yield Endpoint(url, spec.hub_id)
    elif backend in ("openai", "openai_batch"):
        yield env_endpoint("DELTA_LAB_OPENAI", spec.hub_id, fallback="OPENAI")
    else:
        raise ValueError(f"unknown backend {backend!r}")


def env_endpoint(prefix: str, model: str, fallback: str | None = None) -> Endpoint:
    """An OpenAI-compatible endpoint from `<prefix>_BASE_URL` and `<prefix>_API_KEY` (else `<fallback>_...`).
    Keys are read from the environment only, never from profiles."""
    names = [prefix] + ([fallback] if fallback else [])
    base = next((os.environ[f"{n}_BASE_URL"] for n in names if os.environ.get(f"{n}_BASE_URL")), None)
    key = next((os.environ[f"{n}_API_KEY"] for n in names if os.environ.get(f"{n}_API_KEY")), None)
    if not base or not key:
        want = " or ".join(f"{n}_BASE_URL and {n}_API_KEY" for n in names)
        raise RuntimeError(f"model {model!r} is reached over the OpenAI protocol: set {want} in the environment")
    return Endpoint(base, model, key)


def model_identity(model_name: str, backend: str) -> str:
    """What a cache key uses to name a served model: the GGUF's sha256 when llama.cpp serves the packaged file,
    otherwise the weights' hub id and revision (or a local folder's fingerprint)."""
    spec = get_spec(model_name)
    if backend == "llamacpp" and spec.gguf is not None and not spec.endpoint_env:
        return f"{model_name}@{spec.gguf.sha256[:12]}"
    if spec.gguf is not None:
        return f"{model_name}@{spec.hub_id}"  # served from the hub copy (vLLM, a remote endpoint)
    return weights_identity(model_name)


# ---------------------------------------------------------------- how a model is asked a problem

def requests_for(model_name: str, problems: list[Problem], n_samples: int = 1) -> list[Request]:
    """`n_samples` requests per problem: chat models get the chat prompt, base models a few-shot completion prompt."""
    chat = get_spec(model_name).chat
    return [Request(item_id=p.id, sample=s, messages=tuple(chat_prompt(p)) if chat else None,
                    prompt=None if chat else fewshot_prompt(p))
            for p in problems for s in range(n_samples)]


def sampling_for(model_name: str, sampling) -> dict:
    """A profile's sampling settings as the request's parameters; base models also stop at the next few-shot
    question."""
    d = sampling.model_dump()
    if not get_spec(model_name).chat:
        d["stop"] = list(d.get("stop") or []) + FEWSHOT_STOP
    return d
