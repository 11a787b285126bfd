"""The researcher's toolbox: TRL loss variants by name, experiment tracking with trackio (local, offline)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from test_train import _pairs, _profile, _write_set

from delta_utils.profile.config import CONFIG_DIR, ProfileError, RunSpec, load_profile, trl_loss_types
from delta_utils.stages.train import tracker_run_name, train_run


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
def test_trackio_logs_the_loss_and_the_run_config(runs_dir, tmp_path):
    # trackio fixes its folder when first imported, so the tracked run trains in a fresh interpreter,
    # as a notebook kernel under `make` does, with TRACKIO_DIR set beforehand
    env = {**os.environ, "TRACKIO_DIR": str(tmp_path / "trackio")}
    prof = _profile(tmp_path, report_to="trackio", max_steps=2)
    _write_set(prof, "pool", _pairs(4))
    script = ("import sys; from delta_utils.profile.config import RunSpec, load_profile; "
              "from delta_utils.stages.train import train_run;"
              "train_run(load_profile(sys.argv[1]), RunSpec(name='tracked', method='dpo', preference_set='pool'))")
    subprocess.run([sys.executable, "-c", script, str(tmp_path / "traintest.yaml")], env=env, check=True,
                   cwd=Path(__file__).parents[1])
    out = prof.run_dir() / "04_train" / "tracked"
    record = json.loads((out / "run.json").read_text())
    assert record["report_to"] == "trackio"
    code = ("import json, sys; from trackio.sqlite_storage import SQLiteStorage as S;"
            "print(json.dumps([S.get_logs(*sys.argv[1:]), S.get_run_config(*sys.argv[1:])]))")
    name = tracker_run_name("tracked", record["hash"])
    read = subprocess.run([sys.executable, "-c", code, f"delta-lab-{prof.name}", name], env=env, check=True,
                          capture_output=True, text=True)
    logs, config = json.loads(read.stdout.strip().splitlines()[-1])
    losses = [r["train/loss"] for r in logs if "train/loss" in r]
    assert len(losses) == 2
    assert losses == pytest.approx(pd.read_csv(out / "log.csv")["loss"].dropna().tolist(), rel=1e-4)
    assert config["delta_lab/run_hash"] == record["hash"]
    assert config["delta_lab/profile"] == prof.name
    # tracking does not change what is trained: the same run without it is up to date
    spec = RunSpec(name="tracked", method="dpo", preference_set="pool")
    assert train_run(_profile(tmp_path, max_steps=2), spec) == out


@pytest.mark.slow
def test_push_dry_run_writes_the_folders_and_cards_it_would_push(runs_dir, tmp_path, monkeypatch):
    from delta_utils.runner import export

    token = "hf_test_DO_NOT_LEAK_93ab"
    monkeypatch.setenv("HF_TOKEN", token)
    data = yaml.safe_load((CONFIG_DIR / "smoke.yaml").read_text())
    data["name"] = "pushtest"
    data["train"]["hparams"].update({"max_steps": 1, "batch_size": 2, "precision": "fp32"})
    data["train"]["runs"] = [{"name": "dpo_pool", "method": "dpo", "preference_set": "full"},
                             {"name": "never_trained", "method": "kto", "preference_set": "full"}]
    (tmp_path / "pushtest.yaml").write_text(yaml.safe_dump(data))
    prof = load_profile(tmp_path / "pushtest.yaml")
    _write_set(prof, "full", _pairs(4))
    train_run(prof, prof.train.runs[0])
    folders = export.push(prof, "someone/delta-pushtest", dry_run=True)
    assert set(folders) == {"someone/delta-pushtest", "someone/delta-pushtest-dpo_pool"}  # untrained runs are left out
    ds = folders["someone/delta-pushtest"]
    assert sorted(p.name for p in (ds / "data").iterdir()) == ["full.parquet", "full__kto.parquet"]
    kto = pd.read_parquet(ds / "data" / "full__kto.parquet")
    assert len(kto) == 8 and set(kto["label"]) == {True, False}
    card = (ds / "README.md").read_text()
    assert "config_name: full__kto" in card and "## Provenance" in card
    prov = json.loads((ds / "provenance.json").read_text())
    assert prov["profile"] == "pushtest" and prov["profile_hash"]
    assert load_profile(ds / "profile.yaml").train.runs[0].name == "dpo_pool"  # the validated profile, reloadable
    model = folders["someone/delta-pushtest-dpo_pool"]
    assert (model / "adapter_config.json").is_file() and (model / "adapter_model.safetensors").is_file()
    mcard = (model / "README.md").read_text()
    assert "base_model: HuggingFaceTB/SmolLM2-135M-Instruct" in mcard and "library_name: peft" in mcard
    assert "`full`" in mcard and "| beta | 0.2 |" in mcard and "Not evaluated yet" in mcard
    for p in export.export_dir(prof).rglob("*"):  # the token is never written
        assert not p.is_file() or token.encode() not in p.read_bytes()
