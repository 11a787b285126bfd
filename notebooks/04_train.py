# %% [markdown]
# # 04 · Train: DPO and KTO on each preference set
#
# **In the study.** The policy is trained with DPO on preference pairs (and KTO on the same data
# unpaired) for every run of the profile's grid: one run per chosen generator (generator-level
# delta), per top-k selection and its random control (sample-level delta).
#
# **Reads:** `03_pair/sets/*.jsonl`, the policy model. **Writes:** `runs/<profile>/04_train/<run>/`
# with `final/` (LoRA adapter or weights), `log.csv` (loss, reward margins and accuracies per step)
# and `run.json` (config, data hash, step time). Unchanged runs are skipped; a killed run resumes
# from its last checkpoint. The reference model's log-probs are computed once and kept in
# `runs/<profile>/cache/ref_logps.sqlite`: a DPO run on a subset of a pool (top-k, random) does no
# reference forward at all (`ref_logps_reused`), nor does a second KTO run on the same set. KTO reads
# its examples in order (its KL term pairs each prompt with a neighbour's completion in the batch), so
# desirable and undesirable examples alternate, each side in a seeded order.
#
# **Parameters:** `profile`; `runs`, a list of run names to train (empty: the whole grid).

# %% tags=["parameters"]
profile = "tiny"
runs = []

# %%
from delta_utils import train
from delta_utils.config import load_profile

prof = load_profile(profile)
done = train.run(prof, names=runs or None)
done = done.reindex(columns=["name", "pairs", "steps", "wall_s", "s_per_step", "device",
                             "ref_logps_computed", "ref_logps_reused"])
done

# %%
import matplotlib.pyplot as plt
import seaborn as sns

logs = train.training_logs(prof)
metrics = [m for m in ["loss", "rewards/margins"] if m in logs.columns]
fig, axes = plt.subplots(1, len(metrics), figsize=(5 * len(metrics), 3.4), squeeze=False)
for ax, m in zip(axes[0], metrics):
    sns.lineplot(data=logs.dropna(subset=[m]), x="step", y=m, hue="run", ax=ax)
    ax.set(title=m)
fig.tight_layout()

# %% [markdown]
# **Figure.** Training loss and reward margin (chosen minus rejected implicit reward) per run. A
# rising margin means the policy is separating chosen from rejected traces; KTO logs no margin.

# %%
print(f"Takeaway: {len(done)} runs trained, {done['steps'].sum()} optimizer steps in "
      f"{done['wall_s'].sum():.0f} s ({done['s_per_step'].mean():.1f} s/step on {done['device'].iloc[0] if len(done) else '-'}); "
      f"reference log-probs reused for {int(done['ref_logps_reused'].fillna(0).sum())} pairs.")
