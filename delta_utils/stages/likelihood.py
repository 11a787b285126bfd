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

The second signal is what the runs were trained to do, measured where they were not trained: on the held-out
prompts' preference pairs (03_pair/heldout.jsonl), each checkpoint's DPO implicit reward margin and the share of
pairs it ranks the right way round (held-out preference accuracy).

    lp = likelihood.pair_logps(heldout, checkpoints, cache, device)   # chosen and rejected log-probs per pair
    likelihood.heldout_preference(lp, beta)   # per run: accuracy and mean margin, with CIs

Values are cached per (checkpoint identity, prompt, answer) in the run's completions cache, so a rerun computes
only what a new checkpoint adds.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from ..core.stats import cluster_bootstrap, compare, proportion_ci
from ..core.store import RecordCache, content_hash
from ..data.tasks import Problem, chat_prompt, fewshot_prompt

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
                   device: str, chat: bool = True, batch_size: int = 16, precision: str | None = None) -> pd.DataFrame:
    """One row per checkpoint and item with a reference answer: model, eval_set, item_id, logp (the answer line's
    summed token log-probabilities), n_tokens. `checkpoints`: name -> (folder, cache identity, ...), as
    `evaluate.checkpoints` gives them. Prompt and answer are tokenized apart (the answer's tokens do not depend
    on the prompt's last characters); up to `batch_size` items per forward pass. `precision` of the weights:
    None (05_evaluate's) is fp32 on CPU, bf16 on CUDA; the cache keys do not name it, so give another precision
    its own cache (bench/learning_signal.py does)."""
    from ..serving.engine import _load_hf

    items = [(s, p, a) for s, ps in sets.items() for p in ps if (a := reference_answer(p)) is not None]
    rows = []
    for name, (folder, ident, *_) in checkpoints.items():
        keys = [answer_key(ident, p, a) for _, p, a in items]
        have = cache.get_many(keys)
        todo = [(k, p, a) for k, (_, p, a) in zip(keys, items) if k not in have]
        if todo:
            tok, model = _load_hf(Path(folder), device, precision)
            ids = [(tok(_prompt_text(tok, p, chat), add_special_tokens=False).input_ids,
                    tok(a, add_special_tokens=False).input_ids) for _, p, a in todo]
            for (key, p, a), (_, answer), logp in zip(todo, ids, completion_logps(model, tok, ids, device,
                                                                                  batch_size)):
                have[key] = store_answer(cache, ident, p, a, logp, len(answer))
        for key, (set_name, p, _) in zip(keys, items):
            rows.append({"model": name, "eval_set": set_name, "item_id": p.id, "logp": have[key]["logp"],
                         "n_tokens": have[key]["n_tokens"]})
    return pd.DataFrame(rows, columns=COLUMNS)


def answer_key(ident: str, p: Problem, answer: str) -> str:
    """The cache key of a checkpoint's (cache identity `ident`) log-likelihood of `answer` on item `p`."""
    return content_hash(KIND, ident, p.id, p.question, answer, n=24)


def store_answer(cache: RecordCache, ident: str, p: Problem, answer: str, logp: float, n_tokens: int) -> dict:
    """Cache one answer log-likelihood (from `answer_logliks`, or from 05_evaluate's greedy decoding, which scores
    the reference answers on its own prompt pass when the prompts are the same: `hf_complete(score=...)`)."""
    rec = {"model": ident, "item_id": p.id, "logp": round(logp, 5), "n_tokens": n_tokens}
    cache.put(answer_key(ident, p, answer), rec, kind=KIND)
    return rec


def answer_scorer(cache: RecordCache, ident: str, problems: list[Problem]) -> tuple[list, Callable]:
    """`hf_complete(score=...)`'s argument for requests made from `problems` (in order): each item's reference answer
    (None for code items) and the sink that caches its log-likelihood under `answer_key`."""
    answers = [reference_answer(p) for p in problems]
    return answers, lambda i, logp, n_tokens: store_answer(cache, ident, problems[i], answers[i], logp, n_tokens)


PAIR_KIND = "pair_logp"
PAIR_COLUMNS = ["model", "prompt_id", "chosen_model", "chosen_logp", "rejected_logp"]


