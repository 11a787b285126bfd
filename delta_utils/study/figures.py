"""The study's figures, one function each: `name(profile, t)` draws from the run's tables (`tables.load`)
and returns a `Figure`, which shows itself in a notebook and saves as PNG + PDF with the CSV of its numbers.

    t = tables.load(profile)
    fig = figures.generator_gains(profile, t)   # the last expression of a cell: drawn inline in Lab
    fig.save(figures.figures_dir(profile))      # generator_gains.{png,pdf,csv}

Every figure is drawn on every profile; when the profile trained no run of the kind a figure shows, its
canvas says so. The figures are matplotlib `Figure` objects (not pyplot's global state), so drawing one
changes nothing else and a notebook can restyle `fig.fig` before saving.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import seaborn as sns

from ..core.paths import figures_root
from ..core.plotting import Figure, canvas, empty
from ..core.stats import bootstrap_ci, proportion_ci
from ..data.prefsets import CORRECTNESS_CELLS, SELECTION_DIMENSIONS
from ..data.rubric import DIMENSION_NAMES
from ..profile.config import Profile
from ..serving.models import get_spec
from ..stages import likelihood
from ..stages.judge import agreement, self_consistency
from .examples.evaluate import learning_signal_figure
from .tables import RunTables


def figures_dir(profile: Profile) -> Path:
    """`figures/<profile>/` (or `$DELTA_LAB_FIGURES/<profile>/`)."""
    d = figures_root() / profile.name
    d.mkdir(parents=True, exist_ok=True)
    return d


def generator_ladder(profile: Profile, t: RunTables) -> Figure:
    """Accuracy of each trace writer on the training prompts (and on the eval sets when generators are evaluated)."""
    traces, summary = t.traces, t.summary
    train = traces.groupby("model")["correct"].mean().rename("accuracy").reset_index().assign(eval_set="train prompts")
    gens = summary[summary["kind"] == "generator"][["model", "eval_set", "accuracy"]]
    data = pd.concat([train, gens], ignore_index=True)
    order = sorted(data["model"].unique(), key=lambda m: get_spec(m).params_m)
    fig, ax = canvas(figsize=(7, 3.8))
    sns.barplot(data=data, x="model", y="accuracy", hue="eval_set", order=order, ax=ax)
    ax.set(ylim=(0, 1), xlabel="generator (by size)", ylabel="accuracy",
           title="Generator ladder: capability of each trace writer")
    return Figure("generator_ladder", fig, data)


def _errorbars(ax, d: pd.DataFrame, x: str, label: str, offset: float = 0.0, **kw) -> None:
    """Points with 95 % CIs; `offset` shifts the series sideways so that series at the same x stay visible."""
    ax.errorbar(d[x] + offset, d["diff"], yerr=[d["diff"] - d["ci_low"], d["ci_high"] - d["diff"]], capsize=3,
                marker="o", label=label, **kw)


def _offsets(n: int, span: float) -> list[float]:
    """Sideways shifts for n series sharing x positions, spread over `span` (in x units), centred on 0."""
    return [0.0] if n <= 1 else list(np.linspace(-span / 2, span / 2, n))


def _pad_single_x(ax, xs: pd.Series, pad: float = 0.1) -> None:
    """With one x position only, show `pad` either side of it (the sideways shifts would otherwise fill the axis)."""
    xs = xs.dropna()
    if xs.nunique() == 1:
        ax.set_xlim(float(xs.iloc[0]) - pad, float(xs.iloc[0]) + pad)


def _legend_outside(ax, **kw) -> None:
    """The legend right of the axes, off the data."""
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, frameon=False, **kw)


def generator_gains(profile: Profile, t: RunTables) -> Figure:
    """Each generator-level run's accuracy change over the base policy against its generator gap, per domain."""
    g = t.gains
    data = g[g["kind"] == "generator"].sort_values("gap")
    domains = [d for d in ["in", "out"] if d in set(g["domain"])] or ["all"]
    fig, axes = canvas(1, len(domains), figsize=(5 * len(domains), 3.9), squeeze=False, sharey=True)
    for ax, dom in zip(axes[0], domains):
        d = data[data["domain"] == dom]
        if d.empty:
            empty(ax, f"no generator-level runs in the {profile.name} grid")
            continue
        groups = list(d.groupby("method"))
        span = 0.05 * max(float(np.ptp(data["gap"])), 0.2)  # DPO and KTO of one generator share its gap
        for (method, dm), off in zip(groups, _offsets(len(groups), span)):
            _errorbars(ax, dm, "gap", method.upper(), offset=off)
        ax.axhline(0, color="grey", lw=0.8)
        _pad_single_x(ax, d["gap"])
        ax.set(title={"in": "in domain", "out": "out of domain"}.get(dom, "all items"),
               xlabel="generator gap (chosen - rejected\naccuracy on the training prompts)",
               ylabel="accuracy change over base (95 % CI)" if ax is axes[0][0] else "")
    if not data.empty:
        _legend_outside(axes[0][-1])
    fig.suptitle("Generator-level delta: does a wider capability gap teach more?")
    return Figure("generator_gains", fig, data)


