"""Progress of a long NUTS fit: a live display where someone watches, log lines where not.

:func:`progress_mode` decides how a fit reports: in a terminal or a Jupyter notebook,
nutpie's own live display (per chain: draws, divergences, step size; time left); in a log
that is not a terminal (a DVC stage, a batch job), :func:`sample_with_log` prints one line
to stderr every ``every`` seconds – draws done/total per chain, divergences so far and the
estimated time left – plus a first and a last line. Progress never changes the draws: the
sampler, its settings and its seed are the same in every mode.

Examples
--------
A line as a DVC log shows it::

    [fit] 0:40 elapsed: draws 1210/4000 (chain 1 610/1000, chain 2 600/1000, chain 3 0/1000,
    chain 4 0/1000), 0 divergences (1 in warm-up), about 1:32 left
"""

from __future__ import annotations

import sys
import time
import warnings
from typing import Any, Literal, TextIO

import numpy as np

__all__ = ["LOG_EVERY_S", "ChainProgress", "progress_mode", "sample_with_log"]

#: Seconds between two progress lines in a log.
LOG_EVERY_S = 10.0
_POLL_S = 0.05

Mode = Literal["display", "log", "off"]


def _in_notebook() -> bool:
    shell = sys.modules.get("IPython")
    if shell is None:
        return False
    try:
        ip = shell.get_ipython()  # type: ignore[attr-defined]
    except Exception:
        return False
    return ip is not None and type(ip).__name__ == "ZMQInteractiveShell"


def progress_mode(progress: bool | None, stream: TextIO | None = None) -> Mode:
    """How a fit reports its progress.

    Parameters
    ----------
    progress : bool or None
        ``False``: nothing. ``None`` (auto) or ``True``: ``"display"`` in a Jupyter
        notebook or when ``stream`` is a terminal, else ``"log"``.
    stream : file, optional
        Where progress goes (default: ``sys.stderr``).

    Returns
    -------
    str
        ``"display"``, ``"log"`` or ``"off"``.
    """
    if progress is False:
        return "off"
    stream = sys.stderr if stream is None else stream
    try:
        tty = bool(stream.isatty())
    except (AttributeError, ValueError):
        tty = False
    return "display" if tty or _in_notebook() else "log"


def _clock(seconds: float) -> str:
    seconds = round(seconds)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class ChainProgress:
    """Draws done and divergences per chain, read from a running nutpie sampler.

    Parameters
    ----------
    chains, tune, draws : int
        The fit's settings (warm-up and posterior draws per chain).
    """

    def __init__(self, chains: int, tune: int, draws: int) -> None:
        self.chains, self.tune, self.draws = chains, tune, draws
        self.done = np.zeros(chains, dtype=int)
        self.divergences = np.zeros(chains, dtype=int)
        self.warmup_divergences = np.zeros(chains, dtype=int)

    @property
    def total(self) -> int:
        """Draws of every chain, warm-up included."""
        return self.chains * (self.tune + self.draws)

    def update(self, sampler: Any) -> None:
        """Read the sampler's state (its sampling statistics so far; the draws are not
        copied when nutpie's raw trace is at hand)."""
        stats = _stat_batches(sampler)
        if stats is None:
            return
        for k, (tuning, diverging) in enumerate(stats[: self.chains]):
            self.done[k] = len(tuning)
            self.divergences[k] = int(np.sum(diverging & ~tuning))
            self.warmup_divergences[k] = int(np.sum(diverging & tuning))

    def line(self, elapsed: float) -> str:
        """One progress line."""
        per_chain = self.tune + self.draws
        done = int(self.done.sum())
        chains = ", ".join(f"chain {k + 1} {int(d)}/{per_chain}" for k, d in enumerate(self.done))
        left = (
            f"about {_clock(elapsed * (self.total - done) / done)} left"
            if 0 < done < self.total
            else ("done" if done >= self.total else "time left unknown yet")
        )
        warm = int(self.warmup_divergences.sum())
        return (
            f"[fit] {_clock(elapsed)} elapsed: draws {done}/{self.total} ({chains}), "
            f"{int(self.divergences.sum())} divergences ({warm} in warm-up), {left}"
        )


