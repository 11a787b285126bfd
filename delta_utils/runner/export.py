"""Hub export: the preference sets and the trained models of a profile, with cards and provenance.

    make push PROFILE=tiny REPO=you/delta-lab-tiny DRY_RUN=1    # writes runs/tiny/push/, pushes nothing
    make push PROFILE=tiny REPO=you/delta-lab-tiny              # needs HF_TOKEN in the environment

What goes where:
- dataset repo ``REPO``: every non-empty preference set of 03_pair as Parquet, in TRL's paired form
  (``data/<set>.parquet``: prompt / chosen / rejected + provenance) and its unpaired KTO form
  (``data/<set>__kto.parquet``: prompt / completion / label), one dataset config per form, so
  ``load_dataset(REPO, "top50__step_coherence")`` works; the dataset card (03_pair's, with the sets
  table); the validated profile (``profile.yaml``, every default filled in) and ``provenance.json``
  (profile hash, git commit, package version).
- model repo ``REPO-<run>`` per trained run: ``final/`` (a LoRA adapter or full weights) and a model card
  (base model, preference set, method and loss, hyper-parameters, evaluation summary from 05_evaluate).

The folders are written in full first (`stage`); `push` then makes one `upload_folder` call per repo.
The token is read from the environment only (``HF_TOKEN``) and is never written anywhere.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import yaml

from ..core.markdown import markdown_table
from ..core.store import atomic_write_json, atomic_write_text
from ..profile.config import REPO_ROOT, Profile, load_profile
from ..profile.rundir import read_table
from ..serving.models import get_spec
from ..stages.pairing import to_kto


def export_dir(profile: Profile) -> Path:
    return profile.run_dir() / "push"


def _git_commit() -> str | None:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def provenance(profile: Profile) -> dict:
    from importlib.metadata import version

    return {"profile": profile.name, "profile_hash": profile.section_hash(*type(profile).model_fields),
            "git_commit": _git_commit(), "delta_lab": version("delta-lab")}


def stage_datasets(profile: Profile, repo: str, out: Path) -> list[str]:
    """Write the dataset repo's folder; returns the set names it holds."""
    sets_dir = profile.run_dir() / "03_pair" / "sets"
    names = sorted(p.stem for p in sets_dir.glob("*.jsonl"))
    if not names:
        raise FileNotFoundError(f"no preference sets in {sets_dir}: run 03_pair (make 03_pair PROFILE={profile.name})")
    (out / "data").mkdir(parents=True, exist_ok=True)
    configs = []
    for name in names:
        pairs = read_table(sets_dir / f"{name}.jsonl")
        pairs.to_parquet(out / "data" / f"{name}.parquet", index=False)
        to_kto(pairs, seed=profile.pairing.seed).to_parquet(out / "data" / f"{name}__kto.parquet", index=False)
        configs += [f"- config_name: {n}\n  data_files: data/{n}.parquet" for n in (name, f"{name}__kto")]
    card = profile.run_dir() / "03_pair" / "README.md"
    body = card.read_text() if card.is_file() else f"# Preference sets — profile `{profile.name}`\n"
    prov = provenance(profile)
    front = ("---\nlicense: other\ntags: [dpo, kto, preference, trl, delta-lab]\nconfigs:\n" + "\n".join(configs)
             + "\n---\n")
    atomic_write_text(out / "README.md", front + body + _provenance_md(prov, repo))
    atomic_write_text(out / "profile.yaml", yaml.safe_dump(profile.model_dump(mode="json"), sort_keys=False))
    atomic_write_json(out / "provenance.json", prov)
    return names


def _provenance_md(prov: dict, repo: str) -> str:
    return (f"\n## Provenance\n\nProfile `{prov['profile']}` (hash `{prov['profile_hash']}`, in `profile.yaml`), "
            f"delta-lab {prov['delta_lab']} at commit `{prov['git_commit']}`. Load a set with "
            f"`datasets.load_dataset(\"{repo}\", \"<set>\")`.\n")


