"""Stage folders, manifests and the shared caches of one profile's run."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from .config import Profile
from .store import RecordCache, atomic_write_json, atomic_write_text, hash_files

STAGES = ["01_generate", "02_judge", "03_pair", "04_train", "05_evaluate", "06_analyze"]


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