def _completion_ids(tok, prompt: list, reply: list, max_length: int):
    """(prompt ids, completion ids) of a conversational row as a chat policy is trained on it: the chat template
    of prompt + reply, split where the prompt's own template (with the generation prompt) ends; the completion
    cut so that both fit in `max_length` tokens, as the trainer cuts it."""
    p = tok.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
    full = tok.apply_chat_template(list(prompt) + list(reply), tokenize=False)
    if not full.startswith(p):
        raise ValueError("the chat template of prompt + reply does not start with the prompt's own template")
    pi = tok(p, add_special_tokens=False).input_ids
    ci = tok(full[len(p):], add_special_tokens=False).input_ids
    return pi, ci[:max(1, max_length - len(pi))]


LOGIT_BUDGET = 2 ** 28  # logits one forward pass may hold (1 GiB in fp32): long rows, large vocabularies


def _batches(n_logits: list[int], batch_size: int, vocab: int) -> list[slice]:
    """Consecutive runs of at most `batch_size` rows whose logits (`n_logits` positions per row, times the
    vocabulary) stay within LOGIT_BUDGET; one row per batch at least."""
    out, start = [], 0
    while start < len(n_logits):
        n = 1
        while (n < batch_size and start + n < len(n_logits)
               and sum(n_logits[start:start + n + 1]) * vocab <= LOGIT_BUDGET):
            n += 1
        out.append(slice(start, start + n))
        start += n
    return out


def completion_logps(model, tok, rows: list[tuple[list[int], list[int]]], device: str,
                     batch_size: int = 8) -> list[float]:
    """The summed log-probability of each row's completion ids given its prompt ids, teacher-forced, in the
    rows' order. Rows of similar length share a forward pass (right-padded, so positions are those of an
    unpadded row), and logits are formed only where a completion token is predicted (`logits_to_keep` as a
    mask): on short answers after long prompts most of the vocabulary projection is skipped."""
    import torch

    order = sorted(range(len(rows)), key=lambda i: -(len(rows[i][0]) + len(rows[i][1])))
    vocab = model.get_output_embeddings().weight.shape[0]
    out = [0.0] * len(rows)
    for part in _batches([len(rows[i][1]) for i in order], batch_size, vocab):
        batch = order[part]
        seqs = [rows[i][0] + rows[i][1] for i in batch]
        width = max(map(len, seqs))
        x = torch.full((len(seqs), width), tok.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(seqs), width), dtype=torch.long)
        keep = torch.zeros((len(seqs), width), dtype=torch.bool)  # positions whose next token is a completion's
        for j, (i, s) in enumerate(zip(batch, seqs)):
            x[j, :len(s)], mask[j, :len(s)] = torch.tensor(s), 1
            keep[j, len(rows[i][0]) - 1:len(s) - 1] = True
        targets = x[:, 1:][keep[:, :-1]].to(device)  # the completion tokens, row after row
        with torch.inference_mode():
            logits = model(input_ids=x.to(device), attention_mask=mask.to(device),
                           logits_to_keep=keep.to(device)).logits.float()
            token_lp = torch.log_softmax(logits, -1).gather(1, targets[:, None])[:, 0]
        sums = torch.split(token_lp, [len(rows[i][1]) for i in batch])
        for i, v in zip(batch, sums):
            out[i] = float(v.sum().item())
    return out


