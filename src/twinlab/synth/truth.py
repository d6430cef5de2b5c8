"""True parameters of the synthetic twinurostat study.

Every value that generates the demo study lives here, so that a later stage can check that it
recovers them. :func:`parameters` returns them as one JSON-ready dict, which
:func:`twinlab.synth.generate_study` writes to ``truth_dir/parameters.json``.

Study: randomized, placebo-controlled, 1:1:1, 28 days of once-daily oral twinurostat (a fictional
xanthine-oxidase inhibitor) in gout patients with hyperuricaemia.

==========================  ==============================================  ====================
quantity                    model                                           value
==========================  ==============================================  ====================
arms                        PBO / T100 / T200, permuted blocks of 6         0 / 100 / 200 mg QD
screen failures             ARMCD ``SCRNFAIL``, no dosing, no PK/PD         config fraction
age                         N(58, 13) clipped to [18, 89]; a 3 % quota      18-97 y
                            uniform on [90, 97]
sex                         Bernoulli                                       P(male) = 0.80
weight                      log-normal, median by sex, SD(log) 0.18         M 88 kg, F 76 kg
height                      normal by sex, whole cm                         M 176±7, F 162±6.5
serum creatinine            log-normal, median × (1 + 0.005 (age - 50))     M 1.00, F 0.85 mg/dL
CrCL                        Cockcroft-Gault, × 0.85 for women, mL/min       from reported values
ALT                         log-normal, SD(log) 0.40                        median 25 U/L
CYP2C9 haplotypes           *1 / *2 (rs1799853 T) / *3 (rs1057910 C)        0.80 / 0.12 / 0.08
VKORC1 rs9923231 T          non-causal                                      0.39
ka_i                        ka · exp(eta_ka)                                ka = 1.2 /h
CL_i                        CL · (WT/70)^0.75 · (CrCL/100)^0.4 · g ·        CL = 5 L/h
                            exp(eta_CL); g = 1 / 0.7 / 0.45 for 0/1/2
                            loss-of-function alleles (*2 or *3)
V_i                         V · (WT/70)^1 · exp(eta_V)                      V = 50 L
omega (SD of etas)          eta_ka / eta_CL / eta_V                         0.4 / 0.3 / 0.2
corr(eta_CL, eta_V)                                                         0.3
PK residual error           C·(1 + 0.15 e1) + 0.02 e2 mg/L, e ~ N(0, 1)      LLOQ 0.05 mg/L
urate model                 dR/dt = kin(1 - Imax C/(IC50 + C)) - kout R,    R(0) = R0 = kin/kout
                            RK4, dt = 0.1 h
R0_i                        R0 · (CrCL/100)^-0.25 · exp(eta_R0)             R0 = 8.5 mg/dL
kout / Imax                 no BSV                                          0.02 /h / 0.9
IC50_i                      IC50 · exp(eta_IC50)                            IC50 = 1.0 mg/L
omega R0 / IC50                                                             0.15 / 0.3
urate residual error        R·(1 + 0.05 e1) + 0.1 e2 mg/dL                  1 mg/dL = 59.48 umol/L
==========================  ==============================================  ====================

Reported covariates are the truth: the model uses weight rounded to 0.1 kg, creatinine rounded
to 0.01 mg/dL and age in whole years at screening, exactly as the sources report them.
Random effects are rounded to 1e-6 and individual parameters (ka, CL, V, R0, IC50) to six
significant digits before they generate any data, so ``patients.csv`` holds exactly the values
used, and the last-bit differences of ``exp``/``pow`` between CPUs (NumPy's SIMD kernels,
BLAS) end at that rounding instead of reaching the written bytes. Every measurement is rounded
to its reported decimals (concentration 0.001 mg/L, urate 0.1 mg/dL) for the same reason.
Concentrations are the closed-form superposition of all doses given before a sample; placebo
samples are analysed and reported below the limit of quantification. Sites use fixed standard
UTC offsets (no daylight saving time); SDTM datetimes are local clock times without offset.
"""

from __future__ import annotations

from typing import Any

