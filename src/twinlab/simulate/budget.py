"""One process-wide budget of chunk threads for the simulations run in this process.

``run(threads=None)`` simulates as many chunks at once as the process has usable cores. A
process that runs several simulations at once (a dashboard server's sessions, the results
API's jobs, a notebook's threads) would so run that many chunks *per run*, and oversubscribe
its cores. Every chunk of such a run takes a slot of the one :class:`ChunkBudget` of the
process (:func:`process_budget`, as many slots as usable cores) while it is simulated and
stored: the chunk threads of all default runs together never exceed the cores. A run keeps
its own order (chunks are handed on in chunk order), so its results are the same bits
whatever else runs. A run given ``threads=`` explicitly, or run inside a Dask task (whose
worker's threads are the cluster's to share), takes no slot.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["ChunkBudget", "process_budget", "usable_cores"]


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity where the system has one)."""
    cores = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    return len(cores) if cores else (os.cpu_count() or 1)


class ChunkBudget:
    """At most ``size`` chunks simulated at once, across every run that shares it.

    Parameters
    ----------
    size : int
        Slots (at least 1).

    Attributes
    ----------
    active : int
        Chunks holding a slot now.
    peak : int
        The most chunks that held a slot at once.

    Examples
    --------
    >>> budget = ChunkBudget(2)
    >>> with budget.slot():
    ...     with budget.slot():
    ...         budget.active
    2
    >>> budget.active, budget.peak
    (0, 2)
    """

    def __init__(self, size: int) -> None:
        self.size = max(1, int(size))
        self._slots = threading.BoundedSemaphore(self.size)
        self._lock = threading.Lock()
        self.active = 0
        self.peak = 0

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one slot for the block, waiting for one to be free."""
        with self._slots:
            with self._lock:
                self.active += 1
                self.peak = max(self.peak, self.active)
            try:
                yield
            finally:
                with self._lock:
                    self.active -= 1


_BUDGET: ChunkBudget | None = None
_BUDGET_LOCK = threading.Lock()


def _forget_in_child() -> None:
    """A forked child starts with a budget of its own (no slots held by the parent's threads)."""
    global _BUDGET
    _BUDGET = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_in_child)


def process_budget() -> ChunkBudget:
    """The budget of this process: :func:`usable_cores` slots (counted at its first use)."""
    global _BUDGET
    with _BUDGET_LOCK:
        if _BUDGET is None:
            _BUDGET = ChunkBudget(usable_cores())
        return _BUDGET
