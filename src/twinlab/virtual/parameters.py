"""Individual parameters of virtual patients: posterior draws × covariates × BSV.

:class:`ParameterModel` gathers, once, the population values a virtual population needs from
a fitted model (typical values, covariate effects ``beta_*``, BSV SDs ``omega_*`` or the
Cholesky-LKJ ``chol_eta_stds`` / ``chol_eta_corr``, residual SDs ``sigma_*``) for the chosen
posterior draws, and from an optional ``extra`` :class:`~twinlab.pkpd.population.PopulationSpec`
for the parameters the fit lacks (typical value = ``guess``, BSV SD = ``omega``, power
covariate effects with their declared exponents: assumed, not fitted). It keeps only these
small arrays, so it travels cheaply to Dask workers.

:meth:`ParameterModel.individual` turns covariates and standard-normal scores ``z`` (drawn once
per patient) into individual parameters with
:func:`twinlab.pkpd.population.individual_params`, the same code the fit uses:
``eta[d] = z @ L[d].T`` with ``L[d] = diag(omega[d]) @ chol(corr[d])`` for posterior draw ``d``,
so a patient keeps its deviations (in SD units) across draws.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from twinlab.pkpd.models import get_model
from twinlab.pkpd.population import Covariate, PopulationSpec, individual_params

__all__ = ["ParameterModel"]

ASSUMED = "assumed, not fitted"


def _flat(post: Any, name: str) -> np.ndarray:
    """A posterior variable with ``chain`` and ``draw`` flattened into the first axis."""
    da = post[name].transpose("chain", "draw", ...)
    values = np.asarray(da.values, dtype=float)
    return values.reshape((-1, *values.shape[2:]))


def _level_of(name: str, label: str) -> float | None:
    """The level coded in ``beta_<label>_<level>`` (``1``, ``2p5``), else None."""
    stem = f"beta_{label}_"
    if not name.startswith(stem):
        return None
    text = name[len(stem) :].replace("p", ".")
    try:
        return float(text)
    except ValueError:
        return None


@dataclass(frozen=True)
class ParameterModel:
    """Population values for the chosen draws, and the rule that makes individual parameters.

    Build it with :meth:`build`. Attributes are plain arrays (``values`` per name, shape
    ``(n_draws, 1)``; ``chol`` ``(n_draws, k, k)``) and the specs.
    """

    structural: str
    fit_spec: PopulationSpec | None
    extra_spec: PopulationSpec | None
    fitted: tuple[str, ...]
    assumed: tuple[str, ...]
    draw: np.ndarray
    values: dict[str, np.ndarray]
    fit_random: tuple[str, ...]
    chol: np.ndarray
    extra_random: tuple[str, ...]
    extra_omega: np.ndarray
    sigma: dict[str, np.ndarray]
    known_levels: dict[str, tuple[float, ...]]
    posterior_size: int
    notes: list[str] = field(default_factory=list)

    # ------------------------------------------------------------------------ building

    @classmethod
    def build(
        cls,
        fit: Any | None,
        *,
        extra: PopulationSpec | None = None,
        structural: str | None = None,
        n_draws: int = 1,
        uncertainty: bool = True,
        draws: Sequence[int] | None = None,
    ) -> ParameterModel:
        """Collect the population values of ``fit`` (a FitResult) and ``extra``.

        Parameters
        ----------
        fit : FitResult or None
            The fitted model; None: every parameter comes from ``extra``.
        extra : PopulationSpec, optional
            Parameters the fit lacks.
        structural : str, optional
            Structural model of the virtual patients (default: ``extra``'s, else the fit's).
        n_draws : int
            Posterior draws per patient.
        uncertainty : bool
            False: posterior means (``n_draws`` must be 1, draw index ``-1``).
        draws : sequence of int, optional
            Posterior draws to use (indices into chain × draw, chain-major); default:
            ``n_draws`` draws evenly spread over the posterior.
        """
        if fit is None and extra is None:
            raise ValueError("give a fitted model, an extra spec (assumed values), or both")
        structural = structural or (extra.model if extra is not None else fit.spec.model)
        sm = get_model(structural)
        fit_spec = fit.spec if fit is not None else None
        fit_names = [p.name for p in fit_spec.parameters] if fit_spec else []
        foreign = [p for p in fit_names if p not in sm.all_params]
        if foreign:
            raise ValueError(
                f"the fit's parameters {foreign} are not parameters of the structural model "
                f"{structural!r} ({list(sm.all_params)}); choose structural= accordingly"
            )
        extra_names = [p.name for p in extra.parameters] if extra is not None else []
        assumed = tuple(p for p in extra_names if p not in fit_names and p in sm.all_params)
        missing = [p for p in sm.params if p not in fit_names and p not in assumed]
        if missing:
            raise ValueError(
                f"structural model {structural!r} needs {missing}, which neither the fit nor "
                "the extra spec gives; declare them in extra= (assumed values)"
            )
        n_draws = int(n_draws)
        if n_draws < 1:
            raise ValueError(f"n_draws must be at least 1, got {n_draws}")
        notes: list[str] = []
        no_posterior = fit is None or not uncertainty
        if no_posterior and n_draws != 1:
            why = "without a fitted model" if fit is None else "with uncertainty=False"
            raise ValueError(f"{why} all draws would be the same: use n_draws=1 (got {n_draws})")

        values: dict[str, np.ndarray] = {}
        sigma: dict[str, np.ndarray] = {}
        fit_random: tuple[str, ...] = ()
        chol = np.zeros((n_draws, 0, 0))
        known_levels: dict[str, tuple[float, ...]] = {}
        size = 0
        if fit is not None:
            post = fit.idata.posterior
            size = int(post.sizes["chain"] * post.sizes["draw"])
            if uncertainty:
                if draws is not None:
                    idx = np.asarray(list(draws), dtype=np.int64)
                    if idx.shape != (n_draws,) or idx.min() < 0 or idx.max() >= size:
                        raise ValueError(
                            f"draws must be {n_draws} indices in 0..{size - 1}, got {list(idx)}"
                        )
                else:
                    if n_draws > size:
                        raise ValueError(f"n_draws={n_draws} exceeds the {size} posterior draws")
                    idx = ((np.arange(n_draws) + 0.5) * size / n_draws).astype(np.int64)

                def pick(a: np.ndarray) -> np.ndarray:
                    return a[idx]
            else:
                idx = np.full(1, -1, dtype=np.int64)

                def pick(a: np.ndarray) -> np.ndarray:
                    return a.mean(axis=0, keepdims=True)

            for p in fit_spec.parameters:
                if p.fixed:
                    continue
                if p.name in post:
                    values[p.name] = pick(_flat(post, p.name))[:, None]
                elif f"log_{p.name}" in post:
                    values[p.name] = pick(np.exp(_flat(post, f"log_{p.name}")))[:, None]
                else:
                    raise ValueError(f"the posterior has no typical value {p.name!r}")
            for name in post.data_vars:
                name = str(name)
                if name.startswith("beta_") and post[name].ndim == 2:
                    values[name] = pick(_flat(post, name))[:, None]
                elif name.startswith("sigma_") and not name.endswith("__"):
                    if post[name].ndim == 2:
                        sigma[name[len("sigma_") :]] = pick(_flat(post, name))
            fit_random = fit_spec.random
            k = len(fit_random)
            if fit_spec.correlated and k > 1:
                stds = pick(_flat(post, "chol_eta_stds"))
                if "chol_eta_corr" in post:
                    corr = pick(_flat(post, "chol_eta_corr"))
                else:
                    notes.append("posterior lacks chol_eta_corr: BSV taken as uncorrelated")
                    corr = np.broadcast_to(np.eye(k), (len(stds), k, k))
                chol = stds[:, :, None] * np.linalg.cholesky(corr)
            else:
                omegas = [pick(_flat(post, f"omega_{p}")) for p in fit_random]
                chol = np.stack([np.diag(o) for o in np.stack(omegas, axis=1)]) if k else chol
            for c in fit_spec.covariates:
                if c.kind == "categorical":
                    found = [_level_of(v, c.label) for v in values]
                    known_levels[c.covariate] = tuple(
                        c.levels
                        if c.levels is not None
                        else sorted(lv for lv in found if lv is not None)
                    )
            if not sigma:
                notes.append("the posterior has no residual SDs (sigma_*)")
        else:
            idx = np.full(1, -1, dtype=np.int64)

        if extra is not None and not assumed:
            notes.append("the extra spec adds nothing: the fit gives all its parameters")
        extra_spec = None
        extra_random: tuple[str, ...] = ()
        extra_omega = np.zeros(0)
        if extra is not None and assumed:
            covs: list[Covariate] = []
            for c in extra.covariates:
                if c.parameter not in assumed:
                    continue
                if c.kind == "categorical":
                    notes.append(
                        f"extra covariate {c.covariate} on {c.parameter} is categorical with no "
                        "fitted levels: no effect applied"
                    )
                    continue
                covs.append(replace(c, estimate=False))
            unfitted = sorted(
                {e.endpoint for e in extra.errors} - {k.split("_", 1)[1] for k in sigma}
            )
            if unfitted:
                notes.append(
                    f"no residual error for {unfitted}: the extra spec's error priors are not "
                    "values"
                )
            extra_spec = replace(extra, covariates=tuple(covs))
            for p in extra.parameters:
                if p.name in assumed and not p.fixed:
                    values[p.name] = np.full((len(idx), 1), p.guess)
            extra_random = tuple(p for p in extra.random if p in assumed)
            extra_omega = np.array([extra.parameter(p).omega for p in extra_random], dtype=float)
        return cls(
            structural=structural,
            fit_spec=fit_spec,
            extra_spec=extra_spec,
            fitted=tuple(p for p in fit_names),
            assumed=assumed,
            draw=idx,
            values=values,
            fit_random=fit_random,
            chol=chol,
            extra_random=extra_random,
            extra_omega=extra_omega,
            sigma=sigma,
            known_levels=known_levels,
            posterior_size=size,
            notes=notes,
        )

    # ------------------------------------------------------------------------ using

    @property
    def n_draws(self) -> int:
        """Rows of the parameter arrays."""
        return int(self.draw.shape[0])

    @property
    def n_random(self) -> int:
        """Standard-normal scores each patient needs."""
        return len(self.fit_random) + len(self.extra_random)

    @property
    def required(self) -> tuple[str, ...]:
        """Covariate names the parameters depend on."""
        out: list[str] = []
        for spec in (self.fit_spec, self.extra_spec):
            for c in spec.covariates if spec is not None else ():
                if spec is self.extra_spec or c.parameter in self.fitted:
                    out.extend(spec.covariate_inputs(c.covariate))  # a derived one: its inputs
        return tuple(dict.fromkeys(out))

    @property
    def power(self) -> tuple[str, ...]:
        """Covariates with a power effect (their values must be positive)."""
        out = []
        for spec in (self.fit_spec, self.extra_spec):
            out += [c.covariate for c in (spec.covariates if spec else ()) if c.kind == "power"]
        return tuple(dict.fromkeys(out))

    @property
    def categorical(self) -> tuple[str, ...]:
        """Covariates with a categorical effect."""
        out = []
        for spec in (self.fit_spec, self.extra_spec):
            out += [
                c.covariate for c in (spec.covariates if spec else ()) if c.kind == "categorical"
            ]
        return tuple(dict.fromkeys(out))

    def unseen(self, covariates: Mapping[str, np.ndarray]) -> dict[str, list[float]]:
        """Per categorical covariate, levels in ``covariates`` that the fit never saw."""
        out = {}
        if self.fit_spec is not None:
            covariates = self.fit_spec.derive(covariates)
        for c in self.fit_spec.covariates if self.fit_spec else ():
            if c.kind != "categorical" or c.covariate not in covariates:
                continue
            x = np.asarray(covariates[c.covariate], dtype=float)
            known = set(self.known_levels.get(c.covariate, ())) | {float(c.reference)}
            levels = sorted({float(v) for v in np.unique(x[~np.isnan(x)])} - known)
            if levels:
                out[c.covariate] = levels
        return out

    def individual(
        self, covariates: Mapping[str, np.ndarray], z: np.ndarray
    ) -> dict[str, np.ndarray]:
        """Individual parameters, each ``(n_draws, n)``.

        Parameters
        ----------
        covariates : mapping of str to numpy.ndarray
            Per covariate name, one value per patient (shape ``(n,)``).
        z : numpy.ndarray
            Standard-normal scores, shape ``(n, n_random)``: the fit's random parameters in
            ``fit_random`` order, then ``extra_random``.
        """
        n = z.shape[0]
        out: dict[str, np.ndarray] = {}
        k = len(self.fit_random)
        if self.fit_spec is not None:
            cov = self._reference_unseen(covariates)
            eta = {}
            if k:
                etas = np.einsum("nk,djk->djn", z[:, :k], self.chol)
                eta = {p: etas[:, j, :] for j, p in enumerate(self.fit_random)}
            theta = individual_params(np, self.fit_spec, self.values, cov, eta)
            out.update({p: theta[p] for p in self.fitted})
        if self.extra_spec is not None:
            eta = {
                p: (self.extra_omega[j] * z[:, k + j])[None, :]
                for j, p in enumerate(self.extra_random)
            }
            # parameters the fit gives are computed here too, then dropped: any value will do
            values = {p.name: p.guess for p in self.extra_spec.parameters} | self.values
            theta = individual_params(np, self.extra_spec, values, covariates, eta)
            out.update({p: theta[p] for p in self.assumed})
        shape = (self.n_draws, n)
        return {
            p: np.ascontiguousarray(np.broadcast_to(np.asarray(v, dtype=float), shape))
            for p, v in out.items()
        }

    def _reference_unseen(self, covariates: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Categorical levels the fit never saw get the reference level (effect 1)."""
        cov = dict(self.fit_spec.derive(covariates) if self.fit_spec else covariates)
        for c in self.fit_spec.covariates if self.fit_spec else ():
            if c.kind == "categorical" and c.covariate in cov:
                x = np.asarray(cov[c.covariate], dtype=float)
                known = np.asarray(self.known_levels.get(c.covariate, ()), dtype=float)
                seen = np.isin(x, known) | (x == c.reference)
                if not seen.all():
                    cov[c.covariate] = np.where(seen, x, float(c.reference))
        return cov

    def describe(self) -> dict[str, Any]:
        """Where each parameter comes from, the draws used and notes (JSON-ready)."""
        params: dict[str, Any] = {}
        for p in self.fitted:
            spec_p = self.fit_spec.parameter(p)  # type: ignore[union-attr]
            params[p] = {
                "source": "fixed in the fit" if spec_p.fixed else "fitted",
                "bsv": p in self.fit_random,
            }
        for p in self.assumed:
            spec_p = self.extra_spec.parameter(p)  # type: ignore[union-attr]
            params[p] = {
                "source": ASSUMED,
                "typical": spec_p.guess,
                "omega": spec_p.omega,
                "covariates": [
                    {"covariate": c.covariate, "reference": c.reference, "exponent": c.exponent}
                    for c in self.extra_spec.covariates  # type: ignore[union-attr]
                    if c.parameter == p
                ],
            }
        return {
            "structural": self.structural,
            "parameters": params,
            "draws": [int(d) for d in self.draw],
            "posterior_draws": self.posterior_size,
            "correlated_bsv": bool(self.fit_spec is not None and self.fit_spec.correlated),
            "residual": sorted(self.sigma),
            "notes": list(self.notes),
        }


def warn_unseen(unseen: Mapping[str, Sequence[float]], shares: Mapping[str, float]) -> None:
    """Warn that some categorical levels get the reference effect."""
    for name, levels in unseen.items():
        warnings.warn(
            f"covariate {name}: levels {list(levels)} were never seen in the fit "
            f"({shares[name]:.1%} of the eligible patients); they get the reference effect",
            UserWarning,
            stacklevel=3,
        )
