"""The run's tables, read once and shared by the figures and the findings of 06_analyze.

    t = tables.load(profile)   # RunTables: raw stage outputs and what the analysis derives from them
    t.gains                    # every trained run minus the base policy, per domain, paired over items

Each figure function (`figures.py`) and each finding (`findings.py`) takes these tables, so any of them
can be recomputed alone, in a notebook cell, on a run's outputs.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..core.stats import compare
from ..data import prefsets
from ..profile.config import Profile
from ..profile.rundir import read_table
from ..stages.pairing import load_set, widest_generator
from ..stages.train import training_logs


@dataclass(frozen=True)
class RunTables:
    traces: pd.DataFrame  # 01_generate: one row per trace (model, item_id, sample, text, correct, ...)
    judgments: pd.DataFrame  # 02_judge: one row per judge sample
    scores: pd.DataFrame  # 02_judge: per trace, each dimension's mean (and SD) over judge samples
    verifier: pd.DataFrame  # 02_judge: the programmatic verifier's per-dimension scores
    records: pd.DataFrame  # 05_evaluate: one row per model, eval item and sample
    summary: pd.DataFrame  # 05_evaluate: accuracy per model and eval set
    runs: pd.DataFrame  # one row per trained run: its preference set's parts and generator gap
    items: pd.Series  # per policy model and eval item: mean correctness (avg@k)
    gains: pd.DataFrame  # every run minus the base policy, per domain (in, out, all)
    pairs: pd.DataFrame  # the generator-level preference sets, stacked
    gaps: pd.Series  # each chosen generator's accuracy gap over the rejected one (training prompts)
    logs: pd.DataFrame  # 04_train: the training logs of every run
    loglik: pd.DataFrame = field(default_factory=pd.DataFrame)  # 05_evaluate: reference-answer log-likelihoods
    heldout: pd.DataFrame = field(default_factory=pd.DataFrame)  # 05_evaluate: held-out pairs' log-probs


def load(profile: Profile) -> RunTables:
    r = profile.run_dir()
    traces, records = read_table(r / "01_generate/traces.jsonl"), read_table(r / "05_evaluate/records.jsonl")
    return RunTables(traces=traces,
                     judgments=read_table(r / "02_judge/judgments.jsonl"),
                     scores=read_table(r / "02_judge/scores.jsonl"),
                     verifier=read_table(r / "02_judge/verifier.jsonl"),
                     records=records,
                     summary=read_table(r / "05_evaluate/summary.jsonl"),
                     runs=runs_table(profile, traces),
                     items=item_scores(records),
                     gains=gains(profile, records, traces),
                     pairs=generator_pairs(profile),
                     gaps=generator_gaps(profile, traces),
                     logs=training_logs(profile),
                     loglik=_optional(r / "05_evaluate/answer_loglik.jsonl"),
                     heldout=_optional(r / "05_evaluate/heldout_logps.jsonl"))


def _optional(path) -> pd.DataFrame:
    """A table a stage writes only with some settings (empty when absent or empty)."""
    return read_table(path) if path.is_file() and path.stat().st_size else pd.DataFrame()


def generator_pairs(profile: Profile) -> pd.DataFrame:
    g = profile.generation
    return pd.concat([load_set(profile, prefsets.generator(m).name) for m in g.generators if m != g.rejected],
                     ignore_index=True)


def generator_gaps(profile: Profile, traces: pd.DataFrame) -> pd.Series:
    """Each chosen generator's accuracy on the training prompts minus the rejected generator's."""
    acc = traces.groupby("model")["correct"].mean()
    g = profile.generation
    return pd.Series({m: acc.get(m, np.nan) - acc.get(g.rejected, np.nan) for m in g.generators if m != g.rejected},
                     name="gap")


def runs_table(profile: Profile, traces: pd.DataFrame) -> pd.DataFrame:
    """One row per trained run: method, preference set, its kind, fraction kept, dimension, generator gap.

    The generator-level set of the widest-gap generator is the pool the selections are drawn from, so its
    runs also count as `full` (fraction 1.0) in the data-efficiency comparisons.
    """
    gaps, widest = generator_gaps(profile, traces), widest_generator(profile, traces)
    rows = []
    for spec in profile.train.runs:
        c = prefsets.parse(spec.preference_set).row()
        row = {"run": spec.name, "method": spec.method, "preference_set": spec.preference_set, **c,
               "gap": gaps.get(c.get("chosen_model"), np.nan),
               "is_full": c["kind"] == "full" or c.get("chosen_model") == widest}
        rows.append(row)
    cols = ["run", "method", "preference_set", "kind", "chosen_model", "fraction", "dimension", "draw", "combination",
            "gap", "is_full"]
    return pd.DataFrame(rows).reindex(columns=cols)


def item_scores(records: pd.DataFrame) -> pd.Series:
    """Per policy model and evaluation item: mean correctness (avg@k), indexed (model, domain, eval_set, item_id)."""
    pol = records[records["kind"] == "policy"]
    return pol.groupby(["model", "domain", "eval_set", "item_id"])["correct"].mean().astype(float)


def items_of(items: pd.Series, model: str, domain: str) -> pd.Series:
    """One model's per-item scores (of one domain, or all), indexed (eval_set, item_id)."""
    s = items.xs(model, level="model")
    if domain != "all":
        s = s[s.index.get_level_values("domain") == domain]
    return s.droplevel("domain")


def contrast(items: pd.Series, a: str, b: str, domain: str = "all", seed: int = 0) -> dict:
    """Model `a` minus model `b` on the same items (of one domain, or all): diff, 95 % CI, p-value, n."""
    return compare(items_of(items, a, domain), items_of(items, b, domain), seed=seed)


def gains(profile: Profile, records: pd.DataFrame, traces: pd.DataFrame) -> pd.DataFrame:
    """Every trained run minus the base policy, per domain (in, out) and over all items."""
    items = item_scores(records)
    runs = runs_table(profile, traces)
    rows = []
    for r in runs.itertuples():
        for dom in ["in", "out", "all"]:
            if dom == "all" or (items.index.get_level_values("domain") == dom).any():
                rows.append({**r._asdict(), "domain": dom, **contrast(items, r.run, "base", dom)})
    return pd.DataFrame(rows).drop(columns="Index")
