"""Judge validation on real labelled solutions: the smoke judge (a real 0.5B model behind llama.cpp) scores
solutions written by SmolLM2, and the AUC per dimension comes back with its CI."""
import pandas as pd
import pytest
from conftest import REPO

from delta_utils.data.rubric import DIMENSION_NAMES
from delta_utils.profile.config import load_profile
from delta_utils.stages.judge import validate


@pytest.mark.slow
def test_validate_reports_an_auc_per_dimension_on_labelled_solutions(runs_dir, tmp_path, monkeypatch):
    data = pd.read_json(REPO / "tests/data/labelled_solutions.jsonl", lines=True)
    pick = pd.concat([data[data["label"]].head(3), data[~data["label"]].head(3)])
    path = tmp_path / "labelled.jsonl"
    pick.rename(columns={"text": "solution", "label": "is_correct"})[["question", "solution", "is_correct"]] \
        .to_json(path, orient="records", lines=True)
    prof = load_profile("smoke")
    t = validate(prof, path)
    assert list(t["dimension"]) == DIMENSION_NAMES + ["aggregate"]
    assert (t["n_pos"] == 3).all() and (t["n_neg"] == 3).all() and (t["judged"] == 6).all()
    # probability-weighted scores: continuous, so six solutions get (almost surely) six distinct scores
    assert t.set_index("dimension").loc["aggregate", "distinct_scores"] >= 5
    assert t["auc"].between(0, 1).all() and (t["ci_low"] <= t["auc"]).all() and (t["auc"] <= t["ci_high"]).all()
    # judged through the completions cache: asking again starts no server
    import delta_utils.stages.judge as judge

    def no_server(*a, **k):
        raise AssertionError("a cached validation started a judge server")

    monkeypatch.setattr(judge, "endpoint", no_server)
    assert validate(prof, path).equals(t)
    with pytest.raises(ValueError, match="needs columns"):
        bad = tmp_path / "bad.jsonl"
        pick[["question", "text"]].to_json(bad, orient="records", lines=True)
        validate(prof, bad)


def test_a_validation_limit_keeps_the_classes_as_balanced_as_the_file_allows():
    from delta_utils.stages.judge import balanced_head

    labels = pd.read_json(REPO / "tests/data/labelled_solutions.jsonl", lines=True)["label"].astype(bool)
    assert labels.sum() == 23 and len(labels) == 120  # few correct solutions: the AUC's precision rests on them
    got = balanced_head(labels, 60)
    assert labels[got].sum() == 23 and (~labels[got]).sum() == 37  # every correct one, not the 11 of head(60)
    assert list(got) == sorted(got) and got.is_unique
    assert list(got[~labels[got].to_numpy()][:5]) == list(labels.index[~labels][:5])  # each class's first rows
    even = balanced_head(labels, 20)
    assert labels[even].sum() == 10 and len(even) == 20
    assert len(balanced_head(labels, 120)) == 120
