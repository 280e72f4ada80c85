"""The package's layers, read from the installed package's source (every import, at the top
or inside a function): no lower layer imports a higher one, no two packages of one layer import
each other, and no modules import each other in a circle.

    cli (5) -> ui, server (4) -> app (3) -> ingest, qa (2) -> store, models (1) -> core (0)
"""

from __future__ import annotations

import ast
import importlib.util
import os
from pathlib import Path

import pytest

LAYERS = {
    "ragmix.core": 0,
    "ragmix.store": 1,
    "ragmix.models": 1,
    "ragmix.ingest": 2,
    "ragmix.qa": 2,
    "ragmix.app": 3,
    "ragmix.ui": 4,
    "ragmix.server": 4,
    "ragmix.cli": 5,
}


def _modules() -> dict[str, Path]:
    """Every module of the importable ``ragmix`` package: ingest/ and ui/ wherever they are
    mapped from (an install's ragmix/ingest, or the checkout's ingest/ when run from it)."""
    out: dict[str, Path] = {}
    for package in ("ragmix", "ragmix.ingest", "ragmix.ui"):
        spec = importlib.util.find_spec(package)
        assert spec is not None and spec.submodule_search_locations, package
        root = Path(next(iter(spec.submodule_search_locations)))
        for folder, dirs, files in os.walk(root, followlinks=True):
            rel = Path(folder).relative_to(root)
            if package == "ragmix" and rel.parts[:1] in (("ingest",), ("ui",)):
                continue  # an installed package holds them inside: walked as their own
            dirs[:] = [d for d in dirs if d != "__pycache__"]
            for f in files:
                if f.endswith(".py"):
                    parts = [*package.split("."), *rel.parts]
                    parts += [] if f == "__init__.py" else [f[:-3]]
                    out[".".join(parts)] = Path(folder) / f
    return out


def _imports(path: Path, known: set[str]) -> set[str]:
    """The ragmix modules ``path`` imports (``from pkg import module`` counts as the module)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}: relative import"
            if node.module:
                out.add(node.module)
                out.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return out & known


def _package(module: str) -> str | None:
    return next((p for p in LAYERS if module == p or module.startswith(p + ".")), None)


def _violations(graph: dict[str, set[str]]) -> list[str]:
    bad = []
    for mod, deps in graph.items():
        here = _package(mod)
        for dep in deps:
            there = _package(dep)
            if here is None or here == there:
                continue  # the facade (ragmix/__init__) and imports inside one package
            if there is None:
                bad.append(f"{mod} imports the facade {dep}")
            elif LAYERS[there] >= LAYERS[here]:
                bad.append(f"{mod} (layer {LAYERS[here]}) imports {dep} (layer {LAYERS[there]})")
    return sorted(bad)


def _cycle(graph: dict[str, set[str]]) -> list[str]:
    """Modules on a circle: what is left once every module that imports nothing left, or
    that nothing left imports, is dropped (again and again)."""
    left = {m: set(d) - {m} for m, d in graph.items()}
    while True:
        imported = set().union(*left.values()) if left else set()
        ends = [m for m, deps in left.items() if not deps & left.keys() or m not in imported]
        if not ends:
            return sorted(left)
        for m in ends:
            del left[m]


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    files = _modules()
    return {m: _imports(f, set(files)) for m, f in files.items()}


def test_every_module_sits_in_a_layer(graph: dict[str, set[str]]) -> None:
    assert len(graph) > 40  # the walk found the package, ingest/ and ui/ included
    assert {"ragmix.ingest.pipeline", "ragmix.ui.app", "ragmix.store.catalog"} <= graph.keys()
    loose = [m for m in graph if m != "ragmix" and _package(m) is None]
    assert loose == [], f"modules outside every layer: {loose}"


def test_no_layer_imports_a_higher_one_or_a_sibling(graph: dict[str, set[str]]) -> None:
    assert _violations(graph) == []


def test_the_rule_catches_an_upward_and_a_sideways_import() -> None:
    bad = {
        "ragmix.store.catalog": {"ragmix.qa.router"},
        "ragmix.ingest.pipeline": {"ragmix.qa.chain"},
        "ragmix.qa.chain": {"ragmix.store.catalog", "ragmix.core.errors"},
    }
    assert _violations(bad) == [
        "ragmix.ingest.pipeline (layer 2) imports ragmix.qa.chain (layer 2)",
        "ragmix.store.catalog (layer 1) imports ragmix.qa.router (layer 2)",
    ]


def test_no_import_circles(graph: dict[str, set[str]]) -> None:
    assert _cycle(graph) == []
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c"]


def test_the_model_backends_share_the_token_seam_not_each_other(
    graph: dict[str, set[str]],
) -> None:
    assert "ragmix.models.llm" not in graph["ragmix.models.llm_openai"]
    assert "ragmix.core.tokens" in graph["ragmix.models.llm"] & graph["ragmix.models.llm_openai"]
