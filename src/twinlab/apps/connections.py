"""Connections that hold the dashboards' server without asking anything: a deadline for
each request head (and body), and a cap on one address's connections.

Tornado waits up to an hour for a request head by default (``idle_connection_timeout``)
and has no body deadline: one address could open connections, send its request line a
byte now and then (or nothing) and hold them, and the server's file descriptors, for as
long as it likes (slowloris). :func:`install` (run by ``panel serve --setup``,
:mod:`twinlab.apps.server_setup`, before the server is created) makes every Tornado
``HTTPServer`` of the process a :class:`GuardedHTTPServer` with the limits ``twinlab serve``
gives in its environment (:data:`HEAD_TIMEOUT_ENV`, :data:`PER_ADDRESS_ENV`,
:data:`EXEMPT_ENV`), as the results API does for uvicorn (:mod:`twinlab.api.connections`):

- a connection whose request line and headers (TLS handshake included) are not complete
  ``head_timeout_s`` after it opened, or after its previous answer, is closed; a body must
  come within ``body_timeout_s`` of its head, and be at most :data:`MAX_BODY_BYTES` (a
  larger one is refused on its head: Tornado buffers up to 100 MB, through the login form
  for anyone; the pages' data travel over their websockets);
- at most ``per_address`` HTTP connections from one peer address (an IPv6 peer's ``/64``;
  every peer that is not an IP address, such as a unix socket's, under one key) at a time,
  more are closed as they open, except from trusted reverse proxies: the results API's rule
  and counter (:class:`twinlab.api.throttle.ConnectionCounter`). A
  connection upgraded to a websocket leaves the count: only a logged-in user whose role
  may open the page gets one (:mod:`twinlab.apps.guard`), and Bokeh pings it.
"""

from __future__ import annotations

import ipaddress
import os
import ssl
from collections.abc import Mapping
from typing import Any

from tornado.httpserver import HTTPServer
from tornado.iostream import IOStream

from twinlab.api.throttle import ConnectionCounter, networks
from twinlab.security.tls import SERVER_CIPHERS

__all__ = [
    "BODY_TIMEOUT_S",
    "EXEMPT_ENV",
    "HEAD_TIMEOUT_ENV",
    "HEAD_TIMEOUT_S",
    "MAX_BODY_BYTES",
    "PER_ADDRESS",
    "PER_ADDRESS_ENV",
    "GuardedHTTPServer",
    "client_of",
    "install",
    "is_https",
    "limits_from_env",
]

#: longest wait for a request head, seconds (``twinlab serve --head-timeout``)
HEAD_TIMEOUT_ENV = "TWINLAB_SERVE_HEAD_TIMEOUT_S"
#: connections one address may hold, ``0`` for no cap (``--max-connections-per-address``)
PER_ADDRESS_ENV = "TWINLAB_SERVE_MAX_PER_ADDRESS"
#: comma-separated addresses or networks without the cap (``--trusted-proxy``)
EXEMPT_ENV = "TWINLAB_SERVE_TRUSTED_PROXIES"

HEAD_TIMEOUT_S = 10.0
BODY_TIMEOUT_S = 60.0
#: the largest HTTP request body (a login form is a few hundred bytes)
MAX_BODY_BYTES = 1 << 20
PER_ADDRESS = 64


class GuardedHTTPServer(HTTPServer):
    """A Tornado ``HTTPServer`` that caps one peer address's open HTTP connections.

    Its head and body deadlines are Tornado's own ``idle_connection_timeout`` and
    ``body_timeout`` (given by :func:`install` as defaults of every ``HTTPServer``).
    """

    #: connections one peer may hold (``None``: no cap); set by :func:`install`
    per_address: int | None = PER_ADDRESS
    #: addresses or networks (CIDR) without the cap; set by :func:`install`
    exempt: tuple[str, ...] = ()

    def initialize(self, *args: Any, **kwargs: Any) -> None:
        """Tornado's ``HTTPServer.initialize``, and a connection count of its own; over TLS
        the results API's suites (:data:`twinlab.security.tls.SERVER_CIPHERS`: Bokeh's
        default context offers CBC suites) and TLS 1.2 at least."""
        context = kwargs.get("ssl_options")
        if isinstance(context, ssl.SSLContext):
            context.set_ciphers(SERVER_CIPHERS)
            context.minimum_version = max(context.minimum_version, ssl.TLSVersion.TLSv1_2)
        super().initialize(*args, **kwargs)
        self._counter = ConnectionCounter(self.per_address, self.exempt)
        self._host_of: dict[IOStream, str] = {}

    def handle_stream(self, stream: IOStream, address: Any) -> None:
        """Serve a new connection, or close it if its peer holds ``per_address`` already."""
        host = address[0] if isinstance(address, tuple) and address else ""  # "": unix socket
        if not self._counter.admit(host):
            stream.close()
            return
        self._host_of[stream] = host
        super().handle_stream(stream, address)

    def on_close(self, server_conn: object) -> None:
        """A connection's HTTP serving ended (closed, or upgraded to a websocket)."""
        host = self._host_of.pop(getattr(server_conn, "stream", None), None)  # type: ignore[arg-type]
        if host is not None:
            self._counter.release(host)
        super().on_close(server_conn)


