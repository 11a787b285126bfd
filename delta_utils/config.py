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
from pydantic import BaseModel, ConfigDict, Field, PositiveInt, ValidationError, field_validator, model_validator

from . import prefsets
from .benchmark_specs import BENCHMARKS
from .models import BUILTIN, REGISTRY, ModelSpec
from .paths import CONFIG_DIR, REPO_ROOT, resolve, runs_root  # noqa: F401  REPO_ROOT, CONFIG_DIR, runs_root: re-exported
from .rubric import DIMENSION_NAMES
from .store import content_hash

NonNegInt = Field(ge=0)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Sampling(_Strict):
    temperature: float = Field(0.7, ge=0)
    top_p: float = Field(1.0, gt=0, le=1)
    max_tokens: PositiveInt = 256
    n: PositiveInt = 1  # samples per prompt
    seed: int = 0
    stop: list[str] = []


class ServerSpec(_Strict):
    slots: PositiveInt = 8
    ctx_per_slot: PositiveInt = 1536
    threads: int | None = Field(None, ge=1)
    # bit-identical reruns: llama.cpp rounds differently in batches of different sizes (ggml-org/llama.cpp#7052),
    # so concurrent slots make sampled text depend on timing. `deterministic` serves one request at a time
    # (one slot, no prompt-cache reuse): slower, but the same profile and seed give the same text.
    deterministic: bool = False
    # vLLM (GPU profiles): GPUs per served model, context length (prompt + reasoning budget), further flags
    tensor_parallel_size: PositiveInt = 1
    max_model_len: PositiveInt | None = None
    vllm_args: list[str] = []


class TaskSpec(_Strict):
    """A set of problems: procedural (family + n + seed) or a real benchmark (by name, hub or local path)."""

    family: Literal["arithmetic", "stem", "code_output", "benchmark"] = "arithmetic"
    n: PositiveInt | None = None  # procedural: how many; benchmark: a seeded subset (None: all)
    seed: int = 0
    min_steps: PositiveInt = 1
    max_steps: PositiveInt = 3
    ops: list[Literal["add", "sub", "mul", "div"]] = Field(["add", "sub", "mul", "div"], min_length=1)  # arithmetic
    max_operand: int = Field(25, ge=2)  # arithmetic: largest start value offset and added amount
    benchmark: str | None = None  # with family: benchmark, e.g. gsm8k, math500, humaneval
    path: str | None = None  # a local JSONL/Parquet copy of the benchmark (offline)

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
        return self

    @property
    def resolved_path(self) -> Path | None:
        """`path` as a file to read (~ expanded, relative to the repository root); None: the hub copy."""
        return resolve(self.path) if self.path is not None else None


class TrainPromptsSpec(TaskSpec):
    """The training prompts. Those that also appear in an eval set (exact after normalising, or a shared
    13-gram with benchmark text) fail `make check` and 01_generate unless the profile opts out."""

    allow_eval_overlap: bool = False


class EvalSetSpec(TaskSpec):
    name: str
    domain: Literal["in", "out"] | None = None  # default: arithmetic/math in, STEM/code out
    samples: PositiveInt = 1  # k samples per item: avg@k (sampled at `temperature`)
    temperature: float = Field(0.6, ge=0)  # used when samples > 1
    max_tokens: PositiveInt | None = None  # overrides evaluate.sampling.max_tokens for this set

    def resolved_domain(self) -> str:
        if self.domain:
            return self.domain
        if self.family == "benchmark":
            return BENCHMARKS[self.benchmark].domain
        return "in" if self.family == "arithmetic" else "out"


class GenerationSpec(_Strict):
    backend: Literal["llamacpp", "vllm", "openai"] = "llamacpp"
    generators: list[str] = Field(min_length=2)
    rejected: str
    sampling: Sampling = Sampling()
    server: ServerSpec = ServerSpec()
    concurrency: PositiveInt = 8

    @model_validator(mode="after")
    def _rejected_in_ladder(self):
        if self.rejected not in self.generators:
            raise ValueError(f"rejected generator {self.rejected!r} must be one of generators {self.generators}")
        return self


