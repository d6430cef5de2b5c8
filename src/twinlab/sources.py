"""A first look at a raw-source folder: inventory, integrity and headline counts.

This is what the ``sources_overview`` notebook calls before any harmonization:
which files arrived, whether they still match the hashes written when they were
produced (``manifest.json``), and simple counts read straight from the native
formats. It reads; it never interprets clinical content beyond counting.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyreadstat

from twinlab.synth.study import sha256_file

__all__ = ["overview_metrics", "read_xpt", "source_inventory"]


def source_inventory(raw_dir: str | Path, *, verify: bool = True) -> pd.DataFrame:
    """One row per file listed in ``raw_dir/manifest.json``.

    Parameters
    ----------
    raw_dir
        A folder written by :func:`twinlab.synth.generate_study` (or any folder
        with a manifest of the same shape).
    verify
        Recompute each file's SHA-256 and compare it with the manifest.

    Returns
    -------
    pandas.DataFrame
        Columns ``path``, ``format``, ``records``, ``bytes`` and, when
        verifying, ``intact`` (False for a changed or missing file).
    """
    raw = Path(raw_dir)
    manifest_file = raw / "manifest.json"
    if not manifest_file.is_file():
        raise FileNotFoundError(f"no manifest.json in {raw}: is this a raw-source folder?")
    manifest = json.loads(manifest_file.read_text(encoding="utf-8"))
    rows = []
    for entry in manifest["files"]:
        path = raw / entry["path"]
        row = {
            "path": entry["path"],
            "format": entry["format"],
            "records": int(entry["records"]),
            "bytes": path.stat().st_size if path.exists() else 0,
        }
        if verify:
            row["intact"] = path.is_file() and sha256_file(path) == entry["sha256"]
        rows.append(row)
    return pd.DataFrame(rows)


def read_xpt(path: str | Path) -> pd.DataFrame:
    """Read a SAS XPORT file with its column labels in ``attrs["labels"]``."""
    df, meta = pyreadstat.read_xport(str(path))
    df.attrs["labels"] = dict(zip(meta.column_names, meta.column_labels, strict=True))
    return df


def overview_metrics(raw_dir: str | Path) -> dict[str, Any]:
    """Headline counts of a demo-study source folder, as a JSON-ready dict.

    Returns
    -------
    dict
        Files and records per format, files failing their hash, subjects
        screened / randomized / per arm, PK samples and the share below the
        limit of quantification.
    """
    raw = Path(raw_dir)
    inventory = source_inventory(raw)
    by_format = inventory.groupby("format")[["records"]].agg(["count", "sum"])
    metrics: dict[str, Any] = {
        "files": {fmt: int(n) for fmt, n in by_format[("records", "count")].items()},
        "records": {fmt: int(n) for fmt, n in by_format[("records", "sum")].items()},
        "files_not_intact": int((~inventory["intact"]).sum()),
    }
    dm = read_xpt(raw / "sdtm" / "dm.xpt")
    randomized = dm[dm["ARMCD"] != "SCRNFAIL"]
    metrics["subjects_screened"] = len(dm)
    metrics["subjects_randomized"] = len(randomized)
    metrics["subjects_per_arm"] = {
        k: int(v) for k, v in randomized["ARMCD"].value_counts().sort_index().items()
    }
    pc = read_xpt(raw / "sdtm" / "pc.xpt")
    metrics["pk_samples"] = len(pc)
    metrics["pk_blq_fraction"] = round(float(np.mean(pc["PCSTRESN"].isna())), 4)
    return metrics
