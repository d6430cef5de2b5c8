"""Parameter recovery for every model family without a fit test of its own.

For each family a factory returns ``(spec, truth, design)``: the population spec (priors
centred away from the truth), the true population values and a sampling design rich enough
to identify them. The study is simulated with the NumPy back end
(:func:`~twinlab.pkpd.population.simulated_study`), fitted with nutpie and every true typical
value must lie within 3 posterior SDs of its posterior mean, with the demo's convergence gate
on the population parameters (R-hat <= 1.01, no divergences).

The remedies that make that hold with margin, rather than for one lucky seed, are the demo's:
centred BSV where each subject's data pin down their own value (each family's spec says which:
all of them, except the indirect-response family's ka), chains started near the prior medians
(``fit(jitter=0.1)``), 4 chains, and where two typical values are strongly correlated (``vm``
and ``km`` of Michaelis-Menten, ``imax`` and ``ic50`` of the turnover model) the low-rank mass
matrix (a diagonal one needs ~5x the draws for the same R-hat there), with a target
acceptance of 0.9 for the turnover model.
``benchmarks/fit_recovery_seeds.py`` runs every family for several seeds.

The 1-compartment oral model is covered by ``test_pkpd_fit.py`` and the warfarin turnover fit
by ``test_pkpd_warfarin.py``. Each case compiles one model (15-50 s on an empty compile
cache) and samples 4 chains x (1000 tune + 1000 draws).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from twinlab.pkpd.diagnostics import convergence
from twinlab.pkpd.fit import fit
from twinlab.pkpd.models import predict
from twinlab.pkpd.population import PopulationSpec, simulated_study, subset

pytestmark = pytest.mark.slow

Case = tuple[PopulationSpec, dict[str, float], dict[str, Any]]


def two_cmt_oral() -> Case:
    """Distribution (alpha ~ 0.39/h) well apart from absorption (ka 1.5/h) and the terminal
    phase (beta ~ 0.039/h, t1/2 ~ 18 h) sampled to 72 h; BSV on ka, cl, v only."""
    spec = PopulationSpec.from_dict(
        {
            "model": "pk_2cmt_oral",
            "parameters": {
                "ka": 1.0,
                "cl": 5.0,
                "v": 25.0,
                "q": {"guess": 2.0, "omega": None},
                "v2": {"guess": 60.0, "omega": None},
            },
            "centered": True,
        }
    )
    truth = {"ka": 1.5, "cl": 4.0, "v": 20.0, "q": 3.0, "v2": 40.0}
    truth |= {"omega_ka": 0.3, "omega_cl": 0.25, "omega_v": 0.2}
    truth |= {"sigma_add_conc": 0.05, "sigma_prop_conc": 0.1}
    times = (0.25, 0.5, 1, 1.5, 2, 3, 4, 6, 8, 12, 24, 36, 48, 72)
    return spec, truth, {"n_subjects": 24, "seed": 21, "times": times}


def one_cmt_iv_infusion() -> Case:
    """A 2 h zero-order infusion of 320 mg, sampled during and after it."""
    spec = PopulationSpec.from_dict(
        {"model": "pk_1cmt_iv", "parameters": {"cl": 3.0, "v": 60.0}, "centered": True}
    )
    truth = {"cl": 5.0, "v": 40.0, "omega_cl": 0.3, "omega_v": 0.2}
    truth |= {"sigma_add_conc": 0.05, "sigma_prop_conc": 0.1}
    times = (0.25, 0.5, 1, 1.5, 2, 2.5, 3, 4, 6, 8, 12, 16, 24)
    return spec, truth, {"n_subjects": 20, "seed": 22, "times": times, "infusion_h": 2.0}


def direct_emax() -> Case:
    """Concentration and effect at the same times; the concentrations (peak ~8 mg/L) span
    EC50 = 3 mg/L. The Hill coefficient is left at its default of 1 (not estimated): one
    dose level cannot pin gamma down together with emax and ec50."""
    spec = PopulationSpec.from_dict(
        {
            "model": "pkpd_1cmt_oral_emax",
            "parameters": {
                "ka": 1.0,
                "cl": 5.0,
                "v": 25.0,
                "e0": {"guess": 5.0, "omega": 0.3},
                "emax": {"guess": 40.0, "omega": None},
                "ec50": {"guess": 5.0, "omega": 0.3},
            },
            "errors": [
                {"endpoint": "conc", "kind": "combined"},
                {"endpoint": "effect", "kind": "additive", "add_scale": 5.0},
            ],
            "centered": True,
        }
    )
    truth = {"ka": 1.2, "cl": 3.0, "v": 30.0, "e0": 10.0, "emax": 25.0, "ec50": 3.0}
    truth |= {"omega_ka": 0.3, "omega_cl": 0.25, "omega_v": 0.15}
    truth |= {"omega_e0": 0.15, "omega_ec50": 0.25}
    truth |= {"sigma_add_conc": 0.05, "sigma_prop_conc": 0.1, "sigma_add_effect": 1.0}
    times = (0, 0.25, 0.5, 1, 2, 3, 4, 6, 8, 12, 16, 24, 36)
    return spec, truth, {"n_subjects": 24, "seed": 24, "times": times}


def indirect_response() -> Case:
    """Turnover with inhibition of kin (``e0`` parametrization, the loop-free solver), a
    baseline sample at t = 0 and the return to baseline to 96 h; imax is estimated (its
    prior is log-normal around 0.5, the truth 0.8), gamma fixed at 1. The fit uses a 1 h
    grid step.

    BSV centred for cl, v, e0 and kout, non-centred for ka: with one sample (1 h) before the
    peak the data pin down each subject's ka poorly, and centred, omega_ka's lower tail was
    a funnel (sampler seed 12: a divergence at omega_ka = 0.04, its 0.1 % quantile, the
    subjects' log ka spread 0.03 instead of 0.24; tail ESS of omega_ka 423, of every other
    omega > 2,500). e0 (baseline sample, return to baseline) is pinned down per subject
    despite omega_e0 = 0.1: non-centring it instead cut omega_e0's ESS from ~4,800 to 830."""
    spec = PopulationSpec.from_dict(
        {
            "model": "pkpd_1cmt_oral_idr1_e0",
            "parameters": {
                "ka": 1.0,
                "cl": 5.0,
                "v": 25.0,
                "e0": {"guess": 80.0, "omega": 0.3},
                "kout": {"guess": 0.1, "omega": 0.3},
                "imax": {"guess": 0.5, "prior_sd": 0.5, "omega": None},
                "ic50": {"guess": 3.0, "omega": None},
            },
            "errors": [
                {"endpoint": "conc", "kind": "combined"},
                {"endpoint": "effect", "kind": "additive", "add_scale": 10.0},
            ],
            "ode_max_step": 1.0,
            # ka's BSV non-centred, the others centred: see the function's docstring
            "centered": ["cl", "v", "e0", "kout"],
        }
    )
    truth = {"ka": 1.0, "cl": 3.0, "v": 30.0, "e0": 100.0, "kout": 0.2, "imax": 0.8}
    truth |= {"ic50": 1.5, "omega_ka": 0.3, "omega_cl": 0.25, "omega_v": 0.15}
    truth |= {"omega_e0": 0.1, "omega_kout": 0.2}
    truth |= {"sigma_add_conc": 0.05, "sigma_prop_conc": 0.1, "sigma_add_effect": 3.0}
    times = (0, 1, 2, 4, 6, 8, 12, 16, 24, 36, 48, 72, 96)
    design = {"n_subjects": 24, "seed": 25, "times": times}
    # target_accept 0.95: at 0.9 one seed in four (seed 8, the one tested) had one
    # divergence in 4000 draws; at 0.95 none of seeds 1, 2, 3, 8 had any (R-hat <= 1.006)
    return spec, truth, {**design, "fit": {"low_rank": True, "target_accept": 0.95}}


