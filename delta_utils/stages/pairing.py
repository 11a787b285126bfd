"""Stage 3: preference pairs, and the selections the study trains on.

Generator-level sets: for every chosen generator on the ladder, its trace vs the
fixed rejected generator's trace on the same prompt. Sample-level selections, on
the set with the largest capability gap: the top fraction by each dimension's
judged delta (and by the aggregate), a seeded random subset of the same size,
and the full set. Each set is a `datasets.Dataset` in TRL's conversational
``prompt/chosen/rejected`` format with provenance columns.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..core.markdown import markdown_table
from ..core.stats import tie_share
from ..core.store import atomic_dir, atomic_write_text
from ..data import prefsets
from ..data.tasks import Problem, chat_prompt
from ..data.traceformat import assistant_message
from ..profile.config import Profile
from ..profile.rundir import read_table, stage_dir, write_manifest, write_table

STAGE = "03_pair"


class PairingError(ValueError):
    pass


def _prompts(problems: pd.DataFrame) -> dict[str, list]:
    return {r["id"]: chat_prompt(Problem.from_dict(r)) for r in problems.to_dict("records")}


def _pair(prompt: list, a, b) -> dict:
    """A TRL conversational pair (chosen trace `a`, rejected trace `b`) with provenance and judged deltas."""
    row = {"prompt": prompt,  # exactly what the generators were asked
           "chosen": [assistant_message(a["text"])],  # one trace format for every family: traceformat
           "rejected": [assistant_message(b["text"])],
           "prompt_id": a["item_id"], "chosen_model": a["model"], "rejected_model": b["model"],
           "chosen_correct": bool(a["correct"]), "rejected_correct": bool(b["correct"]),
           "chosen_trace": a["trace_id"], "rejected_trace": b["trace_id"]}
    for d in prefsets.SELECTION_DIMENSIONS:
        row[f"chosen_{d}"] = float(a.get(f"{d}_mean", np.nan))
        row[f"rejected_{d}"] = float(b.get(f"{d}_mean", np.nan))
        row[f"delta_{d}"] = row[f"chosen_{d}"] - row[f"rejected_{d}"]
    return row


def build_pairs(traces: pd.DataFrame, scores: pd.DataFrame, problems: pd.DataFrame, chosen: str,
                rejected: str) -> pd.DataFrame:
    """One pair per prompt: `chosen` generator's first sample vs `rejected` generator's first sample."""
    t = traces[traces["sample"] == 0].merge(scores, on="trace_id", how="left")
    c = t[t["model"] == chosen].set_index("item_id", drop=False)
    r = t[t["model"] == rejected].set_index("item_id", drop=False)
    common = c.index.intersection(r.index)
    if len(common) == 0:
        raise PairingError(f"no prompt has traces from both {chosen!r} and {rejected!r}")
    prompts = _prompts(problems)
    rows = [_pair(prompts[pid], c.loc[pid], r.loc[pid]) for pid in sorted(common)
            if c.loc[pid, "text"].strip() != r.loc[pid, "text"].strip()]  # identical texts carry no preference
    return pd.DataFrame(rows)


CORRECTNESS = {"c2w": (True, False), "c2c": (True, True), "w2w": (False, False), "w2c": (False, True)}


def correctness_sets(traces: pd.DataFrame, scores: pd.DataFrame, problems: pd.DataFrame, chosen: str,
                     rejected: str) -> dict[str, pd.DataFrame]:
    """correct->wrong, correct->correct, wrong->wrong, wrong->correct preference sets, in matched couples.

    Chosen traces all come from one generator (`chosen`), rejected ones from the rejected generator, so
    correctness is not confounded with which model wrote the trace. The sets the correctness claim compares
    are built on the same prompts with the same rejected trace, differing only in whether the chosen trace
    is correct: c2w and w2w on every prompt where `chosen` has a correct and a wrong sample and `rejected` a
    wrong one; c2c and w2c likewise where `rejected` has a correct one. Per prompt the first sample of each
    kind is taken (by sample index). Empty when no prompt qualifies: more samples per prompt
    (`generation.sampling.n`) make more prompts qualify.
    """
    t = traces.merge(scores, on="trace_id", how="left")
    ch = t[t["model"] == chosen].sort_values("sample")
    rj = t[t["model"] == rejected].sort_values("sample")
    prompts = _prompts(problems)
    out = {}
    for rejected_ok, names in ((False, ("c2w", "w2w")), (True, ("c2c", "w2c"))):
        rows = {n: [] for n in names}
        for pid in sorted(set(ch["item_id"]) & set(rj["item_id"])):
            c, r = ch[ch["item_id"] == pid], rj[(rj["item_id"] == pid) & (rj["correct"] == rejected_ok)]
            if r.empty or not c["correct"].any() or c["correct"].all():
                continue
            b = r.iloc[0]
            for n in names:
                a = c[c["correct"] == CORRECTNESS[n][0]].iloc[0]
                rows[n].append(_pair(prompts[pid], a, b))
        out.update({prefsets.correctness(n).name: pd.DataFrame(v) for n, v in rows.items()})
    return {prefsets.correctness(n).name: out[prefsets.correctness(n).name] for n in prefsets.CORRECTNESS_CELLS}


def top_k(pairs: pd.DataFrame, dimension: str, fraction: float, seed: int = 0) -> pd.DataFrame:
    """The `fraction` of pairs with the largest judged delta on `dimension`. Pairs tied at the cutoff are
    ordered by a seeded permutation (never by id, which would make the tie-break a hidden selection rule);
    `.attrs["tie_share"]` is the share of the selection that the tie-break, not the score, chose."""
    k = max(1, int(round(fraction * len(pairs))))
    delta = pairs[f"delta_{dimension}"].astype(float).fillna(-np.inf).to_numpy()
    tiebreak = np.random.default_rng(seed).permutation(len(pairs))
    order = np.lexsort((tiebreak, -delta))  # by delta descending, then the seeded permutation
    out = pairs.iloc[order[:k]]
    out.attrs["tie_share"] = tie_share(np.nan_to_num(delta, neginf=-1e9), k) if len(pairs) else 0.0
    return out


def random_subset(pairs: pd.DataFrame, k: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(len(pairs), size=min(k, len(pairs)), replace=False))
    return pairs.iloc[idx]


def heldout_ids(problems: pd.DataFrame, n: int, seed: int) -> set[str]:
    """The `n` training prompts held out of every preference set: a seeded draw over the prompt ids (its own
    random stream, so it does not shift the random subsets drawn with the same seed)."""
    ids = sorted(problems["id"])
    if n >= len(ids) and n:
        raise PairingError(f"pairing.heldout: {n} held-out prompts leave none of the {len(ids)} to train on")
    return {str(i) for i in np.random.default_rng([seed, 7]).choice(ids, size=n, replace=False)} if n else set()


def heldout_pairs(profile: Profile, traces: pd.DataFrame, scores: pd.DataFrame, problems: pd.DataFrame) -> pd.DataFrame:
    """The held-out prompts' pairs: each chosen generator's trace vs the rejected generator's, on the same prompt
    (what every run is trained to prefer, on prompts none of them saw). Empty without held-out traces."""
    g = profile.generation
    frames = [build_pairs(traces, scores, problems, m, g.rejected) for m in g.generators if m != g.rejected
              and not traces.empty and {m, g.rejected} <= set(traces["model"])]
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def widest_generator(profile: Profile, traces: pd.DataFrame) -> str:
    """The chosen generator with the largest capability gap (accuracy on the training prompts) over the rejected one."""
    g = profile.generation
    acc = traces.groupby("model")["correct"].mean()
    return max((m for m in g.generators if m != g.rejected), key=lambda m: (acc.get(m, 0), m))


def selections(profile: Profile, traces: pd.DataFrame, scores: pd.DataFrame,
               problems: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Every set of `prefsets.expected(profile)`, by name."""
    g, p = profile.generation, profile.pairing
    widest = widest_generator(profile, traces)
    chosen = p.correctness_generator or widest
    cells = correctness_sets(traces, scores, problems, chosen, g.rejected)
    sets: dict[str, pd.DataFrame] = {}
    pool = build_pairs(traces, scores, problems, widest, g.rejected)  # `full`: what the selections draw from
    for s in prefsets.expected(profile):
        if s.kind == "generator":
            sets[s.name] = pool if s.chosen_model == widest else build_pairs(traces, scores, problems,
                                                                              s.chosen_model, g.rejected)
        elif s.kind == "full":
            sets[s.name] = pool
        elif s.kind == "topk":
            sets[s.name] = top_k(pool, s.dimension, s.fraction, seed=p.seed)
        elif s.kind == "random":
            sets[s.name] = random_subset(pool, max(1, int(round(s.fraction * len(pool)))), p.seed + s.draw)
        else:
            sets[s.name] = cells[s.name]
    return sets


