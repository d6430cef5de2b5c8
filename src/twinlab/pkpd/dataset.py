"""NONMEM-style datasets: validation, CSV I/O, arrays for the models, and the timeline bridge.

:class:`NonmemData` holds one validated NONMEM data set (``ID TIME EVID AMT RATE CMT DV MDV
ADDL II SS``, optional ``DVID CENS LLOQ`` and covariates); :func:`read_nonmem` reads the
NONMEM and nlmixr2 dialects, :func:`write_nonmem` writes a file NONMEM or nlmixr2 can read,
:func:`from_timeline` builds the data set from a harmonized :class:`~twinlab.timeline.Cohort`,
and :meth:`NonmemData.to_arrays` gives the :class:`PopulationArrays` the structural models use.
"""

from __future__ import annotations

import csv
import json
import os
import re
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from twinlab.pkpd.dosing import _expand_table

if TYPE_CHECKING:
    from twinlab.timeline import Cohort

__all__ = [
    "NONMEM_COLUMNS",
    "NonmemData",
    "NonmemDataError",
    "NonmemDataWarning",
    "PopulationArrays",
    "from_timeline",
    "nonmem_text",
    "read_nonmem",
    "write_nonmem",
]

#: The standard columns, in the order they are written.
NONMEM_COLUMNS: tuple[str, ...] = (
    "ID", "TIME", "EVID", "AMT", "RATE", "CMT", "DV", "MDV", "ADDL", "II", "SS",
)  # fmt: skip
_OPTIONAL = ("DVID", "CENS", "LLOQ")
_REQUIRED = ("ID", "TIME", "EVID", "AMT", "CMT", "DV")
_INTEGER = frozenset({"ID", "EVID", "CMT", "MDV", "ADDL", "SS", "DVID", "CENS"})
_ZERO_DEFAULT = ("AMT", "RATE", "ADDL", "II", "SS")  # NONMEM reads "." as 0 here
_EVIDS = (0, 1, 2, 3, 4)
_KEY = ("ID", "TIME", "EVID", "CMT", "DVID")
_SHOW = 5
_SIDECAR = ".meta.json"


class NonmemDataError(ValueError):
    """A NONMEM data set breaks a rule; the message names the column and the rows."""


class NonmemDataWarning(UserWarning):
    """Something in a NONMEM data set a modeler should know (e.g. duplicated record keys)."""


@dataclass(frozen=True)
class PopulationArrays:
    """The arrays the structural models evaluate (see the pkpd contract).

    Observations are flat (``n_obs``); doses are padded to ``(n_subjects, max_doses)`` with
    ``ADDL``/``II`` expanded and steady state generated as past doses (``dose_ss`` marks them;
    they are ordinary doses to superpose). Padding has ``dose_amt == 0``.
    """

    n_subjects: int
    subject_ids: np.ndarray
    obs_subject: np.ndarray
    obs_time: np.ndarray
    obs_dv: np.ndarray
    obs_cens: np.ndarray
    obs_lloq: np.ndarray
    obs_dvid: np.ndarray
    dose_time: np.ndarray
    dose_amt: np.ndarray
    dose_rate: np.ndarray
    dose_duration: np.ndarray
    dose_cmt: np.ndarray
    dose_ss: np.ndarray
    covariates: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def n_obs(self) -> int:
        """Number of observations."""
        return len(self.obs_time)


def _rows(mask: pd.Series | np.ndarray, values: pd.Series | None = None) -> str:
    where = np.flatnonzero(np.asarray(mask))
    shown = where[:_SHOW]
    if values is not None:
        vals = np.asarray(values)
        text = ", ".join(f"{i} ({vals[i]!r})" for i in shown)
    else:
        text = ", ".join(str(i) for i in shown)
    more = f" … {len(where) - _SHOW} more" if len(where) > _SHOW else ""
    return f"row{'s' if len(where) > 1 else ''} {text}{more}"


def _check(mask: Any, column: str, what: str, values: pd.Series | None = None) -> None:
    mask = np.asarray(mask, dtype=bool)
    if mask.any():
        raise NonmemDataError(
            f"column {column}: {what} in {_rows(mask, values)} (0-based data rows)"
        )


