"""A surrogate of the twin's simulated outputs: answers in milliseconds, bound to the model
it learned.

A :class:`Surrogate` is trained on simulated sweeps (inputs → outputs of the twin), reports
its error on held-out runs, and is bound to the twin model version it was trained on: the
binding (e.g. ``{"model": "twinurostat_pk", "version": 3, "data_hash": "…"}``) is stored with
it, and loading it against another binding raises :class:`StaleSurrogateError` so the pipeline
retrains it instead of answering from an outdated model.

Two kinds, both scikit-learn, one model per output:

``"gp"``
    :class:`~sklearn.gaussian_process.GaussianProcessRegressor` with an ARD kernel (one length
    scale per input; Matérn 5/2 or RBF) times a constant, plus a white-noise term, on
    standardized (optionally log-transformed) inputs, ``normalize_y=True``. Smooth, gives a
    predictive standard deviation; for up to a few thousand training runs.
``"gbm"``
    :class:`~sklearn.ensemble.HistGradientBoostingRegressor`: scales to large sweeps,
    no predictive sd.

Storage: ``model.npz`` (the fitted emulators as plain numeric arrays) and ``surrogate.json``
(binding, inputs with their training ranges, outputs, error, kind, options, package versions
and the sha256 of ``model.npz``). Loading a model file never executes code from it. The
formats compared:

* pickle / joblib (format 1, refused now): unpickling runs whatever the file says, so anyone
  who can write the model folder (and the hash in ``surrogate.json`` beside it) runs code as
  the user who loads it.
* skops: a restricted loader that rebuilds the scikit-learn objects from a list of trusted
  types. It keeps scikit-learn's own ``predict``, but its bytes are not reproducible (zip
  time stamps, object ids in member names), so ``dvc repro -f`` would change the pinned hash
  on every run; the trusted-type list changes with scikit-learn's internals; its loader has
  had trust-bypass advisories; and it is one more dependency.
* arrays in npz (chosen): :func:`numpy.load` with ``allow_pickle=False`` can only return
  numeric arrays, and the bytes are deterministic. Prediction needs little: a Gaussian process
  is its standardized training inputs, ``alpha``, the Cholesky factor and four kernel
  hyperparameters (:class:`GPEmulator`, which evaluates the kernel with scikit-learn's kernel
  classes rebuilt from those numbers); boosted trees are node tables walked in NumPy
  (:class:`GBMEmulator`). Both are exported right after fitting and are what
  :meth:`Surrogate.predict` uses, in memory and after loading; the tests check them against
  scikit-learn's ``predict`` of the fitted estimators.

Every array's name, dtype and shape is checked on load, as are tree links (a child comes
after its parent, so a walk always ends). Integrity: the file's sha256 must match
``surrogate.json`` and, when given, a hash pinned where a writer of the model folder cannot
change it – ``Surrogate.load(folder, lock="dvc.lock")`` checks the folder against the digest
``dvc.lock`` recorded for it (in git), ``sha256=`` against a hash from the audit log (the
``surrogate`` stage records ``model_sha256`` in its signed entry).
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import math
import os
import platform
import warnings
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import yaml
from scipy.linalg import solve_triangular
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import RBF, ConstantKernel, Matern, WhiteKernel
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from twinlab.config import resolve

__all__ = [
    "FORMAT",
    "ExtrapolationWarning",
    "GBMEmulator",
    "GPEmulator",
    "StaleSurrogateError",
    "Surrogate",
    "SurrogateIntegrityError",
    "model_binding",
    "training_table",
]

FORMAT = "twinlab-surrogate/2"
#: Earlier formats that are refused, with why.
OLD_FORMATS = {"twinlab-surrogate/1": "a pickle (model.joblib), which runs code when loaded"}
MODEL_FILE = "model.npz"
META_FILE = "surrogate.json"
KINDS = ("gp", "gbm")
GP_KERNELS = ("matern", "rbf")
_META_KEYS = ("kind", "binding", "inputs", "outputs", "error", "options", "model_sha256")
MAX_GP_TRAIN = 5000

log = logging.getLogger(__name__)


class StaleSurrogateError(ValueError):
    """The surrogate was trained on another twin model (version, data…) than expected."""


class SurrogateIntegrityError(ValueError):
    """The stored model file is not the one described by ``surrogate.json``."""


class ExtrapolationWarning(UserWarning):
    """Prediction inputs lie outside the ranges the surrogate was trained on."""


def _audit_predictions(action: str, target: str, model: Any, X: Any) -> None:
    """Record an AI-made prediction batch (model version, inputs digest) in the active audit
    log – a no-op without one (:func:`twinlab.audit.audit_event`)."""
    from twinlab.audit import audit_event
    from twinlab.audit.trail import audit_log

    if audit_log() is not None:
        audit_event(action, str(target), params=model.provenance(X))


def model_binding(model: Any) -> dict[str, Any]:
    """The binding of a registered twin model: its name, version and data hash.

    Parameters
    ----------
    model
        A :class:`twinlab.pkpd.registry.RegisteredModel` or its model card (a mapping with
        ``name``, ``version`` and ``data_hash``, as in ``card.json``).

    Returns
    -------
    dict
        ``{"model": name, "version": version, "data_hash": data_hash}``.

    Examples
    --------
    >>> model_binding({"name": "twinurostat_pk", "version": 2, "data_hash": "ab12", "spec": {}})
    {'model': 'twinurostat_pk', 'version': 2, 'data_hash': 'ab12'}
    """
    card = getattr(model, "card", model)
    if not isinstance(card, Mapping):
        raise ValueError(f"expected a registered model or its card, not {type(model).__name__}")
    missing = [k for k in ("name", "version", "data_hash") if k not in card]
    if missing:
        raise ValueError(f"model card lacks {missing}: not a twinlab model card")
    return {"model": card["name"], "version": card["version"], "data_hash": card["data_hash"]}


def training_table(
    scenario: Any,
    *,
    n_patients: int,
    inputs: Sequence[str],
    outputs: Sequence[str],
    doses: Sequence[float],
    intervals_h: Sequence[float],
    duration_h: float,
    times: Any,
    result: Any = None,
    client: Any = None,
    chunk_size: int = 1024,
) -> pd.DataFrame:
    """Training runs of a surrogate: the simulate stage's own virtual patients, every regimen.

    The first ``n_patients`` virtual patients of ``scenario`` (the one the simulate stage ran:
    same population, seed and chunks; their first draw, parameters as the engine drew them,
    :func:`twinlab.simulate.patients.scenario_patients`), their ``inputs`` parameters as they
    are and every other parameter at its median over them, go through every regimen of
    ``doses`` × ``intervals_h`` for ``duration_h`` hours, simulated by the engine
    (:func:`twinlab.sensitivity.sweep`, on Dask with ``client``).

    Parameters
    ----------
    scenario : Scenario
        The simulate stage's scenario.
    n_patients : int
        Virtual patients 0 .. ``n_patients - 1``.
    inputs, outputs : sequence of str
        Individual parameters the surrogate takes; exposure/PD outputs it predicts.
    doses, intervals_h : sequence of float
        The regimens (mg, hours).
    duration_h : float
        Treatment duration of every regimen.
    times : array-like
        Observation grid (hours).
    result : SimulationResult or path, optional
        The simulate stage's result: its patients must be the scenario's (else
        ``ValueError``), so a stale result is never trained on.
    client : distributed.Client, optional
    chunk_size : int
        Patients per sweep task.

    Returns
    -------
    pandas.DataFrame
        ``dose``, ``interval_h``, the inputs and the outputs: one row per patient and regimen,
        regimen by regimen; ``attrs["fixed"]`` holds the median parameters.
    """
    from twinlab.sensitivity import sweep
    from twinlab.sensitivity.response import ModelResponse
    from twinlab.simulate import Arm, Regimen
    from twinlab.simulate.patients import scenario_patients

    patients = scenario_patients(scenario, n_patients, result=result)
    inputs, outputs = list(inputs), list(outputs)
    unknown = sorted(set(inputs) - set(patients.attrs["parameters"]))
    if unknown:
        raise ValueError(
            f"inputs {unknown} are not parameters of the population "
            f"({', '.join(patients.attrs['parameters'])})"
        )
    fixed = {
        k: float(np.median(patients[k])) for k in patients.attrs["parameters"] if k not in inputs
    }
    regimens = [(float(d), float(i)) for d in doses for i in intervals_h]
    arms = [
        Arm(f"{d:g}mg/{i:g}h", Regimen(d, interval_h=i, duration_h=float(duration_h)))
        for d, i in regimens
    ]
    func = ModelResponse(
        scenario.population.model,
        arms,
        np.asarray(times, dtype=float),
        outputs,
        fixed=fixed,
        threshold=scenario.threshold,
    )
    samples = patients[inputs].reset_index(drop=True)
    wide = sweep(func, samples, client=client, chunk_size=int(chunk_size))
    rows = []
    for arm, (dose, interval) in zip(arms, regimens, strict=True):
        block = samples.copy()
        block.insert(0, "interval_h", interval)
        block.insert(0, "dose", dose)
        for o in outputs:
            block[o] = wide[f"{o}|{arm.name}"].to_numpy()
        rows.append(block)
    table = pd.concat(rows, ignore_index=True)
    table.attrs["fixed"] = fixed
    return table


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for pkg in ("twinlab", "scikit-learn", "numpy", "scipy"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:  # pragma: no cover - running from a source tree
            out[pkg] = "unknown"
    return out


def _canonical(binding: Mapping[str, Any]) -> dict[str, Any]:
    """The binding as JSON would give it back (so stored and given bindings compare)."""
    if not isinstance(binding, Mapping):
        raise ValueError(
            "binding must be a mapping such as {'model': name, 'version': v, 'data_hash': h}, "
            f"not {type(binding).__name__}"
        )
    if not binding:
        raise ValueError("binding is empty: name at least the twin model and its version")
    try:
        return json.loads(json.dumps(dict(binding), sort_keys=True))
    except TypeError as exc:
        raise ValueError(f"binding values must be JSON-serializable: {exc}") from None


def _binding_changes(stored: Mapping[str, Any], expected: Mapping[str, Any]) -> list[str]:
    changes = []
    for key in sorted(set(stored) | set(expected)):
        if key not in expected:
            changes.append(f"{key}: {stored[key]!r} → (not expected)")
        elif key not in stored:
            changes.append(f"{key}: (not recorded) → {expected[key]!r}")
        elif stored[key] != expected[key]:
            changes.append(f"{key}: {stored[key]!r} → {expected[key]!r}")
    return changes


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _log_columns(x: np.ndarray, columns: Sequence[int]) -> np.ndarray:
    """Natural log of the given columns (a picklable FunctionTransformer func)."""
    x = np.array(x, dtype=float, copy=True)
    if columns:
        x[:, list(columns)] = np.log(x[:, list(columns)])
    return x


def _numeric_frame(x: Any, what: str) -> pd.DataFrame:
    if isinstance(x, Mapping):
        x = pd.DataFrame({k: np.atleast_1d(v) for k, v in x.items()})
    if not isinstance(x, pd.DataFrame):
        raise ValueError(f"{what} must be a pandas DataFrame (or a mapping of columns)")
    if x.empty:
        raise ValueError(f"{what} is empty")
    bad = [c for c in x.columns if not pd.api.types.is_numeric_dtype(x[c])]
    if bad:
        raise ValueError(f"{what} has non-numeric column(s) {bad}")
    values = x.to_numpy(dtype=float)
    if not np.isfinite(values).all():
        cols = [c for c in x.columns if not np.isfinite(x[c].to_numpy(dtype=float)).all()]
        raise ValueError(f"{what} has NaN/inf values in column(s) {cols}")
    return x


#: The stored dtypes, by kind: 64-bit floats and integers (native byte order) and booleans.
_DTYPES = {"f": np.dtype(np.float64), "i": np.dtype(np.int64), "b": np.dtype(bool)}


class _Arrays:
    """Read named arrays of a stored emulator, checking dtype and shape (refusing the file)."""

    def __init__(self, arrays: Mapping[str, np.ndarray], prefix: str, where: str) -> None:
        self._arrays, self._prefix, self._where = arrays, prefix, where

    def get(
        self,
        name: str,
        kind: str,
        ndim: int,
        shape: Sequence[int | None] = (),
        *,
        finite: bool = True,
    ) -> np.ndarray:
        key = self._prefix + name
        value = self._arrays.get(key)
        if value is None:
            raise SurrogateIntegrityError(f"{self._where} lacks the array {key!r}")
        shape = tuple(shape) or (None,) * ndim
        if (
            value.dtype != _DTYPES[kind]
            or value.ndim != ndim
            or any(
                want is not None and got != want
                for got, want in zip(value.shape, shape, strict=True)
            )
        ):
            raise SurrogateIntegrityError(
                f"{self._where}: array {key!r} is {value.dtype}{list(value.shape)}, "
                f"expected {_DTYPES[kind]}{list(shape)}"
            )
        if kind == "f" and not (np.isfinite(value) if finite else ~np.isnan(value)).all():
            raise SurrogateIntegrityError(f"{self._where}: array {key!r} has NaN/inf values")
        return value


@dataclass(frozen=True, eq=False)
class GPEmulator:
    """A fitted Gaussian process as the arrays its prediction needs.

    The kernel is ``constant * k(length_scale) + white(noise)`` with ``k`` Matérn 5/2 or RBF
    (ARD), on inputs standardized with ``x_mean`` and ``x_scale``; the targets were
    normalized with ``y_mean`` and ``y_std``. Prediction is scikit-learn's Algorithm 2.1
    (Rasmussen & Williams), with the kernel evaluated by scikit-learn's kernel classes built
    from these numbers.

    Parameters
    ----------
    kernel : {"matern", "rbf"}
        The stationary part of the kernel.
    x_mean, x_scale : numpy.ndarray
        Input standardization, shape ``(d,)``.
    x_train : numpy.ndarray
        Standardized training inputs, shape ``(n, d)``.
    alpha : numpy.ndarray
        ``K^-1 y`` of the normalized targets, shape ``(n,)``.
    chol : numpy.ndarray
        Lower Cholesky factor of the training kernel matrix, shape ``(n, n)``.
    y_mean, y_std, constant, noise : float
        Target normalization, kernel amplitude and white-noise level.
    length_scale : numpy.ndarray
        One length scale per input, shape ``(d,)``.
    """

    kernel: str
    x_mean: np.ndarray
    x_scale: np.ndarray
    x_train: np.ndarray
    alpha: np.ndarray
    chol: np.ndarray
    y_mean: float
    y_std: float
    constant: float
    length_scale: np.ndarray
    noise: float

    FIELDS = ("x_mean", "x_scale", "x_train", "alpha", "chol", "y_mean", "y_std", "constant",
              "length_scale", "noise")  # fmt: skip

    @classmethod
    def from_pipeline(cls, pipeline: Pipeline, kernel: str) -> GPEmulator:
        """Export a fitted ``log → StandardScaler → GaussianProcessRegressor`` pipeline."""
        scaler, gpr = pipeline.named_steps["scale"], pipeline.named_steps["model"]
        k = gpr.kernel_
        shape = RBF if kernel == "rbf" else Matern
        if not (
            isinstance(k.k1.k1, ConstantKernel)
            and isinstance(k.k1.k2, shape)
            and isinstance(k.k2, WhiteKernel)
        ):
            raise ValueError(f"unexpected fitted kernel {k!r}")  # pragma: no cover
        d = len(scaler.mean_)
        return cls(
            kernel=kernel,
            x_mean=np.asarray(scaler.mean_, dtype=float),
            x_scale=np.asarray(scaler.scale_, dtype=float),
            x_train=np.asarray(gpr.X_train_, dtype=float),
            alpha=np.asarray(gpr.alpha_, dtype=float).reshape(-1),
            chol=np.asarray(gpr.L_, dtype=float),
            y_mean=float(gpr._y_train_mean),
            y_std=float(gpr._y_train_std),
            constant=float(k.k1.k1.constant_value),
            length_scale=np.broadcast_to(np.asarray(k.k1.k2.length_scale, dtype=float), (d,)),
            noise=float(k.k2.noise_level),
        )

    def _kernel(self) -> Any:
        ls = self.length_scale
        shape = RBF(ls, "fixed") if self.kernel == "rbf" else Matern(ls, "fixed", nu=2.5)
        return ConstantKernel(self.constant, "fixed") * shape + WhiteKernel(self.noise, "fixed")

    def predict(self, x: np.ndarray, *, return_std: bool = False) -> tuple[np.ndarray, Any]:
        """Posterior mean (and sd) at inputs ``x`` (shape ``(m, d)``, log columns applied)."""
        z = (x - self.x_mean) / self.x_scale
        kernel = self._kernel()
        k_trans = kernel(z, self.x_train)
        mean = self.y_std * (k_trans @ self.alpha) + self.y_mean
        if not return_std:
            return mean, None
        v = solve_triangular(self.chol, k_trans.T, lower=True, check_finite=False)
        var = kernel.diag(z).copy()
        var -= np.einsum("ij,ji->i", v.T, v)
        var[var < 0] = 0.0
        return mean, np.sqrt(var * self.y_std**2)

    def arrays(self, prefix: str) -> dict[str, np.ndarray]:
        """The arrays to store, named ``prefix + field``."""
        return {prefix + f: np.asarray(getattr(self, f), dtype=float) for f in self.FIELDS}

    @classmethod
    def from_arrays(
        cls,
        arrays: Mapping[str, np.ndarray],
        prefix: str,
        *,
        kernel: str,
        n_inputs: int,
        where: str,
    ) -> GPEmulator:
        """Rebuild from stored arrays, checking every dtype and shape."""
        a = _Arrays(arrays, prefix, where)
        d = n_inputs
        x_train = a.get("x_train", "f", 2, (None, d))
        n = x_train.shape[0]
        scalars = {f: float(a.get(f, "f", 0)) for f in ("y_mean", "y_std", "constant", "noise")}
        if kernel not in GP_KERNELS:
            raise SurrogateIntegrityError(f"{where}: unknown GP kernel {kernel!r}")
        return cls(
            kernel=kernel,
            x_mean=a.get("x_mean", "f", 1, (d,)),
            x_scale=a.get("x_scale", "f", 1, (d,)),
            x_train=x_train,
            alpha=a.get("alpha", "f", 1, (n,)),
            chol=a.get("chol", "f", 2, (n, n)),
            length_scale=a.get("length_scale", "f", 1, (d,)),
            **scalars,
        )


@dataclass(frozen=True, eq=False)
class GBMEmulator:
    """Fitted gradient-boosted regression trees as one node table.

    Node ``i`` of the table is a leaf (``is_leaf``, predicting ``value``) or a split sending
    ``x[feature] <= threshold`` to ``left`` and larger values to ``right`` (a missing value
    goes to ``left`` when ``missing_left``). Tree ``t`` starts at node ``roots[t]``; a
    prediction is ``baseline`` plus the sum over trees of the leaf each row reaches (the
    squared-error loss has the identity link). Children always come after their parent, so
    a walk ends.

    Parameters
    ----------
    baseline : float
        The initial prediction.
    roots : numpy.ndarray
        First node of each tree, shape ``(T,)``.
    value, threshold : numpy.ndarray
        Leaf values and split thresholds, shape ``(N,)``.
    feature, left, right : numpy.ndarray
        Split feature and child node indices (into the whole table), shape ``(N,)``.
    missing_left, is_leaf : numpy.ndarray
        Booleans, shape ``(N,)``.
    """

    baseline: float
    roots: np.ndarray
    value: np.ndarray
    threshold: np.ndarray
    feature: np.ndarray
    left: np.ndarray
    right: np.ndarray
    missing_left: np.ndarray
    is_leaf: np.ndarray

    @classmethod
    def from_pipeline(cls, pipeline: Pipeline) -> GBMEmulator:
        """Export a fitted ``log → HistGradientBoostingRegressor`` pipeline."""
        model = pipeline.named_steps["model"]
        if model.loss != "squared_error" or model.n_trees_per_iteration_ != 1:
            raise ValueError("only single-output squared-error boosting is supported")
        tables, roots, offset = [], [], 0
        for (predictor,) in model._predictors:
            nodes = predictor.nodes
            if nodes["is_categorical"].any():
                raise ValueError("categorical splits are not supported")  # pragma: no cover
            roots.append(offset)
            tables.append((nodes, offset))
            offset += len(nodes)

        def column(name: str, dtype: Any, shift: bool = False) -> np.ndarray:
            parts = [
                n[name].astype(dtype) + off if shift else n[name].astype(dtype) for n, off in tables
            ]
            return np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)

        is_leaf = column("is_leaf", bool)
        left, right = column("left", np.int64, True), column("right", np.int64, True)
        return cls(
            baseline=float(np.asarray(model._baseline_prediction).reshape(-1)[0]),
            roots=np.asarray(roots, dtype=np.int64),
            value=column("value", float),
            threshold=column("num_threshold", float),
            feature=np.where(is_leaf, 0, column("feature_idx", np.int64)),
            left=np.where(is_leaf, 0, left),
            right=np.where(is_leaf, 0, right),
            missing_left=column("missing_go_to_left", bool),
            is_leaf=is_leaf,
        )

    def predict(self, x: np.ndarray, *, return_std: bool = False) -> tuple[np.ndarray, Any]:
        """Sum of the trees' leaf values at inputs ``x`` (shape ``(m, d)``)."""
        if return_std:
            raise ValueError("boosted trees have no predictive sd")
        m, n_trees = x.shape[0], len(self.roots)
        node = np.tile(self.roots, m)  # row-major (row, tree): one walker per pair
        row = np.repeat(np.arange(m), n_trees)
        active = np.flatnonzero(~self.is_leaf[node])
        while active.size:  # children come after parents: every walk ends
            at = node[active]
            v = x[row[active], self.feature[at]]
            go_left = np.where(np.isnan(v), self.missing_left[at], v <= self.threshold[at])
            step = np.where(go_left, self.left[at], self.right[at])
            node[active] = step
            active = active[~self.is_leaf[step]]
        values = self.value[node].reshape(m, n_trees)
        out = np.zeros(m) + self.baseline
        for t in range(values.shape[1]):  # tree by tree, as scikit-learn sums them
            out += values[:, t]
        return out, None

    def arrays(self, prefix: str) -> dict[str, np.ndarray]:
        """The arrays to store, named ``prefix + field``."""
        return {
            prefix + "baseline": np.asarray(self.baseline, dtype=float),
            **{prefix + f: getattr(self, f) for f in _GBM_ARRAYS},
        }

    @classmethod
    def from_arrays(
        cls, arrays: Mapping[str, np.ndarray], prefix: str, *, n_inputs: int, where: str
    ) -> GBMEmulator:
        """Rebuild from stored arrays, checking dtypes, shapes and that every walk ends."""
        a = _Arrays(arrays, prefix, where)
        value = a.get("value", "f", 1)
        n = len(value)
        parts = {
            f: a.get(f, kind, 1, (n,), finite=f != "threshold")  # a split on NaN: inf threshold
            for f, kind in _GBM_ARRAYS.items()
            if f != "roots"
        }
        roots = a.get("roots", "i", 1)
        if n == 0 or len(roots) == 0:
            raise SurrogateIntegrityError(f"{where}: the tree table is empty")
        ends = np.append(roots[1:], n)
        index = np.arange(n)
        tree_end = np.zeros(n, dtype=np.int64)
        if roots[0] != 0 or (np.diff(roots) <= 0).any() or roots[-1] >= n:
            raise SurrogateIntegrityError(f"{where}: tree roots are not increasing node indices")
        tree_end[:] = ends[np.searchsorted(roots, index, side="right") - 1]
        split = ~parts["is_leaf"]
        for link in ("left", "right"):
            child = parts[link][split]
            if ((child <= index[split]) | (child >= tree_end[split])).any():
                raise SurrogateIntegrityError(
                    f"{where}: a tree node links outside its subtree ({link} child)"
                )
        feature = parts["feature"][split]
        if ((feature < 0) | (feature >= n_inputs)).any():
            raise SurrogateIntegrityError(f"{where}: a split uses an unknown input column")
        return cls(baseline=float(a.get("baseline", "f", 0)), roots=roots, **parts)


