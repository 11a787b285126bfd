"""Paired statistics for comparing models on the same evaluation items.

Every comparison in the findings table is *paired*: models A and B answer the same
items, and per item each model's score is its correctness, 0/1 for greedy decoding or
a mean over k samples in [0, 1] (avg@k). We work with the per-item differences
d = a - b; b_+ and b_- below are the items (or, for avg@k, the summed positive and
negative parts of d) where A, respectively B, is ahead.

Which test answers which question:

- ``paired_test`` -- "is A different from (better than) B?" (superiority).
  With 0/1 scores on both sides it is the exact McNemar test: only the discordant
  items carry information, and under H0 each is equally likely to favour A or B, so
  n_pos ~ Binomial(n_pos + n_neg, 1/2). Otherwise the sign-flip permutation test on
  mean(d) (H0: A and B are exchangeable within an item, so d is symmetric about 0).
  Both are exact (or Monte Carlo with a stated number of draws).
- ``runs_exchangeable_test`` -- "does the top-k run beat m random draws of the same
  size?" The draws are runs, not noise around one mean: H0 is "top-k is one more
  random draw", i.e. the m + 1 runs are exchangeable within each item. The run labels
  are permuted within each item (each of the m + 1 runs equally likely to be the one
  called top-k); statistic: top-k's mean minus the mean of the others. The null
  distribution is a sum of independent per-item uniforms, convolved exactly when the
  scores lie on a grid of 1/K (K <= 64: 0/1 or avg@k), else Monte Carlo.
- ``score_test`` / ``score_ci`` -- Tango's (1998) score test and score interval for a
  difference of paired proportions, H0: E[d] = delta0. The variance is evaluated at
  the restricted maximum likelihood estimate under H0, so it never collapses: with no
  discordant item at n = 86 the 95 % interval is about +-4.3 points, not [0, 0]. For
  avg@k scores the same statistic is applied to b_+ = sum(max(d, 0)) and
  b_- = sum(max(-d, 0)): its variance is then an upper bound (|d| <= 1 gives
  Var(d) <= E|d| - E[d]^2, which is the binary model's variance at the same b_+, b_-),
  so the test is conservative there but valid, and exactly Tango's for 0/1 data. A
  t-test on such data is not used anywhere: its variance estimate is 0 (p = 0) when
  no item is discordant and far too small when one or two are.
- ``compare`` -- the one summary every table reports: diff, two-sided exact p, the
  95 % CI (``score_ci`` for scores in [0, 1]; percentile bootstrap, ``bootstrap_ci``,
  only for unbounded scores such as judged points) and ``mde_paired``.
- ``mde_paired`` -- what the data *could* have detected: the smallest difference
  the exact two-sided McNemar test at `alpha` detects with the given power, by exact
  enumeration over the discordant count. Assumption: the discordance rate is the
  observed one, but at least the difference itself (a difference of x needs at least
  a share x of discordant items). So the MDE is never below the smallest difference
  the exact test can declare significant at that n. Report it next to every
  inconclusive result: "no significant difference" reads "no difference larger than
  the MDE was ruled in", never "no difference".
- ``noninferiority`` -- "A is not worse than B by more than a margin": one-sided
  score test of H0 E[d] <= -margin. ``inferiority_p`` is the opposite one-sided test
  (H1 E[d] < -margin), which can *contradict* the claim.
- ``equivalence`` -- "A and B perform the same, within +-margin": TOST, two
  one-sided score tests (p = the larger). Its ``p_outside`` is the smaller of the two
  one-sided p-values for a difference *beyond* the margin (H1 E[d] > margin or
  E[d] < -margin): only that contradicts equivalence, never a significant difference
  inside the margin.
- ``proportion_ci`` -- a single proportion (an accuracy): Clopper-Pearson, or Wilson,
  with the Korn-Graubard effective sample size when observations cluster (several
  samples per prompt or item): n_eff = p(1 - p) / Var_cluster(p), capped at n.
- ``two_sided``, ``holm``, ``verdict`` -- the sidedness convention and the decision.
  Every claim is decided by one two-sided p-value: twice the smaller of its two
  one-sided p-values (the claim's direction and the opposite one), capped at 1; the
  verdict follows the side that is smaller. Equivalently each direction is tested
  one-sided at alpha / 2: for "beats", non-inferiority and equivalence alike the
  claim is supported when the 95 % interval lies on the claim's side of its boundary
  (0, -margin, inside +-margin), contradicted when it lies on the other side. One Holm
  family per table, one p-value per row. Absence of evidence is never "supported".
- ``spearman_ci`` -- rank correlation with a pairs-bootstrap CI, resampling whole
  clusters (prompts) when `clusters` is given. ``cluster_bootstrap`` is the general
  helper. ``auc_ci`` (DeLong) and ``tie_share`` as documented below.

Inputs ``a``, ``b`` are aligned 1-D arrays, or two pandas Series which are aligned on
their index (inner join). Pairs where either side is NaN are dropped. A Series paired
with a plain array is refused, because positional alignment of an indexed object is
a silent source of wrong pairings.
"""
from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import numpy as np
from scipy import stats

