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

import json
import logging
import math
from typing import Any
from urllib.parse import urlencode

from panel.auth import BasicAuthProvider, BasicLoginHandler, _validate_next_url
from panel.config import config
from panel.io.state import state
from panel.util import base64url_encode

from twinlab.apps.auth import LoginThrottle, _decoy_hash, load_credentials, login
from twinlab.apps.auth_pages import login_html, throttled_html
from twinlab.apps.connections import client_of
from twinlab.apps.guard import same_site
from twinlab.apps.sessions import (
    SESSION_COOKIE,
    SESSIONS,
    SessionLogoutHandler,
    cookie_options,
    watch_credentials,
)
from twinlab.apps.sessions import local_dist as _local_dist
from twinlab.apps.sessions import session_id as _session_id

log = logging.getLogger("twinlab.apps")

#: one throttle per server process (the sessions: :data:`twinlab.apps.sessions.SESSIONS`)
THROTTLE = LoginThrottle()
#: the decoy hash of unknown users' logins, made before the first login (made on that
#: login, it would make the first unknown name slower than any known one)
_decoy_hash()


#: the one failure message of the login form (whatever ``?error=`` says)
LOGIN_FAILED = "Invalid username or password!"


def same_site_path(next_url: str | None) -> str | None:
    """``next_url`` if a browser following it stays on this server
    (:func:`twinlab.apps.guard.same_site`), else ``None``."""
    return _validate_next_url(next_url) if next_url and same_site(next_url) else None


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
        watch_credentials(self.application, _stamp, "password changed or user removed")


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
