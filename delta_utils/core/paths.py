"""Where things live: the repository, its profiles and the runs folder (a leaf: imports nothing of delta_utils)."""
from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]  # delta_utils/core/paths.py -> the checkout
CONFIG_DIR = REPO_ROOT / "configs"


def runs_root() -> Path:
    return Path(os.environ.get("DELTA_LAB_RUNS") or REPO_ROOT / "runs")


def resolve(path: str | os.PathLike) -> Path:
    """A path from a profile: ~ expanded, a relative one taken from the repository root."""
    p = Path(path).expanduser()
    return p if p.is_absolute() else (REPO_ROOT / p)


def figures_root() -> Path:
    """Where `figures/<profile>/` lives: $DELTA_LAB_FIGURES, else the repository's figures/ folder."""
    return Path(os.environ.get("DELTA_LAB_FIGURES") or REPO_ROOT / "figures")
