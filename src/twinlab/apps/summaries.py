"""What the cohort dashboard and the reviewer view show, as plain DataFrames (no UI code).

Aggregates of the harmonized cohort (counts by group, small cells suppressed for viewers
without patient-level access), its data-quality report, and the audit trail with its runs
and their lineage.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from twinlab.apps.disclosure import shown
from twinlab.apps.stats import suppress_small_cells

__all__ = [
    "GATE_CHECKS",
    "GROUPINGS",
    "audit_entries",
    "cohort_counts",
    "conservation",
    "gate_records",
    "gate_status",
    "quality_checks",
    "readable_patients",
    "run_lineage",
    "run_parameters",
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
    from twinlab.pkpd.covariates import age_at_index

    out = patients.copy()
    dates = out.assign(index_date=pd.to_datetime(out["index_date"], utc=True))
    age = age_at_index(dates)
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


#: units of the harmonized covariate suffixes, as people write them
_UNITS = {
    "kg": "kg",
    "cm": "cm",
    "umol_l": "µmol/L",
    "mg_dl": "mg/dL",
    "u_l": "U/L",
    "ml_min": "mL/min",
    "years": "years",
}
#: harmonized column -> label with unit (the others are derived from their names)
_PATIENT_LABELS = {
    "patient_id": "Patient (pseudonym)",
    "sex": "Sex",
    "birth_year": "Birth year",
    "site": "Site",
    "index_date": "Index date",
    "cov_age": "Age (years; 90 = 90 or over)",
    "cov_crcl_ml_min": "Creatinine clearance (mL/min, Cockcroft–Gault)",
    "cov_cyp2c9": "CYP2C9 genotype",
    "cov_armcd": "Arm",
    "cov_zip3": "ZIP (first 3 digits)",
    "cov_state": "State",
    "cov_alt_u_l": "ALT (U/L)",
}


def _label(column: str) -> str:
    if column in _PATIENT_LABELS:
        return _PATIENT_LABELS[column]
    name = column.removeprefix("cov_")
    for suffix, unit in sorted(_UNITS.items(), key=lambda kv: -len(kv[0])):
        if name.endswith("_" + suffix):
            words = name[: -len(suffix) - 1].replace("_", " ")
            return f"{words[:1].upper()}{words[1:]} ({unit})"
    words = name.replace("_", " ")
    return words[:1].upper() + words[1:]


def readable_patients(patients: pd.DataFrame) -> pd.DataFrame:
    """The harmonized ``patients`` table for people: labelled columns with units.

    Bookkeeping columns (``schema_version``, ``sources``) are left out, age and creatinine
    clearance derived (:func:`twinlab.pkpd.covariates.add_derived_covariates`), dates shown
    as dates, ages in whole years and measurements rounded to one decimal.
    """
    from twinlab.pkpd.covariates import add_derived_covariates

    try:
        table = add_derived_covariates(patients)
    except (KeyError, ValueError):  # a cohort without the inputs: shown as it is
        table = patients.copy()
    table = table.drop(columns=[c for c in ("schema_version", "sources") if c in table])
    first = [c for c in ("patient_id", "sex", "birth_year", "cov_age", "site") if c in table]
    table = table[first + [c for c in table.columns if c not in first]]
    for c in table.columns:
        if pd.api.types.is_datetime64_any_dtype(table[c]):
            table[c] = table[c].dt.strftime("%Y-%m-%d")
        elif c == "cov_age" and pd.api.types.is_numeric_dtype(table[c]):
            table[c] = table[c].round().astype("Int64")  # whole years (90 stands for 90+)
        elif pd.api.types.is_float_dtype(table[c]):
            table[c] = table[c].round(1)
    return table.rename(columns={c: _label(str(c)) for c in table.columns})


def _flatten(prefix: str, value: Any, out: list[tuple[str, str]]) -> None:
    if isinstance(value, dict) and value:
        for k, v in value.items():
            _flatten(f"{prefix}.{k}" if prefix else str(k), v, out)
    elif isinstance(value, list | tuple):
        out.append(
            (prefix, ", ".join(json.dumps(v) if isinstance(v, dict) else str(v) for v in value))
        )
    else:
        out.append((prefix, "" if value is None else str(value)))


def run_parameters(entries: pd.DataFrame) -> pd.DataFrame:
    """The parameters of each stage's latest run, one row per parameter.

    Returns
    -------
    pandas.DataFrame
        ``stage``, ``run`` (audit sequence number), ``parameter`` (dotted path), ``value``.
    """
    runs = entries[entries["action"] == "stage.run"]
    rows = []
    for stage, group in runs.groupby("target", sort=True):
        last = group.iloc[-1]
        raw = last["params"]
        try:
            params = json.loads(raw) if isinstance(raw, str) and raw else (raw or {})
        except json.JSONDecodeError:
            params = {"params": raw}
        flat: list[tuple[str, str]] = []
        _flatten("", params, flat)
        rows += [{"stage": stage, "run": last["seq"], "parameter": k, "value": v} for k, v in flat]
    return pd.DataFrame(rows, columns=["stage", "run", "parameter", "value"])


#: the validation gate's checks (:class:`twinlab.pkpd.gate.GateCheck` names) for people
GATE_CHECKS: dict[str, str] = {
    "max_rhat_population": "R-hat of the population parameters (largest)",
    "max_rhat_individual": "R-hat of the individual effects (largest)",
    "min_ess_bulk": "bulk effective sample size (smallest)",
    "divergences": "divergent transitions",
    "vpc_pi_coverage": "VPC: observations inside the prediction interval (share)",
}


def gate_status(gate: Mapping[str, Any] | None) -> tuple[bool | None, pd.DataFrame]:
    """A validation gate as recorded for a registered version: passed, and one row per check.

    Parameters
    ----------
    gate : mapping or None
        :meth:`twinlab.pkpd.gate.GateResult.to_dict`: the ``gate`` of the record the
        validate stage writes (``models/.gate/<name>/<version>.json``), as a model card's
        ``validation["gate"]`` holds it (:func:`gate_records`). ``reports/validate.json``
        (a DVC metric) has the values but not the bounds.

    Returns
    -------
    passed : bool or None
        The gate's verdict (None: not recorded).
    checks : pandas.DataFrame
        ``check``, ``value``, ``bound``, ``passed``.
    """
    gate = gate or {}
    rows = []
    for check in gate.get("checks") or []:
        name, value = str(check.get("name", "")), check.get("value")
        bound = str(check.get("bound") or "").replace("<=", "≤").replace(">=", "≥")
        text = f"{value:.4g}" if isinstance(value, float) else "" if value is None else str(value)
        rows.append(
            {
                "check": GATE_CHECKS.get(name, name.replace("_", " ")),
                "value": text,
                "bound": bound,
                "passed": "yes" if check.get("passed") else "NO",
            }
        )
    passed = gate.get("passed")
    return (None if passed is None else bool(passed)), pd.DataFrame(
        rows, columns=["check", "value", "bound", "passed"]
    )


def gate_records(root: str | os.PathLike[str]) -> list[tuple[str, dict[str, Any] | None]]:
    """The validation gate recorded for the latest version of every model registered under
    ``<root>/models``: ``("name/version", gate)``, ``gate`` ``None`` when none is recorded
    (or the record belongs to a former fit)."""
    from twinlab.pkpd.registry import list_models, model_card

    models = Path(root) / "models"
    latest: dict[str, int] = {}
    for m in list_models(models):
        latest[m["name"]] = max(latest.get(m["name"], 0), int(m["version"]))
    out = []
    for name, version in sorted(latest.items()):
        card = model_card(name, version, root=models)
        out.append((f"{name}/{version}", (card.get("validation") or {}).get("gate")))
    return out
