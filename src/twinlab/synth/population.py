"""Subjects of the synthetic study: design, covariates, genotypes and individual parameters."""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from twinlab.synth import truth as T
from twinlab.synth.config import SynthConfig


def quota(rng: np.random.Generator, n: int, fraction: float) -> np.ndarray:
    """Return a boolean mask with exactly ``round(fraction * n)`` (at least one) ``True``.

    Parameters
    ----------
    rng
        Source of the random positions.
    n
        Length of the mask.
    fraction
        Share of ``True`` entries; ``0`` gives none.
    """
    k = 0 if fraction <= 0 or n == 0 else min(n, max(1, round(fraction * n)))
    mask = np.zeros(n, dtype=bool)
    mask[rng.permutation(n)[:k]] = True
    return mask


def round_significant(values: ArrayLike, digits: int) -> NDArray[np.float64]:
    """Round to ``digits`` significant decimal digits, correctly rounded.

    Goes through Python's float-to-text conversion, which is exact and the same on every
    machine, rather than a ``10 ** floor(log10(x))`` scale whose ``log10`` (like ``exp`` and
    ``pow``) differs in the last bit between CPUs.

    Parameters
    ----------
    values
        Numbers to round; NaN and infinities pass through.
    digits
        Significant digits to keep, ``>= 1``.

    Returns
    -------
    numpy.ndarray
        The rounded values, float64, in the shape of ``values``.

    Examples
    --------
    >>> round_significant([1.23456789, 1234567.89, -0.000123456789], 6).tolist()
    [1.23457, 1234570.0, -0.000123457]
    """
    if digits < 1:
        raise ValueError(f"digits must be >= 1, got {digits}")
    a = np.asarray(values, dtype=float)
    return np.array([float(f"{v:.{digits}g}") for v in a.ravel().tolist()]).reshape(a.shape)