# --- design -------------------------------------------------------------------------------
#: (ARMCD, ARM, daily dose in mg)
ARMS: tuple[tuple[str, str, float], ...] = (
    ("PBO", "Placebo", 0.0),
    ("T100", "Twinurostat 100 mg QD", 100.0),
    ("T200", "Twinurostat 200 mg QD", 200.0),
)
SCREEN_FAIL_ARMCD = "SCRNFAIL"
SCREEN_FAIL_ARM = "Screen Failure"
RANDOMIZATION_BLOCK = 6
N_DOSE_DAYS = 28
ENROLMENT_DAYS = 180  #: screening dates spread uniformly over this many days from start_date
SCREENING_TO_DAY1_DAYS = (7, 21)  #: inclusive range of days from screening to first dose
DOSE_CLOCK_MEAN_MIN = 8 * 60  #: local dosing clock time, minutes after midnight
DOSE_CLOCK_SD_MIN = 30
DOSE_CLOCK_RANGE_MIN = (6 * 60, 11 * 60)
PREDOSE_DRAW_RANGE_MIN = (5, 30)  #: pre-dose samples are drawn this many minutes before dosing
GENOTYPED_FRACTION = 0.9  #: share of randomized patients in the VCF
VCF_MISSING_RATE = 0.02  #: per call
AGE_90_PLUS_FRACTION = 0.03
RESTRICTED_ZIP_FRACTION = 0.08

#: Sites: SITEID -> (city, state, UTC offset, weight/height units, creatinine LOINC and unit).
SITES: dict[str, dict[str, str]] = {
    "101": {"city": "Boston", "state": "MA", "utc_offset": "-05:00", "units": "metric",
            "creatinine": "2160-0|mg/dL"},
    "102": {"city": "Atlanta", "state": "GA", "utc_offset": "-05:00", "units": "imperial",
            "creatinine": "2160-0|mg/dL"},
    "201": {"city": "Chicago", "state": "IL", "utc_offset": "-06:00", "units": "imperial",
            "creatinine": "2160-0|umol/L"},
    "202": {"city": "Houston", "state": "TX", "utc_offset": "-06:00", "units": "metric",
            "creatinine": "14682-9|umol/L"},
    "301": {"city": "Los Angeles", "state": "CA", "utc_offset": "-08:00", "units": "imperial",
            "creatinine": "2160-0|mg/dL"},
    "302": {"city": "Seattle", "state": "WA", "utc_offset": "-08:00", "units": "metric",
            "creatinine": "14682-9|umol/L"},
}  # fmt: skip

#: PK samples: (study day, nominal hours, "post" = after that day's dose, "pre" = before it,
#: PCTPT, PCTPTNUM, PCTPTREF).
PK_SCHEDULE: tuple[tuple[int, float, str, str, float, str], ...] = (
    (1, 0.5, "post", "0.5H POST-DOSE", 0.5, "DAY 1 DOSE"),
    (1, 1.0, "post", "1H POST-DOSE", 1.0, "DAY 1 DOSE"),
    (1, 2.0, "post", "2H POST-DOSE", 2.0, "DAY 1 DOSE"),
    (1, 4.0, "post", "4H POST-DOSE", 4.0, "DAY 1 DOSE"),
    (1, 8.0, "post", "8H POST-DOSE", 8.0, "DAY 1 DOSE"),
    (1, 12.0, "post", "12H POST-DOSE", 12.0, "DAY 1 DOSE"),
    (2, 0.0, "pre", "24H POST-DOSE", 24.0, "DAY 1 DOSE"),
    (7, 0.0, "pre", "PRE-DOSE", 0.0, "DAY 7 DOSE"),
    (14, 0.0, "pre", "PRE-DOSE", 0.0, "DAY 14 DOSE"),
    (28, 0.0, "pre", "PRE-DOSE", 0.0, "DAY 28 DOSE"),
    (28, 2.0, "post", "2H POST-DOSE", 2.0, "DAY 28 DOSE"),
    (28, 8.0, "post", "8H POST-DOSE", 8.0, "DAY 28 DOSE"),
)
#: Urate is measured at screening and pre-dose on these study days (day 1 = baseline).
URATE_DAYS: tuple[int, ...] = (1, 7, 14, 21, 28)
#: (VISIT, VISITNUM) by study day; day 0 stands for screening.
VISITS: dict[int, tuple[str, float]] = {
    0: ("SCREENING", 1.0),
    1: ("DAY 1", 2.0),
    2: ("DAY 2", 3.0),
    7: ("DAY 7", 4.0),
    14: ("DAY 14", 5.0),
    21: ("DAY 21", 6.0),
    28: ("DAY 28", 7.0),
}

