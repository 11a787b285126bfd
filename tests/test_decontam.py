import dataclasses

import pytest
from conftest import SHARED

from delta_utils.data.decontam import (
    ContaminationError,
    _ngrams,
    check,
    normalise,
    overlaps,
    report_text,
    summary,
    text_of,
)
from delta_utils.data.tasks import Problem, load_tasks, make_problems
from delta_utils.data.tasks.benchmarks import load_benchmark
from delta_utils.profile.config import TaskSpec

GSM8K = SHARED / "data" / "gsm8k"
# 40 distinct words: a benchmark passage long enough for any window of 13
WORDS = ("alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa "
         "quebec romeo sierra tango uniform victor whiskey xray yankee zulu amber basil cedar dune ember "
         "fjord grove heath islet jade knoll ledge moss nettle").split()


def bench(pid: str, question: str, family: str = "gsm8k") -> Problem:
    return Problem(pid, family, question, 0)


def proc(pid: str, question: str) -> Problem:
    return Problem(pid, "arithmetic", question, 0)


def test_normalise():
    assert normalise("Janet’s  ducks lay 16 eggs.\nShe sells them for $2,000!") == \
        normalise("janet's ducks lay 16 eggs she sells them for $2000")
    assert normalise("ＡＢＣ ﬁve") == "abc five"  # NFKC
    assert normalise("5+3=8, x^2 − 1 ≤ 3.5") == "5 + 3 = 8 x ^ 2 - 1 ≤ 3.5"
    assert normalise("5 + 3") != normalise("5 - 3") != normalise("5 * 3")
    assert normalise("f(x) = [1, 2]") == "f ( x ) = [ 1 2 ]"


def test_procedural_sets_with_distinct_seeds():
    train = load_tasks(TaskSpec(family="arithmetic", n=2000, seed=0))
    evals = {"arith": make_problems("arithmetic", 300, seed=1), "stem": make_problems("stem", 100, seed=1),
             "code": load_tasks(TaskSpec(family="code_output", n=50, seed=1))}
    df = overlaps(train, evals)
    assert list(df.columns) == ["train_id", "eval_set", "eval_id", "kind", "snippet"]
    assert df.empty, df
    s = summary(df, train, evals)
    assert s.to_dict("records")[0] == {"eval_set": "arith", "n_eval": 300, "train_items_hit": 0, "eval_items_hit": 0,
                                       "exact": 0, "ngram": 0}
    assert report_text(df, train, evals).startswith(
        "decontamination: 0 of 2000 training prompts appear in any eval set")
    assert check(train, evals).empty


def test_exact_copy_up_to_case_whitespace_punctuation():
    ev = make_problems("arithmetic", 50, seed=5)
    target = ev[7]
    copy = proc("mine-1", "  " + target.question.upper().replace(" ", "  \n").replace(".", " ;") + "  ")
    train = make_problems("arithmetic", 100, seed=6) + [copy]
    df = overlaps(train, {"held": ev})
    assert df[["train_id", "eval_set", "eval_id", "kind"]].values.tolist() == [["mine-1", "held", target.id, "exact"]]
    assert df.snippet[0].startswith(normalise(target.question)[:40])


def test_ngram_hit_and_near_miss():
    evals = {"bench": [bench("b-0", " ".join(WORDS))]}
    hit = proc("hit", "Consider this: " + " ".join(WORDS[10:23]).upper() + ", then count.")  # 13 shared tokens
    miss = proc("miss", "Consider this: " + " ".join(WORDS[10:22]) + ", then count.")  # 12 shared tokens
    df = overlaps([hit, miss], evals)
    assert df[["train_id", "eval_id", "kind"]].values.tolist() == [["hit", "b-0", "13-gram"]]
    assert df.snippet[0] == " ".join(WORDS[10:23])
    # the snippet is the whole shared run; the benchmark may also be on the training side
    long = bench("long", "intro " + " ".join(WORDS[5:30]) + " outro", family="openr1_math")
    df = overlaps([long], {"proc": [proc("p-0", " ".join(WORDS))]})
    assert df.kind.tolist() == ["13-gram"] and df.snippet[0] == " ".join(WORDS[5:30])[:117] + "..."
    # shorter than 13 tokens: only an exact copy counts
    short = bench("s-0", " ".join(WORDS[:8]))
    assert overlaps([proc("t", " ".join(WORDS[:8]) + " more words here")], {"b": [short]}).empty
    assert overlaps([proc("t", " ".join(WORDS[:8]).title())], {"b": [short]}).kind.tolist() == ["exact"]


