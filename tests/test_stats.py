"""Paired statistics against scipy / statsmodels reference values and exact enumeration, plus edge cases, sparse
tables (0, 1 and 2 discordant items) and size / coverage at n = 46 and 86 (exact over all outcomes, or simulated)."""
from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from scipy import optimize, stats
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportion_confint

from delta_utils.core.stats import (
    _tango_z,
    auc_ci,
    bootstrap_ci,
    cluster_bootstrap,
    compare,
    equivalence,
    holm,
    inferiority_p,
    mde_mcnemar,
    mde_paired,
    noninferiority,
    paired_test,
    proportion_ci,
    runs_exchangeable_test,
    score_ci,
    score_test,
    spearman_ci,
    tie_share,
    two_sided,
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


def _outcomes(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Every (b, c) = (A-only, B-only) count pair of n paired 0/1 items."""
    b, c = np.meshgrid(np.arange(n + 1), np.arange(n + 1), indexing="ij")
    keep = b + c <= n
    return b[keep].astype(float), c[keep].astype(float)


def _trinomial(n: int, b: np.ndarray, c: np.ndarray, p12: float, p21: float) -> np.ndarray:
    """P(b A-only, c B-only items of n) under cell probabilities p12, p21 (exact)."""
    rest = 1 - p12 - p21
    return stats.multinomial.pmf(np.column_stack([b, c, n - b - c]), n, [p12, p21, rest])


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
    up, down = paired_test(a, b, "greater")["p_value"], paired_test(a, b, "less")["p_value"]
    assert verdict(*two_sided(up, down)) == "inconclusive"


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


# ----------------------------------------------------------------------------- bootstrap

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


# ----------------------------------------------------------------------------- Tango's score test and interval

def _restricted_variance_numeric(b: float, c: float, n: int, delta: float) -> float:
    """n (p12 + p21 - delta^2) at the multinomial MLE under p12 - p21 = delta, found by a numeric optimiser."""
    lo, hi = max(0.0, -delta), (1 - delta) / 2  # p21 range keeping every cell in [0, 1]

    def negll(q):
        cells = np.array([q + delta, q, 1 - 2 * q - delta])
        counts = np.array([b, c, n - b - c])
        return -np.sum(np.where(counts > 0, counts * np.log(np.clip(cells, 1e-300, None)), 0.0))

    q = optimize.minimize_scalar(negll, bounds=(lo, hi), method="bounded", options={"xatol": 1e-12}).x
    return n * (2 * q + delta - delta ** 2)


@pytest.mark.parametrize("b,c,n,delta", [(0, 0, 86, -0.05), (1, 0, 86, -0.05), (0, 1, 86, -0.05),
                                         (2, 0, 46, 0.05), (0, 2, 46, -0.05), (7, 3, 86, 0.1), (3, 9, 46, -0.2),
                                         (20, 5, 60, 0.3)])
def test_tango_restricted_mle_matches_a_numeric_optimum(b, c, n, delta):
    z = float(_tango_z(b, c, n, delta))
    var = _restricted_variance_numeric(b, c, n, delta)
    assert z == pytest.approx((b - c - n * delta) / np.sqrt(var), rel=1e-5)


def test_tango_at_zero_is_mcnemars_z_and_matches_statsmodels_chi2():
    for b, c in [(7, 2), (1, 9), (12, 0), (3, 3)]:
        assert float(_tango_z(b, c, 50, 0.0)) == pytest.approx((b - c) / np.sqrt(b + c))
        chi2 = mcnemar([[10, b], [c, 20]], exact=False, correction=False).statistic
        assert float(_tango_z(b, c, 50, 0.0)) ** 2 == pytest.approx(chi2)


@pytest.mark.parametrize("a_only,b_only", [(1, 0), (0, 1)])
def test_one_discordant_item_of_86_is_not_overwhelming_evidence(a_only, b_only):
    """The issue's top-50 vs full row: a paired t-test gave p 4.5e-7; a score test gives about 0.01."""
    a, b = _binary_pair(40, a_only, b_only, 86 - 40 - a_only - b_only)
    res = noninferiority(a, b, margin=0.05)
    if a_only:  # the committed row: +1.2 points, p 0.009-0.012 by the issue's score / exact unconditional tests
        assert 0.005 < res["p_value"] < 0.02
    else:  # -1.2 points: weaker still
        assert 0.02 < res["p_value"] < 0.1
    assert res["method"] == "Tango score, non-inferiority"
    t_p = stats.ttest_1samp((a - b).astype(float), -0.05, alternative="greater").pvalue
    assert t_p < res["p_value"] / 10  # what the t-test said (4.5e-7 for the committed row)


@pytest.mark.parametrize("n", [2, 5, 10, 46, 86])
def test_no_discordant_item_never_gives_p_zero(n):
    a = np.array([1, 0] * n)[:n]
    ni, eq = noninferiority(a, a, margin=0.05), equivalence(a, a, margin=0.05)
    assert ni["p_value"] > 0 and eq["p_value"] > 0
    # closed form: z = sqrt(n m / (1 - m)) with no discordant item
    assert ni["p_value"] == pytest.approx(stats.norm.sf(np.sqrt(n * 0.05 / 0.95)))
    if n <= 46:  # with no discordant item a few items cannot show anything
        assert ni["p_value"] > 0.05 and eq["p_value"] > 0.05
    low, high = score_ci(a, a)
    crit = stats.norm.ppf(0.975) ** 2
    assert (low, high) == pytest.approx((-crit / (n + crit), crit / (n + crit)), abs=1e-9)


def test_score_interval_sparse_values():
    a, b = _binary_pair(40, 0, 0, 6)  # the KTO gap row: n = 46, no discordant item
    low, high = score_ci(a, b)
    assert (low, high) == pytest.approx((-0.077, 0.077), abs=5e-4)
    assert bootstrap_ci(a, b) == (0.0, 0.0)  # what the percentile bootstrap said
    for cells in [(40, 1, 0, 45), (40, 2, 0, 44), (40, 1, 1, 44), (10, 20, 5, 11)]:
        a, b = _binary_pair(*cells)
        low, high = score_ci(a, b)
        assert low < (a - b).mean() < high
        # the interval inverts the two-sided score test: p = 0.05 at both ends
        for bound in (low, high):
            assert score_test(a, b, bound, "two-sided")["p_value"] == pytest.approx(0.05, abs=1e-6)


@pytest.mark.parametrize("n", [46, 86])
def test_score_interval_coverage_exact_at_sparse_and_moderate_discordance(n):
    """Coverage of the 95 % interval over every outcome (b, c), weighted exactly by the trinomial: the same as
    infinitely many simulated draws. The percentile bootstrap covers 78-82 % with 1-2 discordant items of 86."""
    from delta_utils.core.stats import _score_bounds
    b, c = _outcomes(n)
    low, high = _score_bounds(b, c, n, 0.95)
    for p12, p21 in [(0.01, 0.0), (0.01, 0.01), (0.02, 0.0), (0.03, 0.01), (0.05, 0.05), (0.1, 0.02), (0.2, 0.1)]:
        w = _trinomial(n, b, c, p12, p21)
        cover = float(np.sum(w * ((low <= p12 - p21) & (p12 - p21 <= high))))
        assert cover >= 0.935, (p12, p21, cover)


def test_score_interval_coverage_simulated_for_avg_at_k():
    """avg@4 scores: the parts-of-d statistic bounds the variance from above, so coverage is at least nominal."""
    rng = np.random.default_rng(0)
    for n in (46, 86):
        hits = 0
        sims = 600
        p_item = rng.uniform(0.1, 0.9, size=n)
        for _ in range(sims):
            a = rng.binomial(4, np.clip(p_item + 0.05, 0, 1)) / 4
            b = rng.binomial(4, p_item) / 4
            low, high = score_ci(a, b)
            truth = float(np.mean(np.clip(p_item + 0.05, 0, 1) - p_item))
            hits += low <= truth <= high
        assert hits / sims >= 0.93


@pytest.mark.parametrize("n", [46, 86])
def test_noninferiority_size_exact_at_the_margin(n):
    """P(reject H0: d <= -5 points) at a true difference of exactly -5 points, over the nuisance discordance:
    exact over all outcomes. The paired t-test rejects 6.7-9.5 % here; the score test stays near 5 %."""
    b, c = _outcomes(n)
    z = _tango_z(b, c, n, -0.05)
    reject = stats.norm.sf(z) < 0.05
    d = (b - c) / n
    sd = np.sqrt(np.maximum((b + c) / n - d ** 2, 0) * n / (n - 1))
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (d + 0.05) / (sd / np.sqrt(n))
    t_reject = np.where(sd > 0, stats.t.sf(t, n - 1) < 0.05, d > -0.05)
    sizes, t_sizes = [], []
    for p21 in np.linspace(0.05, 0.3, 11):
        w = _trinomial(n, b, c, p21 - 0.05, p21)
        sizes.append(float(np.sum(w * reject)))
        t_sizes.append(float(np.sum(w * t_reject)))
    assert max(sizes) <= 0.06
    assert max(t_sizes) > 0.065  # the test above can fail: the t-test does


def test_noninferiority_and_inferiority_are_score_tests():
    a, b = _fractional_pair(60, seed=5, shift=-0.02)
    d = a - b
    res = noninferiority(a, b, margin=0.05)
    bp, bn = np.clip(d, 0, None).sum(), np.clip(-d, 0, None).sum()
    z = float(_tango_z(bp, bn, 60, -0.05))
    assert res["p_value"] == pytest.approx(stats.norm.sf(z))
    assert inferiority_p(a, b, 0.05) == pytest.approx(stats.norm.cdf(z))
    assert res["method"] == "Tango score on the parts of d (avg@k), non-inferiority"
    assert (res["p_value"] < 0.05) == (res["lower"] > -0.05)
    assert res["lower"] == pytest.approx(score_ci(a, b, level=0.90)[0])
    assert np.isnan(noninferiority([], [], margin=0.05)["p_value"])
    with pytest.raises(ValueError):
        noninferiority(a, a, margin=-0.1)
    with pytest.raises(ValueError):  # judged points are not accuracies
        noninferiority(a * 5, b, margin=0.05)


def test_equivalence_is_tost_of_score_tests_and_contradicted_only_beyond_the_margin():
    a, b = _binary_pair(300, 14, 0, 86)  # +3.5 points, clearly significant, but inside +-5
    assert paired_test(a, b)["p_value"] < 0.001
    eq = equivalence(a, b, margin=0.05)
    assert eq["p_outside"] > 0.5  # no evidence of a difference beyond the margin: not contradicted
    z_low, z_high = float(_tango_z(14, 0, 400, -0.05)), float(_tango_z(14, 0, 400, 0.05))
    assert eq["p_value"] == pytest.approx(max(stats.norm.sf(z_low), stats.norm.cdf(z_high)))
    assert (eq["ci_low"], eq["ci_high"]) == pytest.approx(score_ci(a, b, level=0.90))
    assert (eq["p_value"] < 0.05) == (-0.05 < eq["ci_low"] and eq["ci_high"] < 0.05)
    far_a, far_b = _binary_pair(100, 40, 0, 60)  # +20 points
    assert equivalence(far_a, far_b, margin=0.05)["p_outside"] < 0.001
    p, side = two_sided(eq["p_value"], eq["p_outside"])
    assert verdict(p, side) != "contradicted"
    assert verdict(*two_sided(*[equivalence(far_a, far_b, 0.05)[k] for k in ("p_value", "p_outside")])) \
        == "contradicted"
    assert np.isnan(equivalence([], [], margin=0.05)["p_value"])


# ----------------------------------------------------------------------------- MDE

def _power_brute_force(n: int, p12: float, p21: float, alpha: float = 0.05) -> float:
    total = 0.0
    for b in range(n + 1):
        for c in range(n + 1 - b):
            if b + c and mcnemar([[0, b], [c, 0]], exact=True).pvalue < alpha:
                total += stats.multinomial.pmf([b, c, n - b - c], n, [p12, p21, 1 - p12 - p21])
    return total


def test_mde_is_the_exact_mcnemar_power_by_enumeration():
    n, disc = 46, 0.2
    mde = mde_mcnemar(n, disc)
    assert _power_brute_force(n, (disc + mde) / 2, (disc - mde) / 2) >= 0.8 - 1e-6
    below = mde - 0.01
    assert _power_brute_force(n, (disc + below) / 2, (disc - below) / 2) < 0.8


@pytest.mark.parametrize("n", [46, 86])
def test_mde_never_below_the_smallest_significant_difference(n):
    smallest = 6 / n  # 6 discordant items all one way: the fewest the exact two-sided test can call significant
    assert paired_test(*_binary_pair(0, 6, 0, n - 6))["p_value"] < 0.05
    assert paired_test(*_binary_pair(0, 5, 0, n - 5))["p_value"] >= 0.05
    for disc in (0.0, 1 / n, 0.05, 0.2, 0.5):
        assert mde_mcnemar(n, disc) >= smallest
    # no discordant item: the best case, every discordant item one way (about 17 % at n = 46)
    a = np.array([1, 0] * n)[:n]
    assert mde_paired(a, a) == pytest.approx(mde_mcnemar(n, 0.0))
    if n == 46:
        assert mde_paired(a, a) == pytest.approx(0.17, abs=0.01)
    mdes = [mde_mcnemar(n, d) for d in (0.05, 0.1, 0.2, 0.4)]
    assert all(x <= y for x, y in zip(mdes, mdes[1:])) and mdes[0] < mdes[-1]  # more discordance, more noise


def test_mde_other_scores_and_edge_cases():
    af, bf = _fractional_pair(50, seed=4)
    z = stats.norm.ppf(0.975) + stats.norm.ppf(0.8)
    assert mde_paired(af, bf) == pytest.approx(z * np.sqrt(np.mean((af - bf) ** 2) / 50))
    assert np.isnan(mde_paired([], []))
    assert np.isnan(mde_mcnemar(5, 0.5))  # 5 items: nothing can be significant
    assert [mde_mcnemar(n, 0.1) for n in (100, 200, 400)] == sorted([mde_mcnemar(n, 0.1) for n in (100, 200, 400)],
                                                                     reverse=True)


# ----------------------------------------------------------------------------- compare

def test_compare_uses_the_score_interval_for_accuracies_and_bootstrap_for_points():
    a, b = _binary_pair(50, 3, 0, 33)
    r = compare(a, b)
    assert r["ci_method"] == "Tango score" and (r["ci_low"], r["ci_high"]) == score_ci(a, b)
    assert r["test"] == "exact McNemar" and r["p_value"] == pytest.approx(0.25)
    assert r["mde"] == pytest.approx(mde_mcnemar(86, 3 / 86))
    same = compare(a, a)
    assert same["ci_low"] < -0.04 and same["ci_high"] > 0.04  # not [0, 0]
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=40) * 2, rng.normal(size=40) * 2
    pts = compare(x, y)
    assert pts["ci_method"] == "percentile bootstrap" and (pts["ci_low"], pts["ci_high"]) == bootstrap_ci(x, y)


# ----------------------------------------------------------------------------- top-k vs random draws

def _runs_brute_force(y: np.ndarray) -> float:
    n, runs = y.shape
    m = runs - 1
    obs = np.mean(y[:, 0] - y[:, 1:].mean(axis=1))
    count = 0
    for labels in itertools.product(range(runs), repeat=n):
        top = y[np.arange(n), labels]
        count += np.mean(top - (y.sum(axis=1) - top) / m) >= obs - 1e-12
    return count / runs ** n


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_runs_test_exact_matches_enumeration_of_every_labelling(seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, size=(6, 4)).astype(float)
    y[:, 0] = np.maximum(y[:, 0], rng.integers(0, 2, 6))
    res = runs_exchangeable_test(y[:, 0], y[:, 1:], "greater")
    assert res["method"] == "run-label permutation (exact, 4 runs)"
    assert res["p_value"] == pytest.approx(_runs_brute_force(y))
    frac = rng.integers(0, 5, size=(5, 3)) / 4  # avg@4, two draws
    assert runs_exchangeable_test(frac[:, 0], frac[:, 1:])["p_value"] == pytest.approx(_runs_brute_force(frac))


def test_runs_test_with_one_draw_is_the_sign_flip_test_and_monte_carlo_is_close():
    a, b = _fractional_pair(14, seed=3)
    assert runs_exchangeable_test(a, b, "greater")["p_value"] == pytest.approx(
        paired_test(a, b, "greater")["p_value"])
    rng = np.random.default_rng(4)
    y = rng.normal(size=(9, 3))  # not on a grid: Monte Carlo
    res = runs_exchangeable_test(y[:, 0], y[:, 1:], n_perm=20000, seed=0)
    assert res["method"].startswith("run-label permutation (Monte Carlo")
    assert res["p_value"] == pytest.approx(_runs_brute_force(y), abs=0.015)


def test_runs_test_aligns_series_and_frames():
    idx = [f"q{i}" for i in range(8)]
    top = pd.Series([1, 1, 1, 0, 1, 1, 0, 1.0], index=idx)
    draws = pd.DataFrame({"r1": [0, 1, 0, 0, 1, 0, 0, 1.0], "r2": [0, 0, 1, 0, 1, 0, 1, 0.0]}, index=idx[::-1])
    res = runs_exchangeable_test(top, draws)
    y = np.column_stack([top.to_numpy(), draws.loc[idx, "r1"], draws.loc[idx, "r2"]])
    assert res["p_value"] == pytest.approx(_runs_brute_force(y)) and res["n"] == 8 and res["m"] == 2
    with pytest.raises(TypeError):
        runs_exchangeable_test(top, draws.to_numpy())


@pytest.mark.parametrize("n", [46, 86])
def test_runs_test_size_when_top_k_is_one_more_draw(n):
    """Simulated: 4 exchangeable runs with item-level difficulty; the one-sided test at 5 % must hold its size."""
    rng = np.random.default_rng(n)
    sims, rejections = 1500, 0
    for _ in range(sims):
        p = rng.beta(1, 1, size=n)
        y = (rng.random((n, 4)) < p[:, None]).astype(float)
        rejections += runs_exchangeable_test(y[:, 0], y[:, 1:])["p_value"] < 0.05
    assert rejections / sims <= 0.065


# ----------------------------------------------------------------------------- verdicts

@pytest.mark.parametrize("p_claim,p_opp,expected_p,side", [
    (0.01, 0.995, 0.02, "claim"), (0.9, 0.02, 0.04, "against"), (0.6, 0.6, 1.0, "claim"), (NAN, 0.1, NAN, ""),
    (0.1, None, NAN, "")])
def test_two_sided_convention(p_claim, p_opp, expected_p, side):
    p, s = two_sided(p_claim, p_opp)
    assert s == side and (p == pytest.approx(expected_p) or (np.isnan(p) and np.isnan(expected_p)))


def test_two_sided_of_one_sided_mcnemar_is_the_exact_two_sided_test():
    for cells in [(10, 7, 2, 5), (30, 1, 9, 4), (5, 4, 4, 5), (0, 12, 0, 3), (3, 1, 0, 2)]:
        a, b = _binary_pair(*cells)
        p, _ = two_sided(paired_test(a, b, "greater")["p_value"], paired_test(a, b, "less")["p_value"])
        ref = mcnemar([[cells[0], cells[1]], [cells[2], cells[3]]], exact=True).pvalue
        assert p == pytest.approx(min(1.0, ref))


@pytest.mark.parametrize("p,side,expected", [
    (0.01, "claim", "supported"), (0.01, "against", "contradicted"), (0.2, "claim", "inconclusive"),
    (0.2, "against", "inconclusive"), (0.05, "claim", "inconclusive"), (NAN, "claim", "n/a"), (None, "", "n/a"),
    (0.01, "", "n/a")])
def test_verdict_table(p, side, expected):
    assert verdict(p, side) == expected


def test_verdict_alpha():
    assert verdict(0.03, "claim", alpha=0.01) == "inconclusive"
    assert verdict(0.03, "claim", alpha=0.05) == "supported"


# ----------------------------------------------------------------------------- single proportions, clusters

@pytest.mark.parametrize("k,n", [(3, 40), (0, 20), (20, 20), (17, 46), (1, 86)])
def test_proportion_ci_matches_statsmodels(k, n):
    x = np.array([1] * k + [0] * (n - k))
    assert proportion_ci(x) == pytest.approx(proportion_confint(k, n, method="beta"), abs=1e-10)
    assert proportion_ci(x, method="wilson") == pytest.approx(proportion_confint(k, n, method="wilson"), abs=1e-10)
    assert proportion_ci(x, clusters=np.arange(n)) == pytest.approx(proportion_ci(x))  # one per cluster


def test_proportion_ci_the_issues_generator_and_clusters():
    x = np.array([1] * 3 + [0] * 37)
    assert proportion_ci(x) == pytest.approx((0.016, 0.204), abs=1e-3)  # bootstrap said [0.0, 0.175]
    # two identical samples per prompt carry one prompt's information: the same interval as one sample each
    twice = np.repeat(x, 2)
    assert proportion_ci(twice, clusters=np.repeat(np.arange(40), 2)) == pytest.approx(proportion_ci(x))
    assert proportion_ci(twice)[1] - proportion_ci(twice)[0] < proportion_ci(x)[1] - proportion_ci(x)[0]
    zero = np.zeros(80)
    assert proportion_ci(zero, clusters=np.repeat(np.arange(40), 2)) == pytest.approx(proportion_ci(zero[:40]))
    assert all(np.isnan(proportion_ci([])))
    with pytest.raises(ValueError):
        proportion_ci([0, 2])


def test_spearman_cluster_bootstrap_keeps_prompts_together():
    rng = np.random.default_rng(9)
    x = rng.normal(size=40)
    y = x + rng.normal(size=40)
    plain = spearman_ci(x, y)
    x3, y3, cl = np.repeat(x, 3), np.repeat(y, 3), np.repeat(np.arange(40), 3)
    naive = spearman_ci(x3, y3)
    clustered = spearman_ci(x3, y3, clusters=cl)
    width = plain["ci_high"] - plain["ci_low"]
    assert naive["ci_high"] - naive["ci_low"] < 0.75 * width  # tripled rows look like more evidence
    assert clustered["ci_high"] - clustered["ci_low"] == pytest.approx(width, rel=0.25)
    assert clustered["n_clusters"] == 40 and clustered["rho"] == pytest.approx(naive["rho"])
    boots = cluster_bootstrap(lambda rows: float(len(np.unique(cl[rows]))), cl, n_boot=50)
    assert (boots <= 40).all() and boots.mean() < 35  # resampled with replacement, whole clusters
    sizes = cluster_bootstrap(lambda rows: float(len(rows)), cl, n_boot=20)
    assert (sizes == 120).all()


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
