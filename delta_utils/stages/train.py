"""Stage 4: train the policy on a preference set with TRL's DPO or KTO trainer.

One run = (method, preference set, hyper-parameters) from the profile's grid.
Writes ``runs/<profile>/04_train/<run>/``: ``final/`` (the LoRA adapter or full
weights, loadable by `evaluate`), ``log.csv`` (loss, reward margins,
accuracies per step), ``run.json`` (the run's config and data hash). A run whose
config and data are unchanged is skipped; a killed run resumes from its last
checkpoint.
"""
from __future__ import annotations

import json
import math
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..core.store import RecordCache, atomic_dir, atomic_write_json, atomic_write_text, content_hash, stable_json
from ..profile.config import Profile, RunSpec, load_profile
from ..profile.rundir import trained_run_dir, write_manifest
from ..serving.devices import resolve_device, resolve_precision
from ..serving.models import model_path, weights_identity
from .pairing import PairingError, kto_weights, load_set, to_kto

STAGE = "04_train"
DTYPES = {"fp32": "float32", "bf16": "bfloat16"}


def check_pairs(df: pd.DataFrame, name: str) -> None:
    if len(df) == 0:
        raise PairingError(f"preference set {name!r} is empty")
    same = df.apply(lambda r: r["chosen"][0]["content"].strip() == r["rejected"][0]["content"].strip(), axis=1)
    if same.any():
        raise PairingError(f"preference set {name!r} has {int(same.sum())} pairs whose chosen and rejected texts "
                           "are identical")


def training_rows(profile: Profile, spec: RunSpec, pairs: pd.DataFrame) -> pd.DataFrame:
    """The rows the trainer reads, in its order: DPO's pairs, or KTO's alternating unpaired examples."""
    if spec.method == "dpo":
        return pairs[["prompt", "chosen", "rejected"]].reset_index(drop=True)
    return to_kto(pairs, seed=profile.train.hparams.seed)[["prompt", "completion", "label"]]


def train_steps(hp, n_rows: int) -> int:
    """Optimizer steps of a run: `max_steps`, or with `epochs` set the steps for that many passes over its
    `n_rows` trainer rows (DPO pairs, KTO examples) at the effective batch size across processes."""
    if hp.epochs is None:
        return hp.max_steps
    per_step = hp.batch_size * hp.grad_accum * int(os.environ.get("WORLD_SIZE", "1"))
    return max(1, math.ceil(hp.epochs * n_rows / per_step))


def run_hash(profile: Profile, spec: RunSpec, data: pd.DataFrame) -> str:
    """What a trained run depends on: its spec, the hyper-parameters, the policy and its exact rows."""
    return content_hash(spec.model_dump(exclude_none=True), profile.train.hparams.model_dump(exclude={"report_to"}),
                        profile.train.policy, stable_json(data.to_dict("records")))


def ref_store(profile: Profile):
    """Reference log-probs, persisted across runs (TRL recomputes them every run)."""
    return RecordCache(profile.run_dir() / "cache" / "ref_logps.sqlite")


def is_main_process() -> bool:
    """Rank 0 under `accelerate launch` / torchrun (or a single process): the one that writes records."""
    return int(os.environ.get("RANK", "0")) == 0


def ref_identity(profile: Profile, precision: str, weights: str = "fp32") -> str:
    """The reference model, the dtype its weights are loaded in, the precision it computes in and the
    tokenization limit: what every persisted log-prob depends on besides its text."""
    return content_hash(weights_identity(profile.train.policy), f"hf-{weights}-weights-{precision}-compute",
                        profile.train.hparams.max_length)


def uses_deepspeed() -> bool:
    """Launched by `accelerate launch` with a DeepSpeed config (configs/accelerate/zero3.yaml)."""
    return os.environ.get("ACCELERATE_USE_DEEPSPEED", "false").lower() in ("1", "true")


def load_dtype(profile: Profile, device: str, precision: str) -> str:
    """The dtype the policy's weights are loaded in: bf16 where bf16 weights lose nothing, fp32 elsewhere.

    - bf16 on CUDA for LoRA (the base weights are frozen; PEFT keeps the adapters in fp32) and under DeepSpeed
      (ZeRO keeps fp32 master copies of the bf16 weights in the optimizer): half the memory, and ZeRO-3
      partitions the bf16 weights as they load.
    - fp32 otherwise: a full fine-tune without DeepSpeed (one GPU, FSDP) updates the loaded weights in place,
      and bf16 weights would round away updates as small as the paper's lr 5e-8 (bf16 keeps 8 bits of mantissa);
      bf16 autocast still computes in bf16. On CPU, fp32 as always.
    """
    if device != "cuda" or precision != "bf16":
        return "fp32"
    return "bf16" if profile.train.hparams.lora is not None or uses_deepspeed() else "fp32"