def _normalize(frame: pd.DataFrame) -> pd.DataFrame:
    """Upper-case, type, default and validate a NONMEM frame; return a new frame."""
    if not isinstance(frame, pd.DataFrame):
        raise NonmemDataError(f"NonmemData needs a pandas DataFrame, not {type(frame).__name__}")
    df = frame.reset_index(drop=True).copy()
    df.columns = [str(c).strip().upper() for c in df.columns]
    dup = df.columns[df.columns.duplicated()].unique().tolist()
    if dup:
        raise NonmemDataError(f"columns {dup} appear twice (names are case-insensitive)")
    missing = [c for c in _REQUIRED if c not in df.columns]
    if missing:
        raise NonmemDataError(
            f"missing required column(s) {' '.join(missing)}; a NONMEM data set needs "
            f"{' '.join(_REQUIRED)} (RATE ADDL II SS default to 0, MDV is derived)"
        )
    if len(df) == 0:
        raise NonmemDataError("the data set has no rows")
    for column in df.columns:
        s = df[column]
        if pd.api.types.is_bool_dtype(s):
            df[column] = s.astype("int64")
            continue
        if pd.api.types.is_numeric_dtype(s):
            df[column] = s.astype("float64") if not pd.api.types.is_integer_dtype(s) else s
            continue
        num = pd.to_numeric(s, errors="coerce")
        bad = num.isna() & s.notna()
        hint = (
            "; text columns are coded by read_nonmem or from_timeline"
            if column not in NONMEM_COLUMNS
            else ""
        )
        _check(bad, column, f"must be numeric, found text{hint}", s)
        df[column] = num.astype("float64")
    for column in _ZERO_DEFAULT:
        df[column] = df[column].fillna(0.0) if column in df.columns else 0.0
    for column in ("ID", "TIME", "EVID", "CMT"):
        _check(df[column].isna(), column, "missing value")
    for column in _INTEGER & set(df.columns):
        s = df[column]
        frac = s.notna() & (s != np.round(s))
        _check(frac, column, "must be whole numbers", s)
    _check(~np.isfinite(df["TIME"]), "TIME", "must be finite", df["TIME"])
    _check(df["TIME"] < 0, "TIME", "negative time (hours from the first dose)", df["TIME"])
    evid = df["EVID"]
    _check(
        ~evid.isin(_EVIDS),
        "EVID",
        "unknown event id (0 observation, 1 dose, 2 other, 3 reset, 4 reset+dose; "
        "nlmixr2's 101 is read by read_nonmem)",
        evid,
    )
    dose = evid.isin((1, 4))
    _check(df["AMT"] < 0, "AMT", "negative amount", df["AMT"])
    _check(~dose & (df["AMT"] != 0), "AMT", "an amount on a non-dose record (EVID 0/2/3)")
    rate = df["RATE"]
    _check(
        rate.isin((-1.0, -2.0)),
        "RATE",
        "modelled rate or duration (RATE=-1/-2) is not supported; give the rate in mg/h",
        rate,
    )
    _check(rate < 0, "RATE", "negative rate", rate)
    _check(dose & (rate > 0) & (df["AMT"] <= 0), "RATE", "an infusion without an amount")
    _check(dose & (df["CMT"] < 1), "CMT", "a dose needs a compartment >= 1", df["CMT"])
    _check(df["CMT"] < 0, "CMT", "negative compartments (turn-off) are not supported")
    derived_mdv = ((evid != 0) | df["DV"].isna()).astype("int64")
    df["MDV"] = df["MDV"].fillna(derived_mdv) if "MDV" in df.columns else derived_mdv
    _check(~df["MDV"].isin((0, 1)), "MDV", "must be 0 or 1", df["MDV"])
    _check((evid != 0) & (df["MDV"] == 0), "MDV", "must be 1 on non-observation records (EVID>0)")
    _check((df["MDV"] == 0) & df["DV"].isna(), "DV", "missing value on an observation (MDV 0)")
    _check(df["ADDL"] < 0, "ADDL", "negative count", df["ADDL"])
    _check(df["II"] < 0, "II", "negative interval", df["II"])
    _check((df["ADDL"] > 0) & (df["II"] <= 0), "II", "ADDL > 0 needs II > 0")
    _check(df["SS"] == 2, "SS", "SS=2 (steady state added to earlier doses) is not supported")
    _check(~df["SS"].isin((0, 1)), "SS", "must be 0 or 1", df["SS"])
    _check((df["SS"] == 1) & (df["II"] <= 0), "II", "SS=1 needs II > 0")
    _check((df["SS"] == 1) & ~dose, "SS", "SS=1 on a non-dose record")
    if "DVID" in df.columns:
        _check(df["DVID"].isna() & (evid == 0), "DVID", "missing on an observation")
        df["DVID"] = df["DVID"].fillna(0.0 if df["DVID"].isna().all() else df["DVID"].min())
        _check(df["DVID"] < 0, "DVID", "must be >= 0", df["DVID"])
    if "CENS" in df.columns:
        df["CENS"] = df["CENS"].fillna(0)
        _check(~df["CENS"].isin((0, 1)), "CENS", "must be 0 or 1 (M3 left-censoring)", df["CENS"])
        _check((df["CENS"] == 1) & (evid != 0), "CENS", "censoring flag on a non-observation")
    if "LLOQ" in df.columns:
        _check(df["LLOQ"] < 0, "LLOQ", "negative limit", df["LLOQ"])
    # ID blocks must be contiguous, and time must not go back within an ID
    ids = df["ID"].to_numpy()
    starts = np.r_[True, ids[1:] != ids[:-1]]
    repeated = pd.Series(ids[starts]).duplicated(keep="first").to_numpy()
    if repeated.any():
        again = set(ids[starts][repeated])
        first_again = np.flatnonzero(starts)[repeated]
        raise NonmemDataError(
            f"column ID: ID(s) {sorted(int(i) for i in again)[:_SHOW]} appear in separate blocks "
            f"(again at rows {first_again[:_SHOW].tolist()}); NONMEM would read a new "
            "individual: sort the data by ID, then TIME"
        )
    t = df["TIME"].to_numpy()
    back = np.r_[False, (ids[1:] == ids[:-1]) & (t[1:] < t[:-1])]
    _check(back, "TIME", "time goes back within an ID (sort by ID, then TIME)", df["TIME"])
    for column in _INTEGER & set(df.columns):
        df[column] = df[column].astype("int64")
    ordered = [c for c in (*NONMEM_COLUMNS, *_OPTIONAL) if c in df.columns]
    return df[ordered + [c for c in df.columns if c not in ordered]]


