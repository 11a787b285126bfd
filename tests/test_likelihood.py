"""The learning signal: the teacher-forced log-likelihood of each item's reference answer, on the real SmolLM2-135M,
checked against transformers' own loss, cached, and compared with the base policy per item."""
import numpy as np
import pandas as pd
import pytest

from delta_utils import likelihood, models
from delta_utils.store import RecordCache
from delta_utils.tasks import Problem, chat_prompt, make_problems


@pytest.fixture(scope="module")
def policy():
    return models.hf_dir("smollm2-135m")


def test_the_answer_line_is_scored_as_transformers_scores_it(policy, tmp_path):
    import torch

    from delta_utils.engine import _load_hf_uncached

    probs = make_problems("arithmetic", 3, seed=7, max_steps=2)
    code = Problem("c", "humaneval", "def f():", "", kind="code")
    with RecordCache(tmp_path / "c.sqlite") as cache:
        ll = likelihood.answer_logliks({"arith": probs, "code": [code]}, {"base": (policy, "smollm2@test")}, cache,
                                       "cpu")
    assert list(ll["item_id"]) == [p.id for p in probs]  # the code item has no reference answer
    assert (ll["logp"] < 0).all() and (ll["n_tokens"] >= 5).all()
    # the same number from transformers' own cross-entropy over the answer tokens
    tok, model = _load_hf_uncached(policy, "cpu")
    p = probs[0]
    prompt = tok.apply_chat_template(chat_prompt(p), tokenize=False, add_generation_prompt=True)
    a = tok(prompt, add_special_tokens=False, return_tensors="pt").input_ids
    b = tok(f"The answer is {p.answer}.", add_special_tokens=False, return_tensors="pt").input_ids
    ids = torch.cat([a, b], 1)
    labels = ids.clone()
    labels[:, :a.shape[1]] = -100
    with torch.inference_mode():
        loss = model(ids, labels=labels).loss.item()
    assert ll["logp"].iloc[0] == pytest.approx(-loss * b.shape[1], abs=1e-3)


def test_a_right_answer_is_more_likely_than_a_wrong_one_and_reruns_are_cached(policy, tmp_path, monkeypatch):
    probs = make_problems("arithmetic", 6, seed=3, max_steps=1, ops=("add",), max_operand=9)
    wrong = [Problem(p.id, p.family, p.question, int(p.answer) + 37, steps=p.steps) for p in probs]
    with RecordCache(tmp_path / "c.sqlite") as cache:
        right = likelihood.answer_logliks({"a": probs}, {"base": (policy, "id")}, cache, "cpu")
        off = likelihood.answer_logliks({"a": wrong}, {"base": (policy, "id")}, cache, "cpu")
    assert (right["logp"].to_numpy() > off["logp"].to_numpy()).mean() >= 5 / 6
    from delta_utils import engine

    monkeypatch.setattr(engine, "_load_hf", lambda *a: (_ for _ in ()).throw(AssertionError("model loaded")))
    with RecordCache(tmp_path / "c.sqlite") as cache:
        again = likelihood.answer_logliks({"a": probs}, {"base": (policy, "id")}, cache, "cpu")
    assert again["logp"].tolist() == right["logp"].tolist()


def test_vs_base_pairs_items_and_says_which_way_a_run_moved():
    rng = np.random.default_rng(0)
    base = rng.normal(-8, 2, 30)
    ll = pd.DataFrame({"model": ["base"] * 30 + ["up"] * 30 + ["same"] * 30, "eval_set": "s",
                       "item_id": [f"i{k}" for k in range(30)] * 3,
                       "logp": np.concatenate([base, base + 0.5 + rng.normal(0, 0.1, 30),
                                               base + rng.normal(0, 0.1, 30)])})
    m = likelihood.vs_base(ll).set_index("model")
    assert m.loc["up", "diff"] == pytest.approx(0.5, abs=0.05) and m.loc["up", "ci_low"] > 0.4
    assert m.loc["up", "share_up"] == 1.0 and m.loc["up", "p_value"] < 0.001
    assert m.loc["same", "ci_low"] < 0 < m.loc["same", "ci_high"]
    assert likelihood.vs_base(ll[ll["model"] != "base"]).empty  # no base: nothing to compare


def test_stage_shifts_read_what_05_wrote(tmp_path):
    from delta_utils.stages import write_table

    assert likelihood.stage_shifts(tmp_path) is None  # answer_loglik off: nothing written, nothing shown
    ll = pd.DataFrame({"model": ["base", "run"] * 3, "eval_set": "s", "item_id": ["a", "a", "b", "b", "c", "c"],
                       "logp": [-5.0, -4.0, -6.0, -5.0, -7.0, -6.0], "n_tokens": 6})
    (tmp_path / "05_evaluate").mkdir()
    write_table(ll, tmp_path / "05_evaluate" / "answer_loglik.jsonl")
    assert likelihood.stage_shifts(tmp_path).set_index("model").loc["run", "diff"] == pytest.approx(1.0)
