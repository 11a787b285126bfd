"""The benchmark loaders on rows shaped like the hub datasets (tests/data/hub, one file per benchmark with exactly
the hub's columns; tests/data/hub/SOURCES.md says where each schema comes from)."""
import json
import re
from pathlib import Path

import pytest

from delta_utils.data.benchmark_specs import BENCHMARKS, MATH_SUBJECTS, BenchmarkSpec
from delta_utils.data.tasks.benchmarks import load_benchmark
from delta_utils.data.tasks.checking import check

HUB = Path(__file__).parent / "data" / "hub"
ON_HUB = sorted(n for n, b in BENCHMARKS.items() if b.on_hub)


def load(name, **kw):
    return load_benchmark(name, HUB / f"{name}.jsonl", **kw)


def rows(name):
    return [json.loads(x) for x in (HUB / f"{name}.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("name", ON_HUB)
def test_every_hub_benchmark_has_a_fixture_and_a_source(name):
    assert (HUB / f"{name}.jsonl").is_file(), f"add tests/data/hub/{name}.jsonl with the hub's columns"
    assert f"`{name}.jsonl`" in (HUB / "SOURCES.md").read_text(), f"cite the schema of {name} in SOURCES.md"
    assert 3 <= len(rows(name)) <= 7


def test_plain_string_hub_is_refused():
    with pytest.raises(TypeError, match="tuple of 1-2 strings"):
        BenchmarkSpec(hub="org/name", split="test", domain="in", normalise="_gsm8k")
    with pytest.raises(TypeError):
        BenchmarkSpec(("org/name", "config", "extra"), "test", "in", normalise="_gsm8k")
    assert BenchmarkSpec(("org/name",), "test", "in", normalise="_gsm8k").source == "the hub dataset 'org/name'"
    with pytest.raises(ValueError, match="normalise"):  # a record without its loader is refused
        BenchmarkSpec(("org/name",), "test", "in")


def test_every_record_names_loader_functions_that_exist_and_a_missing_one_fails_the_import(monkeypatch):
    import importlib

    from delta_utils.data import benchmark_specs
    from delta_utils.data.tasks import benchmarks

    for name in BENCHMARKS:
        ld = benchmarks.loader(name)
        assert callable(ld.normalise) and callable(ld.rows)
    monkeypatch.setitem(benchmark_specs.BENCHMARKS, "new_bench",
                        BenchmarkSpec(("org/new",), "test", "in", normalise="_no_such_function"))
    with pytest.raises(ImportError, match="new_bench.normalise = '_no_such_function'"):
        importlib.reload(benchmarks)
    monkeypatch.delitem(benchmark_specs.BENCHMARKS, "new_bench")
    importlib.reload(benchmarks)


def test_gsm8k_svamp_mawps():
    g = load("gsm8k")
    assert [p.answer for p in g] == [18, 3, 70000] and g[0].question.startswith("Janet")
    s = load("svamp")
    assert s[0].question == ("There are 87 oranges and 290 bananas in Philip's collection. If the bananas are "
                             "organized into 2 groups and oranges are organized into 93 groups How big is each group "
                             "of bananas?") and s[0].answer == 145
    m = load("mawps")  # Calc-mawps: question / result (a string) / result_float
    assert [p.answer for p in m] == [43, 26, 5, 0.15]
    assert m[0].question.startswith("Joan found 70 seashells")
    assert check(m[3], "Each friend gets 3/20 of the pie. The answer is 3/20.")[1]


def test_competition_math():
    m = load("math500")
    assert [p.answer for p in m] == ["\\left( 3, \\frac{\\pi}{2} \\right)", "\\frac{14}{3}", 9]
    assert m[0].extra == {"subject": "Precalculus", "level": 2}
    assert check(m[1], "So the sum is $\\boxed{\\frac{14}{3}}$.")[1]
    a = load("amc23")  # math-ai/amc23: the statement in `question`, the answer a float
    assert [p.answer for p in a] == [27, 36, 45] and a[0].question.startswith("Cities $A$ and $B$")
    assert [p.answer for p in load("aime24")] == [204, 113, 371]
    a25 = load("aime25")
    assert [p.answer for p in a25] == [70, 16, 117] and "$17_b$" in a25[0].question


def test_hendrycks_math_answers_from_the_boxed_solution():
    ps = load("minerva_math")
    assert [p.answer for p in ps] == [4, 16, 10, 5, 2, "\\frac{3}{4}", 1]
    assert ps[1].extra["type"] == "Counting & Probability"


def test_hendrycks_math_reads_every_config(monkeypatch):
    """From the hub, each subject is its own config: all are read and concatenated (the hub is not reachable here:
    load_dataset serves the fixture's rows of the subject asked for)."""
    import datasets

    by_type = {"Counting & Probability": "counting_and_probability"}
    served, calls = {}, []
    for r in rows("minerva_math"):
        served.setdefault(by_type.get(r["type"], r["type"].lower().replace(" ", "_")), []).append(r)

    def fake_load_dataset(path, name=None, split=None, **kw):
        calls.append((path, name, split))
        if name is None:
            raise ValueError("Config name is missing")
        return served[name]

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    ps = load_benchmark("minerva_math")
    assert calls == [("EleutherAI/hendrycks_math", s, "test") for s in MATH_SUBJECTS]
    assert len(MATH_SUBJECTS) == 7 and set(served) == set(MATH_SUBJECTS)
    assert len(ps) == 7 and {p.extra["type"] for p in ps} == {r["type"] for r in rows("minerva_math")}


def test_hub_loader_passes_the_config(monkeypatch):
    import datasets

    calls = []
    monkeypatch.setattr(datasets, "load_dataset", lambda *a, **kw: calls.append((a, kw)) or rows("gsm8k"))
    assert len(load_benchmark("gsm8k")) == 3
    assert calls == [(("openai/gsm8k", "main"), {"split": "test"})]


def test_multiple_choice():
    mm = load("mmlu_stem")  # cais/mmlu "all" holds every subject: the non-STEM row is left out
    assert len(mm) == 3 and all(p.extra["subject"] != "business_ethics" for p in mm)
    assert mm[0].answer == "C" and mm[0].kind == "choice" and len(mm[0].choices) == 4
    assert mm[0].extra["subject"] == "college_biology"
    pro = load("mmlu_pro")  # STEM categories only; up to 10 options, the answer a letter
    assert [p.id for p in pro] == ["mmlupro-7021", "mmlupro-10024"]
    assert pro[0].choices == ("0", "30", "3", "10", "12", "50", "2", "100", "20", "5") and pro[0].answer == "A"
    assert check(pro[0], "The characteristic of 2Z is 0. The answer is A.")[1]
    g = load("gpqa_diamond")
    assert g[0].question.startswith("Two quantum states") and not g[0].question.endswith("\n")
    for p, r in zip(g, rows("gpqa_diamond")):
        assert sorted(p.choices) == sorted(r[k].strip() for k in ("Correct Answer", "Incorrect Answer 1",
                                                                  "Incorrect Answer 2", "Incorrect Answer 3"))
        assert p.choices[ord(p.answer) - 65] == r["Correct Answer"].strip()
    assert g == load("gpqa_diamond")  # the option order is seeded


def test_theoremqa():
    ps = load("theoremqa")  # the row with a Picture is left out
    assert [p.answer for p in ps] == [11760, "True", 210, 0.333]
    assert [p.extra["answer_type"] for p in ps] == ["integer", "bool", "integer", "float"]


def test_mbpp_sanitized_runs_its_reference_code():
    ps = load("mbpp")
    assert [p.extra["entry_point"] for p in ps] == ["remove_Occ", "similar_elements", "volume_sphere"]
    assert ps[0].question.startswith('"""Write a python function to remove first and last occurrence')
    assert "import math" in ps[2].extra["test"]
    for p, r in zip(ps, rows("mbpp")):
        assert check(p, f"```python\n{r['code']}\n```")[1], p.id
    assert not check(ps[2], "```python\ndef volume_sphere(r):\n    return r\n```")[1]


def test_openr1_keeps_verifiable_answers():
    ps = load("openr1_math")  # the proof and the multiple-choice rows are left out
    assert [p.id for p in ps] == ["openr1-7a3c1e55-0b7e-5c2d-9a4f-1c2d3e4f5a6b",
                                  "openr1-0c6a0e36-1f5e-5a9f-8e4f-3b1a8e1d6c90",
                                  "openr1-9e8d7c6b-5a49-5382-a1b0-c9d8e7f6a5b4"]
    assert [p.answer for p in ps][1:] == [180, 9] and ps[2].extra["problem_type"] == "Inequalities"


def test_a_window_is_only_for_benchmarks_with_release_dates():
    with pytest.raises(ValueError, match="no release dates"):
        load("gsm8k", window=("2024-01-01", "2025-01-01"))


@pytest.mark.parametrize("profile", ["gpu1", "paper"])
def test_make_check_load_data_counts_items_after_the_loaders_filters(monkeypatch, profile):
    """`make check LOAD_DATA=1` loads each hub set of the GPU profiles as the stage would (AMC23 included) and
    counts what the loader keeps: here OpenR1-Math without its proof and multiple-choice rows, MMLU-Pro without
    its non-STEM row, TheoremQA without its picture question (the hub is served from the fixtures)."""
    import datasets
    import huggingface_hub

    from delta_utils.profile.config import load_profile
    from delta_utils.runner.plan import plan

    by_hub = {spec.hub[0]: name for name, spec in BENCHMARKS.items() if spec.hub}

    def fake_load_dataset(path, name=None, split=None, **kw):
        return rows(by_hub[path])

    def fake_download(repo_id, filename, repo_type=None, **kw):  # LiveCodeBench's release files
        return str(HUB / f"{by_hub[repo_id]}.jsonl")

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fake_download)
    text = plan(load_profile(profile), load_data=True)
    assert "01_generate  3 training prompts (openr1_math)" in text
    assert re.search(r"amc23 +3 items", text) and re.search(r"mmlu_pro +2 items", text)
    assert re.search(r"theoremqa +4 items", text) and "published size" not in text


def test_items_no_checker_can_score_are_left_out_and_counted(tmp_path, capsys):
    f = tmp_path / "math500.jsonl"
    long = "the ratio rises at first and then falls once the second reagent runs out in the flask"
    items = [{"problem": "What is 2 + 3?", "answer": "5"}, {"problem": "Describe the ratio.", "answer": long},
             {"problem": "What is x?", "answer": ""}, {"problem": "Where was it?", "answer": "Paris"}]
    f.write_text("".join(json.dumps(r) + "\n" for r in items))
    ps = load_benchmark("math500", path=f)
    # one-word prose is compared as text, so it stays; the loader itself drops a row without any answer
    assert [p.answer for p in ps] == [5, "Paris"]
    out = capsys.readouterr().out
    assert "benchmark math500: left out 1 item(s) that no checker can score: gold answer is free-form prose (1)" in out
