"""05_evaluate's learning signal on CPU: what it costs per checkpoint and what the weights' precision does to it.

For the base policy and one trained checkpoint (default: the tiny profile's dpo_top50_step), each time into a fresh
cache: the reference answers' log-likelihood on every evaluation item (`likelihood.answer_logliks`) and the held-out
pairs' log-probs (`likelihood.pair_logps`), once per (precision, batch size). Prints the seconds per checkpoint
(model load excluded: loaded once and kept, as 05_evaluate does), and what the pipeline reports from them: the
trained run's mean change of the answer log-likelihood over base, and its held-out accuracy and mean implicit-reward
margin, so a faster setting that moves the measurement shows it.

    python bench/learning_signal.py [--profile tiny] [--run dpo_top50_step] [--batch-sizes 1,16]
                                    [--precisions fp32,bf16]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pandas as pd  # noqa: E402

from delta_utils.core.store import RecordCache  # noqa: E402
from delta_utils.data.decontam import eval_sets  # noqa: E402
from delta_utils.profile.config import load_profile  # noqa: E402
from delta_utils.serving.engine import _load_hf  # noqa: E402
from delta_utils.serving.models import get_spec  # noqa: E402
from delta_utils.stages import evaluate, likelihood  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--profile", default="tiny")
    ap.add_argument("--run", default="dpo_top50_step", help="a trained run of the profile")
    ap.add_argument("--batch-sizes", default="1,16", help="comma-separated: items (and pairs' traces) per pass")
    ap.add_argument("--precisions", default="fp32,bf16", help="comma-separated: fp32 (05_evaluate's), bf16")
    a = ap.parse_args()
    prof = load_profile(a.profile)
    sets = eval_sets(prof)
    heldout = evaluate.heldout_pairs(prof)
    ck = {k: v[:2] for k, v in evaluate.checkpoints(prof).items() if k in ("base", a.run)}
    chat = get_spec(prof.train.policy).chat
    n_items = sum(likelihood.reference_answer(p) is not None for ps in sets.values() for p in ps)
    print(f"{a.profile}: base and {a.run}; {n_items} items with a reference answer, {len(heldout)} held-out pairs "
          f"(max_length {prof.train.hparams.max_length})")
    print("| precision | batch | answer log-lik s/checkpoint | held-out pairs s/checkpoint | Δ answer log-lik (nats) "
          "[95 % CI] | held-out acc | margin [95 % CI] |")
    print("|---|---|---|---|---|---|---|")
    for precision in a.precisions.split(","):
        for bs in [int(x) for x in a.batch_sizes.split(",")]:
            secs = {"ll": 0.0, "lp": 0.0}
            lls, lps = [], []
            with tempfile.TemporaryDirectory() as tmp, RecordCache(Path(tmp) / "c.sqlite") as cache:
                for name, (folder, ident) in ck.items():
                    _load_hf(Path(folder), "cpu", precision)  # the load is not timed
                    t0 = time.monotonic()
                    lls.append(likelihood.answer_logliks(sets, {name: (folder, ident)}, cache, "cpu", chat=chat,
                                                         batch_size=bs, precision=precision))
                    t1 = time.monotonic()
                    if len(heldout):
                        lps.append(likelihood.pair_logps(heldout, {name: (folder, ident)}, cache, "cpu",
                                                         max_length=prof.train.hparams.max_length, batch_size=bs,
                                                         precision=precision))
                    secs["ll"] += t1 - t0
                    secs["lp"] += time.monotonic() - t1
            shift = likelihood.vs_base(pd.concat(lls)).iloc[0]
            pref = likelihood.heldout_preference(pd.concat(lps), prof.train.hparams.beta) if lps else None
            acc = margin = "n/a"
            if pref is not None and not pref.empty:
                r = pref.iloc[0]
                acc = f"{r['accuracy']:.2f}"
                margin = f"{r['margin']:.2f} [{r['margin_low']:.2f}, {r['margin_high']:.2f}]"
            print(f"| {precision} | {bs} | {secs['ll'] / len(ck):.1f} | {secs['lp'] / len(ck):.1f} | "
                  f"{shift['diff']:.2f} [{shift['ci_low']:.2f}, {shift['ci_high']:.2f}] | {acc} | {margin} |",
                  flush=True)


if __name__ == "__main__":
    main()
