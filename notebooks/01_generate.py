# %% [markdown]
# # 01 · Generate: the generator ladder
#
# **In the study.** Generator-level delta is the capability gap between the model that wrote the
# *chosen* trace and the one that wrote the *rejected* trace. The paper fixes a weak rejected
# generator and varies the chosen one by scale and family. Here every generator of the profile's
# ladder answers the same procedural math word problems, and we measure how often each is right:
# that accuracy *is* the generator's capability, and its gap to the rejected generator is the
# generator-level delta.
#
# **Reads:** the profile (`configs/<profile>.yaml`). **Writes:** `runs/<profile>/01_generate/`
# `problems.jsonl` (prompts, answers, ground-truth steps) and `traces.jsonl` (one row per
# generator × prompt × sample). Every completion is cached as soon as it arrives
# (`runs/<profile>/cache/completions.sqlite`): a killed run resumes, a warm rerun calls no model.
#
# **Engine.** On the embedded default each GGUF model is served by llama.cpp's server
# (`xllamacpp`) on 127.0.0.1 and called over the OpenAI protocol; at paper scale the same calls go
# to `vllm serve` or a remote endpoint.
#
# **Decontamination.** Before any model is called, the training prompts are checked against every
# eval set (exact match after normalising, and shared 13-grams with benchmark text); the first line
# printed below is that check, and a profile with overlaps stops here unless it opts out
# (`train_prompts.allow_eval_overlap`). The hits, if any, are in `decontamination.jsonl`.
#
# **Parameters:** `profile`, the profile name or path.

# %% tags=["parameters"]
profile = "tiny"

# %%
from delta_utils import generate
from delta_utils.config import load_profile

prof = load_profile(profile)
print(prof.description)
traces = generate.run(prof)
ladder = generate.ladder_table(prof, traces)
ladder

# %% [markdown]
# **Table: the ladder.** `accuracy` is each generator's share of correct final answers on the
# training prompts; `gap_vs_rejected` is the generator-level delta against the fixed rejected
# generator; `truncated` is the share of traces cut by `max_tokens` (a truncated trace usually has
# no final answer).

# %%
import matplotlib.pyplot as plt
import seaborn as sns

fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
sns.barplot(data=ladder.reset_index(), x="model", y="accuracy", ax=axes[0])
axes[0].set(ylim=(0, 1), title="accuracy on the training prompts")
sns.boxplot(data=traces, x="model", y="completion_tokens", ax=axes[1])
axes[1].set(title="trace length (tokens)")
for ax in axes:
    ax.tick_params(axis="x", rotation=15)
fig.tight_layout()

# %% [markdown]
# **Figure.** Left: capability rises along the ladder; the rejected generator sits lowest. Right:
# trace lengths; look for generators that hit the length cap, since their answers go missing.

# %%
rej = prof.generation.rejected
best = ladder["accuracy"].idxmax()
print(f"Takeaway: {len(traces)} traces from {len(ladder)} generators. The rejected generator {rej} "
      f"solves {ladder.loc[rej, 'accuracy']:.0%} of the prompts; the strongest, {best}, solves "
      f"{ladder.loc[best, 'accuracy']:.0%}, a generator-level gap of {ladder.loc[best, 'gap_vs_rejected']:+.0%}.")
