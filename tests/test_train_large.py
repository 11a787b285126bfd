"""What training an 8B policy needs, checked on CPU: the policy loads inside the distributed context in the
dtype that keeps updates, a full fine-tune in bf16 is saved as bf16 safetensors, and a policy one process cannot
hold stops before training with the accelerate config to use. The model is a random-initialised Qwen3 (the paper
policy's architecture) at a few layers and a small width."""
import json

import pytest
import yaml
from test_train import _pairs, _write_set

from delta_utils.profile.config import CONFIG_DIR, RunSpec, load_profile
from delta_utils.serving import models
from delta_utils.stages.train import check_fits_one_process, final_dtype, load_dtype, train_run


@pytest.fixture(scope="module")
def qwen3_folder(tmp_path_factory):
    """A random Qwen3 with SmolLM2's tokenizer, saved as a hub folder (fp32, as a hub checkpoint loads)."""
    import torch
    from transformers import AutoTokenizer, Qwen3Config, Qwen3ForCausalLM

    tok = AutoTokenizer.from_pretrained(models.hf_dir("smollm2-135m"))
    cfg = Qwen3Config(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, head_dim=16, max_position_embeddings=1024,
                      tie_word_embeddings=True, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)
    torch.manual_seed(0)
    model = Qwen3ForCausalLM(cfg).to(torch.float32)
    d = tmp_path_factory.mktemp("hub") / "Qwen3-tiny-random"
    model.save_pretrained(d)
    tok.save_pretrained(d)
    return d


def _profile(tmp_path, folder, params_m=3, **hp):
    data = yaml.safe_load((CONFIG_DIR / "smoke.yaml").read_text())
    data["name"] = "largetest"
    data["models"] = [{"name": "qwen3-tiny", "family": "qwen3", "hub_id": str(folder), "params_m": params_m,
                       "max_context": 1024}]
    data["train"]["policy"] = "qwen3-tiny"
    data["train"]["hparams"].update({"max_steps": 2, "batch_size": 2, "max_length": 128, **hp})
    p = tmp_path / "largetest.yaml"
    p.write_text(yaml.safe_dump(data))
    return load_profile(p)


@pytest.mark.slow
def test_full_fine_tune_in_bf16_saves_bf16_safetensors(runs_dir, tmp_path, qwen3_folder):
    prof = _profile(tmp_path, qwen3_folder, lora=None, precision="bf16")
    _write_set(prof, "full", _pairs(4))
    out = train_run(prof, RunSpec(name="full_bf16", method="dpo", preference_set="full"))
    meta = json.loads((out / "run.json").read_text())
    assert meta["precision"] == "bf16" and meta["weights_loaded"] == "fp32"  # CPU: fp32 master weights
    assert meta["final_dtype"] == "BF16" and final_dtype(out / "final") == "BF16"
    assert json.loads((out / "final" / "config.json").read_text())["dtype"] == "bfloat16"
    assert final_dtype(qwen3_folder) == "F32"  # the input was fp32: the cast happened at the final save
    # half the bytes of the fp32 input, and evaluation loads it
    size = sum(f.stat().st_size for f in (out / "final").glob("*.safetensors"))
    assert size < 0.6 * sum(f.stat().st_size for f in qwen3_folder.glob("*.safetensors"))
    from delta_utils.serving.engine import _load_hf_uncached

    tok, model = _load_hf_uncached(out / "final", "cpu")
    assert model.config.num_hidden_layers == 2 and tok("2 + 2").input_ids
    # a LoRA run keeps its small adapter as trained (fp32), and fp32 training saves fp32
    prof = _profile(tmp_path, qwen3_folder, precision="fp32", lora={"r": 4, "alpha": 8})
    out = train_run(prof, RunSpec(name="lora_fp32", method="dpo", preference_set="full"))
    assert json.loads((out / "run.json").read_text())["final_dtype"] == "F32"


def test_load_dtype_keeps_fp32_master_weights_where_updates_need_them(tmp_path, qwen3_folder, monkeypatch):
    monkeypatch.delenv("ACCELERATE_USE_DEEPSPEED", raising=False)
    full = _profile(tmp_path, qwen3_folder, lora=None)
    lora = _profile(tmp_path, qwen3_folder, lora={"r": 4, "alpha": 8})
    assert load_dtype(full, "cpu", "bf16") == "fp32" and load_dtype(lora, "cpu", "bf16") == "fp32"
    assert load_dtype(lora, "cuda", "bf16") == "bf16"  # frozen base weights
    assert load_dtype(full, "cuda", "bf16") == "fp32"  # one GPU or FSDP: the loaded weights are the master copy
    assert load_dtype(full, "cuda", "fp32") == "fp32"
    monkeypatch.setenv("ACCELERATE_USE_DEEPSPEED", "true")  # ZeRO keeps fp32 masters in its optimizer
    assert load_dtype(full, "cuda", "bf16") == "bf16"


def test_a_policy_one_gpu_cannot_hold_stops_before_training(tmp_path, qwen3_folder, monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    big = _profile(tmp_path, qwen3_folder, params_m=8190, lora=None)
    data = yaml.safe_load((tmp_path / "largetest.yaml").read_text())
    data["train"]["device"] = "cuda"
    (tmp_path / "big.yaml").write_text(yaml.safe_dump(data))
    big = load_profile(tmp_path / "big.yaml")
    with pytest.raises(RuntimeError, match=r"ACCELERATE_CONFIG=configs/accelerate/zero3.yaml") as e:
        check_fits_one_process(big)
    assert "~131 GB" in str(e.value) and "qwen3-tiny" in str(e.value)
    # train.run checks first: nothing is read or loaded (there is no preference set at all here)
    from delta_utils.stages import train

    with pytest.raises(RuntimeError, match="zero3.yaml"):
        train.run(big)
    monkeypatch.setenv("WORLD_SIZE", "8")  # launched by accelerate: the config shards it
    check_fits_one_process(big)
    monkeypatch.delenv("WORLD_SIZE")
    data["train"]["hparams"]["lora"] = {"r": 16, "alpha": 32}  # LoRA on 8B fits one GPU
    (tmp_path / "big_lora.yaml").write_text(yaml.safe_dump(data))
    check_fits_one_process(load_profile(tmp_path / "big_lora.yaml"))
