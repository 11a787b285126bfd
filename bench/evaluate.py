"""05_evaluate's cost per checkpoint on CPU: the batch size and the weights' precision of in-process
(transformers) decoding.

One checkpoint (default: the tiny profile's dpo_top50_step, else the base policy) answers all of the
profile's evaluation items greedily, once per (precision, batch size), each time into a fresh cache. Prints
seconds per checkpoint (model load excluded: it is loaded once and kept, as 05_evaluate does), items/s, and
how many answers differ from the first configuration's. bf16 weights change greedy text (rounding): which one
05_evaluate decodes in is `evaluate.precision` (auto: bf16 where the CPU computes it natively), and each has
its own cached answers.

    python bench/evaluate.py [--profile tiny] [--checkpoint runs/tiny/04_train/dpo_top50_step/final]
                             [--batch-sizes 16,48,96] [--dtypes fp32,bf16]
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
from delta_utils.serving.engine import _load_hf, hf_complete, requests_for  # noqa: E402
from delta_utils.serving.models import model_path  # noqa: E402
from delta_utils.stages.evaluate import set_sampling  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--profile", default="tiny")
    ap.add_argument("--checkpoint", type=Path, default=Path("runs/tiny/04_train/dpo_top50_step/final"))
    ap.add_argument("--batch-sizes", default="16,48,96")
    ap.add_argument("--dtypes", default="fp32,bf16", help="comma-separated: fp32, bf16")
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

if __name__ == "__main__":
    main()
