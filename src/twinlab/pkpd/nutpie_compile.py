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

The wrappers are also **cached on disk**, beside PyTensor's own Numba cache: each is compiled
from fixed source text and registered, like PyTensor's generated functions, under a key made
of the model function's PyTensor cache key (graph, constants), the wrapper's source, nutpie's
version and the shared data's layout. A new process fitting the same model and data loads
the machine code instead of compiling it (the theophylline fit's compile ~10 -> ~4 s); the
code loaded is the code compiled, so the draws are the same. A model whose PyTensor function
has no cache key (an ``Op`` without one, or ``numba__cache`` off) is compiled as before.

The wrappers replace two private factories of ``nutpie.compile_pymc`` for the duration of the
call (under a lock); when the installed nutpie does not have them with the expected
signatures (another version), nutpie's own wrappers are used unchanged.
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import os
import pickle
import sys
import threading
import weakref
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "compile_pymc_model",
    "ieee_numba",
    "lean_wrappers_supported",
    "load_model",
    "model_cache_key",
    "prune_models",
    "store_model",
]

_LOCK = threading.Lock()
#: whether the wrapper the last factory call made is registered for the disk cache; read by
#: ``numba.cfunc(..., cache=_CACHE_SWITCH)`` right after the factory returns (under ``_LOCK``)
_STATE = threading.local()
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


_LOGP_SRC = """
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
"""

_EXPAND_SRC = """
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
"""


class _CacheSwitch:
    """``cache=`` for ``numba.cfunc``: true when the wrapper just made has a disk-cache key."""

    def __bool__(self) -> bool:
        return bool(getattr(_STATE, "keyed", False))


_CACHE_SWITCH = _CacheSwitch()


def _cache_key(
    src: str,
    inner: Any,
    user_data: np.ndarray,
    shared_names: list[str],
    shared_data: dict[str, np.ndarray],
    sizes: tuple[int, ...],
) -> str | None:
    """The wrapper's disk-cache key, or ``None`` when PyTensor has none for ``inner``.

    Everything the wrapper's machine code depends on: the model function (PyTensor's key of
    its graph and constants), the wrapper's source, nutpie's extraction code and version, the
    dimensions and the shared data (their values are compiled in as typing constants).
    """
    import nutpie
    from pytensor.link.numba.cache import CACHED_SRC_FUNCTIONS

    inner_key = CACHED_SRC_FUNCTIONS.get(getattr(inner, "py_func", None))
    if inner_key is None:
        return None
    h = hashlib.sha256()
    for part in (
        "twinlab.nutpie_compile.v2",  # v2: IEEE arithmetic (no fast-math)
        inner_key,
        src,
        inspect.getsource(_module().make_extraction_fn),
        nutpie.__version__,
        repr(sizes),
        repr(user_data.dtype.descr),
    ):
        h.update(part.encode() + b"\0")
    for name in shared_names:
        value = np.ascontiguousarray(shared_data[name])
        h.update(f"{name}|{value.dtype.str}|{value.shape}".encode())
        h.update(value.tobytes())
    return h.hexdigest()


def _wrapper(
    src: str,
    name: str,
    inner: Any,
    user_data: np.ndarray,
    shared_names: list[str],
    shared_data: dict[str, np.ndarray],
    sizes: dict[str, int],
) -> Any:
    """The Python function of a wrapper, registered for PyTensor's cache locator when keyed."""
    import numba
    from pytensor.link.numba.cache import compile_numba_function_src

    extract = _module().make_extraction_fn(inner, shared_data, shared_names, user_data.dtype)
    key = _cache_key(src, inner, user_data, shared_names, shared_data, tuple(sizes.values()))
    _STATE.keyed = key is not None
    _STATE.keys = [*getattr(_STATE, "keys", []), key]
    return compile_numba_function_src(
        src,
        name,
        global_env={"__name__": __name__, "numba": numba, "np": np, "extract": extract, **sizes},
        cache_key=None if key is None else f"twinlab_{name}_{key}",
    )


