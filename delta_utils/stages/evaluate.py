"""Stage 5: accuracy of the base policy, every trained checkpoint and every generator on the eval sets.

Checkpoints run in-process (transformers, batched; `evaluate.backend: hf`) or are
each served by vLLM and queried over the OpenAI protocol (`backend: vllm`);
generators through their servers. Every answer is cached per (model, item, decoding), so adding a
run evaluates only that run. Writes ``05_evaluate/records.jsonl`` (one row per
model and item: prediction and correctness) and ``summary.jsonl``.
"""
from __future__ import annotations

import contextlib
import json

import pandas as pd

from ..core.stats import compare, proportion_ci
from ..data.decontam import eval_sets
from ..data.tasks import Problem
from ..data.tasks.checking import check
from ..profile.config import Profile, generator_server, set_sampling  # noqa: F401  set_sampling: re-exported
from ..profile.rundir import completions_cache, read_table, stage_dir, trained_run_dir, write_manifest, write_table
from ..serving.devices import resolve_device
from ..serving.engine import Endpoint, SharedServer, complete, endpoint, hf_complete, request_timeout, requests_for
from ..serving.models import get_spec, model_path, weights_identity
from ..serving.serve import lora_rank, vllm_command, vllm_lora_rank, vllm_server
from . import likelihood
from .generate import sample_models

STAGE = "05_evaluate"


def decode_precision(profile: Profile) -> str | None:
    """The precision the hf backend decodes in (evaluate.precision; auto: bf16 on CUDA, fp32 on a CPU, whatever
    its bf16 units); None under vLLM. Greedy text in bf16 hangs on rounding: on the tiny evaluation items the
    base SmolLM2-135M wrote different answers on 44 of 86 items when only the KV cache's layout changed (dynamic
    vs static), in fp32 on none (bench/evaluate.py --cache-impls), so a CPU decodes in fp32 unless told."""
    if profile.evaluate.backend != "hf":
        return None
    pref, device = profile.evaluate.precision, resolve_device(profile.train.device)
    if pref == "auto":
        return "bf16" if device == "cuda" else "fp32"
    return pref


def shares_prompt_pass(profile: Profile) -> bool:
    """Whether greedy decoding also scores the answer log-likelihood (`hf_complete(score=...)`): the hf backend,
    a chat policy (the log-likelihood's prompt is then the very prompt decoded) and decoding in the precision the
    log-likelihood is scored in (bf16 on CUDA, fp32 on a CPU). The two then share the prompts' forward pass,
    which is most of the log-likelihood's cost (about 13 s per checkpoint on the tiny profile's CPU)."""
    ev = profile.evaluate
    if not ev.answer_loglik or ev.backend != "hf" or not get_spec(profile.train.policy).chat:
        return False
    return decode_precision(profile) == ("bf16" if resolve_device(profile.train.device) == "cuda" else "fp32")


def checkpoints(profile: Profile) -> dict[str, tuple]:
    """name -> (model folder, cache identity, method, preference set) for the base policy and each trained run.
    The identity names the weights and the engine that decodes them (hf in fp32, hf in bf16 and vllm decode
    differently)."""
    policy = profile.train.policy
    engine = "/vllm" if profile.evaluate.backend == "vllm" else "" if decode_precision(profile) == "fp32" else "/bf16"
    out = {"base": (model_path(policy), weights_identity(policy) + "/hf" + engine, "base", None)}
    for spec in profile.train.runs:
        d = trained_run_dir(profile, spec.name)
        meta = d / "run.json"
        if not meta.is_file():
            raise FileNotFoundError(f"trained run {spec.name!r} not found ({meta}); run 04_train first")
        h = json.loads(meta.read_text())["hash"]
        out[spec.name] = (d / "final", f"{spec.name}@{h}{engine}", spec.method, spec.preference_set)
    return out


