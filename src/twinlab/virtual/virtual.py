"""Virtual cohorts: covariates of the real cohort × posterior draws × between-subject variability.

A :class:`VirtualCohort` satisfies :class:`twinlab.virtual.base.Population`: the simulation
engine asks it for patients ``start .. stop - 1`` with the chunk's own random stream, so a
population of any size (millions) is generated chunk by chunk and never held whole.

Per virtual patient, from the chunk's stream and in this order:

1. covariates: a real patient drawn with replacement from the eligible rows
   (``method="resample"``; ``source`` = that patient's pseudonymous id), or a synthetic row from
   a Gaussian copula of the eligible rows (``method="copula"``; rows failing the criteria are
   rejected and redrawn; ``source = ""``);
2. one standard-normal score per parameter with between-subject variability (BSV), kept across
   posterior draws: ``eta[d] = L[d] z`` with ``L[d]`` the Cholesky factor of draw ``d``'s BSV
   covariance (``diag(omega[d])`` when uncorrelated).

The posterior draws (``n_draws`` of them) are chosen once for the whole population – spread
evenly over chain × draw unless given – so row ``d`` of every chunk uses the same posterior
draw and per-draw summaries over the population carry the parameter uncertainty whole.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from twinlab.pkpd.criteria import Criteria
from twinlab.pkpd.population import PopulationSpec
from twinlab.virtual.base import PatientChunk
from twinlab.virtual.covariates import DEFAULT_COVARIATE_MAP, GaussianCopula, model_covariates
from twinlab.virtual.parameters import ParameterModel, warn_unseen

__all__ = ["METHODS", "VirtualCohort", "from_cohort"]

#: How covariates are drawn.
METHODS = ("resample", "copula")
#: Candidate rows drawn (seed 0) to estimate the copula's acceptance rate under the criteria.
_PILOT = 20_000
_MIN_ACCEPTANCE = 1e-3


def _resolve_model(model: Any) -> tuple[Any, dict[str, Any], dict[str, Any] | None]:
    """The FitResult, what describe() records about it, and the data set's text codes."""
    if model is None:
        return None, {}, None
    if hasattr(model, "result") and hasattr(model, "card"):  # RegisteredModel
        card = model.card
        info = {
            "name": model.name,
            "version": model.version,
            "data_hash": card.get("data_hash"),
            "spec_model": model.result.spec.model,
            # "passed", or what a modeler opened with load(..., require_validated=False)
            "validation": getattr(model, "status", None),
        }
        return model.result, info, _dataset_codes(card.get("data_file"), Path(model.path))
    if hasattr(model, "idata") and hasattr(model, "spec"):  # FitResult
        from twinlab.pkpd.registry import data_hash

        info = {
            "name": model.spec.name,
            "version": None,
            "data_hash": data_hash(model.arrays),
            "spec_model": model.spec.model,
        }
        return model, info, None
    raise TypeError(
        f"model must be a RegisteredModel (twinlab.pkpd.registry.load), a FitResult or None, "
        f"not {type(model).__name__}"
    )


def _dataset_codes(data_file: str | None, version_dir: Path) -> dict[str, Any] | None:
    """Text codes of the fitted data set, from ``<data file>.meta.json`` when it is there."""
    if not data_file:
        return None
    # the card's path is relative to the project root: <root>/models/<name>/<version>
    bases = [Path.cwd()]
    if len(version_dir.resolve().parents) > 2:
        bases.append(version_dir.resolve().parents[2])
    for base in bases:
        meta = (base / data_file).with_name(Path(data_file).name + ".meta.json")
        if meta.is_file():
            return dict(json.loads(meta.read_text()).get("codes", {}))
    return None


