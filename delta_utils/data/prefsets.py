"""Preference-set names: one vocabulary for 03_pair (which builds the sets), the profile check (which
validates `train.runs[].preference_set` when a profile loads), the analysis (which reads what a run trained
on) and the dataset card.

    gen__<model>             a chosen generator's traces vs the fixed rejected generator's, same prompts
    full                     the generator set with the widest capability gap: the pool selections draw from
    top<pct>__<dimension>    the pool's <pct> % pairs with the largest judged delta on a dimension (or aggregate)
    random<pct>              a seeded random subset of the same size; random<pct>__draw<i> (i >= 1): more draws
    correctness__<cell>      chosen correct/wrong -> rejected correct/wrong: c2w, c2c, w2w, w2c

    s = parse("top50__step_coherence")   # PrefSet(kind='topk', pct=50, dimension='step_coherence')
    s.name                               # 'top50__step_coherence' (format and parse are inverses)
    names(profile)                       # every set this profile's 03_pair builds, in order
"""
from __future__ import annotations

import difflib
import re
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Literal

from .rubric import DIMENSION_NAMES

if TYPE_CHECKING:
    from ..profile.config import Profile

Kind = Literal["generator", "full", "topk", "random", "correctness"]
SELECTION_DIMENSIONS = DIMENSION_NAMES + ["aggregate"]
CORRECTNESS_CELLS = ("c2w", "c2c", "w2w", "w2c")  # chosen correct?/rejected correct?: c = correct, w = wrong


@dataclass(frozen=True)
class PrefSet:
    kind: Kind
    chosen_model: str | None = None  # generator
    pct: int | None = None  # topk, random: the percentage of the pool kept
    dimension: str | None = None  # topk
    draw: int = 0  # random
    combination: str | None = None  # correctness

    @property
    def name(self) -> str:
        if self.kind == "generator":
            return f"gen__{self.chosen_model}"
        if self.kind == "full":
            return "full"
        if self.kind == "topk":
            return f"top{self.pct}__{self.dimension}"
        if self.kind == "random":
            return f"random{self.pct}" + (f"__draw{self.draw}" if self.draw else "")
        return f"correctness__{self.combination}"

    @property
    def fraction(self) -> float | None:
        return 1.0 if self.kind == "full" else (None if self.pct is None else self.pct / 100)

    def __str__(self) -> str:
        return self.name

    def row(self) -> dict:
        """The set as table columns (kind, chosen_model, fraction, dimension, draw, combination)."""
        d = asdict(self)
        d["fraction"] = self.fraction
        del d["pct"]
        return d


def generator(model: str) -> PrefSet:
    return PrefSet("generator", chosen_model=model)


def full() -> PrefSet:
    return PrefSet("full")


def topk(fraction: float, dimension: str) -> PrefSet:
    return PrefSet("topk", pct=pct_of(fraction), dimension=dimension)


def random(fraction: float, draw: int = 0) -> PrefSet:
    return PrefSet("random", pct=pct_of(fraction), draw=draw)


def correctness(combination: str) -> PrefSet:
    return PrefSet("correctness", combination=combination)


def pct_of(fraction: float) -> int:
    return int(round(100 * fraction))


FORMS = "gen__<model>, full, top<pct>__<dimension>, random<pct>[__draw<i>], correctness__<c2w|c2c|w2w|w2c>"


def parse(name: str) -> PrefSet:
    """The set a name stands for; ValueError for a name outside the vocabulary."""
    if m := re.fullmatch(r"gen__(.+)", name):
        return generator(m[1])
    if name == "full":
        return full()
    if (m := re.fullmatch(r"top(\d+)__(.+)", name)) and m[2] in SELECTION_DIMENSIONS:
        return PrefSet("topk", pct=int(m[1]), dimension=m[2])
    if m := re.fullmatch(r"random(\d+)(?:__draw([1-9]\d*))?", name):
        return PrefSet("random", pct=int(m[1]), draw=int(m[2] or 0))
    if (m := re.fullmatch(r"correctness__(.+)", name)) and m[1] in CORRECTNESS_CELLS:
        return correctness(m[1])
    raise ValueError(f"{name!r} is not a preference-set name; the forms are {FORMS} "
                     f"(dimensions: {', '.join(SELECTION_DIMENSIONS)})")


def expected(profile: Profile) -> list[PrefSet]:
    """The preference sets 03_pair builds for this profile, in the order it builds them."""
    g, p = profile.generation, profile.pairing
    sets = [generator(m) for m in g.generators if m != g.rejected] + [full()]
    for f in p.top_fractions:
        sets += [topk(f, d) for d in SELECTION_DIMENSIONS]
        sets += [random(f, i) for i in range(p.random_draws)]
    return sets + [correctness(c) for c in CORRECTNESS_CELLS]


def names(profile: Profile) -> list[str]:
    return [s.name for s in expected(profile)]


def check(name: str, profile: Profile) -> PrefSet:
    """The set `name` stands for, if this profile builds it; otherwise a ValueError saying what it builds."""
    known = names(profile)
    if name in known:
        return parse(name)
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise ValueError(f"{name!r} is not a set this profile builds{hint}; it builds: {', '.join(known)}")
