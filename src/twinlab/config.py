"""Project paths and parameters: the one place where locations are defined.

Notebooks, pipeline stages and apps ask this module where things live instead of
typing paths (cookiecutter-data-science's rule). The project root is found by
walking up from the working directory to the folder holding ``dvc.yaml``, or is
given by the ``TWINLAB_ROOT`` environment variable. Relative paths the project names
(``results/demo``) are read from that root (:func:`resolve`), so a notebook running in
``notebooks/`` finds what the pipeline wrote.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT_ENV = "TWINLAB_ROOT"
_MARKERS = ("dvc.yaml", "params.yaml")


class ConfigError(ValueError):
    """A user-facing configuration problem (missing file, unknown section...)."""


def project_root(start: str | Path | None = None) -> Path:
    """Return the project root.

    Parameters
    ----------
    start
        Folder to search upwards from; the working directory by default.

    Returns
    -------
    Path
        ``$TWINLAB_ROOT`` if set, else the nearest ancestor holding ``dvc.yaml``
        or ``params.yaml``, else the working directory itself.
    """
    if start is None and os.environ.get(ROOT_ENV):
        return Path(os.environ[ROOT_ENV]).resolve()
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if any((folder / marker).exists() for marker in _MARKERS):
            return folder
    return here


@dataclass(frozen=True)
class Paths:
    """Where each zone of the data flow lives, relative to one project root."""

    root: Path

    @property
    def raw(self) -> Path:
        """Raw sources (DVC-tracked, immutable): ``data/raw``."""
        return self.root / "data" / "raw"

    @property
    def truth(self) -> Path:
        """Ground truth of synthetic studies, never read by modelling stages."""
        return self.root / "data" / "truth"

    @property
    def harmonized(self) -> Path:
        """The harmonized, de-identified timeline: ``data/harmonized``."""
        return self.root / "data" / "harmonized"

    @property
    def models(self) -> Path:
        """The twin-model registry: ``models``."""
        return self.root / "models"

    @property
    def results(self) -> Path:
        """Simulation results: ``results``."""
        return self.root / "results"

    @property
    def reports(self) -> Path:
        """Executed notebooks, HTML copies and metrics: ``reports``."""
        return self.root / "reports"

    @property
    def notebooks(self) -> Path:
        """Parameterized notebooks: ``notebooks``."""
        return self.root / "notebooks"

    @property
    def params_file(self) -> Path:
        """The pipeline's ``params.yaml``."""
        return self.root / "params.yaml"

    def resolve(self, path: str | os.PathLike[str]) -> Path:
        """``path`` read from this project's root (see :func:`twinlab.config.resolve`)."""
        return resolve(path, self.root)


def paths(root: str | Path | None = None) -> Paths:
    """Return the :class:`Paths` of the project at ``root`` (found if omitted)."""
    return Paths(Path(root).resolve() if root is not None else project_root())


def resolve(path: str | os.PathLike[str], root: str | Path | None = None) -> Path:
    """Where a path the project names (``results/demo``) is, from any working folder.

    A notebook opened in JupyterLab runs in ``notebooks/``, a script anywhere: a relative path
    is read from the project root (:func:`project_root`), so the pipeline's own paths mean the
    same everywhere. Only a relative path that exists from the working folder but not from the
    root is taken from the working folder.

    Parameters
    ----------
    path
        Absolute (returned as is) or relative.
    root
        The project root; found from the working folder when omitted.

    Returns
    -------
    Path

    Examples
    --------
    >>> resolve("results/study-42", root="/srv/study").as_posix()
    '/srv/study/results/study-42'
    >>> resolve("/data/x", root="/srv/study").as_posix()
    '/data/x'
    """
    path = Path(path).expanduser()
    if path.is_absolute():
        return path
    base = Path(root) if root is not None else project_root()
    candidate = base / path
    if not candidate.exists() and path.exists():
        return path.resolve()
    return candidate


def read_yaml(file: str | Path) -> Any:
    """The YAML document in ``file``.

    Raises
    ------
    ConfigError
        One line if the file is missing or is not valid YAML (with the line and column of
        the problem), never a parser traceback.
    """
    file = Path(file)
    if not file.is_file():
        raise ConfigError(f"parameters file not found: {file}")
    try:
        return yaml.safe_load(file.read_text(encoding="utf-8"))
    except UnicodeDecodeError as err:
        raise ConfigError(f"{file} is not UTF-8 text ({err.reason} at byte {err.start})") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ConfigError(f"{file} is not valid YAML{where}: {problem}") from None


def load_params(section: str | None = None, *, path: str | Path | None = None) -> dict[str, Any]:
    """Read ``params.yaml`` (or one of its sections).

    Parameters
    ----------
    section
        Top-level key to return; the whole file when omitted.
    path
        The parameters file; the project's ``params.yaml`` by default.

    Returns
    -------
    dict
        The parameters.

    Raises
    ------
    ConfigError
        If the file is missing, is not a mapping, or lacks the section.
    """
    file = Path(path) if path is not None else paths().params_file
    data = read_yaml(file) or {}
    if not isinstance(data, dict):
        raise ConfigError(f"{file} must hold a mapping of sections, not {type(data).__name__}")
    if section is None:
        return data
    if section not in data:
        known = ", ".join(sorted(data)) or "none"
        raise ConfigError(f"{file} has no section {section!r} (sections: {known})")
    value = data[section]
    if not isinstance(value, dict):
        raise ConfigError(f"section {section!r} of {file} must be a mapping")
    return value