def check_fits_one_process(profile: Profile) -> None:
    """Stop before training when one process cannot hold the policy: a full fine-tune whose weights, gradients
    and AdamW state (`models.gpus_for`) exceed one 80-GB GPU needs several, under `accelerate launch`."""
    import torch

    t = profile.train
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 or t.device == "cpu" or (
            t.device == "auto" and not torch.cuda.is_available()):
        return
    from ..serving.models import GPU_GB, get_spec, gpus_for

    gb, n = gpus_for(get_spec(t.policy).params_m, "lora" if t.hparams.lora else "full")
    if n > 1:
        raise RuntimeError(
            f"training {t.policy} ({'LoRA' if t.hparams.lora else 'full fine-tuning'}) needs ~{gb:.0f} GB of weights "
            f"and optimizer state, more than one {GPU_GB}-GB GPU holds: train on {n} or more GPUs with "
            f"`make 04_train PROFILE={profile.name} ACCELERATE_CONFIG=configs/accelerate/zero3.yaml` (DeepSpeed "
            "ZeRO-3; configs/accelerate/fsdp.yaml for FSDP), or set train.hparams.lora")


def ref_key(profile: Profile, row, precision: str, weights: str = "fp32") -> str:
    """Key of a DPO pair's reference log-probs: the reference model and precision, tokenization limits, the texts."""
    return content_hash(ref_identity(profile, precision, weights), row["prompt"], row["chosen"], row["rejected"],
                        n=24)


def _persisted_ref(store, base_cls, row_keys, columns):
    """A DPO/KTO trainer whose reference log-probs come from `store` where known: `row_keys(trainer, dataset)`
    gives each row one key per column of `columns(trainer)`; rows with any key missing go through TRL's own
    precompute, and its results are stored for every later run. Under several processes, rank 0 reads the
    store and shares what it found (every rank must agree on what to compute), and only rank 0 writes."""
    from accelerate.utils import broadcast_object_list

    class PersistedRefTrainer(base_cls):
        ref_forwards = 0  # rows whose reference log-probs this run had to compute

        def _precompute_ref_logps(self, dataset, name, batch_size):
            cols, keys = columns(self), row_keys(self, dataset)
            every = sorted({k for ks in keys for k in ks})
            main = self.accelerator.is_main_process
            box = [{k: r["logp"] for k, r in store.get_many(every).items()} if main else None]
            broadcast_object_list(box, from_process=0)
            have = box[0]
            missing = [i for i, ks in enumerate(keys) if any(k not in have for k in ks)]
            if missing:  # TRL's own pass (collective: it gathers every rank's share)
                sub = super()._precompute_ref_logps(dataset.select(missing), name, batch_size)
                got = [sub[c] for c in cols]
                for j, i in enumerate(missing):
                    for k, values in zip(keys[i], got):
                        have[k] = float(values[j])
                        if main:
                            store.put(k, {"logp": have[k]}, kind="ref_logp")
            type(self).ref_forwards = len(missing)
            for n, c in enumerate(cols):
                dataset = dataset.add_column(c, [have[ks[n]] for ks in keys])
            return dataset

    return PersistedRefTrainer


def _persisted_ref_dpo(store, base_cls):
    """DPO: a pair's chosen and rejected log-probs, keyed by the pair's `ref_key` column (see `ref_key`)."""
    return _persisted_ref(store, base_cls, lambda t, ds: [[f"{k}/chosen", f"{k}/rejected"] for k in ds["ref_key"]],
                          lambda t: ["ref_chosen_logps", "ref_rejected_logps"])


def _persisted_ref_kto(store, base_cls, identity: str):
    """KTO needs log p_ref(completion | prompt) and, for its KL term, log p_ref(neighbour's completion |
    prompt): the same function of (prompt tokens, completion tokens), so both are keyed that way and a
    later run reuses whatever any earlier run computed."""

    def row_keys(trainer, dataset):
        cols = ["completion_ids"] + (["KL_completion_ids"] if trainer.calculate_KL else [])
        rows = dataset.select_columns(["prompt_ids", *cols]).to_list()
        return [[content_hash(identity, r["prompt_ids"], r[c], n=24) for c in cols] for r in rows]

    return _persisted_ref(store, base_cls, row_keys,
                          lambda t: ["ref_logps"] + (["ref_KL_logps"] if t.calculate_KL else []))


