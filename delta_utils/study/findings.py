"""The paper's claims tested on a run, and the diagnostics that say whether the run could test them.

    f = findings.findings(profile, t.records, t.traces, t.pairs)   # one row per comparison, with a verdict
    findings.findings_markdown(f)                                  # figures/<profile>/findings.md and 06_analyze
    findings.takeaway(profile, f, t.gains)                         # the paragraph drawn from those numbers

Claims are data, one `Claim` record each in `CLAIMS`: its text, its kind and the function that turns it into the
paired comparisons this profile's grid can make, or a row saying why it cannot; `evaluate_comparison` applies
the test the claim's kind calls for (superiority: exact McNemar / sign-flip, and for top-k vs random a
permutation of the run labels within each item; "nearly matches": Tango's score test for non-inferiority with a
stated margin; "matters less": equivalence, TOST of two score tests); `findings` corrects across the table
(Holm) and gives each row a verdict, supported / contradicted / inconclusive, or n/a when there is no data
(never "no").

Sidedness convention (also the caption of `findings_markdown`): every row has one two-sided p-value, twice the
smaller of its two one-sided p-values (for the claim, against it); the verdict follows the smaller side. So each
direction is tested one-sided at alpha/2, and the 95 % interval decides: supported when it lies on the claim's
side of the boundary (0, -margin, inside +-margin), contradicted when on the other side (for equivalence: wholly
beyond the margin). One Holm family: every row of the table with a p-value. Non-inferiority and equivalence get
a verdict only when their reference run (the full-data run) beats the base policy on the same items (assay
sensitivity); otherwise "inconclusive: the reference run did not move".
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..core import stats
from ..data.rubric import DIMENSION_NAMES
from ..profile.config import Profile
from ..profile.rundir import read_table
from ..stages import likelihood
from .tables import generator_gaps, item_scores, items_of, runs_table

# ---------------------------------------------------------------- diagnostics: can this run measure anything?

def diagnostics(profile: Profile, traces: pd.DataFrame, scores: pd.DataFrame, verifier: pd.DataFrame,
                records: pd.DataFrame, loglik: pd.DataFrame | None = None,
                heldout: pd.DataFrame | None = None) -> pd.DataFrame:
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
        # Clopper-Pearson, with the Korn-Graubard effective n when a generator has several samples per prompt
        lo, hi = stats.proportion_ci(t["correct"].astype(float), clusters=t["item_id"])
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
    j = j.merge(tr[["trace_id", "model", "item_id"]], on="trace_id", how="left")
    prompts = j["item_id"].fillna(j["trace_id"]).astype(str)  # traces of one prompt resample together
    if f"{dim}_mean" in j and dim in j:
        s = stats.spearman_ci(j[f"{dim}_mean"].to_numpy(dtype=float), j[dim].to_numpy(dtype=float),
                              clusters=prompts.to_numpy())
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
    if judge in set(tr["model"]) and "aggregate" in j and "aggregate_mean" in j:
        ok = j["model"].notna() & j["aggregate"].notna() & j["aggregate_mean"].notna()
        sp = self_preference(j.loc[ok, "aggregate_mean"], j.loc[ok, "aggregate"], j.loc[ok, "model"] == judge,
                             prompts[ok])
        add(f"judge self-preference: {judge}'s own traces minus others' (aggregate, verifier-adjusted)",
            sp["value"], sp["ci_low"], sp["ci_high"], "reported (a CI including 0 does not show its absence)", None,
            int(ok.sum()))
    n_items = records.query("model == 'base'")["item_id"].nunique() if len(records) else 0
    add("evaluation items (the policy's)", float(n_items), n=int(n_items))
    # what training did to the policy, before any comparison between runs (delta_utils/stages/likelihood.py)
    pref = likelihood.heldout_preference(heldout if heldout is not None else pd.DataFrame(), profile.train.hparams.beta)
    for r in pref.itertuples():
        add(f"held-out preference accuracy: {r.model}", r.accuracy, r.acc_low, r.acc_high,
            "CI above 0.5 (learned what it was trained on)", bool(r.acc_low > 0.5), int(r.n))
    for r in pref.itertuples():
        add(f"held-out implicit-reward margin (beta x log-ratio, chosen - rejected): {r.model}", r.margin,
            r.margin_low, r.margin_high, "reported", None, int(r.n))
    for r in likelihood.vs_base(loglik if loglik is not None else pd.DataFrame()).itertuples():
        add(f"reference-answer log-likelihood, run - base (nats per item): {r.model}", r.diff, r.ci_low, r.ci_high,
            "CI excluding 0 (training moved the policy)", bool(r.ci_low > 0 or r.ci_high < 0), int(r.n))
    return pd.DataFrame(rows)


def self_preference(judge: pd.Series, verifier: pd.Series, own: pd.Series, prompts: pd.Series,
                    n_boot: int = 2000, seed: int = 0) -> dict:
    """The judge's aggregate score beyond what the verifier's aggregate predicts (a least-squares line), on its
    own model's traces minus on the others'. 95 % CI: cluster bootstrap over prompts (a prompt's traces are
    resampled together), with the line refitted in every resample. NaN without own or other traces."""
    x, y = verifier.to_numpy(dtype=float), judge.to_numpy(dtype=float)
    mine = own.to_numpy(dtype=bool)

    def stat(rows: np.ndarray) -> float:
        xs, ys, ms = x[rows], y[rows], mine[rows]
        if ms.all() or not ms.any():
            return np.nan
        resid = ys - np.polyval(np.polyfit(xs, ys, 1), xs) if np.ptp(xs) > 0 else ys - ys.mean()
        return float(resid[ms].mean() - resid[~ms].mean())

    value = stat(np.arange(len(x)))
    if np.isnan(value):
        return {"value": np.nan, "ci_low": np.nan, "ci_high": np.nan}
    boots = stats.cluster_bootstrap(stat, prompts.to_numpy(), n_boot, seed)
    boots = boots[~np.isnan(boots)]
    return {"value": value, "ci_low": float(np.quantile(boots, 0.025)), "ci_high": float(np.quantile(boots, 0.975))}


def diagnostics_markdown(t: pd.DataFrame) -> str:
    lines = ["| quantity | value [95 % CI] | target | met | n |", "|---|---|---|---|---|"]
    for r in t.itertuples():
        count = r.quantity.startswith("evaluation items")
        if count:
            val = f"{r.value:.0f}"
        elif any(w in r.quantity for w in ("Spearman", "self-preference", "log-likelihood", "margin")):
            val = f"{r.value:+.3f}" + ("" if pd.isna(r.ci_low) else f" [{r.ci_low:+.3f}, {r.ci_high:+.3f}]")
        else:
            val = f"{r.value:.1%}" + ("" if pd.isna(r.ci_low) else f" [{r.ci_low:.1%}, {r.ci_high:.1%}]")
        lines.append(f"| {r.quantity} | {val} | {r.target} | {r.met} | {r.n} |")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- the paper's claims as data

@dataclass(frozen=True)
class Claim:
    """One claim of the paper, defined in one place: its text (with {pct}, {dim}, {Dim} filled in), the kind of
    test that can support it, and `compare(ctx)`, the comparisons that test it on a profile's runs (or rows saying
    why they cannot). The test, Holm's correction, the MDE and the verdict come from the shared loop."""

    text: str
    kind: str  # superiority, noninferiority or equivalence
    compare: Callable[[Grid], list[dict]]


