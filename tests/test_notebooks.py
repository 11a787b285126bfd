"""The six notebooks: committed without outputs, in sync with their .py sources, and executed
end to end by papermill on the smoke profile (real models, real training, real figures)."""
import json
import os
import subprocess
import sys

import jupytext
import pandas as pd
import pytest

from delta_utils.config import REPO_ROOT
from delta_utils.stages import STAGES

NB = REPO_ROOT / "notebooks"


@pytest.mark.parametrize("stage", STAGES)
def test_notebook_committed_clean_and_in_sync(stage):
    ipynb = json.loads((NB / f"{stage}.ipynb").read_text())
    assert all(not c.get("outputs") for c in ipynb["cells"] if c["cell_type"] == "code")
    src = jupytext.read(NB / f"{stage}.py")
    pair = jupytext.read(NB / f"{stage}.ipynb")
    assert [c.source for c in src.cells] == [c.source for c in pair.cells], "run `make notebooks`"
    tags = [c.metadata.get("tags", []) for c in src.cells]
    assert sum("parameters" in t for t in tags) == 1
    assert src.cells[0].cell_type == "markdown" and "**Reads:**" in src.cells[0].source
    assert "Takeaway" in src.cells[-1].source


def _run(stage, env, run=None):
    extra = ["--run", run] if run else []
    return subprocess.run([sys.executable, "-m", "delta_utils.pipeline", "run", stage, "--profile", "smoke", *extra],
                          env=env, capture_output=True, text=True, cwd=REPO_ROOT)


GRID = ["dpo_gen_qwen0.5b", "kto_gen_qwen0.5b"]


FAKE_KEY = "sk-fake-9d2c41-never-write-me"


@pytest.mark.slow
def test_smoke_pipeline_end_to_end(runs_dir):
    env = dict(os.environ, OPENAI_API_KEY=FAKE_KEY, DELTA_LAB_OPENAI_API_KEY=FAKE_KEY)
    for stage in STAGES:
        # as the Makefile does it: each training run its own notebook execution, then the stage collects
        for run in GRID if stage == "04_train" else []:
            r = _run(stage, env, run)
            assert r.returncode == 0 and "done in" in r.stdout, f"{stage}/{run} failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
            assert (runs_dir / "runs" / "smoke" / stage / run / f"{stage}.ipynb").is_file()
        r = _run(stage, env)
        assert r.returncode == 0, f"{stage} failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
        assert "done in" in r.stdout
    run = runs_dir / "runs" / "smoke"
    for stage in STAGES:
        assert (run / stage / f"{stage}.ipynb").is_file()
    figs = runs_dir / "figures" / "smoke"
    for name in ["generator_ladder", "delta_by_dimension", "eval_accuracy", "training_curves"]:
        for ext in ("png", "pdf", "csv"):
            assert (figs / f"{name}.{ext}").stat().st_size > 0
    # the figure's numbers are the stored evaluation records
    records = pd.read_json(run / "05_evaluate" / "records.jsonl", lines=True)
    fig = pd.read_csv(figs / "eval_accuracy.csv")
    for row in fig.itertuples():
        rec = records[(records.model == row.model) & (records.eval_set == row.eval_set)]
        assert row.accuracy == pytest.approx(rec["correct"].mean())
    # both methods trained, with logged steps
    for name in ["dpo_gen_qwen0.5b", "kto_gen_qwen0.5b"]:
        meta = json.loads((run / "04_train" / name / "run.json").read_text())
        assert meta["steps"] == 2 and (run / "04_train" / name / "final" / "adapter_config.json").is_file()
    # a second run with nothing changed recomputes nothing
    for stage in STAGES:
        r = _run(stage, env)
        assert r.returncode == 0 and "skipped" in r.stdout, r.stdout
    r = _run("04_train", env, GRID[0])
    assert r.returncode == 0 and "skipped" in r.stdout, r.stdout
    # the API key in the environment is nowhere in what the pipeline wrote (executed notebooks included)
    for f in list((runs_dir / "runs").rglob("*")) + list((runs_dir / "figures").rglob("*")):
        if f.is_file():
            assert FAKE_KEY.encode() not in f.read_bytes(), f
    # a stage cannot run before its inputs exist
    env2 = env | {"DELTA_LAB_RUNS": str(runs_dir / "empty")}
    r = _run("03_pair", env2)
    assert r.returncode != 0 and "01_generate" in (r.stdout + r.stderr)
