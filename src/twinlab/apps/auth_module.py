"""Bokeh ``--auth-module`` for ``panel serve``: Panel's login page, hashed passwords.

Panel's own ``--basic-auth`` compares plaintext passwords; this module keeps Panel's
login and logout pages and cookies (:class:`panel.auth.BasicAuthProvider`) but checks
the password against the scrypt hashes of the credentials file
(:func:`twinlab.apps.auth.login`, file from ``$TWINLAB_CREDENTIALS``), with failed logins
throttled per user name and per client address (:class:`twinlab.apps.auth.LoginThrottle`).
``twinlab serve`` passes this file's path to ``panel serve --auth-module``.
"""

from __future__ import annotations

import logging

from panel.auth import BasicAuthProvider, BasicLoginHandler, LogoutHandler

from twinlab.apps.auth import LoginThrottle, login

log = logging.getLogger("twinlab.apps")

#: one throttle per server process
THROTTLE = LoginThrottle()


class HashedLoginHandler(BasicLoginHandler):
    """Panel's login form, validated against the hashed credentials file."""

    def _validate(self, username: str, password: str) -> bool:
        try:
            ok = login(username, password, self.request.remote_ip or "unknown", THROTTLE)
        except ValueError as exc:  # a broken credentials file refuses everyone
            log.error("login refused: %s", exc)
            return False
        if not ok:
            log.warning("failed login for a user name of %d characters", len(username))
        return ok


_provider = BasicAuthProvider()

get_user = _provider.get_user
login_url = _provider.login_url
logout_url = _provider.logout_url
LoginHandler = HashedLoginHandler
LogoutHandler = LogoutHandler
