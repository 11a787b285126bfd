"""How long a GPU profile will take, stage by stage, from stated throughputs (`make check`).

An estimate, not a measurement: every number it rests on is stated here with its source, so a researcher can
replace it with their own. The target machine is one GPU of the kind below; a stage that serves a model on
`tensor_parallel_size` GPUs is counted at that many times the one-GPU rate, less `TP_EFFICIENCY`.

- Decoding (generation, judge replies, evaluation): a vLLM server's aggregate output rate under full load, by
  model size (`DECODE_TOK_S`, interpolated log-linearly). Published vLLM numbers for short chats are higher
  (Llama 3.1 8B on one H100: ~12.5k tok/s; DeepSeek-R1-Distill-Qwen 7B/14B on one A100: 3.4k/3.0k tok/s,
  with H100 ~2x A100: LambdaLabsML/vllm-benchmark; summarised at morphllm.com/vllm-benchmarks, 2026); the table
  keeps ~40 % of them, since 2-32k-token reasoning traces fill the KV cache and shrink the batch.
- Prefill (the judge's long prompts) and training: FLOPs at a model-FLOPs utilisation (`PREFILL_MFU`,
  `TRAIN_MFU`) of the GPU's dense BF16 peak (`PEAK_BF16_FLOPS`: H100 SXM, NVIDIA's datasheet). A token costs
  2N FLOPs forward and 6N forward and backward (N parameters), 8N with gradient checkpointing.
- Lengths: a completion writes `MEAN_OUTPUT_SHARE` of its `max_tokens` on average.
- Each vLLM server start (weights from local disk, CUDA-graph capture) takes `SERVER_START_S` plus 2 s per
  billion parameters; each training run loads and saves the policy in as long.

CPU profiles (llama.cpp, in-process transformers) are not estimated here: their stage times are measured and
printed by `make report` (figures/<profile>/timings.md).
"""
from __future__ import annotations

import math

from ..profile.config import Profile, set_sampling
from ..serving.models import get_spec, gpus_for

GPU = "one NVIDIA H100 80GB SXM (bf16)"
DECODE_TOK_S = [(0.5, 20_000), (1.5, 12_000), (8.0, 5_000), (14.0, 3_000), (32.0, 1_200), (70.0, 500)]
PEAK_BF16_FLOPS = 989e12
PREFILL_MFU = 0.5
TRAIN_MFU = 0.35
TP_EFFICIENCY = 0.8
MEAN_OUTPUT_SHARE = 0.5
SERVER_START_S = 60.0
PROMPT_TOKENS = 300  # a math prompt with its instruction (the judge's prompt is counted in full)
def decode_rate(params_m: int, gpus: int = 1) -> float:
    """Aggregate output tokens per second of one vLLM server of this model size on `gpus` GPUs."""
    b = params_m / 1e3
    pts = DECODE_TOK_S
    if b <= pts[0][0]:
        rate = pts[0][1]
    elif b >= pts[-1][0]:
        rate = pts[-1][1] * pts[-1][0] / b
    else:
        (b0, r0), (b1, r1) = next((p, q) for p, q in zip(pts, pts[1:]) if p[0] <= b <= q[0])
        w = (math.log(b) - math.log(b0)) / (math.log(b1) - math.log(b0))
        rate = math.exp(math.log(r0) + w * (math.log(r1) - math.log(r0)))
    return rate * (1 if gpus == 1 else gpus * TP_EFFICIENCY)


def start_s(params_m: int) -> float:
    return SERVER_START_S + load_s(params_m)


def load_s(params_m: int) -> float:
    """Reading a model's weights from local disk into one process (no server start)."""
    return 5.0 + 2.0 * params_m / 1e3


def _flops_s(gpus: int, mfu: float) -> float:
    return PEAK_BF16_FLOPS * mfu * gpus


