"""Out-of-domain STEM: short science and measurement problems with exact numeric answers.

Templates: unit conversions, rates, kinematics from rest, density, moles, Ohm's law, work,
probability. Every value is chosen so the answer is exact (integers or short decimals). About a
third of the items are multiple choice (four options, distractors from plausible slips: the wrong
operation, a forgotten factor), answered by letter.
"""
from __future__ import annotations

import random

from .problem import Problem, Step

MOLAR = [("water (H2O)", 18), ("methane (CH4)", 16), ("oxygen gas (O2)", 32), ("carbon dioxide (CO2)", 44)]


def _fmt(x: float) -> int | float:
    return int(x) if float(x).is_integer() else round(x, 4)


def _template(rng: random.Random, k: int) -> tuple[str, float, list[Step], list[float]]:
    """(question, answer, steps, distractors) of template k."""
    if k == 0:
        unit, to, f = rng.choice([("meters", "centimeters", 100), ("kilometers", "meters", 1000),
                                  ("kilograms", "grams", 1000), ("hours", "minutes", 60),
                                  ("liters", "milliliters", 1000)])
        x = rng.choice([1.5, 2, 2.5, 3, 4, 0.5, 0.25, 7, 12])
        q = f"A quantity measures {x} {unit}. How many {to} is that?"
        return q, x * f, [Step("mul", x, f, x * f)], [x / f, x * f / 10, x + f]
    if k == 1:
        v, t = rng.choice([40, 50, 60, 80, 90, 120]), rng.choice([0.5, 1.5, 2, 2.5, 3, 4])
        q = f"A car drives at a constant {v} km/h for {t} hours. How many kilometers does it travel?"
        return q, v * t, [Step("mul", v, t, v * t)], [v / t, v + t, v * t / 2]
    if k == 2:
        a, t = rng.choice([1, 2, 3, 4, 5, 10]), rng.choice([2, 3, 4, 5, 6, 10])
        if rng.random() < 0.5:
            q = (f"An object starts from rest and accelerates uniformly at {a} m/s^2 for {t} s. "
                 "What is its speed at the end, in m/s?")
            return q, a * t, [Step("mul", a, t, a * t)], [a * t * t, a * t / 2, a + t]
        q = (f"An object starts from rest and accelerates uniformly at {a} m/s^2 for {t} s. "
             "How far does it travel, in meters? (distance = a * t^2 / 2)")
        return q, a * t * t / 2, [Step("mul", t, t, t * t), Step("mul", a, t * t, a * t * t),
                                  Step("div", a * t * t, 2, a * t * t / 2)], [a * t, a * t * t, a * t / 2]
    if k == 3:
        rho, vol = rng.choice([0.5, 0.8, 1, 2, 2.5, 7.8, 11]), rng.choice([2, 4, 5, 10, 20])
        q = f"A block has a density of {rho} g/cm^3 and a volume of {vol} cm^3. What is its mass in grams?"
        return q, rho * vol, [Step("mul", rho, vol, rho * vol)], [rho / vol, vol / rho, rho + vol]
    if k == 4:
        name, m = rng.choice(MOLAR)
        n = rng.choice([0.5, 1, 2, 3, 4, 5])
        q = f"The molar mass of {name} is {m} g/mol. How many moles are in {_fmt(n * m)} g of it?"
        return q, n, [Step("div", n * m, m, n)], [n * m * m, n * 2, m / (n * m)]
    if k == 5:
        i, r = rng.choice([0.5, 1, 2, 3, 4]), rng.choice([5, 10, 20, 50, 100])
        q = f"A current of {i} A flows through a {r} ohm resistor. What is the voltage across it, in volts?"
        return q, i * r, [Step("mul", i, r, i * r)], [r / i, i + r, i * r / 2]
    if k == 6:
        force, d = rng.choice([5, 10, 20, 25, 50]), rng.choice([2, 3, 4, 10])
        q = (f"A constant force of {force} N pushes a box {d} m along the floor in the direction of the force. "
             "How much work is done, in joules?")
        return q, force * d, [Step("mul", force, d, force * d)], [force / d, force + d, force * d * 2]
    red = rng.randint(1, 9)
    total = rng.choice([t for t in (2, 4, 5, 8, 10, 20) if t > red] or [red + 1])
    total = max(total, red + 1)
    while (red / total) * 10000 % 1:
        total += 1
    q = (f"A bag holds {red} red marbles and {total - red} blue marbles. One marble is drawn at random. "
         "What is the probability that it is red? Give a decimal.")
    return q, red / total, [Step("add", red, total - red, total), Step("div", red, total, red / total)], \
        [(total - red) / total, red / (total - red) if total != red else 2.0, 1 / total]


N_TEMPLATES = 8


def stem_problem(seed: int, index: int) -> Problem:
    rng = random.Random(f"stem/{seed}/{index}")
    q, ans, steps, distractors = _template(rng, rng.randrange(N_TEMPLATES))
    ans = _fmt(ans)
    steps = tuple(Step(s.op, _fmt(s.a), _fmt(s.b), _fmt(s.result)) for s in steps)
    pid = f"stem-{seed}-{index}"
    if rng.random() < 1 / 3:
        opts = [ans] + [_fmt(d) for d in distractors if _fmt(d) != ans]
        opts = list(dict.fromkeys(opts))[:4]
        while len(opts) < 4:
            opts.append(_fmt(ans + len(opts)))
        rng.shuffle(opts)
        letter = chr(65 + opts.index(ans))
        return Problem(id=pid, family="stem", question=q, answer=letter, steps=steps, kind="choice",
                       choices=tuple(str(o) for o in opts))
    return Problem(id=pid, family="stem", question=q, answer=ans, steps=steps)
