import os
from pathlib import Path

import pytest

# progress bars off in tests (tqdm reads this when it is imported)
os.environ.setdefault("TQDM_DISABLE", "1")

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"


@pytest.fixture
def runs_dir(tmp_path, monkeypatch):
    """An empty runs/ and figures/ for one test, so tests never touch the repository's."""
    monkeypatch.setenv("DELTA_LAB_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("DELTA_LAB_FIGURES", str(tmp_path / "figures"))
    return tmp_path