def _design(config: SynthConfig, rng: np.random.Generator) -> pd.DataFrame:
    n = config.n_patients
    sites = np.array(sorted(T.SITES))
    site = sites[rng.integers(0, len(sites), n)]
    screen_day = rng.integers(0, T.ENROLMENT_DAYS, n)
    screen_clock = 9 * 60 + rng.integers(0, 240, n)
    lo, hi = T.SCREENING_TO_DAY1_DAYS
    to_day1 = rng.integers(lo, hi + 1, n)
    n_fail = round(config.screen_fail_fraction * n)
    fail = np.zeros(n, dtype=bool)
    fail[rng.permutation(n)[:n_fail]] = True
    # subject numbers per site in order of screening
    order = np.lexsort((np.arange(n), screen_clock, screen_day, site))
    seq = np.empty(n, dtype=np.int64)
    for s in sites:
        idx = order[site[order] == s]
        seq[idx] = np.arange(1, len(idx) + 1)
    width = max(4, len(str(int(seq.max()))))
    subjid = np.array([f"{s}-{q:0{width}d}" for s, q in zip(site, seq, strict=True)])
    start = np.datetime64(config.start_date, "D")
    screen_date = start + screen_day.astype("timedelta64[D]")
    table = pd.DataFrame(
        {
            "USUBJID": [f"{config.study_id}-{s}" for s in subjid],
            "SUBJID": subjid,
            "SITEID": site,
            "screen_fail": fail,
            "screen_dt": screen_date.astype("datetime64[m]")
            + screen_clock.astype("timedelta64[m]"),
            "day1_date": np.where(fail, np.datetime64("NaT"), screen_date + to_day1),
        }
    )
    # randomization in order of first dose, permuted blocks of 6
    rand_idx = np.flatnonzero(~fail)
    rand_idx = rand_idx[np.lexsort((table["USUBJID"].to_numpy()[rand_idx], to_day1[rand_idx]
                                    + screen_day[rand_idx]))]  # fmt: skip
    n_blocks = -(-len(rand_idx) // T.RANDOMIZATION_BLOCK)
    codes = np.array([a for a, _, _ in T.ARMS])
    per_block = T.RANDOMIZATION_BLOCK // len(codes)
    blocks = [rng.permutation(np.repeat(codes, per_block)) for _ in range(n_blocks)]
    arm = np.full(n, T.SCREEN_FAIL_ARMCD, dtype=object)
    if len(rand_idx):
        arm[rand_idx] = np.concatenate(blocks)[: len(rand_idx)]
    table["ARMCD"] = arm.astype(str)
    arm_name = {a: name for a, name, _ in T.ARMS} | {T.SCREEN_FAIL_ARMCD: T.SCREEN_FAIL_ARM}
    dose = {a: d for a, _, d in T.ARMS} | {T.SCREEN_FAIL_ARMCD: 0.0}
    table["ARM"] = table["ARMCD"].map(arm_name)
    table["dose_mg"] = table["ARMCD"].map(dose).astype(float)
    table["utc_offset"] = table["SITEID"].map({k: v["utc_offset"] for k, v in T.SITES.items()})
    return table


def _covariates(table: pd.DataFrame, rng: np.random.Generator) -> None:
    n = len(table)
    male = rng.random(n) < T.P_MALE
    sex = np.where(male, "M", "F")
    age = np.clip(np.round(rng.normal(T.AGE_MEAN, T.AGE_SD, n)), *T.AGE_RANGE)
    old = quota(rng, n, T.AGE_90_PLUS_FRACTION)
    age[old] = rng.integers(T.AGE_90_RANGE[0], T.AGE_90_RANGE[1] + 1, int(old.sum()))
    age = age.astype(np.int64)
    # birth date: age completed at screening, a uniform day within that year of life
    screen_date = table["screen_dt"].to_numpy().astype("datetime64[D]")
    days_into_year = rng.integers(1, 365, n)
    last_birthday = screen_date - days_into_year.astype("timedelta64[D]")
    birth = np.array(
        [_birth_date(str(b), int(a)) for b, a in zip(last_birthday, age, strict=True)],
        dtype="datetime64[D]",
    )
    w_med = np.where(male, T.WEIGHT_MEDIAN_KG["M"], T.WEIGHT_MEDIAN_KG["F"])
    weight = np.round(w_med * np.exp(rng.normal(0.0, T.WEIGHT_SDLOG, n)), 1)
    h_mean = np.where(male, T.HEIGHT_CM["M"][0], T.HEIGHT_CM["F"][0])
    h_sd = np.where(male, T.HEIGHT_CM["M"][1], T.HEIGHT_CM["F"][1])
    height = np.round(rng.normal(h_mean, h_sd)).astype(np.int64)
    s_med = np.where(male, T.SCR_MEDIAN_MGDL["M"], T.SCR_MEDIAN_MGDL["F"])
    s_med = s_med * (1.0 + T.SCR_AGE_SLOPE * (age - 50))
    scr = np.maximum(np.round(s_med * np.exp(rng.normal(0.0, T.SCR_SDLOG, n)), 2), 0.3)
    alt = np.maximum(np.round(T.ALT_MEDIAN_UL * np.exp(rng.normal(0.0, T.ALT_SDLOG, n))), 5)
    races, probs = zip(*T.RACES, strict=True)
    race = np.array(races)[rng.choice(len(races), n, p=np.array(probs) / sum(probs))]
    table["sex"] = sex
    table["age"] = age
    table["birth_date"] = birth
    table["race"] = race
    table["weight_kg"] = weight
    table["height_cm"] = height
    table["bmi"] = np.round(weight / (height / 100.0) ** 2, 1)
    table["scr_mg_dl"] = scr
    table["crcl_ml_min"] = cockcroft_gault(age, weight, scr, sex == "F")
    table["alt_u_l"] = alt.astype(np.int64)


def _birth_date(last_birthday: str, age: int) -> str:
    """The birth date whose ``age``-th birthday is ``last_birthday`` (29 Feb falls back to 28)."""
    y = int(last_birthday[:4]) - age
    md = last_birthday[4:]
    if md == "-02-29" and not (y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)):
        md = "-02-28"
    return f"{y:04d}{md}"


def cockcroft_gault(age, weight_kg, scr_mg_dl, female) -> np.ndarray:
    """Creatinine clearance (mL/min) by Cockcroft-Gault, rounded to 0.1.

    Parameters
    ----------
    age, weight_kg, scr_mg_dl, female
        Arrays of age (y), weight (kg), serum creatinine (mg/dL) and a female flag.
    """
    crcl = (140.0 - np.asarray(age)) * np.asarray(weight_kg) / (72.0 * np.asarray(scr_mg_dl))
    return np.round(np.where(female, 0.85 * crcl, crcl), 1)


