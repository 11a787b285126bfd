"""The researcher's toolbox: TRL loss variants by name, experiment tracking with trackio (local, offline)."""
import json

import pandas as pd
import pytest
import yaml

from delta_utils.config import CONFIG_DIR, ProfileError, RunSpec, load_profile, trl_loss_types
from delta_utils.train import train_run
from test_train import _pairs, _profile, _write_set


def test_loss_types_are_validated_against_the_installed_trl(tmp_path):
    assert {"sigmoid", "ipo", "hinge", "robust", "nca_pair", "sppo_hard", "apo_zero"} <= set(trl_loss_types("dpo"))
    assert trl_loss_types("kto") == ["kto", "apo_zero_unpaired"]
    data = yaml.safe_load((CONFIG_DIR / "smoke.yaml").read_text())
    data["train"]["runs"][0]["loss_type"] = "ipx"
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(data))
    with pytest.raises(ProfileError, match=r"train\.runs\.0\.loss_type: 'ipx' is not a DPO loss.*choices: sigmoid"):
        load_profile(tmp_path / "bad.yaml")
    data["train"]["runs"][0]["loss_type"] = "apo_zero_unpaired"  # a KTO loss on a DPO run
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(data))
    with pytest.raises(ProfileError, match="not a DPO loss"):
        load_profile(tmp_path / "bad.yaml")


@pytest.mark.slow
def test_ipo_run_trains_with_the_ipo_loss(runs_dir, tmp_path):
    prof = _profile(tmp_path)
    _write_set(prof, "pool", _pairs(4))
    out = train_run(prof, RunSpec(name="ipo", method="dpo", preference_set="pool", loss_type="ipo"))
    meta = json.loads((out / "run.json").read_text())
    assert meta["loss_type"] == "ipo" and (out / "final" / "adapter_config.json").is_file()
    first = pd.read_csv(out / "log.csv")["loss"].dropna().iloc[0]
    # at step 1 the policy equals the reference: sigmoid gives log 2, IPO gives (1 / (2 beta))^2
    assert first == pytest.approx((1 / (2 * prof.train.hparams.beta)) ** 2, rel=1e-3)


@pytest.mark.slow
def test_trackio_logs_the_loss_and_the_run_config(runs_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("TRACKIO_DIR", str(tmp_path / "trackio"))
    prof = _profile(tmp_path, report_to="trackio", max_steps=2)
    _write_set(prof, "pool", _pairs(4))
    spec = RunSpec(name="tracked", method="dpo", preference_set="pool")
    out = train_run(prof, spec)
    from trackio.sqlite_storage import SQLiteStorage

    project = f"delta-lab-{prof.name}"
    logs = SQLiteStorage.get_logs(project, "tracked")
    losses = [r["train/loss"] for r in logs if "train/loss" in r]
    assert len(losses) == 2
    assert losses == pytest.approx(pd.read_csv(out / "log.csv")["loss"].dropna().tolist(), rel=1e-4)
    config = SQLiteStorage.get_run_config(project, "tracked")
    assert config["delta_lab/run_hash"] == json.loads((out / "run.json").read_text())["hash"]
    assert config["delta_lab/profile"] == prof.name
    # tracking does not change what is trained: the same run without it is up to date
    assert json.loads((out / "run.json").read_text())["report_to"] == "trackio"
    assert train_run(_profile(tmp_path, max_steps=2), spec) == out
