"""Paired statistics against scipy / statsmodels reference values, plus edge cases."""
from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.weightstats import ttost_paired

from delta_utils.stats import (
    auc_ci,
    bootstrap_ci,
    equivalence,
    holm,
    inferiority_p,
    mde_paired,
    noninferiority,
    paired_test,
    spearman_ci,
    tie_share,
    verdict,
)

NAN = float("nan")


def _binary_pair(both: int, a_only: int, b_only: int, neither: int) -> tuple[np.ndarray, np.ndarray]:
    a = np.array([1] * both + [1] * a_only + [0] * b_only + [0] * neither)
    b = np.array([1] * both + [0] * a_only + [1] * b_only + [0] * neither)
    return a, b


def _fractional_pair(n: int, seed: int, shift: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    b = rng.integers(0, 5, size=n) / 4  # means over k=4 samples
    a = np.clip(b + rng.choice([-0.25, 0, 0.25, 0.5], size=n, p=[0.3, 0.3, 0.3, 0.1]) + shift, 0, 1)
    return a, b


# ----------------------------------------------------------------------------- paired_test

@pytest.mark.parametrize("cells", [(10, 7, 2, 5), (30, 1, 9, 4), (5, 4, 4, 5), (0, 12, 0, 3)])
def test_mcnemar_matches_statsmodels(cells):
    both, a_only, b_only, neither = cells
    a, b = _binary_pair(*cells)
    res = paired_test(a, b)
    table = [[both, a_only], [b_only, neither]]
    assert res["method"] == "exact McNemar"
    assert res["p_value"] == pytest.approx(mcnemar(table, exact=True).pvalue, rel=1e-12)
    assert (res["n"], res["n_pos"], res["n_neg"]) == (sum(cells), a_only, b_only)
    assert res["diff"] == pytest.approx((a_only - b_only) / sum(cells))


def test_mcnemar_one_sided_and_bool_input():
    a, b = _binary_pair(10, 9, 2, 5)
    greater = paired_test(a.astype(bool), b.astype(bool), alternative="greater")
    assert greater["method"] == "exact McNemar"
    assert greater["p_value"] == pytest.approx(stats.binomtest(9, 11, 0.5, alternative="greater").pvalue)
    less = paired_test(a, b, alternative="less")
    assert less["p_value"] == pytest.approx(stats.binomtest(9, 11, 0.5, alternative="less").pvalue)
    assert greater["p_value"] < 0.05 < less["p_value"]


def test_worked_example_three_better_none_worse_of_86():
    a, b = _binary_pair(50, 3, 0, 33)
    res = paired_test(a, b)
    assert res["n"] == 86 and res["n_pos"] == 3 and res["n_neg"] == 0
    assert res["p_value"] == pytest.approx(0.25)
    assert res["diff"] == pytest.approx(3 / 86)
    assert verdict("superiority", res["p_value"], res["diff"]) == "inconclusive"


def test_sign_flip_exact_by_hand():
    a = np.array([1.0, 0.25, 1.0, 0.5])
    b = np.array([0.5, 0.5, 0.0, 0.5])  # d = [0.5, -0.25, 1.0, 0]
    nz = np.array([0.5, -0.25, 1.0])
    sums = np.array([np.dot(s, nz) for s in itertools.product([1, -1], repeat=3)])
    obs = nz.sum()  # 1.25
    by_hand = {"two-sided": np.mean(np.abs(sums) >= obs - 1e-12),
               "greater": np.mean(sums >= obs - 1e-12), "less": np.mean(sums <= obs + 1e-12)}
    assert by_hand == {"two-sided": 0.5, "greater": 0.25, "less": 0.875}
    for alternative, p in by_hand.items():
        res = paired_test(a, b, alternative=alternative)
        assert res["method"] == "sign-flip permutation (exact)"
        assert res["p_value"] == pytest.approx(p)
        assert (res["n"], res["n_pos"], res["n_neg"]) == (4, 2, 1)
        assert res["diff"] == pytest.approx(1.25 / 4)


def _scipy_sign_flip(d: np.ndarray, alternative: str) -> float:
    res = stats.permutation_test((d,), lambda x, axis: np.mean(x, axis=axis), vectorized=True,
                                 permutation_type="samples", alternative=alternative,
                                 n_resamples=np.inf)
    return float(res.pvalue)


@pytest.mark.parametrize("alternative", ["two-sided", "greater", "less"])
def test_sign_flip_exact_matches_scipy(alternative):
    rng = np.random.default_rng(1)
    nz = rng.choice([-0.5, -0.25, 0.25, 0.5, 0.75], size=14)  # 14 non-zero d, plus 2 zeros
    a, b = np.concatenate([0.5 + nz / 2, [0.5, 1.0]]), np.concatenate([0.5 - nz / 2, [0.5, 1.0]])
    res = paired_test(a, b, alternative=alternative)
    assert res["method"] == "sign-flip permutation (exact)"
    assert res["n"] == 16
    assert res["p_value"] == pytest.approx(_scipy_sign_flip(nz, alternative), rel=1e-9)


def test_sign_flip_monte_carlo_close_to_exact():
    rng = np.random.default_rng(3)
    d = rng.choice([-0.5, -0.25, 0.25, 0.5, 0.75], size=17)  # 17 non-zero: Monte Carlo
    a, b = 0.5 + d / 2, 0.5 - d / 2
    res = paired_test(a, b, n_perm=20000, seed=0)
    assert res["method"] == "sign-flip permutation (Monte Carlo)"
    exact = _scipy_sign_flip(d, "two-sided")  # 2**17 sign patterns, enumerated by scipy
    assert res["p_value"] == pytest.approx(exact, abs=0.015)
    assert paired_test(a, b, seed=0)["p_value"] == res["p_value"]  # seeded, reproducible
    count = (res["p_value"] * 20001) - 1
    assert count == pytest.approx(round(count))  # p = (1 + count) / (1 + n_perm)


def test_paired_test_empty_and_no_discordant():
    empty = paired_test([], [])
    assert np.isnan(empty["diff"]) and np.isnan(empty["p_value"])
    assert empty["method"] == "n/a" and empty["n"] == 0
    same = paired_test([1, 0, 1], [1, 0, 1])
    assert same["p_value"] == 1.0 and same["diff"] == 0 and same["method"] == "exact McNemar"
    same_frac = paired_test([0.5, 0.25], [0.5, 0.25])
    assert same_frac["p_value"] == 1.0 and same_frac["method"].startswith("sign-flip")
    with pytest.raises(ValueError):
        paired_test([1], [0], alternative="bigger")


def test_series_are_aligned_on_index_and_nan_pairs_dropped():
    a = pd.Series([1, 1, 0, 1, np.nan], index=["q1", "q2", "q3", "q4", "q5"])
    b = pd.Series([0, 1, 1, 0, 1, 0], index=["q6", "q4", "q3", "q2", "q1", "q5"])
    # inner join: q1..q5; q5 has NaN in a -> dropped; d: q1 0, q2 +1, q3 -1, q4 0
    res = paired_test(a, b)
    assert (res["n"], res["n_pos"], res["n_neg"]) == (4, 1, 1)
    with pytest.raises(TypeError):
        paired_test(a, b.to_numpy())
    with pytest.raises(ValueError):
        paired_test([1, 0], [1, 0, 1])


# ----------------------------------------------------------------------------- bootstrap, MDE

def test_bootstrap_ci():
    a, b = _fractional_pair(200, seed=2)
    d = a - b
    low, high = bootstrap_ci(a, b)
    assert (low, high) == bootstrap_ci(d)  # same resampling for d or (a, b)
    assert low < d.mean() < high
    normal_width = 2 * 1.96 * d.std(ddof=1) / np.sqrt(len(d))
    assert high - low == pytest.approx(normal_width, rel=0.15)
    assert bootstrap_ci(d, seed=1) != (low, high)
    assert bootstrap_ci(d, level=0.5)[1] - bootstrap_ci(d, level=0.5)[0] < high - low
    assert all(np.isnan(bootstrap_ci([])))
    assert all(np.isnan(bootstrap_ci([], [])))


def test_mde_matches_formula_and_statsmodels_power():
    a, b = _binary_pair(60, 12, 8, 20)
    n, disc = 100, 0.2
    z = stats.norm.ppf(0.975) + stats.norm.ppf(0.8)
    assert mde_paired(a, b) == pytest.approx(z * np.sqrt(disc) / np.sqrt(n))
    # statsmodels one-sample normal power (ratio=0), effect in units of the null SD
    es = NormalIndPower().solve_power(effect_size=None, nobs1=n, alpha=0.05, power=0.8, ratio=0)
    assert mde_paired(a, b) == pytest.approx(es * np.sqrt(disc), rel=1e-4)
    af, bf = _fractional_pair(50, seed=4)
    assert mde_paired(af, bf) == pytest.approx(z * np.sqrt(np.mean((af - bf) ** 2) / 50))


def test_mde_decreases_with_n_and_is_never_zero():
    a, b = _binary_pair(6, 2, 1, 1)
    mdes = [mde_paired(np.tile(a, r), np.tile(b, r)) for r in (1, 2, 4, 8)]
    assert all(x > y for x, y in zip(mdes, mdes[1:]))
    same = np.array([1, 0, 1, 1, 0] * 10)
    z = stats.norm.ppf(0.975) + stats.norm.ppf(0.8)
    assert mde_paired(same, same) == pytest.approx(z * np.sqrt(1 / 50) / np.sqrt(50))
    assert mde_paired(same, same) > 0
    assert np.isnan(mde_paired([], []))


# ----------------------------------------------------------------------------- holm

def test_holm_matches_statsmodels():
    rng = np.random.default_rng(0)
    for p in [rng.uniform(0, 0.2, size=12), np.array([0.01, 0.04, 0.04, 0.03, 0.5, 0.01]),
              np.array([0.9]), np.array([0.2, 0.6, 1.0])]:
        np.testing.assert_allclose(holm(p), multipletests(p, method="holm")[1], rtol=1e-12)


def test_holm_nan_kept_and_not_counted():
    p = [0.01, np.nan, 0.04, None, 0.03]
    out = holm(p)
    assert np.isnan(out[1]) and np.isnan(out[3])
    ref = multipletests([0.01, 0.04, 0.03], method="holm")[1]
    np.testing.assert_allclose(out[[0, 2, 4]], ref)
    assert holm([]).shape == (0,)
    assert np.isnan(holm([np.nan])).all()
    with pytest.raises(ValueError):
        holm([0.5, 1.5])


# ----------------------------------------------------------------------------- NI, TOST

def test_noninferiority_matches_scipy():
    a, b = _fractional_pair(60, seed=5, shift=-0.02)
    d = a - b
    res = noninferiority(a, b, margin=0.05)
    ref = stats.ttest_1samp(d, -0.05, alternative="greater")
    assert res["p_value"] == pytest.approx(ref.pvalue, rel=1e-12)
    assert res["lower"] == pytest.approx(ref.confidence_interval(0.95).low, rel=1e-10)
    assert res["diff"] == pytest.approx(d.mean())
    assert (res["margin"], res["n"], res["method"]) == (0.05, 60, "paired t, non-inferiority")
    assert (res["p_value"] < 0.05) == (res["lower"] > -0.05)
    ref_less = stats.ttest_1samp(d, -0.05, alternative="less").pvalue
    assert inferiority_p(a, b, 0.05) == pytest.approx(ref_less, rel=1e-12)


def test_noninferiority_degenerate_and_small():
    a = np.array([0.5, 0.5, 0.5])
    res = noninferiority(a, a + 0.02, margin=0.05)  # all d = -0.02 > -0.05
    assert res["p_value"] == 0.0 and res["lower"] == pytest.approx(-0.02)
    res = noninferiority(a, a + 0.25, margin=0.05)  # all d = -0.25 <= -0.05
    assert res["p_value"] == 1.0
    assert inferiority_p(a, a + 0.25, 0.05) == 0.0
    assert inferiority_p(a, a + 0.02, 0.05) == 1.0
    one = noninferiority([1.0], [0.0], margin=0.05)
    assert np.isnan(one["p_value"]) and one["n"] == 1 and one["diff"] == 1.0
    assert np.isnan(noninferiority([], [], margin=0.05)["diff"])
    assert np.isnan(inferiority_p([1.0], [0.0], 0.05))
    with pytest.raises(ValueError):
        noninferiority(a, a, margin=-0.1)


@pytest.mark.parametrize("seed,shift,margin", [(6, 0.0, 0.1), (7, 0.05, 0.05), (8, -0.1, 0.15)])
def test_equivalence_matches_statsmodels(seed, shift, margin):
    a, b = _fractional_pair(80, seed=seed, shift=shift)
    res = equivalence(a, b, margin=margin)
    assert res["p_value"] == pytest.approx(ttost_paired(a, b, -margin, margin)[0], rel=1e-10)
    ci = stats.ttest_1samp(a - b, 0).confidence_interval(0.90)
    assert (res["ci_low"], res["ci_high"]) == pytest.approx((ci.low, ci.high), rel=1e-10)
    inside = -margin < res["ci_low"] and res["ci_high"] < margin
    assert (res["p_value"] < 0.05) == inside
    assert res["method"] == "paired TOST" and res["n"] == 80 and res["margin"] == margin


def test_equivalence_degenerate_and_small():
    a = np.array([1.0, 0.0, 1.0, 1.0])
    res = equivalence(a, a, margin=0.05)
    assert res["p_value"] == 0.0 and res["ci_low"] == res["ci_high"] == 0.0
    assert equivalence(a, a - 0.25, margin=0.05)["p_value"] == 1.0
    one = equivalence([1.0], [1.0], margin=0.05)
    assert np.isnan(one["p_value"]) and np.isnan(one["ci_low"]) and np.isnan(one["ci_high"])


# ----------------------------------------------------------------------------- verdict

@pytest.mark.parametrize("kind,p,diff,p_opposite,expected", [
    ("superiority", 0.01, 0.05, None, "supported"),
    ("superiority", 0.01, -0.05, None, "contradicted"),
    ("superiority", 0.01, 0.0, None, "inconclusive"),
    ("superiority", 0.25, 0.035, None, "inconclusive"),
    ("superiority", 0.25, -0.035, None, "inconclusive"),
    ("superiority", NAN, 0.05, None, "n/a"),
    ("superiority", None, 0.05, None, "n/a"),
    ("superiority", 0.01, NAN, None, "n/a"),
    ("superiority", 0.05, 0.05, None, "inconclusive"),  # p < alpha is strict
    ("noninferiority", 0.01, -0.01, None, "supported"),
    ("noninferiority", 0.01, -0.01, 0.9, "supported"),
    ("noninferiority", 0.4, -0.08, 0.01, "contradicted"),
    ("noninferiority", 0.4, -0.03, 0.3, "inconclusive"),
    ("noninferiority", 0.4, -0.03, None, "inconclusive"),
    ("noninferiority", 0.4, -0.03, NAN, "inconclusive"),
    ("noninferiority", NAN, -0.03, 0.01, "n/a"),
    ("equivalence", 0.01, 0.0, 0.8, "supported"),
    ("equivalence", 0.3, 0.1, 0.001, "contradicted"),
    ("equivalence", 0.3, 0.01, 0.6, "inconclusive"),
    ("equivalence", 0.3, 0.01, None, "inconclusive"),
    ("equivalence", 0.01, None, 0.8, "n/a"),
])
def test_verdict_table(kind, p, diff, p_opposite, expected):
    assert verdict(kind, p, diff, p_opposite=p_opposite) == expected


def test_verdict_alpha_and_unknown_kind():
    assert verdict("superiority", 0.03, 0.1, alpha=0.01) == "inconclusive"
    assert verdict("superiority", 0.03, 0.1, alpha=0.05) == "supported"
    with pytest.raises(ValueError):
        verdict("better", 0.01, 0.1)


# ----------------------------------------------------------------------------- spearman, AUC

def test_spearman_ci():
    rng = np.random.default_rng(9)
    x = rng.normal(size=60)
    y = x + rng.normal(size=60)
    res = spearman_ci(x, y)
    assert res["rho"] == pytest.approx(stats.spearmanr(x, y).statistic)
    assert -1 <= res["ci_low"] < res["rho"] < res["ci_high"] <= 1
    assert res["n"] == 60
    assert spearman_ci(x, y) == res  # seeded
    wide = spearman_ci(x[:15], y[:15])
    assert wide["ci_high"] - wide["ci_low"] > res["ci_high"] - res["ci_low"]


def test_spearman_ci_degenerate():
    const = spearman_ci([1, 1, 1, 1], [1, 2, 3, 4])
    assert np.isnan(const["rho"]) and np.isnan(const["ci_low"]) and const["n"] == 4
    small = spearman_ci([1, 2], [2, 1])
    assert np.isnan(small["rho"]) and small["n"] == 2
    # few distinct values: many resamples are constant on one side and are skipped
    res = spearman_ci([0, 0, 0, 1], [0, 1, 2, 3], n_boot=200)
    assert res["ci_low"] <= res["ci_high"]


def _delong_brute_force(pos: np.ndarray, neg: np.ndarray) -> tuple[float, float]:
    psi = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
    v10, v01 = psi.mean(axis=1), psi.mean(axis=0)
    var = v10.var(ddof=1) / len(pos) + v01.var(ddof=1) / len(neg)
    return float(psi.mean()), float(np.sqrt(var))


def test_auc_matches_mannwhitney_and_delong():
    rng = np.random.default_rng(10)
    labels = rng.random(80) < 0.4
    scores = np.round(rng.normal(size=80) + labels, 1)  # rounding creates ties
    pos, neg = scores[labels], scores[~labels]
    res = auc_ci(scores, labels)
    u = stats.mannwhitneyu(pos, neg).statistic
    assert res["auc"] == pytest.approx(u / (len(pos) * len(neg)))
    auc, se = _delong_brute_force(pos, neg)
    assert res["auc"] == pytest.approx(auc)
    z = stats.norm.ppf(0.975)
    assert (res["ci_low"], res["ci_high"]) == pytest.approx((auc - z * se, auc + z * se))
    assert res["ci_low"] < res["auc"] < res["ci_high"]
    assert (res["n_pos"], res["n_neg"]) == (len(pos), len(neg))
    more = auc_ci(np.tile(scores, 4), np.tile(labels, 4))
    assert more["auc"] == pytest.approx(res["auc"])
    assert more["ci_high"] - more["ci_low"] < res["ci_high"] - res["ci_low"]


def test_auc_edge_cases():
    empty = auc_ci([0.1, 0.2], [0, 0])
    assert np.isnan(empty["auc"]) and empty["n_pos"] == 0 and empty["n_neg"] == 2
    perfect = auc_ci([0.9, 0.8, 0.2, 0.1], [1, 1, 0, 0])
    assert perfect["auc"] == 1.0 and perfect["ci_high"] <= 1.0
    assert auc_ci([0.5, 0.5, 0.5], [True, False, True])["auc"] == 0.5
    with pytest.raises(ValueError):
        auc_ci([0.1, 0.2], [0, 2])


# ----------------------------------------------------------------------------- tie_share

@pytest.mark.parametrize("values,k,expected", [
    ([5, 4, 4, 4, 1], 2, 0.5),
    ([5, 4, 4, 4, 1], 3, 2 / 3),
    ([5, 4, 4, 4, 1], 4, 0.0),   # all 4s selected: a clean cut
    ([5, 4, 4, 4, 1], 1, 0.0),
    ([3, 3, 3, 3], 2, 1.0),
    ([5, 5, 3], 2, 0.0),         # tied values all inside the selection
    ([5, 4, 4, 4, 1], 0, 0.0),
    ([5, 4, 4, 4, 1], 5, 0.0),
    ([5, 4, 4, 4, 1], 9, 0.0),
])
def test_tie_share(values, k, expected):
    assert tie_share(values, k) == pytest.approx(expected)
