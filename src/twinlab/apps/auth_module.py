"""Bokeh ``--auth-module`` for ``panel serve``: a login page, hashed passwords,
server-side sessions.

Panel's own ``--basic-auth`` compares plaintext passwords; this module keeps Panel's
login and logout handlers (:class:`panel.auth.BasicAuthProvider`) but

- shows twinlab's own login and logout pages (:mod:`twinlab.apps.auth_pages`);
- checks the password against the scrypt hashes of the credentials file
  (:func:`twinlab.apps.auth.login`, file from ``$TWINLAB_CREDENTIALS``), failed logins
  delayed per (user name, client address) and per address across names
  (:class:`twinlab.apps.auth.LoginThrottle`), a login inside a delay answered ``429``; the
  client address is a trusted proxy's ``X-Forwarded-For``
  (:func:`twinlab.apps.connections.client_of`), else the TCP peer;
- puts an XSRF token in the login form (``twinlab serve`` turns on Tornado's XSRF check);
- after a login, goes only to a page of this server (:func:`same_site_path`: Panel's check
  lets ``next=///evil.example`` through, which browsers follow to ``evil.example``), and
  shows its own failure message, never text from the URL (a phishing message under the
  product's name);
- sets its cookies ``HttpOnly``, ``SameSite=Lax`` and, when the request came over TLS
  (a trusted proxy's ``X-Forwarded-Proto`` included), ``Secure``;
- opens a server-side session at login (:class:`twinlab.apps.auth.SessionStore`) that
  logging out (a ``POST`` with the session's token: :class:`SessionLogoutHandler`) closes: a
  request is logged in only while its session is open, and the websockets of the pages it
  opened are closed; a session, and its websockets, end too when its user's password is
  changed or the user removed from the credentials file (a reset stolen password).

``twinlab serve`` passes this file's path to ``panel serve --auth-module``.
"""

from __future__ import annotations

import hmac
import json
import logging
import math
from typing import Any
from urllib.parse import urlencode

from panel.auth import (
    BasicAuthProvider,
    BasicLoginHandler,
    LogoutHandler,
    _validate_next_url,
)
from panel.config import config
from panel.io.resources import LOCAL_DIST
from panel.io.state import state
from panel.util import base64url_encode
from tornado.ioloop import PeriodicCallback
from tornado.web import HTTPError, decode_signed_value

from twinlab.apps.auth import (
    LoginThrottle,
    SessionStore,
    _audit,
    credentials_path,
    load_credentials,
    login,
    logout_token,
)
from twinlab.apps.auth_pages import logged_out_html, login_html, logout_html, throttled_html
from twinlab.apps.connections import client_of, is_https
from twinlab.apps.guard import same_site

log = logging.getLogger("twinlab.apps")

#: one throttle and one session store per server process
THROTTLE = LoginThrottle()
SESSIONS = SessionStore()
SESSION_COOKIE = "twinlab_session"


def cookie_options(handler: Any) -> dict[str, Any]:
    """Attributes of every cookie set for ``handler``'s request: HttpOnly, SameSite=Lax,
    Secure over TLS (:func:`twinlab.apps.connections.is_https`: a trusted proxy's TLS
    too), on Panel's cookie path."""
    secure = is_https(handler.request)
    out: dict[str, Any] = {"httponly": True, "samesite": "Lax", "secure": secure}
    if config.cookie_path:
        out["path"] = config.cookie_path
    return out


#: the one failure message of the login form (whatever ``?error=`` says)
LOGIN_FAILED = "Invalid username or password!"


def same_site_path(next_url: str | None) -> str | None:
    """``next_url`` if a browser following it stays on this server
    (:func:`twinlab.apps.guard.same_site`), else ``None``."""
    return _validate_next_url(next_url) if next_url and same_site(next_url) else None


def _session_id(handler: Any) -> str | None:
    raw = handler.get_secure_cookie(SESSION_COOKIE, max_age_days=config.oauth_expiry)
    return raw.decode("utf-8", "replace") if raw else None


