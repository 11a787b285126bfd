"""Stage 6: the study's figures and findings table, each figure saved as PNG + PDF with the CSV of its numbers.

Figures go to ``figures/<profile>/<name>.{png,pdf,csv}`` under stable names (``FIGURES``); every one is
written on every profile, saying on its canvas when the profile trained no run of the kind it shows.
``findings.{csv,md}`` tests each claim of the paper on this profile's runs: the effect with its 95 % paired
bootstrap CI, the exact paired test the claim's kind calls for, Holm's correction across the table, the minimum
detectable effect and a verdict (supported / contradicted / inconclusive / n/a).
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
from . import stats  # noqa: E402
from .stats import bootstrap_ci, compare  # noqa: E402
from .rubric import DIMENSION_NAMES  # noqa: E402
from .stages import atomic_write_text, read_table, update_readme_block  # noqa: E402

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
    if m := re.fullmatch(r"random(\d+)(?:__draw(\d+))?", preference_set):
        return {"kind": "random", "fraction": int(m[1]) / 100, "draw": int(m[2] or 0)}
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
    cols = ["run", "method", "preference_set", "kind", "chosen_model", "fraction", "dimension", "draw", "combination",
            "gap", "is_full"]
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


# ---------------------------------------------------------------- diagnostics: can this run measure anything?

def diagnostics(profile: Profile, d: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """What decides whether the study's comparisons can see an effect at all, measured on this run, each with
    the target it should meet: the generators' accuracies and cut-off share, the gap between the chosen
    generators, the judge's agreement with the verifier, the share of top-k selections the tie-break chose,
    the judge's self-preference, and how many items the evaluation sets hold."""
    g, dim = profile.generation, profile.pairing.dimension
    tr = d["traces"]
    rows = []

    def add(quantity, value, low=np.nan, high=np.nan, target="", met=None, n=0):
        rows.append({"quantity": quantity, "value": value, "ci_low": low, "ci_high": high, "target": target,
                     "met": "" if met is None else ("yes" if met else "no"), "n": n})

    for m in g.generators:
        t = tr[tr["model"] == m]
        lo, hi = stats.bootstrap_ci(t["correct"].astype(float).to_numpy())
        add(f"accuracy on the training prompts: {m}", float(t["correct"].mean()), lo, hi, n=len(t))
        if "finish_reason" in t:
            cut = float((t["finish_reason"] == "length").mean())
            add(f"traces cut off at max_tokens: {m}", cut, target="<= 10 %", met=cut <= 0.10, n=len(t))
    chosen = [m for m in g.generators if m != g.rejected]
    acc = tr.groupby("model")["correct"].mean()
    if len(chosen) >= 2:
        wide, narrow = max(chosen, key=lambda m: acc.get(m, 0)), min(chosen, key=lambda m: acc.get(m, 0))
        per = tr[tr["sample"] == 0].pivot_table(index="item_id", columns="model", values="correct", aggfunc="mean")
        r = stats.compare(per[wide].astype(float), per[narrow].astype(float)) if wide != narrow else None
        if r is not None:
            add(f"gap between the chosen generators: {wide} - {narrow}", r["diff"], r["ci_low"], r["ci_high"],
                ">= 15 points, CI excluding 0", r["diff"] >= 0.15 and r["ci_low"] > 0, r["n"])
    ver = d["verifier"].assign(aggregate=d["verifier"][DIMENSION_NAMES].mean(axis=1))
    j = d["scores"].merge(ver, on="trace_id", suffixes=("", "_verifier"))
    if f"{dim}_mean" in j and dim in j:
        s = stats.spearman_ci(j[f"{dim}_mean"], j[dim])
        add(f"judge vs verifier Spearman: {dim}", s["rho"], s["ci_low"], s["ci_high"], ">= 0.3, CI above 0",
            bool(s["rho"] >= 0.3 and s["ci_low"] > 0), s["n"])
    card_path = profile.run_dir() / "03_pair" / "card.jsonl"
    if card_path.is_file():
        card = read_table(card_path)
        if "tie_share" in card:
            ties = card[card["set"].str.startswith("top") & card["tie_share"].notna()]
            if len(ties):
                worst = ties.loc[ties["tie_share"].idxmax()]
                add(f"largest tie share of a top-k selection ({worst['set']})", float(worst["tie_share"]),
                    target="<= 10 %", met=float(worst["tie_share"]) <= 0.10, n=int(worst["pairs"]))
    judge = profile.judge.model
    if judge in set(tr["model"]) and "aggregate" in j:
        # the judge's aggregate score beyond what the verifier's aggregate predicts, own traces vs others'
        jt = j.merge(tr[["trace_id", "model"]], on="trace_id")
        x, y = jt["aggregate"].astype(float), jt["aggregate_mean"].astype(float)
        resid = y - np.polyval(np.polyfit(x, y, 1), x) if x.nunique() > 1 else y - y.mean()
        own, other = resid[jt["model"] == judge], resid[jt["model"] != judge]
        diff = float(own.mean() - other.mean())
        rng = np.random.default_rng(0)
        boots = [rng.choice(own.to_numpy(), len(own)).mean() - rng.choice(other.to_numpy(), len(other)).mean()
                 for _ in range(2000)]
        add(f"judge self-preference: {judge}'s own traces minus others' (aggregate, verifier-adjusted)", diff,
            float(np.quantile(boots, 0.025)), float(np.quantile(boots, 0.975)),
            "reported (a CI including 0 does not show its absence)", None, len(jt))
    n_items = d["records"].query("model == 'base'")["item_id"].nunique() if len(d["records"]) else 0
    add("evaluation items (the policy's)", float(n_items), n=int(n_items))
    return pd.DataFrame(rows)