# --- covariates -------------------------------------------------------------------------
P_MALE = 0.80
AGE_MEAN, AGE_SD, AGE_RANGE, AGE_90_RANGE = 58.0, 13.0, (18, 89), (90, 97)
WEIGHT_MEDIAN_KG = {"M": 88.0, "F": 76.0}
WEIGHT_SDLOG = 0.18
HEIGHT_CM = {"M": (176.0, 7.0), "F": (162.0, 6.5)}
SCR_MEDIAN_MGDL = {"M": 1.00, "F": 0.85}
SCR_SDLOG = 0.25
SCR_AGE_SLOPE = 0.005
ALT_MEDIAN_UL, ALT_SDLOG = 25.0, 0.40
RACES: tuple[tuple[str, float], ...] = (
    ("WHITE", 0.62),
    ("BLACK OR AFRICAN AMERICAN", 0.16),
    ("ASIAN", 0.12),
    ("AMERICAN INDIAN OR ALASKA NATIVE", 0.03),
    ("NATIVE HAWAIIAN OR OTHER PACIFIC ISLANDER", 0.02),
    ("MULTIPLE", 0.05),
)

# --- genotypes (GRCh38) -----------------------------------------------------------------
CYP2C9_ALLELE_FREQ = {"*1": 0.80, "*2": 0.12, "*3": 0.08}
#: site id -> (chrom, pos, ref, alt, gene, star allele the ALT defines or "")
VARIANTS: dict[str, tuple[str, int, str, str, str, str]] = {
    "rs1799853": ("chr10", 94942290, "C", "T", "CYP2C9", "*2"),
    "rs1057910": ("chr10", 94981296, "A", "C", "CYP2C9", "*3"),
    "rs9923231": ("chr16", 31096368, "C", "T", "VKORC1", ""),
}
VKORC1_T_FREQ = 0.39
CONTIGS = {"chr10": 133797422, "chr16": 90338345}

# --- precision of the true individual values ----------------------------------------------
ETA_DECIMALS = 6  #: random effects (eta) are rounded to this many decimals
PARAMETER_DIGITS = 6  #: individual parameters are rounded to this many significant digits

# --- PK -----------------------------------------------------------------------------------
KA = 1.2  #: 1/h
CL = 5.0  #: L/h
V = 50.0  #: L
CL_WT_EXP = 0.75
CL_CRCL_EXP = 0.4
V_WT_EXP = 1.0
WT_REF = 70.0
CRCL_REF = 100.0
CYP2C9_LOF_FACTOR = (1.0, 0.7, 0.45)  #: by number of loss-of-function alleles
OMEGA_KA, OMEGA_CL, OMEGA_V = 0.4, 0.3, 0.2
CORR_CL_V = 0.3
PK_PROP_SD = 0.15
PK_ADD_SD = 0.02  #: mg/L
LLOQ = 0.05  #: mg/L

# --- PD (serum urate, indirect response, inhibition of production) ------------------------
R0 = 8.5  #: mg/dL
R0_CRCL_EXP = -0.25
KOUT = 0.02  #: 1/h
IMAX = 0.9
IC50 = 1.0  #: mg/L
OMEGA_R0, OMEGA_IC50 = 0.15, 0.3
PD_PROP_SD = 0.05
PD_ADD_SD = 0.1  #: mg/dL
RK4_DT = 0.1  #: h
URATE_MGDL_TO_UMOLL = 59.48
CREATININE_MGDL_TO_UMOLL = 88.42
LB_PER_KG = 1.0 / 0.45359237
CM_PER_IN = 2.54


