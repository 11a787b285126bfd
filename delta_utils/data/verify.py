"""A programmatic process verifier: the five judge dimensions, computed instead of judged.

For a problem whose ground truth is known (the procedural tasks carry their steps; GSM8K
solutions carry ``<<a*b=c>>`` calculator annotations), a trace is checked mechanically:

- **numerical_precision**: share of the arithmetic expressions ``a op b = c`` written in the
  trace whose result is right.
- **factuality**: share of the numbers given in the problem that the trace uses.
- **step_coherence**: share of the trace's expressions whose operands were available at that
  point: given in the problem, produced by an earlier expression of the trace, or a true
  intermediate result that the trace stated earlier in prose ("leaving him with 5 coins").
- **strategy_coherence**: half the share of the ground-truth intermediate results that appear in
  the trace, half whether the final answer is right.
- **signal_to_noise**: share of the trace's non-empty lines that carry a relevant quantity (a
  given number, an expression, or a ground-truth result).

LaTeX fractions (``\\frac{30}{3} = 10``, as the coder models write them) are read as divisions first;
an expression's result may follow "=" or a word for it ("29 + 17 equals 46", "... is 46").

Each share s in [0, 1] maps to the judge's scale as 1 + 4 s. A trace with no written arithmetic
gets the neutral 3 on numerical precision (nothing to check) and 1 on step coherence (no steps).
"""
from __future__ import annotations

import re

from .rubric import DIMENSION_NAMES
from .tasks.checking import extract_number

_NUM = r"-?(?:\d+(?:,\d{3})*(?:\.\d+)?|\.\d+)"
_UNUM = r"(?:\d+(?:,\d{3})*(?:\.\d+)?|\.\d+)"
_OP = r"(?:\+|-|−|\*|×|x|X|/|÷|\\times|\\cdot|\\div)"
_TERM = rf"\(*\s*\$?{_UNUM}\s*\)*"
# a chain of terms joined by operators, then "= result": 16 - 3 - 4 = 9, (3 + 5) * 2 = 16, 9 * $2 = $18
_EQ = r"(?:=|\bequals\b|\bis equal to\b|\bgives(?: us)?\b|\bmakes\b|\bresults in\b|\bis\b)"
EXPR = re.compile(rf"({_TERM}(?:\s*{_OP}\s*{_TERM})+)\s*{_EQ}\s*\$?\s*({_NUM})")
GSM8K_CALC = re.compile(r"<<([^<>=]+)=([^<>]+)>>")
_OPS = [("\\times", "*"), ("\\cdot", "*"), ("\\div", "/"), ("×", "*"), ("÷", "/"), ("−", "-"), ("x", "*"),
        ("X", "*"), ("$", "")]
DIMENSIONS = DIMENSION_NAMES  # the rubric's, one list: the verifier scores every judged dimension or says it cannot


_FRAC = re.compile(r"\\[dt]?frac\s*\{\s*([^{}]+?)\s*\}\s*\{\s*([^{}]+?)\s*\}")


def plain_math(text: str) -> str:
    """`\\frac{a}{b}` (and `\\dfrac`, `\\tfrac`) rewritten as `(a) / (b)`, so that a fraction is an expression
    whose result later steps may use; other text is unchanged."""
    return _FRAC.sub(lambda m: f"({m[1]}) / ({m[2]})", text)


def _num(s: str) -> float:
    return float(s.replace(",", "").replace("$", ""))


def numbers(text: str) -> list[float]:
    return [_num(x) for x in re.findall(_NUM, text)]