def tracker_run_name(run: str, h: str) -> str:
    """The tracker's run name: the grid run plus its hash, so a retrain with another config is a new curve
    while a run resumed after a crash continues its own."""
    return f"{run}-{h[:8]}"


def _check_trackio_dir() -> None:
    """trackio fixes its folder from $TRACKIO_DIR when first imported (TRL imports it early), so the variable
    must be set before Python starts; `make` sets it to runs/<profile>/trackio. Say so when it came too late."""
    want = os.environ.get("TRACKIO_DIR")
    if want and "trackio.utils" in sys.modules and Path(sys.modules["trackio.utils"].TRACKIO_DIR) != Path(want):
        print(f"warning: TRACKIO_DIR={want} was set after trackio was imported; metrics go to "
              f"{sys.modules['trackio.utils'].TRACKIO_DIR}. Set it before starting Python.")


@dataclass(frozen=True)
class RunPlan:
    """A grid run ready to train: its rows (in the trainer's order), the hash of everything it depends on, its
    folder, and whether this process is the one that writes (rank 0, or the only process)."""

    spec: RunSpec
    pairs: pd.DataFrame
    data: pd.DataFrame
    hash: str
    out: Path
    main: bool


def prepare_run(profile: Profile, spec: RunSpec) -> RunPlan | None:
    """Read and check the run's preference set and settle its folder: None when the run is done with the
    same config and data; otherwise the folder is emptied if it holds another config's checkpoints (resuming
    a stranger's state would be wrong), kept if it holds this config's (a killed run resumes)."""
    pairs = load_set(profile, spec.preference_set)
    check_pairs(pairs, spec.preference_set)
    data = training_rows(profile, spec, pairs)
    h = run_hash(profile, spec, data)
    out = trained_run_dir(profile, spec.name)
    done = out / "run.json"
    if done.is_file() and _read_hash(done) == h and (out / "final").is_dir():
        print(f"[{spec.name}] up to date ({h}), skipped")
        return None
    owner = _read_json(out / "checkpoint_of.json")
    if owner and owner.get("policy") not in (None, profile.train.policy) and _last_checkpoint(out / "checkpoints"):
        raise ValueError(f"[{spec.name}] {out / 'checkpoints'} holds checkpoints of policy {owner['policy']!r}, not "
                         f"{profile.train.policy!r}; delete that folder or give the run another name")
    main = is_main_process()  # under `accelerate launch`, rank 0 alone writes records, logs and the final model
    if main:
        if out.exists() and (not done.is_file() or _read_hash(done) != h) and (owner or {}).get("hash") != h:
            shutil.rmtree(out)  # a different config or data: start over rather than resume a stranger
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_json(out / "checkpoint_of.json", {"hash": h, "policy": profile.train.policy})
    return RunPlan(spec, pairs, data, h, out, main)


