"""The Batch API path in chunks: under both limits, deterministic, and a killed run never pays twice."""
import json
from collections import Counter

import pytest
from fake_openai import FakeOpenAI

from delta_utils.core.store import RecordCache
from delta_utils.serving import batch
from delta_utils.serving.batch import complete_batch, estimate_chunks, plan_chunks
from delta_utils.serving.engine import Endpoint, Request

KEY = "sk-test-batch"
WAIT = batch._wait
SAMPLING = {"temperature": 0.0, "max_tokens": 64, "seed": 0}


def _reqs(n, pad=lambda i: 0):
    return [Request(item_id=f"x{i}", messages=({"role": "user", "content": f"What is {i} + 1?" + "." * pad(i)},))
            for i in range(n)]


def _sizes(fake):  # (requests, bytes) of each batch input the fake received
    return [(len(fake.files[b["input"]].splitlines()), len(fake.files[b["input"]])) for b in fake.batches.values()]


def _outputs(fake):  # every line of every batch output the fake wrote
    return [json.loads(x) for b in fake.batches.values() if b["output"]
            for x in fake.files[b["output"]].decode().splitlines()]


def _failed(fake):  # custom_ids the fake's batches answered with an error
    return {row["custom_id"] for row in _outputs(fake) if row["response"]["status_code"] != 200}


def _run(fake, tmp_path, reqs, **kw):
    with RecordCache(tmp_path / "cache.sqlite") as c:
        return complete_batch(Endpoint(fake.url, "fake/judge", KEY), reqs, SAMPLING, c, "fake",
                              state_dir=tmp_path / "state", poll_s=0.01, **kw)


def _kill_after(n_done):
    """A _wait that lets `n_done` batches be stored, then dies as a killed run would."""
    def wait(*a, **k):
        it = WAIT(*a, **k)
        for _ in range(n_done):
            yield next(it)
        raise KeyboardInterrupt

    return wait


def test_plan_and_estimate_chunks():
    assert plan_chunks([], 3, 100) == []
    assert plan_chunks([10] * 10, 3, 100) == [3, 3, 3, 1]
    assert plan_chunks([10] * 10, 50, 25) == [2] * 5
    assert plan_chunks([60, 30, 10, 90, 5], 10, 100) == [3, 2]
    assert plan_chunks([100, 100], 10, 100) == [1, 1]  # a line exactly at the limit fits alone
    with pytest.raises(ValueError, match="max_bytes=100"):
        plan_chunks([10, 101], 10, 100)
    for n, size, mr, mb in [(10, 10, 3, 100), (10, 10, 50, 25), (0, 10, 3, 100), (120_000, 1500, 50_000, 200_000_000),
                            (1_000_000, 4000, 50_000, 200_000_000)]:
        assert estimate_chunks(n, size, mr, mb) == len(plan_chunks([size] * n, mr, mb))
    assert estimate_chunks(1_000_000, 4000.0) == 20
    with pytest.raises(ValueError, match="max_bytes"):
        estimate_chunks(5, 300, 10, 200)


def test_chunks_under_both_limits_and_kill_resumes_without_paying_twice(tmp_path, monkeypatch):
    reqs = _reqs(10)
    with FakeOpenAI(fault_rate=0.0, api_key=KEY) as fake:
        # killed right after submitting: every chunk has a saved id, none is waited for
        monkeypatch.setattr(batch, "_wait", _kill_after(0))
        with pytest.raises(KeyboardInterrupt):
            _run(fake, tmp_path, reqs, max_requests=3)
        assert [n for n, _ in _sizes(fake)] == [3, 3, 3, 1]
        assert len(json.loads((tmp_path / "state" / "batches.json").read_text())) == 4
        # rerun, killed again after the first chunk is stored
        monkeypatch.setattr(batch, "_wait", _kill_after(1))
        with pytest.raises(KeyboardInterrupt):
            _run(fake, tmp_path, reqs, max_requests=3)
        assert len(fake.batches) == 4  # resumed, not recreated
        assert len(json.loads((tmp_path / "state" / "batches.json").read_text())) == 3
        monkeypatch.undo()
        recs = _run(fake, tmp_path, reqs, max_requests=3)
        assert len(fake.batches) == 4 and all(r is not None for r in recs)
        assert [r["item_id"] for r in recs] == [r.item_id for r in reqs]
        assert set(fake.submitted_ids().values()) == {1} and len(fake.submitted_ids()) == 10
        assert json.loads((tmp_path / "state" / "batches.json").read_text()) == {}
        # all cached: nothing is submitted
        assert _run(fake, tmp_path, reqs, max_requests=3) == recs and len(fake.batches) == 4


def test_split_by_bytes(tmp_path):
    reqs = _reqs(10, pad=lambda i: 300 * (i % 3))  # lines of about 300, 600 and 900 bytes
    max_bytes = 1500
    with FakeOpenAI(fault_rate=0.0, api_key=KEY) as fake:
        recs = _run(fake, tmp_path, reqs, max_bytes=max_bytes)
        sizes = _sizes(fake)
        assert len(sizes) >= 4 and all(b <= max_bytes for _, b in sizes)
        assert sum(n for n, _ in sizes) == 10 and all(r is not None for r in recs)
        # the same requests cut the same chunks, whatever their order
        _run(fake, tmp_path / "again", reqs[::-1], max_bytes=max_bytes)
        inputs = [fake.files[b["input"]] for b in fake.batches.values()]
        assert inputs == inputs[: len(sizes)] * 2


def test_failed_lines_and_kill_ask_only_what_is_missing(tmp_path, monkeypatch):
    reqs = _reqs(12)
    with FakeOpenAI(fault_rate=0.4, faults=["500"], seed=5, api_key=KEY) as fake:
        monkeypatch.setattr(batch, "_wait", _kill_after(1))  # the first chunk comes back with failed lines
        with pytest.raises(KeyboardInterrupt):
            _run(fake, tmp_path, reqs, max_requests=3)
        monkeypatch.undo()
        assert len(_failed(fake)) > 0
        recs = _run(fake, tmp_path, reqs, max_requests=3)
        assert len(fake.batches) == 4 + 1  # the 3 pending chunks resumed; a new batch only for the failed lines
        assert 0 < sum(r is None for r in recs) <= len(_failed(fake))
        fake.fault_rate = 0.0
        recs = _run(fake, tmp_path, reqs, max_requests=3)
        assert all(r is not None for r in recs)
        # each request was asked once, plus once more each time its line failed
        failures = Counter(row["custom_id"] for row in _outputs(fake) if row["response"]["status_code"] != 200)
        assert fake.submitted_ids() == Counter({k: 1 for k in fake.submitted_ids()}) + failures
        assert len(fake.submitted_ids()) == 12


def test_oversize_line_raises(tmp_path):
    with FakeOpenAI(fault_rate=0.0, api_key=KEY) as fake:
        with pytest.raises(ValueError, match="max_bytes=500"):
            _run(fake, tmp_path, _reqs(3, pad=lambda i: 1000 * (i == 1)), max_bytes=500)
        assert not fake.batches
