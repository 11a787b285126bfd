"""lm-evaluation-harness on a profile's checkpoints (delta_utils.runner.lmeval): model arguments per backend, local
GSM8K as lm-eval's own task, and the side-by-side with delta-lab's prompt and checker on the same items."""
import json
import os
import time

import pytest
from conftest import SHARED

GSM8K = SHARED / "data" / "gsm8k" / "test.jsonl"
needs_gsm8k = pytest.mark.skipif(not GSM8K.is_file(), reason=f"no local GSM8K at {GSM8K}")


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")


@pytest.fixture
def one_thread():
    """One torch thread: on 2 cores shared with another job, 2 threads decode ~3x slower (measured 5.7 vs 15.7
    steps/s for the 135M model) than 1."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _folders(tmp_path):
    base, lora, full = tmp_path / "base", tmp_path / "lora" / "final", tmp_path / "full" / "final"
    for d in (base, lora, full):
        d.mkdir(parents=True)
    (base / "config.json").write_text("{}")
    (full / "config.json").write_text("{}")
    (lora / "adapter_config.json").write_text(json.dumps({"r": 12, "peft_type": "LORA"}))
    return base, lora, full


def test_model_args_lora_vs_full(tmp_path):
    from delta_utils.runner.lmeval import hf_model_args, vllm_model_args

    base, lora, full = _folders(tmp_path)
    a = hf_model_args(base, lora, device="cpu", batch_size=4)
    assert a == {"pretrained": str(base), "peft": str(lora), "device": "cpu", "dtype": "float32", "batch_size": 4}
    a = hf_model_args(base, full, device="cuda")
    assert a["pretrained"] == str(full) and "peft" not in a and a["dtype"] == "bfloat16"
    assert hf_model_args(base, base)["pretrained"] == str(base)

    v = vllm_model_args(base, lora, tensor_parallel_size=2, max_model_len=4096,
                        extra=["--gpu-memory-utilization", "0.85", "--enforce-eager", "--max-num-seqs=64"])
    assert v["pretrained"] == str(base) and v["lora_local_path"] == str(lora)
    assert v["max_lora_rank"] == 16  # rank 12 rounded up to the powers of two vLLM accepts
    assert v["tensor_parallel_size"] == 2 and v["max_model_len"] == 4096
    assert v["gpu_memory_utilization"] == 0.85 and v["enforce_eager"] is True and v["max_num_seqs"] == 64
    v = vllm_model_args(base, full)
    assert v["pretrained"] == str(full) and "lora_local_path" not in v and "max_model_len" not in v

    # the parameters exist in lm-eval's backends (0.4.13 signatures), so lm-eval does not pass them on blindly
    import ast

    import lm_eval.models

    src = (os.path.dirname(lm_eval.models.__file__) + "/vllm_causallms.py")
    init = next(n for n in ast.walk(ast.parse(open(src).read()))
                if isinstance(n, ast.FunctionDef) and n.name == "__init__")
    params = {a.arg for a in init.args.args}
    assert {"pretrained", "lora_local_path", "max_lora_rank", "tensor_parallel_size", "max_model_len"} <= params


def test_model_args_follow_the_profile_backend(tmp_path, monkeypatch):
    from delta_utils.profile.config import load_profile
    from delta_utils.runner import lmeval
    from delta_utils.runner.lmeval import model_args
    from delta_utils.serving.models import model_path

    p = load_profile("smoke")
    _, lora, full = _folders(tmp_path)
    backend, a = model_args(p, lora, device="cpu")
    assert backend == "hf" and a["pretrained"] == str(model_path("smollm2-135m")) and a["peft"] == str(lora)
    gpu = p.model_copy(update={"evaluate": p.evaluate.model_copy(update={"backend": "vllm"})})
    monkeypatch.setattr(lmeval, "vllm_importable", lambda: True)  # vLLM installed in this Python
    backend, a = model_args(gpu, full)
    assert backend == "vllm" and a["pretrained"] == str(full)


@needs_gsm8k
def test_local_task_yaml_derives_from_lm_evals_gsm8k(tmp_path):
    import yaml

    from delta_utils.runner.lmeval import builtin_task_yaml, local_task_yaml

    # beside the shared copy lies train.jsonl: lm-eval's shots come from it, as from the hub's train split
    name = local_task_yaml("gsm8k", GSM8K, tmp_path / "t1")
    y = yaml.safe_load((tmp_path / "t1" / f"{name}.yaml").read_text())
    assert name == "gsm8k_local" and y["include"] == str(builtin_task_yaml("gsm8k"))
    assert y["dataset_path"] == "json" and y["dataset_kwargs"]["data_files"]["test"] == str(GSM8K.resolve())
    assert y["fewshot_split"] == "train" and y["dataset_kwargs"]["data_files"]["train"].endswith("train.jsonl")
    # a test file alone: shots from the same file (lm-eval leaves the scored item out of its own shots)
    lone = tmp_path / "lone" / "test.jsonl"
    lone.parent.mkdir()
    lone.write_text("".join(GSM8K.read_text().splitlines(keepends=True)[:20]))
    local_task_yaml("gsm8k", lone, tmp_path / "t2")
    y = yaml.safe_load((tmp_path / "t2" / "gsm8k_local.yaml").read_text())
    assert y["fewshot_split"] == "test" and list(y["dataset_kwargs"]["data_files"]) == ["test"]


@needs_gsm8k
def test_lm_eval_on_the_base_policy_side_by_side(runs_dir, one_thread):
    """lm-eval's GSM8K (its prompt, 1 shot, its extraction) on the smoke policy over 5 local items, and delta-lab's
    own chat prompt and checker on the same 5 items."""
    from delta_utils.profile.config import load_profile
    from delta_utils.profile.rundir import read_table
    from delta_utils.runner import lmeval

    p = load_profile("smoke")
    t0 = time.monotonic()
    table = lmeval.run(p, tasks=["gsm8k"], limit=5, local={"gsm8k": str(GSM8K)}, models=["base"], num_fewshot=1,
                       max_gen_toks=128)
    wall = time.monotonic() - t0
    out = p.run_dir() / "05_evaluate" / "lm_eval"
    assert str(out).startswith(str(runs_dir))

    res = json.loads((out / "base" / "results.json").read_text())
    r = res["results"]["gsm8k_local"]
    assert {"exact_match,strict-match", "exact_match,flexible-extract"} <= set(r)
    assert res["n-samples"]["gsm8k_local"]["effective"] == 5 and res["n-shot"]["gsm8k_local"] == 1
    logs = [json.loads(ln) for ln in (out / "base" / "samples_gsm8k_local.jsonl").read_text().splitlines()]
    assert len(logs) == 10  # 5 items x 2 filters
    assert sorted({s["doc_id"] for s in logs}) == [0, 1, 2, 3, 4]
    assert {s["filter"] for s in logs} == {"strict-match", "flexible-extract"}
    assert logs[0]["arguments"][0][1]["max_gen_toks"] == 128 and logs[0]["arguments"][0][0].count("Question:") == 2

    t = read_table(out / "lm_eval.jsonl")
    assert set(t["filter"]) == {"strict-match", "flexible-extract"} and set(t["n"]) == {5}
    assert len(table) == 2 and set(table["model"]) == {"base"} and set(t["benchmark"]) == {"gsm8k"}

    comp = read_table(out / "comparison.jsonl")
    c = comp.iloc[0]
    assert c["n"] == 5 and c["delta_lab_max_tokens"] == 128 and c["lm_eval_max_gen_toks"] == 128
    for k in ("delta_lab_accuracy", "lm_eval_strict_accuracy", "lm_eval_flexible_accuracy", "agreement_flexible"):
        assert 0.0 <= c[k] <= 1.0
    assert c["lm_eval_flexible_accuracy"] == r["exact_match,flexible-extract"]
    from delta_utils.runner.lmeval import comparison_markdown

    md = comparison_markdown(comp)  # comparison.md beside the table (docs/lm-eval.md); the README is not touched
    assert md.count("\n") == 3 and f"| base | {c['task']} | 5 | {c['delta_lab_accuracy']:.1%} |" in md
    assert (out / "comparison.md").read_text().endswith(md)
    items = read_table(out / "comparison_items.jsonl")
    assert items["doc_id"].tolist() == [0, 1, 2, 3, 4]
    assert items["item_id"].tolist() == [f"gsm8k-{i}" for i in range(5)]
    assert items["gold"].tolist()[0] == "18" and items["delta_lab_text"].str.len().gt(0).all()

    # standalone, on lm-eval's stored log: delta-lab's answers come from the completions cache (no model call)
    t1 = time.monotonic()
    again = lmeval.compare_on_items(p, "base", GSM8K, limit=3)
    assert time.monotonic() - t1 < 30
    assert again["n"] == 3 and again["items"]["doc_id"].tolist() == [0, 1, 2]
    assert again["items"]["delta_lab_correct"].tolist() == items["delta_lab_correct"].tolist()[:3]
    print(f"lm-eval + delta-lab on 5 GSM8K items: {wall:.0f} s; delta-lab {c['delta_lab_accuracy']:.2f}, "
          f"lm-eval strict {c['lm_eval_strict_accuracy']:.2f} / flexible {c['lm_eval_flexible_accuracy']:.2f}, "
          f"agreement {c['agreement_flexible']:.2f}")


@needs_gsm8k
def test_lm_eval_on_a_lora_run(runs_dir, one_thread):
    """A trained LoRA run goes to lm-eval as `peft=<run>/final` on the base policy, and to delta-lab's side under
    the run's own cache identity (a LoRA adapter made here stands in for 04_train's)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from delta_utils.profile.config import load_profile
    from delta_utils.profile.rundir import read_table
    from delta_utils.profile.rundir import trained_run_dir as run_dir
    from delta_utils.runner import lmeval
    from delta_utils.serving.models import model_path

    p = load_profile("smoke")
    name = p.train.runs[0].name
    final = run_dir(p, name) / "final"
    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_pretrained(model_path(p.train.policy), dtype=torch.float32)
    get_peft_model(base, LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"],
                                    init_lora_weights=False)).save_pretrained(final)
    from transformers import AutoTokenizer

    AutoTokenizer.from_pretrained(model_path(p.train.policy)).save_pretrained(final)  # as 04_train's final/ has
    (final.parent / "run.json").write_text(json.dumps({"hash": "test0000"}))

    lmeval.run(p, tasks=["gsm8k"], limit=2, local={"gsm8k": str(GSM8K)}, num_fewshot=0, max_gen_toks=16)
    out = p.run_dir() / "05_evaluate" / "lm_eval"
    meta = json.loads((out / name / "model.json").read_text())
    assert meta["model_args"]["peft"] == str(final)
    assert meta["model_args"]["pretrained"] == str(model_path(p.train.policy))
    assert meta["identity"].startswith(f"{name}@test0000")
    assert json.loads((out / name / "results.json").read_text())["n-samples"]["gsm8k_local"]["effective"] == 2
    comp = read_table(out / "comparison.jsonl")
    assert set(comp["model"]) == {"base", name} and set(comp["n"]) == {2}  # base and every trained run
