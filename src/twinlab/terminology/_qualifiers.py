"""Read and update ``events.qualifiers``: dicts (reader output) or JSON text (timeline)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["as_dicts", "update"]


def _parse(value: Any) -> dict[str, Any]:
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, str):
        try:
            obj = json.loads(value)
        except ValueError:
            return {"_unparsed": value}
        return obj if isinstance(obj, dict) else {"_unparsed": value}
    return {}


def as_dicts(events: pd.DataFrame) -> list[dict[str, Any]]:
    """The qualifiers of every row as (new) dicts; missing column or value gives ``{}``."""
    if "qualifiers" not in events.columns:
        return [{} for _ in range(len(events))]
    return [_parse(v) for v in events["qualifiers"].tolist()]


def _as_text(events: pd.DataFrame) -> bool:
    if "qualifiers" not in events.columns:
        return False
    col = events["qualifiers"]
    if isinstance(col.dtype, pd.StringDtype):
        return True
    return any(isinstance(v, str) for v in col.tolist())


def update(
    events: pd.DataFrame, positions: Iterable[int], updates: Iterable[Mapping[str, Any]]
) -> None:
    """Merge ``updates`` into the qualifiers of the rows at ``positions`` (in place).

    Keys already present are kept unless the update's key starts with ``!`` (then overwritten).
    The column keeps its form: JSON text when it holds text, dicts otherwise.
    """
    positions = np.asarray(list(positions), dtype=np.int64)
    updates = list(updates)
    if len(positions) == 0:
        return
    text = _as_text(events)
    if "qualifiers" not in events.columns:
        events["qualifiers"] = pd.Series([None] * len(events), index=events.index, dtype=object)
    old = events["qualifiers"].to_numpy(dtype=object, na_value=None).copy()
    for pos, upd in zip(positions.tolist(), updates, strict=True):
        q = _parse(old[pos])
        for key, value in upd.items():
            if key.startswith("!"):
                q[key[1:]] = value
            else:
                q.setdefault(key, value)
        old[pos] = json.dumps(q, ensure_ascii=False, sort_keys=True) if text else q
    col = events["qualifiers"]
    dtype = col.dtype if isinstance(col.dtype, pd.StringDtype) else object
    events["qualifiers"] = pd.Series(old, index=events.index, dtype=dtype)
