"""Sobol and Morris against known answers: Ishigami's analytic indices, linear effects."""

from __future__ import annotations

import json
import sys

import cloudpickle
import holoviews as hv
import numpy as np
import pandas as pd
import pytest

from twinlab.sensitivity import Problem, morris, plot_morris, plot_sobol, sobol

cloudpickle.register_pickle_by_value(sys.modules[__name__])

A, B = 7.0, 0.1
PI = np.pi
ISHIGAMI = Problem.from_ranges({"x1": (-PI, PI), "x2": (-PI, PI), "x3": (-PI, PI)})


def ishigami(d: pd.DataFrame) -> pd.DataFrame:
    x1, x2, x3 = (d[c].to_numpy() for c in ("x1", "x2", "x3"))
    y = np.sin(x1) + A * np.sin(x2) ** 2 + B * x3**4 * np.sin(x1)
    return pd.DataFrame({"y": y, "x2_only": A * np.sin(x2) ** 2})


def ishigami_indices() -> dict[str, np.ndarray]:
    """Analytic first/total-order indices (Ishigami & Homma 1990; Sobol' & Levitan 1999)."""
    v1 = 0.5 * (1 + B * PI**4 / 5) ** 2
    v2 = A**2 / 8
    v13 = B**2 * PI**8 * (1 / 18 - 1 / 50)
    v = v1 + v2 + v13
    return {"S1": np.array([v1, v2, 0.0]) / v, "ST": np.array([v1 + v13, v2, v13]) / v}


@pytest.fixture(scope="module")
def ishigami_result():
    # 2**12 base samples: 32,768 vectorized evaluations (with second order), under a
    # second; SALib's 95% bootstrap half-widths are then ~0.02-0.04, which the checks use.
    return sobol(ishigami, ISHIGAMI, 2**12, seed=20240611, calc_second_order=True)


def test_analytic_indices_are_the_published_values():
    known = ishigami_indices()
    np.testing.assert_allclose(known["S1"], [0.314, 0.442, 0.0], atol=6e-4)
    np.testing.assert_allclose(known["ST"], [0.558, 0.442, 0.244], atol=6e-4)


def test_sobol_recovers_ishigami_indices_within_their_confidence_intervals(ishigami_result):
    known = ishigami_indices()
    got = ishigami_result.to_frame().query("output == 'y'").set_index("parameter")
    for index in ("S1", "ST"):
        err = np.abs(got[index].to_numpy() - known[index])
        conf = got[f"{index}_conf"].to_numpy()
        assert (conf > 0).all() and (conf < 0.06).all()
        assert (err <= conf).all(), (index, err, conf)
    s2 = ishigami_result.second_order.query("output == 'y'").set_index(
        ["parameter_1", "parameter_2"]
    )
    # the only interaction is x1·x3, S13 = ST1 - S1 analytically
    s13 = known["ST"][0] - known["S1"][0]
    assert abs(s2.loc[("x1", "x3"), "S2"] - s13) <= s2.loc[("x1", "x3"), "S2_conf"]
    assert abs(s2.loc[("x1", "x2"), "S2"]) <= s2.loc[("x1", "x2"), "S2_conf"]


def test_sobol_analyses_every_output_and_keeps_the_design(ishigami_result):
    r = ishigami_result
    assert r.output_names == ["y", "x2_only"]
    assert len(r.samples) == len(r.outputs) == 2**12 * (2 * 3 + 2)
    only = r.to_frame().query("output == 'x2_only'").set_index("parameter")
    # an output of x2 alone: all of its variance is x2's
    np.testing.assert_allclose(only.loc["x2", ["S1", "ST"]], 1.0, atol=0.03)
    np.testing.assert_allclose(only.loc[["x1", "x3"], ["S1", "ST"]], 0.0, atol=1e-12)
    summary = json.loads(json.dumps(r.to_dict(), allow_nan=False))
    assert summary["indices"]["y"]["x1"]["ST"] == pytest.approx(
        r.indices.query("output == 'y' and parameter == 'x1'")["ST"].item()
    )
    assert summary["n_evaluations"] == len(r.samples) and summary["problem"]["names"][0] == "x1"


