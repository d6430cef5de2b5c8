"""The surrogate: held-out error on a known PK function, binding, integrity, extrapolation."""

from __future__ import annotations

import doctest
import hashlib
import io
import json
import os
import pickle
import shlex

import numpy as np
import pandas as pd
import pytest
import yaml

from twinlab.surrogate import (
    ExtrapolationWarning,
    StaleSurrogateError,
    Surrogate,
    SurrogateIntegrityError,
)

BINDING = {"model": "twinurostat_pk", "version": 3, "data_hash": "ab" * 32}
RANGES = {"dose": (50.0, 400.0), "ka": (0.5, 3.0), "cl": (2.0, 20.0), "v": (20.0, 80.0)}


def design(n: int, seed: int) -> pd.DataFrame:
    """Log-uniform PK parameters and doses (as a sweep of the twin would vary them)."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {k: np.exp(rng.uniform(np.log(lo), np.log(hi), n)) for k, (lo, hi) in RANGES.items()}
    )


def pk_exposure(x: pd.DataFrame) -> pd.DataFrame:
    """Closed forms of the 1-cmt oral model (F = 1): Cmax of the Bateman function, AUC."""
    ke = x["cl"] / x["v"]
    tmax = np.log(x["ka"] / ke) / (x["ka"] - ke)
    scale = x["dose"] * x["ka"] / (x["v"] * (x["ka"] - ke))
    cmax = scale * (np.exp(-ke * tmax) - np.exp(-x["ka"] * tmax))
    return pd.DataFrame({"cmax": cmax, "auc": x["dose"] / x["cl"]})


@pytest.fixture(scope="module")
def gp() -> Surrogate:
    x = design(100, seed=1)
    return Surrogate.train(
        x,
        pk_exposure(x),
        kind="gp",
        binding=BINDING,
        seed=7,
        log_inputs=list(RANGES),
        log_outputs=True,
        n_restarts=0,
    )


def test_closed_form_cmax_is_the_maximum_of_the_bateman_curve():
    x = design(5, seed=3)
    t = np.linspace(0, 48, 200_001)[:, None]
    ke, ka = (x["cl"] / x["v"]).to_numpy(), x["ka"].to_numpy()
    curve = x["dose"].to_numpy() * ka / (x["v"].to_numpy() * (ka - ke))
    curve = curve * (np.exp(-ke * t) - np.exp(-ka * t))
    # a grid step of 2.4e-4 h misses the peak by < 1e-8 relative (the slope is 0 there)
    np.testing.assert_allclose(pk_exposure(x)["cmax"], curve.max(axis=0), rtol=1e-8)


def test_gp_held_out_error_is_small_and_reported_per_output(gp):
    err = gp.error
    assert (err["n_train"], err["n_test"]) == (80, 20)
    for name in ("cmax", "auc"):
        assert set(err[name]) == {"rmse", "mae", "max_abs", "r2"}
        assert err[name]["r2"] > 0.999
        assert err[name]["mae"] <= err[name]["rmse"] <= err[name]["max_abs"]
    # relative to the outputs' scale (Cmax ~0.5-15 mg/L, AUC ~2.5-200 mg·h/L)
    assert err["cmax"]["rmse"] < 0.05 and err["auc"]["rmse"] < 0.5


def test_gp_predicts_unseen_points_within_its_held_out_error(gp):
    x = design(300, seed=99)
    x = x[~gp.extrapolating(x)]
    truth = pk_exposure(x)
    pred = gp.predict(x, return_std=True)
    assert list(pred.columns) == ["cmax", "cmax_sd", "auc", "auc_sd"]
    for name in ("cmax", "auc"):
        resid = np.abs(pred[name] - truth[name])
        # 20 held-out runs estimate the error of runs from the same design: the typical error
        # agrees, and nearly all fresh errors stay below the worst held-out one
        assert resid.mean() <= 2 * gp.error[name]["mae"]
        assert (resid <= gp.error[name]["max_abs"]).mean() >= 0.9
        assert (resid / truth[name]).max() < 0.02
        # the predictive sd is an honest error scale: most errors within 3 sd
        assert (resid <= 3 * pred[f"{name}_sd"]).mean() > 0.9


def test_one_what_if_point_as_a_mapping(gp):
    point = {"dose": 200.0, "ka": 1.2, "cl": 6.0, "v": 40.0}
    pred = gp.predict(point)
    assert pred["auc"].item() == pytest.approx(200.0 / 6.0, rel=0.01)


def test_gbm_learns_a_large_sweep_and_has_no_sd():
    x = design(2000, seed=5)
    s = Surrogate.train(x, pk_exposure(x)["auc"], kind="gbm", binding=BINDING, seed=2)
    assert s.outputs == ["auc"] and s.error["n_test"] == 400
    assert s.error["auc"]["r2"] > 0.97
    with pytest.raises(ValueError, match="return_std needs kind='gp'"):
        s.predict(x.head(), return_std=True)


def test_same_seed_gives_the_same_surrogate():
    x = design(40, seed=8)
    y = pk_exposure(x)["auc"]
    a = Surrogate.train(x, y, binding=BINDING, seed=3, log_inputs=["cl"], n_restarts=0)
    b = Surrogate.train(x, y, binding=BINDING, seed=3, log_inputs=["cl"], n_restarts=0)
    assert a.sha256 == b.sha256 and a.error == b.error
    pd.testing.assert_frame_equal(
        a.predict(x, warn=False), b.predict(x, warn=False), check_exact=True
    )


def test_save_load_round_trip_gives_identical_predictions(gp, tmp_path):
    folder = gp.save(tmp_path / "surrogate")
    meta = json.loads((folder / "surrogate.json").read_text())
    assert meta["binding"] == BINDING and meta["kind"] == "gp"
    assert meta["model_sha256"] == hashlib.sha256((folder / "model.npz").read_bytes()).hexdigest()
    assert [d["name"] for d in meta["inputs"]] == list(RANGES)
    assert all(RANGES[d["name"]][0] <= d["min"] < d["max"] <= RANGES[d["name"]][1]
               for d in meta["inputs"])  # fmt: skip
    assert meta["versions"]["scikit-learn"] and meta["error"] == gp.error
    loaded = Surrogate.load(folder, expect=dict(BINDING))
    x = design(50, seed=42)
    pd.testing.assert_frame_equal(
        loaded.predict(x, return_std=True, warn=False),
        gp.predict(x, return_std=True, warn=False),
        check_exact=True,
    )
    assert loaded.provenance() == gp.provenance()


def test_a_changed_twin_model_makes_the_surrogate_stale(gp, tmp_path):
    folder = gp.save(tmp_path / "s")
    newer = {**BINDING, "version": 4}
    assert gp.is_stale(newer) and not gp.is_stale(dict(BINDING))
    with pytest.raises(StaleSurrogateError, match=r"version: 3 → 4") as info:
        Surrogate.load(folder, expect=newer)
    assert isinstance(info.value, ValueError)
    with pytest.raises(StaleSurrogateError, match="data_hash"):
        gp.check_binding({**BINDING, "data_hash": "cd" * 32})
    with pytest.raises(StaleSurrogateError, match=r"data_hash: .* → \(not expected\)"):
        Surrogate.load(folder, expect={"model": "twinurostat_pk", "version": 3})


class _Payload:
    """Unpickling this runs a shell command that writes a marker file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"echo pwned > {shlex.quote(self.marker)}",))


