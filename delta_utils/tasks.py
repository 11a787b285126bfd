"""Procedural, verifiable math word problems, and answer extraction.

Each item carries its answer and its ground-truth steps (operation, operands,
result), so later stages can check a trace step by step. Items are a pure
function of (family, seed, index): the same profile always gives the same data,
and train and test sets drawn from different seeds never share a problem.
"""
from __future__ import annotations

import random
import re
from dataclasses import asdict, dataclass, field

NAMES = ["Ava", "Ben", "Chloe", "Dev", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jonas",
         "Kemi", "Liam", "Maya", "Noah", "Omar", "Priya", "Quinn", "Rosa", "Sami", "Tara"]
ITEMS = [("apple", "apples"), ("marble", "marbles"), ("sticker", "stickers"), ("book", "books"),
         ("pencil", "pencils"), ("shell", "shells"), ("coin", "coins"), ("card", "cards"),
         ("cookie", "cookies"), ("stamp", "stamps")]
CONTAINERS = ["box", "bag", "jar", "basket", "shelf"]

# step templates: (op, phrase). {n} is the operand, {item} the plural noun, {name} the person.
_STEP_PHRASES = {
    "add": ["Then {name} buys {n} more {item}.", "A friend gives {name} {n} more {item}.",
            "{name} finds {n} more {item}."],
    "sub": ["Then {name} gives away {n} {item}.", "{name} loses {n} {item}.",
            "{name} uses {n} of the {item}."],
    "mul": ["Then the number of {item} {name} has grows {n} times as large.",
            "{name} then gets {n} times as many {item} as before, in total."],
    "div": ["{name} then shares the {item} equally among {n} {container}es and keeps one {container}'s share.",
            "{name} splits the {item} into {n} equal groups and keeps one group."],
}


@dataclass(frozen=True)
class Step:
    op: str
    a: int
    b: int
    result: int

    def expr(self) -> str:
        sym = {"add": "+", "sub": "-", "mul": "*", "div": "/"}[self.op]
        return f"{self.a} {sym} {self.b} = {self.result}"


@dataclass(frozen=True)
class Problem:
    id: str
    family: str
    question: str
    answer: int
    steps: tuple[Step, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["steps"] = [asdict(s) for s in self.steps]
        return d


def arithmetic_problem(seed: int, index: int, min_steps: int = 1, max_steps: int = 3) -> Problem:
    rng = random.Random(f"arithmetic/{seed}/{index}")
    name = rng.choice(NAMES)
    item = rng.choice(ITEMS)[1]
    container = rng.choice(CONTAINERS)
    n_steps = rng.randint(min_steps, max_steps)
    value = rng.randint(3, 30)
    text = [f"{name} has {value} {item}."]
    steps: list[Step] = []
    for _ in range(n_steps):
        ops = ["add"] + (["sub"] if value >= 2 else []) + (["mul"] if value <= 20 else []) + (["div"] if _divisors(value) else [])
        op = rng.choice(ops)
        if op == "add":
            n = rng.randint(2, 25)
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
        text.append(rng.choice(_STEP_PHRASES[op]).format(name=name, n=n, item=item, container=container))
        steps.append(Step(op, value, n, new))
        value = new
    text.append(f"How many {item} does {name} have now?")
    return Problem(id=f"arith-{seed}-{index}", family="arithmetic", question=" ".join(text),
                   answer=value, steps=tuple(steps))


def _divisors(v: int) -> list[int]:
    return [d for d in (2, 3, 4, 5) if v % d == 0 and v // d >= 2]


def make_problems(family: str, n: int, seed: int, min_steps: int = 1, max_steps: int = 3) -> list[Problem]:
    if family != "arithmetic":
        raise ValueError(f"unknown task family {family!r}; known: arithmetic")
    if n <= 0:
        raise ValueError(f"n must be positive, got {n}")
    return [arithmetic_problem(seed, i, min_steps, max_steps) for i in range(n)]


INSTRUCTION = "Solve the problem step by step, briefly. End with the line 'The answer is N.' where N is a number."


def chat_prompt(problem: Problem) -> list[dict]:
    return [{"role": "user", "content": f"{problem.question}\n{INSTRUCTION}"}]


_FEWSHOT = [
    ("Sam has 4 pens. Then Sam buys 3 more pens. How many pens does Sam have now?",
     "Sam starts with 4 pens. 4 + 3 = 7. The answer is 7."),
    ("Lea has 12 cards. Lea loses 5 cards. Then the number of cards Lea has grows 2 times as large. "
     "How many cards does Lea have now?",
     "Lea starts with 12 cards. 12 - 5 = 7. 7 * 2 = 14. The answer is 14."),
]


def fewshot_prompt(problem: Problem) -> str:
    """A plain completion prompt for base models without a chat template."""
    shots = "".join(f"Question: {q}\nAnswer: {a}\n\n" for q, a in _FEWSHOT)
    return f"{shots}Question: {problem.question}\nAnswer:"


FEWSHOT_STOP = ["\nQuestion:", "\n\n"]

_NUM = r"-?\d[\d,]*(?:\.\d+)?"
_PATTERNS = [
    re.compile(r"\\boxed\{\s*(" + _NUM + r")\s*\}"),
    re.compile(r"answer\s*(?:is|:|=)?\s*:?\s*\$?\\?\(?\s*(" + _NUM + r")", re.I),
    re.compile(r"####\s*(" + _NUM + r")"),
]
_THINK = re.compile(r"<think>.*?(</think>|$)", re.S)


def extract_answer(text: str) -> float | None:
    """The final numeric answer of a trace, leniently: \\boxed{N}, 'answer is N', '#### N', else the last number."""
    if not text:
        return None
    text = _THINK.sub("", text)
    for pat in _PATTERNS:
        found = pat.findall(text)
        if found:
            return _to_num(found[-1])
    nums = re.findall(_NUM, text)
    return _to_num(nums[-1]) if nums else None


def _to_num(s: str) -> float | None:
    try:
        return float(s.replace(",", ""))
    except ValueError:
        return None


def is_correct(text: str, answer: float) -> bool:
    pred = extract_answer(text)
    return pred is not None and abs(pred - float(answer)) < 1e-6
