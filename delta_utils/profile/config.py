"""Profiles: one validated schema that picks models, sizes, backends and seeds.

A profile is a YAML file in ``configs/`` (or any path). It is validated on load,
before any heavy work: an unknown key, a wrong type, a negative size or an
unknown model name raises ``ProfileError`` naming the field.

    profile = load_profile("tiny")          # configs/tiny.yaml
    profile.section_hash("generation")      # what a stage's cache key includes
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeInt,
    PositiveInt,
    ValidationError,
    field_validator,
    model_validator,
)

from ..core.paths import CONFIG_DIR, REPO_ROOT, resolve, runs_root  # noqa: F401  REPO_ROOT, CONFIG_DIR, runs_root: re-exported
from ..core.store import content_hash
from ..data import prefsets
from ..data.benchmark_specs import BENCHMARKS
from ..serving.models import BUILTIN, REGISTRY, ModelSpec


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _f(default=..., description: str = "", **kw):
    """A profile field: its default, constraints and the description `pipeline fields` and docs/profiles.md show."""
    return Field(default, description=description, **kw)


# ---------------------------------------------------------------- shared pieces: sampling, serving, task sets

class Sampling(_Strict):
    """How a model samples (generation, judging, evaluation)."""

    temperature: float = _f(0.7, "sampling temperature (0: greedy)", ge=0)
    top_p: float = _f(1.0, "nucleus sampling mass", gt=0, le=1)
    max_tokens: PositiveInt = _f(256, "most tokens one completion may write; longer ones are cut "
                                      "(finish_reason: length)")
    n: PositiveInt = _f(1, "samples per prompt")
    seed: int = _f(0, "sampling seed; sample i of a prompt uses seed + i")
    stop: list[str] = _f([], "stop strings")


class ServerSpec(_Strict):
    """A local model server: llama.cpp on CPU, vLLM on GPUs."""

    slots: PositiveInt = _f(8, "llama.cpp: requests decoded in parallel")
    ctx_per_slot: PositiveInt = _f(1536, "llama.cpp: context tokens per slot (prompt + completion)")
    threads: int | None = _f(None, "llama.cpp: CPU threads (None: $OMP_NUM_THREADS, else every core)", ge=1)
    deterministic: bool = _f(False, "one request at a time, no prompt-cache reuse: bit-identical reruns (llama.cpp "
                                    "rounds differently in batches of different sizes, ggml-org/llama.cpp#7052), "
                                    "about 2x slower")
    tensor_parallel_size: PositiveInt = _f(1, "vLLM: GPUs per served model")
    max_model_len: PositiveInt | None = _f(None, "vLLM: context length (prompt + reasoning budget)")
    vllm_args: list[str] = _f([], "vLLM: further `vllm serve` flags")


class TaskSpec(_Strict):
    """A set of problems: procedural (family + n + seed) or a real benchmark (by name, hub or local path)."""

    family: Literal["arithmetic", "stem", "code_output", "benchmark"] = _f(
        "arithmetic", "procedural family, or benchmark for a registered real benchmark")
    n: PositiveInt | None = _f(None, "procedural: how many problems; benchmark: a seeded subset (None: all)")
    seed: int = _f(0, "seed of the procedural problems or of the benchmark subset")
    min_steps: PositiveInt = _f(1, "arithmetic: fewest operations per problem")
    max_steps: PositiveInt = _f(3, "arithmetic: most operations per problem")
    ops: list[Literal["add", "sub", "mul", "div"]] = _f(["add", "sub", "mul", "div"], "arithmetic: operations drawn",
                                                        min_length=1)
    max_operand: int = _f(25, "arithmetic: largest start value offset and added amount", ge=2)
    benchmark: str | None = _f(None, "with family benchmark: its registered name (gsm8k, math500, humaneval, ...)")
    path: str | None = _f(None, "with family benchmark: a local JSONL/Parquet copy (offline), relative to the repo")
    release_window: list[str] | None = _f(None, "with a dated benchmark (livecodebench): [start, end) as YYYY-MM-DD; "
                                                "only problems released in the window are kept (contamination control)")

    @model_validator(mode="after")
    def _check(self):
        if self.min_steps > self.max_steps:
            raise ValueError("min_steps must be <= max_steps")
        if self.family == "benchmark":
            known = sorted(BENCHMARKS)
            if self.benchmark not in known:
                raise ValueError(f"benchmark: {self.benchmark!r} is not one of {known}")
            if self.path is not None and not self.resolved_path.is_file():
                raise ValueError(f"path: no file at {self.resolved_path}")
        elif self.n is None:
            raise ValueError(f"n: a procedural family ({self.family}) needs the number of problems")
        elif self.benchmark or self.path:
            raise ValueError("benchmark/path are for family: benchmark")
        if self.release_window is not None:
            import datetime

            if len(self.release_window) != 2:
                raise ValueError(f"release_window: two dates [start, end), got {self.release_window}")
            try:
                start, end = (datetime.date.fromisoformat(d) for d in self.release_window)
            except (TypeError, ValueError):
                raise ValueError(f"release_window: dates as YYYY-MM-DD, got {self.release_window}") from None
            if start >= end:
                raise ValueError(f"release_window: start {start} must come before end {end}")
        return self

    @property
    def resolved_path(self) -> Path | None:
        """`path` as a file to read (~ expanded, relative to the repository root); None: the hub copy."""
        return resolve(self.path) if self.path is not None else None


class TrainPromptsSpec(TaskSpec):
    """The training prompts every generator answers (01_generate)."""

    allow_eval_overlap: bool = _f(False, "allow training prompts that also appear in an eval set (exact after "
                                         "normalising, or a shared 13-gram with benchmark text): train on them "
                                         "anyway (overrides on_overlap)")
    on_overlap: Literal["fail", "drop"] = _f(
        "fail", "what a training prompt that appears in an eval set does: fail stops `make check` and 01_generate; "
                "drop removes it before generation (listed in 01_generate/decontamination_dropped.jsonl)")


class EvalSetSpec(TaskSpec):
    """One evaluation set of 05_evaluate."""

    name: str = _f(description="the set's name in records, tables and figures")
    domain: Literal["in", "out"] | None = _f(None, "in or out of domain (default: arithmetic/math in, STEM/code out)")
    samples: PositiveInt = _f(1, "k samples per item: avg@k, sampled at `temperature`")
    temperature: float = _f(0.6, "sampling temperature when samples > 1", ge=0)
    max_tokens: PositiveInt | None = _f(None, "overrides evaluate.sampling.max_tokens for this set")

    def resolved_domain(self) -> str:
        if self.domain:
            return self.domain
        if self.family == "benchmark":
            return BENCHMARKS[self.benchmark].domain
        return "in" if self.family == "arithmetic" else "out"


# ---------------------------------------------------------------- the stages, in pipeline order

class GenerationSpec(_Strict):
    """01_generate: the generator ladder and how it samples."""

    backend: Literal["llamacpp", "vllm", "openai"] = _f(
        "llamacpp", "llamacpp (CPU), vllm (GPU) or an OpenAI-compatible endpoint "
                    "(DELTA_LAB_OPENAI_BASE_URL / _API_KEY)")
    generators: list[str] = _f(description="the ladder: registered model names, rejected one included", min_length=2)
    rejected: str = _f(description="the fixed rejected generator (one of generators)")
    sampling: Sampling = _f(Sampling(), "how every generator samples")
    samples: dict[str, PositiveInt] = _f({}, "samples per prompt of named generators, overriding sampling.n (e.g. "
                                             "two of the correctness generator, so that its correct and wrong "
                                             "traces meet on a prompt; the generator-level sets use sample 0)")
    server: ServerSpec = _f(ServerSpec(), "the local server each generator runs in")
    concurrency: PositiveInt = _f(8, "requests in flight per generator")

    @model_validator(mode="after")
    def _rejected_in_ladder(self):
        if self.rejected not in self.generators:
            raise ValueError(f"rejected generator {self.rejected!r} must be one of generators {self.generators}")
        unknown = sorted(set(self.samples) - set(self.generators))
        if unknown:
            raise ValueError(f"generation.samples names {unknown}, which are not generators {self.generators}")
        return self

    def n_samples(self, model: str) -> int:
        """Samples per prompt that `model` writes."""
        return self.samples.get(model, self.sampling.n)


class JudgeSpec(_Strict):
    """02_judge: the LLM judge that scores every trace on the five dimensions."""

    backend: Literal["llamacpp", "vllm", "openai", "openai_batch"] = _f(
        "llamacpp", "llamacpp, vllm, openai (any OpenAI-compatible endpoint) or openai_batch (the Batch API: half "
                    "price, hours of latency, resumable by batch id)")
    model: str = _f(description="the judge model (a registered name)")
    samples: PositiveInt = _f(1, "k judge samples per trace, averaged (the paper: 5)")
    scoring: Literal["expected", "chained", "sampled"] = _f(
        "expected", "expected: each score is the expectation over the judge's probabilities of the tokens 1-5 at "
                    "that score's position (G-Eval style: continuous, no ties; a reply without log-probabilities "
                    "falls back to the integer, marked per judgment); chained: the same expectations, but the reply's "
                    "JSON is written for the judge up to each score and it gives one token there (one call per "
                    "dimension on a cached prompt; needs a server that continues a trailing assistant message: "
                    "llama.cpp, vLLM); sampled: the integers as written")
    validation_items: int = _f(120, "how many labelled real solutions (tests/data) 02_judge validates the judge on, "
                                    "as balanced between correct and incorrect as the file allows (0: skip)", ge=0)
    temperature: float = _f(0.6, "judge sampling temperature", ge=0)
    max_tokens: PositiveInt = _f(128, "most tokens of one judge reply")
    concurrency: PositiveInt = _f(8, "judge requests in flight")
    server: ServerSpec = _f(ServerSpec(), "the local judge server (llamacpp, vllm)")
    request_timeout_s: float | None = _f(None, "seconds before one request times out (None: scaled with max_tokens "
                                               "and concurrency, see engine.request_timeout)", gt=0)
    max_retries: int = _f(5, "client retries per call (429, 5xx, timeouts, with backoff)", ge=0)
    price_in_per_mtok: float = _f(0.0, "dollars per million prompt tokens, for the cost report (0: local)", ge=0)
    price_out_per_mtok: float = _f(0.0, "dollars per million completion tokens", ge=0)
    batch_poll_s: float = _f(30.0, "openai_batch: seconds between status polls", gt=0)
    batch_max_requests: PositiveInt = _f(50_000, "openai_batch: requests per batch (the API's cap: 50,000); larger "
                                                 "jobs are split into chunks, each resumed by its own batch id")
    batch_max_bytes: PositiveInt = _f(200_000_000, "openai_batch: input bytes per batch (the API's cap: 200 MB)")

    @model_validator(mode="after")
    def _chained_backend(self):
        if self.scoring == "chained" and self.backend == "openai_batch":
            raise ValueError("judge.scoring 'chained' asks for each score after the one before: it cannot go "
                             "through the Batch API (use 'expected')")
        return self


class PairingSpec(_Strict):
    """03_pair: the preference sets (names: `prefsets.py`)."""

    top_fractions: list[float] = _f([0.5], "fractions of the widest-gap pool kept by top-k selection (and random "
                                           "subsets of the same size)")
    dimension: str = _f("step_coherence", "the judged dimension (or aggregate) the findings test top-k selection on")
    seed: int = _f(0, "random subsets (draw i: seed + i) and the tie-break among equal deltas at a top-k cutoff")
    random_draws: PositiveInt = _f(1, "random subsets per fraction: random<pct> (draw 0), random<pct>__draw<i>, so "
                                      "top-k vs random is repeated over draws")
    correctness_generator: str | None = _f(None, "the one generator the chosen traces of the correctness__* sets come "
                                                 "from (default: the widest-gap one)")
    heldout: NonNegativeInt = _f(0, "training prompts held out of every preference set (a seeded draw): their pairs, "
                                    "each chosen generator vs the rejected one, are 03_pair/heldout.jsonl, on which "
                                    "05_evaluate measures every run's held-out preference accuracy")

    @model_validator(mode="after")
    def _fractions(self):
        for f in self.top_fractions:
            if not 0 < f <= 1:
                raise ValueError(f"top_fractions must lie in (0, 1], got {f}")
        return self


class LoraSpec(_Strict):
    """LoRA adapters on every linear layer."""

    r: PositiveInt = _f(16, "adapter rank")
    alpha: PositiveInt = _f(32, "LoRA alpha (scale alpha / r)")
    dropout: float = _f(0.0, "LoRA dropout", ge=0, lt=1)


class TrainHParams(_Strict):
    """04_train: what every run of the grid shares."""

    beta: float = _f(0.2, "DPO/KTO beta (the paper: 0.2)", gt=0)
    learning_rate: float = _f(5e-6, "constant learning rate, no warm-up (the paper: 5e-8 at 8B)", gt=0)
    max_steps: PositiveInt = _f(10, "optimizer steps per run, when epochs is unset (equal compute: a smaller subset "
                                    "is seen more often)")
    epochs: float | None = _f(None, "passes over each run's rows instead of max_steps: ceil(epochs x rows / "
                                    "(batch_size x grad_accum x processes)) steps (equal passes)", gt=0)
    batch_size: PositiveInt = _f(4, "rows per device per step")
    grad_accum: PositiveInt = _f(1, "gradient accumulation steps")
    max_length: PositiveInt = _f(512, "prompt + completion tokens kept per row")
    lora: LoraSpec | None = _f(LoraSpec(), "LoRA adapters (null: full fine-tuning)")
    gradient_checkpointing: bool = _f(False, "recompute activations in the backward pass (less memory, slower)")
    precompute_ref_log_probs: bool = _f(True, "compute the reference log-probs once, persisted across runs")
    save_steps: PositiveInt | None = _f(None, "checkpoint every N steps (default: four checkpoints per run)")
    precision: Literal["auto", "fp32", "bf16"] = _f(
        "auto", "bf16 autocast, weights and optimizer in fp32; auto: bf16 on CUDA and on CPUs with native bf16 "
                "matrix units (AMX, AVX512-BF16), fp32 elsewhere")
    seed: int = _f(0, "training seed (data order, LoRA init)")
    report_to: Literal["none", "trackio", "wandb"] = _f(
        "none", "experiment tracking with the run name, profile and run hash as config; trackio is local "
                "(`trackio show`), wandb needs WANDB_API_KEY; does not change what is trained")


class RunSpec(_Strict):
    """One run of the training grid."""

    name: str = _f(description="the run's name (its folder, its model name in records)", pattern=r"^[A-Za-z0-9_.-]+$")
    method: Literal["dpo", "kto"] = _f(description="TRL's DPOTrainer or KTOTrainer")
    preference_set: str = _f(description="a set this profile's 03_pair builds, e.g. gen__qwen2.5-coder-1.5b, "
                                         "top50__step_coherence, random50 (checked when the profile loads)")
    loss_type: str | None = _f(None, "a TRL loss variant (DPO: ipo, hinge, robust, nca_pair, apo_zero, ...; KTO: "
                                     "apo_zero_unpaired), checked against the installed TRL; None: TRL's default")

    @field_validator("loss_type")
    @classmethod
    def _loss_type(cls, v, info):
        method = info.data.get("method")
        if v is not None and method:
            choices = trl_loss_types(method)
            if v not in choices:
                raise ValueError(f"{v!r} is not a {method.upper()} loss of the installed TRL; choices: "
                                 f"{', '.join(choices)}")
        return v


def trl_loss_types(method: str) -> list[str]:
    """The loss variants the installed TRL accepts for DPO or KTO, read from its config classes."""
    import dataclasses
    import re

    if method == "dpo":
        from trl import DPOConfig as cfg
    else:
        from trl import KTOConfig as cfg
    meta = {f.name: f.metadata for f in dataclasses.fields(cfg)}["loss_type"]
    return list(meta.get("choices") or re.findall(r"`'([a-z_]+)'`", meta.get("help", "")))


class TrainSpec(_Strict):
    """04_train: the policy and the grid of runs."""

    policy: str = _f(description="the policy model (a registered name)")
    hparams: TrainHParams = _f(TrainHParams(), "hyper-parameters every run shares")
    runs: list[RunSpec] = _f(description="the training grid", min_length=1)
    device: Literal["auto", "cpu", "cuda"] = _f("auto", "where training and hf evaluation run (auto: CUDA if visible)")


class EvaluateSpec(_Strict):
    """05_evaluate: the evaluation sets and how checkpoints answer them."""

    sets: list[EvalSetSpec] = _f(description="the evaluation sets", min_length=1)
    sampling: Sampling = _f(Sampling(temperature=0.0, max_tokens=256), "how checkpoints answer (default: greedy)")
    backend: Literal["hf", "vllm"] = _f("hf", "hf: transformers in-process (CPU default); vllm: each checkpoint served "
                                              "by `vllm serve` (full weights, or base + LoRA adapter)")
    batch_size: PositiveInt = _f(32, "hf: prompts per generate() call")
    precision: Literal["auto", "fp32", "bf16"] = _f(
        "auto", "hf: the weights' precision while decoding (auto: bf16 on CUDA, fp32 on a CPU; a LoRA adapter is "
                "merged in fp32 first). bf16 is about 1.8x faster on a CPU with AVX512-BF16, but its greedy text hangs "
                "on rounding (evaluate.decode_precision); each precision has its own cached answers. The learning "
                "signal (answer_loglik) is scored in fp32 on a CPU either way")
    concurrency: PositiveInt = _f(64, "vllm: requests in flight")
    server: ServerSpec = _f(ServerSpec(), "vllm: tensor_parallel_size, max_model_len, vllm_args")
    generators: bool = _f(True, "also measure every generator on the eval sets")
    answer_loglik: bool = _f(True, "also score, teacher-forced, each checkpoint's log-likelihood of every item's "
                                   "reference answer and of the held-out pairs' traces "
                                   "(delta_utils/stages/likelihood.py: what training did to the policy; batched "
                                   "forward passes per checkpoint, in-process on train.device: fp32 on CPU, where bf16 "
                                   "shrank the measured shifts by ~5 %; bf16 on CUDA)")


class AnalysisSpec(_Strict):
    """06_analyze: how the findings are tested."""

    alpha: float = _f(0.05, "family-wise error rate, Holm-corrected across the findings table", gt=0, lt=1)
    margin: float = _f(0.05, "accuracy margin of the 'nearly matches' (non-inferiority) and 'matters less' "
                             "(equivalence) claims", gt=0, lt=1)


class ModelDef(_Strict):
    """A model the registry does not know (paper scale: a hub id, no packaged GGUF)."""

    name: str = _f(description="the name the profile uses for it")
    family: str = _f(description="model family (qwen2.5, llama3, ...), shown in tables")
    hub_id: str = _f(description="a hub repo id (org/name) or a local transformers folder (absolute, ~ or ./)")
    revision: str | None = _f(None, "hub branch, tag or commit (pin it for reproducible runs)")
    params_m: PositiveInt = _f(description="parameters in millions (orders the ladder, sizes GPUs in `make check`)")
    chat: bool = _f(True, "has a chat template (False: few-shot prompts)")
    licence: str = _f("see the model card", "licence, shown on exported model cards")
    endpoint_env: str | None = _f(None, "served by its own OpenAI-compatible endpoint whatever the stage's backend: "
                                        "URL and key from <endpoint_env>_BASE_URL / _API_KEY",
                                  pattern=r"^[A-Z][A-Z0-9_]*$")
    served_name: str | None = _f(None, "the name that endpoint knows the model by (default: hub_id)")
    max_context: PositiveInt | None = _f(None, "the model's own context limit in tokens (its config.json "
                                               "max_position_embeddings); `make check` fits every request to it")


class Profile(_Strict):
    """A whole study: models, sizes, backends and seeds for every stage."""

    name: str = _f(description="the profile's name (default: the file's stem); runs go to runs/<name>/")
    description: str = _f("", "one line shown by 01_generate and `make check`")
    models: list[ModelDef] = _f([], "models beyond the built-in registry (hub ids, folders, endpoints)")
    train_prompts: TrainPromptsSpec = _f(description="01_generate: the training prompts")
    generation: GenerationSpec = _f(description="01_generate: the generator ladder")
    judge: JudgeSpec = _f(description="02_judge: the LLM judge")
    pairing: PairingSpec = _f(PairingSpec(), "03_pair: the preference sets")
    train: TrainSpec = _f(description="04_train: the policy and the grid")
    evaluate: EvaluateSpec = _f(description="05_evaluate: the evaluation sets")
    analysis: AnalysisSpec = _f(AnalysisSpec(), "06_analyze: the statistics of the findings")

    @model_validator(mode="after")
    def _known_models(self):
        for m in self.models:
            if m.name in BUILTIN:
                raise ValueError(f"models: {m.name!r} is a built-in model; give your definition another name")
        known = set(BUILTIN) | {m.name for m in self.models}  # validating registers nothing (register_models does)
        named = [("generation.generators", g) for g in self.generation.generators]
        named += [("judge.model", self.judge.model), ("train.policy", self.train.policy)]
        for field, m in named:
            if m not in known:
                raise ValueError(f"{field}: unknown model {m!r}; known: {', '.join(sorted(known))}")
        names = [r.name for r in self.train.runs]
        if len(set(names)) != len(names):
            raise ValueError("train.runs: run names must be unique")
        if self.pairing.dimension not in prefsets.SELECTION_DIMENSIONS:
            raise ValueError(f"pairing.dimension: {self.pairing.dimension!r} is not one of "
                             f"{prefsets.SELECTION_DIMENSIONS}")
        cg, chosen = self.pairing.correctness_generator, [m for m in self.generation.generators
                                                          if m != self.generation.rejected]
        if cg is not None and cg not in chosen:
            raise ValueError(f"pairing.correctness_generator: {cg!r} is not a chosen generator ({', '.join(chosen)})")
        if self.train_prompts.n is not None and self.pairing.heldout >= self.train_prompts.n:
            raise ValueError(f"pairing.heldout: {self.pairing.heldout} held-out prompts leave none of the "
                             f"{self.train_prompts.n} training prompts (train_prompts.n) to train on")
        return self

    @model_validator(mode="after")
    def _known_preference_sets(self):
        for i, r in enumerate(self.train.runs):
            try:
                prefsets.check(r.preference_set, self)
            except ValueError as e:
                raise ValueError(f"train.runs.{i}.preference_set (run {r.name!r}): {e}") from None
        return self

    def section_hash(self, *sections: str) -> str:
        return content_hash({s: self.model_dump(mode="json")[s] for s in sections})

    def run_dir(self) -> Path:
        return runs_root() / self.name


def set_sampling(profile: Profile, spec: EvalSetSpec) -> Sampling:
    """How checkpoints and generators answer one eval set: greedy by default; k samples at the set's temperature
    for avg@k; the set's own max tokens."""
    base = profile.evaluate.sampling
    upd = {"n": spec.samples}
    if spec.samples > 1:
        upd["temperature"] = spec.temperature
    if spec.max_tokens:
        upd["max_tokens"] = spec.max_tokens
    return base.model_copy(update=upd)


