"""Throttling of requests that carry no valid token, and of the audit entries of throttling.

Authenticated clients have a token bucket each (:func:`twinlab.api.auth.requires`). Requests
without a valid token – the token endpoint, the public routes, unknown paths, refused
tokens – take from a bucket of their peer address instead (``addr:<ip>``, the same
:class:`~twinlab.api.limits.RateLimiter`, rate and burst; ``X-Forwarded-For`` is not
trusted: the peer is the TCP peer). An IPv6 peer's bucket is its ``/64`` network
(:func:`address_key`): one host is given a whole ``/64`` and could otherwise take a fresh
bucket for every request. Once it is empty they are answered ``429`` with
``Retry-After`` before any route runs. A request whose bearer token verifies is never held
back by its address (a client behind a flooded NAT keeps working within its own bucket); a
token request whose client credentials are right is charged to that client's bucket, so
many clients behind one address can each get their tokens, and a client whose bucket is
empty is answered ``429`` before its secret is hashed (:func:`twinlab.api.auth.grant`).

Every answer is audited (:mod:`twinlab.api.middleware`), but a flood must not fill the signed
trail: of the ``429`` answers of one key (an address, or a client over its bucket) only the
first in each window (``throttle_audit_window_s``, default 60 s) is written in full; the
others are counted, and the count is written with the key's next audited throttle
(``params.suppressed``) or when the service stops.

Connections are capped per address too (:class:`ConnectionCounter`), by the results API's
uvicorn protocol (:mod:`twinlab.api.connections`) and the dashboards' Tornado server
(:mod:`twinlab.apps.connections`) alike. Failed logins are delayed per key
(:class:`FailureDelays`): the dashboards' login throttle keeps one per (user name, address)
and one per address across user names (:class:`twinlab.apps.auth.LoginThrottle`).
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

import anyio
from starlette.responses import JSONResponse

from twinlab.api.limits import RateLimiter

__all__ = [
    "NON_IP_PEER",
    "AddressLimit",
    "ConnectionCounter",
    "FailureDelays",
    "ThrottleAudit",
    "address_key",
    "networks",
]

#: client credentials sent here are checked before the request is charged: a client that
#: authenticates takes from its own bucket, a wrong secret from its address's
TOKEN_PATH = "/oauth/token"
REFUSAL = "rate limit exceeded for requests without a valid token from this address"


def address_key(host: str) -> str:
    """The limits' name of a peer address: an IPv4 address (IPv4-mapped IPv6 included) as
    itself, an IPv6 address as its ``/64`` network (what one subscriber or host is given).

    Examples
    --------
    >>> address_key("192.0.2.7"), address_key("::ffff:192.0.2.7")
    ('192.0.2.7', '192.0.2.7')
    >>> address_key("2001:db8:1:2:aaaa::1") == address_key("2001:db8:1:2:ffff::9")
    True
    >>> address_key("2001:db8:1:2::1"), address_key("2001:db8:1:3::1")
    ('2001:db8:1:2::/64', '2001:db8:1:3::/64')
    """
    ip = _ip(host)
    if ip is None:
        return host
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


#: the one key of every peer that is not an IP address (a unix socket's, an unknown one)
NON_IP_PEER = "non-ip"


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """``host`` as an IP address (an IPv6 zone ``%eth0`` left out), or ``None``."""
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None


def networks(names: Iterable[str]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """The IP networks ``names`` (addresses or CIDR networks).

    Raises
    ------
    ValueError
        For a name that is not an IP address or network (one line).
    """
    out = []
    for name in names:
        try:
            out.append(ipaddress.ip_network(name, strict=False))
        except ValueError:
            raise ValueError(f"trusted proxy {name!r} is not an IP address or network") from None
    return tuple(out)


class ConnectionCounter:
    """The open connections of each peer address, and whether one more may open.

    One rule for both servers (the results API, the dashboards): a peer is counted under
    :func:`address_key` (an IPv6 peer's ``/64``), a peer in an exempt network (a trusted
    reverse proxy, whose connections carry many clients) is not counted, and every peer
    that is not an IP address (a unix socket's, which has no address; an unknown one) is
    counted under the one key :data:`NON_IP_PEER`. Secure by default: such a peer cannot
    step around the cap (on a unix socket each client could otherwise open connections
    without bound), and a reverse proxy in front of a unix socket is the one case that needs
    the cap lifted (``0``), which its operator then says.

    Not thread-safe: each server counts on its own event loop.

    Parameters
    ----------
    per_address : int or None
        Connections one peer may hold at once (``None``: no cap, nothing counted).
    exempt : iterable of str
        Addresses or networks (CIDR) without the cap.

    Examples
    --------
    >>> c = ConnectionCounter(1, exempt=["10.0.0.0/8"])
    >>> c.admit("2001:db8::1"), c.admit("2001:db8::2"), c.admit("10.1.2.3"), c.admit("10.1.2.3")
    (True, False, True, True)
    >>> c.admit(""), c.admit("/run/twinlab.sock")
    (True, False)
    >>> c.release("2001:db8::1"); c.admit("2001:db8::2")
    True
    """

    def __init__(self, per_address: int | None, exempt: Iterable[str] = ()) -> None:
        self.per_address = per_address
        self.exempt = networks(exempt)
        self._open: dict[str, int] = {}

    def key(self, host: str) -> str | None:
        """The key ``host``'s connections are counted under; ``None`` when not counted."""
        if self.per_address is None:
            return None
        ip = _ip(host)
        if ip is None:
            return NON_IP_PEER
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped  # a dual-stack socket's IPv4 peer, as address_key counts it
        if any(ip in net for net in self.exempt):
            return None
        return address_key(host)

    def admit(self, host: str) -> bool:
        """Whether a new connection of ``host`` may open; if so it is counted (give it back
        with :meth:`release` when it closes)."""
        key = self.key(host)
        if key is None:
            return True
        if self._open.get(key, 0) >= self.per_address:  # type: ignore[operator]
            return False
        self._open[key] = self._open.get(key, 0) + 1
        return True

    def release(self, host: str) -> None:
        """An admitted connection of ``host`` closed: its slot is free."""
        key = self.key(host)
        left = self._open.get(key, 0) - 1 if key is not None else 0
        if left > 0:
            self._open[key] = left  # type: ignore[index]
        else:
            self._open.pop(key, None)  # type: ignore[arg-type]

    def open(self, host: str) -> int:
        """The connections of ``host``'s key counted now."""
        key = self.key(host)
        return self._open.get(key, 0) if key is not None else 0


class FailureDelays:
    """Growing delays after failures, per key; nothing is ever locked.

    After ``free`` failures of a key, it must wait ``base_s * 2 ** (failures - free - 1)``
    seconds (at most ``max_s``) before its next attempt is even checked. Failures older
    than ``forget_s`` are forgotten. Thread-safe.

    Parameters
    ----------
    free : int
        Failures allowed without a delay.
    base_s : float
        The first delay (seconds); each further failure doubles it.
    max_s : float
        The longest delay (seconds).
    forget_s : float
        Failures older than this are forgotten (seconds).
    clock : callable
        Monotonic time in seconds (tests pass a fake one).

    Examples
    --------
    >>> t = [0.0]
    >>> d = FailureDelays(free=1, base_s=2.0, clock=lambda: t[0])
    >>> d.failed("k"), d.failed("k"), d.wait("k"), d.wait("other")
    (0.0, 2.0, 2.0, 0.0)
    """

    #: keys held before stale ones are dropped (names sprayed by an attacker stay bounded)
    _PRUNE_ABOVE = 10_000

    def __init__(
        self,
        free: int = 3,
        base_s: float = 1.0,
        max_s: float = 900.0,
        forget_s: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if free < 0 or base_s <= 0 or max_s < base_s or forget_s <= 0:
            raise ValueError("free must be >= 0, base_s, max_s >= base_s and forget_s positive")
        self.free, self.base_s, self.max_s, self.forget_s = free, base_s, max_s, forget_s
        self._clock = clock
        self._state: dict[Any, tuple[int, float]] = {}  # key -> (failures, last)
        self._lock = threading.Lock()

    def delay(self, failures: int) -> float:
        """Seconds to wait after ``failures`` failures (0 up to ``free``)."""
        if failures <= self.free:
            return 0.0
        return min(self.max_s, self.base_s * 2.0 ** min(failures - self.free - 1, 60))

    def wait(self, key: Any) -> float:
        """Seconds before ``key`` may try again (0: now)."""
        now = self._clock()
        with self._lock:
            failures, last = self._state.get(key, (0, now))
        if now - last >= self.forget_s:
            return 0.0
        return max(0.0, last + self.delay(failures) - now)

    def failed(self, key: Any) -> float:
        """Record a failure of ``key``; return the delay it imposes (seconds)."""
        now = self._clock()
        with self._lock:
            failures, last = self._state.get(key, (0, now))
            failures = 1 if now - last >= self.forget_s else failures + 1
            self._state[key] = (failures, now)
            if len(self._state) > self._PRUNE_ABOVE:
                self._state = {k: v for k, v in self._state.items() if now - v[1] < self.forget_s}
        return self.delay(failures)

    def forget(self, key: Any) -> None:
        """Forget ``key``'s failures."""
        with self._lock:
            self._state.pop(key, None)


def _bearer(scope: dict) -> str | None:
    """The bearer token of the request, if it carries one."""
    for name, value in scope.get("headers") or []:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            return token.strip() if scheme.lower() == "bearer" and token.strip() else None
    return None


class AddressLimit:
    """ASGI middleware: a token bucket per peer address for requests without a valid token.

    Parameters
    ----------
    app : ASGI app
    limiter : RateLimiter
        The buckets (keys ``addr:<ip>``).
    verify : callable
        Raises on a token that is not valid (:meth:`TokenVerifier.verify`); asked only while
        the address's bucket is empty.
    """

    def __init__(self, app: Any, *, limiter: RateLimiter, verify: Callable[[str], Any]) -> None:
        self.app = app
        self.limiter = limiter
        self.verify = verify

    def _valid(self, token: str) -> bool:
        try:
            self.verify(token)
        except Exception:  # any refusal: the request counts as unauthenticated
            return False
        return True

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        peer = scope.get("client")
        key = f"addr:{address_key(peer[0]) if peer else ''}"
        token = _bearer(scope)
        later = token is not None or scope.get("path") == TOKEN_PATH
        if not later:  # cannot authenticate as a client: counted now
            wait = self.limiter.take(key)
        else:  # counted after, and to the address only if it did not authenticate
            wait = self.limiter.wait(key)
            if (
                wait > 0
                and token is not None
                and await anyio.to_thread.run_sync(self._valid, token)
            ):
                wait = 0.0
        if wait > 0:
            state["refusal"], state["throttle_key"] = REFUSAL, key
            answer = JSONResponse(
                {"detail": REFUSAL},
                status_code=429,
                headers={"Retry-After": RateLimiter.retry_after(wait)},
            )
            await answer(scope, receive, send)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            if later and state.get("principal") is None:
                client = state.get("authenticated_client")
                self.limiter.take(f"client:{client}" if client else key)


class ThrottleAudit:
    """Which ``429`` answers are audited in full: the first of a key in each window.

    Parameters
    ----------
    window_s : float
        The window, seconds.
    clock : callable
        Monotonic seconds (tests may pass their own).

    Examples
    --------
    >>> t = [0.0]
    >>> log = ThrottleAudit(window_s=60, clock=lambda: t[0])
    >>> log.admit("addr:a"), log.admit("addr:a"), log.admit("addr:a")
    ({}, None, None)
    >>> t[0] = 61.0
    >>> log.admit("addr:a"), log.drain()
    ({'suppressed': 2}, {})
    """

    _PRUNE_ABOVE = 10_000

    def __init__(self, window_s: float = 60.0, clock: Callable[[], float] = time.monotonic):
        self.window_s = float(window_s)
        self._clock = clock
        self._windows: dict[str, tuple[float, int]] = {}  # key -> (start, suppressed)
        self._pruned = 0  # suppressed answers of windows dropped to bound the memory
        self._lock = threading.Lock()

    def admit(self, key: str) -> dict[str, int] | None:
        """``None``: count this throttled answer, do not audit it; else audit it, with these
        extra parameters (the answers of ``key`` not audited since its last entry)."""
        now = self._clock()
        with self._lock:
            start, suppressed = self._windows.get(key, (-float("inf"), 0))
            if now - start < self.window_s:
                self._windows[key] = (start, suppressed + 1)
                return None
            self._windows[key] = (now, 0)
            extra = {"suppressed": suppressed} if suppressed else {}
            if self._pruned:
                extra["suppressed_other_keys"], self._pruned = self._pruned, 0
            if len(self._windows) > self._PRUNE_ABOVE:
                self._prune(now)
        return extra

    def _prune(self, now: float) -> None:
        for key, (start, suppressed) in list(self._windows.items()):
            if now - start >= self.window_s:
                self._pruned += suppressed
                del self._windows[key]

    def drain(self) -> dict[str, int]:
        """The throttled answers not audited yet, per key (``"*"``: keys pruned); reset."""
        with self._lock:
            out = {k: n for k, (_, n) in self._windows.items() if n}
            if self._pruned:
                out["*"] = self._pruned
            self._windows, self._pruned = {}, 0
        return out
