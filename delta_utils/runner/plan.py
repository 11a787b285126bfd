"""`make check PROFILE=...`: what a profile will do, before it spends GPU hours or API money.

Prints the training grid, the number of model calls per stage (generation, judge samples, evaluation),
how the judge's Batch API submissions will be chunked, the decontamination result, and the GPUs and
memory each stage expects. Nothing is loaded but the task sets (procedural ones are made, benchmark
ones are read where a local file or the hub is reachable; otherwise the plan says it cannot count them).
"""
from __future__ import annotations

import math

from ..data import decontam, prefsets
from ..data.benchmark_specs import BENCHMARKS
from ..data.decontam import eval_sets
from ..data.rubric import SYSTEM_PROMPT, USER_TEMPLATE
from ..data.tasks import load_tasks
from ..profile.config import Profile
from ..serving.batch import estimate_chunks
from ..serving.models import get_spec, gpus_for
from ..stages.judge import MAX_ATTEMPTS
from . import budgets
from .estimate import estimate, estimate_lines


def _count(spec, load_data: bool) -> tuple[int | None, str, list | None]:
    """(items, note, problems) of a task spec. A hub benchmark is counted from the registry's published size
    unless `load_data` (then it is loaded, as the stage would); one that cannot be read counts as unknown."""

    if spec.family == "benchmark" and spec.path is None and not load_data and BENCHMARKS[spec.benchmark].on_hub:
        size = BENCHMARKS[spec.benchmark].size
        n = size if spec.n is None else (spec.n if size is None else min(spec.n, size))
        return n, "hub, published size*", None
    try:
        probs = load_tasks(spec)
        return len(probs), "", probs
    except Exception as e:  # noqa: BLE001  offline: a hub dataset is not reachable
        return spec.n, f"not readable here ({type(e).__name__}); counted as n={spec.n}" if spec.n else \
            f"not readable here ({type(e).__name__}); size unknown", None


def _fmt(n) -> str:
    return "?" if n is None else f"{n:,}"


def _mul(*xs):
    return None if any(x is None for x in xs) else math.prod(xs)


def plan(profile: Profile, load_data: bool = False) -> str:

    g, j, t, ev = profile.generation, profile.judge, profile.train, profile.evaluate
    lines = [f"profile {profile.name!r}: {profile.description}".rstrip(": "), ""]
    n_train, note, train_probs = _count(profile.train_prompts, load_data)
    per_prompt = sum(g.n_samples(m) for m in g.generators)
    samples = (f"{len(g.generators)} generators x {g.sampling.n} samples"
               if per_prompt == len(g.generators) * g.sampling.n else
               "(" + " + ".join(f"{g.n_samples(m)} {m}" for m in g.generators) + ") samples")
    gen_calls = _mul(n_train, per_prompt)
    traces = gen_calls
    source = profile.train_prompts.benchmark or profile.train_prompts.family
    lines.append(f"01_generate  {_fmt(n_train)} training prompts ({source}"
                 f"{'; ' + note if note else ''}) x {samples} = "
                 f"{_fmt(gen_calls)} calls, up to {g.sampling.max_tokens:,} tokens each, backend {g.backend}")
    judge_calls = _mul(traces, j.samples)
    lines.append(f"02_judge     {_fmt(traces)} traces x {j.samples} judge samples = {_fmt(judge_calls)} calls "
                 f"(+ up to {MAX_ATTEMPTS - 1} retries of unparsable replies), judge {j.model} via {j.backend}")
    if j.backend == "openai_batch":
        lines.append("             " + batch_plan(profile, judge_calls))
    sets = prefsets.names(profile)
    lines.append(f"03_pair      {len(sets)} preference sets: {', '.join(sets)}")
    length = (f"{t.hparams.epochs:g} epochs of each run's data" if t.hparams.epochs else f"{t.hparams.max_steps} steps")
    lines.append(f"04_train     {len(t.runs)} runs of policy {t.policy} ({length} x batch "
                 f"{t.hparams.batch_size} x accumulation {t.hparams.grad_accum}):")
    for r in t.runs:
        lines.append(f"               {r.name:<28} {r.method.upper():<4} on {r.preference_set}")
    eval_rows, eval_items = [], 0
    known = True
    loaded: dict[str, list] = {}
    sizes: dict[str, int | None] = {}
    for s in ev.sets:
        n, snote, probs = _count(s, load_data)
        sizes[s.name] = n
        if probs is not None:
            loaded[s.name] = probs
        known &= n is not None
        eval_items += (n or 0) * s.samples
        eval_rows.append(f"               {s.name:<16} {_fmt(n):>7} items x {s.samples} "
                         f"({s.resolved_domain()}-domain{'; ' + snote if snote else ''})")
    models_evaluated = 1 + len(t.runs) + (len(g.generators) if ev.generators else 0)
    total = f"{eval_items * models_evaluated:,}" if known else f">= {eval_items * models_evaluated:,}"
    lines.append(f"05_evaluate  {models_evaluated} models (base, {len(t.runs)} checkpoints"
                 f"{', ' + str(len(g.generators)) + ' generators' if ev.generators else ''}) x "
                 f"{eval_items:,} item-samples = {total} calls, backend {ev.backend}:")
    lines += eval_rows
    if not load_data and "published size*" in "\n".join(lines):
        lines.append("             * not downloaded: the registry's published size, before the loader's filters "
                     "(`make check LOAD_DATA=1` loads the data)")
    lines += ["", decontamination_plan(profile, train_probs), "", *gpu_plan(profile)]
    lines += ["", *budgets.check(profile, train_probs, loaded)]
    rows = estimate(profile, n_train, sizes)
    if any(r["seconds"] is not None for r in rows):
        lines += ["", *estimate_lines(rows)]
    return "\n".join(lines)


