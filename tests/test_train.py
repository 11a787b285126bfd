"""Training with TRL on the real SmolLM2-135M policy: persisted reference log-probs, bad inputs."""
import json

import pandas as pd
import pytest
import yaml

from delta_utils.profile.config import CONFIG_DIR, RunSpec, load_profile
from delta_utils.profile.rundir import write_table
from delta_utils.stages.pairing import PairingError
from delta_utils.stages.train import train_run


def _profile(tmp_path, **hp):
    data = yaml.safe_load((CONFIG_DIR / "smoke.yaml").read_text())
    data["name"] = "traintest"
    # fp32: exact comparisons with TRL's own reference pass (bf16 rounds differently in batches of another shape)
    data["train"]["hparams"].update({"max_steps": 1, "batch_size": 2, "precision": "fp32", **hp})
    p = tmp_path / "traintest.yaml"
    p.write_text(yaml.safe_dump(data))
    return load_profile(p)


def _pairs(n):
    rows = []
    for i in range(n):
        q = f"Sam has {i + 2} pens and buys 3 more. How many pens does Sam have now?"
        rows.append({"prompt": [{"role": "user", "content": q}],
                     "chosen": [{"role": "assistant", "content": f"{i + 2} + 3 = {i + 5}. The answer is {i + 5}."}],
                     "rejected": [{"role": "assistant", "content": f"The answer is {i + 9}."}],
                     "prompt_id": f"p{i}"})
    return pd.DataFrame(rows)


def _write_set(prof, name, df):
    path = prof.run_dir() / "03_pair" / "sets" / f"{name}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_table(df, path)


@pytest.mark.slow
def test_reference_logps_are_computed_once_per_pool(runs_dir, tmp_path):
    prof = _profile(tmp_path)
    pool = _pairs(6)
    _write_set(prof, "pool", pool)
    _write_set(prof, "subset", pool.iloc[[0, 2, 4]])
    a = json.loads((train_run(prof, RunSpec(name="a", method="dpo", preference_set="pool")) / "run.json").read_text())
    b = json.loads((train_run(prof, RunSpec(name="b", method="dpo", preference_set="subset")) / "run.json").read_text())
    assert a["ref_logps_computed"] == 6 and a["ref_logps_reused"] == 0
    assert b["ref_logps_computed"] == 0 and b["ref_logps_reused"] == 3  # no reference forward at all
    # the persisted values are the ones TRL computes itself: same first-step loss on the same data
    (tmp_path / "plain").mkdir()
    plain = _profile(tmp_path / "plain", precompute_ref_log_probs=True)
    import delta_utils.stages.train as T

    orig = T._persisted_ref_dpo
    T._persisted_ref_dpo = lambda store, cls: cls  # TRL's own precompute
    try:
        _write_set(plain, "subset", pool.iloc[[0, 2, 4]])
        c_dir = train_run(plain, RunSpec(name="c", method="dpo", preference_set="subset"))
    finally:
        T._persisted_ref_dpo = orig
    loss_b = pd.read_csv(prof.run_dir() / "04_train" / "b" / "log.csv")["loss"].dropna().iloc[0]
    loss_c = pd.read_csv(c_dir / "log.csv")["loss"].dropna().iloc[0]
    assert loss_b == pytest.approx(loss_c, rel=1e-4)
    # unchanged config and data: skipped
    assert train_run(prof, RunSpec(name="b", method="dpo", preference_set="subset")).is_dir()
    # reference log-probs of another precision are not reused
    other = "fp32" if b["precision"] == "bf16" else "bf16"
    (tmp_path / "other").mkdir()
    prof2 = _profile(tmp_path / "other", precision=other)
    assert prof2.run_dir() == prof.run_dir()  # same profile name: same store and sets
    d = json.loads((train_run(prof2, RunSpec(name="d", method="dpo", preference_set="subset")) / "run.json")
                   .read_text())
    assert d["precision"] == other and d["ref_logps_computed"] == 3


@pytest.mark.slow
def test_kto_reference_logps_are_persisted_and_equal_trls(runs_dir, tmp_path):
    prof = _profile(tmp_path)
    pool = _pairs(4)
    _write_set(prof, "pool", pool)
    a = json.loads((train_run(prof, RunSpec(name="a", method="kto", preference_set="pool")) / "run.json").read_text())
    b = json.loads((train_run(prof, RunSpec(name="b", method="kto", preference_set="pool")) / "run.json").read_text())
    assert a["ref_logps_computed"] == 8  # 4 pairs -> 8 unpaired examples, each with its KL neighbour
    assert b["ref_logps_computed"] == 0  # the second run reads every reference log-prob from disk
    (tmp_path / "plain").mkdir()
    plain = _profile(tmp_path / "plain")
    _write_set(plain, "pool", pool)
    import delta_utils.stages.train as T

    orig = T._persisted_ref_kto
    T._persisted_ref_kto = lambda store, cls, ident: cls  # TRL's own precompute
    try:
        c_dir = train_run(plain, RunSpec(name="c", method="kto", preference_set="pool"))
    finally:
        T._persisted_ref_kto = orig
    log_b = pd.read_csv(prof.run_dir() / "04_train" / "b" / "log.csv").dropna(subset=["loss"]).iloc[0]
    log_c = pd.read_csv(c_dir / "log.csv").dropna(subset=["loss"]).iloc[0]
    assert log_b["loss"] == pytest.approx(log_c["loss"], rel=1e-4)
    assert log_b["kl"] == pytest.approx(log_c["kl"], rel=1e-4, abs=1e-6)