class HashedLoginHandler(BasicLoginHandler):
    """Panel's login form with an XSRF token, validated against the hashed credentials."""

    def prepare(self) -> None:
        # the XSRF cookie Tornado sets for the form gets the same attributes
        opts = cookie_options(self)
        self.application.settings["xsrf_cookie_kwargs"] = {
            "samesite": "Strict",
            "secure": opts["secure"],
        }

    def get(self) -> None:
        error = LOGIN_FAILED if self.get_argument("error", "") else ""
        next_url = same_site_path(self.get_argument("next", state.base_url))
        if next_url:
            self.set_cookie("next_url", next_url, **cookie_options(self))
        else:  # nor one left by an earlier visit
            self.clear_cookie("next_url", path=config.cookie_path or "/")
        self.write(login_html(self._login_endpoint, error, self.xsrf_form_html(), _local_dist()))

    def post(self) -> None:
        username = self.get_argument("username", "")
        password = self.get_argument("password", "")
        wait, scope = THROTTLE.refusal(username, client_of(self.request))
        if wait > 0:
            self._too_many(wait, scope)
            return
        if self._validate(username, password):
            self.set_current_user(username)
            home = state.base_url or "/"
            self.redirect(same_site_path(self.get_cookie("next_url", home)) or home)
        else:  # the form again, for the same page
            next_url = same_site_path(self.get_cookie("next_url", "")) or ""
            query = urlencode({"error": 1, **({"next": next_url} if next_url else {})})
            self.redirect(f"{self.request.path}?{query}")

    def _too_many(self, wait: float, scope: str) -> None:
        """Answer ``429`` (with ``Retry-After``): the password was not even checked."""
        seconds = max(1, math.ceil(wait))
        who = "from your address" if scope == "address" else "for this user name from your address"
        self.set_status(429)
        self.set_header("Retry-After", str(seconds))
        self.set_header("Content-Type", "text/html; charset=utf-8")
        message = f"Too many failed logins {who}: try again in {seconds} seconds."
        self.finish(throttled_html(message, _local_dist()))

    def _validate(self, username: str, password: str) -> bool:
        try:
            ok = login(username, password, client_of(self.request), THROTTLE)
        except ValueError as exc:  # a broken credentials file refuses everyone
            log.error("login refused: %s", exc)
            return False
        if not ok:
            log.warning("failed login for a user name of %d characters", len(username))
        return ok

    def set_current_user(self, user: str) -> None:
        opts = cookie_options(self)
        self.clear_cookie("is_guest")
        if not user:
            self.clear_cookie("user")
            return
        days = config.oauth_expiry
        self.set_secure_cookie("user", user, expires_days=days, **opts)
        id_token: str | bytes = base64url_encode(json.dumps({"user": user}))  # Panel's user_info
        if state.encryption:
            id_token = state.encryption.encrypt(str(id_token).encode("utf-8"))
        self.set_secure_cookie("id_token", id_token, expires_days=days, **opts)
        sid = SESSIONS.open(user, _stamp(user) or "")
        self.set_secure_cookie(SESSION_COOKIE, sid, expires_days=days, **opts)
        _watch_credentials(self.application)


def _local_dist() -> str:
    """Where this server serves Panel's own files (its logo): the login and logout pages
    load nothing from Panel's CDN, which would tell a third party who opens them (and shows a
    broken image where the server has no internet)."""
    return (state.base_url or "/") + LOCAL_DIST


