"""The preference-set vocabulary: names and sets are inverses, and a profile names only sets it builds."""
import pytest
import yaml

from delta_utils.data import prefsets
from delta_utils.profile.config import CONFIG_DIR, ProfileError, load_profile


@pytest.mark.parametrize("name", ["gen__qwen2.5-coder-1.5b", "full", "top50__step_coherence", "top25__aggregate",
                                  "random50", "random25__draw2", "correctness__w2c"])
def test_parse_and_name_are_inverses(name):
    assert prefsets.parse(name).name == name


def test_parse_reads_the_parts():
    s = prefsets.parse("random25__draw2")
    assert (s.kind, s.fraction, s.draw) == ("random", 0.25, 2)
    assert prefsets.parse("top50__factuality").row() == {
        "kind": "topk", "chosen_model": None, "fraction": 0.5, "dimension": "factuality", "draw": 0,
        "combination": None}


@pytest.mark.parametrize("bad", ["top50__step_coherense", "random50__draw0", "correctness__x2y", "gen_", "top__x"])
def test_names_outside_the_vocabulary_are_errors(bad):
    with pytest.raises(ValueError, match="not a preference-set name"):
        prefsets.parse(bad)


@pytest.mark.parametrize("profile", ["tiny", "smoke", "paper"])
def test_every_name_a_profile_builds_parses(profile):
    p = load_profile(profile)
    names = prefsets.names(p)
    assert len(set(names)) == len(names)
    assert all(prefsets.parse(n).name == n for n in names)
    assert {r.preference_set for r in p.train.runs} <= set(names)


def test_a_misspelled_run_set_fails_when_the_profile_loads(tmp_path):
    data = yaml.safe_load((CONFIG_DIR / "tiny.yaml").read_text())
    data["train"]["runs"][0]["preference_set"] = "top50__step_coherense"
    (tmp_path / "typo.yaml").write_text(yaml.safe_dump(data))
    with pytest.raises(ProfileError, match=r"train\.runs\.0\.preference_set .*did you mean 'top50__step_coherence'"):
        load_profile(tmp_path / "typo.yaml")


def test_a_set_the_profile_does_not_build_is_named(tmp_path):
    data = yaml.safe_load((CONFIG_DIR / "tiny.yaml").read_text())
    data["train"]["runs"][0]["preference_set"] = "random50__draw3"  # valid vocabulary, but random_draws is 1
    (tmp_path / "draws.yaml").write_text(yaml.safe_dump(data))
    with pytest.raises(ProfileError, match="not a set this profile builds"):
        load_profile(tmp_path / "draws.yaml")
