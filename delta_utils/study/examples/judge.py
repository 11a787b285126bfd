"""What notebook 02_judge shows: its worked example, its figures and its takeaway sentence, drawn from its numbers
(the rules: delta_utils/study/examples/__init__.py)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import seaborn as sns

from ...core.plotting import Figure, canvas, empty
from ...data.rubric import DIMENSION_NAMES, judge_messages
from ...profile.config import Profile
from .text import block


def judge_example(judgments: pd.DataFrame, traces: pd.DataFrame, problems: pd.DataFrame,
                  verifier: pd.DataFrame) -> dict:
    """The judge's view of one trace, the first judged (sample 0) of the first prompt's strongest
    disagreement between the judge's aggregate and the verifier's, else the first judged trace: the prompt
    the judge saw, its raw reply and, per dimension, its scores beside the verifier's."""
    ok = judgments[(judgments["status"] == "ok") & (judgments["sample"] == 0)]
    ver = verifier.set_index("trace_id")
    both = ok[ok["trace_id"].isin(ver.index)]
    if both.empty:
        both = ok
    gap = (both[DIMENSION_NAMES].mean(axis=1) - ver.reindex(both["trace_id"])[DIMENSION_NAMES].mean(axis=1).to_numpy())
    one = both.loc[gap.abs().idxmax()] if gap.notna().any() else both.iloc[0]
    trace = traces.set_index("trace_id").loc[one["trace_id"]]
    question = problems.set_index("id").loc[trace["item_id"], "question"]
    table = pd.DataFrame({"judge (expected)": [one[d] for d in DIMENSION_NAMES],
                          "judge (sampled)": [one.get(f"{d}_sampled", one[d]) for d in DIMENSION_NAMES],
                          "verifier": ver.reindex([one["trace_id"]])[DIMENSION_NAMES].iloc[0].tolist()},
                         index=pd.Index(DIMENSION_NAMES, name="dimension"))
    return {"trace_id": one["trace_id"], "model": trace["model"], "correct": bool(trace["correct"]),
            "messages": judge_messages(question, trace["text"]), "raw": one["raw"], "scoring": one["scoring"],
            "scores": table}


def judge_markdown(ex: dict) -> str:
    out = [f"**Trace `{ex['trace_id']}`** by {ex['model']} ({'correct' if ex['correct'] else 'wrong'} final answer), "
           f"the one where the judge and the verifier disagree most."]
    out += [f"**{m['role']}**\n\n" + block(m["content"]) for m in ex["messages"]]
    out.append(f"**judge reply** (scoring: {ex['scoring']})\n\n" + block(str(ex["raw"])))
    return "\n\n".join(out)


DISAGREEMENT_POINTS = 1.0  # a mean gap (on the 1-5 scale) beyond which the example is read as a disagreement


def judge_disagreement(ex: dict) -> str:
    """What the example's judge-verifier gap teaches, in words drawn from its own scores (`judge_example`):
    which side scores higher, by how much on average and where most, and what that says about the judge."""
    t = ex["scores"]
    both = t[t["verifier"].notna()]
    if both.empty:
        return ("**Reading it.** The verifier has no score for this trace (its problem carries no known "
                "intermediate results), so there is nothing to check the judge against here.")
    judge_mean, ver_mean = both["judge (expected)"].mean(), both["verifier"].mean()
    gap = both["judge (expected)"] - both["verifier"]
    dim = gap.abs().idxmax()
    where = (f"most on {dim.replace('_', ' ')} ({both.loc[dim, 'judge (expected)']:.2f} against "
             f"{both.loc[dim, 'verifier']:.2f})")
    answer = "right" if ex["correct"] else "wrong"
    head = (f"**Reading it.** The judge gives this trace {judge_mean:.2f} out of 5 on average, the verifier "
            f"{ver_mean:.2f}, {where}; its final answer is {answer}.")
    if judge_mean - ver_mean > DISAGREEMENT_POINTS:
        lesson = (" The judge scored what the trace looks like, not what it computes: the verifier found the "
                  "problem's numbers, steps or results missing or wrong, and the judge rewarded it anyway"
                  + (", for a wrong answer" if not ex["correct"] else "") + ". A judge this lenient on a trace "
                  "the verifier fails is why its scores are checked against the verifier below, and why a "
                  "sample-level delta built on them should be read beside the verifier's.")
    elif ver_mean - judge_mean > DISAGREEMENT_POINTS:
        lesson = (" Here the judge is the stricter one: the verifier only counts what it can parse (numbers, "
                  "expressions, known intermediate results), so a trace can pass its checks while the judge "
                  "finds the reasoning poor" + (", even with a right answer" if ex["correct"] else "") + ". Neither "
                  "score is the truth; the agreement below shows how often they part like this.")
    else:
        lesson = (f" Even on the trace where they disagree most, the two stay within {DISAGREEMENT_POINTS:.0f} "
                  "point on average: on these traces the judge tracks what the verifier checks.")
    return head + lesson