def test_same_seed_same_indices_and_another_seed_another_design():
    a = sobol(ishigami, ISHIGAMI, 256, seed=0, outputs="y")
    b = sobol(ishigami, ISHIGAMI, 256, seed=0, outputs="y")
    c = sobol(ishigami, ISHIGAMI, 256, seed=1, outputs="y")
    pd.testing.assert_frame_equal(a.to_frame(), b.to_frame(), check_exact=True)
    assert not np.array_equal(a.samples.to_numpy(), c.samples.to_numpy())


@pytest.mark.slow
def test_sobol_on_dask_equals_the_serial_run(dask_client):
    serial = sobol(ishigami, ISHIGAMI, 512, seed=3, chunk_size=1000)
    remote = sobol(ishigami, ISHIGAMI, 512, seed=3, chunk_size=1000, client=dask_client)
    pd.testing.assert_frame_equal(remote.outputs, serial.outputs, check_exact=True)
    pd.testing.assert_frame_equal(remote.to_frame(), serial.to_frame(), check_exact=True)


def test_morris_mu_star_of_a_linear_model_is_coefficient_times_range():
    coef = {"dose": 0.5, "weight": -2.0, "age": 0.0}
    ranges = {"dose": (50.0, 250.0), "weight": (40.0, 120.0), "age": (18.0, 80.0)}
    problem = Problem.from_ranges(ranges)

    def linear(d):
        return sum(c * d[k] for k, c in coef.items())

    r = morris(linear, problem, 20, levels=4, seed=11)
    got = r.to_frame().set_index("parameter")
    expected = {k: abs(c) * (ranges[k][1] - ranges[k][0]) for k, c in coef.items()}
    np.testing.assert_allclose(got["mu_star"], [expected[k] for k in got.index], rtol=1e-9)
    np.testing.assert_allclose(got["mu"], [coef[k] * np.ptp(ranges[k]) for k in got.index])
    np.testing.assert_allclose(got["sigma"], 0.0, atol=1e-9)  # linear: every effect the same
    assert r.ranking() == ["weight", "dose", "age"]
    assert len(r.samples) == 20 * (3 + 1)


def test_morris_samples_log_uniform_inputs_in_log_space():
    # y = c·ln(cl): on a log-uniform cl every elementary effect is c·ln(upper/lower)
    problem = Problem.from_ranges({"cl": (1.0, 100.0), "f": (0.2, 1.0)}, log=["cl"])
    r = morris(lambda d: 3.0 * np.log(d["cl"]), problem, 10, seed=4)
    got = r.to_frame().set_index("parameter")
    assert got.loc["cl", "mu_star"] == pytest.approx(3.0 * np.log(100.0))
    assert got.loc["f", "mu_star"] == 0.0
    cl = r.samples["cl"]
    np.testing.assert_allclose(
        sorted(set(np.round(np.log10(cl), 9))), [0.0, 2 / 3, 4 / 3, 2.0], atol=1e-9
    )


def test_morris_ranks_ishigami_x1_and_x2_above_x3():
    r = morris(ishigami, ISHIGAMI, 100, levels=4, seed=7, outputs="y")
    assert set(r.ranking()[:2]) == {"x1", "x2"}
    assert r.output_names == ["y"]


