"""lm-evaluation-harness on the base policy and every trained checkpoint: numbers comparable with published ones.

delta-lab's own evaluation (`evaluate`) asks every model the same zero-shot chat question and reads the answer
with its own checker. Published numbers come from lm-evaluation-harness (lm-eval): its prompts, its few-shot
examples, its answer extraction. This module runs lm-eval itself on the checkpoints of a profile:

- the base policy with lm-eval's ``hf`` backend (``pretrained=<folder>``), a trained LoRA run as
  ``peft=<run>/final`` on top of it, a fully fine-tuned run as ``pretrained=<run>/final``; on GPU profiles
  (``evaluate.backend: vllm``) lm-eval's ``vllm`` backend (``lora_local_path=`` for adapters);
- tasks by lm-eval's names (``gsm8k``, ``minerva_math500``, ``mmlu_pro``, ...); a task can read a local copy of
  its data, named by lm-eval task or by delta-lab benchmark (`LOCAL_TASKS`: gsm8k, math500 -> minerva_math500,
  mmlu_pro; ``local={"math500": "tests/data/hub/math500.jsonl"}``), the file having the hub's fields: a task
  YAML is written that includes lm-eval's own task file and changes only where the data comes from
  (``dataset_path: json``), so the prompt, the few-shot examples and the extraction are lm-eval's (a group such
  as mmlu_pro: one such YAML per subtask, all reading the file, and a group YAML over them);
- and, for GSM8K, a side-by-side with delta-lab's own prompt and checker on the very items lm-eval scored.

Writes under ``runs/<profile>/05_evaluate/lm_eval/``: per model ``<model>/results.json`` (lm-eval's results),
``<model>/samples_<task>.jsonl`` (lm-eval's per-sample logs), ``<model>/comparison_items.jsonl``; and over all
models ``lm_eval.jsonl`` (model, task, metric, filter, value, stderr, n), ``comparison.jsonl`` (per model and
task: both accuracies and their agreement) and ``comparison_items.jsonl``.

    python -m delta_utils.runner.lmeval --profile tiny --tasks gsm8k --limit 50 \
        --gsm8k-path ../shared/data/gsm8k/test.jsonl
    python -m delta_utils.runner.lmeval --profile tiny --tasks minerva_math500 --local math500=data/math500/test.jsonl
"""
from __future__ import annotations

import functools
import json
import os
import re
import time
from pathlib import Path

import numpy as np
import pandas as pd

from ..core import stats
from ..core.store import atomic_write_json, atomic_write_text
from ..data.benchmark_specs import BENCHMARKS
from ..data.tasks import load_tasks
from ..data.tasks.benchmarks import load_benchmark
from ..data.tasks.checking import check
from ..profile.config import Profile, load_profile, register_models
from ..profile.rundir import completions_cache, read_table, stage_dir, trained_run_dir, write_table
from ..serving.devices import resolve_device
from ..serving.engine import complete, hf_complete, requests_for
from ..serving.models import folder_fingerprint, model_path
from ..serving.serve import lora_rank, vllm_lora_rank
from ..stages.evaluate import STAGE, checkpoint_endpoint, checkpoints, decode_precision, set_sampling

# the paper's benchmarks that lm-eval ships (MATH-500 as Minerva's prompt and checker, MMLU-Pro's 14 subjects)
DEFAULT_TASKS = ("gsm8k", "minerva_math500", "mmlu_pro")
LOCAL_SUFFIX = "_local"
# delta-lab benchmark -> (the lm-eval task that reads a local copy of it, the hub fields that task reads)
LOCAL_TASKS = {
    "gsm8k": ("gsm8k", ("question", "answer")),
    "math500": ("minerva_math500", ("problem", "solution")),
    "mmlu_pro": ("mmlu_pro", ("question", "options", "answer", "cot_content", "category")),
}
GROUPS_READING_ONE_FILE = {"mmlu_pro"}


def out_dir(profile: Profile) -> Path:
    d = stage_dir(profile, STAGE) / "lm_eval"
    d.mkdir(parents=True, exist_ok=True)
    return d


# ---------------------------------------------------------------- model arguments

def hf_model_args(base: Path, folder: Path, *, device: str = "cpu", batch_size: int = 8) -> dict:
    """lm-eval ``hf`` model_args: a LoRA adapter folder rides on the base (``peft=``), a full model is loaded
    as it is. fp32 on CPU, bf16 on CUDA (as delta-lab's own in-process engine)."""
    args = {"pretrained": str(base), "device": device, "dtype": "bfloat16" if device.startswith("cuda") else "float32",
            "batch_size": batch_size}
    if lora_rank(folder) is not None:
        args["peft"] = str(folder)
    elif Path(folder).resolve() != Path(base).resolve():
        args["pretrained"] = str(folder)
    return args


