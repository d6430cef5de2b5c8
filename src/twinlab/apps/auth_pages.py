"""The pages of the dashboards' login flow, under twinlab's name: the login form, the
logout confirmation (a button that posts the logout), the logged-out page and the page of a
refused (throttled) login.

Plain HTML with an inline style and no script, image or font from anywhere else (the
favicon is this server's copy of Panel's, :func:`twinlab.apps.auth_module._local_dist`);
every value shown is escaped.
"""

from __future__ import annotations

import html

__all__ = ["ABOUT", "logged_out_html", "login_html", "logout_html", "throttled_html"]

#: what the server is, in one plain sentence (the login page says it)
ABOUT = (
    "This server shows the clinical-trial digital twin dashboards of one twinlab project: "
    "what-if simulations, cohort summaries and the audit trail, for the people its "
    "administrator has given an account."
)

_STYLE = """
* { box-sizing: border-box; }
body { font: 15px/1.5 system-ui, sans-serif; margin: 0; color: #1f2933; background: #f5f7fa;
       min-height: 100vh; display: flex; align-items: center; justify-content: center; }
.box { background: white; border: 1px solid #ddd; padding: 2em; width: 380px; }
h1 { margin: 0 0 .4em; font-size: 26px; color: #0b3954; }
p { margin: 0 0 1em; }
input { width: 100%; padding: 10px; margin-bottom: 1em; border: 1px solid #ccc; }
button { width: 100%; padding: 10px; background: #0b3954; color: white; border: 0; }
.errormessage { color: #b91c1c; font-weight: bold; }
"""


def _page(title: str, static: str, body: str) -> str:
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta content="width=device-width, initial-scale=1.0" name="viewport">'
        f"<title>twinlab | {html.escape(title)}</title>"
        f'<link rel="icon" type="image/x-icon" href="{html.escape(static)}images/favicon.ico">'
        f'<style>{_STYLE}</style></head><body><div class="box"><h1>twinlab</h1>{body}'
        "</div></body></html>"
    )


def login_html(action: str, error: str, xsrf_form: str, static: str) -> str:
    """The login form.

    Parameters
    ----------
    action : str
        Where the form posts (the login endpoint, relative).
    error : str
        A failure message to show (escaped), or ``""``.
    xsrf_form : str
        Tornado's hidden XSRF field (``xsrf_form_html()``), inserted as is.
    static : str
        This server's URL of Panel's files (ends with ``/``).

    Returns
    -------
    str
        The page.
    """
    return _page(
        "Log in",
        static,
        f"<p>{html.escape(ABOUT)}</p>"
        f'<p class="errormessage">{html.escape(error)}</p>'
        f'<form action=".{html.escape(action)}" method="post">{xsrf_form}'
        '<input name="username" type="text" autocapitalize="off" autocorrect="off" '
        'placeholder="user name" aria-label="user name">'
        '<input name="password" type="password" placeholder="password" aria-label="password">'
        '<button type="submit">Log in</button></form>',
    )


def logout_html(action: str, xsrf_form: str, token: str, static: str) -> str:
    """The logout confirmation: a button that posts the logout (to ``action``) with
    Tornado's XSRF field and the session's ``token``
    (:func:`twinlab.apps.auth.logout_token`); ``static`` as for :func:`login_html`."""
    return _page(
        "Log out",
        static,
        f'<form action=".{html.escape(action)}" method="post">{xsrf_form}'
        f'<input type="hidden" name="logout_token" value="{html.escape(token)}">'
        "<p>Log out of the twinlab dashboards? Your open pages stop answering.</p>"
        '<button type="submit">Log out</button></form>',
    )


def logged_out_html(login: str, static: str) -> str:
    """The page after a logout (or a logout page opened without a session)."""
    return _page(
        "Logged out",
        static,
        f'<p>You are logged out.</p><form action=".{html.escape(login)}" method="get">'
        '<button type="submit">Log in</button></form>',
    )


def throttled_html(message: str, static: str) -> str:
    """The page of a login refused before its password was checked (``429``)."""
    return _page(
        "Too many failed logins", static, f'<p class="errormessage">{html.escape(message)}</p>'
    )
