"""Crash safety: each of generate, judge, pair and train is SIGKILLed at random points at least ten times and
rerun; its final outputs equal those of an uninterrupted run, with no duplicate and no missing record.

Generation and judging talk to the local fake OpenAI-compatible endpoint (deterministic replies, a fixed
latency per call) so that the work is long enough to be cut at many points; training is the real TRL run on
SmolLM2-135M with a checkpoint after every step, so kills also land inside checkpoint writes.
"""
import json
import os
import random
import subprocess
import sys
import time

import pandas as pd
import pytest
import yaml
from fake_openai import FakeOpenAI

from delta_utils.profile.config import CONFIG_DIR, load_profile

KEY = "sk-kill-test"
KILLS = 10

# imports first, then "ready" on stdout: the kill clock starts when the stage's own work starts (for training,
# when Trainer.train is entered: model loading and trainer set-up come before it)
STAGE_SCRIPT = """
import sys
from delta_utils.profile.config import load_profile
from delta_utils.stages import generate, judge, pairing, train
if sys.argv[1] == "train":
    import transformers
    _train = transformers.Trainer.train
    def _ready_train(self, *a, **k):
        print("ready", flush=True)
        return _train(self, *a, **k)
    transformers.Trainer.train = _ready_train
else:
    print("ready", flush=True)
{"generate": generate, "judge": judge, "pair": pairing, "train": train}[sys.argv[1]].run(load_profile(sys.argv[2]))
"""


