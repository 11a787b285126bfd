"""Analysis logic on hand-built records with known answers: run classification, paired gains over the base
policy and the findings table. (The figures themselves are drawn from real
smoke-profile outputs in test_notebooks.)"""
import numpy as np
import pandas as pd
import pytest

from delta_utils.core import stats
from delta_utils.profile.config import REPO_ROOT, load_profile
from delta_utils.study import analyze, figures, findings, tables


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


def test_runs_table_marks_the_widest_pool_as_full(smoke):
    runs = tables.runs_table(smoke, _traces()).set_index("run")
    assert runs.loc["dpo_gen_qwen0.5b", "gap"] == pytest.approx(0.5)
    assert runs.loc["dpo_gen_qwen0.5b", "is_full"] and not runs.loc["dpo_top50_step", "is_full"]
    assert runs.loc["dpo_top50_step", "fraction"] == 0.5 and runs.loc["dpo_random50", "kind"] == "random"


def test_gains_are_paired_differences_per_domain(smoke):
    g = tables.gains(smoke, _records(RECORDS), _traces()).set_index(["run", "domain"])
    assert g.loc[("dpo_top50_step", "in"), "diff"] == pytest.approx(0.3)
    assert g.loc[("dpo_top50_step", "all"), "n"] == 20
    assert g.loc[("kto_gen_qwen0.5b", "out"), "diff"] == pytest.approx(-0.1)
    # every item moved the same way: the score interval excludes zero
    assert g.loc[("dpo_top50_step", "all"), "ci_low"] > 0 and set(g["ci_method"]) == {"Tango score"}
    # no item moved: the interval is not [0, 0] (20 items: about +-16 points)
    same = tables.contrast(tables.item_scores(_records(RECORDS)), "base", "base")
    assert same["ci_low"] < -0.15 and same["ci_high"] > 0.15 and same["p_value"] == 1.0
    # the training method stays the run's; the test that gave the p-value has its own column
    assert set(g["method"]) == {"dpo", "kto"} and set(g["test"]) == {"exact McNemar"}


def test_findings_from_numbers(smoke):
    pairs = pd.DataFrame({"chosen_model": ["qwen2.5-coder-0.5b"] * 2, "prompt_id": ["p0", "p1"],
                          "delta_aggregate": [1.0, 0.5]})
    f = findings.findings(smoke, _records(RECORDS), _traces(), pairs)
    top_vs_random = f[f["claim_id"] == "topk_vs_random"].iloc[0]
    assert top_vs_random["comparison"] == "dpo_top50_step - mean(dpo_random50)"
    # 4 items better, none worse, of 20: with one draw the run-label permutation is the sign flip, two-sided
    # p = 2 * 0.5**4 = 0.125, not evidence
    assert top_vs_random["effect"] == pytest.approx(0.2)
    assert top_vs_random["test"] == "run-label permutation (exact, 2 runs)"
    assert top_vs_random["p_value"] == pytest.approx(0.125) and top_vs_random["verdict"] == "inconclusive"
    assert top_vs_random["mde"] > 0.2 and "1 draw:" in top_vs_random["note"]
    vs_full = f[f["claim_id"] == "topk_vs_full"].iloc[0]
    assert vs_full["kind"] == "noninferiority" and vs_full["effect"] == pytest.approx(0.2)
    assert vs_full["test"].startswith("Tango score, non-inferiority")
    # better by 0.2, but the full-data run itself barely beats base (2 of 20 items, p 0.5): no verdict
    assert vs_full["reference"] == "dpo_gen_qwen0.5b" and vs_full["reference_p"] == pytest.approx(0.5)
    assert vs_full["gated"] and vs_full["verdict"] == "inconclusive"
    # one Holm family: every row with a p-value, one p-value per row
    tested = f.dropna(subset=["p_value"])
    assert (tested["p_holm"] >= tested["p_value"]).all() and len(tested) == 2
    np.testing.assert_allclose(f["p_holm"], stats.holm(f["p_value"].to_numpy(dtype=float)))
    # claims the smoke grid cannot test are n/a, with the reason, never "no"
    gen = f[f["claim_id"] == "generator_gap"]
    assert len(gen) == 2 and (gen["verdict"] == "n/a").all() and gen["note"].str.len().gt(0).all()
    assert f[f["claim_id"] == "correctness"]["verdict"].iloc[0] == "n/a"
    g = tables.gains(smoke, _records(RECORDS), _traces())
    text = findings.takeaway(smoke, f, g)
    assert "0 support the paper" in text and "2 are inconclusive" in text and "have no data" in text
    assert "dpo_top50_step (+30.0% on all items" in text
    md = findings.findings_markdown(f)
    assert "+20.0%" in md and md.count("\n") == len(f) + 4 and "0.125" in md
    assert "inconclusive: the reference run did not move (dpo_gen_qwen0.5b - base +10.0%" in md
    assert "twice the smaller of the two one-sided p-values" in md  # the stated sidedness convention