def batch_plan(profile: Profile, calls: int | None) -> str:
    """How the judge's Batch API submissions split under the per-batch request and byte limits."""

    j = profile.judge
    if calls is None:
        return "Batch API: number of requests unknown here"
    # a request line: the rubric prompt, the question and a trace of up to max_tokens (~4 bytes per token)
    line = len(SYSTEM_PROMPT) + len(USER_TEMPLATE) + 600 + 4 * profile.generation.sampling.max_tokens
    chunks = estimate_chunks(calls, line, j.batch_max_requests, j.batch_max_bytes)
    return (f"Batch API: {calls:,} requests of up to ~{line / 1e3:.0f} kB -> {chunks} batches "
            f"(limits {j.batch_max_requests:,} requests, {j.batch_max_bytes / 1e6:.0f} MB per batch)")


def decontamination_plan(profile: Profile, train_probs) -> str:

    if train_probs is None:
        return "decontamination: not checked (the training prompts are hub data: `make check LOAD_DATA=1` loads " \
               "them; 01_generate checks before generating)"
    try:
        evals = eval_sets(profile, train_probs)
    except Exception as e:  # noqa: BLE001
        return f"decontamination: not checked here (an eval set is not readable: {type(e).__name__}); " \
               "01_generate checks it before generating"
    hits = decontam.overlaps(train_probs, evals)
    text = decontam.report_text(hits, train_probs, evals)
    tp = profile.train_prompts
    if len(hits) and not tp.allow_eval_overlap:
        if tp.on_overlap == "fail":
            raise decontam.ContaminationError(f"{text}\n{decontam.FIX[0].upper()}{decontam.FIX[1:]}")
        kept, dropped = decontam.drop_overlapping(train_probs, hits)
        text += (f"\n  on_overlap: drop -> 01_generate drops {len(dropped):,} of {len(train_probs):,} training "
                 f"prompts; {len(kept):,} remain")
    return text


def gpu_plan(profile: Profile) -> list[str]:
    g, t, ev = profile.generation, profile.train, profile.evaluate
    out = ["GPUs (rough: bf16 serving with KV cache, fp32 training state; 80-GB units):"]
    if g.backend == "vllm":
        for m in g.generators:
            spec = get_spec(m)
            if spec.endpoint_env:
                out.append(f"  01_generate  {m}: remote endpoint (${spec.endpoint_env}_BASE_URL), no local GPU")
                continue
            gb, n = gpus_for(spec.params_m, "serve")
            out.append(f"  01_generate  {m}: ~{gb:.0f} GB -> {n} GPU(s) (tensor_parallel_size "
                       f"{g.server.tensor_parallel_size}), one server at a time")
    else:
        out.append(f"  01_generate  {g.backend}: no GPU")
    out.append(f"  02_judge     {profile.judge.backend}: " + ("remote endpoint, no local GPU"
               if profile.judge.backend.startswith("openai") else "local server"))
    pol = get_spec(t.policy)
    gb, n = gpus_for(pol.params_m, "lora" if t.hparams.lora else "full")
    how = "one process" if n == 1 else "accelerate launch with ZeRO-3 or FSDP (configs/accelerate/)"
    out.append(f"  04_train     {t.policy} ({'LoRA' if t.hparams.lora else 'full fine-tuning'}): ~{gb:.0f} GB of "
               f"weights and optimizer state before activations -> {n} GPU(s), {how}; device {t.device}")
    if ev.backend == "vllm":
        gb, n = gpus_for(pol.params_m, "serve")
        out.append(f"  05_evaluate  vllm: each checkpoint ~{gb:.0f} GB -> {n} GPU(s) "
                   f"(tensor_parallel_size {ev.server.tensor_parallel_size})")
    else:
        out.append(f"  05_evaluate  hf in-process on {t.device}")
    return out