def generator_server(profile: Profile) -> ServerSpec:
    """The server a generator answers the eval sets in: generation's (its GPUs, its llama.cpp slots), with vLLM's
    context taken from `evaluate.server.max_model_len` when set, since evaluation budgets outgrow generation's."""
    g, ev = profile.generation, profile.evaluate
    if g.backend == "vllm" and ev.server.max_model_len:
        return g.server.model_copy(update={"max_model_len": ev.server.max_model_len})
    return g.server


def field_reference(model: type[BaseModel] = None, prefix: str = "") -> list[dict]:
    """Every profile field, depth first: dotted path, type, default and description (`pipeline fields`)."""
    model = model or Profile
    rows = []
    for name, f in model.model_fields.items():
        path = f"{prefix}{name}"
        ann = f.annotation
        inner = [a for a in getattr(ann, "__args__", ()) if isinstance(a, type) and issubclass(a, BaseModel)]
        sub = ann if isinstance(ann, type) and issubclass(ann, BaseModel) else (inner[0] if inner else None)
        default = "required" if f.is_required() else ("" if isinstance(f.default, BaseModel) else repr(f.default))
        rows.append({"field": path, "type": getattr(ann, "__name__", str(ann)).replace("typing.", ""),
                     "default": default, "description": f.description or "", "group": model.__name__})
        if sub is not None:
            rows += field_reference(sub, f"{path}{'[]' if 'list' in str(ann) else ''}.")
    return rows


