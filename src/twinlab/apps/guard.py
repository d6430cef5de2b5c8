"""Page authorization on every route of a page, before any document is built.

Panel's ``authorize_callback`` guards only a page's HTML route: the same page's
``/autoload.js``, ``/metadata`` and websocket (``/ws``) routes open a session – and build
its document – for any logged-in user. :func:`install` (run by ``panel serve --setup``,
:mod:`twinlab.apps.server_setup`, before the server is created) replaces the handlers of
every per-page route with subclasses whose ``prepare`` asks :func:`twinlab.apps.auth.authorize`
first: a user whose role may not open the page gets ``403`` (audited with the user as
``dashboard.denied``; the page itself answers with twinlab's refusal page saying what
to ask for, :func:`twinlab.apps.landing.refusal_html`), an anonymous request to a route
other than the page itself gets ``403`` too (the page redirects to the login form). Both
login modes (the hashed password module, OAuth) go through the same handlers.
"""

from __future__ import annotations

import inspect
import re
import secrets
from typing import Any

from tornado.web import HTTPError, RequestHandler

from twinlab.apps.auth import authorize

__all__ = [
    "CSP",
    "HSTS",
    "NO_STORE",
    "SECURITY_HEADERS",
    "guarded",
    "install",
    "install_headers",
    "install_next_url_check",
    "page_csp",
    "same_site",
]

#: the dashboards' content policy (:func:`page_csp` completes it per answer): nothing but
#: this server's own files, no plugins, no ``<base>`` or form elsewhere, never framed.
#: Scripts: this server's files, the inline scripts of the answer itself (a fresh nonce per
#: answer, which Panel's module loader, es-module-shims, gives its own feature check too),
#: and what Bokeh and Panel need to run, found by loading every page in Chromium:
#: ``blob:`` (the module loader runs the modules it fetched from this server as blobs) and
#: ``'unsafe-eval'`` (Panel builds its components' scripts with ``new Function``). No
#: inline script, ``javascript:`` URL or event-handler attribute of markup that reaches a
#: page in the browser runs. Styles may be inline (Bokeh and Panel style elements inline
#: and in shadow DOMs).
CSP = (
    "default-src 'self'; script-src 'self' blob: 'unsafe-eval'{scripts}; "
    "style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; font-src 'self' data:; "
    "connect-src 'self'{sockets}; object-src 'none'; base-uri 'self'; form-action 'self'; "
    "frame-ancestors 'none'"
)