def _vllm_kwargs(flags: list[str]) -> dict:
    """`evaluate.server.vllm_args` (CLI flags for `vllm serve`) as keyword arguments of vLLM's `LLM`, which is
    what lm-eval's vllm backend builds: ``--gpu-memory-utilization 0.9`` -> gpu_memory_utilization=0.9."""
    out, i = {}, 0
    while i < len(flags):
        f = flags[i]
        if not f.startswith("--"):
            raise ValueError(f"evaluate.server.vllm_args: expected a --flag, got {f!r}")
        key, _, val = f[2:].partition("=")
        key = key.replace("-", "_")
        if not val and i + 1 < len(flags) and not flags[i + 1].startswith("--"):
            val, i = flags[i + 1], i + 1
        if not val:
            out[key] = True
        else:
            for cast in (int, float):
                try:
                    val = cast(val)
                    break
                except ValueError:
                    pass
            out[key] = val
        i += 1
    return out


def vllm_model_args(base: Path, folder: Path, *, tensor_parallel_size: int = 1, max_model_len: int | None = None,
                    extra: list[str] = ()) -> dict:
    """lm-eval ``vllm`` model_args (lm_eval/models/vllm_causallms.py, 0.4.13): a LoRA adapter as
    ``lora_local_path`` on the base (lm-eval then sets ``enable_lora``; ``max_lora_rank`` rounded up to the
    powers of two vLLM accepts), a full model as ``pretrained``."""
    args = {"pretrained": str(base), "dtype": "auto", "batch_size": "auto",
            "tensor_parallel_size": tensor_parallel_size}
    if max_model_len:
        args["max_model_len"] = max_model_len
    rank = lora_rank(folder)
    if rank is not None:
        args["lora_local_path"] = str(folder)
        args["max_lora_rank"] = vllm_lora_rank(rank)
    elif Path(folder).resolve() != Path(base).resolve():
        args["pretrained"] = str(folder)
    return {**args, **_vllm_kwargs(list(extra))}


def vllm_importable() -> bool:
    """vLLM in this Python? On a GPU machine set up as docs/scaling.md says it lives in its own venv (its torch and
    transformers pins differ from the project's), where delta-lab reaches it as `vllm serve`, not as a library."""
    import importlib.util

    return importlib.util.find_spec("vllm") is not None


@functools.cache
def _note_hf_instead_of_vllm() -> None:
    print("lm-eval: vLLM is not importable in this Python (it lives in its own venv: docs/scaling.md), so "
          "lm-eval's hf backend runs the checkpoints; install vLLM here to use lm-eval's vllm backend", flush=True)


def model_args(profile: Profile, folder: Path, device: str | None = None) -> tuple[str, dict]:
    """(lm-eval backend, model_args) for one checkpoint folder of the profile. `evaluate.backend: vllm` uses
    lm-eval's vllm backend when vLLM is importable here, else its hf backend (said once)."""
    ev, base = profile.evaluate, model_path(profile.train.policy)
    if ev.backend == "vllm":
        if vllm_importable():
            return "vllm", vllm_model_args(base, folder, tensor_parallel_size=ev.server.tensor_parallel_size,
                                           max_model_len=ev.server.max_model_len, extra=ev.server.vllm_args)
        _note_hf_instead_of_vllm()
    if device is None:
        device = resolve_device(profile.train.device)
    return "hf", hf_model_args(base, folder, device=device, batch_size=ev.batch_size)


def models_of(profile: Profile, models: list[str] | None = None) -> dict[str, tuple]:
    """name -> (folder, cache identity, method, preference set), as `evaluate.checkpoints` names them: the base
    policy and the trained runs named in `models` (None: every run of the grid that has been trained)."""
    runs = profile.train.runs
    if models is not None:
        unknown = sorted(set(models) - {"base"} - {r.name for r in runs})
        if unknown:
            raise ValueError(f"unknown model(s) {unknown}; this profile has base and the runs "
                             f"{[r.name for r in runs]}")
        runs = [r for r in runs if r.name in models]
    else:
        trained = [r for r in runs if (trained_run_dir(profile, r.name) / "run.json").is_file()]
        if len(trained) < len(runs):
            print(f"[lm-eval] {len(runs) - len(trained)} of {len(runs)} runs are not trained yet; evaluating "
                  f"base and {[r.name for r in trained]}", flush=True)
        runs = trained
    ck = checkpoints(profile.model_copy(update={"train": profile.train.model_copy(update={"runs": runs})}))
    return {k: v for k, v in ck.items() if models is None or k in models}


# ---------------------------------------------------------------- tasks, local data

