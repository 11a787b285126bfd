"""Where models run and in which precision: `train.device` and `train.hparams.precision` resolved on this
machine (used by training, in-process evaluation and lm-eval)."""
from __future__ import annotations


def resolve_device(pref: str) -> str:
    """'auto': CUDA when a device is visible, else the CPU; 'cuda' without one is an error."""
    import torch

    if pref == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if pref == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("train.device is 'cuda' but no CUDA device is visible")
    return pref


def resolve_precision(pref: str, device: str) -> str:
    """bf16 where the hardware computes it natively (CUDA; CPUs with AMX or AVX512-BF16), else fp32."""
    if pref != "auto":
        return pref
    if device == "cuda":
        return "bf16"
    import torch

    return "bf16" if torch.cpu._is_amx_tile_supported() or torch.cpu._is_avx512_bf16_supported() else "fp32"
