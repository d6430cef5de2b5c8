"""The twin registry as the API shows it: built on :mod:`twinlab.pkpd.registry`'s public
functions (never reading a version folder beside them)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from twinlab.pkpd.registry import list_models, model_card, validation_status

__all__ = ["card", "lineage", "models", "validation", "versions"]


def models(root: Path) -> list[dict[str, Any]]:
    """One entry per model: name, versions, latest version and its status."""
    out: dict[str, dict[str, Any]] = {}
    for row in list_models(root):
        entry = out.setdefault(row["name"], {"name": row["name"], "versions": []})
        entry["versions"].append(row["version"])
        entry["latest"] = row["version"]
        entry["latest_validation"] = row["validation"]
        entry["model"] = row["model"]
    return list(out.values())


def versions(root: Path, name: str) -> list[dict[str, Any]]:
    """Every version of ``name`` (``KeyError`` if none)."""
    rows = [r for r in list_models(root) if r["name"] == name]
    if not rows:
        raise KeyError(f"no model {name!r}")
    return rows


def _model_card(root: Path, name: str, version: int) -> dict[str, Any]:
    """:func:`~twinlab.pkpd.registry.model_card`, its ``KeyError`` naming the model and
    its versions, never the registry's folder."""
    try:
        return model_card(name, version, root=root)
    except KeyError:
        have = [r["version"] for r in versions(root, name)]  # KeyError: no model 'name'
        raise KeyError(f"model {name!r} has no version {version} (have {have})") from None


def card(root: Path, name: str, version: int) -> dict[str, Any]:
    """The model card with its validation status (``KeyError`` if not registered)."""
    c = _model_card(root, name, version)
    data_file = Path(c["data_file"]).name if c.get("data_file") else None  # not the server's path
    return {**c, "data_file": data_file, "validation_status": validation_status(c)}


def validation(root: Path, name: str, version: int) -> dict[str, Any]:
    """The validation results of a version: status and the gate's record."""
    c = _model_card(root, name, version)
    return {
        "name": name,
        "version": int(c["version"]),
        "status": validation_status(c),
        "validation": c.get("validation") or {},
    }


def lineage(root: Path, name: str, version: int, results: Path) -> dict[str, Any]:
    """Where a version came from and what used it: data and posterior hashes, the spec's
    model, the gate's status, and the simulation runs whose population drew from it."""
    from twinlab.api.results import list_runs

    c = _model_card(root, name, version)
    used = []
    for run in list_runs(results):
        if run["model"] == name and run["model_version"] == int(c["version"]):
            used.append(run["run"])
    return {
        "name": name,
        "version": int(c["version"]),
        "data_hash": c.get("data_hash"),
        "data_file": Path(c["data_file"]).name if c.get("data_file") else None,
        "posterior_sha256": c.get("posterior_sha256"),
        "model": (c.get("spec") or {}).get("model"),
        "twinlab_version": c.get("twinlab_version"),
        "validation_status": validation_status(c),
        "simulations": used,
        "card_sha256": _sha(c),
    }


def _sha(obj: Any) -> str:
    import hashlib

    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()
