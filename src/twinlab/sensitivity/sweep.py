"""Parameter sweeps: evaluate a function over rows of inputs, in chunks, on Dask when asked.

A sweep is the one loop under every design exploration and sensitivity analysis: a
DataFrame of input rows (design values such as dose and interval, model parameters, or the
samples of a Sobol/Morris design) goes through ``func`` chunk by chunk. With a
:class:`distributed.Client` each chunk is a Dask task; the chunks are the same rows whatever
the number of workers, and the results are put back together in input order, so a Dask sweep
equals the serial one exactly.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["RowWise", "SweepFunction", "grid", "rowwise", "sweep"]

SweepFunction = Callable[[pd.DataFrame], Any]
"""A function from a DataFrame of input rows to one output row per input row."""


def grid(**axes: Any) -> pd.DataFrame:
    """Full factorial design: every combination of the values of each axis.

    Parameters
    ----------
    **axes
        One keyword per input column: a sequence of values (a single value, including a
        string, is a one-value axis). The first axis varies slowest.

    Returns
    -------
    pandas.DataFrame
        ``prod(len(axis))`` rows, one column per axis in the order given, a ``RangeIndex``.

    Raises
    ------
    ValueError
        No axes, an empty axis or an axis with repeated values.

    Examples
    --------
    >>> from twinlab.sensitivity import grid
    >>> grid(dose=[100, 200], interval_h=[12, 24])
       dose  interval_h
    0   100          12
    1   100          24
    2   200          12
    3   200          24
    """
    if not axes:
        raise ValueError("grid() needs at least one axis, e.g. grid(dose=[100, 200])")
    values: list[list[Any]] = []
    for name, axis in axes.items():
        if isinstance(axis, str | bytes) or not isinstance(axis, Iterable):
            axis = [axis]
        axis = list(axis.tolist() if isinstance(axis, np.ndarray) else axis)
        if not axis:
            raise ValueError(f"grid axis {name!r} is empty: give at least one value")
        if len(pd.unique(pd.Series(axis, dtype=object))) != len(axis):
            raise ValueError(f"grid axis {name!r} repeats values: {axis!r}")
        values.append(axis)
    rows = list(itertools.product(*values))
    frame = pd.DataFrame(rows, columns=list(axes))
    return frame.infer_objects()


class RowWise:
    """A sweep function made of a function of one row's values (see :func:`rowwise`)."""

    def __init__(self, func: Callable[..., Any]) -> None:
        if not callable(func):
            raise ValueError(f"rowwise needs a callable, not {type(func).__name__}")
        self.func = func
        self.__name__ = getattr(func, "__name__", type(func).__name__)

    def __call__(self, rows: pd.DataFrame) -> pd.DataFrame:
        results = [self.func(**row) for row in rows.to_dict("records")]
        if all(isinstance(r, Mapping) for r in results):
            return pd.DataFrame(results, index=rows.index)
        if any(isinstance(r, Mapping) for r in results):
            raise ValueError(f"{self.__name__} returned a mapping for some rows only")
        return pd.DataFrame({"y": results}, index=rows.index)

    def __repr__(self) -> str:
        return f"rowwise({self.__name__})"


def rowwise(func: Callable[..., Any]) -> RowWise:
    """Turn a function of one input row (keyword arguments) into a sweep function.

    For models that are not vectorized over rows, e.g. one simulation of a virtual cohort
    per design point. ``func(**row)`` returns a number (output ``y``) or a mapping of named
    outputs.

    Examples
    --------
    >>> from twinlab.sensitivity import grid, rowwise, sweep
    >>> def exposure(dose, cl):
    ...     return {"auc": dose / cl, "above_10": dose / cl > 10}
    >>> sweep(rowwise(exposure), grid(dose=[50.0, 100.0], cl=[5.0]))
        auc  above_10
    0  10.0     False
    1  20.0      True
    """
    return RowWise(func)


def _as_frame(
    out: Any, chunk: pd.DataFrame, outputs: Sequence[str] | None, index: int
) -> pd.DataFrame:
    """Normalize what ``func`` returned for one chunk to a DataFrame indexed like the chunk."""
    n = len(chunk)
    where = f"sweep chunk {index} (rows {chunk.index[0]!r}..{chunk.index[-1]!r})"
    if isinstance(out, pd.DataFrame):
        frame = out
        if outputs is not None:
            missing = [c for c in outputs if c not in frame.columns]
            if missing:
                raise ValueError(
                    f"{where}: func returned no column(s) {missing}; it returned "
                    f"{list(frame.columns)}"
                )
            frame = frame[list(outputs)]
    elif isinstance(out, pd.Series):
        name = outputs[0] if outputs else (out.name if out.name is not None else "y")
        frame = out.to_frame(name=name)
    else:
        arr = np.asarray(out)
        if arr.ndim == 0 or arr.ndim > 2:
            raise ValueError(
                f"{where}: func must return one output row per input row (a DataFrame, "
                f"Series or 1-D/2-D array of length {n}); it returned shape {arr.shape}"
            )
        if arr.ndim == 1:
            arr = arr[:, None]
        names = list(outputs) if outputs else (
            ["y"] if arr.shape[1] == 1 else [f"y{i}" for i in range(arr.shape[1])]
        )  # fmt: skip
        if len(names) != arr.shape[1]:
            raise ValueError(
                f"{where}: func returned {arr.shape[1]} output column(s) but outputs names "
                f"{len(names)}: {names}"
            )
        frame = pd.DataFrame(arr, columns=names)
    if len(frame) != n:
        raise ValueError(
            f"{where}: func returned {len(frame)} row(s) for {n} input row(s); it must return "
            "exactly one output row per input row"
        )
    frame = frame.copy()
    frame.index = chunk.index
    return frame


