"""lm-eval on a local copy of any mapped benchmark: the task YAML written for it (no model is run), and the names
`--local` accepts."""
import json
import shutil
from pathlib import Path

import pytest
import yaml

from delta_utils.runner import lmeval
from delta_utils.runner.lmeval import LOCAL_SUFFIX, builtin_task_yaml, lm_eval_task, local_task_yaml

HUB = Path(__file__).parent / "data" / "hub"


def _load(folder: Path, name: str) -> dict:
    """The written YAML as lm-eval reads it (its include resolved)."""
    from lm_eval.tasks._yaml_loader import load_yaml

    return load_yaml(folder / f"{name}.yaml", resolve_func=False, recursive=True)


def test_benchmark_names_map_to_lm_eval_tasks():
    assert lm_eval_task("math500") == "minerva_math500" and lm_eval_task("gsm8k") == "gsm8k"
    assert lm_eval_task("mmlu_pro") == "mmlu_pro" and lm_eval_task("mmlu_pro_math") == "mmlu_pro_math"
    with pytest.raises(ValueError, match="no lm-eval task reads a local copy of the benchmark 'amc23'"):
        lm_eval_task("amc23")


def test_math500_local_task_keeps_minervas_prompt_and_shots(tmp_path):
    name = local_task_yaml("minerva_math500", HUB / "math500.jsonl", tmp_path)
    raw = yaml.safe_load((tmp_path / f"{name}.yaml").read_text())
    assert name == "minerva_math500_local" and raw["include"] == str(builtin_task_yaml("minerva_math500"))
    assert raw["dataset_path"] == "json" and raw["dataset_name"] is None
    assert raw["dataset_kwargs"] == {"data_files": {"test": str((HUB / "math500.jsonl").resolve())}}
    cfg = _load(tmp_path, name)
    # lm-eval's own: the test split, Minerva's prompt and fixed 4 shots, no training split to draw from
    assert cfg["task"] == "minerva_math500_local" and cfg["test_split"] == "test" and cfg["num_fewshot"] == 4
    assert cfg["training_split"] is None and "fewshot_split" not in cfg
    assert cfg["generation_kwargs"]["until"] == ["Problem:"] and "process_docs" in cfg


def test_mmlu_pro_local_group_and_validation_shots(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(HUB / "mmlu_pro.jsonl", data / "test.jsonl")
    name = local_task_yaml("mmlu_pro", data / "test.jsonl", tmp_path / "tasks")
    group = yaml.safe_load((tmp_path / "tasks" / f"{name}.yaml").read_text())
    assert name == "mmlu_pro_local" and len(group["task"]) == 14
    assert "mmlu_pro_math_local" in group["task"] and group["aggregate_metric_list"][0]["metric"] == "exact_match"
    math = _load(tmp_path / "tasks", "mmlu_pro_math_local")
    assert math["dataset_kwargs"]["data_files"] == {"test": str(data / "test.jsonl")}
    assert math["fewshot_split"] == "test" and math["training_split"] is None  # no validation file beside it
    # with the hub's validation split beside the file, the shots come from it (as lm-eval's on the hub)
    shutil.copy(HUB / "mmlu_pro.jsonl", data / "validation.jsonl")
    local_task_yaml("mmlu_pro", data / "test.jsonl", tmp_path / "tasks2")
    math = _load(tmp_path / "tasks2", "mmlu_pro_math_local")
    assert math["fewshot_split"] == "validation"
    assert math["dataset_kwargs"]["data_files"]["validation"] == str(data / "validation.jsonl")


def test_local_file_needs_the_fields_the_task_reads(tmp_path):
    bad = tmp_path / "test.jsonl"
    bad.write_text(json.dumps({"question": "1+1?", "answer": "2"}) + "\n")
    with pytest.raises(ValueError, match=r"lacks \['problem', 'solution'\]"):
        local_task_yaml("minerva_math500", bad, tmp_path / "t")
    with pytest.raises(ValueError, match="name one of its tasks"):
        local_task_yaml("minerva_math", HUB / "minerva_math.jsonl", tmp_path / "t")


def test_resolve_tasks_takes_benchmark_names(tmp_path, monkeypatch):
    from delta_utils.profile.config import load_profile

    p = load_profile("smoke")
    out = lmeval.resolve_tasks(p, ["minerva_math500"], {"math500": str(HUB / "math500.jsonl")}, tmp_path)
    assert out == {"minerva_math500" + LOCAL_SUFFIX: {"benchmark": "minerva_math500",
                                                      "data": str((HUB / "math500.jsonl").resolve())}}
    with pytest.raises(ValueError, match="not among the tasks"):
        lmeval.resolve_tasks(p, ["gsm8k"], {"math500": str(HUB / "math500.jsonl")}, tmp_path)
    with pytest.raises(ValueError, match="'mbpp'"):
        lmeval.resolve_tasks(p, ["mbpp"], {"mbpp": str(HUB / "mbpp.jsonl")}, tmp_path)


def test_cli_local_pairs(monkeypatch):
    seen = {}
    monkeypatch.setattr(lmeval, "run", lambda profile, tasks, limit, local, **kw: seen.update(local=local) or
                        __import__("pandas").DataFrame())
    monkeypatch.setattr(lmeval, "out_dir", lambda profile: Path("/nonexistent"))
    lmeval.main(["--profile", "smoke", "--local", "math500=a.jsonl,mmlu_pro=b.jsonl", "--local", "gsm8k=c.jsonl"])
    assert seen["local"] == {"math500": "a.jsonl", "mmlu_pro": "b.jsonl", "gsm8k": "c.jsonl"}
    lmeval.main(["--profile", "smoke", "--gsm8k-path", "g.jsonl"])
    assert seen["local"] == {"gsm8k": "g.jsonl"}
    with pytest.raises(SystemExit):
        lmeval.main(["--profile", "smoke", "--local", "math500"])


def test_vllm_profiles_use_lm_evals_hf_backend_when_vllm_lives_in_its_own_venv(tmp_path, monkeypatch):
    from delta_utils.profile.config import CONFIG_DIR, load_profile
    from delta_utils.serving import models

    data = yaml.safe_load((CONFIG_DIR / "smoke.yaml").read_text())
    data["name"] = "lmevalvllm"
    data["evaluate"].update(backend="vllm", server={"max_model_len": 2048})
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(data))
    prof = load_profile(tmp_path / "p.yaml")
    folder = models.hf_dir("smollm2-135m")
    monkeypatch.setattr(lmeval, "vllm_importable", lambda: True)
    backend, margs = lmeval.model_args(prof, folder)
    assert backend == "vllm" and margs["max_model_len"] == 2048
    monkeypatch.setattr(lmeval, "vllm_importable", lambda: False)
    backend, margs = lmeval.model_args(prof, folder, device="cpu")
    assert backend == "hf" and margs["device"] == "cpu" and "max_model_len" not in margs
