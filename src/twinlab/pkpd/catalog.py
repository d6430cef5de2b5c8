"""The catalogue of structural models, read from the registry in :mod:`twinlab.pkpd.models`.

``twinlab models catalog`` prints it; ``docs/population-spec.md`` holds the same table (a test
keeps the two equal), so the documentation lists exactly the models the code has.
"""

from __future__ import annotations

from typing import Any

from twinlab.pkpd.models import MODELS

__all__ = ["catalog", "catalog_markdown"]


def _dosing(params: tuple[str, ...]) -> str:
    if "ka" in params:
        return "oral: dose CMT 1 (depot), observe CMT 2; IV doses CMT 2 (ADVAN2/4/12)"
    return "IV: dose and observe CMT 1 (ADVAN1/3/11)"


def catalog() -> list[dict[str, Any]]:
    """One row per structural model: name, kind, parameters, optional ones, endpoints, dosing.

    Examples
    --------
    >>> row = next(r for r in catalog() if r["name"] == "pk_1cmt_oral")
    >>> row["parameters"], row["optional"]
    (['ka', 'cl', 'v'], {'f': 1.0, 'tlag': 0.0})
    """
    return [
        {
            "name": m.name,
            "kind": m.kind,
            "parameters": list(m.params),
            "optional": dict(m.defaults),
            "endpoints": list(m.endpoints),
            "dosing": _dosing(m.params),
            "description": m.description,
        }
        for m in MODELS.values()
    ]


def catalog_markdown() -> str:
    """The catalogue as a Markdown table."""
    lines = [
        "| model | kind | parameters | optional (default) | endpoints | dosing | description |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in catalog():
        optional = ", ".join(f"{k} ({v:g})" for k, v in r["optional"].items()) or "-"
        lines.append(
            f"| `{r['name']}` | {r['kind']} | {', '.join(r['parameters'])} | {optional} | "
            f"{', '.join(r['endpoints'])} | {r['dosing']} | {r['description']} |"
        )
    return "\n".join(lines) + "\n"