class JudgeSpec(_Strict):
    # openai_batch: the OpenAI Batch API (half price, hours of latency), resumable by batch id
    backend: Literal["llamacpp", "vllm", "openai", "openai_batch"] = "llamacpp"
    model: str
    samples: PositiveInt = 1  # k judge samples per trace (the paper: 5)
    # expected: each score is the expectation over the judge's probabilities of the tokens 1-5 at that
    # score's position (G-Eval style: continuous, no ties), from the reply's top log-probabilities; a reply
    # without them falls back to the sampled integer (marked per judgment). sampled: the integers as written.
    scoring: Literal["expected", "sampled"] = "expected"
    # 02_judge validates the judge on this many of the labelled real solutions in tests/data (0: skip)
    validation_items: int = Field(120, ge=0)
    temperature: float = Field(0.6, ge=0)
    max_tokens: PositiveInt = 128
    concurrency: PositiveInt = 8
    server: ServerSpec = ServerSpec()
    request_timeout_s: float = Field(300.0, gt=0)
    max_retries: int = Field(5, ge=0)  # per call, by the client (429/5xx/timeouts, with backoff)
    price_in_per_mtok: float = Field(0.0, ge=0)  # dollars per million prompt tokens (0: local)
    price_out_per_mtok: float = Field(0.0, ge=0)
    batch_poll_s: float = Field(30.0, gt=0)
    # the Batch API caps one batch at 50,000 requests and 200 MB of input: larger jobs are split into
    # chunks under both limits, each submitted and resumed by its own batch id
    batch_max_requests: PositiveInt = 50_000
    batch_max_bytes: PositiveInt = 200_000_000


class PairingSpec(_Strict):
    top_fractions: list[float] = [0.5]
    dimension: str = "step_coherence"  # for the top-k selection trained in the grid
    seed: int = 0  # random subsets and the tie-break among equal deltas at a top-k cutoff
    # seeded random subsets per fraction: random<pct> (draw 0), random<pct>__draw<i> for i >= 1, so the
    # top-k vs random comparison can be repeated over draws
    random_draws: PositiveInt = 1
    # the chosen traces of the correctness__* sets come from this one generator (default: the widest-gap
    # one), so correctness is not confounded with which model wrote the chosen trace
    correctness_generator: str | None = None

    @model_validator(mode="after")
    def _fractions(self):
        for f in self.top_fractions:
            if not 0 < f <= 1:
                raise ValueError(f"top_fractions must lie in (0, 1], got {f}")
        return self


class AnalysisSpec(_Strict):
    alpha: float = Field(0.05, gt=0, lt=1)  # family-wise, Holm-corrected across the findings table
    # accuracy margin of the "nearly matches" (non-inferiority) and "matters less" (equivalence) claims
    margin: float = Field(0.05, gt=0, lt=1)


class LoraSpec(_Strict):
    r: PositiveInt = 16
    alpha: PositiveInt = 32
    dropout: float = Field(0.0, ge=0, lt=1)


class TrainHParams(_Strict):
    beta: float = Field(0.2, gt=0)
    learning_rate: float = Field(5e-6, gt=0)
    max_steps: PositiveInt = 10
    # epochs set: each run trains ceil(epochs x its rows / (batch_size x grad_accum x processes)) steps instead
    # of max_steps, so subsets of different sizes are compared at equal passes over their data; unset: every
    # run takes max_steps (equal compute, so a smaller subset is seen more often)
    epochs: float | None = Field(None, gt=0)
    batch_size: PositiveInt = 4
    grad_accum: PositiveInt = 1
    max_length: PositiveInt = 512
    lora: LoraSpec | None = LoraSpec()
    gradient_checkpointing: bool = False
    precompute_ref_log_probs: bool = True
    save_steps: PositiveInt | None = None  # checkpoint every N steps (default: four checkpoints per run)
    # bf16 autocast (weights and optimizer stay fp32). auto: bf16 on CUDA, and on a CPU with native bf16
    # matrix units (AMX or AVX512-BF16: ~2x faster steps there); fp32 elsewhere
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    seed: int = 0
    # experiment tracking, passed to TRL with the run name, profile and run hash as the tracker's config;
    # trackio is local-first (offline, `trackio show`); wandb needs WANDB_API_KEY. Does not change what is trained.
    report_to: Literal["none", "trackio", "wandb"] = "none"


