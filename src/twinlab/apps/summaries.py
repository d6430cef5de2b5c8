"""What the cohort dashboard and the reviewer view show, as plain DataFrames (no UI code).

Aggregates of the harmonized cohort (counts by group, small cells suppressed for viewers
without patient-level access), its data-quality report, and the audit trail with its runs
and their lineage.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pandas as pd

from twinlab.apps.disclosure import shown
from twinlab.apps.stats import suppress_small_cells

__all__ = [
    "GROUPINGS",
    "audit_entries",
    "cohort_counts",
    "conservation",
    "quality_checks",
    "run_lineage",
    "studies",
]

#: label -> how to group the patients table.
GROUPINGS: dict[str, str] = {
    "sex": "sex",
    "site": "site",
    "CYP2C9 genotype": "cov_cyp2c9",
    "age band": "age_band",
    "weight band (kg)": "weight_band",
}


def studies(root: str | os.PathLike[str]) -> list[str]:
    """Harmonized studies under ``<root>/data/harmonized`` (folders with ``patients.parquet``)."""
    folder = Path(root) / "data" / "harmonized"
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if (p / "patients.parquet").is_file())


def _bands(patients: pd.DataFrame) -> pd.DataFrame:
    out = patients.copy()
    index_year = pd.to_datetime(out["index_date"], utc=True).dt.year
    birth = pd.to_numeric(out["birth_year"], errors="coerce")
    age = index_year - birth
    age = age.where(out["birth_year"] != "90+", 90)
    out["age_band"] = pd.cut(
        age,
        [0, 40, 50, 60, 70, 80, 90, 200],
        right=False,
        labels=["<40", "40-49", "50-59", "60-69", "70-79", "80-89", "90+"],
    ).astype(str)
    if "cov_weight_kg" in out:
        out["weight_band"] = pd.cut(
            out["cov_weight_kg"],
            [0, 60, 80, 100, 120, 1000],
            right=False,
            labels=["<60", "60-79", "80-99", "100-119", "120+"],
        ).astype(str)
    return out


def cohort_counts(
    patients: pd.DataFrame, by: str, *, min_cell: int = 5, suppress: bool = True
) -> pd.DataFrame:
    """Patients per group, with a total row; if ``suppress``, counts below ``min_cell``
    hidden and the others (the total too) rounded (:func:`twinlab.apps.disclosure.shown`).

    Parameters
    ----------
    patients : pandas.DataFrame
        The harmonized ``patients`` table.
    by : str
        A key of :data:`GROUPINGS`.
    min_cell : int
        The smallest count shown when suppressing.
    suppress : bool
        Hide small cells (for viewers without patient-level access).

    Returns
    -------
    pandas.DataFrame
        ``group`` and ``n`` (text when suppressed), the last row the total.
    """
    if by not in GROUPINGS:
        raise ValueError(f"unknown grouping {by!r}; choose among {', '.join(GROUPINGS)}")
    col = GROUPINGS[by]
    table = _bands(patients)
    if col not in table:
        raise ValueError(f"the patients table has no column {col!r} for {by!r}")
    counts = (
        table[col]
        .fillna("missing")
        .astype(str)
        .value_counts()
        .sort_index()
        .rename_axis("group")
        .reset_index(name="n")
    )
    if suppress:
        counts = suppress_small_cells(counts, "n", k=min_cell, total=True)
    n_all = shown(len(table), min_cell) if min_cell > 1 else str(len(table))
    total = pd.DataFrame({"group": ["total"], "n": [n_all if suppress else len(table)]})
    return pd.concat([counts, total], ignore_index=True)


def quality_checks(quality: dict[str, Any]) -> pd.DataFrame:
    """The data-quality checks (``quality.json``) as a table."""
    checks = quality.get("checks", [])
    cols = [
        "category",
        "check",
        "description",
        "checked",
        "failed",
        "failure_rate",
        "threshold",
        "status",
    ]
    df = pd.DataFrame(checks)
    return df[[c for c in cols if c in df]] if len(df) else pd.DataFrame(columns=cols)


def conservation(report: dict[str, Any]) -> pd.DataFrame:
    """Records in = accepted + quarantined + duplicates, per format (from ``report.json``)."""
    files = pd.DataFrame(report.get("files", []))
    if files.empty:
        return pd.DataFrame(columns=["format", "files", "records_in", "accepted", "quarantined"])
    out = files.groupby("format", as_index=False).agg(
        files=("records_in", "size"),
        records_in=("records_in", "sum"),
        accepted=("accepted", "sum"),
        quarantined=("quarantined", "sum"),
    )
    dups = files["duplicates"] if "duplicates" in files else pd.Series(0, index=files.index)
    out["duplicates"] = dups.groupby(files["format"]).sum().reindex(out["format"]).to_numpy()
    out["reconciles"] = (
        out["records_in"] == out["accepted"] + out["quarantined"] + out["duplicates"]
    )
    return out


def audit_entries(path: str | os.PathLike[str], *, last: int | None = 500) -> pd.DataFrame:
    """Audit log entries (newest last): seq, time, actor, action, target, params.

    Reads the JSON-lines file as it is; :func:`twinlab.audit.verify` says whether it is
    intact.
    """
    cols = ["seq", "ts", "actor", "action", "target", "params", "new", "hash"]
    file = Path(path)
    if not file.is_file():
        return pd.DataFrame(columns=cols)
    rows = []
    with file.open() as fh:
        for line in fh:
            line = line.strip()
            if not line:
                continue
            try:
                e = json.loads(line)
            except ValueError:
                continue
            rows.append({c: e.get(c) for c in cols})
    df = pd.DataFrame(rows, columns=cols)
    if last is not None:
        df = df.tail(last)
    for c in ("params", "new"):
        df[c] = df[c].map(lambda v: json.dumps(v, sort_keys=True, default=str) if v else "")
    return df.reset_index(drop=True)


def run_lineage(entries: pd.DataFrame) -> pd.DataFrame:
    """Stage runs and their lineage: run record, inputs and outputs with their hashes."""
    runs = entries[entries["action"] == "stage.run"]
    rows = []
    for _, e in runs.iterrows():
        new = json.loads(e["new"]) if e["new"] else {}
        outputs = new.get("outputs") or {}
        rows.append(
            {
                "seq": e["seq"],
                "ts": e["ts"],
                "actor": e["actor"],
                "stage": e["target"],
                "params": e["params"],
                "run_record": new.get("run_record"),
                "run_record_sha256": new.get("run_record_sha256"),
                "outputs": "; ".join(
                    f"{k} ({(v or {}).get('md5', '')})" for k, v in sorted(outputs.items())
                ),
            }
        )
    cols = ["seq", "ts", "actor", "stage", "params", "run_record", "run_record_sha256", "outputs"]
    return pd.DataFrame(rows, columns=cols)
