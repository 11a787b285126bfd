"""Stage 3: preference pairs, and the selections the study trains on.

Generator-level sets: for every chosen generator on the ladder, its trace vs the
fixed rejected generator's trace on the same prompt. Sample-level selections, on
the set with the largest capability gap: the top fraction by each dimension's
judged delta (and by the aggregate), a seeded random subset of the same size,
and the full set. Each set is a `datasets.Dataset` in TRL's conversational
``prompt/chosen/rejected`` format with provenance columns.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .config import Profile
from .rubric import DIMENSION_NAMES
from .stages import read_table, stage_dir, write_manifest, write_table
from .tasks import Problem, chat_prompt

STAGE = "03_pair"
DELTA_COLUMNS = [f"delta_{d}" for d in DIMENSION_NAMES] + ["delta_aggregate"]


class PairingError(ValueError):
    pass


def build_pairs(traces: pd.DataFrame, scores: pd.DataFrame, problems: pd.DataFrame, chosen: str,
                rejected: str) -> pd.DataFrame:
    """One pair per prompt: `chosen` generator's first sample vs `rejected` generator's first sample."""
    t = traces[traces["sample"] == 0].merge(scores, on="trace_id", how="left")
    c = t[t["model"] == chosen].set_index("item_id")
    r = t[t["model"] == rejected].set_index("item_id")
    common = c.index.intersection(r.index)
    if len(common) == 0:
        raise PairingError(f"no prompt has traces from both {chosen!r} and {rejected!r}")
    prompts = {r["id"]: chat_prompt(Problem.from_dict(r)) for r in problems.to_dict("records")}
    rows = []
    for pid in sorted(common):
        a, b = c.loc[pid], r.loc[pid]
        if a["text"].strip() == b["text"].strip():
            continue  # identical texts carry no preference
        row = {"prompt": prompts[pid],  # exactly what the generators were asked
               "chosen": [{"role": "assistant", "content": a["text"]}],
               "rejected": [{"role": "assistant", "content": b["text"]}],
               "prompt_id": pid, "chosen_model": chosen, "rejected_model": rejected,
               "chosen_correct": bool(a["correct"]), "rejected_correct": bool(b["correct"]),
               "chosen_trace": a["trace_id"], "rejected_trace": b["trace_id"]}
        for d in DIMENSION_NAMES + ["aggregate"]:
            row[f"chosen_{d}"] = float(a.get(f"{d}_mean", np.nan))
            row[f"rejected_{d}"] = float(b.get(f"{d}_mean", np.nan))
            row[f"delta_{d}"] = row[f"chosen_{d}"] - row[f"rejected_{d}"]
        rows.append(row)
    return pd.DataFrame(rows)


def top_k(pairs: pd.DataFrame, dimension: str, fraction: float) -> pd.DataFrame:
    """The `fraction` of pairs with the largest judged delta on `dimension` (ties broken by prompt id)."""
    k = max(1, int(round(fraction * len(pairs))))
    col = f"delta_{dimension}"
    ranked = pairs.assign(_d=pairs[col].fillna(-np.inf)).sort_values(["_d", "prompt_id"], ascending=[False, True])
    return ranked.head(k).drop(columns="_d")


def random_subset(pairs: pd.DataFrame, k: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(len(pairs), size=min(k, len(pairs)), replace=False))
    return pairs.iloc[idx]


def selections(profile: Profile, traces: pd.DataFrame, scores: pd.DataFrame,
               problems: pd.DataFrame) -> dict[str, pd.DataFrame]:
    g = profile.generation
    acc = traces.groupby("model")["correct"].mean()
    sets: dict[str, pd.DataFrame] = {}
    for m in g.generators:
        if m != g.rejected:
            sets[f"gen__{m}"] = build_pairs(traces, scores, problems, m, g.rejected)
    widest = max((m for m in g.generators if m != g.rejected), key=lambda m: (acc.get(m, 0), m))
    pool = sets[f"gen__{widest}"]
    sets["full"] = pool
    for f in profile.pairing.top_fractions:
        pct = int(round(100 * f))
        for d in DIMENSION_NAMES + ["aggregate"]:
            sets[f"top{pct}__{d}"] = top_k(pool, d, f)
        sets[f"random{pct}"] = random_subset(pool, max(1, int(round(f * len(pool)))), profile.pairing.seed)
    return sets


def to_dataset(pairs: pd.DataFrame):
    import datasets

    if len(pairs) == 0:
        raise PairingError("empty preference set")
    return datasets.Dataset.from_pandas(pairs.reset_index(drop=True), preserve_index=False)


def to_kto(pairs: pd.DataFrame) -> pd.DataFrame:
    """TRL's unpaired format: each pair gives a desirable (chosen) and an undesirable (rejected) example."""
    keep = [c for c in pairs.columns if c not in ("chosen", "rejected")]
    pos = pairs[keep].assign(completion=pairs["chosen"], label=True)
    neg = pairs[keep].assign(completion=pairs["rejected"], label=False)
    return pd.concat([pos, neg], ignore_index=True)


def kto_weights(labels: pd.Series) -> tuple[float, float]:
    """(desirable_weight, undesirable_weight) so that weighted counts stay within TRL's 1:1 to 4:3 band."""
    n_pos, n_neg = int(labels.sum()), int((~labels.astype(bool)).sum())
    if n_pos == 0 or n_neg == 0:
        raise PairingError(f"KTO needs both labels; got {n_pos} desirable and {n_neg} undesirable")
    # desirable_weight * n_pos / (undesirable_weight * n_neg) in [1, 4/3]
    ratio = n_pos / n_neg
    if ratio < 1:
        return (1.0 / ratio, 1.0)
    if ratio > 4 / 3:
        return (1.0, ratio * 0.75)
    return (1.0, 1.0)


def run(profile: Profile) -> dict[str, pd.DataFrame]:
    gen, jud = profile.run_dir() / "01_generate", profile.run_dir() / "02_judge"
    traces, problems = read_table(gen / "traces.jsonl"), read_table(gen / "problems.jsonl")
    scores = read_table(jud / "scores.jsonl")
    out = stage_dir(profile, STAGE)
    sets = selections(profile, traces, scores, problems)
    paths = []
    for name, df in sets.items():
        if len(df) == 0:
            continue
        p = out / "sets" / f"{name}.jsonl"
        p.parent.mkdir(parents=True, exist_ok=True)
        paths.append(write_table(df, p))
    sizes = {k: len(v) for k, v in sets.items()}
    write_manifest(profile, STAGE, paths, sizes=sizes)
    return sets


def load_set(profile: Profile, name: str) -> pd.DataFrame:
    p = profile.run_dir() / STAGE / "sets" / f"{name}.jsonl"
    if not p.is_file():
        avail = sorted(x.stem for x in p.parent.glob("*.jsonl"))
        raise PairingError(f"preference set {name!r} not found in {p.parent}; available: {avail}")
    df = read_table(p)
    missing = {"prompt", "chosen", "rejected"} - set(df.columns)
    if missing:
        raise PairingError(f"preference set {name!r} lacks columns {sorted(missing)}")
    return df
