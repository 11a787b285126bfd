"""One trace format for every generator family (delta_utils.data.traceformat), checked through Qwen3's chat template.

The template is the policy's (Qwen/Qwen3-8B), from tests/data/qwen3_template (source in its README)."""
import json
from pathlib import Path

import pandas as pd
import pytest
from transformers.utils.chat_template_utils import render_jinja_template

from delta_utils.data.rubric import DIMENSION_NAMES
from delta_utils.data.tasks.checking import final_answer_text
from delta_utils.data.traceformat import Trace, assistant_message, canonical, normalize, split_trace
from delta_utils.stages.pairing import build_pairs

QWEN3 = Path(__file__).parent / "data" / "qwen3_template" / "tokenizer_config.json"
PROMPT = [{"role": "user", "content": "What is 2 + 3? Put the final answer in \\boxed{}."}]

REASONING = "Let me add 2 and 3.\nThat gives 5. Is the answer 4? No, 2 + 3 = 5."
ANSWER = "The sum is \\boxed{5}."
CANONICAL = f"<think>\n{REASONING}\n</think>\n\n{ANSWER}"

# What each family's endpoint returns as message.content for the same reasoning and answer:
R1_DISTILL = f"{REASONING}\n</think>\n\n{ANSWER}"  # its template pre-fills "<think>\n": only the closing tag
R1_TAGGED = f"<think>\n{REASONING}\n</think>\n\n{ANSWER}"  # a template that does not pre-fill it
S1_SKIPPED = f"think\n{REASONING}\nanswer\n{ANSWER}"  # s1.1, special tokens skipped (vLLM's default)
S1_SPECIAL = f"<|im_start|>think\n{REASONING}\n<|im_start|>answer\n{ANSWER}"  # s1.1, special tokens kept
TINY = "2 + 3 = 5\nI think the answer is 5.\nanswer: 5"  # a marker-free trace (the tiny profile's small models)


@pytest.fixture(scope="module")
def qwen3_template() -> str:
    return json.loads(QWEN3.read_text())["chat_template"]


def render(template: str, messages: list[dict], **kw) -> str:
    rendered, _ = render_jinja_template([messages], chat_template=template, **kw)
    return rendered[0]


@pytest.mark.parametrize("raw", [R1_DISTILL, R1_TAGGED, S1_SKIPPED, S1_SPECIAL],
                         ids=["r1-distill", "think-tags", "s1.1", "s1.1-special-tokens"])
def test_every_family_splits_to_the_same_trace(raw):
    assert split_trace(raw) == Trace(REASONING, ANSWER)
    assert normalize(raw) == CANONICAL == Trace(REASONING, ANSWER).text
    assert normalize(CANONICAL) == CANONICAL  # idempotent


def test_the_endpoint_reasoning_field_wins():
    assert split_trace(ANSWER, reasoning=REASONING) == Trace(REASONING, ANSWER)
    assert normalize(ANSWER, REASONING) == CANONICAL
    assert split_trace(f"\n\n{ANSWER}\n", reasoning=f"\n{REASONING}\n") == Trace(REASONING, ANSWER)
    # no reasoning sent (None, or DeepSeek's empty string): the text's own markers decide
    assert normalize(R1_DISTILL, None) == normalize(R1_DISTILL, "") == CANONICAL
    # all reasoning, no answer (vLLM's parser on a completion cut off before </think>)
    assert normalize(None, REASONING) == f"<think>\n{REASONING}\n</think>"


@pytest.mark.parametrize("text", [TINY, "5", "", "  padded\n\n", "The answer is \\boxed{5}.",
                                  "thinking about it\nanswer\n5", "answer\n5", "We think\nanswer\n5"])
def test_marker_free_text_comes_through_unchanged(text):
    assert split_trace(text) == Trace("", text)
    assert canonical(*split_trace(text)) == text
    assert assistant_message(text) == {"role": "assistant", "content": text}


def test_cut_off_while_reasoning_has_reasoning_and_no_answer():
    for raw in ("<think>\nLet me add", "think\nLet me add", "<|im_start|>think\nLet me add"):
        assert split_trace(raw) == Trace("Let me add", "")
        assert normalize(raw) == "<think>\nLet me add\n</think>"
        assert final_answer_text(normalize(raw), truncated=True) is None
    # an empty think block is no reasoning: the answer alone (Qwen3's own non-thinking output)
    assert normalize(f"<think>\n\n</think>\n\n{ANSWER}") == ANSWER
    assert normalize(f"think\n\nanswer\n{ANSWER}") == ANSWER


