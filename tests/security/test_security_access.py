"""The access-control matrix, checked exhaustively against the declared table."""

from __future__ import annotations

import itertools

import pytest

import twinlab.security.access as access
from twinlab.security import ACTIONS, MATRIX, ROLES, PermissionDenied, is_allowed, require
from twinlab.security.access import allowed_actions

# The policy as agreed, written out independently of the code (1 = allowed).
EXPECTED = """
action              modeler reviewer stakeholder admin
read_patient_level  1       1        0           0
read_aggregate      1       1        1           1
run_pipeline        1       1        0           0
fit_model           1       1        0           0
simulate            1       1        1           0
view_audit          1       1        0           1
verify_audit        1       1        0           1
manage_users        0       0        0           1
export_data         0       1        0           0
read_all_jobs       0       1        0           0
"""


def _table() -> dict[tuple[str, str], bool]:
    header, *rows = [line.split() for line in EXPECTED.strip().splitlines()]
    roles = header[1:]
    return {
        (role, row[0]): flag == "1"
        for row in rows
        for role, flag in zip(roles, row[1:], strict=True)
    }


def test_roles_and_actions_are_the_declared_ones():
    table = _table()
    assert set(ROLES) == {r for r, _ in table} == {"modeler", "reviewer", "stakeholder", "admin"}
    assert set(ACTIONS) == {a for _, a in table} == set(MATRIX)


@pytest.mark.parametrize(("role", "action"), list(itertools.product(ROLES, ACTIONS)))
def test_every_role_action_pair_follows_the_table(role, action):
    allowed = _table()[role, action]
    assert is_allowed(role, action) is allowed
    if allowed:
        require(role, action)
    else:
        with pytest.raises(PermissionDenied, match=f"role '{role}' may not '{action}'"):
            require(role, action)


def test_the_docstring_table_matches_the_code():
    doc = access.__doc__
    for action in ACTIONS:
        row = next(line.split() for line in doc.splitlines() if line.startswith(action + " "))
        flags = dict(zip(ROLES, row[1:], strict=True))
        assert {r for r, f in flags.items() if f == "yes"} == MATRIX[action]


def test_stakeholders_see_aggregates_only():
    assert allowed_actions("stakeholder") == {"read_aggregate", "simulate"}


@pytest.mark.parametrize(
    ("role", "action"),
    [("guest", "read_aggregate"), ("Admin", "manage_users"), ("", "simulate"), (None, "simulate"),
     ("admin", "delete_everything"), ("modeler", "READ_AGGREGATE"), ("modeler", None),
     (["admin"], "manage_users")],
)  # fmt: skip
def test_unknown_roles_and_actions_are_denied(role, action):
    assert is_allowed(role, action) is False
    with pytest.raises(PermissionDenied, match="unknown"):
        require(role, action)
    assert isinstance(PermissionDenied(role, action), PermissionError)


def test_unknown_role_has_no_actions():
    assert allowed_actions("intruder") == frozenset()
