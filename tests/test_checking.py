"""Answer checking: hand cases, real GSM8K references and perturbations, HumanEval in the sandbox."""
import json

import pytest
from conftest import SHARED

from delta_utils.data.tasks import Problem, make_problems
from delta_utils.data.tasks.benchmarks import BENCHMARKS, load_benchmark
from delta_utils.data.tasks.checking import check

DATA = SHARED / "data"
needs_shared = pytest.mark.skipif(not DATA.is_dir(), reason="../shared is absent")


def P(answer, kind="number", choices=()):
    return Problem("x", "t", "q", answer, kind=kind, choices=choices)


@pytest.mark.parametrize("problem, text, ok", [
    (P(7), "so 3+4=7. The answer is 7.", True),
    (P(7), "The answer is 8.", False),
    (P(1250), "The answer is: 1,250", True),
    (P(0.375), "The answer is 3/8.", True),
    (P("\\frac{3}{8}"), "so \\boxed{\\frac{3}{8}}", True),
    (P("\\frac{3}{8}"), "\\boxed{0.375}", True),
    (P("2\\sqrt{2}"), "\\boxed{\\sqrt{8}}", True),
    (P(18), "#### 18", True),
    (P(18), "The answer is $18.", True),
    (P(18), "The answer is 18 apples.", True),
    (P(18), "<think>The answer is 18</think> The answer is 17.", False),
    (P(1450000), "The answer is 1450001", False),
    # an answer that shows its working states the value after its last '=' (seen in 05_evaluate's example)
    (P(19), "The answer is 19 - 10 = 9 books Omar", False),
    (P(9), "The answer is 19 - 10 = 9 books Omar", True),
    (P(4), "The answer is N = 4.", True),
    (P("B", "choice", ("1", "2", "3", "4")), "... The answer is B.", True),
    (P("B", "choice", ("1", "2", "3", "4")), "The answer is (C)", False),
    (P("1 6", "text"), "The answer is 1 6.", True),
    (P("112", "text"), "The answer is `112`", True),
    (P("NIRT", "text"), "The answer is 'NIRT'.", True),
    (P("NIRT", "text"), "The answer is TRIN.", False),
])
def test_check_cases(problem, text, ok):
    assert check(problem, text)[1] is ok


def test_procedural_families_answer_their_own_keys():
    for fam in ["arithmetic", "stem", "code_output"]:
        for p in make_problems(fam, 40, seed=3):
            key = p.answer if p.kind != "choice" else p.answer
            assert check(p, f"The answer is {key}.")[1], p


def test_code_output_answers_come_from_running_the_code():
    ps = make_problems("code_output", 20, seed=9)
    assert ps == make_problems("code_output", 20, seed=9)
    for p in ps:
        prog = p.question.split("```python\n")[1].split("```")[0]
        import contextlib
        import io

        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            exec(prog, {})
        assert buf.getvalue().strip() == p.answer


@needs_shared
def test_gsm8k_reference_answers_and_perturbations():
    ps = load_benchmark("gsm8k", DATA / "gsm8k/test.jsonl")
    assert len(ps) == 1319
    assert all(check(p, p.extra["solution"])[1] for p in ps)
    rejected = total = 0
    for p in ps:
        head, tail = p.extra["solution"].rsplit("####", 1)
        v = float(tail.strip().replace(",", ""))
        for new in (v + 1, v - 1, v * 10, v + 0.5):
            total += 1
            rejected += not check(p, f"{head}#### {int(new) if new.is_integer() else new}")[1]
    assert rejected == total


@needs_shared
def test_minerva_boxed_reference_solutions():
    rows = [json.loads(x) for x in (DATA / "minerva_math/test.jsonl").read_text().splitlines()]
    ps = load_benchmark("minerva_math", DATA / "minerva_math/test.jsonl")
    assert sum(check(p, r["solution"])[1] for p, r in zip(ps, rows)) == len(ps)