@dataclass
class Grid:
    """What the claims' comparisons read: the profile, its trained runs (`runs_table`), per-item scores, the
    generator-level pairs and the generator gaps."""

    profile: Profile
    runs: pd.DataFrame
    items: pd.Series
    pairs: pd.DataFrame
    gaps: pd.Series

    @property
    def dim(self) -> str:
        return self.profile.pairing.dimension

    @property
    def fmt(self) -> dict:
        nice = self.dim.replace("_", " ")
        return {"dim": nice, "Dim": nice.capitalize()}

    def of(self, run: str, domain: str = "all") -> pd.Series:
        return items_of(self.items, run, domain)

    def base(self) -> pd.Series | None:
        return self.of("base") if "base" in set(self.items.index.get_level_values("model")) else None

    def topk_cells(self):
        """(method, fraction, fmt, the top-k run by the selection dimension or None): one per method that trains
        top-k runs and fraction (tiny: DPO at 50 %); a grid with none gives one cell that says so."""
        top = self.runs[self.runs["kind"] == "topk"]
        fractions = sorted(top[top["dimension"] == self.dim]["fraction"].unique()) or [None]
        for m in sorted(top["method"].unique()) or [""]:
            for f in fractions:
                fmt = {**self.fmt, "pct": "k" if f is None else f"{f:.0%}"}
                t = top[(top["method"] == m) & (top["dimension"] == self.dim) & (top["fraction"] == f)]
                yield m, f, fmt, (None if t.empty else t.iloc[0].run)


