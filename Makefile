# delta-lab: `make all` regenerates every figure on the embedded default profile (tiny);
# `make test` sets up and runs the test suite. PROFILE=... selects a profile everywhere.
PROFILE ?= tiny
VENV    ?= .venv
PY      := $(VENV)/bin/python
PIP     := $(PY) -m pip
RUN      = $(PY) -m delta_utils.runner.pipeline
RUNS    := runs/$(PROFILE)
# the stages, in order, from their one registry (delta_utils/profile/rundir.py; each has a rule below, which
# tests/test_docs.py checks); listed once .venv exists, as TRAIN_RUNS is
STAGES  := $(shell test -x $(PY) && $(RUN) stages 2>/dev/null)
# one id per `make` invocation, so the timing report can tell what ran now from what was skipped
export DELTA_LAB_SESSION ?= $(shell date +%s%N)
export PYTHONUNBUFFERED := 1
# trackio (train.hparams.report_to: trackio) reads this when first imported: metrics live beside the run
export TRACKIO_DIR ?= $(CURDIR)/$(RUNS)/trackio

.PHONY: all setup smoke test lint docs lab clean clean-figures notebooks report check push $(STAGES) figures lm-eval llama-server

# NATIVE_SERVER=0 skips building llama.cpp's server for this CPU (then xllamacpp's AVX2 build serves)
NATIVE_SERVER ?= 1
all: setup
ifeq ($(NATIVE_SERVER),1)
	@$(MAKE) --no-print-directory llama-server || echo "make all: llama-server did not build; xllamacpp's AVX2 server runs instead (slower)" >&2
endif
	@$(MAKE) --no-print-directory figures PROFILE=$(PROFILE)
	@$(RUN) report --profile $(PROFILE)

figures: 06_analyze

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml requirements-models.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	# pinned torch first: on these machines this pin takes a local CPU wheel (unpinned pulls GBs of CUDA)
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e ".[dev]"
	$(PIP) install -q --no-deps -r requirements-models.txt
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $@

# llama.cpp's server compiled for this CPU (AVX-512/VNNI where present; AMX off: its tile loads fault in these
# VMs), built once by `make all` (`make test` does not need it), from the llama.cpp inside the pinned
# llama-cpp-python sdist; a static binary in $(VENV)/bin, which delta_utils.serving.serve then runs instead of
# xllamacpp's AVX2-only server (bench/judge_modes.py: 1.5x faster judging here). 5-10 min to build on 2 cores,
# once. DELTA_LAB_LLAMA_SERVER=xllamacpp goes back to the wheel.
LLAMA_CPP_PYTHON := 0.3.36
LLAMA_SRC        := build/llama-cpp-python-$(LLAMA_CPP_PYTHON)
LLAMA_LOG        := build/llama-server.log
llama-server: $(VENV)/bin/llama-server
# One line per phase in the terminal; the download, cmake and compiler output (hundreds of lines of warnings)
# goes to $(LLAMA_LOG), whose last lines are shown, with its path, if a phase fails.
$(VENV)/bin/llama-server: | $(VENV)/.installed
	@mkdir -p build && : > $(LLAMA_LOG); log=$(LLAMA_LOG); \
	fail() { echo "llama-server: $$1 failed; the last lines of $$log:" >&2; tail -n 40 "$$log" >&2; exit 1; }; \
	echo "llama-server: download llama-cpp-python $(LLAMA_CPP_PYTHON) (its vendored llama.cpp); log in $$log"; \
	{ rm -rf $(LLAMA_SRC) && mkdir -p $(LLAMA_SRC) && \
	  $(PIP) download -q --no-deps --no-binary :all: llama-cpp-python==$(LLAMA_CPP_PYTHON) -d $(LLAMA_SRC) && \
	  tar xzf $(LLAMA_SRC)/llama_cpp_python-$(LLAMA_CPP_PYTHON).tar.gz -C $(LLAMA_SRC) --strip-components=1; \
	} >> "$$log" 2>&1 || fail download; \
	echo "llama-server: configure (cmake, for this CPU's instruction sets)"; \
	flags=" $$(grep -m1 '^flags' /proc/cpuinfo | cut -d: -f2) "; on() { case "$$flags" in *" $$1 "*) echo "-D$$2=ON";; esac; }; \
	cmake -S $(LLAMA_SRC)/vendor/llama.cpp -B $(LLAMA_SRC)/out $$(command -v ninja >/dev/null && echo -G Ninja) -DCMAKE_BUILD_TYPE=Release \
	  -DBUILD_SHARED_LIBS=OFF -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DGGML_NATIVE=OFF \
	  $$(on avx GGML_AVX) $$(on avx2 GGML_AVX2) $$(on fma GGML_FMA) $$(on f16c GGML_F16C) $$(on bmi2 GGML_BMI2) \
	  $$(on avx_vnni GGML_AVX_VNNI) $$(on avx512f GGML_AVX512) $$(on avx512vbmi GGML_AVX512_VBMI) \
	  $$(on avx512_vnni GGML_AVX512_VNNI) $$(on avx512_bf16 GGML_AVX512_BF16) >> "$$log" 2>&1 || fail configure; \
	echo "llama-server: build (5-10 min on 2 cores)"; \
	cmake --build $(LLAMA_SRC)/out --target llama-server -j$$(nproc) >> "$$log" 2>&1 || fail build; \
	$(LLAMA_SRC)/out/bin/llama-server --version >> "$$log" 2>&1 || fail "version check"; \
	cp $(LLAMA_SRC)/out/bin/llama-server $@ && echo "llama-server: done, $@"

