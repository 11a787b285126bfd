"""Regenerate tests/data/gpu_requirements.json: the declared requirements (`Requires-Dist`) of every package pinned
in requirements-gpu.txt and requirements-vllm.txt, and of the project's own pins (pyproject.toml) that touch the
GPU pins, as PyPI's metadata states them. tests/test_gpu_environment.py checks the pins against this lock offline.

    .venv/bin/python tests/refresh_gpu_lock.py              # needs PyPI; run it after changing any of those pins
    .venv/bin/python tests/refresh_gpu_lock.py --date 2026-12-07

Each pin is read with `pip install --dry-run --ignore-installed --no-deps NAME==VERSION --report FILE`: for a
wheel pip reads the metadata file PyPI publishes beside it (PEP 658) and downloads no wheel; an sdist (deepspeed)
is downloaded and its metadata prepared (setup.py egg_info in an isolated build, no compiling). The pip
configuration and PIP_FIND_LINKS / PIP_CONSTRAINT / PIP_EXTRA_INDEX_URL are ignored, so a local wheelhouse (a
`+cpu` torch) or a constraint file cannot change what is recorded; PIP_INDEX_URL (a mirror) is kept. Run it on
Linux x86_64 with CPython 3.11, the platform the test evaluates markers for: pip picks the wheel of the running
interpreter, and torch's cp311 wheel is what the lock must describe.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

import tomllib
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parent.parent
LOCK = REPO / "tests" / "data" / "gpu_requirements.json"
GPU_FILES = ("requirements-gpu.txt", "requirements-vllm.txt")
# the venv these files install into: the project's own (with its pyproject pins) or vLLM's own
PROJECT_SIDE = "requirements-gpu.txt"


def read_pins(path: Path) -> dict[str, str]:
    """`name==version` lines of a requirements file (comments and blank lines skipped): canonical name -> version.
    Anything but an exact pin without markers or extras is an error: these files are locks."""
    pins = {}
    for n, line in enumerate(path.read_text().splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        req = Requirement(line)
        specs = list(req.specifier)
        if len(specs) != 1 or specs[0].operator != "==" or "*" in specs[0].version or req.marker or req.extras:
            raise ValueError(f"{path.name}:{n}: {line!r} is not an exact pin (name==version)")
        name = canonicalize_name(req.name)
        if name in pins:
            raise ValueError(f"{path.name}:{n}: {req.name} pinned twice")
        pins[name] = specs[0].version
    return pins


def pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]


def project_pins() -> dict[str, str]:
    """The exact pins (`==`) among pyproject.toml's dependencies: canonical name -> version."""
    pins = {}
    for line in pyproject()["dependencies"]:
        req = Requirement(line)
        specs = list(req.specifier)
        if len(specs) == 1 and specs[0].operator == "==":
            pins[canonicalize_name(req.name)] = specs[0].version
    return pins


def requirement_names(requires_dist: list[str]) -> set[str]:
    """Every package a `Requires-Dist` list names, under any marker or extra."""
    return {canonicalize_name(Requirement(r).name) for r in requires_dist}


def _pip_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("PIP_FIND_LINKS", "PIP_CONSTRAINT", "PIP_EXTRA_INDEX_URL", "PIP_NO_INDEX", "PIP_REQUIREMENT")}
    env["PIP_CONFIG_FILE"] = os.devnull  # no pip.conf anywhere (global, user, site)
    return env


def read_metadata(name: str, version: str) -> dict:
    """One pin's metadata from the index, through pip: source file, sha256, Requires-Python, Requires-Dist."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        cmd = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--no-deps", "--quiet",
               f"{name}=={version}", "--report", str(report)]
        subprocess.run(cmd, check=True, env=_pip_env())
        (item,) = json.loads(report.read_text())["install"]
    meta, info = item["metadata"], item["download_info"]
    return {"source": info["url"].rsplit("/", 1)[-1],
            "sha256": info.get("archive_info", {}).get("hashes", {}).get("sha256"),
            "requires_python": meta.get("requires_python"),
            # sorted: a setup.py may build an extra from a set (deepspeed's `all`), in another order each run
            "requires_dist": sorted(meta.get("requires_dist", []))}


def build_lock(date: str) -> dict:
    files = {f: read_pins(REPO / f) for f in GPU_FILES}
    packages: dict[str, dict] = {}

    def fetch(name: str, version: str) -> dict:
        key = f"{name}=={version}"
        if key not in packages:
            print(f"reading {key}", file=sys.stderr)
            packages[key] = read_metadata(name, version)
        return packages[key]

    for pins in files.values():
        for name, version in pins.items():
            fetch(name, version)
    # the project's pins that the training-side GPU pins name, or that name a GPU pin (under any extra)
    gpu = files[PROJECT_SIDE]
    named = set().union(*(requirement_names(packages[f"{n}=={v}"]["requires_dist"]) for n, v in gpu.items()))
    related = {}
    for name, version in project_pins().items():
        if name in gpu:
            continue  # a clash the test reports; not a project entry
        if name in named:
            related[name] = version
            fetch(name, version)
            continue
        try:  # read to see whether it names a GPU pin; kept only if it does
            meta = read_metadata(name, version)
        except subprocess.CalledProcessError:
            print(f"warning: {name}=={version} not found on the index: not checked against the GPU pins",
                  file=sys.stderr)
            continue
        if requirement_names(meta["requires_dist"]) & set(gpu):
            related[name] = version
            packages[f"{name}=={version}"] = meta
    return {
        "comment": "Requires-Dist of the pinned GPU packages as PyPI's metadata states them; regenerate with "
                   "`python tests/refresh_gpu_lock.py` (see its docstring); checked by tests/test_gpu_environment.py",
        "resolved": date,
        "python": platform.python_version(),
        "platform": f"{sys.platform} {platform.machine()}",
        "pip": subprocess.run([sys.executable, "-m", "pip", "--version"], capture_output=True, text=True,
                              env=_pip_env()).stdout.split()[1],
        "files": {**{f: [f"{n}=={v}" for n, v in pins.items()] for f, pins in files.items()},
                  "pyproject.toml": [f"{n}=={v}" for n, v in sorted(related.items())]},
        "packages": dict(sorted(packages.items())),
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--date", default=datetime.date.today().isoformat(), help="the resolution date to record")
    ap.add_argument("--out", type=Path, default=LOCK)
    a = ap.parse_args(argv)
    if sys.platform != "linux" or platform.machine() != "x86_64" or sys.version_info[:2] != (3, 11):
        print(f"warning: the lock describes linux x86_64 CPython 3.11; this is {sys.platform} {platform.machine()} "
              f"{platform.python_version()}", file=sys.stderr)
    lock = build_lock(a.date)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(lock, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {a.out} ({len(lock['packages'])} packages)", file=sys.stderr)


if __name__ == "__main__":
    main()