#: GBM arrays besides ``baseline``: name -> NumPy dtype kind.
_GBM_ARRAYS = {
    "roots": "i", "value": "f", "threshold": "f", "feature": "i", "left": "i", "right": "i",
    "missing_left": "b", "is_leaf": "b",
}  # fmt: skip


@dataclass(eq=False)
class Surrogate:
    """A trained emulator of twin outputs; create with :meth:`train` or :meth:`load`.

    Attributes
    ----------
    kind : {"gp", "gbm"}
        The regressor.
    inputs : list of str
        Input columns, in order.
    outputs : list of str
        Output columns, in order.
    ranges : dict
        ``{input: (min, max)}`` over the training rows.
    binding : dict
        The twin model it was trained on.
    error : dict
        Held-out error per output (``rmse``, ``mae``, ``max_abs``, ``r2``) plus ``n_train``,
        ``n_test``.
    options : dict
        ``seed``, ``test_fraction``, ``log_inputs``, ``log_outputs``, ``kernel``.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from twinlab.surrogate import Surrogate
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame({"dose": rng.uniform(50, 300, 40), "cl": rng.uniform(2, 10, 40)})
    >>> y = (X["dose"] / X["cl"]).rename("auc")
    >>> s = Surrogate.train(X, y, binding={"model": "demo", "version": 1}, seed=0,
    ...                     log_inputs=["dose", "cl"], log_outputs=True, n_restarts=0)
    >>> s.error["auc"]["r2"] > 0.999
    True
    >>> round(float(s.predict({"dose": 100.0, "cl": 5.0})["auc"].iloc[0]), 1)
    20.0
    """

    kind: str
    inputs: list[str]
    outputs: list[str]
    ranges: dict[str, tuple[float, float]]
    binding: dict[str, Any]
    error: dict[str, Any]
    options: dict[str, Any]
    models: dict[str, GPEmulator | GBMEmulator] = field(repr=False)
    versions: dict[str, str] = field(default_factory=_versions, repr=False)
    _sha256: str | None = field(default=None, repr=False)

    # -- training -------------------------------------------------------------------------
    @classmethod
    def train(
        cls,
        X: pd.DataFrame,
        y: pd.Series | pd.DataFrame,
        *,
        kind: Literal["gp", "gbm"] = "gp",
        binding: Mapping[str, Any],
        seed: int,
        test_fraction: float = 0.2,
        log_inputs: Sequence[str] = (),
        log_outputs: bool = False,
        kernel: Literal["matern", "rbf"] = "matern",
        n_restarts: int = 1,
    ) -> Surrogate:
        """Fit one regressor per output on a random split of the runs, score the rest.

        Parameters
        ----------
        X
            Inputs, one row per simulated run, numeric columns.
        y
            Outputs for the same rows (a named Series or a DataFrame).
        kind
            ``"gp"`` (Gaussian process) or ``"gbm"`` (gradient boosting).
        binding
            Identifies the twin model that produced ``y`` (JSON-serializable values).
        seed
            Seeds the train/test split and the regressors.
        test_fraction
            Share of rows held out to measure the error (the stored model is the one fitted
            to the remaining rows, so the reported error is that model's error).
        log_inputs
            Inputs to model on log scale (PK parameters, doses; must be > 0).
        log_outputs
            Model the outputs on log scale (concentrations, AUCs; must be > 0). Predictions
            are then ``exp`` of the predicted log (the median), and the sd is a log-normal sd.
        kernel
            GP kernel: ARD ``"matern"`` (ν = 5/2) or ``"rbf"``.
        n_restarts
            GP optimizer restarts from random hyperparameters (each costs one more fit).

        Returns
        -------
        Surrogate
        """
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        if kernel not in GP_KERNELS:
            raise ValueError(f"kernel must be one of {GP_KERNELS}, got {kernel!r}")
        if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
        if not 0 < test_fraction < 1:
            raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
        binding = _canonical(binding)
        X = _numeric_frame(X, "X")
        if X.columns.has_duplicates or not all(isinstance(c, str) for c in X.columns):
            raise ValueError(f"X columns must be unique strings, got {list(X.columns)}")
        if isinstance(y, pd.Series):
            y = y.to_frame(name=y.name if y.name is not None else "y")
        y = _numeric_frame(y, "y")
        if y.columns.has_duplicates or not all(isinstance(c, str) for c in y.columns):
            raise ValueError(f"y columns must be unique strings, got {list(y.columns)}")
        if len(X) != len(y):
            raise ValueError(f"X has {len(X)} rows but y has {len(y)}: give one output per run")
        reserved = [c for c in y.columns if c in ("n_train", "n_test")]
        if reserved:
            raise ValueError(f"output names {reserved} are reserved (error counts): rename them")
        log_inputs = [log_inputs] if isinstance(log_inputs, str) else list(log_inputs)
        unknown = [c for c in log_inputs if c not in X.columns]
        if unknown:
            raise ValueError(f"log_inputs names unknown input(s) {unknown}; inputs: {list(X)}")
        for c in log_inputs:
            if (X[c] <= 0).any():
                raise ValueError(f"log input {c!r} has values <= 0; log scale needs > 0")
        if log_outputs and (y.to_numpy() <= 0).any():
            bad = [c for c in y.columns if (y[c] <= 0).any()]
            raise ValueError(f"log_outputs needs outputs > 0; {bad} have values <= 0")
        n_test = math.ceil(len(X) * test_fraction)
        if n_test < 2 or len(X) - n_test < 5:
            raise ValueError(
                f"{len(X)} runs are too few with test_fraction={test_fraction}: need at least "
                "5 training and 2 held-out runs"
            )
        if kind == "gp" and len(X) - n_test > MAX_GP_TRAIN:
            raise ValueError(
                f"{len(X) - n_test} training runs are too many for a Gaussian process (cost "
                f"grows as n³; limit {MAX_GP_TRAIN}): subsample the sweep or use kind='gbm'"
            )
        x_train, x_test, y_train, y_test = train_test_split(
            X, y, test_size=n_test, random_state=int(seed), shuffle=True
        )
        inputs, outputs = list(X.columns), list(y.columns)
        log_idx = [inputs.index(c) for c in log_inputs]
        models: dict[str, GPEmulator | GBMEmulator] = {}
        fit_notes: list[str] = []
        for name in outputs:
            target = y_train[name].to_numpy(dtype=float)
            if log_outputs:
                target = np.log(target)
            model = _pipeline(kind, len(inputs), log_idx, int(seed), kernel, n_restarts)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", ConvergenceWarning)
                model.fit(x_train.to_numpy(dtype=float), target)
            for w in caught:
                if issubclass(w.category, ConvergenceWarning):
                    note = str(w.message).strip().splitlines()[0]
                    fit_notes.append(f"{name}: {note}")
                    log.info("surrogate fit of %r: %s", name, note)
                else:
                    warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
            models[name] = (
                GPEmulator.from_pipeline(model, kernel)
                if kind == "gp"
                else GBMEmulator.from_pipeline(model)
            )
        ranges = {c: (float(x_train[c].min()), float(x_train[c].max())) for c in inputs}
        surrogate = cls(
            kind=kind,
            inputs=inputs,
            outputs=outputs,
            ranges=ranges,
            binding=binding,
            error={},
            options={
                "seed": int(seed),
                "test_fraction": float(test_fraction),
                "log_inputs": log_inputs,
                "log_outputs": bool(log_outputs),
                "kernel": kernel if kind == "gp" else None,
                "n_restarts": int(n_restarts) if kind == "gp" else None,
                "fit_notes": fit_notes,
            },
            models=models,
        )
        surrogate.error = surrogate._score(x_test, y_test, n_train=len(x_train))
        return surrogate

    def _score(self, x: pd.DataFrame, y: pd.DataFrame, *, n_train: int) -> dict[str, Any]:
        pred = self.predict(x, warn=False)
        error: dict[str, Any] = {"n_train": int(n_train), "n_test": len(x)}
        for name in self.outputs:
            truth = y[name].to_numpy(dtype=float)
            resid = pred[name].to_numpy() - truth
            ss_tot = float(((truth - truth.mean()) ** 2).sum())
            error[name] = {
                "rmse": float(np.sqrt(np.mean(resid**2))),
                "mae": float(np.mean(np.abs(resid))),
                "max_abs": float(np.max(np.abs(resid))),
                "r2": float(1 - (resid**2).sum() / ss_tot) if ss_tot > 0 else None,
            }
        return error

    # -- prediction -----------------------------------------------------------------------
    def _inputs(self, X: Any) -> pd.DataFrame:
        X = _numeric_frame(X, "X")
        missing = [c for c in self.inputs if c not in X.columns]
        extra = [c for c in X.columns if c not in self.inputs]
        if missing or extra:
            raise ValueError(
                f"X columns do not match the surrogate's inputs {self.inputs}: "
                f"missing {missing}, unknown {extra}"
            )
        for c in self.options["log_inputs"]:
            if (X[c] <= 0).any():
                raise ValueError(f"input {c!r} is modelled on log scale and must be > 0")
        return X[self.inputs]

    def extrapolating(self, X: pd.DataFrame | Mapping[str, Any]) -> pd.Series:
        """Which rows of ``X`` lie outside the training range of any input.

        Returns
        -------
        pandas.Series of bool
            Indexed like ``X``.
        """
        X = self._inputs(X)
        lo = np.array([self.ranges[c][0] for c in self.inputs])
        hi = np.array([self.ranges[c][1] for c in self.inputs])
        values = X.to_numpy(dtype=float)
        outside = ((values < lo) | (values > hi)).any(axis=1)
        return pd.Series(outside, index=X.index, name="extrapolating")

    def predict(
        self,
        X: pd.DataFrame | Mapping[str, Any],
        *,
        return_std: bool = False,
        warn: bool = True,
    ) -> pd.DataFrame:
        """Predict the outputs for new inputs.

        Parameters
        ----------
        X
            One column per input (exactly the training inputs); a mapping of scalars is one
            what-if point.
        return_std
            Also return ``<output>_sd``, the predictive standard deviation (GP only).
        warn
            Issue an :class:`ExtrapolationWarning` when rows lie outside the training ranges
            (see :meth:`extrapolating`).

        Returns
        -------
        pandas.DataFrame
            One row per row of ``X`` (same index), one column per output (and sd).
        """
        X = self._inputs(X)
        if return_std and self.kind != "gp":
            raise ValueError(f"return_std needs kind='gp'; this surrogate is {self.kind!r}")
        if warn:
            n_out = int(self.extrapolating(X).sum())
            if n_out:
                warnings.warn(
                    f"{n_out} of {len(X)} row(s) lie outside the training ranges {self.ranges}: "
                    "the surrogate is extrapolating",
                    ExtrapolationWarning,
                    stacklevel=2,
                )
        log_idx = [self.inputs.index(c) for c in self.options["log_inputs"]]
        values = _log_columns(X.to_numpy(dtype=float), log_idx)
        out: dict[str, np.ndarray] = {}
        log_y = self.options["log_outputs"]
        for name in self.outputs:
            mean, sd = self.models[name].predict(values, return_std=return_std)
            out[name] = np.exp(mean) if log_y else mean
            if sd is not None:
                # log-normal sd when modelled on log scale
                out[f"{name}_sd"] = (
                    np.exp(mean) * np.sqrt(np.expm1(np.minimum(sd**2, 700.0))) if log_y else sd
                )
        _audit_predictions("surrogate.predict", self.binding.get("model", "surrogate"), self, X)
        return pd.DataFrame(out, index=X.index)

    # -- binding --------------------------------------------------------------------------
    def is_stale(self, binding: Mapping[str, Any]) -> bool:
        """Whether ``binding`` (the current twin) differs from the one it was trained on."""
        return bool(_binding_changes(self.binding, _canonical(binding)))

    def check_binding(self, binding: Mapping[str, Any]) -> None:
        """Raise :class:`StaleSurrogateError` naming what changed if ``binding`` differs."""
        changes = _binding_changes(self.binding, _canonical(binding))
        if changes:
            raise StaleSurrogateError(
                "surrogate is stale: it was trained on a different twin model ("
                + "; ".join(changes)
                + "); retrain it on sweeps of the current model"
            )

    # -- persistence ----------------------------------------------------------------------
    def _model_bytes(self) -> bytes:
        arrays: dict[str, np.ndarray] = {}
        for j, name in enumerate(self.outputs):
            arrays.update(self.models[name].arrays(f"{j}."))
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)  # uncompressed, fixed zip time stamps: deterministic bytes
        return buffer.getvalue()

    @property
    def sha256(self) -> str:
        """sha256 of the serialized model (the bytes :meth:`save` writes to model.npz)."""
        if self._sha256 is None:
            self._sha256 = _sha256(self._model_bytes())
        return self._sha256

    def metadata(self) -> dict[str, Any]:
        """What ``surrogate.json`` holds."""
        return {
            "format": FORMAT,
            "kind": self.kind,
            "binding": self.binding,
            "inputs": [
                {"name": c, "min": self.ranges[c][0], "max": self.ranges[c][1]} for c in self.inputs
            ],
            "outputs": self.outputs,
            "error": self.error,
            "options": self.options,
            "model_file": MODEL_FILE,
            "model_sha256": self.sha256,
            "versions": self.versions,
        }

    def provenance(self, X: pd.DataFrame | Mapping[str, Any] | None = None) -> dict[str, Any]:
        """What an audit entry for AI-made predictions needs.

        Parameters
        ----------
        X
            The prediction batch: adds its size, a sha256 of its values and how many rows
            were extrapolated.

        Returns
        -------
        dict
            ``binding, kind, inputs, outputs, error, model_sha256, versions`` (+ ``batch``).
        """
        meta = self.metadata()
        prov = {
            "component": "twinlab.surrogate",
            **{k: meta[k] for k in ("binding", "kind", "outputs", "error", "model_sha256")},
            "inputs": self.inputs,
            "versions": self.versions,
        }
        if X is not None:
            x = self._inputs(X)
            digest = _sha256(np.ascontiguousarray(x.to_numpy(dtype=float)).tobytes())
            prov["batch"] = {
                "n": len(x),
                "inputs_sha256": digest,
                "n_extrapolating": int(self.extrapolating(x).sum()),
            }
        return prov

    def save(self, folder: str | os.PathLike[str]) -> Path:
        """Write ``model.npz`` and ``surrogate.json`` into ``folder`` (created).

        Returns
        -------
        Path
            ``folder``.
        """
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        data = self._model_bytes()
        self._sha256 = _sha256(data)
        (folder / MODEL_FILE).write_bytes(data)
        (folder / META_FILE).write_text(json.dumps(self.metadata(), indent=2) + "\n")
        return folder

    @classmethod
    def load(
        cls,
        folder: str | os.PathLike[str],
        *,
        expect: Mapping[str, Any] | None = None,
        sha256: str | None = None,
        lock: str | os.PathLike[str] | None = None,
    ) -> Surrogate:
        """Load a saved surrogate, checking its binding and the integrity of its files.

        Nothing in the files can run code: the model is numeric arrays read with
        ``allow_pickle=False``, each checked for its name, dtype and shape.

        Parameters
        ----------
        folder
            Where :meth:`save` wrote it.
        expect
            The binding of the current twin model: raise :class:`StaleSurrogateError` when the
            surrogate was trained on another.
        sha256
            A model hash pinned elsewhere (the ``model_sha256`` of the ``surrogate`` stage's
            audit entry or run record); must match as well.
        lock
            A ``dvc.lock`` (kept in git) that lists ``folder`` as a stage output: the folder's
            content must have the digest recorded there, so an edited ``surrogate.json`` and a
            replaced model are refused together.

        Returns
        -------
        Surrogate

        Raises
        ------
        FileNotFoundError
            A file is missing.
        StaleSurrogateError
            The binding differs from ``expect``.
        SurrogateIntegrityError
            The files are not the ones described or pinned, use a refused format (a pickle),
            or the arrays are malformed.
        """
        folder = resolve(folder)  # from the project root: the same from notebooks/
        meta_path, model_path = folder / META_FILE, folder / MODEL_FILE
        if not meta_path.is_file():
            raise FileNotFoundError(f"no {META_FILE} in {folder}: not a saved surrogate")
        meta_bytes = meta_path.read_bytes()
        try:
            meta = json.loads(meta_bytes)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise SurrogateIntegrityError(f"{meta_path} is not valid JSON: {exc}") from None
        fmt = meta.get("format") if isinstance(meta, dict) else None
        if fmt in OLD_FORMATS:
            raise SurrogateIntegrityError(
                f"{folder} holds a {fmt} surrogate, stored as {OLD_FORMATS[fmt]}; it is not "
                "loaded: retrain it (twinlab surrogate, or dvc repro sensitivity)"
            )
        if fmt != FORMAT:
            raise SurrogateIntegrityError(f"{meta_path} is not a {FORMAT} description ({fmt!r})")
        missing = [k for k in _META_KEYS if k not in meta]
        if missing:
            raise SurrogateIntegrityError(f"{meta_path} lacks {missing}")
        if not model_path.is_file():
            raise FileNotFoundError(f"no {MODEL_FILE} in {folder}: not a saved surrogate")
        data = model_path.read_bytes()
        if lock is not None:
            _check_lock(folder, resolve(lock), {META_FILE: meta_bytes, MODEL_FILE: data})
        actual = _sha256(data)
        for label, wanted in (("surrogate.json", meta.get("model_sha256")), ("pinned", sha256)):
            if wanted is not None and actual != wanted:
                raise SurrogateIntegrityError(
                    f"{model_path} has sha256 {actual} but the {label} hash is {wanted}: the "
                    "file was changed or replaced; refusing it"
                )
        if expect is not None:
            changes = _binding_changes(meta["binding"], _canonical(expect))
            if changes:
                raise StaleSurrogateError(
                    f"surrogate in {folder} is stale: it was trained on a different twin model ("
                    + "; ".join(changes)
                    + "); retrain it on sweeps of the current model"
                )
        try:
            inputs = [str(d["name"]) for d in meta["inputs"]]
            ranges = {str(d["name"]): (float(d["min"]), float(d["max"])) for d in meta["inputs"]}
            outputs = [str(o) for o in meta["outputs"]]
            options = dict(meta["options"])
            if not set(options["log_inputs"]) <= set(inputs):
                raise ValueError("log_inputs names unknown inputs")
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise SurrogateIntegrityError(f"{meta_path} is malformed: {exc!r}") from None
        if meta["kind"] not in KINDS:
            raise SurrogateIntegrityError(f"{meta_path}: unknown kind {meta['kind']!r}")
        models = _read_models(data, meta["kind"], outputs, len(inputs), options, str(model_path))
        return cls(
            kind=meta["kind"],
            inputs=inputs,
            outputs=outputs,
            ranges=ranges,
            binding=meta["binding"],
            error=meta["error"],
            options=options,
            models=models,
            versions=meta.get("versions", {}),
            _sha256=actual,
        )


