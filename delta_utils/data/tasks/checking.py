"""Answer checking for every problem kind.

- number: the trace's final answer (``\\boxed{}``, "The answer is X", "#### X", else the last
  number) compared with the gold answer, numerically when both are numbers (a gold written with
  decimals accepts a more precise answer that rounds to it), as normalised text when the gold is
  prose, and otherwise with `math-verify` (gold parsed first; its signal-based timeouts are used only
  on the main thread) — see `math_equal`; `checkable` says why an item cannot be checked;
- choice: the option letter the trace ends on;
- text: a program's exact printed output (whitespace-normalised; numerically equal also counts);
- code: HumanEval-style — the completed function and the task's tests run in the sandbox.

A trace's reasoning (think tags, R1-distill's closing tag alone, s1's think/answer markers: `traceformat`)
is set aside before anything is read: only its answer part is checked.
"""
from __future__ import annotations

import math
import re
import threading
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from ...core.sandbox import Limits, run_python
from ..traceformat import split_trace
from .problem import Problem

_NUM = r"-?\d[\d,]*(?:\.\d+)?(?:\s*/\s*\d+)?"
_ANSWER_IS = re.compile(r"answer\s*(?:is|:|=)\s*:?\s*(.+)", re.I)


def strip_thinking(text: str) -> str:
    """The answer part of a trace (`traceformat.split_trace`): after its reasoning in think tags, after
    R1-distill's closing tag alone, or after s1's answer marker; a trace cut off while reasoning has none."""
    return split_trace(text).answer


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


_TEXT_CMD = re.compile(r"\\(?:text|textbf|textit|textrm|mathrm|mbox|operatorname)\s*\{([^{}]*)\}")
# a plain number: thousands commas only in groups of three, then decimals, then e-notation or "\times 10^{n}"
_PLAIN = re.compile(r"(?P<sign>[-+]?)\s*(?P<int>\d{1,3}(?:,\d{3})+|\d*)(?:\.(?P<frac>\d*))?"
                    r"(?:[eE](?P<e>[-+]?\d+))?"
                    r"(?:\s*(?:\\times|\\cdot|×)\s*10\s*\^\s*\{?\s*(?P<e10>[-+]?\d+)\s*\}?)?")
# the same shapes as a prefix of a longer answer (commas only where a digit follows)
_LEAD = re.compile(r"\s*\\?\$?\s*([-+]?\s*(?:\d(?:\d|,(?=\d))*(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
                   r"(?:\s*(?:\\times|\\cdot|×)\s*10\s*\^\s*\{?\s*[-+]?\d+\s*\}?)?(?:\s*/\s*\d+(?:\.\d+)?)?)")


@dataclass(frozen=True)
class _Num:
    """A number as written: its exact value; `exp`, the power of ten of its last written digit ('16.29' -> -2,
    '16' -> 0, '4.5e33' -> 32; None for a fraction, which is exact); `point`, whether decimals are written."""
    value: Fraction
    exp: int | None
    point: bool


def _plain_number(s: str) -> _Num | None:
    m = _PLAIN.fullmatch(s.strip())
    if m is None or not (m["int"] or m["frac"]):
        return None
    frac = m["frac"] or ""
    e = int(m["e"] or 0) + int(m["e10"] or 0)
    digits = (m["int"] or "0").replace(",", "") + "." + (frac or "0")
    value = Fraction(Decimal(digits)) * Fraction(10) ** e
    return _Num(-value if m["sign"] == "-" else value, e - len(frac), bool(frac))


def _number(s: str) -> _Num | None:
    """The number s states, if s is one: plain ('-1,250.5', '.5'), scientific ('1e-3', '4.5 \\times 10^{33}')
    or a fraction of two plain numbers ('114/7'), after removing what may surround it: '$', '\\$', '%',
    degrees, \\text{unit} and a trailing unit word ('18 apples', '5cm'; a single letter only after a space:
    '2x' is no number). A comma must separate thousands:
    '1,000' is 1000, '12,5' and '1,2' are not numbers."""
    s = s.strip().replace("−", "-").replace("{,}", ",").replace("\\!", "").replace("\\,", "")
    s = s.replace("\\$", "").replace("$", "").replace("\\%", "").replace("%", "")
    s = re.sub(r"\^\s*\{?\s*\\circ\s*\}?|\\circ|°", "", s)
    s = _TEXT_CMD.sub(lambda m: m.group(1) if re.search(r"\d", m.group(1)) else " ", s)
    s = re.sub(r"(?:\s+[a-zA-Z]+|(?<=\d)[a-zA-Z]{2,})\.?$", "", s.strip()).strip()  # '18 apples', '5cm'; not '2x'
    if "/" in s:
        parts = s.split("/")
        if len(parts) != 2:
            return None
        a, b = (_plain_number(p) for p in parts)
        if a is None or b is None or b.value == 0:
            return None
        return _Num(a.value / b.value, None, False)
    return _plain_number(s)


