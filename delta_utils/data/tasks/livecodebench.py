"""LiveCodeBench (code generation): its rows as `Problem`s, and its harness.

Rows (``livecodebench/code_generation_lite``, one JSONL file per release): question_title,
question_content, platform, question_id, contest_id, contest_date (ISO), starter_code, difficulty,
public_test_cases (a JSON list of {input, output, testtype}), private_test_cases (the same list, as
JSON or as base64 of zlib of a pickle of the JSON string) and metadata (JSON, e.g. func_name).

Private tests are unpickled with no globals allowed: the payload is a plain string, so a dataset file
can never make the loader run code.

The harness follows LiveCodeBench's `testing_util`: the program is the model's code block (`checking.check`
extracts it with `checking.code_block`, so this module does not import `checking`); a stdin test
feeds `input` on stdin and compares stdout with `output` line by line (whitespace-stripped; a line of
numbers may also match as decimals); a functional test (LeetCode, `class Solution`) calls
``metadata.func_name`` with one JSON value per input line and compares the JSON result. Every test runs
in the sandbox (`delta_utils.core.sandbox`); the first failure, crash or timeout fails the problem.
"""
from __future__ import annotations

import base64
import io
import json
import pickle
import re
import secrets
import zlib
from decimal import Decimal, InvalidOperation

from ...core.sandbox import Limits, run_python
from .problem import Problem

# per test, as LiveCodeBench's default timeout of 6 s
LIMITS = Limits(cpu_s=6, wall_s=12.0, memory_mb=1024)

# the imports LiveCodeBench puts before every program (solutions may rely on them)
PRELUDE = ("from string import *\nfrom re import *\nfrom datetime import *\nfrom collections import *\n"
           "from heapq import *\nfrom bisect import *\nfrom copy import *\nfrom math import *\n"
           "from random import *\nfrom statistics import *\nfrom itertools import *\nfrom functools import *\n"
           "from operator import *\nfrom io import *\nfrom sys import *\nfrom json import *\n"
           "from builtins import *\nfrom typing import *\nimport string\nimport re\nimport datetime\n"
           "import collections\nimport heapq\nimport bisect\nimport copy\nimport math\nimport random\n"
           "import statistics\nimport itertools\nimport functools\nimport operator\nimport io\nimport sys\n"
           "import json\nsys.setrecursionlimit(50000)\n")

STDIN_INSTRUCTION = ("Read the input from stdin, solve the problem and write the answer to stdout (do not just test "
                     "on the sample inputs). Reply with the whole program in one ```python code block.")
STARTER_INSTRUCTION = ("Complete the starter code above (keep its class and method names). Reply with the whole "
                       "solution in one ```python code block.")


def release_files(tag: str) -> list[str]:
    """The JSONL files of a release tag, as the hub repository's loading script maps them: release_vN: the
    first N files; vN: the Nth alone; vA_vB: the Ath to the Bth; release_latest: all six."""
    def name(k):
        return "test.jsonl" if k == 1 else f"test{k}.jsonl"

    if tag == "release_latest":
        return [name(k) for k in range(1, 7)]
    for pat, span in ((r"release_v(\d+)", lambda a: (1, a)), (r"v(\d+)", lambda a: (a, a)),
                      (r"v(\d+)_v(\d+)", lambda a, b: (a, b))):
        m = re.fullmatch(pat, tag)
        if m:
            lo, hi = span(*map(int, m.groups()))
            return [name(k) for k in range(lo, hi + 1)]
    raise ValueError(f"unknown LiveCodeBench release tag {tag!r} (release_v1 ... release_latest, vN, vA_vB)")


class _NoGlobals(pickle.Unpickler):
    """An unpickler that builds only plain data: any class or function reference is refused."""

    def find_class(self, module, name):
        raise pickle.UnpicklingError(f"private_test_cases: refusing to load {module}.{name}; the payload must be a "
                                     "plain string")


def decode_tests(field: str) -> list[dict]:
    """A test-case field: JSON, or base64 of zlib of a pickled JSON string (the lite release's private tests)."""
    s = field.strip()
    if not s:
        return []
    if s.startswith("["):
        return json.loads(s)
    obj = _NoGlobals(io.BytesIO(zlib.decompress(base64.b64decode(s)))).load()
    if not isinstance(obj, str):
        raise pickle.UnpicklingError(f"private_test_cases: expected a pickled string, got {type(obj).__name__}")
    return json.loads(obj)


