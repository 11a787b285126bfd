"""Stage 2: score every trace on the five rubric dimensions with an LLM judge.

The judge is any model behind the OpenAI protocol (a local llama.cpp server on
the embedded default, an endpoint such as gpt-oss-120b at paper scale). Each
trace is judged `samples` times; a reply that does not parse is retried with a
fresh sample up to `max_attempts`, then marked failed, never silently scored.

Reads ``01_generate/traces.jsonl``; writes ``02_judge/judgments.jsonl`` (one
row per trace and judge sample) and ``scores.jsonl`` (per-trace mean and spread).
"""
from __future__ import annotations

import random
from pathlib import Path

import pandas as pd

from ..core.stats import auc_ci, spearman_ci
from ..core.store import content_hash
from ..data.rubric import (
    DIMENSION_NAMES,
    JSON_SCHEMA,
    RUBRIC_HASH,
    SYSTEM_PROMPT,
    USER_TEMPLATE,
    expected_scores,
    judge_messages,
    parse_scores,
    reply_prefix,
    score_probabilities,
)
from ..data.verify import verify
from ..profile.config import Profile
from ..profile.rundir import completions_cache, read_table, stage_dir, write_manifest, write_table
from ..serving.batch import complete_batch
from ..serving.engine import Request, complete, complete_chained, endpoint, model_identity, request_timeout

STAGE = "02_judge"
MAX_ATTEMPTS = 3
RESPONSE_FORMAT = {"type": "json_schema", "json_schema": {"name": "scores", "schema": JSON_SCHEMA}}


TOP_LOGPROBS = 8  # alternatives per token: enough to hold all five score tokens


def _request(trace_id: str, problem: str, text: str, sample: int, attempt: int, scoring: str = "sampled") -> Request:
    extra = {"response_format": RESPONSE_FORMAT}
    if scoring == "expected":
        extra.update(logprobs=True, top_logprobs=TOP_LOGPROBS)
    return Request(item_id=trace_id, sample=sample * 100 + attempt,
                   messages=tuple(judge_messages(problem, text)), extra=extra)


def _scores(reply: dict, scoring: str) -> tuple[dict, str]:
    """The scores of one parsed reply (raises ValueError if unusable) and how they were read: the expected
    score per dimension where the reply carries its log-probabilities, else the sampled integer."""
    sampled = parse_scores(reply["text"])
    if scoring != "expected":
        return {**sampled}, "sampled"
    expected = expected_scores(reply.get("logprobs"))
    how = "expected" if len(expected) == len(sampled) else ("partly expected" if expected else
                                                            "sampled (no log-probabilities)")
    return {**{f"{d}_sampled": v for d, v in sampled.items()}, **sampled, **expected}, how


# chained scoring: the reply so far is a trailing assistant message that the server continues (llama.cpp does by
# default; vLLM with these two fields)
CONTINUE = {"continue_final_message": True, "add_generation_prompt": False}


def _chain_request(trace_id: str, problem: str, text: str, sample: int, picks: list[int]) -> Request:
    messages = judge_messages(problem, text) + [{"role": "assistant", "content": reply_prefix(picks)}]
    return Request(item_id=trace_id, sample=sample * 100, messages=tuple(messages),
                   extra={"logprobs": True, "top_logprobs": TOP_LOGPROBS, "extra_body": CONTINUE})


def _pick(probs: dict[int, float], temperature: float, rng: random.Random) -> int:
    """The score a chain continues with: the most likely at temperature 0, else a draw from the score
    distribution sharpened or flattened by the temperature."""
    if temperature == 0:
        return max(probs, key=lambda s: (probs[s], -s))
    weights = [p ** (1 / temperature) for p in probs.values()]
    return rng.choices(list(probs), weights=weights)[0]


def _chain_reads(recs: list[dict], temperature: float, trace_id: str, sample: int) -> tuple[list[dict], list[int]]:
    """Each step's score distribution and the scores picked from them (stops at a step without one)."""
    dists, picks = [], []
    for k, rec in enumerate(recs):
        alternatives = rec["logprobs"][0][1] if rec.get("logprobs") else []
        probs = score_probabilities(alternatives)
        if not probs:
            break
        rng = random.Random(content_hash(trace_id, sample, k))
        dists.append(probs)
        picks.append(_pick(probs, temperature, rng))
    return dists, picks


