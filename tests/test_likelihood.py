"""The learning signal: the teacher-forced log-likelihood of each item's reference answer, on the real SmolLM2-135M,
checked against transformers' own loss, cached, and compared with the base policy per item."""
import numpy as np
import pandas as pd
import pytest

from delta_utils.core.store import RecordCache
from delta_utils.data.tasks import Problem, chat_prompt, make_problems
from delta_utils.stages import likelihood


def test_the_answer_line_is_scored_as_transformers_scores_it(policy, tmp_path):
    import torch

    from delta_utils.serving.engine import _load_hf_uncached

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
    # one item per forward pass gives the same numbers as the batched, right-padded passes
    with RecordCache(tmp_path / "one.sqlite") as cache:
        one = likelihood.answer_logliks({"arith": probs}, {"base": (policy, "smollm2@test")}, cache, "cpu",
                                        batch_size=1)
    np.testing.assert_allclose(one["logp"], ll["logp"], atol=2e-3)


def test_a_right_answer_is_more_likely_than_a_wrong_one_and_reruns_are_cached(policy, tmp_path, monkeypatch):
    probs = make_problems("arithmetic", 6, seed=3, max_steps=1, ops=("add",), max_operand=9)
    wrong = [Problem(p.id, p.family, p.question, int(p.answer) + 37, steps=p.steps) for p in probs]
    with RecordCache(tmp_path / "c.sqlite") as cache:
        right = likelihood.answer_logliks({"a": probs}, {"base": (policy, "id")}, cache, "cpu")
        off = likelihood.answer_logliks({"a": wrong}, {"base": (policy, "id")}, cache, "cpu")
    assert (right["logp"].to_numpy() > off["logp"].to_numpy()).mean() >= 5 / 6
    from delta_utils.serving import engine

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
    from delta_utils.profile.rundir import write_table

    assert likelihood.stage_shifts(tmp_path) is None  # answer_loglik off: nothing written, nothing shown
    ll = pd.DataFrame({"model": ["base", "run"] * 3, "eval_set": "s", "item_id": ["a", "a", "b", "b", "c", "c"],
                       "logp": [-5.0, -4.0, -6.0, -5.0, -7.0, -6.0], "n_tokens": 6})
    (tmp_path / "05_evaluate").mkdir()
    write_table(ll, tmp_path / "05_evaluate" / "answer_loglik.jsonl")
    assert likelihood.stage_shifts(tmp_path).set_index("model").loc["run", "diff"] == pytest.approx(1.0)


def _pairs(n=3):
    probs = make_problems("arithmetic", n, seed=11, max_steps=2)
    rej = [{"role": "assistant", "content": "I think it is 7. The answer is 7."}]
    rows = []
    for p in probs:
        for m, text in [("big", f"We compute step by step. The answer is {p.answer}."),
                        ("mid", f"The answer is {p.answer}.")]:
            rows.append({"prompt": chat_prompt(p), "chosen": [{"role": "assistant", "content": text}],
                         "rejected": rej, "prompt_id": p.id, "chosen_model": m})
    return pd.DataFrame(rows)


def test_pair_log_probs_are_the_completion_tokens_log_probs_batched_or_not_and_cached(policy, tmp_path, monkeypatch):
    import torch

    from delta_utils.serving import engine
    from delta_utils.serving.engine import _load_hf_uncached

    pairs = _pairs()
    with RecordCache(tmp_path / "c.sqlite") as cache:
        lp = likelihood.pair_logps(pairs, {"base": (policy, "smollm@t")}, cache, "cpu", batch_size=8)
        # the shared rejected trace is scored once per prompt: 3 prompts x (2 chosen + 1 rejected)
        assert len(cache) == 9
    with RecordCache(tmp_path / "d.sqlite") as cache:
        one = likelihood.pair_logps(pairs, {"base": (policy, "smollm@t")}, cache, "cpu", batch_size=1)
    np.testing.assert_allclose(lp[["chosen_logp", "rejected_logp"]], one[["chosen_logp", "rejected_logp"]], atol=2e-3)
    assert (lp["chosen_logp"] < 0).all() and lp["rejected_logp"].nunique() == 3
    # the same number from transformers' own loss over the reply's tokens of the chat-templated conversation
    tok, model = _load_hf_uncached(policy, "cpu")
    r = pairs.iloc[0]
    prompt = tok.apply_chat_template(r["prompt"], tokenize=False, add_generation_prompt=True)
    full = tok.apply_chat_template(r["prompt"] + r["chosen"], tokenize=False)
    a = tok(prompt, add_special_tokens=False, return_tensors="pt").input_ids
    b = tok(full[len(prompt):], add_special_tokens=False, return_tensors="pt").input_ids
    ids = torch.cat([a, b], 1)
    labels = ids.clone()
    labels[:, :a.shape[1]] = -100
    with torch.inference_mode():
        loss = model(ids, labels=labels).loss.item()
    assert lp["chosen_logp"].iloc[0] == pytest.approx(-loss * b.shape[1], abs=2e-3)
    # max_length cuts the completion as the trainer does: fewer tokens, a higher (less negative) sum
    with RecordCache(tmp_path / "e.sqlite") as cache:
        cut = likelihood.pair_logps(pairs, {"base": (policy, "smollm@t")}, cache, "cpu", max_length=a.shape[1] + 3)
    assert (cut["chosen_logp"] > lp["chosen_logp"]).all()
    monkeypatch.setattr(engine, "_load_hf", lambda *a: (_ for _ in ()).throw(AssertionError("model loaded")))
    with RecordCache(tmp_path / "c.sqlite") as cache:
        again = likelihood.pair_logps(pairs, {"base": (policy, "smollm@t")}, cache, "cpu")
    assert again.equals(lp)