def to_dataset(pairs: pd.DataFrame):
    import datasets

    if len(pairs) == 0:
        raise PairingError("empty preference set")
    return datasets.Dataset.from_pandas(pairs.reset_index(drop=True), preserve_index=False)


def to_kto(pairs: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """TRL's unpaired format: each pair gives a desirable (chosen) and an undesirable (rejected) example.

    KTOTrainer reads its data in order (its KL term pairs each prompt with a neighbour's completion
    inside a fixed batch), so the order is the batches: desirable and undesirable examples alternate,
    each side in its own seeded permutation, so every batch holds both labels and a prompt rarely
    meets its own pair's completion as a KL neighbour.
    """
    keep = [c for c in pairs.columns if c not in ("chosen", "rejected")]
    pos = pairs[keep].assign(completion=pairs["chosen"], label=True)
    neg = pairs[keep].assign(completion=pairs["rejected"], label=False)
    rng, n = np.random.default_rng(seed), len(pairs)
    both = pd.concat([pos.iloc[rng.permutation(n)], neg.iloc[rng.permutation(n)]], ignore_index=True)
    return both.iloc[np.column_stack([np.arange(n), n + np.arange(n)]).ravel()].reset_index(drop=True)


def kto_weights(labels: pd.Series) -> tuple[float, float]:
    """(desirable_weight, undesirable_weight) so that weighted counts stay within TRL's 1:1 to 4:3 band."""
    n_pos, n_neg = int(labels.sum()), int((~labels.astype(bool)).sum())
    if n_pos == 0 or n_neg == 0:
        raise PairingError(f"KTO needs both labels; got {n_pos} desirable and {n_neg} undesirable")
    # desirable_weight * n_pos / (undesirable_weight * n_neg) in [1, 4/3]
    ratio = n_pos / n_neg
    if ratio < 1:
        return (1.0 / ratio, 1.0)
    if ratio > 4 / 3:
        return (1.0, ratio * 0.75)
    return (1.0, 1.0)


def run(profile: Profile) -> dict[str, pd.DataFrame]:
    gen, jud = profile.run_dir() / "01_generate", profile.run_dir() / "02_judge"
    traces, problems = read_table(gen / "traces.jsonl"), read_table(gen / "problems.jsonl")
    scores = read_table(jud / "scores.jsonl")
    out = stage_dir(profile, STAGE)
    held = heldout_ids(problems, profile.pairing.heldout, profile.pairing.seed)
    kept = traces["item_id"].isin(held)
    sets = selections(profile, traces[~kept], scores, problems)  # the sets never see a held-out prompt
    heldout = heldout_pairs(profile, traces[kept], scores, problems)
    paths, card = [write_table(heldout, out / "heldout.jsonl")], []
    for name, df in sets.items():
        if len(df) == 0:
            card.append({"set": name, "pairs": 0})
            continue
        p = out / "sets" / f"{name}.jsonl"
        p.parent.mkdir(parents=True, exist_ok=True)
        paths.append(write_table(df, p))
        # the same set as Hugging Face datasets: TRL's paired format and KTO's unpaired one
        kto = to_kto(df, seed=profile.pairing.seed)
        for ds_name, table in [(name, df), (f"{name}__kto", kto)]:
            with atomic_dir(out / "hf" / ds_name) as tmp:
                to_dataset(table).save_to_disk(str(tmp))
        dw, uw = kto_weights(kto["label"])
        card.append({"set": name, "pairs": len(df), "tie_share": round(df.attrs["tie_share"], 3)
                     if "tie_share" in df.attrs else None,
                     "chosen_correct": round(float(df["chosen_correct"].mean()), 3),
                     "rejected_correct": round(float(df["rejected_correct"].mean()), 3),
                     "mean_delta_aggregate": round(float(df["delta_aggregate"].mean()), 3),
                     "kto_desirable_weight": dw, "kto_undesirable_weight": uw})
    atomic_write_text(out / "README.md", dataset_card(profile, pd.DataFrame(card)))
    write_table(pd.DataFrame(card), out / "card.jsonl")
    write_manifest(profile, STAGE, paths + [out / "README.md", out / "card.jsonl"],
                   sizes={**{k: len(v) for k, v in sets.items()}, "heldout": len(heldout)})
    return sets


def dataset_card(profile: Profile, table: pd.DataFrame) -> str:
    g = profile.generation
    return f"""# Preference sets — profile `{profile.name}`

Built by `03_pair` from the generations of `01_generate` and the judgments of `02_judge`.

- Format: TRL conversational preference data, `prompt` / `chosen` / `rejected` (lists of chat messages), plus
  provenance: `prompt_id`, `chosen_model`, `rejected_model`, `chosen_correct`, `rejected_correct`, the trace ids,
  and per judged dimension the chosen and rejected means and their `delta_*`.
- `hf/<set>`: `datasets.load_from_disk`; `hf/<set>__kto`: the unpaired KTO form (`prompt` / `completion` / `label`),
  each pair giving one desirable and one undesirable example; weights keep desirable:undesirable within 1:1-4:3.
- Generator-level sets `gen__<model>`: each chosen generator vs the fixed rejected generator `{g.rejected}` on the
  same prompts. `full`: the set with the widest capability gap. `top<pct>__<dimension>`: its pairs with the largest
  judged delta on that dimension, pairs tied at the cutoff ordered by a seeded permutation (`tie_share`: the share
  of the set the tie-break chose); `random<pct>` (and `random<pct>__draw<i>`): seeded random subsets of the same
  size (seeds {profile.pairing.seed} + i). `correctness__c2w|c2c|w2w|w2c`: chosen correct/wrong -> rejected
  correct/wrong, chosen traces from one generator; c2w and w2w share their prompts and rejected traces (as do
  c2c and w2c), so they differ only in the chosen trace's correctness.
- Pairs whose chosen and rejected texts are identical are dropped.
- `heldout.jsonl`: {profile.pairing.heldout} training prompts (a seeded draw) are held out of every set; their
  pairs, each chosen generator vs `{g.rejected}`, measure every run's held-out preference accuracy in 05_evaluate.

{markdown_table(table)}
"""


def load_set(profile: Profile, name: str) -> pd.DataFrame:
    p = profile.run_dir() / STAGE / "sets" / f"{name}.jsonl"
    if not p.is_file():
        avail = sorted(x.stem for x in p.parent.glob("*.jsonl"))
        raise PairingError(f"preference set {name!r} not found in {p.parent}; available: {avail}")
    df = read_table(p)
    missing = {"prompt", "chosen", "rejected"} - set(df.columns)
    if missing:
        raise PairingError(f"preference set {name!r} lacks columns {sorted(missing)}")
    return df