def diagnostics_markdown(t: pd.DataFrame) -> str:
    lines = ["| quantity | value [95 % CI] | target | met | n |", "|---|---|---|---|---|"]
    for r in t.itertuples():
        count = r.quantity.startswith("evaluation items")
        if count:
            val = f"{r.value:.0f}"
        elif "Spearman" in r.quantity or "self-preference" in r.quantity:
            val = f"{r.value:+.3f}" + ("" if pd.isna(r.ci_low) else f" [{r.ci_low:+.3f}, {r.ci_high:+.3f}]")
        else:
            val = f"{r.value:.1%}" + ("" if pd.isna(r.ci_low) else f" [{r.ci_low:.1%}, {r.ci_high:.1%}]")
        lines.append(f"| {r.quantity} | {val} | {r.target} | {r.met} | {r.n} |")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- findings: the paper's claims as data

CLAIMS = {  # claim id -> (the paper's claim, the kind of test that can support it)
    "generator_gap": ("Generator-level: a wider generator gap gives a larger out-of-domain gain", "superiority"),
    "delta_grows": ("Sample-level: the judged delta (aggregate) grows with the generator gap", "superiority"),
    "topk_vs_random": ("Top {pct} by {dim} beats random subsets of the same size", "superiority"),
    "topk_vs_full": ("Top {pct} by {dim} nearly matches full data (non-inferior within the margin)",
                     "noninferiority"),
    "best_dimension": ("{Dim} is the best dimension to select by", "superiority"),
    "correctness": ("Correctness matters less than reasoning quality: correct->wrong and wrong->wrong chosen "
                    "train equally well (within the margin)", "equivalence"),
}


def _comparison(claim: str, a: pd.Series | None = None, b: pd.Series | None = None, *, label: str = "",
                method: str = "", domain: str = "all", note: str = "", **fmt) -> dict:
    """One row of the findings table before testing: the claim, what is compared (A - B, paired), or why not."""
    text, kind = CLAIMS[claim]
    return {"claim_id": claim, "claim": text.format(**fmt), "kind": kind, "comparison": label, "method": method,
            "domain": domain, "a": a, "b": b, "note": note}


