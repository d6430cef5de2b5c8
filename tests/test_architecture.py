"""The package's layers (``shared/DESIGN.md``): imports point down, never up, and no package
reaches into another one's private names. Read from the source with :mod:`ast`, so a lazy
import inside a function counts as much as one at the top of a module."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "twinlab"
#: bottom to top; a module may import from its own layer or any layer below
LAYERS = (
    ("config", "security", "audit", "cluster", "figures"),
    ("ingest", "terminology", "deid", "timeline", "harmonize", "synth", "sources"),
    ("pkpd",),
    ("virtual",),
    ("simulate",),
    ("trials", "sensitivity", "surrogate", "reporting", "notebooks"),
    ("pipeline",),
    ("apps", "api"),
    ("cli",),
)
LEVEL = {name: i for i, names in enumerate(LAYERS) for name in names}


def _imports() -> list[tuple[str, int, str, str, list[str]]]:
    """``(file, line, package, imported twinlab module, names)`` for every import."""
    out = []
    for path in sorted(SRC.rglob("*.py")):
        package = path.relative_to(SRC).parts[0].removesuffix(".py")
        if package == "__init__":
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("twinlab."):
                names = [a.name for a in node.names]
                out.append((str(path.relative_to(SRC)), node.lineno, package, node.module, names))
            elif isinstance(node, ast.Import):
                for a in node.names:
                    if a.name.startswith("twinlab."):
                        out.append((str(path.relative_to(SRC)), node.lineno, package, a.name, []))
    return out


IMPORTS = _imports()


def test_every_package_has_a_layer():
    packages = {p.name.removesuffix(".py") for p in SRC.iterdir()}
    packages -= {"__init__", "__pycache__", "py.typed"}
    assert packages - set(LEVEL) == set()


def test_imports_point_down_the_layers():
    up = [
        f"{file}:{line} ({package}) imports {module}"
        for file, line, package, module, _ in IMPORTS
        if LEVEL[module.split(".")[1]] > LEVEL[package]
    ]
    assert up == []


def test_no_package_imports_another_ones_private_names():
    private = [
        f"{file}:{line} imports {name} from {module}"
        for file, line, package, module, names in IMPORTS
        if module.split(".")[1] != package
        for name in names
        if name.startswith("_")
    ]
    assert private == []


@pytest.mark.parametrize("module", ["twinlab.virtual", "twinlab.pkpd.criteria"])
def test_the_criteria_language_is_reachable_where_users_look(module):
    import importlib

    assert importlib.import_module(module).Criteria.__module__ == "twinlab.pkpd.criteria"
