"""A file registry of fitted population models: ``<root>/<name>/<version>/``.

Each version folder holds ``posterior.zarr`` (the :class:`~twinlab.pkpd.fit.FitResult` as a
DataTree), ``spec.yaml``, ``data_hash`` (sha256 of the dataset CSV, or of the data arrays when
the fit was not made from a file), ``diagnostics.json`` and ``card.json`` (the model card:
name, version, data hash, posterior hash, spec, summary, validation results, twinlab version;
when and by whom it was registered is the audit log's to record, so the card is reproducible).
Versions are integers counting up from 1; a version is written to a temporary folder and
renamed into place, so a reader never sees half a version and two writers never share one.

**The gate decides what is served.** A version's validation gate result
(:func:`twinlab.pkpd.gate.validate`) is in its card's ``validation["gate"]``: given to
:func:`register` when the gate ran first, or recorded afterwards by :func:`record_validation`
(``twinlab validate-fit FIT_DIR --register NAME``) in ``<root>/.gate/<name>/<version>.json``,
bound to the version by its posterior hash. A version folder is never rewritten (the pipeline's
``fit`` stage owns it; the ``validate`` stage owns ``<root>/.gate``). :func:`load` refuses a
version whose gate has not passed unless ``require_validated=False`` (modelers inspecting a
fit); :func:`list_models` and ``twinlab models list`` show each version's status.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from twinlab.config import resolve
from twinlab.pkpd.fit import _ARRAY_FIELDS, FitResult, open_fit
from twinlab.pkpd.gate import GateResult

__all__ = [
    "GATE_DIR",
    "NotValidatedError",
    "RegisteredModel",
    "data_hash",
    "find_version",
    "list_models",
    "load",
    "model_card",
    "posterior_hash",
    "record_validation",
    "register",
    "validation_status",
]

_NAME_OK = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.")
#: Folder of the registry root holding gate results recorded after registration.
GATE_DIR = ".gate"
#: Validation statuses of a version.
PASSED, FAILED, NOT_VALIDATED = "passed", "failed", "not validated"


class NotValidatedError(ValueError):
    """A registered version that has not passed its validation gate was asked to be served."""


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
        The model card, its ``validation["gate"]`` holding the gate result recorded for
        this version (if any).
    result : FitResult
        The fit, reopened from ``posterior.zarr``.
    """

    name: str
    version: int
    path: Path
    card: dict[str, Any]
    result: FitResult

    @property
    def label(self) -> str:
        """``"name/version"``."""
        return f"{self.name}/{self.version}"

    @property
    def gate(self) -> GateResult | None:
        """The validation gate's result for this version (None: the gate has not run)."""
        return _gate_of(self.card)

    @property
    def status(self) -> str:
        """``"passed"``, ``"failed"`` or ``"not validated"``."""
        return _status(self.gate)


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


def posterior_hash(result: FitResult) -> str:
    """sha256 of a fit's posterior draws (every variable's name, dtype, shape and values).

    It identifies a fit across a zarr round trip: ``twinlab fit --out`` and the registry's
    copy of the same fit hash alike.
    """
    h = hashlib.sha256()
    post = result.idata.posterior
    for name in sorted(str(v) for v in post.data_vars):
        values = np.ascontiguousarray(post[name].values)
        h.update(f"{name}|{values.dtype.str}|{values.shape}".encode())
        h.update(values.tobytes())
    return h.hexdigest()


def _gate_of(card: Mapping[str, Any]) -> GateResult | None:
    record = (card.get("validation") or {}).get("gate")
    return GateResult.from_dict(record) if record else None


