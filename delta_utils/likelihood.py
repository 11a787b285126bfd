"""Did training move the policy? The log-likelihood each checkpoint gives the reference answer of every evaluation
item, teacher-forced, paired per item against the base policy.

Accuracy on a few dozen items moves only when an answer flips; the likelihood of the right answer moves with any
change of the policy, continuously, item by item, so it shows what training did to the policy even where no
answer flipped (and which way: towards the reference answers or away from them). For each item the policy is
shown the prompt it is evaluated on (its chat template, or the few-shot prompt of a base model) and then the line
its instruction asks for, ``The answer is X.`` (X the gold answer, the option letter, or the program's output);
the score is the sum of that line's token log-probabilities. Code items (HumanEval, LiveCodeBench) have no single
reference text and are left out.

    ll = likelihood.answer_logliks(profile, sets, checkpoints, cache, device)  # one row per model and item
    likelihood.vs_base(ll)      # per run: mean change over base with a 95 % CI (paired, continuous)

Values are cached per (checkpoint identity, prompt, answer) in the run's completions cache, so a rerun computes
only what a new checkpoint adds.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from .stats import compare
from .store import RecordCache, content_hash
from .tasks import Problem, chat_prompt, fewshot_prompt

KIND = "answer_loglik"
COLUMNS = ["model", "eval_set", "item_id", "logp", "n_tokens"]


def reference_answer(p: Problem) -> str | None:
    """The line the evaluation instruction asks the policy to end with, with the gold answer; None for code."""
    if p.kind == "code":
        return None
    return f"The answer is {str(p.answer).strip()}."


def _prompt_text(tok, p: Problem, chat: bool) -> str:
    if chat:
        return tok.apply_chat_template(chat_prompt(p), tokenize=False, add_generation_prompt=True)
    return fewshot_prompt(p) + " "


def answer_logliks(sets: dict[str, list[Problem]], checkpoints: dict[str, tuple], cache: RecordCache,
                   device: str, chat: bool = True) -> pd.DataFrame:
    """One row per checkpoint and item with a reference answer: model, eval_set, item_id, logp (the answer line's
    summed token log-probabilities), n_tokens. `checkpoints`: name -> (folder, cache identity, ...), as
    `evaluate.checkpoints` gives them."""
    import torch

    from .engine import _load_hf

    items = [(s, p, a) for s, ps in sets.items() for p in ps if (a := reference_answer(p)) is not None]
    rows = []
    for name, (folder, ident, *_) in checkpoints.items():
        keys = [content_hash(KIND, ident, p.id, p.question, a, n=24) for _, p, a in items]
        have = cache.get_many(keys)
        if len(have) < len(keys):
            tok, model = _load_hf(Path(folder), device)
            for key, (_, p, a) in zip(keys, items):
                if key in have:
                    continue
                prompt = tok(_prompt_text(tok, p, chat), add_special_tokens=False, return_tensors="pt").input_ids
                answer = tok(a, add_special_tokens=False, return_tensors="pt").input_ids
                ids = torch.cat([prompt, answer], dim=1).to(device)
                with torch.inference_mode():
                    logits = model(ids).logits[0, prompt.shape[1] - 1:-1].float()
                logp = torch.log_softmax(logits, -1).gather(1, ids[0, prompt.shape[1]:, None]).sum().item()
                rec = {"model": ident, "item_id": p.id, "logp": round(float(logp), 5), "n_tokens": int(answer.shape[1])}
                cache.put(key, rec, kind=KIND)
                have[key] = rec
        for key, (set_name, p, _) in zip(keys, items):
            rows.append({"model": name, "eval_set": set_name, "item_id": p.id, "logp": have[key]["logp"],
                         "n_tokens": have[key]["n_tokens"]})
    return pd.DataFrame(rows, columns=COLUMNS)


def vs_base(ll: pd.DataFrame) -> pd.DataFrame:
    """Each trained checkpoint's change of the reference answers' log-likelihood over the base policy, on the same
    items: the mean per-item difference (nats) with its 95 % CI (percentile bootstrap over items: the per-item
    differences are continuous), the exact sign-flip test's two-sided p, and the share of items that gained."""
    if ll.empty or "base" not in set(ll["model"]):
        return pd.DataFrame(columns=["model", "n", "diff", "ci_low", "ci_high", "p_value", "share_up"])
    wide = ll.pivot_table(index=["eval_set", "item_id"], columns="model", values="logp")
    rows = []
    for m in [c for c in wide.columns if c != "base"]:
        r = compare(wide[m], wide["base"])
        d = (wide[m] - wide["base"]).dropna()
        rows.append({"model": m, "n": r["n"], "diff": r["diff"], "ci_low": r["ci_low"], "ci_high": r["ci_high"],
                     "p_value": r["p_value"], "share_up": float((d > 0).mean()) if len(d) else float("nan")})
    return pd.DataFrame(rows)


def stage_shifts(run_dir: Path) -> pd.DataFrame | None:
    """`vs_base` of the log-likelihoods 05_evaluate wrote under `run_dir` (runs/<profile>), or None if it wrote
    none (evaluate.answer_loglik off)."""
    from .stages import read_table

    path = Path(run_dir) / "05_evaluate" / "answer_loglik.jsonl"
    return vs_base(read_table(path)) if path.is_file() else None
