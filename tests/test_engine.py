"""Real generation through llama.cpp's server over the OpenAI protocol; cache and lifecycle."""
import contextlib
import urllib.request

import pytest

from delta_utils.core.store import RecordCache
from delta_utils.data.tasks import chat_prompt, make_problems
from delta_utils.profile.config import ServerSpec
from delta_utils.serving import models
from delta_utils.serving.engine import Request, complete, endpoint, model_identity
from delta_utils.serving.serve import ServerError, llama_server_binary, llamacpp_server, port_in_use

SAMPLING = {"temperature": 0.7, "top_p": 0.95, "max_tokens": 24, "seed": 0, "n": 1, "stop": []}


def _requests(n=3):
    return [Request(item_id=p.id, messages=tuple(chat_prompt(p))) for p in make_problems("arithmetic", n, seed=5)]


@contextlib.contextmanager
def _no_server():
    raise AssertionError("a warm rerun must not start a server")
    yield


def test_generate_cache_hit_and_resume(tmp_path):
    name = "smollm2-135m"
    ident = model_identity(name, "llamacpp")
    starts = []

    def open_ep():
        starts.append(1)
        return endpoint("llamacpp", name, server=ServerSpec(slots=2, ctx_per_slot=512), log_dir=tmp_path)

    reqs = _requests(4)
    with RecordCache(tmp_path / "c.sqlite") as cache:
        # a run that stopped after two items: the second run only does the other two
        first = complete(open_ep, reqs[:2], SAMPLING, cache, ident, concurrency=2)
        assert len(cache) == 2
        recs = complete(open_ep, reqs, SAMPLING, cache, ident, concurrency=2)
        assert len(cache) == 4 and len(starts) == 2
        assert [r["text"] for r in recs[:2]] == [r["text"] for r in first]
        for r in recs:
            assert r["text"].strip() and r["completion_tokens"] > 0 and r["model"] == ident
        # warm rerun: zero model calls, no server
        again = complete(_no_server, reqs, SAMPLING, cache, ident)
        assert again == recs
        # two items asking the same question share one completion, each under its own id
        twin = Request(item_id="twin", messages=reqs[0].messages)
        both = complete(_no_server, [reqs[0], twin], SAMPLING, cache, ident)
        assert [r["item_id"] for r in both] == [reqs[0].item_id, "twin"] and both[0]["text"] == both[1]["text"]
        # changing the sampling is a different key
        assert complete(open_ep, reqs[:1], SAMPLING | {"temperature": 0.0}, cache, ident)[0]["key"] != recs[0]["key"]
    assert (tmp_path / "server-SmolLM2-135M-Instruct.Q4_1.log").is_file()


def test_server_lifecycle_and_port_in_use(tmp_path):
    gguf = models.gguf_path("smollm2-135m")
    with llamacpp_server(gguf, log_dir=tmp_path, slots=1, ctx_per_slot=256) as url:
        port = int(url.split(":")[2].split("/")[0])
        with urllib.request.urlopen(url.replace("/v1", "/health"), timeout=5) as r:
            assert r.status == 200
        with pytest.raises(ServerError, match="already in use"):
            with llamacpp_server(gguf, log_dir=tmp_path, port=port):
                pass
    assert not port_in_use(port)  # stopped and released


def test_missing_gguf(tmp_path):
    with pytest.raises(ServerError, match="not found"):
        with llamacpp_server(tmp_path / "nope.gguf", log_dir=tmp_path):
            pass


def test_bad_gguf_fails_with_log(tmp_path):
    fake = tmp_path / "fake.gguf"
    fake.write_bytes(b"not a model" * 100)
    with pytest.raises(ServerError, match="exited|not healthy"):
        with llamacpp_server(fake, log_dir=tmp_path, startup_timeout=60):
            pass


def test_llama_server_binary_choice(tmp_path, monkeypatch):
    """Which llama.cpp server runs: DELTA_LAB_LLAMA_SERVER, else a `llama-server` beside the interpreter
    (`make llama-server`), else xllamacpp's (None)."""
    import os
    import sys

    bindir = tmp_path / "bin"
    bindir.mkdir()
    monkeypatch.setattr(sys, "executable", str(bindir / "python"))
    monkeypatch.delenv("DELTA_LAB_LLAMA_SERVER", raising=False)
    assert llama_server_binary() is None
    beside = bindir / "llama-server"
    beside.write_text("#!/bin/sh\n")
    assert llama_server_binary() is None  # not executable: ignored
    os.chmod(beside, 0o755)
    assert llama_server_binary() == str(beside)
    for wheel in ("xllamacpp", ""):
        monkeypatch.setenv("DELTA_LAB_LLAMA_SERVER", wheel)
        assert llama_server_binary() is None
    monkeypatch.setenv("DELTA_LAB_LLAMA_SERVER", str(tmp_path / "missing"))
    with pytest.raises(ServerError, match="not an executable"):
        llama_server_binary()
    monkeypatch.setenv("DELTA_LAB_LLAMA_SERVER", str(beside))
    assert llama_server_binary() == str(beside)
