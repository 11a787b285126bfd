"""Pairing logic on hand-built generations: exact pairs, fractions, seeds, KTO balance."""
import pandas as pd
import pytest

from delta_utils.pairing import PairingError, build_pairs, kto_weights, random_subset, to_kto, top_k
from delta_utils.rubric import DIMENSION_NAMES


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


def test_no_common_prompts():
    traces, scores, problems = _data()
    with pytest.raises(PairingError, match="no prompt"):
        build_pairs(traces, scores, problems, "big", "nobody")


def test_kto_conversion_and_weights():
    traces, scores, problems = _data()
    kto = to_kto(build_pairs(traces, scores, problems, "big", "small"))
    assert kto["label"].sum() == 3 and (~kto["label"]).sum() == 3
    assert set(kto.columns) >= {"prompt", "completion", "label"}
    assert kto_weights(kto["label"]) == (1.0, 1.0)
    for n_pos, n_neg in [(10, 30), (30, 10), (5, 4)]:
        labels = pd.Series([True] * n_pos + [False] * n_neg)
        dw, uw = kto_weights(labels)
        assert 1.0 <= dw * n_pos / (uw * n_neg) <= 4 / 3 + 1e-9
    with pytest.raises(PairingError, match="both labels"):
        kto_weights(pd.Series([True, True]))