def trainer_args(profile: Profile, plan: RunPlan, device: str, precision: str) -> dict:
    """The TrainingArguments shared by DPOConfig and KTOConfig (fields checked against the installed TRL)."""
    hp, n_steps = profile.train.hparams, train_steps(profile.train.hparams, len(plan.data))
    return dict(output_dir=str(plan.out / "checkpoints"), max_steps=n_steps,
                per_device_train_batch_size=hp.batch_size, gradient_accumulation_steps=hp.grad_accum,
                learning_rate=hp.learning_rate, beta=hp.beta, max_length=hp.max_length,
                logging_steps=1, save_strategy="steps", save_steps=hp.save_steps or max(1, n_steps // 4),
                save_total_limit=1, seed=hp.seed, data_seed=hp.seed,
                report_to=[] if hp.report_to == "none" else [hp.report_to],
                run_name=tracker_run_name(plan.spec.name, plan.hash), project=f"delta-lab-{profile.name}",
                # transformers 5's name (`gradient_checkpointing` is its deprecated alias, and warns); TRL reads either
                activation_checkpointing=hp.gradient_checkpointing,
                precompute_ref_log_probs=hp.precompute_ref_log_probs,
                use_cpu=device == "cpu", bf16=precision == "bf16", dataloader_num_workers=0,
                lr_scheduler_type="constant", warmup_steps=0,
                logging_nan_inf_filter=False)  # the default hides NaN losses from the logs we check


def _callbacks(profile: Profile, plan: RunPlan) -> list:
    """Stop on a NaN loss (flagged on the trainer state), and give the tracker's run the profile, run and hash."""
    from transformers import TrainerCallback

    hp, spec = profile.train.hparams, plan.spec

    class StopOnNaN(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kw):
            if logs and any(isinstance(v, float) and math.isnan(v) for k, v in logs.items() if "loss" in k):
                control.should_training_stop = True
                state.nan_stop = True  # read after training

    class TrackerConfig(TrainerCallback):
        def on_train_begin(self, args, state, control, **kw):  # after TRL's own callback opened the run
            info = {"delta_lab/profile": profile.name, "delta_lab/run": spec.name, "delta_lab/run_hash": plan.hash,
                    "delta_lab/method": spec.method, "delta_lab/preference_set": spec.preference_set,
                    "delta_lab/policy": profile.train.policy}
            if state.is_world_process_zero and hp.report_to in ("trackio", "wandb"):
                import importlib

                importlib.import_module(hp.report_to).config.update(info, allow_val_change=True)

    return [StopOnNaN(), TrackerConfig()]


def build_trainer(profile: Profile, plan: RunPlan):
    """(trainer, info): TRL's DPO or KTO trainer for the run, on the policy (LoRA or full), its reference
    log-probs taken from the persisted store where an earlier run computed them. `info` holds the device,
    the precision and the trainer class (which counts the reference rows it had to compute)."""
    import torch
    from accelerate import PartialState
    from transformers import AutoModelForCausalLM, AutoTokenizer

    hp, spec, data = profile.train.hparams, plan.spec, plan.data
    device = resolve_device(profile.train.device)
    precision = resolve_precision(hp.precision, device)
    weights = load_dtype(profile, device, precision)
    policy_dir = model_path(profile.train.policy)
    tok = AutoTokenizer.from_pretrained(policy_dir)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    peft_config = None
    if hp.lora is not None:
        from peft import LoraConfig

        peft_config = LoraConfig(r=hp.lora.r, lora_alpha=hp.lora.alpha, lora_dropout=hp.lora.dropout,
                                 target_modules="all-linear", task_type="CAUSAL_LM")
    common = trainer_args(profile, plan, device, precision)
    if hp.report_to == "trackio":
        _check_trackio_dir()
    store = ref_store(profile) if hp.precompute_ref_log_probs else None
    if spec.method == "dpo":
        from trl import DPOConfig, DPOTrainer

        args = DPOConfig(**common, **({"loss_type": [spec.loss_type]} if spec.loss_type else {}))
        trainer_cls = DPOTrainer
        if store is not None:
            data = data.assign(ref_key=[ref_key(profile, r, precision, weights) for r in data.to_dict("records")])
            trainer_cls = _persisted_ref_dpo(store, DPOTrainer)
    else:
        from trl import KTOConfig, KTOTrainer

        dw, uw = kto_weights(data["label"])
        # sequential: the rows are already in batch order (see pairing.to_kto), as TRL's KL term requires
        args = KTOConfig(**common, desirable_weight=dw, undesirable_weight=uw, train_sampling_strategy="sequential",
                         **({"loss_type": spec.loss_type} if spec.loss_type else {}))
        trainer_cls = KTOTrainer
        if store is not None:
            trainer_cls = _persisted_ref_kto(store, KTOTrainer, ref_identity(profile, precision, weights))
    # the policy loads only now, inside the distributed context the config set up (PartialState: the process
    # group; under DeepSpeed ZeRO-3 the config registered itself, so the weights are partitioned as they load;
    # under FSDP with cpu_ram_efficient_loading only rank 0 reads them): one full copy per node, not per rank
    PartialState()
    model = AutoModelForCausalLM.from_pretrained(policy_dir, dtype=getattr(torch, DTYPES[weights]))
    ds = shared_dataset(data, plan.out / "train_data", plan.main)
    try:
        trainer = trainer_cls(model=model, args=args, train_dataset=ds, processing_class=tok,
                              peft_config=peft_config, callbacks=_callbacks(profile, plan))
    finally:
        if store is not None:
            store.close()
    return trainer, {"device": device, "precision": precision, "trainer_cls": trainer_cls, "tokenizer": tok,
                     "weights": weights}


def write_record(profile: Profile, plan: RunPlan, trainer, info: dict, wall: float, resumed: Path | None) -> None:
    """`run.json`: what was trained, on what, how fast and how (rank 0 only); then the checkpoints and the
    on-disk training rows are removed (the final model is in `final/`)."""
    hp, spec = profile.train.hparams, plan.spec
    steps = [r for r in trainer.state.log_history if "loss" in r]
    ref_forwards = getattr(info["trainer_cls"], "ref_forwards", None)
    atomic_write_json(plan.out / "run.json", {
        "hash": plan.hash, "run": spec.model_dump(), "hparams": hp.model_dump(), "policy": profile.train.policy,
        "pairs": len(plan.pairs), "device": info["device"], "precision": info["precision"],
        "weights_loaded": info["weights"], "final_dtype": final_dtype(plan.out / "final"),
        "wall_s": round(wall, 1), "steps": len(steps), "s_per_step": round(wall / max(1, len(steps)), 2),
        "ref_logps_computed": ref_forwards,
        "ref_logps_reused": None if ref_forwards is None else len(plan.data) - ref_forwards,
        "resumed_from": str(resumed) if resumed else None, "report_to": hp.report_to,
        "loss_type": spec.loss_type or ("sigmoid" if spec.method == "dpo" else "kto"),
        "processes": trainer.accelerator.num_processes, "distributed": str(trainer.accelerator.distributed_type)})
    shutil.rmtree(plan.out / "checkpoints", ignore_errors=True)
    shutil.rmtree(plan.out / "train_data", ignore_errors=True)


def train_run(profile: Profile, spec: RunSpec) -> Path:
    """Train one grid run (or reuse it if done with the same config and data); returns its folder.
    A killed run resumes from its last complete checkpoint."""
    plan = prepare_run(profile, spec)
    if plan is None:
        return trained_run_dir(profile, spec.name)
    trainer, info = build_trainer(profile, plan)
    last = _last_checkpoint(plan.out / "checkpoints", drop_incomplete=plan.main)
    t0 = time.monotonic()
    trainer.train(resume_from_checkpoint=str(last) if last else None)
    wall = time.monotonic() - t0
    if plan.main:
        atomic_write_text(plan.out / "log.csv", pd.DataFrame(trainer.state.log_history).to_csv(index=False))
    if getattr(trainer.state, "nan_stop", False):
        raise FloatingPointError(f"[{spec.name}] loss became NaN; the last good checkpoint is in "
                                 f"{plan.out / 'checkpoints'}")
    save_final(trainer, info["tokenizer"], plan.out / "final",
               bf16=info["precision"] == "bf16" and profile.train.hparams.lora is None)
    if plan.main:
        write_record(profile, plan, trainer, info, wall, last)
    return plan.out


def shared_dataset(data: pd.DataFrame, folder: Path, main: bool):
    """The training rows as a dataset on disk in the run folder. TRL's reference pass caches its results in a
    file beside the dataset's own files, written by rank 0 and read by every rank; an in-memory dataset has
    its cache in a per-process temporary folder that the other ranks cannot see."""
    import datasets
    from accelerate import PartialState

    if main:
        shutil.rmtree(folder, ignore_errors=True)
        datasets.Dataset.from_pandas(data.reset_index(drop=True), preserve_index=False).save_to_disk(str(folder))
    PartialState().wait_for_everyone()
    return datasets.load_from_disk(str(folder))


def save_final(trainer, tok, final: Path, bf16: bool = False) -> None:
    """Write the trained model to `final/` whole, or not at all. Every process takes part (FSDP and ZeRO-3
    gather the sharded weights into one full state dict); rank 0 alone writes. FSDP checkpoints during
    training stay sharded (fast to resume); the final save switches to a full state dict, which
    `evaluate` and `vllm serve` can load. With `bf16` (a full fine-tune trained in bf16) the saved weights
    are cast to bf16 safetensors: half the disk (an 8B policy: ~16 GB, not ~33), the dtype it is served in."""
    acc = trainer.accelerator
    if getattr(trainer, "is_fsdp_enabled", False):
        acc.state.fsdp_plugin.set_state_dict_type("FULL_STATE_DICT")
    tmp = final.with_name(f".{final.name}.partial")
    if acc.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)
    acc.wait_for_everyone()
    trainer.save_model(str(tmp))  # collective under FSDP / ZeRO-3; writes on rank 0 only
    if acc.is_main_process:
        tok.save_pretrained(tmp)
        if bf16:
            to_bf16(tmp)
        with atomic_dir(final) as staged:  # never half a model
            staged.rmdir()
            os.replace(tmp, staged)
    acc.wait_for_everyone()