__all__ = [
    "paired_test",
    "runs_exchangeable_test",
    "score_test",
    "score_ci",
    "bootstrap_ci",
    "cluster_bootstrap",
    "compare",
    "mde_paired",
    "mde_mcnemar",
    "holm",
    "two_sided",
    "noninferiority",
    "inferiority_p",
    "equivalence",
    "verdict",
    "proportion_ci",
    "spearman_ci",
    "auc_ci",
    "tie_share",
]

_ALTERNATIVES = ("two-sided", "greater", "less")
_EXACT_MAX_NONZERO = 16  # 2**16 sign patterns are enumerated exactly
_CHUNK_CELLS = 2_000_000  # max array cells per chunk of resamples, to bound memory
_GRID_MAX = 64  # scores on a grid of 1/K, K <= 64, get exact convolutions


# ----------------------------------------------------------------------------- helpers

def _is_series(x: Any) -> bool:
    # duck-typed so that the module does not need to import pandas
    return hasattr(x, "index") and hasattr(x, "align") and hasattr(x, "to_numpy")


def _as_1d(x: Any, name: str) -> np.ndarray:
    arr = np.asarray(x.to_numpy() if _is_series(x) else x, dtype=float)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    return arr


def _paired(a: Any, b: Any) -> tuple[np.ndarray, np.ndarray]:
    """Return aligned float arrays (a, b) with NaN pairs dropped."""
    if _is_series(a) and _is_series(b):
        if not (a.index.is_unique and b.index.is_unique):
            raise ValueError("Series index must be unique to align paired items")
        a, b = a.align(b, join="inner")
    elif _is_series(a) or _is_series(b):
        raise TypeError("pass both a and b as pandas Series (aligned on index) or neither")
    x, y = _as_1d(a, "a"), _as_1d(b, "b")
    if x.shape != y.shape:
        raise ValueError(f"a and b must have the same length, got {len(x)} and {len(y)}")
    keep = ~(np.isnan(x) | np.isnan(y))
    return x[keep], y[keep]


def _diffs(a: Any, b: Any) -> np.ndarray:
    x, y = _paired(a, b)
    return x - y


def _is_binary(x: np.ndarray) -> bool:
    return bool(np.all((x == 0) | (x == 1)))


def _check_alternative(alternative: str) -> None:
    if alternative not in _ALTERNATIVES:
        raise ValueError(f"alternative must be one of {_ALTERNATIVES}, got {alternative!r}")


def _check_margin(margin: float) -> float:
    margin = float(margin)
    if not margin >= 0:
        raise ValueError(f"margin must be >= 0, got {margin}")
    return margin


def _is_missing(x: float | None) -> bool:
    return x is None or bool(np.isnan(x))


def _count_extreme(sums: np.ndarray, observed: float, alternative: str) -> int:
    """Number of null sums at least as extreme as the observed one (float-tolerant)."""
    tol = 1e-9 * max(1.0, abs(observed))
    if alternative == "greater":
        hits = sums >= observed - tol
    elif alternative == "less":
        hits = sums <= observed + tol
    else:
        hits = np.abs(sums) >= abs(observed) - tol
    return int(hits.sum())


