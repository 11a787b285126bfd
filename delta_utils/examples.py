"""What the tutorial notebooks 01-05 show: one concrete example per stage, the stage's figure, and the
takeaway sentence drawn from its numbers. Kept here, not in the notebooks, so the notebooks stay a
narrative and these choices are tested.

    ex = examples.generation_example(traces, problems)   # a problem and one trace per generator
    display(Markdown(examples.generation_markdown(ex)))
    print(examples.generate_takeaway(profile, ladder, traces))

Each `*_example` picks its example by a fixed, stated rule (so the same run shows the same example), and
each `*_markdown` renders it; model text goes in code blocks, so it reads as it was written.
"""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import seaborn as sns

from .config import Profile
from .plotting import Figure, canvas, empty
from .prefsets import SELECTION_DIMENSIONS
from .rubric import DIMENSION_NAMES, judge_messages


def _block(text: str) -> str:
    fence = "~~~~" if "```" in text else "```"
    return f"{fence}text\n{text.rstrip()}\n{fence}"


def _answer(pred) -> str:
    return "none" if pred is None or (isinstance(pred, float) and np.isnan(pred)) or pred == "" else f"`{pred}`"


def _pct(x) -> str:
    return "n/a" if x is None or pd.isna(x) else f"{x:.0%}"


# ---------------------------------------------------------------- 01 generate

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
        out.append(f"**{r.model}** — extracted answer {_answer(r.pred)} ({verdict}{cut}; "
                   f"{r.completion_tokens} tokens)\n\n" + _block(str(r.text)))
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
            f"{_pct(ladder.loc[rej, 'accuracy'])} of the prompts; the strongest, {best}, solves "
            f"{_pct(ladder.loc[best, 'accuracy'])}, a generator-level gap of "
            f"{ladder.loc[best, 'gap_vs_rejected']:+.0%}.")
    if cut is not None:
        text += (f" The most traces cut off at max_tokens: {cut} ({_pct(ladder.loc[cut, 'truncated'])}); a cut "
                 f"trace usually has no final answer and counts as wrong.")
    return text


# ---------------------------------------------------------------- 02 judge

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
    out += [f"**{m['role']}**\n\n" + _block(m["content"]) for m in ex["messages"]]
    out.append(f"**judge reply** (scoring: {ex['scoring']})\n\n" + _block(str(ex["raw"])))
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


# ---------------------------------------------------------------- 03 pair

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
        "**prompt (user)**\n\n" + _block(user),
        f"**chosen** — {ex['chosen_model']}, {ok(ex['chosen_correct'])}\n\n" + _block(ex["chosen"][0]["content"]),
        f"**rejected** — {ex['rejected_model']}, {ok(ex['rejected_correct'])}\n\n"
        + _block(ex["rejected"][0]["content"])])


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


# ---------------------------------------------------------------- 04 train

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


# ---------------------------------------------------------------- 05 evaluate

def prediction_example(records: pd.DataFrame, questions: dict[str, str]) -> dict:
    """One evaluation item, the first (by set and id) on which the policy checkpoints disagree, else the
    first: its question, the reference answer and each checkpoint's prediction (first sample)."""
    pol = records[(records["kind"] == "policy") & (records["sample"] == 0)]
    split = pol.groupby(["eval_set", "item_id"])["correct"].nunique()
    keys = sorted(split[split > 1].index) or sorted(split.index)
    eval_set, item = keys[0]
    rows = pol[(pol["eval_set"] == eval_set) & (pol["item_id"] == item)]
    rows = rows.reindex(columns=["model", "pred", "correct", "completion_tokens", "text"]).reset_index(drop=True)
    return {"eval_set": eval_set, "item_id": item, "question": questions.get(item, ""),
            "answer": pol[(pol["item_id"] == item)]["answer"].iloc[0], "predictions": rows,
            "disagree": bool(split.get((eval_set, item), 1) > 1)}


def prediction_markdown(ex: dict) -> str:
    why = "the first item the checkpoints disagree on" if ex["disagree"] else "the first item (all agree)"
    out = [f"**{ex['eval_set']} · `{ex['item_id']}`** ({why})\n\n" + _block(ex["question"])
           + f"\n\n**Reference answer:** {ex['answer']}"]
    for r in ex["predictions"].itertuples():
        out.append(f"**{r.model}** — answer {_answer(r.pred)} ({'correct' if r.correct else 'wrong'})\n\n"
                   + _block(str(r.text)))
    return "\n\n".join(out)


def evaluate_takeaway(summary: pd.DataFrame, diffs: pd.DataFrame, learned: pd.DataFrame | None = None) -> str:
    base = summary[summary["model"] == "base"]
    text = "Takeaway: "
    if learned is not None and len(learned):
        above = int((learned["acc_low"] > 0.5).sum())
        text += (f"{above} of {len(learned)} runs learned a preference that holds on held-out prompts (accuracy CI "
                 f"above 0.5; accuracies {learned['accuracy'].min():.0%} to {learned['accuracy'].max():.0%}); ")
    text += "base policy accuracy " + ", ".join(f"{r.eval_set} {r.accuracy:.0%}" for r in base.itertuples())
    if len(diffs):
        best = diffs.loc[diffs["diff"].idxmax()]
        text += (f"; the largest change is {best['model']} on {best['eval_set']}: {best['diff']:+.1%} "
                 f"[{best['ci_low']:+.1%}, {best['ci_high']:+.1%}], exact p {best['p_value']:.2f}, against a "
                 f"minimum detectable effect of {best['mde']:.1%}")
    return text + "."