def _evaluate_chunk(
    func: SweepFunction, chunk: pd.DataFrame, index: int, outputs: Sequence[str] | None
) -> pd.DataFrame:
    try:
        out = func(chunk)
    except Exception as exc:
        exc.add_note(
            f"raised by {getattr(func, '__name__', repr(func))} in sweep chunk {index} "
            f"(rows {chunk.index[0]!r}..{chunk.index[-1]!r})"
        )
        raise
    return _as_frame(out, chunk, outputs, index)


def _check_samples(samples: Any) -> pd.DataFrame:
    if not isinstance(samples, pd.DataFrame):
        raise ValueError(
            f"samples must be a pandas DataFrame of input rows, not {type(samples).__name__}"
        )
    if samples.empty:
        raise ValueError("samples is empty: a sweep needs at least one row and one column")
    if samples.columns.has_duplicates:
        dup = sorted({str(c) for c in samples.columns[samples.columns.duplicated()]})
        raise ValueError(f"samples has duplicate column names: {dup}")
    return samples


def sweep(
    func: SweepFunction,
    samples: pd.DataFrame,
    *,
    client: Any = None,
    chunk_size: int = 1024,
    outputs: Sequence[str] | None = None,
    include_inputs: bool = False,
) -> pd.DataFrame:
    """Evaluate ``func`` on every row of ``samples``, chunk by chunk.

    Parameters
    ----------
    func
        Maps a DataFrame of input rows (a chunk of ``samples``, index kept) to one output row
        per input row, in the same order: a DataFrame, a Series or a 1-D/2-D array. It must
        be deterministic in its inputs (draw random numbers from a seed column, not from
        global state) for a Dask sweep to equal the serial one. With a client it must be
        picklable (module-level functions and closures over picklable objects are).
    samples
        The input rows.
    client
        A :class:`distributed.Client`: chunks run as Dask tasks. ``None``: in this process.
    chunk_size
        Rows per call of ``func`` (and per Dask task).
    outputs
        Output column names to keep (DataFrame results) or to give (Series/array results);
        default: what ``func`` returns, arrays named ``y`` or ``y0, y1, ...``.
    include_inputs
        Put the input columns before the output columns in the result.

    Returns
    -------
    pandas.DataFrame
        One row per sample, in input order with the index of ``samples``.

    Raises
    ------
    ValueError
        Bad ``samples`` or ``chunk_size``, or ``func`` returning the wrong number of rows or
        different columns for different chunks. Errors raised by ``func`` propagate with a
        note naming the chunk.

    Examples
    --------
    >>> from twinlab.sensitivity import grid, sweep
    >>> design = grid(dose=[100.0, 200.0], cl=[5.0, 10.0])
    >>> sweep(lambda d: d["dose"] / d["cl"], design, outputs=["auc"], include_inputs=True)
        dose    cl   auc
    0  100.0   5.0  20.0
    1  100.0  10.0  10.0
    2  200.0   5.0  40.0
    3  200.0  10.0  20.0
    """
    samples = _check_samples(samples)
    if not callable(func):
        raise ValueError(f"func must be callable, not {type(func).__name__}")
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int | np.integer):
        raise ValueError(f"chunk_size must be a positive integer, not {chunk_size!r}")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive integer, not {chunk_size}")
    if outputs is not None:
        outputs = [outputs] if isinstance(outputs, str) else list(outputs)
    starts = range(0, len(samples), int(chunk_size))
    chunks = [samples.iloc[s : s + chunk_size] for s in starts]
    if client is None:
        parts = [_evaluate_chunk(func, c, i, outputs) for i, c in enumerate(chunks)]
    else:
        token = uuid.uuid4().hex[:8]
        remote_func = client.scatter(func, hash=False)
        remote_chunks = client.scatter(chunks, hash=False)
        futures = [
            client.submit(
                _evaluate_chunk, remote_func, c, i, outputs, key=f"sweep-{token}-{i}", pure=False
            )
            for i, c in enumerate(remote_chunks)
        ]
        try:
            parts = client.gather(futures)
        finally:
            client.cancel([*futures, *remote_chunks, remote_func])
    columns = list(parts[0].columns)
    for i, part in enumerate(parts[1:], start=1):
        if list(part.columns) != columns:
            raise ValueError(
                f"func returned columns {list(part.columns)} for chunk {i} but {columns} for "
                "chunk 0: every chunk must give the same output columns"
            )
    result = pd.concat(parts, axis=0) if len(parts) > 1 else parts[0]
    if include_inputs:
        clash = [c for c in columns if c in samples.columns]
        if clash:
            raise ValueError(f"output column(s) {clash} have the name of input columns")
        result = pd.concat([samples, result], axis=1)
    return result
