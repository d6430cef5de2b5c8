"""twinlab's sessions and logout for ``twinlab serve --oauth-provider`` (Panel's OAuth).

Panel's OAuth mode logs out on a ``GET /logout`` (a link or an image of any site logs the
user out: the cookies are ``SameSite=Lax``) and keeps no session on the server: removing a
user, or changing their role, refused their next HTTP request but left their pages'
websockets open. :func:`install` (run by ``panel serve --setup``,
:mod:`twinlab.apps.server_setup`) makes OAuth mode work as the password mode does
(:mod:`twinlab.apps.sessions`):

- a login through the provider opens a server-side session, stamped with the user's role
  in the credentials file, in a signed cookie beside Panel's;
- a request of a user with a role is logged in only while that session is open (a copied
  cookie stops working at logout) and opened with the user's present role (a user the
  credentials file does not know stays who the provider says, and is refused every page
  with twinlab's refusal page, as before);
- ``/logout`` is :class:`twinlab.apps.sessions.SessionLogoutHandler`: ``GET`` shows a
  button, only its ``POST`` with the session's token logs out (Panel's cookies cleared,
  the session closed, its websockets closed, audited ``dashboard.logout``);
- when the credentials file changes, the sessions of a removed user, or of a user whose
  role changed, end and their websockets are closed (audited ``dashboard.session_ended``).

Everything is patched on Panel's OAuth classes only: the password mode is not touched.
"""

from __future__ import annotations

from typing import Any

from twinlab.apps.auth import load_credentials
from twinlab.apps.sessions import (
    SESSION_COOKIE,
    SESSIONS,
    SessionLogoutHandler,
    cookie_options,
    session_id,
    watch_credentials,
)

__all__ = ["install", "role_stamp"]

#: why the watcher ends an OAuth session (audited)
REASON = "role changed or user removed"


def role_stamp(user: str) -> str | None:
    """What an OAuth session of ``user`` is stamped with: the user's role in the credentials
    file now (``None``: no such user, or the file cannot be read: no one is logged in).

    Examples
    --------
    >>> role_stamp("") is None
    True
    """
    if not user:
        return None
    try:
        entry = load_credentials().get(user)
    except ValueError:
        return None
    return f"role:{entry['role']}" if entry else None


def _open_session(handler: Any, user: str) -> None:
    """After a login through the provider: open the session of ``user`` and set its cookie
    (a user the credentials file does not know gets none: no page would let them in)."""
    from panel.config import config

    stamp = role_stamp(user)
    if stamp is None:
        return
    sid = SESSIONS.open(user, stamp)
    opts = cookie_options(handler)
    handler.set_secure_cookie(SESSION_COOKIE, sid, expires_days=config.oauth_expiry, **opts)
    watch_credentials(handler.application, role_stamp, REASON)


def _logout_handler(provider: Any) -> type:
    """The OAuth provider's ``/logout``: :class:`SessionLogoutHandler`, back to its login."""
    return type(
        "OAuthSessionLogoutHandler",
        (SessionLogoutHandler,),
        {"_login_endpoint": provider._login_endpoint, "__module__": __name__},
    )


def install() -> None:
    """Give Panel's OAuth provider twinlab's sessions and logout (call before the server is
    created; idempotent)."""
    from panel.auth import OAuthLoginHandler, OAuthProvider

    if getattr(OAuthProvider, "_twinlab_sessions", False):
        return
    set_auth_cookies = OAuthLoginHandler.set_auth_cookies
    get_user_async = OAuthProvider.get_user_async

    def with_session(
        handler: Any,
        id_token: Any,
        access_token: Any,
        refresh_token: Any = None,
        expires_in: Any = None,
    ) -> Any:
        user = set_auth_cookies(handler, id_token, access_token, refresh_token, expires_in)
        if id_token and user:  # a login (a refresh of the tokens brings no id token)
            _open_session(handler, user)
        return user

    def session_user(self: Any) -> Any:
        panels = get_user_async.fget(self)

        async def get_user(handler: Any) -> str | None:
            user = await panels(handler)
            if isinstance(user, bytes):
                user = user.decode("utf-8", "replace")
            if not user:
                return None
            stamp = role_stamp(user)
            if stamp is None:  # no role: every page refuses them, saying whom to ask
                return user  # (sent back to the provider, they would come back in a loop)
            return user if SESSIONS.user(session_id(handler), stamp) == user else None

        return get_user

    OAuthLoginHandler.set_auth_cookies = staticmethod(with_session)  # type: ignore[method-assign]
    OAuthProvider.get_user_async = property(session_user)  # type: ignore[method-assign,assignment]
    OAuthProvider.logout_handler = property(_logout_handler)  # type: ignore[method-assign,assignment]
    OAuthProvider._twinlab_sessions = True  # type: ignore[attr-defined]