def _one_set(scores: dict[str, int], n: int = 60) -> pd.DataFrame:
    """One in-domain eval set of n items; model m answers the first k right."""
    return pd.DataFrame([{"model": model, "kind": "policy", "eval_set": "a", "domain": "in", "item_id": f"a{i}",
                          "sample": 0, "correct": i < k} for model, k in scores.items() for i in range(n)])


@pytest.mark.parametrize("full, top, verdict", [(40, 45, "supported"), (40, 30, "contradicted"),
                                                (40, 38, "inconclusive"), (26, 45, "inconclusive")])
def test_noninferiority_needs_a_reference_that_moved(smoke, full, top, verdict):
    """Top-k vs the full-data run (margin 5 points) on 60 items; the full run beats base (25) by 15 items, or by 1
    (then no verdict, whatever top-k does)."""
    pairs = pd.DataFrame({"chosen_model": ["qwen2.5-coder-0.5b"], "prompt_id": ["p0"], "delta_aggregate": [1.0]})
    recs = _one_set({"base": 25, "dpo_gen_qwen0.5b": full, "kto_gen_qwen0.5b": 25, "dpo_top50_step": top,
                     "dpo_random50": 25})
    row = findings.findings(smoke, recs, _traces(), pairs).set_index("claim_id").loc["topk_vs_full"]
    assert row["verdict"] == verdict
    assert row["gated"] == (full == 26)
    assert row["ci_low"] < row["effect"] < row["ci_high"]


@pytest.mark.parametrize("top, verdict", [(40, "supported"), (10, "contradicted"), (26, "inconclusive")])
def test_superiority_verdicts_follow_the_exact_test(smoke, top, verdict):
    """60 items per set; the random run answers the first 25 right, the top-k run the first `top`."""
    rows = _one_set({"base": 25, "dpo_gen_qwen0.5b": 25, "kto_gen_qwen0.5b": 25, "dpo_top50_step": top,
                     "dpo_random50": 25})
    pairs = pd.DataFrame({"chosen_model": ["qwen2.5-coder-0.5b"], "prompt_id": ["p0"], "delta_aggregate": [1.0]})
    f = findings.findings(smoke, rows, _traces(), pairs).set_index(["claim_id", "method"])
    assert f.loc[("topk_vs_random", "dpo"), "verdict"] == verdict
    # smoke trains top-k runs with DPO only: the selection claims are DPO's (KTO's would need its own runs)
    assert ("topk_vs_random", "kto") not in f.index


