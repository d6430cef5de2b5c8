"""The lean nutpie wrappers: the same return codes, values and draws as nutpie's own."""

from __future__ import annotations

import ctypes

import numpy as np
import pymc as pm
import pytest

from twinlab.pkpd.nutpie_compile import compile_pymc_model, lean_wrappers_supported


def _model(sigma: float | None = None) -> pm.Model:
    """A normal mean (and SD, unless ``sigma`` is given) with a deterministic."""
    with pm.Model() as model:
        mu = pm.Normal("mu", 0.0, 10.0)
        sd = pm.HalfNormal("sigma", 2.0) if sigma is None else sigma
        pm.Normal("y", mu, sd, observed=np.array([0.3, -1.2, 2.5, 0.8]))
        pm.Deterministic("twice", 2 * mu)
    return model


def _call_logp(compiled, x: np.ndarray) -> tuple[int, float, np.ndarray]:
    fn = compiled.compiled_logp_func
    out = np.zeros_like(x)
    logp = np.zeros(())
    dbl = ctypes.POINTER(ctypes.c_double)
    code = fn.ctypes(
        x.size,
        x.ctypes.data_as(dbl),
        out.ctypes.data_as(dbl),
        logp.ctypes.data_as(dbl),
        compiled.user_data.ctypes.data_as(ctypes.c_void_p),
    )
    return int(code), float(logp), out


def test_the_installed_nutpie_is_the_one_the_lean_wrappers_replace():
    # constraints.txt pins nutpie; if an upgrade changes its private factories, fit() silently
    # uses nutpie's own wrappers: this test says so instead
    assert lean_wrappers_supported()


def test_lean_wrappers_return_what_nutpies_return_and_sample_the_same_draws():
    import nutpie

    # the mean alone: a log density that overflows with a finite gradient is possible
    lean = compile_pymc_model(_model(sigma=1.0), jitter_rvs=set())
    plain = compile_pymc_model(_model(sigma=1.0), jitter_rvs=set(), lean=False)
    assert lean.compiled_logp_func is not plain.compiled_logp_func
    # finite; a log density that overflows (code 4); a non-finite gradient (code 3)
    points = [np.array([0.4]), np.array([1e160]), np.array([np.inf])]
    codes = []
    for x in points:
        got, want = _call_logp(lean, x), _call_logp(plain, x)
        assert got[0] == want[0]
        np.testing.assert_array_equal(got[2], want[2])
        if np.isfinite(want[1]):
            assert got[1] == want[1]
        codes.append(got[0])
    assert codes == [0, 4, 3]  # the three cases really are the three codes
    lean = compile_pymc_model(_model(), jitter_rvs=set())
    plain = compile_pymc_model(_model(), jitter_rvs=set(), lean=False)
    draws = [
        nutpie.sample(c, draws=50, tune=50, chains=2, seed=3, progress_bar=False)
        for c in (lean, plain)
    ]
    for name in ("mu", "sigma", "twice"):
        np.testing.assert_array_equal(draws[0].posterior[name], draws[1].posterior[name])


def test_nutpies_own_factories_are_restored_after_compiling():
    import nutpie.compile_pymc as cp

    before = (cp._make_c_logp_func, cp._make_c_expand_func)
    compile_pymc_model(_model())
    assert (cp._make_c_logp_func, cp._make_c_expand_func) == before


def test_a_failing_compilation_restores_them_too(monkeypatch):
    import nutpie
    import nutpie.compile_pymc as cp

    before = (cp._make_c_logp_func, cp._make_c_expand_func)

    def broken(*args, **kwargs):
        raise RuntimeError("no compiler")

    monkeypatch.setattr(nutpie, "compile_pymc_model", broken)
    with pytest.raises(RuntimeError, match="no compiler"):
        compile_pymc_model(_model())
    assert (cp._make_c_logp_func, cp._make_c_expand_func) == before


