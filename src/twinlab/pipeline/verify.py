"""Check the working tree against ``dvc.lock``: every pinned input and output, by its hash.

``twinlab reproduce --workspace`` runs :func:`verify_workspace`: no stage runs; each ``deps``
and ``outs`` entry of the project's ``dvc.lock`` that carries an ``md5`` is hashed as DVC
hashes it (:func:`twinlab.audit.records.hash_path`) and compared. A file that was changed
after the lock pinned it (a raw source tampered with, a report edited by hand) is named with
the md5 the lock expects and the one it has now; inside a pinned folder the files that differ
are named one by one when the folder's listing is in the DVC cache, else the folder is.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from twinlab.config import ConfigError

__all__ = ["Mismatch", "verify_workspace"]


@dataclass(frozen=True)
class Mismatch:
    """One pinned path whose bytes are not the ones ``dvc.lock`` records.

    Attributes
    ----------
    path : str
        Relative to the project (a file inside a pinned folder: its own path).
    expected, actual : str or None
        The md5 in ``dvc.lock`` (or in the folder's cached listing) and the one found
        (``None``: the path is missing, or a file is new in a pinned folder).
    role : str
        Where ``dvc.lock`` pins it: ``"out of generate, dep of harmonize"``.
    """

    path: str
    expected: str | None
    actual: str | None
    role: str

    def __str__(self) -> str:
        if self.actual is None:
            return f"{self.path}: missing (expected md5 {self.expected}; {self.role})"
        if self.expected is None:
            return f"{self.path}: not in the pinned listing (md5 {self.actual}; {self.role})"
        return f"{self.path}: expected md5 {self.expected}, found {self.actual} ({self.role})"


def _pinned(lock: Any) -> dict[str, tuple[str, list[str]]]:
    """``{path: (md5, roles)}`` of every entry of a parsed ``dvc.lock`` with an md5."""
    found: dict[str, tuple[str, list[str]]] = {}
    for stage, body in ((lock or {}).get("stages") or {}).items():
        for kind in ("outs", "deps"):
            for entry in (body or {}).get(kind) or []:
                if not isinstance(entry, dict) or not entry.get("md5") or "path" not in entry:
                    continue
                md5, roles = found.get(entry["path"], (entry["md5"], []))
                roles.append(f"{kind[:-1]} of {stage}")
                found[entry["path"]] = (md5, roles)
    return found


def _cache_listing(project: Path, md5: str) -> dict[str, str] | None:
    """``{relpath: md5}`` of a pinned folder from the DVC cache, when it is there."""
    from twinlab.pipeline.stores import dvc_stores

    stores = dvc_stores(project) if (project / ".dvc").is_dir() else []
    for cache in stores[:1]:
        for obj in (cache / "files" / "md5" / md5[:2] / md5[2:], cache / md5[:2] / md5[2:]):
            if obj.is_file():
                try:
                    return {e["relpath"]: e["md5"] for e in json.loads(obj.read_text())}
                except (ValueError, KeyError, TypeError):
                    return None
    return None


def _folder(project: Path, path: str, md5: str, role: str) -> list[Mismatch]:
    """The files of pinned folder ``path`` that differ from its cached listing (the folder
    itself when the listing is not cached)."""
    from twinlab.audit.records import dir_files, file_digests

    listing = _cache_listing(project, md5)
    if listing is None:
        from twinlab.audit.records import dir_md5

        return [Mismatch(path, md5, dir_md5(project / path), role)]
    now = {rel: file_digests(f)["md5"] for rel, f in dir_files(project / path) if f.is_file()}
    return [
        Mismatch(f"{path}/{rel}", listing.get(rel), now.get(rel), role)
        for rel in sorted(set(listing) | set(now))
        if listing.get(rel) != now.get(rel)
    ]


def verify_workspace(project: str | Path) -> list[Mismatch]:
    """Compare every pinned input and output of ``project``'s ``dvc.lock`` with the files.

    Parameters
    ----------
    project : str or Path
        The DVC project (the folder of ``dvc.lock``).

    Returns
    -------
    list of Mismatch
        Empty when every pinned path holds the bytes the lock records.

    Raises
    ------
    ConfigError
        No ``dvc.lock``, or one that is not YAML.
    """
    from twinlab.audit.records import hash_path

    project = Path(project)
    lock_file = project / "dvc.lock"
    if not lock_file.is_file():
        raise ConfigError(f"no dvc.lock in {project}: run the pipeline (twinlab demo) first")
    try:
        lock = yaml.safe_load(lock_file.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise ConfigError(f"{lock_file} is not valid YAML: {err}") from None
    found: list[Mismatch] = []
    for path, (md5, roles) in sorted(_pinned(lock).items()):
        role, where = ", ".join(roles), project / path
        if not where.exists():
            found.append(Mismatch(path, md5, None, role))
            continue
        actual = hash_path(where)["md5"]
        if actual == md5:
            continue
        if md5.endswith(".dir") and where.is_dir():
            found.extend(_folder(project, path, md5, role))
        else:
            found.append(Mismatch(path, md5, actual, role))
    return found