def _plant(folder, data: bytes, **meta_changes) -> None:
    """Replace the model file and make surrogate.json agree with it, as an attacker would."""
    meta = json.loads((folder / "surrogate.json").read_text())
    meta.update(model_sha256=hashlib.sha256(data).hexdigest(), **meta_changes)
    (folder / meta.get("model_file", "model.npz")).write_bytes(data)
    (folder / "surrogate.json").write_text(json.dumps(meta))


def test_the_planted_payload_really_runs_code_when_unpickled(tmp_path):
    # the control for the tests below: this payload is live
    marker = tmp_path / "control"
    pickle.loads(pickle.dumps(_Payload(marker)))
    assert marker.read_text().strip() == "pwned"


def test_a_planted_pickle_with_a_matching_json_is_refused_and_runs_nothing(gp, tmp_path):
    marker = tmp_path / "PWNED"
    payload = pickle.dumps(_Payload(marker))
    # 1. a pickle in place of model.npz, the json hash updated to match
    folder = gp.save(tmp_path / "a")
    _plant(folder, payload)
    with pytest.raises(SurrogateIntegrityError, match="not an npz archive"):
        Surrogate.load(folder)
    # 2. an npz whose array is a pickled object (np.save stores object arrays as pickles)
    folder = gp.save(tmp_path / "b")
    buffer = io.BytesIO()
    np.savez(buffer, **{"0.alpha": np.array([_Payload(marker)], dtype=object)})
    _plant(folder, buffer.getvalue())
    with pytest.raises(SurrogateIntegrityError, match="unreadable arrays"):
        Surrogate.load(folder)
    # 3. the old joblib format, claimed by its json
    folder = gp.save(tmp_path / "c")
    (folder / "model.npz").unlink()
    _plant(folder, payload, format="twinlab-surrogate/1", model_file="model.joblib")
    with pytest.raises(SurrogateIntegrityError, match=r"a pickle .* not loaded: retrain"):
        Surrogate.load(folder)
    assert not marker.exists()


