# %% [markdown]
# # 02 · Judge: five-dimension scores for every trace
#
# **In the study.** Sample-level delta is, for each preference pair, the judged quality of the
# chosen trace minus that of the rejected one. An LLM judge scores every trace on five 1–5
# dimensions — factuality, strategy coherence, step coherence, numerical precision and
# signal-to-noise — `samples` times, and we average. The rubric lives in `delta_utils/data/rubric.py`;
# its hash is part of every cache key.
#
# **Reads:** `01_generate/traces.jsonl`, `problems.jsonl`. **Writes:** `runs/<profile>/02_judge/`
# `judgments.jsonl` (every judge reply, raw text kept, parse status), `scores.jsonl` (per-trace
# mean and spread) and `verifier.jsonl` (the programmatic verifier's scores for the same traces). A
# reply that does not parse is retried, then marked failed — never scored.
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
from delta_utils.core import quiet

quiet.setup()  # progress bars suited to where this runs, known library warnings filtered: delta_utils/core/quiet.py

from IPython.display import Markdown, display

from delta_utils.profile.config import REPO_ROOT, load_profile
from delta_utils.profile.rundir import read_table
from delta_utils.stages import judge
from delta_utils.study.examples import judge as examples  # what this notebook shows (study/examples/judge.py)

prof = load_profile(profile)
judgments, scores = judge.run(prof)
summary = judge.failure_summary(judgments, prof.judge)
summary

# %% [markdown]
# **One judgment, up close.** The judge's prompt for one trace (the rubric, then the problem and the
# trace), its raw reply, and below, per dimension, the probability-weighted score read from that
# reply, the integer it wrote, and the programmatic verifier's score for the same trace. The example
# is the trace on which the judge and the verifier disagree most.

# %%
traces = read_table(prof.run_dir() / "01_generate/traces.jsonl")
problems = read_table(prof.run_dir() / "01_generate/problems.jsonl")
verifier = read_table(prof.run_dir() / "02_judge/verifier.jsonl")
one = examples.judge_example(judgments, traces, problems, verifier)
display(Markdown(examples.judge_markdown(one)))
display(one["scores"].round(2))
display(Markdown(examples.judge_disagreement(one)))

# %%
examples.scores_figure(prof, traces, scores)

# %% [markdown]
# **Figure.** Mean judged score per dimension and generator. If the judge tracks quality, stronger
# generators score higher on every dimension; flat bars mean the judge cannot tell them apart.

# %% [markdown]
# **Self-consistency.** With k > 1 judge samples per trace: the mean within-trace standard
# deviation per dimension, and the share of traces on which all k samples agree. A noisy judge
# needs more samples (the paper uses 5). With one sample there is no spread to measure.

# %%
if prof.judge.samples > 1:
    print(f"k = {prof.judge.samples} judge samples per trace")
    display(judge.self_consistency(judgments))
else:
    print("k = 1 judge sample per trace (judge.samples): no within-trace spread to measure, table skipped")

# %% [markdown]
# **Judge vs verifier.** On procedural problems the true intermediate results are known, so a
# programmatic verifier (`delta_utils/data/verify.py`) scores the same five dimensions mechanically.
# Spearman's rho between the judge's mean and the verifier's score, per dimension, with a
# bootstrap 95 % CI: near 0 means the judge's scores on that dimension carry little of what the
# verifier measures.

# %%
agree = judge.agreement(scores, verifier)
display(examples.agreement_figure(agree))
agree

# %% [markdown]
# **Validation on labelled real solutions.** Per dimension and for the aggregate, the AUC of the
# judge's score for telling correct solutions from incorrect ones, with DeLong's 95 % CI. 0.5 (the
# grey line) is a judge that cannot tell them apart; look for intervals that clear it. Any JSONL of
# `question` / `solution` / `is_correct` rows can be validated the same way with `judge.validate`.

# %%
validation = None
if prof.judge.validation_items:
    validation = judge.validate(prof, REPO_ROOT / "tests/data/labelled_solutions.jsonl",
                                limit=prof.judge.validation_items)
    display(examples.validation_figure(validation, prof.judge.model))
    display(validation)
else:
    print("judge.validation_items is 0: validation skipped")

# %%
print(examples.judge_takeaway(summary, traces, scores, agree, validation))
