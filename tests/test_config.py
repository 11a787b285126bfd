"""Profiles validate on load and fail fast, naming the field."""
import subprocess
import sys
import time

import pytest
import yaml

from delta_utils.config import CONFIG_DIR, ProfileError, load_profile


@pytest.mark.parametrize("name", ["smoke", "tiny", "paper"])
def test_shipped_profiles_validate(name):
    p = load_profile(name)
    assert p.name == name
    assert p.generation.rejected in p.generation.generators


def _write(tmp_path, mutate):
    data = yaml.safe_load((CONFIG_DIR / "smoke.yaml").read_text())
    mutate(data)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize("mutate, field", [
    (lambda d: d["generation"].update(temprature=0.5), "generation.temprature"),
    (lambda d: d.update(unknown_section={}), "unknown_section"),
    (lambda d: d["judge"].update(model="gpt-9000"), "judge.model"),
    (lambda d: d["generation"].update(generators=["smollm2-135m", "no-such-model"]), "generation.generators"),
    (lambda d: d["train_prompts"].update(n=-5), "train_prompts.n"),
    (lambda d: d["train"]["hparams"].update(max_steps=0), "train.hparams.max_steps"),
    (lambda d: d["evaluate"]["sampling"].update(max_tokens="many"), "evaluate.sampling.max_tokens"),
    (lambda d: d["generation"].update(rejected="qwen2.5-coder-1.5b"), "rejected generator"),
    (lambda d: d.pop("judge"), "judge"),
])
def test_bad_profile_names_the_field(tmp_path, mutate, field):
    with pytest.raises(ProfileError) as e:
        load_profile(_write(tmp_path, mutate))
    assert field in str(e.value)


def test_malformed_yaml(tmp_path):
    p = tmp_path / "broken.yaml"
    p.write_text("generation: [unclosed\n")
    with pytest.raises(ProfileError, match="not valid YAML"):
        load_profile(p)


def test_unknown_profile_lists_known():
    with pytest.raises(ProfileError, match="tiny"):
        load_profile("no_such_profile")


def test_bad_profile_fails_fast_from_the_command_line(tmp_path):
    bad = _write(tmp_path, lambda d: d["train_prompts"].update(n=-1))
    t0 = time.monotonic()
    r = subprocess.run([sys.executable, "-m", "delta_utils.pipeline", "check", "--profile", str(bad)],
                       capture_output=True, text=True)
    assert time.monotonic() - t0 < 5
    assert r.returncode == 2
    assert "train_prompts.n" in r.stderr


def test_section_hash_tracks_only_its_section(tmp_path):
    a = load_profile("smoke")
    b = load_profile(_write(tmp_path, lambda d: d["judge"].update(samples=3)))
    assert a.section_hash("generation") == b.section_hash("generation")
    assert a.section_hash("judge") != b.section_hash("judge")