@needs_shared
@pytest.mark.parametrize("name, path, n", [("gsm8k", "gsm8k/test.jsonl", 1319), ("svamp", "svamp/test.jsonl", 1000),
                                           ("mawps", "mawps/test.jsonl", 2065),
                                           ("mmlu_stem", "mmlu_stem/test.jsonl", 3018),
                                           ("minerva_math", "minerva_math/test.jsonl", 272),
                                           ("amc23", "amc23/test.jsonl", 40), ("aime24", "aime24/test.jsonl", 30)])
def test_loaders_on_real_files(name, path, n):
    ps = load_benchmark(name, DATA / path)
    assert len(ps) == n and len({p.id for p in ps}) == n
    assert all(p.question and str(p.answer) != "" for p in ps)
    sub = load_benchmark(name, DATA / path, n=10, seed=1)
    assert len(sub) == 10 and sub == load_benchmark(name, DATA / path, n=10, seed=1)


def test_unknown_benchmark_and_offline_hub():
    with pytest.raises(ValueError, match="known"):
        load_benchmark("nope")
    assert "gsm8k" in BENCHMARKS


def test_humaneval_runs_in_the_sandbox():
    ps = load_benchmark("humaneval")
    assert len(ps) == 164
    p = ps[0]
    good = p.extra["prompt"] + ("    for i, a in enumerate(numbers):\n        for j, b in enumerate(numbers):\n"
                                "            if i != j and abs(a - b) < threshold:\n                return True\n"
                                "    return False\n")
    assert check(p, f"```python\n{good}```")[1]
    assert not check(p, "```python\ndef has_close_elements(numbers, threshold):\n    return False\n```")[1]
    assert not check(p, "```python\nimport os\nos.system('rm -rf /')\n```")[1]


def test_agreement_with_hand_labels_on_real_model_solutions():
    """tests/data/labelled_solutions.jsonl: 120 real SmolLM2-135M-Instruct solutions (llama.cpp, greedy) to
    procedural arithmetic, STEM and code-output problems, labelled by hand (is the response's final answer
    right: its explicit answer statement, else the number its last line states; a response cut off with
    no answer has none). 38 were ones the checker marked correct, 82 a seeded sample of the rest."""
    path = __import__("pathlib").Path(__file__).parent / "data" / "labelled_solutions.jsonl"
    rows = [json.loads(x) for x in path.read_text().splitlines()]
    agree = 0
    for r in rows:
        p = Problem(r["problem_id"], r["family"], r["question"], r["answer"], kind=r["kind"],
                    choices=tuple(r["choices"]))
        agree += check(p, r["text"], r["finish_reason"] == "length")[1] == r["label"]
    assert len(rows) == 120 and agree / len(rows) >= 0.99


# ---------------------------------------------------------------- issue 29: rounding-aware numbers, prose answers
from delta_utils.data.tasks.checking import _leading_number, _to_float, checkable, is_prose, math_equal, text_equal  # noqa: E402


