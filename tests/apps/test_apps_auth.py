"""Password hashing, the credentials file and the deny-by-default page authorization."""

from __future__ import annotations

import json
import stat

import pytest

from twinlab.apps.auth import (
    LoginThrottle,
    SessionStore,
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
    path.chmod(0o600)
    with pytest.raises(ValueError, match="needs a role among"):
        load_credentials(path)


@pytest.mark.parametrize("mode", [0o644, 0o604, 0o640, 0o660])
def test_a_credentials_file_others_can_read_is_refused(tmp_path, monkeypatch, mode):
    path = tmp_path / "u.json"
    add_user(path, "ana", "modeler", "ana-password-1")
    path.chmod(mode)
    with pytest.raises(ValueError, match="chmod 600"):
        load_credentials(path)
    monkeypatch.setenv("TWINLAB_CREDENTIALS", str(path))
    assert authorize({"user": "ana"}, "/whatif") is False  # the server refuses everyone


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
    cred.chmod(0o600)
    monkeypatch.setenv("TWINLAB_CREDENTIALS", str(cred))
    assert authorize({"user": "ana"}, "/whatif") is False


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_failed_logins_delay_the_pair_with_growing_waits(tmp_path, monkeypatch):
    cred = tmp_path / "users.json"
    add_user(cred, "ana", "modeler", "right-password")
    monkeypatch.setenv("TWINLAB_AUDIT_LOG", str(tmp_path / "audit.jsonl"))
    clock = FakeClock()
    throttle = LoginThrottle(free=2, base_s=1.0, max_s=8.0, clock=clock)
    assert login("ana", "right-password", "10.0.0.1", throttle, cred)
    for _ in range(2):  # free failures: no wait
        assert not login("ana", "wrong", "10.0.0.1", throttle, cred)
        assert throttle.wait("ana", "10.0.0.1") == 0
    waits = []
    for _ in range(5):  # each further failure doubles the wait, up to max_s
        assert not login("ana", "wrong", "10.0.0.1", throttle, cred)
        waits.append(throttle.wait("ana", "10.0.0.1"))
        # inside the wait the right password is refused too, from this address
        assert not login("ana", "right-password", "10.0.0.1", throttle, cred)
        clock.now += waits[-1]
    assert waits == [1.0, 2.0, 4.0, 8.0, 8.0]
    assert login("ana", "right-password", "10.0.0.1", throttle, cred)  # after the wait
    assert throttle.wait("ana", "10.0.0.1") == 0  # success forgets the failures
    entries = [json.loads(x) for x in (tmp_path / "audit.jsonl").read_text().splitlines()]
    entries = [e for e in entries if e["action"] != "audit.checkpoint"]
    assert [(e["action"], e["actor"], e["target"]) for e in entries] == [
        ("dashboard.throttled", "ana", "login")
    ]


def test_an_attacker_cannot_lock_out_others_behind_an_address_or_elsewhere(tmp_path):
    cred = tmp_path / "users.json"
    add_user(cred, "ana", "modeler", "right-password")
    add_user(cred, "bo", "modeler", "bo-password-1")
    throttle = LoginThrottle(free=2, base_s=60.0, clock=FakeClock())
    for _ in range(10):  # a NAT address hammers ana
        assert not login("ana", "guess-1234", "10.6.6.6", throttle, cred)
    assert throttle.wait("ana", "10.6.6.6") > 0
    # the real ana elsewhere, and bo behind the same address, log in at once
    assert login("ana", "right-password", "10.0.0.1", throttle, cred)
    assert login("bo", "bo-password-1", "10.6.6.6", throttle, cred)


def test_failures_are_forgotten_after_a_while(tmp_path):
    cred = tmp_path / "users.json"
    add_user(cred, "ana", "modeler", "right-password")
    clock = FakeClock()
    throttle = LoginThrottle(free=1, base_s=10.0, forget_s=600.0, clock=clock)
    for _ in range(3):
        login("ana", "wrong", "10.0.0.1", throttle, cred)
        clock.now += throttle.wait("ana", "10.0.0.1")
    clock.now += 600
    assert throttle.wait("ana", "10.0.0.1") == 0
    assert throttle.failed("ana", "10.0.0.1") == 0  # counted from one again


def test_throttle_refuses_nonsense_limits():
    with pytest.raises(ValueError, match="must be"):
        LoginThrottle(base_s=0)


def test_throttle_drops_stale_pairs_but_keeps_live_ones():
    clock = FakeClock()
    throttle = LoginThrottle(free=0, base_s=100.0, forget_s=60.0, clock=clock)
    throttle.pairs._PRUNE_ABOVE = 3
    throttle.failed("a", "x")
    clock.now += 61
    for name in ("b", "c", "d"):
        throttle.failed(name, "x")
    assert set(throttle.pairs._state) == {("b", "x"), ("c", "x"), ("d", "x")}


def test_one_address_spraying_many_names_is_delayed_across_names(tmp_path, monkeypatch):
    """One guess per user name never reaches a pair's delay: the address's budget across
    names does (an IPv6 host's whole ``/64``); another address is not held back."""
    cred = tmp_path / "users.json"
    add_user(cred, "ana", "modeler", "right-password")
    monkeypatch.setenv("TWINLAB_AUDIT_LOG", str(tmp_path / "audit.jsonl"))
    clock = FakeClock()
    throttle = LoginThrottle(free=3, base_s=10.0, clock=clock, address_free=5)
    for i in range(6):
        assert not login(f"user{i}", "Winter2026!", "2001:db8::1", throttle, cred)
    assert throttle.refusal("ana", "2001:db8::2") == (10.0, "address")  # same /64
    assert not login("ana", "right-password", "2001:db8::3", throttle, cred)
    assert login("ana", "right-password", "10.0.0.1", throttle, cred)
    clock.now += 10
    assert login("ana", "right-password", "2001:db8::4", throttle, cred)
    entries = [json.loads(x) for x in (tmp_path / "audit.jsonl").read_text().splitlines()]
    spray = [e for e in entries if e["action"] == "dashboard.throttled_address"]
    assert len(spray) == 1 and spray[0]["params"]["client"] == "2001:db8::1"


def test_sessions_are_revoked_on_logout_and_expire():
    clock = FakeClock()
    store = SessionStore(max_age_s=100, clock=clock)
    sid = store.open("ana")
    assert store.user(sid) == "ana" and store.user("forged") is None and store.user(None) is None
    assert store.close(sid) == "ana"
    assert store.user(sid) is None and store.close(sid) is None
    sid = store.open("ana")
    clock.now += 100
    assert store.user(sid) is None


def test_sessions_of_a_changed_password_or_a_removed_user_are_closed_together():
    store = SessionStore()
    kept, changed, removed = store.open("ana", "h1"), store.open("bo", "h2"), store.open("cy", "h3")
    closed = store.close_stale({"ana": "h1", "bo": "h2-new"}.get)  # cy is gone
    assert sorted(closed) == sorted([(changed, "bo"), (removed, "cy")])
    assert store.user(kept) == "ana" and store.user(changed) is None and store.user(removed) is None
    assert store.close_stale({"ana": "h1"}.get) == []