@dataclass(frozen=True)
class NonmemData:
    """A validated NONMEM-style data set.

    Parameters
    ----------
    frame : pandas.DataFrame
        Column names are case-insensitive and upper-cased. Required: ``ID TIME EVID AMT CMT
        DV``; missing ``AMT RATE ADDL II SS`` values mean 0 (as in NONMEM), ``MDV`` is derived
        when absent (1 for EVID > 0 or a missing DV). Optional ``DVID`` (endpoint: 1 PK, 2 PD),
        ``CENS`` (1 = below the LLOQ, with DV or ``LLOQ`` holding the limit) and ``LLOQ``.
        Other columns are numeric covariates (missing values allowed).
    codes : mapping, optional
        Column → ``{text: integer code}`` for coded text columns (``DVID``, ``SEX``...).
    ids : mapping, optional
        ``ID`` → original subject id (e.g. a pseudonymous patient id).
    meta : mapping, optional
        Provenance and derivations (units, time origins, dropped records...).

    Raises
    ------
    NonmemDataError
        A ``ValueError`` naming the column and the 0-based rows that break a rule.

    Examples
    --------
    >>> data = NonmemData(pd.DataFrame({"ID": [1, 1], "TIME": [0.0, 1.0], "EVID": [1, 0],
    ...     "AMT": [100.0, 0.0], "CMT": [1, 2], "DV": [0.0, 1.2]}))
    >>> data.frame["MDV"].tolist()
    [1, 0]
    """

    frame: pd.DataFrame
    codes: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    ids: Mapping[int, str] = field(default_factory=dict)
    meta: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "frame", _normalize(self.frame))
        object.__setattr__(
            self, "codes", {str(k).upper(): dict(v) for k, v in dict(self.codes).items()}
        )
        object.__setattr__(self, "ids", {int(k): v for k, v in dict(self.ids).items()})
        object.__setattr__(self, "meta", dict(self.meta))

    def __repr__(self) -> str:
        f = self.frame
        return (
            f"<NonmemData: {self.n_subjects} subjects, {int((f['EVID'] == 0).sum())} "
            f"observations, {int(f['EVID'].isin((1, 4)).sum())} dose records; covariates "
            f"{', '.join(self.covariate_names) or 'none'}>"
        )

    @property
    def n_subjects(self) -> int:
        """Number of distinct IDs."""
        return int(self.frame["ID"].nunique())

    @property
    def covariate_names(self) -> tuple[str, ...]:
        """The non-standard columns."""
        std = {*NONMEM_COLUMNS, *_OPTIONAL}
        return tuple(c for c in self.frame.columns if c not in std)

    def duplicates(self) -> pd.DataFrame:
        """Return the records that share ``(ID, TIME, EVID, CMT, DVID)`` with another one.

        Replicate samples are legitimate, but they are also the signature of a merge gone wrong.
        """
        key = [c for c in _KEY if c in self.frame.columns]
        return self.frame[self.frame.duplicated(key, keep=False)]

    def to_arrays(
        self,
        *,
        dvid: int | str | Iterable[int | str] | None = None,
        ss_half_life: float | None = None,
        ss_tol: float = 1e-9,
    ) -> PopulationArrays:
        """Return the arrays the structural models evaluate.

        Parameters
        ----------
        dvid : int, str or iterable, optional
            Keep observations of these endpoints (codes, or names coded in ``codes["DVID"]``);
            default all.
        ss_half_life : float, optional
            The model's longest half-life (hours): required when a record has ``SS=1``, to
            generate the dose history that reaches steady state within ``ss_tol``.
        ss_tol : float
            Relative steady-state accuracy per exponential phase (see
            :func:`~twinlab.pkpd.dosing.ss_doses_needed`).

        Returns
        -------
        PopulationArrays
            Subjects are the sorted IDs; observations are ``EVID 0, MDV 0`` records; covariates
            are each subject's first non-missing value (baseline).

        Raises
        ------
        NonmemDataError
            For reset events (EVID 3/4) or an unknown endpoint.
        """
        f = self.frame
        evid = f["EVID"].to_numpy()
        _check(np.isin(evid, (3, 4)), "EVID", "reset events (3/4) are not supported by arrays")
        ids = np.unique(f["ID"].to_numpy())
        index = np.searchsorted(ids, f["ID"].to_numpy())
        obs = (evid == 0) & (f["MDV"].to_numpy() == 0)
        obs_dvid = f["DVID"].to_numpy() if "DVID" in f.columns else np.ones(len(f), np.int64)
        if dvid is not None:
            wanted = [dvid] if isinstance(dvid, (int, str, np.integer)) else list(dvid)
            mapping = self.codes.get("DVID", {})
            codes = []
            for w in wanted:
                if isinstance(w, str):
                    if w not in mapping:
                        raise NonmemDataError(
                            f"column DVID: unknown endpoint {w!r}; known {sorted(mapping)}"
                        )
                    codes.append(mapping[w])
                else:
                    codes.append(int(w))
            obs &= np.isin(obs_dvid, codes)
        cens = f["CENS"].to_numpy() == 1 if "CENS" in f.columns else np.zeros(len(f), dtype=bool)
        dv = f["DV"].to_numpy(dtype=float)
        lloq = f["LLOQ"].to_numpy(dtype=float) if "LLOQ" in f.columns else np.full(len(f), np.nan)
        lloq = np.where(cens, np.where(np.isnan(lloq), dv, lloq), np.nan)
        dose = evid == 1
        try:
            doses = _expand_table(
                index[dose],
                f["TIME"].to_numpy()[dose],
                f["AMT"].to_numpy()[dose],
                f["RATE"].to_numpy()[dose],
                f["CMT"].to_numpy()[dose],
                f["ADDL"].to_numpy()[dose],
                f["II"].to_numpy()[dose],
                f["SS"].to_numpy()[dose] == 1,
                n_subjects=len(ids),
                ss_half_life=ss_half_life,
                ss_tol=ss_tol,
            )
        except ValueError as err:
            raise NonmemDataError(f"column SS: {err}") from None
        covariates = {}
        for name in self.covariate_names:
            first = f.groupby("ID", sort=True)[name].first()  # first non-missing value
            covariates[name] = first.reindex(ids).to_numpy(dtype=float)
        return PopulationArrays(
            n_subjects=len(ids),
            subject_ids=ids,
            obs_subject=index[obs],
            obs_time=f["TIME"].to_numpy(dtype=float)[obs],
            obs_dv=dv[obs],
            obs_cens=cens[obs],
            obs_lloq=lloq[obs],
            obs_dvid=np.asarray(obs_dvid, dtype=np.int64)[obs],
            dose_time=doses.time,
            dose_amt=doses.amt,
            dose_rate=doses.rate,
            dose_duration=doses.duration,
            dose_cmt=doses.cmt,
            dose_ss=doses.ss,
            covariates=covariates,
        )


# --- reading and writing --------------------------------------------------------------------

_SEX = {"m": 0, "male": 0, "f": 1, "female": 1}


def _code_text(values: pd.Series, column: str) -> tuple[pd.Series, dict[str, int]]:
    """Integer codes for a text column: DVID 1.. in order of appearance, SEX male 0 / female 1,
    other columns 0.. in sorted order. Missing text stays missing."""
    text = values.dropna().astype(str)
    unique = list(dict.fromkeys(text))
    if column == "DVID":
        mapping = {v: i + 1 for i, v in enumerate(unique)}
    elif column == "SEX":
        unknown = [v for v in unique if v.strip().lower() not in _SEX]
        if unknown:
            raise NonmemDataError(
                f"column SEX: unknown values {unknown[:_SHOW]}; expected male/female or M/F"
            )
        mapping = {v: _SEX[v.strip().lower()] for v in unique}
    else:
        mapping = {v: i for i, v in enumerate(sorted(unique))}
    return values.map(lambda v: mapping.get(str(v)) if pd.notna(v) else np.nan), mapping


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + _SIDECAR)


# NM-TRAN reserved data item labels (``$INPUT``): the reserved one of ``A=B`` names the column
_RESERVED = frozenset({
    "ID", "L1", "L2", "DV", "MDV", "TIME", "DATE", "DAT1", "DAT2", "DAT3", "DROP", "SKIP",
    "EVID", "AMT", "RATE", "SS", "II", "ADDL", "CMT", "PCMT", "CALL", "CONT",
})  # fmt: skip
_NM_OPS = {
    ".EQ.": "==", ".EQN.": "==", ".NE.": "!=", ".NEN.": "!=", ".GT.": ">", ".GE.": ">=",
    ".LT.": "<", ".LE.": "<=", "==": "==", "/=": "!=", "!=": "!=", ">=": ">=", "<=": "<=",
    ">": ">", "<": "<", "=": "==",
}  # fmt: skip
_CONDITION = re.compile(
    r"^\s*([A-Za-z][A-Za-z0-9_]*)\s*(\.EQN?\.|\.NEN?\.|\.GT\.|\.GE\.|\.LT\.|\.LE\.|==|/=|!=|>=|<=|>|<|=)"
    r"\s*([-+]?[0-9A-Za-z_.]+|'[^']*'|\"[^\"]*\")\s*$",
    re.IGNORECASE,
)


