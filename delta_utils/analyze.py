"""Stage 6: the study's figures and findings table, each figure saved as PNG + PDF with the CSV of its numbers.

Figures go to ``figures/<profile>/<name>.{png,pdf,csv}`` under stable names (``FIGURES``); every one is
written on every profile, saying on its canvas when the profile trained no run of the kind it shows.
``findings.{csv,md}`` states each claim of the paper next to the effect measured here (95 % paired
bootstrap CI over evaluation items, two-sided p-value) and whether its direction agrees.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from .config import REPO_ROOT, Profile  # noqa: E402
from .stats import bootstrap_ci, compare  # noqa: E402
from .rubric import DIMENSION_NAMES  # noqa: E402
from .stages import atomic_write_text, read_table  # noqa: E402

STAGE = "06_analyze"
FIGURES = ["generator_ladder", "generator_gains", "delta_by_dimension", "delta_vs_gap", "data_efficiency",
           "dimension_selection", "correctness_ablation", "judge_quality", "training_curves"]
CORRECTNESS_ORDER = ["c2w", "c2c", "w2w", "w2c"]


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


def _empty(ax, msg: str) -> None:
    ax.text(0.5, 0.5, msg, ha="center", va="center", wrap=True, fontsize=9, color="dimgrey", transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])


def load(profile: Profile) -> dict[str, pd.DataFrame]:
    r = profile.run_dir()
    return {"traces": read_table(r / "01_generate/traces.jsonl"),
            "judgments": read_table(r / "02_judge/judgments.jsonl"),
            "scores": read_table(r / "02_judge/scores.jsonl"),
            "verifier": read_table(r / "02_judge/verifier.jsonl"),
            "records": read_table(r / "05_evaluate/records.jsonl"),
            "summary": read_table(r / "05_evaluate/summary.jsonl")}


# ---------------------------------------------------------------- runs and contrasts

def classify(preference_set: str) -> dict:
    """What a preference set is: generator-level, top-k, random, full or correctness-controlled."""
    if m := re.fullmatch(r"gen__(.+)", preference_set):
        return {"kind": "generator", "chosen_model": m[1]}
    if m := re.fullmatch(r"top(\d+)__(.+)", preference_set):
        return {"kind": "topk", "fraction": int(m[1]) / 100, "dimension": m[2]}
    if m := re.fullmatch(r"random(\d+)", preference_set):
        return {"kind": "random", "fraction": int(m[1]) / 100}
    if preference_set == "full":
        return {"kind": "full", "fraction": 1.0}
    if m := re.fullmatch(r"correctness__(.+)", preference_set):
        return {"kind": "correctness", "combination": m[1]}
    return {"kind": "other"}


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
    from .pairing import widest_generator

    gaps, widest = generator_gaps(profile, traces), widest_generator(profile, traces)
    rows = []
    for spec in profile.train.runs:
        c = classify(spec.preference_set)
        row = {"run": spec.name, "method": spec.method, "preference_set": spec.preference_set, **c,
               "gap": gaps.get(c.get("chosen_model"), np.nan),
               "is_full": c["kind"] == "full" or c.get("chosen_model") == widest}
        rows.append(row)
    cols = ["run", "method", "preference_set", "kind", "chosen_model", "fraction", "dimension", "combination", "gap",
            "is_full"]
    return pd.DataFrame(rows).reindex(columns=cols)


def item_scores(records: pd.DataFrame) -> pd.Series:
    """Per policy model and evaluation item: mean correctness (avg@k), indexed (model, domain, eval_set, item_id)."""
    pol = records[records["kind"] == "policy"]
    return pol.groupby(["model", "domain", "eval_set", "item_id"])["correct"].mean().astype(float)


def _items_of(items: pd.Series, model: str, domain: str) -> pd.Series:
    s = items.xs(model, level="model")
    if domain != "all":
        s = s[s.index.get_level_values("domain") == domain]
    return s.droplevel("domain")


def contrast(items: pd.Series, a: str, b: str, domain: str = "all", seed: int = 0) -> dict:
    """Model `a` minus model `b` on the same items (of one domain, or all): diff, 95 % CI, p-value, n."""
    return compare(_items_of(items, a, domain), _items_of(items, b, domain), seed=seed)


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


# ---------------------------------------------------------------- figures

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


def _errorbars(ax, d: pd.DataFrame, x: str, label: str, **kw) -> None:
    ax.errorbar(d[x], d["diff"], yerr=[d["diff"] - d["ci_low"], d["ci_high"] - d["diff"]], capsize=3,
                marker="o", label=label, **kw)


def generator_gains(profile: Profile, g: pd.DataFrame) -> Path:
    data = g[g["kind"] == "generator"].sort_values("gap")
    domains = [d for d in ["in", "out"] if d in set(g["domain"])] or ["all"]
    fig, axes = plt.subplots(1, len(domains), figsize=(4.6 * len(domains), 3.8), squeeze=False, sharey=True)
    for ax, dom in zip(axes[0], domains):
        d = data[data["domain"] == dom]
        if d.empty:
            _empty(ax, f"no generator-level runs in the {profile.name} grid")
            continue
        for method, dm in d.groupby("method"):
            _errorbars(ax, dm, "gap", method.upper())
        ax.axhline(0, color="grey", lw=0.8)
        ax.set(title={"in": "in domain", "out": "out of domain"}.get(dom, "all items"), xlabel="generator gap (chosen - rejected accuracy, train prompts)",
               ylabel="accuracy change over base (95 % CI)")
        ax.legend()
    fig.suptitle("Generator-level delta: does a wider capability gap teach more?")
    return save(fig, data, profile, "generator_gains")


def _gen_pairs(profile: Profile) -> pd.DataFrame:
    from .pairing import load_set

    g = profile.generation
    return pd.concat([load_set(profile, f"gen__{m}") for m in g.generators if m != g.rejected], ignore_index=True)


def delta_by_dimension(profile: Profile, pairs: pd.DataFrame) -> Path:
    long = pairs.melt(id_vars=["chosen_model", "prompt_id"], value_vars=[f"delta_{d}" for d in DIMENSION_NAMES],
                      var_name="dimension", value_name="delta")
    long["dimension"] = long["dimension"].str.removeprefix("delta_")
    fig, ax = plt.subplots(figsize=(8, 4))
    sns.boxplot(data=long, x="dimension", y="delta", hue="chosen_model", ax=ax)
    ax.axhline(0, color="grey", lw=0.8)
    ax.set(title=f"Sample-level delta (chosen - {profile.generation.rejected}) per judged dimension",
           ylabel="judged delta")
    ax.tick_params(axis="x", rotation=20)
    return save(fig, long, profile, "delta_by_dimension")


def delta_vs_gap(profile: Profile, pairs: pd.DataFrame, gaps: pd.Series) -> Path:
    rows = []
    for (model, dim), v in pairs.melt(id_vars=["chosen_model"], value_vars=[f"delta_{d}" for d in
                                                                           DIMENSION_NAMES + ["aggregate"]],
                                      var_name="dimension").groupby(["chosen_model", "dimension"]):
        vals = v["value"].dropna().to_numpy()
        lo, hi = bootstrap_ci(vals)
        rows.append({"chosen_model": model, "dimension": dim.removeprefix("delta_"), "gap": gaps.get(model),
                     "mean_delta": float(vals.mean()) if len(vals) else np.nan, "ci_low": lo, "ci_high": hi,
                     "pairs": len(vals)})
    data = pd.DataFrame(rows).sort_values(["dimension", "gap"])
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for dim, d in data.groupby("dimension", sort=False):
        ax.errorbar(d["gap"], d["mean_delta"], yerr=[d["mean_delta"] - d["ci_low"], d["ci_high"] - d["mean_delta"]],
                    marker="o", capsize=3, label=dim, lw=2.2 if dim == "aggregate" else 1.2)
    ax.axhline(0, color="grey", lw=0.8)
    ax.set(xlabel="generator gap (chosen - rejected accuracy, train prompts)", ylabel="mean judged delta (95 % CI)",
           title="Sample-level delta grows with the generator gap?")
    ax.legend(fontsize=8)
    return save(fig, data, profile, "delta_vs_gap")


def data_efficiency(profile: Profile, g: pd.DataFrame) -> Path:
    d = g[(g["domain"] == "all") & (g["kind"].isin(["topk", "random"]) | g["is_full"])].copy()
    d = d[d["method"].isin(g[g["kind"].isin(["topk", "random"])]["method"])]  # methods with a selection
    d["fraction"] = d["fraction"].where(~d["is_full"], 1.0)
    d["selection"] = np.where(d["kind"] == "topk", "top-k " + d["dimension"].astype(str),
                              np.where(d["kind"] == "random", "random", "full"))
    fig, ax = plt.subplots(figsize=(6.5, 4))
    if d.empty or not (d["kind"].isin(["topk", "random"])).any():
        _empty(ax, f"no top-k or random subset runs in the {profile.name} grid")
    else:
        full = d[d["selection"] == "full"]
        for (sel, method), s in d[d["selection"] != "full"].groupby(["selection", "method"]):
            s = pd.concat([s, full[full["method"] == method]]).sort_values("fraction")
            _errorbars(ax, s, "fraction", f"{sel} ({method.upper()})", ls="--" if sel == "random" else "-")
        for (method, f), marker in zip(full.groupby("method"), "sDv^"):
            ax.errorbar(f["fraction"], f["diff"], yerr=[f["diff"] - f["ci_low"], f["ci_high"] - f["diff"]],
                        marker=marker, color="black", capsize=3, ls="none", label=f"full ({method.upper()})")
        ax.axhline(0, color="grey", lw=0.8)
        ax.set(xlabel="fraction of the widest-gap pool kept", ylabel="accuracy change over base, all items (95 % CI)",
               title="Data efficiency: top-k by judged delta vs random vs full")
        ax.legend(fontsize=8)
    return save(fig, d, profile, "data_efficiency")


def _selection_fraction(g: pd.DataFrame) -> float | None:
    top = g[g["kind"] == "topk"]
    return None if top.empty else float(top.groupby("fraction")["run"].nunique().idxmax())


def dimension_selection(profile: Profile, g: pd.DataFrame) -> Path:
    frac = _selection_fraction(g)
    a = g[g["domain"] == "all"]
    d = a[((a["kind"].isin(["topk", "random"])) & (a["fraction"] == frac)) | a["is_full"]].copy()
    d = d[d["method"].isin(a[a["kind"] == "topk"]["method"])]  # methods with a selection to compare
    d["selection"] = np.where(d["kind"] == "topk", d["dimension"].astype(str),
                              np.where(d["kind"] == "random", "random", "full"))
    fig, ax = plt.subplots(figsize=(7.5, 4))
    if frac is None:
        _empty(ax, f"no top-k runs in the {profile.name} grid")
    else:
        order = [x for x in DIMENSION_NAMES + ["aggregate", "random", "full"] if x in set(d["selection"])]
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
        ax.legend()
    return save(fig, d, profile, "dimension_selection")


def correctness_ablation(profile: Profile, summary_items: pd.Series, runs: pd.DataFrame) -> Path:
    corr = runs[runs["kind"] == "correctness"]
    full = runs[runs["is_full"]]
    rows = []
    for label, run in ([("base", "base")] + [(r.combination, r.run) for r in corr.itertuples()]
                       + [("all pairs", r.run) for r in full.itertuples()]):
        v = summary_items.xs(run, level="model").to_numpy()
        lo, hi = bootstrap_ci(v)
        method = runs.set_index("run")["method"].get(run, "-")
        rows.append({"condition": label, "run": run, "method": method, "accuracy": float(v.mean()), "ci_low": lo,
                     "ci_high": hi, "n_items": len(v)})
    data = pd.DataFrame(rows)
    fig, ax = plt.subplots(figsize=(7, 4))
    if corr.empty:
        _empty(ax, "no correctness-controlled runs: with one sample per generator and prompt no prompt offers all "
                   "four combinations (raise generation.sampling.n and add correctness__* runs to the grid)")
    else:
        order = {c: i for i, c in enumerate(["base"] + CORRECTNESS_ORDER + ["all pairs"])}
        data = data.sort_values("condition", key=lambda s: s.map(order))
        labels = [f"{c}\n{m}" for c, m in zip(data["condition"], data["method"])]
        ax.bar(labels, data["accuracy"], yerr=[data["accuracy"] - data["ci_low"], data["ci_high"] - data["accuracy"]],
               capsize=3, color=["grey"] + ["C0"] * (len(data) - 1))
        ax.set(ylabel="accuracy, all items (95 % CI)",
               title="Correctness ablation: chosen->rejected correctness (c = correct, w = wrong)")
    return save(fig, data, profile, "correctness_ablation")


def judge_quality(profile: Profile, judgments: pd.DataFrame, scores: pd.DataFrame, verifier: pd.DataFrame) -> Path:
    from .judge import agreement, self_consistency

    agree = agreement(scores, verifier).assign(measure="spearman vs verifier")
    cons = self_consistency(judgments)
    data = pd.concat([agree, cons.assign(measure="self-consistency")], ignore_index=True)
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.8))
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
        _empty(a2, f"self-consistency needs k > 1 judge samples per trace (judge.samples = {profile.judge.samples})")
    return save(fig, data, profile, "judge_quality")


def training_curves(profile: Profile) -> Path:
    from .train import training_logs

    logs = training_logs(profile)
    metrics = [m for m in ["loss", "rewards/margins", "rewards/accuracies"] if m in logs.columns]
    fig, axes = plt.subplots(1, max(1, len(metrics)), figsize=(4 * max(1, len(metrics)), 3.4), squeeze=False)
    if not metrics:
        _empty(axes[0][0], "no training logs")
    for ax, m in zip(axes[0], metrics):
        d = logs.dropna(subset=[m])
        sns.lineplot(data=d, x="step", y=m, hue="run", ax=ax, legend=ax is axes[0][-1])
        ax.set(title=m)
    cols = ["run", "method", "preference_set", "step"] + metrics
    return save(fig, logs.reindex(columns=cols), profile, "training_curves")


# ---------------------------------------------------------------- findings

def _row(claim, comparison, res: dict | None, criterion: str, agrees, method="", domain="all", note="") -> dict:
    res = res or {}
    return {"claim": claim, "comparison": comparison, "method": method, "domain": domain,
            "effect": res.get("diff", np.nan), "ci_low": res.get("ci_low", np.nan),
            "ci_high": res.get("ci_high", np.nan), "p_value": res.get("p_value", np.nan), "n": res.get("n", 0),
            "criterion": criterion, "agrees": agrees if res else f"n/a: {note}"}


def findings(profile: Profile, records: pd.DataFrame, traces: pd.DataFrame, pairs: pd.DataFrame) -> pd.DataFrame:
    """Each claim of the paper, the effect measured on this profile, and whether its direction agrees."""
    items = item_scores(records)
    runs = runs_table(profile, traces)
    rows = []
    c1 = "Generator-level: a wider generator gap gives a larger out-of-domain gain"
    gen = runs[runs["kind"] == "generator"]
    for method in sorted(runs["method"].unique()):
        gm = gen[gen["method"] == method].sort_values("gap")
        if len(gm) >= 2 and gm["gap"].iloc[-1] == gm["gap"].iloc[0]:
            rows.append(_row(c1, "", None, "", "", method, "out", note=f"the chosen generators' measured gaps are "
                             f"equal ({gm['gap'].iloc[0]:+.1%} on the training prompts): no wider gap to compare"))
        elif len(gm) >= 2:
            wide, narrow = gm.iloc[-1], gm.iloc[0]
            r = contrast(items, wide.run, narrow.run, "out")
            rows.append(_row(c1, f"{wide.run} - {narrow.run}", r, "effect > 0", "yes" if r["diff"] > 0 else "no",
                             method, "out"))
        else:
            rows.append(_row(c1, "", None, "", "", method, "out", note="needs two generator-level runs"))
    c2 = "Sample-level: the judged delta (aggregate) grows with the generator gap"
    gaps = generator_gaps(profile, traces).dropna().sort_values()
    if len(gaps) >= 2 and gaps.iloc[-1] == gaps.iloc[0]:
        rows.append(_row(c2, "", None, "", "", note=f"the chosen generators' measured gaps are equal "
                         f"({gaps.iloc[0]:+.1%} on the training prompts)"))
    elif len(gaps) >= 2:
        per = pairs.set_index(["chosen_model", "prompt_id"])["delta_aggregate"].astype(float)
        r = paired_bootstrap(per.xs(gaps.index[-1]), per.xs(gaps.index[0]))
        rows.append(_row(c2, f"{gaps.index[-1]} - {gaps.index[0]} (paired by prompt)", r, "effect > 0",
                         "yes" if r["diff"] > 0 else "no"))
    else:
        rows.append(_row(c2, "", None, "", "", note="needs two chosen generators"))
    top = runs[runs["kind"] == "topk"]
    for method in sorted(runs["method"].unique()):
        for t in top[(top["method"] == method) & (top["dimension"] == "step_coherence")].itertuples():
            rnd = runs[(runs["kind"] == "random") & (runs["fraction"] == t.fraction) & (runs["method"] == method)]
            c3 = f"Top {t.fraction:.0%} by step coherence beats a random subset of the same size"
            if len(rnd):
                r = contrast(items, t.run, rnd.iloc[0].run)
                rows.append(_row(c3, f"{t.run} - {rnd.iloc[0].run}", r, "effect > 0",
                                 "yes" if r["diff"] > 0 else "no", method))
            else:
                rows.append(_row(c3, "", None, "", "", method, note="no random run of that size"))
            full = runs[runs["is_full"] & (runs["method"] == method)]
            c4 = f"Top {t.fraction:.0%} by step coherence nearly matches full data"
            if len(full):
                r = contrast(items, t.run, full.iloc[0].run)
                rows.append(_row(c4, f"{t.run} - {full.iloc[0].run}", r, "CI upper bound >= 0 (not detectably worse)",
                                 "yes" if r["ci_high"] >= 0 else "no", method))
            else:
                rows.append(_row(c4, "", None, "", "", method, note="no full-data run"))
            others = top[(top["method"] == method) & (top["fraction"] == t.fraction)
                         & (top["dimension"] != "step_coherence")]
            c5 = "Step coherence is the best dimension to select by"
            if len(others):
                best = max(others.itertuples(), key=lambda o: _items_of(items, o.run, "all").mean())
                r = contrast(items, t.run, best.run)
                rows.append(_row(c5, f"{t.run} - {best.run} (best other dimension)", r, "effect >= 0",
                                 "yes" if r["diff"] >= 0 else "no", method))
            else:
                rows.append(_row(c5, "", None, "", "", method, note="no top-k run by another dimension"))
    corr = runs[runs["kind"] == "correctness"].set_index("combination")
    c6 = "Correctness matters less than reasoning quality: correct->wrong vs wrong->wrong chosen"
    if {"c2w", "w2w"} <= set(corr.index):
        r = contrast(items, corr.loc["c2w", "run"], corr.loc["w2w", "run"])
        rows.append(_row(c6, f"{corr.loc['c2w', 'run']} - {corr.loc['w2w', 'run']}", r,
                         "p >= 0.05 (no detectable difference)", "yes" if r["p_value"] >= 0.05 else "no",
                         corr.loc["c2w", "method"]))
    else:
        rows.append(_row(c6, "", None, "", "", note="no correctness__c2w and correctness__w2w runs in the grid"))
    return pd.DataFrame(rows)


def findings_markdown(f: pd.DataFrame) -> str:
    def fmt(x, pct=True):
        return "" if pd.isna(x) else (f"{x:+.1%}" if pct else f"{x:.3f}")

    lines = ["| claim (paper) | comparison | method | domain | effect [95 % CI] | p | n | agrees |",
             "|---|---|---|---|---|---|---|---|"]
    for r in f.itertuples():
        pct = not r.claim.startswith("Sample-level")
        eff = "" if pd.isna(r.effect) else (f"{fmt(r.effect, pct)} [{fmt(r.ci_low, pct)}, {fmt(r.ci_high, pct)}]"
                                            if pct else f"{r.effect:+.2f} [{r.ci_low:+.2f}, {r.ci_high:+.2f}]")
        lines.append(f"| {r.claim} | {r.comparison} | {r.method.upper()} | {r.domain} | {eff} | "
                     f"{'' if pd.isna(r.p_value) else f'{r.p_value:.2f}'} | {r.n} | {r.agrees} |")
    return "\n".join(lines) + "\n"


def takeaway(profile: Profile, f: pd.DataFrame, g: pd.DataFrame) -> str:
    """One paragraph from the findings and the gains: how many testable claims agree, how many are significant,
    and the largest change over the base policy."""
    tested = f[~f["agrees"].astype(str).str.startswith("n/a")]
    agree, signif = int((tested["agrees"] == "yes").sum()), int((tested["p_value"] < 0.05).sum())
    best = g[g["domain"] == "all"].sort_values("diff").iloc[-1]
    return (f"Takeaway: of {len(tested)} claims testable on the {profile.name} profile, {agree} agree in direction and "
            f"{signif} reach p < 0.05. The largest change over the base policy is {best['run']} "
            f"({best['diff']:+.1%} on all items, 95 % CI [{best['ci_low']:+.1%}, {best['ci_high']:+.1%}]). "
            + ("At this scale effects are small and noisy: directions are suggestive, not evidence."
               if signif < len(tested) else "Every testable claim reaches p < 0.05 on this profile."))


def update_readme(profile: Profile, md: str, readme: Path = REPO_ROOT / "README.md") -> bool:
    """Replace the block between `<!-- findings:<profile> -->` and `<!-- /findings:<profile> -->` in the README.

    Only for the repository's own figures folder (not when DELTA_LAB_FIGURES points elsewhere, as in tests).
    """
    if os.environ.get("DELTA_LAB_FIGURES") or not readme.is_file():
        return False
    text = readme.read_text()
    start, end = f"<!-- findings:{profile.name} -->", f"<!-- /findings:{profile.name} -->"
    if start not in text or end not in text:
        return False
    head, rest = text.split(start, 1)
    new = head + start + "\n" + md + end + rest.split(end, 1)[1]
    if new != text:
        atomic_write_text(readme, new)
    return True


def run(profile: Profile) -> dict[str, Path]:
    d = load(profile)
    runs = runs_table(profile, d["traces"])
    g = gains(profile, d["records"], d["traces"])
    pairs = _gen_pairs(profile)
    items = item_scores(d["records"])
    paths = {"generator_ladder": generator_ladder(profile, d["traces"], d["summary"]),
             "generator_gains": generator_gains(profile, g),
             "delta_by_dimension": delta_by_dimension(profile, pairs),
             "delta_vs_gap": delta_vs_gap(profile, pairs, generator_gaps(profile, d["traces"])),
             "data_efficiency": data_efficiency(profile, g),
             "dimension_selection": dimension_selection(profile, g),
             "correctness_ablation": correctness_ablation(profile, items, runs),
             "judge_quality": judge_quality(profile, d["judgments"], d["scores"], d["verifier"]),
             "training_curves": training_curves(profile)}
    f = findings(profile, d["records"], d["traces"], pairs)
    out = figures_dir(profile)
    f.to_csv(out / "findings.csv", index=False)
    md = findings_markdown(f)
    atomic_write_text(out / "findings.md", md)
    update_readme(profile, md)
    g.to_csv(out / "gains.csv", index=False)
    paths["findings"] = out / "findings.md"
    return paths
