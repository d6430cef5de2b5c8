"""An emulator of the twin: what-if answers in milliseconds, bound to the model it learned.

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

Storage: ``model.joblib`` (the fitted scikit-learn pipelines) and ``surrogate.json`` (binding,
inputs with their training ranges, outputs, error, kind, options, package versions and the
sha256 of ``model.joblib``). joblib is scikit-learn's documented persistence format and needs
no dependency beyond scikit-learn; skops' restricted loader would be safer for files from
untrusted sources but is not a project dependency. Because unpickling runs code, the model
file's sha256 is checked against ``surrogate.json`` (and optionally against a hash pinned
elsewhere, e.g. in the audit log) *before* its bytes are unpickled: unknown bytes are refused.
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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Literal

import joblib
import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import RBF, ConstantKernel, Matern, WhiteKernel
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

__all__ = [
    "FORMAT",
    "ExtrapolationWarning",
    "StaleSurrogateError",
    "Surrogate",
    "SurrogateIntegrityError",
    "model_binding",
]

FORMAT = "twinlab-surrogate/1"
MODEL_FILE = "model.joblib"
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


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for pkg in ("twinlab", "scikit-learn", "numpy", "scipy", "joblib"):
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
    models: dict[str, Pipeline] = field(repr=False)
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
        models: dict[str, Pipeline] = {}
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
            models[name] = model
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
        values = X.to_numpy(dtype=float)
        out: dict[str, np.ndarray] = {}
        log_y = self.options["log_outputs"]
        for name in self.outputs:
            model = self.models[name]
            if return_std:
                mean, sd = model.predict(values, return_std=True)
            else:
                mean, sd = model.predict(values), None
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
        buffer = io.BytesIO()
        joblib.dump(self.models, buffer)
        return buffer.getvalue()

    @property
    def sha256(self) -> str:
        """sha256 of the serialized model (the bytes :meth:`save` writes to model.joblib)."""
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
        """Write ``model.joblib`` and ``surrogate.json`` into ``folder`` (created)."""
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
    ) -> Surrogate:
        """Load a saved surrogate, checking its binding and the integrity of its model file.

        Parameters
        ----------
        folder
            Where :meth:`save` wrote it.
        expect
            The binding of the current twin model: raise :class:`StaleSurrogateError` when the
            surrogate was trained on another.
        sha256
            A model hash pinned elsewhere (audit log, DVC lock); must match as well.

        Raises
        ------
        FileNotFoundError
            A file is missing.
        StaleSurrogateError
            The binding differs from ``expect`` (checked before anything is unpickled).
        SurrogateIntegrityError
            ``model.joblib`` is not the file described (or pinned): it is not unpickled.
        """
        folder = Path(folder)
        meta_path, model_path = folder / META_FILE, folder / MODEL_FILE
        for path in (meta_path, model_path):
            if not path.is_file():
                raise FileNotFoundError(f"no {path.name} in {folder}: not a saved surrogate")
        try:
            meta = json.loads(meta_path.read_text())
        except json.JSONDecodeError as exc:
            raise SurrogateIntegrityError(f"{meta_path} is not valid JSON: {exc}") from None
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise SurrogateIntegrityError(
                f"{meta_path} is not a {FORMAT} description (format "
                f"{meta.get('format') if isinstance(meta, dict) else None!r})"
            )
        missing = [k for k in _META_KEYS if k not in meta]
        if missing:
            raise SurrogateIntegrityError(f"{meta_path} lacks {missing}")
        if expect is not None:
            changes = _binding_changes(meta["binding"], _canonical(expect))
            if changes:
                raise StaleSurrogateError(
                    f"surrogate in {folder} is stale: it was trained on a different twin model ("
                    + "; ".join(changes)
                    + "); retrain it on sweeps of the current model"
                )
        data = model_path.read_bytes()
        actual = _sha256(data)
        for label, wanted in (("surrogate.json", meta.get("model_sha256")), ("pinned", sha256)):
            if wanted is not None and actual != wanted:
                raise SurrogateIntegrityError(
                    f"{model_path} has sha256 {actual} but the {label} hash is {wanted}: the "
                    "file was changed or replaced; refusing to unpickle unknown bytes"
                )
        versions = _versions()
        stored = meta.get("versions", {})
        if stored.get("scikit-learn") != versions["scikit-learn"]:
            warnings.warn(
                f"surrogate was saved with scikit-learn {stored.get('scikit-learn')} and is "
                f"loaded with {versions['scikit-learn']}: predictions may differ; retrain it",
                UserWarning,
                stacklevel=2,
            )
        models = joblib.load(io.BytesIO(data))
        surrogate = cls(
            kind=meta["kind"],
            inputs=[d["name"] for d in meta["inputs"]],
            outputs=list(meta["outputs"]),
            ranges={d["name"]: (float(d["min"]), float(d["max"])) for d in meta["inputs"]},
            binding=meta["binding"],
            error=meta["error"],
            options=meta["options"],
            models=models,
            versions=stored,
            _sha256=actual,
        )
        return surrogate


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
