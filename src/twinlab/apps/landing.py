"""twinlab's own landing page and refusal page (plain HTML served by the Tornado handlers).

:func:`landing_html` lists the pages a role may open – nothing else – with what each is
for; :func:`refusal_html` tells a user who opened a page their role may not see what the
page needs, which roles have it and whom to ask, with links to the pages they may open.
:class:`LandingHandler` replaces Panel's generic application index (which lists every app,
forbidden ones included) at ``/`` (installed by :mod:`twinlab.apps.server_setup`).
"""

from __future__ import annotations

import html
from typing import Any

from twinlab.apps.auth import PAGES
from twinlab.security.access import MATRIX, is_allowed

__all__ = ["PAGE_INFO", "LandingHandler", "install_landing", "landing_html", "refusal_html"]

#: page -> (title, what it is for)
PAGE_INFO: dict[str, tuple[str, str]] = {
    "whatif": (
        "What-if explorer",
        "Try regimens and populations on the digital twin: concentration and urate bands, "
        "target attainment, safety and trial power.",
    ),
    "cohort": (
        "Cohort dashboard",
        "Who is in the harmonized study (counts by site, sex, age, genotype) and the data "
        "quality checks.",
    ),
    "patients": (
        "Patients",
        "Patient-level rows of the harmonized cohort (pseudonymous): modelers and reviewers.",
    ),
    "reviewer": (
        "Reviewer",
        "Pipeline runs and their parameters, the validation gate, registered models, the "
        "executed reports and the audit trail.",
    ),
}

_STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 0; color: #1f2933; background: #f5f7fa; }
header { background: #0b3954; color: white; padding: 14px 28px; display: flex;
         justify-content: space-between; align-items: baseline; }
header h1 { margin: 0; font-size: 21px; } header a { color: #cde; }
main { max-width: 900px; margin: 28px auto; padding: 0 20px; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(260px, 1fr)); gap: 16px; }
.card { background: white; border-radius: 8px; padding: 16px 18px; text-decoration: none;
        color: inherit; box-shadow: 0 1px 3px rgba(0,0,0,.12); display: block; }