def test_the_checker_reads_the_answer_not_the_reasoning():
    raw = "Is it 4? The answer is 4? Hmm, no.\n</think>\n\nSo the total is 5"
    assert final_answer_text(normalize(raw)) == "5"


def test_both_families_render_identically_through_qwen3s_template(qwen3_template):
    rendered = {name: render(qwen3_template, PROMPT + [assistant_message(raw)])
                for name, raw in [("r1", R1_DISTILL), ("r1_tagged", R1_TAGGED), ("s1", S1_SKIPPED),
                                  ("s1_special", S1_SPECIAL), ("field", normalize(ANSWER, REASONING))]}
    assert len(set(rendered.values())) == 1, rendered
    assert rendered["s1"].endswith(f"<|im_start|>assistant\n<think>\n{REASONING}\n</think>\n\n{ANSWER}<|im_end|>\n")


def test_without_normalisation_the_families_differ(qwen3_template):
    """The confound this module removes: raw s1.1 text lands outside Qwen3's think block (empty block), raw
    R1-distill text inside it."""
    r1 = render(qwen3_template, PROMPT + [{"role": "assistant", "content": R1_DISTILL}])
    s1 = render(qwen3_template, PROMPT + [{"role": "assistant", "content": S1_SKIPPED}])
    assert r1 != s1
    assert "<think>\n\n</think>\n\nthink\n" in s1 and f"<think>\n{REASONING}\n</think>" in r1


def test_traces_without_reasoning_render_the_same_for_both_families(qwen3_template):
    family_outputs = ["\n</think>\n\n" + ANSWER, "think\n\nanswer\n" + ANSWER, ANSWER, normalize(ANSWER, None)]
    rendered = {render(qwen3_template, PROMPT + [assistant_message(t)]) for t in family_outputs}
    assert rendered == {render(qwen3_template, PROMPT) + f"<|im_start|>assistant\n<think>\n\n</think>\n\n"
                        f"{ANSWER}<|im_end|>\n"}


def test_pairs_carry_the_canonical_format(qwen3_template):
    """build_pairs on traces stored in each family's raw format (as before this module): chosen (R1-distill) and
    rejected (s1.1) messages both reach the template with their reasoning in the think block."""
    problems = pd.DataFrame({"id": ["p1"], "family": "arithmetic", "question": ["What is 2 + 3?"], "answer": [5]})
    s1_wrong = "think\nLet me add 2 and 3 badly.\nanswer\nThe sum is \\boxed{6}."
    traces = pd.DataFrame([{"trace_id": "r1-p1", "model": "r1", "item_id": "p1", "sample": 0, "text": R1_DISTILL,
                            "correct": True},
                           {"trace_id": "s1-p1", "model": "s1", "item_id": "p1", "sample": 0, "text": s1_wrong,
                            "correct": False}])
    scores = pd.DataFrame([{"trace_id": t, **{f"{d}_mean": 3.0 for d in DIMENSION_NAMES}, "aggregate_mean": 3.0}
                           for t in ("r1-p1", "s1-p1")])
    pair = build_pairs(traces, scores, problems, "r1", "s1").iloc[0]
    assert pair["chosen"] == [{"role": "assistant", "content": CANONICAL}]
    assert pair["rejected"] == [{"role": "assistant", "content": normalize(s1_wrong)}]
    rejected = render(qwen3_template, list(pair["prompt"]) + list(pair["rejected"]))
    assert rejected.endswith("<think>\nLet me add 2 and 3 badly.\n</think>\n\nThe sum is \\boxed{6}.<|im_end|>\n")


def test_trl_dpo_templating_of_a_pair(qwen3_template):
    """TRL's own conversational preference templating (trl.data_utils.apply_chat_template, what its DPO
    trainer renders prompt+chosen / prompt+rejected with) on a tokenizer carrying the Qwen3 template."""
    trl_data = pytest.importorskip("trl.data_utils")
    from tokenizers import Tokenizer, models
    from transformers import PreTrainedTokenizerFast

    tok = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(models.WordLevel({"[UNK]": 0}, unk_token="[UNK]")),
                                  eos_token="<|im_end|>", pad_token="<|endoftext|>")
    tok.chat_template = qwen3_template
    out = trl_data.apply_chat_template({"prompt": PROMPT, "chosen": [assistant_message(R1_DISTILL)],
                                        "rejected": [assistant_message(S1_SPECIAL)]}, tok)
    assert out["prompt"].endswith("<|im_start|>assistant\n")
    assert out["chosen"] == out["rejected"] == f"<think>\n{REASONING}\n</think>\n\n{ANSWER}<|im_end|>\n"
