"""Answer checking: hand cases, real GSM8K references and perturbations, HumanEval in the sandbox."""
import json

import pytest
from conftest import SHARED

from delta_utils.tasks import Problem, make_problems
from delta_utils.tasks.benchmarks import BENCHMARKS, load_benchmark
from delta_utils.tasks.checking import check

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