def _conditions(spec: str | Iterable[str] | None, what: str) -> tuple[list[str], list[tuple]]:
    """Comment characters and ``(COL, op, value)`` conditions of ``IGNORE=`` / ``ACCEPT=``."""
    if spec is None:
        return [], []
    items = [spec] if isinstance(spec, str) else list(spec)
    chars: list[str] = []
    conds: list[tuple] = []
    for item in items:
        text = str(item).strip()
        if text.upper().startswith(what + "="):
            text = text[len(what) + 1 :].strip()
        if len(text) == 1 and what == "IGNORE":
            chars.append(text.upper() if text.isalpha() else text)
            continue
        body = text[1:-1] if text.startswith("(") and text.endswith(")") else text
        for part in body.split(","):
            m = _CONDITION.match(part)
            if not m:
                raise NonmemDataError(
                    f"{what}={text!r}: cannot read condition {part.strip()!r}; write "
                    f"COLUMN.OP.VALUE with OP one of EQ NE GT GE LT LE (e.g. {what}=(DVID.EQ.2))"
                )
            conds.append((m.group(1).upper(), _NM_OPS[m.group(2).upper()], m.group(3)))
    return chars, conds


def _is_comment(line: str, chars: Iterable[str]) -> bool:
    stripped = line.lstrip()
    for c in chars:
        if c == "@":
            if stripped[:1].isalpha() or stripped[:1] == "@":
                return True
        elif line[:1].upper() == c.upper():
            return True
    return False


def _split(line: str, sep: str) -> list[str]:
    if sep == ",":
        return [f.strip() for f in next(csv.reader([line], skipinitialspace=True))]
    if sep == "\t":
        return [f.strip() for f in line.split("\t")]
    return line.split()


def _label(token: str) -> str:
    """``CP=DV`` names the column DV (the reserved label of a synonym pair)."""
    token = token.strip().upper()
    if "=" in token:
        a, b = (x.strip() for x in token.split("=", 1))
        return b if b in _RESERVED and a not in _RESERVED else a
    return token


