"""The package's own import graph, read from the sources with `ast` (nothing is imported or run).

Every ``import`` and ``from ... import`` statement counts, at module level or inside a function.
Relative imports are resolved against the importing module. ``import a.b.c`` depends on ``a.b.c``
and on the packages above it whose ``__init__`` it runs (not those the importer is already inside).
``from pkg import x`` depends on the submodule ``pkg.x`` when there is one, and otherwise on
``pkg`` itself (the name is read from its ``__init__``, also when that is the importer's own package).
Imports under ``if TYPE_CHECKING:`` are left out: they never run (annotations only).

Used by the stage key (a stage hashes only the package modules its notebook imports, transitively:
`dependencies`) and by tests/test_imports.py (the graph has no cycle: `find_cycle`).
"""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = "delta_utils"
PACKAGE_DIR = Path(__file__).resolve().parents[1]  # delta_utils/, above this core/ folder


def modules(pkg_dir: Path = PACKAGE_DIR, package: str = PACKAGE) -> dict[str, Path]:
    """Dotted module name -> source file, for the package and its subpackages (folders with an __init__.py)."""
    out = {}
    for f in sorted(pkg_dir.rglob("*.py")):
        rel = f.relative_to(pkg_dir)
        if not all((pkg_dir / Path(*rel.parts[:i]) / "__init__.py").is_file() for i in range(len(rel.parts))):
            continue
        parts = [package, *rel.with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = f
    return out


def _ancestors(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _nodes(tree: ast.AST):
    """Every node of `tree`, like ast.walk, except the bodies of ``if TYPE_CHECKING:`` blocks."""
    todo = [tree]
    while todo:
        node = todo.pop()
        yield node
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            todo.extend(node.orelse)
        else:
            todo.extend(ast.iter_child_nodes(node))


def imports(tree: ast.AST, name: str, is_package: bool, known: set[str], strings: bool = False) -> set[str]:
    """The modules in `known` that the statements of `tree` (module `name`) import. `strings`: also string
    constants that name a module exactly (e.g. ``[sys.executable, "-m", "delta_utils.serving.serve"]``)."""
    inside = set(_ancestors(name)) | ({name} if is_package else set())  # packages already being imported
    out: set[str] = set()

    def load(mod: str) -> None:  # importing `mod` runs it and every package above it not yet running
        out.update(m for m in [*_ancestors(mod), mod] if m not in inside)

    for node in _nodes(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                load(a.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name if is_package else name.rpartition(".")[0]
                for _ in range(node.level - 1):
                    base = base.rpartition(".")[0]
                if not base:
                    continue  # beyond the top-level package
                base = f"{base}.{node.module}" if node.module else base
            else:
                base = node.module or ""
            load(base)
            for a in node.names:
                sub = f"{base}.{a.name}"
                if sub in known:
                    load(sub)
                else:
                    out.add(base)  # a name defined in base's __init__ (or a module-level name of a module)
        elif strings and isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in known:
            out.add(node.value)
    out.discard(name)
    return out & known


def graph(pkg_dir: Path = PACKAGE_DIR, package: str = PACKAGE, strings: bool = False) -> dict[str, set[str]]:
    """Module -> the package modules it imports (see `imports`)."""
    mods = modules(pkg_dir, package)
    known = set(mods)
    return {m: imports(ast.parse(f.read_text(), str(f)), m, f.name == "__init__.py", known, strings)
            for m, f in mods.items()}


def find_cycle(g: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of the graph as [a, b, ..., a], or None if it is acyclic."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        path.append(m)
        for n in sorted(g.get(m, ())):
            if state.get(n) == 1:
                return path[path.index(n):] + [n]
            if n not in state and (c := visit(n)):
                return c
        path.pop()
        state[m] = 2
        return None

    for m in sorted(g):
        if m not in state and (c := visit(m)):
            return c
    return None


def dependencies(script: Path, pkg_dir: Path = PACKAGE_DIR, package: str = PACKAGE) -> list[Path]:
    """The package's source files that `script` (e.g. a notebook's .py source) imports, directly or through
    other package modules, sorted. String constants naming a module count too (a module a stage starts as
    ``python -m``)."""
    mods = modules(pkg_dir, package)
    g = graph(pkg_dir, package, strings=True)
    todo = list(imports(ast.parse(Path(script).read_text(), str(script)), "__main__", False, set(mods), strings=True))
    seen: set[str] = set()
    while todo:
        m = todo.pop()
        if m not in seen:
            seen.add(m)
            todo.extend(g[m])
    return sorted(mods[m] for m in seen)