def checkpoint_command(profile: Profile, name: str, folder) -> list[str]:
    """`vllm serve` for one checkpoint, served under its run name: full weights as they are, a LoRA adapter
    on top of the base policy (`--enable-lora --lora-modules name=folder`)."""
    srv = profile.evaluate.server
    common = dict(max_model_len=srv.max_model_len, tensor_parallel_size=srv.tensor_parallel_size,
                  extra_args=srv.vllm_args)
    rank = lora_rank(folder)
    if rank is not None:
        return vllm_command(model_path(profile.train.policy), lora={name: str(folder)},
                            max_lora_rank=vllm_lora_rank(rank), **common)
    return vllm_command(folder, served_name=name, **common)


@contextlib.contextmanager
def checkpoint_endpoint(profile: Profile, name: str, folder, log_dir):
    with vllm_server(checkpoint_command(profile, name, folder), log_dir=log_dir) as url:
        yield Endpoint(url, name)


def heldout_pairs(profile: Profile) -> pd.DataFrame:
    """03_pair's held-out pairs (empty when pairing.heldout is 0 or no held-out prompt has a pair)."""
    from .pairing import STAGE as PAIR_STAGE

    path = profile.run_dir() / PAIR_STAGE / "heldout.jsonl"
    return read_table(path) if path.is_file() and path.stat().st_size else pd.DataFrame()


def score(recs: list[dict], problems: list[Problem], model: str, eval_set: str) -> pd.DataFrame:
    by_id = {p.id: p for p in problems}
    rows = []
    for r in recs:
        p = by_id[r["item_id"]]
        pred, correct = check(p, r["text"], r.get("finish_reason") == "length")
        rows.append({"model": model, "eval_set": eval_set, "item_id": p.id, "sample": r["sample"],
                     "pred": pred, "answer": str(p.answer), "correct": correct,
                     "completion_tokens": r["completion_tokens"], "text": r["text"]})
    return pd.DataFrame(rows)