class VirtualCohort:
    """A virtual population built from the real cohort's covariates and a fitted twin.

    Parameters
    ----------
    covariates : pandas.DataFrame
        The real cohort, one row per patient: ``patient_id`` (column or index) and the
        columns named in ``covariate_map`` (e.g. the harmonized ``patients`` table after
        :func:`twinlab.pkpd.covariates.add_derived_covariates`; see :func:`from_cohort`).
    n : int
        Number of virtual patients.
    model : RegisteredModel or FitResult, optional
        The fitted population model (:func:`twinlab.pkpd.registry.load`).
    extra : PopulationSpec, optional
        Parameters the fit lacks (e.g. the PD part of a PK fit): typical value ``guess``, BSV
        SD ``omega`` (log scale), power covariate effects with their declared exponents –
        assumed, not fitted. It must declare every parameter of its model (those the fit
        gives are taken from the fit).
    structural : str, optional
        Structural model of the virtual patients (default: ``extra``'s, else the fit's).
    n_draws : int
        Posterior draws per patient (rows of each parameter array).
    uncertainty : bool
        False: posterior means of the population values, no draw-to-draw variation
        (``n_draws`` must be 1; draw index ``-1``).
    draws : sequence of int, optional
        The posterior draws to use (indices into chain × draw, chain-major); default:
        ``n_draws`` draws spread evenly over the posterior.
    method : {"resample", "copula"}
        Covariates: real rows drawn with replacement, or synthetic rows from a Gaussian
        copula of the eligible rows (keeps marginals and rank correlations).
    criteria : str or sequence of str
        Inclusion / exclusion criteria over the covariate names (all must hold), e.g.
        ``"WT >= 50 and CRCL > 30"``, ``"CYP2C9 in [0, 1]"``; see
        :class:`~twinlab.pkpd.criteria.Criteria`.
    covariate_map : mapping, optional
        Model covariate name -> column of ``covariates``; default
        :data:`~twinlab.virtual.covariates.DEFAULT_COVARIATE_MAP` (replaced, not merged).
        Names whose column is absent are left out unless the model needs them.
    codes : mapping, optional
        Per text covariate, level -> code as in the fitted data set. Default: the data set's
        ``.meta.json`` when the registered model's card names a data file found on disk, else
        the ``twinlab dataset`` rule (missing -> ``"unknown"``, codes in sorted order).

    Attributes
    ----------
    n, n_draws : int
    model : str
        Structural model name.
    units : dict of str to str
        Unit of each endpoint the specs declare (:attr:`twinlab.pkpd.PopulationSpec.units`,
        the fitted spec's then ``extra``'s), e.g. ``{"effect": "mg/dL"}``.

    Raises
    ------
    ValueError
        Unknown method, bad criteria, no eligible patient, a covariate the model needs is
        absent, or parameters missing.

    Examples
    --------
    >>> import pandas as pd
    >>> from twinlab.virtual import chunk_rng
    >>> real = pd.DataFrame({"patient_id": ["P-A", "P-B", "P-C"], "cov_weight_kg": [50.0, 70, 90]})
    >>> extra = PopulationSpec.from_dict({"model": "pk_1cmt_oral",
    ...     "parameters": {"ka": 1.0, "cl": {"guess": 4.0, "omega": 0.3}, "v": 40.0},
    ...     "covariates": [{"allometric": "WT"}]})
    >>> vc = VirtualCohort(real, 1000, extra=extra, criteria="WT > 60")
    >>> chunk = vc.chunk(0, 4, chunk_rng(7, 0))
    >>> chunk.params["cl"].shape, sorted(set(chunk.source))
    ((1, 4), ['P-B', 'P-C'])
    """

    def __init__(
        self,
        covariates: pd.DataFrame,
        n: int,
        *,
        model: Any = None,
        extra: PopulationSpec | None = None,
        structural: str | None = None,
        n_draws: int = 1,
        uncertainty: bool = True,
        draws: Sequence[int] | None = None,
        method: str = "resample",
        criteria: str | Sequence[str] = (),
        covariate_map: Mapping[str, str] | None = None,
        codes: Mapping[str, Mapping[str, float]] | None = None,
    ) -> None:
        if method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, not {method!r}")
        if int(n) < 0:
            raise ValueError(f"n must be non-negative, got {n}")
        if not isinstance(covariates, pd.DataFrame):
            raise TypeError(f"covariates must be a pandas DataFrame, not {type(covariates)}")
        fit, self._fit_info, found_codes = _resolve_model(model)
        self.units = {
            **dict(getattr(getattr(fit, "spec", None), "units", ())),
            **dict(extra.units if extra is not None else ()),
        }
        self._params = ParameterModel.build(
            fit,
            extra=extra,
            structural=structural,
            n_draws=n_draws,
            uncertainty=uncertainty,
            draws=draws,
        )
        del fit  # keep only the small arrays: the population travels to Dask workers
        self.n = int(n)
        self.n_draws = self._params.n_draws
        self.model = self._params.structural
        self.method = method
        self.uncertainty = bool(uncertainty)
        cmap = {
            str(k).upper(): str(v) for k, v in dict(covariate_map or DEFAULT_COVARIATE_MAP).items()
        }
        if codes is not None:
            self._codes_from = "given"
        elif found_codes is not None:
            self._codes_from = "fitted data set metadata"
        else:
            self._codes_from = "sorted levels (twinlab dataset rule)"
        real, self._codes = model_covariates(
            covariates,
            cmap,
            codes=codes if codes is not None else found_codes,
            required=self._params.required,
        )
        self._map = {k: v for k, v in cmap.items() if k in real.columns}
        valid, self._dropped = self._usable(real)
        self.criteria = Criteria(criteria, list(real.columns), codes=self._codes)
        eligible = valid[self.criteria.mask(valid)]
        if eligible.empty:
            raise ValueError(
                f"no real patient passes the criteria {self.criteria.text!r} "
                f"({len(valid)} of {len(real)} patients have the covariates the model needs)"
            )
        self._n_real = len(real)
        self._n_valid = len(valid)
        self._eligible = eligible
        self._ids = eligible.index.to_numpy(dtype=object)
        self._copula: GaussianCopula | None = None
        self._acceptance = 1.0
        if method == "copula":
            complete = eligible.dropna()
            if len(complete) < 2:
                raise ValueError(
                    f"the copula needs at least 2 eligible patients with every covariate "
                    f"{list(eligible.columns)} known, got {len(complete)}"
                )
            discrete = set(self._codes) | set(self._params.categorical)
            self._copula = GaussianCopula.fit(complete, discrete=sorted(discrete))
            if self.criteria:
                pilot = self._copula.sample(np.random.default_rng(0), _PILOT)
                self._acceptance = float(self.criteria.mask(pilot).mean())
                if self._acceptance < _MIN_ACCEPTANCE:
                    raise ValueError(
                        f"only {self._acceptance:.2%} of the copula's draws pass the criteria "
                        f"{self.criteria.text!r}; relax them or use method='resample'"
                    )
        support = eligible if self._copula is None else eligible.dropna()
        self._unseen = self._params.unseen({c: support[c].to_numpy() for c in support.columns})
        shares = {
            c: float(np.isin(support[c].to_numpy(), levels).mean())
            for c, levels in self._unseen.items()
        }
        self._unseen_share = shares
        warn_unseen(self._unseen, shares)

    def _usable(self, real: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, int]]:
        """Rows with every covariate the model needs (positive for power effects)."""
        keep = np.ones(len(real), dtype=bool)
        dropped: dict[str, int] = {}
        for name in self._params.required:
            x = real[name].to_numpy(dtype=float)
            bad = np.isnan(x)
            if bad[keep].any():
                dropped[f"{name} missing"] = int(bad[keep].sum())
            keep &= ~bad
            if name in self._params.power:
                bad = ~(x > 0)
                if bad[keep].any():
                    dropped[f"{name} not positive"] = int(bad[keep].sum())
                keep &= ~bad
        return real[keep], dropped

    # ----------------------------------------------------------------- Population protocol

    @property
    def eligible(self) -> pd.DataFrame:
        """The real patients that pass the criteria (model covariate names, by ``patient_id``)."""
        return self._eligible.copy()

    @property
    def parameters(self) -> ParameterModel:
        """The population values and the rule making individual parameters."""
        return self._params

    def chunk(self, start: int, stop: int, rng: np.random.Generator) -> PatientChunk:
        """Virtual patients ``start .. stop - 1``, everything random drawn from ``rng``.

        Parameters
        ----------
        start, stop : int
            The range, ``0 <= start <= stop <= n``.
        rng : numpy.random.Generator
            The chunk's stream (:func:`~twinlab.virtual.base.chunk_rng`); the result depends
            only on it and on the range.

        Returns
        -------
        PatientChunk
        """
        start, stop = int(start), int(stop)
        if not 0 <= start <= stop <= self.n:
            raise ValueError(f"chunk range {start}..{stop} is not within 0..{self.n}")
        m = stop - start
        if self._copula is None:
            idx = rng.integers(0, len(self._eligible), size=m)
            cov = self._eligible.iloc[idx].reset_index(drop=True)
            source = self._ids[idx]
        else:
            cov = self._copula_rows(rng, m)
            source = np.full(m, "", dtype=object)
        z = rng.standard_normal((m, self._params.n_random))
        params = self._params.individual({c: cov[c].to_numpy() for c in cov.columns}, z)
        return PatientChunk(
            vpid=np.arange(start, stop, dtype=np.int64),
            params=params,
            covariates=cov,
            draw=self._params.draw.copy(),
            source=source,
            sigma={k: v.copy() for k, v in self._params.sigma.items()},
        )

    def _copula_rows(self, rng: np.random.Generator, m: int) -> pd.DataFrame:
        """``m`` copula rows passing the criteria (rejection, all from ``rng``)."""
        assert self._copula is not None
        parts: list[pd.DataFrame] = []
        have = 0
        while have < m:
            k = int(np.ceil((m - have) / self._acceptance * 1.1)) + 16
            cand = self._copula.sample(rng, k)
            if self.criteria:
                cand = cand[self.criteria.mask(cand)]
            parts.append(cand)
            have += len(cand)
        out = pd.concat(parts, ignore_index=True) if parts else self._copula.sample(rng, 0)
        return out.iloc[:m].reset_index(drop=True)

    def describe(self) -> dict[str, Any]:
        """JSON-ready record of how the population is made – no patient-level values."""
        params = self._params.describe()
        digest = hashlib.sha256(
            pd.util.hash_pandas_object(self._eligible, index=True).to_numpy().tobytes()
        ).hexdigest()
        out: dict[str, Any] = {
            "kind": "virtual",
            "model": self.model,
            "n": self.n,
            "n_draws": self.n_draws,
            "method": self.method,
            "uncertainty": self.uncertainty,
            "criteria": list(self.criteria.expressions),
            "fit": dict(self._fit_info) or None,
            "parameters": params["parameters"],
            "draws": params["draws"],
            "posterior_draws": params["posterior_draws"],
            "correlated_bsv": params["correlated_bsv"],
            "residual": params["residual"],
            "covariates": {
                "map": dict(self._map),
                "required": list(self._params.required),
                "codes": {k: dict(v) for k, v in self._codes.items()},
                "codes_from": self._codes_from,
            },
            "real": {
                "patients": self._n_real,
                "with_model_covariates": self._n_valid,
                "eligible": len(self._eligible),
                "dropped": dict(self._dropped),
                "eligible_hash": digest,
            },
            "unseen_levels": {
                c: {"levels": list(v), "eligible_share": self._unseen_share[c]}
                for c, v in self._unseen.items()
            },
            "notes": params["notes"],
        }
        if self._copula is not None:
            out["copula"] = self._copula.describe() | {"acceptance": self._acceptance}
        return out

    def __repr__(self) -> str:
        return (
            f"VirtualCohort(model={self.model!r}, n={self.n}, n_draws={self.n_draws}, "
            f"method={self.method!r}, eligible={len(self._eligible)}, "
            f"criteria={self.criteria.text!r})"
        )


