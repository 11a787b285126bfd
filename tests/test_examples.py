"""The tutorial's examples pick by a stated rule and render what a reader needs to see."""
import pandas as pd

from delta_utils.study.examples import evaluate, generate, judge


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
    ex = generate.generation_example(_traces(), PROBLEMS)
    assert ex["item_id"] == "p1" and ex["disagree"] and list(ex["traces"]["model"]) == ["small", "big"]
    md = generate.generation_markdown(ex)
    assert "q1?" in md and "**Reference answer:** 8" in md and "~~~~text" in md  # model text with ``` fenced safely
    assert md.count("(wrong") == 1 and md.count("(correct") == 1


def test_prediction_example_shows_every_checkpoint_on_one_item():
    recs = pd.DataFrame([{"model": m, "kind": "policy", "eval_set": "a", "item_id": i, "sample": 0, "pred": "1",
                          "answer": "1", "correct": m == "dpo" and i == "a1", "completion_tokens": 3, "text": "1"}
                         for m in ["base", "dpo"] for i in ["a0", "a1"]])
    ex = evaluate.prediction_example(recs, {"a1": "what is 1?"})
    assert (ex["eval_set"], ex["item_id"], ex["disagree"]) == ("a", "a1", True)
    assert "what is 1?" in evaluate.prediction_markdown(ex) and len(ex["predictions"]) == 2


def test_takeaways_say_n_a_rather_than_inventing_numbers():
    agree = pd.DataFrame({"dimension": ["factuality"], "spearman": [float("nan")], "ci_low": [float("nan")],
                          "ci_high": [float("nan")]})
    scores = pd.DataFrame({"trace_id": _traces()["trace_id"], "aggregate_mean": 3.0})
    text = judge.judge_takeaway({"judge_calls": 6, "parse_failure_rate": 0.0}, _traces(), scores, agree, None)
    assert "agreement: n/a" in text and "6 calls" in text


def test_what_training_did_is_drawn_and_told_from_the_numbers():
    learned = pd.DataFrame({"model": ["dpo", "kto"], "n": 20, "prompts": 10, "accuracy": [1.0, 0.55],
                            "acc_low": [0.69, 0.3], "acc_high": [1.0, 0.8], "margin": [7.2, 0.1],
                            "margin_low": [5.1, -0.2], "margin_high": [9.9, 0.4]})
    moved = pd.DataFrame({"model": ["dpo", "kto"], "diff": [-3.6, 0.0], "ci_low": [-3.9, -0.1],
                          "ci_high": [-3.4, 0.1]})
    fig = evaluate.learning_signal_figure(learned, moved)
    assert fig.name == "learning_signal" and list(fig.data["model"]) == ["kto", "dpo"]
    assert fig.data.set_index("model").loc["dpo", "loglik"] == -3.6
    assert "10 held-out prompts" in fig.fig._suptitle.get_text()
    # without held-out pairs the panels say so, and the log-likelihood panel still draws
    only = evaluate.learning_signal_figure(None, moved)
    texts = [t.get_text() for ax in only.fig.axes for t in ax.texts]
    assert texts.count("no held-out pairs") == 2 and len(only.data) == 2
    summary = pd.DataFrame({"model": ["base"], "eval_set": ["arith"], "accuracy": [0.25]})
    text = evaluate.evaluate_takeaway(summary, pd.DataFrame(), learned)
    assert text.startswith("Takeaway: 1 of 2 runs learned") and "55% to 100%" in text and "arith 25%" in text
    assert evaluate.evaluate_takeaway(summary, pd.DataFrame()) == "Takeaway: base policy accuracy arith 25%."
