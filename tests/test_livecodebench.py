"""LiveCodeBench: the loader on hub-shaped rows (release window, private tests, no code from pickles) and the
harness in the sandbox (stdin and functional tests, wrong answers, timeouts)."""
import base64
import json
import os
import pickle
import time
import zlib
from pathlib import Path

import pytest

from delta_utils.core.sandbox import Limits
from delta_utils.data.tasks.benchmarks import load_benchmark
from delta_utils.data.tasks.checking import check, code_block
from delta_utils.data.tasks.livecodebench import decode_tests, grade, livecodebench_problem, release_files, same_output
from delta_utils.data.tasks.prompts import question_text

FIXTURE = Path(__file__).parent / "data" / "hub" / "livecodebench.jsonl"
FAST = Limits(cpu_s=1, wall_s=2.0)


def run(problem, answer, limits=FAST):
    """The harness on the program of a model's answer (its code block, as `check` extracts it)."""
    return grade(problem, code_block(answer), limits)


def fixture_rows():
    return [json.loads(x) for x in FIXTURE.read_text().splitlines()]


def test_loader_and_release_window():
    ps = load_benchmark("livecodebench", FIXTURE)
    assert [p.id for p in ps] == ["lcb-abc365_a", "lcb-3450", "lcb-1829A", "lcb-3717"]
    assert all(p.kind == "code" and p.extra["harness"] == "livecodebench" for p in ps)
    # start inclusive (abc365_a is dated 2024-08-01), end exclusive (3717 is dated 2025-02-01)
    win = load_benchmark("livecodebench", FIXTURE, window=("2024-08-01", "2025-02-01"))
    assert [p.id for p in win] == ["lcb-abc365_a", "lcb-3450"]
    assert [p.id for p in load_benchmark("livecodebench", FIXTURE, window=("2023-01-01", "2024-01-01"))] == \
        ["lcb-1829A"]
    with pytest.raises(ValueError, match="no items released"):
        load_benchmark("livecodebench", FIXTURE, window=("2022-01-01", "2022-06-01"))
    with pytest.raises(ValueError, match="must come before"):
        load_benchmark("livecodebench", FIXTURE, window=("2025-01-01", "2024-01-01"))
    with pytest.raises(ValueError, match="ISO dates"):
        load_benchmark("livecodebench", FIXTURE, window=("August", "2025-01-01"))


def test_private_tests_are_decoded():
    a, lc, cf, _ = load_benchmark("livecodebench", FIXTURE)
    assert a.extra["tests"] == [{"input": "2 5\n", "output": "7\n", "testtype": "stdin"},
                                {"input": "0 0\n", "output": "0\n", "testtype": "stdin"},
                                {"input": "1000000000 1000000000\n", "output": "2000000000\n", "testtype": "stdin"}]
    assert lc.extra["func_name"] == "scaledSum" and [t["testtype"] for t in lc.extra["tests"]] == ["functional"] * 3
    assert len(cf.extra["tests"]) == 2  # private tests stored as plain JSON
    assert a.extra["contest_date"] == "2024-08-01T00:00:00" and a.extra["platform"] == "atcoder"