def from_cohort(
    cohort: Any,
    n: int,
    **kwargs: Any,
) -> VirtualCohort:
    """A :class:`VirtualCohort` from a harmonized cohort (a Cohort or its folder).

    The covariates are the ``patients`` table's ``cov_*`` columns and ``sex``, with the
    derived ``cov_age`` and ``cov_crcl_ml_min``
    (:func:`twinlab.pkpd.covariates.add_derived_covariates`).

    Parameters
    ----------
    cohort : Cohort or path
        The harmonized cohort (e.g. ``data/harmonized/demo``).
    n : int
        Number of virtual patients.
    **kwargs
        Passed to :class:`VirtualCohort` (``model``, ``extra``, ``criteria``, ``method``...).

    Returns
    -------
    VirtualCohort
    """
    from twinlab.pkpd.covariates import add_derived_covariates
    from twinlab.timeline import Cohort

    if isinstance(cohort, str | os.PathLike):
        cohort = Cohort.read(cohort)
    if not isinstance(cohort, Cohort):
        raise TypeError(f"cohort must be a Cohort or a folder, not {type(cohort).__name__}")
    patients = add_derived_covariates(cohort.patients)
    keep = ["patient_id", "sex", *(c for c in patients.columns if str(c).startswith("cov_"))]
    return VirtualCohort(patients[keep].reset_index(drop=True), n, **kwargs)
