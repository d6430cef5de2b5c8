"""Data-quality report in Kahn's harmonized framework.

Kahn et al. (2016, eGEMs 4(1):1244) sort data-quality checks into three
categories, each verified against the data itself:

- **conformance** – do values follow the expected formats, codes and units?
  (records quarantined by a reader, codes left unmapped, units that could not
  be normalized);
- **completeness** – are the expected values present? (sex, birth year, index
  date and baseline covariates per patient, numeric values on measurements);
- **plausibility** – are values believable? (measurements inside physiological
  ranges, events not before birth, periods that end after they start).

Each check reports how many items it examined and how many failed; a check
*fails* when its failure rate exceeds its threshold. The report is plain JSON
(a DVC metric) and renders as a table in the ``harmonize`` notebook.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

import pandas as pd

from twinlab.terminology.plausibility import plausibility_table

__all__ = ["Check", "quality_report", "typical_ranges"]

LOINC = "http://loinc.org"


def typical_ranges() -> dict[str, tuple[float, float, str]]:
    """The typical ranges the quality report checks, by LOINC code: (low, high, canonical unit).

    Read from the ``typical_low``/``typical_high`` columns of the shipped plausibility table
    (:func:`twinlab.terminology.plausibility.plausibility_table`), next to the hard limits that
    quarantine; a code fails its check when more than 1 % of its values fall outside.
    """
    table = plausibility_table()
    rows = table[(table["system"] == LOINC) & table["typical_low"].notna()]
    return {
        code: (float(low), float(high), unit)
        for code, unit, low, high in zip(
            rows["code"], rows["unit"], rows["typical_low"], rows["typical_high"], strict=True
        )
    }


#: Domains whose codes should come from a standard terminology (LOINC, SNOMED CT, RxNorm,
#: CVX); study-local codes (the investigational drug, arms, device summaries) are exempt.
STANDARD_CODED_DOMAINS: tuple[str, ...] = (
    "lab", "vital", "condition", "medication", "procedure", "allergy", "immunization",
)  # fmt: skip


@dataclass(frozen=True)
class Check:
    """One data-quality check's outcome."""

    category: str
    check: str
    description: str
    checked: int
    failed: int
    threshold: float

    @property
    def failure_rate(self) -> float:
        """Failed / checked (0 when nothing was checked)."""
        return self.failed / self.checked if self.checked else 0.0

    @property
    def status(self) -> str:
        """``"pass"`` or ``"fail"`` against the threshold."""
        return "fail" if self.failure_rate > self.threshold else "pass"

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            **asdict(self),
            "failure_rate": round(self.failure_rate, 6),
            "status": self.status,
        }


def _conformance(
    events: pd.DataFrame, file_counts: list[dict[str, Any]], quarantine: pd.DataFrame
) -> list[Check]:
    records_in = sum(int(c["records_in"]) for c in file_counts)
    checks = [
        Check("conformance", "records.parsed", "source records accepted by their reader",
              records_in, len(quarantine), 0.05),
    ]  # fmt: skip
    for name, group in quarantine.groupby("check", sort=True):
        checks.append(
            Check("conformance", f"quarantine.{name}", f"records quarantined by check {name}",
                  records_in, len(group), 0.05)
        )  # fmt: skip
    quals = events["qualifiers"].map(_as_dict)
    clinical = events["domain"].isin(STANDARD_CODED_DOMAINS)
    unmapped = clinical & quals.map(lambda q: bool(q.get("unmapped")))
    unit_issue = quals.map(lambda q: "unit_issue" in q)
    numeric = events["value_num"].notna()
    checks += [
        Check("conformance", "codes.mapped",
              "clinical events (labs, vitals, conditions, drugs...) with a standard code",
              int(clinical.sum()), int(unmapped.sum()), 0.05),
        Check("conformance", "units.normalized", "numeric events with a canonical UCUM unit",
              int(numeric.sum()), int((unit_issue & numeric).sum()), 0.01),
    ]  # fmt: skip
    return checks