def delta_by_dimension(profile: Profile, t: RunTables) -> Figure:
    """The judged delta (chosen - rejected) per dimension, one box per chosen generator."""
    long = t.pairs.melt(id_vars=["chosen_model", "prompt_id"], value_vars=[f"delta_{d}" for d in DIMENSION_NAMES],
                      var_name="dimension", value_name="delta")
    long["dimension"] = long["dimension"].str.removeprefix("delta_")
    fig, ax = canvas(figsize=(8, 4))
    sns.boxplot(data=long, x="dimension", y="delta", hue="chosen_model", ax=ax)
    ax.axhline(0, color="grey", lw=0.8)
    ax.set(title=f"Sample-level delta (chosen - {profile.generation.rejected}) per judged dimension",
           ylabel="judged delta")
    ax.tick_params(axis="x", rotation=20)
    return Figure("delta_by_dimension", fig, long)


def delta_vs_gap(profile: Profile, t: RunTables) -> Figure:
    """The mean judged delta per dimension against the generator gap (95 % bootstrap CI over pairs)."""
    gaps, rows = t.gaps, []
    for (model, dim), v in t.pairs.melt(id_vars=["chosen_model"], value_vars=[f"delta_{d}" for d in
                                                                           SELECTION_DIMENSIONS],
                                      var_name="dimension").groupby(["chosen_model", "dimension"]):
        vals = v["value"].dropna().to_numpy()
        lo, hi = bootstrap_ci(vals)
        rows.append({"chosen_model": model, "dimension": dim.removeprefix("delta_"), "gap": gaps.get(model),
                     "mean_delta": float(vals.mean()) if len(vals) else np.nan, "ci_low": lo, "ci_high": hi,
                     "pairs": len(vals)})
    data = pd.DataFrame(rows).sort_values(["dimension", "gap"])
    fig, ax = canvas(figsize=(7.5, 4))
    groups = list(data.groupby("dimension", sort=False))
    span = 0.2 * max(float(np.ptp(data["gap"].dropna())) if data["gap"].notna().any() else 0.0, 0.2)
    for (dim, d), off in zip(groups, _offsets(len(groups), span)):  # the dimensions share each generator's gap
        ax.errorbar(d["gap"] + off, d["mean_delta"], yerr=[d["mean_delta"] - d["ci_low"],
                                                           d["ci_high"] - d["mean_delta"]],
                    marker="o", capsize=3, label=dim, lw=2.2 if dim == "aggregate" else 1.2)
    ax.axhline(0, color="grey", lw=0.8)
    _pad_single_x(ax, data["gap"])
    ax.set(xlabel="generator gap (chosen - rejected accuracy, train prompts)", ylabel="mean judged delta (95 % CI)",
           title="Sample-level delta grows with the generator gap?")
    _legend_outside(ax, fontsize=8)
    return Figure("delta_vs_gap", fig, data)


