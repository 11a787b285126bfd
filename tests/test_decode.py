"""In-process greedy decoding (05_evaluate's engine for trained policies) on the real SmolLM2-135M: rows that end
leave the batch, and the answers stay exactly those of transformers' `generate`."""


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