def _completeness(patients: pd.DataFrame, events: pd.DataFrame) -> list[Check]:
    n = len(patients)
    checks = [
        Check("completeness", f"patients.{col}", f"patients with a known {col.replace('_', ' ')}",
              n, int(patients[col].isna().sum() + (patients[col] == "U").sum()), 0.05)
        for col in ("sex", "birth_year", "index_date")
        if col in patients
    ]  # fmt: skip
    for col in sorted(c for c in patients.columns if c.startswith("cov_")):
        checks.append(
            Check("completeness", f"patients.{col}", f"patients with baseline {col[4:]}",
                  n, int(patients[col].isna().sum()), 0.25)
        )  # fmt: skip
    measured = events["domain"].isin(["lab", "vital", "concentration", "pd"])
    no_value = measured & events["value_num"].isna() & events["value_text"].isna()
    blq = events["qualifiers"].map(lambda q: bool(_as_dict(q).get("blq")))
    checks.append(
        Check("completeness", "events.value", "measurements with a value (BLQ counts as known)",
              int(measured.sum()), int((no_value & ~blq).sum()), 0.02)
    )  # fmt: skip
    return checks


def _plausibility(patients: pd.DataFrame, events: pd.DataFrame) -> list[Check]:
    checks = []
    loinc = events[(events["code_system"] == LOINC) & events["value_num"].notna()]
    for code, (low, high, unit) in typical_ranges().items():
        rows = loinc[(loinc["code"] == code) & (loinc["unit"] == unit)]
        if rows.empty:
            continue
        bad = ~rows["value_num"].between(low, high)
        checks.append(
            Check("plausibility", f"range.{code}", f"LOINC {code} within [{low}, {high}] {unit}",
                  len(rows), int(bad.sum()), 0.01)
        )  # fmt: skip
    ends = events["end_time"].notna()
    checks.append(
        Check("plausibility", "events.end_after_start", "periods that end at or after their start",
              int(ends.sum()), int((events.loc[ends, "end_time"] < events.loc[ends, "time"]).sum()),
              0.0)
    )  # fmt: skip
    years = pd.to_numeric(patients.set_index("patient_id")["birth_year"], errors="coerce")
    event_years = events["time"].dt.year
    born = events["patient_id"].map(years)
    known = born.notna()
    # de-identified dates are shifted by up to a year, birth years are not: allow one year
    checks.append(
        Check("plausibility", "events.after_birth",
              "events dated no earlier than the year before the birth year (date shift)",
              int(known.sum()), int((event_years[known] < born[known] - 1).sum()), 0.0)
    )  # fmt: skip
    return checks


def _as_dict(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    if isinstance(value, str) and value:
        return json.loads(value)
    return {}


def quality_report(
    patients: pd.DataFrame,
    events: pd.DataFrame,
    quarantine: pd.DataFrame,
    file_counts: list[dict[str, Any]],
) -> dict[str, Any]:
    """Run every check and summarize by Kahn category.

    Parameters
    ----------
    patients, events
        The harmonized tables.
    quarantine
        Quarantined records (column ``check`` at least).
    file_counts
        Per-file counts (``records_in`` at least).

    Returns
    -------
    dict
        ``{"summary": {category: {"checks", "failed"}}, "checks": [...]}``.
    """
    checks = (
        _conformance(events, file_counts, quarantine)
        + _completeness(patients, events)
        + _plausibility(patients, events)
    )
    rows = [c.as_dict() for c in checks]
    summary = {
        category: {
            "checks": sum(r["category"] == category for r in rows),
            "failed": sum(r["category"] == category and r["status"] == "fail" for r in rows),
        }
        for category in ("conformance", "completeness", "plausibility")
    }
    summary["overall"] = "fail" if any(v["failed"] for v in summary.values()) else "pass"
    return {"summary": summary, "checks": rows}
