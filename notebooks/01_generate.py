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
# **Engine.** On the embedded default each GGUF model is served by llama.cpp's server (the build of
# `make llama-server` for this CPU, else the `xllamacpp` wheel's) on 127.0.0.1 and called over the
# OpenAI protocol; at paper scale the same calls go to `vllm serve` or a remote endpoint.
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
from delta_utils.core import quiet

quiet.setup()  # progress bars suited to where this runs, known library warnings filtered: delta_utils/core/quiet.py

from IPython.display import Markdown, display

from delta_utils.profile.config import load_profile
from delta_utils.profile.rundir import read_table
from delta_utils.stages import generate
from delta_utils.study.examples import generate as examples  # what this notebook shows (study/examples/generate.py)

prof = load_profile(profile)
print(prof.description)
traces = generate.run(prof)
problems = read_table(prof.run_dir() / "01_generate/problems.jsonl")
ladder = generate.ladder_table(prof, traces)
ladder

# %% [markdown]
# **Table: the ladder.** `accuracy` is each generator's share of correct final answers on the
# training prompts; `gap_vs_rejected` is the generator-level delta against the fixed rejected
# generator; `truncated` is the share of traces cut by `max_tokens` (a truncated trace usually has
# no final answer).
#
# **One problem, every generator.** A training prompt with its reference answer and each
# generator's trace, as the judge and the trainer will see them, with the answer the checker
# extracted. The example is the first prompt on which the generators disagree.

# %%
display(Markdown(examples.generation_markdown(examples.generation_example(traces, problems))))

# %%
examples.ladder_figure(ladder, traces)

# %% [markdown]
# **Figure.** Left: each generator's accuracy; the gap of a chosen generator is its distance above the
# rejected one (a chosen generator may sit level with it: a rung with no gap). Right:
# trace lengths; look for generators that hit the length cap, since their answers go missing.

# %%
print(examples.generate_takeaway(prof, ladder, traces))