def _read_models(
    data: bytes,
    kind: str,
    outputs: Sequence[str],
    n_inputs: int,
    options: Mapping[str, Any],
    where: str,
) -> dict[str, GPEmulator | GBMEmulator]:
    """Read the emulators from ``model.npz`` bytes: numeric arrays only, nothing executed."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
    except zipfile.BadZipFile:
        raise SurrogateIntegrityError(f"{where} is not an npz archive") from None
    if any(m.compress_type != zipfile.ZIP_STORED for m in members):
        # np.savez stores uncompressed: refusing compression bounds memory by the file size
        raise SurrogateIntegrityError(f"{where} has compressed members; not written by twinlab")
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
    except (ValueError, OSError, zipfile.BadZipFile) as exc:
        # object arrays (pickles) raise ValueError under allow_pickle=False
        raise SurrogateIntegrityError(f"{where} holds unreadable arrays: {exc}") from None
    models: dict[str, GPEmulator | GBMEmulator] = {}
    for j, name in enumerate(outputs):
        prefix = f"{j}."
        if kind == "gp":
            models[name] = GPEmulator.from_arrays(
                arrays, prefix, kernel=str(options.get("kernel")), n_inputs=n_inputs, where=where
            )
        else:
            models[name] = GBMEmulator.from_arrays(arrays, prefix, n_inputs=n_inputs, where=where)
    allowed = {f"{j}.{k}" for j, m in enumerate(models.values()) for k in m.arrays("")}
    unknown = sorted(set(arrays) - allowed)
    if unknown:
        raise SurrogateIntegrityError(f"{where} holds unexpected arrays {unknown[:5]}")
    return models


def _dvc_dir_md5(files: Mapping[str, bytes]) -> str:
    """DVC's ``<md5>.dir`` digest of a folder holding ``files`` (as in ``dvc.lock``).

    The same convention as :func:`twinlab.audit.records.dir_md5`, computed from bytes already
    read so that the checked bytes are the loaded ones.
    """
    listing = [
        {"md5": hashlib.md5(data, usedforsecurity=False).hexdigest(), "relpath": name}
        for name, data in sorted(files.items())
    ]
    digest = hashlib.md5(json.dumps(listing, sort_keys=True).encode(), usedforsecurity=False)
    return digest.hexdigest() + ".dir"


def _check_lock(folder: Path, lock: Path, files: Mapping[str, bytes]) -> None:
    """Check ``folder`` (holding exactly ``files``) against its digest in a ``dvc.lock``."""
    try:
        stages = (yaml.safe_load(lock.read_text(encoding="utf-8")) or {}).get("stages", {})
    except FileNotFoundError:
        raise FileNotFoundError(f"no lock file {lock}") from None
    except (yaml.YAMLError, AttributeError, UnicodeDecodeError):
        raise SurrogateIntegrityError(f"{lock} is not a dvc.lock file") from None
    target = folder.resolve()
    recorded = [
        out.get("md5")
        for stage in (stages.values() if isinstance(stages, dict) else [])
        for out in (stage.get("outs") or [] if isinstance(stage, dict) else [])
        if isinstance(out, dict) and (lock.parent / str(out.get("path"))).resolve() == target
    ]
    if not recorded:
        raise SurrogateIntegrityError(f"{lock} records no output {folder}: nothing pins it")
    present = sorted(p.name for p in folder.iterdir())
    if present != sorted(files):
        raise SurrogateIntegrityError(
            f"{folder} holds {present}, not the files {sorted(files)} a surrogate is"
        )
    actual = _dvc_dir_md5(files)
    if actual != recorded[0]:
        raise SurrogateIntegrityError(
            f"{folder} has digest {actual} but {lock} records {recorded[0]}: the surrogate "
            "was changed or replaced after the pipeline ran (or the pipeline was not re-run); "
            "refusing it"
        )


def _pipeline(
    kind: str, n_inputs: int, log_idx: list[int], seed: int, kernel: str, n_restarts: int
) -> Pipeline:
    steps: list[tuple[str, Any]] = [
        ("log", FunctionTransformer(_log_columns, kw_args={"columns": log_idx})),
    ]
    if kind == "gp":
        scales = np.ones(n_inputs)
        shape = (
            Matern(length_scale=scales, length_scale_bounds=(1e-2, 1e4), nu=2.5)
            if kernel == "matern"
            else RBF(length_scale=scales, length_scale_bounds=(1e-2, 1e4))
        )
        k = ConstantKernel(1.0, (1e-3, 1e5)) * shape + WhiteKernel(1e-4, (1e-10, 1e-1))
        steps += [
            ("scale", StandardScaler()),
            (
                "model",
                GaussianProcessRegressor(
                    kernel=k, normalize_y=True, n_restarts_optimizer=n_restarts, random_state=seed
                ),
            ),
        ]
    else:
        steps.append(("model", HistGradientBoostingRegressor(random_state=seed)))
    return Pipeline(steps)