def _judge_chained(profile: Profile, pending: list, log_dir) -> list[dict]:
    """Chained scoring: the caller writes the reply's JSON up to each score and the judge gives one token
    there; the expected score is read from that token's probabilities, and the chain continues with the
    score picked from them (the most likely at temperature 0). One call per dimension, each adding a few
    tokens to the cached prompt of the one before: no reply text for the judge to decode token by token."""
    j = profile.judge
    model_id = model_identity(j.model, j.backend)
    sampling = {"temperature": 0.0, "top_p": 1.0, "max_tokens": 1, "seed": 0, "rubric": RUBRIC_HASH,
                "pick_temperature": j.temperature, "scoring": "chained"}

    def advance(i, recs):
        tid, q, text, s = pending[i]
        dists, picks = _chain_reads(recs, j.temperature, tid, s)
        if len(dists) < len(recs) or len(picks) == len(DIMENSION_NAMES):
            return None
        return _chain_request(tid, q, text, s, picks)

    firsts = [_chain_request(tid, q, text, s, []) for tid, q, text, s in pending]
    with completions_cache(profile) as cache:
        chains = complete_chained(lambda: endpoint(j.backend, j.model, server=j.server, log_dir=log_dir), firsts,
                                  advance, sampling, cache, model_id, concurrency=j.concurrency,
                                  desc=f"judge {j.model} (chained)", timeout=judge_timeout(profile),
                                  max_retries=j.max_retries)
    rows = []
    for (tid, _, _, s), recs in zip(pending, chains):
        row = {"trace_id": tid, "judge": j.model, "sample": s, "attempt": 0, "scoring": "chained"}
        if recs is None:
            rows.append({**row, "status": "failed", "error": "no answer from the endpoint after retries",
                         "raw": None, "prompt_tokens": 0, "completion_tokens": 0})
            continue
        dists, picks = _chain_reads(recs, j.temperature, tid, s)
        usage = {"prompt_tokens": recs[-1]["prompt_tokens"], "completion_tokens": len(recs)}
        if len(picks) < len(DIMENSION_NAMES):
            rows.append({**row, **usage, "status": "failed", "raw": reply_prefix(picks),
                         "error": f"no score token among the judge's top {TOP_LOGPROBS} log-probabilities at "
                                  f"{DIMENSION_NAMES[len(picks)]}"})
            continue
        raw = reply_prefix(picks[:-1]) + f"{picks[-1]}}}"
        expected = {d: sum(v * p for v, p in probs.items()) for d, probs in zip(DIMENSION_NAMES, dists)}
        rows.append({**row, **usage, "status": "ok", "error": None, "raw": raw,
                     **{f"{d}_sampled": v for d, v in zip(DIMENSION_NAMES, picks)}, **expected})
    return rows


def judge_timeout(profile: Profile) -> float:
    """Seconds per judge request: `judge.request_timeout_s`, else scaled with the reply budget, the queue and the
    prompt (the rubric, the question and a trace of up to the generators' max_tokens; ~4 characters a token)."""
    j = profile.judge
    if j.request_timeout_s:
        return j.request_timeout_s
    prompt = (len(SYSTEM_PROMPT) + len(USER_TEMPLATE)) // 4 + 512 + profile.generation.sampling.max_tokens
    return request_timeout(j.max_tokens, j.concurrency, j.backend, prompt_tokens=prompt)


def judge_traces(profile: Profile, traces: pd.DataFrame, problems: pd.DataFrame, log_dir) -> pd.DataFrame:
    j = profile.judge
    question = dict(zip(problems["id"], problems["question"]))
    pending = [(t.trace_id, question[t.item_id], t.text, s) for t in traces.itertuples() for s in range(j.samples)]
    if j.scoring == "chained":
        return pd.DataFrame(_judge_chained(profile, pending, log_dir))
    sampling = {"temperature": j.temperature, "top_p": 1.0, "max_tokens": j.max_tokens, "seed": 0,
                "rubric": RUBRIC_HASH}
    model_id = model_identity(j.model, j.backend)
    rows = []
    with completions_cache(profile) as cache:
        for attempt in range(MAX_ATTEMPTS):
            if not pending:
                break
            reqs = [_request(tid, q, text, s, attempt, j.scoring) for tid, q, text, s in pending]
            if j.backend == "openai_batch":
                with endpoint(j.backend, j.model, server=j.server, log_dir=log_dir) as ep:
                    recs = complete_batch(ep, reqs, sampling, cache, model_id, state_dir=log_dir,
                                          poll_s=j.batch_poll_s, desc=f"judge batch (attempt {attempt + 1})",
                                          max_requests=j.batch_max_requests, max_bytes=j.batch_max_bytes)
            else:
                recs = complete(lambda: endpoint(j.backend, j.model, server=j.server, log_dir=log_dir), reqs,
                                sampling, cache, model_id, concurrency=j.concurrency,
                                desc=f"judge {j.model} (attempt {attempt + 1})", timeout=judge_timeout(profile),
                                max_retries=j.max_retries, allow_missing=True)
            retry = []
            for (tid, q, text, s), r in zip(pending, recs):
                if r is None:  # the endpoint never answered (after retries and restarts): not cached
                    rows.append({"trace_id": tid, "judge": j.model, "sample": s, "attempt": attempt,
                                 "status": "failed", "error": "no answer from the endpoint after retries",
                                 "raw": None, "prompt_tokens": 0, "completion_tokens": 0})
                    continue
                try:
                    (scores, how), error = _scores(r, j.scoring), None
                except ValueError as e:
                    scores, how, error = {}, None, str(e)
                if error and attempt + 1 < MAX_ATTEMPTS:
                    retry.append((tid, q, text, s))
                rows.append({"trace_id": tid, "judge": j.model, "sample": s, "attempt": attempt,
                             "status": "ok" if not error else ("retried" if attempt + 1 < MAX_ATTEMPTS else "failed"),
                             "error": error, "raw": r["text"], "scoring": how, "prompt_tokens": r["prompt_tokens"],
                             "completion_tokens": r["completion_tokens"], **scores})
            pending = retry
    return pd.DataFrame(rows)


