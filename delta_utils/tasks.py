"""Procedural, verifiable problems, and answer extraction.

Families: ``arithmetic`` (grade-school word problems, in-domain), ``stem`` (units, rates,
kinematics, chemistry, probability; out-of-domain, numeric or multiple choice) and
``code_output`` (predict what a short generated Python program prints; out-of-domain code,
answers verified by running the program in the sandbox). Each item carries its answer and,
where it has them, its ground-truth steps (operation, operands, result), so later stages can
check a trace step by step. Items are a pure function of (family, seed, index): the same profile
always gives the same data, and sets drawn from different seeds never share a problem.
"""
from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field

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
    answer: int | float | str
    steps: tuple[Step, ...] = field(default_factory=tuple)
    kind: str = "number"  # number | choice | text (exact output) | code (HumanEval-style tests)
    choices: tuple[str, ...] = ()
    extra: dict = field(default_factory=dict)  # e.g. HumanEval's test and entry point

    def to_dict(self) -> dict:
        d = asdict(self)
        d["steps"] = [asdict(s) for s in self.steps]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Problem":
        """Inverse of `to_dict` (e.g. a row of problems.jsonl)."""
        return cls(id=d["id"], family=d["family"], question=d["question"], answer=d["answer"],
                   steps=tuple(Step(**s) for s in (d.get("steps") or [])), kind=d.get("kind", "number"),
                   choices=tuple(d.get("choices") or ()), extra=dict(d.get("extra") or {}))


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
        from .tasks_stem import stem_problem

        return _distinct(lambda i: stem_problem(seed, i), n)
    if family == "code_output":
        from .tasks_code import code_output_problems

        return code_output_problems(seed, n)
    raise ValueError(f"unknown task family {family!r}; known: {', '.join(FAMILIES)}")


def load_tasks(spec) -> list[Problem]:
    """The problems of a `TaskSpec` (procedural or benchmark)."""
    if spec.family == "benchmark":
        from .benchmarks import load_benchmark
        from .config import _resolve

        return load_benchmark(spec.benchmark, _resolve(spec.path) if spec.path else None, spec.n, spec.seed)
    return make_problems(spec.family, spec.n, spec.seed, spec.min_steps, spec.max_steps, tuple(spec.ops),
                         spec.max_operand)


INSTRUCTION = "Solve the problem step by step, briefly. End with the line 'The answer is N.' where N is a number."
INSTRUCTIONS = {
    "number": INSTRUCTION,
    "choice": "Think step by step, briefly. End with the line 'The answer is X.' where X is the letter of "
              "the correct option.",
    "text": "Think step by step, briefly. End with the line 'The answer is X.' where X is exactly what the "
            "program prints.",
    "code": "Complete the function. Reply with the whole function in one ```python code block.",
}


def question_text(problem: Problem) -> str:
    q = problem.question
    if problem.kind == "choice":
        q += "\n" + "\n".join(f"{chr(65 + i)}. {c}" for i, c in enumerate(problem.choices))
    return f"{q}\n{INSTRUCTIONS[problem.kind]}"


def chat_prompt(problem: Problem) -> list[dict]:
    return [{"role": "user", "content": question_text(problem)}]


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