def field_reference_markdown() -> str:
    """The profile reference as Markdown, one table per section (docs/profiles.md, between its markers)."""
    rows = field_reference()
    sections = {r["field"].split(".")[0].removesuffix("[]") for r in rows if "." in r["field"]}

    def cell(text: str) -> str:
        return text.replace("|", "/").replace("<", "&lt;").replace(">", "&gt;")

    out, section = [], None
    for r in rows:
        top = r["field"].split(".")[0].removesuffix("[]")
        top = top if top in sections else "(top level)"
        if top != section:
            section = top
            out += ["", f"**`{top}`**" if top in sections else "**top level**", "",
                    "| field | default | description |", "|---|---|---|"]
        out.append(f"| `{r['field']}` | {cell(r['default'])} | {cell(r['description'])} |")
    return "\n".join(out).strip() + "\n"


class ProfileError(ValueError):
    """A profile that does not validate; the message names the field(s)."""


def profile_path(name_or_path: str | os.PathLike) -> Path:
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") or p.exists():
        return p
    return CONFIG_DIR / f"{name_or_path}.yaml"


def _merged(base: dict, override: dict) -> dict:
    """`override` over `base`: mappings merge key by key, anything else (lists included) is replaced."""
    out = dict(base)
    for k, v in override.items():
        out[k] = _merged(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _profile_data(name_or_path: str | os.PathLike, seen: tuple = ()) -> tuple[Path, dict]:
    """A profile file's fields, with those of its `base:` profile underneath, recursively."""
    path = profile_path(name_or_path)
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in CONFIG_DIR.glob("*.yaml")))
        raise ProfileError(f"profile {str(name_or_path)!r} not found at {path}; known profiles: {known}")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise ProfileError(f"{path}: not valid YAML: {e}") from None
    if not isinstance(data, dict):
        raise ProfileError(f"{path}: a profile must be a YAML mapping of fields, got {type(data).__name__}")
    base = data.pop("base", None)
    if base is None:
        return path, data
    if not isinstance(base, str):
        raise ProfileError(f"{path}: base: must name one profile, got {base!r}")
    if path.resolve() in seen:
        raise ProfileError(f"{path}: base: profiles inherit in a cycle ({' -> '.join(p.stem for p in seen)})")
    # a name is a shipped profile; a .yaml path is read relative to this file's folder
    base_path = path.parent / base if base.endswith((".yaml", ".yml")) else profile_path(base)
    _, base_data = _profile_data(base_path, seen + (path.resolve(),))
    base_data.pop("name", None)  # a derived profile is its own run, under its own name
    return path, _merged(base_data, data)