# one target per notebook; each depends on the one before it. The pipeline runner decides from
# content hashes (notebook, package code, profile sections, upstream outputs) whether to re-execute.
01_generate: setup
	@$(RUN) run $@ --profile $(PROFILE)
02_judge: 01_generate
	@$(RUN) run $@ --profile $(PROFILE)
03_pair: 02_judge
	@$(RUN) run $@ --profile $(PROFILE)
# the training grid: one target (and one executed notebook) per run, so `make -j` can spread them.
# (Listed from the profile once .venv exists; on a fresh clone `make all` re-reads this after setup.)
TRAIN_RUNS := $(shell test -x $(PY) && $(PY) -m delta_utils.runner.pipeline runs --profile $(PROFILE) 2>/dev/null)
# ACCELERATE_CONFIG=configs/accelerate/zero3.yaml (or fsdp.yaml): train each run with `accelerate launch`
# on several GPUs instead of through the notebook
train-%: 03_pair
ifdef ACCELERATE_CONFIG
	$(VENV)/bin/accelerate launch --config_file $(ACCELERATE_CONFIG) -m delta_utils.stages.train --profile $(PROFILE) --run $*
else
	@$(RUN) run 04_train --run $* --profile $(PROFILE)
endif
04_train: 03_pair $(addprefix train-,$(TRAIN_RUNS))
	@$(RUN) run $@ --profile $(PROFILE)
05_evaluate: 04_train
	@$(RUN) run $@ --profile $(PROFILE)
06_analyze: 05_evaluate
	@$(RUN) run $@ --profile $(PROFILE)

# the preference sets (dataset repo REPO) and trained models (REPO-<run>) on the Hub; DRY_RUN=1 writes
# runs/<profile>/push/ only. The token comes from HF_TOKEN in the environment.
push: setup
	@test -n "$(REPO)" || { echo "make push needs REPO=user/name"; exit 2; }
	@$(PY) -m delta_utils.runner.export --profile $(PROFILE) --repo $(REPO) $(if $(DRY_RUN),--dry-run)

# the per-stage timing table; also writes figures/$(PROFILE)/timings.md from runs/$(PROFILE)/timings.jsonl
report:
	@$(RUN) report --profile $(PROFILE)

# the profile reference in docs/profiles.md, from the descriptions in delta_utils/profile/config.py (a test keeps them in sync)
docs: setup
	@$(RUN) fields --write > /dev/null

# the plan: grid, model calls per stage, Batch API chunks, decontamination, GPUs (LOAD_DATA=1: read hub datasets)
check: setup
	@$(RUN) check --profile $(PROFILE) $(if $(LOAD_DATA),--load-data)

# lm-evaluation-harness on the base policy and every trained run, beside 05_evaluate's numbers
# (TASKS=gsm8k,mmlu_pro LIMIT=50 LOCAL=gsm8k=../shared/data/gsm8k/test.jsonl,math500=data/math500.jsonl
#  MODELS=base,dpo_x FEWSHOT=5; LOCAL names a local file per benchmark, LOCAL_GSM8K=FILE is gsm8k's alone)
lm-eval: setup
	$(PY) -m delta_utils.runner.lmeval --profile $(PROFILE) $(if $(TASKS),--tasks $(TASKS)) $(if $(LIMIT),--limit $(LIMIT)) \
		$(if $(LOCAL_GSM8K),--gsm8k-path $(LOCAL_GSM8K)) $(if $(LOCAL),--local $(LOCAL)) $(if $(MODELS),--models $(MODELS)) \
		$(if $(FEWSHOT),--num-fewshot $(FEWSHOT)) $(if $(MAX_GEN_TOKS),--max-gen-toks $(MAX_GEN_TOKS))

smoke:
	@$(MAKE) --no-print-directory all PROFILE=smoke

# two workers (pytest-xdist): each test file runs whole on one worker (module fixtures are built once), the
# longest files first (tests/conftest.py orders them); the smoke pipeline overlaps the rest of the suite
test: setup
	$(PY) -m pytest -q -n 2 --dist loadfile --no-loadscope-reorder tests

# ruff (pyproject.toml [tool.ruff]): .ci/run fails on any finding
lint: setup
	$(VENV)/bin/ruff check .

# regenerate the output-free .ipynb pairs from the .py sources (jupytext)
notebooks: setup
	$(VENV)/bin/jupytext --set-kernel python3 --to ipynb notebooks/0*.py

lab: setup
	$(VENV)/bin/jupyter lab --notebook-dir=.

# the profile's run folder (stage outputs, caches, trained runs); the committed figures stay
clean:
	rm -rf $(RUNS)

# the profile's figures, findings, timings and executed notebooks: committed for tiny and tiny_seed1, so
# this one has to be asked for by name
clean-figures:
	rm -rf figures/$(PROFILE)
