"""`make check` before any GPU hour: every request fits its server and its model (or the check names the field),
and the GPU profiles print a time estimate from stated throughputs (gpu1: at most 4 hours on one GPU)."""
import os
import subprocess
import sys

import pytest
import yaml

from delta_utils.data.tasks import Problem
from delta_utils.profile.config import CONFIG_DIR, REPO_ROOT, load_profile
from delta_utils.runner import budgets, estimate
from delta_utils.runner.plan import plan


def _variant(tmp_path, base: str, edit) -> "object":
    data = yaml.safe_load((CONFIG_DIR / f"{base}.yaml").read_text())
    data["name"] = f"{base}_variant"
    edit(data)
    p = tmp_path / f"{base}_variant.yaml"
    p.write_text(yaml.safe_dump(data))
    return p


@pytest.mark.parametrize("name", ["tiny", "tiny_seed1", "smoke", "gpu1", "paper"])
def test_shipped_profiles_fit_their_servers(name):
    text = plan(load_profile(name))
    assert "context: every request fits its server and model" in text


def _eval_set(data, name):
    return next(s for s in data["evaluate"]["sets"] if s["name"] == name)


@pytest.mark.parametrize("edit, fields", [
    # the finding: generators served with generation's 12k context, then asked for evaluation's long budgets
    (lambda d: d["evaluate"]["server"].pop("max_model_len"),
     ["generation.server.max_model_len", "evaluate.sets[amc23].max_tokens", "generator s1.1-32b on amc23"]),
    # the evaluation server too short for the policy's budget
    (lambda d: d["evaluate"]["server"].update(max_model_len=16384),
     ["evaluate.server.max_model_len", "policy qwen3-8b on amc23", "evaluate.sampling.max_tokens"]),
    # a budget past a model's own window, whatever the server says
    (lambda d: (_eval_set(d, "aime24").update(max_tokens=40000), d["evaluate"]["server"].update(max_model_len=65536)),
     ["models[qwen3-8b].max_context", "evaluate.sets[aime24].max_tokens"]),
    # generation's budget over the generators' server context
    (lambda d: d["generation"]["sampling"].update(max_tokens=12000),
     ["01_generate", "generation.sampling.max_tokens", "generation.server.max_model_len"]),
    # training rows longer than the policy reads
    (lambda d: d["train"]["hparams"].update(max_length=65536), ["04_train", "train.hparams.max_length"]),
])
def test_a_request_that_does_not_fit_is_refused_naming_the_fields(tmp_path, edit, fields):
    with pytest.raises(budgets.BudgetError) as e:
        plan(load_profile(_variant(tmp_path, "paper", edit)))
    for f in fields:
        assert f in str(e.value)


def test_judge_context_counts_the_rubric_the_question_and_a_whole_trace(tmp_path):
    # tiny's judge slot holds 1,024 tokens; a 960-token generation budget leaves no room for the rubric
    p = _variant(tmp_path, "tiny", lambda d: d["generation"]["sampling"].update(max_tokens=960))
    with pytest.raises(budgets.BudgetError, match=r"02_judge .*judge.server.ctx_per_slot"):
        plan(load_profile(p))


def test_make_check_exits_2_and_names_the_field(tmp_path):
    p = _variant(tmp_path, "gpu1", lambda d: d["evaluate"]["server"].update(max_model_len=3000))
    r = subprocess.run([sys.executable, "-m", "delta_utils.runner.pipeline", "check", "--profile", str(p)],
                       cwd=REPO_ROOT, capture_output=True, text=True, env=dict(os.environ))
    assert r.returncode == 2 and "evaluate.server.max_model_len" in r.stderr, r.stderr[-2000:]


def test_prompts_are_measured_when_the_items_are_loaded():
    short = [Problem("a", "x", "What is 2 + 3?", 5)]
    long = short + [Problem("b", "x", "word " * 3000, 1)]
    assert budgets.prompt_tokens(None, "smollm2-135m") == budgets.UNKNOWN_PROMPT_TOKENS
    assert budgets.prompt_tokens(short, "smollm2-135m") < 200
    assert budgets.prompt_tokens(long, "smollm2-135m") >= 15000 / budgets.CHARS_PER_TOKEN


def test_gpu1_is_estimated_at_four_hours_or_less_and_the_estimate_follows_the_profile(tmp_path):
    text = plan(load_profile("gpu1"))
    assert "time (estimated for one NVIDIA H100" in text
    rows = estimate.estimate(load_profile("gpu1"), 1000, _sizes("gpu1"))
    assert all(r["seconds"] for r in rows) and estimate.total_hours(rows) <= 4.0
    # twice the generation budget and twice the prompts: every stage that depends on them takes longer
    p = _variant(tmp_path, "gpu1", lambda d: d["generation"]["sampling"].update(max_tokens=4096))
    longer = estimate.estimate(load_profile(p), 2000, _sizes("gpu1"))
    for a, b in zip(rows, longer):
        if a["stage"] in ("01_generate", "02_judge", "04_train"):
            assert b["seconds"] > a["seconds"], a["stage"]
    # paper scale is far beyond one GPU, and says so
    assert estimate.total_hours(estimate.estimate(load_profile("paper"), 16500, _sizes("paper"))) > 24
    # CPU profiles are measured (make report), not estimated
    assert all(r["seconds"] is None for r in estimate.estimate(load_profile("tiny"), 40, _sizes("tiny")))


def _sizes(name):
    from delta_utils.runner.plan import _count

    return {s.name: _count(s, False)[0] for s in load_profile(name).evaluate.sets}


def test_decode_rate_interpolates_between_the_stated_points():
    assert estimate.decode_rate(500) == 20_000 and estimate.decode_rate(8000) == pytest.approx(5_000)
    assert 5_000 < estimate.decode_rate(4000) < 12_000
    assert estimate.decode_rate(8000, gpus=2) == pytest.approx(2 * 5_000 * estimate.TP_EFFICIENCY)
