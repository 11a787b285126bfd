"""The six notebooks: committed without outputs, in sync with their .py sources, and executed
end to end by papermill on the smoke profile (real models, real training, real figures)."""
import json

import jupytext
import pandas as pd
import pytest
from smoke_run import FAKE_KEY, GRID, SMOKE, handoff_file, publish, run_pipeline, run_stage, smoke_env

from delta_utils.data import prefsets
from delta_utils.profile.config import REPO_ROOT
from delta_utils.profile.rundir import STAGES
from delta_utils.stages import likelihood
from delta_utils.study.figures import FIGURES

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
    from delta_utils.runner.pipeline import portable

    text = (f'"{runs_dir}/runs/tiny/06_analyze/x.ipynb", "figures go to {runs_dir}/figures/tiny", '
            f'"{REPO_ROOT}/.venv/lib/tqdm.py: warning"')
    assert portable(text) == ('"runs/tiny/06_analyze/x.ipynb", "figures go to figures/tiny", '
                              '"./.venv/lib/tqdm.py: warning"')


GENERATOR_RUNS = {r.name for r in SMOKE.train.runs if prefsets.parse(r.preference_set).kind == "generator"}


@pytest.mark.slow
def test_smoke_pipeline_end_to_end(runs_dir, tmp_path_factory):
    env = smoke_env(runs_dir)
    handoff, published = handoff_file(tmp_path_factory), False
    try:
        for stage in run_pipeline(runs_dir, env):
            if stage == "04_train":  # the determinism test (another worker) compares its rerun with this run
                publish(handoff, "ok", runs_dir / "runs")
                published = True
    finally:
        if not published:
            publish(handoff, "failed")
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
    # the held-out prompts are in no preference set, and every run is measured on their pairs
    held = pd.read_json(run / "03_pair" / "heldout.jsonl", lines=True)
    assert 0 < held.prompt_id.nunique() <= SMOKE.pairing.heldout
    for f in (run / "03_pair" / "sets").glob("*.jsonl"):
        assert not set(pd.read_json(f, lines=True).prompt_id) & set(held.prompt_id), f.name
    pref = likelihood.stage_preference(run, SMOKE.train.hparams.beta)
    assert set(pref.model) == set(GRID) and (pref.n == len(held)).all()
    # both methods trained, with logged steps
    for name in GRID:
        meta = json.loads((run / "04_train" / name / "run.json").read_text())
        assert meta["steps"] == SMOKE.train.hparams.max_steps
        assert (run / "04_train" / name / "final" / "adapter_config.json").is_file()
    # a second run with nothing changed recomputes nothing
    for stage in STAGES:
        r = run_stage(stage, env)
        assert r.returncode == 0 and "skipped" in r.stdout, r.stdout
    r = run_stage("04_train", env, GRID[0])
    assert r.returncode == 0 and "skipped" in r.stdout, r.stdout
    # the API key in the environment is nowhere in what the pipeline wrote (executed notebooks included)
    for f in list((runs_dir / "runs").rglob("*")) + list((runs_dir / "figures").rglob("*")):
        if f.is_file():
            assert FAKE_KEY.encode() not in f.read_bytes(), f
    # a stage cannot run before its inputs exist
    env2 = env | {"DELTA_LAB_RUNS": str(runs_dir / "empty")}
    r = run_stage("03_pair", env2)
    assert r.returncode != 0 and "01_generate" in (r.stdout + r.stderr)
