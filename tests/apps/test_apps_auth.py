"""Password hashing, the credentials file and the deny-by-default page authorization."""

from __future__ import annotations

import json
import stat

import pytest

from twinlab.apps.auth import (
    add_user,
    authenticate,
    authorize,
    hash_password,
    load_credentials,
    page_of,
    verify_password,
)


def test_hashes_are_salted_scrypt_and_verify_only_the_right_password():
    a, b = hash_password("s3cret-pass"), hash_password("s3cret-pass")
    assert a != b  # per-user random salt
    assert a.startswith("scrypt$") and "s3cret" not in a
    assert verify_password("s3cret-pass", a) and verify_password("s3cret-pass", b)
    assert not verify_password("s3cret-pasS", a)
    assert not verify_password("s3cret-pass", "plain-text")
    assert not verify_password("s3cret-pass", a.replace("scrypt", "md5"))


def test_credentials_file_holds_hashes_only_and_is_private(tmp_path):
    path = tmp_path / "cfg" / "users.json"
    add_user(path, "ana", "modeler", "ana-password-1")
    add_user(path, "oidc.user@example.org", "stakeholder", None)
    text = path.read_text()
    assert "ana-password-1" not in text
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    users = load_credentials(path)
    assert users["ana"]["role"] == "modeler"
    assert "password_hash" not in users["oidc.user@example.org"]
    assert authenticate("ana", "ana-password-1", path) == "modeler"
    assert authenticate("ana", "wrong-password", path) is None
    assert authenticate("nobody", "ana-password-1", path) is None
    assert authenticate("oidc.user@example.org", "", path) is None  # OAuth-only


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (("ana", "superuser", "long-enough-1"), "unknown role"),
        (("ana", "modeler", "short"), "at least 8"),
        (("bad name", "modeler", "long-enough-1"), "invalid user name"),
    ],
)
def test_add_user_refuses_bad_input(tmp_path, args, match):
    with pytest.raises(ValueError, match=match):
        add_user(tmp_path / "u.json", *args)


def test_a_malformed_credentials_file_is_a_clear_error(tmp_path):
    path = tmp_path / "u.json"
    path.write_text(json.dumps({"ana": {"role": "root"}}))
    with pytest.raises(ValueError, match="needs a role among"):
        load_credentials(path)


def test_page_of_strips_websocket_and_query():
    assert page_of("/whatif/ws") == "whatif"
    assert page_of("/cohort?x=1") == "cohort"
    assert page_of("/") == ""


@pytest.fixture(scope="module")
def four_roles(tmp_path_factory):
    cred = tmp_path_factory.mktemp("roles") / "users.json"
    for name, role in [
        ("ana", "modeler"),
        ("rita", "reviewer"),
        ("sam", "stakeholder"),
        ("adm", "admin"),
    ]:
        add_user(cred, name, role, None)  # roles only: authorization never reads passwords
    return cred


@pytest.mark.parametrize(
    ("user", "path", "allowed"),
    [
        ("ana", "/whatif", True),
        ("ana", "/patients", True),
        ("ana", "/reviewer", True),
        ("rita", "/patients", True),
        ("sam", "/whatif", True),
        ("sam", "/cohort", True),
        ("sam", "/patients", False),  # stakeholders: aggregates only
        ("sam", "/reviewer", False),
        ("adm", "/whatif", False),  # admins manage, they do not simulate
        ("adm", "/reviewer", True),
        ("adm", "/patients", False),
        ("ana", "/unknown-page", False),  # deny by default
        ("mallory", "/whatif", False),
        ("mallory", "/", False),
        ("ana", "/", True),
        (None, "/whatif", False),
    ],
)
def test_authorize_follows_the_role_matrix_and_denies_by_default(
    four_roles, monkeypatch, user, path, allowed
):
    monkeypatch.setenv("TWINLAB_CREDENTIALS", str(four_roles))
    assert authorize({"user": user} if user else {}, path) is allowed


def test_a_refused_page_is_audited(four_roles, tmp_path, monkeypatch):
    monkeypatch.setenv("TWINLAB_CREDENTIALS", str(four_roles))
    monkeypatch.setenv("TWINLAB_AUDIT_LOG", str(tmp_path / "audit.jsonl"))
    assert authorize({"user": "sam"}, "/patients") is False
    assert authorize({"user": "sam"}, "/whatif") is True
    entries = [json.loads(x) for x in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert [(e["action"], e["actor"], e["target"]) for e in entries] == [
        ("dashboard.denied", "sam", "patients")
    ]


def test_authorize_denies_everyone_when_the_credentials_file_is_broken(tmp_path, monkeypatch):
    cred = tmp_path / "users.json"
    cred.write_text("{not json")
    monkeypatch.setenv("TWINLAB_CREDENTIALS", str(cred))
    assert authorize({"user": "ana"}, "/whatif") is False