def to_bf16(folder: Path) -> None:
    """Cast every floating-point tensor of a saved model's safetensors files to bf16, in place, one file at a
    time, and record the dtype in its config.json."""
    import torch
    from safetensors.torch import load_file, save_file

    for f in sorted(Path(folder).glob("*.safetensors")):
        tensors = load_file(f)
        if any(t.is_floating_point() and t.dtype != torch.bfloat16 for t in tensors.values()):
            save_file({k: t.to(torch.bfloat16) if t.is_floating_point() else t for k, t in tensors.items()},
                      f, metadata={"format": "pt"})
    cfg = Path(folder) / "config.json"
    if cfg.is_file():
        c = json.loads(cfg.read_text())
        c.update({k: "bfloat16" for k in ("dtype", "torch_dtype") if k in c} or {"dtype": "bfloat16"})
        atomic_write_json(cfg, c)


def final_dtype(folder: Path) -> str | None:
    """The dtype of a saved model's (or adapter's) floating-point weights, read from its safetensors headers."""
    dtypes = set()
    for f in sorted(Path(folder).glob("*.safetensors")):
        with open(f, "rb") as fh:
            n = int.from_bytes(fh.read(8), "little")
            header = json.loads(fh.read(n))
        dtypes |= {v["dtype"] for k, v in header.items() if k != "__metadata__" and v["dtype"].startswith(("F", "BF"))}
    return ",".join(sorted(dtypes)) or None


