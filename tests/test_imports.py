"""The package's import graph: no cycles, and the config layer does not load the data layer.

The graph is read from the sources with `ast` (`delta_utils.depgraph`): every import statement,
function-level ones included, relative imports resolved, package ``__init__``s as modules of their own.
"""
import subprocess
import sys
import textwrap

from delta_utils import depgraph

PKG = "delta_utils"


def test_package_import_graph_is_acyclic():
    g = depgraph.graph()
    assert f"{PKG}.tasks.problem" in g and f"{PKG}.config" in g  # subpackages are walked
    cycle = depgraph.find_cycle(g)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_leaf_modules_import_nothing_of_the_package():
    g = depgraph.graph()
    for leaf in ("tasks.problem", "benchmark_specs", "paths", "store"):
        assert g[f"{PKG}.{leaf}"] == set(), f"{leaf} imports {sorted(g[f'{PKG}.{leaf}'])}"
    assert f"{PKG}.config" not in g[f"{PKG}.models"]


def test_config_does_not_import_the_data_layer():
    code = ("import sys, delta_utils.config\n"
            "print(sorted(m for m in sys.modules if m == 'delta_utils.tasks' or m.startswith('delta_utils.tasks')))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]", f"importing delta_utils.config loads {r.stdout.strip()}"


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
    assert {"pairing.py", "config.py", "tasks/problem.py"} <= names
    assert "lmeval.py" not in names and "evaluate.py" not in names


def test_editing_a_figure_of_06_does_not_rekey_stages_01_to_05():
    """The study's figures (`figures`, 06 only) and the stages' example plots draw on `plotting`, which imports
    nothing of the study: a change to one of 06's plots leaves the keys of 01-05, and their executed notebooks,
    as they were."""
    g = depgraph.graph()
    assert g[f"{PKG}.plotting"] == set()
    for nb in sorted((depgraph.PACKAGE_DIR.parent / "notebooks").glob("0[1-5]_*.py")):
        names = {f.relative_to(depgraph.PACKAGE_DIR).as_posix() for f in depgraph.dependencies(nb)}
        assert "figures.py" not in names and "plotting.py" in names, nb.name
    assert "figures.py" in {f.relative_to(depgraph.PACKAGE_DIR).as_posix() for f in
                            depgraph.dependencies(depgraph.PACKAGE_DIR.parent / "notebooks" / "06_analyze.py")}
