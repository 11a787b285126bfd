"""The packaged GGUF models assemble to the recorded sha256 and convert to transformers."""
import pytest

from delta_utils.serving import models
from delta_utils.serving.models import ModelError, get_spec


def test_unknown_model():
    with pytest.raises(ModelError, match="known models"):
        get_spec("gpt-9000")


@pytest.mark.parametrize("name", sorted(models.REGISTRY))
def test_gguf_assembles_and_matches_sha(name):
    p = models.gguf_path(name)
    assert p.is_file() and p.stat().st_size > 50_000_000
    with open(p, "rb") as f:
        assert f.read(4) == b"GGUF"
    assert models.sha256_file(p) == get_spec(name).gguf.sha256


def test_corrupt_assembly_is_detected(tmp_path, monkeypatch):
    monkeypatch.setenv("DELTA_LAB_CACHE", str(tmp_path))
    spec = get_spec("gemma3-270m")
    bad = spec.gguf.__class__(**{**spec.gguf.__dict__, "sha256": "0" * 64})
    monkeypatch.setitem(models.REGISTRY, "gemma3-270m", spec.__class__(**{**spec.__dict__, "gguf": bad}))
    with pytest.raises(ModelError, match="sha256"):
        models.gguf_path("gemma3-270m")
    assert not (tmp_path / "gguf" / bad.filename).exists()


def test_hf_conversion_loads_and_generates():
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    d = models.hf_dir("smollm2-135m")
    assert (d / "config.json").is_file()
    tok = AutoTokenizer.from_pretrained(d)
    model = AutoModelForCausalLM.from_pretrained(d, dtype=torch.float32)
    assert getattr(model, "hf_quantizer", None) is None  # trainable and savable
    ids = tok.apply_chat_template([{"role": "user", "content": "What is 2 + 3?"}], add_generation_prompt=True,
                                  return_tensors="pt", return_dict=True)
    out = model.generate(**ids, max_new_tokens=8, do_sample=False)
    assert out.shape[1] > ids["input_ids"].shape[1]