def test_bad_preference_sets_fail_before_training(runs_dir, tmp_path):
    prof = _profile(tmp_path)
    same = _pairs(2)
    same.at[0, "rejected"] = same.at[0, "chosen"]
    _write_set(prof, "identical", same)
    _write_set(prof, "nocol", _pairs(2).drop(columns=["rejected"]))
    with pytest.raises(PairingError, match="identical"):
        train_run(prof, RunSpec(name="x", method="dpo", preference_set="identical"))
    with pytest.raises(PairingError, match="lacks columns"):
        train_run(prof, RunSpec(name="x", method="dpo", preference_set="nocol"))
    with pytest.raises(PairingError, match="not found"):
        train_run(prof, RunSpec(name="x", method="dpo", preference_set="nope"))


RESUME = """
import sys
from delta_utils.profile.config import RunSpec, load_profile
from delta_utils.stages.train import train_run
train_run(load_profile(sys.argv[1]), RunSpec(name="r", method="dpo", preference_set="pool"))
"""


@pytest.mark.slow
def test_killed_training_resumes_from_its_last_checkpoint(runs_dir, tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    prof = _profile(tmp_path, max_steps=8, batch_size=1)
    _write_set(prof, "pool", _pairs(8))
    ck = prof.run_dir() / "04_train" / "r" / "checkpoints"
    proc = subprocess.Popen([sys.executable, "-c", RESUME, str(tmp_path / "traintest.yaml")], env=dict(os.environ))
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None and not list(ck.glob("checkpoint-*")):
        time.sleep(0.5)
    assert proc.poll() is None, "training finished before a checkpoint could be caught"
    time.sleep(1.0)  # let the checkpoint finish writing
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    first = sorted(ck.glob("checkpoint-*"))
    assert first and not (prof.run_dir() / "04_train" / "r" / "run.json").exists()
    meta = json.loads((train_run(prof, RunSpec(name="r", method="dpo", preference_set="pool")) / "run.json")
                      .read_text())
    assert meta["resumed_from"] and "checkpoint-" in meta["resumed_from"]
    log = pd.read_csv(prof.run_dir() / "04_train" / "r" / "log.csv")
    assert log["step"].max() == 8


def test_checkpoints_of_another_policy_are_refused(runs_dir, tmp_path):
    prof = _profile(tmp_path)
    _write_set(prof, "pool", _pairs(2))
    d = prof.run_dir() / "04_train" / "r"
    (d / "checkpoints" / "checkpoint-1").mkdir(parents=True)
    (d / "checkpoints" / "checkpoint-1" / "trainer_state.json").write_text("{}")
    (d / "checkpoint_of.json").write_text(json.dumps({"hash": "x", "policy": "qwen2.5-coder-0.5b"}))
    with pytest.raises(ValueError, match="checkpoints of policy 'qwen2.5-coder-0.5b'"):
        train_run(prof, RunSpec(name="r", method="dpo", preference_set="pool"))


@pytest.mark.slow
def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(runs_dir, tmp_path, monkeypatch):
    import torch
    import trl

    prof = _profile(tmp_path, max_steps=8, batch_size=1)
    _write_set(prof, "pool", _pairs(8))
    orig = trl.DPOTrainer.compute_loss
    calls = {"n": 0}

    def nan_after_two(self, model, inputs, *a, **kw):
        out = orig(self, model, inputs, *a, **kw)
        calls["n"] += 1
        if calls["n"] > 2:  # steps 3.. produce NaN
            loss = out[0] if isinstance(out, tuple) else out
            loss = loss * torch.tensor(float("nan"))
            return (loss, *out[1:]) if isinstance(out, tuple) else loss
        return out

    monkeypatch.setattr(trl.DPOTrainer, "compute_loss", nan_after_two)
    with pytest.raises(FloatingPointError, match="NaN"):
        train_run(prof, RunSpec(name="n", method="dpo", preference_set="pool"))
    ck = prof.run_dir() / "04_train" / "n" / "checkpoints"
    assert [p.name for p in ck.glob("checkpoint-*")] == ["checkpoint-2"]
    assert not (prof.run_dir() / "04_train" / "n" / "run.json").exists()