def _to_float(s: str) -> float | None:
    """The number s states as a float (see `_number`), else None."""
    n = _number(s)
    return float(n.value) if n is not None else None


def _lead(s: str) -> _Num | None:
    s = s.rsplit("=", 1)[-1]
    m = _LEAD.match(s)
    if m is None or re.match(r"\s*,\s*[-+]?\d", s[m.end():]):  # '1, 2' is a list, not the number 1
        return None
    return _number(m.group(1))


def _leading_number(s: str) -> float | None:
    """The number an answer states: after its last '=' if it has one ('19 - 10 = 9 books' states 9, not 19),
    then the first number there ('9 books' -> 9, '1.5e-3 m per s' -> 0.0015); none where that number starts a
    list ('1, 2')."""
    n = _lead(s)
    return float(n.value) if n is not None else None


def _gold_text(gold) -> str:
    """gold as written: a string as is; an int in full; a float as its shortest repr without the '.0' Python
    writes after an integer-valued float (16.0 -> '16', 16.3 -> '16.3', 1.5e-05 -> '1.5e-05')."""
    if isinstance(gold, str):
        return gold
    if isinstance(gold, int):
        return str(gold)
    r = repr(float(gold))
    return r[:-2] if r.endswith(".0") else r


def _close(p: float, g: float) -> bool:
    """Equal up to float noise: 1e-6 absolute (relative below 1), plus 1e-9 relative."""
    return abs(p - g) <= 1e-6 * min(1.0, abs(g)) + 1e-9 * abs(g)


def _rounds_to(p: _Num, g: _Num) -> bool:
    """p, written more precisely than g (or exactly), rounds to g at g's last written decimal; an exact tie
    ('16.25' for '16.3') counts for either neighbour."""
    if not g.point or g.exp is None or (p.exp is not None and p.exp >= g.exp):
        return False
    return abs(p.value - g.value) <= Fraction(10) ** g.exp / 2


_MATH_WORDS = frozenset(("or and sin cos tan cot sec csc arcsin arccos arctan sinh cosh tanh log ln lg exp lim max min "
                         "mod gcd lcm det dim deg pi inf infty sqrt frac np").split())
_WORD = re.compile(r"[A-Za-z][A-Za-z.'’-]*[,;:!?]?")
_NUM_TOKEN = re.compile(r"[-+(]?\d[\d.,:/]*[).,;:!?]?")


def _words(s: str) -> tuple[list[str], int]:
    """(the words of s: tokens of two or more letters outside LaTeX commands, \\text{} contents included, and
    not a math name such as 'sin' or 'or'; the number of tokens that are plain numbers such as '24' or '11:55')."""
    s = _TEXT_CMD.sub(r" \1 ", s.replace("$", " "))
    toks = re.sub(r"\\[A-Za-z]+|\\.", " ", s).split()
    words = [t for t in toks if _WORD.fullmatch(t) and len(re.sub(r"[^A-Za-z]", "", t)) >= 2
             and re.sub(r"[^A-Za-z]", "", t).lower() not in _MATH_WORDS]
    return words, sum(bool(_NUM_TOKEN.fullmatch(t)) for t in toks)


def is_prose(gold: str) -> bool:
    """Whether a (non-numeric) gold answer is prose rather than math: two or more words (see `_words`:
    '11:55 p.m. on 24 December 2014', '5 red apples'), or one word and two or more separate numbers
    ('24 December 2014'), or a single word of three or more letters ('Paris', 'True'). Single letters,
    LaTeX commands, function names and 'and'/'or' are not words, so '\\frac{\\sqrt{2}}{2}', 'MR=SRMC',
    '2.2 \\tau' and 'x = 5 \\text{ or } x = -3' are math."""
    words, nums = _words(gold)
    if len(words) >= 2 or (words and nums >= 2):
        return True
    core = _TEXT_CMD.sub(r"\1", gold.replace("$", "")).strip()
    return len(words) == 1 and core == words[0] and len(re.sub(r"[^A-Za-z]", "", core)) >= 3


def _norm_prose(s: str) -> str:
    """Prose for comparison: lower case, $ and \\text{} unwrapped, '.' and apostrophes dropped and other
    punctuation made a space (except between digits: '11:55', '3.5', '1,000'), whitespace collapsed."""
    s = _TEXT_CMD.sub(r" \1 ", s.replace("−", "-")).replace("$", " ").replace("\\,", " ").replace("~", " ").lower()
    s = re.sub(r"(?<!\d)[.'’]|[.'’](?!\d)", "", s)
    s = re.sub(r"(?<!\d)[,:;!?()\[\]{}\"`]|[,:;!?()\[\]{}\"`](?!\d)", " ", s)
    return " ".join(s.split())


