"""Profiles validate on load and fail fast, naming the field."""
import subprocess
import sys

import pytest
import yaml

from delta_utils.profile.config import CONFIG_DIR, ProfileError, load_profile
from delta_utils.profile.rundir import STAGES


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
    (lambda d: d["generation"].update(samples={"qwen2.5-coder-1.5b": 2}), "generation.samples"),
])
def test_bad_profile_names_the_field(tmp_path, mutate, field):
    with pytest.raises(ProfileError) as e:
        load_profile(_write(tmp_path, mutate))
    assert field in str(e.value)


def test_per_generator_samples_override_sampling_n():
    tiny = load_profile("tiny").generation
    assert tiny.sampling.n == 1 and tiny.n_samples("qwen2.5-coder-1.5b") == 2 and tiny.n_samples("smollm2-135m") == 1


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
    r = subprocess.run([sys.executable, "-m", "delta_utils.runner.pipeline", "check", "--profile", str(bad)],
                       capture_output=True, text=True)
    # refused at validation, before anything is loaded: a one-line error naming the field, no traceback
    assert r.returncode == 2
    assert "train_prompts.n" in r.stderr and "Traceback" not in r.stderr


def test_section_hash_tracks_only_its_section(tmp_path):
    a = load_profile("smoke")
    b = load_profile(_write(tmp_path, lambda d: d["judge"].update(samples=3)))
    assert a.section_hash("generation") == b.section_hash("generation")
    assert a.section_hash("judge") != b.section_hash("judge")


@pytest.mark.parametrize("eval_set, msg", [
    ({"name": "x", "family": "benchmark", "benchmark": "nope"}, "benchmark"),
    ({"name": "x", "family": "benchmark", "benchmark": "gsm8k", "path": "no/such/file.jsonl"}, "no file at"),
    ({"name": "x", "family": "stem"}, "needs the number of problems"),
    ({"name": "x", "family": "chemistry", "n": 3}, "family"),
])
def test_bad_eval_sets(tmp_path, eval_set, msg):
    with pytest.raises(ProfileError, match=msg):
        load_profile(_write(tmp_path, lambda d: d["evaluate"].update(sets=[eval_set])))


def test_eval_set_domains(tmp_path):
    sets = [{"name": "a", "family": "arithmetic", "n": 2}, {"name": "s", "family": "stem", "n": 2},
            {"name": "h", "family": "benchmark", "benchmark": "humaneval"},
            {"name": "g", "family": "benchmark", "benchmark": "gsm8k"}]
    p = load_profile(_write(tmp_path, lambda d: d["evaluate"].update(sets=sets)))
    assert [s.resolved_domain() for s in p.evaluate.sets] == ["in", "out", "out", "in"]


def test_hub_benchmark_offline_says_what_to_do():
    code = "from delta_utils.data.tasks.benchmarks import load_benchmark\nload_benchmark('math500')"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                       env={**__import__("os").environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"})
    assert r.returncode != 0 and "local JSONL/Parquet" in r.stderr


def test_stage_refuses_to_start_without_disk(monkeypatch, runs_dir):
    import shutil
    from collections import namedtuple

    from delta_utils.runner import pipeline

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(10**12, 10**12, 10**8))
    with pytest.raises(RuntimeError, match="needs about 3.0 GB free"):
        pipeline.check_disk(load_profile("smoke"), "01_generate")


@pytest.mark.parametrize("content, msg", [
    ("", "no usable items"),
    ('{"question": "What is 2 + 2?", "answer": "#### 4"}\n{"question": "broken\n', "line 2 .* not valid JSON"),
    ('{"problem": "What is 2 + 2?", "solution": "4"}\n', "lacks a field .*'problem', 'solution'.*openai/gsm8k"),
])
def test_user_supplied_benchmark_file_errors(tmp_path, content, msg):
    from delta_utils.data.tasks.benchmarks import load_benchmark

    f = tmp_path / "mine.jsonl"
    f.write_text(content)
    with pytest.raises(ValueError, match=msg):
        load_benchmark("gsm8k", path=f)