def data_efficiency(profile: Profile, t: RunTables) -> Figure:
    """Accuracy change over base against the fraction of the pool kept: top-k vs random vs full."""
    g = t.gains
    d = g[(g["domain"] == "all") & (g["kind"].isin(["topk", "random"]) | g["is_full"])].copy()
    d = d[d["method"].isin(g[g["kind"].isin(["topk", "random"])]["method"])]  # methods with a selection
    d["fraction"] = d["fraction"].where(~d["is_full"], 1.0)
    # each random draw its own series ("random", "random draw 1", ...), side by side with the top-k ones
    d["selection"] = ["top-k " + str(r.dimension) if r.kind == "topk" else "full" if r.kind != "random"
                      else "random" if not r.draw else f"random draw {int(r.draw)}" for r in d.itertuples()]
    fig, ax = canvas(figsize=(7.5, 4))
    if d.empty or not (d["kind"].isin(["topk", "random"])).any():
        empty(ax, f"no top-k or random subset runs in the {profile.name} grid")
    else:
        full = d[d["selection"] == "full"]
        groups = list(d[d["selection"] != "full"].groupby(["selection", "method"]))
        for ((sel, method), s), off in zip(groups, _offsets(len(groups), 0.04)):  # side by side at each fraction
            s = s.sort_values("fraction")  # the full run is drawn once, in black, at 1.0
            _errorbars(ax, s, "fraction", f"{sel} ({method.upper()})", offset=off,
                       ls="--" if sel.startswith("random") else "-")
        for (method, f), marker in zip(full.groupby("method"), "sDv^"):
            ax.errorbar(f["fraction"], f["diff"], yerr=[f["diff"] - f["ci_low"], f["ci_high"] - f["diff"]],
                        marker=marker, color="black", capsize=3, ls="none", label=f"full ({method.upper()})")
        ax.axhline(0, color="grey", lw=0.8)
        ax.set(xlabel="fraction of the widest-gap pool kept", ylabel="accuracy change over base, all items (95 % CI)",
               title="Data efficiency: top-k by judged delta vs random vs full")
        _legend_outside(ax, fontsize=8)
    return Figure("data_efficiency", fig, d)


def _selection_fraction(g: pd.DataFrame) -> float | None:
    top = g[g["kind"] == "topk"]
    return None if top.empty else float(top.groupby("fraction")["run"].nunique().idxmax())


def dimension_selection(profile: Profile, t: RunTables) -> Figure:
    """At one kept fraction, the top-k run by each dimension next to random and full."""
    g = t.gains
    frac = _selection_fraction(g)
    a = g[g["domain"] == "all"]
    d = a[((a["kind"].isin(["topk", "random"])) & (a["fraction"] == frac)) | a["is_full"]].copy()
    d = d[d["method"].isin(a[a["kind"] == "topk"]["method"])]  # methods with a selection to compare
    # each random draw its own bar ("random", "random draw 1", ...): their spread is the noise a selection beats
    d["selection"] = [r.dimension if r.kind == "topk" else "full" if r.kind != "random"
                      else "random" if not r.draw else f"random draw {int(r.draw)}" for r in d.itertuples()]
    fig, ax = canvas(figsize=(7.5, 4))
    if frac is None:
        empty(ax, f"no top-k runs in the {profile.name} grid")
    else:
        draws = sorted({x for x in d["selection"] if x.startswith("random draw")}, key=lambda x: int(x.split()[-1]))
        order = [x for x in DIMENSION_NAMES + ["aggregate", "random", *draws, "full"] if x in set(d["selection"])]
        methods = sorted(d["method"].unique())
        w = 0.8 / len(methods)
        for i, m in enumerate(methods):
            dm = d[d["method"] == m].set_index("selection").reindex(order)
            x = np.arange(len(order)) + i * w
            ax.bar(x, dm["diff"], w, yerr=[dm["diff"] - dm["ci_low"], dm["ci_high"] - dm["diff"]], capsize=3,
                   label=m.upper())
        ax.set_xticks(np.arange(len(order)) + w * (len(methods) - 1) / 2, order, rotation=20, ha="right")
        ax.axhline(0, color="grey", lw=0.8)
        ax.set(ylabel="accuracy change over base (95 % CI)",
               title=f"Which dimension selects best? top {frac:.0%} by each vs random vs full")
        _legend_outside(ax)
    return Figure("dimension_selection", fig, d)


