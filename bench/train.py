"""DPO (or KTO) step time on CPU: the project's training configuration vs TRL's defaults, on the same data.

  A. TRL defaults: full fine-tuning, gradient checkpointing on, a reference forward every step;
  B. the project's tiny configuration: LoRA r16 on all linear layers, gradient checkpointing off,
     bf16 autocast where the CPU has native bf16 units (AMX / AVX512-BF16), reference log-probs
     precomputed once and persisted (delta_utils.stages.train);
  C. B again, as a second run of the grid: DPO on a subset of the same pool, KTO on the same pool (its
     KL term pairs each prompt with a neighbour's completion, so a subset has new (prompt, completion)
     combinations); its reference log-probs come from the store (no forward).
Prints seconds per optimizer step (steps 2..N, after warm-up), the ratio B/A (goal <= 0.4), and the
reference-pass time saved by C.

    python bench/train.py [--method dpo|kto] [--pairs 16] [--steps 5] [--batch 4] [--set PATH]

By default the pairs are synthetic (~60-100 tokens per completion); `--set runs/tiny/03_pair/sets/
gen__qwen2.5-coder-1.5b.jsonl` takes the first `--pairs` pairs of a real preference set instead.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import yaml  # noqa: E402

from delta_utils.data.tasks import chat_prompt, make_problems  # noqa: E402
from delta_utils.profile.config import CONFIG_DIR, RunSpec, load_profile  # noqa: E402
from delta_utils.profile.rundir import write_table  # noqa: E402


def pairs(n: int):
    import pandas as pd

    rows = []
    for p in make_problems("arithmetic", n, seed=77, min_steps=2, max_steps=3):
        sym = {"add": "+", "sub": "-", "mul": "*", "div": "/"}
        good = " ".join(f"Then {s.a} {sym[s.op]} {s.b} = {s.result}." for s in p.steps) + f" The answer is {p.answer}."
        bad = " ".join(f"Then {s.a} {sym[s.op]} {s.b} = {s.result + 3}." for s in p.steps) + \
            f" So I think the answer might be {p.answer + 3}, but I am not sure. The answer is {p.answer + 3}."
        rows.append({"prompt": chat_prompt(p), "chosen": [{"role": "assistant", "content": "Step by step. " + good}],
                     "rejected": [{"role": "assistant", "content": "Let me think. " + bad}], "prompt_id": p.id})
    return pd.DataFrame(rows)


def profile(root: Path, name: str, hp: dict):
    data = yaml.safe_load((CONFIG_DIR / "tiny.yaml").read_text())
    data["name"] = name
    data["train"]["hparams"].update(hp)
    p = root / f"{name}.yaml"
    p.write_text(yaml.safe_dump(data))
    return load_profile(p)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--method", choices=["dpo", "kto"], default="dpo")
    ap.add_argument("--pairs", type=int, default=16)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--set", type=Path, help="a preference set written by 03_pair (.jsonl) instead of synthetic pairs")
    ap.add_argument("--baseline-precision", choices=["fp32", "bf16"], default="fp32",
                    help="A's precision: the issue's measured baseline is fp32 (TRL's own default is bf16)")
    a = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-train-"))
    os.environ["DELTA_LAB_RUNS"] = str(root / "runs")
    from transformers import TrainerCallback

    import delta_utils.stages.train as T

    times: dict[str, list[float]] = {}

    class Clock(TrainerCallback):
        def __init__(self, key):
            self.key, self.t = key, None

        def on_step_begin(self, args, state, control, **kw):
            self.t = time.monotonic()

        def on_step_end(self, args, state, control, **kw):
            times.setdefault(self.key, []).append(time.monotonic() - self.t)

    if a.set:
        from delta_utils.profile.rundir import read_table

        data = read_table(a.set).iloc[: a.pairs].reset_index(drop=True)
    else:
        data = pairs(a.pairs)
    common = {"max_steps": a.steps, "batch_size": a.batch, "learning_rate": 5e-6}
    configs = {
        "A_trl_defaults": {**common, "lora": None, "gradient_checkpointing": True, "precompute_ref_log_probs": False,
                           "precision": a.baseline_precision},
        "B_project": {**common, "lora": {"r": 16, "alpha": 32}, "gradient_checkpointing": False,
                      "precompute_ref_log_probs": True, "precision": "auto"},
    }
    wall = {}
    second = "subset" if a.method == "dpo" else "pool"  # C's set (see the docstring)
    orig_init = T.train_run
    for key, hp in configs.items():
        prof = profile(root, key, hp)
        for name, df in [("pool", data), ("subset", data.iloc[: a.pairs // 2])]:
            p = prof.run_dir() / "03_pair" / "sets" / f"{name}.jsonl"
            p.parent.mkdir(parents=True, exist_ok=True)
            write_table(df, p)
        runs = [("pool", key)] + ([(second, "C_project_reused_ref")] if key == "B_project" else [])
        for pset, label in runs:
            import transformers

            orig = transformers.Trainer.__init__

            def patched(self, *args, _label=label, _orig=orig, **kw):
                kw["callbacks"] = list(kw.get("callbacks") or []) + [Clock(_label)]
                _orig(self, *args, **kw)

            transformers.Trainer.__init__ = patched
            try:
                t0 = time.monotonic()
                d = orig_init(prof, RunSpec(name=label, method=a.method, preference_set=pset))
                wall[label] = (time.monotonic() - t0, json.loads((d / "run.json").read_text()))
            finally:
                transformers.Trainer.__init__ = orig
    per_step = {k: sum(v[1:]) / max(1, len(v) - 1) for k, v in times.items()}
    print(f"{a.method.upper()}, {len(data)} pairs ({a.set or 'synthetic'}), batch {a.batch}, {a.steps} steps, "
          "SmolLM2-135M on CPU")
    for k in ["A_trl_defaults", "B_project", "C_project_reused_ref"]:
        w, meta = wall[k]
        print(f"{k:>22}: {per_step[k]:6.2f} s/step (steps 2..{len(times[k])}), whole run {w:6.1f} s, "
              f"reference log-probs computed {meta.get('ref_logps_computed')}, reused {meta.get('ref_logps_reused')}")
    print(f"ratio B/A step time = {per_step['B_project'] / per_step['A_trl_defaults']:.2f} (goal <= 0.4)")
    pre_b = wall["B_project"][0] - sum(times["B_project"])
    pre_c = wall["C_project_reused_ref"][0] - sum(times["C_project_reused_ref"])
    print(f"time outside optimizer steps (load + reference pass): first run {pre_b:.1f} s, "
          f"second run ({second}) {pre_c:.1f} s")


if __name__ == "__main__":
    main()
