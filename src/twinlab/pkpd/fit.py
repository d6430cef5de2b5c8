"""Fit a population model with NUTS: nutpie by default, PyMC's sampler as the fallback.

:func:`fit` builds the PyMC model of a :class:`~twinlab.pkpd.population.PopulationSpec`
(:func:`~twinlab.pkpd.population.build_model`), compiles it with nutpie (Numba back end) and
samples it; if nutpie is missing or fails to compile the model, it falls back to
``pymc.sample`` (PyMC's own NUTS), logs a warning and records ``sampler="pymc"``. A compiled
nutpie model is cached in the process for the same spec and data, so a repeated fit (a warm
fit) skips compilation. Results are deterministic for a seed.

The posterior is ArviZ's ``InferenceData``; :attr:`FitResult.posterior` gives it as an
:class:`xarray.DataTree` and :meth:`FitResult.to_zarr` / :func:`open_fit` store and reopen it
(with the data in ``constant_data`` and the spec in the root attributes).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import time
import warnings
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from twinlab.config import resolve
from twinlab.pkpd.dataset import NonmemData, PopulationArrays, read_nonmem
from twinlab.pkpd.population import PopulationSpec, build_model

__all__ = ["FitResult", "fit", "load_data", "open_fit"]

log = logging.getLogger(__name__)

_ARRAY_FIELDS = (
    "subject_ids",
    "obs_subject",
    "obs_time",
    "obs_dv",
    "obs_cens",
    "obs_lloq",
    "obs_dvid",
    "dose_time",
    "dose_amt",
    "dose_rate",
    "dose_duration",
    "dose_cmt",
    "dose_ss",
)
_COMPILED: OrderedDict[str, Any] = OrderedDict()
_CACHE_SIZE = 4


def load_data(
    data: PopulationArrays | NonmemData | str | os.PathLike[str], model: str | None = None
) -> PopulationArrays:
    """``PopulationArrays`` from arrays, a :class:`NonmemData` or a NONMEM data file path.

    ``model`` sets the ADVAN convention of a ``CMT`` derived by :func:`read_nonmem`.
    """
    if isinstance(data, PopulationArrays):
        return data
    if isinstance(data, str | os.PathLike):
        path = Path(data)
        if not path.is_file():
            raise FileNotFoundError(f"no data file {path}")
        data = read_nonmem(path, model=model)
    if isinstance(data, NonmemData):
        return data.to_arrays()
    raise TypeError(f"cannot fit data of type {type(data).__name__}")


def _fingerprint(spec: PopulationSpec, arrays: PopulationArrays) -> str:
    h = hashlib.sha256(json.dumps(spec.to_dict(), sort_keys=True).encode())
    for name in _ARRAY_FIELDS:
        h.update(np.ascontiguousarray(getattr(arrays, name)).tobytes())
    for name in sorted(arrays.covariates):
        h.update(name.encode() + np.ascontiguousarray(arrays.covariates[name]).tobytes())
    return h.hexdigest()


@dataclass
class FitResult:
    """A fitted population model.

    Attributes
    ----------
    spec : PopulationSpec
        What was fitted.
    arrays : PopulationArrays
        The data it was fitted to.
    idata : arviz.InferenceData
        Posterior, sample stats and observed data.
    sampler : str
        ``"nutpie"`` or ``"pymc"`` (the fallback).
    timings : dict
        ``compile_s``, ``sample_s`` and ``total_s`` wall times in seconds, and
        ``compiled_from_disk`` (the compiled model came from the disk cache of an earlier
        process, :func:`twinlab.pkpd.nutpie_compile.load_model`).
    settings : dict
        ``draws``, ``tune``, ``chains``, ``seed``.
    """

    spec: PopulationSpec
    arrays: PopulationArrays
    idata: Any
    sampler: str = "nutpie"
    timings: dict[str, float | bool] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def posterior(self) -> Any:
        """Everything as an :class:`xarray.DataTree` (groups ``posterior``, ``sample_stats``...)."""
        return self.idata.to_datatree()

    def summary(self, *, hdi_prob: float = 0.94) -> dict[str, Any]:
        """Posterior summary in natural units, JSON-ready.

        Returns
        -------
        dict
            ``parameters``: typical values by their usual name (``ka``, ``cl``, ``v``...),
            each ``{"mean", "sd", "hdi_low", "hdi_high", "r_hat", "ess_bulk"}``;
            ``omega`` (BSV SDs, log scale), ``sigma`` (residual SDs), ``effects`` (covariate
            effects); ``max_rhat``, ``min_ess_bulk`` (over every free variable),
            ``divergences``, ``hdi_prob``, ``sampler``, ``settings``, ``model``. Wall-clock
            timings are in :attr:`timings`, not here, so the summary is reproducible.
        """
        import arviz as az

        post = self.idata.posterior
        fixed = {p.name for p in self.spec.parameters if p.fixed}
        names = [str(v) for v in post.data_vars if not str(v).endswith("__")]
        groups = {
            "parameters": [p.name for p in self.spec.parameters if p.name not in fixed],
            "omega": [v for v in names if v.startswith("omega_")],
            "sigma": [v for v in names if v.startswith("sigma_")],
            "effects": [v for v in names if v.startswith("beta_") and post[v].ndim == 2],
        }
        if "chol_eta_stds" in post:
            groups["omega"] = []
        out: dict[str, Any] = {"model": self.spec.model, "name": self.spec.name}
        for group, members in groups.items():
            out[group] = {n: _stats(post[n], hdi_prob) for n in members}
        if "chol_eta_stds" in post:
            stds = post["chol_eta_stds"]
            for k, name in enumerate(self.spec.random):
                out["omega"][f"omega_{name}"] = _stats(stds.isel({stds.dims[-1]: k}), hdi_prob)
        free = [v for v in names if _is_free(v)]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rhat = az.rhat(post[free])
            ess = az.ess(post[free], method="bulk")
        out["max_rhat"] = float(max(float(rhat[v].max()) for v in free))
        out["min_ess_bulk"] = float(min(float(ess[v].min()) for v in free))
        out["divergences"] = int(self.idata.sample_stats["diverging"].sum())
        out["hdi_prob"] = hdi_prob
        out["sampler"] = self.sampler
        out["settings"] = dict(self.settings)
        return out

    def parameter_table(self, *, hdi_prob: float = 0.94) -> Any:
        """Every estimated quantity, one row each: typical values, covariate effects, BSV
        (variance and CV%), eta correlations, residual errors, with HDI, R-hat and bulk ESS.

        See :func:`twinlab.pkpd.tables.parameter_table` (a :class:`pandas.DataFrame`).
        """
        from twinlab.pkpd.tables import parameter_table

        return parameter_table(self, hdi_prob=hdi_prob)

    def to_zarr(self, path: str | os.PathLike[str]) -> Path:
        """Write the posterior, the data and the spec to a zarr store (a DataTree)."""
        import xarray as xr

        path = Path(path)
        tree = self.posterior
        tree["constant_data"] = xr.DataTree(_arrays_dataset(self.arrays))
        tree.attrs.update(
            {
                "twinlab_spec": json.dumps(self.spec.to_dict()),
                "twinlab_sampler": self.sampler,
                "twinlab_settings": json.dumps(self.settings),
            }
        )
        for node in tree.subtree:
            # wall-clock facts change on every run; they belong to the audit log
            node.attrs = {k: _attr(v) for k, v in node.attrs.items() if k not in VOLATILE_ATTRS}
        tree.to_zarr(path, mode="w", consolidated=False)
        return path


#: Attributes that differ between identical runs (ArviZ's creation time, sampling time).
VOLATILE_ATTRS = frozenset({"created_at", "sampling_time", "twinlab_timings"})


def _attr(v: Any) -> Any:
    if isinstance(v, str | int | float | bool) or v is None:
        return v
    if isinstance(v, np.generic):
        return v.item()
    return str(v)


def _is_free(name: str) -> bool:
    return name.startswith(("log_", "omega_", "z", "beta_", "sigma_", "chol_eta_stds"))


def _stats(da: Any, hdi_prob: float) -> dict[str, float]:
    import arviz as az

    x = np.asarray(da.values, dtype=float).reshape(da.sizes["chain"], da.sizes["draw"])
    lo, hi = _hdi(x.ravel(), hdi_prob)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rhat = float(az.rhat(x)) if x.shape[0] > 1 else float("nan")
        ess = float(az.ess(x, method="bulk"))
    return {
        "mean": float(x.mean()),
        "sd": float(x.std(ddof=1)),
        "hdi_low": lo,
        "hdi_high": hi,
        "r_hat": rhat,
        "ess_bulk": ess,
    }


def _hdi(x: np.ndarray, prob: float) -> tuple[float, float]:
    """Narrowest interval holding ``prob`` of the draws (as ArviZ computes it)."""
    x = np.sort(x)
    n = x.size
    k = int(np.floor(prob * n))
    widths = x[k:] - x[: n - k]
    i = int(np.argmin(widths))
    return float(x[i]), float(x[i + k])


def _arrays_dataset(arrays: PopulationArrays) -> Any:
    import xarray as xr

    data = {}
    for name in _ARRAY_FIELDS:
        v = np.asarray(getattr(arrays, name))
        dims = (
            ("subject",)
            if name == "subject_ids"
            else (("obs",) if name.startswith("obs_") else ("subject", "dose"))
        )
        data[name] = (dims, v)
    for name, v in arrays.covariates.items():
        data[f"cov_{name}"] = (("subject",), np.asarray(v, dtype=float))
    return xr.Dataset(data)


def _arrays_from_dataset(ds: Any) -> PopulationArrays:
    kw = {name: np.asarray(ds[name].values) for name in _ARRAY_FIELDS}
    # sorted: a Zarr store lists its arrays in an order that varies with the hash seed
    names = sorted(str(k)[4:] for k in ds.data_vars if str(k).startswith("cov_"))
    cov = {n: np.asarray(ds[f"cov_{n}"].values) for n in names}
    return PopulationArrays(n_subjects=int(ds.sizes["subject"]), covariates=cov, **kw)


def open_fit(path: str | os.PathLike[str]) -> FitResult:
    """Reopen a :class:`FitResult` written by :meth:`FitResult.to_zarr`: the zarr store, or
    a folder holding it as ``posterior.zarr`` (what ``twinlab fit --out`` writes)."""
    import arviz as az
    import xarray as xr

    path = resolve(path)  # from the project root: the same from notebooks/
    if (path / "posterior.zarr").exists():
        path = path / "posterior.zarr"
    if not path.exists():
        raise FileNotFoundError(f"no fit at {path}")
    tree = xr.open_datatree(path, engine="zarr", consolidated=False).load()
    attrs = dict(tree.attrs)
    arrays = _arrays_from_dataset(tree["constant_data"].to_dataset())
    spec = PopulationSpec.from_dict(json.loads(attrs["twinlab_spec"]))
    groups = {k: tree[k].to_dataset() for k in tree.children if k != "constant_data"}
    idata = az.InferenceData(**groups)
    return FitResult(
        spec=spec,
        arrays=arrays,
        idata=idata,
        sampler=attrs.get("twinlab_sampler", "nutpie"),
        timings=json.loads(attrs.get("twinlab_timings", "{}")),
        settings=json.loads(attrs.get("twinlab_settings", "{}")),
    )


def _with_jitter(compiled: Any, jitter: float) -> Any:
    """``compiled`` whose chains start at the prior medians plus ``uniform(-jitter, jitter)``
    on the unconstrained scale, drawn from each chain's seed (so the fit's seed fixes them)."""
    import dataclasses

    base = compiled.initial_point_func

    def initial_point(seed: Any) -> np.ndarray:
        x = np.asarray(base(seed), dtype=float)
        rng = np.random.default_rng(int(seed) % 2**63)
        return x + rng.uniform(-jitter, jitter, size=x.shape)

    return dataclasses.replace(compiled, initial_point_func=initial_point)


def fit(
    spec: PopulationSpec | str | os.PathLike[str],
    data: PopulationArrays | NonmemData | str | os.PathLike[str],
    *,
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 4,
    seed: int = 20240611,
    sampler: str = "nutpie",
    cores: int | None = None,
    target_accept: float = 0.8,
    low_rank: bool = False,
    progress: bool | None = None,
    jitter: float = 0.1,
) -> FitResult:
    """Fit ``spec`` to ``data`` with NUTS.

    Parameters
    ----------
    spec : PopulationSpec or path
        The population model (or a YAML file holding it).
    data : PopulationArrays, NonmemData or path
        The data (a NONMEM CSV path is read with :func:`~twinlab.pkpd.dataset.read_nonmem`).
    draws, tune, chains : int
        Posterior draws and warm-up iterations per chain, and the number of chains.
    seed : int
        Seed; the same seed gives the same draws.
    sampler : str
        ``"nutpie"`` (default; falls back to ``"pymc"`` with a warning if nutpie fails to
        compile the model) or ``"pymc"``.
    cores : int, optional
        Chains run in parallel (default: all CPUs, at most ``chains``).
    target_accept : float
        NUTS target acceptance of the step-size adaptation (both samplers); raise it (0.9,
        0.95) when a fit reports divergences.
    low_rank : bool
        nutpie only: adapt a diagonal plus low-rank mass matrix
        (``low_rank_modified_mass_matrix``) instead of a diagonal one. It follows posterior
        correlations (typical value against its BSV, ``ka`` against ``V``): on the warfarin
        fit it halves the leapfrog steps per draw and doubles the ESS per second
        (``benchmarks/results/fit_warfarin.md``), at a higher cost per step. Ignored, with a
        warning, by PyMC's sampler.
    progress : bool or None
        ``None`` (default) or ``True``: nutpie's live display (chains, draws, divergences,
        time left) in a terminal or a notebook, and a line every 10 s to stderr where
        stderr is not a terminal (a DVC stage's log); ``False``: silent. Progress never
        changes the draws (:mod:`twinlab.pkpd.progress`). A notebook executed as a pipeline
        stage should pass ``False``: the live display's timings would enter its outputs.
    jitter : float
        nutpie only: every chain starts at the prior medians (the support point of each free
        variable: typical values at their guesses, individual effects at 0) plus
        ``uniform(-jitter, jitter)`` on the unconstrained scale, drawn from the chain's seed.
        PyMC's default of 1 (a factor e either way) sends chains of PK models into the
        flip-flop mode (``ka < CL/V``) or numerically stiff regions often enough to fail a
        gate of R-hat <= 1.01; 0.1 keeps the chains apart without that.

    Returns
    -------
    FitResult

    Notes
    -----
    nutpie's compiled model is kept on disk, beside PyTensor's compile cache
    (``<base_compiledir>/twinlab_models``), keyed by the spec, the data, the model-building
    code and the library versions: a new process fitting the same model and data skips PyMC,
    PyTensor's graph rewriting and Numba's code generation, with the same draws
    (:mod:`twinlab.pkpd.nutpie_compile`). ``TWINLAB_MODEL_CACHE=0`` in the environment
    compiles in every process instead.
    """
    if not isinstance(spec, PopulationSpec):
        spec = PopulationSpec.from_yaml(spec)
    arrays = load_data(data, spec.model)
    if sampler not in ("nutpie", "pymc"):
        raise ValueError(f"sampler must be 'nutpie' or 'pymc', not {sampler!r}")
    cores = min(chains, cores or os.cpu_count() or 1)
    if not (math.isfinite(jitter) and jitter >= 0):
        raise ValueError(f"jitter must be a non-negative number, not {jitter!r}")
    settings = {"draws": draws, "tune": tune, "chains": chains, "seed": seed}
    if jitter != 0.1:
        settings["jitter"] = jitter
    if target_accept != 0.8:
        settings["target_accept"] = target_accept
    if low_rank:
        settings["low_rank"] = True
    t0 = time.perf_counter()
    model = None
    used = sampler
    compile_s = 0.0
    from_disk = False
    idata = None
    if sampler == "nutpie":
        from twinlab.pkpd import nutpie_compile

        key = _fingerprint(spec, arrays)
        tc = time.perf_counter()
        compiled = _COMPILED.get(key)
        # a new process: the same model and data compiled before come from the disk cache
        disk = os.environ.get("TWINLAB_MODEL_CACHE", "1") != "0"
        disk_key = nutpie_compile.model_cache_key(key) if compiled is None and disk else ""
        if disk_key:
            compiled = nutpie_compile.load_model(disk_key)
            compile_s = time.perf_counter() - tc
            from_disk = compiled is not None
        if compiled is None:
            model, _info = build_model(spec, arrays)
        try:
            if compiled is None:
                tc = time.perf_counter()
                # chains start at the prior medians, jittered by fit() itself (see jitter)
                compiled = nutpie_compile.compile_pymc_model(
                    model, jitter_rvs=set(), disk_cache=disk
                )
                compile_s = time.perf_counter() - tc
                if disk_key:
                    nutpie_compile.store_model(disk_key, compiled)
            if key not in _COMPILED:
                _COMPILED[key] = compiled
                while len(_COMPILED) > _CACHE_SIZE:
                    _COMPILED.popitem(last=False)
        except Exception as err:
            warnings.warn(
                f"nutpie could not compile the model ({err}); using PyMC's NUTS",
                RuntimeWarning,
                stacklevel=2,
            )
            used = "pymc"
        else:
            import nutpie

            from twinlab.pkpd.progress import progress_mode, sample_with_log

            compiled = _with_jitter(compiled, jitter)
            ts = time.perf_counter()
            options = {
                "draws": draws,
                "tune": tune,
                "chains": chains,
                "seed": seed,
                "cores": cores,
                "low_rank_modified_mass_matrix": low_rank,
                "target_accept": target_accept,
            }
            if progress_mode(progress) == "log":
                idata = sample_with_log(nutpie.sample, compiled, **options)
            else:
                display = progress_mode(progress) == "display"
                idata = nutpie.sample(compiled, progress_bar=display, **options)
            sample_s = time.perf_counter() - ts
    if used == "pymc":
        import pymc as pm

        if model is None:
            model, _info = build_model(spec, arrays)

        if low_rank:
            warnings.warn(
                "PyMC's NUTS has no low-rank mass matrix; using a diagonal one",
                RuntimeWarning,
                stacklevel=2,
            )
        from twinlab.pkpd.progress import progress_mode

        ts = time.perf_counter()
        with model:
            idata = pm.sample(
                draws=draws,
                tune=tune,
                chains=chains,
                cores=cores,
                random_seed=seed,
                target_accept=target_accept,
                progressbar=progress_mode(progress) == "display",
                compute_convergence_checks=False,
            )
        sample_s = time.perf_counter() - ts
    timings = {
        "compile_s": compile_s,
        "compiled_from_disk": from_disk,
        "sample_s": sample_s,
        "total_s": time.perf_counter() - t0,
    }
    log.info("fitted %s with %s in %.1f s", spec.model, used, timings["total_s"])
    result = FitResult(
        spec=spec, arrays=arrays, idata=idata, sampler=used, timings=timings, settings=settings
    )
    from twinlab.audit import audit_event
    from twinlab.audit.trail import audit_log

    if audit_log() is not None:
        s = result.summary()
        audit_event(
            "model.fit",
            spec.name or spec.model,
            params={"spec": spec.to_dict(), "data": _fingerprint(spec, arrays), **settings},
            new={k: s[k] for k in ("max_rhat", "min_ess_bulk", "divergences", "sampler")},
        )
    return result