def michaelis_menten() -> Case:
    """Three dose levels (25, 100, 400 mg; subjects in turn) take the concentrations from
    well below km = 2 mg/L (first-order, CL = vm/km = 10 L/h) to well above it (saturated,
    about vm = 20 mg/h), which is what identifies vm and km apart; one dose level does not.
    BSV on ka, v and vm; the fit integrates on a 1 h grid (integrating-factor RK4)."""
    spec = PopulationSpec.from_dict(
        {
            "model": "pk_1cmt_oral_mm",
            "parameters": {
                "ka": {"guess": 1.0, "prior_sd": 0.5},
                "v": 25.0,
                "vm": 30.0,
                "km": {"guess": 3.0, "omega": None},
            },
            "ode_max_step": 1.0,
            "centered": True,
        }
    )
    truth = {"ka": 1.2, "v": 30.0, "vm": 20.0, "km": 2.0}
    truth |= {"omega_ka": 0.3, "omega_v": 0.2, "omega_vm": 0.25}
    truth |= {"sigma_add_conc": 0.05, "sigma_prop_conc": 0.1}
    times = (0.5, 1, 2, 3, 4, 6, 8, 12, 16, 24, 36, 48)
    design = {"n_subjects": 24, "seed": 26, "times": times, "dose": (25, 100, 400)}
    return spec, truth, {**design, "fit": {"low_rank": True}}


