import os
from pathlib import Path

import pytest

# progress bars off in tests (tqdm reads this when it is imported)
os.environ.setdefault("TQDM_DISABLE", "1")
# `make test` runs two xdist workers: each gets its share of the cores (torch and the llama.cpp servers read
# OMP_NUM_THREADS), since threads beyond the free cores spin-wait (ggml) and slow both workers down severalfold
if os.environ.get("PYTEST_XDIST_WORKER_COUNT"):
    os.environ["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"])))

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"


@pytest.fixture(scope="session")
def policy():
    """The real SmolLM2-135M-Instruct as a transformers folder (converted from its packaged GGUF once per machine)."""
    from delta_utils.serving import models

    return models.hf_dir("smollm2-135m")


@pytest.fixture
def runs_dir(tmp_path, monkeypatch):
    """An empty runs/ and figures/ for one test, so tests never touch the repository's."""
    monkeypatch.setenv("DELTA_LAB_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("DELTA_LAB_FIGURES", str(tmp_path / "figures"))
    return tmp_path


# ---------------------------------------------------------------- order: longest first
# `make test` runs two xdist workers (--dist loadfile): each takes whole files, in collection order, and takes
# another file whenever it has two or fewer tests pending. The smoke pipeline (test_notebooks.py) and its
# determinism rerun (test_determinism.py) are the long poles: they go first, one to each worker, the smoke test
# first within its file so that its worker takes no further file until the pipeline is done. The third file
# (quick) joins the smoke test, the fourth the rerun; the rest are pulled by whichever worker is free.
LONGEST_FIRST = ["test_notebooks.py", "test_determinism.py", "test_pairing.py", "test_kill.py",
                 "test_paper_paths.py", "test_judge_validation.py", "test_lmeval.py", "test_train.py"]


def pytest_collection_modifyitems(items):
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}

    def key(it):
        return rank.get(Path(str(it.fspath)).name, len(rank)), it.name != "test_smoke_pipeline_end_to_end"

    items.sort(key=key)  # stable: the order inside each file is kept otherwise


# ---------------------------------------------------------------- where the suite's time goes
_FILE_SECONDS: dict[str, float] = {}


def pytest_runtest_logreport(report):
    path = report.nodeid.split("::")[0]
    _FILE_SECONDS[path] = _FILE_SECONDS.get(path, 0.0) + report.duration


def pytest_terminal_summary(terminalreporter):
    """Seconds per test file (setup + call + teardown), longest first: the CI breakdown."""
    if not _FILE_SECONDS:
        return
    total = sum(_FILE_SECONDS.values())
    terminalreporter.section("seconds per test file")
    for path, s in sorted(_FILE_SECONDS.items(), key=lambda kv: -kv[1]):
        terminalreporter.write_line(f"{s:8.1f} s  {100 * s / total:5.1f} %  {path}")
    terminalreporter.write_line(f"{total:8.1f} s  total")
