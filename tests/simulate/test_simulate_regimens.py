"""Regimens, arms and scenarios: doses, and clear errors for mistakes."""

from __future__ import annotations

import numpy as np
import pytest

from twinlab.simulate import Arm, Regimen, Scenario, run
from twinlab.virtual import KnownPopulation

PK = {"ka": 1.0, "cl": 5.0, "v": 50.0}


def test_regimen_doses_follow_the_protocol():
    r = Regimen(100.0, interval_h=12.0, n_doses=4, loading_dose=300.0, start_h=2.0)
    assert [(d.time, d.amt, d.route) for d in r.doses()] == [
        (2.0, 300.0, "oral"),
        (14.0, 100.0, "oral"),
        (26.0, 100.0, "oral"),
        (38.0, 100.0, "oral"),
    ]
    assert r.last_dose_h == 38.0
    inf = Regimen(500.0, interval_h=8.0, n_doses=2, route="infusion", infusion_h=0.5).doses()
    assert [(d.route, d.rate, d.duration) for d in inf] == [("iv", 1000.0, 0.5)] * 2
    assert Regimen(100.0, interval_h=24.0, duration_h=28 * 24).n_doses == 28
    assert Regimen(100.0, interval_h=12.0, duration_h=25.0).dose_times == [0.0, 12.0, 24.0]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"dose": -1.0}, "dose must be finite and >= 0"),
        ({"dose": float("nan")}, "dose must be finite"),
        ({"dose": 1.0, "interval_h": 0.0}, "interval_h must be finite and > 0"),
        ({"dose": 1.0, "n_doses": 0}, "n_doses must be an integer >= 1"),
        ({"dose": 1.0, "n_doses": 2.5}, "n_doses must be an integer >= 1"),
        ({"dose": 1.0, "route": "sc"}, r"route must be one of \('oral', 'iv', 'infusion'\)"),
        ({"dose": 1.0, "route": "infusion"}, "needs infusion_h > 0"),
        ({"dose": 1.0, "infusion_h": 1.0}, "infusion_h is for route='infusion'"),
        (
            {"dose": 1.0, "route": "infusion", "infusion_h": 30.0, "n_doses": 2},
            "infusions would overlap",
        ),
        ({"dose": 1.0, "n_doses": 2, "duration_h": 48.0}, "not both"),
        ({"dose": "a lot"}, "dose must be a number"),
    ],
)
def test_bad_regimens_are_refused_with_a_clear_message(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Regimen(**kwargs)


def _scenario(**overrides):
    base = dict(
        name="s",
        population=KnownPopulation("pk_1cmt_oral", PK, n=2),
        arms=[Arm("qd", Regimen(100.0, n_doses=2))],
        times=[0.0, 12.0, 24.0],
        seed=1,
    )
    return Scenario(**{**base, **overrides})


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"arms": []}, "at least one Arm"),
        ({"arms": [Arm("a"), Arm("a")]}, r"arm names must be unique; repeated: \['a'\]"),
        ({"arms": ["qd"]}, "must hold Arm objects"),
        ({"times": [0.0, 2.0, 1.0]}, "strictly increasing"),
        ({"times": [0.0]}, "at least 2 times"),
        ({"times": [0.0, np.inf]}, "finite"),
        ({"seed": -1}, "seed must be an integer >= 0"),
        ({"seed": 1.5}, "seed must be an integer >= 0"),
        ({"chunk_size": 0}, "chunk_size must be an integer >= 1"),
        ({"threshold": -1.0}, "threshold must be finite and >= 0"),
        ({"ode_max_step": 0.0}, r"ode_max_step must be a finite number of hours > 0"),
        ({"ode_max_step": float("nan")}, "ode_max_step must be a finite number"),
        ({"ode_max_step": True}, "ode_max_step must be a finite number"),
        ({"ode_max_step": "2"}, "ode_max_step must be a finite number"),
        ({"name": "a/b"}, "name must be a non-empty string"),
        ({"population": object()}, "must follow twinlab.virtual.Population"),
        (
            {"population": KnownPopulation("pk_1cmt_iv", {"cl": 1.0, "v": 2.0})},
            "has no absorption",
        ),
        (
            {
                "population": KnownPopulation(
                    "pk_1cmt_oral_mm", {"ka": 1.0, "v": 2.0, "vm": 1.0, "km": 1.0}
                ),
                "arms": [Arm("iv", Regimen(1.0, route="iv"))],
            },
            "takes oral doses only",
        ),
    ],
)
def test_bad_scenarios_are_refused_with_a_clear_message(overrides, match):
    with pytest.raises(ValueError, match=match):
        _scenario(**overrides)


def test_a_scenario_round_trips_through_its_record():
    """to_dict -> JSON -> from_dict gives the same scenario, ode_max_step included; the
    default step adds no key, so records of existing runs stay byte-identical."""
    import json

    from twinlab.simulate.regimens import Titration

    arms = [
        Arm("pbo"),
        Arm("qd", Regimen(100.0, duration_h=72.0)),
        Arm("tit", Regimen(50.0, n_doses=4, titration=Titration(at_h=24.0, trough_below=0.5))),
        Arm("inf", Regimen(80.0, n_doses=2, route="infusion", infusion_h=1.5)),
    ]
    pop = KnownPopulation("pk_1cmt_oral", PK, n=2)
    for step in (None, 0.5):
        sc = _scenario(population=pop, arms=arms, threshold=0.2, ode_max_step=step)
        record = json.loads(json.dumps(sc.to_dict()))
        assert ("ode_max_step" in record) == (step is not None)
        back = Scenario.from_dict(record, pop)
        assert back.to_dict() == sc.to_dict()
        assert back.ode_max_step == step
        assert list(back.arms) == arms
    other = KnownPopulation("pk_1cmt_iv", {"cl": 1.0, "v": 2.0})
    with pytest.raises(ValueError, match="record is for model 'pk_1cmt_oral'"):
        Scenario.from_dict(record, other)
    with pytest.raises(ValueError, match=r"arm 'x': .*unexpected keyword argument 'dose_mg'"):
        Arm.from_dict({"name": "x", "regimen": {"dose_mg": 1.0}})


def test_unknown_model_is_a_key_error_listing_the_known_ones():
    with pytest.raises(KeyError, match=r"unknown model 'pk_9cmt'.*pk_1cmt_oral"):
        _scenario(population=KnownPopulation("pk_9cmt", PK))


def test_missing_parameter_and_missing_residual_error_are_found_before_running():
    sc = _scenario(population=KnownPopulation("pk_1cmt_oral", {"ka": 1.0, "v": 2.0}))
    with pytest.raises(ValueError, match=r"lack \['cl'\] needed by model 'pk_1cmt_oral'"):
        run(sc)
    with pytest.raises(ValueError, match="residual=True but the population has no residual"):
        run(_scenario(residual=True))
    with pytest.raises(ValueError, match="backend must be one of"):
        run(_scenario(), backend="fortran")
    mm = KnownPopulation("pk_1cmt_oral_mm", {"ka": 1.0, "v": 50.0, "vm": 10.0, "km": 2.0})
    with pytest.raises(ValueError, match="compiled back end covers"):
        run(_scenario(population=mm), backend="numba")


def test_singular_parameters_give_a_clear_error_not_nans():
    pop = KnownPopulation("pk_1cmt_oral", {"ka": [1.0, 0.5], "cl": 10.0, "v": 20.0})
    with pytest.raises(ValueError, match=r"non-finite concentrations .* virtual patient 1"):
        run(_scenario(population=pop))
