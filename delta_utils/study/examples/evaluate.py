"""What notebook 05_evaluate shows: its worked example, its figures and its takeaway sentence, drawn from its numbers
(the rules: delta_utils/study/examples/__init__.py)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ...core.plotting import Figure, canvas, empty
from .text import answer, block


def prediction_example(records: pd.DataFrame, questions: dict[str, str]) -> dict:
    """One evaluation item, the first (by set and id) on which the policy checkpoints disagree, else the
    first: its question, the reference answer and each checkpoint's prediction (first sample)."""
    pol = records[(records["kind"] == "policy") & (records["sample"] == 0)]
    split = pol.groupby(["eval_set", "item_id"])["correct"].nunique()
    keys = sorted(split[split > 1].index) or sorted(split.index)
    eval_set, item = keys[0]
    rows = pol[(pol["eval_set"] == eval_set) & (pol["item_id"] == item)]
    rows = rows.reindex(columns=["model", "pred", "correct", "completion_tokens", "text"]).reset_index(drop=True)
    return {"eval_set": eval_set, "item_id": item, "question": questions.get(item, ""),
            "answer": pol[(pol["item_id"] == item)]["answer"].iloc[0], "predictions": rows,
            "disagree": bool(split.get((eval_set, item), 1) > 1)}


def prediction_markdown(ex: dict) -> str:
    why = "the first item the checkpoints disagree on" if ex["disagree"] else "the first item (all agree)"
    out = [f"**{ex['eval_set']} · `{ex['item_id']}`** ({why})\n\n" + block(ex["question"])
           + f"\n\n**Reference answer:** {ex['answer']}"]
    for r in ex["predictions"].itertuples():
        out.append(f"**{r.model}** — answer {answer(r.pred)} ({'correct' if r.correct else 'wrong'})\n\n"
                   + block(str(r.text)))
    return "\n\n".join(out)


def learning_signal_figure(learned: pd.DataFrame | None, moved: pd.DataFrame | None) -> Figure:
    """What training did to each run's policy, one row per run: its held-out preference accuracy and implicit-reward
    margin (`likelihood.heldout_preference`) and its change of the reference answers' log-likelihood over the base
    policy (`likelihood.vs_base`), each with its 95 % CI; 0.5 and 0 marked. A panel without numbers says so."""
    learned = learned if learned is not None else pd.DataFrame(columns=["model", "accuracy"])
    moved = moved if moved is not None else pd.DataFrame(columns=["model", "diff"])
    d = learned.merge(moved[["model", "diff", "ci_low", "ci_high"]].rename(columns={
        "diff": "loglik", "ci_low": "loglik_low", "ci_high": "loglik_high"}), on="model", how="outer")
    d = d.sort_values(["accuracy", "loglik"] if len(learned) else ["loglik"]).reset_index(drop=True)
    fig, axes = canvas(1, 3, figsize=(13, 0.35 * len(d) + 1.8), sharey=True)
    y = np.arange(len(d))
    panels = [("accuracy", "acc_low", "acc_high", 0.5, "held-out preference accuracy", "no held-out pairs"),
              ("margin", "margin_low", "margin_high", 0.0, "held-out implicit-reward margin\n(chosen - rejected)",
               "no held-out pairs"),
              ("loglik", "loglik_low", "loglik_high", 0.0,
               "reference-answer log-likelihood,\nrun - base (nats per item)", "evaluate.answer_loglik is off")]
    for ax, (v, lo, hi, line, label, missing) in zip(axes, panels):
        if v not in d or d[v].isna().all():
            empty(ax, missing)
            continue
        ax.errorbar(d[v], y, xerr=[d[v] - d[lo], d[hi] - d[v]], fmt="o", capsize=3)
        ax.axvline(line, color="grey", lw=0.8, ls="--" if line else "-")
        ax.set(xlabel=label + " (95 % CI)")
    if len(d):
        axes[0].set_yticks(y, d["model"])
    if "accuracy" in d and d["accuracy"].notna().any():
        axes[0].set_xlim(-0.02, 1.02)
    fig.suptitle("What training did to each policy" + (f", on the pairs of {int(d['prompts'].max())} held-out prompts"
                                                       if "prompts" in d and d["prompts"].notna().any() else ""))
    return Figure("learning_signal", fig, d)


def evaluate_takeaway(summary: pd.DataFrame, diffs: pd.DataFrame, learned: pd.DataFrame | None = None) -> str:
    base = summary[summary["model"] == "base"]
    text = "Takeaway: "
    if learned is not None and len(learned):
        above = int((learned["acc_low"] > 0.5).sum())
        text += (f"{above} of {len(learned)} runs learned a preference that holds on held-out prompts (accuracy CI "
                 f"above 0.5; accuracies {learned['accuracy'].min():.0%} to {learned['accuracy'].max():.0%}); ")
    text += "base policy accuracy " + ", ".join(f"{r.eval_set} {r.accuracy:.0%}" for r in base.itertuples())
    if len(diffs):
        best = diffs.loc[diffs["diff"].idxmax()]
        text += (f"; the largest change is {best['model']} on {best['eval_set']}: {best['diff']:+.1%} "
                 f"[{best['ci_low']:+.1%}, {best['ci_high']:+.1%}], exact p {best['p_value']:.2f}, against a "
                 f"minimum detectable effect of {best['mde']:.1%}")
    return text + "."
