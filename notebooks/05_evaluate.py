# %% [markdown]
# # 05 · Evaluate: base policy, trained checkpoints and generators
#
# **In the study.** Each trained policy is compared with the base policy on held-out problems,
# item by item, so that differences are tested on paired outcomes. The study's central
# finding lives in the out-of-domain column: in-domain sets are math word problems like the
# training prompts; out-of-domain sets are STEM problems (units, rates, kinematics, chemistry,
# probability) and code (predicting a program's output; HumanEval run in the sandbox). Generators
# are measured on the same sets when the profile asks (their capability). Sets with k samples per
# item report avg@k.
#
# **Engine.** `evaluate.backend: hf` (the CPU default) runs each checkpoint in-process with
# transformers; `vllm` serves each checkpoint with `vllm serve` (a LoRA adapter on top of the base
# policy) and queries it over the OpenAI protocol, through the same cache as generation.
#
# **Reads:** the trained runs, the policy, the profile's eval sets (procedural ones leave out every
# training question, or real benchmarks from the hub or a local file).
# **Writes:** `runs/<profile>/05_evaluate/records.jsonl` (model, item, prediction, correct) and
# `summary.jsonl` (accuracy with a 95 % Clopper–Pearson CI). Answers are cached per (model, item, decoding).
#
# **Parameters:** `profile`.

# %% tags=["parameters"]
profile = "tiny"

# %%
from delta_utils import quiet

quiet.setup()  # progress bars suited to where this runs, known library warnings filtered: delta_utils/quiet.py

from IPython.display import Markdown, display

from delta_utils import evaluate, examples
from delta_utils.config import load_profile

prof = load_profile(profile)
records = evaluate.run(prof)
summary = evaluate.summarize(records)
summary[["model", "kind", "eval_set", "domain", "n_items", "samples", "accuracy", "ci_low", "ci_high"]]

# %% [markdown]
# **One item, every checkpoint.** An evaluation item with its reference answer, and what the base
# policy and each trained run answered (first sample) with the answer the checker extracted. The
# example is the first item on which the checkpoints disagree.

# %%
questions = {p.id: p.question for ps in evaluate.eval_sets(prof).values() for p in ps}
display(Markdown(examples.prediction_markdown(examples.prediction_example(records, questions))))

# %%
pol = records[records["kind"] == "policy"]
by_domain = pol.groupby(["model", "domain"])["correct"].mean().unstack("domain")
by_domain

# %% [markdown]
# **Table.** Accuracy per model and domain (items of all sets of a domain pooled).

# %%
diffs = evaluate.vs_base(records)
diffs

# %% [markdown]
# **Table.** Accuracy difference of each trained run against the base policy on the same items, with
# a 95 % score interval for paired proportions (Tango), the exact paired test's p-value (McNemar) and the
# minimum detectable effect (80 % power of that exact test). An interval that spans 0 means no detectable
# change at this sample size.

# %% [markdown]
# **What training did to each policy.** Accuracy moves only when an answer flips; the log-likelihood a
# checkpoint gives each item's reference answer ("The answer is X.", teacher-forced after the same
# prompt) moves with any change of the policy. Below: each run's mean change over the base policy
# in nats per item, with a 95 % CI over items, the exact sign-flip test's p-value and the share of items
# whose reference answer became more likely (`delta_utils/likelihood.py`).

# %%
from delta_utils import likelihood  # noqa: E402

moved = likelihood.stage_shifts(prof.run_dir())
moved

# %%
if moved is not None and len(moved):
    display(examples.loglik_figure(moved))

# %% [markdown]
# **Figure.** Each run's change of the reference answers' log-likelihood over the base policy (95 % CI).
# Look for intervals that exclude 0: those runs moved the policy, towards the reference answers (right)
# or away from them (left). A run whose interval spans 0 did not measurably change what the policy
# assigns to the right answers, and accuracy differences between such runs test nothing.

# %%
print(examples.evaluate_takeaway(summary, diffs))