def eval_summary(profile: Profile, run: str) -> pd.DataFrame:
    p = profile.run_dir() / "05_evaluate" / "summary.jsonl"
    if not p.is_file():
        return pd.DataFrame()
    s = read_table(p)
    cols = ["model", "eval_set", "domain", "n_items", "accuracy", "ci_low", "ci_high"]
    return s[s["model"].isin([run, "base"])][cols]


def model_card(profile: Profile, spec, meta: dict, repo: str, dataset_repo: str) -> str:
    base = get_spec(profile.train.policy)
    lora = (Path(meta["final"]) / "adapter_config.json").is_file()
    ev = eval_summary(profile, spec.name)
    table = markdown_table(ev.round(3)) if len(ev) else "Not evaluated yet (run 05_evaluate)."
    hp = "\n".join(f"| {k} | {v} |" for k, v in meta["hparams"].items())
    return f"""---
base_model: {base.hub_id}
library_name: {"peft" if lora else "transformers"}
datasets: [{dataset_repo}]
tags: [{spec.method}, trl, delta-lab]
---
# {repo}

`{base.hub_id}` trained with {spec.method.upper()} (loss `{meta.get("loss_type") or spec.method}`) on the preference
set `{spec.preference_set}` of [{dataset_repo}](https://huggingface.co/datasets/{dataset_repo})
({meta["pairs"]} pairs), as {"a LoRA adapter" if lora else "full weights"}. Run `{spec.name}` of profile
`{profile.name}`, run hash `{meta["hash"]}`, {meta["steps"]} steps on {meta["device"]} ({meta["precision"]}).

## Hyper-parameters

| field | value |
|---|---|
{hp}

## Evaluation (delta-lab's own prompts and checker; accuracy with a 95 % bootstrap CI, against the base policy)

{table}
"""


def stage(profile: Profile, repo: str) -> dict[str, Path]:
    """Write every folder that `push` would upload; returns repo id -> folder."""
    out = export_dir(profile)
    shutil.rmtree(out, ignore_errors=True)
    folders = {repo: out / "datasets" / repo.replace("/", "__")}
    stage_datasets(profile, repo, folders[repo])
    for spec in profile.train.runs:
        run = profile.run_dir() / "04_train" / spec.name
        if not (run / "run.json").is_file():
            continue  # not trained (yet): nothing to push for it
        meta = json.loads((run / "run.json").read_text()) | {"final": str(run / "final")}
        model_repo = f"{repo}-{spec.name}"
        d = out / "models" / model_repo.replace("/", "__")
        shutil.copytree(run / "final", d, ignore=shutil.ignore_patterns("training_args.bin", "README.md"))
        atomic_write_text(d / "README.md", model_card(profile, spec, meta, model_repo, repo))
        folders[model_repo] = d
    return folders


def push(profile: Profile, repo: str, dry_run: bool = False) -> dict[str, Path]:
    """Stage the folders; unless `dry_run`, create each repo and upload its folder (one call per repo)."""
    folders = stage(profile, repo)
    for rid, d in folders.items():
        n = sum(1 for p in d.rglob("*") if p.is_file())
        print(f"{'would push' if dry_run else 'pushing'} {d} -> {rid} ({n} files)", flush=True)
    if dry_run:
        return folders
    token = os.environ.get("HF_TOKEN")
    if not token:
        raise RuntimeError("pushing needs a Hub token in the environment (HF_TOKEN); DRY_RUN=1 writes the folders only")
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    for rid, d in folders.items():
        kind = "dataset" if d.parent.name == "datasets" else "model"
        api.create_repo(rid, repo_type=kind, exist_ok=True, private=True)  # private: you decide when to publish
        api.upload_folder(repo_id=rid, repo_type=kind, folder_path=str(d),
                          commit_message=f"delta-lab {profile.name}")
    return folders


def main(argv: list[str] | None = None) -> None:
    import argparse

    ap = argparse.ArgumentParser(prog="python -m delta_utils.runner.export")
    ap.add_argument("--profile", default="tiny")
    ap.add_argument("--repo", required=True, help="dataset repo id (models go to <repo>-<run>)")
    ap.add_argument("--dry-run", action="store_true")
    a = ap.parse_args(argv)
    push(load_profile(a.profile), a.repo, a.dry_run)


if __name__ == "__main__":
    main()
