"""The problems of a task spec: a procedural family (`make_problems`) or a real benchmark (`load_tasks`)."""
from __future__ import annotations

from .arithmetic import ALL_OPS, arithmetic_problem
from .benchmarks import load_benchmark
from .code import code_output_problems
from .problem import Problem
from .stem import stem_problem

FAMILIES = ["arithmetic", "stem", "code_output"]


def _distinct(make, n: int, tries: int = 20) -> list[Problem]:
    """The first n problems with distinct questions from make(0), make(1), ... (a repeated question
    would count one item twice in an evaluation and give one prompt two ids)."""
    out, seen = [], set()
    for i in range(n * tries):
        p = make(i)
        if p.question not in seen:
            seen.add(p.question)
            out.append(p)
            if len(out) == n:
                return out
    raise ValueError(f"only {len(out)} distinct problems in {n * tries} draws; ask for fewer or widen the ranges")


def make_problems(family: str, n: int, seed: int, min_steps: int = 1, max_steps: int = 3,
                  ops: tuple[str, ...] = ALL_OPS, max_operand: int = 25) -> list[Problem]:
    if n <= 0:
        raise ValueError(f"n must be positive, got {n}")
    if family == "arithmetic":
        return _distinct(lambda i: arithmetic_problem(seed, i, min_steps, max_steps, tuple(ops), max_operand), n)
    if family == "stem":
        return _distinct(lambda i: stem_problem(seed, i), n)
    if family == "code_output":
        return code_output_problems(seed, n)
    raise ValueError(f"unknown task family {family!r}; known: {', '.join(FAMILIES)}")


def load_tasks(spec) -> list[Problem]:
    """The problems of a `TaskSpec` (procedural or benchmark; a local benchmark file is the spec's
    `resolved_path`; a benchmark with release dates keeps those in the spec's `release_window`)."""
    if spec.family == "benchmark":
        window = tuple(spec.release_window) if getattr(spec, "release_window", None) else None
        return load_benchmark(spec.benchmark, spec.resolved_path, spec.n, spec.seed, window=window)
    return make_problems(spec.family, spec.n, spec.seed, spec.min_steps, spec.max_steps, tuple(spec.ops),
                         spec.max_operand)
