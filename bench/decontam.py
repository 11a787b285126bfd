"""Decontamination speed: 16,500 procedural training prompts against ~2,000 eval items.

Eval side: GSM8K test (1,319, from ../shared/data/gsm8k when present, else 1,319 arithmetic items
relabelled as a benchmark so they get the n-gram check too) plus 500 arithmetic and 200 stem items.
Prints the time of `overlaps` (index build + look-ups) with procedural training prompts, and with
benchmark ones (which also need the procedural eval items' n-grams), and the hits found.

    python bench/decontam.py [--train 16500]
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from delta_utils.data.decontam import overlaps  # noqa: E402
from delta_utils.data.tasks import make_problems  # noqa: E402
from delta_utils.data.tasks.benchmarks import load_benchmark  # noqa: E402

GSM8K = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "gsm8k" / "test.jsonl"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--train", type=int, default=16_500)
    args = ap.parse_args()
    if GSM8K.is_file():
        bench = load_benchmark("gsm8k", GSM8K)
    else:
        bench = [dataclasses.replace(p, family="gsm8k") for p in make_problems("arithmetic", 1319, seed=99)]
    evals = {"gsm8k": bench, "arith": make_problems("arithmetic", 500, seed=1),
             "stem": make_problems("stem", 200, seed=1)}
    n_eval = sum(map(len, evals.values()))
    train = make_problems("arithmetic", args.train, seed=0)
    as_bench = [dataclasses.replace(p, family="openr1_math") for p in train]
    for label, items in (("procedural", train), ("benchmark", as_bench)):
        t0 = time.perf_counter()
        df = overlaps(items, evals)
        dt = time.perf_counter() - t0
        print(f"{len(items)} {label} train x {n_eval} eval ({'gsm8k' if GSM8K.is_file() else 'stand-in'}): "
              f"{dt:.2f} s, {len(df)} hits {df.kind.value_counts().to_dict()}")


if __name__ == "__main__":
    main()
