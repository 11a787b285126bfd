"""What notebook 04_train shows: its worked example, its figures and its takeaway sentence, drawn from its numbers
(the rules: delta_utils/study/examples/__init__.py)."""
from __future__ import annotations

import json

import pandas as pd
import seaborn as sns

from ...core.plotting import Figure, canvas, empty


def training_config(record: dict) -> pd.DataFrame:
    """One run's record (`run.json`) as a two-column table: what was trained, on what and how."""
    flat = {"run": record["run"]["name"], "method": record["run"]["method"],
            "preference set": record["run"]["preference_set"], "loss": record.get("loss_type"),
            "policy": record["policy"], "pairs": record["pairs"],
            **{f"hparams.{k}": json.dumps(v) if isinstance(v, dict) else v for k, v in record["hparams"].items()},
            "device / precision": f"{record['device']} / {record['precision']}", "steps": record["steps"],
            "wall s (s/step)": f"{record['wall_s']} ({record['s_per_step']})"}
    return pd.DataFrame({"value": [str(v) for v in flat.values()]}, index=pd.Index(list(flat), name="field"))


REWARD_SERIES = ["rewards/chosen", "rewards/rejected", "rewards/margins"]


def run_figure(logs: pd.DataFrame, run: str) -> Figure:
    """One run's curves from its `log.csv` (read the same whether it trained now or was cached): the loss, and
    the implicit rewards of chosen and rejected completions with their margin, per logged step."""
    one = logs[logs["run"] == run] if "run" in logs.columns else logs.iloc[0:0]
    one = one.dropna(subset=["loss"]) if "loss" in one.columns else one.iloc[0:0]
    rewards = [c for c in REWARD_SERIES if c in one.columns and one[c].notna().any()]
    fig, (ax_loss, ax_rew) = canvas(1, 2, figsize=(10, 3.4))
    if one.empty:
        empty(ax_loss, f"no training log for {run}")
        empty(ax_rew, "")
        return Figure(f"training_{run}", fig, one)
    ax_loss.plot(one["step"], one["loss"], marker="o", ms=3)
    ax_loss.set(title=f"{run}: loss", xlabel="step", ylabel="loss")
    for c in rewards:
        ax_rew.plot(one["step"], one[c], marker="o", ms=3, label=c.removeprefix("rewards/"))
    if rewards:
        ax_rew.axhline(0, color="grey", lw=0.8)
        ax_rew.legend(loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
        ax_rew.set(title=f"{run}: implicit rewards", xlabel="step", ylabel="reward")
    else:
        empty(ax_rew, "no rewards logged")
    return Figure(f"training_{run}", fig, one[["step", "loss", *rewards]].reset_index(drop=True))


def training_figure(logs: pd.DataFrame) -> Figure:
    """Loss and reward margin per logged step, one line per run."""
    metrics = [m for m in ["loss", "rewards/margins"] if m in logs.columns]
    fig, axes = canvas(1, max(1, len(metrics)), figsize=(5 * max(1, len(metrics)), 3.4), squeeze=False)
    if not metrics:
        empty(axes[0][0], "no training logs")
    for ax, m in zip(axes[0], metrics):
        sns.lineplot(data=logs.dropna(subset=[m]), x="step", y=m, hue="run", ax=ax)
        ax.set(title=m)
    return Figure("training", fig, logs)


def train_takeaway(done: pd.DataFrame) -> str:
    if done.empty:
        return "Takeaway: no run trained in this call."
    runs = f"{len(done)} run{'s' if len(done) != 1 else ''}"
    return (f"Takeaway: {runs}, {done['steps'].sum()} optimizer steps in {done['wall_s'].sum():.0f} s "
            f"({done['s_per_step'].mean():.1f} s/step on {done['device'].iloc[0]}); reference log-probs reused for "
            f"{int(done['ref_logps_reused'].fillna(0).sum())} rows, computed for "
            f"{int(done['ref_logps_computed'].fillna(0).sum())}.")


