"""Imports point one way: errors/settings -> storage -> registry -> tracking -> tasks, ui, cli.

Read from the source (every ``import``, at module level or inside a function), so a lazy
import that reaches up a layer fails here as surely as a top-level one. A second check imports
the lower layers alone, in a fresh interpreter, and looks at what came with them.

The layers (README, "Development"):

====  ============================================================================
0     errors, config, _logging, _ids, _parallel, _progress, _gc, _version
1     storage
2     registry
3     tracking, setup, verify
4     tasks, ui, dev, and the package root (the public API, lazy)
5     cli
====  ============================================================================

A module may import its own package and any lower layer. Upper layers reach the registry's
callers through :mod:`lamin_flows.registry.hooks` (``provide``/``provider``, callbacks), wired
by the package root, never by an import from below. No import closes a cycle, not even one inside
a function; inside ``registry/`` the modules import in the order of :data:`REGISTRY_ORDER` (the
README's table), and code below a table module reaches its class by name
(:mod:`lamin_flows.registry.classes`).
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "lamin_flows"

LAYERS = {
    "errors": 0,
    "config": 0,
    "_logging": 0,
    "_ids": 0,
    "_parallel": 0,
    "_progress": 0,
    "_gc": 0,
    "_version": 0,
    "storage": 1,
    "registry": 2,
    "tracking": 3,
    "setup": 3,
    "verify": 3,
    "tasks": 4,
    "ui": 4,
    "dev": 4,
    "": 4,  # the package root
    "cli": 5,
}


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        if "migrations" in path.parts:  # Alembic's scripts import alembic, not us
            continue
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


MODULES = _modules()


def _executed(tree: ast.Module, top_level_only: bool) -> Iterator[ast.AST]:
    """The nodes that can run: everything but ``if TYPE_CHECKING:`` blocks (for annotations only).

    ``top_level_only``: what runs at import time, i.e. module-level statements and those inside
    module-level ``if``/``try`` blocks, not the bodies of functions and classes.
    """
    todo: list[ast.AST] = list(tree.body)
    while todo:
        node = todo.pop()
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.dump(node.test):
            continue
        yield node
        if not top_level_only or isinstance(node, ast.If | ast.Try | ast.ExceptHandler):
            todo.extend(ast.iter_child_nodes(node))


def _imports(name: str, path: Path, *, top_level_only: bool = False) -> set[str]:
    """The lamin_flows modules ``name`` imports where the import can run (each resolved to the
    module or package it names): anywhere, or only at import time."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets: set[str] = set()
    for node in _executed(ast.parse(path.read_text()), top_level_only):
        if isinstance(node, ast.Import):
            targets |= {a.name for a in node.names if a.name.split(".")[0] == "lamin_flows"}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            if base.split(".")[0] != "lamin_flows":
                continue
            for alias in node.names:
                full = f"{base}.{alias.name}"
                targets.add(full if full in MODULES else base)
    return {t for t in targets if t != name}


def _layer(module: str) -> tuple[str, int]:
    part = module.split(".")[1] if "." in module else ""
    assert part in LAYERS, f"{module}: a new top-level module needs a layer in tests/test_layering.py"
    return part, LAYERS[part]


def test_every_import_points_down_or_sideways_within_a_package() -> None:
    wrong = []
    for name, path in sorted(MODULES.items()):
        part, level = _layer(name)
        for target in sorted(_imports(name, path)):
            target_part, target_level = _layer(target)
            upward = target_level > level or (target_level == level and level > 0)  # layer 0 is one base
            if target_part != part and upward and not (level >= 4 and target_part == ""):
                wrong.append(f"{name} (layer {level}) imports {target} (layer {target_level})")
    assert not wrong, "imports against the layering:\n" + "\n".join(wrong)


