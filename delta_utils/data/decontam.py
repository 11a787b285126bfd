"""Decontamination: which training prompts also appear in an evaluation set.

Two checks, on normalised text (`normalise`):

- exact: a training item's text equals an eval item's text (any pair of items);
- n-gram (13 by default, as in GPT-3 and lm-evaluation-harness): the two texts share a run of
  n word tokens. Only for pairs where at least one side is a real benchmark item: procedural
  problems (families arithmetic, stem, code_output) come from templates that share long
  boilerplate by design, so between two procedural items only an exact copy counts.
  Texts shorter than n tokens can only match exactly.

The eval side is indexed once (normalised text -> items, n-gram -> items), so each training item
costs a few dict look-ups: 16.5k prompts against thousands of eval items take seconds.

    evals = eval_sets(profile)           # the eval sets; procedural ones without any training prompt
    df = overlaps(train, evals)          # one row per (train item, eval set, eval item) hit
    print(report_text(df, train, evals))
    check(train, evals)                  # raises ContaminationError on any hit
    kept, dropped = drop_overlapping(train, df)   # or leave the hits out of training (on_overlap: drop)
"""
from __future__ import annotations

import re
import unicodedata
from collections import defaultdict

import pandas as pd

from .tasks import FAMILIES, Problem, load_tasks

N = 13
OPT_OUT = "train_prompts.allow_eval_overlap: true"
DROP = "train_prompts.on_overlap: drop"

# Symbols that change what a math (or code) text says; kept as tokens of their own. Any other
# punctuation (. , ; : ? ! ' " ` $ # & @ _ ...) becomes a token boundary, so "Janet's  $5." and
# "janets 5" differ only by the split, and "5+3" / "5 + 3" both give "5 + 3". Unicode math symbols
# (category Sm: ≤ ± √ ∑ ...) are kept too. A "." survives only inside a number (3.5), a "," between
# digit groups is dropped (1,000 -> 1000). Merging too much only errs towards reporting a hit.
KEEP = set("+-*/=^<>%()[]{}|\\")
_UNIFY = str.maketrans({"\u2212": "-", "\u2013": "-", "\u2014": "-", "\u2010": "-", "\u00d7": "*", "\u00f7": "/"})
_TOKEN = re.compile(r"\d+(?:\.\d+)+|[^\W_]+|[^\w\s]")


def normalise(text: str) -> str:
    """Lowercase, NFKC, punctuation other than math symbols removed, tokens joined by one space."""
    s = unicodedata.normalize("NFKC", text).lower().translate(_UNIFY)
    s = re.sub(r"(?<=\d),(?=\d{3}\b)", "", s)
    return " ".join(t for t in _TOKEN.findall(s)
                    if t[0].isalnum() or t in KEEP or unicodedata.category(t) == "Sm")


def text_of(p: Problem) -> str:
    """What the model is shown of an item: the question and any choices (not the instruction line
    of `tasks.question_text`, which every item of a kind shares)."""
    return "\n".join((p.question, *p.choices))


def is_benchmark(p: Problem) -> bool:
    """A real benchmark item (gsm8k, math500, humaneval, ...), not a procedural family."""
    return p.family not in FAMILIES


def _ngrams(tokens: list[str], n: int) -> list[tuple[str, ...]]:
    return [tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]


def _snippet(tokens: list[str], limit: int = 120) -> str:
    s = " ".join(tokens)
    return s if len(s) <= limit else s[:limit - 3] + "..."


COLUMNS = ["train_id", "eval_set", "eval_id", "kind", "snippet"]


def overlaps(train: list[Problem], evals: dict[str, list[Problem]], n: int = N) -> pd.DataFrame:
    """One row per (train item, eval set, eval item) that match: columns train_id, eval_set,
    eval_id, kind ("exact" or f"{n}-gram") and snippet (the start of the shared text)."""
    refs = [(name, p) for name, probs in evals.items() for p in probs]
    exact: dict[str, list[int]] = defaultdict(list)
    grams = {True: defaultdict(list), False: defaultdict(list)}  # benchmark eval items / procedural ones
    need_proc = any(is_benchmark(p) for p in train)  # procedural eval n-grams matter only to those
    for r, (_, p) in enumerate(refs):
        toks = normalise(text_of(p)).split()
        exact[" ".join(toks)].append(r)
        if is_benchmark(p) or need_proc:
            index = grams[is_benchmark(p)]
            for g in set(_ngrams(toks, n)):
                index[g].append(r)
    rows = []
    for t in train:
        toks = normalise(text_of(t)).split()
        same = exact.get(" ".join(toks), [])
        for r in same:
            rows.append((t.id, refs[r][0], refs[r][1].id, "exact", _snippet(toks)))
        indexes = [grams[True]] + ([grams[False]] if is_benchmark(t) else [])
        hits: dict[int, list[int]] = defaultdict(list)  # eval item -> train positions of shared n-grams
        for i, g in enumerate(_ngrams(toks, n)):
            for index in indexes:
                for r in index.get(g, ()):
                    hits[r].append(i)
        for r, pos in hits.items():
            if r in same:
                continue
            k = 0  # the first run of consecutive shared n-grams is the shared passage
            while k + 1 < len(pos) and pos[k + 1] == pos[k] + 1:
                k += 1
            rows.append((t.id, refs[r][0], refs[r][1].id, f"{n}-gram", _snippet(toks[pos[0]:pos[k] + n])))
    return pd.DataFrame(rows, columns=COLUMNS)


