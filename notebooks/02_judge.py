# %% [markdown]
# # 02 · Judge: five-dimension scores for every trace
#
# **In the study.** Sample-level delta is, for each preference pair, the judged quality of the
# chosen trace minus that of the rejected one. An LLM judge scores every trace on five 1–5
# dimensions — factuality, strategy coherence, step coherence, numerical precision and
# signal-to-noise — `samples` times, and we average. The rubric lives in `delta_utils/rubric.py`;
# its hash is part of every cache key.
#
# **Reads:** `01_generate/traces.jsonl`, `problems.jsonl`. **Writes:** `runs/<profile>/02_judge/`
# `judgments.jsonl` (every judge reply, raw text kept, parse status), `scores.jsonl` (per-trace
# mean and spread) and `verifier.jsonl` (the programmatic verifier's scores for the same traces). A reply that does not parse is retried, then marked failed — never scored.
#
# **Judge.** The embedded default uses a local packaged model through the same llama.cpp server
# and OpenAI client as generation, with JSON-schema constrained output; at paper scale, any
# OpenAI-compatible endpoint (keys come from the environment only). With `judge.scoring: expected`
# (the default) each score is the expectation over the judge's probabilities of the tokens 1–5 at
# that score's position in its reply (G-Eval style): one call per trace, continuous, no ties. The
# integers it wrote are kept beside them (`<dimension>_sampled`).
#
# **Validation.** The same judge scores real labelled solutions (`tests/data/labelled_solutions.jsonl`:
# SmolLM2's answers to procedural problems, marked right or wrong by the checker), and the AUC says how
# well each dimension tells right from wrong (`judge.validate` takes any such JSONL).
#
# **Parameters:** `profile`. The profile's `judge.validation_items` sets how many labelled solutions.

# %% tags=["parameters"]
profile = "tiny"

# %%
from delta_utils import judge
from delta_utils.config import load_profile
from delta_utils.rubric import DIMENSION_NAMES
from delta_utils.stages import read_table

prof = load_profile(profile)
judgments, scores = judge.run(prof)
summary = judge.failure_summary(judgments, prof.judge)
summary

# %% [markdown]
# **One judgment, up close.** The judge's prompt for one trace, its raw reply, the probability-weighted
# scores read from that reply, and the programmatic verifier's scores for the same trace.

# %%
from delta_utils.rubric import judge_messages

traces = read_table(prof.run_dir() / "01_generate/traces.jsonl")
problems = read_table(prof.run_dir() / "01_generate/problems.jsonl")
verifier = read_table(prof.run_dir() / "02_judge/verifier.jsonl")
one = judgments[judgments["status"] == "ok"].iloc[0]
trace = traces.set_index("trace_id").loc[one["trace_id"]]
question = problems.set_index("id").loc[trace["item_id"], "question"]
for m in judge_messages(question, trace["text"]):
    print(f"--- {m['role']} ---\n{m['content']}\n")
print(f"--- judge reply ({one['scoring']}) ---\n{one['raw']}\n")
import pandas as pd

pd.DataFrame({"judge (expected)": [one[d] for d in DIMENSION_NAMES],
              "judge (sampled)": [one.get(f"{d}_sampled", one[d]) for d in DIMENSION_NAMES],
              "verifier": verifier.set_index("trace_id").loc[one["trace_id"], DIMENSION_NAMES].tolist()},
             index=DIMENSION_NAMES)

# %%
import matplotlib.pyplot as plt
import seaborn as sns

scored = traces.merge(scores, on="trace_id")
long = scored.melt(id_vars=["model"], value_vars=[f"{d}_mean" for d in DIMENSION_NAMES],
                   var_name="dimension", value_name="score")
long["dimension"] = long["dimension"].str.removesuffix("_mean")
fig, ax = plt.subplots(figsize=(9, 3.8))
sns.barplot(data=long, x="dimension", y="score", hue="model", ax=ax)
ax.set(ylim=(1, 5), title=f"mean judged score per dimension ({prof.judge.model} as judge)")
ax.tick_params(axis="x", rotation=15)
fig.tight_layout()

