# %% [markdown]
# # 06 · Analyze: the study's figures and findings
#
# **In the study.** This notebook tells the story. First the *generator-level* delta: how capable
# each trace writer is, and whether pairs from a wider capability gap teach the policy more, in
# domain (arithmetic) and out of domain (STEM, code). Then the *sample-level* delta: how the judged
# quality gap distributes per dimension, how it grows with the generator gap, and whether training
# on the pairs with the largest delta beats a random subset of the same size and nearly matches the
# full set. Then the correctness ablation, how far the judge can be trusted, and how training went.
# It ends with a findings table, each claim of the paper tested on this profile's runs, and the
# diagnostics that say whether the run could measure the effects at all.
#
# **Reads:** the outputs of stages 01–05 (`runs/<profile>/…`). **Writes:**
# `figures/<profile>/<figure>.{png,pdf,csv}` (the CSV holds the numbers behind each figure),
# `figures/<profile>/findings.{csv,md}`, `gains.csv` (every run minus the base policy, per domain),
# `diagnostics.csv`, `results.md`, and, for the repository's own figures folder, the findings and
# results blocks of the README.
#
# **Statistics.** Accuracy changes are paired over evaluation items (the same items for the run
# and the base policy). 95 % CIs come from 2,000 bootstrap resamples of items; p-values from exact
# paired tests under the null (McNemar on 0/1 answers, a sign-flip permutation otherwise), with
# Holm's correction across the findings table. At small scale the intervals are wide: read every
# effect with its interval and its minimum detectable effect.
#
# **Parameters:** `profile`.

# %% tags=["parameters"]
profile = "tiny"

# %%
import pandas as pd
from IPython.display import Image, Markdown, display

from delta_utils import analyze
from delta_utils.config import load_profile

prof = load_profile(profile)
paths = analyze.run(prof)
figs = analyze.figures_dir(prof)


def show(name):
    display(Image(filename=str(figs / f"{name}.png")))


print("\n".join(p.name for p in paths.values()))

# %% [markdown]
# **1 · Generator ladder.** Accuracy of each trace writer on the training prompts (and on the
# evaluation sets when the profile evaluates generators). The gap between a chosen generator's
# bar and the rejected generator's bar is the generator-level delta.

# %%
show("generator_ladder")

# %% [markdown]
# **2 · Generator-level delta → gains.** Each point is one training run on a generator-level set:
# x is the chosen generator's capability gap, y the run's accuracy change over the base policy
# (95 % CI), left in domain, right out of domain. The paper's claim: points rise to the right,
# most clearly out of domain. Error bars crossing zero mean no detectable change.

# %%
show("generator_gains")

# %% [markdown]
# **3 · Sample-level delta per dimension.** Distribution of the judged quality gap (chosen minus
# rejected) per dimension, one box per chosen generator. Boxes above zero: the judge prefers the
# chosen trace. A wider generator gap should push the boxes up — the next figure puts that on one
# axis.

# %%
show("delta_by_dimension")

# %%
show("delta_vs_gap")

# %% [markdown]
# **4 · Data efficiency.** Accuracy change over base (all evaluation items) vs the fraction of the
# widest-gap pool kept: top-k by judged delta (solid), a seeded random subset of the same size
# (dashed), and the full pool (black square). The paper: top-k by step coherence sits near full and
# above random.

# %%
show("data_efficiency")

# %% [markdown]
# **5 · Which dimension selects best.** At one kept fraction, one bar per selection dimension next
# to random and full. The paper finds step coherence best; look for which bar is highest and
# whether its interval clears random's.

# %%
show("dimension_selection")

# %% [markdown]
# **6 · Correctness ablation.** Accuracy after training on correct→wrong, correct→correct,
# wrong→wrong and wrong→correct pairs of equal size, next to all pairs and the base policy. The
# paper: these differ less than selections by reasoning quality do. Needs several samples per
# generator and prompt; the canvas says so when the profile has none.

# %%
show("correctness_ablation")

# %% [markdown]
# **7 · Judge quality.** Left: Spearman correlation between the judge's score and the programmatic
# verifier's on each dimension (an upper bound on how much signal top-k selection can use).
# Right: the spread across the judge's k samples per trace (lower is steadier).

# %%
show("judge_quality")

# %% [markdown]
# **8 · Training dynamics.** Loss, reward margin and reward accuracy per logged step and run. A
# margin that grows while the loss falls: the policy separates chosen from rejected on its
# training pairs.

# %%
show("training_curves")

# %% [markdown]
# **9 · Findings.** Each claim of the paper, the comparison that tests it on this profile, the
# measured effect with its 95 % CI, the test its kind calls for (exact McNemar or a sign-flip
# permutation for "beats"; a non-inferiority test with a stated margin for "nearly matches"; an
# equivalence test for "matters less"), the p-value with Holm's correction across the table in
# brackets, and the minimum detectable effect (MDE, 80 % power). The verdict is *supported*,
# *contradicted* or *inconclusive*; an inconclusive row rules out no effect smaller than its MDE,
# and `n/a` says why the profile's grid cannot test the claim. Look at the MDE column first: it says
# what this profile's evaluation sets can see at all.

# %%
findings = pd.read_csv(figs / "findings.csv")
display(Markdown((figs / "findings.md").read_text()))

# %% [markdown]
# **10 · Can this run measure anything?** The diagnostics behind every verdict, each beside its
# target: the generators' accuracies and cut-off shares, the gap between the chosen generators (the
# generator-level claims need one), the judge's agreement with the verifier on the selection
# dimension, the share of each top-k selection that the tie-break rather than the score chose, and the
# judge's preference for its own model's traces beyond what the verifier explains.

# %%
display(Markdown(analyze.diagnostics_markdown(pd.read_csv(figs / "diagnostics.csv"))))

# %%
# Takeaway, written from the findings and the gains over the base policy
print(analyze.takeaway(prof, findings, pd.read_csv(figs / "gains.csv")))
