"""Analysis logic on hand-built records with known answers: run classification, paired gains over the base
policy, the findings table and the README block it refreshes. (The figures themselves are drawn from real
smoke-profile outputs in test_notebooks.)"""
import pandas as pd
import pytest

from delta_utils import analyze
from delta_utils.config import load_profile


@pytest.fixture
def smoke():
    return load_profile("smoke")  # grid: dpo/kto on gen__qwen2.5-coder-0.5b, dpo top50__step_coherence, dpo random50


def _traces():
    rows = [{"model": "smollm2-135m", "item_id": f"p{i}", "correct": False} for i in range(4)]
    rows += [{"model": "qwen2.5-coder-0.5b", "item_id": f"p{i}", "correct": i < 2} for i in range(4)]
    return pd.DataFrame(rows)


def _records(correct_upto: dict[str, int]) -> pd.DataFrame:
    """Two eval sets of 10 items (one in-, one out-of-domain); model m answers items 0..k-1 right."""
    rows = []
    for model, k in correct_upto.items():
        for eval_set, domain in [("a", "in"), ("b", "out")]:
            for i in range(10):
                rows.append({"model": model, "kind": "policy", "eval_set": eval_set, "domain": domain,
                             "item_id": f"{eval_set}{i}", "sample": 0, "correct": i < k})
    return pd.DataFrame(rows)


RECORDS = {"base": 5, "dpo_gen_qwen0.5b": 6, "kto_gen_qwen0.5b": 4, "dpo_top50_step": 8, "dpo_random50": 6}


def test_classify():
    assert analyze.classify("gen__qwen2.5-coder-1.5b") == {"kind": "generator", "chosen_model": "qwen2.5-coder-1.5b"}
    assert analyze.classify("top25__step_coherence") == {"kind": "topk", "fraction": 0.25,
                                                         "dimension": "step_coherence"}
    assert analyze.classify("random50") == {"kind": "random", "fraction": 0.5}
    assert analyze.classify("full")["kind"] == "full"
    assert analyze.classify("correctness__w2c") == {"kind": "correctness", "combination": "w2c"}


def test_runs_table_marks_the_widest_pool_as_full(smoke):
    runs = analyze.runs_table(smoke, _traces()).set_index("run")
    assert runs.loc["dpo_gen_qwen0.5b", "gap"] == pytest.approx(0.5)
    assert runs.loc["dpo_gen_qwen0.5b", "is_full"] and not runs.loc["dpo_top50_step", "is_full"]
    assert runs.loc["dpo_top50_step", "fraction"] == 0.5 and runs.loc["dpo_random50", "kind"] == "random"


def test_gains_are_paired_differences_per_domain(smoke):
    g = analyze.gains(smoke, _records(RECORDS), _traces()).set_index(["run", "domain"])
    assert g.loc[("dpo_top50_step", "in"), "diff"] == pytest.approx(0.3)
    assert g.loc[("dpo_top50_step", "all"), "n"] == 20
    assert g.loc[("kto_gen_qwen0.5b", "out"), "diff"] == pytest.approx(-0.1)
    # every item moved the same way: the bootstrap interval excludes zero
    assert g.loc[("dpo_top50_step", "all"), "ci_low"] > 0


def test_findings_from_numbers(smoke):
    pairs = pd.DataFrame({"chosen_model": ["qwen2.5-coder-0.5b"] * 2, "prompt_id": ["p0", "p1"],
                          "delta_aggregate": [1.0, 0.5]})
    f = analyze.findings(smoke, _records(RECORDS), _traces(), pairs)
    top_vs_random = f[f["claim"].str.contains("beats a random")].iloc[0]
    assert top_vs_random["comparison"] == "dpo_top50_step - dpo_random50"
    assert top_vs_random["effect"] == pytest.approx(0.2) and top_vs_random["agrees"] == "yes"
    vs_full = f[f["claim"].str.contains("nearly matches")].iloc[0]
    assert vs_full["effect"] == pytest.approx(0.2) and vs_full["agrees"] == "yes"
    # claims the smoke grid cannot test say why instead of inventing a number
    gen = f[f["claim"].str.startswith("Generator-level")]
    assert len(gen) == 2 and gen["agrees"].str.startswith("n/a").all()
    assert f[f["claim"].str.startswith("Correctness")]["agrees"].iloc[0].startswith("n/a")
    g = analyze.gains(smoke, _records(RECORDS), _traces())
    text = analyze.takeaway(smoke, f, g)
    assert "of 2 claims testable" in text and "2 agree" in text and "dpo_top50_step (+30.0% on all items" in text
    md = analyze.findings_markdown(f)
    assert "+20.0%" in md and md.count("\n") == len(f) + 2


def test_update_readme_replaces_only_the_marked_block(smoke, tmp_path, monkeypatch):
    monkeypatch.delenv("DELTA_LAB_FIGURES", raising=False)
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- findings:smoke -->\nold\n<!-- /findings:smoke -->\noutro\n")
    assert analyze.update_readme(smoke, "| new |\n", readme)
    assert readme.read_text() == "intro\n<!-- findings:smoke -->\n| new |\n<!-- /findings:smoke -->\noutro\n"
    monkeypatch.setenv("DELTA_LAB_FIGURES", str(tmp_path))
    assert not analyze.update_readme(smoke, "| other |\n", readme)  # tests and custom folders leave it alone


@pytest.mark.parametrize("acc_15b, expect", [(3, "compared"), (2, "equal")])
def test_generator_claims_follow_the_measured_gaps(acc_15b, expect):
    """The tiny grid: two chosen generators. The wider gap is the measured one; equal gaps compare nothing."""
    tiny = load_profile("tiny")
    traces = pd.concat([_traces(), pd.DataFrame([{"model": "qwen2.5-coder-1.5b", "item_id": f"p{i}",
                                                  "correct": i < acc_15b} for i in range(4)])])
    pairs = pd.DataFrame({"chosen_model": ["qwen2.5-coder-0.5b"] * 2 + ["qwen2.5-coder-1.5b"] * 2,
                          "prompt_id": ["p0", "p1"] * 2, "delta_aggregate": [1.0, 0.5, 1.5, 1.0]})
    recs = _records({"base": 5, "dpo_gen_qwen0.5b": 5, "dpo_gen_qwen1.5b": 7, "kto_gen_qwen0.5b": 6,
                     "kto_gen_qwen1.5b": 6, "dpo_top50_step": 6, "dpo_random50": 5})
    f = analyze.findings(tiny, recs, traces, pairs)
    gen = f[f["claim"].str.startswith("Generator-level")].set_index("method")
    delta = f[f["claim"].str.startswith("Sample-level")].iloc[0]
    if expect == "compared":
        assert gen.loc["dpo", "comparison"] == "dpo_gen_qwen1.5b - dpo_gen_qwen0.5b"
        assert gen.loc["dpo", "effect"] == pytest.approx(0.2) and gen.loc["dpo", "agrees"] == "yes"
        assert gen.loc["kto", "effect"] == pytest.approx(0.0) and gen.loc["kto", "agrees"] == "no"
        assert delta["effect"] == pytest.approx(0.5) and delta["agrees"] == "yes"
    else:
        assert gen["agrees"].str.contains("gaps are equal").all() and gen["n"].eq(0).all()
        assert delta["agrees"].startswith("n/a") and "equal" in delta["agrees"]
