"""Running smoke-profile stages as `make` does, and handing the first smoke run to the determinism test.

`test_notebooks.py` runs the whole smoke pipeline; `test_determinism.py` runs generate, judge, pair and
train again from scratch and compares the two. They sit in different files so that `make test`'s two xdist
workers run them at the same time. The first run publishes its run folder in a hand-off file once training is
done (or says it failed); the determinism test waits for that file. Run alone, without the smoke test in the
session, the determinism test makes its own first run.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from delta_utils.core.store import atomic_write_json
from delta_utils.profile.config import REPO_ROOT, load_profile
from delta_utils.profile.rundir import STAGES

SMOKE = load_profile("smoke")  # the grid as configs/smoke.yaml defines it
GRID = [r.name for r in SMOKE.train.runs]
SMOKE_TEST = "tests/test_notebooks.py::test_smoke_pipeline_end_to_end"
FAKE_KEY = "sk-fake-9d2c41-never-write-me"


def run_stage(stage: str, env: dict, run: str | None = None) -> subprocess.CompletedProcess:
    extra = ["--run", run] if run else []
    return subprocess.run([sys.executable, "-m", "delta_utils.runner.pipeline", "run", stage, "--profile", "smoke",
                           *extra], env=env, capture_output=True, text=True, cwd=REPO_ROOT)


def run_pipeline(root: Path, env: dict, stages=STAGES):
    """The stages in order, as the Makefile runs them (each training run its own notebook execution, then
    04_train collects); yields each stage's name once it is done, so a caller can act in between."""
    for stage in stages:
        for run in GRID if stage == "04_train" else []:
            r = run_stage(stage, env, run)
            assert r.returncode == 0 and "done in" in r.stdout, \
                f"{stage}/{run} failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
            assert (root / "runs" / "smoke" / stage / run / f"{stage}.ipynb").is_file()
        r = run_stage(stage, env)
        assert r.returncode == 0, f"{stage} failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
        assert "done in" in r.stdout
        yield stage


def smoke_env(root: Path) -> dict:
    """The environment of one smoke run: its own runs and figures folders, a fake API key to look for."""
    return dict(os.environ, OPENAI_API_KEY=FAKE_KEY, DELTA_LAB_OPENAI_API_KEY=FAKE_KEY,
                DELTA_LAB_RUNS=str(root / "runs"), DELTA_LAB_FIGURES=str(root / "figures"))


def handoff_file(tmp_path_factory) -> Path:
    """One path for the whole test session: the xdist workers' temp folders share the controller's parent."""
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    return shared / f"smoke-first-run-{os.environ.get('PYTEST_XDIST_TESTRUNUID', 'serial')}.json"


def publish(path: Path, status: str, runs: Path | None = None) -> None:
    atomic_write_json(path, {"status": status, "runs": str(runs) if runs else None})


def wait_for(path: Path, timeout_s: float = 3600) -> dict:
    deadline = time.monotonic() + timeout_s
    while not path.is_file():
        if time.monotonic() > deadline:
            raise TimeoutError(f"the first smoke run did not publish {path} within {timeout_s:.0f} s")
        time.sleep(2)
    return json.loads(path.read_text())
