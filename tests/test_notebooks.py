"""The six notebooks: committed without outputs, in sync with their .py sources, and executed
end to end by papermill on the smoke profile (real models, real training, real figures)."""
import json
import os
import subprocess
import sys

import jupytext
import pandas as pd
import pytest

from delta_utils import prefsets
from delta_utils.config import REPO_ROOT, load_profile
from delta_utils.figures import FIGURES
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
    # the takeaway is drawn from the numbers by a package function, not typed into an f-string here
    last = src.cells[-1].source
    assert "takeaway(" in last and 'f"' not in last, last


def test_the_copy_beside_the_figures_has_no_machine_paths(runs_dir):
    from delta_utils.pipeline import portable

    text = (f'"{runs_dir}/runs/tiny/06_analyze/x.ipynb", "figures go to {runs_dir}/figures/tiny", '
            f'"{REPO_ROOT}/.venv/lib/tqdm.py: warning"')
    assert portable(text) == ('"runs/tiny/06_analyze/x.ipynb", "figures go to figures/tiny", '
                              '"./.venv/lib/tqdm.py: warning"')


def _run(stage, env, run=None):
    extra = ["--run", run] if run else []
    return subprocess.run([sys.executable, "-m", "delta_utils.pipeline", "run", stage, "--profile", "smoke", *extra],
                          env=env, capture_output=True, text=True, cwd=REPO_ROOT)


SMOKE = load_profile("smoke")  # the grid as configs/smoke.yaml defines it
GRID = [r.name for r in SMOKE.train.runs]
GENERATOR_RUNS = {r.name for r in SMOKE.train.runs if prefsets.parse(r.preference_set).kind == "generator"}


FAKE_KEY = "sk-fake-9d2c41-never-write-me"


@pytest.mark.slow
def test_smoke_pipeline_end_to_end(runs_dir):
    env = dict(os.environ, OPENAI_API_KEY=FAKE_KEY, DELTA_LAB_OPENAI_API_KEY=FAKE_KEY)
    for stage in STAGES:
        # as the Makefile does it: each training run its own notebook execution, then the stage collects
        for run in GRID if stage == "04_train" else []:
            r = _run(stage, env, run)
            assert r.returncode == 0 and "done in" in r.stdout, \
                f"{stage}/{run} failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
            assert (runs_dir / "runs" / "smoke" / stage / run / f"{stage}.ipynb").is_file()
        r = _run(stage, env)
        assert r.returncode == 0, f"{stage} failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
        assert "done in" in r.stdout
    run = runs_dir / "runs" / "smoke"
    for stage in STAGES:
        assert (run / stage / f"{stage}.ipynb").is_file()
    figs = runs_dir / "figures" / "smoke"
    for name in FIGURES:
        for ext in ("png", "pdf", "csv"):
            assert (figs / f"{name}.{ext}").stat().st_size > 0, f"{name}.{ext}"
    assert (figs / "findings.md").read_text().count("|") > 20
    # the figures' numbers are the stored evaluation records
    records = pd.read_json(run / "05_evaluate" / "records.jsonl", lines=True)
    pol = records[records.kind == "policy"]
    gains = pd.read_csv(figs / "gains.csv")
    assert set(gains.run) == set(GRID)
    for row in gains.itertuples():
        sel = pol if row.domain == "all" else pol[pol.domain == row.domain]
        acc = sel.groupby("model")["correct"].mean()
        assert row.diff == pytest.approx(acc[row.run] - acc["base"]), row
    gen = pd.read_csv(figs / "generator_gains.csv")
    assert set(gen.run) == GENERATOR_RUNS and GENERATOR_RUNS
    sel = pd.read_csv(figs / "dimension_selection.csv")
    assert {SMOKE.pairing.dimension, "random", "full"} <= set(sel.selection)
    ablation = pd.read_csv(figs / "correctness_ablation.csv").set_index("condition")
    assert ablation.loc["base", "accuracy"] == pytest.approx(pol[pol.model == "base"]["correct"].mean())
    traces = pd.read_json(run / "01_generate" / "traces.jsonl", lines=True)
    ladder = pd.read_csv(figs / "generator_ladder.csv")
    for row in ladder[ladder.eval_set == "train prompts"].itertuples():
        assert row.accuracy == pytest.approx(traces[traces.model == row.model]["correct"].mean())
    # both methods trained, with logged steps
    for name in GRID:
        meta = json.loads((run / "04_train" / name / "run.json").read_text())
        assert meta["steps"] == SMOKE.train.hparams.max_steps
        assert (run / "04_train" / name / "final" / "adapter_config.json").is_file()
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
    # seeds: the same profile run again from scratch (fresh caches, fresh training) gives identical preference
    # data and the same trained weights and losses (to float tolerance, as in test_kill). Evaluation is not
    # repeated: it is greedy decoding of those weights (the CI-time budget spends the second pass on the
    # sampled and trained stages, where seeds matter).
    again = runs_dir / "again"
    env3 = env | {"DELTA_LAB_RUNS": str(again / "runs"), "DELTA_LAB_FIGURES": str(again / "figures")}
    for stage in STAGES[:4]:  # the grid in one 04_train execution this time (the per-run path ran above)
        r = _run(stage, env3)
        assert r.returncode == 0, f"{stage} (second run) failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    sets = sorted((run / "03_pair" / "sets").glob("*.jsonl"))
    assert len(sets) >= 4
    for p in sets:
        assert p.read_bytes() == (again / "runs" / "smoke" / "03_pair" / "sets" / p.name).read_bytes(), p.name
    from safetensors.torch import load_file

    for name in GRID:
        first, second = (load_file(d / "smoke" / "04_train" / name / "final" / "adapter_model.safetensors")
                         for d in (run.parent, again / "runs"))
        assert first.keys() == second.keys(), name
        for k in first:
            assert first[k].float().numpy() == pytest.approx(second[k].float().numpy(), rel=1e-4, abs=1e-6), (name, k)
        logs = [pd.read_csv(d / "smoke" / "04_train" / name / "log.csv") for d in (run.parent, again / "runs")]
        assert logs[0]["loss"].dropna().to_numpy() == pytest.approx(logs[1]["loss"].dropna().to_numpy(), rel=1e-4)
    # a stage cannot run before its inputs exist
    env2 = env | {"DELTA_LAB_RUNS": str(runs_dir / "empty")}
    r = _run("03_pair", env2)
    assert r.returncode != 0 and "01_generate" in (r.stdout + r.stderr)
