"""What notebook 03_pair shows: its worked example, its figures and its takeaway sentence, drawn from its numbers
(the rules: delta_utils/study/examples/__init__.py)."""
from __future__ import annotations

import pandas as pd
import seaborn as sns

from ...core.plotting import Figure, canvas
from ...data.prefsets import SELECTION_DIMENSIONS
from .text import block


def pair_example(sets: dict[str, pd.DataFrame], name: str = "full") -> dict:
    """The pair of set `name` with the largest aggregate delta: prompt, chosen and rejected texts, and per
    dimension the chosen and rejected means and their delta."""
    s = sets[name]
    row = s.loc[s["delta_aggregate"].astype(float).idxmax()]
    table = pd.DataFrame({"chosen": [row[f"chosen_{d}"] for d in SELECTION_DIMENSIONS],
                          "rejected": [row[f"rejected_{d}"] for d in SELECTION_DIMENSIONS],
                          "delta": [row[f"delta_{d}"] for d in SELECTION_DIMENSIONS]},
                         index=pd.Index(SELECTION_DIMENSIONS, name="dimension"))
    return {"set": name, "prompt_id": row["prompt_id"], "prompt": row["prompt"], "chosen": row["chosen"],
            "rejected": row["rejected"], "chosen_model": row["chosen_model"], "rejected_model": row["rejected_model"],
            "chosen_correct": bool(row["chosen_correct"]), "rejected_correct": bool(row["rejected_correct"]),
            "deltas": table}


def pair_markdown(ex: dict) -> str:
    user = next((m["content"] for m in ex["prompt"] if m["role"] == "user"), "")

    def ok(c):
        return "correct" if c else "wrong"

    return "\n\n".join([
        f"**Pair `{ex['prompt_id']}`** of `{ex['set']}` (its largest aggregate delta), as TRL reads it: `prompt` "
        f"(chat messages; the user turn below), `chosen`, `rejected`.",
        "**prompt (user)**\n\n" + block(user),
        f"**chosen** — {ex['chosen_model']}, {ok(ex['chosen_correct'])}\n\n" + block(ex["chosen"][0]["content"]),
        f"**rejected** — {ex['rejected_model']}, {ok(ex['rejected_correct'])}\n\n"
        + block(ex["rejected"][0]["content"])])


def delta_heatmap(sets: dict[str, pd.DataFrame]) -> Figure:
    """Mean judged delta (chosen - rejected) per dimension for each generator-level set."""
    gen = pd.concat([v for k, v in sets.items() if k.startswith("gen__") and len(v)], ignore_index=True)
    means = gen.groupby("chosen_model")[[f"delta_{d}" for d in SELECTION_DIMENSIONS]].mean()
    means.columns = [c.removeprefix("delta_") for c in means.columns]
    fig, ax = canvas(figsize=(8, 3))
    sns.heatmap(means, annot=True, fmt=".2f", center=0, cmap="vlag", ax=ax)
    ax.set(title="mean judged delta (chosen - rejected) per dimension", ylabel="chosen generator")
    return Figure("delta_heatmap", fig, means.reset_index())


def pair_takeaway(sets: dict[str, pd.DataFrame]) -> str:
    full = sets["full"]
    corr = {k.removeprefix("correctness__"): len(v) for k, v in sets.items() if k.startswith("correctness__")}
    return (f"Takeaway: {len(sets)} preference sets; the largest-gap set pairs {full['chosen_model'].iloc[0]} with "
            f"{full['rejected_model'].iloc[0]} on {len(full)} prompts, chosen correct in "
            f"{full['chosen_correct'].mean():.0%} and rejected correct in {full['rejected_correct'].mean():.0%} of "
            f"pairs; mean aggregate delta {full['delta_aggregate'].mean():+.2f}. Correctness-controlled sets: "
            + ", ".join(f"{k} {n}" for k, n in corr.items()) + " pairs.")