#: on every answer of the dashboards' server: never framed by another site (the pages act
#: with the viewer's session: clickjacking), never sniffed, no full URL (page settings) sent
#: to other origins; the content policy of :data:`CSP`
SECURITY_HEADERS = {
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": CSP.format(scripts="", sockets=""),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
#: over TLS: browsers never try the dashboards over plain HTTP again (where a network
#: attacker could read or strip the session)
HSTS = ("Strict-Transport-Security", "max-age=31536000")
#: on every answer but static files: pages, session tokens (``autoload.js``) and the landing
#: page are the logged-in user's, never kept in a browser's or a proxy's cache
NO_STORE = ("Cache-Control", "no-store")


def _name(user: Any) -> Any:
    if isinstance(user, bytes):
        return user.decode("utf-8", "replace")
    return user


def _refuse(handler: Any, user: Any) -> None:
    """Answer 403 with :func:`twinlab.apps.landing.refusal_html` (not a bare error)."""
    from twinlab.apps.auth import page_of, role_of
    from twinlab.apps.landing import refusal_html

    try:
        role = role_of(user)
    except ValueError:
        role = None
    handler.set_status(403)
    handler.set_header("Content-Type", "text/html; charset=utf-8")
    handler.finish(refusal_html(user, role, page_of(handler.request.path)))


def guarded(handler: type) -> type:
    """A subclass of a per-page Bokeh/Panel handler that authorizes in ``prepare``.

    Parameters
    ----------
    handler : type
        A tornado ``RequestHandler`` of a page route (document, autoload, metadata, websocket).

    Returns
    -------
    type
        The guarded subclass (``_twinlab_guarded`` set).
    """
    if getattr(handler, "_twinlab_guarded", False):
        return handler
    is_document = handler.__name__ == "DocHandler"

    async def prepare(self: Any) -> None:
        started = handler.prepare(self)
        if inspect.isawaitable(started):
            await started
        if self._finished:  # the base class refused already (e.g. an anonymous websocket)
            return
        user = _name(self.current_user)
        if user is None:
            if is_document:
                return  # @authenticated redirects the page to the login form
            raise HTTPError(403)
        if not authorize(user, self.request.path):
            if is_document:  # a page for people: what it needs and whom to ask
                _refuse(self, user)
                return
            raise HTTPError(403)

    # no CORS preflight either (:func:`install_headers` grants no cross-origin read): Tornado's
    # 405, not Bokeh's ``autoload.js`` answer (an uncaught error without an Origin header)
    return type(
        handler.__name__,
        (handler,),
        {
            "prepare": prepare,
            "options": RequestHandler.options,
            "_twinlab_guarded": True,
            "__module__": __name__,
        },
    )


def install() -> None:
    """Guard the handlers of every per-page route (call before the server is created)."""
    import panel.io.server  # noqa: F401  (installs Panel's handlers in Bokeh's patterns)
    from bokeh.server.urls import per_app_patterns

    per_app_patterns[:] = [(route, guarded(h), *rest) for route, h, *rest in per_app_patterns]


_SCRIPT_TAG = re.compile(rb"<script(?=[\s>])", re.I)
_HOST = re.compile(r"[A-Za-z0-9.\-]+(:[0-9]{1,5})?|\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?")


def page_csp(protocol: str, host: str, nonce: str | None = None) -> str:
    """The content policy of one answer: :data:`CSP` with the ``nonce`` of its inline
    scripts and this origin's websocket (``ws:`` or ``wss:`` after the request's scheme;
    left out for a ``Host`` that is not a plain host name or address).

    Examples
    --------
    >>> p = page_csp("https", "twin.example:8443", "abc")
    >>> "connect-src 'self' wss://twin.example:8443;" in p, "'nonce-abc'" in p
    (True, True)
    >>> "evil" in page_csp("http", "x; script-src evil")
    False
    """
    scheme = "wss" if protocol == "https" else "ws"
    sockets = f" {scheme}://{host}" if _HOST.fullmatch(host or "") else ""
    scripts = f" 'nonce-{nonce}'" if nonce else ""
    return CSP.format(scripts=scripts, sockets=sockets)


def _with_page_csp(handler: Any, chunk: Any) -> Any:
    """Complete the default content policy of an answer about to be finished (a handler's
    own policy, such as a report's sandbox, is kept): an HTML answer's ``<script>`` tags,
    all written by this server (Bokeh's and Panel's page templates), get a fresh nonce.

    Returns
    -------
    object
        ``chunk``, with the nonce when it is HTML text.
    """
    default = SECURITY_HEADERS["Content-Security-Policy"]
    if handler._headers.get("Content-Security-Policy") != default:
        return chunk
    nonce = None
    if "html" in str(handler._headers.get("Content-Type", "")):
        nonce = secrets.token_urlsafe(18)
        tag = b'<script nonce="' + nonce.encode() + b'"'
        handler._write_buffer = [_SCRIPT_TAG.sub(tag, b"".join(handler._write_buffer))]
        if isinstance(chunk, (bytes, str)):
            raw = chunk.encode() if isinstance(chunk, str) else chunk
            chunk = _SCRIPT_TAG.sub(tag, raw)
    from twinlab.apps.connections import is_https

    scheme = "https" if is_https(handler.request) else "http"
    handler.set_header("Content-Security-Policy", page_csp(scheme, handler.request.host, nonce))
    return chunk


def _headers(handler: Any) -> list[tuple[str, str]]:
    """What :func:`install_headers` adds to ``handler``'s answer."""
    from tornado.web import StaticFileHandler

    from twinlab.apps.connections import is_https

    out = list(SECURITY_HEADERS.items())
    if not isinstance(handler, StaticFileHandler):
        out.append(NO_STORE)
    if is_https(handler.request):  # a trusted proxy's TLS too
        out.append(HSTS)
    return out


def install_headers() -> None:
    """Add :data:`SECURITY_HEADERS` to every answer of this process's Tornado handlers,
    :data:`NO_STORE` to every one but a static file's and :data:`HSTS` over TLS, and no
    ``Server`` header (Tornado's names its version) (call before the server is created; a
    handler may still set its own, stricter, policy).

    No answer grants cross-origin reads (CORS): Bokeh's ``autoload.js`` handler replaces
    the default headers by ``Access-Control-Allow-Origin`` echoing the request's
    ``Origin`` with ``Access-Control-Allow-Credentials: true``, which let any origin read
    a logged-in user's session token with the user's cookies; those headers are removed
    (and the security headers that handler skipped added) when an answer is finished."""
    from tornado.web import RequestHandler

    if getattr(RequestHandler, "_twinlab_headers", False):
        return
    original = RequestHandler.set_default_headers
    original_finish = RequestHandler.finish

    def set_default_headers(self: Any) -> None:
        original(self)
        self.clear_header("Server")  # Tornado's names its version
        for name, value in _headers(self):
            self.set_header(name, value)

    def finish(self: Any, chunk: Any = None) -> Any:
        if not self._headers_written:
            for name in list(self._headers):
                if name.lower().startswith("access-control-") or name.lower() == "server":
                    self.clear_header(name)
            for name, value in _headers(self):
                if name not in self._headers:
                    self.set_header(name, value)
            chunk = _with_page_csp(self, chunk)
        return original_finish(self, chunk)

    RequestHandler.set_default_headers = set_default_headers  # type: ignore[method-assign]
    RequestHandler.finish = finish  # type: ignore[method-assign]
    RequestHandler._twinlab_headers = True  # type: ignore[attr-defined]


def same_site(next_url: str) -> bool:
    """Whether a browser sent to ``next_url`` (after a login) stays on this server.

    Panel's ``_validate_next_url`` refuses a scheme, a host or a backslash, but ``///host``
    and ``////host`` parse with no host and browsers read them as ``http://host``: only a
    path starting with one ``/``, without a backslash or a control character, is kept.
    """
    return (
        next_url.startswith("/")
        and not next_url.startswith("//")
        and "\\" not in next_url
        and not any(ord(c) < 0x20 or ord(c) == 0x7F for c in next_url)
    )


def install_next_url_check() -> None:
    """Make Panel's check of a login's ``next`` URL, which its OAuth handlers use too,
    refuse (``400``) a URL :func:`same_site` refuses (call before the server is created)."""
    import panel.auth

    original = panel.auth._validate_next_url
    if getattr(original, "_twinlab_checked", False):
        return

    def check(next_url: str | None) -> str | None:
        if next_url and not same_site(next_url):
            raise HTTPError(400, "Invalid next url")
        return original(next_url)

    check._twinlab_checked = True  # type: ignore[attr-defined]
    panel.auth._validate_next_url = check