@functools.cache
def _builtin_yamls() -> dict[tuple[str, str], Path]:
    """("task" or "group", name) -> lm-eval's YAML file that defines it (the first, in path order)."""
    import lm_eval.tasks

    found = {}
    pat = re.compile(r"^(task|group):\s*['\"]?([^'\"\s]+)['\"]?\s*$", re.M)
    for p in sorted(Path(lm_eval.tasks.__file__).parent.rglob("*.yaml")):
        for kind, name in pat.findall(p.read_text(errors="ignore")):
            found.setdefault((kind, name), p)
    return found


def builtin_task_yaml(task: str) -> Path:
    """lm-eval's own YAML file of a (leaf) task."""
    p = _builtin_yamls().get(("task", task))
    if p is not None:
        return p
    raise ValueError(f"lm-eval has no task file for {task!r} (of the groups only mmlu_pro reads a local file; for "
                     "another group such as minerva_math name one of its tasks)")


def builtin_group_yaml(task: str) -> Path | None:
    """lm-eval's YAML file of a group of tasks (e.g. mmlu_pro), if `task` is one."""
    return _builtin_yamls().get(("group", task))


def lm_eval_task(name: str) -> str:
    """The lm-eval task that reads a local copy of `name`: a delta-lab benchmark with a mapping in `LOCAL_TASKS`,
    else `name` itself as an lm-eval task. A delta-lab benchmark without a mapping is an error."""
    if name in LOCAL_TASKS:
        return LOCAL_TASKS[name][0]
    if name in BENCHMARKS:
        raise ValueError(f"no lm-eval task reads a local copy of the benchmark {name!r} (local copies: "
                         f"{', '.join(f'{b} -> {t}' for b, (t, _) in LOCAL_TASKS.items())}); name an lm-eval task "
                         "that reads its fields instead (e.g. minerva_math_algebra for one subject of MATH)")
    return name


def _first_row(path: Path) -> dict:
    if path.suffix == ".parquet":
        return pd.read_parquet(path).iloc[0].to_dict()
    with open(path) as f:
        line = next((ln for ln in f if ln.strip()), None)
    if line is None:
        raise ValueError(f"{path} is empty")
    return json.loads(line)


def local_task_yaml(task: str, path: Path, folder: Path) -> str:
    """Write ``<folder>/<task>_local.yaml``: lm-eval's task with its data read from a local JSONL/Parquet file
    (the hub's fields); a group (mmlu_pro) gets one such file per task and a group file over them.

    Few-shot examples: from the file of the task's few-shot split beside the local file when it exists
    (``train.jsonl`` for GSM8K, ``validation.jsonl`` for MMLU-Pro, as on the hub); otherwise from the same file,
    where lm-eval leaves the scored item out of its own shots (fewshot_split == test_split). Tasks with fixed
    few-shot examples (minerva_math500) keep them."""
    import yaml
    from lm_eval.tasks._yaml_loader import load_yaml

    path = Path(path).resolve()
    if not path.is_file():
        raise FileNotFoundError(f"lm-eval task {task!r}: no local data file at {path}")
    need = next((f for t, f in LOCAL_TASKS.values() if t == task), ())
    missing = sorted(set(need) - set(_first_row(path)))
    if missing:
        raise ValueError(f"lm-eval task {task!r} reads the fields {list(need)}; {path} lacks {missing} (give the "
                         "file the hub dataset's fields)")
    # a group only where its tasks pick their own rows from the file (mmlu_pro's filter by category)
    group = builtin_group_yaml(task) if task in GROUPS_READING_ONE_FILE else None
    folder.mkdir(parents=True, exist_ok=True)
    if group is not None:
        cfg = load_yaml(group, resolve_func=False, recursive=True)
        subs = [local_task_yaml(t, path, folder) for t in cfg["task"]]
        y = {"group": task + LOCAL_SUFFIX, "task": subs,
             **{k: cfg[k] for k in ("aggregate_metric_list", "metadata") if k in cfg}}
        atomic_write_text(folder / f"{task}{LOCAL_SUFFIX}.yaml", yaml.safe_dump(y, sort_keys=False))
        return task + LOCAL_SUFFIX
    src = builtin_task_yaml(task)
    cfg = load_yaml(src, resolve_func=False, recursive=True)
    fmt = "parquet" if path.suffix == ".parquet" else "json"
    files = {"test": str(path)}
    y = {"include": str(src), "task": task + LOCAL_SUFFIX, "tag": [], "dataset_path": fmt, "dataset_name": None,
         "test_split": "test", "validation_split": None}
    shots = cfg.get("fewshot_split") or cfg.get("training_split")
    beside = path.with_name(f"{shots}{path.suffix}") if shots else None
    if beside is not None and beside.is_file() and beside != path:
        files[shots] = str(beside)
        y.update(training_split=shots if cfg.get("training_split") else None,
                 fewshot_split=shots if cfg.get("fewshot_split") else None)
    elif shots:
        y.update(training_split=None, fewshot_split="test")
    y["dataset_kwargs"] = {"data_files": files}
    atomic_write_text(folder / f"{task}{LOCAL_SUFFIX}.yaml", yaml.safe_dump(y, sort_keys=False))
    return task + LOCAL_SUFFIX