def _make_c_logp_func(
    n_dim: int,
    logp_fn: Any,
    user_data: np.ndarray,
    shared_logp: list[str],
    shared_data: dict[str, np.ndarray],
) -> tuple[Any, Any]:
    """nutpie's ``logp`` wrapper without broadcasting copies (same signature, same codes)."""
    import numba

    c_sig = numba.types.int64(
        numba.types.uint64,
        numba.types.CPointer(numba.types.double),
        numba.types.CPointer(numba.types.double),
        numba.types.CPointer(numba.types.double),
        numba.types.voidptr,
    )
    sizes = {"n_dim": n_dim}
    fn = _wrapper(_LOGP_SRC, "logp_numba", logp_fn, user_data, shared_logp, shared_data, sizes)
    return fn, c_sig


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

    c_sig = numba.types.int64(
        numba.types.uint64,
        numba.types.uint64,
        numba.types.CPointer(numba.types.double),
        numba.types.CPointer(numba.types.double),
        numba.types.voidptr,
    )
    sizes = {"n_dim": n_dim, "n_expanded": n_expanded}
    fn = _wrapper(
        _EXPAND_SRC, "expand_numba", expand_fn, user_data, shared_vars, shared_data, sizes
    )
    return fn, c_sig


_LEAN = {"_make_c_logp_func": _make_c_logp_func, "_make_c_expand_func": _make_c_expand_func}


@contextlib.contextmanager
def ieee_numba() -> Any:
    """PyTensor's Numba functions compiled with IEEE arithmetic (no fast-math).

    PyTensor compiles with fast-math by default (``numba__fastmath``: reassociation,
    contraction, approximate functions). Under it the machine code a process compiles for a
    model and the code it stores on disk need not compute the same last bits, so the first
    fit on a machine (nothing cached yet) drew other chains than every later fit of the same
    model and data: MCMC is chaotic, and a reviewer's first run never matched the recorded
    posterior. Without fast-math both are the same arithmetic (tested from an empty cache:
    the same draws, bit for bit, cold and warm; no measurable cost on the demo fit).
    PyTensor's cache keys hold the flag (``..._fastmath0``); the wrappers' and the stored
    models' formats were moved on (``v2``) so that nothing compiled with fast-math loads.
    """
    import pytensor

    with pytensor.config.change_flags(numba__fastmath=False):
        yield


def compile_pymc_model(
    model: Any, *, lean: bool = True, disk_cache: bool = True, **kwargs: Any
) -> Any:
    """``nutpie.compile_pymc_model(model, **kwargs)`` with lean wrappers where supported.

    Parameters
    ----------
    model : pymc.Model
        The model.
    lean : bool
        Use the lean wrappers (when the installed nutpie supports them); ``False`` compiles
        with nutpie's own.
    disk_cache : bool
        Load the lean wrappers' machine code from the disk cache (and store it there) when
        the model function has a PyTensor cache key.
    **kwargs
        Passed to ``nutpie.compile_pymc_model``.

    Returns
    -------
    nutpie.CompiledPyMCModel
    """
    import nutpie

    if not (lean and lean_wrappers_supported()):
        with _LOCK, ieee_numba():
            return nutpie.compile_pymc_model(model, **kwargs)
    cp = _module()
    with _LOCK, ieee_numba():
        saved = {name: getattr(cp, name) for name in _LEAN}
        try:
            for name, factory in _LEAN.items():
                setattr(cp, name, factory)
            if disk_cache:
                kwargs = {"cache": _CACHE_SWITCH, **kwargs}
            _STATE.keys = []
            compiled = nutpie.compile_pymc_model(model, **kwargs)
            logp_key, expand_key = [*_STATE.keys, None, None][:2]
            if disk_cache and logp_key and expand_key:
                _WRAPPER_KEYS[compiled.compiled_logp_func] = logp_key
                _WRAPPER_KEYS[compiled.compiled_expand_func] = expand_key
            return compiled
        finally:
            for name, factory in saved.items():
                setattr(cp, name, factory)
            _STATE.keyed = False
            _STATE.keys = []


# --- the whole compiled model on disk ------------------------------------------------------

