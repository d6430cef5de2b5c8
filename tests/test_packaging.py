"""pyproject.toml is the source of dependencies; environment.yml must mirror it."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement

import twinlab

ROOT = Path(__file__).resolve().parents[1]
#: PyPI name (with extras) -> conda-forge names.
CONDA_NAMES = {
    "duckdb": ["python-duckdb"],
    "dask[distributed]": ["dask", "distributed"],
}


def _pyproject_requirements() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted: dict[str, str] = {}
    for line in project["dependencies"]:
        req = Requirement(line)
        key = req.name.lower() + (f"[{','.join(sorted(req.extras))}]" if req.extras else "")
        for conda_name in CONDA_NAMES.get(key, [req.name.lower()]):
            wanted[conda_name] = str(req.specifier)
    return wanted


def _environment_requirements() -> tuple[dict[str, str], list[str]]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda: dict[str, str] = {}
    pip: list[str] = []
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            pip.extend(dep.get("pip", []))
            continue
        name, spec = re.match(r"^([A-Za-z0-9_.\-]+)(.*)$", dep).groups()
        if name.lower() not in {"python", "pip"}:
            conda[name.lower()] = str(Requirement(f"x{spec}").specifier)
    return conda, pip


def test_environment_yml_mirrors_pyproject_dependencies():
    conda, _ = _environment_requirements()
    wanted = _pyproject_requirements()
    assert conda == wanted, {
        "missing from environment.yml": sorted(set(wanted) - set(conda)),
        "not in pyproject.toml": sorted(set(conda) - set(wanted)),
        "different versions": sorted(k for k in set(conda) & set(wanted) if conda[k] != wanted[k]),
    }


def test_environment_yml_installs_the_package_and_pins_python_311():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    _, pip = _environment_requirements()
    assert "python=3.11" in env["dependencies"]
    assert any(line.startswith("-e .") for line in pip)
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert requires == ">=3.11"


def test_public_api_lists_only_names_that_exist():
    assert twinlab.__all__, "twinlab.__all__ is empty"
    missing = [name for name in twinlab.__all__ if not hasattr(twinlab, name)]
    assert missing == []


def test_ci_runs_the_readme_test_command_then_its_main_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    commands = [c.strip() for c in re.findall(r"```(?:bash|sh)\n(.*?)\n```", readme, flags=re.S)]
    test_commands = [c for c in commands if "pytest" in c]
    main_commands = [c for c in commands if c.endswith("twinlab demo")]
    assert len(test_commands) == 1, test_commands
    assert len(main_commands) == 1, main_commands
    ci_lines = [
        line.strip() for line in ci.splitlines() if line.strip() and not line.startswith("#")
    ]
    # a submission whose main job fails cannot land: CI runs it after the tests
    assert test_commands[0] in ci_lines and main_commands[0] in ci_lines
    assert ci_lines.index(test_commands[0]) < ci_lines.index(main_commands[0])
