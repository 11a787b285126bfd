"""The README stays a front door: short, its links and the docs' links resolve, and no command rewrites it (what a
run produces goes to figures/<profile>/ and runs/<profile>/, so `make all` leaves the tracked docs alone)."""
import ast
import json
import re
from pathlib import Path

from delta_utils.profile.config import REPO_ROOT

README = REPO_ROOT / "README.md"
DOCS = sorted((REPO_ROOT / "docs").glob("*.md"))
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def _links(path: Path) -> list[str]:
    """The Markdown link and image targets of a file, outside fenced code blocks and inline code."""
    text = re.sub(r"```.*?```", "", path.read_text(), flags=re.S)
    text = re.sub(r"`[^`\n]*`", "", text)
    return LINK.findall(text)


def test_readme_is_a_front_door():
    text = README.read_text()
    lines = text.splitlines()
    assert len(lines) <= 200, f"README.md has {len(lines)} lines: move detail to docs/"
    for must in ("Python 3.11", "cmake", "make all", "make test", "figures/tiny/findings.md",
                 "figures/tiny/results.md", "figures/tiny/timings.md", "docs/"):
        assert must in text, must
    assert "<!--" not in text, "generated blocks live in generated files (figures/<profile>/*.md), not the README"
    assert re.search(r"!\[[^\]]*\]\(figures/tiny/\w+\.png\)", text), "one committed figure"


def test_every_relative_link_in_the_readme_and_docs_resolves():
    assert DOCS, "docs/ holds the reference"
    broken = []
    for path in [README, *DOCS]:
        for target in _links(path):
            if re.match(r"[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
                continue  # a URL, or an anchor in the same file
            if not (path.parent / target.split("#", 1)[0]).exists():
                broken.append(f"{path.relative_to(REPO_ROOT)}: {target}")
    assert not broken, broken


def test_every_doc_is_linked_from_the_readme_or_the_docs_index():
    linked = {(p.parent / t.split("#", 1)[0]).resolve() for p in [README, *DOCS] for t in _links(p)}
    assert not [d.name for d in DOCS if d.name != "README.md" and d.resolve() not in linked]


def test_committed_profiles_have_their_generated_result_files():
    for name in ("tiny", "tiny_seed1", "tiny_seed1_fp32"):
        for f in ("findings.md", "results.md", "timings.md"):
            assert (REPO_ROOT / "figures" / name / f).is_file(), f"figures/{name}/{f}"


def _writes_the_readme(tree: ast.AST) -> list[int]:
    """Lines where a path to the repository's README.md is built, or a function named after the README is
    defined or called (dataset and model cards, README.md inside a run or export folder, are fine)."""
    hits = []
    for node in ast.walk(tree):
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
            names = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
            consts = {n.value for n in ast.walk(node) if isinstance(n, ast.Constant)}
            if "REPO_ROOT" in names and any(isinstance(c, str) and "README" in c for c in consts):
                hits.append(node.lineno)
        if isinstance(node, (ast.FunctionDef, ast.Name, ast.Attribute)):
            name = getattr(node, "name", None) or getattr(node, "id", None) or getattr(node, "attr", "")
            if "readme" in name.lower():
                hits.append(node.lineno)
    return hits


def test_nothing_in_the_package_writes_the_readme():
    hits = {str(p.relative_to(REPO_ROOT)): lines for p in sorted((REPO_ROOT / "delta_utils").rglob("*.py"))
            if (lines := _writes_the_readme(ast.parse(p.read_text())))}
    assert not hits, hits
    assert _writes_the_readme(ast.parse('update_readme_block("x", md)\nopen(REPO_ROOT / "README.md", "w")')) == [1, 2]


def test_report_and_fields_write_outside_the_readme(runs_dir, capsys):
    """`make report` writes figures/<profile>/timings.md, `make docs` docs/profiles.md's reference; neither
    touches the README."""
    from delta_utils.profile.rundir import STAGES
    from delta_utils.runner import pipeline

    before = README.read_bytes()
    (runs_dir / "runs" / "smoke").mkdir(parents=True)
    rows = [{"stage": s, "status": "ran", "wall_s": 10.0, "peak_rss_mb": 100, "at": 0} for s in STAGES]
    (runs_dir / "runs" / "smoke" / "timings.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert pipeline.main(["report", "--profile", "smoke"]) == 0
    assert "| 06_analyze | 10 | 100 |" in (runs_dir / "figures" / "smoke" / "timings.md").read_text()
    assert pipeline.main(["fields"]) == 0 and "**`train`**" in capsys.readouterr().out
    assert README.read_bytes() == before


def test_every_stage_of_the_registry_has_its_notebook_module_and_make_rule():
    """One stage registry (profile/rundir.py): each stage's notebook exists, its module runs it under that name
    (STAGE), the Makefile has its rule in the registry's order, and `pipeline stages` prints the registry."""
    import importlib
    import subprocess
    import sys

    from delta_utils.profile.rundir import REGISTRY, STAGES

    make = (REPO_ROOT / "Makefile").read_text()
    rules = [m.group(1) for m in re.finditer(r"^(\d\d_[a-z]+):", make, flags=re.M)]
    assert rules == STAGES
    for s in REGISTRY.values():
        assert (REPO_ROOT / "notebooks" / f"{s.name}.py").is_file(), s.name
        mod = importlib.import_module(f"delta_utils.{s.module}")
        assert mod.STAGE == s.name and callable(mod.run), s.module
    out = subprocess.run([sys.executable, "-m", "delta_utils.runner.pipeline", "stages"], capture_output=True,
                         text=True, check=True, cwd=REPO_ROOT).stdout.split()
    assert out == STAGES
