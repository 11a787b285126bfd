"""Judge replies are validated; anything unusable raises with the reason."""
import json

import pytest

from delta_utils.data.rubric import DIMENSION_NAMES, RUBRIC_HASH, parse_scores

GOOD = {d: 3 for d in DIMENSION_NAMES}


def test_parse_good():
    assert parse_scores(json.dumps(GOOD)) == GOOD
    assert parse_scores("```json\n" + json.dumps(GOOD, indent=1) + "\n```") == GOOD


@pytest.mark.parametrize("reply, reason", [
    ("", "empty"),
    ('{"factuality": 3, "strategy_coherence": 4', "no JSON object"),
    (json.dumps({k: v for k, v in GOOD.items() if k != "step_coherence"}), "missing dimension"),
    (json.dumps(GOOD | {"factuality": 7}), "out of range"),
    (json.dumps(GOOD | {"factuality": "high"}), "not an integer"),
    (json.dumps(GOOD | {"factuality": 2.5}), "not an integer"),
    ("[1, 2, 3]", "no JSON object"),
])
def test_parse_bad(reply, reason):
    with pytest.raises(ValueError, match=reason):
        parse_scores(reply)


def test_rubric_hash_is_stable():
    """The same rubric hashes alike in another process (no per-process salt), and any edit of its text moves it."""
    import subprocess
    import sys

    from delta_utils.core.store import content_hash
    from delta_utils.data import rubric

    code = "from delta_utils.data.rubric import RUBRIC_HASH; print(RUBRIC_HASH)"
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert other == RUBRIC_HASH and len(RUBRIC_HASH) == 16
    assert RUBRIC_HASH == content_hash(rubric.RUBRIC_VERSION, rubric.SYSTEM_PROMPT, rubric.USER_TEMPLATE,
                                       rubric.JSON_SCHEMA)
    edited = content_hash(rubric.RUBRIC_VERSION, rubric.SYSTEM_PROMPT + " ", rubric.USER_TEMPLATE, rubric.JSON_SCHEMA)
    assert edited != RUBRIC_HASH


def test_expected_scores_read_the_score_token_probabilities():
    import math

    from delta_utils.data.rubric import expected_scores

    def tok(t, alts=()):
        return [t, [[a, math.log(p)] for a, p in alts]]

    reply = [tok("{\n"), tok(' "'), tok("factuality"), tok('":'), tok(" "),
             tok("5", [("5", 0.5), ("3", 0.25), ("1", 0.15), (" ", 0.1)]),  # non-score tokens renormalised away
             tok(",\n"), tok(' "'), tok("step_coherence"), tok('":'), tok(" "),
             tok("2", [("2", 1.0)]), tok(",\n"), tok(' "note": 4')]
    got = expected_scores(reply)
    assert got["factuality"] == pytest.approx((5 * 0.5 + 3 * 0.25 + 1 * 0.15) / 0.9)
    assert got["step_coherence"] == pytest.approx(2.0)
    assert set(got) == {"factuality", "step_coherence"}  # unknown keys and missing dimensions are left out
    assert expected_scores(None) == {}
