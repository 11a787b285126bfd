"""The GPU pins (requirements-gpu.txt: the project's venv; requirements-vllm.txt: vLLM's own venv) agree with each
other, with the project's pins and with what each pinned package declares it needs, offline: the declared
requirements come from tests/data/gpu_requirements.json, which tests/refresh_gpu_lock.py reads from PyPI.
Markers are evaluated for Linux x86_64, CPython 3.11 (the GPU machines)."""
import json
import re

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version
from refresh_gpu_lock import GPU_FILES, LOCK, REPO, project_pins, pyproject, read_pins

PYTHON = "3.11.7"
ENV = {"python_version": "3.11", "python_full_version": PYTHON, "implementation_name": "cpython",
       "implementation_version": PYTHON, "platform_python_implementation": "CPython", "os_name": "posix",
       "sys_platform": "linux", "platform_system": "Linux", "platform_machine": "x86_64", "platform_release": "",
       "platform_version": ""}


@pytest.fixture(scope="module")
def lock():
    return json.loads(LOCK.read_text())


def files() -> dict[str, dict[str, str]]:
    return {f: read_pins(REPO / f) for f in GPU_FILES}


def applies(req: Requirement, extra: str = "") -> bool:
    return req.marker is None or req.marker.evaluate({**ENV, "extra": extra})


def extras(requires_dist: list[str]) -> set[str]:
    """The extras a package declares, as its markers name them."""
    return {m for r in requires_dist for m in re.findall(r"""extra\s*==\s*["']([^"']+)["']""", r)}


def conflicts(pins: dict[str, str], lock: dict, *, owners: dict[str, str], any_extra: bool = False) -> list[str]:
    """What the packages in `owners` (name -> version, their metadata in the lock) declare about `pins` and the
    pinned version does not satisfy. `any_extra`: requirements under any of the owner's extras count as well."""
    bad = []
    for name, version in owners.items():
        meta = lock["packages"][f"{name}=={version}"]
        wanted = {""} | (extras(meta["requires_dist"]) if any_extra else set())
        for line in meta["requires_dist"]:
            req = Requirement(line)
            dep = canonicalize_name(req.name)
            if dep == name or dep not in pins or not any(applies(req, e) for e in wanted):
                continue
            if not req.specifier.contains(pins[dep], prereleases=True):
                bad.append(f"{name}=={version} requires {line!r}, pinned {dep}=={pins[dep]}")
    return bad


def python_ok(lock: dict, pins: dict[str, str]) -> list[str]:
    bad = []
    for name, version in pins.items():
        rp = lock["packages"][f"{name}=={version}"]["requires_python"]
        if rp and not SpecifierSet(rp).contains(PYTHON):
            bad.append(f"{name}=={version} requires Python {rp}")
    return bad


# ---------------------------------------------------------------- (c) the lock is the lock of these pins


def test_lock_covers_exactly_the_pins(lock):
    for f, pins in files().items():
        assert sorted(lock["files"][f]) == sorted(f"{n}=={v}" for n, v in pins.items()), \
            f"{f} changed since the lock was made: run `python tests/refresh_gpu_lock.py`"
    project = project_pins()
    for entry in lock["files"]["pyproject.toml"]:
        name, version = entry.split("==")
        assert project.get(name) == version, \
            f"pyproject.toml pins {name}=={project.get(name)}, the lock has {entry}: run tests/refresh_gpu_lock.py"
    listed = {e for entries in lock["files"].values() for e in entries}
    assert set(lock["packages"]) == listed, f"lock packages without a pin: {set(lock['packages']) - listed}"


def test_requirement_files_are_exact_pins(tmp_path):
    for f in GPU_FILES:
        assert read_pins(REPO / f), f"{f} pins nothing"
    loose = tmp_path / "r.txt"
    loose.write_text("# a comment\nvllm>=0.30\n")
    with pytest.raises(ValueError, match="not an exact pin"):
        read_pins(loose)


# ---------------------------------------------------------------- (a) the training side: the project's venv


def test_gpu_extra_is_requirements_gpu_txt():
    extra = {str(Requirement(r)) for r in pyproject()["optional-dependencies"]["gpu"]}
    assert extra == {f"{n}=={v}" for n, v in files()["requirements-gpu.txt"].items()}
    assert not any(canonicalize_name(Requirement(r).name) == "vllm" for r in extra), "vLLM has its own venv"


def test_gpu_pins_agree_with_the_project_pins(lock):
    gpu, project = files()["requirements-gpu.txt"], project_pins()
    both = set(gpu) & set(project)
    assert not both, f"pinned in both pyproject.toml and requirements-gpu.txt: {both}"
    venv = {**project, **gpu}
    # what the GPU pins need of each other and of the project's pins (torch==2.13.0 for deepspeed's torch>=2.0.0)
    assert not conflicts(venv, lock, owners=gpu)
    # what the project's packages ask of the GPU pins under any extra (trl[deepspeed]: deepspeed>=0.18.6)
    related = dict(e.split("==") for e in lock["files"]["pyproject.toml"])  # test (c): these are still the pins
    assert not conflicts(gpu, lock, owners=related, any_extra=True)
    assert not python_ok(lock, gpu)


def test_deepspeed_is_what_trl_and_transformers_ask_for(lock):
    """The relation the checks above rest on is in the lock: trl 1.16.0's deepspeed extra bounds deepspeed."""
    gpu, project = files()["requirements-gpu.txt"], project_pins()
    assert "deepspeed" in gpu
    trl = lock["packages"][f"trl=={project['trl']}"]["requires_dist"]
    assert any(Requirement(r).name == "deepspeed" for r in trl)
    assert conflicts({"deepspeed": "0.18.5"}, lock, owners={"trl": project["trl"]}, any_extra=True)


# ---------------------------------------------------------------- (b) the serving side: vLLM's own venv


def test_vllm_pins_agree_with_each_other(lock):
    pins = files()["requirements-vllm.txt"]
    assert "vllm" in pins
    assert not conflicts(pins, lock, owners=pins)
    assert not python_ok(lock, pins)


def test_vllm_pins_what_its_metadata_pins_exactly(lock):
    """Every package vLLM pins with == (torch, torchvision, torchaudio, ...) that the file names carries that
    version, and torch and transformers are named: they are what differs from the project's venv."""
    pins = files()["requirements-vllm.txt"]
    assert {"torch", "transformers"} <= set(pins)
    meta = lock["packages"][f"vllm=={pins['vllm']}"]["requires_dist"]
    for line in meta:
        req = Requirement(line)
        specs = list(req.specifier)
        if applies(req) and len(specs) == 1 and specs[0].operator == "==" and canonicalize_name(req.name) in pins:
            assert Version(pins[canonicalize_name(req.name)]) == Version(specs[0].version), line


def test_the_project_pins_could_not_share_vllms_venv(lock):
    """Why vLLM has its own venv: its metadata refuses the project's torch or transformers."""
    pins, project = files()["requirements-vllm.txt"], project_pins()
    mixed = {**pins, "torch": project["torch"], "transformers": project["transformers"]}
    assert conflicts(mixed, lock, owners={"vllm": pins["vllm"]})
