"""The programmatic verifier on hand-made traces and on real GSM8K reference solutions."""
import json
import re

import pytest
from conftest import SHARED

from delta_utils.data.tasks import make_problems
from delta_utils.data.verify import expressions, gsm8k_steps, verify


def test_expressions_chains_and_symbols():
    ex = expressions("16 - 3 - 4 = 9, then (3+5)*2 = 16; 9 * $2 = $18 and 3 x 4 = 12, 10 ÷ 4 = 2.5")
    assert [(ops, v, c) for ops, v, c in ex] == [([16, 3, 4], 9, 9), ([3, 5, 2], 16, 16), ([9, 2], 18, 18),
                                                  ([3, 4], 12, 12), ([10, 4], 2.5, 2.5)]


def test_latex_fractions_are_steps():
    """A coder's `\\frac{30}{3} = 10` is a step: its result is available to the next one, and a wrong one counts."""
    q = ("Farid has 30 books. Farid shares the books equally among 3 boxes and keeps one box. "
         "Then Farid buys 5 more books. How many books does Farid have now?")
    latex = r"\[ \frac{30}{3} = 10 \] Then \( 10 + 5 = 15 \). The answer is 15."
    v = verify(latex, q, 15, [10, 15])
    assert v["n_expressions"] == 2 and v["step_coherence"] == 5 and v["numerical_precision"] == 5
    assert verify(latex.replace("\\frac", "\\dfrac"), q, 15, [10, 15])["step_coherence"] == 5
    wrong = verify(r"\[ \frac{30}{3} = 12 \] Then 12 + 5 = 17. The answer is 17.", q, 15, [10, 15])
    assert wrong["n_wrong_expressions"] == 1 and wrong["step_coherence"] == 5


def test_prose_steps_count():
    """A result written in words ("equals", "is") is an expression, and a true intermediate result stated in
    prose is available to later steps; a number that is neither given nor derived still is not."""
    q = ("Dev has 3 coins. Dev uses 1 of the coins. Dev then gets 3 times as many coins. "
         "How many coins does Dev have now?")
    words = "Dev uses 1, so 3 - 1 equals 2. Then 2 * 3 is 6. The answer is 6."
    v = verify(words, q, 6, [2, 6])
    assert v["n_expressions"] == 2 and v["step_coherence"] == 5 and v["numerical_precision"] == 5
    prose = "Dev uses 1 coin, leaving him with 2 coins. Then 3 * 2 = 6. The answer is 6."
    assert verify(prose, q, 6, [2, 6])["step_coherence"] == 5
    invented = "Dev uses 1 coin, leaving him with 4 coins. Then 3 * 4 = 12. The answer is 12."
    assert verify(invented, q, 6, [2, 6])["step_coherence"] == 1
    later = "Then 3 * 2 = 6, as he is left with 2 coins. The answer is 6."  # stated only after its use
    assert verify(later, q, 6, [2, 6])["step_coherence"] == 1


def _trace(p, wrong_step=None):
    lines = [f"Start with {p.steps[0].a}."]
    for i, s in enumerate(p.steps):
        sym = {"add": "+", "sub": "-", "mul": "*", "div": "/"}[s.op]
        res = s.result + (7 if i == wrong_step else 0)
        lines.append(f"{s.a} {sym} {s.b} = {res}")
    lines.append(f"The answer is {p.answer}.")
    return "\n".join(lines)


def test_correct_trace_scores_high_and_errors_are_caught():
    for p in make_problems("arithmetic", 30, seed=4, min_steps=2, max_steps=3):
        results = [s.result for s in p.steps]
        good = verify(_trace(p), p.question, p.answer, results)
        assert good["numerical_precision"] == 5 and good["factuality"] == 5 and good["answer_correct"]
        assert good["step_coherence"] == 5
        bad = verify(_trace(p, wrong_step=0), p.question, p.answer, results)
        assert bad["numerical_precision"] < 5 and bad["n_wrong_expressions"] >= 1
        noise = verify("I like turtles.\nSo many turtles.\n" + _trace(p), p.question, p.answer, results)
        assert noise["signal_to_noise"] < good["signal_to_noise"]
        empty = verify("I don't know.", p.question, p.answer, results)
        assert empty["strategy_coherence"] == 1 and empty["factuality"] < 5


@pytest.mark.skipif(not (SHARED / "data/gsm8k/test.jsonl").is_file(), reason="../shared is absent")
def test_gsm8k_reference_solutions():
    rows = [json.loads(x) for x in (SHARED / "data/gsm8k/test.jsonl").read_text().splitlines()]
    high = checked = perturbed_caught = with_calc = 0
    for r in rows:
        sol = r["answer"]
        ans = float(sol.split("####")[-1].strip().replace(",", ""))
        steps = gsm8k_steps(sol)
        text = re.sub(r"<<([^<>=]+)=([^<>]+)>>", lambda m: f" ({m.group(1)} = {m.group(2)}) ", sol)
        text = text.replace("####", "The answer is")
        v = verify(text, r["question"], ans, [s["result"] for s in steps])
        if v["n_expressions"]:  # prose-only solutions have nothing to check
            checked += 1
            high += v["numerical_precision"] >= 4
        if steps and re.search(r"[-+*/]", steps[0]["expr"]):  # an annotation with an operation to check
            with_calc += 1
            first = steps[0]
            wrong = text.replace(f"{first['expr']} = {sol.split('<<')[1].split('=')[1].split('>>')[0]}",
                                 f"{first['expr']} = {first['result'] + 13:g}", 1)
            w = verify(wrong, r["question"], ans, [s["result"] for s in steps])
            perturbed_caught += w["n_wrong_expressions"] > v["n_wrong_expressions"]
    assert checked / len(rows) >= 0.95 and high / checked >= 0.95
    assert perturbed_caught / with_calc >= 0.97


def test_every_rubric_dimension_gets_a_verifier_score_or_an_error(monkeypatch):
    from delta_utils.data import rubric
    from delta_utils.data import verify as V

    p = make_problems("arithmetic", 1, seed=4, min_steps=2, max_steps=2)[0]
    got = verify(_trace(p), p.question, p.answer, [s.result for s in p.steps])
    assert set(rubric.DIMENSION_NAMES) <= set(got)  # the verifier reads the rubric's own list
    monkeypatch.setattr(V, "DIMENSIONS", [*rubric.DIMENSION_NAMES, "elegance"])  # a dimension added to the rubric
    with pytest.raises(NotImplementedError, match="elegance"):
        verify(_trace(p), p.question, p.answer, [s.result for s in p.steps])