def _stat_batches(sampler: Any) -> list[tuple[np.ndarray, np.ndarray]] | None:
    """``(tuning, diverging)`` boolean arrays per chain of a running nutpie sampler.

    nutpie's raw trace (``sampler._sampler.inspect()``, nutpie 0.16) gives the statistics
    without converting every draw to ArviZ (~0.05 s against ~1 s for the public
    ``inspect()`` on a 190-subject model); the public call is the fallback.
    """
    try:
        import pyarrow

        raw = sampler._sampler.inspect()
        _, stat_batches = raw.get_arrow_trace()
        out = []
        for b in stat_batches:
            tuning = pyarrow.array(b.column("tuning")).fill_null(False)
            diverging = pyarrow.array(b.column("diverging")).fill_null(False)
            out.append((np.asarray(tuning, dtype=bool), np.asarray(diverging, dtype=bool)))
        return out
    except (AttributeError, ImportError, KeyError):
        pass
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ArviZ on chains that have no draws yet
            trace = sampler.inspect()
    except Exception:
        return None
    out = []
    for k in range(trace.posterior.sizes["chain"]):
        parts = []
        for group, tuning in (("warmup_sample_stats", True), ("sample_stats", False)):
            if group in trace.groups():
                ss = trace[group].isel(chain=k)
                n = int(np.isfinite(ss["step_size"].values).sum())
                parts.append((np.full(n, tuning), np.asarray(ss["diverging"].values[:n], bool)))
        out.append(
            (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))
            if parts
            else (np.zeros(0, bool), np.zeros(0, bool))
        )
    return out


def _wait(sampler: Any, timeout: float) -> bool:
    """Wait up to ``timeout`` seconds for the sampler; True once it has finished.

    nutpie's own wait (``sampler._sampler.wait``, nutpie 0.16) blocks without polling and
    leaves the results in place on a timeout; the public ``is_finished`` is the fallback.
    """
    inner = getattr(sampler, "_sampler", None)
    if inner is not None and hasattr(inner, "wait"):
        try:
            inner.wait(max(timeout, 0.0))
        except TimeoutError:
            return False
        return True
    deadline = time.perf_counter() + timeout
    while True:
        try:
            if sampler.is_finished:
                return True
        except TimeoutError:  # nutpie 0.16 raises instead of answering False while it runs
            pass
        if time.perf_counter() >= deadline:
            return False
        time.sleep(_POLL_S)


def sample_with_log(
    nutpie_sample: Any,
    compiled: Any,
    *,
    chains: int,
    tune: int,
    draws: int,
    every: float | None = None,
    stream: TextIO | None = None,
    **kwargs: Any,
) -> Any:
    """Sample with nutpie in the background and log progress lines until it finishes.

    Parameters
    ----------
    nutpie_sample : callable
        ``nutpie.sample``.
    compiled : nutpie compiled model
        The model.
    chains, tune, draws : int
        Passed to nutpie (and used for the totals).
    every : float, optional
        Seconds between two lines (default: :data:`LOG_EVERY_S`).
    stream : file, optional
        Where the lines go (default: ``sys.stderr``).
    **kwargs
        Further arguments of ``nutpie.sample`` (seed, cores, mass matrix...).

    Returns
    -------
    arviz.InferenceData
        What the blocking ``nutpie.sample`` would return for the same arguments.
    """
    stream = sys.stderr if stream is None else stream
    every = LOG_EVERY_S if every is None else float(every)
    state = ChainProgress(chains, tune, draws)
    print(
        f"[fit] sampling {chains} chains x ({tune} warm-up + {draws} draws) with nutpie",
        file=stream,
        flush=True,
    )
    start = time.perf_counter()
    sampler = nutpie_sample(
        compiled,
        chains=chains,
        tune=tune,
        draws=draws,
        progress_bar=False,
        blocking=False,
        **kwargs,
    )
    try:
        while not _wait(sampler, every):
            state.update(sampler)
            print(state.line(time.perf_counter() - start), file=stream, flush=True)
        idata = sampler.wait()
    except BaseException:
        sampler.cancel()
        raise
    done = int(idata.posterior.sizes["chain"] * idata.posterior.sizes["draw"])
    divergences = int(idata.sample_stats["diverging"].sum())
    print(
        f"[fit] sampled {done} draws in {_clock(time.perf_counter() - start)}, "
        f"{divergences} divergences",
        file=stream,
        flush=True,
    )
    return idata