def run(profile: Profile) -> pd.DataFrame:
    ev = profile.evaluate
    out = stage_dir(profile, STAGE)
    sets = eval_sets(profile)
    specs = {s.name: s for s in ev.sets}
    device = resolve_device(profile.train.device) if ev.backend == "hf" else None
    frames = []
    with completions_cache(profile) as cache:
        # sets that decode alike go through one call per checkpoint: fuller batches, one model load
        groups: dict[str, list[str]] = {}
        for set_name in sets:
            groups.setdefault(set_sampling(profile, specs[set_name]).model_dump_json(), []).append(set_name)
        lls, lps = [], []
        heldout = heldout_pairs(profile) if ev.answer_loglik else pd.DataFrame()
        share = shares_prompt_pass(profile)

        def learning_signal(name, folder, ident):  # what training did to the policy (likelihood.py)
            dev = resolve_device(profile.train.device)
            lls.append(likelihood.answer_logliks(sets, {name: (folder, ident)}, cache, dev,
                                                 chat=get_spec(profile.train.policy).chat))
            if len(heldout):
                lps.append(likelihood.pair_logps(heldout, {name: (folder, ident)}, cache, dev,
                                                 max_length=profile.train.hparams.max_length))

        for name, (folder, ident, method, pset) in checkpoints(profile).items():
            if ev.answer_loglik and not share:  # while hf has this one loaded
                learning_signal(name, folder, ident)
            # under vLLM, one server per checkpoint for all of its groups (started only if something is missing)
            with SharedServer(lambda n=name, f=folder: checkpoint_endpoint(profile, n, f, out)) as shared:
                for names in groups.values():
                    samp = set_sampling(profile, specs[names[0]])
                    reqs = [requests_for(profile.train.policy, sets[n], samp.n) for n in names]
                    flat, desc = [r for rs in reqs for r in rs], f"eval {name} on {', '.join(names)}"
                    if ev.backend == "vllm":
                        recs = complete(shared, flat, samp.model_dump(), cache, ident, concurrency=ev.concurrency,
                                        desc=desc, timeout=request_timeout(samp.max_tokens, ev.concurrency, "vllm"))
                    else:
                        scoring = None  # the answer log-likelihood on decoding's prompt pass
                        if share and samp.temperature == 0:
                            probs = [p for n in names for p in sets[n] for _ in range(samp.n)]  # as `flat`
                            scoring = likelihood.answer_scorer(cache, ident, probs)
                        recs = hf_complete(folder, flat, samp.model_dump(), cache, ident, batch_size=ev.batch_size,
                                           device=device, desc=desc, precision=decode_precision(profile),
                                           score=scoring)
                    start = 0
                    for set_name, rs in zip(names, reqs):
                        frames.append(score(recs[start:start + len(rs)], sets[set_name], name, set_name).assign(
                            kind="policy", method=method, preference_set=pset))
                        start += len(rs)
            if ev.answer_loglik and share:  # what decoding scored is cached; the rest (and held-out pairs) here
                learning_signal(name, folder, ident)
    if ev.generators:
        g, srv = profile.generation, generator_server(profile)
        by_set: dict[str, list] = {n: [] for n in sets}
        for m in g.generators:  # each generator's server starts once for all of the sets
            with SharedServer(lambda m=m: endpoint(g.backend, m, server=srv, log_dir=out)) as shared:
                for set_name, problems in sets.items():
                    by_set[set_name].append(sample_models(
                        profile, [m], problems, set_sampling(profile, specs[set_name]), g.backend, srv,
                        g.concurrency, out, desc=f"eval on {set_name}", servers={m: shared}))
        for set_name, dfs in by_set.items():
            frames.append(pd.concat(dfs, ignore_index=True).drop(columns=["trace_id", "wall_s", "finish_reason"])
                          .assign(eval_set=set_name, kind="generator", method=None, preference_set=None))
    records = pd.concat(frames, ignore_index=True)
    records["domain"] = records["eval_set"].map({n: specs[n].resolved_domain() for n in specs})
    summary = summarize(records)
    write_table(records, out / "records.jsonl")
    write_table(summary, out / "summary.jsonl")
    outputs = [out / "records.jsonl", out / "summary.jsonl"]
    if ev.answer_loglik:
        ll = pd.concat(lls, ignore_index=True) if lls else pd.DataFrame(columns=likelihood.COLUMNS)
        write_table(ll, out / "answer_loglik.jsonl")
        lp = pd.concat(lps, ignore_index=True) if lps else pd.DataFrame(columns=likelihood.PAIR_COLUMNS)
        write_table(lp, out / "heldout_logps.jsonl")
        outputs += [out / "answer_loglik.jsonl", out / "heldout_logps.jsonl"]
    write_manifest(profile, STAGE, outputs)
    return records


def summarize(records: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for (model, kind, eval_set), g in records.groupby(["model", "kind", "eval_set"], sort=False):
        per_item = g.groupby("item_id")["correct"].mean()  # avg@k when k samples per item
        # Clopper-Pearson; with k samples per item, the Korn-Graubard effective n over items as clusters
        lo, hi = proportion_ci(g["correct"].astype(float), clusters=g["item_id"])
        rows.append({"model": model, "kind": kind, "eval_set": eval_set, "domain": g["domain"].iloc[0]
                     if "domain" in g else None, "samples": int(g.groupby("item_id").size().max()),
                     "method": g["method"].iloc[0],
                     "preference_set": g["preference_set"].iloc[0], "n_items": len(per_item),
                     "accuracy": float(per_item.mean()), "ci_low": lo, "ci_high": hi,
                     "mean_tokens": float(g["completion_tokens"].mean())})
    return pd.DataFrame(rows)


def vs_base(records: pd.DataFrame) -> pd.DataFrame:
    """Each trained checkpoint minus the base policy, paired over items, per eval set."""
    pol = records[records["kind"] == "policy"]
    rows = []
    for eval_set, g in pol.groupby("eval_set"):
        acc = g.groupby(["model", "item_id"])["correct"].mean()
        base = acc.loc["base"]
        for m in g["model"].unique():
            if m != "base":
                rows.append({"model": m, "eval_set": eval_set, **compare(acc.loc[m], base)})
    return pd.DataFrame(rows)
