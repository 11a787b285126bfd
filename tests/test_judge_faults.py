"""The judge against a faulty OpenAI-compatible endpoint: nothing lost, nothing duplicated,
nothing silently scored, and the API key never written anywhere."""
import pandas as pd
import pytest
import yaml

from delta_utils import judge
from delta_utils.config import CONFIG_DIR, load_profile
from delta_utils.rubric import DIMENSION_NAMES
from fake_openai import FakeOpenAI

KEY = "sk-test-DO-NOT-LEAK-4f1c9a"


def _profile(tmp_path, **judge_over):
    data = yaml.safe_load((CONFIG_DIR / "smoke.yaml").read_text())
    data["name"] = "faulty"
    data["models"] = [{"name": "fake-judge", "family": "fake", "hub_id": "fake/judge", "params_m": 1}]
    data["judge"] = {"backend": "openai", "model": "fake-judge", "samples": 2, "concurrency": 8,
                     "request_timeout_s": 1.0, "max_retries": 3, "price_in_per_mtok": 0.15,
                     "price_out_per_mtok": 0.6, **judge_over}
    p = tmp_path / "faulty.yaml"
    p.write_text(yaml.safe_dump(data))
    return load_profile(p)


def _traces(n=40):
    problems = pd.DataFrame({"id": [f"p{i}" for i in range(n)], "question": [f"What is {i} + 1?" for i in range(n)]})
    traces = pd.DataFrame({"trace_id": [f"t{i}" for i in range(n)], "item_id": [f"p{i}" for i in range(n)],
                           "text": [f"{i} + 1 = {i + 1}. The answer is {i + 1}." for i in range(n)]})
    return traces, problems


def test_thirty_percent_faults_every_sample_scored_or_failed(runs_dir, monkeypatch, tmp_path):
    prof = _profile(tmp_path)
    traces, problems = _traces(40)
    with FakeOpenAI(fault_rate=0.3, seed=1, api_key=KEY, slow_s=2.0) as fake:
        monkeypatch.setenv("OPENAI_BASE_URL", fake.url)
        monkeypatch.setenv("OPENAI_API_KEY", KEY)
        j = judge.judge_traces(prof, traces, problems, log_dir=tmp_path / "logs")
        # every fault kind was injected
        assert set(fake.counts) >= {"429", "500", "503", "reset", "slow", "truncated", "missing_dim",
                                    "out_of_range", "empty", "ok"}
        injected = sum(v for k, v in fake.counts.items() if k != "ok")
        total = sum(fake.counts.values())
        assert 0.2 < injected / total < 0.4
    final = j[j["status"] != "retried"]
    # one final row per (trace, sample): none lost, none duplicated
    assert len(final) == 80 and not final.duplicated(["trace_id", "sample"]).any()
    assert set(final["status"]) <= {"ok", "failed"}
    ok = final[final["status"] == "ok"]
    assert ok[DIMENSION_NAMES].notna().all().all() and ok[DIMENSION_NAMES].isin([1, 2, 3, 4, 5]).all().all()
    # unparsable replies were kept raw and never scored
    bad = j[j["status"] != "ok"]
    assert bad[DIMENSION_NAMES].isna().all().all() if set(DIMENSION_NAMES) <= set(bad.columns) else True
    assert (bad["error"].notna()).all()
    s = judge.failure_summary(j, prof.judge)
    assert s["parse_failures"] > 0 and s["cost_usd"] > 0
    assert len(ok) >= 76  # three parse attempts and client retries recover nearly all
    # rerun against a healthy endpoint: only failed samples are asked again, all cached ones reused
    with FakeOpenAI(fault_rate=0.0, seed=2, api_key=KEY) as fake2:
        monkeypatch.setenv("OPENAI_BASE_URL", fake2.url)
        j2 = judge.judge_traces(prof, traces, problems, log_dir=tmp_path / "logs")
        asked = sum(fake2.counts.values())
    final2 = j2[j2["status"] != "retried"]
    assert (final2["status"] == "ok").all() and len(final2) == 80
    assert asked <= len(final[final["status"] == "failed"]) * 3
    # the key is nowhere on disk
    for f in runs_dir.rglob("*"):
        if f.is_file():
            assert KEY.encode() not in f.read_bytes(), f


def test_wrong_key_gives_a_clear_error(runs_dir, monkeypatch, tmp_path):
    prof = _profile(tmp_path)
    traces, problems = _traces(2)
    with FakeOpenAI(fault_rate=0.0, api_key=KEY) as fake:
        monkeypatch.setenv("OPENAI_BASE_URL", fake.url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-wrong")
        with pytest.raises(PermissionError, match="refused the API key") as e:
            judge.judge_traces(prof, traces, problems, log_dir=tmp_path / "logs")
    assert "sk-wrong" not in str(e.value)


def test_missing_endpoint_env(runs_dir, monkeypatch, tmp_path):
    prof = _profile(tmp_path)
    traces, problems = _traces(2)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.delenv("DELTA_LAB_OPENAI_BASE_URL", raising=False)
    with pytest.raises(RuntimeError, match="OPENAI_BASE_URL"):
        judge.judge_traces(prof, traces, problems, log_dir=tmp_path / "logs")
