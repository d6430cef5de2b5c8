"""Prognostic models for PROCOVA: predict each participant's outcome under control.

The model is trained on *historical* control data – the harmonized cohort's control
patients, or a virtual control cohort simulated separately from the trial's – and must not
see the control outcomes of the trials it adjusts: the type I error guarantee of PROCOVA
(Schuler et al., 2021) rests on the score being a fixed function of baseline only. Each model
keeps hashes of its training rows, and :func:`twinlab.trials.simulate_trials` refuses a trial
pool whose control rows (features and outcome) were part of the training data.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

__all__ = ["KINDS", "PrognosticModel", "row_hashes"]

#: Model kinds: scikit-learn's histogram gradient boosting, or ordinary linear regression.
KINDS = ("gbm", "linear")


def row_hashes(table: pd.DataFrame, columns: Sequence[str]) -> np.ndarray:
    """uint64 hash of each row's values in ``columns`` (pandas' row hashing)."""
    return pd.util.hash_pandas_object(table[list(columns)], index=False).to_numpy()


def _features(table: pd.DataFrame, features: Sequence[str]) -> np.ndarray:
    missing = [c for c in features if c not in table.columns]
    if missing:
        raise KeyError(
            f"prognostic feature(s) {missing} not in the table; available: "
            f"{sorted(map(str, table.columns))}"
        )
    X = np.empty((len(table), len(features)))
    for j, c in enumerate(features):
        col = table[c]
        if not pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
            raise ValueError(
                f"prognostic feature {c!r} must be numeric (dtype {col.dtype}); "
                "encode categories as numbers first"
            )
        X[:, j] = col.to_numpy(dtype=float)
    return X


@dataclass
class PrognosticModel:
    """A trained prognostic model (use :meth:`train`).

    Attributes
    ----------
    kind, features, target
        What was fitted on what.
    estimator
        The fitted scikit-learn estimator (refitted on all training rows).
    n_train
        Training rows.
    data_hash
        SHA-256 of the training table's feature and target values.
    heldout_rho
        Pearson correlation between predictions and outcomes on a held-out 25 % split
        (model fitted on the other 75 %).
    seed
        Seed of the split and of the estimator.
    threads
        OpenMP threads used to fit and predict.
    """

    kind: str
    features: tuple[str, ...]
    target: str
    estimator: Any
    n_train: int
    data_hash: str
    heldout_rho: float
    seed: int
    threads: int | None = 1
    _hashes: np.ndarray = field(repr=False, default_factory=lambda: np.empty(0, np.uint64))

    @classmethod
    def train(
        cls,
        history: pd.DataFrame,
        features: Sequence[str],
        target: str,
        *,
        kind: str = "gbm",
        seed: int = 0,
        heldout: float = 0.25,
        threads: int | None = 1,
    ) -> PrognosticModel:
        """Fit a model predicting ``target`` under control from baseline ``features``.

        Parameters
        ----------
        history
            Control data only (historical controls, or a separate virtual control cohort),
            one row per patient.
        features
            Numeric baseline columns.
        target
            Outcome column (e.g. ``effect_cfb``).
        kind
            ``"gbm"`` (:class:`sklearn.ensemble.HistGradientBoostingRegressor`) or
            ``"linear"`` (:class:`sklearn.linear_model.LinearRegression`).
        seed
            Seeds the held-out split and the estimator.
        heldout
            Share of rows held out to report the correlation ρ.
        threads
            OpenMP threads for the gradient boosting (``None``: scikit-learn's default, all
            cores). One by default: prognostic models are small, and more threads on a
            shared or Dask-worker machine mostly contend (a 3,000-row fit took 8 s with all
            threads on a busy 2-core machine, 0.5 s with one).

        Examples
        --------
        >>> rng = np.random.default_rng(0)
        >>> h = pd.DataFrame({"x": rng.normal(size=400)})
        >>> h["y"] = 2 * h["x"] + rng.normal(size=400)
        >>> m = PrognosticModel.train(h, ["x"], "y", kind="linear")
        >>> 0.8 < m.heldout_rho < 0.95, m.provenance()["n_train"]
        (True, 400)
        """
        from sklearn.ensemble import HistGradientBoostingRegressor
        from sklearn.linear_model import LinearRegression

        if kind not in KINDS:
            raise ValueError(f"kind must be one of {list(KINDS)}, got {kind!r}")
        features = tuple(features)
        if not features:
            raise ValueError("a prognostic model needs at least one feature")
        if target in features:
            raise ValueError(f"target {target!r} cannot also be a feature")
        X = _features(history, features)
        if target not in history.columns:
            raise KeyError(f"target {target!r} not in the table")
        y = history[target].to_numpy(dtype=float)
        finite = np.isfinite(X).all(axis=1) & np.isfinite(y)
        if not finite.all():
            raise ValueError(f"{int((~finite).sum())} training row(s) have missing values")
        if len(y) < 20:
            raise ValueError(f"need at least 20 training rows, got {len(y)}")
        if not 0 < heldout < 1:
            raise ValueError(f"heldout must be in (0, 1), got {heldout}")

        def make() -> Any:
            if kind == "gbm":
                return HistGradientBoostingRegressor(random_state=seed, max_iter=200)
            return LinearRegression()

        rng = np.random.default_rng(seed)
        order = rng.permutation(len(y))
        n_test = max(round(heldout * len(y)), 5)
        test, train = order[:n_test], order[n_test:]
        with threadpool_limits(threads):
            split = make().fit(X[train], y[train])
            rho = float(np.corrcoef(split.predict(X[test]), y[test])[0, 1])
            estimator = make().fit(X, y)
        table = history[[*features, target]]
        digest = hashlib.sha256(row_hashes(table, table.columns).tobytes()).hexdigest()
        return cls(
            kind=kind,
            features=features,
            target=target,
            estimator=estimator,
            n_train=len(y),
            data_hash=digest,
            heldout_rho=rho,
            seed=int(seed),
            threads=threads,
            _hashes=np.unique(row_hashes(table, table.columns)),
        )

    def predict(self, table: pd.DataFrame) -> np.ndarray:
        """Predicted outcome under control for each row of ``table`` (its baseline features)."""
        X = _features(table, self.features)
        if not np.isfinite(X).all():
            raise ValueError("prognostic features have missing values")
        with threadpool_limits(self.threads):
            predicted = np.asarray(self.estimator.predict(X), dtype=float)
        from twinlab.audit import audit_event
        from twinlab.audit.trail import audit_log

        if audit_log() is not None:  # AI-made predictions: model and inputs on record
            digest = hashlib.sha256(np.ascontiguousarray(X).tobytes()).hexdigest()
            batch = {"n": len(X), "inputs_sha256": digest}
            audit_event(
                "prognostic.predict", self.target, params={**self.provenance(), "batch": batch}
            )
        return predicted

    def overlap(self, table: pd.DataFrame) -> int:
        """How many rows of ``table`` (features + target) were training rows of this model."""
        cols = [*self.features, self.target]
        if any(c not in table.columns for c in cols):
            return 0
        return int(np.isin(row_hashes(table, cols), self._hashes).sum())

    def provenance(self) -> dict[str, Any]:
        """JSON-ready record of what the model is and what it was trained on."""
        return {
            "model": "PrognosticModel",
            "kind": self.kind,
            "estimator": type(self.estimator).__name__,
            "features": list(self.features),
            "target": self.target,
            "n_train": self.n_train,
            "data_hash": self.data_hash,
            "heldout_rho": self.heldout_rho,
            "seed": self.seed,
            "refit_on_all_rows": True,
        }
