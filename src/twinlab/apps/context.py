"""Who is asking, from where, and the audit entry of every dashboard query."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from twinlab.apps.auth import role_of
from twinlab.audit.log import acting_as, default_actor
from twinlab.audit.trail import audit_event
from twinlab.config import project_root
from twinlab.security.access import is_allowed

__all__ = ["MIN_CELL_ENV", "AppContext", "as_user", "audit_query", "current_context"]

_F = TypeVar("_F", bound=Callable[..., Any])

MIN_CELL_ENV = "TWINLAB_MIN_CELL"
#: the actor of what the server computes on its own at start (the what-if's warm-up,
#: :mod:`twinlab.apps.server_setup`), never on behalf of a user
WARMUP_ACTOR = "twinlab-serve-warmup"


@dataclass(frozen=True)
class AppContext:
    """The user of a session, their role and the project the apps read.

    Attributes
    ----------
    user : str
        Who is logged in (the OS user in a notebook).
    role : str or None
        Their role (``None``: unknown, allowed nothing).
    root : Path
        Project root.
    min_cell : int
        Smallest count shown to viewers without patient-level access.
    """

    user: str
    role: str | None
    root: Path
    min_cell: int = 5

    def may(self, action: str) -> bool:
        """Whether this user's role may perform ``action`` (deny by default)."""
        return is_allowed(self.role, action)


def current_context(
    *, user: str | None = None, role: str | None = None, root: str | os.PathLike[str] | None = None
) -> AppContext:
    """The context of the running Panel session (or of a notebook when not served).

    In a served app the user is Panel's logged-in user and the role comes from the
    credentials file; ``user``/``role`` override them for notebook use.
    """
    import panel as pn

    name = user or pn.state.user or default_actor()
    if role is None:
        try:
            role = role_of(name)
        except ValueError:
            role = None
    min_cell = int(os.environ.get(MIN_CELL_ENV, "5") or 5)
    return AppContext(name, role, Path(root) if root else project_root(), max(1, min_cell))


def audit_query(ctx: AppContext, target: str, params: dict[str, Any]) -> dict[str, Any] | None:
    """Write a ``dashboard.query`` entry (actor: the user) to ``$TWINLAB_AUDIT_LOG``."""
    return audit_event(
        "dashboard.query",
        target,
        params={"user": ctx.user, "role": ctx.role, **params},
        actor=ctx.user,
    )


def as_user(method: _F) -> _F:
    """Run a viewer's method as its user: audit entries the library writes meanwhile (data
    access, simulation runs) carry ``self.context.user``, not the server's account."""

    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        with acting_as(self.context.user):
            return method(self, *args, **kwargs)

    return wrapper  # type: ignore[return-value]
