"""A structural model as a sweep function: rows of parameters in, simulated outputs out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["ModelResponse"]


@dataclass(frozen=True)
class ModelResponse:
    """Simulated outputs of a structural model, one row per row of parameters.

    Each input row is one patient with known parameters (:class:`twinlab.virtual.
    KnownPopulation`) taken through the arms by the simulation engine
    (:func:`twinlab.simulate.run`), so sweeps, Sobol and Morris analyses and surrogates see
    exactly what the engine computes. Picklable: usable as a Dask sweep function.

    Parameters
    ----------
    model : str
        Structural model name (:func:`twinlab.pkpd.get_model`).
    arms : sequence of Arm
        The regimens; with one arm the output columns are the ``outputs``, with several
        they are ``"<output>|<arm>"``.
    times : sequence of float
        The observation grid (hours).
    outputs : sequence of str
        Per-patient results of the engine (``auc``, ``auc_tau``, ``cmax``, ``ctrough``,
        ``t_above``, ``effect_end``, ``effect_cfb``...).
    fixed : mapping, optional
        Values of model parameters the rows do not carry.
    threshold : float, optional
        Concentration threshold of ``t_above``.

    Examples
    --------
    >>> from twinlab.simulate import Arm, Regimen
    >>> f = ModelResponse("pk_1cmt_oral", [Arm("oral", Regimen(100.0))],
    ...                   np.linspace(0, 96, 385), ["auc"], fixed={"ka": 1.0, "v": 20.0})
    >>> out = f(pd.DataFrame({"cl": [2.0, 4.0]}))
    >>> np.round(out["auc"].to_numpy() * [2.0, 4.0] / 100.0, 2).tolist()  # AUC = Dose / CL
    [1.0, 1.0]
    """

    model: str
    arms: Sequence[Any]
    times: Sequence[float]
    outputs: Sequence[str]
    fixed: Mapping[str, float] = field(default_factory=dict)
    threshold: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "arms", tuple(self.arms))
        object.__setattr__(self, "times", tuple(float(t) for t in self.times))
        object.__setattr__(self, "outputs", tuple(self.outputs))
        object.__setattr__(self, "fixed", dict(self.fixed))
        if not self.arms or not self.outputs:
            raise ValueError("ModelResponse needs at least one arm and one output")

    @property
    def columns(self) -> list[str]:
        """Names of the output columns."""
        if len(self.arms) == 1:
            return list(self.outputs)
        return [f"{o}|{a.name}" for a in self.arms for o in self.outputs]

    def __call__(self, samples: pd.DataFrame) -> pd.DataFrame:
        """Simulate each row of ``samples`` (columns: model parameters)."""
        from twinlab.simulate import Scenario, run
        from twinlab.virtual import KnownPopulation

        n = len(samples)
        params = {k: np.full(n, float(v)) for k, v in self.fixed.items()}
        params |= {str(c): samples[c].to_numpy(dtype=float) for c in samples.columns}
        population = KnownPopulation(self.model, params, n=n)
        scenario = Scenario(
            "response",
            population,
            list(self.arms),
            np.asarray(self.times),
            seed=0,
            chunk_size=max(n, 1),
            threshold=self.threshold,
        )
        table = run(scenario).patients
        unknown = sorted(set(self.outputs) - set(table.columns))
        if unknown:
            raise ValueError(f"unknown outputs {unknown}; the engine gives {list(table.columns)}")
        wide = {
            f"{o}|{arm.name}" if len(self.arms) > 1 else o: (
                table.loc[table["arm"] == arm.name].sort_values("vpid")[o].to_numpy()
            )
            for arm in self.arms
            for o in self.outputs
        }
        return pd.DataFrame(wide, index=samples.index)[self.columns]
