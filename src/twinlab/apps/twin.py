"""A registered twin model opened for what-if questions, and its virtual patients.

The population is built from the fit itself: covariates resampled from the fitted
(pseudonymous, real) subjects that pass the population filters, one posterior draw per
virtual patient for the typical values and covariate effects, and between-subject
variability drawn from that draw's omegas; individual parameters come from
:func:`twinlab.pkpd.population.individual_params`, the definition the fit used.
"""

from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from twinlab.pkpd.population import PopulationSpec, individual_params
from twinlab.pkpd.registry import list_models, load

__all__ = ["TwinModel", "VirtualPatients", "available_models", "open_twin"]


def available_models(root: str | os.PathLike[str]) -> list[str]:
    """Registered model versions under ``<root>/models`` as ``"name/version"`` labels."""
    return [f"{m['name']}/{m['version']}" for m in list_models(Path(root) / "models")]


@dataclass(frozen=True)
class VirtualPatients:
    """Individual parameters and covariates of ``n`` virtual patients (no patient ids)."""

    params: dict[str, np.ndarray]
    covariates: dict[str, np.ndarray]
    draw: np.ndarray

    @property
    def n(self) -> int:
        """Number of virtual patients."""
        return int(self.draw.shape[0])


@dataclass(frozen=True)
class TwinModel:
    """A registered model version, its posterior draws and its fitted subjects' covariates.

    Attributes
    ----------
    name, version : str, int
        The registry entry.
    model : str
        Structural model name.
    data_hash : str
        sha256 of the data it was fitted to (from the model card).
    spec : PopulationSpec
        The population model.
    draws : dict of str to numpy.ndarray
        Posterior draws (chains flattened) of the typical values, covariate effects and omegas.
    covariates : dict of str to numpy.ndarray
        Covariates of the fitted subjects (one value per subject).
    codes : dict
        Per coded covariate, text level -> code (e.g. ``CYP2C9``: ``{"*1/*1": 0}``).
    """

    name: str
    version: int
    model: str
    data_hash: str
    spec: PopulationSpec
    draws: dict[str, np.ndarray]
    covariates: dict[str, np.ndarray]
    codes: dict[str, dict[str, int]]

    @property
    def label(self) -> str:
        """``"name/version"``."""
        return f"{self.name}/{self.version}"

    @property
    def n_draws(self) -> int:
        """Posterior draws available."""
        return int(next(iter(self.draws.values())).shape[0])

    def level_names(self, covariate: str) -> dict[int, str]:
        """Code -> text level of a coded covariate (the code itself when unknown)."""
        named = {int(v): k for k, v in self.codes.get(covariate, {}).items()}
        levels = np.unique(self.covariates.get(covariate, np.array([])))
        return {int(c): named.get(int(c), str(int(c))) for c in levels}

    def sample(
        self,
        n: int,
        seed: int,
        *,
        ranges: dict[str, tuple[float, float]] | None = None,
        levels: dict[str, list[int]] | None = None,
    ) -> VirtualPatients:
        """Draw ``n`` virtual patients from the fitted subjects passing the filters.

        Parameters
        ----------
        n : int
            Number of virtual patients.
        seed : int
            Seed of every draw (same seed, same patients).
        ranges : dict, optional
            Covariate -> (low, high), inclusive (e.g. ``{"WT": (50, 90)}``).
        levels : dict, optional
            Coded covariate -> codes kept (e.g. ``{"CYP2C9": [0, 1]}``).

        Raises
        ------
        ValueError
            If no fitted subject passes the filters, or a filter names an unknown covariate.
        """
        if int(n) < 1:
            raise ValueError(f"n must be at least 1, not {n}")
        keep = np.ones(len(next(iter(self.covariates.values()))), dtype=bool)
        for cov, (lo, hi) in (ranges or {}).items():
            if cov not in self.covariates:
                raise ValueError(f"unknown covariate {cov!r} (have {sorted(self.covariates)})")
            keep &= (self.covariates[cov] >= lo) & (self.covariates[cov] <= hi)
        for cov, codes in (levels or {}).items():
            if cov not in self.covariates:
                raise ValueError(f"unknown covariate {cov!r} (have {sorted(self.covariates)})")
            keep &= np.isin(self.covariates[cov], np.asarray(codes, dtype=float))
        pool = np.flatnonzero(keep)
        if pool.size == 0:
            raise ValueError(
                "no fitted subject matches the population filters "
                f"(ranges {ranges or {}}, levels {levels or {}}); widen them"
            )
        rng = np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=(0,)))
        rows = pool[rng.integers(pool.size, size=int(n))]
        cov = {k: v[rows] for k, v in self.covariates.items()}
        draw = rng.integers(self.n_draws, size=int(n))
        values = {k: v[draw] for k, v in self.draws.items()}
        eta = {
            p: rng.standard_normal(int(n)) * values[f"omega_{p}"]
            for p in self.spec.random
            if f"omega_{p}" in values
        }
        params = individual_params(np, self.spec, values, cov, eta)
        return VirtualPatients({k: np.asarray(v, float) for k, v in params.items()}, cov, draw)


def _codes(root: Path, card: dict[str, Any]) -> dict[str, dict[str, int]]:
    data_file = card.get("data_file")
    if not data_file:
        return {}
    meta = Path(data_file)
    meta = (meta if meta.is_absolute() else root / meta).with_name(meta.name + ".meta.json")
    if not meta.is_file():
        return {}
    codes = json.loads(meta.read_text()).get("codes", {})
    return {str(k).upper(): dict(v) for k, v in codes.items()}


@functools.lru_cache(maxsize=4)
def _open(root: str, name: str, version: int) -> TwinModel:
    reg = load(name, version, root=Path(root) / "models")
    post = reg.result.idata.posterior
    spec = reg.result.spec
    wanted = [p.name for p in spec.parameters if not p.fixed]
    wanted += [str(v) for v in post.data_vars if str(v).startswith(("beta_", "omega_"))]
    draws = {}
    for var in wanted:
        if var in post and post[var].ndim == 2 and not var.endswith("__"):
            draws[var] = np.asarray(post[var].values, dtype=float).reshape(-1)
    covariates = {k: np.asarray(v, dtype=float) for k, v in reg.result.arrays.covariates.items()}
    return TwinModel(
        name=name,
        version=int(reg.version),
        model=spec.model,
        data_hash=str(reg.card.get("data_hash", "")),
        spec=spec,
        draws=draws,
        covariates=covariates,
        codes=_codes(Path(root), reg.card),
    )


def open_twin(root: str | os.PathLike[str], label: str) -> TwinModel:
    """Open registered model ``"name/version"`` under ``<root>/models`` (cached).

    Raises
    ------
    KeyError
        If it is not registered.
    ValueError
        If the label is not ``"name/version"``.
    """
    name, sep, version = str(label).rpartition("/")
    if not sep or not version.isdigit():
        raise ValueError(f"model label {label!r} must be 'name/version', e.g. 'twinurostat_pk/1'")
    return _open(str(Path(root).resolve()), name, int(version))