def test_heldout_preference_is_the_implicit_reward_margin_with_prompt_clustered_cis():
    rng = np.random.default_rng(1)
    n = 20
    base = pd.DataFrame({"model": "base", "prompt_id": np.repeat([f"p{i}" for i in range(n // 2)], 2),
                         "chosen_model": ["a", "b"] * (n // 2), "chosen_logp": rng.normal(-60, 5, n),
                         "rejected_logp": np.repeat(rng.normal(-50, 5, n // 2), 2)})
    learned = base.assign(model="learned", chosen_logp=base.chosen_logp + 3, rejected_logp=base.rejected_logp - 2)
    same = base.assign(model="same")
    mixed = base.assign(model="mixed", chosen_logp=base.chosen_logp + np.where(np.arange(n) % 4 == 0, -1.0, 1.0))
    t = likelihood.heldout_preference(pd.concat([base, learned, same, mixed]), beta=0.2).set_index("model")
    assert "base" not in t.index
    assert t.loc["learned", "margin"] == pytest.approx(0.2 * (3 + 2)) and t.loc["learned", "accuracy"] == 1.0
    assert t.loc["learned", "acc_low"] > 0.5 and t.loc["learned", "prompts"] == n // 2
    # a run that did not move ranks no pair the right way round: accuracy 0, margin 0 (not a spurious 0.5)
    assert t.loc["same", "accuracy"] == 0.0 and t.loc["same", "margin"] == 0.0
    assert t.loc["mixed", "accuracy"] == pytest.approx(0.75)
    assert t.loc["mixed", "acc_low"] < 0.75 < t.loc["mixed", "acc_high"]
    # the unit is the prompt: 10 prompts give a wider interval than 20 independent pairs with the same share
    from delta_utils.core.stats import proportion_ci

    assert t.loc["learned", "acc_low"] < proportion_ci(np.ones(n))[0]
    assert likelihood.heldout_preference(base, 0.2).empty


def test_batches_shrink_so_that_long_rows_and_large_vocabularies_fit_the_logit_budget():
    budget = likelihood.LOGIT_BUDGET
    assert likelihood._batches([100] * 20, 8, 50_000) == [slice(0, 8), slice(8, 16), slice(16, 20)]
    long = likelihood._batches([4096] * 3 + [300] * 4, 8, 151_000)  # an 8B policy's vocabulary on long traces
    assert long[:3] == [slice(0, 1), slice(1, 2), slice(2, 3)]  # one 4k-token row at a time (2.5 GB of logits)
    for s in long[3:]:
        assert (s.stop - s.start) * 300 * 151_000 <= budget
    assert sum(s.stop - s.start for s in long) == 7


def test_checkpoints_load_in_the_precision_asked_and_an_adapter_is_merged_in_fp32_whatever_the_path(policy, tmp_path):
    """05_evaluate scores the learning signal in fp32, then decodes in bf16 (evaluate.precision) by converting the
    loaded model in place; a warm rerun loads straight into bf16. Both paths must give the same weights."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from delta_utils.serving import engine

    def q(model):
        return model.model.layers[0].self_attn.q_proj.weight.detach().clone()

    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_pretrained(policy, dtype=torch.float32)
    w_base = q(base)
    lora = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"],
                                           init_lora_weights=False))  # a random, non-zero update
    adapter = tmp_path / "adapter"
    lora.save_pretrained(adapter)
    del base, lora
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):  # as training saves them
        (adapter / name).write_bytes((policy / name).read_bytes())

    engine._LOADED.clear()
    _, fp32 = engine._load_hf(adapter, "cpu")  # the default on CPU: fp32
    w32 = q(fp32)
    assert w32.dtype == torch.float32 and not torch.equal(w32, w_base)  # the adapter is in
    _, converted = engine._load_hf(adapter, "cpu", "bf16")
    assert converted is fp32 and q(converted).dtype == torch.bfloat16  # converted in place, not reloaded
    w_converted = q(converted)
    engine._LOADED.clear()
    _, fresh = engine._load_hf(adapter, "cpu", "bf16")
    assert torch.equal(q(fresh), w_converted)  # merged in fp32 and rounded once on either path
    _, back = engine._load_hf(adapter, "cpu", "fp32")
    assert back is not fresh and torch.equal(q(back), w32)  # fp32 after bf16: reloaded, not widened
    engine._LOADED.clear()


def test_a_cpu_decodes_in_fp32_unless_told():
    """bf16 greedy text hangs on rounding (evaluate.decode_precision), so `auto` means fp32 on a CPU, bf16 on CUDA."""
    import torch

    from delta_utils.profile.config import load_profile
    from delta_utils.stages import evaluate

    tiny = load_profile("tiny")
    assert evaluate.decode_precision(tiny) == ("bf16" if torch.cuda.is_available() else "fp32")
    told = tiny.model_copy(update={"evaluate": tiny.evaluate.model_copy(update={"precision": "bf16"})})
    assert evaluate.decode_precision(told) == "bf16"
    served = tiny.model_copy(update={"evaluate": tiny.evaluate.model_copy(update={"backend": "vllm"})})
    assert evaluate.decode_precision(served) is None  # vLLM keeps its own dtype
