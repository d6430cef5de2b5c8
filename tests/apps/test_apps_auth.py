"""Password hashing, the credentials file and the deny-by-default page authorization."""

from __future__ import annotations

import json
import stat

import pytest

from twinlab.apps.auth import (
    LoginThrottle,
    add_user,
    authenticate,
    authorize,
    hash_password,
    load_credentials,
    login,
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
    assert entries[-1]["action"] == "audit.checkpoint"  # each entry is signed at once
    entries = [e for e in entries if e["action"] != "audit.checkpoint"]
    assert [(e["action"], e["actor"], e["target"]) for e in entries] == [
        ("dashboard.denied", "sam", "patients")
    ]


def test_authorize_denies_everyone_when_the_credentials_file_is_broken(tmp_path, monkeypatch):
    cred = tmp_path / "users.json"
    cred.write_text("{not json")
    monkeypatch.setenv("TWINLAB_CREDENTIALS", str(cred))
    assert authorize({"user": "ana"}, "/whatif") is False


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_failed_logins_lock_the_name_out_whatever_the_password(tmp_path, monkeypatch):
    cred = tmp_path / "users.json"
    add_user(cred, "ana", "modeler", "right-password")
    monkeypatch.setenv("TWINLAB_AUDIT_LOG", str(tmp_path / "audit.jsonl"))
    clock = FakeClock()
    throttle = LoginThrottle(max_failures=3, window_s=60, lockout_s=300, clock=clock)
    assert login("ana", "right-password", "10.0.0.1", throttle, cred)
    for _ in range(2):
        assert not login("ana", "wrong", "10.0.0.1", throttle, cred)
    assert throttle.locked("user:ana") == 0
    assert not login("ana", "wrong", "10.0.0.2", throttle, cred)  # third failure: locked
    assert throttle.locked("user:ana") == 300
    # locked: the right password is refused too, from any address
    assert not login("ana", "right-password", "10.0.0.9", throttle, cred)
    clock.now += 299
    assert not login("ana", "right-password", "10.0.0.9", throttle, cred)
    clock.now += 2
    assert login("ana", "right-password", "10.0.0.9", throttle, cred)
    entries = [json.loads(x) for x in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert entries[-1]["action"] == "audit.checkpoint"  # each entry is signed at once
    entries = [e for e in entries if e["action"] != "audit.checkpoint"]
    assert [(e["action"], e["actor"], e["target"]) for e in entries] == [
        ("dashboard.lockout", "ana", "user")
    ]


def test_failures_outside_the_window_do_not_count_and_success_resets_them(tmp_path):
    cred = tmp_path / "users.json"
    add_user(cred, "ana", "modeler", "right-password")
    clock = FakeClock()
    throttle = LoginThrottle(max_failures=3, window_s=60, lockout_s=300, clock=clock)
    for _ in range(2):
        assert not login("ana", "wrong", "10.0.0.1", throttle, cred)
    clock.now += 61  # the two failures age out
    assert not login("ana", "wrong", "10.0.0.1", throttle, cred)
    assert throttle.locked("user:ana", "client:10.0.0.1") == 0
    assert not login("ana", "wrong", "10.0.0.1", throttle, cred)
    assert login("ana", "right-password", "10.0.0.1", throttle, cred)  # forgets the name's
    assert not login("ana", "wrong", "10.0.0.1", throttle, cred)
    assert throttle.locked("user:ana") == 0


def test_one_address_trying_many_names_is_locked_out(tmp_path):
    cred = tmp_path / "users.json"
    add_user(cred, "ana", "modeler", "right-password")
    throttle = LoginThrottle(max_failures=3, window_s=60, lockout_s=300, clock=FakeClock())
    for name in ("bob", "carol", "dave"):
        assert not login(name, "guess-1234", "10.6.6.6", throttle, cred)
    assert throttle.locked("client:10.6.6.6") == 300
    assert not login("ana", "right-password", "10.6.6.6", throttle, cred)
    assert login("ana", "right-password", "10.0.0.1", throttle, cred)


def test_throttle_refuses_nonsense_limits():
    with pytest.raises(ValueError, match="must be positive"):
        LoginThrottle(max_failures=0)


def test_throttle_drops_stale_keys_but_keeps_live_ones():
    clock = FakeClock()
    throttle = LoginThrottle(max_failures=2, window_s=60, lockout_s=300, clock=clock)
    throttle._PRUNE_ABOVE = 3
    throttle.failed("user:a")
    throttle.failed("user:a")  # locked until now + 300
    clock.now += 100
    for name in ("b", "c", "d"):
        throttle.failed(f"user:{name}")
    assert throttle.locked("user:a") == 200  # a live lock survives the pruning
    clock.now += 61
    throttle.failed("user:e")  # b, c, d have aged out of the window: dropped
    assert set(throttle._failures) <= {"user:e"}
    assert throttle.locked("user:a") == 139