#: disk-cache key of each cached wrapper (``CFunc``), set by :func:`compile_pymc_model`
_WRAPPER_KEYS: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()
_MODEL_FORMAT = "twinlab.compiled_model.v2"  # v2: compiled without fast-math
#: the modules that build and compile a population model (their source is part of the key)
_MODEL_SOURCES = (
    "population.py",
    "models.py",
    "events.py",
    "ode.py",
    "pd.py",
    "covariates.py",
    "dosing.py",
    "nutpie_compile.py",
)


def _model_dir() -> Path:
    """``<PyTensor base_compiledir>/twinlab_models``, beside PyTensor's own Numba cache."""
    from pytensor.configdefaults import config

    return Path(config.base_compiledir) / "twinlab_models"


def model_cache_key(fingerprint: str) -> str:
    """The disk key of a compiled model: its spec and data, and the code that builds it.

    Parameters
    ----------
    fingerprint : str
        A hash of the model's spec and data (``twinlab.pkpd.fit``'s fingerprint).

    Returns
    -------
    str
        ``fingerprint`` combined with the source of the ``twinlab.pkpd`` modules that build
        the model (``_MODEL_SOURCES``) and the versions of Python, NumPy, PyMC, PyTensor,
        Numba and nutpie, so a changed model builder or library never loads a stale model.
    """
    from importlib.metadata import PackageNotFoundError, version

    h = hashlib.sha256(f"{_MODEL_FORMAT}|{fingerprint}|{sys.version}".encode())
    for dist in ("numpy", "pymc", "pytensor", "numba", "nutpie"):
        try:
            h.update(f"|{dist}={version(dist)}".encode())
        except PackageNotFoundError:
            h.update(f"|{dist} absent".encode())
    here = Path(__file__).parent
    for name in _MODEL_SOURCES:
        h.update(name.encode() + (here / name).read_bytes())
    return h.hexdigest()


#: the stored records' size limit: ``TWINLAB_MODEL_CACHE_MAX_MB`` (MiB) overrides it
_MAX_MB = 1024


def prune_models(max_bytes: int | None = None) -> list[Path]:
    """Delete the least recently used stored models until the rest fit in ``max_bytes``.

    Each record holds its fit's data, so the folder grows with every new data set; it is
    pruned after every store. A load marks a record as used (its modification time).

    Parameters
    ----------
    max_bytes : int, optional
        Default: ``TWINLAB_MODEL_CACHE_MAX_MB`` MiB from the environment, else 1024 MiB.

    Returns
    -------
    list of Path
        The records deleted, oldest first. Their Numba wrappers stay in PyTensor's cache
        (small, and shared with any other record of the same model graph).
    """
    if max_bytes is None:
        max_bytes = int(float(os.environ.get("TWINLAB_MODEL_CACHE_MAX_MB", _MAX_MB)) * 2**20)
    records = []
    for path in _model_dir().glob("*.pkl"):
        with contextlib.suppress(OSError):
            st = path.stat()
            records.append((st.st_mtime_ns, path.name, st.st_size, path))
    records.sort()
    total = sum(r[2] for r in records)
    removed = []
    for _, _, size, path in records:
        if total <= max_bytes:
            break
        with contextlib.suppress(OSError):
            path.unlink()
            removed.append(path)
        total -= size
    return removed