@pytest.mark.parametrize("acc_15b, expect", [(3, "compared"), (2, "equal")])
def test_generator_claims_follow_the_measured_gaps(acc_15b, expect):
    """The tiny grid: two chosen generators. The wider gap is the measured one; equal gaps compare nothing."""
    tiny = load_profile("tiny")
    narrow = _traces().replace({"model": {"qwen2.5-coder-0.5b": "gemma3-270m"}})  # tiny's narrow chosen generator
    traces = pd.concat([narrow, pd.DataFrame([{"model": "qwen2.5-coder-1.5b", "item_id": f"p{i}",
                                               "correct": i < acc_15b} for i in range(4)])])
    pairs = pd.DataFrame({"chosen_model": ["gemma3-270m"] * 2 + ["qwen2.5-coder-1.5b"] * 2,
                          "prompt_id": ["p0", "p1"] * 2, "delta_aggregate": [1.0, 0.5, 1.5, 1.0]})
    recs = _records({"base": 5, **{r.name: 5 for r in tiny.train.runs}, "dpo_gen_qwen1.5b": 7,
                     "kto_gen_gemma270m": 6, "kto_gen_qwen1.5b": 6, "dpo_top50_step": 6})
    f = findings.findings(tiny, recs, traces, pairs)
    gen = f[f["claim"].str.startswith("Generator-level")].set_index("method")
    delta = f[f["claim"].str.startswith("Sample-level")].iloc[0]
    if expect == "compared":
        assert gen.loc["dpo", "comparison"] == "dpo_gen_qwen1.5b - dpo_gen_gemma270m"
        assert gen.loc["dpo", "effect"] == pytest.approx(0.2) and gen.loc["dpo", "verdict"] == "inconclusive"
        assert gen.loc["kto", "effect"] == pytest.approx(0.0) and gen.loc["kto", "p_value"] == 1.0
        assert delta["effect"] == pytest.approx(0.5) and delta["test"].startswith("sign-flip")
    else:
        assert gen["note"].str.contains("gaps are equal").all() and gen["n"].eq(0).all()
        assert (gen["verdict"] == "n/a").all() and delta["verdict"] == "n/a"


def test_diagnostics_measure_the_targets(smoke, tmp_path, monkeypatch):
    """Gap, cut-off share, judge-verifier agreement and self-preference on hand-made traces with known answers."""
    from statsmodels.stats.proportion import proportion_confint

    from delta_utils.data.rubric import DIMENSION_NAMES

    monkeypatch.setenv("DELTA_LAB_RUNS", str(tmp_path))
    rng = np.random.default_rng(0)
    rows, scores, ver = [], [], []
    acc = {"smollm2-135m": 0.1, "qwen2.5-coder-0.5b": 0.8}
    for m, p in acc.items():
        for i in range(40):
            tid = f"{m}-{i}"
            q = float(rng.uniform(1, 5))
            rows.append({"trace_id": tid, "model": m, "item_id": f"p{i}", "sample": 0, "correct": i < p * 40,
                         "finish_reason": "length" if i % 10 == 0 else "stop"})
            ver.append({"trace_id": tid, **{dim: q for dim in DIMENSION_NAMES}})
            # the judge tracks the verifier, plus half a point on its own model's traces
            j = q + (0.5 if m == "qwen2.5-coder-0.5b" else 0.0)
            scores.append({"trace_id": tid, **{f"{dim}_mean": j for dim in DIMENSION_NAMES}, "aggregate_mean": j})
    t = findings.diagnostics(smoke, pd.DataFrame(rows), pd.DataFrame(scores), pd.DataFrame(ver),
                             _records({"base": 5})).set_index("quantity")
    assert t.loc["accuracy on the training prompts: qwen2.5-coder-0.5b", "value"] == pytest.approx(0.8)
    acc_row = t.loc["accuracy on the training prompts: qwen2.5-coder-0.5b"]
    assert (acc_row["ci_low"], acc_row["ci_high"]) == pytest.approx(proportion_confint(32, 40, method="beta"))
    assert t.loc["traces cut off at max_tokens: smollm2-135m", "value"] == pytest.approx(0.1)
    assert t.loc["traces cut off at max_tokens: smollm2-135m", "met"] == "yes"
    rho = t.loc["judge vs verifier Spearman: step_coherence"]
    assert rho["value"] > 0.8 and rho["met"] == "yes"
    self_pref = t[t.index.str.startswith("judge self-preference")].iloc[0]
    assert self_pref["value"] > 0.3 and self_pref["ci_low"] > 0  # the judge favours its own traces
    assert t.loc["evaluation items (the policy's)", "value"] == 20
    assert "| judge vs verifier Spearman: step_coherence |" in findings.diagnostics_markdown(t.reset_index())


