"""Stage 1: sample every generator of the ladder on the same training prompts.

Reads the profile; writes ``runs/<profile>/01_generate/problems.jsonl`` (the
prompts with answers and ground-truth steps) and ``traces.jsonl`` (one row per
generator, prompt and sample, with the extracted answer and its correctness).
"""
from __future__ import annotations

import pandas as pd

from ..data import decontam
from ..data.tasks import Problem, load_tasks
from ..data.tasks.checking import check
from ..data.traceformat import normalize
from ..profile.config import Profile
from ..profile.rundir import completions_cache, stage_dir, write_manifest, write_table
from ..serving.engine import complete, endpoint, model_identity, request_timeout, requests_for, sampling_for
from ..serving.models import get_spec

STAGE = "01_generate"


def train_problems(profile: Profile) -> list[Problem]:
    return load_tasks(profile.train_prompts)


def sample_models(profile: Profile, models: list[str], problems: list[Problem], sampling, backend: str,
                  server, concurrency: int, log_dir, desc: str, samples: dict[str, int] | None = None,
                  servers: dict | None = None) -> pd.DataFrame:
    """Completions of each model on each problem (cached), scored against the known answers. `samples`
    overrides `sampling.n` per model (a sample's cache key does not depend on n, so raising it adds samples).
    `servers` maps a model to an already shared server (`engine.SharedServer`) to use instead of starting one."""
    by_id = {p.id: p for p in problems}
    rows = []
    with completions_cache(profile) as cache:
        for m in models:
            samp = sampling_for(m, sampling)
            reqs = requests_for(m, problems, (samples or {}).get(m, samp["n"]))
            opener = (servers or {}).get(m) or (lambda m=m: endpoint(backend, m, server=server, log_dir=log_dir))
            recs = complete(opener, reqs, samp, cache, model_identity(m, backend), concurrency=concurrency,
                            desc=f"{desc} {m}", timeout=request_timeout(samp["max_tokens"], concurrency, backend))
            for r in recs:
                p = by_id[r["item_id"]]
                text = normalize(r["text"], r.get("reasoning"))  # one format whatever the family (traceformat)
                pred, correct = check(p, text, r.get("finish_reason") == "length")
                rows.append({"trace_id": r["key"], "model": m, "item_id": p.id, "sample": r["sample"],
                             "text": text, "pred": pred, "answer": str(p.answer), "correct": correct,
                             "completion_tokens": r["completion_tokens"], "wall_s": r["wall_s"],
                             "finish_reason": r["finish_reason"]})
    return pd.DataFrame(rows)


def run(profile: Profile) -> pd.DataFrame:
    g = profile.generation
    out = stage_dir(profile, STAGE)
    problems, _ = decontaminate(profile, train_problems(profile), out)
    traces = sample_models(profile, g.generators, problems, g.sampling, g.backend, g.server, g.concurrency,
                           out, desc="generate", samples=g.samples)
    write_table(pd.DataFrame([p.to_dict() for p in problems]), out / "problems.jsonl")
    write_table(traces, out / "traces.jsonl")
    write_manifest(profile, STAGE, [out / "problems.jsonl", out / "traces.jsonl"])
    return traces


def decontaminate(profile: Profile, problems: list[Problem], out=None) -> tuple[list[Problem], pd.DataFrame]:
    """(the training prompts to generate on, the overlaps with the eval sets; see `decontam`). The overlaps are
    printed and written to ``decontamination.jsonl`` in `out`. Any overlap is an error, unless
    `train_prompts.allow_eval_overlap` (all prompts kept) or `on_overlap: drop` (the overlapping prompts are left
    out, each listed with its reason in ``decontamination_dropped.jsonl``)."""
    tp = profile.train_prompts
    evals = decontam.eval_sets(profile, problems)
    hits = decontam.overlaps(problems, evals)
    print(decontam.report_text(hits, problems, evals), flush=True)
    if out is not None:
        write_table(hits, out / "decontamination.jsonl")
    if not len(hits) or tp.allow_eval_overlap:
        return problems, hits
    if tp.on_overlap == "fail":
        raise decontam.ContaminationError(f"{len(hits)} overlaps between training prompts and eval sets (listed "
                                          f"above); {decontam.FIX}")
    kept, dropped = decontam.drop_overlapping(problems, hits)
    print(f"decontamination: dropped {len(dropped)} of {len(problems)} training prompts ({decontam.DROP}); "
          f"{len(kept)} remain", flush=True)
    if out is not None:
        write_table(dropped, out / "decontamination_dropped.jsonl")
    if not kept:
        raise decontam.ContaminationError("every training prompt appears in an eval set; nothing is left to train on")
    return kept, hits


def ladder_table(profile: Profile, traces: pd.DataFrame) -> pd.DataFrame:
    """Each generator's accuracy on the training prompts and its gap to the fixed rejected generator."""
    t = traces.groupby("model").agg(accuracy=("correct", "mean"), traces=("text", "size"),
                                    mean_tokens=("completion_tokens", "mean"),
                                    truncated=("finish_reason", lambda s: (s == "length").mean()))
    t["params_m"] = [get_spec(m).params_m for m in t.index]
    t["family"] = [get_spec(m).family for m in t.index]
    t["gap_vs_rejected"] = t["accuracy"] - t.loc[profile.generation.rejected, "accuracy"]
    return t.sort_values("params_m")[["family", "params_m", "traces", "accuracy", "gap_vs_rejected",
                                      "mean_tokens", "truncated"]]