def _start(stage: str, profile_path, env: dict) -> tuple[subprocess.Popen, float]:
    p = subprocess.Popen([sys.executable, "-c", STAGE_SCRIPT, stage, str(profile_path)], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    while (line := p.stdout.readline()) and line.strip() != "ready":
        pass
    return p, time.monotonic()


def timed_run(stage: str, profile_path, env: dict) -> float:
    """An uninterrupted run of the stage; seconds from the start of its work to its end."""
    p, t0 = _start(stage, profile_path, env)
    _, err = p.communicate(timeout=900)
    assert p.returncode == 0, f"{stage} failed:\n{err[-3000:]}"
    return time.monotonic() - t0


def kill_and_rerun(stage: str, profile_path, env: dict, work_s: float, seed: int, window: float = 1 / 12,
                   probe=None, redoes_all: bool = False) -> list:
    """Start the stage, SIGKILL it a random time after it starts working (uniform over `window` of an
    uninterrupted run's duration, so that ten kills do not finish the work), until it has been killed KILLS
    times; then run it to completion. Returns the kill times (with `probe()`'s reading at each kill).
    `redoes_all`: the stage recomputes everything on each run (pairing), so a run that ends before its kill is
    simply run again, and the window can span the whole run."""
    rng = random.Random(seed)
    killed, attempts = [], 0
    while len(killed) < KILLS:
        attempts += 1
        assert attempts < 4 * KILLS, f"{stage}: could not land {KILLS} kills"
        p, _ = _start(stage, profile_path, env)
        t = rng.uniform(0.05, max(0.3, work_s * window))
        try:
            p.wait(timeout=t)
        except subprocess.TimeoutExpired:
            seen = probe() if probe else None
            p.kill()
            p.wait()
            killed.append(round(t, 2) if probe is None else (round(t, 2), seen))
            continue
        _, err = p.communicate()
        assert p.returncode == 0, f"{stage} failed:\n{err[-3000:]}"
        if redoes_all:
            continue
        pytest.fail(f"{stage} finished after only {len(killed)} kills (kill window too wide for its work)")
    timed_run(stage, profile_path, env)
    return killed


def _fake_profile(tmp_path):
    data = yaml.safe_load((CONFIG_DIR / "smoke.yaml").read_text())
    data["name"] = "killtest"
    data["models"] = [{"name": n, "family": "fake", "hub_id": f"fake/{n}", "params_m": s}
                      for n, s in [("fake-small", 10), ("fake-large", 20), ("fake-judge", 30)]]
    data["train_prompts"] = {"family": "arithmetic", "n": 40, "seed": 1, "min_steps": 1, "max_steps": 2}
    data["generation"] = {"backend": "openai", "generators": ["fake-small", "fake-large"], "rejected": "fake-small",
                          "sampling": {"temperature": 0.7, "top_p": 0.95, "max_tokens": 64, "n": 1, "seed": 0},
                          "concurrency": 4}
    data["judge"] = {"backend": "openai", "model": "fake-judge", "samples": 2, "concurrency": 8,
                     "request_timeout_s": 10.0, "max_retries": 3}
    data["train"]["runs"] = [{"name": "dpo_gen_fake", "method": "dpo", "preference_set": "gen__fake-large"}]
    p = tmp_path / "killtest.yaml"
    p.write_text(yaml.safe_dump(data))
    return p


def _table(path, drop=()):
    df = pd.read_json(path, lines=True)
    return df.drop(columns=[c for c in drop if c in df.columns])


@pytest.mark.slow
def test_generate_judge_pair_survive_repeated_sigkill(tmp_path):
    path = _fake_profile(tmp_path)
    ref_runs, kill_runs = tmp_path / "ref", tmp_path / "killed"
    with FakeOpenAI(fault_rate=0.0, api_key=KEY, deterministic=True, delay_s=0.2) as fake:
        env = dict(os.environ, OPENAI_API_KEY=KEY, OPENAI_BASE_URL=fake.url, TQDM_DISABLE="1")
        work = {s: timed_run(s, path, env | {"DELTA_LAB_RUNS": str(ref_runs)}) for s in ["generate", "judge", "pair"]}
        kills = {s: kill_and_rerun(s, path, env | {"DELTA_LAB_RUNS": str(kill_runs)}, work[s], seed=i,
                                   **({"window": 1.0, "redoes_all": True} if s == "pair" else {}))
                 for i, s in enumerate(work)}
    assert all(len(k) >= KILLS for k in kills.values())
    ref, got = ref_runs / "killtest", kill_runs / "killtest"
    # generation: the same traces, each (model, prompt, sample) exactly once
    a, b = (_table(d / "01_generate/traces.jsonl", drop=["wall_s"]) for d in (ref, got))
    assert len(b) == 80 and not b.duplicated(["model", "item_id", "sample"]).any()
    pd.testing.assert_frame_equal(a, b)
    # judging: the same judgments and scores, each (trace, sample, attempt) exactly once
    a, b = (_table(d / "02_judge/judgments.jsonl") for d in (ref, got))
    assert len(b) == 160 and not b.duplicated(["trace_id", "sample", "attempt"]).any()
    pd.testing.assert_frame_equal(a, b)
    for name in ["scores.jsonl", "verifier.jsonl"]:
        assert (ref / "02_judge" / name).read_bytes() == (got / "02_judge" / name).read_bytes()
    # pairing: byte-identical sets and card, complete datasets, no half-written leftovers
    sets = sorted(p.name for p in (ref / "03_pair/sets").glob("*.jsonl"))
    assert sets and sets == sorted(p.name for p in (got / "03_pair/sets").glob("*.jsonl"))
    for name in sets + ["../README.md"]:
        assert (ref / "03_pair/sets" / name).read_bytes() == (got / "03_pair/sets" / name).read_bytes(), name
    import datasets

    for name in ["full", "full__kto"]:
        pd.testing.assert_frame_equal(datasets.load_from_disk(str(ref / "03_pair/hf" / name)).to_pandas(),
                                      datasets.load_from_disk(str(got / "03_pair/hf" / name)).to_pandas())
    assert not list((got / "03_pair/hf").glob(".*.tmp"))  # no half-written datasets left behind
    print("uninterrupted run (s):", {k: round(v, 1) for k, v in work.items()}, "kill times (s after start of work):",
          kills)


@pytest.mark.slow
def test_training_survives_repeated_sigkill(tmp_path, monkeypatch):
    from safetensors.torch import load_file
    from test_train import _pairs, _write_set

    data = yaml.safe_load((CONFIG_DIR / "smoke.yaml").read_text())
    data["name"] = "killtrain"
    data["train"]["hparams"].update({"max_steps": 24, "batch_size": 1, "save_steps": 1, "precision": "fp32"})
    data["train"]["runs"] = [{"name": "r", "method": "dpo", "preference_set": "full"}]
    path = tmp_path / "killtrain.yaml"
    path.write_text(yaml.safe_dump(data))
    ref_runs, kill_runs = tmp_path / "ref", tmp_path / "killed"
    for d in (ref_runs, kill_runs):
        monkeypatch.setenv("DELTA_LAB_RUNS", str(d))
        _write_set(load_profile(path), "full", _pairs(24))
    env = dict(os.environ, TQDM_DISABLE="1")
    work = timed_run("train", path, env | {"DELTA_LAB_RUNS": str(ref_runs)})
    ck = kill_runs / "killtrain/04_train/r/checkpoints"
    kills = kill_and_rerun("train", path, env | {"DELTA_LAB_RUNS": str(kill_runs)}, work, seed=7, window=1 / 5,
                           probe=lambda: len(list(ck.glob("checkpoint-*"))))
    assert len(kills) >= KILLS
    ref, got = (d / "killtrain/04_train/r" for d in (ref_runs, kill_runs))
    meta = json.loads((got / "run.json").read_text())
    assert meta["steps"] == 24 and meta["resumed_from"]
    assert sum(seen > 0 for _, seen in kills) >= 3  # kills landed mid-training, with checkpoints on disk
    la, lb = pd.read_csv(ref / "log.csv"), pd.read_csv(got / "log.csv")
    steps = lb.dropna(subset=["loss"])["step"]
    assert list(steps) == list(range(1, 25))  # every step logged once: none lost, none repeated
    assert la.dropna(subset=["loss"])["loss"].to_numpy() == pytest.approx(
        lb.dropna(subset=["loss"])["loss"].to_numpy(), rel=1e-4, abs=1e-6)
    wa, wb = load_file(ref / "final/adapter_model.safetensors"), load_file(got / "final/adapter_model.safetensors")
    assert wa.keys() == wb.keys()
    for k in wa:
        assert wa[k].numpy() == pytest.approx(wb[k].numpy(), rel=1e-4, abs=1e-6), k
    print(f"uninterrupted run {work:.1f} s; kill times (s after start of work):", kills,
          "resumed from:", meta["resumed_from"])