def _read_json(p: Path) -> dict | None:
    try:
        return json.loads(p.read_text())
    except (OSError, ValueError):
        return None


def _read_hash(p: Path) -> str | None:
    return (_read_json(p) or {}).get("hash")


def _last_checkpoint(d: Path, drop_incomplete: bool = False) -> Path | None:
    """The newest complete checkpoint. Trainer writes `trainer_state.json` last, so a checkpoint without a
    readable one was cut off mid-write (a killed run); with `drop_incomplete` such folders are deleted."""
    cks = sorted(d.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[-1])) if d.is_dir() else []
    complete = []
    for ck in cks:
        if _read_json(ck / "trainer_state.json") is not None:
            complete.append(ck)
        elif drop_incomplete:
            shutil.rmtree(ck, ignore_errors=True)
    return complete[-1] if complete else None


def run(profile: Profile, names: list[str] | None = None) -> pd.DataFrame:
    """Train the grid's runs (or only `names`); the stage manifest lists every finished run of the grid."""
    unknown = set(names or []) - {r.name for r in profile.train.runs}
    if unknown:
        raise ValueError(f"unknown run(s) {sorted(unknown)}; the grid has {[r.name for r in profile.train.runs]}")
    check_fits_one_process(profile)
    rows = []
    for spec in profile.train.runs:
        if names and spec.name not in names:
            continue
        d = train_run(profile, spec)
        if is_main_process():  # the other ranks of a multi-process run write nothing
            rows.append(json.loads((d / "run.json").read_text()) | {"name": spec.name})
    if is_main_process():
        done = [trained_run_dir(profile, r.name) / "run.json" for r in profile.train.runs]
        write_manifest(profile, STAGE, [p for p in done if p.is_file()])
    return pd.DataFrame(rows)


def training_logs(profile: Profile) -> pd.DataFrame:
    frames = []
    for spec in profile.train.runs:
        p = trained_run_dir(profile, spec.name) / "log.csv"
        if p.is_file():
            frames.append(pd.read_csv(p).assign(run=spec.name, method=spec.method, preference_set=spec.preference_set))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def main(argv: list[str] | None = None) -> None:
    """Train grid runs outside a notebook, e.g. under `accelerate launch` on several GPUs."""
    import argparse

    ap = argparse.ArgumentParser(prog="python -m delta_utils.stages.train")
    ap.add_argument("--profile", default="tiny")
    ap.add_argument("--run", action="append", help="a run of the grid (repeatable; default: all)")
    a = ap.parse_args(argv)
    table = run(load_profile(a.profile), names=a.run)
    if is_main_process():
        print(table.to_string())


if __name__ == "__main__":
    main()
