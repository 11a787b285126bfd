"""Run the numbered notebooks headlessly, skipping those whose inputs have not changed.

    python -m delta_utils.runner.pipeline run 01_generate --profile tiny
    python -m delta_utils.runner.pipeline report --profile tiny
    python -m delta_utils.runner.pipeline check --profile tiny      # validate the profile only

A stage's key hashes: its notebook source, the delta_utils modules that notebook
imports (directly or through other package modules, function-level imports
included; see `depgraph`), the profile sections it reads, and the content hashes
of every earlier stage's outputs. If ``runs/<profile>/<stage>/stage.json`` holds
the same key, the stage is skipped (and says so); otherwise papermill executes the
notebook, saving the executed copy beside the stage's outputs, and says why it
runs: no earlier run, a failed one, --force, or which of the hashed files,
profile sections and upstream outputs changed (stage.json records each part's
hash). Inside a stage, per-item caches make a rerun after a change recompute only
what depends on it.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import sys
import time
from pathlib import Path

from ..core import depgraph
from ..core.paths import figures_root, runs_root
from ..core.store import atomic_write_json, atomic_write_text, content_hash
from ..data.decontam import ContaminationError
from ..profile.config import REPO_ROOT, ProfileError, field_reference_markdown, load_profile
from ..profile.rundir import REGISTRY, STAGES, read_manifest
from .plan import plan

KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}


def notebook_source(stage: str) -> Path:
    return REPO_ROOT / "notebooks" / f"{stage}.py"


def check_disk(profile, stage: str) -> None:
    import shutil

    need = REGISTRY[stage].disk_gb
    if stage == "04_train" and profile.train.hparams.lora is None:
        need *= 4  # full checkpoints
    root = profile.run_dir()
    root.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(root).free / 1e9
    if free < need:
        raise RuntimeError(f"{stage} needs about {need:.1f} GB free under {root}, only {free:.1f} GB is free; free "
                           "some space or point DELTA_LAB_RUNS / DELTA_LAB_CACHE elsewhere")


def stage_inputs(profile, stage: str, run: str | None = None) -> dict:
    """What a stage's key hashes, part by part: the notebook and the package modules it imports (path -> hash
    of the file), the profile sections it reads, the earlier stages' output hashes, and the training run."""
    upstream = {s: (read_manifest(profile, s) or {}).get("content_hash") for s in STAGES[: STAGES.index(stage)]}
    missing = [s for s, h in upstream.items() if h is None]
    if missing:
        raise RuntimeError(f"{stage} needs the outputs of {', '.join(missing)} for profile {profile.name!r}; "
                           f"run them first (make {missing[0]} PROFILE={profile.name})")
    nb = notebook_source(stage)
    code = {str(p.relative_to(REPO_ROOT)): hashlib.sha256(p.read_bytes()).hexdigest()[:16]
            for p in [nb, *depgraph.dependencies(nb)]}
    return {"stage": stage, "code": code, "sections": {s: profile.section_hash(s) for s in REGISTRY[stage].sections},
            "upstream": upstream, "run": run}


SHOWN_FILES = 6  # a rerun's reason names at most this many changed files (a package move changes dozens)


def rerun_reason(prev: dict, inputs: dict, key: str, force: bool = False) -> str:
    """Why a stage runs, from its last stage.json: which hashed inputs differ from those it recorded."""
    if force:
        return "forced (--force)"
    if not prev:
        return "no earlier run"
    failed = "the last run failed" if prev.get("status") != "ok" else ""
    if prev.get("key") == key:
        return failed
    old = prev.get("inputs")
    if not old:
        return "; ".join(x for x in (failed, "key changed (the last run recorded no per-input hashes)") if x)
    changes = []
    before, now = old.get("code", {}), inputs["code"]
    files = sorted(f for f in before.keys() | now.keys() if before.get(f) != now.get(f))
    if files:
        note = {f: " (newly imported)" for f in now.keys() - before.keys()}
        note.update({f: " (no longer imported)" for f in before.keys() - now.keys()})
        shown = [f + note.get(f, "") for f in files[:SHOWN_FILES]]
        more = f" and {len(files) - SHOWN_FILES} more files" if len(files) > SHOWN_FILES else ""
        changes.append("changed code: " + ", ".join(shown) + more)
    sec_before, sec_now = old.get("sections", {}), inputs["sections"]
    sections = sorted(s for s in sec_before.keys() | sec_now.keys() if sec_before.get(s) != sec_now.get(s))
    if sections:
        changes.append("changed profile sections: " + ", ".join(sections))
    up_before = old.get("upstream", {})
    upstream = [s for s in inputs["upstream"] if up_before.get(s) != inputs["upstream"][s]]
    if upstream:
        changes.append("changed outputs of " + ", ".join(upstream))
    if not changes:
        changes.append("key changed (no recorded input differs: the key's recipe changed)")
    return "; ".join(x for x in (failed, *changes) if x)