def test_a_model_stored_on_disk_loads_without_compiling_and_samples_the_same_draws(
    tmp_path, monkeypatch
):
    import nutpie

    from twinlab.pkpd import nutpie_compile

    monkeypatch.setattr(nutpie_compile, "_model_dir", lambda: tmp_path)
    compiled = compile_pymc_model(_model(), jitter_rvs=set())
    key = nutpie_compile.model_cache_key("a normal mean and SD")
    assert nutpie_compile.load_model(key) is None  # nothing stored yet
    assert nutpie_compile.store_model(key, compiled)
    # the record holds the fit's data: private to its owner
    assert (tmp_path / f"{key}.pkl").stat().st_mode & 0o777 == 0o600
    assert tmp_path.stat().st_mode & 0o777 == 0o700
    loaded = nutpie_compile.load_model(key)
    assert loaded is not None and loaded.logp_func is None  # no PyTensor function rebuilt
    # the machine code came from numba's cache, not from a new compilation
    assert loaded.compiled_logp_func.cache_hits == 1
    assert loaded.compiled_expand_func.cache_hits == 1
    for x in (np.array([0.4, -0.3]), np.array([np.inf, 0.0])):
        got, want = _call_logp(loaded, x), _call_logp(compiled, x)
        assert got[0] == want[0] and got[1] == want[1]
        np.testing.assert_array_equal(got[2], want[2])
    draws = [
        nutpie.sample(c, draws=50, tune=50, chains=2, seed=3, progress_bar=False)
        for c in (compiled, loaded)
    ]
    for name in ("mu", "sigma", "twice"):
        np.testing.assert_array_equal(draws[0].posterior[name], draws[1].posterior[name])


def test_a_changed_model_or_a_damaged_record_is_compiled_again(tmp_path, monkeypatch):
    from twinlab.pkpd import nutpie_compile

    monkeypatch.setattr(nutpie_compile, "_model_dir", lambda: tmp_path)
    key = nutpie_compile.model_cache_key("data A")
    assert key != nutpie_compile.model_cache_key("data B")
    assert nutpie_compile.store_model(key, compile_pymc_model(_model(), jitter_rvs=set()))
    assert nutpie_compile.load_model(nutpie_compile.model_cache_key("data B")) is None
    (tmp_path / f"{key}.pkl").write_bytes(b"not a pickle")
    assert nutpie_compile.load_model(key) is None
    # a start point that depends on the seed (PyMC's jitter) is not a value to store
    assert not nutpie_compile.store_model(key, compile_pymc_model(_model()))
    # nor a model compiled without the disk cache
    assert not nutpie_compile.store_model(
        key, compile_pymc_model(_model(), jitter_rvs=set(), disk_cache=False)
    )


def test_a_record_that_cannot_be_written_is_skipped_without_a_trace(tmp_path, monkeypatch):
    from twinlab.pkpd import nutpie_compile

    monkeypatch.setattr(nutpie_compile, "_model_dir", lambda: tmp_path)
    compiled = compile_pymc_model(_model(), jitter_rvs=set())

    def unpicklable(*args, **kwargs):
        raise TypeError("cannot pickle")

    monkeypatch.setattr(nutpie_compile.pickle, "dump", unpicklable)
    assert not nutpie_compile.store_model("k", compiled)
    assert list(tmp_path.iterdir()) == []  # no half-written file left


def test_the_stored_models_are_pruned_least_recently_used_first(tmp_path, monkeypatch):
    """Each record holds its fit's data: the folder is kept under a size limit, and a model
    loaded recently outlives one stored earlier and never loaded since."""
    import os

    from twinlab.pkpd import nutpie_compile

    monkeypatch.setattr(nutpie_compile, "_model_dir", lambda: tmp_path)
    compiled = compile_pymc_model(_model(), jitter_rvs=set())
    keys = [nutpie_compile.model_cache_key(f"data {i}") for i in range(3)]
    for age, key in zip((300, 200, 100), keys, strict=True):
        assert nutpie_compile.store_model(key, compiled)
        then = (tmp_path / f"{key}.pkl").stat().st_mtime - age
        os.utime(tmp_path / f"{key}.pkl", (then, then))
    size = (tmp_path / f"{keys[0]}.pkl").stat().st_size
    assert nutpie_compile.load_model(keys[0]) is not None  # the oldest, now the newest use
    assert nutpie_compile.prune_models(3 * size) == []  # all fit
    assert nutpie_compile.prune_models(2 * size) == [tmp_path / f"{keys[1]}.pkl"]
    # the limit from the environment, applied after every store
    monkeypatch.setenv("TWINLAB_MODEL_CACHE_MAX_MB", str(1.5 * size / 2**20))
    assert nutpie_compile.store_model(keys[1], compiled)
    assert sorted(p.name for p in tmp_path.glob("*.pkl")) == [f"{keys[1]}.pkl"]
    assert nutpie_compile.load_model(keys[1]) is not None