class RunSpec(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    method: Literal["dpo", "kto"]
    preference_set: str  # a set built by 03_pair, e.g. "gen__qwen2.5-coder-1.5b" or "top50__step_coherence"
    # a TRL loss variant (DPO: ipo, hinge, robust, nca_pair, sppo_hard, apo_zero, ...; KTO: apo_zero_unpaired),
    # checked against the installed TRL when the profile loads; None: TRL's default (DPO sigmoid, KTO kto)
    loss_type: str | None = None

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
    policy: str
    hparams: TrainHParams = TrainHParams()
    runs: list[RunSpec] = Field(min_length=1)
    device: Literal["auto", "cpu", "cuda"] = "auto"


class EvaluateSpec(_Strict):
    sets: list[EvalSetSpec] = Field(min_length=1)
    sampling: Sampling = Sampling(temperature=0.0, max_tokens=256)
    # hf: checkpoints run in-process with transformers (the CPU default). vllm: each checkpoint is served by
    # `vllm serve` (full weights, or the base model with its LoRA adapter) and queried over the OpenAI protocol
    backend: Literal["hf", "vllm"] = "hf"
    batch_size: PositiveInt = 32  # hf: prompts per generate() call
    concurrency: PositiveInt = 64  # vllm: requests in flight
    server: ServerSpec = ServerSpec()  # vllm: tensor_parallel_size, max_model_len, vllm_args
    generators: bool = True  # also measure every generator on the eval sets


class ModelDef(_Strict):
    """A model the registry does not know (paper scale: a hub id, no packaged GGUF)."""

    name: str
    family: str
    hub_id: str  # a hub repo id ("org/name") or a local transformers folder (absolute, ~ or ./ relative)
    revision: str | None = None  # hub branch, tag or commit (pin it for reproducible runs)
    params_m: PositiveInt
    chat: bool = True
    licence: str = "see the model card"
    # a model behind its own OpenAI-compatible endpoint (e.g. DeepSeek-R1 from a provider), whatever the
    # stage's backend: URL and key come from the environment variables <endpoint_env>_BASE_URL / _API_KEY
    endpoint_env: str | None = Field(None, pattern=r"^[A-Z][A-Z0-9_]*$")
    served_name: str | None = None  # the name that endpoint knows the model by (default: hub_id)


class Profile(_Strict):
    name: str
    description: str = ""
    seed: int = 0
    models: list[ModelDef] = []
    train_prompts: TrainPromptsSpec
    generation: GenerationSpec
    judge: JudgeSpec
    pairing: PairingSpec = PairingSpec()
    train: TrainSpec
    evaluate: EvaluateSpec
    analysis: AnalysisSpec = AnalysisSpec()

    @model_validator(mode="after")
    def _known_models(self):
        for m in self.models:
            if m.name in BUILTIN:
                raise ValueError(f"models: {m.name!r} is a built-in model; give your definition another name")
            REGISTRY[m.name] = ModelSpec(**m.model_dump())  # the profile loaded last defines it
        named = [("generation.generators", g) for g in self.generation.generators]
        named += [("judge.model", self.judge.model), ("train.policy", self.train.policy)]
        for field, m in named:
            if m not in REGISTRY:
                raise ValueError(f"{field}: unknown model {m!r}; known: {', '.join(sorted(REGISTRY))}")
        names = [r.name for r in self.train.runs]
        if len(set(names)) != len(names):
            raise ValueError("train.runs: run names must be unique")
        if self.pairing.dimension not in DIMENSION_NAMES + ["aggregate"]:
            raise ValueError(f"pairing.dimension: {self.pairing.dimension!r} is not one of "
                             f"{DIMENSION_NAMES + ['aggregate']}")
        cg, chosen = self.pairing.correctness_generator, [m for m in self.generation.generators
                                                          if m != self.generation.rejected]
        if cg is not None and cg not in chosen:
            raise ValueError(f"pairing.correctness_generator: {cg!r} is not a chosen generator ({', '.join(chosen)})")
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


class ProfileError(ValueError):
    """A profile that does not validate; the message names the field(s)."""


def profile_path(name_or_path: str | os.PathLike) -> Path:
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") or p.exists():
        return p
    return CONFIG_DIR / f"{name_or_path}.yaml"


def load_profile(name_or_path: str | os.PathLike) -> Profile:
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
    data.setdefault("name", path.stem)
    try:
        return Profile.model_validate(data)
    except ValidationError as e:
        lines = []
        for err in e.errors():
            loc = ".".join(str(x) for x in err["loc"])
            msg = err["msg"].removeprefix("Value error, ")  # a profile-wide check names its field(s) itself
            shown = err["type"] != "missing" and not isinstance(err.get("input"), dict)
            lines.append(f"  {loc + ': ' if loc else ''}{msg}" + (f" (got {err['input']!r})" if shown else ""))
        raise ProfileError(f"{path}: invalid profile:\n" + "\n".join(lines)) from None
