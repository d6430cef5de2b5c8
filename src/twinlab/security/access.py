"""Role-based access control: one declared matrix, deny by default.

The matrix below is the single source of truth: one row per action, naming the
roles allowed to perform it. Anything not listed – an unknown role, an unknown
action, a non-string – is denied.

==================  =======  ========  ===========  =====
action              modeler  reviewer  stakeholder  admin
==================  =======  ========  ===========  =====
read_patient_level  yes      yes       –            –
read_aggregate      yes      yes       yes          yes
run_pipeline        yes      yes       –            –
fit_model           yes      yes       –            –
simulate            yes      yes       yes          –
view_audit          yes      yes       –            yes
verify_audit        yes      yes       –            yes
manage_users        –        –         –            yes
export_data         –        yes       –            –
read_all_jobs       –        yes       –            –
==================  =======  ========  ===========  =====

Stakeholders see aggregates only (their what-if simulations run on virtual
patients and return summaries). Administrators manage users and the audit trail
but do not read patient-level data (separation of duties); exporting data is a
reviewer's, accountable, act, and so is reading the results of every client's simulation
jobs (``read_all_jobs``; anyone else reads only their own, :mod:`twinlab.api.ownership`).
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = [
    "ACTIONS",
    "MATRIX",
    "ROLES",
    "PermissionDenied",
    "allowed_actions",
    "is_allowed",
    "require",
]

ROLES: tuple[str, ...] = ("modeler", "reviewer", "stakeholder", "admin")

#: action -> roles allowed to perform it (the table in the module docstring).
MATRIX: Mapping[str, frozenset[str]] = {
    "read_patient_level": frozenset({"modeler", "reviewer"}),
    "read_aggregate": frozenset({"modeler", "reviewer", "stakeholder", "admin"}),
    "run_pipeline": frozenset({"modeler", "reviewer"}),
    "fit_model": frozenset({"modeler", "reviewer"}),
    "simulate": frozenset({"modeler", "reviewer", "stakeholder"}),
    "view_audit": frozenset({"modeler", "reviewer", "admin"}),
    "verify_audit": frozenset({"modeler", "reviewer", "admin"}),
    "manage_users": frozenset({"admin"}),
    "export_data": frozenset({"reviewer"}),
    "read_all_jobs": frozenset({"reviewer"}),
}

ACTIONS: tuple[str, ...] = tuple(MATRIX)


class PermissionDenied(PermissionError):
    """A role may not perform an action."""

    def __init__(self, role: object, action: object) -> None:
        self.role = role
        self.action = action
        if role not in ROLES:
            why = f"unknown role {role!r} (roles: {', '.join(ROLES)})"
        elif action not in MATRIX:
            why = f"unknown action {action!r}"
        else:
            why = f"role {role!r} may not {action!r}"
        super().__init__(f"permission denied: {why}")


def is_allowed(role: object, action: object) -> bool:
    """Return whether ``role`` may perform ``action`` (unknown ones are denied).

    Parameters
    ----------
    role
        One of :data:`ROLES`.
    action
        One of :data:`ACTIONS`.

    Returns
    -------
    bool
        ``True`` only if the matrix lists ``role`` for ``action``.

    Examples
    --------
    >>> is_allowed("stakeholder", "read_aggregate"), is_allowed("stakeholder", "read_patient_level")
    (True, False)
    """
    if not isinstance(role, str) or not isinstance(action, str):
        return False
    return role in MATRIX.get(action, frozenset())


def require(role: object, action: object) -> None:
    """Raise :class:`PermissionDenied` unless ``role`` may perform ``action``.

    Parameters
    ----------
    role, action
        As for :func:`is_allowed`.

    Raises
    ------
    PermissionDenied
        If the matrix does not allow it.
    """
    if not is_allowed(role, action):
        raise PermissionDenied(role, action)


def allowed_actions(role: str) -> frozenset[str]:
    """Return the actions ``role`` may perform (empty for an unknown role)."""
    return frozenset(a for a in ACTIONS if is_allowed(role, a))
