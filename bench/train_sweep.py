"""Which training settings move the tiny policy, at what cost: a sweep over the learning rate, steps, pairs per step,
precision and method, each setting trained and evaluated by the pipeline's own code (train.run, evaluate.run).

Every setting trains one run on the same preference set (by default the widest-gap set `gen__qwen2.5-coder-1.5b`
of an existing tiny run, minus `--heldout` prompts drawn as 03_pair draws them) and is then measured on:
  - held-out preference accuracy and mean DPO implicit-reward margin on the held-out prompts' pairs (every chosen
    generator vs the rejected one), with CIs (likelihood.heldout_preference);
  - the change of the reference answers' log-likelihood over the base policy on the eval sets (likelihood.vs_base);
  - the accuracy change over the base policy per eval set, with the exact McNemar p (stats.compare);
  - seconds per optimizer step (steps 2..N) and the peak resident memory of the training process (each setting
    trains in a fresh process).

    python bench/train_sweep.py [--source runs/tiny] [--heldout 10] [--only NAME ...] [--out FILE]

Prints one row per setting (markdown). Base-policy answers and reference log-probs are cached once for all settings
(one shared cache folder), so the first setting also pays the reference pass.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import yaml  # noqa: E402

SET = "gen__qwen2.5-coder-1.5b"
# name -> (method, hparams overrides); the base is configs/tiny.yaml's train.hparams
SETTINGS = {
    "dpo_lr5e-5": ("dpo", {"learning_rate": 5e-5}),  # the tiny profile's setting before this sweep
    "dpo_lr5e-4": ("dpo", {"learning_rate": 5e-4}),
    "dpo_lr5e-4_fp32": ("dpo", {"learning_rate": 5e-4, "precision": "fp32"}),
    "dpo_lr5e-4_batch2_12steps": ("dpo", {"learning_rate": 5e-4, "batch_size": 2, "max_steps": 12}),
    "dpo_lr2e-4_batch2_12steps": ("dpo", {"learning_rate": 2e-4, "batch_size": 2, "max_steps": 12}),
    "dpo_lr2e-4_batch2_12steps_fp32": ("dpo", {"learning_rate": 2e-4, "batch_size": 2, "max_steps": 12,
                                               "precision": "fp32"}),
    "dpo_lr5e-4_batch2_6steps": ("dpo", {"learning_rate": 5e-4, "batch_size": 2, "max_steps": 6}),
    "dpo_lr2e-4_batch1_24steps": ("dpo", {"learning_rate": 2e-4, "batch_size": 1, "max_steps": 24}),
    "kto_lr2e-4_batch2_12steps": ("kto", {"learning_rate": 2e-4, "batch_size": 2, "max_steps": 12}),
    "dpo_lr5e-4_12steps": ("dpo", {"learning_rate": 5e-4, "max_steps": 12}),
    "dpo_lr2e-3": ("dpo", {"learning_rate": 2e-3}),
}


def profile_for(root: Path, name: str, method: str, hp: dict):
    from delta_utils.profile.config import CONFIG_DIR, load_profile

    data = yaml.safe_load((CONFIG_DIR / "tiny.yaml").read_text())
    data["name"] = name
    data["train"]["hparams"].update(hp)
    data["train"]["runs"] = [{"name": name, "method": method, "preference_set": SET}]
    data["evaluate"]["generators"] = False
    p = root / f"{name}.yaml"
    p.write_text(yaml.safe_dump(data))
    return load_profile(p)


def prepare(root: Path, source: Path, heldout: int) -> None:
    """The training set (SET minus the held-out prompts) and the held-out pairs, from an existing run."""
    import pandas as pd

    from delta_utils.profile.rundir import read_table, write_table
    from delta_utils.stages.pairing import heldout_ids

    problems = read_table(source / "01_generate" / "problems.jsonl")
    held = heldout_ids(problems, heldout, seed=0)
    sets = source / "03_pair" / "sets"
    train = read_table(sets / f"{SET}.jsonl")
    pool = pd.concat([read_table(p) for p in sorted(sets.glob("gen__*.jsonl"))], ignore_index=True)
    write_table(train[~train["prompt_id"].isin(held)], root / "data" / "train.jsonl")
    write_table(pool[pool["prompt_id"].isin(held)], root / "data" / "heldout.jsonl")


def one(root: Path, name: str, stage: str) -> dict:
    """Train (stage 'train') or evaluate (stage 'evaluate') one setting, in this process."""
    import shutil

    os.environ["DELTA_LAB_RUNS"] = str(root / "runs")
    method, hp = SETTINGS[name]
    prof = profile_for(root, name, method, hp)
    run = prof.run_dir()
    if stage == "train":
        (run / "03_pair" / "sets").mkdir(parents=True, exist_ok=True)
        shutil.copy(root / "data" / "train.jsonl", run / "03_pair" / "sets" / f"{SET}.jsonl")
        shutil.copy(root / "data" / "heldout.jsonl", run / "03_pair" / "heldout.jsonl")
        (root / "cache").mkdir(exist_ok=True)
        if not (run / "cache").exists():
            (run / "cache").symlink_to(root / "cache")  # base answers and reference log-probs: computed once
        import transformers

        from delta_utils.stages import train

        steps: list[float] = []

        class Clock(transformers.TrainerCallback):
            def on_step_begin(self, args, state, control, **kw):
                self.t = time.monotonic()

            def on_step_end(self, args, state, control, **kw):
                steps.append(time.monotonic() - self.t)

        orig = transformers.Trainer.__init__

        def patched(self, *a, **kw):
            kw["callbacks"] = list(kw.get("callbacks") or []) + [Clock()]
            orig(self, *a, **kw)

        transformers.Trainer.__init__ = patched
        t0 = time.monotonic()
        train.run(prof)
        meta = json.loads((run / "04_train" / name / "run.json").read_text())
        per_step = sum(steps[1:]) / max(1, len(steps) - 1)
        return {"train_s": round(time.monotonic() - t0, 1), "s_per_step": round(per_step, 2),
                "precision": meta["precision"], "pairs": meta["pairs"], "steps": meta["steps"],
                "train_peak_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)}
    from delta_utils.core.stats import compare
    from delta_utils.stages import evaluate, likelihood

    t0 = time.monotonic()
    records = evaluate.run(prof)
    out = {"eval_s": round(time.monotonic() - t0, 1)}
    pref = likelihood.stage_preference(run, prof.train.hparams.beta)
    r = pref.iloc[0]
    out.update(heldout_acc=r["accuracy"], heldout_acc_ci=[r["acc_low"], r["acc_high"]], margin=r["margin"],
               margin_ci=[r["margin_low"], r["margin_high"]], heldout_pairs=int(r["n"]))
    ll = likelihood.stage_shifts(run).iloc[0]
    out.update(loglik=ll["diff"], loglik_ci=[ll["ci_low"], ll["ci_high"]], loglik_up=ll["share_up"])
    pol = records[records["kind"] == "policy"]
    for s, g in pol.groupby("eval_set"):
        acc = g.groupby(["model", "item_id"])["correct"].mean()
        c = compare(acc.loc[name], acc.loc["base"])
        out[f"acc_{s}"] = {"base": float(acc.loc["base"].mean()), "run": float(acc.loc[name].mean()),
                           "diff": c["diff"], "p": c["p_value"], "up": c["n_pos"],
                           "down": c["n_neg"]}
    return out


def fmt(r: dict) -> str:
    ci = lambda v: f"[{v[0]:.2f}, {v[1]:.2f}]"  # noqa: E731
    acc = "; ".join(f"{k[4:]} {v['base']:.0%}→{v['run']:.0%} (+{v['up']}/−{v['down']}, p {v['p']:.2g})"
                    for k, v in r.items() if k.startswith("acc_"))
    return (f"| {r['name']} | {r['precision']} | {r['pairs']} × {r['steps']} st | {r['s_per_step']} | "
            f"{r['train_s']} | {r['train_peak_gb']} | {r['heldout_acc']:.2f} "
            f"{ci(r['heldout_acc_ci'])} | {r['margin']:.2f} {ci(r['margin_ci'])} | {r['loglik']:+.2f} "
            f"{ci(r['loglik_ci'])} | {acc} |")


HEADER = ("| setting | precision | pairs × steps | s/step | train s | train peak GB | held-out pref. acc [95 % CI] | "
          "margin [CI] | Δ answer log-lik (nats) [CI] | accuracy base→run (+up/−down, McNemar p) |\n"
          "|---|---|---|---|---|---|---|---|---|---|")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--source", type=Path, default=Path("runs/tiny"), help="a tiny run with 01_generate and 03_pair")
    ap.add_argument("--heldout", type=int, default=10, help="prompts held out (drawn as pairing.heldout_ids draws)")
    ap.add_argument("--only", nargs="*", choices=sorted(SETTINGS), help="settings to run (default: all)")
    ap.add_argument("--root", type=Path, help="work folder (default: a new temporary one); reused caches")
    ap.add_argument("--out", type=Path, help="also write the table here")
    ap.add_argument("--one", nargs=2, metavar=("SETTING", "STAGE"), help=argparse.SUPPRESS)
    a = ap.parse_args()
    root = a.root or Path(tempfile.mkdtemp(prefix="bench-sweep-"))
    if a.one:
        print("RESULT " + json.dumps(one(root, *a.one)))
        return
    root.mkdir(parents=True, exist_ok=True)
    prepare(root, a.source.resolve(), a.heldout)
    rows = []
    print(f"work folder {root}; source {a.source}; {a.heldout} held-out prompts", flush=True)
    print(HEADER, flush=True)
    for name in a.only or SETTINGS:
        done = root / "results" / f"{name}.json"  # a setting measured before in this work folder is not redone
        if done.is_file():
            rows.append(json.loads(done.read_text()))
            print(fmt(rows[-1]), flush=True)
            continue
        r = {"name": name}
        for stage in ("train", "evaluate"):
            p = subprocess.run([sys.executable, __file__, "--root", str(root), "--one", name, stage],
                               capture_output=True, text=True, env=os.environ | {"OMP_NUM_THREADS": "2"})
            got = [ln for ln in p.stdout.splitlines() if ln.startswith("RESULT ")]
            if p.returncode or not got:
                sys.exit(f"{name} {stage} failed:\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}")
            r.update(json.loads(got[-1][7:]))
        rows.append(r)
        done.parent.mkdir(exist_ok=True)
        done.write_text(json.dumps(r))
        print(fmt(r), flush=True)
    if a.out:
        a.out.write_text(HEADER + "\n" + "\n".join(fmt(r) for r in rows) + "\n")


if __name__ == "__main__":
    main()