def aggregate(judgments: pd.DataFrame) -> pd.DataFrame:
    """Per-trace mean and standard deviation of each dimension over the successful judge samples."""
    ok = judgments[judgments["status"] == "ok"]
    agg = ok.groupby("trace_id")[DIMENSION_NAMES].agg(["mean", "std"])
    agg.columns = [f"{d}_{s}" for d, s in agg.columns]
    agg["n_ok"] = ok.groupby("trace_id").size()
    agg["aggregate_mean"] = agg[[f"{d}_mean" for d in DIMENSION_NAMES]].mean(axis=1)
    return agg.reset_index()


def self_consistency(judgments: pd.DataFrame) -> pd.DataFrame:
    """Per dimension: mean within-trace standard deviation across the k judge samples, and the share
    of traces on which all k samples gave the same score (NaN when k = 1)."""
    ok = judgments[judgments["status"] == "ok"]
    multi = ok.groupby("trace_id").filter(lambda g: len(g) > 1)
    rows = []
    for d in DIMENSION_NAMES:
        if multi.empty:
            rows.append({"dimension": d, "mean_sd": float("nan"), "all_agree": float("nan"), "traces": 0})
            continue
        g = multi.groupby("trace_id")[d]
        rows.append({"dimension": d, "mean_sd": float(g.std().mean()), "all_agree": float((g.nunique() == 1).mean()),
                     "traces": int(g.ngroups)})
    return pd.DataFrame(rows)


def verifier_scores(traces: pd.DataFrame, problems: pd.DataFrame) -> pd.DataFrame:
    """The programmatic verifier's five scores for every trace (problems carry their true steps)."""
    by_id = problems.set_index("id")
    rows = []
    for t in traces.itertuples():
        p = by_id.loc[t.item_id]
        v = verify(t.text, p["question"], p["answer"], [s["result"] for s in p["steps"]])
        rows.append({"trace_id": t.trace_id, **v})
    return pd.DataFrame(rows)


def agreement(scores: pd.DataFrame, verifier: pd.DataFrame, n_boot: int = 1000, seed: int = 0,
              traces: pd.DataFrame | None = None) -> pd.DataFrame:
    """Spearman correlation between judge means and verifier scores per dimension, with a bootstrap 95 % CI.

    With `traces` (trace_id, item_id) the bootstrap resamples whole prompts, since traces of one prompt share it
    (several generators, several samples); without, traces are resampled as if independent."""
    j = scores.merge(verifier, on="trace_id", suffixes=("", "_verifier"))
    clusters = None
    if traces is not None and "item_id" in traces:
        j = j.merge(traces[["trace_id", "item_id"]].drop_duplicates("trace_id"), on="trace_id", how="left")
        clusters = j["item_id"].fillna(j["trace_id"]).astype(str).to_numpy()
    rows = []
    for d in DIMENSION_NAMES:
        x, y = j[f"{d}_mean"].to_numpy(dtype=float), j[d].to_numpy(dtype=float)
        r = spearman_ci(x, y, n_boot=n_boot, seed=seed, clusters=clusters)
        rows.append({"dimension": d, "spearman": r["rho"], "ci_low": r["ci_low"], "ci_high": r["ci_high"],
                     "n": len(j)})
    return pd.DataFrame(rows)


