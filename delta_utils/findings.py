"""The paper's claims tested on a run, and the diagnostics that say whether the run could test them.

    f = findings.findings(profile, t.records, t.traces, t.pairs)   # one row per comparison, with a verdict
    findings.findings_markdown(f)                                  # the table in the README and 06_analyze
    findings.takeaway(profile, f, t.gains)                         # the paragraph drawn from those numbers

Claims are data (`CLAIMS`): `comparisons` turns each into the paired comparisons this profile's grid can
make, or a row saying why it cannot; `evaluate_comparison` applies the test the claim's kind calls for
(superiority: exact McNemar / sign-flip; "nearly matches": non-inferiority with a stated margin; "matters
less": equivalence, TOST); `findings` corrects across the table (Holm) and gives each row a verdict,
supported / contradicted / inconclusive, or n/a when there is no data (never "no").
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from . import stats
from .config import Profile
from .rubric import DIMENSION_NAMES
from .stages import read_table
from .tables import generator_gaps, item_scores, items_of, runs_table

# ---------------------------------------------------------------- diagnostics: can this run measure anything?

def diagnostics(profile: Profile, traces: pd.DataFrame, scores: pd.DataFrame, verifier: pd.DataFrame,
                records: pd.DataFrame) -> pd.DataFrame:
    """What decides whether the study's comparisons can see an effect at all, measured on this run, each with
    the target it should meet: the generators' accuracies and cut-off share, the gap between the chosen
    generators, the judge's agreement with the verifier, the share of top-k selections the tie-break chose,
    the judge's self-preference, and how many items the evaluation sets hold."""
    g, dim = profile.generation, profile.pairing.dimension
    tr = traces
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
        # each generator's accuracy on a prompt over all its samples (the correctness generator has several)
        per = tr.pivot_table(index="item_id", columns="model", values="correct", aggfunc="mean")
        r = stats.compare(per[wide].astype(float), per[narrow].astype(float)) if wide != narrow else None
        if r is not None:
            add(f"gap between the chosen generators: {wide} - {narrow}", r["diff"], r["ci_low"], r["ci_high"],
                ">= 15 points, CI excluding 0", r["diff"] >= 0.15 and r["ci_low"] > 0, r["n"])
    ver = verifier.assign(aggregate=verifier[DIMENSION_NAMES].mean(axis=1))
    j = scores.merge(ver, on="trace_id", suffixes=("", "_verifier"))
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
    n_items = records.query("model == 'base'")["item_id"].nunique() if len(records) else 0
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


# ---------------------------------------------------------------- the paper's claims as data

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
        return items_of(items, run, domain)

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
    # the selection claims are tested with each method the grid trains top-k runs with (tiny: DPO only); a
    # grid with none has one n/a row per claim
    for m in sorted(top["method"].unique()) or [""]:
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
                plural = "s" if len(per_draw) > 1 else ""
                spread = (f"{len(per_draw)} draw{plural}: effects " + ", ".join(f"{e:+.1%}" for e in per_draw)
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

    lines = ["| claim (paper) | comparison | method | domain | effect [95 % CI] | test | p (Holm) | MDE | n "
             "| verdict |",
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
    def count(verdict: str, one: str, many: str) -> str:
        return f"{n[verdict]} {one if n[verdict] == 1 else many}"

    text = (f"Takeaway: of {len(f)} comparisons on the {profile.name} profile, "
            f"{count('supported', 'supports', 'support')} the paper's claim, "
            f"{count('contradicted', 'contradicts', 'contradict')} it, {count('inconclusive', 'is', 'are')} "
            f"inconclusive and {count('n/a', 'has', 'have')} no data (n/a), after Holm's correction at alpha "
            f"{profile.analysis.alpha:g}.")
    if len(acc):
        text += (f" With these evaluation sets the smallest accuracy difference a comparison could detect "
                 f"(80 % power) is {acc.min():.1%} to {acc.max():.1%}; an inconclusive row rules out nothing smaller.")
    if best is not None:
        text += (f" The largest change over the base policy is {best['run']} ({best['diff']:+.1%} on all items, "
                 f"95 % CI [{best['ci_low']:+.1%}, {best['ci_high']:+.1%}], exact p {best['p_value']:.3f}).")
    return text