FAMILIES: dict[str, Callable[[], Case]] = {
    "pk_2cmt_oral": two_cmt_oral,
    "pk_1cmt_iv_infusion": one_cmt_iv_infusion,
    "pkpd_1cmt_oral_emax": direct_emax,
    "pkpd_1cmt_oral_idr1_e0": indirect_response,
    "pk_1cmt_oral_mm": michaelis_menten,
}


def _study(spec: PopulationSpec, truth: dict[str, float], design: dict[str, Any]):
    """Simulate the design; an infusion re-simulates the same subjects with the dose given
    over ``infusion_h`` hours (``simulated_study`` gives a bolus into CMT 1)."""
    design = dict(design)
    duration = design.pop("infusion_h", None)
    arrays, sim = simulated_study(spec, truth, **design)
    if duration is not None:
        arrays = replace(
            arrays,
            dose_duration=np.full_like(arrays.dose_amt, duration),
            dose_rate=arrays.dose_amt / duration,
        )
        pred = predict(spec.structural, sim["individual"], arrays)["conc"]
        sd = np.hypot(sim["sigma_add_conc"], sim["sigma_prop_conc"] * pred)
        rng = np.random.default_rng(design["seed"] + 1000)
        arrays = replace(arrays, obs_dv=pred + sd * rng.standard_normal(pred.size))
    # a concentration at the dose time is zero: it carries no information, drop it
    conc_dvid = spec.errors[0].dvid
    keep = ~((arrays.obs_time == 0) & (arrays.obs_dvid == conc_dvid))
    return subset(arrays, keep), sim


@pytest.mark.parametrize("family", list(FAMILIES))
def test_fit_recovers_the_true_parameters(family):
    spec, truth, design = FAMILIES[family]()
    options = {"draws": 1000, "tune": 1000, "chains": 4, **design.pop("fit", {})}
    arrays, sim = _study(spec, truth, design)
    t0 = time.perf_counter()
    result = fit(spec, arrays, seed=8, progress=False, **options)
    s = result.summary()
    gate = convergence(result)
    z = {k: (v["mean"] - sim[k]) / v["sd"] for k, v in s["parameters"].items()}
    print(f"{family}: {time.perf_counter() - t0:.1f} s, z = {z}, gate {gate}")
    # several checks per fit: each true typical value within 3 posterior SDs of the posterior
    # mean (a z-score), not each inside its 94 % HDI, which with 4-6 checks would miss one
    # about a quarter of the time by chance alone. The residual SDs are not checked: the
    # additive part of a combined error is weakly identified and its posterior is skewed.
    assert set(z) == {p.name for p in spec.parameters if not p.fixed}
    for name, value in z.items():
        assert abs(value) < 3, (family, name, sim[name], s["parameters"][name])
    assert gate["max_rhat_population"] <= 1.01, (family, gate)
    assert gate["max_rhat_individual"] <= 1.05, (family, gate)
    assert gate["divergences"] == 0, (family, gate)
