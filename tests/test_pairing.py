"""Pairing logic on hand-built generations: exact pairs, fractions, seeds, KTO balance."""
import pandas as pd
import pytest

from delta_utils.data.rubric import DIMENSION_NAMES
from delta_utils.stages.pairing import PairingError, build_pairs, kto_weights, random_subset, to_kto, top_k


def _data():
    problems = pd.DataFrame({"id": ["p1", "p2", "p3", "p4"], "family": "arithmetic",
                             "question": [f"Q{i}?" for i in range(1, 5)], "answer": [1, 2, 3, 4]})
    rows, scores = [], []
    for pid, good_score, bad_score in [("p1", 5, 1), ("p2", 4, 3), ("p3", 3, 3), ("p4", 5, 2)]:
        for model, s, correct in [("big", good_score, True), ("small", bad_score, False)]:
            tid = f"{model}-{pid}"
            text = "same text" if pid == "p3" else f"{model} answer to {pid}"
            rows.append({"trace_id": tid, "model": model, "item_id": pid, "sample": 0, "text": text,
                         "correct": correct})
            scores.append({"trace_id": tid, **{f"{d}_mean": float(s) for d in DIMENSION_NAMES},
                           "aggregate_mean": float(s)})
    return pd.DataFrame(rows), pd.DataFrame(scores), problems


def test_build_pairs_exact():
    traces, scores, problems = _data()
    pairs = build_pairs(traces, scores, problems, "big", "small")
    # p3 has identical texts and carries no preference
    assert list(pairs["prompt_id"]) == ["p1", "p2", "p4"]
    assert pairs["chosen"].iloc[0] == [{"role": "assistant", "content": "big answer to p1"}]
    assert pairs["rejected"].iloc[0] == [{"role": "assistant", "content": "small answer to p1"}]
    assert pairs["prompt"].iloc[0][0]["role"] == "user" and pairs["prompt"].iloc[0][0]["content"].startswith("Q1?")
    assert list(pairs["delta_step_coherence"]) == [4.0, 1.0, 3.0]
    assert pairs["chosen_correct"].all() and not pairs["rejected_correct"].any()


def test_top_k_and_random():
    traces, scores, problems = _data()
    pairs = build_pairs(traces, scores, problems, "big", "small")
    assert list(top_k(pairs, "step_coherence", 0.67)["prompt_id"]) == ["p1", "p4"]
    assert list(top_k(pairs, "aggregate", 0.1)["prompt_id"]) == ["p1"]  # at least one pair
    r1, r2 = random_subset(pairs, 2, seed=5), random_subset(pairs, 2, seed=5)
    assert list(r1["prompt_id"]) == list(r2["prompt_id"]) and len(r1) == 2


def test_top_k_breaks_ties_by_a_seeded_permutation_and_reports_the_tie_share():
    pairs = pd.DataFrame({"prompt_id": [f"p{i}" for i in range(10)],
                          "delta_step_coherence": [4.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 1.0, 0.0, 0.0]})
    picks = {tuple(sorted(top_k(pairs, "step_coherence", 0.3, seed=s)["prompt_id"])) for s in range(20)}
    assert all(p[0] == "p0" for p in picks)  # the best pair is always in
    assert len(picks) > 1  # which of the tied pairs join depends on the seed, not on the ids
    assert top_k(pairs, "step_coherence", 0.3, seed=3)["prompt_id"].tolist() == \
        top_k(pairs, "step_coherence", 0.3, seed=3)["prompt_id"].tolist()
    assert top_k(pairs, "step_coherence", 0.3).attrs["tie_share"] == pytest.approx(2 / 3)
    assert top_k(pairs, "step_coherence", 0.7).attrs["tie_share"] == 0.0  # all six 2.0s selected: no tie cut


def test_no_common_prompts():
    traces, scores, problems = _data()
    with pytest.raises(PairingError, match="no prompt"):
        build_pairs(traces, scores, problems, "big", "nobody")


def test_kto_conversion_and_weights():
    traces, scores, problems = _data()
    pairs = build_pairs(traces, scores, problems, "big", "small")
    kto = to_kto(pairs)
    assert kto["label"].sum() == 3 and (~kto["label"]).sum() == 3
    assert set(kto.columns) >= {"prompt", "completion", "label"}
    # KTOTrainer reads in order: labels alternate, so every batch of two or more holds both
    assert list(kto["label"]) == [True, False] * 3
    # each pair's chosen text is a desirable example and its rejected text an undesirable one, once each
    want = sorted([(p, c, True) for p, c in zip(pairs["prompt_id"], pairs["chosen"].map(str))]
                  + [(p, r, False) for p, r in zip(pairs["prompt_id"], pairs["rejected"].map(str))])
    assert sorted(zip(kto["prompt_id"], kto["completion"].map(str), kto["label"])) == want
    # the order is a seeded permutation: the same seed gives the same order, another seed may not
    assert to_kto(pairs, seed=0).equals(kto)
    orders = {tuple(to_kto(pairs, seed=s)["prompt_id"]) for s in range(8)}
    assert len(orders) > 1
    assert kto_weights(kto["label"]) == (1.0, 1.0)
    for n_pos, n_neg in [(10, 30), (30, 10), (5, 4)]:
        labels = pd.Series([True] * n_pos + [False] * n_neg)
        dw, uw = kto_weights(labels)
        assert 1.0 <= dw * n_pos / (uw * n_neg) <= 4 / 3 + 1e-9
    with pytest.raises(PairingError, match="both labels"):
        kto_weights(pd.Series([True, True]))


