"""One format for a reasoning trace, whichever generator family wrote it.

The rule: a trace is its reasoning plus its answer (`Trace`). It is stored, judged and paired in one text form,
``canonical(reasoning, answer)``::

    <think>
    {reasoning}
    </think>

    {answer}

and, when there is no reasoning, the answer alone, exactly as written (so a trace without any reasoning markers,
e.g. the tiny profile's small models, comes through unchanged: ``canonical(*split_trace(t)) == t``). Every family's
markers are read by `split_trace` and normalised to that form:

- an endpoint's separate reasoning field (DeepSeek's API and vLLM with a reasoning parser send
  ``message.reasoning_content``, newer vLLM ``message.reasoning``; the engine stores it as the record's
  ``reasoning``): that is the reasoning, the text (``message.content``) the answer;
- think tags, ``<think>…</think>answer``, and the closing tag alone, ``…</think>answer``: DeepSeek-R1-Distill's chat
  template ends its generation prompt with ``<think>\\n``, so its completions hold only the closing tag. An opening
  tag never closed (cut off by the length limit) makes all that follows it reasoning, with no answer;
- s1/s1.1's markers: they were fine-tuned on ``<|im_start|>think\\n{reasoning}\\n<|im_start|>answer\\n{answer}``
  (simplescaling/s1, data/tokenization.py). ``<|im_start|>`` is a special token, so a server that skips special
  tokens in its output (vLLM's default) returns ``think\\n{reasoning}\\nanswer\\n{answer}``; both spellings are read.
  A bare ``think`` counts only as the text's first line, a bare ``answer`` only as a line of its own.

The policy sees a trace as one assistant message whose content is the canonical text (`assistant_message`).
Qwen3's chat template splits an assistant message's content at ``</think>`` and renders the part before it in its
``<think>…</think>`` block (it reads ``reasoning_content`` instead when the message has one), so an R1-distill
trace and an s1.1 trace with the same reasoning and answer render to the same tokens. The reasoning stays in
``content`` rather than going into a ``reasoning_content`` key because a template without reasoning support (the
tiny profile's SmolLM2, Qwen2.5) would silently drop that key, and the policy would then never see the reasoning;
in ``content`` every template renders it, and a marker-free trace gives the same message as before.
"""
from __future__ import annotations

import re
from typing import NamedTuple

OPEN, CLOSE = "<think>", "</think>"
_S1_THINK = re.compile(r"\A\s*(?:<\|im_start\|>)?think[ \t]*(?:\n|\Z)")  # the first line: think
_S1_ANSWER = re.compile(r"<\|im_start\|>answer[ \t]*(?:\n|\Z)|(?:(?<=\n)|\A)answer[ \t]*(?:\n|\Z)")


class Trace(NamedTuple):
    """A trace in the one stated format: its reasoning ('' when none) and its answer."""
    reasoning: str
    answer: str

    @property
    def text(self) -> str:
        return canonical(self.reasoning, self.answer)


def split_trace(text: str | None, reasoning: str | None = None) -> Trace:
    """(reasoning, answer) of a trace: from the endpoint's separate `reasoning` field when it sent one, else from
    the text's markers (think tags, R1-distill's closing tag alone, s1's think/answer markers); with no markers
    the whole text is the answer, untouched, and the reasoning is empty."""
    text = text or ""
    if reasoning and reasoning.strip():
        return Trace(reasoning.strip(), text.strip())
    if CLOSE in text:
        before, _, after = text.partition(CLOSE)
        return Trace(before.replace(OPEN, "", 1).strip(), after.strip())
    if text.lstrip().startswith(OPEN):  # opened, never closed: cut off while reasoning
        return Trace(text.lstrip()[len(OPEN):].strip(), "")
    m = _S1_THINK.match(text)
    if m:
        body = text[m.end():]
        marks = list(_S1_ANSWER.finditer(body))
        if not marks:  # cut off while reasoning
            return Trace(body.strip(), "")
        last = marks[-1]
        return Trace(body[:last.start()].strip(), body[last.end():].strip())
    return Trace("", text)


def canonical(reasoning: str, answer: str) -> str:
    """The stored form of a trace: ``<think>\\n{reasoning}\\n</think>\\n\\n{answer}``, or the answer alone
    (as given) when there is no reasoning."""
    reasoning = (reasoning or "").strip()
    if not reasoning:
        return answer or ""
    answer = (answer or "").strip()
    return f"{OPEN}\n{reasoning}\n{CLOSE}" + (f"\n\n{answer}" if answer else "")


def normalize(text: str | None, reasoning: str | None = None) -> str:
    """`canonical(*split_trace(text, reasoning))`: any family's output in the stored form (idempotent)."""
    return canonical(*split_trace(text, reasoning))


def assistant_message(text: str) -> dict:
    """The chat message a trace becomes for the policy's template: the canonical text as the content (see the
    module docstring for why the reasoning is not passed as ``reasoning_content``). Traces stored before
    canonicalisation are normalised here too."""
    return {"role": "assistant", "content": normalize(text)}