def _generator_gap(g: Grid) -> list[dict]:
    rows, gen = [], g.runs[g.runs["kind"] == "generator"]
    for m in sorted(g.runs["method"].unique()):
        gm = gen[gen["method"] == m].sort_values("gap")
        if len(gm) < 2:
            rows.append(_comparison("generator_gap", method=m, domain="out", note="needs two generator-level runs"))
        elif gm["gap"].iloc[-1] == gm["gap"].iloc[0]:
            rows.append(_comparison("generator_gap", method=m, domain="out", note="the chosen generators' measured "
                                    f"gaps are equal ({gm['gap'].iloc[0]:+.1%} on the training prompts)"))
        else:
            wide, narrow = gm.iloc[-1].run, gm.iloc[0].run
            rows.append(_comparison("generator_gap", g.of(wide, "out"), g.of(narrow, "out"),
                                    label=f"{wide} - {narrow}", method=m, domain="out"))
    return rows


def _delta_grows(g: Grid) -> list[dict]:
    gaps = g.gaps
    if len(gaps) < 2 or gaps.iloc[-1] == gaps.iloc[0]:
        return [_comparison("delta_grows", note="needs two chosen generators with different measured gaps")]
    per = g.pairs.set_index(["chosen_model", "prompt_id"])["delta_aggregate"].astype(float)
    return [_comparison("delta_grows", per.xs(gaps.index[-1]), per.xs(gaps.index[0]),
                        label=f"{gaps.index[-1]} - {gaps.index[0]} (per prompt)")]


def _topk_vs_random(g: Grid) -> list[dict]:
    rows = []
    for m, f, fmt, t in g.topk_cells():
        rnd = g.runs[(g.runs["kind"] == "random") & (g.runs["fraction"] == f) & (g.runs["method"] == m)]
        if t is None:
            rows.append(_comparison("topk_vs_random", method=m, note=f"no top-k run by {fmt['dim']}", **fmt))
        elif rnd.empty:
            rows.append(_comparison("topk_vs_random", method=m, note="no random run of that size", **fmt))
        else:
            # per item, the mean over the random draws: one paired test against the draws' average, the spread
            # over draws in the note
            draws = pd.concat([g.of(r).rename(r) for r in rnd["run"]], axis=1)
            per_draw = [float((g.of(t) - draws.iloc[:, i]).mean()) for i in range(draws.shape[1])]
            plural = "s" if len(per_draw) > 1 else ""
            spread = (f"{len(per_draw)} draw{plural}: effects " + ", ".join(f"{e:+.1%}" for e in per_draw)
                      + (f"; SD {np.std(per_draw, ddof=1):.1%}" if len(per_draw) > 1 else "; one draw, no spread"))
            rows.append(_comparison("topk_vs_random", g.of(t), draws.mean(axis=1), draws=draws,
                                    label=f"{t} - mean({', '.join(rnd['run'])})", method=m, note=spread, **fmt))
    return rows


