"""Connections that hold the server without asking anything: a deadline for each request
head, and a cap on one address's connections.

uvicorn answers ``503`` to every request once ``limit_concurrency`` connections are open,
and it times out only the wait *between* two requests on a connection (the keep-alive
timeout), not the wait for the first one: a single peer could open that many TLS connections,
send nothing (or one byte now and then) and keep the service unavailable to everyone for as
long as it likes, without ever reaching the per-address rate limit (which counts requests).

:func:`guarded_protocol` is uvicorn's HTTP protocol (httptools when installed, else h11) with

- a deadline for each request head: a connection whose request line and headers are not
  complete ``head_timeout_s`` after it opened, or after its previous answer, is closed (a
  request under way is never cut: its body and handler have the request timeout of
  :class:`twinlab.api.middleware.ServiceGuard`);
- at most ``per_address`` connections from one peer address at a time (an IPv6 peer's
  ``/64`` network, :func:`twinlab.api.throttle.address_key`; every peer that is not an IP
  address, such as a unix socket's, under one key; more are closed as they open), except
  from the trusted reverse proxies, whose connections carry many clients: the dashboards'
  rule and counter (:class:`twinlab.api.throttle.ConnectionCounter`).

Such connections are aborted, not closed: a TLS connection that is closed waits for the
peer's goodbye (``close_notify``, up to 30 s) and keeps its slot meanwhile.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from twinlab.api.throttle import ConnectionCounter

__all__ = ["guarded_protocol"]


def _base() -> type:
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:
        from uvicorn.protocols.http.h11_impl import H11Protocol

        return H11Protocol
    return HttpToolsProtocol


def guarded_protocol(
    *, head_timeout_s: float, per_address: int | None, exempt: Iterable[str] = ()
) -> type:
    """A uvicorn HTTP protocol class (``uvicorn.Config(http=...)``) with a request-head
    deadline and a per-address connection cap.

    Parameters
    ----------
    head_timeout_s : float
        Longest wait for a complete request head (from the connection, or its last answer).
    per_address : int or None
        Connections one peer address may hold at once (``None``: no cap).
    exempt : iterable of str
        Addresses or networks (CIDR) without the cap (trusted reverse proxies).
    """
    base = _base()
    counter = ConnectionCounter(per_address, exempt)  # one server's, on its event loop

    class Guarded(base):  # type: ignore[misc, valid-type]
        _head_task: Any = None
        _host: str | None = None  # the peer of an admitted connection

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            host = self.client[0] if self.client else ""  # "": a unix socket
            if not counter.admit(host):
                transport.abort()  # not close(): a TLS goodbye the peer need not answer
                return
            self._host = host
            self._await_head(None)

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing():
                self._await_head(self.cycle)

        def connection_lost(self, exc: Exception | None) -> None:
            self._stop_waiting()
            if self._host is not None:
                counter.release(self._host)
                self._host = None
            super().connection_lost(exc)

        def _await_head(self, cycle: Any) -> None:
            self._stop_waiting()
            self._head_task = self.loop.call_later(head_timeout_s, self._head_late, cycle)

        def _stop_waiting(self) -> None:
            if self._head_task is not None:
                self._head_task.cancel()
                self._head_task = None

        def _head_late(self, cycle: Any) -> None:
            self._head_task = None
            idle = self.cycle is cycle and (cycle is None or cycle.response_complete)
            if idle and not self.transport.is_closing():
                self.transport.abort()  # its slot free now, not after a TLS goodbye

    Guarded.__name__ = Guarded.__qualname__ = f"Guarded{base.__name__}"
    return Guarded
