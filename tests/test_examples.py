"""The tutorial's examples pick by a stated rule and render what a reader needs to see."""
import pandas as pd

from delta_utils import examples


def _traces():
    rows = []
    for m, right in [("small", {"p0"}), ("big", {"p0", "p1"})]:
        for p in ["p0", "p1", "p2"]:
            rows.append({"trace_id": f"{m}-{p}", "model": m, "item_id": p, "sample": 0, "correct": p in right,
                         "pred": "7", "finish_reason": "length" if p == "p2" else "stop", "completion_tokens": 9,
                         "text": f"{m} works on {p}\n```python\nprint(7)\n```"})
    return pd.DataFrame(rows)


PROBLEMS = pd.DataFrame({"id": ["p0", "p1", "p2"], "question": ["q0?", "q1?", "q2?"], "answer": [7, 8, 9]})


def test_generation_example_is_the_first_prompt_the_generators_disagree_on():
    ex = examples.generation_example(_traces(), PROBLEMS)
    assert ex["item_id"] == "p1" and ex["disagree"] and list(ex["traces"]["model"]) == ["small", "big"]
    md = examples.generation_markdown(ex)
    assert "q1?" in md and "**Reference answer:** 8" in md and "~~~~text" in md  # model text with ``` fenced safely
    assert md.count("(wrong") == 1 and md.count("(correct") == 1


def test_prediction_example_shows_every_checkpoint_on_one_item():
    recs = pd.DataFrame([{"model": m, "kind": "policy", "eval_set": "a", "item_id": i, "sample": 0, "pred": "1",
                          "answer": "1", "correct": m == "dpo" and i == "a1", "completion_tokens": 3, "text": "1"}
                         for m in ["base", "dpo"] for i in ["a0", "a1"]])
    ex = examples.prediction_example(recs, {"a1": "what is 1?"})
    assert (ex["eval_set"], ex["item_id"], ex["disagree"]) == ("a", "a1", True)
    assert "what is 1?" in examples.prediction_markdown(ex) and len(ex["predictions"]) == 2


def test_takeaways_say_n_a_rather_than_inventing_numbers():
    agree = pd.DataFrame({"dimension": ["factuality"], "spearman": [float("nan")], "ci_low": [float("nan")],
                          "ci_high": [float("nan")]})
    scores = pd.DataFrame({"trace_id": _traces()["trace_id"], "aggregate_mean": 3.0})
    text = examples.judge_takeaway({"judge_calls": 6, "parse_failure_rate": 0.0}, _traces(), scores, agree, None)
    assert "agreement: n/a" in text and "6 calls" in text