def _safe_eval(expr: str) -> float | None:
    """Evaluate + - * / and parentheses on numbers only."""
    import ast

    def ev(n):
        if isinstance(n, ast.Expression):
            return ev(n.body)
        if isinstance(n, ast.Constant) and isinstance(n.value, (int, float)):
            return float(n.value)
        if isinstance(n, ast.UnaryOp) and isinstance(n.op, ast.USub):
            return -ev(n.operand)
        if isinstance(n, ast.BinOp) and isinstance(n.op, (ast.Add, ast.Sub, ast.Mult, ast.Div)):
            a, b = ev(n.left), ev(n.right)
            if isinstance(n.op, ast.Add):
                return a + b
            if isinstance(n.op, ast.Sub):
                return a - b
            if isinstance(n.op, ast.Mult):
                return a * b
            return a / b
        raise ValueError("not arithmetic")

    for old, new in _OPS:
        expr = expr.replace(old, new)
    expr = expr.strip()
    while expr.startswith("(") and expr.count("(") > expr.count(")"):  # a parenthesis of the prose
        expr = expr[1:].strip()
    while expr.endswith(")") and expr.count(")") > expr.count("("):
        expr = expr[:-1].strip()
    try:
        return ev(ast.parse(expr.replace(",", ""), mode="eval"))
    except (SyntaxError, ValueError, ZeroDivisionError, RecursionError):
        return None


def _expression_matches(text: str) -> list[tuple[int, int, list[float], float | None, float]]:
    """(start, end, operands, value of lhs, stated c) of each expression `lhs = c`, in order."""
    return [(m.start(), m.end(), [_num(x) for x in re.findall(_UNUM, m[1].replace("$", ""))], _safe_eval(m[1]),
             _num(m[2])) for m in EXPR.finditer(text)]


def expressions(text: str) -> list[tuple[list[float], float | None, float]]:
    """Arithmetic expressions `lhs = c` written in a trace, in order: (operands, value of lhs, stated c)."""
    return [(operands, value, c) for _, _, operands, value, c in _expression_matches(text)]


def _close(x: float | None, y: float, atol: float = 1e-6) -> bool:
    return x is not None and abs(x - y) <= atol + 1e-9 * abs(y)


def gsm8k_steps(solution: str) -> list[dict]:
    """Ground-truth steps from GSM8K's calculator annotations, e.g. ``<<48/2=24>>``."""
    steps = []
    for lhs, rhs in GSM8K_CALC.findall(solution):
        try:
            steps.append({"expr": lhs.strip(), "result": _num(rhs.strip())})
        except ValueError:
            continue
    return steps


def verify(trace: str, question: str, answer: float, step_results: list[float]) -> dict:
    """Scores on the judge's 1-5 scale plus the raw checks behind them."""
    trace = plain_math(trace)
    matches = _expression_matches(trace)
    given = set(numbers(question))
    used = set(numbers(trace))
    correct = [_close(value, c, atol=0.006) for *_, value, c in matches]  # results rounded to cents pass
    available = set(given)
    coherent = []
    prose_from = 0
    for start, end, operands, _, c in matches:
        # a true intermediate result stated in the prose since the last expression is available too
        available |= {x for x in numbers(trace[prose_from:start]) if any(_close(x, r) for r in step_results)}
        coherent.append(all(x in available for x in operands))
        available.add(c)
        prose_from = end
    pred = extract_number(trace)
    answer_ok = pred is not None and _close(pred, float(answer))
    results_found = [any(_close(u, r) for u in used) for r in step_results]
    relevant = given | {c for *_, c in matches} | set(step_results)
    lines = [ln for ln in trace.splitlines() if ln.strip()]
    useful = [ln for ln in lines if EXPR.search(ln) or any(n in relevant for n in numbers(ln))]
    shares = {
        "numerical_precision": sum(correct) / len(correct) if matches else 0.5,
        "factuality": len(given & used) / len(given) if given else 1.0,
        "step_coherence": sum(coherent) / len(coherent) if matches else 0.0,
        "strategy_coherence": 0.5 * (sum(results_found) / len(results_found) if results_found else float(answer_ok))
        + 0.5 * float(answer_ok),
        "signal_to_noise": len(useful) / len(lines) if lines else 0.0,
    }
    missing = [d for d in DIMENSIONS if d not in shares]
    if missing:
        raise NotImplementedError(f"the verifier has no score for the rubric dimension(s) {missing}: a judge-vs-"
                                  "verifier check of them would be empty; add a share for each in verify.verify")
    scores = {d: round(1 + 4 * shares[d], 3) for d in DIMENSIONS}
    return {**scores, "n_expressions": len(matches), "n_wrong_expressions": len(matches) - sum(correct),
            "answer_correct": answer_ok}
