"""SDTM domains DM, EX, PC, LB and VS as SAS XPORT v5 files.

Datetimes are ISO 8601 local clock times without UTC offset, as EDC systems record them.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

from twinlab.synth import truth as T
from twinlab.synth.observations import Observations
from twinlab.synth.schedule import Schedule
from twinlab.synth.xpt import write_xpt

LABELS: dict[str, str] = {
    "STUDYID": "Study Identifier",
    "DOMAIN": "Domain Abbreviation",
    "USUBJID": "Unique Subject Identifier",
    "SUBJID": "Subject Identifier for the Study",
    "RFSTDTC": "Subject Reference Start Date/Time",
    "RFENDTC": "Subject Reference End Date/Time",
    "SITEID": "Study Site Identifier",
    "BRTHDTC": "Date/Time of Birth",
    "AGE": "Age",
    "AGEU": "Age Units",
    "SEX": "Sex",
    "RACE": "Race",
    "ARMCD": "Planned Arm Code",
    "ARM": "Description of Planned Arm",
    "ACTARMCD": "Actual Arm Code",
    "ACTARM": "Description of Actual Arm",
    "COUNTRY": "Country",
    "EXSEQ": "Sequence Number",
    "EXTRT": "Name of Treatment",
    "EXDOSE": "Dose",
    "EXDOSU": "Dose Units",
    "EXDOSFRM": "Dose Form",
    "EXDOSFRQ": "Dosing Frequency per Interval",
    "EXROUTE": "Route of Administration",
    "EXSTDTC": "Start Date/Time of Treatment",
    "EXENDTC": "End Date/Time of Treatment",
    "PCSEQ": "Sequence Number",
    "PCTESTCD": "Pharmacokinetic Test Short Name",
    "PCTEST": "Pharmacokinetic Test Name",
    "PCORRES": "Result or Finding in Original Units",
    "PCORRESU": "Original Units",
    "PCSTRESC": "Character Result/Finding in Std Format",
    "PCSTRESN": "Numeric Result/Finding in Standard Units",
    "PCSTRESU": "Standard Units",
    "PCLLOQ": "Lower Limit of Quantitation",
    "PCSPEC": "Specimen Material Type",
    "PCNAM": "Vendor Name",
    "PCDTC": "Date/Time of Specimen Collection",
    "PCTPT": "Planned Time Point Name",
    "PCTPTNUM": "Planned Time Point Number",
    "PCTPTREF": "Time Point Reference",
    "LBSEQ": "Sequence Number",
    "LBTESTCD": "Lab Test or Examination Short Name",
    "LBTEST": "Lab Test or Examination Name",
    "LBCAT": "Category for Lab Test",
    "LBORRES": "Result or Finding in Original Units",
    "LBORRESU": "Original Units",
    "LBSTRESC": "Character Result/Finding in Std Format",
    "LBSTRESN": "Numeric Result/Finding in Standard Units",
    "LBSTRESU": "Standard Units",
    "LBSPEC": "Specimen Type",
    "LBBLFL": "Baseline Flag",
    "LBDTC": "Date/Time of Specimen Collection",
    "VSSEQ": "Sequence Number",
    "VSTESTCD": "Vital Signs Test Short Name",
    "VSTEST": "Vital Signs Test Name",
    "VSORRES": "Result or Finding in Original Units",
    "VSORRESU": "Original Units",
    "VSSTRESC": "Character Result/Finding in Std Format",
    "VSSTRESN": "Numeric Result/Finding in Standard Units",
    "VSSTRESU": "Standard Units",
    "VSDTC": "Date/Time of Measurements",
    "VISITNUM": "Visit Number",
    "VISIT": "Visit Name",
}
FILE_LABELS = {
    "DM": "Demographics",
    "EX": "Exposure",
    "PC": "Pharmacokinetics Concentrations",
    "LB": "Laboratory Test Results",
    "VS": "Vital Signs",
}
PC_LAB = "Twinlab Central Bioanalytical Laboratory"


def _iso(values: np.ndarray) -> np.ndarray:
    return np.datetime_as_string(values, unit="m")


def _fmt(values: np.ndarray, digits: int) -> list[str]:
    return [f"{v:.{digits}f}" for v in values]


def _seq(df: pd.DataFrame, name: str) -> pd.DataFrame:
    df = df.sort_values(["USUBJID", "_order"], kind="stable").reset_index(drop=True)
    df.insert(3, name, (df.groupby("USUBJID").cumcount() + 1).astype(float))
    return df.drop(columns="_order")


def build_domains(
    subjects: pd.DataFrame,
    schedule: Schedule,
    obs: Observations,
    study_id: str,
    rng: np.random.Generator,
) -> dict[str, pd.DataFrame]:
    """Build the DM, EX, PC, LB and VS data frames.

    Parameters
    ----------
    subjects
        The subject table.
    schedule, obs
        Times and measured values of the randomized subjects.
    study_id
        STUDYID.
    rng
        The ``sdtm`` stream (coding of BLQ results).

    Returns
    -------
    dict
        Domain name (``"DM"`` ...) to data frame, rows sorted by USUBJID and sequence.
    """
    rand = subjects.iloc[schedule.rows]
    n_r = len(rand)
    dose_local = schedule.local(schedule.dose_min)
    rfst = np.full(len(subjects), "", dtype=object)
    rfen = np.full(len(subjects), "", dtype=object)
    if n_r:
        rfst[schedule.rows] = _iso(dose_local[:, 0])
        rfen[schedule.rows] = _iso(dose_local[:, -1])
    n = len(subjects)
    dm = pd.DataFrame(
        {
            "STUDYID": [study_id] * n,
            "DOMAIN": ["DM"] * n,
            "USUBJID": subjects["USUBJID"].to_numpy(),
            "SUBJID": subjects["SUBJID"].to_numpy(),
            "RFSTDTC": rfst.astype(str),
            "RFENDTC": rfen.astype(str),
            "SITEID": subjects["SITEID"].to_numpy(),
            "BRTHDTC": np.datetime_as_string(subjects["birth_date"].to_numpy(), unit="D"),
            "AGE": subjects["age"].to_numpy(dtype=float),
            "AGEU": ["YEARS"] * n,
            "SEX": subjects["sex"].to_numpy(),
            "RACE": subjects["race"].to_numpy(),
            "ARMCD": subjects["ARMCD"].to_numpy(),
            "ARM": subjects["ARM"].to_numpy(),
            "ACTARMCD": subjects["ARMCD"].to_numpy(),
            "ACTARM": subjects["ARM"].to_numpy(),
            "COUNTRY": ["USA"] * n,
        }
    )

    n_dose = schedule.dose_min.shape[1]
    dose_mg = np.repeat(rand["dose_mg"].to_numpy(), n_dose)
    ex_dtc = _iso(dose_local.ravel()) if n_r else np.array([], dtype=str)
    ex = pd.DataFrame(
        {
            "STUDYID": study_id,
            "DOMAIN": "EX",
            "USUBJID": np.repeat(rand["USUBJID"].to_numpy(), n_dose),
            "EXTRT": np.where(dose_mg > 0, "TWINUROSTAT", "PLACEBO"),
            "EXDOSE": dose_mg,
            "EXDOSU": "mg",
            "EXDOSFRM": "TABLET",
            "EXDOSFRQ": "QD",
            "EXROUTE": "ORAL",
            "EXSTDTC": ex_dtc,
            "EXENDTC": ex_dtc,
            "_order": np.tile(np.arange(n_dose), n_r),
        }
    )
    ex = _seq(ex, "EXSEQ")

    n_pk = len(T.PK_SCHEDULE)
    conc = obs.conc.ravel()
    blq = obs.blq.ravel()
    blq_text = np.where(rng.random(blq.size) < 0.5, "<0.05", "BLQ")
    orres = np.where(blq, blq_text, np.array(_fmt(np.nan_to_num(conc), 3), dtype=object))
    tpt = [row[3] for row in T.PK_SCHEDULE]
    pc = pd.DataFrame(
        {
            "STUDYID": study_id,
            "DOMAIN": "PC",
            "USUBJID": np.repeat(rand["USUBJID"].to_numpy(), n_pk),
            "PCTESTCD": "TWINURO",
            "PCTEST": "Twinurostat",
            "PCORRES": orres.astype(str),
            "PCORRESU": "mg/L",
            "PCSTRESC": np.where(blq, "BLQ", orres).astype(str),
            "PCSTRESN": np.where(blq, np.nan, conc),
            "PCSTRESU": "mg/L",
            "PCLLOQ": T.LLOQ,
            "PCSPEC": "PLASMA",
            "PCNAM": PC_LAB,
            "VISITNUM": np.tile([T.VISITS[row[0]][1] for row in T.PK_SCHEDULE], n_r),
            "VISIT": np.tile([T.VISITS[row[0]][0] for row in T.PK_SCHEDULE], n_r),
            "PCDTC": _iso(schedule.local(schedule.pk_min).ravel()) if n_r else [],
            "PCTPT": np.tile(tpt, n_r),
            "PCTPTNUM": np.tile([row[4] for row in T.PK_SCHEDULE], n_r),
            "PCTPTREF": np.tile([row[5] for row in T.PK_SCHEDULE], n_r),
            "_order": np.tile(np.arange(n_pk), n_r),
        }
    )
    pc = _seq(pc, "PCSEQ")

    lb = _seq(pd.concat(_lab_parts(subjects, schedule, obs, study_id), ignore_index=True), "LBSEQ")
    vs = _seq(_vital_signs(subjects, study_id), "VSSEQ")
    return {"DM": dm, "EX": ex, "PC": pc, "LB": lb, "VS": vs}


def _lab_frame(study_id, usubjid, testcd, test, orres, orresu, stresn, stresu, blfl, visit_day,
               dtc, order) -> pd.DataFrame:  # fmt: skip
    k = len(usubjid)
    stresn = np.asarray(stresn, dtype=float)
    return pd.DataFrame(
        {
            "STUDYID": [study_id] * k,
            "DOMAIN": ["LB"] * k,
            "USUBJID": usubjid,
            "LBTESTCD": [testcd] * k,
            "LBTEST": [test] * k,
            "LBCAT": ["CHEMISTRY"] * k,
            "LBORRES": orres,
            "LBORRESU": orresu,
            "LBSTRESC": _fmt(stresn, 1),
            "LBSTRESN": stresn,
            "LBSTRESU": [stresu] * k,
            "LBSPEC": ["SERUM"] * k,
            "LBBLFL": blfl,
            "VISITNUM": [T.VISITS[d][1] for d in visit_day],
            "VISIT": [T.VISITS[d][0] for d in visit_day],
            "LBDTC": dtc,
            "_order": order,
        }
    )


def _lab_parts(subjects, schedule, obs, study_id) -> list[pd.DataFrame]:
    n = len(subjects)
    usubjid = subjects["USUBJID"].to_numpy()
    screen_dtc = _iso(subjects["screen_dt"].to_numpy())
    blfl_screen = np.where(subjects["screen_fail"].to_numpy(), "", "Y")
    scr = subjects["scr_mg_dl"].to_numpy()
    umol = subjects["SITEID"].map(lambda s: T.SITES[s]["creatinine"].endswith("umol/L"))
    umol = umol.to_numpy(dtype=bool)
    scr_umol = np.round(scr * T.CREATININE_MGDL_TO_UMOLL, 1)
    parts = [
        _lab_frame(study_id, usubjid, "CREAT", "Creatinine",
                   np.where(umol, _fmt(scr_umol, 1), _fmt(scr, 2)),
                   np.where(umol, "umol/L", "mg/dL"), scr_umol, "umol/L", blfl_screen,
                   [0] * n, screen_dtc, np.zeros(n, dtype=int)),
        _lab_frame(study_id, usubjid, "ALT", "Alanine Aminotransferase",
                   _fmt(subjects["alt_u_l"].to_numpy(), 0), ["U/L"] * n,
                   subjects["alt_u_l"].to_numpy(), "U/L", blfl_screen, [0] * n, screen_dtc,
                   np.ones(n, dtype=int)),
        _lab_frame(study_id, usubjid, "URATE", "Urate", _fmt(obs.screen_urate, 1),
                   ["mg/dL"] * n, np.round(obs.screen_urate * T.URATE_MGDL_TO_UMOLL, 1),
                   "umol/L", [""] * n, [0] * n, screen_dtc, np.full(n, 2)),
    ]  # fmt: skip
    n_r, k = obs.urate.shape
    if n_r:
        urate = obs.urate.ravel()
        days = list(T.URATE_DAYS) * n_r
        parts.append(
            _lab_frame(study_id, np.repeat(subjects["USUBJID"].to_numpy()[schedule.rows], k),
                       "URATE", "Urate", _fmt(urate, 1), ["mg/dL"] * urate.size,
                       np.round(urate * T.URATE_MGDL_TO_UMOLL, 1), "umol/L",
                       ["Y" if d == 1 else "" for d in days], days,
                       _iso(schedule.local(schedule.urate_min).ravel()),
                       np.tile(np.arange(3, 3 + k), n_r))
        )  # fmt: skip
    return parts


def _vital_signs(subjects: pd.DataFrame, study_id: str) -> pd.DataFrame:
    n = len(subjects)
    imperial = subjects["SITEID"].map(lambda s: T.SITES[s]["units"] == "imperial")
    imperial = imperial.to_numpy(dtype=bool)
    wt = subjects["weight_kg"].to_numpy()
    ht = subjects["height_cm"].to_numpy(dtype=float)
    wt_orres = np.where(imperial, _fmt(np.round(wt * T.LB_PER_KG, 1), 1), _fmt(wt, 1))
    ht_orres = np.where(imperial, _fmt(np.round(ht / T.CM_PER_IN, 1), 1), _fmt(ht, 0))
    dtc = _iso(subjects["screen_dt"].to_numpy())
    usubjid = subjects["USUBJID"].to_numpy()
    frames = []
    for order, (testcd, test, orres, imp_u, std_u, std) in enumerate(
        (
            ("WEIGHT", "Weight", wt_orres, "LB", "kg", wt),
            ("HEIGHT", "Height", ht_orres, "in", "cm", ht),
        )
    ):
        frames.append(
            pd.DataFrame(
                {
                    "STUDYID": [study_id] * n,
                    "DOMAIN": ["VS"] * n,
                    "USUBJID": usubjid,
                    "VSTESTCD": [testcd] * n,
                    "VSTEST": [test] * n,
                    "VSORRES": orres,
                    "VSORRESU": np.where(imperial, imp_u, std_u),
                    "VSSTRESC": _fmt(std, 1),
                    "VSSTRESN": std,
                    "VSSTRESU": [std_u] * n,
                    "VISITNUM": [T.VISITS[0][1]] * n,
                    "VISIT": [T.VISITS[0][0]] * n,
                    "VSDTC": dtc,
                    "_order": np.full(n, order),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def write_domains(
    domains: dict[str, pd.DataFrame], folder: Path, created: dt.datetime
) -> list[tuple[Path, int]]:
    """Write each domain to ``folder/<domain>.xpt`` with fixed header datetimes.

    Parameters
    ----------
    domains
        From :func:`build_domains`.
    folder
        Target folder, created if missing.
    created
        Datetime stamped into every XPORT header.

    Returns
    -------
    list of (path, number of rows)
    """
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name in sorted(domains):
        df = domains[name]
        for col in df.columns:
            if not pd.api.types.is_numeric_dtype(df[col]):
                df[col] = df[col].astype(object).astype(str)
        path = folder / f"{name.lower()}.xpt"
        rows = write_xpt(df, path, table_name=name, file_label=FILE_LABELS[name],
                         labels=LABELS, created=created)  # fmt: skip
        written.append((path, rows))
    return written
