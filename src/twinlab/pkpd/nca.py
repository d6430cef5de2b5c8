"""Non-compartmental analysis (NCA) of observed concentration-time data.

The first thing a pharmacometrician computes, model-free, per subject and dose:

- ``cmax``, ``tmax``: the largest observed concentration and its first time;
- ``tlast``, ``clast``: the last time with a positive (quantifiable) concentration;
- ``auclast``: AUC from the first sample to ``tlast`` by the *linear-up / log-down*
  trapezoidal rule (linear where the concentration rises or stays, logarithmic
  ``(c1 - c2) dt / ln(c1 / c2)`` where it falls and both are positive; exact for a
  mono-exponential decline);
- ``lambda_z``: the terminal rate constant, minus the slope of an unweighted least-squares fit
  of ``ln C`` on time over the last ``n`` positive points. **Selection rule** (as PKNCA's
  default and WinNonlin's "best fit"): every window of the last ``n >= 3`` positive points
  after ``tmax`` (Cmax itself excluded) is fitted; windows with a non-negative slope are
  dropped; the window with the largest adjusted R² is taken, and among windows whose adjusted
  R² is within ``1e-4`` of the largest, the one with the most points. No window: NaN (and a
  reason in ``lambda_z_note``);
- ``half_life`` = ln 2 / λz; ``aucinf_obs`` = AUClast + Clast / λz; ``aucinf_pred`` with the
  fitted Clast; ``auc_pct_extrap`` (percent of AUCinf,obs extrapolated);
- with a dose: ``cl_f`` = Dose / AUCinf,obs (CL/F after an extravascular dose, CL after an IV
  dose) and ``vz_f`` = Dose / (λz AUCinf,obs).

AUC starts at the first sample: give the pre-dose sample (time 0) when there is one. Units are
those of the inputs (``cl_f`` in dose units per concentration·time units).

Checked in ``tests/pkpd/test_pkpd_nca.py`` against analytic values of simulated 1-compartment
profiles, a hand-worked theophylline profile, and the published NCA of the theophylline data
(NonCompart's ``tblNCA``, which follows Phoenix WinNonlin; subjects 1-6, λz, its window, Clast
predicted, AUClast, AUCinf, % extrapolated, Vz/F and CL/F agree to 1e-9 with
``auc_method="linear"``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

__all__ = ["NCA_COLUMNS", "NCAResult", "nca", "nca_table"]

_R2_TOLERANCE = 1e-4


@dataclass(frozen=True)
class NCAResult:
    """NCA parameters of one profile (see the module docstring for each definition)."""

    n_obs: int
    cmax: float
    tmax: float
    tlast: float
    clast: float
    auclast: float
    lambda_z: float
    lambda_z_n: int
    lambda_z_start: float
    lambda_z_end: float
    r2_adj: float
    half_life: float
    clast_pred: float
    aucinf_obs: float
    aucinf_pred: float
    auc_pct_extrap: float
    dose: float
    cl_f: float
    vz_f: float
    lambda_z_note: str = ""

    def to_dict(self) -> dict[str, float | int | str]:
        """The fields as a plain dict."""
        return asdict(self)


#: Column order of :func:`nca_table` (after the subject column).
NCA_COLUMNS: tuple[str, ...] = tuple(NCAResult.__dataclass_fields__)


def _auc(t: np.ndarray, c: np.ndarray, method: str) -> float:
    dt = np.diff(t)
    c1, c2 = c[:-1], c[1:]
    down = (c2 < c1) & (c1 > 0) & (c2 > 0) & (method == "linear-log")
    lin = 0.5 * dt * (c1 + c2)
    with np.errstate(divide="ignore", invalid="ignore"):
        log = np.where(down, (c1 - c2) * dt / np.log(np.where(down, c1 / c2, 2.0)), 0.0)
    return float(np.sum(np.where(down, log, lin)))


def _lambda_z(t: np.ndarray, c: np.ndarray, i_max: int, min_points: int):
    """Best terminal window: (lambda_z, n, t_start, t_end, r2_adj, intercept, note)."""
    after = np.arange(t.size) > i_max
    pos = c > 0
    idx = np.flatnonzero(after & pos)
    if idx.size < min_points:
        return (math.nan, 0, math.nan, math.nan, math.nan, math.nan,
                f"fewer than {min_points} positive points after Tmax")  # fmt: skip
    fits = []
    for n in range(min_points, idx.size + 1):
        sel = idx[-n:]
        x, y = t[sel], np.log(c[sel])
        xm, ym = x.mean(), y.mean()
        sxx = float(np.sum((x - xm) ** 2))
        if sxx <= 0:
            continue
        slope = float(np.sum((x - xm) * (y - ym)) / sxx)
        intercept = ym - slope * xm
        ss_res = float(np.sum((y - intercept - slope * x) ** 2))
        ss_tot = float(np.sum((y - ym) ** 2))
        r2 = 1.0 - ss_res / ss_tot if ss_tot > 0 else 1.0
        r2_adj = 1.0 - (1.0 - r2) * (n - 1) / (n - 2)
        if slope < 0:
            fits.append((r2_adj, n, -slope, float(x[0]), float(x[-1]), intercept))
    if not fits:
        return (math.nan, 0, math.nan, math.nan, math.nan, math.nan,
                "no terminal window with a declining log-linear fit")  # fmt: skip
    best = max(f[0] for f in fits)
    r2_adj, n, lz, t0, t1, intercept = max(
        (f for f in fits if f[0] >= best - _R2_TOLERANCE), key=lambda f: f[1]
    )
    return lz, n, t0, t1, r2_adj, intercept, ""


def nca(
    time: np.ndarray,
    conc: np.ndarray,
    dose: float | None = None,
    *,
    min_points: int = 3,
    auc_method: str = "linear-log",
) -> NCAResult:
    """NCA of one concentration-time profile.

    Parameters
    ----------
    time, conc : array-like
        Sampling times (sorted, distinct) and concentrations (>= 0; NaN rows are dropped).
    dose : float, optional
        The dose, for CL/F and Vz/F (NaN without one).
    min_points : int
        Fewest points of a λz window (3, as PKNCA and WinNonlin).
    auc_method : str
        ``"linear-log"`` (linear-up / log-down, the default) or ``"linear"`` (linear
        trapezoid throughout: WinNonlin's "Linear Trapezoidal" and NonCompart's default).

    Returns
    -------
    NCAResult

    Raises
    ------
    ValueError
        For unsorted or repeated times, negative concentrations, or fewer than two samples.

    Examples
    --------
    A mono-exponential decline ``10 exp(-0.2 t)`` (log-down AUC is exact for it):

    >>> t = np.array([0.0, 1, 2, 4, 8, 12])
    >>> r = nca(t, 10 * np.exp(-0.2 * t), dose=100.0)
    >>> round(r.lambda_z, 12), round(r.aucinf_obs, 10), round(r.cl_f, 10)
    (0.2, 50.0, 2.0)
    """
    t = np.asarray(time, dtype=float).reshape(-1)
    c = np.asarray(conc, dtype=float).reshape(-1)
    if t.size != c.size:
        raise ValueError(f"time and conc differ in length ({t.size} vs {c.size})")
    keep = np.isfinite(t) & np.isfinite(c)
    t, c = t[keep], c[keep]
    if t.size < 2:
        raise ValueError(f"NCA needs at least 2 samples with a time and a value, not {t.size}")
    if np.any(np.diff(t) <= 0):
        raise ValueError("NCA needs sorted, distinct sampling times")
    if np.any(c < 0):
        raise ValueError("NCA needs concentrations >= 0 (BLQ as 0 or left out)")
    if auc_method not in ("linear-log", "linear"):
        raise ValueError(f"auc_method must be 'linear-log' or 'linear', not {auc_method!r}")
    i_max = int(np.argmax(c))
    cmax, tmax = float(c[i_max]), float(t[i_max])
    pos = np.flatnonzero(c > 0)
    if pos.size == 0:
        i_last = t.size - 1
        tlast, clast = math.nan, 0.0
        auclast = 0.0
    else:
        i_last = int(pos[-1])
        tlast, clast = float(t[i_last]), float(c[i_last])
        auclast = _auc(t[: i_last + 1], c[: i_last + 1], auc_method)
    lz, n, t0, t1, r2_adj, intercept, note = _lambda_z(
        t[: i_last + 1], c[: i_last + 1], i_max, min_points
    )
    half = math.log(2.0) / lz if lz > 0 else math.nan
    clast_pred = math.exp(intercept - lz * tlast) if lz > 0 else math.nan
    inf_obs = auclast + clast / lz if lz > 0 else math.nan
    inf_pred = auclast + clast_pred / lz if lz > 0 else math.nan
    pct = 100.0 * (inf_obs - auclast) / inf_obs if lz > 0 and inf_obs > 0 else math.nan
    d = math.nan if dose is None else float(dose)
    cl = d / inf_obs if lz > 0 and inf_obs > 0 else math.nan
    vz = cl / lz if lz > 0 else math.nan
    return NCAResult(
        n_obs=int(t.size), cmax=cmax, tmax=tmax, tlast=tlast, clast=clast, auclast=auclast,
        lambda_z=lz, lambda_z_n=n, lambda_z_start=t0, lambda_z_end=t1, r2_adj=r2_adj,
        half_life=half, clast_pred=clast_pred, aucinf_obs=inf_obs, aucinf_pred=inf_pred,
        auc_pct_extrap=pct, dose=d, cl_f=cl, vz_f=vz, lambda_z_note=note,
    )  # fmt: skip


def nca_table(
    frame: pd.DataFrame,
    *,
    id_col: str = "ID",
    time_col: str = "TIME",
    conc_col: str = "DV",
    dose_col: str | None = "AMT",
    min_points: int = 3,
    auc_method: str = "linear-log",
    dose: float | None = None,
) -> pd.DataFrame:
    """NCA of every subject of a NONMEM-style frame (one single-dose profile per subject).

    Observation rows are those with ``EVID == 0`` (or ``MDV == 0``; every row without
    either column); the dose of a subject is the sum of ``dose_col`` over its dose rows
    (``EVID`` 1 or 4, or ``AMT > 0``), or ``dose`` for every subject when given. Column
    names match case-insensitively; ``min_points`` and ``auc_method`` are those of :func:`nca`.

    Returns
    -------
    pandas.DataFrame
        One row per subject: the subject column, then :data:`NCA_COLUMNS`.

    Raises
    ------
    ValueError
        For a missing column, or a subject whose profile NCA refuses (the subject is named).
    """
    cols = {str(c).upper(): c for c in frame.columns}

    def col(name: str | None) -> str | None:
        if name is None:
            return None
        if name in frame.columns:
            return name
        if name.upper() in cols:
            return cols[name.upper()]
        raise ValueError(f"nca_table: no column {name!r} (have {list(frame.columns)})")

    idc, tc, cc = col(id_col), col(time_col), col(conc_col)
    dc = col(dose_col) if dose_col is not None and dose_col.upper() in cols else None
    evid = cols.get("EVID")
    mdv = cols.get("MDV")
    if evid is not None:
        is_obs = frame[evid].to_numpy() == 0
        is_dose = np.isin(frame[evid].to_numpy(), (1, 4))
    elif mdv is not None:
        is_obs = frame[mdv].to_numpy() == 0
        is_dose = ~is_obs
    else:
        is_obs = np.ones(len(frame), dtype=bool)
        is_dose = np.zeros(len(frame), dtype=bool)
    if dc is not None and evid is None:
        amt = pd.to_numeric(frame[dc], errors="coerce").fillna(0).to_numpy()
        is_dose = is_dose | (amt > 0)
        is_obs = is_obs & ~(amt > 0)
    rows = []
    for sid, sub in frame.groupby(idc, sort=False):
        m = frame.index.isin(sub.index)
        obs = frame.loc[m & is_obs].sort_values(tc)
        amount = dose
        if amount is None and dc is not None and (m & is_dose).any():
            amount = float(pd.to_numeric(frame.loc[m & is_dose, dc]).sum())
        try:
            res = nca(obs[tc].to_numpy(float), obs[cc].to_numpy(float), amount,
                      min_points=min_points, auc_method=auc_method)  # fmt: skip
        except ValueError as exc:
            raise ValueError(f"subject {sid}: {exc}") from None
        rows.append({idc: sid, **res.to_dict()})
    return pd.DataFrame(rows, columns=[idc, *NCA_COLUMNS])
