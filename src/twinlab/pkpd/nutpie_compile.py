"""nutpie's model compilation with lean C-callable wrappers: a faster cold start.

nutpie calls the model through two C function pointers, ``logp`` (log density and gradient)
and ``expand`` (the draws' deterministics), that it builds in every process with
``numba.cfunc`` around the model's compiled PyTensor function. Numba cannot cache those
wrappers (they close over the model), so every new process compiles them again: on the demo
and theophylline fits that is most of the cold start after PyTensor's own (cached)
compilation. nutpie 0.16's wrappers copy the gradient with a broadcasting assignment and check
it with ``np.all(np.isfinite(...))``; both pull Numba's shape-error formatting (string
building) into the wrapper, which costs more to compile than the rest of it.

:func:`compile_pymc_model` is ``nutpie.compile_pymc_model`` with wrappers that do the same
thing with plain loops: the same return codes (0 ok, 1 exception in the model, 3 non-finite
gradient, 4 non-finite log density; -1 wrong dimension), the same values, so the same draws
bit for bit (tested). It saves about 4 s of CPU per process on the theophylline fit
(~17 -> ~13 s of CPU, measured side by side on one machine).

The wrappers replace two private factories of ``nutpie.compile_pymc`` for the duration of the
call (under a lock); when the installed nutpie does not have them with the expected
signatures (another version), nutpie's own wrappers are used unchanged.
"""

from __future__ import annotations

import inspect
import threading
from typing import Any

import numpy as np

__all__ = ["compile_pymc_model", "lean_wrappers_supported"]

_LOCK = threading.Lock()
#: nutpie.compile_pymc's private wrapper factories and the parameters they take
_FACTORIES = {
    "_make_c_logp_func": ["n_dim", "logp_fn", "user_data", "shared_logp", "shared_data"],
    "_make_c_expand_func": [
        "n_dim",
        "n_expanded",
        "expand_fn",
        "user_data",
        "shared_vars",
        "shared_data",
    ],
}


def _module() -> Any:
    import nutpie.compile_pymc as cp

    return cp


def lean_wrappers_supported() -> bool:
    """Whether the installed nutpie has the wrapper factories this module replaces."""
    cp = _module()
    if not hasattr(cp, "make_extraction_fn"):
        return False
    for name, params in _FACTORIES.items():
        fn = getattr(cp, name, None)
        if fn is None or list(inspect.signature(fn).parameters) != params:
            return False
    return True


def _make_c_logp_func(
    n_dim: int,
    logp_fn: Any,
    user_data: np.ndarray,
    shared_logp: list[str],
    shared_data: dict[str, np.ndarray],
) -> tuple[Any, Any]:
    """nutpie's ``logp`` wrapper without broadcasting copies (same signature, same codes)."""
    import numba

    extract = _module().make_extraction_fn(logp_fn, shared_data, shared_logp, user_data.dtype)
    c_sig = numba.types.int64(
        numba.types.uint64,
        numba.types.CPointer(numba.types.double),
        numba.types.CPointer(numba.types.double),
        numba.types.CPointer(numba.types.double),
        numba.types.voidptr,
    )

    def logp_numba(dim, x_, out_, logp_, user_data_):
        if dim != n_dim:
            return -1
        try:
            x = numba.carray(x_, (n_dim,))
            logp_val, grad = extract(x, user_data_)
            logp_[0] = logp_val
            finite = True
            for i in range(n_dim):
                g = grad[i]
                out_[i] = g
                if not np.isfinite(g):
                    finite = False
            if not finite:
                return 3
            if not np.isfinite(logp_val):
                return 4
        except Exception:  # a C callback must not raise: nutpie reads the code
            return 1
        return 0

    return logp_numba, c_sig


def _make_c_expand_func(
    n_dim: int,
    n_expanded: int,
    expand_fn: Any,
    user_data: np.ndarray,
    shared_vars: list[str],
    shared_data: dict[str, np.ndarray],
) -> tuple[Any, Any]:
    """nutpie's ``expand`` wrapper without a broadcasting copy (same signature, same codes)."""
    import numba

    extract = _module().make_extraction_fn(expand_fn, shared_data, shared_vars, user_data.dtype)
    c_sig = numba.types.int64(
        numba.types.uint64,
        numba.types.uint64,
        numba.types.CPointer(numba.types.double),
        numba.types.CPointer(numba.types.double),
        numba.types.voidptr,
    )

    def expand_numba(dim, expanded, x_, out_, user_data_):
        if dim != n_dim or expanded != n_expanded:
            return -1
        try:
            x = numba.carray(x_, (n_dim,))
            (values,) = extract(x, user_data_)
            for i in range(n_expanded):
                out_[i] = values[i]
        except Exception:  # a C callback must not raise: nutpie reads the code
            return -2
        return 0

    return expand_numba, c_sig


_LEAN = {"_make_c_logp_func": _make_c_logp_func, "_make_c_expand_func": _make_c_expand_func}


def compile_pymc_model(model: Any, *, lean: bool = True, **kwargs: Any) -> Any:
    """``nutpie.compile_pymc_model(model, **kwargs)`` with lean wrappers where supported.

    Parameters
    ----------
    model : pymc.Model
        The model.
    lean : bool
        Use the lean wrappers (when the installed nutpie supports them); ``False`` compiles
        with nutpie's own.
    **kwargs
        Passed to ``nutpie.compile_pymc_model``.

    Returns
    -------
    nutpie.CompiledPyMCModel
    """
    import nutpie

    if not (lean and lean_wrappers_supported()):
        return nutpie.compile_pymc_model(model, **kwargs)
    cp = _module()
    with _LOCK:
        saved = {name: getattr(cp, name) for name in _LEAN}
        try:
            for name, factory in _LEAN.items():
                setattr(cp, name, factory)
            return nutpie.compile_pymc_model(model, **kwargs)
        finally:
            for name, factory in saved.items():
                setattr(cp, name, factory)