# %% [markdown]
# **Figure.** Mean judged score per dimension and generator. If the judge tracks quality, stronger
# generators score higher on every dimension; flat bars mean the judge cannot tell them apart.

# %% [markdown]
# **Self-consistency.** With k > 1 judge samples per trace: the mean within-trace standard
# deviation per dimension, and the share of traces on which all k samples agree. A noisy judge
# needs more samples (the paper uses 5).

# %%
print(f"k = {prof.judge.samples} judge samples per trace")
judge.self_consistency(judgments)

# %% [markdown]
# **Judge vs verifier.** On procedural problems the true intermediate results are known, so a
# programmatic verifier (`delta_utils/verify.py`) scores the same five dimensions mechanically.
# Spearman's rho between the judge's mean and the verifier's score, per dimension, with a
# bootstrap 95 % CI: near 0 means the judge's scores on that dimension carry little of what the
# verifier measures.

# %%
agree = judge.agreement(scores, verifier)
fig, ax = plt.subplots(figsize=(7, 3))
ax.errorbar(agree["dimension"], agree["spearman"], yerr=[agree["spearman"] - agree["ci_low"],
            agree["ci_high"] - agree["spearman"]], fmt="o", capsize=4)
ax.axhline(0, color="grey", lw=0.8)
ax.set(ylim=(-1, 1), ylabel="Spearman rho", title="judge vs programmatic verifier")
ax.tick_params(axis="x", rotation=15)
fig.tight_layout()
agree

# %% [markdown]
# **Validation on labelled real solutions.** Per dimension and for the aggregate, the AUC of the
# judge's score for telling correct solutions from incorrect ones, with DeLong's 95 % CI. 0.5 (the
# grey line) is a judge that cannot tell them apart; look for intervals that clear it.

# %%
from delta_utils.config import REPO_ROOT

n_valid = prof.judge.validation_items
if n_valid:
    validation = judge.validate(prof, REPO_ROOT / "tests/data/labelled_solutions.jsonl", limit=n_valid)
    fig, ax = plt.subplots(figsize=(7, 3))
    ax.errorbar(validation["dimension"], validation["auc"], yerr=[validation["auc"] - validation["ci_low"],
                validation["ci_high"] - validation["auc"]], fmt="o", capsize=4)
    ax.axhline(0.5, color="grey", lw=0.8)
    ax.set(ylim=(0, 1), ylabel="AUC (correct vs incorrect)", title=f"{prof.judge.model} on labelled solutions")
    ax.tick_params(axis="x", rotation=15)
    fig.tight_layout()
    display(validation)
else:
    validation = None
    print("judge.validation_items is 0: validation skipped")

# %%
by_correct = scored.groupby("correct")["aggregate_mean"].mean()
print(f"Takeaway: {len(scores)} traces judged in {summary['judge_calls']} calls, parse-failure rate "
      f"{summary['parse_failure_rate']:.1%}. Correct traces average {by_correct.get(True, float('nan')):.2f} "
      f"on the aggregate, incorrect ones {by_correct.get(False, float('nan')):.2f}. Best judge-verifier "
      f"agreement: {agree.loc[agree.spearman.idxmax(), 'dimension'] if agree.spearman.notna().any() else 'n/a'} "
      f"(rho {agree.spearman.max():.2f})."
      + ("" if validation is None else
         f" On {int(validation['judged'].iloc[0])} labelled real solutions the aggregate's AUC for telling right "
         f"from wrong is {validation.set_index('dimension').loc['aggregate', 'auc']:.2f} (95 % CI "
         f"{validation.set_index('dimension').loc['aggregate', 'ci_low']:.2f}-"
         f"{validation.set_index('dimension').loc['aggregate', 'ci_high']:.2f})."))
