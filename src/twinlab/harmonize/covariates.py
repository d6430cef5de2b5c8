"""Patient covariates from events: genotypes, planned arm and baseline values.

Pure functions (no I/O): :func:`genotype_covariates` and :func:`arms` on the linked events
(source patient keys), :func:`with_source_covariates` and :func:`with_baseline_covariates` on
the de-identified patients table.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

__all__ = ["arms", "genotype_covariates", "with_baseline_covariates", "with_source_covariates"]


def genotype_covariates(events: pd.DataFrame, genes: Sequence[str]) -> pd.DataFrame:
    """Diplotype per patient key and gene (``cov_<gene>``) from the genomic-variant events."""
    from twinlab.ingest.vcf import diplotype

    calls = events[events["domain"] == "genomic_variant"]
    out: dict[str, dict[str, Any]] = {}
    for gene in genes:
        for patient, group in calls.groupby("source_patient"):
            out.setdefault(patient, {})[f"cov_{gene.lower()}"] = diplotype(group, gene)
    return pd.DataFrame.from_dict(out, orient="index")


def arms(events: pd.DataFrame) -> pd.DataFrame:
    """Planned arm per patient from SDTM DM (``cov_armcd``), where present."""
    dm = events[(events["domain"] == "demographic") & (events["code"] == "ARM")]
    if dm.empty:
        return pd.DataFrame()
    armcd = dm.set_index("source_patient")["qualifiers"].map(lambda q: q.get("armcd"))
    return pd.DataFrame({"cov_armcd": armcd[~armcd.index.duplicated()]})


def with_source_covariates(
    patients: pd.DataFrame, frames: Sequence[pd.DataFrame], pseudonyms: pd.Series
) -> pd.DataFrame:
    """``patients`` with the columns of ``frames`` (indexed by patient key) as text.

    Parameters
    ----------
    patients : pandas.DataFrame
        De-identified patients (``patient_id``).
    frames : sequence of pandas.DataFrame
        Covariates by patient key (:func:`genotype_covariates`, :func:`arms`).
    pseudonyms : pandas.Series
        ``patient_id`` by patient key (the crosswalk).

    Returns
    -------
    pandas.DataFrame
        A copy with one text column per covariate; missing for patients without a value.
    """
    out = patients.copy()
    for frame in frames:
        if not frame.empty:
            by_id = frame.set_axis(frame.index.map(pseudonyms))
            for col in by_id.columns:
                out[col] = out["patient_id"].map(by_id[col]).astype("str")
    return out


def with_baseline_covariates(
    patients: pd.DataFrame, events: pd.DataFrame, links: pd.DataFrame, baseline: Mapping[str, str]
) -> pd.DataFrame:
    """``patients`` with a float ``cov_<name>`` per ``baseline`` entry (``"system|code"``).

    The value is :meth:`twinlab.timeline.Cohort.covariates`' baseline of that code (copies of
    one fact skipped); a column already present (from the sources) is kept as it is.
    """
    from twinlab.timeline import Cohort

    out = patients.copy()
    cohort = Cohort(out, events, links, validate=False)
    if not len(cohort):
        return out
    base = cohort.covariates({f"cov_{k}": v for k, v in baseline.items()})
    for col in base.columns:
        if col.startswith("cov_") and col not in out:
            values = out["patient_id"].map(base[col])
            out[col] = pd.to_numeric(values, errors="coerce").astype("float64")
    return out
