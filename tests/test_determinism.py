"""Seeds: the smoke profile run again from scratch (fresh caches, fresh training) gives identical preference
data and the same trained weights and losses (to float tolerance, as in test_kill).

Evaluation is not repeated: it is greedy decoding of those weights, so the second run spends its time on the
sampled and trained stages, where seeds matter. It runs beside the smoke pipeline of test_notebooks.py (the
other xdist worker) and compares with that run once it has trained (`smoke_run`)."""
from pathlib import Path

import pandas as pd
import pytest
from safetensors.torch import load_file
from smoke_run import GRID, SMOKE_TEST, handoff_file, run_pipeline, smoke_env, wait_for

from delta_utils.profile.rundir import STAGES


@pytest.mark.slow
def test_smoke_rerun_from_scratch_gives_the_same_sets_and_weights(request, tmp_path, tmp_path_factory):
    again = tmp_path / "again"
    for _ in run_pipeline(again, smoke_env(again), STAGES[:4]):
        pass
    if any(item.nodeid == SMOKE_TEST for item in request.session.items):
        first = wait_for(handoff_file(tmp_path_factory))
        if first["status"] != "ok":
            pytest.fail(f"the first smoke run failed before training was done: see {SMOKE_TEST}")
        first_runs = Path(first["runs"])
    else:  # run alone: make the first run here too
        for _ in run_pipeline(tmp_path / "first", smoke_env(tmp_path / "first"), STAGES[:4]):
            pass
        first_runs = tmp_path / "first" / "runs"
    run, rerun = first_runs / "smoke", again / "runs" / "smoke"
    sets = sorted((run / "03_pair" / "sets").glob("*.jsonl"))
    assert len(sets) >= 4
    for p in sets:
        assert p.read_bytes() == (rerun / "03_pair" / "sets" / p.name).read_bytes(), p.name
    for name in GRID:
        first, second = (load_file(d / "04_train" / name / "final" / "adapter_model.safetensors") for d in (run, rerun))
        assert first.keys() == second.keys(), name
        for k in first:
            assert first[k].float().numpy() == pytest.approx(second[k].float().numpy(), rel=1e-4, abs=1e-6), (name, k)
        logs = [pd.read_csv(d / "04_train" / name / "log.csv") for d in (run, rerun)]
        assert logs[0]["loss"].dropna().to_numpy() == pytest.approx(logs[1]["loss"].dropna().to_numpy(), rel=1e-4)
