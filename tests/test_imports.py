"""The package's import graph: no cycles, the layers of delta_utils/__init__.py (no module imports from a layer
above its own), and the config does not load the data layer's tasks.

The graph is read from the sources with `ast` (`delta_utils.core.depgraph`): every import statement,
function-level ones included, relative imports resolved, package ``__init__``s as modules of their own.
"""
import subprocess
import sys
import textwrap

from delta_utils.core import depgraph

PKG = "delta_utils"


def test_package_import_graph_is_acyclic():
    g = depgraph.graph()
    assert f"{PKG}.data.tasks.problem" in g and f"{PKG}.profile.config" in g  # subpackages are walked
    cycle = depgraph.find_cycle(g)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_leaf_modules_import_nothing_of_the_package():
    g = depgraph.graph()
    for leaf in ("data.tasks.problem", "data.benchmark_specs", "core.paths", "core.store"):
        assert g[f"{PKG}.{leaf}"] == set(), f"{leaf} imports {sorted(g[f'{PKG}.{leaf}'])}"
    assert f"{PKG}.profile.config" not in g[f"{PKG}.serving.models"]


LAYERS = ["core", "data", "serving", "profile", "stages", "study", "runner"]  # lowest first: delta_utils/__init__.py


def _layer(module: str) -> int | None:
    parts = module.split(".")
    return LAYERS.index(parts[1]) if len(parts) > 1 and parts[1] in LAYERS else None


def test_every_module_lives_in_a_layer_and_imports_none_above_its_own():
    g = depgraph.graph()
    loose = [m for m in g if m != PKG and _layer(m) is None]
    assert not loose, f"modules outside the layer folders: {loose}"
    up = [(m, d) for m, deps in g.items() for d in deps
          if m != PKG and _layer(d) is not None and _layer(d) > _layer(m)]
    assert not up, "imports from a higher layer: " + "; ".join(f"{m} -> {d}" for m, d in sorted(up))
    doc = __import__(PKG).__doc__
    assert [ln.split()[0].rstrip("/") for ln in doc.splitlines() if ln.startswith("    ") and
            ln.split()[0].endswith("/")] == LAYERS  # the package docstring states the same order


def test_the_layer_check_sees_an_upward_import(tmp_path):
    pkg = _package(tmp_path, {"p/__init__.py": "", "p/core/__init__.py": "", "p/study/__init__.py": "",
                              "p/core/low.py": "from ..study import high\n", "p/study/high.py": ""})
    g = depgraph.graph(pkg, "p")
    assert "p.study.high" in g["p.core.low"] and LAYERS.index("study") > LAYERS.index("core")


def test_config_does_not_import_the_data_layer():
    code = ("import sys, delta_utils.profile.config\n"
            "print(sorted(m for m in sys.modules if m.startswith('delta_utils.data.tasks')))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]", f"importing delta_utils.profile.config loads {r.stdout.strip()}"


def _package(root, files: dict[str, str]):
    for rel, src in files.items():
        f = root / rel
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(textwrap.dedent(src))
    return root / "p"


def test_graph_reads_every_kind_of_import(tmp_path):
    pkg = _package(tmp_path, {
        "p/__init__.py": "",
        "p/sub/__init__.py": "from .a import A\n",
        "p/sub/a.py": "A = 1\ndef f():\n    from ..b import y  # function-level, two levels up\n",
        "p/sub/leaf.py": "from . import a\n",  # a submodule of its own package: not an edge to p.sub
        "p/sub/reads_init.py": "from . import A\n",  # a name of its package's __init__: an edge to p.sub
        "p/b.py": "y = 2\nimport p.c\n",
        "p/c.py": "from p.sub import a\n",  # runs p.sub's __init__ too
        "p/d.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .b import y\n",
    })
    g = depgraph.graph(pkg, "p")
    assert g["p.sub"] == {"p.sub.a"}
    assert g["p.sub.a"] == {"p.b"}
    assert g["p.sub.leaf"] == {"p.sub.a"}
    assert g["p.sub.reads_init"] == {"p.sub"}
    assert g["p.b"] == {"p.c"}
    assert g["p.c"] == {"p.sub", "p.sub.a"}
    assert g["p.d"] == set()  # annotations only, never run
    cycle = depgraph.find_cycle(g)  # p.sub -> p.sub.a -> p.b -> p.c -> p.sub
    assert cycle is not None and cycle[0] == cycle[-1] and {"p.sub.a", "p.b", "p.c"} <= set(cycle)
    del g["p.c"]
    assert depgraph.find_cycle(g) is None


def test_a_script_depends_on_what_it_imports_transitively(tmp_path):
    pkg = _package(tmp_path, {
        "p/__init__.py": "",
        "p/a.py": "import subprocess\ndef run():\n    from . import b\n",
        "p/b.py": "CMD = ['python', '-m', 'p.c']\n",  # a module started by name counts
        "p/c.py": "",
        "p/unrelated.py": "from . import a\n",
    })
    script = tmp_path / "nb.py"
    script.write_text("from p import a\n")
    deps = depgraph.dependencies(script, pkg, "p")
    assert [f.relative_to(pkg).as_posix() for f in deps] == ["__init__.py", "a.py", "b.py", "c.py"]


def test_a_stage_hashes_only_the_modules_its_notebook_imports():
    nb = depgraph.PACKAGE_DIR.parent / "notebooks" / "03_pair.py"
    names = {f.relative_to(depgraph.PACKAGE_DIR).as_posix() for f in depgraph.dependencies(nb)}
    assert {"stages/pairing.py", "profile/config.py", "data/tasks/problem.py"} <= names
    assert "runner/lmeval.py" not in names and "stages/evaluate.py" not in names


def test_editing_a_figure_of_06_does_not_rekey_stages_01_to_05():
    """The study's figures (`figures`, 06 only) and the stages' example plots draw on `plotting`, which imports
    nothing of the study: a change to one of 06's plots leaves the keys of 01-05, and their executed notebooks,
    as they were."""
    g = depgraph.graph()
    assert g[f"{PKG}.core.plotting"] == set()
    for nb in sorted((depgraph.PACKAGE_DIR.parent / "notebooks").glob("0[1-5]_*.py")):
        names = {f.relative_to(depgraph.PACKAGE_DIR).as_posix() for f in depgraph.dependencies(nb)}
        assert "study/figures.py" not in names and "core/plotting.py" in names, nb.name
    assert "study/figures.py" in {f.relative_to(depgraph.PACKAGE_DIR).as_posix() for f in
                                  depgraph.dependencies(depgraph.PACKAGE_DIR.parent / "notebooks" / "06_analyze.py")}


def test_each_notebook_keys_on_its_own_examples_only():
    """01-05's worked examples live one module per notebook (study/examples/): editing 02's example leaves the
    keys of 01, 03, 04 and 05 as they were."""
    own = {"01_generate": "generate", "02_judge": "judge", "03_pair": "pair", "04_train": "train",
           "05_evaluate": "evaluate"}
    for nb, mine in own.items():
        names = {f.relative_to(depgraph.PACKAGE_DIR).as_posix() for f in
                 depgraph.dependencies(depgraph.PACKAGE_DIR.parent / "notebooks" / f"{nb}.py")}
        shown = {n.removeprefix("study/examples/").removesuffix(".py") for n in names
                 if n.startswith("study/examples/")}
        assert shown - {"__init__", "text"} == {mine}, (nb, sorted(shown))  # text: the shared rendering helpers
