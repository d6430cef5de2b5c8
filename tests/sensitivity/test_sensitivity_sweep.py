"""Sweeps: chunked evaluation in input order, serial and on a real Dask cluster; grids."""

from __future__ import annotations

import os
import sys

import cloudpickle
import numpy as np
import pandas as pd
import pytest

from twinlab.sensitivity import grid, rowwise, sweep

# worker processes cannot import this test module: ship its functions by value
cloudpickle.register_pickle_by_value(sys.modules[__name__])


def bateman(d: pd.DataFrame) -> pd.DataFrame:
    """Concentration of a 1-cmt oral model at t, and the AUC to infinity."""
    ke = d["cl"] / d["v"]
    conc = (
        d["dose"]
        * d["ka"]
        / (d["v"] * (d["ka"] - ke))
        * (np.exp(-ke * d["t"]) - np.exp(-d["ka"] * d["t"]))
    )
    return pd.DataFrame({"conc": conc, "auc": d["dose"] / d["cl"], "pid": os.getpid()})


def _samples(n: int, seed: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "dose": rng.uniform(50, 400, n),
            "ka": rng.uniform(0.8, 2.0, n),
            "cl": rng.lognormal(np.log(5), 0.3, n),
            "v": rng.lognormal(np.log(40), 0.2, n),
            "t": rng.uniform(0.5, 24, n),
        }
    )
    frame.index = rng.permutation(np.arange(1000, 1000 + n))  # a shuffled, non-default index
    return frame


def test_grid_is_the_full_factorial_with_first_axis_slowest():
    g = grid(dose=[100, 200, 400], interval_h=[12.0, 24.0], route="oral")
    assert g.shape == (6, 3)
    assert list(g.columns) == ["dose", "interval_h", "route"]
    assert list(g.itertuples(index=False, name=None)) == [
        (d, i, "oral") for d in (100, 200, 400) for i in (12.0, 24.0)
    ]
    assert not g.duplicated().any()
    assert g["dose"].dtype.kind == "i" and g["interval_h"].dtype.kind == "f"


@pytest.mark.parametrize(
    ("axes", "match"),
    [({}, "at least one axis"), ({"dose": []}, "'dose' is empty"), ({"dose": [1, 1]}, "repeats")],
)
def test_grid_refuses_empty_or_repeated_axes(axes, match):
    with pytest.raises(ValueError, match=match):
        grid(**axes)


def test_serial_sweep_matches_the_closed_form_and_keeps_order_and_index():
    samples = _samples(103)
    out = sweep(bateman, samples, chunk_size=10)
    whole = bateman(samples)
    assert out.index.equals(samples.index)
    np.testing.assert_array_equal(out["conc"].to_numpy(), whole["conc"].to_numpy())
    np.testing.assert_allclose(out["auc"], samples["dose"] / samples["cl"], rtol=1e-15)


def test_sweep_names_array_and_series_outputs_and_can_keep_inputs():
    design = grid(dose=[100.0, 200.0], cl=[4.0, 8.0])
    arr = sweep(lambda d: np.c_[d["dose"] / d["cl"], d["dose"]], design, chunk_size=3)
    assert list(arr.columns) == ["y0", "y1"]
    np.testing.assert_array_equal(arr["y0"], [25.0, 12.5, 50.0, 25.0])
    named = sweep(lambda d: d["dose"] / d["cl"], design, outputs=["auc"], include_inputs=True)
    assert list(named.columns) == ["dose", "cl", "auc"]
    np.testing.assert_array_equal(named["auc"], [25.0, 12.5, 50.0, 25.0])


@pytest.mark.parametrize(
    ("func", "match"),
    [
        (lambda d: d["dose"].iloc[:-1], r"returned 0 row\(s\) for 1 input"),
        (lambda d: 3.0, "one output row per input row"),
        (lambda d: d.rename(columns={"dose": "x"}) if d.index[0] else d, "same output columns"),
    ],
)
def test_sweep_refuses_functions_that_do_not_give_one_row_per_input(func, match):
    with pytest.raises(ValueError, match=match):
        sweep(func, grid(dose=[1.0, 2.0]), chunk_size=1)


def test_sweep_refuses_bad_samples_and_chunk_sizes():
    with pytest.raises(ValueError, match="DataFrame"):
        sweep(bateman, np.ones((3, 2)))
    with pytest.raises(ValueError, match="empty"):
        sweep(bateman, pd.DataFrame())
    with pytest.raises(ValueError, match="chunk_size"):
        sweep(bateman, _samples(3), chunk_size=0)


@pytest.mark.slow
def test_dask_sweep_equals_the_serial_sweep_exactly_and_uses_both_workers(dask_client):
    samples = _samples(1001)
    serial = sweep(bateman, samples, chunk_size=50)
    remote = sweep(bateman, samples, client=dask_client, chunk_size=50)
    pd.testing.assert_frame_equal(
        remote.drop(columns="pid"), serial.drop(columns="pid"), check_exact=True
    )
    worker_pids = set(dask_client.run(os.getpid).values())
    assert set(remote["pid"]) <= worker_pids and os.getpid() not in set(remote["pid"])
    assert len(set(remote["pid"])) == 2  # 21 tasks spread over both worker processes


@pytest.mark.slow
def test_errors_raised_on_a_worker_name_the_chunk(dask_client):
    def fails_on_large_doses(d):
        if (d["dose"] > 150).any():
            raise ArithmeticError("dose too large")
        return d["dose"]

    with pytest.raises(ArithmeticError, match="dose too large") as info:
        sweep(fails_on_large_doses, grid(dose=[100, 200]), client=dask_client, chunk_size=1)
    assert "sweep chunk 1" in "".join(getattr(info.value, "__notes__", []))


def auc_and_cmax_bolus(dose: float, cl: float, v: float) -> dict[str, float]:
    """One design point at a time (as a cohort simulation per point would be)."""
    return {"auc": dose / cl, "c0": dose / v}


def test_rowwise_sweeps_a_function_of_one_point():
    design = grid(dose=[100.0, 200.0], cl=[4.0, 5.0], v=[50.0])
    out = sweep(rowwise(auc_and_cmax_bolus), design, chunk_size=3)
    np.testing.assert_array_equal(out["auc"], design["dose"] / design["cl"])
    np.testing.assert_array_equal(out["c0"], design["dose"] / design["v"])
    scalar = sweep(rowwise(lambda dose, cl, v: dose * cl), design)
    assert list(scalar.columns) == ["y"] and scalar["y"].tolist() == [400.0, 500.0, 800.0, 1000.0]
    with pytest.raises(TypeError, match="unexpected keyword argument 'v'"):
        sweep(rowwise(lambda dose, cl: dose), design)


@pytest.mark.slow
def test_rowwise_sweep_on_dask_equals_the_serial_one(dask_client):
    design = grid(dose=np.linspace(50, 400, 8), cl=[2.0, 5.0, 9.0], v=[30.0, 60.0])
    serial = sweep(rowwise(auc_and_cmax_bolus), design, chunk_size=5)
    remote = sweep(rowwise(auc_and_cmax_bolus), design, chunk_size=5, client=dask_client)
    pd.testing.assert_frame_equal(remote, serial, check_exact=True)