def test_correctness_sets_are_matched_couples_from_one_generator():
    from delta_utils.stages.pairing import correctness_sets

    problems = pd.DataFrame({"id": ["p1", "p2", "p3", "p4"], "family": "arithmetic",
                             "question": ["Q1?", "Q2?", "Q3?", "Q4?"], "answer": [1, 2, 3, 4]})
    rows = []
    # p1, p2: big has a right and a wrong sample; small has a wrong one on p1 and p2, a right one on p2 only.
    # p3: big is always right (no wrong chosen). p4: only another generator has a wrong sample.
    spec = {"p1": {"big": [True, False], "small": [False, False]},
            "p2": {"big": [False, True], "small": [True, False]},
            "p3": {"big": [True, True], "small": [False, True]},
            "p4": {"big": [True], "other": [False], "small": [False]}}
    for pid, by_model in spec.items():
        for model, flags in by_model.items():
            for s, ok in enumerate(flags):
                rows.append({"trace_id": f"{model}-{pid}-{s}", "model": model, "item_id": pid, "sample": s,
                             "text": f"{model} {pid} {s}", "correct": ok})
    traces = pd.DataFrame(rows)
    scores = pd.DataFrame({"trace_id": traces["trace_id"], "aggregate_mean": 3.0})
    sets = correctness_sets(traces, scores, problems, "big", "small")
    assert list(sets) == ["correctness__c2w", "correctness__c2c", "correctness__w2w", "correctness__w2c"]
    assert list(sets["correctness__c2w"]["prompt_id"]) == list(sets["correctness__w2w"]["prompt_id"]) == ["p1", "p2"]
    assert list(sets["correctness__c2c"]["prompt_id"]) == list(sets["correctness__w2c"]["prompt_id"]) == ["p2"]
    # a couple shares its rejected traces and differs only in the chosen trace's correctness
    assert list(sets["correctness__c2w"]["rejected_trace"]) == list(sets["correctness__w2w"]["rejected_trace"])
    for name, df in sets.items():
        want_c, want_r = {"c2w": (True, False), "c2c": (True, True), "w2w": (False, False),
                          "w2c": (False, True)}[name.split("__")[1]]
        assert (df["chosen_correct"] == want_c).all() and (df["rejected_correct"] == want_r).all()
        assert (df["chosen_model"] == "big").all()
    none = correctness_sets(traces[traces["item_id"] == "p3"], scores, problems, "big", "small")
    assert all(len(df) == 0 for df in none.values())


def test_held_out_prompts_are_a_seeded_draw_and_their_pairs_cover_every_chosen_generator():
    from types import SimpleNamespace

    from delta_utils.stages.pairing import heldout_ids, heldout_pairs

    traces, scores, problems = _data()
    mid = traces[traces.model == "big"].assign(model="mid", trace_id=lambda d: "mid-" + d.item_id,
                                               text=lambda d: "mid answer to " + d.item_id)
    traces = pd.concat([traces, mid], ignore_index=True)
    scores = pd.concat([scores, scores[scores.trace_id.str.startswith("big")].assign(
        trace_id=lambda d: d.trace_id.str.replace("big", "mid"))], ignore_index=True)
    held = heldout_ids(problems, 2, seed=0)
    assert len(held) == 2 and held == heldout_ids(problems, 2, seed=0) and held <= set(problems.id)
    assert {frozenset(heldout_ids(problems, 2, seed=s)) for s in range(12)} != {frozenset(held)}  # the seed draws
    assert heldout_ids(problems, 0, seed=0) == set()
    with pytest.raises(PairingError, match="leave none"):
        heldout_ids(problems, 4, seed=0)
    prof = SimpleNamespace(generation=SimpleNamespace(generators=["small", "mid", "big"], rejected="small"))
    pairs = heldout_pairs(prof, traces[traces.item_id.isin(held)], scores, problems)
    # each chosen generator vs the rejected one on every held-out prompt (big's and small's identical texts on p3
    # carry no preference)
    want = {(p, m) for p in held for m in ("mid", "big")} - {("p3", "big")}
    assert set(zip(pairs.prompt_id, pairs.chosen_model)) == want
    assert (pairs.rejected_model == "small").all()
    assert heldout_pairs(prof, traces.iloc[:0], scores, problems).empty