def load_profile(name_or_path: str | os.PathLike) -> Profile:
    """A profile from configs/<name>.yaml or a path. `base: <profile>` inherits every field of another
    profile; the file then lists only what differs (mappings merge key by key, lists are replaced)."""
    path, data = _profile_data(name_or_path)
    data.setdefault("name", path.stem)
    try:
        profile = Profile.model_validate(data)
    except ValidationError as e:
        lines = []
        for err in e.errors():
            loc = ".".join(str(x) for x in err["loc"])
            msg = err["msg"].removeprefix("Value error, ")  # a profile-wide check names its field(s) itself
            shown = err["type"] != "missing" and not isinstance(err.get("input"), dict)
            lines.append(f"  {loc + ': ' if loc else ''}{msg}" + (f" (got {err['input']!r})" if shown else ""))
        raise ProfileError(f"{path}: invalid profile:\n" + "\n".join(lines)) from None
    register_models(profile)
    return profile


def register_models(profile: Profile) -> None:
    """Make the profile's own models (`models:`, hub ids or folders) known to the model registry
    (`serving.models.get_spec`), as `load_profile` does once the profile is valid. The profile loaded last defines
    a name; built-in models cannot be redefined (validation refuses them)."""
    for m in profile.models:
        REGISTRY[m.name] = ModelSpec(**m.model_dump())
