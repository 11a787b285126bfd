"""In-process greedy decoding (05_evaluate's engine for trained policies) on the real SmolLM2-135M: rows that end
leave the batch, and the answers stay exactly those of transformers' `generate`."""
import numpy as np
import pytest


def test_greedy_decode_drops_finished_rows_and_answers_as_generate_does(policy):
    import torch

    from delta_utils.serving.engine import _load_hf_uncached, greedy_decode

    tok, model = _load_hf_uncached(policy, "cpu")
    asks = ["Say hello.", "What is 2 + 3? Answer with one number.",
            "Write a long story about a dragon who learns arithmetic, with many chapters.",
            "List the first twenty prime numbers, one per line, with a sentence about each."]
    texts = [tok.apply_chat_template([{"role": "user", "content": a}], tokenize=False, add_generation_prompt=True)
             for a in asks]
    enc = tok(texts, return_tensors="pt", padding=True, add_special_tokens=False)  # left-padded (the loader)
    assert (enc["attention_mask"] == 0).any()  # prompts of different lengths: the padding is exercised
    with torch.inference_mode():
        ref = model.generate(**enc, max_new_tokens=48, do_sample=False, temperature=None, top_p=None, top_k=None,
                             pad_token_id=tok.pad_token_id)[:, enc["input_ids"].shape[1]:]
        got = greedy_decode(model, enc, 48, tok.pad_token_id)
    ended = (ref == tok.eos_token_id).any(1)
    assert ended.any() and not ended.all()  # some rows left the batch early, others ran to the limit
    assert got.shape == ref.shape and torch.equal(got, ref)


def test_decoding_scores_continuations_on_its_own_prompt_pass(policy):
    """05_evaluate's answer log-likelihood taken from decoding's prompt pass: the answers are unchanged (the cache is
    cut back exactly), and each score is the one `completion_logps` gets from a separate, right-padded pass."""
    import torch

    from delta_utils.serving.engine import _load_hf_uncached, greedy_decode
    from delta_utils.stages.likelihood import completion_logps

    tok, model = _load_hf_uncached(policy, "cpu")
    asks = ["What is 2 + 3? Answer with one number.", "Say hello.",
            "Write a long story about a dragon who learns arithmetic, with many chapters.", "Name a colour."]
    conts = ["The answer is 5.", None, "Once upon a time there was a dragon called Sum.", "Blue"]
    texts = [tok.apply_chat_template([{"role": "user", "content": a}], tokenize=False, add_generation_prompt=True)
             for a in asks]
    enc = tok(texts, return_tensors="pt", padding=True, add_special_tokens=False)
    ids = [tok(c, add_special_tokens=False).input_ids if c else None for c in conts]
    assert len(ids[3]) == 1 and (enc["attention_mask"] == 0).any()  # a one-token continuation; padded prompts
    with torch.inference_mode():
        plain = greedy_decode(model, enc, 40, tok.pad_token_id)
        got, logps = greedy_decode(model, enc, 40, tok.pad_token_id, continuations=ids)
    assert torch.equal(got, plain)
    assert logps[1] is None
    rows = [(tok(t, add_special_tokens=False).input_ids, c) for t, c in zip(texts, ids) if c]
    ref = completion_logps(model, tok, rows, "cpu")
    assert [v for v in logps if v is not None] == pytest.approx(ref, abs=1e-3)
    assert all(v < 0 for v in ref)


def test_evaluate_stores_the_answer_loglik_while_decoding(policy, tmp_path):
    """hf_complete(score=...) fills the answer log-likelihood cache for the requests it decodes; `answer_logliks`
    then reads those records, and they match what it computes on its own."""
    from delta_utils.core.store import RecordCache
    from delta_utils.data.tasks import make_problems
    from delta_utils.serving.engine import hf_complete, requests_for
    from delta_utils.stages import likelihood

    probs = make_problems("arithmetic", 4, seed=5, max_steps=2)
    reqs = requests_for("smollm2-135m", probs)
    answers = [likelihood.reference_answer(p) for p in probs]
    samp = {"temperature": 0.0, "top_p": 1.0, "max_tokens": 24, "n": 1, "seed": 0, "stop": []}
    seen = []
    with RecordCache(tmp_path / "a.sqlite") as cache:
        def sink(i, logp, n_tok):
            seen.append(i)
            likelihood.store_answer(cache, "id", probs[i], answers[i], logp, n_tok)

        hf_complete(policy, reqs[:3], samp, cache, "id", score=(answers[:3], sink))
        assert sorted(seen) == [0, 1, 2]
        hf_complete(policy, reqs, samp, cache, "id", score=(answers, sink))  # only the 4th is decoded now
        assert sorted(seen) == [0, 1, 2, 3]
        keys = [likelihood.answer_key("id", p, a) for p, a in zip(probs, answers)]
        assert len(cache.get_many(keys)) == 4
        shared = likelihood.answer_logliks({"a": probs}, {"base": (policy, "id")}, cache, "cpu")
    with RecordCache(tmp_path / "b.sqlite") as cache:
        alone = likelihood.answer_logliks({"a": probs}, {"base": (policy, "id")}, cache, "cpu")
    np.testing.assert_allclose(shared["logp"], alone["logp"], atol=1e-3)
    assert shared["n_tokens"].tolist() == alone["n_tokens"].tolist()
    with pytest.raises(ValueError, match="greedy"):
        with RecordCache(tmp_path / "c.sqlite") as cache:
            hf_complete(policy, reqs, {**samp, "temperature": 0.7}, cache, "id", score=(answers, sink))
