"""Run records: what a stage ran with, on what, producing what, by whom, from which code.

A run record is a plain JSON document: the stage, its (redacted) parameters and
seed, the hashes of every input and output, the code version (git commit and
dirty flag), package versions, user, host and UTC time. File hashes are given
as SHA-256 *and* as the MD5 DVC 3 records in ``dvc.lock`` (plain MD5 of the
bytes); folders get DVC's ``<md5>.dir`` digest (MD5 of the sorted JSON listing
of ``{"md5", "relpath"}`` entries) plus size and file count, so a record can be
matched against ``dvc.lock`` directly. Limits: ``.dvcignore`` rules are not
applied (``.git`` folders are skipped), symbolic links are followed.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import socket
import subprocess
import sys
from collections.abc import Iterable, Mapping
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from twinlab.audit.log import AuditLog, _plain, default_actor, redact, utc_now

__all__ = [
    "DEFAULT_PACKAGES",
    "code_version",
    "dir_files",
    "dir_md5",
    "file_digests",
    "hash_path",
    "package_versions",
    "run_record",
    "write_run_record",
]

DEFAULT_PACKAGES: tuple[str, ...] = (
    "twinlab", "numpy", "scipy", "pandas", "xarray", "zarr", "dask", "distributed",
    "pymc", "pytensor", "nutpie", "arviz", "dvc", "cryptography",
)  # fmt: skip

_CHUNK = 1 << 20


def file_digests(path: str | Path) -> dict[str, Any]:
    """Return ``{"md5", "sha256", "size"}`` of a file, read once in 1 MiB chunks."""
    md5, sha = hashlib.md5(usedforsecurity=False), hashlib.sha256()
    size = 0
    with Path(path).open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            md5.update(chunk)
            sha.update(chunk)
            size += len(chunk)
    return {"md5": md5.hexdigest(), "sha256": sha.hexdigest(), "size": size}


def dir_files(folder: str | Path) -> list[tuple[str, Path]]:
    """Every file under ``folder`` (links followed, ``.git`` skipped) as sorted
    ``(relative POSIX path, path)`` pairs: the listing DVC hashes a directory by."""
    folder = Path(folder)
    out = []
    for root, dirs, files in os.walk(folder, followlinks=True):
        dirs[:] = sorted(d for d in dirs if d != ".git")
        for name in files:
            file = Path(root) / name
            out.append((file.relative_to(folder).as_posix(), file))
    return sorted(out)


def _dir_digests(folder: Path) -> dict[str, Any]:
    """DVC's digests of ``folder``; files that cannot be read (a link that leads nowhere, no
    permission, a named pipe, socket or device) are left out and counted as ``unreadable``,
    not an error: an ingest quarantines such a file and publishes the rest, and its audit
    record must not then fail."""
    listing, sha_listing, size, unreadable = [], [], 0, 0
    for relpath, file in dir_files(folder):
        if not file.is_file():  # a named pipe would block the read; a device never ends
            unreadable += 1
            continue
        try:
            d = file_digests(file)
        except OSError:  # no name kept: file names can be patient names
            unreadable += 1
            continue
        listing.append({"md5": d["md5"], "relpath": relpath})
        sha_listing.append({"relpath": relpath, "sha256": d["sha256"]})
        size += d["size"]
    # DVC: json.dumps(sorted list, sort_keys=True) with default separators
    md5 = hashlib.md5(json.dumps(listing, sort_keys=True).encode(), usedforsecurity=False)
    sha = hashlib.sha256(json.dumps(sha_listing, sort_keys=True).encode())
    return {
        "md5": md5.hexdigest() + ".dir",
        "sha256": sha.hexdigest() + ".dir",
        "size": size,
        "nfiles": len(listing),
        **({"unreadable": unreadable} if unreadable else {}),
    }


def dir_md5(path: str | Path) -> str:
    """Return DVC's ``<md5>.dir`` digest of a folder (as in ``dvc.lock``)."""
    return _dir_digests(Path(path))["md5"]


