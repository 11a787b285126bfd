# %% [markdown]
# # 03 · Pair: preference sets and delta-based selections
#
# **In the study.** A preference pair is (prompt, chosen trace, rejected trace). Generator-level
# sets pair each chosen generator of the ladder with the fixed rejected generator on the same
# prompts. Sample-level selections rank the pairs of the largest-gap set by judged delta on one
# dimension and keep the top fraction; a seeded random subset of the same size is the control.
# Correctness-controlled sets (correct→wrong, correct→correct, wrong→wrong, wrong→correct) of
# equal size on one shared prompt set test whether correctness matters more than reasoning quality.
#
# **Reads:** `01_generate/*`, `02_judge/scores.jsonl`. **Writes:** `runs/<profile>/03_pair/`:
# `sets/<set>.jsonl` and `hf/<set>` (a `datasets` dataset in TRL's conversational
# `prompt/chosen/rejected` format with provenance columns: generators, correctness, per-dimension
# judge means and deltas), `hf/<set>__kto` (TRL's unpaired `prompt/completion/label` format) and
# `README.md`, the dataset card.
#
# **Parameters:** `profile`.

# %% tags=["parameters"]
profile = "tiny"

# %%
import pandas as pd

from delta_utils import pairing
from delta_utils.config import load_profile
from delta_utils.rubric import DIMENSION_NAMES

prof = load_profile(profile)
sets = pairing.run(prof)
sizes = pd.Series({k: len(v) for k, v in sets.items()}, name="pairs")
sizes.to_frame()

# %%
import matplotlib.pyplot as plt
import seaborn as sns

gen_sets = pd.concat([v for k, v in sets.items() if k.startswith("gen__")], ignore_index=True)
means = gen_sets.groupby("chosen_model")[[f"delta_{d}" for d in DIMENSION_NAMES]].mean()
fig, ax = plt.subplots(figsize=(8, 3))
sns.heatmap(means, annot=True, fmt=".2f", center=0, cmap="vlag", ax=ax)
ax.set(title="mean judged delta (chosen - rejected) per dimension", ylabel="chosen generator")
fig.tight_layout()

# %% [markdown]
# **Figure.** Mean sample-level delta per dimension for each generator-level set. The study expects
# delta to grow with the generator gap: rows lower in the ladder should be warmer.

# %% [markdown]
# **Correctness-controlled sets.** A prompt is in the shared set when its traces offer every
# combination (a correct and a wrong chosen trace, a correct and a wrong rejected trace). With one
# sample per generator and a weak rejected generator few prompts qualify; more samples per prompt
# (`generation.sampling.n`) make more qualify.

# %%
corr = {k: len(v) for k, v in sets.items() if k.startswith("correctness__")}
print(corr)
print((prof.run_dir() / "03_pair" / "README.md").read_text().split("\n\n")[-1])

# %%
full = sets["full"]
print(f"Takeaway: {len(sets)} preference sets; the largest-gap set pairs {full['chosen_model'].iloc[0]} "
      f"with {full['rejected_model'].iloc[0]} on {len(full)} prompts, chosen correct in "
      f"{full['chosen_correct'].mean():.0%} and rejected correct in {full['rejected_correct'].mean():.0%} "
      f"of pairs; mean aggregate delta {full['delta_aggregate'].mean():+.2f}. Correctness-controlled sets: "
      f"{max(corr.values()) if corr else 0} pairs each.")