def estimate(profile: Profile, n_train: int | None, eval_items: dict[str, int | None]) -> list[dict]:
    """One row per stage: what it does, the estimate in seconds (None: not estimated) and how it was reached.
    `n_train`: training prompts; `eval_items`: items per eval set (None where unknown)."""
    from ..data.rubric import SYSTEM_PROMPT, USER_TEMPLATE

    g, j, t, ev = profile.generation, profile.judge, profile.train, profile.evaluate
    rows = []
    n = n_train or 0
    out_gen = MEAN_OUTPUT_SHARE * g.sampling.max_tokens
    # 01_generate: each generator decodes its samples of every prompt, one server at a time
    if g.backend == "vllm":
        secs, parts = 0.0, []
        for m in g.generators:
            spec = get_spec(m)
            if spec.endpoint_env:
                parts.append(f"{m}: remote, not counted")
                continue
            calls = n * g.n_samples(m)
            rate = decode_rate(spec.params_m, g.server.tensor_parallel_size)
            secs += calls * out_gen / rate + start_s(spec.params_m)
            parts.append(f"{m}: {calls:,} x {out_gen:,.0f} tok at {rate:,.0f} tok/s")
        rows.append({"stage": "01_generate", "seconds": secs, "how": "; ".join(parts)})
    else:
        rows.append({"stage": "01_generate", "seconds": None, "how": f"{g.backend}: not a GPU backend"})
    # 02_judge: replies decoded, and prompts (rubric + question + trace) prefilled
    traces = n * sum(g.n_samples(m) for m in g.generators)
    calls = traces * j.samples
    if j.backend == "vllm":
        spec = get_spec(j.model)
        gpus = j.server.tensor_parallel_size
        reply = 5 if j.scoring == "chained" else MEAN_OUTPUT_SHARE * j.max_tokens
        prompt = (len(SYSTEM_PROMPT) + len(USER_TEMPLATE)) / 4 + PROMPT_TOKENS + out_gen
        rate = decode_rate(spec.params_m, gpus)
        prefill = calls * prompt * 2 * spec.params_m * 1e6 / _flops_s(gpus, PREFILL_MFU)
        secs = calls * reply / rate + prefill + start_s(spec.params_m)
        rows.append({"stage": "02_judge", "seconds": secs,
                     "how": f"{calls:,} calls: {reply:,.0f} reply tok at {rate:,.0f} tok/s + {prompt:,.0f} prompt "
                            f"tok prefilled at {PREFILL_MFU:.0%} MFU"})
    else:
        rows.append({"stage": "02_judge", "seconds": None, "how": f"{j.backend}: remote or CPU, not estimated"})
    # 04_train: every run's optimizer steps, forward and backward over chosen and rejected (DPO) or one
    # completion and its KL neighbour (KTO), plus the reference pass and one load and save per run
    pol = get_spec(t.policy)
    hp = t.hparams
    if t.device == "cuda":
        mode = "lora" if hp.lora else "full"
        gpus = gpus_for(pol.params_m, mode)[1]
        seq = min(hp.max_length, PROMPT_TOKENS + out_gen)
        per_token = (8 if hp.gradient_checkpointing else 6) * pol.params_m * 1e6
        steps = hp.max_steps if hp.epochs is None else math.ceil(hp.epochs * max(1, n) / (hp.batch_size *
                                                                                        hp.grad_accum * gpus))
        rows_per_run = steps * hp.batch_size * hp.grad_accum * gpus
        tokens = rows_per_run * 2 * seq  # two sequences per row: chosen and rejected (KTO: completion and KL)
        flops = tokens * per_token + tokens * 2 * pol.params_m * 1e6  # + the reference pass (an upper bound)
        per_run = flops / _flops_s(gpus, TRAIN_MFU) + start_s(pol.params_m)
        rows.append({"stage": "04_train", "seconds": per_run * len(t.runs),
                     "how": f"{len(t.runs)} runs x {steps} steps x {hp.batch_size * hp.grad_accum * gpus} rows x 2 x "
                            f"{seq:,.0f} tok on {gpus} GPU(s) (the fewest that hold it) at {TRAIN_MFU:.0%} MFU"})
    else:
        rows.append({"stage": "04_train", "seconds": None, "how": f"device {t.device}: not estimated"})
    # 05_evaluate: the base policy and every checkpoint on every set (one server each), then every generator
    item_samples = sum((eval_items.get(s.name) or 0) * s.samples for s in ev.sets)
    tokens = sum((eval_items.get(s.name) or 0) * s.samples * MEAN_OUTPUT_SHARE * set_sampling(profile, s).max_tokens
                 for s in ev.sets)
    if ev.backend == "vllm":
        rate = decode_rate(pol.params_m, ev.server.tensor_parallel_size)
        models = 1 + len(t.runs)
        secs = models * (tokens / rate + start_s(pol.params_m))
        how = f"{models} policy models x {item_samples:,} item-samples ({tokens:,.0f} tok) at {rate:,.0f} tok/s"
        if ev.generators and g.backend == "vllm":
            for m in g.generators:
                spec = get_spec(m)
                if not spec.endpoint_env:
                    secs += tokens / decode_rate(spec.params_m, g.server.tensor_parallel_size) + start_s(spec.params_m)
            how += f"; + {len(g.generators)} generators, one server each"
        if ev.answer_loglik:  # the learning signal: forward passes in-process, per policy model (likelihood.py)
            held = profile.pairing.heldout * len([m for m in g.generators if m != g.rejected])
            seq = min(t.hparams.max_length, PROMPT_TOKENS + out_gen)
            ll_tokens = sum(eval_items.get(s.name) or 0 for s in ev.sets) * PROMPT_TOKENS + held * 2 * seq
            secs += models * (ll_tokens * 2 * pol.params_m * 1e6 / _flops_s(1, PREFILL_MFU) + load_s(pol.params_m))
            how += f"; + answer log-likelihoods and {held:,} held-out pairs per model, in-process"
        if any(v is None for v in eval_items.values()):
            how += " (some sets' sizes unknown: a lower bound)"
        rows.append({"stage": "05_evaluate", "seconds": secs, "how": how})
    else:
        rows.append({"stage": "05_evaluate", "seconds": None, "how": f"{ev.backend}: in-process, not estimated"})
    return rows


def total_hours(rows: list[dict]) -> float:
    return sum(r["seconds"] or 0 for r in rows) / 3600


def estimate_lines(rows: list[dict]) -> list[str]:
    out = [f"time (estimated for {GPU}; assumptions and sources: delta_utils/runner/estimate.py):"]
    for r in rows:
        t = "     -" if r["seconds"] is None else f"{r['seconds'] / 3600:6.2f} h"
        out.append(f"  {r['stage']:<12} {t}  {r['how']}")
    if any(r["seconds"] is not None for r in rows):
        out.append(f"  {'total':<12} {total_hours(rows):6.2f} h  (of the stages estimated, one after another)")
    return out
