"""The judge's rubric: five 1-5 dimensions of reasoning quality, in one versioned place.

Its hash (`RUBRIC_HASH`) is part of every judgment's cache key, so editing the
text re-judges everything and nothing judged under an old rubric is reused.
"""
from __future__ import annotations

import math
import re

from ..core.store import content_hash

RUBRIC_VERSION = "1"

DIMENSIONS: dict[str, dict[int, str]] = {
    "factuality": {
        1: "misreads the problem: wrong or invented numbers, ignored constraints",
        3: "uses most given numbers correctly but misses or distorts one",
        5: "uses every given number and constraint exactly as stated",
    },
    "strategy_coherence": {
        1: "no workable plan, or a plan that cannot reach the asked quantity",
        3: "a partly sound plan with a wrong or missing part",
        5: "a sound plan that leads straight to the asked quantity",
    },
    "step_coherence": {
        1: "steps do not follow from each other; quantities appear from nowhere",
        3: "most steps follow, with a gap or a jump",
        5: "every step follows from the problem or from earlier steps",
    },
    "numerical_precision": {
        1: "several arithmetic errors",
        3: "one arithmetic error",
        5: "all arithmetic is correct",
    },
    "signal_to_noise": {
        1: "mostly repetition, filler or irrelevant text",
        3: "useful work mixed with noticeable filler",
        5: "nearly every sentence does useful work",
    },
}
DIMENSION_NAMES: list[str] = list(DIMENSIONS)

_ANCHORS = "\n".join(
    f"- {dim}: " + "; ".join(f"{s} = {text}" for s, text in anchors.items())
    for dim, anchors in DIMENSIONS.items()
)

SYSTEM_PROMPT = (
    "You are a strict grader of step-by-step solutions to math word problems. "
    "Score the solution on five dimensions, each an integer from 1 to 5:\n"
    f"{_ANCHORS}\n"
    "Judge the reasoning, not only the final answer. Reply with JSON only."
)

USER_TEMPLATE = "Problem:\n{problem}\n\nSolution to grade:\n{solution}\n\nScores as JSON:"

JSON_SCHEMA: dict = {
    "type": "object",
    "properties": {d: {"type": "integer", "minimum": 1, "maximum": 5} for d in DIMENSION_NAMES},
    "required": DIMENSION_NAMES,
    "additionalProperties": False,
}

RUBRIC_HASH = content_hash(RUBRIC_VERSION, SYSTEM_PROMPT, USER_TEMPLATE, JSON_SCHEMA)


def judge_messages(problem: str, solution: str) -> list[dict]:
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": USER_TEMPLATE.format(problem=problem, solution=solution)},
    ]


def parse_scores(text: str) -> dict[str, int]:
    """Parse and validate a judge reply; raises ValueError with the reason if it is unusable."""
    import json

    if not text or not text.strip():
        raise ValueError("empty reply")
    s = text.strip()
    if s.startswith("```"):
        s = s.strip("`")
        s = s[s.find("{"):]
    start, end = s.find("{"), s.rfind("}")
    if start < 0 or end <= start:
        raise ValueError("no JSON object in reply")
    try:
        obj = json.loads(s[start : end + 1])
    except json.JSONDecodeError as e:
        raise ValueError(f"malformed JSON: {e}") from None
    if not isinstance(obj, dict):
        raise ValueError("reply is not a JSON object")
    out = {}
    for d in DIMENSION_NAMES:
        if d not in obj:
            raise ValueError(f"missing dimension {d!r}")
        v = obj[d]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v != int(v):
            raise ValueError(f"{d} is not an integer: {v!r}")
        if not 1 <= v <= 5:
            raise ValueError(f"{d} out of range 1-5: {v}")
        out[d] = int(v)
    return out


_SCORE_TOKENS = {str(i): i for i in range(1, 6)}


def expected_scores(logprobs: list | None) -> dict[str, float]:
    """Per dimension, the expected score under the judge's probabilities of the tokens "1".."5" at the
    position where the reply writes that dimension's score (renormalised over those five tokens), from a
    reply's compact top log-probabilities (`engine.top_logprobs`). Dimensions whose score token is not found,
    or whose alternatives hold no score token, are left out."""
    out: dict[str, float] = {}
    text = ""
    for token, alternatives in logprobs or []:
        key = re.search(r'"(\w+)"\s*:\s*$', text)
        if key and key[1] in DIMENSIONS and key[1] not in out and token.strip() in _SCORE_TOKENS:
            probs = score_probabilities(alternatives)
            if probs:
                out[key[1]] = sum(s * p for s, p in probs.items())
        text += token
    return out


def score_probabilities(alternatives: list) -> dict[int, float]:
    """The judge's probabilities of the scores 1-5 at one token position, renormalised over those five, from
    its top alternatives there ([[token, logprob], ...]; " 4" and "4" are the same score). Empty when none
    of the alternatives is a score."""
    probs: dict[int, float] = {}
    for alt, lp in alternatives:
        score = _SCORE_TOKENS.get(alt.strip())
        if score is not None:
            probs[score] = probs.get(score, 0.0) + math.exp(lp)
    z = sum(probs.values())
    return {s: p / z for s, p in sorted(probs.items())}


def reply_prefix(scores: list[int]) -> str:
    """The judge's JSON reply written up to the next dimension's score, given the scores before it:
    '{"factuality": 4, "strategy_coherence": ' after [4]. Chained scoring (`judge.py`) asks the judge for the
    one token that follows."""
    head = "".join(f'"{d}": {s}, ' for d, s in zip(DIMENSION_NAMES, scores))
    return "{" + head + f'"{DIMENSION_NAMES[len(scores)]}": '