def test_timing_table_is_written_from_the_runners_measurements(tmp_path, monkeypatch):
    """figures/<profile>/timings.md comes from runs/<profile>/timings.jsonl: the last real run of each stage."""
    import json

    from delta_utils.runner.pipeline import timings_markdown, write_timings

    monkeypatch.setenv("DELTA_LAB_RUNS", str(tmp_path))
    monkeypatch.setenv("DELTA_LAB_FIGURES", str(tmp_path / "figures"))
    assert write_timings("smoke") is None  # nothing measured: nothing written (a fresh clone keeps its table)
    rows = [{"stage": "01_generate", "status": "ran", "wall_s": 700.0, "peak_rss_mb": 3000, "at": 0},
            {"stage": "01_generate", "status": "ran", "wall_s": 790.4, "peak_rss_mb": 3100, "at": 60},
            {"stage": "04_train/dpo_a", "status": "ran", "wall_s": 120.0, "peak_rss_mb": 7900, "at": 60},
            {"stage": "01_generate", "status": "skipped", "wall_s": 1.0, "peak_rss_mb": 100, "at": 120}]
    (tmp_path / "smoke").mkdir()
    (tmp_path / "smoke" / "timings.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    md = timings_markdown("smoke")
    assert "| 01_generate | 790 | 3100 | 1970-01-01 00:01 UTC |" in md  # the last real run, not the skip
    assert "| 04_train/dpo_a | 120 | 7900 |" in md and "| total | 910 |" in md
    assert md.startswith("No cold `make all` recorded")
    # a cold session (empty caches at its start) that ran every stage wins over later warm re-executions
    cold = [{"stage": s, "status": "ran", "wall_s": 100.0, "peak_rss_mb": 500, "at": 200, "session": "c",
             "cold": True} for s in STAGES]
    warm = [{"stage": "01_generate", "status": "ran", "wall_s": 4.0, "peak_rss_mb": 300, "at": 300, "session": "w",
             "cold": False}]
    (tmp_path / "smoke" / "timings.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows + cold + warm))
    md = timings_markdown("smoke")
    assert md.startswith("From the latest cold `make all`")
    assert "| 01_generate | 100 | 500 |" in md and f"| total | {100 * len(STAGES)} |" in md
    assert "dpo_a" not in md  # not part of that session
    written = write_timings("smoke")  # what `make report` writes: the table under a heading, in figures/
    assert written == tmp_path / "figures" / "smoke" / "timings.md"
    assert written.read_text().startswith("# Timings of the `smoke` profile") and written.read_text().endswith(md)


def test_a_session_is_cold_when_it_starts_on_empty_caches(tmp_path, monkeypatch):
    from delta_utils.runner.pipeline import _log, _session_is_cold

    monkeypatch.setenv("DELTA_LAB_RUNS", str(tmp_path))
    monkeypatch.setenv("DELTA_LAB_SESSION", "s1")
    prof = load_profile("smoke")
    prof.run_dir().mkdir(parents=True)
    assert _session_is_cold(prof)
    _log(prof, "01_generate", "ran", 1.0, None, "k", cold=True)
    (prof.run_dir() / "cache").mkdir()
    (prof.run_dir() / "cache" / "completions.sqlite").write_bytes(b"x")
    assert _session_is_cold(prof)  # decided by the session's first execution, not by what it wrote since
    monkeypatch.setenv("DELTA_LAB_SESSION", "s2")
    assert not _session_is_cold(prof)


def test_epochs_give_each_run_the_steps_for_equal_passes_over_its_data(monkeypatch):
    from delta_utils.profile.config import TrainHParams
    from delta_utils.stages.train import train_steps

    fixed = TrainHParams(max_steps=6, batch_size=4)
    assert train_steps(fixed, 40) == train_steps(fixed, 20) == 6  # equal steps: the half set is seen twice as often
    hp = TrainHParams(max_steps=6, batch_size=4, grad_accum=2, epochs=1.0)
    assert (train_steps(hp, 40), train_steps(hp, 20), train_steps(hp, 3)) == (5, 3, 1)
    monkeypatch.setenv("WORLD_SIZE", "2")  # two processes halve the steps per epoch
    assert train_steps(hp, 40) == 3


def test_rerun_reason_names_what_changed():
    from delta_utils.runner.pipeline import rerun_reason

    old = {"code": {"notebooks/03_pair.py": "a", "delta_utils/stages/pairing.py": "b", "delta_utils/gone.py": "c"},
           "sections": {"pairing": "s", "generation": "g"}, "upstream": {"01_generate": "u", "02_judge": "v"}}
    new = {"code": {"notebooks/03_pair.py": "a", "delta_utils/stages/pairing.py": "B", "delta_utils/new.py": "d"},
           "sections": {"pairing": "S", "generation": "g"}, "upstream": {"01_generate": "u", "02_judge": "V"}}
    why = rerun_reason({"key": "k0", "status": "ok", "inputs": old}, new, "k1")
    assert why == ("changed code: delta_utils/gone.py (no longer imported), delta_utils/new.py (newly imported), "
                   "delta_utils/stages/pairing.py; changed profile sections: pairing; changed outputs of 02_judge")
    assert rerun_reason({}, new, "k1") == "no earlier run"
    assert rerun_reason({"key": "k1", "status": "failed", "inputs": new}, new, "k1") == "the last run failed"
    assert "no per-input hashes" in rerun_reason({"key": "k0", "status": "ok"}, new, "k1")
    assert rerun_reason({"key": "k1", "status": "ok", "inputs": new}, new, "k1", force=True) == "forced (--force)"
    # a package move changes dozens of files: the reason names the first few and counts the rest
    moved = {**new, "code": {f"delta_utils/m{i:02d}.py": "x" for i in range(40)}}
    why = rerun_reason({"key": "k0", "status": "ok", "inputs": new}, moved, "k1")
    assert why.count(".py") == 6 and "and 37 more files" in why  # 40 new + 3 gone, 6 named


def test_every_profile_field_is_described_and_the_reference_in_docs_is_current(tmp_path):
    """Each field of the schema carries a description, and docs/profiles.md's reference is generated from them
    (`make docs` rewrites it, leaving the prose around it alone)."""
    from delta_utils.profile.config import field_reference, field_reference_markdown
    from delta_utils.runner.pipeline import PROFILE_REFERENCE, profile_reference_block, write_profile_reference

    rows = field_reference()
    assert len(rows) > 100 and not [r["field"] for r in rows if not r["description"]]
    assert profile_reference_block(PROFILE_REFERENCE) == field_reference_markdown(), "run `make docs`"
    doc = tmp_path / "profiles.md"
    doc.write_text("intro\n<!-- profile-fields -->\nstale\n<!-- /profile-fields -->\noutro\n")
    assert write_profile_reference(doc) and not write_profile_reference(doc)
    ref = field_reference_markdown()
    assert doc.read_text() == f"intro\n<!-- profile-fields -->\n{ref}<!-- /profile-fields -->\noutro\n"


def test_base_profile_inherits_and_overrides(tmp_path):
    seed1 = load_profile("tiny_seed1")
    tiny = load_profile("tiny")
    assert seed1.name == "tiny_seed1" and seed1.train_prompts.seed == 2 and seed1.generation.sampling.seed == 1
    # mappings merge key by key: what the derived file leaves out is tiny's
    assert seed1.generation.sampling.max_tokens == tiny.generation.sampling.max_tokens
    assert seed1.train.runs == tiny.train.runs and seed1.evaluate == tiny.evaluate
    assert seed1.train.hparams.seed == 1 and seed1.train.hparams.beta == tiny.train.hparams.beta
    # a path base, relative to the derived file; lists are replaced, not appended
    (tmp_path / "mid.yaml").write_text("base: smoke\npairing: {top_fractions: [0.5, 0.25]}\n")
    (tmp_path / "leaf.yaml").write_text("base: mid.yaml\ntrain_prompts: {n: 7}\n")
    leaf = load_profile(tmp_path / "leaf.yaml")
    assert leaf.name == "leaf" and leaf.train_prompts.n == 7 and leaf.pairing.top_fractions == [0.5, 0.25]
    assert leaf.judge == load_profile("smoke").judge


def test_base_profile_errors(tmp_path):
    (tmp_path / "a.yaml").write_text("base: b.yaml\n")
    (tmp_path / "b.yaml").write_text("base: a.yaml\n")
    with pytest.raises(ProfileError, match="cycle"):
        load_profile(tmp_path / "a.yaml")
    (tmp_path / "c.yaml").write_text("base: no_such_profile\n")
    with pytest.raises(ProfileError, match="known profiles"):
        load_profile(tmp_path / "c.yaml")
    (tmp_path / "d.yaml").write_text("base: [tiny, smoke]\n")
    with pytest.raises(ProfileError, match="must name one profile"):
        load_profile(tmp_path / "d.yaml")


def test_validating_a_profile_registers_nothing_and_loading_registers_its_own_models(tmp_path, monkeypatch):
    from delta_utils.profile.config import Profile
    from delta_utils.serving import models

    monkeypatch.setitem(models.REGISTRY, "my-policy", None)  # so that teardown removes what loading registers
    monkeypatch.delitem(models.REGISTRY, "my-policy")
    own = {"name": "my-policy", "family": "smollm2", "hub_id": "HuggingFaceTB/SmolLM2-135M-Instruct", "params_m": 135}
    p = _write(tmp_path, lambda d: (d.setdefault("models", []).append(own), d["train"].update(policy="my-policy")))
    data = yaml.safe_load(p.read_text()) | {"name": "x"}
    assert Profile.model_validate(data).train.policy == "my-policy"  # known to the profile being validated
    assert "my-policy" not in models.REGISTRY  # but validation changed no global state
    load_profile(p)
    assert models.get_spec("my-policy").hub_id == own["hub_id"]
