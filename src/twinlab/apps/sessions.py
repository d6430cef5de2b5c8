"""Server-side login sessions of the dashboards, in either login mode (the hashed password
module, :mod:`twinlab.apps.auth_module`, or an OAuth provider, :mod:`twinlab.apps.oauth`).

- a login opens a session (:data:`SESSIONS`, a :class:`twinlab.apps.auth.SessionStore`)
  whose id travels in a signed cookie (:data:`SESSION_COOKIE`) beside Panel's user cookie;
  a request is logged in only while its session is open;
- logging out is a ``POST`` with the session's own token (:class:`SessionLogoutHandler`):
  a ``GET /logout`` (a link or an image of another site) shows a confirmation page and logs
  nobody out; the logout closes the session and the websockets of the pages it opened
  (audited ``dashboard.logout``);
- a watcher of the credentials file (:func:`watch_credentials`) ends the sessions, and
  closes the websockets, of the users the file no longer lets in as they logged in (a new
  password, a new role, a removed user; audited ``dashboard.session_ended``).
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Any

from panel.auth import STATE_COOKIE_NAME, LogoutHandler
from panel.config import config
from panel.io.resources import LOCAL_DIST
from panel.io.state import state
from tornado.ioloop import PeriodicCallback
from tornado.web import HTTPError, decode_signed_value

from twinlab.apps.auth import SessionStore, _audit, credentials_path, logout_token
from twinlab.apps.auth_pages import logged_out_html, logout_html
from twinlab.apps.connections import is_https

__all__ = [
    "SESSIONS",
    "SESSION_COOKIE",
    "WATCH_MS",
    "SessionLogoutHandler",
    "close_connections",
    "cookie_options",
    "local_dist",
    "session_id",
    "watch_credentials",
]

#: one session store per server process
SESSIONS = SessionStore()
SESSION_COOKIE = "twinlab_session"
#: the cookies of a login, either mode (Panel's and twinlab's), cleared by a logout
LOGIN_COOKIES = (
    "user",
    "id_token",
    "access_token",
    "refresh_token",
    "oauth_expiry",
    STATE_COOKIE_NAME,
    SESSION_COOKIE,
)


def cookie_options(handler: Any) -> dict[str, Any]:
    """Attributes of every cookie set for ``handler``'s request: HttpOnly, SameSite=Lax,
    Secure over TLS (:func:`twinlab.apps.connections.is_https`: a trusted proxy's TLS
    too), on Panel's cookie path."""
    secure = is_https(handler.request)
    out: dict[str, Any] = {"httponly": True, "samesite": "Lax", "secure": secure}
    if config.cookie_path:
        out["path"] = config.cookie_path
    return out


def session_id(handler: Any) -> str | None:
    """The session id of ``handler``'s request (its signed cookie), or ``None``."""
    raw = handler.get_secure_cookie(SESSION_COOKIE, max_age_days=config.oauth_expiry)
    return raw.decode("utf-8", "replace") if raw else None


def local_dist() -> str:
    """Where this server serves Panel's own files (its logo): the login and logout pages
    load nothing from Panel's CDN, which would tell a third party who opens them (and shows a
    broken image where the server has no internet)."""
    return (state.base_url or "/") + LOCAL_DIST


class SessionLogoutHandler(LogoutHandler):
    """Logging out: ``GET`` shows a button, which posts the logout with Tornado's XSRF
    token and the session's own token (:func:`twinlab.apps.auth.logout_token`); only that
    post closes the server-side session and its pages' websockets (audited) and clears the
    login's cookies. A link or an image of another site (a ``GET``, which ``SameSite=Lax``
    cookies follow on a top-level navigation) logs nobody out."""

    def get(self) -> None:
        sid = session_id(self)
        if SESSIONS.user(sid) is None:  # nothing to log out of: the logged-out page
            self._logged_out()
            return
        token = logout_token(self.application.settings["cookie_secret"], sid)
        xsrf = self.xsrf_form_html()
        self.write(logout_html(self.request.path, xsrf, token, local_dist()))

    def post(self) -> None:
        sid = session_id(self)
        sent = self.get_argument("logout_token", "")
        expected = logout_token(self.application.settings["cookie_secret"], sid) if sid else ""
        if SESSIONS.user(sid) is not None and not hmac.compare_digest(sent, expected):
            raise HTTPError(403, "this logout was not asked from this server's page")
        user = SESSIONS.close(sid)
        if user is not None:
            close_connections(self.application, sid, "dashboard.logout", user, {})
        self._logged_out()

    def _logged_out(self) -> None:
        """Clear the login's cookies; show the logged-out page."""
        for name in LOGIN_COOKIES:
            self.clear_cookie(name, path=config.cookie_path or "/")
        self.write(logged_out_html(self._login_endpoint, local_dist()))


def close_connections(
    application: Any, sid: str | None, action: str, user: str, params: dict[str, Any]
) -> None:
    """Close the open websockets of the pages opened with session ``sid``: their documents
    stop answering at once (Bokeh expires them after). Audited first (``action`` by ``user``,
    ``params`` and ``connections_closed``), so whoever sees a socket close finds the entry.
    """
    connections = []
    secret = application.settings.get("cookie_secret")
    for context in getattr(application, "_applications", {}).values():
        for session in list(context.sessions):
            request = getattr(session.document.session_context, "request", None)
            raw = request.cookies.get(SESSION_COOKIE) if request is not None else None
            value = decode_signed_value(secret, SESSION_COOKIE, raw) if raw and secret else None
            if sid and value == sid.encode():
                connections.extend(session._subscribed_connections)
    _audit(action, user, "session", {**params, "connections_closed": len(connections)})
    for connection in connections:
        connection._socket.close()


#: how often the credentials file is looked at for a change (milliseconds)
WATCH_MS = 1000
_watching: dict[int, PeriodicCallback] = {}


def _signature() -> tuple[int, int, int] | None:
    """What tells a rewritten credentials file (``None``: none, or unreadable)."""
    try:
        st = credentials_path().stat()
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size, st.st_ino


def watch_credentials(application: Any, stamp_of: Callable[[str], str | None], reason: str) -> None:
    """From the first login on, look at the credentials file every :data:`WATCH_MS`; when
    it changed, end the open sessions whose user's stamp is no longer the one they were
    opened with: their pages' open websockets are closed too (audited
    ``dashboard.session_ended`` with ``reason``), as an HTTP request of those sessions is
    refused.

    Parameters
    ----------
    application : tornado.web.Application
        The server's application (one watcher each).
    stamp_of : callable
        The stamp of a user now (``None``: removed), as its sessions were opened with.
    reason : str
        Why a session is ended, for the audit log.
    """
    if id(application) in _watching:
        return
    seen = [_signature()]

    def check() -> None:
        now = _signature()
        if now == seen[0]:
            return
        seen[0] = now
        for sid, user in SESSIONS.close_stale(stamp_of):
            close_connections(application, sid, "dashboard.session_ended", user, {"reason": reason})

    callback = PeriodicCallback(check, WATCH_MS)
    _watching[id(application)] = callback
    callback.start()
