"""Derived covariates in the population spec: the cohort criteria's expression language."""

from __future__ import annotations

import numpy as np
import pytest

from twinlab.pkpd.population import PopulationSpec, individual_params

YAML = """
model: pk_1cmt_iv
parameters: {cl: 0.005, v: 1.0}
derived:
  APGR_LOW: "APGR < 5"
  SMALL_AND_LOW: "APGR_LOW == 1 and WT < 1.0"
covariates:
  - {parameter: cl, covariate: APGR_LOW, kind: categorical, reference: 0}
  - {parameter: v, covariate: WT, kind: power, reference: 1.3, exponent: 1.0}
"""


def test_a_derived_covariate_drives_a_categorical_effect():
    spec = PopulationSpec.from_yaml(YAML)
    assert spec.derived == (("APGR_LOW", "APGR < 5"),
                            ("SMALL_AND_LOW", "APGR_LOW == 1 and WT < 1.0"))  # fmt: skip
    assert PopulationSpec.from_dict(spec.to_dict()) == spec  # YAML round trip
    cov = {"APGR": np.array([3.0, 7.0, 4.0, 9.0]), "WT": np.array([0.9, 1.3, 1.5, 1.1])}
    d = spec.derive(cov)
    assert d["APGR_LOW"].tolist() == [1.0, 0.0, 1.0, 0.0]
    assert d["SMALL_AND_LOW"].tolist() == [1.0, 0.0, 0.0, 0.0]  # a later one uses an earlier
    values = {"cl": 0.005, "v": 1.0, "beta_cl_apgr_low_1": np.log(0.8)}
    theta = individual_params(np, spec, values, cov)
    np.testing.assert_allclose(theta["cl"], 0.005 * np.array([0.8, 1.0, 0.8, 1.0]))
    np.testing.assert_allclose(theta["v"], cov["WT"] / 1.3)
    assert spec.covariate_inputs("SMALL_AND_LOW") == ("APGR", "WT")
    assert spec.covariate_inputs("WT") == ("WT",)


def test_unknown_inputs_are_missing_and_bad_expressions_are_refused():
    spec = PopulationSpec.from_yaml(YAML)
    d = spec.derive({"APGR": np.array([np.nan, 2.0]), "WT": np.array([1.0, 1.0])})
    assert np.isnan(d["APGR_LOW"][0]) and d["APGR_LOW"][1] == 1.0
    with pytest.raises(ValueError, match=r"derived covariate APGR_LOW: .*unknown covariate 'APGR'"):
        spec.derive({"WT": np.array([1.0])})
    base = {"model": "pk_1cmt_iv", "parameters": {"cl": 1.0, "v": 1.0}}
    for expr, msg in (
        ("APGR <", "not a valid expression"),
        ("__import__('os').system('x')", "not allowed"),
        ("WT > 10**10**7", "exponent"),
    ):
        with pytest.raises(ValueError, match=msg):
            PopulationSpec.from_dict({**base, "derived": {"X": expr}})
    with pytest.raises(ValueError, match="identifier"):
        PopulationSpec.from_dict({**base, "derived": {"LOW APGR": "APGR < 5"}})
    with pytest.raises(ValueError, match="derived: give"):
        PopulationSpec.from_dict({**base, "derived": ["APGR < 5"]})
