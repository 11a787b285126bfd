"""The OpenAI-protocol engine against a local stand-in endpoint (tests/fake_openai.py): reasoning kept beside the
answer, request timeouts that scale with the budget and the queue, and one server shared by several calls."""
import contextlib

import pytest
from fake_openai import FakeOpenAI

from delta_utils.core.store import RecordCache
from delta_utils.data import traceformat
from delta_utils.serving.engine import (
    Endpoint,
    Request,
    ServerLost,
    SharedServer,
    complete,
    reasoning_of,
    request_timeout,
)
from delta_utils.serving.serve import free_port

SAMPLING = {"temperature": 0.0, "max_tokens": 16}


def _requests(n, tag="q"):
    return [Request(item_id=f"{tag}{i}", messages=({"role": "user", "content": f"{tag} {i}?"},)) for i in range(n)]


def _opener(url, opened=None):
    @contextlib.contextmanager
    def open_endpoint():
        if opened is not None:
            opened.append(url)
        yield Endpoint(url, "fake-model", "sk-test")
    return open_endpoint


def test_reasoning_content_is_kept_beside_the_answer(tmp_path):
    thought = "The sum of 2 and 3 is 5, so the answer is 5."
    with FakeOpenAI(fault_rate=0.0, reasoning=thought) as fake, RecordCache(tmp_path / "c.sqlite") as cache:
        recs = complete(_opener(fake.url), _requests(2), SAMPLING, cache, "m")
    assert [r["reasoning"] for r in recs] == [thought, thought]
    # cached: a rerun returns the reasoning without a call
    with RecordCache(tmp_path / "c.sqlite") as cache:
        again = complete(_opener("http://127.0.0.1:9/v1"), _requests(2), SAMPLING, cache, "m")
    assert again[0]["reasoning"] == thought
    # the stored trace keeps it, in the one trace format every family is normalised to
    text = traceformat.normalize(recs[0]["text"], recs[0]["reasoning"])
    assert text.startswith("<think>\n" + thought + "\n</think>\n\n") and text.endswith(recs[0]["text"])
    # an endpoint that sends none leaves the record without the field
    with FakeOpenAI(fault_rate=0.0) as fake, RecordCache(tmp_path / "d.sqlite") as cache:
        plain = complete(_opener(fake.url), _requests(1), SAMPLING, cache, "m")
    assert "reasoning" not in plain[0]


def test_reasoning_of_reads_every_field_spelling():
    assert reasoning_of({"content": "5", "reasoning_content": "think"}) == "think"
    assert reasoning_of({"content": "5", "reasoning": "newer vLLM"}) == "newer vLLM"
    assert reasoning_of({"content": "5", "reasoning_content": "   "}) is None
    assert reasoning_of({"content": "5"}) is None


def test_request_timeout_scales_with_budget_queue_and_prompt():
    base = request_timeout(320, 8, "llamacpp")
    assert base == pytest.approx(120 + 320 * 8 / 5.0)
    assert request_timeout(640, 8, "llamacpp") > base and request_timeout(320, 16, "llamacpp") > base
    assert request_timeout(320, 8, "llamacpp", prompt_tokens=1000) > base
    # 256 requests of 32k tokens on one GPU: hours, not the 600 s that made queued requests fail
    assert request_timeout(32768, 256, "vllm") > 20 * 3600


def test_queued_requests_do_not_time_out_with_the_scaled_timeout(tmp_path):
    """A server that decodes one request at a time (0.4 s each) and 6 requests in flight: the last waits ~2 s in
    the queue. A fixed 0.6 s timeout loses most of them; the scaled timeout, which the client really sends
    (the request's read-timeout header), loses none."""
    with FakeOpenAI(fault_rate=0.0, slots=1, delay_s=0.4) as fake:
        with RecordCache(tmp_path / "fixed.sqlite") as cache:
            lost = complete(_opener(fake.url), _requests(6), SAMPLING, cache, "m", concurrency=6, timeout=0.6,
                            max_retries=0, max_restarts=0, allow_missing=True)
        assert sum(r is None for r in lost) >= 3
        fake.timeouts.clear()
        with RecordCache(tmp_path / "scaled.sqlite") as cache:
            got = complete(_opener(fake.url), _requests(6), SAMPLING, cache, "m", concurrency=6, max_retries=0,
                           max_restarts=0)
        assert all(r is not None for r in got)
        assert set(fake.timeouts) == {request_timeout(SAMPLING["max_tokens"], 6)}