def _offline() -> bool:
    return any(os.environ.get(v, "").lower() in ("1", "true", "yes") for v in ("HF_DATASETS_OFFLINE", "HF_HUB_OFFLINE"))


def resolve_tasks(profile: Profile, tasks: list[str] | None, local: dict | None, folder: Path) -> dict[str, dict]:
    """lm-eval task name -> {benchmark, data}: the standard name, or a derived ``<task>_local`` for a local copy.
    A profile's own GSM8K eval set with a local path lends it to lm-eval when `local` does not name one. With
    the default list and no network, tasks without a local copy are left out (and said so). `local` is keyed by
    lm-eval task or by delta-lab benchmark (`lm_eval_task`)."""
    given = {lm_eval_task(k): v for k, v in (local or {}).items()}
    local = dict(given)
    for s in profile.evaluate.sets:
        if s.family == "benchmark" and s.benchmark == "gsm8k" and s.path and "gsm8k" not in local:
            local["gsm8k"] = str(s.resolved_path)
    names = list(tasks) if tasks else list(DEFAULT_TASKS)
    if tasks is None and _offline():
        dropped = [t for t in names if t not in local]
        names = [t for t in names if t in local]
        if dropped:
            print(f"[lm-eval] offline: leaving out {dropped} (no local copy; pass local paths or run online)",
                  flush=True)
    if not names:
        raise ValueError("no lm-eval task to run: name tasks, or give a local copy (e.g. --gsm8k-path) offline")
    extra = sorted(set(given) - set(names))
    if extra and tasks is not None:
        raise ValueError(f"local data given for {extra}, which are not among the tasks {names}")
    out = {}
    for t in names:
        if t in local:
            out[local_task_yaml(t, Path(local[t]), folder)] = {"benchmark": t, "data": str(Path(local[t]).resolve())}
        else:
            out[t] = {"benchmark": t, "data": "hub"}
    return out


def gsm8k_set(profile: Profile):
    """The profile's GSM8K eval set, if it has one (the first)."""
    return next((s for s in profile.evaluate.sets if s.family == "benchmark" and s.benchmark == "gsm8k"), None)


def gsm8k_items(profile: Profile, data: str, limit: int | None) -> list[int] | None:
    """Doc indices for lm-eval's GSM8K: the items of the profile's own GSM8K eval set when it reads the same data
    (so the side-by-side is on what 05_evaluate scored), the first `limit` of them; None: lm-eval's first
    `limit` items."""
    spec = gsm8k_set(profile)
    if spec is None:
        return None
    same = str(spec.resolved_path.resolve()) == data if spec.path else data == "hub"
    if not same:
        return None
    idx = sorted(int(p.id.rsplit("-", 1)[1]) for p in load_tasks(spec))
    return idx[:limit] if limit else idx


# ---------------------------------------------------------------- running lm-eval

def _jsonable(obj):
    from lm_eval.utils import handle_non_serializable

    return json.loads(json.dumps(obj, default=handle_non_serializable, ensure_ascii=False))


def _safe(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.@-]+", "_", s)


def _merge_results(parts: list[dict]) -> dict:
    """Several lm-eval result dicts of one model (one per call) as one: per-task sections united."""
    res = dict(parts[0])
    for part in parts[1:]:
        for k in ("results", "group_subtasks", "configs", "versions", "n-shot", "higher_is_better", "n-samples"):
            if isinstance(part.get(k), dict):
                res[k] = {**res.get(k, {}), **part[k]}
    return res


def _simple_evaluate(calls: list, backend: str, margs: dict, num_fewshot, max_gen_toks, chat: bool, task_dir: str,
                     use_cache: str) -> tuple[list[dict], dict]:
    """lm-eval's `simple_evaluate` for each (tasks, limit, samples) call: ([results without samples], samples)."""
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    manager = TaskManager(include_path=task_dir)
    parts, logged = [], {}
    for names, lim, items in calls:
        res = simple_evaluate(
            model=backend, model_args=dict(margs), tasks=names, num_fewshot=num_fewshot, limit=lim, samples=items,
            log_samples=True, apply_chat_template=chat,
            gen_kwargs={"max_gen_toks": max_gen_toks} if max_gen_toks else None, task_manager=manager,
            use_cache=use_cache)
        logged.update(_jsonable(res.pop("samples", None) or {}))
        parts.append(_jsonable(res))
    return parts, logged


