"""End to end: synthetic sources -> harmonized timeline -> NONMEM data -> NUTS fit -> truth."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from twinlab.deid import DeidKey
from twinlab.harmonize import HarmonizeConfig, harmonize
from twinlab.pkpd import PopulationSpec, fit, from_timeline
from twinlab.pkpd.covariates import add_derived_covariates
from twinlab.pkpd.diagnostics import convergence
from twinlab.security.crypto import Keyring
from twinlab.synth import SynthConfig, generate_study
from twinlab.timeline import Cohort

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
OFFSETS = {"101": "-05:00", "102": "-05:00", "201": "-06:00", "202": "-06:00",
           "301": "-08:00", "302": "-08:00"}  # fmt: skip


def test_fit_of_the_harmonized_demo_recovers_the_true_parameters(tmp_path):
    generate_study(tmp_path / "raw", tmp_path / "truth", SynthConfig(n_patients=72, seed=11))
    harmonize(
        [tmp_path / "raw"], out_dir=tmp_path / "tl", raw_zone=tmp_path / "zone",
        config=HarmonizeConfig(site_utc_offsets=OFFSETS,
                               identifier_aliases={"vcf_sample": "usubjid"}),
        key=DeidKey(b"recovery-test-deid-key-32-bytes!"),
        keyring=Keyring({"k": b"recovery-test-master-key-32-byte"}),
    )  # fmt: skip
    cohort = Cohort.read(tmp_path / "tl")
    patients = add_derived_covariates(cohort.patients)
    patients["cov_cyp2c9"] = patients["cov_cyp2c9"].fillna("unknown")
    data = from_timeline(
        Cohort(patients, cohort.events, cohort.links),
        conc_code="TWINURO",
        covariates={"WT": "cov_weight_kg", "CRCL": "cov_crcl_ml_min", "CYP2C9": "cov_cyp2c9"},
    )
    spec = PopulationSpec.from_yaml(ROOT / "pipelines" / "specs" / "twinurostat_pk.yaml")
    result = fit(spec, data, draws=500, tune=500, chains=4, seed=5, progress=False)
    summary = result.summary()
    truth = json.loads((tmp_path / "truth" / "parameters.json").read_text())["pk"]
    gate = convergence(result)  # the pipeline's gate, as params.yaml sets it
    assert gate["max_rhat_population"] <= 1.01 and gate["divergences"] == 0, gate
    wanted = {"ka": truth["ka_per_h"], "cl": truth["cl_l_per_h"], "v": truth["v_l"]}
    # five checks at once: each within 3 posterior SDs (z-score), not each inside a 94% HDI,
    # which would miss one of five about a quarter of the time by chance alone
    for name, value in wanted.items():
        s = summary["parameters"][name]
        assert abs(s["mean"] - value) < 3 * s["sd"], (name, value, s)
    crcl = summary["effects"]["beta_cl_crcl"]
    assert abs(crcl["mean"] - truth["cl_crcl_exp"]) < 3 * crcl["sd"], crcl
    # one loss-of-function allele (*1/*2, code 1) lowers clearance
    assert summary["effects"]["beta_cl_cyp2c9_1"]["hdi_high"] < 0