def _genotypes(table: pd.DataFrame, rng: np.random.Generator) -> None:
    n = len(table)
    stars = np.array(list(T.CYP2C9_ALLELE_FREQ))
    p = np.array(list(T.CYP2C9_ALLELE_FREQ.values()))
    hap = stars[rng.choice(len(stars), (n, 2), p=p / p.sum())]
    vk = (rng.random((n, 2)) < T.VKORC1_T_FREQ).astype(np.int64)
    table["cyp2c9_hap1"] = hap[:, 0]
    table["cyp2c9_hap2"] = hap[:, 1]
    table["cyp2c9_diplotype"] = [
        "/".join(sorted(h, key=lambda s: int(s[1:]))) for h in hap.tolist()
    ]
    table["cyp2c9_n_lof"] = (hap != "*1").sum(axis=1)
    for rs, (_, _, _, _, gene, star) in T.VARIANTS.items():
        alt = (hap == star).astype(np.int64) if gene == "CYP2C9" else vk
        table[f"{rs}_h1"] = alt[:, 0]
        table[f"{rs}_h2"] = alt[:, 1]
        table[f"{rs}_alt_count"] = alt.sum(axis=1)


def _pk_parameters(table: pd.DataFrame, rng: np.random.Generator) -> None:
    n = len(table)
    cov = np.array(
        [
            [T.OMEGA_KA**2, 0.0, 0.0],
            [0.0, T.OMEGA_CL**2, T.CORR_CL_V * T.OMEGA_CL * T.OMEGA_V],
            [0.0, T.CORR_CL_V * T.OMEGA_CL * T.OMEGA_V, T.OMEGA_V**2],
        ]
    )
    # the matrix product runs in BLAS, whose kernels (and last bits) depend on the CPU
    eta = np.round(rng.standard_normal((n, 3)) @ np.linalg.cholesky(cov).T, T.ETA_DECIMALS)
    wt = table["weight_kg"].to_numpy()
    crcl = table["crcl_ml_min"].to_numpy()
    g = np.asarray(T.CYP2C9_LOF_FACTOR)[table["cyp2c9_n_lof"].to_numpy()]
    table["eta_ka"], table["eta_cl"], table["eta_v"] = eta[:, 0], eta[:, 1], eta[:, 2]
    table["cyp2c9_factor"] = g
    # exp and pow run in SIMD kernels chosen by CPU: round to the stated precision
    table["ka"] = _parameter(T.KA * np.exp(eta[:, 0]))
    table["cl"] = _parameter(
        T.CL
        * (wt / T.WT_REF) ** T.CL_WT_EXP
        * (crcl / T.CRCL_REF) ** T.CL_CRCL_EXP
        * g
        * np.exp(eta[:, 1])
    )
    table["v"] = _parameter(T.V * (wt / T.WT_REF) ** T.V_WT_EXP * np.exp(eta[:, 2]))


def _pd_parameters(table: pd.DataFrame, rng: np.random.Generator) -> None:
    n = len(table)
    eta = rng.standard_normal((n, 2)) * np.array([T.OMEGA_R0, T.OMEGA_IC50])
    eta = np.round(eta, T.ETA_DECIMALS)
    crcl = table["crcl_ml_min"].to_numpy()
    table["eta_r0"], table["eta_ic50"] = eta[:, 0], eta[:, 1]
    table["r0"] = _parameter(T.R0 * (crcl / T.CRCL_REF) ** T.R0_CRCL_EXP * np.exp(eta[:, 0]))
    table["kout"] = T.KOUT
    # r0 (6 digits) times kout (1 digit): 7 digits hold the decimal product exactly
    table["kin"] = round_significant(table["r0"] * T.KOUT, T.PARAMETER_DIGITS + 1)
    table["imax"] = T.IMAX
    table["ic50"] = _parameter(T.IC50 * np.exp(eta[:, 1]))


def _parameter(values: NDArray[np.float64]) -> NDArray[np.float64]:
    return round_significant(values, T.PARAMETER_DIGITS)


def simulate_subjects(config: SynthConfig, streams: dict[str, np.random.Generator]) -> pd.DataFrame:
    """Draw every subject's design, covariates, genotype and true individual parameters.

    Parameters
    ----------
    config
        The study configuration.
    streams
        Random streams from :func:`twinlab.synth.config.rng_streams`; uses ``design``,
        ``covariates``, ``genotypes``, ``pk_eta`` and ``pd_eta``.

    Returns
    -------
    pandas.DataFrame
        One row per screened subject, sorted by ``USUBJID``.
    """
    table = _design(config, streams["design"])
    _covariates(table, streams["covariates"])
    _genotypes(table, streams["genotypes"])
    _pk_parameters(table, streams["pk_eta"])
    _pd_parameters(table, streams["pd_eta"])
    return table.sort_values("USUBJID", kind="stable").reset_index(drop=True)