def parameters() -> dict[str, Any]:
    """Return all true values as a JSON-ready dict (the content of ``parameters.json``).

    Returns
    -------
    dict
        Sections ``design``, ``covariates``, ``genotypes``, ``pk``, ``pd``, ``precision`` and
        ``units``.
    """
    return {
        "design": {
            "arms": [{"armcd": a, "arm": n, "dose_mg": d} for a, n, d in ARMS],
            "screen_fail_armcd": SCREEN_FAIL_ARMCD,
            "randomization_block": RANDOMIZATION_BLOCK,
            "n_dose_days": N_DOSE_DAYS,
            "enrolment_days": ENROLMENT_DAYS,
            "screening_to_day1_days": list(SCREENING_TO_DAY1_DAYS),
            "dose_clock_mean_min": DOSE_CLOCK_MEAN_MIN,
            "dose_clock_sd_min": DOSE_CLOCK_SD_MIN,
            "dose_clock_range_min": list(DOSE_CLOCK_RANGE_MIN),
            "predose_draw_range_min": list(PREDOSE_DRAW_RANGE_MIN),
            "pk_schedule": [
                {"day": d, "nominal_h": h, "relative": r, "pctpt": p, "pctptnum": n, "ref": f}
                for d, h, r, p, n, f in PK_SCHEDULE
            ],
            "urate_days": list(URATE_DAYS),
            "genotyped_fraction": GENOTYPED_FRACTION,
            "vcf_missing_rate": VCF_MISSING_RATE,
            "age_90_plus_fraction": AGE_90_PLUS_FRACTION,
            "restricted_zip_fraction": RESTRICTED_ZIP_FRACTION,
            "sites": SITES,
        },
        "covariates": {
            "p_male": P_MALE,
            "age_mean": AGE_MEAN,
            "age_sd": AGE_SD,
            "age_range": list(AGE_RANGE),
            "age_90_range": list(AGE_90_RANGE),
            "weight_median_kg": WEIGHT_MEDIAN_KG,
            "weight_sdlog": WEIGHT_SDLOG,
            "height_cm_mean_sd": {k: list(v) for k, v in HEIGHT_CM.items()},
            "scr_median_mgdl": SCR_MEDIAN_MGDL,
            "scr_sdlog": SCR_SDLOG,
            "scr_age_slope": SCR_AGE_SLOPE,
            "alt_median_ul": ALT_MEDIAN_UL,
            "alt_sdlog": ALT_SDLOG,
            "races": dict(RACES),
            "crcl": "Cockcroft-Gault (140 - age) * weight / (72 * scr), * 0.85 if female",
        },
        "genotypes": {
            "cyp2c9_allele_freq": CYP2C9_ALLELE_FREQ,
            "vkorc1_rs9923231_t_freq": VKORC1_T_FREQ,
            "variants": {
                k: {"chrom": c, "pos": p, "ref": r, "alt": a, "gene": g, "star_allele": s}
                for k, (c, p, r, a, g, s) in VARIANTS.items()
            },
            "assembly": "GRCh38",
        },
        "pk": {
            "model": "1-compartment, first-order absorption, linear elimination",
            "ka_per_h": KA,
            "cl_l_per_h": CL,
            "v_l": V,
            "cl_wt_exp": CL_WT_EXP,
            "cl_crcl_exp": CL_CRCL_EXP,
            "v_wt_exp": V_WT_EXP,
            "wt_ref_kg": WT_REF,
            "crcl_ref_ml_min": CRCL_REF,
            "cyp2c9_lof_factor": list(CYP2C9_LOF_FACTOR),
            "omega_ka": OMEGA_KA,
            "omega_cl": OMEGA_CL,
            "omega_v": OMEGA_V,
            "corr_cl_v": CORR_CL_V,
            "prop_sd": PK_PROP_SD,
            "add_sd_mg_l": PK_ADD_SD,
            "lloq_mg_l": LLOQ,
        },
        "pd": {
            "model": "indirect response, inhibition of production (turnover)",
            "r0_mg_dl": R0,
            "r0_crcl_exp": R0_CRCL_EXP,
            "kout_per_h": KOUT,
            "imax": IMAX,
            "ic50_mg_l": IC50,
            "omega_r0": OMEGA_R0,
            "omega_ic50": OMEGA_IC50,
            "prop_sd": PD_PROP_SD,
            "add_sd_mg_dl": PD_ADD_SD,
            "rk4_dt_h": RK4_DT,
        },
        "precision": {
            "eta_decimals": ETA_DECIMALS,
            "individual_parameter_significant_digits": PARAMETER_DIGITS,
        },
        "units": {
            "urate_mg_dl_to_umol_l": URATE_MGDL_TO_UMOLL,
            "creatinine_mg_dl_to_umol_l": CREATININE_MGDL_TO_UMOLL,
            "lb_per_kg": LB_PER_KG,
            "cm_per_in": CM_PER_IN,
        },
    }