def comparisons(profile: Profile, records: pd.DataFrame, traces: pd.DataFrame, pairs: pd.DataFrame) -> list[dict]:
    """Every claim of the paper as comparisons this profile's runs can make (`a` and `b` paired per item),
    or as a row saying why it cannot (`a` None, the reason in `note`)."""
    items = item_scores(records)
    runs = runs_table(profile, traces)
    methods = sorted(runs["method"].unique())
    dim = profile.pairing.dimension
    nice = dim.replace("_", " ")

    def of(run, domain="all"):
        return _items_of(items, run, domain)

    rows = []
    gen = runs[runs["kind"] == "generator"]
    gaps = generator_gaps(profile, traces).dropna().sort_values()
    equal = len(gaps) >= 2 and gaps.iloc[-1] == gaps.iloc[0]
    for m in methods:
        gm = gen[gen["method"] == m].sort_values("gap")
        if len(gm) < 2:
            rows.append(_comparison("generator_gap", method=m, domain="out", note="needs two generator-level runs"))
        elif gm["gap"].iloc[-1] == gm["gap"].iloc[0]:
            rows.append(_comparison("generator_gap", method=m, domain="out", note="the chosen generators' measured "
                                    f"gaps are equal ({gm['gap'].iloc[0]:+.1%} on the training prompts)"))
        else:
            wide, narrow = gm.iloc[-1].run, gm.iloc[0].run
            rows.append(_comparison("generator_gap", of(wide, "out"), of(narrow, "out"), label=f"{wide} - {narrow}",
                                    method=m, domain="out"))
    if len(gaps) < 2 or equal:
        rows.append(_comparison("delta_grows", note="needs two chosen generators with different measured gaps"))
    else:
        per = pairs.set_index(["chosen_model", "prompt_id"])["delta_aggregate"].astype(float)
        rows.append(_comparison("delta_grows", per.xs(gaps.index[-1]), per.xs(gaps.index[0]),
                                label=f"{gaps.index[-1]} - {gaps.index[0]} (per prompt)"))
    top = runs[runs["kind"] == "topk"]
    fractions = sorted(top[top["dimension"] == dim]["fraction"].unique()) or [None]
    for m in methods:
        for f in fractions:
            pct = "k" if f is None else f"{f:.0%}"
            fmt = {"pct": pct, "dim": nice, "Dim": nice.capitalize()}
            t = top[(top["method"] == m) & (top["dimension"] == dim) & (top["fraction"] == f)]
            if t.empty:
                for c in ("topk_vs_random", "topk_vs_full", "best_dimension"):
                    rows.append(_comparison(c, method=m, note=f"no top-k run by {nice}", **fmt))
                continue
            t = t.iloc[0].run
            rnd = runs[(runs["kind"] == "random") & (runs["fraction"] == f) & (runs["method"] == m)]
            if rnd.empty:
                rows.append(_comparison("topk_vs_random", method=m, note="no random run of that size", **fmt))
            else:
                # per item, the mean over the random draws: one paired test against the draws' average,
                # the spread over draws in the note
                draws = pd.concat([of(r) for r in rnd["run"]], axis=1)
                per_draw = [float((of(t) - draws.iloc[:, i]).mean()) for i in range(draws.shape[1])]
                spread = (f"{len(per_draw)} draws: effects " + ", ".join(f"{e:+.1%}" for e in per_draw)
                          + (f"; SD {np.std(per_draw, ddof=1):.1%}" if len(per_draw) > 1 else "; one draw, no spread"))
                rows.append(_comparison("topk_vs_random", of(t), draws.mean(axis=1),
                                        label=f"{t} - mean({', '.join(rnd['run'])})", method=m, note=spread, **fmt))
            full = runs[runs["is_full"] & (runs["method"] == m)]
            if full.empty:
                rows.append(_comparison("topk_vs_full", method=m, note="no full-data run", **fmt))
            else:
                rows.append(_comparison("topk_vs_full", of(t), of(full.iloc[0].run), method=m, **fmt,
                                        label=f"{t} - {full.iloc[0].run}"))
            others = top[(top["method"] == m) & (top["fraction"] == f) & (top["dimension"] != dim)]
            if others.empty:
                rows.append(_comparison("best_dimension", method=m, note="no top-k run by another dimension", **fmt))
            else:
                best = max(others["run"], key=lambda r: of(r).mean())  # the strongest rival: a conservative test
                rows.append(_comparison("best_dimension", of(t), of(best), method=m, **fmt,
                                        label=f"{t} - {best} (best other dimension)"))
    corr = runs[runs["kind"] == "correctness"]
    for m in sorted(corr["method"].unique()) or [""]:
        c = corr[corr["method"] == m].set_index("combination")
        if {"c2w", "w2w"} <= set(c.index):
            rows.append(_comparison("correctness", of(c.loc["c2w", "run"]), of(c.loc["w2w", "run"]), method=m,
                                    label=f"{c.loc['c2w', 'run']} - {c.loc['w2w', 'run']}"))
        else:
            rows.append(_comparison("correctness", method=m, note="needs correctness__c2w and correctness__w2w runs"))
    return rows


def evaluate_comparison(row: dict, margin: float, alpha: float) -> dict:
    """The test a claim's kind calls for, on one comparison: effect, CI, p, and the p of the opposite claim."""
    if row["a"] is None:
        return {}
    r = stats.compare(row["a"], row["b"])
    out = {"effect": r["diff"], "ci_low": r["ci_low"], "ci_high": r["ci_high"], "n": r["n"], "mde": r["mde"]}
    if row["kind"] == "superiority":
        return {**out, "test": r["test"], "p_value": r["p_value"], "p_opposite": np.nan}
    if row["kind"] == "noninferiority":
        ni = stats.noninferiority(row["a"], row["b"], margin, alpha)
        return {**out, "test": f"{ni['method']} (margin {margin:.0%})", "p_value": ni["p_value"],
                "p_opposite": stats.inferiority_p(row["a"], row["b"], margin)}
    eq = stats.equivalence(row["a"], row["b"], margin, alpha)
    return {**out, "test": f"{eq['method']} (margin ±{margin:.0%})", "p_value": eq["p_value"],
            "p_opposite": r["p_value"]}