def _read_table(
    path: Path, chars: list[str], columns: Iterable[str] | None
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The data records of a NONMEM data file as text columns, and how it was read."""
    try:
        text = path.read_text(encoding="utf-8-sig", errors="replace")
    except FileNotFoundError:
        raise NonmemDataError(f"no data file {path}") from None
    lines = [(i + 1, ln.rstrip("\r\n")) for i, ln in enumerate(text.splitlines())]
    lines = [(n, ln) for n, ln in lines if ln.strip()]
    if not lines:
        raise NonmemDataError("the file is empty")
    header: list[str] | None = None
    header_line = 0
    if columns is not None:
        header = [_label(c) for c in columns]
    else:
        for n, ln in lines:
            body = ln.strip()
            if body[:1] in "#@":
                body = body[1:]
            elif body[:2].upper() in ("C ", "C,", "C\t") or body.upper() == "C":
                body = body[1:] if body[1:2] != "," else body  # keep an empty leading column
            tokens = [_label(t) for t in re.split(r"[\s,]+", body.strip(" ,\t")) if t]
            if "ID" in tokens and "TIME" in tokens:
                header_line = n
                first = body.strip()
                sep = "," if "," in first else ("\t" if "\t" in first else " ")
                header = [_label(t) for t in _split(first, sep)]
                if body.lstrip().startswith(",") or ln.strip()[:2].upper() == "C,":
                    header = ["C", *header] if header[:1] != ["C"] else header
                break
            if body.strip() and body.strip()[0] in "0123456789.-+":
                break  # data before any header
    if header is None:
        raise NonmemDataError(
            "no header line naming ID and TIME (NONMEM files often start it with # or C); "
            "give columns= with the $INPUT item names"
        )
    data = [(n, ln) for n, ln in lines if n > header_line and not _is_comment(ln, chars)]
    if not data:
        raise NonmemDataError("no data records after the header and comment lines")
    sample = [ln for _, ln in data[:50]]
    sep = (
        ","
        if any("," in ln for ln in sample)
        else ("\t" if any("\t" in ln for ln in sample) else " ")
    )
    rows = []
    if sep == ",":  # one reader for all records (quoted fields allowed)
        split = [[f.strip() for f in r] for r in csv.reader([ln for _, ln in data])]
    else:
        split = [_split(ln, sep) for _, ln in data]
    for (n, ln), fields in zip(data, split, strict=True):
        if len(fields) > len(header) and all(f == "" for f in fields[len(header) :]):
            fields = fields[: len(header)]
        if len(fields) != len(header):
            first = ln.strip()[:1]
            hint = (
                f"; is it a comment line? read it with ignore={first!r}"
                if first and not (first.isdigit() or first in ".-+")
                else ""
            )
            raise NonmemDataError(
                f"line {n} has {len(fields)} fields, the header names {len(header)} "
                f"({' '.join(header)}){hint}"
            )
        rows.append(fields)
    frame = pd.DataFrame(rows, columns=header)
    frame = frame.replace({".": np.nan, "": np.nan})
    drop = [
        c for c in frame.columns if c in ("DROP", "SKIP") or (c == "C" and frame[c].isna().all())
    ]
    frame = frame.drop(columns=drop)
    for column in frame.columns:
        num = pd.to_numeric(frame[column], errors="coerce")
        if num.notna().sum() == frame[column].notna().sum():
            frame[column] = num
    how = {
        "separator": {",": "comma", "\t": "tab", " ": "whitespace"}[sep],
        "header_line": header_line,
        "comment_lines": len(lines) - len(data) - int(header_line > 0),
    }
    return frame, how


def _filter(frame: pd.DataFrame, conds: list[tuple], what: str) -> np.ndarray:
    """Rows where any condition holds."""
    hit = np.zeros(len(frame), dtype=bool)
    for column, op, value in conds:
        if column not in frame.columns:
            raise NonmemDataError(
                f"{what} condition on column {column!r}, which the file does not have "
                f"(columns {' '.join(map(str, frame.columns))})"
            )
        s = frame[column]
        try:
            v: Any = float(value)
            left = pd.to_numeric(s, errors="coerce")
        except ValueError:
            v, left = value.strip("'\""), s.astype(str)
        with np.errstate(invalid="ignore"):
            test = {"==": left == v, "!=": left != v, ">": left > v, ">=": left >= v,
                    "<": left < v, "<=": left <= v}[op]  # fmt: skip
        hit |= np.asarray(test, dtype=bool)
    return hit


def _advan_cmt(model: Any) -> tuple[int, int, str]:
    """Dose and observation compartments of a derived CMT by the model's ADVAN convention."""
    if model is None:
        return (
            1,
            2,
            (
                "doses 1 (depot), observations 2 (central): the oral (ADVAN2) convention, as no "
                "model was given; pass model= for an IV model (ADVAN1: doses and observations 1)"
            ),
        )
    from twinlab.pkpd.models import get_model

    sm = get_model(model) if isinstance(model, str) else model
    if "ka" in sm.params:
        return 1, 2, f"doses 1 (depot), observations 2 (central), as {sm.name} (ADVAN2/4/12)"
    return 1, 1, f"doses and observations 1 (central), as {sm.name} (ADVAN1/3/11)"


def read_nonmem(
    path: str | os.PathLike[str],
    *,
    ignore: str | Iterable[str] | None = None,
    accept: str | Iterable[str] | None = None,
    columns: Iterable[str] | None = None,
    model: Any = None,
) -> NonmemData:
    """Read a NONMEM / nlmixr2 data file (CSV, or whitespace- or tab-separated).

    The file is read as NM-TRAN reads it: the separator (comma, tab or whitespace) is sniffed
    from the data records; the header is the first line naming ``ID`` and ``TIME``, also when
    it starts with ``#``, ``@`` or ``C`` (its ``CP=DV`` synonyms name the reserved column);
    ``.`` is a missing value; ``DROP``/``SKIP`` columns are dropped. ``ignore`` and ``accept``
    are the ``$DATA`` options: ``ignore="#"`` (NONMEM's default: lines starting with ``#``),
    ``"@"`` (lines whose first non-blank character is a letter or ``@``), ``"C"`` or any
    character (lines starting with it), and conditions ``"(DVID.EQ.2)"``, ``"(MDV.EQ.1,
    TIME.GT.24)"`` (``.EQ. .NE. .GT. .GE. .LT. .LE.``, ``.EQN. .NEN.``; a record is ignored
    when any condition holds, and with ``accept`` kept only when one holds).

    Column names are case-insensitive. nlmixr2's ``EVID 101`` (dose into the depot) becomes
    ``EVID 1, CMT 1``. Missing ``EVID`` is derived from ``AMT`` (1 where ``AMT > 0``),
    missing ``MDV`` from ``EVID`` and ``DV``, and missing ``CMT`` by the ADVAN convention of
    ``model``: oral models (ADVAN2/4/12) dose into ``CMT 1`` (depot) and observe ``CMT 2``
    (central), IV models (ADVAN1/3/11) dose and observe ``CMT 1``; without ``model`` the oral
    convention is used. Every derivation is recorded in ``meta["derived"]`` and reported with
    a :class:`NonmemDataWarning`, and :func:`write_nonmem` writes the derived columns out.
    Text ``DVID`` values are coded 1, 2... in order of appearance (``cp`` 1, ``pca`` 2 for
    warfarin), text ``SEX`` as male 0 / female 1, other text columns 0.. in sorted order;
    every mapping is kept in ``codes``. A ``<file>.meta.json`` beside the file (written by
    :func:`write_nonmem`) restores ``codes``, ``ids`` and ``meta``. Duplicated ``(ID, TIME,
    EVID, CMT, DVID)`` keys are reported with a :class:`NonmemDataWarning`.

    Parameters
    ----------
    path : path-like
    ignore, accept : str or iterable of str, optional
        ``$DATA`` ``IGNORE=`` / ``ACCEPT=`` options (with or without the ``IGNORE=`` prefix).
    columns : iterable of str, optional
        The ``$INPUT`` item names, for a file without a header line.
    model : str or StructuralModel, optional
        The structural model, for the ADVAN convention of a derived ``CMT``.

    Returns
    -------
    NonmemData

    Raises
    ------
    NonmemDataError
        Naming the file, the line or column and the rows, for any broken rule.

    Examples
    --------
    >>> import tempfile
    >>> text = "#ID TIME AMT DV\\nC a comment\\n1 0 100 .\\n1 1 0 2.5\\n"
    >>> with tempfile.TemporaryDirectory() as d:
    ...     p = Path(d) / "run1.dat"
    ...     _ = p.write_text(text)
    ...     with warnings.catch_warnings():
    ...         warnings.simplefilter("ignore")
    ...         data = read_nonmem(p, ignore="C", model="pk_1cmt_iv")
    >>> data.frame[["ID", "TIME", "EVID", "CMT", "MDV"]].values.tolist()
    [[1, 0, 1, 1, 1], [1, 1, 0, 1, 0]]
    """
    path = Path(path)
    derived: dict[str, str] = {}
    try:
        chars, ign = _conditions(ignore, "IGNORE")
        _, acc = _conditions(accept, "ACCEPT")
        if not chars:
            chars = ["#"]
        raw, how = _read_table(path, chars, columns)
        raw.columns = [str(c).strip().upper() for c in raw.columns]
        n_read = len(raw)
        keep = ~_filter(raw, ign, "IGNORE")
        if acc:
            keep &= _filter(raw, acc, "ACCEPT")
        raw = raw.loc[keep].reset_index(drop=True)
        if len(raw) == 0:
            raise NonmemDataError(f"IGNORE/ACCEPT left none of the {n_read} records")
    except NonmemDataError as err:
        raise NonmemDataError(f"{path}: {err}") from None
    raw.columns = [str(c).strip().upper() for c in raw.columns]
    codes: dict[str, dict[str, int]] = {}
    ids: dict[int, str] = {}
    meta: dict[str, Any] = {"source": str(path), "read": how}
    if ign or acc or n_read != len(raw):
        meta["filtered"] = {"ignore": [list(c) for c in ign], "accept": [list(c) for c in acc],
                            "records_read": n_read, "records_kept": len(raw)}  # fmt: skip
    side = _sidecar(path)
    real: list[str] = []  # columns written as whole numbers that hold reals
    if side.exists():
        stored = json.loads(side.read_text())
        real = list(stored.get("real_columns", []))
        codes = {k: dict(v) for k, v in stored.get("codes", {}).items()}
        ids = {int(k): v for k, v in stored.get("ids", {}).items()}
        meta = {**stored.get("meta", {}), **meta}
    try:
        if "EVID" in raw.columns:
            evid = pd.to_numeric(raw["EVID"], errors="coerce")
            nlmixr_dose = evid == 101
            if nlmixr_dose.any():
                raw["EVID"] = raw["EVID"].where(~nlmixr_dose, 1)
                if "CMT" in raw.columns:
                    raw["CMT"] = raw["CMT"].where(~nlmixr_dose, 1)
                meta["evid_101"] = int(nlmixr_dose.sum())
        elif "AMT" in raw.columns:
            amt = pd.to_numeric(raw["AMT"], errors="coerce").fillna(0)
            raw["EVID"] = (amt > 0).astype("int64")
            derived["EVID"] = "1 where AMT > 0, else 0"
        if "CMT" not in raw.columns and "EVID" in raw.columns:
            evid = pd.to_numeric(raw["EVID"], errors="coerce")
            dose_cmt, obs_cmt, convention = _advan_cmt(model)
            raw["CMT"] = np.where(evid.isin((1, 4)), dose_cmt, obs_cmt)
            derived["CMT"] = convention
        if "MDV" not in raw.columns and "EVID" in raw.columns:
            derived["MDV"] = "1 on dose and other records (EVID > 0) and where DV is missing"
        for column in raw.columns:
            s = raw[column]
            if pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
                continue
            if column in NONMEM_COLUMNS or column in ("CENS", "LLOQ"):
                continue  # NonmemData names the rows that are not numbers
            if pd.to_numeric(s, errors="coerce").notna().sum() == s.notna().sum():
                raw[column] = pd.to_numeric(s)
                continue
            if column in codes:  # restore with the stored mapping
                raw[column] = s.map(lambda v, m=codes[column]: m.get(str(v), np.nan))
                continue
            raw[column], codes[column] = _code_text(s, column)
        for column in real:
            if column in raw.columns and pd.api.types.is_integer_dtype(raw[column]):
                raw[column] = raw[column].astype("float64")
        if derived:
            meta["derived"] = {**meta.get("derived", {}), **derived}
        data = NonmemData(raw, codes=codes, ids=ids, meta=meta)
    except NonmemDataError as err:
        raise NonmemDataError(f"{path}: {err}") from None
    # MDV follows from EVID and DV as NONMEM itself defines it: recorded, not warned about
    ambiguous = {k: v for k, v in derived.items() if k != "MDV"}
    if ambiguous:
        warnings.warn(
            f"{path}: derived " + "; ".join(f"{k}: {v}" for k, v in ambiguous.items()),
            NonmemDataWarning,
            stacklevel=2,
        )
    dup = data.duplicates()
    if len(dup):
        warnings.warn(
            f"{path}: {len(dup)} records share (ID, TIME, EVID, CMT, DVID) with another one "
            f"(rows {dup.index[:_SHOW].tolist()}...); replicates or a bad merge? "
            "See NonmemData.duplicates()",
            NonmemDataWarning,
            stacklevel=2,
        )
    return data


def nonmem_text(frame: pd.DataFrame, *, digits: int = 6) -> pd.DataFrame:
    """The data set's cells as NONMEM users write them.

    A column whose values are all whole numbers (``ID EVID MDV CMT``, ``AMT 100``, a coded
    genotype) is written without a decimal point; any other number is rounded to ``digits``
    significant digits and written without an exponent (``TIME 0.416667``, not
    ``0.4166666666666667``); a missing value is ``.``.

    Parameters
    ----------
    frame : pandas.DataFrame
        Numeric columns.
    digits : int
        Significant digits of the non-integer columns.

    Returns
    -------
    pandas.DataFrame
        The same shape, every cell a string.

    Examples
    --------
    >>> frame = pd.DataFrame({"TIME": [0.0, 5 / 12], "CMT": [1.0, 2.0], "DV": [np.nan, 0.619]})
    >>> nonmem_text(frame).to_dict("list")
    {'TIME': ['0', '0.416667'], 'CMT': ['1', '2'], 'DV': ['.', '0.619']}
    """
    out = {}
    for column in frame.columns:
        values = pd.to_numeric(frame[column]).to_numpy(dtype=float)
        finite = values[np.isfinite(values)]
        whole = bool(np.all(finite == np.round(finite)) and np.all(np.abs(finite) < 2**53))
        if whole:
            cells = [("." if np.isnan(v) else str(int(v))) for v in values]
        else:
            cells = [
                "."
                if np.isnan(v)
                else np.format_float_positional(float(f"{v:.{digits}g}"), trim="-")
                for v in values
            ]
        out[column] = cells
    return pd.DataFrame(out, index=frame.index, columns=frame.columns)


def write_nonmem(data: NonmemData, path: str | os.PathLike[str], *, digits: int = 6) -> Path:
    """Write a data set as CSV (upper-case columns, ``.`` for missing) plus its metadata,
    both private to their owner (``0600``, or ``$TWINLAB_FILE_MODE``) whatever the umask.

    Whole-number columns are written as integers and other numbers to ``digits``
    significant digits (:func:`nonmem_text`), as NONMEM users expect. ``codes``, ``ids``
    and ``meta`` go to ``<file>.meta.json`` beside the CSV, so :func:`read_nonmem` restores
    the same :class:`NonmemData` (numbers rounded). NONMEM and nlmixr2 read the CSV
    directly.

    Parameters
    ----------
    data : NonmemData
    path : path-like
    digits : int
        Significant digits of the non-integer columns (TIME, DV, continuous covariates).

    Returns
    -------
    pathlib.Path
        The CSV file.
    """
    from twinlab.security.filemodes import file_mode, private_umask, write_atomic

    path = Path(path)
    side = {
        # written without a decimal point, read back as the reals they are
        "real_columns": [c for c in data.frame.columns if data.frame[c].dtype.kind == "f"],
        "codes": data.codes,
        "ids": {str(k): v for k, v in data.ids.items()},
        "meta": {k: v for k, v in data.meta.items() if k != "source"},
    }
    mode = file_mode()  # patient-level rows: private whatever the umask
    with private_umask():
        path.parent.mkdir(parents=True, exist_ok=True)
        for file in (path, _sidecar(path)):
            if file.exists():  # an earlier file keeps its mode when rewritten: not readable
                os.chmod(file, mode)
        # each file replaced in one step: a killed run leaves the old one or the new one
        write_atomic(path, nonmem_text(data.frame, digits=digits).to_csv(index=False))
        write_atomic(_sidecar(path), json.dumps(side, indent=1, sort_keys=True, default=str))
    return path


# --- from the harmonized timeline -----------------------------------------------------------

_ROUTE_NAMES = {
    "oral": "oral", "po": "oral", "by mouth": "oral", "enteral": "oral",
    "subcutaneous": "sc", "sc": "sc", "sq": "sc", "subcut": "sc",
    "intramuscular": "im", "im": "im",
    "intravenous": "iv", "iv": "iv", "intravenous bolus": "iv", "intravenous drip": "iv",
    "iv bolus": "iv", "iv infusion": "iv", "infusion": "iv",
}  # fmt: skip


def _select(events: pd.DataFrame, code: str) -> pd.DataFrame:
    if "|" in code:
        system, code = code.split("|", 1)
        return events[(events["code"] == code) & (events["code_system"] == system)]
    return events[events["code"] == code]


def _qualifiers(events: pd.DataFrame) -> list[dict[str, Any]]:
    out = []
    for text in events["qualifiers"]:
        value = json.loads(text) if isinstance(text, str) and text else {}
        out.append(value if isinstance(value, dict) else {})
    return out


def _factor(unit: Any, target: str, what: str) -> float:
    from twinlab.terminology import convert

    if pd.isna(unit):
        raise NonmemDataError(f"{what}: no unit to convert to {target}")
    try:
        return float(convert(1.0, str(unit), target))
    except ValueError as err:
        raise NonmemDataError(f"{what}: cannot convert {unit} to {target} ({err})") from None


def _event_rows(events: pd.DataFrame, mask: np.ndarray, what: str) -> str:
    ids = events["event_id"].to_numpy()[np.asarray(mask, dtype=bool)]
    more = f" … {len(ids) - _SHOW} more" if len(ids) > _SHOW else ""
    return f"{what} (events {', '.join(map(str, ids[:_SHOW]))}{more})"


def _observations(
    events: pd.DataFrame, *, dvid: int, target: str | None, label: str, meta: dict[str, Any]
) -> pd.DataFrame:
    """Observation records of one endpoint; BLQ samples become CENS=1, DV=LLOQ."""
    q = _qualifiers(events)
    blq = np.array([bool(x.get("blq", False)) for x in q])
    lloq = np.array([float(x["lloq"]) if x.get("lloq") is not None else np.nan for x in q])
    value = events["value_num"].to_numpy(dtype=float)
    units = events["unit"].dropna().unique()
    if len(units) > 1 and target is None:
        raise NonmemDataError(f"{label}: several units {sorted(units)}; harmonize first")
    code_unit = events["unit"].mode().iloc[0] if events["unit"].notna().any() else None
    unit = events["unit"].where(events["unit"].notna(), code_unit)
    if target is not None and len(events):
        if unit.isna().any():
            raise NonmemDataError(
                _event_rows(events, unit.isna(), f"{label}: no unit known for the samples")
            )
        factors = {u: _factor(u, target, f"{label} unit") for u in unit.unique()}
        factor = unit.map(factors).to_numpy(dtype=float)
        value, lloq = value * factor, lloq * factor
    no_limit = blq & np.isnan(lloq)
    if no_limit.any():
        raise NonmemDataError(_event_rows(events, no_limit, f"{label}: BLQ sample without lloq"))
    dv = np.where(blq, lloq, value)
    missing = np.isnan(dv)
    meta.setdefault("dropped", {})[f"{label}_without_value"] = int(missing.sum())
    meta.setdefault("units", {})[f"DV{dvid}"] = target or (str(code_unit) if code_unit else None)
    return pd.DataFrame(
        {
            "patient_id": events["patient_id"].to_numpy(),
            "hours": events["hours_from_index"].to_numpy(dtype=float),
            "EVID": 0,
            "AMT": 0.0,
            "RATE": 0.0,
            "DV": dv,
            "DVID": dvid,
            "CENS": blq.astype("int64"),
            "LLOQ": lloq,
        }
    )[~missing]


def _doses(
    events: pd.DataFrame, *, default_route: str | None, meta: dict[str, Any]
) -> pd.DataFrame:
    q = _qualifiers(events)
    routes = []
    for x in q:
        # a FHIR route given as text only is the (scrubbed) qualifier route_text
        text = x.get("route", x.get("route_text", default_route))
        routes.append(None if text is None else _ROUTE_NAMES.get(str(text).strip().lower()))
    unknown = np.array([r is None for r in routes])
    if unknown.any():
        seen = sorted(
            {str(x.get("route", x.get("route_text"))) for x, u in zip(q, unknown, strict=True) if u}
        )
        raise NonmemDataError(
            _event_rows(
                events,
                unknown,
                f"dose route missing or unknown {seen}; give default_route= or a route qualifier",
            )
        )
    factors = {u: _factor(u, "mg", "dose unit") for u in events["unit"].unique()}
    factor = events["unit"].map(factors).to_numpy(dtype=float)
    amt = events["value_num"].to_numpy(dtype=float) * factor
    if np.isnan(amt).any():
        raise NonmemDataError(_event_rows(events, np.isnan(amt), "dose without an amount"))
    duration = np.zeros(len(events))
    span = (events["end_time"] - events["time"]).dt.total_seconds().to_numpy() / 3600.0
    for i, x in enumerate(q):
        if x.get("infusion_duration_h"):
            duration[i] = float(x["infusion_duration_h"])
        elif x.get("rate"):
            duration[i] = amt[i] / (float(x["rate"]) * factor[i])
        elif routes[i] == "iv" and np.isfinite(span[i]) and span[i] > 0:
            duration[i] = span[i]
    iv = np.array([r == "iv" for r in routes])
    duration = np.where(iv, duration, 0.0)
    rate = np.where(duration > 0, amt / np.where(duration > 0, duration, 1.0), 0.0)
    zero = amt == 0
    meta.setdefault("dropped", {})["zero_amount_doses"] = int(zero.sum())
    out = pd.DataFrame(
        {
            "patient_id": events["patient_id"].to_numpy(),
            "hours": events["hours_from_index"].to_numpy(dtype=float),
            "EVID": 1,
            "AMT": amt,
            "RATE": rate,
            "DV": np.nan,
            "route": routes,
        }
    )
    return out[~zero]


def from_timeline(
    cohort: Cohort,
    *,
    conc_code: str,
    pd_code: str | None = None,
    covariates: Mapping[str, str] | None = None,
    dose_code: str | None = None,
    default_route: str | None = None,
    missing_level: str | None = "unknown",
) -> NonmemData:
    """Build a NONMEM data set from a harmonized cohort.

    Parameters
    ----------
    cohort : Cohort
    conc_code : str
        Event code (or ``"system|code"``) of the drug concentrations (converted to mg/L).
        Samples with ``blq: true`` become ``CENS=1`` with ``DV = LLOQ`` (from the ``lloq``
        qualifier, in the sample's unit or, when it has none, the code's usual unit).
    pd_code : str, optional
        Event code of a PD endpoint, recorded as ``DVID 2`` in its own unit.
    covariates : mapping of str to str, optional
        Column name → ``cov_*`` column of ``patients``, ``"sex"`` (coded M 0 / F 1), or an
        event code (baseline value by :meth:`Cohort.covariates`). The derived ``cov_age``
        and ``cov_crcl_ml_min`` (:func:`twinlab.pkpd.covariates.add_derived_covariates`)
        can be named too; any other ``cov_*`` name must be a column of ``patients`` (never
        read as an event code). Default: every ``cov_*`` column, named upper-case without
        the prefix. Text values are coded (see ``codes``).
    dose_code : str, optional
        Event code of the doses; default every ``dose`` event.
    default_route : str, optional
        Route of doses without a ``route`` qualifier (otherwise an error).
    missing_level : str or None, default "unknown"
        The level a text covariate of ``patients`` (e.g. a genotype) takes where it is
        missing, so no subject is dropped for a missing covariate; ``None`` leaves it
        missing.

    Returns
    -------
    NonmemData
        IDs 1..n in the cohort's patient order (``ids`` maps back); ``TIME`` is hours from the
        subject's first dose (``hours_from_index`` minus ``meta["time_origin_hours"][ID]``, or
        from the first observation when a sample precedes the first dose). Events flagged
        ``duplicate_of`` or ``entered-in-error`` are skipped, zero-amount doses (placebo) and
        samples without a value are dropped; ``meta["dropped"]`` counts them. Oral doses go to
        ``CMT 1`` and IV doses and observations to ``CMT 2``; in IV-only data, all to ``CMT 1``.
        At equal times an observation comes before a dose (a trough sample).

    Raises
    ------
    NonmemDataError
        For unknown routes or units, BLQ samples without a limit, doses without an amount, or
        events without ``hours_from_index``.
    """
    ev = cohort.events
    copies = ev["qualifiers"].str.contains('"duplicate_of"', regex=False, na=False).to_numpy()
    erroneous = (ev["status"] == "entered-in-error").fillna(False).to_numpy()
    meta: dict[str, Any] = {
        "dropped": {
            "duplicate_of": int(copies.sum()),
            "entered_in_error": int((erroneous & ~copies).sum()),
        },
        "conc_code": conc_code,
        "pd_code": pd_code,
        "dose_code": dose_code,
    }
    ev = ev[~copies & ~erroneous]
    dose_ev = ev[ev["domain"] == "dose"]
    if dose_code is not None:
        dose_ev = _select(dose_ev, dose_code)
    parts = [_doses(dose_ev, default_route=default_route, meta=meta)]
    conc_ev = _select(ev[ev["domain"] != "dose"], conc_code)
    if conc_ev.empty:
        raise NonmemDataError(f"no events with code {conc_code!r} (conc_code)")
    parts.append(_observations(conc_ev, dvid=1, target="mg/L", label="concentration", meta=meta))
    if pd_code is not None:
        pd_ev = _select(ev[ev["domain"] != "dose"], pd_code)
        if pd_ev.empty:
            raise NonmemDataError(f"no events with code {pd_code!r} (pd_code)")
        parts.append(_observations(pd_ev, dvid=2, target=None, label="pd", meta=meta))
    rec = pd.concat(parts, ignore_index=True)
    no_time = rec["hours"].isna().to_numpy()
    if no_time.any():
        raise NonmemDataError(
            f"{int(no_time.sum())} records have no hours_from_index (patient without index date): "
            f"patients {sorted(rec.loc[no_time, 'patient_id'].unique())[:_SHOW]}"
        )
    oral_like = rec["route"].isin(("oral", "sc", "im")).any() if "route" in rec else False
    central = 2 if oral_like or rec["EVID"].eq(1).sum() == 0 else 1
    is_dose = rec["EVID"] == 1
    rec["CMT"] = np.where(
        is_dose & rec["route"].isin(("oral", "sc", "im")).fillna(False), 1, central
    )
    order = [p for p in cohort.patient_ids if p in set(rec["patient_id"])]
    id_of = {p: i + 1 for i, p in enumerate(order)}
    rec["ID"] = rec["patient_id"].map(id_of).astype("int64")
    first_dose = rec[is_dose].groupby("ID")["hours"].min()
    first_any = rec.groupby("ID")["hours"].min()
    origin = first_dose.reindex(first_any.index).fillna(first_any).clip(upper=first_any)
    rec["TIME"] = rec["hours"] - rec["ID"].map(origin)
    rec = rec.sort_values(["ID", "TIME", "EVID", "DVID"], kind="stable", na_position="last")
    rec["DVID"] = rec["DVID"].fillna(1)
    rec["CENS"] = rec["CENS"].fillna(0)
    frame = rec[["ID", "TIME", "EVID", "AMT", "RATE", "CMT", "DV", "DVID", "CENS", "LLOQ"]]
    frame = frame.reset_index(drop=True)
    codes: dict[str, dict[str, int]] = {}
    cov = _covariates(cohort, covariates, codes, meta, missing_level=missing_level)
    if cov is not None:
        per_row = cov.reindex(rec["patient_id"].to_numpy()).reset_index(drop=True)
        frame = pd.concat([frame, per_row], axis=1)
    meta["time_origin_hours"] = {int(k): float(v) for k, v in origin.items()}
    meta["n_doses"] = int(is_dose.sum())
    return NonmemData(frame, codes=codes, ids={v: k for k, v in id_of.items()}, meta=meta)


#: covariates derived from the timeline (:func:`twinlab.pkpd.covariates.add_derived_covariates`)
_DERIVED = frozenset({"cov_age", "cov_crcl_ml_min"})


def _covariates(
    cohort: Cohort,
    covariates: Mapping[str, str] | None,
    codes: dict[str, dict[str, int]],
    meta: dict[str, Any],
    *,
    missing_level: str | None = "unknown",
) -> pd.DataFrame | None:
    patients = cohort.patients.set_index("patient_id")
    if covariates is None:
        covariates = {
            str(c)[4:].upper(): str(c) for c in patients.columns if str(c).startswith("cov_")
        }
    if not covariates:
        return None
    wanted = {str(src) for src in covariates.values()}
    if wanted & (_DERIVED - set(patients.columns)):
        from twinlab.pkpd.covariates import add_derived_covariates

        derived = add_derived_covariates(cohort.patients).set_index("patient_id")
        patients = patients.assign(
            **{c: derived[c] for c in _DERIVED if c in derived and c not in patients}
        )
    absent = sorted(s for s in wanted if s.startswith("cov_") and s not in patients.columns)
    if absent:
        have = sorted({*(c for c in patients.columns if str(c).startswith("cov_")), *_DERIVED})
        raise NonmemDataError(
            f"covariate source(s) {absent} are not patient columns (have: {', '.join(have)}; "
            "cov_crcl_ml_min needs cov_weight_kg and cov_creatinine_umol_l)"
        )
    event_codes = {
        name: src
        for name, src in covariates.items()
        if src not in patients.columns and src != "sex"
    }
    from_events = cohort.covariates(event_codes) if event_codes else None
    out = pd.DataFrame(index=patients.index)
    units: dict[str, Any] = {}
    for name, src in covariates.items():
        column = str(name).upper()
        if column in NONMEM_COLUMNS or column in _OPTIONAL:
            raise NonmemDataError(f"covariate name {column!r} clashes with a NONMEM column")
        if src == "sex":
            values = patients["sex"]
            out[column] = values.map(lambda v: {"M": 0, "F": 1}.get(v, np.nan)).astype(float)
            codes[column] = {"M": 0, "F": 1}
            continue
        if from_events is not None and name in event_codes:
            values = from_events[name]
            units[column] = from_events.attrs.get("units", {}).get(name)
        else:
            values = patients[src]
            if missing_level is not None and not pd.api.types.is_numeric_dtype(values):
                values = values.fillna(missing_level)
        if pd.api.types.is_numeric_dtype(values):
            out[column] = values.astype(float)
        else:
            coded, mapping = _code_text(values, column if column != "SEX" else "_")
            out[column] = coded.astype(float)
            codes[column] = mapping
    meta["covariate_sources"] = dict(covariates)
    meta.setdefault("units", {}).update({k: v for k, v in units.items() if v})
    return out
