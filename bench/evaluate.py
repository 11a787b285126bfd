"""05_evaluate's cost per checkpoint on CPU: the batch size and the weights' precision of in-process
(transformers) decoding.

One checkpoint (default: the tiny profile's dpo_top50_step, else the base policy) answers all of the
profile's evaluation items greedily, once per (precision, batch size), each time into a fresh cache. Prints
seconds per checkpoint (model load excluded: it is loaded once and kept, as 05_evaluate does), items/s, and
how many answers differ from the first configuration's.

`--cache-impls dynamic,static,compact` also checks how much greedy text hangs on rounding in each precision: all
items decoded in one batch by transformers' `generate` with its dynamic and then its static KV cache (the same
arithmetic, laid out differently), and by `engine.greedy_decode` ('compact': the same greedy decoding, finished rows
dropped from the batch, as 05_evaluate decodes), counting the items whose answers differ from the first. 05_evaluate
decodes in `evaluate.precision` (auto: fp32 on a CPU, for this reason; bf16 on CUDA).

`--prompt-pass` times the answer log-likelihood (the learning signal, fp32) beside decoding, computed on its own
forward pass over the prompts and then on decoding's (`hf_complete(score=...)`, as 05_evaluate does with a chat
policy), and prints the largest difference between the two sets of values.

    python bench/evaluate.py [--profile tiny] [--checkpoint runs/tiny/04_train/dpo_top50_step/final]
                             [--batch-sizes 16,48,96] [--dtypes fp32,bf16] [--cache-impls dynamic,static,compact]
                             [--prompt-pass]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from delta_utils.core.store import RecordCache  # noqa: E402
from delta_utils.data.decontam import eval_sets  # noqa: E402
from delta_utils.profile.config import load_profile  # noqa: E402
from delta_utils.serving.engine import _load_hf, greedy_decode, hf_complete, requests_for  # noqa: E402
from delta_utils.serving.models import model_path  # noqa: E402
from delta_utils.stages.evaluate import set_sampling  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--profile", default="tiny")
    ap.add_argument("--checkpoint", type=Path, default=Path("runs/tiny/04_train/dpo_top50_step/final"))
    ap.add_argument("--batch-sizes", default="16,48,96")
    ap.add_argument("--dtypes", default="fp32,bf16", help="comma-separated: fp32, bf16")
    ap.add_argument("--cache-impls", default="",
                    help="comma-separated decoders to compare: generate's dynamic or static KV cache, or compact")
    ap.add_argument("--prompt-pass", action="store_true",
                    help="the answer log-likelihood on its own prompt pass vs on decoding's (fp32, largest batch)")
    a = ap.parse_args()
    prof = load_profile(a.profile)
    folder = a.checkpoint if a.checkpoint.is_dir() else model_path(prof.train.policy)
    sets = eval_sets(prof)
    specs = {s.name: s for s in prof.evaluate.sets}
    samp = set_sampling(prof, specs[next(iter(sets))]).model_dump()
    reqs = [r for name, probs in sets.items() for r in requests_for(prof.train.policy, probs, 1)]
    print(f"checkpoint {folder}: {len(reqs)} items, max_tokens {samp['max_tokens']}, greedy")
    first = None
    for dtype in a.dtypes.split(","):
        _load_hf(folder, "cpu", dtype)  # loaded (or converted) once, as 05_evaluate does per checkpoint
        for bs in [int(x) for x in a.batch_sizes.split(",")]:
            with tempfile.TemporaryDirectory() as tmp, RecordCache(Path(tmp) / "c.sqlite") as cache:
                t0 = time.monotonic()
                recs = hf_complete(folder, reqs, samp, cache, f"bench-{dtype}-{bs}", batch_size=bs, desc=f"{bs}",
                                   precision=dtype)
                wall = time.monotonic() - t0
            texts = [r["text"] for r in recs]
            first = first or texts
            differ = sum(x != y for x, y in zip(texts, first))
            toks = sum(r["completion_tokens"] for r in recs)
            print(f"{dtype} batch {bs:>3}: {wall:6.1f} s per checkpoint, {len(reqs) / wall:5.2f} items/s, "
                  f"{toks / wall:6.1f} tok/s, answers differing from the first configuration: {differ}", flush=True)
        if a.cache_impls:
            cache_fragility(folder, dtype, reqs, samp["max_tokens"], a.cache_impls.split(","))
    if a.prompt_pass:
        prompt_pass(folder, sets, reqs, samp, max(int(x) for x in a.batch_sizes.split(",")))


def prompt_pass(folder, sets, reqs, samp, batch_size: int) -> None:
    """Decoding plus the answer log-likelihood per checkpoint, each into a fresh cache: the log-likelihood on its own
    forward pass over the prompts ('separate'), then on decoding's ('shared')."""
    from delta_utils.stages import likelihood

    probs = [p for ps in sets.values() for p in ps]  # `reqs` are these problems' requests, in this order
    _load_hf(folder, "cpu", "fp32")
    lls = {}
    for mode in ("separate", "shared"):
        with tempfile.TemporaryDirectory() as tmp, RecordCache(Path(tmp) / "c.sqlite") as cache:
            score = likelihood.answer_scorer(cache, "bench", probs) if mode == "shared" else None
            t0 = time.monotonic()
            hf_complete(folder, reqs, samp, cache, "bench", batch_size=batch_size, desc=mode, precision="fp32",
                        score=score)
            t1 = time.monotonic()
            lls[mode] = likelihood.answer_logliks(sets, {"c": (folder, "bench")}, cache, "cpu")
            t2 = time.monotonic()
        print(f"fp32 batch {batch_size}, {mode} prompt pass: decoding {t1 - t0:5.1f} s + answer log-likelihood "
              f"{t2 - t1:5.1f} s = {t2 - t0:5.1f} s per checkpoint", flush=True)
    diff = (lls["separate"]["logp"] - lls["shared"]["logp"]).abs().max()
    print(f"answer log-likelihoods of {len(lls['shared'])} items: largest difference {diff:.2g} nats")


def cache_fragility(folder, dtype: str, reqs, max_tokens: int, impls: list[str]) -> None:
    """Every item in one batch, greedy, once per KV-cache implementation: items whose tokens differ from the first."""
    import torch

    tok, model = _load_hf(folder, "cpu", dtype)
    texts = [tok.apply_chat_template(list(r.messages), tokenize=False, add_generation_prompt=True)
             if r.messages is not None else r.prompt for r in reqs]
    enc = tok(texts, return_tensors="pt", padding=True, add_special_tokens=False)
    first = None
    for impl in impls:
        t0 = time.monotonic()
        with torch.inference_mode():
            if impl == "compact":
                out = greedy_decode(model, enc, max_tokens, tok.pad_token_id)
            else:
                out = model.generate(**enc, max_new_tokens=max_tokens, do_sample=False, temperature=None, top_p=None,
                                     top_k=None, pad_token_id=tok.pad_token_id,
                                     cache_implementation=None if impl == "dynamic" else impl)
                out = out[:, enc["input_ids"].shape[1]:]
        wall = time.monotonic() - t0
        first = out if first is None else first
        width = max(out.shape[1], first.shape[1])  # finished rows are padded: pad both to one width
        pad = [torch.nn.functional.pad(t, (0, width - t.shape[1]), value=tok.pad_token_id) for t in (out, first)]
        differ = int((pad[0] != pad[1]).any(1).sum())
        print(f"{dtype} one batch, {impl}: {wall:6.1f} s, items whose greedy answer differs from {impls[0]}'s: "
              f"{differ} of {len(reqs)}", flush=True)

if __name__ == "__main__":
    main()