def _chunks(total: int, width: int) -> list[int]:
    """Split `total` resamples into chunks of at most _CHUNK_CELLS cells each."""
    size = max(1, _CHUNK_CELLS // max(1, width))
    return [min(size, total - start) for start in range(0, total, size)]


def _constant(d: np.ndarray) -> bool:
    return bool(np.all(d == d[0]))


# ----------------------------------------------------------------------------- tests

def paired_test(a: Any, b: Any, alternative: str = "two-sided", n_perm: int = 20000,
                seed: int = 0) -> dict[str, Any]:
    """Exact paired test of mean(a - b) = 0.

    Binary scores on both sides: exact McNemar test, i.e. a binomial test of the
    n_pos items where only A is right against the n_neg items where only B is right,
    p = 1/2 (``scipy.stats.binomtest``). Otherwise: sign-flip permutation test on
    mean(d), enumerated exactly when at most 16 items have d != 0, else with `n_perm`
    Monte Carlo sign draws (p = (1 + count) / (1 + n_perm), seeded by `seed`).

    ``alternative="greater"`` means the alternative "A is better than B".
    Returns dict with ``diff`` (mean d), ``p_value``, ``n``, ``method``, ``n_pos``,
    ``n_neg``. With no items: diff and p are NaN, method "n/a". With no item where the
    models differ: p = 1.0.
    """
    _check_alternative(alternative)
    x, y = _paired(a, b)
    d = x - y
    n = len(d)
    n_pos, n_neg = int((d > 0).sum()), int((d < 0).sum())
    out: dict[str, Any] = {"diff": float("nan"), "p_value": float("nan"), "n": n,
                           "method": "n/a", "n_pos": n_pos, "n_neg": n_neg}
    if n == 0:
        return out
    out["diff"] = float(d.mean())

    if _is_binary(x) and _is_binary(y):
        out["method"] = "exact McNemar"
        discordant = n_pos + n_neg
        out["p_value"] = (1.0 if discordant == 0 else
                          float(stats.binomtest(n_pos, discordant, 0.5,
                                                alternative=alternative).pvalue))
        return out

    nz = d[d != 0]
    observed = float(nz.sum())  # mean(d) up to the constant factor 1/n
    if len(nz) <= _EXACT_MAX_NONZERO:
        out["method"] = "sign-flip permutation (exact)"
        if len(nz) == 0:
            out["p_value"] = 1.0
            return out
        signs = np.array(list(itertools.product((1.0, -1.0), repeat=len(nz))))
        count = _count_extreme(signs @ nz, observed, alternative)
        out["p_value"] = count / len(signs)
        return out

    out["method"] = "sign-flip permutation (Monte Carlo)"
    rng = np.random.default_rng(seed)
    count = 0
    for size in _chunks(n_perm, len(nz)):
        signs = rng.choice(np.array([1.0, -1.0]), size=(size, len(nz)))
        count += _count_extreme(signs @ nz, observed, alternative)
    out["p_value"] = (1 + count) / (1 + n_perm)
    return out


def bootstrap_ci(d_or_a: Any, b: Any = None, n_boot: int = 2000, seed: int = 0,
                 level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap CI of the mean paired difference.

    Pass either the differences d, or the two score vectors a and b (then d = a - b).
    Items are resampled with replacement `n_boot` times; the CI is the
    ((1-level)/2, (1+level)/2) quantiles of the resampled means. (NaN, NaN) when n == 0.
    """
    if b is None:
        d = _as_1d(d_or_a, "d")
        d = d[~np.isnan(d)]
    else:
        d = _diffs(d_or_a, b)
    n = len(d)
    if n == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    means = np.concatenate([d[rng.integers(0, n, size=(size, n))].mean(axis=1)
                            for size in _chunks(n_boot, n)])
    tail = (1 - level) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return float(low), float(high)


def _is_unit(x: np.ndarray) -> bool:
    return bool(np.all((x >= 0) & (x <= 1)))


def _parts(d: np.ndarray) -> tuple[float, float]:
    """b_+ and b_-: the discordant counts for 0/1 scores, the summed positive / negative parts of d for avg@k."""
    return float(np.clip(d, 0, None).sum()), float(np.clip(-d, 0, None).sum())


def _tango_z(b: Any, c: Any, n: float, delta: Any) -> np.ndarray:
    """Tango's score statistic for H0 E[d] = delta, vectorised over b, c and delta (broadcast).

    z = (b - c - n delta) / sqrt(n (2 q + delta (1 - delta))), where q is the restricted MLE of the
    probability that only B is right: the root of 2n q^2 + B q + C = 0 with B = -b - c + (2n - b + c) delta,
    C = -c delta (1 - delta) (Tango 1998, eq. 3). z is +-inf where the null variance is 0 and the
    numerator is not (delta = +-1), and 0 where both are 0.
    """
    b, c, delta = (np.asarray(v, dtype=float) for v in (b, c, delta))
    A = 2.0 * n
    B = -b - c + (2.0 * n - b + c) * delta
    C = -c * delta * (1.0 - delta)
    root = np.sqrt(np.maximum(B * B - 4.0 * A * C, 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        # the numerically stable form of (root - B) / 2A when B > 0
        q = np.where(B > 0, -2.0 * C / (root + B), (root - B) / (2.0 * A))
        q = np.clip(np.nan_to_num(q, nan=0.0), 0.0, None)
        var = n * (2.0 * q + delta * (1.0 - delta))
        num = b - c - n * delta
        z = num / np.sqrt(np.maximum(var, 0.0))
    edge = np.where(num > 0, np.inf, np.where(num < 0, -np.inf, 0.0))
    return np.where(var > 1e-12 * n, z, edge)


def _z_to_p(z: np.ndarray, alternative: str) -> np.ndarray:
    if alternative == "greater":
        return stats.norm.sf(z)
    if alternative == "less":
        return stats.norm.cdf(z)
    return np.minimum(1.0, 2.0 * stats.norm.sf(np.abs(z)))


def _score_bounds(b: Any, c: Any, n: float, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Tango score interval {delta: |z(delta)| < z_crit}, vectorised over b, c: bisection on (-1, 1)."""
    b, c = np.broadcast_arrays(np.asarray(b, dtype=float), np.asarray(c, dtype=float))
    crit = stats.norm.ppf(1 - (1 - level) / 2)
    center = (b - c) / n  # z(center) = 0; z decreases in delta
    bounds = []
    for target, lo, hi in ((crit, -np.ones_like(b), center), (-crit, center, np.ones_like(b))):
        # find delta in [lo, hi] with z(delta) = target (z(lo) >= target >= z(hi))
        lo, hi = lo.copy(), hi.copy()
        for _ in range(60):
            mid = (lo + hi) / 2
            above = _tango_z(b, c, n, mid) > target
            lo, hi = np.where(above, mid, lo), np.where(above, hi, mid)
        bounds.append((lo + hi) / 2)
    return bounds[0], bounds[1]


def _unit_diffs(a: Any, b: Any, what: str) -> np.ndarray:
    x, y = _paired(a, b)
    if not (_is_unit(x) and _is_unit(y)):
        raise ValueError(f"{what} needs scores in [0, 1] (accuracies, 0/1 or avg@k)")
    return x - y


def score_test(a: Any, b: Any, delta0: float = 0.0, alternative: str = "greater") -> dict[str, Any]:
    """Tango's score test of H0 E[a - b] = delta0 for paired scores in [0, 1].

    ``alternative="greater"``: H1 E[d] > delta0. 0/1 scores: Tango (1998); avg@k scores: the same statistic on
    b_+ = sum(max(d, 0)), b_- = sum(max(-d, 0)), whose variance bounds Var(d) from above (conservative).
    Returns diff, z, p_value, n, n_pos (b_+), n_neg (b_-), method. NaN with no items.
    """
    _check_alternative(alternative)
    x, y = _paired(a, b)
    d = _unit_diffs(x, y, "score_test")
    n = len(d)
    binary = _is_binary(x) and _is_binary(y)
    out: dict[str, Any] = {"diff": float("nan"), "z": float("nan"), "p_value": float("nan"), "n": n,
                           "n_pos": float("nan"), "n_neg": float("nan"),
                           "method": "Tango score" if binary else "Tango score on the parts of d (avg@k)"}
    if n == 0:
        return out
    bp, bn = _parts(d)
    z = float(_tango_z(bp, bn, n, delta0))
    out.update(diff=float(d.mean()), z=z, p_value=float(_z_to_p(z, alternative)), n_pos=bp, n_neg=bn)
    return out


def score_ci(a: Any, b: Any, level: float = 0.95) -> tuple[float, float]:
    """Tango's score interval for E[a - b], scores in [0, 1] (see ``score_test``). (NaN, NaN) when n == 0.

    It inverts the two-sided score test, so it never has width 0: with no discordant item of n it is
    about +-z^2 / (n + z^2) (+-7.7 points at n = 46, +-4.3 at n = 86 for 95 %).
    """
    d = _unit_diffs(a, b, "score_ci")
    n = len(d)
    if n == 0:
        return float("nan"), float("nan")
    low, high = _score_bounds(*_parts(d), n, level)
    return float(low), float(high)


def _grid(values: np.ndarray) -> int | None:
    """The smallest K <= 64 with every value a multiple of 1/K, else None."""
    for k in range(1, _GRID_MAX + 1):
        if np.allclose(values * k, np.round(values * k), rtol=0, atol=1e-9):
            return k
    return None


def _runs_matrix(top: Any, draws: Any) -> np.ndarray:
    """Items x (1 + m) scores, top-k first; Series / DataFrames aligned on the index, rows with NaN dropped."""
    if _is_series(top) and hasattr(draws, "columns"):
        both = draws.join(top.rename("__top__"), how="inner")
        y = both[["__top__", *draws.columns]].to_numpy(dtype=float)
    elif _is_series(top) or hasattr(draws, "columns"):
        raise TypeError("pass top as a Series with draws as a DataFrame (aligned on index), or neither")
    else:
        dr = np.asarray(draws, dtype=float)
        dr = dr[:, None] if dr.ndim == 1 else dr
        y = np.column_stack([_as_1d(top, "top"), dr])
    return y[~np.isnan(y).any(axis=1)]


def runs_exchangeable_test(top: Any, draws: Any, alternative: str = "greater", n_perm: int = 20000,
                           seed: int = 0) -> dict[str, Any]:
    """Top-k run against m random runs, H0: the m + 1 runs are exchangeable within each item.

    `draws` holds one column per random run (a DataFrame aligned with the Series `top`, or an items x m array).
    Statistic: mean over items of top-k's score minus the mean of the draws' scores. Under H0 the run labels are
    permuted within each item: each item independently makes any of its m + 1 runs "top-k", with probability
    1 / (m + 1). The null distribution of the sum over items is convolved exactly when every score is a
    multiple of 1/K (K <= 64: 0/1 or avg@k); otherwise `n_perm` Monte Carlo relabellings (seeded,
    p = (1 + count) / (1 + n_perm)). With m = 1 this is the sign-flip test. ``alternative="greater"``: top-k better.
    Returns diff, p_value, n, m, method.
    """
    _check_alternative(alternative)
    y = _runs_matrix(top, draws)
    n, m = y.shape[0], y.shape[1] - 1
    out: dict[str, Any] = {"diff": float("nan"), "p_value": float("nan"), "n": n, "m": m, "method": "n/a"}
    if n == 0 or m < 1:
        return out
    total = y.sum(axis=1, keepdims=True)
    v = ((m + 1) * y - total) / m  # item i's statistic if run j is the one labelled top-k
    observed = float(v[:, 0].sum())
    out["diff"] = observed / n
    k = _grid(y)
    if k is not None:
        w = np.round(((m + 1) * y - total) * k).astype(np.int64)  # integers: v = w / (m k)
        lo = w.min(axis=1)
        pmf = np.ones(1)
        for row, base in zip(w, lo):
            item = np.bincount(row - base, minlength=1) / (m + 1)
            pmf = np.convolve(pmf, item)
        s_obs = int(w[:, 0].sum() - lo.sum())
        p_ge, p_le = float(pmf[s_obs:].sum()), float(pmf[: s_obs + 1].sum())
        out["method"] = f"run-label permutation (exact, {m + 1} runs)"
    else:
        rng = np.random.default_rng(seed)
        ge = le = 0
        tol = 1e-9 * max(1.0, abs(observed))
        for size in _chunks(n_perm, n):
            pick = rng.integers(0, m + 1, size=(size, n))
            sums = v[np.arange(n)[None, :], pick].sum(axis=1)
            ge += int((sums >= observed - tol).sum())
            le += int((sums <= observed + tol).sum())
        p_ge, p_le = (1 + ge) / (1 + n_perm), (1 + le) / (1 + n_perm)
        out["method"] = f"run-label permutation (Monte Carlo, {n_perm} draws, seed {seed})"
    p = {"greater": p_ge, "less": p_le, "two-sided": min(1.0, 2 * min(p_ge, p_le))}[alternative]
    out["p_value"] = min(1.0, p)
    return out


def compare(a: Any, b: Any, seed: int = 0) -> dict[str, Any]:
    """A - B on the same items: the mean difference with its 95 % CI, the exact paired test's two-sided
    p-value and method, the discordant counts and the minimum detectable effect (alpha 0.05, power 0.8).
    The CI is Tango's score interval for scores in [0, 1] (accuracies), a percentile bootstrap otherwise
    (judged points); ``ci_method`` says which. The one summary every table in the study reports."""
    t = paired_test(a, b, seed=seed)
    x, y = _paired(a, b)
    if len(x) and _is_unit(x) and _is_unit(y):
        (low, high), ci_method = score_ci(x, y), "Tango score"
    else:
        (low, high), ci_method = bootstrap_ci(x - y, seed=seed), "percentile bootstrap"
    test = t.pop("method")  # named `test` here: tables that hold it also hold a training `method`
    return {**t, "test": test, "ci_low": low, "ci_high": high, "ci_method": ci_method, "mde": mde_paired(x, y)}


def _mcnemar_critical(n: int, alpha: float) -> np.ndarray:
    """For each discordant count D = 0..n, the smallest n_pos the exact two-sided McNemar test rejects at
    (p < alpha); D + 1 where none. p = min(1, 2 P(X >= n_pos)), X ~ Binomial(D, 1/2), n_pos >= D / 2."""
    D = np.arange(n + 1)
    k = np.asarray(stats.binom.isf(alpha / 2, D, 0.5), dtype=float) + 1  # P(X >= k) <= alpha / 2
    k = np.where(2 * stats.binom.sf(k - 1, D, 0.5) >= alpha, k + 1, k)  # p < alpha is strict
    k = np.maximum(k, np.ceil(D / 2))
    return np.where(k <= D, k, D + 1)


def _mcnemar_power(n: int, discordance: float, delta: float, crit: np.ndarray) -> float:
    psi = max(discordance, delta)
    if psi <= 0:
        return 0.0
    D = np.arange(n + 1)
    r = min(1.0, (psi + delta) / (2 * psi))  # share of the discordant items on which A is right
    ok = crit <= D
    up = stats.binom.sf(crit - 1, D, r)
    down = stats.binom.cdf(D - crit, D, r)
    return float(np.sum(stats.binom.pmf(D, n, psi) * np.where(ok, up + down, 0.0)))


def mde_mcnemar(n: int, discordance: float, alpha: float = 0.05, power: float = 0.8) -> float:
    """Smallest difference in accuracy the exact two-sided McNemar test detects with `power` on n items.

    Exact: the power sums, over the discordant count D ~ Binomial(n, psi) and n_pos | D ~ Binomial(D, r),
    the probability of the test's rejection region. The assumed discordance psi is the given rate, but at least
    the difference itself (a difference x needs a share >= x of discordant items); r = (psi + x) / (2 psi).
    Found by bisection (power is increasing in x). NaN when n == 0 or no difference reaches the power
    (fewer items than the smallest significant discordant count).
    """
    n = int(n)
    if n <= 0:
        return float("nan")
    crit = _mcnemar_critical(n, alpha)
    if _mcnemar_power(n, discordance, 1.0, crit) < power:
        return float("nan")
    lo, hi = 0.0, 1.0
    for _ in range(40):
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if _mcnemar_power(n, discordance, mid, crit) >= power else (mid, hi)
    return float(hi)


def mde_paired(a: Any, b: Any, alpha: float = 0.05, power: float = 0.8) -> float:
    """Minimum detectable effect (absolute difference in mean accuracy) of the paired test on these items.

    0/1 scores: ``mde_mcnemar`` at the observed discordance rate (exact enumeration; never below the smallest
    difference the exact test can declare significant at this n). Other scores (avg@k, judged points): the
    normal approximation for the sign-flip test, (z_{1-alpha/2} + z_power) * sqrt(mean(d**2) / n), with one
    discordant item's worth (mean(d**2) = 1/n) when every d is 0. NaN when n == 0.
    """
    x, y = _paired(a, b)
    d = x - y
    n = len(d)
    if n == 0:
        return float("nan")
    if _is_binary(x) and _is_binary(y):
        return mde_mcnemar(n, float(np.mean(d != 0)), alpha, power)
    second = float(np.mean(d ** 2)) or 1.0 / n
    z = stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power)
    return float(z * np.sqrt(second / n))


def holm(p_values: Any) -> np.ndarray:
    """Holm step-down adjusted p-values (family-wise error control).

    The k-th smallest of the m p-values is multiplied by (m - k + 1), running maxima
    are taken so the order is preserved, and values are capped at 1. NaN (or None)
    inputs stay NaN and do not count towards m. Same shape as the input.
    """
    p = np.asarray(p_values, dtype=float)
    out = np.full(p.shape, np.nan)
    flat_p, flat_out = p.ravel(), out.reshape(-1)
    idx = np.flatnonzero(~np.isnan(flat_p))
    vals = flat_p[idx]
    if np.any((vals < 0) | (vals > 1)):
        raise ValueError("p-values must lie in [0, 1]")
    m = len(vals)
    if m:
        order = np.argsort(vals, kind="mergesort")
        adjusted = np.maximum.accumulate(vals[order] * np.arange(m, 0, -1))
        flat_out[idx[order]] = np.minimum(adjusted, 1.0)
    return out


def two_sided(p_claim: float | None, p_opposite: float | None) -> tuple[float, str]:
    """The table's convention: (min(1, 2 * min(p_claim, p_opposite)), the side of the smaller one).

    p_claim is the one-sided p-value in the claim's direction, p_opposite the one against it; the side is
    "claim" or "against" ("" and NaN when either is missing). Holm then adjusts this one p-value per row.
    """
    if _is_missing(p_claim) or _is_missing(p_opposite):
        return float("nan"), ""
    side = "claim" if p_claim <= p_opposite else "against"
    return float(min(1.0, 2.0 * min(p_claim, p_opposite))), side


def noninferiority(a: Any, b: Any, margin: float, alpha: float = 0.05) -> dict[str, Any]:
    """Non-inferiority of A against B: H0 E[d] <= -margin vs H1 E[d] > -margin, scores in [0, 1].

    One-sided Tango score test at delta0 = -margin (``score_test``). ``lower`` is the one-sided (1 - alpha)
    lower score-confidence bound; p < alpha exactly when lower > -margin. With no discordant item p is the
    score test's (about 0.017 at n = 86, margin 0.05), never 0. NaN when n == 0.
    """
    margin = _check_margin(margin)
    r = score_test(a, b, -margin, "greater")
    out: dict[str, Any] = {"diff": r["diff"], "p_value": r["p_value"], "margin": margin, "n": r["n"],
                           "lower": float("nan"), "method": f"{r['method']}, non-inferiority"}
    if r["n"]:
        out["lower"] = score_ci(a, b, level=1 - 2 * alpha)[0]
    return out


def inferiority_p(a: Any, b: Any, margin: float) -> float:
    """One-sided score-test p-value for H1 E[d] < -margin (A worse by more than the margin): the opposite of
    ``noninferiority``, which can contradict it. NaN when n == 0."""
    margin = _check_margin(margin)
    return score_test(a, b, -margin, "less")["p_value"]


def equivalence(a: Any, b: Any, margin: float, alpha: float = 0.05) -> dict[str, Any]:
    """Equivalence of A and B within +-margin: TOST with two one-sided Tango score tests, scores in [0, 1].

    H0: |E[d]| >= margin vs H1: -margin < E[d] < margin; p = the larger of the two one-sided p-values
    (E[d] > -margin, E[d] < margin). ``ci_low``, ``ci_high``: the (1 - 2 alpha) score interval; p < alpha
    exactly when it lies inside (-margin, margin). ``p_outside``: the smaller of the one-sided p-values for
    E[d] > margin and E[d] < -margin -- a significant difference *beyond* the margin, the only thing that
    contradicts equivalence. NaN when n == 0.
    """
    margin = _check_margin(margin)
    low_in = score_test(a, b, -margin, "greater")
    n = low_in["n"]
    out: dict[str, Any] = {"diff": low_in["diff"], "p_value": float("nan"), "p_outside": float("nan"),
                           "margin": margin, "n": n, "ci_low": float("nan"), "ci_high": float("nan"),
                           "method": f"{low_in['method']}, TOST"}
    if n == 0:
        return out
    z_low, z_high = low_in["z"], score_test(a, b, margin, "less")["z"]
    out["p_value"] = float(max(stats.norm.sf(z_low), stats.norm.cdf(z_high)))
    out["p_outside"] = float(min(stats.norm.cdf(z_low), stats.norm.sf(z_high)))
    out["ci_low"], out["ci_high"] = score_ci(a, b, level=1 - 2 * alpha)
    return out


def verdict(p_value: float | None, side: str | None, *, alpha: float = 0.05) -> str:
    """Map a row's (Holm-adjusted) two-sided p-value and side (``two_sided``) to a verdict.

    "n/a" when the p-value is missing; "supported" when p < alpha on the claim's side, "contradicted" when
    p < alpha on the other side; otherwise "inconclusive": failing to reject is never "supported".
    """
    if _is_missing(p_value) or side not in ("claim", "against"):
        return "n/a"
    if p_value < alpha:
        return "supported" if side == "claim" else "contradicted"
    return "inconclusive"


def proportion_ci(x: Any, clusters: Any = None, level: float = 0.95,
                  method: str = "clopper-pearson") -> tuple[float, float]:
    """CI of a single proportion (an accuracy) from 0/1 (or [0, 1]) observations `x`.

    ``method`` "clopper-pearson" (exact) or "wilson". When `clusters` (e.g. the prompt or item of each
    observation) puts several observations in one unit, the Korn-Graubard effective sample size replaces n:
    n_eff = p (1 - p) / Var(p), Var(p) = sum_c (y_c - p m_c)^2 / (sum_c m_c)^2 (cluster totals y_c, sizes
    m_c), capped at n; when p is 0 or 1 the number of clusters. One observation per cluster gives n_eff = n,
    the plain interval. (NaN, NaN) with no observations. Example: 3 of 40 -> Clopper-Pearson [1.6 %, 20.4 %].
    """
    v = _as_1d(x, "x")
    keep = ~np.isnan(v)
    v = v[keep]
    n = len(v)
    if n == 0:
        return float("nan"), float("nan")
    if not _is_unit(v):
        raise ValueError("proportion_ci needs observations in [0, 1]")
    p = float(v.mean())
    n_eff = float(n)
    if clusters is not None:
        cl = np.asarray(clusters.to_numpy() if _is_series(clusters) else clusters).astype(str)[keep]
        _, inv = np.unique(cl, return_inverse=True)
        y_c, m_c = np.bincount(inv, weights=v), np.bincount(inv).astype(float)
        var = float(np.sum((y_c - p * m_c) ** 2) / n ** 2)
        if p in (0.0, 1.0):
            n_eff = float(len(m_c))
        elif var > 0:
            n_eff = min(float(n), p * (1 - p) / var)
    alpha = 1 - level
    if method == "wilson":
        z = stats.norm.ppf(1 - alpha / 2)
        center = (p + z * z / (2 * n_eff)) / (1 + z * z / n_eff)
        half = z * np.sqrt(p * (1 - p) / n_eff + z * z / (4 * n_eff ** 2)) / (1 + z * z / n_eff)
        return float(max(0.0, center - half)), float(min(1.0, center + half))
    if method != "clopper-pearson":
        raise ValueError(f"method must be 'clopper-pearson' or 'wilson', got {method!r}")
    k = p * n_eff
    low = 0.0 if k <= 0 else float(stats.beta.ppf(alpha / 2, k, n_eff - k + 1))
    high = 1.0 if k >= n_eff else float(stats.beta.ppf(1 - alpha / 2, k + 1, n_eff - k))
    return low, high


def cluster_bootstrap(statistic: Callable[[np.ndarray], float], clusters: Any, n_boot: int = 2000,
                      seed: int = 0) -> np.ndarray:
    """`n_boot` values of `statistic(rows)`, where `rows` indexes a resample of whole clusters.

    Each resample draws as many clusters as there are, with replacement, and keeps every row of each drawn
    cluster (the units that share a prompt stay together). NaN statistics are returned as they are.
    """
    cl = np.asarray(clusters.to_numpy() if _is_series(clusters) else clusters).astype(str)
    _, inv = np.unique(cl, return_inverse=True)
    order = np.argsort(inv, kind="stable")
    starts = np.searchsorted(inv[order], np.arange(inv.max() + 1 if len(inv) else 0))
    groups = np.split(order, starts[1:]) if len(inv) else []
    rng = np.random.default_rng(seed)
    out = np.empty(n_boot)
    for i in range(n_boot):
        pick = rng.integers(0, len(groups), len(groups))
        out[i] = statistic(np.concatenate([groups[g] for g in pick]))
    return out


def _quantiles(values: np.ndarray, level: float) -> tuple[float, float]:
    values = values[~np.isnan(values)]
    if not len(values):
        return float("nan"), float("nan")
    tail = (1 - level) / 2
    low, high = np.quantile(values, [tail, 1 - tail])
    return float(low), float(high)


def _spearman(x: np.ndarray, y: np.ndarray) -> float:
    if len(x) < 3 or _constant(x) or _constant(y):
        return float("nan")
    return float(np.corrcoef(stats.rankdata(x), stats.rankdata(y))[0, 1])


# ----------------------------------------------------------------------------- other

def spearman_ci(x: Any, y: Any, n_boot: int = 1000, seed: int = 0,
                level: float = 0.95, clusters: Any = None) -> dict[str, Any]:
    """Spearman rank correlation with a percentile pairs-bootstrap CI.

    rho is ``scipy.stats.spearmanr(x, y)``. The CI resamples (x, y) pairs with
    replacement; resamples in which either side is constant are skipped. With
    `clusters` (one label per pair, e.g. the prompt; x, y then positional), whole
    clusters are resampled (``cluster_bootstrap``), so pairs that share a prompt stay
    together. rho and CI are NaN when n < 3 or either input is constant.
    """
    if clusters is None:
        xs, ys = _paired(x, y)
    else:
        xs, ys = _as_1d(x, "x"), _as_1d(y, "y")
        cl = np.asarray(clusters.to_numpy() if _is_series(clusters) else clusters)
        if not len(xs) == len(ys) == len(cl):
            raise ValueError("x, y and clusters must have the same length")
        keep = ~(np.isnan(xs) | np.isnan(ys))
        xs, ys, cl = xs[keep], ys[keep], cl[keep]
    n = len(xs)
    out: dict[str, Any] = {"rho": float("nan"), "ci_low": float("nan"),
                           "ci_high": float("nan"), "n": n}
    if n < 3 or _constant(xs) or _constant(ys):
        return out
    out["rho"] = float(stats.spearmanr(xs, ys).statistic)
    if clusters is not None:
        boots = cluster_bootstrap(lambda rows: _spearman(xs[rows], ys[rows]), cl, n_boot, seed)
        out["ci_low"], out["ci_high"] = _quantiles(boots, level)
        out["n_clusters"] = int(len(np.unique(cl.astype(str))))
        return out
    rng = np.random.default_rng(seed)
    rhos = []
    for size in _chunks(n_boot, 2 * n):
        idx = rng.integers(0, n, size=(size, n))
        rx = stats.rankdata(xs[idx], axis=1)
        ry = stats.rankdata(ys[idx], axis=1)
        rx -= rx.mean(axis=1, keepdims=True)
        ry -= ry.mean(axis=1, keepdims=True)
        sxx, syy = (rx ** 2).sum(axis=1), (ry ** 2).sum(axis=1)
        ok = (sxx > 0) & (syy > 0)
        rhos.append((rx * ry).sum(axis=1)[ok] / np.sqrt(sxx[ok] * syy[ok]))
    rhos_all = np.concatenate(rhos)
    if len(rhos_all):
        tail = (1 - level) / 2
        low, high = np.quantile(rhos_all, [tail, 1 - tail])
        out["ci_low"], out["ci_high"] = float(low), float(high)
    return out


def auc_ci(scores: Any, labels: Any, level: float = 0.95) -> dict[str, Any]:
    """AUC of `scores` for separating positives (label True/1) from negatives, DeLong CI.

    AUC = P(score of a random positive > score of a random negative), ties counting
    1/2, i.e. ``mannwhitneyu(pos, neg).statistic / (n_pos * n_neg)``. The CI is
    auc +- z * SE with DeLong's variance (placement values, computed via midranks),
    clipped to [0, 1]. Note that DeLong's SE is 0 for perfectly separated data, which
    gives a degenerate CI [auc, auc]. AUC is NaN when either class is empty; the CI
    is NaN when either class has fewer than 2 items.
    """
    s, lab = _paired(scores, labels)
    if not _is_binary(lab):
        raise ValueError("labels must be boolean or 0/1")
    pos, neg = s[lab == 1], s[lab == 0]
    m, k = len(pos), len(neg)
    out: dict[str, Any] = {"auc": float("nan"), "ci_low": float("nan"),
                           "ci_high": float("nan"), "n_pos": m, "n_neg": k}
    if m == 0 or k == 0:
        return out
    combined = stats.rankdata(np.concatenate([pos, neg]))
    # placement values: v10[i] = P(neg < pos_i) + P(neg == pos_i)/2, and symmetrically
    v10 = (combined[:m] - stats.rankdata(pos)) / k
    v01 = 1.0 - (combined[m:] - stats.rankdata(neg)) / m
    auc = float(v10.mean())
    out["auc"] = auc
    if m < 2 or k < 2:
        return out
    se = np.sqrt(v10.var(ddof=1) / m + v01.var(ddof=1) / k)
    z = stats.norm.ppf(1 - (1 - level) / 2)
    out["ci_low"] = float(np.clip(auc - z * se, 0.0, 1.0))
    out["ci_high"] = float(np.clip(auc + z * se, 0.0, 1.0))
    return out


def tie_share(values: Any, k: int) -> float:
    """Share of a top-k selection that was chosen by the tie-break, not by the score.

    Selecting the k largest values, the cutoff is the k-th largest value. If the cutoff
    value also occurs among the unselected items, the selected items with exactly that
    value could have been swapped for unselected ones: their share of k is returned.
    Otherwise (a clean cut) 0.0. Also 0.0 if k == 0 or k >= len(values).
    Example: values [5, 4, 4, 4, 1], k=2 -> cutoff 4 is shared with unselected items,
    one of the two selected is a 4 -> 0.5.
    """
    v = _as_1d(values, "values")
    if np.isnan(v).any():
        raise ValueError("values must not contain NaN")
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k}")
    if k == 0 or k >= len(v):
        return 0.0
    cutoff = np.sort(v)[::-1][k - 1]
    selected_at_cutoff = k - int((v > cutoff).sum())
    unselected_at_cutoff = int((v == cutoff).sum()) - selected_at_cutoff
    return selected_at_cutoff / k if unselected_at_cutoff > 0 else 0.0