class SessionLogoutHandler(LogoutHandler):
    """Logging out: ``GET`` shows a button, which posts the logout with Tornado's XSRF
    token and the session's own token (:func:`twinlab.apps.auth.logout_token`); only that
    post closes the server-side session and its pages' websockets (audited). A link or an
    image of another site (a ``GET``, which ``SameSite=Lax`` cookies follow on a top-level
    navigation) logs nobody out."""

    def get(self) -> None:
        sid = _session_id(self)
        if SESSIONS.user(sid) is None:  # nothing to log out of: the logged-out page
            self._logged_out()
            return
        token = logout_token(self.application.settings["cookie_secret"], sid)
        xsrf = self.xsrf_form_html()
        self.write(logout_html(self.request.path, xsrf, token, _local_dist()))

    def post(self) -> None:
        sid = _session_id(self)
        sent = self.get_argument("logout_token", "")
        expected = logout_token(self.application.settings["cookie_secret"], sid) if sid else ""
        if SESSIONS.user(sid) is not None and not hmac.compare_digest(sent, expected):
            raise HTTPError(403, "this logout was not asked from this server's page")
        user = SESSIONS.close(sid)
        if user is not None:
            closed = _close_connections(self.application, sid)
            _audit("dashboard.logout", user, "session", {"connections_closed": closed})
        self._logged_out()

    def _logged_out(self) -> None:
        """Clear the login's cookies; show the logged-out page."""
        for name in ("user", "id_token", "access_token", "refresh_token", "oauth_expiry"):
            self.clear_cookie(name, path=config.cookie_path or "/")
        self.clear_cookie(SESSION_COOKIE, path=config.cookie_path or "/")
        self.write(logged_out_html(self._login_endpoint, _local_dist()))


def _close_connections(application: Any, sid: str | None) -> int:
    """Close the open websockets of the pages opened with session ``sid``: their documents
    stop answering at once (Bokeh expires them after); return how many were closed."""
    closed = 0
    secret = application.settings.get("cookie_secret")
    for context in getattr(application, "_applications", {}).values():
        for session in list(context.sessions):
            request = getattr(session.document.session_context, "request", None)
            raw = request.cookies.get(SESSION_COOKIE) if request is not None else None
            value = decode_signed_value(secret, SESSION_COOKIE, raw) if raw and secret else None
            if sid and value == sid.encode():
                for connection in list(session._subscribed_connections):
                    connection._socket.close()
                    closed += 1
    return closed


#: how often the credentials file is looked at for a changed password (milliseconds)
WATCH_MS = 1000
_watching: dict[int, PeriodicCallback] = {}


def _signature() -> tuple[int, int, int] | None:
    """What tells a rewritten credentials file (``None``: none, or unreadable)."""
    try:
        st = credentials_path().stat()
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size, st.st_ino


def _watch_credentials(application: Any) -> None:
    """From the first login on, look at the credentials file every :data:`WATCH_MS`; when
    it changed, end the sessions of the users whose password changed or who were removed:
    their pages' open websockets are closed too (audited ``dashboard.session_ended``), as an
    HTTP request of those sessions is refused (:func:`get_user`)."""
    if id(application) in _watching:
        return
    seen = [_signature()]

    def check() -> None:
        now = _signature()
        if now == seen[0]:
            return
        seen[0] = now
        for sid, user in SESSIONS.close_stale(_stamp):
            closed = _close_connections(application, sid)
            params = {"reason": "password changed or user removed", "connections_closed": closed}
            _audit("dashboard.session_ended", user, "session", params)

    callback = PeriodicCallback(check, WATCH_MS)
    _watching[id(application)] = callback
    callback.start()


_provider = BasicAuthProvider()


def _stamp(user: str) -> str | None:
    """The user's password hash in the credentials file now (``None``: no such user, or the
    file cannot be read: no one is logged in)."""
    try:
        entry = load_credentials().get(user)
    except ValueError:
        return None
    return entry.get("password_hash") if entry else None


def get_user(handler: Any) -> str | None:
    """The logged-in user: Panel's signed user cookie, and a session still open for it,
    opened with the user's present password."""
    raw = handler.get_secure_cookie("user", max_age_days=config.oauth_expiry)
    user = raw.decode("utf-8", "replace") if raw else None
    stamp = _stamp(user) if user else None
    if user is None or stamp is None or SESSIONS.user(_session_id(handler), stamp) != user:
        return None
    return _provider.get_user(handler)


login_url = _provider.login_url
logout_url = _provider.logout_url
LoginHandler = HashedLoginHandler
LogoutHandler = SessionLogoutHandler
