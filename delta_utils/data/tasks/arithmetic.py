"""The in-domain family: procedural grade-school arithmetic word problems with ground-truth steps.

Each item carries its answer and its steps (operation, operands, result), so later stages can check a
trace step by step. Items are a pure function of (seed, index): the same profile always gives the same
data, and sets drawn from different seeds never share a problem.
"""
from __future__ import annotations

import random

from .problem import Problem, Step

NAMES = ["Ava", "Ben", "Chloe", "Dev", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jonas",
         "Kemi", "Liam", "Maya", "Noah", "Omar", "Priya", "Quinn", "Rosa", "Sami", "Tara"]
ITEMS = [("apple", "apples"), ("marble", "marbles"), ("sticker", "stickers"), ("book", "books"),
         ("pencil", "pencils"), ("shell", "shells"), ("coin", "coins"), ("card", "cards"),
         ("cookie", "cookies"), ("stamp", "stamps")]
CONTAINERS = [("box", "boxes"), ("bag", "bags"), ("jar", "jars"), ("basket", "baskets"), ("shelf", "shelves")]

# step templates: (op, phrase). {n} is the operand, {item} the plural noun, {name} the person.
_STEP_PHRASES = {
    "add": ["Then {name} buys {n} more {item}.", "A friend gives {name} {n} more {item}.",
            "{name} finds {n} more {item}."],
    "sub": ["Then {name} gives away {n} {item}.", "{name} loses {n} {item}.",
            "{name} uses {n} of the {item}."],
    "mul": ["Then the number of {item} {name} has grows {n} times as large.",
            "{name} then gets {n} times as many {item} as before, in total."],
    "div": ["{name} then shares the {item} equally among {n} {containers} and keeps one {container}'s share.",
            "{name} splits the {item} into {n} equal groups and keeps one group."],
}


ALL_OPS = ("add", "sub", "mul", "div")


def arithmetic_problem(seed: int, index: int, min_steps: int = 1, max_steps: int = 3,
                       ops: tuple[str, ...] = ALL_OPS, max_operand: int = 25) -> Problem:
    """A word problem of min_steps..max_steps operations drawn from `ops`; start values and added
    amounts stay within `max_operand` (the difficulty knobs; defaults give the standard set)."""
    rng = random.Random(f"arithmetic/{seed}/{index}")
    name = rng.choice(NAMES)
    item = rng.choice(ITEMS)[1]
    container, containers = rng.choice(CONTAINERS)
    n_steps = rng.randint(min_steps, max_steps)
    value = rng.randint(3, max(3, min(30, max_operand + 5)))
    text = [f"{name} has {value} {item}."]
    steps: list[Step] = []
    for _ in range(n_steps):
        allowed = ["add"] + (["sub"] if value >= 2 else []) + (["mul"] if value <= 20 else []) + \
            (["div"] if _divisors(value) else [])
        op = rng.choice([o for o in allowed if o in ops] or ["add"])
        if op == "add":
            n = rng.randint(2, max(2, max_operand))
            new = value + n
        elif op == "sub":
            n = rng.randint(1, value - 1)
            new = value - n
        elif op == "mul":
            n = rng.randint(2, 4)
            new = value * n
        else:
            n = rng.choice(_divisors(value))
            new = value // n
        text.append(rng.choice(_STEP_PHRASES[op]).format(name=name, n=n, item=item, container=container,
                                                         containers=containers))
        steps.append(Step(op, value, n, new))
        value = new
    text.append(f"How many {item} does {name} have now?")
    return Problem(id=f"arith-{seed}-{index}", family="arithmetic", question=" ".join(text),
                   answer=value, steps=tuple(steps))


def _divisors(v: int) -> list[int]:
    return [d for d in (2, 3, 4, 5) if v % d == 0 and v // d >= 2]
