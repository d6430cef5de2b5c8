"""Pharmacodynamic building blocks written once against an array module ``xp``.

Every function takes ``xp`` (``numpy`` or ``pytensor.tensor``) and uses only operations both
offer, so the fitting back end (PyTensor, gradients) and the simulator (NumPy) share them.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

__all__ = ["IDR_KINDS", "hill", "idr_rhs", "sigmoid_emax"]

#: Indirect-response kinds: which rate the drug acts on and how.
IDR_KINDS = {
    1: "inhibition of kin",
    2: "inhibition of kout",
    3: "stimulation of kin",
    4: "stimulation of kout",
}


def hill(xp: ModuleType, c: Any, c50: Any, gamma: Any = 1.0) -> Any:
    """Fractional occupancy ``c**gamma / (c50**gamma + c**gamma)``, in [0, 1).

    Written so that ``c = 0`` gives 0 with finite gradients (no ``0 * log 0``).

    Examples
    --------
    >>> import numpy as np
    >>> float(hill(np, np.array(2.0), 2.0, 3.0))
    0.5
    """
    positive = c > 0
    c_safe = xp.where(positive, c, 1.0)
    cg = xp.where(positive, xp.exp(gamma * xp.log(c_safe)), 0.0)
    return cg / (xp.exp(gamma * xp.log(c50)) + cg)


def sigmoid_emax(xp: ModuleType, c: Any, e0: Any, emax: Any, ec50: Any, gamma: Any = 1.0) -> Any:
    """Sigmoid Emax effect ``e0 + emax * c**gamma / (ec50**gamma + c**gamma)``."""
    return e0 + emax * hill(xp, c, ec50, gamma)


def idr_rhs(xp: ModuleType, kind: int) -> Callable[..., Any]:
    """Right-hand side ``dR/dt = f(R, C, kin, kout, drug_max, c50, gamma)`` of IDR model I–IV.

    ``drug_max`` is ``imax`` (I, II; inhibition, ≤ 1) or ``emax`` (III, IV; stimulation);
    ``c50`` is ``ic50`` or ``ec50``. The baseline ``R(0) = kin / kout`` is a steady state.

    Parameters
    ----------
    xp : module
        ``numpy`` or ``pytensor.tensor``.
    kind : int
        1 inhibition of kin, 2 inhibition of kout, 3 stimulation of kin, 4 stimulation of kout.
    """
    if kind not in IDR_KINDS:
        raise ValueError(f"indirect-response kind must be one of 1-4, got {kind!r}")

    def rhs(r: Any, c: Any, kin: Any, kout: Any, drug_max: Any, c50: Any, gamma: Any) -> Any:
        frac = hill(xp, c, c50, gamma)
        if kind == 1:
            return kin * (1.0 - drug_max * frac) - kout * r
        if kind == 2:
            return kin - kout * (1.0 - drug_max * frac) * r
        if kind == 3:
            return kin * (1.0 + drug_max * frac) - kout * r
        return kin - kout * (1.0 + drug_max * frac) * r

    return rhs
