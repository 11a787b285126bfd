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
from delta_utils.core import quiet

quiet.setup()  # progress bars suited to where this runs, known library warnings filtered: delta_utils/core/quiet.py

import json

from delta_utils.profile import rundir
from delta_utils.profile.config import load_profile
from delta_utils.stages import train
from delta_utils.study.examples import train as examples  # what this notebook shows (study/examples/train.py)

prof = load_profile(profile)
done = train.run(prof, names=runs or None)
done.reindex(columns=["name", "pairs", "steps", "wall_s", "s_per_step", "device", "ref_logps_computed",
                      "ref_logps_reused"])

# %% [markdown]
# **Table: the grid.** One row per run: its pairs, optimizer steps, wall time and device, and how many
# reference log-probs it computed or reused. A run whose inputs have not changed is not trained again
# (it says `up to date, skipped` above); its row, and everything below, is read from the `run.json` and
# `log.csv` it wrote when it trained, so this notebook reads the same whether the runs trained now or
# earlier.
#
# **One run, up close.** The record of the first run: what it trained on, the hyper-parameters TRL
# was given, and how long it took; then its curves.

# %%
first = (runs or [r.name for r in prof.train.runs])[0]
examples.training_config(json.loads((rundir.trained_run_dir(prof, first) / "run.json").read_text()))

# %%
logs = train.training_logs(prof)
examples.run_figure(logs, first)

# %% [markdown]
# **Figure: one run.** Its loss per logged step, and the implicit rewards (the policy's log-probability
# ratio to the reference, times beta) of the chosen and rejected completions with their margin. DPO's
# loss falls as the margin grows; a flat margin means the run learnt little from its pairs.

# %%
examples.training_figure(logs)

# %% [markdown]
# **Figure: the grid.** Training loss and reward margin (chosen minus rejected implicit reward) per run. A
# rising margin means the policy is separating chosen from rejected traces; KTO logs no margin.

# %%
print(examples.train_takeaway(done))