.card:hover { box-shadow: 0 2px 8px rgba(0,0,0,.2); }
.card h2 { margin: 0 0 6px; font-size: 17px; color: #0b3954; }
.refusal { background: white; border-left: 5px solid #c2410c; padding: 16px 20px; }
"""


def _page(title: str, user: str | None, role: str | None, body: str) -> str:
    who = (
        f"signed in as <b>{html.escape(user)}</b> ({html.escape(role or 'no role')}) · "
        '<a href="/logout">log out</a>'
        if user
        else ""
    )
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}'
        f"</title><style>{_STYLE}</style></head><body><header><h1>twinlab</h1><span>{who}</span>"
        f"</header><main>{body}</main></body></html>"
    )


def allowed_pages(role: str | None) -> list[str]:
    """The pages ``role`` may open, in the order of :data:`twinlab.apps.auth.PAGES`."""
    return [p for p, action in PAGES.items() if is_allowed(role, action)]


def _cards(pages: list[str], served: set[str] | None) -> str:
    cards = []
    for page in pages:
        if served is not None and page not in served:
            continue
        title, about = PAGE_INFO.get(page, (page, ""))
        cards.append(
            f'<a class="card" href="/{page}" data-page="{page}"><h2>{html.escape(title)}</h2>'
            f"{html.escape(about)}</a>"
        )
    return f'<div class="cards">{"".join(cards)}</div>'


def landing_html(user: str | None, role: str | None, served: set[str] | None = None) -> str:
    """The landing page of ``user``: the pages their role may open (and the server serves)."""
    pages = allowed_pages(role)
    if not pages:
        body = (
            '<div class="refusal"><h2>No pages for your account</h2>'
            f"Your account has {'role <b>' + html.escape(role) + '</b>' if role else 'no role'}, "
            "which opens no page here. Ask your twinlab administrator for a role "
            "(stakeholder, modeler or reviewer).</div>"
        )
    else:
        body = "<p>Choose a page:</p>" + _cards(pages, served)
    return _page("twinlab", user, role, body)


def refusal_html(user: str | None, role: str | None, page: str) -> str:
    """The page shown instead of a bare 403: what ``page`` needs and whom to ask."""
    action = PAGES.get(page)
    title = PAGE_INFO.get(page, (page, ""))[0]
    if action is None:
        need = f"There is no page <b>/{html.escape(page)}</b> here."
    else:
        roles = sorted(r for r in MATRIX[action] if r != "admin") or sorted(MATRIX[action])
        need = (
            f"The <b>{html.escape(title)}</b> page needs the permission "
            f"<code>{html.escape(action)}</code>, which the "
            f"{' and '.join('<b>' + html.escape(r) + '</b>' for r in roles)} role"
            f"{'s' if len(roles) > 1 else ''} have; your role is "
            f"<b>{html.escape(role or 'none')}</b>. If you need it, ask your twinlab "
            f"administrator for the {html.escape(roles[0])} role (access is logged)."
        )
    mine = allowed_pages(role)
    others = "<p>Pages you can open:</p>" + _cards(mine, None) if mine else ""
    body = f'<div class="refusal"><h2>Not available to your role</h2>{need}</div>{others}'
    return _page("twinlab – not available", user, role, body)


def _handler_base() -> type:
    import panel.io.server as server

    return server.RootHandler


def _name(user: Any) -> str | None:
    if isinstance(user, bytes):
        return user.decode("utf-8", "replace")
    return user if isinstance(user, str) else None


def _landing_handler() -> type:
    from tornado.web import authenticated

    from twinlab.apps.auth import role_of

    base = _handler_base()

    class LandingHandler(base):  # type: ignore[misc, valid-type]
        """``/``: :func:`landing_html` for the logged-in user (login first)."""

        @authenticated
        async def get(self, *args: Any, **kwargs: Any) -> None:
            user = _name(self.current_user)
            try:
                role = role_of(user)
            except ValueError:
                role = None
            served = {str(k).strip("/") for k in self.applications}
            self.set_header("Content-Type", "text/html; charset=utf-8")
            self.finish(landing_html(user, role, served))

    return LandingHandler


#: an executed notebook's HTML holds whatever its cells printed: it is shown sandboxed, in
#: an origin of its own, with no script run and nothing loaded but its own inline styles and
#: images (the pipeline writes its reports self-contained, :mod:`twinlab.notebooks`), so
#: nothing in it can act with the viewer's session on the dashboards (their websocket,
#: pages, cookies) or send what it shows elsewhere; never framed, sniffed or cached
REPORT_HEADERS = {
    "Content-Security-Policy": "sandbox allow-popups allow-downloads; default-src 'none'; "
    "style-src 'unsafe-inline'; img-src data:; font-src data:; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
}


def _reports_handler() -> type:
    from bokeh.server.views.auth_request_handler import AuthRequestHandler
    from panel.io.server import LoginUrlMixin
    from tornado.web import HTTPError, authenticated

    from twinlab.apps.auth import authorize, role_of
    from twinlab.security.access import is_allowed

    class ReportsHandler(LoginUrlMixin, AuthRequestHandler):  # type: ignore[misc]
        """``/reports/<name>.html``: an executed pipeline report of the project
        (``$TWINLAB_ROOT/reports``), for roles that may view the audit trail (reviewers,
        modelers); others get :func:`refusal_html`."""

        def get_login_url(self) -> str:
            """The login page, one level up: Panel's ``./login`` is ``/reports/login`` from
            here, a 404 for whoever opens a report before logging in or after a session
            ended."""
            return "." + super().get_login_url()

        @authenticated
        async def get(self, name: str) -> None:
            user = _name(self.current_user)
            try:
                role = role_of(user)
            except ValueError:
                role = None
            if not (authorize(user, "/reviewer") and is_allowed(role, "view_audit")):
                self.set_status(403)
                self.finish(refusal_html(user, role, "reviewer"))
                return
            data = _report_bytes(name)
            if data is None:
                raise HTTPError(404)
            from twinlab.apps.context import audit_query, current_context

            audit_query(current_context(user=user, role=role), "report", {"report": name})
            self.set_header("Content-Type", "text/html; charset=utf-8")
            for header, value in REPORT_HEADERS.items():
                self.set_header(header, value)
            self.finish(data)

    return ReportsHandler


def _report_bytes(name: str) -> bytes | None:
    """The report ``name`` of :func:`reports_dir`: a regular file there, or a link into the
    project's DVC cache (``cache.type = symlink``); any other link is refused (one placed
    there would hand out any file the server may read, such as its users' password
    hashes). ``None`` when there is no such report."""
    import os
    import stat

    folder = reports_dir()
    file = folder / name
    real = os.path.realpath(file)
    allowed = (os.path.realpath(folder), os.path.realpath(folder.parent / ".dvc" / "cache"))
    if os.path.dirname(real) != allowed[0] and not real.startswith(allowed[1] + os.sep):
        return None
    try:
        fd = os.open(real, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:  # missing, or swapped for a link meanwhile
        return None
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
            return None
        return fh.read()


def reports_dir() -> Any:
    """The project's executed reports (``<root>/reports``)."""
    from twinlab.apps.context import project_root

    return project_root() / "reports"


LandingHandler: Any = None


def install_landing() -> None:
    """Serve :class:`LandingHandler` at ``/`` instead of Panel's application index (call
    before the server is created, as :mod:`twinlab.apps.server_setup` does)."""
    import bokeh.server.tornado as bk_tornado
    from bokeh.server.urls import toplevel_patterns

    global LandingHandler
    if LandingHandler is None:
        LandingHandler = _landing_handler()
    toplevel_patterns[0] = (r"/?", LandingHandler)
    route = r"/reports/([A-Za-z0-9_\-]+\.html)"
    if not any(p[0] == route for p in toplevel_patterns):
        toplevel_patterns.append((route, _reports_handler()))
    bk_tornado.RootHandler = LandingHandler  # the server gives it the applications
