"""Answer checking for every problem kind.

- number: the trace's final answer (``\\boxed{}``, "The answer is X", "#### X", else the last
  number) compared with the gold answer, numerically when both are numbers and otherwise with
  `math-verify` (gold parsed first; its signal-based timeouts are used only on the main thread);
- choice: the option letter the trace ends on;
- text: a program's exact printed output (whitespace-normalised; numerically equal also counts);
- code: HumanEval-style — the completed function and the task's tests run in the sandbox.

Thinking blocks (``<think>…</think>``) are stripped before anything is read.
"""
from __future__ import annotations

import re
import threading

from ..sandbox import Limits, run_python
from .problem import Problem

_THINK = re.compile(r"<think>.*?(</think>|$)", re.S)
_NUM = r"-?\d[\d,]*(?:\.\d+)?(?:\s*/\s*\d+)?"
_ANSWER_IS = re.compile(r"answer\s*(?:is|:|=)\s*:?\s*(.+)", re.I)


def strip_thinking(text: str) -> str:
    return _THINK.sub("", text or "")


def boxed(text: str) -> str | None:
    """Content of the last \\boxed{...}, braces balanced."""
    i = text.rfind("\\boxed")
    if i < 0:
        return None
    j = text.find("{", i)
    if j < 0:
        return None
    depth, k = 0, j
    while k < len(text):
        depth += {"{": 1, "}": -1}.get(text[k], 0)
        if depth == 0:
            return text[j + 1 : k].strip()
        k += 1
    return None


def final_answer_text(text: str, truncated: bool = False) -> str | None:
    """The trace's final answer as written: \\boxed{}, '#### X', 'The answer is X', else the last number of
    its last line. A trace cut off by the length limit with no explicit answer has none (a number in
    a half-written or looping line is not an answer)."""
    t = strip_thinking(text)
    b = boxed(t)
    if b is not None:
        return b
    m = re.findall(r"####\s*(.+)", t)
    if m:
        return m[-1].strip()
    m = _ANSWER_IS.findall(t)
    if m:
        ans = m[-1].strip()
        ans = re.sub(r"^\$+|\$+$|^\\\(|\\\)$", "", ans).strip()
        return ans.rstrip(".").strip() or None
    if truncated:
        return None
    lines = [ln for ln in t.splitlines() if ln.strip()]
    nums = re.findall(_NUM, lines[-1]) if lines else []
    return nums[-1] if nums else None


def _to_float(s: str) -> float | None:
    s = s.replace(",", "").replace("$", "").strip()
    s = re.sub(r"\\text\{[^}]*\}|[a-zA-Z%°]+\.?$", "", s).strip()
    try:
        if "/" in s:
            a, b = s.split("/")
            return float(a) / float(b)
        return float(s)
    except (ValueError, ZeroDivisionError):
        return None


def _leading_number(s: str) -> float | None:
    """The number an answer states: after its last '=' if it has one ('19 - 10 = 9 books' states 9, not 19),
    then the first number there ('9 books' -> 9)."""
    s = s.rsplit("=", 1)[-1]
    m = re.match(r"\s*\$?\s*(" + _NUM + ")", s)
    return _to_float(m.group(1)) if m else None


def math_equal(pred: str, gold) -> bool:
    """pred (a final answer string) equals gold (a number or a LaTeX/plain string)?"""
    g = gold if isinstance(gold, str) else repr(float(gold))
    pf, gf = _leading_number(pred) if _to_float(pred) is None else _to_float(pred), _to_float(g)
    if pf is not None and gf is not None:
        return abs(pf - gf) <= 1e-6 + 1e-9 * abs(gf)
    from math_verify import parse, verify

    main = threading.current_thread() is threading.main_thread()
    tp, tv = (5, 5) if main else (None, None)
    try:
        gp = parse(f"${g}$", parsing_timeout=tp)
        pp = parse(f"${pred}$", parsing_timeout=tp)
        return bool(gp) and bool(pp) and verify(gp, pp, timeout_seconds=tv)
    except Exception:  # noqa: BLE001  math-verify raises on pathological input; that is a wrong answer
        return False


def extract_number(text: str) -> float | None:
    """The trace's final answer as a number, if it is one."""
    fa = final_answer_text(text)
    if fa is None:
        return None
    v = _to_float(fa)
    return v if v is not None else _leading_number(fa)


def choice_letter(text: str, n_choices: int = 4) -> str | None:
    """The option the trace commits to: 'answer is X', \\boxed{X}, or a last line that is only a letter.
    Restated option lines ('D. 500') are not answers."""
    t = strip_thinking(text)
    letters = "".join(chr(65 + i) for i in range(n_choices))
    fa = final_answer_text(t)
    explicit = boxed(t) is not None or _ANSWER_IS.search(t) is not None
    if fa and explicit:
        m = re.match(rf"\(?([{letters}])(?:\)|\.|:|\s|$)", fa.strip())
        return m.group(1) if m else None
    lines = [ln.strip() for ln in t.splitlines() if ln.strip()]
    if lines:
        m = re.fullmatch(rf"\(?([{letters}])\)?\.?", lines[-1])
        if m:
            return m.group(1)
    return None


def _norm_text(s: str) -> str:
    s = s.strip().strip("`").strip()
    s = re.sub(r"^(?:python|text)?\n", "", s)
    return " ".join(s.strip("'\"").split())


def text_equal(pred: str, gold: str) -> bool:
    if _norm_text(pred) == _norm_text(gold):
        return True
    a, b = _to_float(pred), _to_float(gold)
    return a is not None and b is not None and abs(a - b) < 1e-9


def code_block(text: str) -> str:
    blocks = re.findall(r"```(?:python|py)?\s*\n(.*?)```", strip_thinking(text), re.S)
    return max(blocks, key=len) if blocks else strip_thinking(text)


def run_humaneval(problem: Problem, completion: str) -> bool:
    code = code_block(completion)
    entry = problem.extra["entry_point"]
    program = code if re.search(rf"def\s+{re.escape(entry)}\s*\(", code) else problem.extra["prompt"] + code
    imports = "\n".join(ln for ln in problem.extra["prompt"].splitlines() if ln.startswith(("import ", "from ")))
    src = f"{imports}\n{program}\n\n{problem.extra['test']}\n\ncheck({entry})\n"
    return run_python(src, limits=Limits(cpu_s=10, wall_s=20)).ok


def check(problem: Problem, text: str, truncated: bool = False) -> tuple[str | None, bool]:
    """(the prediction as read from the trace, whether it is correct). `truncated`: the trace hit the
    length limit (finish_reason "length")."""
    if problem.kind == "code":
        return None, run_humaneval(problem, text)
    if problem.kind == "choice":
        pred = choice_letter(text, len(problem.choices) or 4)
        return pred, pred is not None and pred == str(problem.answer).strip().upper()
    pred = final_answer_text(text, truncated)
    if pred is None:
        return None, False
    if problem.kind == "text":
        return pred, text_equal(pred, str(problem.answer))
    return pred, math_equal(pred, problem.answer)