def correctness_ablation(profile: Profile, t: RunTables) -> Figure:
    """Accuracy after training on each correctness-controlled set, beside all pairs and the base policy."""
    summary_items, runs = t.items, t.runs
    corr = runs[runs["kind"] == "correctness"]
    full = runs[runs["is_full"]]
    rows = []
    for label, run in ([("base", "base")] + [(r.combination, r.run) for r in corr.itertuples()]
                       + [("all pairs", r.run) for r in full.itertuples()]):
        v = summary_items.xs(run, level="model").to_numpy()
        lo, hi = proportion_ci(v)  # per-item accuracies: Clopper-Pearson on 0/1, its effective-n form on avg@k
        method = runs.set_index("run")["method"].get(run, "-")
        rows.append({"condition": label, "run": run, "method": method, "accuracy": float(v.mean()), "ci_low": lo,
                     "ci_high": hi, "n_items": len(v)})
    data = pd.DataFrame(rows)
    fig, ax = canvas(figsize=(7, 4))
    if corr.empty:
        empty(ax, "no correctness-controlled runs: with one sample per generator and prompt no prompt offers all "
                   "four combinations (raise generation.sampling.n and add correctness__* runs to the grid)")
    else:
        order = {c: i for i, c in enumerate(["base"] + list(CORRECTNESS_CELLS) + ["all pairs"])}
        data = data.sort_values("condition", key=lambda s: s.map(order))
        labels = [f"{c}\n{m}" for c, m in zip(data["condition"], data["method"])]
        ax.bar(labels, data["accuracy"], yerr=[data["accuracy"] - data["ci_low"], data["ci_high"] - data["accuracy"]],
               capsize=3, color=["grey"] + ["C0"] * (len(data) - 1))
        ax.set(ylabel="accuracy, all items (95 % CI)",
               title="Correctness ablation: chosen->rejected correctness (c = correct, w = wrong)")
    return Figure("correctness_ablation", fig, data)


def judge_quality(profile: Profile, t: RunTables) -> Figure:
    """The judge's Spearman agreement with the verifier per dimension, and its spread across judge samples."""
    agree = agreement(t.scores, t.verifier, traces=t.traces).assign(measure="spearman vs verifier")
    cons = self_consistency(t.judgments)
    data = pd.concat([agree, cons.assign(measure="self-consistency")], ignore_index=True)
    fig, (a1, a2) = canvas(1, 2, figsize=(10, 3.8))
    a1.bar(agree["dimension"], agree["spearman"], yerr=[agree["spearman"] - agree["ci_low"],
                                                         agree["ci_high"] - agree["spearman"]], capsize=3)
    a1.axhline(0, color="grey", lw=0.8)
    a1.set(ylabel="Spearman rho (95 % CI)", title="Judge vs programmatic verifier")
    a1.tick_params(axis="x", rotation=25)
    if cons["mean_sd"].notna().any():
        a2.bar(cons["dimension"], cons["mean_sd"])
        a2.set(ylabel="mean SD across judge samples", title=f"Judge self-consistency (k = {profile.judge.samples})")
        a2.tick_params(axis="x", rotation=25)
    else:
        empty(a2, f"self-consistency needs k > 1 judge samples per trace (judge.samples = {profile.judge.samples})")
    return Figure("judge_quality", fig, data)


def training_curves(profile: Profile, t: RunTables) -> Figure:
    """Loss, reward margin and reward accuracy per logged step and run."""
    logs = t.logs
    metrics = [m for m in ["loss", "rewards/margins", "rewards/accuracies"] if m in logs.columns]
    fig, axes = canvas(1, max(1, len(metrics)), figsize=(4 * max(1, len(metrics)), 3.4), squeeze=False)
    if not metrics:
        empty(axes[0][0], "no training logs")
    runs = list(dict.fromkeys(logs["run"])) if "run" in logs else []
    palette = dict(zip(runs, sns.color_palette("husl", len(runs))))  # a colour of its own for every run
    for ax, m in zip(axes[0], metrics):
        d = logs.dropna(subset=[m])
        sns.lineplot(data=d, x="step", y=m, hue="run", hue_order=runs, palette=palette, style="method", ax=ax,
                     legend=ax is axes[0][-1])  # line style: DPO solid, KTO dashed
        ax.set(title=m)
    if metrics and runs:
        _legend_outside(axes[0][-1], fontsize=8)
    cols = ["run", "method", "preference_set", "step"] + metrics
    return Figure("training_curves", fig, logs.reindex(columns=cols))


def learning_signal(profile: Profile, t: RunTables) -> Figure:
    """05's `examples.learning_signal_figure` of this run's held-out pairs and reference-answer log-likelihoods."""
    return learning_signal_figure(likelihood.heldout_preference(t.heldout, profile.train.hparams.beta),
                                  likelihood.vs_base(t.loglik))


FIGURES = {f.__name__: f for f in [generator_ladder, generator_gains, delta_by_dimension, delta_vs_gap,
                                   data_efficiency, dimension_selection, correctness_ablation, judge_quality,
                                   training_curves, learning_signal]}
