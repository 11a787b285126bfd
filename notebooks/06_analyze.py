# %% [markdown]
# # 06 · Analyze: the study's figures
#
# **In the study.** This notebook tells the story: how capable each generator is (the generator
# ladder), how judged deltas distribute per dimension, whether training on pairs moved the policy,
# and how training went. Every figure is saved as PNG and PDF under `figures/<profile>/` with the
# CSV of its numbers.
#
# **Reads:** the outputs of stages 01–05. **Writes:** `figures/<profile>/*.{png,pdf,csv}`.
#
# **Parameters:** `profile`.

# %% tags=["parameters"]
profile = "tiny"

# %%
from IPython.display import Image, display

from delta_utils import analyze
from delta_utils.config import load_profile

prof = load_profile(profile)
paths = analyze.run(prof)
for p in paths:
    print(p.name)

# %% [markdown]
# **Generator ladder.** Accuracy of each trace writer; the gaps between bars are the
# generator-level deltas.

# %%
display(Image(filename=str(analyze.figures_dir(prof) / "generator_ladder.png")))

# %% [markdown]
# **Sample-level delta per dimension.** Boxes above zero: the judge prefers the chosen generator's
# traces on that dimension. Wider gaps in the ladder should push the boxes up.

# %%
display(Image(filename=str(analyze.figures_dir(prof) / "delta_by_dimension.png")))

# %% [markdown]
# **Policy accuracy.** Base policy vs each trained run, with 95 % bootstrap CIs over items.
# Overlapping intervals: no detectable effect at this scale.

# %%
display(Image(filename=str(analyze.figures_dir(prof) / "eval_accuracy.png")))

# %% [markdown]
# **Training curves.** Loss and reward margin per run.

# %%
display(Image(filename=str(analyze.figures_dir(prof) / "training_curves.png")))

# %%
import pandas as pd

summary = pd.read_csv(analyze.figures_dir(prof) / "eval_accuracy.csv")
base = summary[summary.model == "base"].set_index("eval_set")["accuracy"]
trained = summary[summary.model != "base"]
moved = [(r.model, r.eval_set, r.accuracy - base[r.eval_set]) for r in trained.itertuples()]
best = max(moved, key=lambda x: x[2]) if moved else None
print(f"Takeaway: {len(paths)} figures under figures/{prof.name}/. "
      + (f"The largest accuracy change over the base policy is {best[0]} on {best[1]} ({best[2]:+.1%}); "
         "at this scale effects are small and noisy, so read them with their CIs." if best else ""))