def _status(gate: GateResult | None) -> str:
    if gate is None:
        return NOT_VALIDATED
    return PASSED if gate.passed else FAILED


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
    validation: Mapping[str, Any] | GateResult | None = None,
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
    validation : GateResult or dict, optional
        The validation gate's result (:func:`twinlab.pkpd.gate.validate`, stored as the
        card's ``validation["gate"]``), or a dict of validation results for the card (e.g.
        recovery or published-estimate checks; a gate result under its ``"gate"`` key).
        Without a gate result the version is not served until :func:`record_validation`
        records one that passed.
    diagnostics : dict, optional
        Default: :func:`twinlab.pkpd.diagnostics.convergence` plus eta shrinkage.

    Returns
    -------
    RegisteredModel
    """
    from twinlab.audit import audit_event
    from twinlab.pkpd import diagnostics as dg

    folder = resolve(root) / _check_name(name)
    folder.mkdir(parents=True, exist_ok=True)
    digest = data_hash(data if data is not None else result.arrays)
    if isinstance(validation, GateResult):
        validation = {"gate": validation.to_dict()}
    validation = dict(validation or {})
    if isinstance(validation.get("gate"), GateResult):
        validation["gate"] = validation["gate"].to_dict()
    if validation.get("gate"):
        GateResult.from_dict(validation["gate"])  # a malformed gate record fails here
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
                "posterior_sha256": posterior_hash(result),
                "spec": result.spec.to_dict(),
                "summary": result.summary(),
                "validation": validation,
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
        new={"validation": _status(_gate_of(card))},
    )
    return RegisteredModel(name, version, folder / str(version), card, result)


def _gate_path(root: Path, name: str, version: int) -> Path:
    return root / GATE_DIR / name / f"{version}.json"


def _card(root: Path, name: str, version: int, result: FitResult | None = None) -> dict:
    """The card of a version with the gate result recorded for it (if it still matches)."""
    card = json.loads((root / name / str(version) / "card.json").read_text())
    path = _gate_path(root, name, version)
    if path.is_file():
        record = json.loads(path.read_text())
        expected = card.get("posterior_sha256")
        if expected is None:  # a card of a registry older than the posterior hash
            fit = result or open_fit(root / name / str(version) / "posterior.zarr")
            expected = posterior_hash(fit)
        if record.get("posterior_sha256") == expected:  # else: a stale record of a former fit
            card["validation"] = {**(card.get("validation") or {}), "gate": record["gate"]}
    return card


def _version(root: Path, name: str, version: int | str | None) -> int:
    versions = _versions(root / _check_name(name))
    if not versions:
        raise KeyError(f"no model {name!r} under {root}")
    v = versions[-1] if version is None else int(version)
    if v not in versions:
        raise KeyError(f"model {name!r} has no version {v} (have {versions})")
    return v


def model_card(
    name: str, version: int | str | None = None, *, root: str | os.PathLike[str] = "models"
) -> dict[str, Any]:
    """The model card of version ``version`` (default: the latest) of ``name``, its
    ``validation["gate"]`` holding the gate result recorded for it.

    Raises
    ------
    KeyError
        If the name or the version is not registered.
    """
    root = resolve(root)
    return _card(root, name, _version(root, name, version))


def validation_status(card: Mapping[str, Any]) -> str:
    """``"passed"``, ``"failed"`` or ``"not validated"``: what a card's gate result says."""
    return _status(_gate_of(card))


def list_models(root: str | os.PathLike[str] = "models") -> list[dict[str, Any]]:
    """Every registered version under ``root``: name, version, created, model, data hash and
    validation status (``"passed"``, ``"failed"`` or ``"not validated"``)."""
    root = resolve(root)
    if not root.is_dir():
        return []
    out = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for v in _versions(folder):
            card_path = folder / str(v) / "card.json"
            if not card_path.is_file():
                continue
            card = _card(root, folder.name, v)
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
                    "validation": validation_status(card),
                }
            )
    return out


def find_version(
    fit: FitResult | str | os.PathLike[str], name: str, *, root: str | os.PathLike[str] = "models"
) -> int:
    """The registered version of ``name`` that holds ``fit`` (the same posterior draws).

    Parameters
    ----------
    fit : FitResult or path
        The fit, or a folder holding its ``posterior.zarr`` (``twinlab fit --out``).
    name : str
        Model name.
    root : path
        Registry root.

    Raises
    ------
    KeyError
        If no version of ``name`` holds this fit.
    """
    root = resolve(root)
    digest = posterior_hash(fit if isinstance(fit, FitResult) else open_fit(fit))
    versions = _versions(root / _check_name(name))
    for v in reversed(versions):
        card = json.loads((root / name / str(v) / "card.json").read_text())
        held = card.get("posterior_sha256") or posterior_hash(
            open_fit(root / name / str(v) / "posterior.zarr")
        )
        if held == digest:
            return v
    raise KeyError(
        f"no version of {name!r} under {root} holds this fit "
        f"({len(versions)} registered): register it first (twinlab fit --register {name})"
    )


