"""Out-of-domain code: predict what a short generated Python program prints.

Programs are built from templates (loops with conditions, string operations, list
comprehensions, small recursions, dictionaries) with random parameters. The answer is not
computed by us: every program is run in the sandbox and its printed output is the answer.
"""
from __future__ import annotations

import json
import random

from ...core.sandbox import Limits, run_python
from .problem import Problem

WORDS = ["delta", "policy", "reward", "judge", "python", "vector", "matrix", "signal", "gradient", "sample"]


def _program(rng: random.Random, k: int) -> str:
    a, b, c = rng.randint(2, 9), rng.randint(2, 6), rng.randint(10, 30)
    w = rng.choice(WORDS)
    if k == 0:
        return (f"def f(n):\n    total = 0\n    for i in range(n):\n        if i % {b} == 0:\n"
                f"            total += i\n    return total\n\nprint(f({c}))")
    if k == 1:
        return f"s = {w!r}\nprint(s[::-1].upper()[:{a}])"
    if k == 2:
        return f"xs = [x * {a} for x in range({b + 3}) if x % 2 == 1]\nprint(sum(xs), len(xs))"
    if k == 3:
        return (f"def g(n):\n    if n <= 1:\n        return 1\n    return n * g(n - 1)\n\nprint(g({min(a, 7)}) % {c})")
    if k == 4:
        return (f"counts = {{}}\nfor ch in {w!r}:\n    counts[ch] = counts.get(ch, 0) + 1\n"
                f"print(max(counts.values()), len(counts))")
    if k == 5:
        return f"x = {c}\nwhile x > {a}:\n    x = x - {b}\nprint(x)"
    if k == 6:
        return f"items = {sorted(rng.sample(range(1, 40), 5))}\nprint(items[{rng.randint(-3, 3)}] + items[{a % 5}])"
    return f"print(len({w!r}) * {b} + {a})"


N_TEMPLATES = 8


def code_output_problems(seed: int, n: int) -> list[Problem]:
    progs = []
    for i in range(n):
        rng = random.Random(f"code_output/{seed}/{i}")
        progs.append(_program(rng, rng.randrange(N_TEMPLATES)))
    # one sandbox run for the whole set: each program in a fresh namespace, its output captured
    runner = ("import io, json, contextlib\nprogs = json.loads(PROGS)\nouts = []\n"
              "for p in progs:\n    buf = io.StringIO()\n    with contextlib.redirect_stdout(buf):\n"
              "        exec(p, {'__name__': '__main__'})\n    outs.append(buf.getvalue().strip())\n"
              "print(json.dumps(outs))")
    res = run_python(f"PROGS = {json.dumps(json.dumps(progs))}\n" + runner, limits=Limits(cpu_s=20, wall_s=60))
    if not res.ok:
        raise RuntimeError(f"running the generated programs failed ({res.reason}): {res.stderr[-500:]}")
    outs = json.loads(res.stdout.strip().splitlines()[-1])
    return [Problem(id=f"code-{seed}-{i}", family="code_output", kind="text", answer=out,
                    question=f"What does this Python program print?\n```python\n{prog}\n```")
            for i, (prog, out) in enumerate(zip(progs, outs))]
