"""The judge against a faulty OpenAI-compatible endpoint: nothing lost, nothing duplicated,
nothing silently scored, and the API key never written anywhere."""
import pandas as pd
import pytest
import yaml
from fake_openai import FakeOpenAI

from delta_utils.data.rubric import DIMENSION_NAMES
from delta_utils.profile.config import CONFIG_DIR, load_profile
from delta_utils.stages import judge

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
    traces, problems = _traces(60)
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
    assert len(final) == 120 and not final.duplicated(["trace_id", "sample"]).any()
    assert set(final["status"]) <= {"ok", "failed"}
    ok = final[final["status"] == "ok"]
    assert ok[DIMENSION_NAMES].notna().all().all() and ok[DIMENSION_NAMES].isin([1, 2, 3, 4, 5]).all().all()
    # unparsable replies were kept raw and never scored
    bad = j[j["status"] != "ok"]
    assert bad[DIMENSION_NAMES].isna().all().all() if set(DIMENSION_NAMES) <= set(bad.columns) else True
    assert (bad["error"].notna()).all()
    s = judge.failure_summary(j, prof.judge)
    assert s["parse_failures"] > 0 and s["cost_usd"] > 0
    assert len(ok) >= 114  # three parse attempts and client retries recover nearly all
    # rerun against a healthy endpoint: only failed samples are asked again, all cached ones reused
    with FakeOpenAI(fault_rate=0.0, seed=2, api_key=KEY) as fake2:
        monkeypatch.setenv("OPENAI_BASE_URL", fake2.url)
        j2 = judge.judge_traces(prof, traces, problems, log_dir=tmp_path / "logs")
        asked = sum(fake2.counts.values())
    final2 = j2[j2["status"] != "retried"]
    assert (final2["status"] == "ok").all() and len(final2) == 120
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


def test_batch_api_mode_with_faults_and_resume(runs_dir, monkeypatch, tmp_path):
    from delta_utils.core.store import RecordCache
    from delta_utils.serving.batch import complete_batch
    from delta_utils.serving.engine import Endpoint
    from delta_utils.stages.judge import _request

    prof = _profile(tmp_path, backend="openai_batch", batch_poll_s=0.05)
    traces, problems = _traces(20)
    with FakeOpenAI(fault_rate=0.3, seed=3, api_key=KEY) as fake:
        monkeypatch.setenv("OPENAI_BASE_URL", fake.url)
        monkeypatch.setenv("OPENAI_API_KEY", KEY)
        j = judge.judge_traces(prof, traces, problems, log_dir=tmp_path / "batchlogs")
        final = j[j["status"] != "retried"]
        assert len(final) == 40 and not final.duplicated(["trace_id", "sample"]).any()
        assert set(final["status"]) <= {"ok", "failed"} and (final["status"] == "ok").mean() > 0.8
        assert len(fake.batches) >= 2  # parse failures went into a second batch
        # samples the batch never answered (its 500 lines) are not cached; parse failures are, raw
        unanswered = j[(j["status"] == "failed") & j["raw"].isna()]
        # a rerun on a healthy endpoint submits only the failed samples
        fake.fault_rate = 0.0
        before = len(fake.batches)
        j2 = judge.judge_traces(prof, traces, problems, log_dir=tmp_path / "batchlogs")
        final2 = j2[j2["status"] != "retried"]
        assert (final2["status"] == "ok").all() and len(final2) == 40
        new = [fake.batches[f"batch_{i}"] for i in range(before, len(fake.batches))]
        resubmitted = sum(len(fake.files[b["input"]].decode().strip().splitlines()) for b in new)
        assert resubmitted == len(unanswered) > 0

        # a run killed while its batch is pending resumes the same batch instead of paying twice
        fake.batch_polls_until_done = 10**9
        ep = Endpoint(fake.url, "fake/judge", KEY)
        reqs = [_request(f"x{i}", "What is 1 + 1?", "2", 0, 0) for i in range(5)]
        sampling = {"temperature": 0.6, "max_tokens": 64, "seed": 0}
        state = tmp_path / "state"
        with RecordCache(tmp_path / "b.sqlite") as c:
            with pytest.raises(TimeoutError, match="rerun to resume"):
                complete_batch(ep, reqs, sampling, c, "fake", state_dir=state, poll_s=0.01, max_wait_s=0.1)
            n_batches = len(fake.batches)
            fake.batch_polls_until_done = 0
            recs = complete_batch(ep, reqs, sampling, c, "fake", state_dir=state, poll_s=0.01)
        assert len(fake.batches) == n_batches  # no new batch was created
        assert sum(r is not None for r in recs) >= 3


