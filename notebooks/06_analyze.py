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
# `diagnostics.csv` and `results.md` (the README links them).
#
# **Statistics** (`delta_utils/core/stats.py`). Accuracy changes are paired over evaluation items (the
# same items for the run and the base policy). Differences get Tango's score interval and test
# (exact McNemar for superiority), single accuracies Clopper–Pearson; top-k vs random permutes the
# run labels within each item; the MDE comes from the exact McNemar test's power. Each row has one
# two-sided p-value (twice the smaller one-sided one), with Holm's correction across the findings
# table. A non-inferiority or equivalence claim gets a verdict only if its reference run moved
# (beat the base policy). At small scale the intervals are wide: read every effect with its
# interval and its minimum detectable effect.
#
# **Parameters:** `profile`.

# %% tags=["parameters"]
profile = "tiny"

# %%
from delta_utils.core import quiet

quiet.setup()  # progress bars suited to where this runs, known library warnings filtered: delta_utils/core/quiet.py

from IPython.display import Markdown, display

from delta_utils.profile.config import load_profile
from delta_utils.study import analyze, figures, findings, tables

prof = load_profile(profile)
t = tables.load(prof)  # every stage's outputs, read once; each figure below draws from these tables alone
out = figures.figures_dir(prof)
print(f"{len(t.traces)} traces, {len(t.runs)} trained runs, {t.items.index.get_level_values('item_id').nunique()} "
      f"evaluation items; figures go to {out}")

# %% [markdown]
# **The numbers every figure starts from.** One row per trained run and domain: the run's accuracy
# change over the base policy (`diff`), paired over the same evaluation items, with its 95 % CI,
# the exact test's p-value and the minimum detectable effect (`mde`).

# %%
t.gains[["run", "method", "preference_set", "domain", "diff", "ci_low", "ci_high", "p_value", "mde", "n"]].round(3)

# %% [markdown]
# **1 · Generator ladder.** Accuracy of each trace writer on the training prompts (and on the
# evaluation sets when the profile evaluates generators). The gap between a chosen generator's
# bar and the rejected generator's bar is the generator-level delta.

# %%
fig = figures.generator_ladder(prof, t)
fig.save(out)
fig

# %% [markdown]
# **2 · Generator-level delta → gains.** Each point is one training run on a generator-level set:
# x is the chosen generator's capability gap, y the run's accuracy change over the base policy
# (95 % CI), left in domain, right out of domain. The paper's claim: points rise to the right,
# most clearly out of domain. Error bars crossing zero mean no detectable change.

# %%
fig = figures.generator_gains(prof, t)
fig.save(out)
fig

# %% [markdown]
# **3 · Sample-level delta per dimension.** Distribution of the judged quality gap (chosen minus
# rejected) per dimension, one box per chosen generator. Boxes above zero: the judge prefers the
# chosen trace. A wider generator gap should push the boxes up — the next figure puts that on one
# axis.

# %%
fig = figures.delta_by_dimension(prof, t)
fig.save(out)
fig

# %% [markdown]
# **3b · Delta vs gap.** The mean judged delta per dimension (bold: the aggregate) against the chosen
# generator's capability gap, 95 % CI over pairs. The paper: every line rises to the right — a more
# capable chosen generator writes traces the judge rates further above the rejected one.

# %%
fig = figures.delta_vs_gap(prof, t)
fig.save(out)
fig

# %% [markdown]
# **4 · Data efficiency.** Accuracy change over base (all evaluation items) vs the fraction of the
# widest-gap pool kept: top-k by judged delta (solid), a seeded random subset of the same size
# (dashed), and the full pool (black square). The paper: top-k by step coherence sits near full and
# above random.

# %%
fig = figures.data_efficiency(prof, t)
fig.save(out)
fig

# %% [markdown]
# **5 · Which dimension selects best.** At one kept fraction, one bar per selection dimension next
# to random and full. The paper finds step coherence best; look for which bar is highest and
# whether its interval clears random's.

