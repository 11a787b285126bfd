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
from delta_utils.core import quiet

quiet.setup()  # progress bars suited to where this runs, known library warnings filtered: delta_utils/core/quiet.py

import pandas as pd
from IPython.display import Markdown, display

from delta_utils.profile.config import load_profile
from delta_utils.stages import pairing
from delta_utils.study.examples import pair as examples  # what this notebook shows (study/examples/pair.py)

prof = load_profile(profile)
sets = pairing.run(prof)
pd.read_json(prof.run_dir() / "03_pair" / "card.jsonl", lines=True).set_index("set")

# %% [markdown]
# **Table: the sets.** One row per preference set: its size, the share of chosen and rejected traces
# that are correct, the mean aggregate delta, the share of a top-k selection that the seeded
# tie-break (not the score) chose, and the KTO weights that balance its desirable and undesirable
# examples.
#
# **One pair, up close.** The pair of the full set with the largest aggregate delta: the prompt,
# the chosen and the rejected trace exactly as the trainer reads them, and per dimension the judged
# chosen and rejected means and their delta. Top-k selection ranks pairs by one of these deltas.

# %%
ex = examples.pair_example(sets)
display(Markdown(examples.pair_markdown(ex)))
ex["deltas"].round(2)

# %%
examples.delta_heatmap(sets)

# %% [markdown]
# **Figure.** Mean sample-level delta per dimension for each generator-level set. The study expects
# delta to grow with the generator gap: the row of the stronger chosen generator should be warmer.

# %% [markdown]
# **Correctness-controlled sets.** Chosen traces from one generator, rejected ones from the rejected
# generator; c2w and w2w share their prompts and rejected traces (as do c2c and w2c), so they differ
# only in whether the chosen trace is correct. A prompt qualifies when its chosen generator has both
# a correct and a wrong sample: more samples per prompt (`generation.sampling.n`) make more qualify.

# %%
{k: len(v) for k, v in sets.items() if k.startswith("correctness__")}

# %%
print(examples.pair_takeaway(sets))