def run_model(profile: Profile, name: str, folder: Path, ident: str, tasks: dict[str, dict], *, limit: int | None,
              samples: dict[str, list[int]] | None, num_fewshot: int | None, max_gen_toks: int | None,
              batch_size: int | None, chat: bool, task_dir: Path) -> dict:
    """lm-eval on one checkpoint; writes its results and per-sample logs under ``lm_eval/<name>/``.

    lm-eval takes either a `limit` or explicit items (`samples`) per call: tasks given explicit items (GSM8K on
    the profile's own eval-set items) and the rest go in two calls. On a GPU the model lives in a child process,
    so its memory is freed before the next model (or delta-lab's own `vllm serve`) starts."""
    backend, margs = model_args(profile, folder)
    if batch_size:
        margs["batch_size"] = batch_size
    d = out_dir(profile) / name
    d.mkdir(parents=True, exist_ok=True)
    samples = samples or {}
    calls = [(list(samples), None, samples)] if samples else []
    rest = [t for t in tasks if t not in samples]
    if rest:
        calls.append((rest, limit, None))
    # lm-eval's own request cache, one file per weights identity (its keys do not name the model)
    args = (calls, backend, margs, num_fewshot, max_gen_toks, chat, str(task_dir),
            str(profile.run_dir() / "cache" / "lm_eval" / _safe(f"{ident}#{backend}")))
    t0 = time.monotonic()
    if backend == "vllm" or margs.get("device") != "cpu":
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"),
                                 initializer=_register_models, initargs=(profile.model_dump(mode="json"),)) as ex:
            parts, logged = ex.submit(_simple_evaluate, *args).result()
    else:
        parts, logged = _simple_evaluate(*args)
    wall = time.monotonic() - t0
    res = _merge_results(parts)
    atomic_write_json(d / "results.json", res)
    for task, rows in logged.items():
        atomic_write_text(d / f"samples_{task}.jsonl", "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    atomic_write_json(d / "model.json", {"model": name, "identity": ident, "folder": str(folder),
                                         "backend": backend, "model_args": margs, "tasks": tasks,
                                         "limit": limit, "samples": samples or None, "num_fewshot": num_fewshot,
                                         "max_gen_toks": max_gen_toks, "apply_chat_template": chat,
                                         "wall_s": round(wall, 1)})
    return res


def _register_models(profile_data: dict) -> None:
    """In a child process: the profile's own models (hub ids, folders), registered as load_profile registers them."""
    register_models(Profile.model_validate(profile_data))


def results_rows(name: str, res: dict, tasks: dict[str, dict]) -> list[dict]:
    """lm-eval's results dict as rows (model, task, metric, filter, value, stderr, n)."""
    rows = []
    nsamp = res.get("n-samples", {})
    groups = res.get("group_subtasks", {})

    def n_of(t):
        if t in nsamp:
            return nsamp[t].get("effective")
        subs = [n_of(s) for s in groups.get(t, [])]
        return sum(s for s in subs if s) if subs else None

    for task, m in res.get("results", {}).items():
        for key, val in m.items():
            if "," not in key or "_stderr" in key or not isinstance(val, (int, float)):
                continue
            metric, filt = key.split(",", 1)
            se = m.get(f"{metric}_stderr,{filt}")
            rows.append({"model": name, "task": task,
                         "benchmark": tasks.get(task, {}).get("benchmark", task.removesuffix(LOCAL_SUFFIX)),
                         "metric": metric, "filter": filt, "value": float(val),
                         "stderr": float(se) if isinstance(se, (int, float)) else None, "n": n_of(task)})
    return rows


# ---------------------------------------------------------------- delta-lab's own answer on the same items

def lm_eval_gsm8k_items(samples) -> pd.DataFrame:
    """Per doc of lm-eval's GSM8K log (a samples_*.jsonl path or its rows): the exact match of each filter and
    what it extracted."""
    if isinstance(samples, (str, Path)):
        samples = [json.loads(ln) for ln in Path(samples).read_text().splitlines() if ln.strip()]
    by_doc: dict[int, dict] = {}
    for s in samples:
        row = by_doc.setdefault(int(s["doc_id"]), {"doc_id": int(s["doc_id"]),
                                                    "lm_eval_text": s["resps"][0][0] if s.get("resps") else None})
        f = s["filter"].replace("-", "_")
        row[f"lm_eval_{f}"] = bool(s["exact_match"])
        row[f"lm_eval_pred_{f}"] = s["filtered_resps"][0] if s.get("filtered_resps") else None
    return pd.DataFrame(sorted(by_doc.values(), key=lambda r: r["doc_id"]))


