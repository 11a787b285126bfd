# %% [markdown]
# # 05 · Evaluate: base policy, trained checkpoints and generators
#
# **In the study.** Each trained policy is compared with the base policy on held-out problems,
# item by item, so that differences can be tested with a paired bootstrap. Generators are measured
# on the same sets when the profile asks (their capability).
#
# **Reads:** the trained runs, the policy, the profile's eval sets (procedural, disjoint seeds).
# **Writes:** `runs/<profile>/05_evaluate/records.jsonl` (model, item, prediction, correct) and
# `summary.jsonl` (accuracy with a 95 % bootstrap CI). Answers are cached per (model, item, decoding).
#
# **Parameters:** `profile`.

# %% tags=["parameters"]
profile = "tiny"

# %%
from delta_utils import evaluate
from delta_utils.config import load_profile

prof = load_profile(profile)
records = evaluate.run(prof)
summary = evaluate.summarize(records)
summary[["model", "kind", "eval_set", "n_items", "accuracy", "ci_low", "ci_high"]]

# %%
diffs = evaluate.vs_base(records)
diffs

# %% [markdown]
# **Table.** Accuracy difference of each trained run against the base policy on the same items, with
# a 95 % paired-bootstrap CI and p-value. An interval that spans 0 means no detectable change at
# this sample size.

# %%
best = diffs.loc[diffs["diff"].idxmax()] if len(diffs) else None
base = summary[(summary.model == "base")]
print("Takeaway: base policy accuracy " + ", ".join(f"{r.eval_set} {r.accuracy:.0%}" for r in base.itertuples())
      + (f"; the largest change is {best['model']} on {best['eval_set']}: {best['diff']:+.1%} "
         f"[{best['ci_low']:+.1%}, {best['ci_high']:+.1%}], p={best['p_value']:.2f}." if best is not None else "."))