@pytest.mark.parametrize("pred, gold, ok", [
    # the two findings: exact answers against golds rounded to the decimals they are written with
    ("114/7", "16.3", True), ("16.2857142857", "16.3", True), ("16.29", "16.3", True), ("16.34", "16.3", True),
    ("16.36", "16.3", False), ("16.24", "16.3", False), ("16.2", "16.3", False),
    ("10/3", "3.333", True), ("3.3333", "3.333", True), ("3.33", "3.333", False),
    # fewer decimals than gold: no rounding (3.3 does not round to 3.333)
    ("3.3", "3.333", False),
    # a float gold's decimals are those of its shortest repr
    ("114/7", 16.3, True), ("16.29", 16.3, True), ("16.4", 16.3, False), ("3.3333", 3.333, True),
    # an integer gold is exact (int, integer-valued float and string alike); '16.0' as a string has one decimal
    ("16.3", "16", False), ("16.3", 16, False), ("16.04", 16.0, False), ("16.4", 16, False), ("16", 16.0, True),
    ("16.04", "16.0", True), ("16.06", "16.0", False),
    # trailing zeros count as written decimals
    ("3.304", "3.30", True), ("3.306", "3.30", False),
    # negative numbers: the sign must agree
    ("-114/7", "-16.3", True), ("-16.2857", -16.3, True), ("16.2857", "-16.3", False), ("-16.2857", "16.3", False),
    # an exact tie counts for either neighbour (round-half-up, half-even and half-down all agree with one of them)
    ("16.25", "16.3", True), ("16.25", "16.2", True), ("16.35", "16.3", True), ("16.35", "16.4", True),
    ("-16.25", "-16.3", True), ("-16.25", "-16.2", True), ("2.5", "2", False), ("2.5", 2, False),
    # fraction golds stay exact, plain or LaTeX
    ("3.333", "10/3", False), ("3.33", "\\frac{10}{3}", False), ("10/3", "10/3", True),
    ("\\frac{10}{3}", "10/3", True),
    # an exact LaTeX value that rounds to a decimal gold
    ("\\frac{114}{7}", "16.3", True), ("\\sqrt{2}", "1.41", True), ("\\sqrt{2}", "1.42", False),
    # scientific notation: the mantissa's decimals, and a small gold is not swamped by an absolute tolerance
    ("4.47e33", "4.5e33", True), ("4.47 \\times 10^{33}", "4.5e33", True), ("4.4e33", "4.5e33", False),
    ("4.5 \\times 10^{33}", "4.5e33", True), ("1e-3", "0.001", True), ("1e-3", 0.001, True), ("2e-3", "0.001", False),
    ("0", "3.89e-10", False), ("5e-7", "1e-8", False), ("1.0e-8", "1e-8", True), ("3.9e-10", "3.89e-10", False),
    # thousands separators, currency and percent
    ("1,000", "1000", True), ("1000", "1,000", True), ("1,000", 1000, True), ("12,5", 125, False),
    ("12,5", 12.5, False), ("$5.00", 5, True), ("\\$5.00", "5", True), ("5%", 5, True), ("5\\%", "5", True),
    ("5%", 0.05, False), ("0.05", "5%", False),
    # a list is not its first number; a single letter glued to a number is algebra, not a unit
    ("1, 2", 1, False), ("2", "2x", False), ("2x", "2x", True), ("18 apples", 18, True),
    # LaTeX answers are still math-verify's
    ("\\frac{1}{2}", "0.5", True), ("0.5", "\\frac{1}{2}", True), ("\\frac{1}{3}", "0.5", False),
    ("\\frac{\\sqrt2}{2}", "\\sqrt{2}/2", True), ("\\sqrt{2}/2", "\\frac{\\sqrt{2}}{2}", True),
    ("\\frac{\\sqrt3}{2}", "\\frac{\\sqrt{2}}{2}", False), ("[0,1)", "[0,1)", True), ("(0,1]", "[0,1)", False),
    ("\\{2,1\\}", "\\{1,2\\}", True), ("x = -3 \\text{ or } x = 5", "x = 5 \\text{ or } x = -3", True),
    ("MR=SRMC", "MR=SRMC", True), ("2\\sqrt{2}", "\\sqrt{8}", True),
    # prose golds: normalised text, and no number inside compared on its own
    ("9:00 a.m. on 1 January 2014", "11:55 p.m. on 24 December 2014", False),
    ("11:55 p.m. on 24 December 2014", "11:55 p.m. on 24 December 2014", True),
    ("11:55 pm on 24 December, 2014", "11:55 p.m. on 24 December 2014", True),
    ("$\\text{11:55 P.M. on 24 december 2014}$", "11:55 p.m. on 24 December 2014", True),
    ("2014", "11:55 p.m. on 24 December 2014", False),
    ("11:55 p.m. on 25 December 2014", "11:55 p.m. on 24 December 2014", False),
    ("1 January 2014", "24 December 2014", False), ("24 December 2014", "24 December 2014", True),
    ("Paris", "Paris", True), ("\\text{paris}", "Paris", True), ("Sirap", "Paris", False),
    ("true", "True", True), ("False", "True", False),
])
def test_math_equal_rounding_and_prose(pred, gold, ok):
    assert math_equal(pred, gold) is ok