def test_storage_knows_nothing_of_the_registry_and_the_registry_nothing_of_prefect() -> None:
    for name, path in MODULES.items():
        if name.startswith("lamin_flows.storage"):
            assert not {t for t in _imports(name, path) if t.startswith("lamin_flows.registry")}, name
        if name.startswith(("lamin_flows.storage", "lamin_flows.registry")):
            source = path.read_text()
            assert "import prefect" not in source and "from prefect" not in source, name


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle through each strongly connected part of ``graph`` that has one (depth-first)."""
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(trail[trail.index(nxt) :] + [nxt] if nxt in trail else [node, nxt])
            elif nxt not in state:
                visit(nxt, trail + [nxt])
        state[node] = 2

    for start in sorted(graph):
        if start not in state:
            visit(start, [start])
    return cycles


def test_imports_form_no_cycle_not_even_inside_functions() -> None:
    # Every import counts, at module level or inside a function, and a package's __init__ is a
    # module like any other: a lazy import that closes a circle still ties two concepts together.
    # Below the table modules, the registry names the classes it needs (registry.classes).
    graph = {name: {t for t in _imports(name, path) if t in MODULES} for name, path in MODULES.items()}
    cycles = _cycles(graph)
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_the_cycle_check_finds_a_lazy_import_that_closes_a_circle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c", "a"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


# Inside registry/, bottom up (README, "Development", the table under "Layers"): a module imports
# only modules before it in this list, inside functions too.
REGISTRY_ORDER = (
    # base
    "sql", "db", "hooks", "classes", "limits", "context", "identity", "migrate",
    # instance
    "ownership", "instance", "journal", "paths",
    # records
    "persist", "query_tools", "listing", "frame", "q", "query", "links", "record",
    # schema
    "models",
    # Files
    "storages", "files_io", "file_precommit", "file_delete", "file_commit", "tree", "stat_cache",
    # File
    "file",
    # top
    "tables", "view", "api",
)  # fmt: skip


def test_the_registry_imports_in_the_order_the_readme_gives() -> None:
    package = "lamin_flows.registry"
    modules = {name.rpartition(".")[2] for name in MODULES if name.startswith(package + ".")}
    assert modules == set(REGISTRY_ORDER), "a registry module needs its place in REGISTRY_ORDER and the README"
    rank = {name: i for i, name in enumerate(REGISTRY_ORDER)}
    wrong = []
    for name in REGISTRY_ORDER:
        full = f"{package}.{name}"
        for target in sorted(_imports(full, MODULES[full])):
            short = target[len(package) + 1 :] if target.startswith(package + ".") else None
            if short is not None and rank[short] > rank[name]:
                wrong.append(f"{name} imports {short}, which comes after it")
    assert not wrong, "\n".join(wrong)
    readme = (PACKAGE.parent / "README.md").read_text()
    table = readme[readme.index("| part | modules (bottom up) |") :]
    table = table[: table.index("\n\n")]
    listed = re.findall(r"`(\w+)\.py`", "\n".join(row.split("|")[2] for row in table.splitlines()[2:]))
    assert tuple(listed) == REGISTRY_ORDER, "the README's table of registry modules is out of date"


@pytest.mark.parametrize(
    ("lower", "forbidden"),
    [
        ("lamin_flows.storage.local, lamin_flows.storage.hashing, lamin_flows.storage.cloud", "lamin_flows.registry."),
        (
            "lamin_flows.registry.file, lamin_flows.registry.tables, lamin_flows.registry.persist",
            "lamin_flows.tracking",
        ),
        ("lamin_flows.registry.tables", "lamin_flows.tasks"),
        ("lamin_flows.tracking.decorator, lamin_flows.tracking.lineage", "lamin_flows.tasks"),
    ],
)
def test_a_lower_layer_imported_alone_brings_nothing_from_above(lower: str, forbidden: str) -> None:
    # the package root always comes first and wires the hooks (lamin_flows.registry.hooks): allowed
    code = (
        f"import sys; import {lower}; "
        f"bad = sorted(m for m in sys.modules if m.startswith({forbidden!r}) and m != 'lamin_flows.registry.hooks'); "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"importing {lower} brought {proc.stdout.strip()} {proc.stderr[-2000:]}"