def store_model(key: str, compiled: Any) -> bool:
    """Write what :func:`load_model` needs to rebuild ``compiled`` without PyMC or PyTensor.

    Only models whose two wrappers are in the disk cache (:func:`compile_pymc_model` with
    ``disk_cache=True``) and whose chains start at a fixed point (``jitter_rvs=set()``) are
    stored. Returns whether it was stored; a failure to write is not an error (the next
    process compiles again).
    """
    logp_key = _WRAPPER_KEYS.get(compiled.compiled_logp_func)
    expand_key = _WRAPPER_KEYS.get(compiled.compiled_expand_func)
    if not (logp_key and expand_key):
        return False
    start = np.asarray(compiled.initial_point_func(0), dtype=float)
    if not np.array_equal(start, np.asarray(compiled.initial_point_func(1), dtype=float)):
        return False  # a jittered start point: a function of the seed, not a value
    record = {
        "format": _MODEL_FORMAT,
        "n_dim": compiled.n_dim,
        "n_expanded": compiled.n_expanded,
        "dims": compiled.dims,
        "coords": compiled._coords,
        "shapes": compiled._shapes,
        "shape_info": compiled.shape_info,
        "shared_data": {k: np.array(v) for k, v in compiled.shared_data.items()},
        "user_data": np.zeros((), dtype=compiled.user_data.dtype),
        "start": start,
        "logp_key": logp_key,
        "expand_key": expand_key,
    }
    folder = _model_dir()
    tmp = folder / f".{key}.{os.getpid()}.tmp"
    try:
        # the record holds the fit's data (de-identified, still patient-level): private modes
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(folder, 0o700)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            pickle.dump(record, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, folder / f"{key}.pkl")
    except Exception:  # unwritable folder, unpicklable coordinates: compile again next time
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        return False
    prune_models()
    return True


def _cached_cfunc(src: str, name: str, key: str, c_sig: Any, sizes: dict[str, int]) -> Any:
    """The wrapper ``name`` loaded from the disk cache, or ``None`` when it is not there."""
    import numba
    from pytensor.link.numba.cache import compile_numba_function_src

    # the same source under the same key: numba's index key (signature, CPU, bytecode) matches
    fn = compile_numba_function_src(
        src,
        name,
        global_env={"__name__": __name__, "numba": numba, "np": np, "extract": None, **sizes},
        cache_key=f"twinlab_{name}_{key}",
    )
    try:
        cfunc = numba.cfunc(c_sig, cache=True)(fn)
    except Exception:  # a miss compiles the stub, which cannot type: not cached
        return None
    return cfunc if cfunc.cache_hits else None


def load_model(key: str) -> Any | None:
    """The compiled model stored under ``key`` by :func:`store_model`, or ``None``.

    Neither PyMC nor PyTensor's graph compiler runs: the wrappers' machine code comes from
    the disk cache, the shared data and the start point from the stored record, so the
    model samples exactly as the one that was stored.
    """
    try:
        path = _model_dir() / f"{key}.pkl"
        if not path.is_file() or not lean_wrappers_supported():
            return None
        with open(path, "rb") as fh:
            record = pickle.load(fh)  # our own cache folder, like numba's and PyTensor's
        if record.get("format") != _MODEL_FORMAT:
            return None
        with contextlib.suppress(OSError):
            os.utime(path)  # recently used: pruned last
    except Exception:
        return None
    import numba

    cp = _module()
    double = numba.types.CPointer(numba.types.double)
    logp_sig = numba.types.int64(numba.types.uint64, double, double, double, numba.types.voidptr)
    expand_sig = numba.types.int64(
        numba.types.uint64, numba.types.uint64, double, double, numba.types.voidptr
    )
    n_dim, n_expanded = record["n_dim"], record["n_expanded"]
    logp = _cached_cfunc(_LOGP_SRC, "logp_numba", record["logp_key"], logp_sig, {"n_dim": n_dim})
    sizes = {"n_dim": n_dim, "n_expanded": n_expanded}
    expand = _cached_cfunc(_EXPAND_SRC, "expand_numba", record["expand_key"], expand_sig, sizes)
    if logp is None or expand is None:
        return None
    shared_data = record["shared_data"]
    for value in shared_data.values():
        value.flags.writeable = False
    user_data = cp.update_user_data(record["user_data"], shared_data)
    start = record["start"]
    _WRAPPER_KEYS[logp] = record["logp_key"]
    _WRAPPER_KEYS[expand] = record["expand_key"]
    return cp.CompiledPyMCModel(
        _n_dim=n_dim,
        dims=record["dims"],
        _coords=record["coords"],
        _shapes=record["shapes"],
        compiled_logp_func=logp,
        compiled_expand_func=expand,
        initial_point_func=lambda seed: start.copy(),
        shared_data=shared_data,
        user_data=user_data,
        n_expanded=n_expanded,
        shape_info=record["shape_info"],
        logp_func=None,
        expand_func=None,
    )
