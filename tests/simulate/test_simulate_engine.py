"""The engine in one process: closed forms, ODE vs analytic, metrics, residuals, storage."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import duckdb
import numpy as np
import pandas as pd
import pytest
from simulate_helpers import LogNormalPopulation, file_hashes

from twinlab.simulate import Arm, Regimen, Scenario, open_result, run
from twinlab.virtual import KnownPopulation

KA, K, V = 1.1, 0.1, 25.0
PK = {"ka": KA, "cl": K * V, "v": V}


def _bateman(t, dose, ka=KA, k=K, v=V, f=1.0):
    t = np.maximum(t, 0.0)
    return f * dose * ka / (v * (ka - k)) * (np.exp(-k * t) - np.exp(-ka * t))


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_single_and_multiple_oral_doses_equal_bateman_superposition(backend):
    times = np.linspace(0, 96, 193)
    arms = [Arm("sd", Regimen(100.0)), Arm("bid", Regimen(50.0, interval_h=12.0, n_doses=5))]
    pop = KnownPopulation("pk_1cmt_oral", PK, n=2)
    res = run(Scenario("closed", pop, arms, times, seed=0), backend=backend)
    conc = res.dataset["conc"]
    np.testing.assert_allclose(conc.sel(arm="sd").values[0, 0], _bateman(times, 100.0), rtol=1e-10)
    expected = sum(_bateman(times - 12.0 * j, 50.0) for j in range(5))
    np.testing.assert_allclose(conc.sel(arm="bid").values[0, 1], expected, rtol=1e-10)
    assert res.run["backend"] == backend


def test_steady_state_accumulation_and_auc_over_an_interval():
    tau, dose, f = 12.0, 100.0, 0.8
    n_doses = 40  # exp(-k * 40 * tau) ~ 1e-21: steady state
    times = np.arange(0, (n_doses + 1) * tau + 1e-9, 0.05)
    pop = KnownPopulation("pk_1cmt_oral", {**PK, "f": f})
    iv = KnownPopulation("pk_1cmt_iv", {"cl": K * V, "v": V})
    reg = Regimen(dose, interval_h=tau, n_doses=n_doses)
    oral = run(Scenario("ss", pop, [Arm("q12h", reg)], times, seed=0)).patients.iloc[0]
    # C_ss(tau) for first-order absorption
    acc = lambda r: 1.0 / (1.0 - math.exp(-r * tau))  # noqa: E731
    c_ss = (
        f
        * dose
        * KA
        / (V * (KA - K))
        * (math.exp(-K * tau) * acc(K) - math.exp(-KA * tau) * acc(KA))
    )
    assert oral["ctrough"] == pytest.approx(c_ss, rel=1e-9)
    # at steady state the AUC over one interval is F * Dose / CL (integrated exactly)
    assert oral["auc_tau"] == pytest.approx(f * dose / (K * V), rel=1e-9)
    # IV bolus: trough after n doses is the single-dose trough times (1 - r^n) / (1 - r)
    for n in (1, 3, 7):
        res = run(
            Scenario(
                "acc",
                iv,
                [Arm("a", Regimen(dose, interval_h=tau, n_doses=n, route="iv"))],
                times,
                seed=0,
            )
        )
        r = math.exp(-K * tau)
        expected = dose / V * r * (1 - r**n) / (1 - r)
        assert res.patients["ctrough"].iloc[0] == pytest.approx(expected, rel=1e-10)


def test_auc_equals_f_dose_over_cl_and_t_above_threshold():
    dose, f = 200.0, 0.6
    times = np.arange(0, 400.0, 0.05)
    cl = np.array([1.5, 2.5, 4.0])
    pop = KnownPopulation("pk_1cmt_oral", {"ka": KA, "cl": cl, "v": V, "f": f})
    res = run(Scenario("auc", pop, [Arm("sd", Regimen(dose))], times, seed=0))
    # AUC(0-400 h) = F Dose / CL (1 - exp(-k 400)), integrated exactly
    np.testing.assert_allclose(
        res.patients["auc"], f * dose / cl * (1 - np.exp(-cl / V * times[-1])), rtol=1e-10
    )
    # IV bolus: C0 exp(-k t) > c for t < ln(C0 / c) / k
    iv = KnownPopulation("pk_1cmt_iv", {"cl": K * V, "v": V})
    c0, thr = dose / V, 2.0
    res = run(
        Scenario("above", iv, [Arm("iv", Regimen(dose, route="iv"))], times, seed=0, threshold=thr)
    )
    # exact, not read off the grid: C(0+) = c0 is the peak, above the threshold until ln(c0/c)/k
    expected = math.log(c0 / thr) / K
    assert res.patients["t_above"].iloc[0] == pytest.approx(expected, rel=1e-12)
    assert res.patients["cmax"].iloc[0] == pytest.approx(c0, rel=1e-12)
    assert res.patients["tmax"].iloc[0] == 0.0


def test_iv_infusion_equals_its_closed_form():
    amt, dur = 120.0, 2.0
    times = np.linspace(0, 24, 49)
    iv = KnownPopulation("pk_1cmt_iv", {"cl": K * V, "v": V})
    arm = Arm("inf", Regimen(amt, route="infusion", infusion_h=dur))
    conc = run(Scenario("inf", iv, [arm], times, seed=0)).dataset["conc"].values[0, 0, 0]
    r = amt / dur
    expected = np.where(
        times <= dur,
        r / (K * V) * (1 - np.exp(-K * times)),
        r / (K * V) * (1 - np.exp(-K * dur)) * np.exp(-K * (times - dur)),
    )
    np.testing.assert_allclose(conc, expected, rtol=1e-12)


def test_ode_and_analytic_solvers_agree_on_linear_models():
    times = np.linspace(0, 72, 73)
    arms = [Arm("qd", Regimen(100.0, n_doses=3))]
    linear = run(Scenario("lin", KnownPopulation("pk_1cmt_oral", PK), arms, times, seed=0))
    km = 1e7  # km >> C: vm * C / (km + C) = (vm / km) C = CL * C
    mm_pop = KnownPopulation("pk_1cmt_oral_mm", {"ka": KA, "v": V, "vm": K * V * km, "km": km})
    mm = run(Scenario("mm", mm_pop, arms, times, seed=0))
    assert mm.run["backend"] == "numpy"
    np.testing.assert_allclose(
        mm.dataset["conc"].values, linear.dataset["conc"].values, rtol=1e-5, atol=1e-9
    )
    # no drug effect: the indirect response stays at its baseline kin / kout
    idr = KnownPopulation(
        "pkpd_1cmt_oral_idr1", {**PK, "kin": 0.17, "kout": 0.02, "imax": 0.0, "ic50": 1.0}
    )
    effect = run(Scenario("idr", idr, arms, times, seed=0)).dataset["effect"].values
    np.testing.assert_allclose(effect, 0.17 / 0.02, rtol=1e-12)
    # the loop-free turnover and the RK4 indirect response are the same model (kin = e0 kout)
    pd_par = {"kout": 0.05, "imax": 0.9, "ic50": 0.5}
    rk4 = KnownPopulation("pkpd_1cmt_oral_idr1", {**PK, **pd_par, "kin": 8.5 * 0.05})
    e0 = KnownPopulation("pkpd_1cmt_oral_idr1_e0", {**PK, **pd_par, "e0": 8.5})
    a = run(Scenario("rk4", rk4, arms, times, seed=0))
    b = run(Scenario("e0", e0, arms, times, seed=0))
    np.testing.assert_allclose(a.dataset["effect"].values, b.dataset["effect"].values, rtol=1e-5)
    assert b.patients["effect_cfb"].iloc[0] < -1.0  # the drug lowers the response


def test_compiled_and_numpy_back_ends_agree_and_emax_follows_the_concentration():
    rng = np.random.default_rng(3)
    n = 40
    par = {"ka": rng.lognormal(0, 0.3, n), "cl": rng.lognormal(1, 0.3, n), "v": 30.0,
           "e0": 10.0, "emax": -6.0, "ec50": rng.uniform(0.5, 2.0, n), "gamma": 1.5}  # fmt: skip
    pop = KnownPopulation("pkpd_1cmt_oral_emax", par)
    arms = [
        Arm("placebo"),
        Arm("qd", Regimen(100.0, n_doses=4)),
        Arm("iv", Regimen(50.0, route="iv")),
    ]
    sc = Scenario("emax", pop, arms, np.linspace(0, 96, 97), seed=0, chunk_size=15)
    fast, slow = run(sc, backend="numba"), run(sc, backend="numpy")
    for e in ("conc", "effect"):
        np.testing.assert_allclose(
            fast.dataset[e].values, slow.dataset[e].values, rtol=1e-10, atol=1e-13
        )
    c = fast.dataset["conc"].values[0]
    ec50 = par["ec50"][:, None, None]
    expected = 10.0 - 6.0 * c**1.5 / (ec50**1.5 + c**1.5)
    np.testing.assert_allclose(fast.dataset["effect"].values[0], expected, rtol=1e-12)
    placebo = fast.patients[fast.patients["arm"] == "placebo"]
    assert (placebo["auc"] == 0).all() and placebo["ctrough"].isna().all()
    assert (placebo["effect_cfb"] == 0).all()


def test_chunking_does_not_change_a_known_population_and_rows_are_ordered():
    pop = KnownPopulation("pk_1cmt_oral", {"ka": KA, "cl": np.linspace(1, 5, 23), "v": V})
    arms = [Arm("a", Regimen(10.0)), Arm("b", Regimen(20.0))]
    one = run(Scenario("c", pop, arms, [0, 1, 2, 4, 8], seed=5, chunk_size=100))
    many = run(Scenario("c", pop, arms, [0, 1, 2, 4, 8], seed=5, chunk_size=4))
    assert one.dataset.equals(many.dataset)
    pd.testing.assert_frame_equal(one.patients, many.patients)
    assert one.patients["vpid"].tolist() == np.repeat(np.arange(23), 2).tolist()
    np.testing.assert_allclose(
        one.patients["auc"].values[1::2], 2 * one.patients["auc"].values[::2]
    )


def test_residual_error_comes_from_the_chunk_stream_with_the_population_sigma():
    pop = LogNormalPopulation(n=300)
    times = np.linspace(1, 48, 20)
    sc = Scenario(
        "res",
        pop,
        [Arm("qd", Regimen(100.0, n_doses=2))],
        times,
        seed=11,
        chunk_size=70,
        residual=True,
    )
    res = run(sc)
    ds = res.dataset
    z = (ds["conc_obs"] - ds["conc"]) / np.sqrt(0.05**2 + (0.1 * ds["conc"]) ** 2)
    assert abs(float(z.mean())) < 0.05 and abs(float(z.std()) - 1.0) < 0.05
    again = run(sc)
    assert again.dataset.identical(res.dataset)
    other = run(Scenario("res", pop, sc.arms, times, seed=12, chunk_size=70, residual=True))
    assert not np.array_equal(other.dataset["conc"].values, res.dataset["conc"].values)
    # draws: same patients and etas, the second draw's clearance is 1.3 times larger
    p = res.patients
    assert p["posterior_draw"].unique().tolist() == [3, 13]
    auc = p.pivot_table(index="vpid", columns="draw", values="auc")
    assert (auc[1] < auc[0]).all()
    wt = p.pivot_table(index="vpid", columns="draw", values="WT")
    np.testing.assert_array_equal(wt[0], wt[1])
    assert (ds["posterior_draw"].values == np.array([[3], [13]])).all()


def test_results_round_trip_through_zarr_parquet_and_duckdb(tmp_path):
    pop = LogNormalPopulation(n=25)
    arms = [
        Arm("placebo"),
        Arm("100 mg", Regimen(100.0, n_doses=3)),
        Arm("200 mg", Regimen(200.0, n_doses=3)),
    ]
    sc = Scenario(
        "rt", pop, arms, np.linspace(0, 72, 37), seed=3, chunk_size=10, threshold=1.0, residual=True
    )
    seen = []
    mem = run(sc, progress=lambda done, total: seen.append((done, total)))
    assert seen == [(1, 3), (2, 3), (3, 3)]
    disk = run(sc, out=tmp_path / "r")
    back = open_result(tmp_path / "r")
    assert back.dataset.chunks["patient"] == (10, 10, 5)
    xr_equal = back.dataset.load().drop_encoding()
    assert xr_equal.identical(mem.dataset) and disk.dataset.load().identical(mem.dataset)
    pd.testing.assert_frame_equal(back.patients, mem.patients)
    pd.testing.assert_frame_equal(back.arms, mem.arms)
    # DuckDB reads the Parquet files directly
    file = tmp_path / "r" / "patients.parquet"
    direct = duckdb.sql(
        f"SELECT arm, count(*) AS n, avg(auc) AS auc FROM '{file}' GROUP BY arm ORDER BY arm"
    ).df()
    assert direct["n"].tolist() == [25 * 2] * 3
    via = back.query("SELECT arm, avg(auc) AS auc FROM patients GROUP BY arm ORDER BY arm")
    np.testing.assert_allclose(via["auc"], direct["auc"])
    mean = mem.patients.groupby("arm")["auc"].mean()
    np.testing.assert_allclose(via["auc"], mean.loc[via["arm"]].values)
    q = back.query("SELECT auc_p50 FROM arms WHERE arm = '200 mg' AND draw = 0")
    sub = mem.patients.query("arm == '200 mg' and draw == 0")["auc"]
    assert q["auc_p50"].iloc[0] == pytest.approx(np.percentile(sub, 50))
    assert mem.query("SELECT count(*) AS n FROM patients")["n"].iloc[0] == 25 * 2 * 3
    # bands: quantiles over draws and patients
    bands = back.bands("conc", q=(0.1, 0.9))
    assert bands.dims == ("quantile", "arm", "time")
    vals = mem.dataset["conc"].sel(arm="100 mg").values.reshape(-1, 37)
    np.testing.assert_allclose(
        bands.sel(arm="100 mg").values, np.quantile(vals, [0.1, 0.9], axis=0)
    )
    with pytest.raises(KeyError, match="no endpoint 'effect'"):
        back.bands("effect")
    # the run record: scenario, sizes, versions, no timings
    record = json.loads((tmp_path / "r" / "run.json").read_text())
    assert record["scenario"]["seed"] == 3 and record["scenario"]["population"]["n"] == 25
    assert record["sizes"]["n_chunks"] == 3 and record["sizes"]["patient_rows"] == 150
    assert {"numpy", "xarray", "zarr", "dask", "numba"} <= set(record["versions"])
    assert "time" not in json.dumps(record).replace('"times"', "").replace("n_times", "")
    assert "total_s" in json.loads((tmp_path / "r" / "timings.json").read_text())
    # rerunning into the same folder reproduces every byte
    before = file_hashes(tmp_path / "r")
    run(sc, out=tmp_path / "r")
    assert file_hashes(tmp_path / "r") == before
    # without the profile (a folder DVC tracks whole) no wall times are left behind
    assert run(sc, out=tmp_path / "r", profile=False).timings["total_s"] > 0
    assert not (tmp_path / "r" / "timings.json").exists()
    assert file_hashes(tmp_path / "r") == before
    with pytest.raises(FileNotFoundError, match="not a simulation result"):
        open_result(tmp_path)


def test_progress_bar_shows_chunks_elapsed_time_and_eta(capsys):
    sc = Scenario("bar", LogNormalPopulation(n=9), [Arm("qd", Regimen(100.0, n_doses=2))],
                  np.linspace(0, 48, 9), seed=1, chunk_size=4)  # fmt: skip
    run(sc, progress=True)
    err = capsys.readouterr().err
    assert "3/3 chunks" in err and "ETA 0.0 s" in err and err.endswith("\n")
    assert "1/3 chunks" in err and "ETA" in err.split("1/3 chunks")[1]


def test_dask_tasks_group_small_chunks_by_cost_and_keep_every_chunk():
    from twinlab.simulate.engine import _task_groups

    sc = Scenario("g", LogNormalPopulation(n=1000), [Arm("qd", Regimen(100.0, n_doses=2))],
                  np.linspace(0, 48, 9), seed=1, chunk_size=10)  # fmt: skip
    groups = _task_groups(sc, n_workers=2)
    assert [k for g in groups for k in g] == list(range(sc.n_chunks))
    sizes = [len(g) for g in groups]
    # large tasks first, single chunks last (the workers finish together)
    assert sizes == sorted(sizes, reverse=True) and sizes[0] == 25 and sizes[-4:] == [1] * 4
    # a task holds at most _TASK_WORK rows x steps (2 draws x 100 patients x 2**14 + 1 times)
    capped = Scenario("g", LogNormalPopulation(n=10_000), [Arm("qd", Regimen(100.0, n_doses=2))],
                      np.linspace(0, 48, 2**14 + 1), seed=1, chunk_size=100)  # fmt: skip
    assert max(len(g) for g in _task_groups(capped, n_workers=2)) == 2**25 // (200 * (2**14 + 1))
    big = Scenario("g", LogNormalPopulation(n=1000), [Arm("qd", Regimen(100.0, n_doses=2))],
                   np.linspace(0, 48, 9), seed=1, chunk_size=500)  # fmt: skip
    assert _task_groups(big, n_workers=2) == [(0,), (1,)]
    # and at most _TASK_BYTES of population windows (8 MiB): 3 MiB chunks go two by two
    heavy = _task_groups(sc, n_workers=2, chunk_bytes=3 << 20)
    assert [k for g in heavy for k in g] == list(range(sc.n_chunks))
    assert max(len(g) for g in heavy) == 2


def test_results_carry_units_from_the_spec_through_zarr(tmp_path):
    import pint

    from twinlab.pkpd import PopulationSpec
    from twinlab.virtual import VirtualCohort

    spec = PopulationSpec.from_dict(
        {"model": "pkpd_1cmt_oral_emax", "units": {"effect": "mg/dL"},
         "parameters": {**PK, "e0": 8.0, "emax": 5.0, "ec50": 1.0}}
    )  # fmt: skip
    assert PopulationSpec.from_yaml(spec.to_yaml()) == spec
    real = pd.DataFrame({"patient_id": ["P-A", "P-B"], "cov_weight_kg": [60.0, 80.0]})
    pop = VirtualCohort(real, 6, extra=spec)
    assert pop.units == {"effect": "mg/dL"}
    sc = Scenario("units", pop, [Arm("qd", Regimen(100.0, n_doses=2))], np.linspace(0, 48, 13),
                  seed=0, chunk_size=4)  # fmt: skip
    run(sc, out=tmp_path / "r")
    ds = open_result(tmp_path / "r").dataset
    units = {v: ds[v].attrs.get("units") for v in ("time", "conc", "effect", "posterior_draw")}
    assert units == {"time": "h", "conc": "mg/L", "effect": "mg/dL", "posterior_draw": None}
    assert ds["conc"].attrs["long_name"] == "concentration"
    assert ds["time"].attrs["long_name"] == "time since first dose"
    ureg = pint.UnitRegistry()  # pint reads them: concentration x time is an AUC in mg·h/L
    auc = ureg.Quantity(2.0, ds["conc"].attrs["units"]) * ureg.Quantity(3.0, units["time"])
    assert auc.to("mg*h/L").magnitude == pytest.approx(6.0)
    assert ureg.Quantity(1.0, units["effect"]).to("mg/L").magnitude == pytest.approx(10.0)
    # an endpoint whose unit nobody declared gets a name, not a guessed unit
    bare = KnownPopulation("pkpd_1cmt_oral_emax", {**PK, "e0": 8.0, "emax": 5.0, "ec50": 1.0})
    effect = run(Scenario("bare", bare, sc.arms, sc.times, seed=0)).dataset["effect"]
    assert effect.attrs == {"long_name": "effect"}
    with pytest.raises(ValueError, match="'mg/dx' is not a unit"):
        PopulationSpec.from_dict({**spec.to_dict(), "units": {"effect": "mg/dx"}})


def test_table_labels_equal_the_object_array_they_replace():
    """The table's text columns, decoded by Arrow from codes, equal the object arrays they
    replace, missing values included."""
    from twinlab.simulate.engine import _labels

    src = np.array(["b", None, "a", "b", ""], dtype=object)
    code, names = pd.factorize(src)
    idx = np.array([0, 1, 2, 3, 4, 1, 0])
    got = pd.Series(_labels(list(names), code[idx]))
    pd.testing.assert_series_equal(got, pd.Series(src[idx]))


def test_a_known_populations_window_gives_the_same_chunks_and_holds_only_its_patients():
    import cloudpickle

    from twinlab.simulate.engine import _Plan, _windowed
    from twinlab.virtual import chunk_rng

    n = 1000
    rng = np.random.default_rng(1)
    cov = pd.DataFrame({"wt": rng.normal(70, 9, n), "sex": rng.integers(0, 2, n)})
    pop = KnownPopulation("pk_1cmt_oral", {"ka": 1.0, "cl": rng.lognormal(1, 0.3, n),
                                           "v": 30.0}, covariates=cov)  # fmt: skip
    window = pop.window(200, 500).window(300, 500)  # a window of a window
    assert (window.n, window.n_draws, window.describe()) == (pop.n, 1, pop.describe())
    for lo, hi in [(300, 301), (300, 350), (420, 500)]:
        a, b = pop.chunk(lo, hi, chunk_rng(0, 0)), window.chunk(lo, hi, chunk_rng(0, 0))
        assert np.array_equal(a.vpid, b.vpid)
        assert a.params.keys() == b.params.keys()
        for k in a.params:
            assert np.array_equal(a.params[k], b.params[k])
        pd.testing.assert_frame_equal(a.covariates, b.covariates)
    with pytest.raises(IndexError, match="outside"):
        window.chunk(299, 310, chunk_rng(0, 0))
    with pytest.raises(IndexError, match="outside"):
        pop.window(900, 1001)
    # what a Dask task ships: its own patients' values, not everyone's
    sc = Scenario("w", pop, [Arm("sd", Regimen(100.0))], np.linspace(0, 24, 5), seed=1,
                  chunk_size=100)  # fmt: skip
    plan = _Plan(sc, "numba", None)
    whole = len(cloudpickle.dumps(plan))
    part = _windowed(plan, (2, 3))
    assert len(cloudpickle.dumps(part)) < whole / 3
    assert part.scenario.population.chunk(200, 400, chunk_rng(0, 0)).vpid[[0, -1]].tolist() == [
        200,
        399,
    ]


def _all_files(folder):
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.mark.parametrize("parts", [False, True])
def test_a_run_that_fails_midway_leaves_the_previous_result_as_it_was(tmp_path, parts):
    """Outputs appear whole or not at all: a run stopped after its first chunk (a failing
    callback, as a cancelled job or a killed worker ends one) publishes nothing and leaves
    no half-written folder; the previous result stays byte for byte."""
    arms = [Arm("100 mg", Regimen(100.0, n_doses=3))]
    before = Scenario("a", LogNormalPopulation(n=30), arms, np.linspace(0, 72, 13), seed=1,
                      chunk_size=10)  # fmt: skip
    after = Scenario("b", LogNormalPopulation(n=30), arms, np.linspace(0, 48, 9), seed=2,
                     chunk_size=10)  # fmt: skip
    out = tmp_path / "result"
    run(before, out=out, parts=parts)
    kept = _all_files(out)

    def stop(done: int, total: int) -> None:
        raise KeyboardInterrupt  # the user stops it (any exception does the same)

    with pytest.raises(KeyboardInterrupt):
        run(after, out=out, parts=parts, progress=stop, threads=1)
    assert _all_files(out) == kept
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result"]  # no partial folder
    assert open_result(out).run["scenario"]["name"] == "a"


def test_a_new_run_replaces_the_whole_result_folder(tmp_path):
    """Nothing of a previous result survives a new one (a stale part, a file of another
    layout), and the new folder holds exactly what a run into an empty folder holds."""
    arms = [Arm("100 mg", Regimen(100.0, n_doses=3))]
    sc = Scenario("a", LogNormalPopulation(n=30), arms, np.linspace(0, 72, 13), seed=1,
                  chunk_size=10)  # fmt: skip
    run(sc, out=tmp_path / "fresh")
    out = tmp_path / "reused"
    run(replace(sc, chunk_size=7), out=out, parts=True)
    (out / "notes.txt").write_text("left by someone")
    run(sc, out=out)
    assert file_hashes(out) == file_hashes(tmp_path / "fresh")
    assert sorted(p.name for p in out.iterdir()) == sorted(
        p.name for p in (tmp_path / "fresh").iterdir()
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fresh", "reused"]


def test_a_chunk_write_that_never_finished_leaves_no_file_in_the_result(tmp_path):
    """A writer killed mid-write (a Dask worker) leaves zarr's temporary file of the chunk;
    its task runs again elsewhere and writes the chunk whole: the result holds the same
    files as a run where nothing died."""
    arms = [Arm("100 mg", Regimen(100.0, n_doses=3))]
    sc = Scenario("a", LogNormalPopulation(n=30), arms, np.linspace(0, 72, 13), seed=1,
                  chunk_size=10)  # fmt: skip
    run(sc, out=tmp_path / "clean")
    dead = []

    def killed_writer(done: int, total: int) -> None:
        if not dead:  # as a killed worker leaves it, in the run's store being written
            (store,) = tmp_path.glob(".died.*.partial/result.zarr")
            chunk = next(p for p in sorted((store / "conc").rglob("*")) if p.is_file())
            dead.append(chunk.with_suffix(".0123456789abcdef0123456789abcdef.partial"))
            dead[0].write_bytes(b"half a chunk")

    run(sc, out=tmp_path / "died", progress=killed_writer, threads=1)
    assert dead and not any((tmp_path / "died").rglob("*.partial"))
    assert file_hashes(tmp_path / "died") == file_hashes(tmp_path / "clean")
