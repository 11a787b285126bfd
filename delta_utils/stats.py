"""Paired statistics for comparing models on the same evaluation items.

Every comparison in the findings table is *paired*: models A and B answer the same
items, and per item each model's score is its correctness, 0/1 for greedy decoding or
a mean over k samples in [0, 1]. We work with the per-item differences d = a - b.

Which test answers which question:

- ``paired_test`` -- "is A different from (better than) B?" (superiority).
  With 0/1 scores on both sides it is the exact McNemar test: only the discordant
  items (one model right, the other wrong) carry information, and under H0 each of
  them is equally likely to favour A or B, so n_pos ~ Binomial(n_pos + n_neg, 1/2).
  With fractional scores it is the sign-flip permutation test on mean(d): under H0
  (d symmetric about 0) every d_i is equally likely to have either sign. Both are
  exact (or Monte Carlo with a stated number of draws) and need no normality.
- ``bootstrap_ci`` -- how large the difference is: percentile bootstrap CI of mean(d).
- ``mde_paired`` -- what the data *could* have detected: the minimum detectable effect
  at the given alpha and power. Report it next to every inconclusive result, so that
  "no significant difference" is read as "no difference larger than the MDE was
  ruled in", never as "no difference".
- ``noninferiority`` -- "A is not worse than B by more than a margin": one-sided
  paired t-test of H0 mean(d) <= -margin. ``inferiority_p`` is the opposite
  one-sided test (H1 mean(d) < -margin), which can *contradict* the claim.
- ``equivalence`` -- "A and B perform the same, within +-margin": TOST, two one-sided
  paired t-tests; the claim is supported only if both bounds are rejected.
- ``holm`` -- family-wise error control when several claims are tested together.
- ``verdict`` -- maps a p-value and a direction to supported / contradicted /
  inconclusive / n/a. Absence of evidence is never "supported".
- ``spearman_ci`` -- rank correlation between two per-item (or per-model) quantities,
  with a pairs-bootstrap CI.
- ``auc_ci`` -- how well a score separates two classes (e.g. a judge score vs.
  correctness), with DeLong's CI.
- ``tie_share`` -- how much of a top-k selection was decided by tie-breaking rather
  than by the score.

Inputs ``a``, ``b`` are aligned 1-D arrays, or two pandas Series which are aligned on
their index (inner join). Pairs where either side is NaN are dropped. A Series paired
with a plain array is refused, because positional alignment of an indexed object is
a silent source of wrong pairings.
"""
from __future__ import annotations

import itertools
from typing import Any

import numpy as np
from scipy import stats

__all__ = [
    "paired_test",
    "bootstrap_ci",
    "mde_paired",
    "holm",
    "noninferiority",
    "inferiority_p",
    "equivalence",
    "verdict",
    "spearman_ci",
    "auc_ci",
    "tie_share",
]

_ALTERNATIVES = ("two-sided", "greater", "less")
_EXACT_MAX_NONZERO = 16  # 2**16 sign patterns are enumerated exactly
_CHUNK_CELLS = 2_000_000  # max array cells per chunk of resamples, to bound memory


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


def _t_result(d: np.ndarray, popmean: float, alternative: str) -> float:
    return float(stats.ttest_1samp(d, popmean, alternative=alternative).pvalue)


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


def compare(a: Any, b: Any, seed: int = 0) -> dict[str, Any]:
    """A - B on the same items: the mean difference with its 95 % bootstrap CI, the exact paired test's
    two-sided p-value and method, the discordant counts and the minimum detectable effect (alpha 0.05,
    power 0.8). The one summary every table in the study reports."""
    t = paired_test(a, b, seed=seed)
    low, high = bootstrap_ci(a, b, seed=seed)
    test = t.pop("method")  # named `test` here: tables that hold it also hold a training `method`
    return {**t, "test": test, "ci_low": low, "ci_high": high, "mde": mde_paired(a, b)}


def mde_paired(a: Any, b: Any, alpha: float = 0.05, power: float = 0.8) -> float:
    """Minimum detectable effect (absolute difference in mean accuracy) of a paired test.

    Normal approximation for a two-sided test at level `alpha` with power `power` on
    the n paired items:

        MDE = (z_{1-alpha/2} + z_{power}) * sd / sqrt(n),   sd = sqrt(discordance)

    where sd is the SD of the paired differences under the null, estimated as
    sqrt(mean(d**2)): the null variance of the sign-flip statistic mean(d) is
    sum(d_i**2) / n**2. For binary scores d is in {-1, 0, 1}, so mean(d**2) is the
    discordance rate mean(d != 0). If no item is discordant, a discordance of 1/n (one
    discordant item) is used instead, so the MDE is never reported as 0.
    NaN when n == 0.
    """
    d = _diffs(a, b)
    n = len(d)
    if n == 0:
        return float("nan")
    discordance = float(np.mean(d ** 2))
    if discordance == 0:
        discordance = 1.0 / n
    z = stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power)
    return float(z * np.sqrt(discordance / n))


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