def test_shared_server_starts_once_for_several_calls_and_restarts_when_lost(tmp_path):
    with FakeOpenAI(fault_rate=0.0) as fake, RecordCache(tmp_path / "c.sqlite") as cache:
        opened = []
        with SharedServer(_opener(fake.url, opened)) as shared:
            complete(shared, _requests(3, "a"), SAMPLING, cache, "m")
            complete(shared, _requests(3, "b"), {**SAMPLING, "temperature": 0.6}, cache, "m")  # another sampling
            complete(shared, _requests(3, "a"), SAMPLING, cache, "m")  # all cached: nothing asked
        assert opened == [fake.url] and shared.starts == 1
        # a server that dies (connection refused) is stopped and started afresh for the rest
        dead = f"http://127.0.0.1:{free_port()}/v1"
        urls = iter([dead, fake.url])
        opened.clear()

        @contextlib.contextmanager
        def flaky():
            url = next(urls)
            opened.append(url)
            yield Endpoint(url, "fake-model", "sk-test")

        with SharedServer(flaky) as shared:
            recs = complete(shared, _requests(2, "c"), SAMPLING, cache, "m", max_retries=0)
        assert opened == [dead, fake.url] and shared.starts == 2 and all(recs)
        # outside a complete() call, a ServerLost still stops the shared server
        stopped = []

        @contextlib.contextmanager
        def tracked():
            try:
                yield Endpoint(fake.url, "fake-model", "sk-test")
            finally:
                stopped.append(1)

        shared = SharedServer(tracked)
        with pytest.raises(ServerLost), shared():
            raise ServerLost(1, "gone")
        assert stopped == [1] and shared.starts == 1


def test_each_generator_is_served_once_for_every_eval_set_with_evaluations_context(runs_dir, tmp_path, monkeypatch):
    """Generator evaluation on vLLM: one server per generator for all the sets (three sets, two samplings), with
    `evaluate.server.max_model_len` (evaluation budgets outgrow generation's 1,024). A stand-in endpoint
    answers in vLLM's place; no policy checkpoint is evaluated here."""
    import yaml

    from delta_utils.profile.config import CONFIG_DIR, load_profile
    from delta_utils.stages import evaluate

    data = yaml.safe_load((CONFIG_DIR / "smoke.yaml").read_text())
    data["name"] = "geneval"
    data["models"] = [{"name": f"hub-{k}", "family": "x", "hub_id": f"org/model-{k}", "params_m": 500,
                       "max_context": 32768} for k in ("a", "b")]
    data["generation"] = {"backend": "vllm", "generators": ["hub-a", "hub-b"], "rejected": "hub-a",
                          "sampling": {"max_tokens": 512}, "server": {"max_model_len": 1024}}
    data["evaluate"] = {"sets": [{"name": "arith", "family": "arithmetic", "n": 3, "seed": 1001},
                                 {"name": "stem", "family": "stem", "n": 2, "seed": 3001},
                                 {"name": "arith_k", "family": "arithmetic", "n": 2, "seed": 1002, "samples": 2}],
                        "sampling": {"temperature": 0.0, "max_tokens": 4096}, "backend": "vllm",
                        "server": {"max_model_len": 6144}, "generators": True}
    data["train"]["runs"] = [{"name": "dpo_b", "method": "dpo", "preference_set": "gen__hub-b"}]
    (tmp_path / "geneval.yaml").write_text(yaml.safe_dump(data))
    prof = load_profile(tmp_path / "geneval.yaml")
    started = []
    with FakeOpenAI(fault_rate=0.0) as fake:
        @contextlib.contextmanager
        def stand_in(backend, model, *, server, log_dir):
            started.append((backend, model, server.max_model_len))
            yield Endpoint(fake.url, model, "sk-test")

        monkeypatch.setattr(evaluate, "endpoint", stand_in)
        monkeypatch.setattr(evaluate, "checkpoints", lambda profile: {})
        recs = evaluate.run(prof)
    assert started == [("vllm", "hub-a", 6144), ("vllm", "hub-b", 6144)]
    assert len(recs) == 2 * (3 + 2 + 2 * 2) and list(dict.fromkeys(recs["eval_set"])) == ["arith", "stem", "arith_k"]