def test_generator_gap_uses_every_sample(tmp_path, monkeypatch):
    """The chosen generators' gap averages each generator over all its samples of a prompt: the correctness
    generator's second sample sharpens its accuracy instead of being dropped."""
    monkeypatch.setenv("DELTA_LAB_RUNS", str(tmp_path))
    tiny = load_profile("tiny")  # chosen: gemma3-270m (1 sample), qwen2.5-coder-1.5b (2 samples)
    rows = []
    for i in range(40):
        right = {"smollm2-135m": [False], "gemma3-270m": [i < 16],
                 "qwen2.5-coder-1.5b": [i < 24, i < 16 or i >= 36]}  # 60 % and 50 % -> 55 %
        for m, samples in right.items():
            for k, ok in enumerate(samples):
                rows.append({"trace_id": f"{m}-{i}-{k}", "model": m, "item_id": f"p{i}", "sample": k, "correct": ok,
                             "finish_reason": "stop"})
    q = np.random.default_rng(0).uniform(1, 5, len(rows))
    ver = pd.DataFrame({"trace_id": [r["trace_id"] for r in rows], **{d: q for d in findings.DIMENSION_NAMES}})
    scores = ver.rename(columns={d: f"{d}_mean" for d in findings.DIMENSION_NAMES}).assign(aggregate_mean=q)
    t = findings.diagnostics(tiny, pd.DataFrame(rows), scores, ver, _records({"base": 5})).set_index("quantity")
    gap = t.loc["gap between the chosen generators: qwen2.5-coder-1.5b - gemma3-270m"]
    assert gap["value"] == pytest.approx(0.55 - 0.40) and gap["n"] == 40


@pytest.mark.parametrize("name", ["smoke", "tiny"])  # tiny: three random draws, two dimensions, correctness runs
def test_every_figure_draws_alone_on_hand_made_tables(name, tmp_path, monkeypatch):
    """Each figure function takes only the profile and the run's tables, returns the numbers it drew, shows
    itself as a PNG (what a notebook cell displays) and saves PNG + PDF + CSV."""
    from delta_utils.data.rubric import DIMENSION_NAMES

    smoke = load_profile(name)
    traces = _traces().assign(trace_id=lambda d: d["model"] + "-" + d["item_id"], sample=0)
    if name == "tiny":
        traces = pd.concat([traces, traces[traces["model"] == "qwen2.5-coder-0.5b"].assign(
            model="qwen2.5-coder-1.5b", correct=True, trace_id=lambda d: "q15-" + d["item_id"])])
    records = _records({**{r.name: 3 + i % 5 for i, r in enumerate(smoke.train.runs)}, **RECORDS})
    dims = {d: 3.0 for d in DIMENSION_NAMES}
    scores = traces[["trace_id"]].assign(**{f"{d}_mean": v for d, v in dims.items()}, aggregate_mean=3.0)
    pairs = pd.DataFrame({"chosen_model": "qwen2.5-coder-0.5b", "prompt_id": ["p0", "p1", "p2"],
                          **{f"delta_{d}": [1.0, 0.0, -1.0] for d in DIMENSION_NAMES + ["aggregate"]}})
    t = tables.RunTables(
        traces=traces, records=records,
        judgments=traces[["trace_id"]].assign(sample=0, status="ok", **dims),
        scores=scores, verifier=traces[["trace_id"]].assign(**dims),
        summary=pd.DataFrame({"model": ["base"], "kind": ["policy"], "eval_set": ["a"], "accuracy": [0.5]}),
        runs=tables.runs_table(smoke, traces), items=tables.item_scores(records),
        gains=tables.gains(smoke, records, traces), pairs=pairs, gaps=tables.generator_gaps(smoke, traces),
        logs=pd.DataFrame({"run": ["dpo_top50_step"] * 2, "method": "dpo", "preference_set": "top50__step_coherence",
                           "step": [1, 2], "loss": [0.69, 0.6]}))
    assert list(figures.FIGURES) == ["generator_ladder", "generator_gains", "delta_by_dimension", "delta_vs_gap",
                                     "data_efficiency", "dimension_selection", "correctness_ablation",
                                     "judge_quality", "training_curves", "learning_signal"]
    for fname, draw in figures.FIGURES.items():
        fig = draw(smoke, t)
        assert fig.name == fname and isinstance(fig.data, pd.DataFrame)
        assert fig._repr_png_().startswith(b"\x89PNG")
        png = fig.save(tmp_path)
        assert png.is_file() and (tmp_path / f"{fname}.pdf").is_file() and (tmp_path / f"{fname}.csv").is_file()
    if name != "smoke":  # (the hand-made pairs cover smoke's generator-level comparisons only)
        return
    # the findings and results go beside the figures (the README links them; nothing rewrites it)
    monkeypatch.setenv("DELTA_LAB_FIGURES", str(tmp_path / "figures"))
    readme = (REPO_ROOT / "README.md").read_bytes()
    out = analyze.write_findings(smoke, t)
    assert out == {k: tmp_path / "figures" / name / f"{k}.md" for k in ("findings", "results")}
    assert out["findings"].read_text().startswith("| claim (paper) |")
    assert (REPO_ROOT / "README.md").read_bytes() == readme