def _math_verify(pred: str, g: str, gold_num: _Num | None) -> bool:
    """math-verify's verdict on pred against g; for a numeric gold with decimals, also whether pred's exact
    value (e.g. '\\frac{114}{7}', '\\sqrt{2}') rounds to it."""
    from math_verify import parse, verify

    main = threading.current_thread() is threading.main_thread()
    tp, tv = (5, 5) if main else (None, None)
    try:
        gp = parse(f"${g}$", parsing_timeout=tp)
        pp = parse(f"${pred}$", parsing_timeout=tp)
        if bool(gp) and bool(pp) and verify(gp, pp, timeout_seconds=tv):
            return True
        if gold_num is None or not gold_num.point or not pp or not getattr(pp[0], "is_number", False):
            return False
        v = complex(pp[0].evalf())
        return v.imag == 0 and abs(v.real - float(gold_num.value)) <= 10.0 ** gold_num.exp / 2
    except Exception:  # noqa: BLE001  math-verify raises on pathological input; that is a wrong answer
        return False


def math_equal(pred: str, gold) -> bool:
    """pred (a final answer string) equals gold (a number, or a LaTeX/plain/prose string)?

    - Both numbers (see `_number`; gold as `_gold_text` writes it): equal up to float noise (`_close`), or
      **rounding-aware**: a gold written with d decimals (d >= 1, trailing zeros count: '3.30' has 2; in
      scientific notation, the mantissa's: '4.5e33' is given to 1e32) accepts a prediction written with more
      decimals (or an exact fraction) that rounds to it at d decimals, and an exact tie either way: '16.3'
      accepts 114/7 = 16.2857..., 16.29 and 16.25, '3.333' accepts 3.3333, '-16.3' accepts -16.2857. Not
      accepted: anything by an integer gold ('16' rejects 16.3; a float gold's decimals are those of its
      shortest repr, and an integer-valued float such as 16.0 is an integer), a prediction written with no
      more decimals than gold ('3.3' for '3.333'), anything by a fraction gold ('10/3' rejects 3.33).
      '5%' is 5 (not 0.05); '$5.00' is 5; '1,000' is 1000 but '12,5' is no number.
    - A prose gold (`is_prose`: '11:55 p.m. on 24 December 2014', 'True'): the normalised text must be equal
      (`_norm_prose`); no number inside it is compared on its own.
    - Otherwise math-verify (LaTeX fractions, roots, intervals, sets, equations), gold parsed first; a
      numeric gold with decimals also accepts an exact expression that rounds to it ('\\frac{114}{7}')."""
    g = _gold_text(gold)
    gn = _number(g)
    if gn is not None:
        pn = _number(pred) or _lead(pred)
        if pn is not None:
            return _close(float(pn.value), float(gn.value)) or _rounds_to(pn, gn)
    elif isinstance(gold, str) and is_prose(g):
        return _norm_prose(pred) == _norm_prose(g)
    return _math_verify(pred, g, gn)


_PROSE_MAX_WORDS = 12


def checkable(problem: Problem) -> str | None:
    """None when `check` can tell a right answer to the problem from a wrong one, else the reason it cannot (for
    a loader or an evaluation to leave the item out and count why): no gold answer; a choice gold that is not an
    option letter; a number gold that is not finite, that math-verify cannot parse, or that is free-form prose
    of more than 12 words (compared as text, only a verbatim restatement would match); an unknown kind; a code
    problem without tests."""
    kind, ans = problem.kind, problem.answer
    if kind == "code":
        return None if problem.extra else "code problem without tests"
    if kind not in ("number", "choice", "text"):
        return f"unknown problem kind {kind!r}"
    if ans is None or str(ans).strip() == "":
        return "no gold answer"
    if kind == "choice":
        letters = "".join(chr(65 + i) for i in range(len(problem.choices) or 4))
        a = str(ans).strip().upper()
        return None if len(a) == 1 and a in letters else f"gold answer {ans!r} is not one of the letters {letters}"
    if kind == "text":
        return None
    if isinstance(ans, float) and not math.isfinite(ans):
        return "gold answer is not a finite number"
    g = _gold_text(ans)
    if _number(g) is not None:
        return None
    if isinstance(ans, str) and is_prose(g):
        n = len(g.split())
        return None if n <= _PROSE_MAX_WORDS else f"gold answer is free-form prose ({n} words)"
    from math_verify import parse

    try:
        ok = bool(parse(f"${g}$", parsing_timeout=5 if threading.current_thread() is threading.main_thread() else None))
    except Exception:  # noqa: BLE001
        ok = False
    return None if ok else "gold answer does not parse as math"


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
    if problem.kind == "code" and problem.extra.get("harness") == "livecodebench":
        from .livecodebench import run_livecodebench

        return None, run_livecodebench(problem, code_block(text))
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