def test_a_replaced_model_file_is_refused_by_its_hash(gp, tmp_path):
    folder = gp.save(tmp_path / "s")
    (folder / "model.npz").write_bytes(b"PK\x05\x06" + bytes(18))
    with pytest.raises(SurrogateIntegrityError, match="changed or replaced"):
        Surrogate.load(folder)
    # a hash pinned elsewhere (audit log) guards against an edited surrogate.json as well
    folder = gp.save(tmp_path / "t")
    with pytest.raises(SurrogateIntegrityError, match="pinned"):
        Surrogate.load(folder, sha256="0" * 64)
    assert Surrogate.load(folder, sha256=gp.sha256).sha256 == gp.sha256


def _write_lock(lock, folder) -> None:
    from twinlab.audit.records import dir_md5

    out = {"path": os.path.relpath(folder, lock.parent), "hash": "md5", "md5": dir_md5(folder)}
    lock.write_text(yaml.safe_dump({"schema": "2.0", "stages": {"surrogate": {"outs": [out]}}}))


def test_dvc_lock_pins_the_folder_against_a_consistent_replacement(gp, tmp_path):
    folder = gp.save(tmp_path / "models" / "surrogate")
    lock = tmp_path / "dvc.lock"
    _write_lock(lock, folder)
    assert Surrogate.load(folder, lock=lock).sha256 == gp.sha256
    # another (valid, self-consistent) surrogate saved over it passes its own json check ...
    x = design(30, seed=4)
    other = Surrogate.train(x, pk_exposure(x)["auc"], kind="gbm", binding=BINDING, seed=1)
    other.save(folder)
    assert Surrogate.load(folder).sha256 == other.sha256
    # ... but not the digest dvc.lock (in git) recorded for the folder
    with pytest.raises(SurrogateIntegrityError, match=r"records .*refusing it"):
        Surrogate.load(folder, lock=lock)
    (folder / "extra.txt").write_text("x")
    with pytest.raises(SurrogateIntegrityError, match=r"holds .*extra.txt"):
        Surrogate.load(folder, lock=lock)
    with pytest.raises(SurrogateIntegrityError, match="records no output"):
        Surrogate.load(gp.save(tmp_path / "elsewhere"), lock=lock)