def test_chained_scoring_with_faults_and_resume(runs_dir, monkeypatch, tmp_path):
    """Chained scoring (one call per dimension, the reply written up to each score) against the faulty endpoint:
    every trace ends scored or failed, each call continues the scores picked before it, a reply without a score
    token fails its trace with the reason, and a rerun on a healthy endpoint asks only for unfinished chains."""
    import json

    from delta_utils.data.rubric import reply_prefix

    prof = _profile(tmp_path, scoring="chained", samples=1, temperature=0.0)
    traces, problems = _traces(40)
    faults = ["429", "500", "503", "reset", "slow", "empty"]
    with FakeOpenAI(fault_rate=0.2, faults=faults, seed=4, api_key=KEY, slow_s=2.0) as fake:
        monkeypatch.setenv("OPENAI_BASE_URL", fake.url)
        monkeypatch.setenv("OPENAI_API_KEY", KEY)
        j = judge.judge_traces(prof, traces, problems, log_dir=tmp_path / "logs")
        assert set(fake.counts) >= {"429", "500", "503", "reset", "empty", "ok"}
    assert len(j) == 40 and not j.duplicated(["trace_id", "sample"]).any()
    assert set(j["status"]) <= {"ok", "failed"} and (j["scoring"] == "chained").all()
    ok, bad = j[j["status"] == "ok"], j[j["status"] == "failed"]
    assert len(ok) >= 20 and len(bad) > 0
    # the expected score is a probability-weighted mean near the picked integer, which the raw JSON holds
    for r in ok.itertuples():
        picked = json.loads(r.raw)
        assert list(picked) == DIMENSION_NAMES
        for d in DIMENSION_NAMES:
            assert picked[d] == getattr(r, f"{d}_sampled") and abs(getattr(r, d) - picked[d]) < 0.6
    assert bad["error"].str.contains("no score token|no answer").all()
    assert bad[DIMENSION_NAMES].isna().all().all()
    # a failed chain keeps the scores it had: its raw reply stops where the score token was missing
    no_token = bad[bad["error"].str.contains("no score token")]
    assert len(no_token) > 0 and no_token["raw"].str.startswith("{").all()
    # rerun on a healthy endpoint: finished chains replay from the cache; only unanswered ones are asked
    with FakeOpenAI(fault_rate=0.0, seed=5, api_key=KEY) as fake2:
        monkeypatch.setenv("OPENAI_BASE_URL", fake2.url)
        j2 = judge.judge_traces(prof, traces, problems, log_dir=tmp_path / "logs")
        asked = sum(fake2.counts.values())
    unanswered = bad["error"].str.contains("no answer").sum()
    assert asked <= unanswered * len(DIMENSION_NAMES)
    assert j2.set_index("trace_id").loc[ok["trace_id"], DIMENSION_NAMES].equals(
        ok.set_index("trace_id")[DIMENSION_NAMES])
    assert reply_prefix([4]) == '{"factuality": 4, "strategy_coherence": '


def test_chained_scoring_refuses_the_batch_api(tmp_path):
    with pytest.raises(Exception, match="cannot go through the Batch API"):
        _profile(tmp_path, backend="openai_batch", scoring="chained")