def _resolve_checkpoint(profile: Profile, model_folder) -> tuple[str, Path, str]:
    """(name, folder, cache identity) of a checkpoint given by name or folder; an unknown folder is named by its
    fingerprint (a cache identity that cannot collide with another model's)."""
    if isinstance(model_folder, str) and model_folder in ["base"] + [r.name for r in profile.train.runs]:
        folder, ident, *_ = models_of(profile, [model_folder])[model_folder]
        return model_folder, Path(folder), ident
    folder = Path(model_folder).resolve()
    for name, (f, ident, *_) in models_of(profile).items():
        if Path(f).resolve() == folder:
            return name, folder, ident
    engine = "/vllm" if profile.evaluate.backend == "vllm" else ""
    return folder.name, folder, f"folder:{folder_fingerprint(folder)}/hf{engine}"


def compare_on_items(profile: Profile, model_folder, items_path, limit: int | None = None, *,
                     lm_eval_samples=None, max_tokens: int | None = None) -> dict:
    """delta-lab's own prompt and checker (the chat prompt of `tasks.chat_prompt`, `tasks.checking.check`, greedy) on
    the GSM8K items lm-eval scored, side by side with lm-eval's verdicts.

    `model_folder`: a checkpoint name (``base`` or a run) or a model folder. `items_path`: the GSM8K JSONL lm-eval
    read. `lm_eval_samples`: lm-eval's per-sample log of GSM8K (a path or its rows; default: the one stored under
    ``lm_eval/<model>/``); `limit`: its first `limit` items. Decoding: the profile's GSM8K eval set's (so the
    answers are 05_evaluate's own, from the completions cache) or else the profile's evaluation sampling, greedy,
    with `max_tokens` (default: the token budget lm-eval had). Answers are cached per (model, prompt, decoding)
    in the profile's completions cache like every other model call.

    Returns {model, n, delta_lab_accuracy, lm_eval_strict_accuracy, lm_eval_flexible_accuracy, agreement_strict,
    agreement_flexible, ..., items: per-item DataFrame}."""
    name, folder, ident = _resolve_checkpoint(profile, model_folder)
    if lm_eval_samples is None:
        found = sorted((out_dir(profile) / name).glob("samples_gsm8k*.jsonl"))
        if not found:
            raise FileNotFoundError(f"no lm-eval GSM8K log for {name!r} under {out_dir(profile) / name}; run "
                                    f"`make lm-eval PROFILE={profile.name} TASKS=gsm8k` first, or pass lm_eval_samples")
        lm_eval_samples = found[0]
    lm = lm_eval_gsm8k_items(lm_eval_samples)
    if limit:
        lm = lm.iloc[:limit]
    gen_toks = None
    if isinstance(lm_eval_samples, (str, Path)):
        rows = [json.loads(ln) for ln in Path(lm_eval_samples).read_text().splitlines()[:1]]
    else:
        rows = list(lm_eval_samples)[:1]
    if rows:
        gen_toks = rows[0]["arguments"][0][1].get("max_gen_toks", 256)  # 256: lm-eval's default
    problems = load_benchmark("gsm8k", items_path)
    if lm["doc_id"].max() >= len(problems):
        raise ValueError(f"lm-eval scored doc {lm['doc_id'].max()} but {items_path} has {len(problems)} items: "
                         "not the file lm-eval read")
    probs = [problems[i] for i in lm["doc_id"]]
    spec = gsm8k_set(profile)
    if spec is not None and max_tokens is None:
        samp, source = set_sampling(profile, spec), f"05_evaluate set {spec.name!r}"
    else:
        samp = profile.evaluate.sampling.model_copy(update={
            "temperature": 0.0, "n": 1, "max_tokens": max_tokens or gen_toks or profile.evaluate.sampling.max_tokens})
        source = "evaluate.sampling, greedy"
    reqs = requests_for(profile.train.policy, probs, samp.n)
    with completions_cache(profile) as cache:
        if profile.evaluate.backend == "vllm":
            recs = complete(lambda: checkpoint_endpoint(profile, name, folder, out_dir(profile)), reqs,
                            samp.model_dump(), cache, ident, concurrency=profile.evaluate.concurrency,
                            desc=f"delta-lab on lm-eval's items: {name}")
        else:
            recs = hf_complete(folder, reqs, samp.model_dump(), cache, ident, batch_size=profile.evaluate.batch_size,
                               device=resolve_device(profile.train.device), precision=decode_precision(profile),
                               desc=f"delta-lab on lm-eval's items: {name}")
    by_id = {p.id: p for p in probs}
    per: dict[str, list] = {}
    for r in recs:
        pred, ok = check(by_id[r["item_id"]], r["text"], r.get("finish_reason") == "length")
        per.setdefault(r["item_id"], []).append((pred, ok, r["text"], r.get("completion_tokens")))
    items = lm.copy()
    items.insert(0, "model", name)
    items.insert(2, "item_id", [p.id for p in probs])
    items["gold"] = [str(p.answer) for p in probs]
    items["delta_lab_correct"] = [sum(x[1] for x in per[p.id]) / len(per[p.id]) for p in probs]
    items["delta_lab_pred"] = [per[p.id][0][0] for p in probs]
    items["delta_lab_text"] = [per[p.id][0][2] for p in probs]
    items["delta_lab_tokens"] = [per[p.id][0][3] for p in probs]
    out = {"model": name, "n": len(items), "delta_lab_accuracy": float(items["delta_lab_correct"].mean()),
           "delta_lab_decoding": source, "delta_lab_max_tokens": samp.max_tokens, "lm_eval_max_gen_toks": gen_toks}
    dl = items["delta_lab_correct"] >= 0.5
    for f in ("strict_match", "flexible_extract"):
        col = f"lm_eval_{f}"
        if col in items:
            short = f.split("_")[0]
            out[f"lm_eval_{short}_accuracy"] = float(items[col].mean())
            out[f"agreement_{short}"] = float((items[col] == dl).mean())
            items[f"agree_{short}"] = items[col] == dl
            d = stats.compare(items["delta_lab_correct"].astype(float), items[col].astype(float))
            out[f"diff_vs_{short}"], out[f"diff_vs_{short}_ci"] = d["diff"], (d["ci_low"], d["ci_high"])
    out["items"] = items
    return out