def scores_figure(profile: Profile, traces: pd.DataFrame, scores: pd.DataFrame) -> Figure:
    """Mean judged score per dimension and generator."""
    long = traces.merge(scores, on="trace_id").melt(
        id_vars=["model"], value_vars=[f"{d}_mean" for d in DIMENSION_NAMES], var_name="dimension", value_name="score")
    long["dimension"] = long["dimension"].str.removesuffix("_mean")
    fig, ax = canvas(figsize=(9, 3.8))
    sns.barplot(data=long, x="dimension", y="score", hue="model", ax=ax)
    ax.set(ylim=(1, 5), title=f"mean judged score per dimension ({profile.judge.model} as judge)")
    ax.tick_params(axis="x", rotation=15)
    return Figure("judged_scores", fig, long)


def _points(table: pd.DataFrame, x: str, y: str, ref: float, ylabel: str, title: str, name: str) -> Figure:
    fig, ax = canvas(figsize=(7, 3))
    if table.empty or table[y].isna().all():
        empty(ax, "nothing to show")
    else:
        ax.errorbar(table[x], table[y], yerr=[table[y] - table["ci_low"], table["ci_high"] - table[y]], fmt="o",
                    capsize=4)
        ax.axhline(ref, color="grey", lw=0.8)
        ax.set(ylim=(-1, 1) if ref == 0 else (0, 1), ylabel=ylabel, title=title)
        ax.tick_params(axis="x", rotation=15)
    return Figure(name, fig, table)


def agreement_figure(agree: pd.DataFrame) -> Figure:
    """Spearman's rho between the judge and the verifier per dimension (95 % CI); 0 is no agreement."""
    return _points(agree, "dimension", "spearman", 0.0, "Spearman rho", "judge vs programmatic verifier",
                   "judge_agreement")


def validation_figure(validation: pd.DataFrame, judge_model: str) -> Figure:
    """AUC per dimension for telling correct from incorrect labelled solutions (DeLong 95 % CI); 0.5 is chance."""
    return _points(validation, "dimension", "auc", 0.5, "AUC (correct vs incorrect)",
                   f"{judge_model} on labelled solutions", "judge_validation")


def judge_takeaway(summary: dict, traces: pd.DataFrame, scores: pd.DataFrame, agree: pd.DataFrame,
                   validation: pd.DataFrame | None) -> str:
    by_correct = traces.merge(scores, on="trace_id").groupby("correct")["aggregate_mean"].mean()
    text = (f"Takeaway: {len(scores)} traces judged in {summary['judge_calls']} calls, parse-failure rate "
            f"{summary['parse_failure_rate']:.1%}. Correct traces average {by_correct.get(True, np.nan):.2f} on the "
            f"aggregate, incorrect ones {by_correct.get(False, np.nan):.2f}.")
    if agree["spearman"].notna().any():
        best = agree.loc[agree["spearman"].idxmax()]
        text += (f" Best judge-verifier agreement: {best['dimension']} (rho {best['spearman']:.2f}, 95 % CI "
                 f"{best['ci_low']:.2f} to {best['ci_high']:.2f}).")
    else:
        text += " Judge-verifier agreement: n/a (no variation to rank)."
    if validation is not None and len(validation):
        agg = validation.set_index("dimension").loc["aggregate"]
        verdict = ("better than chance" if agg["ci_low"] > 0.5 else
                   "worse than chance" if agg["ci_high"] < 0.5 else "not distinguishable from chance")
        text += (f" On {int(agg['judged'])} labelled real solutions the aggregate's AUC for telling right from wrong "
                 f"is {agg['auc']:.2f} (95 % CI {agg['ci_low']:.2f}-{agg['ci_high']:.2f}): {verdict}.")
    return text