def summary(df: pd.DataFrame, train: list[Problem], evals: dict[str, list[Problem]]) -> pd.DataFrame:
    """Per eval set: its size, the training and eval items involved in a hit, and hits (pairs) by kind."""
    rows = []
    for name, probs in evals.items():
        d = df[df.eval_set == name]
        rows.append({"eval_set": name, "n_eval": len(probs), "train_items_hit": d.train_id.nunique(),
                     "eval_items_hit": d.eval_id.nunique(), "exact": int((d.kind == "exact").sum()),
                     "ngram": int((d.kind != "exact").sum())})
    return pd.DataFrame(rows, columns=["eval_set", "n_eval", "train_items_hit", "eval_items_hit", "exact", "ngram"])


def report_text(df: pd.DataFrame, train: list[Problem], evals: dict[str, list[Problem]], n: int = N,
                examples: int = 3) -> str:
    """A few lines for a log: how many training prompts hit, per set, and the first hits."""
    lines = [f"decontamination: {df.train_id.nunique()} of {len(train)} training prompts appear in any "
             f"eval set (exact or {n}-gram)"]
    for r in summary(df, train, evals).itertuples():
        if r.train_items_hit:
            lines.append(f"  {r.eval_set}: {r.eval_items_hit} of {r.n_eval} eval items, {r.train_items_hit} "
                         f"training prompts ({r.exact} exact, {r.ngram} {n}-gram)")
    for r in df.head(examples).itertuples():
        lines.append(f"  e.g. {r.train_id} ~ {r.eval_set}/{r.eval_id} [{r.kind}]: {r.snippet!r}")
    if len(df) > examples:
        lines.append(f"  ... {len(df) - examples} more")
    return "\n".join(lines)


class ContaminationError(ValueError):
    pass


FIX = f"set `{DROP}` in the profile to leave them out of training, or `{OPT_OUT}` to train on them anyway"


def check(train: list[Problem], evals: dict[str, list[Problem]], allow: bool = False, n: int = N) -> pd.DataFrame:
    """The overlaps; raises ContaminationError if there are any, unless allow."""
    df = overlaps(train, evals, n)
    if len(df) and not allow:
        raise ContaminationError(f"{report_text(df, train, evals, n)}\n{FIX[0].upper()}{FIX[1:]}")
    return df


DROPPED_COLUMNS = ["train_id", "eval_hits", "reason"]


def drop_overlapping(train: list[Problem], hits: pd.DataFrame) -> tuple[list[Problem], pd.DataFrame]:
    """(the training prompts that match no eval item, one row per dropped prompt). A dropped row names the
    prompt, how many eval items it matched, and why: the first match, as "<kind> match with <set>/<item>:
    '<shared text>'"."""
    bad = set(hits["train_id"])
    kept = [p for p in train if p.id not in bad]
    rows = []
    for tid, g in hits.groupby("train_id", sort=False):
        first = g.iloc[0]
        rows.append((tid, len(g), f"{first['kind']} match with {first['eval_set']}/{first['eval_id']}: "
                                  f"{first['snippet']!r}"))
    return kept, pd.DataFrame(rows, columns=DROPPED_COLUMNS)


def eval_sets(profile, train: list[Problem] | None = None) -> dict[str, list[Problem]]:
    """Each eval set's items. A procedural set leaves out any question that is also a training prompt (`train`,
    default: the profile's), so the two are disjoint by construction; benchmark sets are kept whole (their
    overlaps are reported, see `overlaps`)."""
    sets = {s.name: load_tasks(s) for s in profile.evaluate.sets}
    procedural = [s.name for s in profile.evaluate.sets if s.family != "benchmark"]
    if procedural:
        seen = {normalise(text_of(p)) for p in (train if train is not None else load_tasks(profile.train_prompts))}
        for name in procedural:
            sets[name] = [p for p in sets[name] if normalise(text_of(p)) not in seen]
            if not sets[name]:
                raise ValueError(f"evaluate.sets: {name!r} has no item left that is not a training prompt")
    return sets