def record_validation(
    gate: GateResult,
    name: str,
    version: int | str | None = None,
    *,
    root: str | os.PathLike[str] = "models",
) -> dict[str, Any]:
    """Record the validation gate's result for a registered version.

    Written to ``<root>/.gate/<name>/<version>.json`` (atomically), bound to the version by
    its posterior hash; the version folder itself is never rewritten. A later record for
    the same version replaces an earlier one.

    Parameters
    ----------
    gate : GateResult
        What :func:`twinlab.pkpd.gate.validate` found.
    name : str
        Model name.
    version : int, optional
        Default: the latest.
    root : path
        Registry root.

    Returns
    -------
    dict
        The version's card with the gate result.

    Raises
    ------
    KeyError
        If the name or the version is not registered.
    """
    from twinlab.audit import audit_event

    root = resolve(root)
    v = _version(root, name, version)
    card = json.loads((root / name / str(v) / "card.json").read_text())
    digest = card.get("posterior_sha256") or posterior_hash(
        open_fit(root / name / str(v) / "posterior.zarr")
    )
    record = {"name": name, "version": v, "posterior_sha256": digest, "gate": gate.to_dict()}
    path = _gate_path(root, name, v)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(json.dumps(record, indent=2, sort_keys=True) + "\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    audit_event(
        "model.gate",
        f"{name}/{v}",
        params={"root": str(root), "bounds": gate.bounds.to_dict()},
        new={"status": _status(gate), "failed": [c.name for c in gate.failures]},
    )
    return _card(root, name, v)


def load(
    name: str,
    version: int | str | None = None,
    *,
    root: str | os.PathLike[str] = "models",
    require_validated: bool = True,
) -> RegisteredModel:
    """Open version ``version`` (default: the latest) of ``name``.

    Parameters
    ----------
    name : str
        Model name.
    version : int, optional
        Default: the latest.
    root : path
        Registry root.
    require_validated : bool
        Refuse a version whose validation gate has not passed (default: what serving, the
        apps and the pipeline's simulation stages need). ``False`` opens it anyway, for
        modelers inspecting a fit that failed.

    Raises
    ------
    KeyError
        If the name or the version is not registered.
    NotValidatedError
        If ``require_validated`` and the version's gate failed or has not run.

    Examples
    --------
    >>> twin = load("twinurostat_pk", root="models")  # doctest: +SKIP
    >>> failed = load("twinurostat_pk", 2, root="models", require_validated=False)  # doctest: +SKIP
    """
    root = resolve(root)
    v = _version(root, name, version)
    path = root / name / str(v)
    if require_validated:
        card = _card(root, name, v)
        gate = _gate_of(card)
        if gate is None or not gate.passed:
            raise NotValidatedError(_refusal(name, v, gate, root))
        result = open_fit(path / "posterior.zarr")
    else:
        result = open_fit(path / "posterior.zarr")
        card = _card(root, name, v, result)
    return RegisteredModel(name, v, path, card, result)


def _refusal(name: str, version: int, gate: GateResult | None, root: Path) -> str:
    """Why a version is not served, and what to do, in one line."""
    if gate is None:
        why = "has no validation gate result"
        todo = (
            f"run 'twinlab validate-fit <fit dir> --register {name} --root {root}' (the "
            "pipeline's validate stage does)"
        )
    else:
        why = f"failed its validation gate ({gate.describe().removeprefix('failed: ')})"
        todo = "fix the fit (see 'twinlab validate-fit' for what usually helps)"
    return (
        f"model {name}/{version} {why}: it is not served; {todo}, or open it with "
        "load(..., require_validated=False) to inspect it"
    )
