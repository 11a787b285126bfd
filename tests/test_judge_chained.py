"""Chained scoring on a real judge: the smoke judge (Qwen2.5-Coder-0.5B behind llama.cpp) continues the reply's
JSON written up to each score, one token per dimension, and the expected scores come from those tokens."""
import json

import pandas as pd
import pytest
import yaml

from delta_utils.data.rubric import DIMENSION_NAMES
from delta_utils.profile.config import CONFIG_DIR, load_profile
from delta_utils.stages import judge


@pytest.mark.slow
def test_chained_scores_from_a_real_llamacpp_judge(runs_dir, tmp_path, monkeypatch):
    data = yaml.safe_load((CONFIG_DIR / "smoke.yaml").read_text())
    data["name"] = "chained"
    data["judge"].update(scoring="chained", samples=1, temperature=0.0)
    (tmp_path / "chained.yaml").write_text(yaml.safe_dump(data))
    prof = load_profile(tmp_path / "chained.yaml")
    problems = pd.DataFrame({"id": ["p0", "p1", "p2"],
                             "question": ["Sam has 4 pens and buys 3 more. How many pens does Sam have?",
                                          "A box holds 6 eggs. How many eggs are in 5 boxes?",
                                          "Lea has 12 cards and loses 5. How many cards are left?"]})
    traces = pd.DataFrame({"trace_id": ["good", "wrong", "noise"], "item_id": ["p0", "p1", "p2"],
                           "text": ["Sam starts with 4 pens. 4 + 3 = 7. The answer is 7.",
                                    "5 boxes of 6 eggs: 5 + 6 = 11. The answer is 11.",
                                    "cards cards cards cards. The answer is 3."]})
    j = judge.judge_traces(prof, traces, problems, log_dir=tmp_path / "logs")
    assert (j["status"] == "ok").all() and len(j) == 3
    for r in j.itertuples():
        picked = json.loads(r.raw)  # the reply as written for the judge, with its picked scores
        assert list(picked) == DIMENSION_NAMES
        for d in DIMENSION_NAMES:
            assert 1 <= getattr(r, d) <= 5 and picked[d] == getattr(r, f"{d}_sampled")
    # continuous scores: the three traces do not tie on the aggregate
    assert j[DIMENSION_NAMES].mean(axis=1).nunique() == 3
    assert (j["completion_tokens"] == len(DIMENSION_NAMES)).all() and (j["prompt_tokens"] > 100).all()

    def no_server(*a, **k):
        raise AssertionError("a cached chained judgment started a judge server")

    monkeypatch.setattr(judge, "endpoint", no_server)
    again = judge.judge_traces(prof, traces, problems, log_dir=tmp_path / "logs")
    assert again[DIMENSION_NAMES].equals(j[DIMENSION_NAMES])
