import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"


@pytest.fixture
def runs_dir(tmp_path, monkeypatch):
    """An empty runs/ and figures/ for one test, so tests never touch the repository's."""
    monkeypatch.setenv("DELTA_LAB_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("DELTA_LAB_FIGURES", str(tmp_path / "figures"))
    return tmp_path


@pytest.fixture(autouse=True)
def _quiet(monkeypatch):
    monkeypatch.setenv("TQDM_DISABLE", os.environ.get("TQDM_DISABLE", "1"))
