"""Stage 6: the study's figures and findings, written from the run's tables.

    t = tables.load(profile)            # the outputs of stages 01-05, and what the analysis derives
    figures.generator_gains(profile, t) # any one figure (figures.py), drawn alone
    analyze.run(profile)                # every figure and the findings

Figures go to ``figures/<profile>/<name>.{png,pdf,csv}`` under stable names (``figures.FIGURES``).
``findings.{csv,md}`` tests each claim of the paper on this profile's runs (see `findings.py`);
``diagnostics.csv`` says whether the run could measure the effects at all; ``results.md`` is the takeaway
and the diagnostics. The README links these files; nothing here writes the README.
"""
from __future__ import annotations

from pathlib import Path

from ..profile.config import Profile
from ..profile.rundir import atomic_write_text
from . import figures, findings
from .tables import RunTables, load

STAGE = "06_analyze"


def write_findings(profile: Profile, t: RunTables) -> dict[str, Path]:
    """findings.{csv,md}, gains.csv, diagnostics.csv and results.md beside the figures."""
    f = findings.findings(profile, t.records, t.traces, t.pairs)
    out = figures.figures_dir(profile)
    f.to_csv(out / "findings.csv", index=False)
    md = findings.findings_markdown(f)
    atomic_write_text(out / "findings.md", md)
    t.gains.to_csv(out / "gains.csv", index=False)
    diag = findings.diagnostics(profile, t.traces, t.scores, t.verifier, t.records, t.loglik, t.heldout)
    diag.to_csv(out / "diagnostics.csv", index=False)
    results = findings.takeaway(profile, f, t.gains) + "\n\n" + findings.diagnostics_markdown(diag)
    atomic_write_text(out / "results.md", results)
    return {"findings": out / "findings.md", "results": out / "results.md"}


def run(profile: Profile) -> dict[str, Path]:
    """06_analyze's outputs in one call, for scripts and tests (the notebook draws the same `FIGURES` one cell
    each, with their captions, then calls `write_findings`): every figure, then the findings."""
    t = load(profile)
    out = figures.figures_dir(profile)
    paths = {name: draw(profile, t).save(out) for name, draw in figures.FIGURES.items()}
    return {**paths, **write_findings(profile, t)}