def test_the_lock_digest_is_dvcs_folder_digest(gp, tmp_path):
    from twinlab.audit.records import dir_md5
    from twinlab.surrogate import _dvc_dir_md5

    folder = gp.save(tmp_path / "s")
    files = {p.name: p.read_bytes() for p in folder.iterdir()}
    assert _dvc_dir_md5(files) == dir_md5(folder)


def test_malformed_arrays_are_refused_even_with_a_matching_hash(tmp_path):
    x = design(300, seed=6)
    s = Surrogate.train(x, pk_exposure(x)["auc"], kind="gbm", binding=BINDING, seed=1)
    arrays = s.models["auc"].arrays("0.")
    assert not arrays["0.is_leaf"].all()  # the trees split
    # a split pointing back at itself: a walk that never ends
    loop = {**arrays, "0.left": np.where(arrays["0.is_leaf"], 0, np.arange(len(arrays["0.left"])))}
    wrong_dtype = {**arrays, "0.value": arrays["0.value"].astype(np.float32)}
    extra = {**arrays, "1.value": arrays["0.value"]}
    for changed, match in [
        (loop, "links outside its subtree"),
        (wrong_dtype, r"is float32\[.*expected float64"),
        (extra, "unexpected arrays"),
    ]:
        folder = s.save(tmp_path / str(len(list(tmp_path.iterdir()))))
        buffer = io.BytesIO()
        np.savez(buffer, **changed)
        _plant(folder, buffer.getvalue())
        with pytest.raises(SurrogateIntegrityError, match=match):
            Surrogate.load(folder)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("kernel", ["matern", "rbf"])