def run_stage(profile_name: str, stage: str, force: bool = False, run: str | None = None) -> dict:
    """Execute one stage's notebook, or with `run` one training run of the grid (its own executed notebook)."""
    profile = load_profile(profile_name)
    params = {"profile": profile_name}
    if run is not None:
        if stage != "04_train" or run not in {r.name for r in profile.train.runs}:
            raise SystemExit(f"--run names a run of the training grid: {[r.name for r in profile.train.runs]}")
        params["runs"] = [run]
    out = profile.run_dir() / stage / run if run else profile.run_dir() / stage
    out.mkdir(parents=True, exist_ok=True)
    inputs = stage_inputs(profile, stage, run)
    key = content_hash(inputs)
    label = f"{stage}/{run}" if run else stage
    status_file = out / "stage.json"
    prev = json.loads(status_file.read_text()) if status_file.is_file() else {}
    cold = _session_is_cold(profile)
    if not force and prev.get("key") == key and prev.get("status") == "ok":
        print(f"[{label}] up to date (key {key}), skipped — ran in {prev.get('wall_s', 0):.0f} s last time")
        _log(profile, label, "skipped", 0.0, None, key, cold)
        return prev
    check_disk(profile, stage)
    if stage == "04_train":  # a policy one process cannot hold stops here, with the accelerate config to use
        from ..stages.train import check_fits_one_process

        try:
            check_fits_one_process(profile)
        except RuntimeError as e:
            raise SystemExit(f"[{label}] {e}") from None
    import jupytext

    nb = jupytext.read(notebook_source(stage))
    nb.metadata["kernelspec"] = KERNELSPEC
    src = out / f"{stage}.src.ipynb"
    jupytext.write(nb, src)
    executed = out / f"{stage}.ipynb"
    print(f"[{label}] running on profile {profile.name}: {rerun_reason(prev, inputs, key, force)} (key {key}) "
          f"-> {executed}", flush=True)
    t0 = time.monotonic()
    try:
        execute_notebook(src, executed, params, cwd=REPO_ROOT / "notebooks")
    except Exception:
        wall = time.monotonic() - t0
        atomic_write_json(status_file, {"key": key, "status": "failed", "wall_s": round(wall, 1), "inputs": inputs})
        _log(profile, label, "failed", wall, _peak_rss_mb(), key, cold)
        raise
    finally:
        src.unlink(missing_ok=True)
    wall = time.monotonic() - t0
    rec = {"key": key, "status": "ok", "wall_s": round(wall, 1), "peak_rss_mb": _peak_rss_mb(),
           "finished": time.strftime("%Y-%m-%d %H:%M:%S"), "inputs": inputs}
    atomic_write_json(status_file, rec)
    if run is None:  # the executed stage notebook also beside the profile's figures, so it reads without running
        beside = figures_root() / profile.name / "notebooks"
        beside.mkdir(parents=True, exist_ok=True)
        atomic_write_text(beside / executed.name, portable(executed.read_text()))
    _log(profile, label, "ran", wall, rec["peak_rss_mb"], key, cold)
    print(f"[{label}] done in {wall:.0f} s, peak RSS of its processes {rec['peak_rss_mb']:.0f} MB", flush=True)
    return rec


def execute_notebook(src: Path, executed: Path, params: dict, cwd: Path) -> None:
    """Run a notebook headlessly (papermill), its outputs echoed to this terminal once and saved tidy.

    The kernel gets `quiet.HEADLESS_ENV`: progress bars redraw rarely and the libraries' bars are off (why, and
    the live-kernel counterpart: delta_utils/core/quiet.py). Outputs reach the terminal through `stdout_file` /
    `stderr_file` only: `log_output=True` would also log each stderr chunk, printing it twice. The saved copy's
    stream outputs are then merged as a terminal shows them (`quiet.tidy_streams`): a bar leaves its last line.
    """
    import nbformat
    import papermill as pm

    from ..core import quiet

    saved = {k: os.environ.get(k) for k in quiet.HEADLESS_ENV}
    os.environ.update(quiet.HEADLESS_ENV)  # inherited by the kernel papermill starts
    try:
        # the kernel's own log at ERROR: it warned on every start that its local TCP sockets are not encrypted
        pm.execute_notebook(str(src), str(executed), parameters=params, cwd=str(cwd), kernel_name="python3",
                            progress_bar=False, log_output=False, stdout_file=sys.stdout, stderr_file=sys.stderr,
                            extra_arguments=["--IPKernelApp.log_level=ERROR"])
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        if executed.is_file():  # a failed run's copy too: it is the one read to see what went wrong
            nb = nbformat.read(executed, as_version=4)
            quiet.tidy_streams(nb)
            atomic_write_text(executed, nbformat.writes(nb))