def hash_path(path: str | Path) -> dict[str, Any]:
    """Hash a file or folder.

    Parameters
    ----------
    path
        A file or a folder.

    Returns
    -------
    dict
        ``{"path", "md5", "sha256", "size"}`` for a file; folders add ``nfiles``
        and their digests end in ``.dir`` (DVC's convention).

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    """
    p = Path(path)
    if p.is_dir():
        return {"path": str(path), **_dir_digests(p)}
    if p.is_file():
        return {"path": str(path), **file_digests(p)}
    raise FileNotFoundError(f"cannot hash {path}: no such file or folder")


def _git(args: list[str], cwd: Path) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, check=False, timeout=30
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout if out.returncode == 0 else None


def code_version(repo: str | Path | None = None) -> dict[str, Any]:
    """Return the git commit of ``repo`` and whether its work tree is dirty.

    Parameters
    ----------
    repo
        A folder inside the repository; the working directory by default.

    Returns
    -------
    dict
        ``{"commit": sha or None, "dirty": bool or None, "describe": str or None}``;
        ``None`` values when git is missing or this is not a repository. Untracked
        (not ignored) files count as dirty.
    """
    cwd = Path(repo) if repo is not None else Path.cwd()
    commit = _git(["rev-parse", "HEAD"], cwd)
    if commit is None:
        return {"commit": None, "dirty": None, "describe": None}
    status = _git(["status", "--porcelain"], cwd)
    describe = _git(["describe", "--always", "--dirty", "--tags"], cwd)
    return {
        "commit": commit.strip(),
        "dirty": None if status is None else bool(status.strip()),
        "describe": None if describe is None else describe.strip(),
    }


def package_versions(names: Iterable[str] = DEFAULT_PACKAGES) -> dict[str, str | None]:
    """Return installed versions of ``names`` (``None`` for missing ones) and Python's."""
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in names:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def _hash_all(paths: Iterable[str | Path] | Mapping[str, str | Path]) -> dict[str, Any]:
    if isinstance(paths, Mapping):
        return {str(name): hash_path(p) for name, p in paths.items()}
    return {str(p): hash_path(p) for p in paths}


def run_record(
    *,
    stage: str,
    params: Mapping[str, Any],
    inputs: Iterable[str | Path] | Mapping[str, str | Path],
    outputs: Iterable[str | Path] | Mapping[str, str | Path],
    seed: int | None = None,
    repo: str | Path | None = None,
    packages: Iterable[str] = DEFAULT_PACKAGES,
    audit_log: AuditLog | str | Path | None = None,
) -> dict[str, Any]:
    """Describe one stage run for the record.

    Parameters
    ----------
    stage
        Stage name (as in ``dvc.yaml``).
    params
        The stage's parameters (secret-looking names redacted).
    inputs, outputs
        Files or folders, as a list (keyed by path) or a mapping name → path.
    seed
        The random seed.
    repo
        Where to ask git for the code version; the working directory by default.
    packages
        Distributions whose versions to record.
    audit_log
        An audit log whose count and head hash to record (``audit_head``): an
        anchor, kept outside the log, that later reveals entries cut from its end.

    Returns
    -------
    dict
        A JSON-able record: ``stage, params, seed, inputs, outputs, code,
        packages, user, host, platform, executable, time`` (and ``audit_head``).
    """
    record = {
        "stage": stage,
        "params": _plain(redact(dict(params))),
        "seed": seed,
        "inputs": _hash_all(inputs),
        "outputs": _hash_all(outputs),
        "code": code_version(repo),
        "packages": package_versions(packages),
        "user": default_actor(),
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "executable": sys.executable,
        "time": utc_now(),
    }
    if audit_log is not None:
        log = audit_log if isinstance(audit_log, AuditLog) else AuditLog(audit_log)
        record["audit_head"] = log.head()
    return record


def write_run_record(path: str | Path, record: Mapping[str, Any]) -> Path:
    """Write ``record`` as indented, key-sorted JSON, atomically.

    Parameters
    ----------
    path
        The JSON file (its folder is created).
    record
        From :func:`run_record`.

    Returns
    -------
    Path
        ``path``.
    """
    from twinlab.security.filemodes import write_atomic

    text = json.dumps(_plain(dict(record)), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    return write_atomic(path, text)