def _topk_vs_full(g: Grid) -> list[dict]:
    rows = []
    for m, _, fmt, t in g.topk_cells():
        full = g.runs[g.runs["is_full"] & (g.runs["method"] == m)]
        if t is None:
            rows.append(_comparison("topk_vs_full", method=m, note=f"no top-k run by {fmt['dim']}", **fmt))
        elif full.empty:
            rows.append(_comparison("topk_vs_full", method=m, note="no full-data run", **fmt))
        else:
            ref = full.iloc[0].run
            rows.append(_comparison("topk_vs_full", g.of(t), g.of(ref), method=m, **fmt, label=f"{t} - {ref}",
                                    reference=ref, ref=g.of(ref), base=g.base()))
    return rows


def _best_dimension(g: Grid) -> list[dict]:
    rows, top = [], g.runs[g.runs["kind"] == "topk"]
    for m, f, fmt, t in g.topk_cells():
        others = top[(top["method"] == m) & (top["fraction"] == f) & (top["dimension"] != g.dim)]
        if t is None:
            rows.append(_comparison("best_dimension", method=m, note=f"no top-k run by {fmt['dim']}", **fmt))
        elif others.empty:
            rows.append(_comparison("best_dimension", method=m, note="no top-k run by another dimension", **fmt))
        else:
            best = max(others["run"], key=lambda r: g.of(r).mean())  # the strongest rival: a conservative test
            rows.append(_comparison("best_dimension", g.of(t), g.of(best), method=m, **fmt,
                                    label=f"{t} - {best} (best other dimension)"))
    return rows


def _correctness(g: Grid) -> list[dict]:
    rows, corr = [], g.runs[g.runs["kind"] == "correctness"]
    for m in sorted(corr["method"].unique()) or [""]:
        c = corr[corr["method"] == m].set_index("combination")
        full = g.runs[g.runs["is_full"] & (g.runs["method"] == m)]
        if {"c2w", "w2w"} <= set(c.index):
            # the assay: training on all pairs (the full-data run of this method) must move the policy
            ref = full.iloc[0].run if len(full) else ""
            rows.append(_comparison("correctness", g.of(c.loc["c2w", "run"]), g.of(c.loc["w2w", "run"]), method=m,
                                    label=f"{c.loc['c2w', 'run']} - {c.loc['w2w', 'run']}", reference=ref,
                                    ref=g.of(ref) if ref else None, base=g.base()))
        else:
            rows.append(_comparison("correctness", method=m, note="needs correctness__c2w and correctness__w2w runs"))
    return rows


CLAIMS: dict[str, Claim] = {  # the findings table's rows, in this order
    "generator_gap": Claim("Generator-level: a wider generator gap gives a larger out-of-domain gain", "superiority",
                           _generator_gap),
    "delta_grows": Claim("Sample-level: the judged delta (aggregate) grows with the generator gap", "superiority",
                         _delta_grows),
    "topk_vs_random": Claim("Top {pct} by {dim} beats random subsets of the same size", "superiority",
                            _topk_vs_random),
    "topk_vs_full": Claim("Top {pct} by {dim} nearly matches full data (non-inferior within the margin)",
                          "noninferiority", _topk_vs_full),
    "best_dimension": Claim("{Dim} is the best dimension to select by", "superiority", _best_dimension),
    "correctness": Claim("Correctness matters less than reasoning quality: correct->wrong and wrong->wrong chosen "
                         "train equally well (within the margin)", "equivalence", _correctness),
}


