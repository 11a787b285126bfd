"""The pipeline's stages (one registry), and the stage folders, manifests and shared caches of one profile's run."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..core.store import RecordCache, atomic_write_json, atomic_write_text, hash_files
from .config import Profile


@dataclass(frozen=True)
class Stage:
    """One stage of the pipeline: the notebook `notebooks/<name>.py`, the folder `runs/<profile>/<name>/`, the
    `make <name>` target. Everything else that knows the stages reads it from `REGISTRY`: the runner (keys, disk
    check, the order), `make check`, the Makefile's stage list (`pipeline stages`) and the tests."""

    name: str
    module: str  # the package module that runs it, below delta_utils (its `run(profile)`; its STAGE is `name`).
    # Not the full dotted name: the stage keys count a module named in a string as imported (depgraph)
    sections: tuple[str, ...]  # the profile sections its key covers (earlier stages' outputs always count)
    outputs: tuple[str, ...]  # what it writes in its folder (besides manifest.json, stage.json, the notebook)
    disk_gb: float  # free disk it needs, roughly (04_train: x4 for full fine-tuning's checkpoints)


REGISTRY: dict[str, Stage] = {s.name: s for s in [
    # evaluate: 01_generate checks the training prompts against the eval sets (decontamination)
    Stage("01_generate", "stages.generate", ("train_prompts", "generation", "models", "evaluate"),
          ("problems.jsonl", "traces.jsonl"), 3.0),  # model conversions, ~0.6 GB per model folder
    Stage("02_judge", "stages.judge", ("judge", "models"),
          ("judgments.jsonl", "scores.jsonl", "verifier.jsonl"), 1.0),
    Stage("03_pair", "stages.pairing", ("pairing", "generation"),
          ("sets/", "hf/", "heldout.jsonl", "card.jsonl", "README.md"), 0.2),
    Stage("04_train", "stages.train", ("train", "models"), ("<run>/final/", "<run>/run.json",
                                                                       "<run>/log.csv"), 2.0),
    Stage("05_evaluate", "stages.evaluate", ("evaluate", "train", "generation", "models", "train_prompts"),
          ("records.jsonl", "summary.jsonl", "answer_loglik.jsonl", "heldout_logps.jsonl"), 0.5),
    Stage("06_analyze", "study.analyze", ("generation", "train", "pairing", "analysis"),
          ("figures/<profile>/: figures, findings, results",), 0.1),
]}
STAGES = list(REGISTRY)  # in order


def trained_run_dir(profile: Profile, name: str) -> Path:
    """The folder of one run of the training grid: runs/<profile>/04_train/<name>/ (final/, run.json, log.csv)."""
    return profile.run_dir() / "04_train" / name


def stage_dir(profile: Profile, stage: str) -> Path:
    d = profile.run_dir() / stage
    d.mkdir(parents=True, exist_ok=True)
    return d


def completions_cache(profile: Profile) -> RecordCache:
    """Every model call of this profile (generations, judgments, evaluations), one row per call."""
    return RecordCache(profile.run_dir() / "cache" / "completions.sqlite")


def write_table(df: pd.DataFrame, path: Path) -> Path:
    """A table as JSON lines, written atomically."""
    atomic_write_text(path, df.to_json(orient="records", lines=True, force_ascii=False))
    return path


def read_table(path: Path) -> pd.DataFrame:
    if not Path(path).is_file():
        raise FileNotFoundError(f"{path} does not exist: run the stage that writes it first (see the Makefile)")
    return pd.read_json(path, orient="records", lines=True, dtype=False)


def write_manifest(profile: Profile, stage: str, outputs: list[Path], **info) -> dict:
    """Record what a stage wrote with a hash of its content; downstream stages key on it."""
    d = stage_dir(profile, stage)
    files = sorted({p for o in outputs for p in ([o] if Path(o).is_file() else Path(o).rglob("*")) if p.is_file()})
    manifest = {"stage": stage, "profile": profile.name, "outputs": [str(p.relative_to(d)) for p in files],
                "content_hash": hash_files(files, root=d), **info}
    atomic_write_json(d / "manifest.json", manifest)
    return manifest


def read_manifest(profile: Profile, stage: str) -> dict | None:
    p = profile.run_dir() / stage / "manifest.json"
    return json.loads(p.read_text()) if p.is_file() else None