def noninferiority(a: Any, b: Any, margin: float, alpha: float = 0.05) -> dict[str, Any]:
    """Non-inferiority of A against B: H0 mean(d) <= -margin vs H1 mean(d) > -margin.

    One-sided paired t-test (``scipy.stats.ttest_1samp(d, -margin,
    alternative="greater")``). ``lower`` is the one-sided (1 - alpha) lower confidence
    bound of mean(d); p < alpha exactly when lower > -margin.
    If all d are equal (sd 0): p = 0.0 if d > -margin else 1.0, and lower = d.
    With n < 2: p and lower are NaN.
    """
    margin = _check_margin(margin)
    d = _diffs(a, b)
    n = len(d)
    out: dict[str, Any] = {"diff": float(d.mean()) if n else float("nan"),
                           "p_value": float("nan"), "margin": margin, "n": n,
                           "lower": float("nan"), "method": "paired t, non-inferiority"}
    if n < 2:
        return out
    if _constant(d):
        value = float(d[0])
        out["p_value"] = 0.0 if value > -margin else 1.0
        out["lower"] = value
        return out
    out["p_value"] = _t_result(d, -margin, "greater")
    se = d.std(ddof=1) / np.sqrt(n)
    out["lower"] = float(d.mean() - stats.t.ppf(1 - alpha, n - 1) * se)
    return out


def inferiority_p(a: Any, b: Any, margin: float) -> float:
    """One-sided paired t p-value for H1 mean(d) < -margin (A worse by more than margin).

    The opposite of ``noninferiority``; pass it to ``verdict`` as ``p_opposite``.
    If all d are equal: 0.0 if d < -margin else 1.0. NaN when n < 2.
    """
    margin = _check_margin(margin)
    d = _diffs(a, b)
    if len(d) < 2:
        return float("nan")
    if _constant(d):
        return 0.0 if d[0] < -margin else 1.0
    return _t_result(d, -margin, "less")


def equivalence(a: Any, b: Any, margin: float, alpha: float = 0.05) -> dict[str, Any]:
    """Equivalence of A and B within +-margin: TOST with paired t-tests.

    H0: |mean(d)| >= margin vs H1: -margin < mean(d) < margin. The two one-sided
    tests (mean(d) > -margin, mean(d) < margin) are combined as p = max of the two
    (same as ``statsmodels.stats.weightstats.ttost_paired(a, b, -margin, margin)``).
    ``ci_low``, ``ci_high`` is the (1 - 2 alpha) t-based CI of mean(d); p < alpha
    exactly when it lies inside (-margin, margin).
    If all d are equal (sd 0): p = 0.0 if |d| < margin else 1.0, and the CI is [d, d].
    With n < 2: p and CI are NaN.
    """
    margin = _check_margin(margin)
    d = _diffs(a, b)
    n = len(d)
    out: dict[str, Any] = {"diff": float(d.mean()) if n else float("nan"),
                           "p_value": float("nan"), "margin": margin, "n": n,
                           "ci_low": float("nan"), "ci_high": float("nan"),
                           "method": "paired TOST"}
    if n < 2:
        return out
    if _constant(d):
        value = float(d[0])
        out["p_value"] = 0.0 if -margin < value < margin else 1.0
        out["ci_low"] = out["ci_high"] = value
        return out
    p_low = _t_result(d, -margin, "greater")
    p_high = _t_result(d, margin, "less")
    out["p_value"] = max(p_low, p_high)
    half = stats.t.ppf(1 - alpha, n - 1) * d.std(ddof=1) / np.sqrt(n)
    out["ci_low"], out["ci_high"] = float(d.mean() - half), float(d.mean() + half)
    return out


def verdict(kind: str, p_value: float | None, diff: float | None, *, alpha: float = 0.05,
            p_opposite: float | None = None) -> str:
    """Map a test result to "supported", "contradicted", "inconclusive" or "n/a".

    - "n/a" when p_value or diff is missing (None / NaN).
    - "superiority" (claim A > B; two-sided p from ``paired_test``): supported if
      p < alpha and diff > 0, contradicted if p < alpha and diff < 0.
    - "noninferiority" (p from ``noninferiority``): supported if p < alpha;
      contradicted if p_opposite (from ``inferiority_p``) < alpha.
    - "equivalence" (p from ``equivalence``): supported if p < alpha; contradicted if
      p_opposite (a two-sided paired test of d = 0, e.g. ``paired_test``) < alpha.
    Everything else is "inconclusive": failing to reject is never "supported".
    """
    if kind not in ("superiority", "noninferiority", "equivalence"):
        raise ValueError(f"unknown claim kind {kind!r}")
    if _is_missing(p_value) or _is_missing(diff):
        return "n/a"
    significant = p_value < alpha
    if kind == "superiority":
        if significant and diff > 0:
            return "supported"
        if significant and diff < 0:
            return "contradicted"
        return "inconclusive"
    if significant:
        return "supported"
    if not _is_missing(p_opposite) and p_opposite < alpha:
        return "contradicted"
    return "inconclusive"


# ----------------------------------------------------------------------------- other

def spearman_ci(x: Any, y: Any, n_boot: int = 1000, seed: int = 0,
                level: float = 0.95) -> dict[str, Any]:
    """Spearman rank correlation with a percentile pairs-bootstrap CI.

    rho is ``scipy.stats.spearmanr(x, y)``. The CI resamples (x, y) pairs with
    replacement; resamples in which either side is constant are skipped.
    rho and CI are NaN when n < 3 or either input is constant.
    """
    xs, ys = _paired(x, y)
    n = len(xs)
    out: dict[str, Any] = {"rho": float("nan"), "ci_low": float("nan"),
                           "ci_high": float("nan"), "n": n}
    if n < 3 or _constant(xs) or _constant(ys):
        return out
    out["rho"] = float(stats.spearmanr(xs, ys).statistic)
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
