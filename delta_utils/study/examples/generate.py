"""What notebook 01_generate shows: its worked example, its figures and its takeaway sentence, drawn from its numbers
(the rules: delta_utils/study/examples/__init__.py)."""
from __future__ import annotations

import pandas as pd
import seaborn as sns

from ...core.plotting import Figure, canvas
from ...profile.config import Profile
from .text import answer, block, pct


def generation_example(traces: pd.DataFrame, problems: pd.DataFrame) -> dict:
    """The first prompt (by id) on which the generators disagree about the answer, else the first prompt:
    its question and reference answer, and each generator's first sample."""
    first = traces[traces["sample"] == 0]
    split = first.groupby("item_id")["correct"].nunique()
    ids = sorted(split[split > 1].index) or sorted(first["item_id"].unique())
    item = ids[0]
    p = problems.set_index("id").loc[item]
    cols = ["model", "correct", "pred", "finish_reason", "completion_tokens", "text"]
    rows = first[first["item_id"] == item].reindex(columns=cols)
    return {"item_id": item, "question": p["question"], "answer": p["answer"], "traces": rows.reset_index(drop=True),
            "disagree": bool(split.get(item, 1) > 1)}


def generation_markdown(ex: dict) -> str:
    why = "the first prompt the generators disagree on" if ex["disagree"] else "the first prompt (all agree)"
    out = [f"**Prompt `{ex['item_id']}`** ({why}): {ex['question']}  \n**Reference answer:** {ex['answer']}"]
    for r in ex["traces"].itertuples():
        verdict = "correct" if r.correct else "wrong"
        cut = ", cut off at max_tokens" if r.finish_reason == "length" else ""
        out.append(f"**{r.model}** — extracted answer {answer(r.pred)} ({verdict}{cut}; "
                   f"{r.completion_tokens} tokens)\n\n" + block(str(r.text)))
    return "\n\n".join(out)


def ladder_figure(ladder: pd.DataFrame, traces: pd.DataFrame) -> Figure:
    """Accuracy per generator on the training prompts, and the length of their traces."""
    fig, axes = canvas(1, 2, figsize=(10, 3.5))
    sns.barplot(data=ladder.reset_index(), x="model", y="accuracy", ax=axes[0])
    axes[0].set(ylim=(0, 1), title="accuracy on the training prompts")
    sns.boxplot(data=traces, x="model", y="completion_tokens", ax=axes[1])
    axes[1].set(title="trace length (tokens)")
    for ax in axes:
        ax.tick_params(axis="x", rotation=15)
    return Figure("ladder", fig, ladder.reset_index())


def generate_takeaway(profile: Profile, ladder: pd.DataFrame, traces: pd.DataFrame) -> str:
    rej = profile.generation.rejected
    best = ladder["accuracy"].idxmax()
    cut = ladder["truncated"].idxmax() if "truncated" in ladder else None
    text = (f"Takeaway: {len(traces)} traces from {len(ladder)} generators. The rejected generator {rej} solves "
            f"{pct(ladder.loc[rej, 'accuracy'])} of the prompts; the strongest, {best}, solves "
            f"{pct(ladder.loc[best, 'accuracy'])}, a generator-level gap of "
            f"{ladder.loc[best, 'gap_vs_rejected']:+.0%}.")
    if cut is not None:
        text += (f" The most traces cut off at max_tokens: {cut} ({pct(ladder.loc[cut, 'truncated'])}); a cut "
                 f"trace usually has no final answer and counts as wrong.")
    return text