@pytest.mark.parametrize("text, gold, ok", [
    ("The answer is 16.29.", "16.3", True), ("The answer is 16.36.", "16.3", False),
    ("\\boxed{\\frac{10}{3}}", "3.333", True), ("The answer is 3.3.", "3.333", False),
    ("The answer is 9:00 a.m. on 1 January 2014.", "11:55 p.m. on 24 December 2014", False),
    ("The answer is 11:55 p.m. on 24 December 2014.", "11:55 p.m. on 24 December 2014", True),
    ("It happened in 2014", "11:55 p.m. on 24 December 2014", False),
])
def test_check_rounded_and_prose_golds(text, gold, ok):
    assert check(P(gold), text)[1] is ok


@pytest.mark.parametrize("gold, prose", [
    ("11:55 p.m. on 24 December 2014", True), ("5 red apples", True), ("24 December 2014", True), ("Paris", True),
    ("True", True), ("\\text{three hours}", True),
    ("\\frac{\\sqrt{2}}{2}", False), ("MR=SRMC", False), ("2.2 \\tau", False), ("x = 5 \\text{ or } x = -3", False),
    ("\\sin (3 t) / 5+ C_{1} \\sin (2 t)", False), ("E_{1},E_{2}", False), ("m", False), ("\\alpha", False),
    ("np.arcsin(10/13)", False), ("December 2014", False), ("ab", False),
])
def test_is_prose(gold, prose):
    assert is_prose(gold) is prose


def test_number_parsing_details():
    assert _to_float("1,000") == 1000 and _to_float("1,000,000.5") == 1000000.5
    assert _to_float("12,5") is None and _to_float("1,2") is None and _to_float("1,0000") is None
    assert _to_float("$5.00") == 5 and _to_float("5%") == 5 and _to_float("30^\\circ") == 30
    assert _to_float("1e-3") == 0.001 and _to_float("4.5 \\times 10^{3}") == 4500 and _to_float("-1./3") == -1 / 3
    assert _to_float("5 \\text{ cm}") == 5 and _to_float("2x") is None and _to_float("x") is None
    assert _leading_number("1.5e-3 meters per second") == 0.0015 and _leading_number("18, since 20 - 2") == 18
    assert _leading_number("1, 2") is None and _leading_number("1,000 apples") == 1000
    assert _leading_number("19 - 10 = 9 books") == 9
    # a program's printed output: numerically equal still counts, a decimal comma is not a thousands separator
    assert text_equal("1,000", "1000") and not text_equal("12,5", "125") and not text_equal("16.29", "16.3")


@pytest.mark.parametrize("problem, reason", [
    (P(16.3), None), (P("11:55 p.m. on 24 December 2014"), None), (P("\\frac{1}{2}"), None), (P(7), None),
    (P(""), "no gold answer"), (P(None), "no gold answer"), (P("  "), "no gold answer"),
    (P(float("nan")), "gold answer is not a finite number"), (P(float("inf")), "gold answer is not a finite number"),
    (P("The train leaves at noon because the schedule was changed after the strike by the rail workers"),
     "gold answer is free-form prose (17 words)"),
    (P("B", "choice", ("1", "2", "3", "4")), None), (P("E", "choice", ("1", "2", "3", "4")), "not one of the letters"),
    (P("AB", "choice", ("1", "2", "3", "4")), "not one of the letters"),
    (P("NIRT", "text"), None), (P("x", "essay"), "unknown problem kind"),
    (Problem("x", "t", "q", "", kind="code"), "code problem without tests"),
])
def test_checkable(problem, reason):
    got = checkable(problem)
    assert got is None if reason is None else (got is not None and reason in got)


def test_the_answer_is_read_after_any_familys_reasoning():
    p = Problem("r1", "x", "What is 2 + 3?", 5)
    # R1-distill: the template pre-fills <think>, so the reasoning ends at a closing tag alone; it mentions 7
    assert check(p, "First I try 7, no: 2 + 3 = 5.\n</think>\n\nThe answer is 5.") == ("5", True)
    assert check(p, "Hmm, 2 + 3 = 5? The answer is 5.\n</think>\n\nThe answer is 7.") == ("7", False)
    assert check(p, "think\n2 + 3 = 5, not 7.\nanswer\nThe answer is 5.") == ("5", True)  # s1.1's markers
    assert check(p, "<think>\n2 + 3 = 5", truncated=True) == (None, False)  # cut off while reasoning