def _comparison(claim: str, a: pd.Series | None = None, b: pd.Series | None = None, *, label: str = "",
                method: str = "", domain: str = "all", note: str = "", draws: pd.DataFrame | None = None,
                reference: str = "", ref: pd.Series | None = None, base: pd.Series | None = None, **fmt) -> dict:
    """One row of the findings table before testing: the claim, what is compared (A - B, paired), or why not.
    `draws`: the random runs, one column each (top-k vs random); `reference`, `ref`, `base`: the run a
    non-inferiority or equivalence claim is measured against and its and the base policy's per-item scores."""
    c = CLAIMS[claim]
    return {"claim_id": claim, "claim": c.text.format(**fmt), "kind": c.kind, "comparison": label, "method": method,
            "domain": domain, "a": a, "b": b, "note": note, "draws": draws, "reference": reference, "ref": ref,
            "base": base}


def comparisons(profile: Profile, records: pd.DataFrame, traces: pd.DataFrame, pairs: pd.DataFrame) -> list[dict]:
    """Every claim of the paper (`CLAIMS`) as comparisons this profile's runs can make (`a` and `b` paired per
    item), or as a row saying why it cannot (`a` None, the reason in `note`)."""
    g = Grid(profile, runs_table(profile, traces), item_scores(records), pairs,
             generator_gaps(profile, traces).dropna().sort_values())
    return [row for claim in CLAIMS.values() for row in claim.compare(g)]


def evaluate_comparison(row: dict, margin: float, alpha: float) -> dict:
    """The test a claim's kind calls for, on one comparison: effect, its 95 % CI, the minimum detectable effect,
    and two one-sided p-values, `p_claim` (in the claim's direction) and `p_opposite` (against it).

    superiority: exact McNemar (0/1) or sign-flip (otherwise), one-sided each way; top-k vs random: the
    run-label permutation test over top-k and the random draws. non-inferiority: Tango score test of
    d > -margin, against d < -margin. equivalence: TOST of |d| < margin, against |d| > margin (``p_outside``).
    """
    if row["a"] is None:
        return {}
    r = stats.compare(row["a"], row["b"])
    out = {"effect": r["diff"], "ci_low": r["ci_low"], "ci_high": r["ci_high"], "n": r["n"], "mde": r["mde"]}
    if row["kind"] == "superiority":
        if row.get("draws") is not None:
            up = stats.runs_exchangeable_test(row["a"], row["draws"], "greater")
            down = stats.runs_exchangeable_test(row["a"], row["draws"], "less")
            return {**out, "test": up["method"], "p_claim": up["p_value"], "p_opposite": down["p_value"]}
        up, down = stats.paired_test(row["a"], row["b"], "greater"), stats.paired_test(row["a"], row["b"], "less")
        return {**out, "test": r["test"], "p_claim": up["p_value"], "p_opposite": down["p_value"]}
    if row["kind"] == "noninferiority":
        ni = stats.noninferiority(row["a"], row["b"], margin, alpha)
        return {**out, "test": f"{ni['method']} (margin {margin:.0%})", "p_claim": ni["p_value"],
                "p_opposite": stats.inferiority_p(row["a"], row["b"], margin)}
    eq = stats.equivalence(row["a"], row["b"], margin, alpha)
    return {**out, "test": f"{eq['method']} (margin ±{margin:.0%})", "p_claim": eq["p_value"],
            "p_opposite": eq["p_outside"]}


def assay(row: dict, alpha: float) -> dict:
    """Assay sensitivity of a non-inferiority or equivalence row: does its reference run beat the base policy on
    the same items (exact McNemar / sign-flip, two-sided p < alpha, effect > 0)? "Not worse than a run that did
    not move" says nothing. Empty for other kinds."""
    if row["kind"] not in ("noninferiority", "equivalence") or row["a"] is None:
        return {}
    if row.get("ref") is None or row.get("base") is None:
        return {"reference": row.get("reference", ""), "assay": "no reference run against the base policy",
                "moved": False}
    r = stats.compare(row["ref"], row["base"])
    moved = bool(r["p_value"] < alpha and r["diff"] > 0)
    text = f"{row['reference']} - base {r['diff']:+.1%} [{r['ci_low']:+.1%}, {r['ci_high']:+.1%}], p {r['p_value']:.3f}"
    return {"reference": row["reference"], "reference_effect": r["diff"], "reference_p": r["p_value"],
            "assay": text, "moved": moved}


