"""`Problem` and `Step`: one schema for every task family and benchmark (a leaf: imports nothing of delta_utils)."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field


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
    def from_dict(cls, d: dict) -> Problem:
        """Inverse of `to_dict` (e.g. a row of problems.jsonl)."""
        return cls(id=d["id"], family=d["family"], question=d["question"], answer=d["answer"],
                   steps=tuple(Step(**s) for s in (d.get("steps") or [])), kind=d.get("kind", "number"),
                   choices=tuple(d.get("choices") or ()), extra=dict(d.get("extra") or {}))
