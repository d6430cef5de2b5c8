"""Derived covariates a pharmacometrician expects: age at index, creatinine clearance.

They are computed from the de-identified timeline (birth year, ``90+``, index date,
baseline weight and serum creatinine), so the modelling stages never need the
identified sources.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["MG_DL_PER_UMOL_L", "add_derived_covariates", "age_at_index", "cockcroft_gault"]

#: Creatinine: 1 mg/dL = 88.42 umol/L.
MG_DL_PER_UMOL_L = 1 / 88.42


def cockcroft_gault(
    age: np.ndarray, weight_kg: np.ndarray, scr_umol_l: np.ndarray, female: np.ndarray
) -> np.ndarray:
    """Creatinine clearance (mL/min) by Cockcroft and Gault (1976).

    ``(140 - age) * weight / (72 * SCr[mg/dL])``, times 0.85 for women.
    """
    scr = np.asarray(scr_umol_l, dtype=float) * MG_DL_PER_UMOL_L
    crcl = (140.0 - np.asarray(age, dtype=float)) * np.asarray(weight_kg, dtype=float) / (72 * scr)
    return np.where(np.asarray(female, dtype=bool), 0.85 * crcl, crcl)


def age_at_index(patients: pd.DataFrame) -> pd.Series:
    """Completed years at the index date (``90+`` counts as 90).

    The harmonized ``cov_age`` where de-identification published it (exact, taken at the true
    index date before the date shift); otherwise whole years between the birth year and the
    shifted index date, known to within a year and moved by the key's date shift.
    """
    year = pd.to_numeric(patients["birth_year"].replace("90+", np.nan), errors="coerce")
    age = patients["index_date"].dt.year - year
    age = age.where(patients["birth_year"] != "90+", 90.0).astype(float)
    if "cov_age" in patients:
        age = pd.to_numeric(patients["cov_age"], errors="coerce").astype(float).fillna(age)
    return age


def add_derived_covariates(patients: pd.DataFrame) -> pd.DataFrame:
    """``cov_age`` and, with weight and serum creatinine, ``cov_crcl_ml_min``."""
    out = patients.copy()
    out["cov_age"] = age_at_index(out)
    if {"cov_weight_kg", "cov_creatinine_umol_l"} <= set(out.columns):
        out["cov_crcl_ml_min"] = cockcroft_gault(
            out["cov_age"],
            out["cov_weight_kg"],
            out["cov_creatinine_umol_l"],
            out["sex"].eq("F").to_numpy(),
        )
    return out