NOT_MOVED = "the reference run did not move"


def findings(profile: Profile, records: pd.DataFrame, traces: pd.DataFrame, pairs: pd.DataFrame) -> pd.DataFrame:
    """Every claim, its test, one two-sided p-value per row with Holm's adjustment across the whole table, the
    minimum detectable effect and a verdict: supported / contradicted / inconclusive, or n/a when the profile
    has no data for it (never "no").

    Convention: p_value = min(1, 2 min(p_claim, p_opposite)) (``stats.two_sided``), i.e. each direction tested
    one-sided at alpha / 2; `side` says which one is smaller; the Holm family is every row with a p-value. A
    non-inferiority or equivalence row gets a verdict only when its reference run beat the base policy
    (``assay``); otherwise it reads "inconclusive: the reference run did not move" (it stays in the family).
    """
    a = profile.analysis
    rows = []
    for row in comparisons(profile, records, traces, pairs):
        res = evaluate_comparison(row, a.margin, a.alpha)
        drop = ("a", "b", "draws", "ref", "base")
        rows.append({**{k: v for k, v in row.items() if k not in drop}, "effect": np.nan, "ci_low": np.nan,
                     "ci_high": np.nan, "test": "", "p_claim": np.nan, "p_opposite": np.nan, "n": 0,
                     "mde": np.nan, "reference_effect": np.nan, "reference_p": np.nan, "assay": "", "moved": None,
                     **res, **assay(row, a.alpha)})
    f = pd.DataFrame(rows)
    both = [stats.two_sided(r.p_claim, r.p_opposite) for r in f.itertuples()]
    f["p_value"] = [p for p, _ in both]
    f["side"] = [side for _, side in both]
    f["p_holm"] = stats.holm(f["p_value"].to_numpy(dtype=float))
    f["verdict"] = [stats.verdict(r.p_holm, r.side, alpha=a.alpha) for r in f.itertuples()]
    gated = f["kind"].isin(["noninferiority", "equivalence"]) & f["p_value"].notna() & f["moved"].eq(False)
    f.loc[gated, "verdict"] = "inconclusive"
    f["gated"] = gated
    return f


CAPTION = ("p: two-sided, twice the smaller of the two one-sided p-values (for the claim and against it), so each "
           "direction is tested at alpha/2 and the verdict follows the smaller side; in brackets Holm's adjustment "
           "over every row of this table (one family). Effects in accuracy with Tango's 95 % score interval "
           "(judged points: percentile bootstrap). Beats: exact McNemar or sign-flip; top-k vs random: run labels "
           "permuted within items (H0: top-k is one more random draw); nearly matches: Tango score test, "
           "non-inferiority; matters less: TOST of Tango score tests, contradicted only by a significant "
           "difference beyond the margin. MDE: 80 % power of the exact McNemar test at the observed discordance. "
           "Non-inferiority and equivalence rows get a verdict only when their reference run beats the base "
           "policy (assay sensitivity); otherwise they read \"inconclusive: the reference run did not move\".")


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
        verdict = r.verdict
        if getattr(r, "gated", False):
            verdict += f": {NOT_MOVED} ({r.assay})"
        elif isinstance(getattr(r, "assay", ""), str) and r.assay and r.verdict != "n/a":
            verdict += f" (assay: {r.assay})"
        verdict += f": {r.note}" if r.note else ""
        lines.append(f"| {r.claim} | {r.comparison} | {str(r.method).upper()} | {r.domain} | {eff} | {r.test} | {p} "
                     f"| {mde} | {r.n} | {verdict} |")
    return "\n".join(lines) + "\n\n" + CAPTION + "\n"


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