def test_procedural_boilerplate_is_not_an_ngram_hit():
    for family in ("stem", "code_output"):
        a, b = make_problems(family, 40, seed=11), make_problems(family, 40, seed=12)
        grams_a = {g for p in a for g in _ngrams(normalise(text_of(p)).split(), 13)}
        sharing = [p for p in b if grams_a & set(_ngrams(normalise(text_of(p)).split(), 13))]
        assert sharing, f"{family}: templates should share 13-grams, or this test proves nothing"
        df = overlaps(a, {"b": b})
        assert set(df.kind) <= {"exact"}  # only real copies (templates can repeat a question across seeds)
        for r in df.itertuples():
            qa = next(p for p in a if p.id == r.train_id)
            qb = next(p for p in b if p.id == r.eval_id)
            assert normalise(text_of(qa)) == normalise(text_of(qb))
        # the same items called a benchmark do get the n-gram check
        as_bench = [dataclasses.replace(p, family="mmlu_stem") for p in b]
        assert "13-gram" in set(overlaps(a, {"b": as_bench}).kind)


def test_check_raises_unless_allowed():
    evals = {"bench": [bench("b-0", " ".join(WORDS))], "other": [bench("o-0", "nothing in common here")]}
    train = [proc("t-0", " ".join(WORDS[:20])), proc("t-1", " ".join(WORDS).upper()), proc("t-2", "unrelated")]
    with pytest.raises(ContaminationError) as e:
        check(train, evals)
    msg = str(e.value)
    assert "2 of 3 training prompts" in msg and "bench" in msg and "t-0" in msg
    assert "train_prompts.allow_eval_overlap: true" in msg
    assert isinstance(e.value, ValueError)
    df = check(train, evals, allow=True)
    assert sorted(zip(df.train_id, df.kind)) == [("t-0", "13-gram"), ("t-1", "exact")]
    s = summary(df, train, evals).set_index("eval_set")
    assert s.loc["bench"].tolist() == [1, 2, 1, 1, 1] and s.loc["other"].tolist() == [1, 0, 0, 0, 0]


@pytest.mark.skipif(not (GSM8K / "test.jsonl").is_file(), reason="no ../shared/data/gsm8k")
def test_gsm8k_planted_copies_and_train_vs_test():
    test = load_benchmark("gsm8k", GSM8K / "test.jsonl")
    planted = [test[i] for i in (0, 100, 500, 1318)]
    copies = [proc(f"planted-{p.id}", "\n " + "   ".join(p.question.split()) + "\t") for p in planted]
    train = make_problems("arithmetic", 500, seed=0) + copies
    with pytest.raises(ContaminationError, match="4 of 504 training prompts"):
        check(train, {"gsm8k": test})
    df = check(train, {"gsm8k": test}, allow=True)
    want = sorted((c.id, p.id, "exact") for c, p in zip(copies, planted))
    assert sorted(zip(df.train_id, df.eval_id, df.kind)) == want

    # the real train split against the test split: no exact copies; GSM8K does reuse a few long
    # phrasings, and the first 400 training questions share one 13-gram passage with the test set
    real = load_benchmark("gsm8k", GSM8K / "train.jsonl")[:400]
    df = overlaps(real, {"gsm8k": test})
    print("\n" + report_text(df, real, {"gsm8k": test}))
    assert "exact" not in set(df.kind)
    assert list(zip(df.train_id, df.eval_id)) == [("gsm8k-20", "gsm8k-632")]
