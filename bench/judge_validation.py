"""Which judge is informative: AUC of each judge and scoring for telling correct from incorrect solutions.

Runs `judge.validate` (the entry point `02_judge` uses) on the labelled real solutions in
tests/data/labelled_solutions.jsonl with the tiny profile's judge settings, for each judge model and each
scoring (`expected`: probability-weighted scores from the reply's top log-probabilities; `sampled`: the
integers the judge wrote; `chained`: one token per dimension on a continued reply). Prints the AUC per dimension
with DeLong's 95 % CI and the wall time. Each judge's model file is read once before its first timing, so the
first scoring does not pay for a cold page cache. Runs in a temporary runs folder, so nothing of the
repository's is touched.

    python bench/judge_validation.py [--judges qwen2.5-coder-0.5b,qwen2.5-coder-1.5b] [--n 120]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import yaml  # noqa: E402

from delta_utils.profile.config import CONFIG_DIR, load_profile  # noqa: E402
from delta_utils.serving.models import gguf_path  # noqa: E402
from delta_utils.stages.judge import validate  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--judges", default="qwen2.5-coder-0.5b,qwen2.5-coder-1.5b")
    ap.add_argument("--scorings", default="expected,sampled")
    ap.add_argument("--n", type=int, default=120)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["DELTA_LAB_RUNS"] = tmp
        data = yaml.safe_load((CONFIG_DIR / "tiny.yaml").read_text())
        for judge in args.judges.split(","):
            with open(gguf_path(judge), "rb") as f:  # warm the page cache
                while f.read(1 << 24):
                    pass
            for scoring in args.scorings.split(","):
                data.update(name=f"bench-{judge}-{scoring}")
                data["judge"].update(model=judge, scoring=scoring)
                path = Path(tmp) / f"{data['name']}.yaml"
                path.write_text(yaml.safe_dump(data))
                t0 = time.monotonic()
                t = validate(load_profile(path), REPO / "tests/data/labelled_solutions.jsonl", limit=args.n)
                wall = time.monotonic() - t0
                print(f"\n{judge}, {scoring} scores: {args.n} solutions in {wall:.0f} s")
                for r in t.itertuples():
                    print(f"  {r.dimension:<20} AUC {r.auc:.3f} [{r.ci_low:.3f}, {r.ci_high:.3f}]  "
                          f"distinct scores {r.distinct_scores}")


if __name__ == "__main__":
    main()
