"""Load management: a token bucket per client or address (``429`` with ``Retry-After``)."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

__all__ = ["RateLimiter"]


class RateLimiter:
    """Token buckets, one per key (a client id, or an address before authentication).

    Each bucket holds at most ``burst`` tokens and refills at ``rate`` tokens a second; a
    request takes one. A key that finds its bucket empty is told how long to wait.

    Parameters
    ----------
    rate : float
        Refill, tokens per second.
    burst : float
        Bucket size (the most requests at once after a pause).
    clock : callable
        Monotonic seconds (tests may pass their own).

    Examples
    --------
    >>> t = [0.0]
    >>> lim = RateLimiter(rate=1.0, burst=2, clock=lambda: t[0])
    >>> lim.take("a"), lim.take("a"), lim.take("a")
    (0.0, 0.0, 1.0)
    >>> t[0] = 1.0
    >>> lim.take("a"), lim.take("b")
    (0.0, 0.0)
    """

    _PRUNE_ABOVE = 10_000

    def __init__(
        self, rate: float, burst: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if not rate > 0 or not burst >= 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.rate, self.burst = float(rate), float(burst)
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)
        self._lock = threading.Lock()

    def _level(self, key: str, now: float) -> float:
        tokens, at = self._buckets.get(key, (self.burst, now))
        return min(self.burst, tokens + (now - at) * self.rate)

    def wait(self, key: str) -> float:
        """Seconds until ``key``'s bucket holds a token (``0.0``: now), taking none.

        Examples
        --------
        >>> lim = RateLimiter(rate=1.0, burst=1, clock=lambda: 0.0)
        >>> lim.wait("a"), lim.take("a"), lim.wait("a")
        (0.0, 0.0, 1.0)
        """
        now = self._clock()
        with self._lock:
            tokens = self._level(key, now)
        return 0.0 if tokens >= 1.0 else (1.0 - tokens) / self.rate

    def take(self, key: str) -> float:
        """Take one token of ``key``'s bucket: ``0.0`` if granted, else seconds to wait."""
        now = self._clock()
        with self._lock:
            tokens = self._level(key, now)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                wait = 0.0
            else:
                self._buckets[key] = (tokens, now)
                wait = (1.0 - tokens) / self.rate
            if len(self._buckets) > self._PRUNE_ABOVE:
                full = self.burst / self.rate
                self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < full}
        return wait

    @staticmethod
    def retry_after(wait: float) -> str:
        """The ``Retry-After`` header of a wait (whole seconds, at least 1)."""
        return str(max(1, math.ceil(wait)))
