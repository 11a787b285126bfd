"""Stage 6: the study's figures, each saved as PNG + PDF with the CSV of its numbers.

Figures go to ``figures/<profile>/<name>.{png,pdf,csv}`` under stable names.
"""
from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from .config import REPO_ROOT, Profile  # noqa: E402
from .rubric import DIMENSION_NAMES  # noqa: E402
from .stages import read_table  # noqa: E402

STAGE = "06_analyze"


def figures_dir(profile: Profile) -> Path:
    d = Path(os.environ.get("DELTA_LAB_FIGURES") or REPO_ROOT / "figures") / profile.name
    d.mkdir(parents=True, exist_ok=True)
    return d


def save(fig, data: pd.DataFrame, profile: Profile, name: str) -> Path:
    d = figures_dir(profile)
    fig.tight_layout()
    fig.savefig(d / f"{name}.png", dpi=150)
    fig.savefig(d / f"{name}.pdf")
    data.to_csv(d / f"{name}.csv", index=False)
    plt.close(fig)
    return d / f"{name}.png"


def load(profile: Profile) -> dict[str, pd.DataFrame]:
    r = profile.run_dir()
    return {"traces": read_table(r / "01_generate/traces.jsonl"),
            "scores": read_table(r / "02_judge/scores.jsonl"),
            "records": read_table(r / "05_evaluate/records.jsonl"),
            "summary": read_table(r / "05_evaluate/summary.jsonl")}


def generator_ladder(profile: Profile, traces: pd.DataFrame, summary: pd.DataFrame) -> Path:
    from .models import get_spec

    train = traces.groupby("model")["correct"].mean().rename("accuracy").reset_index().assign(eval_set="train prompts")
    gens = summary[summary["kind"] == "generator"][["model", "eval_set", "accuracy"]]
    data = pd.concat([train, gens], ignore_index=True)
    order = sorted(data["model"].unique(), key=lambda m: get_spec(m).params_m)
    fig, ax = plt.subplots(figsize=(7, 3.8))
    sns.barplot(data=data, x="model", y="accuracy", hue="eval_set", order=order, ax=ax)
    ax.set(ylim=(0, 1), xlabel="generator (by size)", ylabel="accuracy",
           title="Generator ladder: capability of each trace writer")
    return save(fig, data, profile, "generator_ladder")


def delta_by_dimension(profile: Profile, traces: pd.DataFrame, scores: pd.DataFrame) -> Path:
    from .pairing import build_pairs

    problems = read_table(profile.run_dir() / "01_generate/problems.jsonl")
    g = profile.generation
    frames = [build_pairs(traces, scores, problems, m, g.rejected) for m in g.generators if m != g.rejected]
    pairs = pd.concat(frames, ignore_index=True)
    long = pairs.melt(id_vars=["chosen_model", "prompt_id"], value_vars=[f"delta_{d}" for d in DIMENSION_NAMES],
                      var_name="dimension", value_name="delta")
    long["dimension"] = long["dimension"].str.removeprefix("delta_")
    fig, ax = plt.subplots(figsize=(8, 4))
    sns.boxplot(data=long, x="dimension", y="delta", hue="chosen_model", ax=ax)
    ax.axhline(0, color="grey", lw=0.8)
    ax.set(title=f"Sample-level delta (chosen - {g.rejected}) per judged dimension", ylabel="judged delta")
    ax.tick_params(axis="x", rotation=20)
    return save(fig, long, profile, "delta_by_dimension")


def eval_accuracy(profile: Profile, summary: pd.DataFrame) -> Path:
    pol = summary[summary["kind"] == "policy"].copy()
    fig, ax = plt.subplots(figsize=(8, 4))
    sets = list(pol["eval_set"].unique())
    models = list(pol["model"].unique())
    width = 0.8 / max(1, len(sets))
    for i, s in enumerate(sets):
        d = pol[pol["eval_set"] == s].set_index("model").reindex(models)
        x = [j + i * width for j in range(len(models))]
        ax.bar(x, d["accuracy"], width, label=s,
               yerr=[d["accuracy"] - d["ci_low"], d["ci_high"] - d["accuracy"]], capsize=3)
    ax.set_xticks([j + width * (len(sets) - 1) / 2 for j in range(len(models))], models, rotation=20, ha="right")
    ax.set(ylabel="accuracy (95 % bootstrap CI)", title="Policy accuracy: base vs trained runs")
    ax.legend()
    return save(fig, pol, profile, "eval_accuracy")


def training_curves(profile: Profile) -> Path | None:
    from .train import training_logs

    logs = training_logs(profile)
    if logs.empty:
        return None
    metrics = [m for m in ["loss", "rewards/margins", "rewards/accuracies"] if m in logs.columns]
    fig, axes = plt.subplots(1, len(metrics), figsize=(4 * len(metrics), 3.4), squeeze=False)
    for ax, m in zip(axes[0], metrics):
        d = logs.dropna(subset=[m])
        sns.lineplot(data=d, x="step", y=m, hue="run", ax=ax, legend=ax is axes[0][-1])
        ax.set(title=m)
    cols = ["run", "method", "preference_set", "step"] + metrics
    return save(fig, logs[[c for c in cols if c in logs.columns]], profile, "training_curves")


def run(profile: Profile) -> list[Path]:
    d = load(profile)
    paths = [generator_ladder(profile, d["traces"], d["summary"]),
             delta_by_dimension(profile, d["traces"], d["scores"]),
             eval_accuracy(profile, d["summary"]),
             training_curves(profile)]
    return [p for p in paths if p is not None]