def _trusted(peer: str, env: Mapping[str, str] | None = None) -> bool:
    """Whether the TCP ``peer`` is a reverse proxy the operator trusts (``--trusted-proxy``,
    :data:`EXEMPT_ENV`)."""
    names = (os.environ if env is None else env).get(EXEMPT_ENV, "")
    trusted = networks(n.strip() for n in names.split(",") if n.strip())
    try:
        ip = ipaddress.ip_address(peer.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in net for net in trusted)


def is_https(request: Any, env: Mapping[str, str] | None = None) -> bool:
    """Whether the browser reached the server over TLS: the request's own scheme, or
    ``X-Forwarded-Proto: https`` set by a trusted proxy (``--trusted-proxy``) that ends TLS
    in front of a plain-HTTP server (``--insecure-http``); from anyone else the header is
    ignored."""
    if request.protocol == "https":
        return True
    proto = request.headers.get("X-Forwarded-Proto", "")
    return proto.strip().lower() == "https" and _trusted(request.remote_ip or "", env)


def client_of(request: Any, env: Mapping[str, str] | None = None) -> str:
    """The client's address: the TCP peer, or, when the peer is a trusted proxy, the
    right-most address of ``X-Forwarded-For`` that is not itself a trusted proxy (as the
    results API counts it; the addresses left of it come from the client and are not
    believed)."""
    client = request.remote_ip or "unknown"
    forwarded = [a.strip() for a in request.headers.get("X-Forwarded-For", "").split(",")]
    while _trusted(client, env) and forwarded:
        hop = forwarded.pop()
        if not hop:
            break
        client = hop
    return client


def limits_from_env(env: Mapping[str, str]) -> tuple[float, int | None, tuple[str, ...]]:
    """The head timeout, per-address cap and exempt networks that ``env`` sets.

    Returns
    -------
    head_timeout_s : float
        Seconds (default :data:`HEAD_TIMEOUT_S`).
    per_address : int or None
        Default :data:`PER_ADDRESS`; ``None`` for ``0`` (no cap).
    exempt : tuple of str
        Addresses or networks (CIDR).

    Raises
    ------
    ValueError
        For a value that is not a positive number (a negative count), or a bad network.
    """
    raw_head = env.get(HEAD_TIMEOUT_ENV, "").strip()
    raw_cap = env.get(PER_ADDRESS_ENV, "").strip()
    try:
        head = float(raw_head) if raw_head else HEAD_TIMEOUT_S
        cap = int(raw_cap) if raw_cap else PER_ADDRESS
    except ValueError:
        raise ValueError(
            f"${HEAD_TIMEOUT_ENV} must be seconds and ${PER_ADDRESS_ENV} a count, not "
            f"{raw_head!r} and {raw_cap!r}"
        ) from None
    if not head > 0 or head == float("inf"):
        raise ValueError(f"${HEAD_TIMEOUT_ENV} must be a positive number of seconds, not {head}")
    if cap < 0:
        raise ValueError(f"${PER_ADDRESS_ENV} must be 0 (no cap) or more, not {cap}")
    exempt = tuple(n.strip() for n in env.get(EXEMPT_ENV, "").split(",") if n.strip())
    networks(exempt)
    return head, (cap or None), exempt


def install(env: Mapping[str, str] | None = None) -> None:
    """Make every Tornado ``HTTPServer`` created after this a :class:`GuardedHTTPServer`
    with the limits of ``env`` (default ``os.environ``; :func:`limits_from_env`).

    Bokeh's server builds its ``HTTPServer(app, xheaders=..., ssl_options=...)``; Tornado's
    ``Configurable.configure`` supplies the class and the deadlines it does not pass.
    """
    head, cap, exempt = limits_from_env(os.environ if env is None else env)
    GuardedHTTPServer.per_address = cap
    GuardedHTTPServer.exempt = exempt
    HTTPServer.configure(
        GuardedHTTPServer,
        idle_connection_timeout=head,
        body_timeout=max(head, BODY_TIMEOUT_S),
        max_body_size=MAX_BODY_BYTES,
    )