def portable(text: str) -> str:
    """An executed notebook without this machine's paths (for the copy committed beside the figures): the runs
    and figures folders and the repository root become relative paths."""
    for root, name in [(runs_root(), "runs"), (figures_root(), "figures"), (REPO_ROOT, ".")]:
        text = text.replace(f"{root}/", f"{name}/").replace(str(root), name)
    return text


def _peak_rss_mb() -> float:
    # the largest RSS among finished descendants (kernel, servers), in MB (Linux reports KiB)
    return round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1)


def _timing_rows(profile) -> list[dict]:
    p = profile.run_dir() / "timings.jsonl"
    return [json.loads(x) for x in p.read_text().splitlines()] if p.is_file() else []


def _session_is_cold(profile) -> bool:
    """Whether this `make` session (DELTA_LAB_SESSION) began with the run's per-item caches empty: then its
    timings are what the stages cost from scratch. Decided by the session's first execution and kept."""
    session = os.environ.get("DELTA_LAB_SESSION")
    mine = [r for r in _timing_rows(profile) if session and r.get("session") == session]
    if mine:
        return bool(mine[0].get("cold"))
    cache = profile.run_dir() / "cache"
    return not (cache.is_dir() and any(f.stat().st_size for f in cache.rglob("*") if f.is_file()))


def _log(profile, stage, status, wall, rss, key, cold=False) -> None:
    p = profile.run_dir() / "timings.jsonl"
    with open(p, "a") as f:
        f.write(json.dumps({"stage": stage, "status": status, "wall_s": round(wall, 1), "peak_rss_mb": rss,
                            "key": key, "at": time.time(), "session": os.environ.get("DELTA_LAB_SESSION"),
                            "cold": cold}) + "\n")


def report(profile_name: str) -> str:
    """Per-stage table of the latest invocation (ran / skipped) and the last real run's time and memory."""
    profile = load_profile(profile_name)
    rows = _timing_rows(profile)
    session = os.environ.get("DELTA_LAB_SESSION")
    lines = [f"{'stage':<13} {'this run':<9} {'wall s':>8} {'last full run s':>16} {'peak RSS MB':>12}"]
    total_now = total_full = 0.0
    labels = []
    for stage in STAGES:  # each stage, then its per-run executions (the training grid)
        labels.append(stage)
        labels += sorted({r["stage"] for r in rows if r["stage"].startswith(stage + "/")})
    for stage in labels:
        mine = [r for r in rows if r["stage"] == stage and (session is None or r.get("session") == session)]
        last_ran = [r for r in rows if r["stage"] == stage and r["status"] == "ran"]
        now = mine[-1] if mine else None
        full = last_ran[-1] if last_ran else None
        total_now += now["wall_s"] if now else 0
        total_full += full["wall_s"] if full else 0
        lines.append(f"{stage:<13} {(now or {}).get('status', '-'):<9} {(now or {}).get('wall_s', 0):>8.1f} "
                     f"{(full or {}).get('wall_s', 0):>16.1f} {(full or {}).get('peak_rss_mb') or 0:>12.0f}")
    lines.append(f"{'total':<13} {'':<9} {total_now:>8.1f} {total_full:>16.1f}")
    return "\n".join(lines)


def timings_markdown(profile_name: str) -> str:
    """Wall time and peak memory of every stage and training run, as measured by the runner; the table of
    `figures/<profile>/timings.md` (`write_timings`), never typed by hand. From the latest cold session (a
    `make all` that began with empty run caches and ran every stage) when there is one, since that is what
    the pipeline costs; otherwise the last real (not skipped) execution of each, labelled as such."""
    profile = load_profile(profile_name)
    rows = _timing_rows(profile)
    ran_in_cold: dict[str, set] = {}  # cold session -> the stages it ran, in the order sessions appear
    for r in rows:
        if r.get("cold") and r.get("session") and r["status"] == "ran":
            ran_in_cold.setdefault(r["session"], set()).add(r["stage"])
    complete = [s for s, stages in ran_in_cold.items() if stages >= set(STAGES)]
    if complete:
        rows = [r for r in rows if r.get("session") == complete[-1]]
        head = ("From the latest cold `make all`: every stage ran, starting from empty run caches "
                "(models already converted under the model cache are not re-converted).")
    else:
        head = ("No cold `make all` recorded: the last execution of each stage, over whatever the run's caches "
                "already held, so a stage whose items were cached shows seconds, not what it costs cold.")
    ran = {}
    for r in rows:
        if r["status"] == "ran":
            ran[r["stage"]] = r  # the last one wins
    lines = [head, "", "| stage | wall (s) | peak RSS (MB) | finished |", "|---|---|---|---|"]
    total = 0.0
    for stage in STAGES:
        for name in [stage] + sorted(k for k in ran if k.startswith(stage + "/")):
            if name in ran:
                r = ran[name]
                total += r["wall_s"]
                when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(r["at"])) if "at" in r else ""
                lines.append(f"| {name} | {r['wall_s']:.0f} | {r.get('peak_rss_mb') or 0:.0f} | {when} |")
    lines.append(f"| total | {total:.0f} | | |")
    return "\n".join(lines) + "\n"