def findings(profile: Profile, records: pd.DataFrame, traces: pd.DataFrame, pairs: pd.DataFrame) -> pd.DataFrame:
    """Every claim, its test, Holm-adjusted p across the table, the minimum detectable effect and a verdict:
    supported / contradicted / inconclusive, or n/a when the profile has no data for it (never "no")."""
    a = profile.analysis
    rows = []
    for row in comparisons(profile, records, traces, pairs):
        res = evaluate_comparison(row, a.margin, a.alpha)
        rows.append({**{k: v for k, v in row.items() if k not in ("a", "b")}, "effect": np.nan, "ci_low": np.nan,
                     "ci_high": np.nan, "test": "", "p_value": np.nan, "p_opposite": np.nan, "n": 0,
                     "mde": np.nan, **res})
    f = pd.DataFrame(rows)
    f["p_holm"] = stats.holm(f["p_value"].to_numpy(dtype=float))
    f["p_opposite_holm"] = stats.holm(f["p_opposite"].to_numpy(dtype=float))
    f["verdict"] = [stats.verdict(r.kind, r.p_holm, r.effect, alpha=a.alpha,
                                  p_opposite=None if pd.isna(r.p_opposite_holm) else r.p_opposite_holm)
                    for r in f.itertuples()]
    return f


def findings_markdown(f: pd.DataFrame) -> str:
    def pct(x):
        return "" if pd.isna(x) else f"{x:+.1%}"

    lines = ["| claim (paper) | comparison | method | domain | effect [95 % CI] | test | p (Holm) | MDE | n | verdict |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in f.itertuples():
        per_prompt = r.claim_id == "delta_grows"  # judged points, not accuracy
        if pd.isna(r.effect):
            eff = ""
        elif per_prompt:
            eff = f"{r.effect:+.2f} [{r.ci_low:+.2f}, {r.ci_high:+.2f}]"
        else:
            eff = f"{pct(r.effect)} [{pct(r.ci_low)}, {pct(r.ci_high)}]"
        p = "" if pd.isna(r.p_value) else f"{r.p_value:.3f} ({r.p_holm:.3f})"
        mde = "" if pd.isna(r.mde) else (f"{r.mde:.2f}" if per_prompt else f"{r.mde:.1%}")
        verdict = r.verdict + (f": {r.note}" if r.note else "")
        lines.append(f"| {r.claim} | {r.comparison} | {str(r.method).upper()} | {r.domain} | {eff} | {r.test} | {p} "
                     f"| {mde} | {r.n} | {verdict} |")
    return "\n".join(lines) + "\n"


def takeaway(profile: Profile, f: pd.DataFrame, g: pd.DataFrame) -> str:
    """One paragraph from the findings and the gains: verdict counts, the detectable effect sizes, and the
    largest change over the base policy."""
    counts = f["verdict"].value_counts()
    n = {v: int(counts.get(v, 0)) for v in ("supported", "contradicted", "inconclusive", "n/a")}
    tested = f[f["verdict"] != "n/a"]
    acc = tested[tested["claim_id"] != "delta_grows"]["mde"].dropna()
    best = g[g["domain"] == "all"].sort_values("diff").iloc[-1] if len(g) else None
    text = (f"Takeaway: of {len(f)} comparisons on the {profile.name} profile, {n['supported']} support the paper's "
            f"claim, {n['contradicted']} contradict it, {n['inconclusive']} are inconclusive and {n['n/a']} have no "
            f"data (n/a), after Holm's correction at alpha {profile.analysis.alpha:g}.")
    if len(acc):
        text += (f" With these evaluation sets the smallest accuracy difference a comparison could detect "
                 f"(80 % power) is {acc.min():.1%} to {acc.max():.1%}; an inconclusive row rules out nothing smaller.")
    if best is not None:
        text += (f" The largest change over the base policy is {best['run']} ({best['diff']:+.1%} on all items, "
                 f"95 % CI [{best['ci_low']:+.1%}, {best['ci_high']:+.1%}], exact p {best['p_value']:.3f}).")
    return text


def update_readme(profile: Profile, md: str, readme: Path = REPO_ROOT / "README.md") -> bool:
    """The README's findings block for this profile (see `stages.update_readme_block`)."""
    return update_readme_block(f"findings:{profile.name}", md, readme)


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
    diag = diagnostics(profile, d)
    diag.to_csv(out / "diagnostics.csv", index=False)
    results = takeaway(profile, f, g) + "\n\n" + diagnostics_markdown(diag)
    atomic_write_text(out / "results.md", results)
    update_readme_block(f"results:{profile.name}", results)
    paths["findings"], paths["results"] = out / "findings.md", out / "results.md"
    return paths