def test_the_gp_emulator_predicts_as_scikit_learn_does(kernel):
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import RBF, ConstantKernel, Matern, WhiteKernel
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    from twinlab.surrogate import GPEmulator

    x = np.log(design(60, seed=11).to_numpy())
    y = np.sin(x[:, 0]) + x[:, 1] * x[:, 2]
    shape = Matern(np.ones(4), nu=2.5) if kernel == "matern" else RBF(np.ones(4))
    gpr = GaussianProcessRegressor(
        ConstantKernel() * shape + WhiteKernel(1e-4), normalize_y=True, random_state=0
    )
    pipeline = Pipeline([("scale", StandardScaler()), ("model", gpr)]).fit(x, y)
    emulator = GPEmulator.from_pipeline(pipeline, kernel)
    new = np.log(design(40, seed=12).to_numpy())
    mean, sd = emulator.predict(new, return_std=True)
    want_mean, want_sd = pipeline.predict(new, return_std=True)
    np.testing.assert_allclose(mean, want_mean, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(sd, want_sd, rtol=1e-9, atol=1e-12)


def test_the_gbm_emulator_predicts_exactly_as_scikit_learn_does():
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.pipeline import Pipeline

    from twinlab.surrogate import GBMEmulator

    x = design(3000, seed=13).to_numpy()
    y = x[:, 0] / x[:, 2] + np.where(x[:, 1] > 1.5, 3.0, 0.0)
    pipeline = Pipeline([("model", HistGradientBoostingRegressor(random_state=0))]).fit(x, y)
    emulator = GBMEmulator.from_pipeline(pipeline)
    new = design(500, seed=14).to_numpy().copy()
    new[:7, 1] = np.nan  # missing values follow each split's learned side
    np.testing.assert_array_equal(emulator.predict(new)[0], pipeline.predict(new))


def test_extrapolation_is_flagged_and_warned(gp):
    inside = {k: [(lo + hi) / 2] for k, (lo, hi) in RANGES.items()}
    outside = pd.DataFrame({**inside, "dose": [1000.0]})
    x = pd.concat([pd.DataFrame(inside), outside], ignore_index=True)
    assert gp.extrapolating(x).tolist() == [False, True]
    with pytest.warns(ExtrapolationWarning, match="1 of 2 row"):
        gp.predict(x)
    prov = gp.provenance(x)
    assert prov["batch"]["n"] == 2 and prov["batch"]["n_extrapolating"] == 1
    assert prov["binding"] == BINDING and prov["model_sha256"] == gp.sha256


@pytest.mark.parametrize(
    ("x", "match"),
    [
        (pd.DataFrame({"dose": [100.0], "ka": [1.0], "cl": [5.0]}), r"missing \['v'\]"),
        (pd.DataFrame({"dose": [1.0], "ka": [1.0], "CL": [5.0], "v": [9.0]}), r"unknown \['CL'\]"),
        (pd.DataFrame({"dose": ["a"], "ka": [1.0], "cl": [5.0], "v": [9.0]}), "non-numeric"),
        (pd.DataFrame({"dose": [np.nan], "ka": [1.0], "cl": [5.0], "v": [9.0]}), "NaN"),
        (pd.DataFrame({"dose": [100.0], "ka": [1.0], "cl": [-5.0], "v": [9.0]}), "log scale"),
        (np.ones((1, 4)), "DataFrame"),
    ],
)
def test_bad_prediction_inputs_are_refused(gp, x, match):
    with pytest.raises(ValueError, match=match):
        gp.predict(x)


def test_bad_training_inputs_are_refused():
    x = design(30, seed=1)
    y = pk_exposure(x)
    with pytest.raises(ValueError, match="30 rows but y has 29"):
        Surrogate.train(x, y.iloc[:-1], binding=BINDING, seed=0)
    with pytest.raises(ValueError, match="kind must be one of"):
        Surrogate.train(x, y, kind="nn", binding=BINDING, seed=0)
    with pytest.raises(ValueError, match=r"log_inputs names unknown input\(s\) \['CL'\]"):
        Surrogate.train(x, y, binding=BINDING, seed=0, log_inputs=["CL"])
    with pytest.raises(ValueError, match="log_outputs needs outputs > 0"):
        Surrogate.train(x, y - 10, binding=BINDING, seed=0, log_outputs=True)
    with pytest.raises(ValueError, match="too few"):
        Surrogate.train(x.head(5), y.head(5), binding=BINDING, seed=0)
    with pytest.raises(ValueError, match="JSON-serializable"):
        Surrogate.train(x, y, binding={"model": object()}, seed=0)


def test_binding_of_a_registered_model_card_detects_a_new_version(gp):
    from twinlab.surrogate import model_binding

    card = {"name": "twinurostat_pk", "version": 3, "data_hash": "ab" * 32, "spec": {}}
    assert model_binding(card) == BINDING and not gp.is_stale(model_binding(card))
    assert gp.is_stale(model_binding({**card, "version": 4}))
    with pytest.raises(ValueError, match="lacks"):
        model_binding({"name": "x"})


def test_docstring_examples():
    import twinlab.surrogate

    result = doctest.testmod(twinlab.surrogate)
    assert result.attempted > 0 and result.failed == 0


def test_predictions_are_audited_with_the_model_version_and_an_input_digest(
    gp, tmp_path, monkeypatch
):
    from twinlab.audit import verify

    log = tmp_path / "audit.jsonl"
    monkeypatch.setenv("TWINLAB_AUDIT_LOG", str(log))
    x = design(5, seed=99)
    gp.predict(x)
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    assert [e["action"] for e in entries] == ["surrogate.predict", "audit.checkpoint"]
    params = entries[0]["params"]
    assert params["binding"] == gp.binding and params["model_sha256"] == gp.sha256
    digest = hashlib.sha256(np.ascontiguousarray(x[gp.inputs].to_numpy(float)).tobytes())
    assert params["batch"] == {"n": 5, "inputs_sha256": digest.hexdigest(), "n_extrapolating": 0}
    assert verify(log).ok