def test_plots_render_with_bokeh_and_matplotlib(ishigami_result):
    morris_result = morris(ishigami, ISHIGAMI, 10, seed=1)
    sobol_plot = plot_sobol(ishigami_result, "y")
    morris_plot = plot_morris(morris_result)
    assert len(sobol_plot) == 2 and len(plot_sobol(ishigami_result)) == 4
    assert len(morris_plot) == 2
    bars = sobol_plot.values()[0].values()[0]
    np.testing.assert_array_equal(
        bars.dimension_values("S1"), ishigami_result.to_frame().query("output == 'y'")["S1"]
    )
    for obj in (sobol_plot, morris_plot):
        assert type(hv.render(obj, backend="bokeh")).__name__ == "GridPlot"
    import matplotlib

    matplotlib.use("Agg")
    assert hv.render(sobol_plot, backend="matplotlib") is not None
    with pytest.raises(ValueError, match="unknown output 'z'"):
        plot_sobol(ishigami_result, "z")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"names": ["a", "a"], "bounds": [(0, 1), (0, 1)]}, "repeat"),
        ({"names": ["a"], "bounds": [(1, 0)]}, "lower bound must be below upper"),
        ({"names": ["a"], "bounds": [(0, 1)], "dists": ["logunif"]}, "must be > 0"),
        ({"names": ["a"], "bounds": [(0, 1)], "dists": ["gamma"]}, "unknown distribution"),
        ({"names": ["a", "b"], "bounds": [(0, 1)]}, "2 names but 1 bounds"),
        ({"names": ["a"], "bounds": [(0, 1, 2)]}, "needs 2 bound values"),
    ],
)
def test_problem_refuses_inconsistent_inputs(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Problem(**kwargs)


def test_bad_analysis_arguments_are_refused_clearly():
    with pytest.raises(ValueError, match="power of two"):
        sobol(ishigami, ISHIGAMI, 1000, seed=1)
    with pytest.raises(ValueError, match="levels must be an even"):
        morris(ishigami, ISHIGAMI, 10, levels=5, seed=1)
    with pytest.raises(ValueError, match=r"unknown output\(s\) \['auc'\]"):
        sobol(ishigami, ISHIGAMI, 16, seed=1, outputs=["auc"])
    with pytest.raises(ValueError, match="non-finite"):
        sobol(lambda d: np.where(d["x1"] > 0, 1.0, np.nan), ISHIGAMI, 16, seed=1)
    with pytest.raises(KeyError, match="x1"):  # the model reads an input the problem lacks
        sobol(ishigami, Problem.from_ranges({"a": (0, 1)}), 16, seed=1)
    with pytest.raises(ValueError, match="seed"):
        sobol(ishigami, ISHIGAMI, 16, seed=-1)


def test_a_constant_output_gives_undefined_indices_with_a_warning(tmp_path):
    with pytest.warns(UserWarning, match="constant"):
        r = sobol(lambda d: np.zeros(len(d)), ISHIGAMI, 16, seed=1)
    assert r.to_frame()[["S1", "ST"]].isna().all().all()
    assert r.to_dict()["indices"]["y"]["x1"]["S1"] is None
    r.to_json(tmp_path / "sobol.json")
    assert json.loads((tmp_path / "sobol.json").read_text()) == r.to_dict()


def test_morris_summary_is_json_for_dvc_metrics(tmp_path):
    r = morris(ishigami, ISHIGAMI, 4, seed=2, outputs="y")
    text = r.to_json(tmp_path / "morris.json")
    back = json.loads(text)
    assert back == json.loads((tmp_path / "morris.json").read_text())
    assert back["n_evaluations"] == 4 * 4 and back["levels"] == 4
    mu_star = r.to_frame().set_index("parameter")["mu_star"]
    assert back["indices"]["y"]["x3"]["mu_star"] == mu_star["x3"]


def test_sobol_on_log_uniform_inputs_splits_a_log_additive_output_evenly():
    # ln(dose/cl) = ln dose - ln cl: with both log-uniform over one decade, each explains half
    problem = Problem.from_ranges({"dose": (10.0, 100.0), "cl": (1.0, 10.0)}, log=["dose", "cl"])
    r = sobol(lambda d: np.log(d["dose"] / d["cl"]), problem, 1024, seed=5)
    got = r.to_frame().set_index("parameter")
    np.testing.assert_allclose(got[["S1", "ST"]], 0.5, atol=0.02)
    assert r.samples["cl"].between(1.0, 10.0).all()
    assert abs(np.log10(r.samples["cl"]).mean() - 0.5) < 0.01  # even in log space
