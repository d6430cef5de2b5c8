"""The top-level API a modeler meets first: ``import twinlab as tl``, ``help(tl)``, ``dir(tl)``,
and paths that mean the same from any folder of the project."""

from __future__ import annotations

import importlib.util
import inspect
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import twinlab as tl
from twinlab.config import project_root, resolve

HERE = Path(__file__).resolve().parent
#: What ``import twinlab`` must not import: each costs from 0.1 to several seconds.
HEAVY = ("pandas", "numpy", "dask", "distributed", "pymc", "pytensor", "panel", "philter",
         "pandera", "xarray", "duckdb", "numba", "sklearn", "yaml")  # fmt: skip


def test_every_public_name_shows_in_dir_and_resolves():
    listed = dir(tl)
    assert set(tl.__all__) <= set(listed)
    assert {"Cohort", "dask_client", "from_cohort", "simulate", "pkpd"} <= set(listed)
    assert [n for n in tl.__all__ if getattr(tl, n, None) is None] == []


def test_import_twinlab_imports_none_of_the_heavy_libraries():
    code = (
        "import json, sys; import twinlab as tl; "
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


def test_a_name_twinlab_does_not_have_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'Cohrot'"):
        tl.Cohrot  # noqa: B018


def test_paths_resolve_from_the_project_root_in_any_of_its_folders(tmp_path, monkeypatch):
    monkeypatch.delenv("TWINLAB_ROOT", raising=False)
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    (tmp_path / "results" / "demo").mkdir(parents=True)
    (tmp_path / "notebooks" / "mine").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "notebooks")
    assert project_root() == tmp_path
    assert resolve("results/demo") == tmp_path / "results" / "demo"
    assert tl.paths().resolve("results/new") == tmp_path / "results" / "new"  # not made yet
    # only what exists from the working folder and not from the root is read from there
    assert resolve("mine") == tmp_path / "notebooks" / "mine"
    assert resolve(tmp_path / "x") == tmp_path / "x"


def _example() -> str:
    """The code block of ``help(twinlab)``."""
    lines = inspect.getdoc(tl).split("::\n", 1)[1].splitlines()
    end = next(i for i, line in enumerate(lines) if i and line and not line.startswith(" "))
    return textwrap.dedent("\n".join(lines[:end]))


@pytest.mark.slow
def test_help_example_runs_from_the_notebooks_folder(tmp_path, monkeypatch):
    """``help(tl)``'s example, as written, in a project holding a registered twin and a
    harmonized cohort, run where JupyterLab runs a notebook: in ``notebooks/``."""
    fixtures_file = HERE / "apps" / "apps_fixtures.py"
    spec = importlib.util.spec_from_file_location("apps_fixtures", fixtures_file)
    fixtures = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fixtures)
    from twinlab.pkpd.gate import validate
    from twinlab.pkpd.registry import register

    root = fixtures.write_project(tmp_path / "study")
    twin = fixtures.known_fit()
    data = root / "data" / "nonmem" / "twin.csv"
    register(twin, "twinurostat_pk", root=root / "models", data=data, diagnostics={},
             validation=validate(twin, bounds=fixtures.GATE))  # fmt: skip
    (root / "notebooks").mkdir()
    monkeypatch.delenv("TWINLAB_ROOT", raising=False)
    monkeypatch.chdir(root / "notebooks")
    namespace: dict = {}
    exec(compile(_example(), "help(twinlab)", "exec"), namespace)
    medians = namespace["result"].patients.groupby("arm")["cmax"].median()
    assert medians["placebo"] == 0 and medians["100 mg"] > 0