def test_no_series_hides_under_another_and_every_run_has_its_colour():
    """Series that share x positions (top-k by each dimension and the random draws at one fraction) are drawn side
    by side, and each training run gets a colour of its own, however many runs the grid has."""
    from matplotlib.colors import to_hex

    from delta_utils.study import figures

    tiny = load_profile("tiny")
    runs = [r.name for r in tiny.train.runs]  # 12 runs: more than one qualitative palette holds
    logs = pd.DataFrame([{"run": r.name, "method": r.method, "preference_set": r.preference_set, "step": s,
                          "loss": 0.7 - 0.01 * s - 0.001 * i,
                          "rewards/margins": 0.1 * s + 0.01 * i if r.method == "dpo" else np.nan}  # KTO logs none
                         for i, r in enumerate(tiny.train.runs) for s in (1, 2)])
    fig = figures.training_curves(tiny, type("T", (), {"logs": logs})())  # it reads t.logs alone

    def colour_of(ax) -> dict:  # each run's line, by its y values at step 1
        return {round(float(line.get_ydata()[0]), 4): to_hex(line.get_color()) for line in ax.get_lines()
                if len(line.get_xdata()) == 2}

    loss, margins = colour_of(fig.fig.axes[0]), colour_of(fig.fig.axes[1])
    assert len(set(loss.values())) == len(runs) == 12  # a colour of its own for every run
    for i, r in enumerate(tiny.train.runs):  # and the same colour for a run in every panel
        if r.method == "dpo":
            assert margins[round(0.1 + 0.01 * i, 4)] == loss[round(0.69 - 0.001 * i, 4)], r.name
    gains = pd.DataFrame([{"run": f"r{i}", "method": "dpo", "kind": kind, "dimension": dim, "draw": draw,
                           "fraction": 0.5, "is_full": False, "domain": "all", "diff": 0.01, "ci_low": -0.05,
                           "ci_high": 0.07}
                          for i, (kind, dim, draw) in enumerate([("topk", "step_coherence", None),
                                                                 ("topk", "aggregate", None), ("random", None, 0),
                                                                 ("random", None, 1)])]
                         + [{"run": "full", "method": "dpo", "kind": "generator", "dimension": None, "draw": None,
                             "fraction": None, "is_full": True, "domain": "all", "diff": 0.0, "ci_low": -0.05,
                             "ci_high": 0.05}])
    fig = figures.data_efficiency(tiny, type("T", (), {"gains": gains})())  # it reads t.gains alone
    xs = [float(line.get_xdata()[0]) for line in fig.fig.axes[0].get_lines() if line.get_marker() == "o"]
    assert len(xs) == 4 and len(set(xs)) == 4 and all(abs(x - 0.5) < 0.05 for x in xs)
    legend = fig.fig.axes[0].get_legend()
    assert legend is not None and legend.get_bbox_to_anchor().x0 > fig.fig.axes[0].get_window_extent().x1 - 1


def test_06_draws_every_registered_figure_in_a_cell_of_its_own():
    """A figure is one function in `figures.FIGURES` and one cell of 06 that draws and saves it: a figure added
    to one and not the other fails here, not silently in a run."""
    import re

    from delta_utils.profile.config import REPO_ROOT

    src = (REPO_ROOT / "notebooks" / "06_analyze.py").read_text()
    drawn = re.findall(r"^fig = figures\.([a-z_]+)\(prof, t\)\nfig\.save\(out\)$", src, flags=re.M)
    assert drawn == list(figures.FIGURES)