def balanced_head(labels: pd.Series, n: int) -> pd.Index:
    """The index of `n` rows, half of each label where both have enough (else all of the smaller class and the
    rest from the larger), each class's first rows, in their original order."""
    pos, neg = labels.index[labels], labels.index[~labels]
    small, large = (pos, neg) if len(pos) <= len(neg) else (neg, pos)
    k = min(len(small), n // 2)
    return small[:k].append(large[: n - k]).sort_values()


def validate(profile: Profile, path, log_dir=None, limit: int | None = None) -> pd.DataFrame:
    """How well the profile's judge tells correct from incorrect solutions, on any labelled JSONL.

    Each line holds a question (`question`), a solution (`solution` or `text`) and its label (`is_correct`
    or `label`). Every solution is judged exactly as `02_judge` judges traces (same rubric, samples and
    completions cache, so a rerun asks nothing new); per dimension and for the aggregate, the table gives
    the AUC (the chance that a correct solution outscores an incorrect one, ties counting half) with
    DeLong's 95 % CI. 0.5 is a judge that cannot tell them apart.

    `limit` judges at most that many solutions, as balanced between correct and incorrect as the file allows
    (the first of each class, in file order): the AUC's precision rests on the smaller class, so 60 of
    tests/data's 120 (23 correct) keep all 23 correct ones rather than the 11 among the first 60."""
    data = pd.read_json(path, lines=True)
    text_col = next((c for c in ("solution", "text") if c in data), None)
    label_col = next((c for c in ("is_correct", "label") if c in data), None)
    if text_col is None or label_col is None or "question" not in data:
        raise ValueError(f"{path}: needs columns question, solution (or text) and is_correct (or label); "
                         f"has {sorted(data.columns)}")
    if limit is not None and limit < len(data):
        data = data.loc[balanced_head(data[label_col].astype(bool), limit)]
    data = data.reset_index(drop=True).assign(trace_id=lambda d: [f"labelled-{i}" for i in range(len(d))],
                                              item_id=lambda d: [f"labelled-q{i}" for i in range(len(d))])
    problems = pd.DataFrame({"id": data["item_id"], "question": data["question"]})
    traces = data.rename(columns={text_col: "text"})[["trace_id", "item_id", "text"]]
    log_dir = Path(log_dir or stage_dir(profile, STAGE) / "validation")
    log_dir.mkdir(parents=True, exist_ok=True)
    scores = aggregate(judge_traces(profile, traces, problems, log_dir))
    j = data[["trace_id", label_col]].merge(scores, on="trace_id", how="left")
    labels = j[label_col].astype(bool)
    rows = []
    for d in DIMENSION_NAMES + ["aggregate"]:
        ok = j[f"{d}_mean"].notna()
        r = auc_ci(j.loc[ok, f"{d}_mean"].to_numpy(dtype=float), labels[ok].to_numpy())
        rows.append({"dimension": d, **r, "distinct_scores": int(j.loc[ok, f"{d}_mean"].nunique()),
                     "judged": int(ok.sum())})
    return pd.DataFrame(rows)


def run(profile: Profile) -> tuple[pd.DataFrame, pd.DataFrame]:
    gen = profile.run_dir() / "01_generate"
    traces, problems = read_table(gen / "traces.jsonl"), read_table(gen / "problems.jsonl")
    out = stage_dir(profile, STAGE)
    judgments = judge_traces(profile, traces, problems, out)
    scores = aggregate(judgments)
    verifier = verifier_scores(traces, problems)
    write_table(judgments, out / "judgments.jsonl")
    write_table(scores, out / "scores.jsonl")
    write_table(verifier, out / "verifier.jsonl")
    write_manifest(profile, STAGE, [out / "judgments.jsonl", out / "scores.jsonl", out / "verifier.jsonl"],
                   rubric=RUBRIC_HASH)
    return judgments, scores


def failure_summary(judgments: pd.DataFrame, judge_spec=None) -> dict:
    """Calls, parse failures, samples failed after every retry, tokens and (if priced) dollars."""
    final = judgments[judgments["status"] != "retried"]
    tin, tout = int(judgments["prompt_tokens"].fillna(0).sum()), int(judgments["completion_tokens"].fillna(0).sum())
    cost = (tin * judge_spec.price_in_per_mtok + tout * judge_spec.price_out_per_mtok) / 1e6 if judge_spec else 0.0
    return {"cost_usd": round(cost, 4), "judge_calls": len(judgments),
            "parse_failures": int((judgments["status"] != "ok").sum()),
            "parse_failure_rate": float((judgments["status"] != "ok").mean()) if len(judgments) else 0.0,
            "samples_failed_after_retries": int((final["status"] == "failed").sum()),
            "prompt_tokens": tin, "completion_tokens": tout}