def livecodebench_problem(r: dict, i: int) -> Problem:
    """One row as a code `Problem`: the statement (and starter code) as the question, the tests in extra."""
    meta = r.get("metadata") or "{}"
    meta = json.loads(meta) if isinstance(meta, str) else dict(meta)
    starter = (r.get("starter_code") or "").strip()
    question = r["question_content"].strip()
    if starter:
        question += f"\n\n```python\n{starter}\n```"
    tests = [{"input": t["input"], "output": t["output"], "testtype": t["testtype"]}
             for t in decode_tests(r["public_test_cases"]) + decode_tests(r.get("private_test_cases") or "")]
    return Problem(f"lcb-{r['question_id']}", "livecodebench", question, "", kind="code",
                   extra={"harness": "livecodebench", "instruction": STARTER_INSTRUCTION if starter
                          else STDIN_INSTRUCTION, "title": r.get("question_title"), "platform": r.get("platform"),
                          "contest_id": r.get("contest_id"), "contest_date": str(r.get("contest_date")),
                          "difficulty": r.get("difficulty"), "starter_code": starter,
                          "func_name": meta.get("func_name"), "tests": tests})


def _lines(s: str) -> list[str]:
    return [ln.strip() for ln in s.strip().split("\n")]


def _decimals(line: str) -> list[Decimal] | None:
    try:
        return [Decimal(x) for x in line.split()]
    except InvalidOperation:
        return None


def same_output(got: str, want: str) -> bool:
    """LiveCodeBench's stdout comparison: the same number of lines, each equal after stripping, or equal as a
    list of decimals."""
    a, b = _lines(got), _lines(want)
    if len(a) != len(b):
        return False
    for x, y in zip(a, b):
        if x != y and (_decimals(x) is None or _decimals(x) != _decimals(y)):
            return False
    return True


def _functional_program(code: str, func: str, inputs: str, token: str) -> str:
    """The solution, then a call of `func` (a method of `Solution`, else a module function) on the inputs (one JSON
    value per line); the result is printed as JSON after a token the solution cannot know."""
    return (f"{PRELUDE}\n{code}\n\n"
            "import json as _json\n"
            f"_args = [_json.loads(_ln) for _ln in {inputs!r}.split('\\n')]\n"
            "_cls = globals().get('Solution')\n"
            f"_fn = getattr(_cls(), {func!r}) if isinstance(_cls, type) else globals()[{func!r}]\n"
            "_res = _fn(*_args)\n"
            "if isinstance(_res, tuple):\n    _res = list(_res)\n"
            f"print({token!r} + _json.dumps(_res))\n")


def _passes(code: str, test: dict, func: str | None, limits: Limits) -> tuple[bool, str]:
    """(passed, why not) for one test."""
    if test["testtype"] == "stdin":
        res = run_python(f"{PRELUDE}\n{code}\n", stdin=test["input"], limits=limits)
        if not res.ok:
            return False, res.reason
        return (True, "") if same_output(res.stdout, test["output"]) else (False, "wrong answer")
    if not func:
        return False, "functional test without metadata.func_name"
    token = f"@@lcb-{secrets.token_hex(8)}@@"
    res = run_python(_functional_program(code, func, test["input"], token), limits=limits)
    if not res.ok:
        return False, res.reason
    out = [ln[len(token):] for ln in res.stdout.splitlines() if ln.startswith(token)]
    if not out:
        return False, "no result"
    try:
        return (True, "") if json.loads(out[-1]) == json.loads(test["output"]) else (False, "wrong answer")
    except json.JSONDecodeError:
        return False, "result is not JSON"


def grade(problem: Problem, code: str, limits: Limits = LIMITS) -> dict:
    """{passed, n_tests, n_passed, failed_test, reason}: the program on the problem's tests, in order, stopping at
    the first failure."""
    tests = problem.extra["tests"]
    for k, t in enumerate(tests):
        ok, why = _passes(code, t, problem.extra.get("func_name"), limits)
        if not ok:
            return {"passed": False, "n_tests": len(tests), "n_passed": k, "failed_test": k, "reason": why}
    return {"passed": bool(tests), "n_tests": len(tests), "n_passed": len(tests), "failed_test": None,
            "reason": "ok" if tests else "no tests"}


def run_livecodebench(problem: Problem, code: str, limits: Limits = LIMITS) -> bool:
    return grade(problem, code, limits)["passed"]