# ---------------------------------------------------------------- the whole profile

def run(profile: Profile | str, tasks: list[str] | None = None, limit: int | None = None, local: dict | None = None,
        *, models: list[str] | None = None, num_fewshot: int | None = None, max_gen_toks: int | None = None,
        batch_size: int | None = None, chat: bool = False, compare: bool = True) -> pd.DataFrame:
    """lm-eval on the base policy and every trained checkpoint of the profile (or those named in `models`).

    `tasks`: lm-eval task names (default `DEFAULT_TASKS`; offline, those with a local copy). `limit`: the first N
    items per task (GSM8K: the first N of the profile's own GSM8K eval set when it reads the same data).
    `local`: task -> local data file (e.g. {"gsm8k": ".../test.jsonl"}). `num_fewshot`, `max_gen_toks`: override
    the task's (lm-eval's GSM8K: 5 shots, 256 tokens). `chat`: lm-eval's apply_chat_template (default off, as in
    most published lm-eval numbers). `compare`: also score delta-lab's own prompt and checker on the GSM8K items.

    Returns the table of this call's models (also written, over every model evaluated so far, to
    ``lm_eval/lm_eval.jsonl``); ``.attrs["comparison"]`` holds the side-by-side."""
    if isinstance(profile, str):
        profile = load_profile(profile)
    out = out_dir(profile)
    task_dir = out / "tasks"
    tasks_map = resolve_tasks(profile, tasks, local, task_dir)
    samples = {}
    for t, info in tasks_map.items():
        if info["benchmark"] == "gsm8k":
            idx = gsm8k_items(profile, info["data"], limit)
            if idx is not None:
                samples[t] = idx
    rows, comps = [], []
    for name, (folder, ident, *_) in models_of(profile, models).items():
        res = run_model(profile, name, Path(folder), ident, tasks_map, limit=limit, samples=samples,
                        num_fewshot=num_fewshot, max_gen_toks=max_gen_toks, batch_size=batch_size, chat=chat,
                        task_dir=task_dir)
        rows += results_rows(name, res, tasks_map)
        gsm = [t for t, info in tasks_map.items() if info["benchmark"] == "gsm8k"]
        if not compare or not gsm:
            continue
        items = []
        for t in gsm:
            data = tasks_map[t]["data"]
            c = compare_on_items(profile, name, None if data == "hub" else data,
                                 lm_eval_samples=out / name / f"samples_{t}.jsonl")
            items.append(c.pop("items").assign(task=t))
            comps.append({"task": t, **{k: (list(v) if isinstance(v, tuple) else v) for k, v in c.items()},
                          "num_fewshot": res.get("n-shot", {}).get(t)})
        write_table(pd.concat(items, ignore_index=True), out / name / "comparison_items.jsonl")
    table = pd.DataFrame(rows)
    _collect(profile, {r["model"] for r in rows}, table, pd.DataFrame(comps))
    table.attrs["comparison"] = pd.DataFrame(comps)
    return table


