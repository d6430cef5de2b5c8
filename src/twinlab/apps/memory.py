"""Bounded memory for the what-if sessions of one server.

Each :class:`twinlab.apps.whatif.WhatIf` (one per browser session) caches its population,
unit-dose profiles and answers; at 20,000 patients x 84 days one profile array is ~170 MB.
:class:`SessionCache` keeps them least-recently-used first, within a per-kind count, a
per-session byte budget and a per-server byte budget shared by every session of the process
(:data:`LEDGER`): when the server's budget is exceeded, the least recently used entries of
*any* session go first. An evicted entry is simply computed again when asked for.

Budgets: ``$TWINLAB_WHATIF_SESSION_MB`` (default 512) and ``$TWINLAB_WHATIF_SERVER_MB``
(default 4096).
"""

from __future__ import annotations

import itertools
import os
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import fields, is_dataclass
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "LEDGER",
    "SERVER_MB_ENV",
    "SESSION_MB_ENV",
    "Ledger",
    "SessionCache",
    "nbytes",
]

SESSION_MB_ENV = "TWINLAB_WHATIF_SESSION_MB"
SERVER_MB_ENV = "TWINLAB_WHATIF_SERVER_MB"
_MB = 1024 * 1024
_TICK = itertools.count()


def _budget(env: str, default_mb: float) -> int:
    value = os.environ.get(env, "").strip()
    try:
        mb = float(value) if value else default_mb
    except ValueError:
        raise ValueError(f"${env} must be a number of megabytes, not {value!r}") from None
    return int(mb * _MB)


def nbytes(value: Any, _depth: int = 0) -> int:
    """Approximate bytes held by a cached value (arrays, frames, dicts, dataclasses).

    Examples
    --------
    >>> nbytes({"a": np.zeros(1000), "b": [np.ones(10), 3]})
    8080
    """
    if _depth > 4:
        return 0
    if isinstance(value, np.ndarray):
        return int(value.nbytes)
    if isinstance(value, pd.DataFrame | pd.Series):
        return int(value.memory_usage(index=False, deep=False).sum())
    if isinstance(value, dict):
        return sum(nbytes(v, _depth + 1) for v in value.values())
    if isinstance(value, list | tuple):
        return sum(nbytes(v, _depth + 1) for v in value)
    if is_dataclass(value) and not isinstance(value, type):
        return sum(nbytes(getattr(value, f.name), _depth + 1) for f in fields(value))
    return 0


class Ledger:
    """The caches of one process, and its byte budget across them."""

    def __init__(self, budget: int | None = None) -> None:
        self.budget = budget
        self._caches: weakref.WeakSet[SessionCache] = weakref.WeakSet()
        self.lock = threading.RLock()

    def limit(self) -> int:
        """The server's budget in bytes (``$TWINLAB_WHATIF_SERVER_MB`` unless set)."""
        return self.budget if self.budget is not None else _budget(SERVER_MB_ENV, 4096)

    def add(self, cache: SessionCache) -> None:
        with self.lock:
            self._caches.add(cache)

    def total(self) -> int:
        """Bytes held by every live cache."""
        with self.lock:
            return sum(c.bytes for c in list(self._caches))

    def find(self, key: tuple, besides: SessionCache | None = None) -> Any:
        """The value of ``key`` in any live cache but ``besides`` (KeyError if none has it).

        The what-if's keys name everything a value depends on (content, not session), so
        another session's value is the same answer: a second browser session of the same
        settings reuses the first one's population and profiles instead of computing them.
        """
        with self.lock:
            for cache in list(self._caches):
                if cache is not besides and key in cache:
                    return cache._values[key]
        raise KeyError(key)

    def trim(self, keep: tuple[SessionCache, tuple] | None = None) -> None:
        """Evict the least recently used entries of any cache until within the budget."""
        with self.lock:
            limit = self.limit()
            while self.total() > limit:
                oldest = None
                for cache in list(self._caches):
                    for key, tick in cache.ticks.items():
                        if keep is not None and cache is keep[0] and key == keep[1]:
                            continue
                        if oldest is None or tick < oldest[2]:
                            oldest = (cache, key, tick)
                if oldest is None:
                    return
                oldest[0].evict(oldest[1])


#: the process's ledger (one per ``panel serve``)
LEDGER = Ledger()


class SessionCache:
    """One session's LRU cache: per kind (``key[0]``) a count, a byte budget in all.

    Parameters
    ----------
    budget : int, optional
        Bytes this session may hold (``$TWINLAB_WHATIF_SESSION_MB`` by default).
    ledger : Ledger
        The server's ledger (:data:`LEDGER`).
    """

    def __init__(self, budget: int | None = None, ledger: Ledger = LEDGER) -> None:
        self.budget = budget if budget is not None else _budget(SESSION_MB_ENV, 512)
        self.ledger = ledger
        self._values: OrderedDict[tuple, Any] = OrderedDict()
        self.sizes: dict[tuple, int] = {}
        self.ticks: dict[tuple, int] = {}
        self.evictions = 0
        ledger.add(self)

    @property
    def bytes(self) -> int:
        """Bytes held now."""
        return sum(self.sizes.values())

    def __contains__(self, key: tuple) -> bool:
        return key in self._values

    def __iter__(self) -> Iterator[tuple]:
        return iter(list(self._values))

    def __delitem__(self, key: tuple) -> None:
        if key not in self._values:
            raise KeyError(key)
        self.evict(key)

    def get(self, key: tuple) -> Any:
        """The value of ``key`` (KeyError if absent), now the most recently used."""
        with self.ledger.lock:
            value = self._values[key]
            self._values.move_to_end(key)
            self.ticks[key] = next(_TICK)
            return value

    def put(self, key: tuple, value: Any, size: int = 3) -> None:
        """Store ``value``; evict this kind beyond ``size`` entries, then by bytes."""
        with self.ledger.lock:
            self._values[key] = value
            self.sizes[key] = nbytes(value)
            self.ticks[key] = next(_TICK)
            same = [k for k in self._values if k[0] == key[0]]
            for old in same[: max(0, len(same) - size)]:
                self.evict(old)
            for old in list(self._values):
                if self.bytes <= self.budget:
                    break
                if old != key:
                    self.evict(old)
            self.ledger.trim(keep=(self, key))

    def evict(self, key: tuple) -> None:
        """Drop ``key``."""
        with self.ledger.lock:
            if self._values.pop(key, None) is not None or key in self.sizes:
                self.evictions += 1
            self.sizes.pop(key, None)
            self.ticks.pop(key, None)

    def cached(
        self, key: tuple, make: Callable[[], Any], size: int = 3, *, shared: bool = False
    ) -> tuple[Any, bool]:
        """``(value, was_cached)``: the cached value of ``key``, else (``shared``) another
        session's value of the same key (:meth:`Ledger.find`), else ``make()``; stored."""
        try:
            return self.get(key), True
        except KeyError:  # absent, or evicted meanwhile by another session's thread
            pass
        if shared:
            try:
                value = self.ledger.find(key, besides=self)
            except KeyError:
                pass
            else:
                self.put(key, value, size)
                return value, True
        value = make()
        self.put(key, value, size)
        return value, False