def write_timings(profile_name: str) -> Path | None:
    """`figures/<profile>/timings.md` (under $DELTA_LAB_FIGURES when set): the timing table with what it
    measures. None, and nothing written, when no stage of the profile has run here (a fresh clone keeps the
    committed table)."""
    profile = load_profile(profile_name)
    if not any(r["status"] == "ran" for r in _timing_rows(profile)):
        return None
    head = (f"# Timings of the `{profile.name}` profile\n\n"
            "Wall time and peak memory (RSS) of each stage and training run, as the runner measured them; "
            f"`make report` (the last step of `make all`) writes this file from `runs/{profile.name}/timings.jsonl`. "
            "Setup and the llama.cpp server build are not included. The table is the latest cold `make all` "
            "(one that began with empty run caches) when one is recorded; otherwise the last execution of each "
            "stage, and a stage whose work was all cached then shows seconds, not what it costs cold. Its first "
            "line says which.\n\n")
    path = figures_root() / profile.name / "timings.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, head + timings_markdown(profile_name))
    return path


PROFILE_REFERENCE = REPO_ROOT / "docs" / "profiles.md"
_FIELDS_START, _FIELDS_END = "<!-- profile-fields -->\n", "<!-- /profile-fields -->"


def profile_reference_block(path: Path = PROFILE_REFERENCE) -> str:
    """The generated field reference as it stands in docs/profiles.md (between its markers)."""
    return path.read_text().split(_FIELDS_START, 1)[1].split(_FIELDS_END, 1)[0]


def write_profile_reference(path: Path = PROFILE_REFERENCE) -> bool:
    """Rewrite the field reference in docs/profiles.md from the descriptions in config.py (`make docs`);
    True when it changed. The prose around the markers is left as it is."""
    text = path.read_text()
    head, rest = text.split(_FIELDS_START, 1)
    new = head + _FIELDS_START + field_reference_markdown() + _FIELDS_END + rest.split(_FIELDS_END, 1)[1]
    if new != text:
        atomic_write_text(path, new)
    return new != text


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m delta_utils.runner.pipeline")
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="run one stage's notebook (skipped if its inputs are unchanged)")
    r.add_argument("stage", choices=STAGES)
    r.add_argument("--profile", default="tiny")
    r.add_argument("--force", action="store_true")
    r.add_argument("--run", help="04_train only: one run of the training grid")
    sub.add_parser("stages", help="list the stages in order (one per line; the Makefile's stage list)")
    ls = sub.add_parser("runs", help="list the training grid's run names (one per line)")
    ls.add_argument("--profile", default="tiny")
    rep = sub.add_parser("report", help="per-stage timing table (and figures/<profile>/timings.md)")
    rep.add_argument("--profile", default="tiny")
    chk = sub.add_parser("check", help="validate a profile and print its plan: grid, model calls, batches, "
                                       "decontamination, GPUs")
    chk.add_argument("--profile", default="tiny")
    chk.add_argument("--load-data", action="store_true", help="load hub datasets to count items and check "
                     "decontamination (default: published sizes, no download)")
    fields = sub.add_parser("fields", help="every profile field with its default and description (Markdown); "
                                           "--write rewrites the reference in docs/profiles.md with it")
    fields.add_argument("--write", action="store_true")
    a = ap.parse_args(argv)
    try:
        if a.cmd == "run":
            run_stage(a.profile, a.stage, force=a.force, run=a.run)
        elif a.cmd == "stages":
            print("\n".join(STAGES))
        elif a.cmd == "runs":
            print("\n".join(r.name for r in load_profile(a.profile).train.runs))
        elif a.cmd == "fields":
            md = field_reference_markdown()
            if a.write:
                write_profile_reference()
            print(md)
        elif a.cmd == "report":
            print(report(a.profile))
            written = write_timings(a.profile)
            if written:
                print(f"timing table: {written}")
        else:
            p = load_profile(a.profile)
            print(f"profile {p.name!r} is valid")
            try:
                print(plan(p, load_data=a.load_data))
            except (ContaminationError, ValueError) as e:
                print(f"error: {e}", file=sys.stderr)
                return 2
    except ProfileError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
