"""A file registry of fitted population models: ``<root>/<name>/<version>/``.

Each version folder holds ``posterior.zarr`` (the :class:`~twinlab.pkpd.fit.FitResult` as a
DataTree), ``spec.yaml``, ``data_hash`` (sha256 of the dataset CSV, or of the data arrays when
the fit was not made from a file), ``diagnostics.json`` and ``card.json`` (the model card:
name, version, data hash, spec, summary, validation results, twinlab version; when and by
whom it was registered is the audit log's to record, so the card is reproducible).
Versions are integers counting up from 1; a version is written to a temporary folder and
renamed into place, so a reader never sees half a version and two writers never share one.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from twinlab.pkpd.fit import _ARRAY_FIELDS, FitResult, open_fit

__all__ = ["RegisteredModel", "data_hash", "list_models", "load", "register"]

_NAME_OK = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.")


@dataclass(frozen=True)
class RegisteredModel:
    """One registered model version.

    Attributes
    ----------
    name, version : str, int
        Where it is registered.
    path : Path
        Its folder.
    card : dict
        The model card.
    result : FitResult
        The fit, reopened from ``posterior.zarr``.
    """

    name: str
    version: int
    path: Path
    card: dict[str, Any]
    result: FitResult


def data_hash(data: str | os.PathLike[str] | Any) -> str:
    """sha256 of a dataset file's bytes, or of a ``PopulationArrays``' arrays."""
    h = hashlib.sha256()
    if isinstance(data, str | os.PathLike):
        with open(data, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        return h.hexdigest()
    for name in _ARRAY_FIELDS:
        h.update(np.ascontiguousarray(getattr(data, name)).tobytes())
    for name in sorted(data.covariates):
        h.update(name.encode() + np.ascontiguousarray(data.covariates[name]).tobytes())
    return h.hexdigest()


def _check_name(name: str) -> str:
    if not name or not set(name) <= _NAME_OK or name.startswith("."):
        raise ValueError(f"invalid model name {name!r}: use letters, digits, '_', '-', '.'")
    return name


def _versions(folder: Path) -> list[int]:
    if not folder.is_dir():
        return []
    return sorted(int(p.name) for p in folder.iterdir() if p.is_dir() and p.name.isdigit())


def _twinlab_version() -> str:
    try:
        from importlib.metadata import version

        return version("twinlab")
    except Exception:
        return "unknown"


def register(
    result: FitResult,
    name: str,
    *,
    root: str | os.PathLike[str] = "models",
    data: str | os.PathLike[str] | None = None,
    validation: dict[str, Any] | None = None,
    diagnostics: dict[str, Any] | None = None,
) -> RegisteredModel:
    """Store ``result`` as the next version of ``name`` under ``root``.

    Parameters
    ----------
    result : FitResult
        The fit.
    name : str
        Model name (letters, digits, ``_ - .``).
    root : path
        Registry root.
    data : path, optional
        The dataset CSV the model was fitted to (its sha256 is recorded; default: a hash of
        the fitted arrays).
    validation : dict, optional
        Validation results for the card (e.g. recovery or published-estimate checks).
    diagnostics : dict, optional
        Default: :func:`twinlab.pkpd.diagnostics.convergence` plus eta shrinkage.

    Returns
    -------
    RegisteredModel
    """
    from twinlab.audit import audit_event
    from twinlab.pkpd import diagnostics as dg

    folder = Path(root) / _check_name(name)
    folder.mkdir(parents=True, exist_ok=True)
    digest = data_hash(data if data is not None else result.arrays)
    if diagnostics is None:
        diagnostics = {"convergence": dg.convergence(result), "shrinkage": dg.shrinkage(result)}
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=folder))
    try:
        result.to_zarr(tmp / "posterior.zarr")
        result.spec.to_yaml(tmp / "spec.yaml")
        (tmp / "data_hash").write_text(digest + "\n")
        (tmp / "diagnostics.json").write_text(json.dumps(diagnostics, indent=2, default=float))
        while True:
            version = (_versions(folder) or [0])[-1] + 1
            card = {
                "name": name,
                "version": version,
                "data_hash": digest,
                "data_file": str(data) if data is not None else None,
                "spec": result.spec.to_dict(),
                "summary": result.summary(),
                "validation": validation or {},
                "twinlab_version": _twinlab_version(),
            }
            (tmp / "card.json").write_text(json.dumps(card, indent=2, default=float))
            try:
                os.rename(tmp, folder / str(version))
            except OSError:
                if (folder / str(version)).exists():
                    continue  # another writer took this version: take the next one
                raise
            break
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    audit_event(
        "model.register",
        f"{name}/{version}",
        params={"root": str(root), "data_hash": digest, "model": result.spec.model},
    )
    return RegisteredModel(name, version, folder / str(version), card, result)


def list_models(root: str | os.PathLike[str] = "models") -> list[dict[str, Any]]:
    """Every registered version under ``root``: name, version, created, model, data hash."""
    root = Path(root)
    if not root.is_dir():
        return []
    out = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for v in _versions(folder):
            card_path = folder / str(v) / "card.json"
            if not card_path.is_file():
                continue
            card = json.loads(card_path.read_text())
            out.append(
                {
                    "name": folder.name,
                    "version": v,
                    # when: the card file's time here, the audit log's entry for the record
                    "created": datetime.fromtimestamp(card_path.stat().st_mtime, UTC).isoformat(
                        timespec="seconds"
                    ),
                    "model": card.get("spec", {}).get("model"),
                    "data_hash": card.get("data_hash"),
                }
            )
    return out


def load(
    name: str, version: int | str | None = None, *, root: str | os.PathLike[str] = "models"
) -> RegisteredModel:
    """Open version ``version`` (default: the latest) of ``name``.

    Raises
    ------
    KeyError
        If the name or the version is not registered.
    """
    folder = Path(root) / _check_name(name)
    versions = _versions(folder)
    if not versions:
        raise KeyError(f"no model {name!r} under {root}")
    v = versions[-1] if version is None else int(version)
    if v not in versions:
        raise KeyError(f"model {name!r} has no version {v} (have {versions})")
    path = folder / str(v)
    card = json.loads((path / "card.json").read_text())
    return RegisteredModel(name, v, path, card, open_fit(path / "posterior.zarr"))