def test_a_malicious_pickle_is_refused_not_run(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return os.system, (f"touch {marker}",)

    payload = base64.b64encode(zlib.compress(pickle.dumps(Evil()))).decode()
    row = dict(fixture_rows()[0], private_test_cases=payload)
    bad = tmp_path / "lcb.jsonl"
    bad.write_text(json.dumps(row) + "\n")
    with pytest.raises(pickle.UnpicklingError, match="refusing to load"):
        load_benchmark("livecodebench", bad)
    assert not marker.exists()
    # a plain pickled object that is not a string is refused too
    with pytest.raises(pickle.UnpicklingError, match="expected a pickled string"):
        decode_tests(base64.b64encode(zlib.compress(pickle.dumps([1, 2]))).decode())


def test_release_tags():
    assert release_files("release_v5") == ["test.jsonl", "test2.jsonl", "test3.jsonl", "test4.jsonl", "test5.jsonl"]
    assert release_files("v6") == ["test6.jsonl"] and release_files("v1_v2") == ["test.jsonl", "test2.jsonl"]
    with pytest.raises(ValueError, match="release tag"):
        release_files("latest")


def test_prompts_say_how_to_answer():
    a, lc, *_ = load_benchmark("livecodebench", FIXTURE)
    qa = question_text(a)
    assert qa.startswith("You are given two integers A and B.") and "stdin" in qa and "stdout" in qa
    ql = question_text(lc)
    assert "```python\nclass Solution:\n    def scaledSum(self, nums: List[int], k: int) -> int:" in ql
    assert "starter code" in ql and "stdin" not in ql


def _stdin_problem():
    return livecodebench_problem({
        "question_title": "Sum of a list", "question_content": "Read n, then n integers; print their sum.",
        "platform": "codeforces", "question_id": "9999Z", "contest_id": "9999", "contest_date": "2024-10-01T00:00:00",
        "starter_code": "", "difficulty": "easy",
        "public_test_cases": json.dumps([{"input": "3\n1 2 3\n", "output": "6\n", "testtype": "stdin"}]),
        "private_test_cases": json.dumps([{"input": "2\n-5 5\n", "output": "0", "testtype": "stdin"},
                                          {"input": "1\n7\n", "output": "7\n", "testtype": "stdin"}]),
        "metadata": "{}"}, 0)


def test_stdin_solutions():
    p = _stdin_problem()
    good = "```python\nimport sys\nn, *xs = map(int, sys.stdin.read().split())\nprint(sum(xs))\n```"
    assert run(p, good) == {"passed": True, "n_tests": 3, "n_passed": 3, "failed_test": None, "reason": "ok"}
    assert check(p, "Here it is.\n" + good)[1]  # check() dispatches to the harness
    wrong = "```python\nn = int(input())\nxs = list(map(int, input().split()))\nprint(max(xs))\n```"
    g = run(p, wrong)
    assert not g["passed"] and g["failed_test"] == 0 and g["reason"] == "wrong answer"
    crash = "```python\nraise SystemExit(3)\n```"
    assert run(p, crash)["reason"] == "error"


def test_an_infinite_loop_times_out_quickly():
    p = _stdin_problem()
    t0 = time.monotonic()
    g = run(p, "```python\nwhile True:\n    pass\n```")
    assert not g["passed"] and g["failed_test"] == 0 and g["reason"] in ("timeout", "killed:SIGXCPU", "killed:SIGKILL")
    assert time.monotonic() - t0 < 8  # stopped at the first test, within its limit


def test_functional_solutions():
    lc = load_benchmark("livecodebench", FIXTURE)[1]
    good = ("```python\nclass Solution:\n    def scaledSum(self, nums: List[int], k: int) -> int:\n"
            "        print('debug output is ignored')\n        return k * sum(nums)\n```")
    assert run(lc, good)["passed"]
    wrong = "```python\nclass Solution:\n    def scaledSum(self, nums, k):\n        return sum(nums)\n```"
    g = run(lc, wrong)
    assert not g["passed"] and g["failed_test"] == 0
    misnamed = "```python\nclass Solution:\n    def scaled_sum(self, nums, k):\n        return k * sum(nums)\n```"
    assert run(lc, misnamed)["reason"] == "error"
    # a tuple result equals the expected list, as in LiveCodeBench
    pair = livecodebench_problem(dict(fixture_rows()[1], public_test_cases=json.dumps(
        [{"input": "[1, 2]\n3", "output": "[3, 6]", "testtype": "functional"}]), private_test_cases="[]"), 0)
    assert run(pair, "```python\nclass Solution:\n    def scaledSum(self, nums, k):\n"
                       "        return tuple(k * x for x in nums)\n```")["passed"]


def test_output_comparison():
    assert same_output("1 2 3\n", "1 2 3")
    assert same_output("  7 \n\n", "7")
    assert same_output("0.50 2\n", "0.5 2.0")
    assert not same_output("1 2\n3\n", "1 2")
    assert not same_output("yes", "Yes")


def test_hub_rows_are_the_release_files(monkeypatch):
    """From the hub, the JSONL files of the spec's release tag are downloaded and read in order (the hub is not
    reachable here: every file is served by the fixture)."""
    import huggingface_hub

    calls = []

    def fake_download(repo_id, filename, repo_type=None, **kw):
        calls.append((repo_id, filename, repo_type))
        return str(FIXTURE)

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fake_download)
    ps = load_benchmark("livecodebench", window=("2024-08-01", "2025-02-01"))
    assert calls == [("livecodebench/code_generation_lite", f, "dataset") for f in release_files("release_v5")]
    assert len(ps) == 2 * 5  # the fixture's two in-window problems, once per file