def pair_logps(pairs: pd.DataFrame, checkpoints: dict[str, tuple], cache: RecordCache, device: str,
               max_length: int = 512, batch_size: int = 8, precision: str | None = None) -> pd.DataFrame:
    """One row per checkpoint and preference pair: the summed token log-probabilities of the chosen and of the
    rejected completion given the prompt (TRL's conversational rows, `max_length` as in training). From them
    `heldout_preference` forms DPO's implicit reward. Cached per (checkpoint identity, prompt, completion): a
    rejected trace shared by several pairs is scored once. Up to `batch_size` rows per forward pass, fewer where
    their logits would pass LOGIT_BUDGET (an 8B policy's 150k-token vocabulary on 4k-token traces). `precision`
    as in `answer_logliks`."""
    from ..serving.engine import _load_hf

    rows = pairs.to_dict("records")
    out = []
    for name, (folder, ident, *_) in checkpoints.items():
        texts = {}  # key -> (prompt, reply)
        for r in rows:
            for side in ("chosen", "rejected"):
                texts[content_hash(PAIR_KIND, ident, r["prompt"], r[side], max_length, n=24)] = (r["prompt"], r[side])
        have = cache.get_many(list(texts))
        todo = [k for k in texts if k not in have]
        if todo:
            tok, model = _load_hf(Path(folder), device, precision)
            ids = [_completion_ids(tok, *texts[k], max_length) for k in todo]
            for k, (_, completion), value in zip(todo, ids, completion_logps(model, tok, ids, device, batch_size)):
                rec = {"model": ident, "logp": round(value, 5), "n_tokens": len(completion)}
                cache.put(k, rec, kind=PAIR_KIND)
                have[k] = rec
        for r in rows:
            c, j = (content_hash(PAIR_KIND, ident, r["prompt"], r[side], max_length, n=24) for side in ("chosen",
                                                                                                      "rejected"))
            out.append({"model": name, "prompt_id": r["prompt_id"], "chosen_model": r["chosen_model"],
                        "chosen_logp": have[c]["logp"], "rejected_logp": have[j]["logp"]})
    return pd.DataFrame(out, columns=PAIR_COLUMNS)


def heldout_preference(lp: pd.DataFrame, beta: float) -> pd.DataFrame:
    """Each trained checkpoint's preference on pairs it never trained on: DPO's implicit reward of a completion,
    beta * (log pi(y|x) - log pi_base(y|x)), chosen minus rejected (the margin); the accuracy is the share of pairs
    with a positive margin. KTO defines its reward the same way, so one yardstick serves both. A run that did not
    move scores every margin 0 and so accuracy 0 (a tie is not a right ranking), not a spurious 0.5. CIs treat the
    prompt as the unit (a prompt's pairs share their rejected trace): Clopper-Pearson with the Korn-Graubard
    effective n for the accuracy, a cluster bootstrap for the mean margin."""
    cols = ["model", "n", "prompts", "accuracy", "acc_low", "acc_high", "margin", "margin_low", "margin_high"]
    if lp.empty or "base" not in set(lp["model"]):
        return pd.DataFrame(columns=cols)
    key = ["prompt_id", "chosen_model"]
    base = lp[lp["model"] == "base"].set_index(key)
    rows = []
    for m, g in lp[lp["model"] != "base"].groupby("model", sort=False):
        g = g.set_index(key)
        b = base.loc[g.index]
        margin = (beta * ((g["chosen_logp"] - b["chosen_logp"]) - (g["rejected_logp"] - b["rejected_logp"]))).to_numpy()
        won = (margin > 0).astype(float)
        prompts = g.index.get_level_values("prompt_id").to_numpy()
        lo, hi = proportion_ci(won, clusters=prompts)
        boots = cluster_bootstrap(lambda i, m=margin: float(m[i].mean()), prompts)
        rows.append({"model": m, "n": len(margin), "prompts": len(set(prompts)), "accuracy": float(won.mean()),
                     "acc_low": lo, "acc_high": hi, "margin": float(margin.mean()),
                     "margin_low": float(np.quantile(boots, 0.025)), "margin_high": float(np.quantile(boots, 0.975))})
    return pd.DataFrame(rows, columns=cols)


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


def stage_preference(run_dir: Path, beta: float) -> pd.DataFrame | None:
    """`heldout_preference` of the held-out pairs' log-probs 05_evaluate wrote under `run_dir`, or None if it
    wrote none (no held-out prompts, or evaluate.answer_loglik off)."""
    from ..profile.rundir import read_table

    path = Path(run_dir) / "05_evaluate" / "heldout_logps.jsonl"
    return heldout_preference(read_table(path), beta) if path.is_file() and path.stat().st_size else None


def stage_shifts(run_dir: Path) -> pd.DataFrame | None:
    """`vs_base` of the log-likelihoods 05_evaluate wrote under `run_dir` (runs/<profile>), or None if it wrote
    none (evaluate.answer_loglik off)."""
    from ..profile.rundir import read_table

    path = Path(run_dir) / "05_evaluate" / "answer_loglik.jsonl"
    return vs_base(read_table(path)) if path.is_file() else None