# %%
fig = figures.dimension_selection(prof, t)
fig.save(out)
fig

# %% [markdown]
# **6 · Correctness ablation.** Accuracy after training on correct→wrong, correct→correct,
# wrong→wrong and wrong→correct pairs of equal size, next to all pairs and the base policy. The
# paper: these differ less than selections by reasoning quality do. Needs several samples per
# generator and prompt; the canvas says so when the profile has none.

# %%
fig = figures.correctness_ablation(prof, t)
fig.save(out)
fig

# %% [markdown]
# **7 · Judge quality.** Left: Spearman correlation between the judge's score and the programmatic
# verifier's on each dimension (an upper bound on how much signal top-k selection can use).
# Right: the spread across the judge's k samples per trace (lower is steadier).

# %%
fig = figures.judge_quality(prof, t)
fig.save(out)
fig

# %% [markdown]
# **8 · Training dynamics.** Loss, reward margin and reward accuracy per logged step and run. A
# margin that grows while the loss falls: the policy separates chosen from rejected on its
# training pairs.

# %%
fig = figures.training_curves(prof, t)
fig.save(out)
fig

# %% [markdown]
# **9 · What training did to each policy.** Before any run is compared with another: did it change the
# policy? Left, its held-out preference accuracy (the share of pairs on prompts no run trained on that it
# ranks the right way round by DPO's implicit reward; 0.5 dashed); middle, its mean implicit-reward margin
# on those pairs; right, its change of the log-likelihood it gives the evaluation items' reference answers
# over the base policy. All with 95 % CIs. A run whose accuracy interval reaches 0.5 did not measurably
# learn its preference: the findings below that involve it test nothing.

# %%
fig = figures.learning_signal(prof, t)
fig.save(out)
fig

# %% [markdown]
# **10 · Findings.** Each claim of the paper, the comparison that tests it on this profile, the
# measured effect with its 95 % CI, the test its kind calls for (exact McNemar or a sign-flip
# permutation for "beats"; a non-inferiority test with a stated margin for "nearly matches"; an
# equivalence test for "matters less"), the p-value with Holm's correction across the table in
# brackets, and the minimum detectable effect (MDE, 80 % power). The verdict is *supported*,
# *contradicted* or *inconclusive*; an inconclusive row rules out no effect smaller than its MDE,
# and `n/a` says why the profile's grid cannot test the claim. Look at the MDE column first: it says
# what this profile's evaluation sets can see at all.

# %%
f = findings.findings(prof, t.records, t.traces, t.pairs)
display(Markdown(findings.findings_markdown(f)))

# %% [markdown]
# **11 · Can this run measure anything?** The diagnostics behind every verdict, each beside its
# target: the generators' accuracies and cut-off shares, the gap between the chosen generators (the
# generator-level claims need one), the judge's agreement with the verifier on the selection
# dimension, the share of each top-k selection that the tie-break rather than the score chose, the
# judge's preference for its own model's traces beyond what the verifier explains, and what training
# did to each run's policy (section 9): its held-out preference accuracy (target: a CI above 0.5) and
# margin, and the change of the log-likelihood it gives the evaluation items' reference answers over the
# base policy (a CI excluding 0: the run moved).

# %%
display(Markdown(findings.diagnostics_markdown(findings.diagnostics(prof, t.traces, t.scores, t.verifier, t.records,
                                                                   t.loglik, t.heldout))))

# %% [markdown]
# **Writing it down.** The findings, gains and diagnostics tables go beside the figures
# (`findings.{csv,md}`, `gains.csv`, `diagnostics.csv`, `results.md`).

# %%
written = analyze.write_findings(prof, t)
print("\n".join(str(p) for p in written.values()))

# %%
# Takeaway, written from the findings and the gains over the base policy
print(findings.takeaway(prof, f, t.gains))
