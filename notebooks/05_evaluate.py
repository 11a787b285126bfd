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
# **Reads:** the trained runs, the policy, `03_pair`'s held-out pairs, the profile's eval sets (procedural
# ones leave out every training question, or real benchmarks from the hub or a local file).
# **Writes:** `runs/<profile>/05_evaluate/records.jsonl` (model, item, prediction, correct) and
# `summary.jsonl` (accuracy with a 95 % Clopper–Pearson CI); `answer_loglik.jsonl` and `heldout_logps.jsonl`
# (what training did to each policy: see below). Answers and log-probs are cached per model and item.
#
# **Parameters:** `profile`.

# %% tags=["parameters"]
profile = "tiny"

# %%
from delta_utils.core import quiet

quiet.setup()  # progress bars suited to where this runs, known library warnings filtered: delta_utils/core/quiet.py

from IPython.display import Markdown, display

from delta_utils.profile.config import load_profile
from delta_utils.stages import evaluate
from delta_utils.study.examples import evaluate as examples  # what this notebook shows (study/examples/evaluate.py)

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

# %% [markdown]
# ## Did training change the policy?
#
# Before any run is compared with another, each must be shown to have changed the policy. Two measures,
# both continuous and both cheaper and more sensitive than accuracy on a few dozen items.
#
# **1 · Held-out preference.** What each run was trained to do, measured where it was not trained:
# `03_pair` held `pairing.heldout` training prompts out of every preference set, and their pairs
# (each chosen generator's trace vs the rejected generator's) are scored here by every checkpoint. A
# run's implicit reward of a trace is DPO's, β·(log π(trace) − log π_base(trace)); the margin is chosen
# minus rejected, and the held-out preference accuracy is the share of pairs with a positive margin
# (KTO defines its reward the same way). The base policy scores every margin 0, so accuracy 0 and
# margin 0 mean "did not move"; a CI above 0.5 means the run learned a preference that generalises to
# new prompts. CIs treat the prompt as the unit (a prompt's pairs share their rejected trace).

# %%
from delta_utils.stages import likelihood  # noqa: E402

learned = likelihood.stage_preference(prof.run_dir(), prof.train.hparams.beta)
learned

# %% [markdown]
# **2 · The reference answers' likelihood.** Accuracy moves only when an answer flips; the log-likelihood a
# checkpoint gives each item's reference answer ("The answer is X.", teacher-forced after the same
# prompt) moves with any change of the policy. Below: each run's mean change over the base policy
# in nats per item, with a 95 % CI over items, the exact sign-flip test's p-value and the share of items
# whose reference answer became more likely (`delta_utils/stages/likelihood.py`).

# %%
moved = likelihood.stage_shifts(prof.run_dir())
moved

# %%
examples.learning_signal_figure(learned, moved)

# %% [markdown]
# **Figure.** One row per run. Left: its held-out preference accuracy, 0.5 dashed. Middle: its mean
# implicit-reward margin on the same pairs, 0 marked. Right: its change of the reference answers'
# log-likelihood over the base policy. All with 95 % CIs. Look first at the left panel: an interval wholly
# right of the dashed line means the run learned, on prompts it never saw, to prefer the stronger
# generator's trace. A run whose interval reaches 0.5 did not measurably learn its preference, and its
# accuracy below compares nothing. The right panel says which way the run moved the right answers:
# towards them (right of 0) or away (left).

# %% [markdown]
# ## Accuracy

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

# %%
print(examples.evaluate_takeaway(summary, diffs, learned))
