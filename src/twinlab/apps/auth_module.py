"""Bokeh ``--auth-module`` for ``panel serve``: Panel's login page, hashed passwords,
server-side sessions.

Panel's own ``--basic-auth`` compares plaintext passwords; this module keeps Panel's
login and logout pages (:class:`panel.auth.BasicAuthProvider`) but

- checks the password against the scrypt hashes of the credentials file
  (:func:`twinlab.apps.auth.login`, file from ``$TWINLAB_CREDENTIALS``), failed logins
  delayed per (user name, client address) (:class:`twinlab.apps.auth.LoginThrottle`);
- puts an XSRF token in the login form (``twinlab serve`` turns on Tornado's XSRF check);
- after a login, goes only to a page of this server (:func:`same_site_path`: Panel's check
  lets ``next=///evil.example`` through, which browsers follow to ``evil.example``), and
  shows its own failure message, never text from the URL (a phishing message under the
  product's name);
- sets its cookies ``HttpOnly``, ``SameSite=Lax`` and, when the request came over TLS,
  ``Secure``;
- opens a server-side session at login (:class:`twinlab.apps.auth.SessionStore`) that
  logging out closes: a request is logged in only while its session is open, and the
  websockets of the pages it opened are closed; a session ends too when its user's password
  is changed or the user removed from the credentials file (a reset stolen password).

``twinlab serve`` passes this file's path to ``panel serve --auth-module``.
"""

from __future__ import annotations

import json
import logging
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
from tornado.web import decode_signed_value

from twinlab.apps.auth import LoginThrottle, SessionStore, _audit, load_credentials, login
from twinlab.apps.guard import same_site

log = logging.getLogger("twinlab.apps")

#: one throttle and one session store per server process
THROTTLE = LoginThrottle()
SESSIONS = SessionStore()
SESSION_COOKIE = "twinlab_session"


def cookie_options(handler: Any) -> dict[str, Any]:
    """Attributes of every cookie set for ``handler``'s request: HttpOnly, SameSite=Lax,
    Secure over TLS, on Panel's cookie path."""
    secure = handler.request.protocol == "https"
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
        html = self._login_template.render(
            login_endpoint=self._login_endpoint, errormessage=error, PANEL_CDN=_local_dist()
        )
        token = self.xsrf_form_html()
        html = html.replace('method="post">', f'method="post">{token}', 1)
        self.write(html)

    def post(self) -> None:
        username = self.get_argument("username", "")
        password = self.get_argument("password", "")
        if self._validate(username, password):
            self.set_current_user(username)
            home = state.base_url or "/"
            self.redirect(same_site_path(self.get_cookie("next_url", home)) or home)
        else:  # the form again, for the same page
            next_url = same_site_path(self.get_cookie("next_url", "")) or ""
            query = urlencode({"error": 1, **({"next": next_url} if next_url else {})})
            self.redirect(f"{self.request.path}?{query}")

    def _validate(self, username: str, password: str) -> bool:
        try:
            ok = login(username, password, self.request.remote_ip or "unknown", THROTTLE)
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


def _local_dist() -> str:
    """Where this server serves Panel's own files (its logo): the login and logout pages
    load nothing from Panel's CDN, which would tell a third party who opens them (and shows a
    broken image where the server has no internet)."""
    return (state.base_url or "/") + LOCAL_DIST


class _LocalAssets:
    """A Panel page template rendered with :func:`_local_dist` for its ``PANEL_CDN``."""

    def __init__(self, template: Any) -> None:
        self._template = template

    def render(self, **values: Any) -> str:
        return self._template.render(**{**values, "PANEL_CDN": _local_dist()})


class SessionLogoutHandler(LogoutHandler):
    """Panel's logout page; closes the server-side session first (audited)."""

    _logout_template = _LocalAssets(LogoutHandler._logout_template)

    def get(self) -> None:
        sid = _session_id(self)
        user = SESSIONS.close(sid)
        if user is not None:
            closed = _close_connections(self.application, sid)
            _audit("dashboard.logout", user, "session", {"connections_closed": closed})
        self.clear_cookie(SESSION_COOKIE, path=config.cookie_path or "/")
        super().get()


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