def _collect(profile: Profile, fresh: set[str], table: pd.DataFrame, comp: pd.DataFrame) -> None:
    """Rewrite the tables over every model evaluated so far: this call's rows replace its models' old ones."""
    out = out_dir(profile)
    for df, fname in ((table, "lm_eval.jsonl"), (comp, "comparison.jsonl")):
        p = out / fname
        old = read_table(p) if p.is_file() else pd.DataFrame()
        if len(old) and "model" in old:
            old = old[~old["model"].isin(fresh)]
        write_table(pd.concat([old, df], ignore_index=True), p)
    items = [read_table(p) for p in sorted(out.glob("*/comparison_items.jsonl"))]
    if items:
        write_table(pd.concat(items, ignore_index=True), out / "comparison_items.jsonl")
    comp_all = read_table(out / "comparison.jsonl")
    if len(comp_all):  # the side-by-side as Markdown, beside its table (docs/lm-eval.md links it)
        atomic_write_text(out / "comparison.md", f"lm-eval vs delta-lab on the same items, profile {profile.name} "
                          "(from `comparison.jsonl`):\n\n" + comparison_markdown(comp_all))


def comparison_markdown(comp: pd.DataFrame) -> str:
    """The side-by-side as a table: per model and task, delta-lab's accuracy and lm-eval's on the same items."""
    def pct(x):
        return "" if pd.isna(x) else f"{x:.1%}"

    lines = ["| model | task | N | delta-lab | lm-eval strict | lm-eval flexible | same verdict (flexible) | "
             "delta-lab − flexible [95 % CI] |", "|---|---|---|---|---|---|---|---|"]
    for r in comp.to_dict("records"):
        ci = r.get("diff_vs_flexible_ci")
        diff = ("" if pd.isna(r.get("diff_vs_flexible", np.nan)) else
                f"{r['diff_vs_flexible']:+.1%} [{ci[0]:+.1%}, {ci[1]:+.1%}]")
        lines.append(f"| {r['model']} | {r['task']} | {r['n']} | {pct(r.get('delta_lab_accuracy'))} | "
                     f"{pct(r.get('lm_eval_strict_accuracy'))} | {pct(r.get('lm_eval_flexible_accuracy'))} | "
                     f"{pct(r.get('agreement_flexible'))} | {diff} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    import argparse

    ap = argparse.ArgumentParser(prog="python -m delta_utils.runner.lmeval", description=__doc__.split("\n\n")[0])
    ap.add_argument("--profile", required=True)
    ap.add_argument("--tasks", help=f"comma-separated lm-eval tasks (default: {','.join(DEFAULT_TASKS)})")
    ap.add_argument("--limit", type=int, help="the first N items per task")
    ap.add_argument("--gsm8k-path", help="a local GSM8K JSONL (question, answer with '#### N'); = --local gsm8k=FILE")
    ap.add_argument("--local", action="append", default=[], metavar="NAME=FILE[,NAME=FILE]",
                    help="a local copy (the hub's fields) of a benchmark's data, by delta-lab benchmark "
                         f"({', '.join(LOCAL_TASKS)}) or lm-eval task; repeatable")
    ap.add_argument("--models", help="comma-separated: base and/or run names (default: base and every trained run)")
    ap.add_argument("--num-fewshot", type=int)
    ap.add_argument("--max-gen-toks", type=int)
    ap.add_argument("--batch-size", type=int)
    ap.add_argument("--chat", action="store_true", help="apply the model's chat template (lm-eval's flag)")
    ap.add_argument("--no-compare", action="store_true", help="skip delta-lab's own answers on the GSM8K items")
    a = ap.parse_args(argv)
    pairs = [kv for arg in a.local for kv in arg.split(",") if kv]
    bad = [kv for kv in pairs if "=" not in kv]
    if bad:
        ap.error(f"--local takes NAME=FILE, got {bad}")
    local = dict(kv.split("=", 1) for kv in pairs)
    if a.gsm8k_path:
        local["gsm8k"] = a.gsm8k_path
    def split(s):
        return [x for x in s.split(",") if x]

    tasks = split(a.tasks) if a.tasks else None
    table = run(a.profile, tasks, a.limit, local, models=split(a.models) if a.models else None,
                num_fewshot=a.num_fewshot, max_gen_toks=a.max_gen_toks, batch_size=a.batch_size, chat=a.chat,
                compare=not a.no_compare)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(table.to_string(index=False))
        comp = table.attrs.get("comparison")
        if comp is not None and len(comp):
            cols = [c for c in ("model", "task", "n", "delta_lab_accuracy", "lm_eval_strict_accuracy",
                                "lm_eval_flexible_accuracy", "agreement_flexible") if c in comp]
            print("\nsame items, delta-lab's own prompt and checker vs lm-eval:")
            print(comp[cols].to_string(index=False))
    print(f"\nwritten under {out_dir(load_profile(a.profile))}")


if __name__ == "__main__":
    main()
