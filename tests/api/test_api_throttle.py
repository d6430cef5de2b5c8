"""Requests without a valid token are limited per peer address, and a flood of throttled
answers writes one full audit entry per window, not one each."""

from __future__ import annotations

import json
import uuid

import pytest
from api_fixtures import serving

from twinlab.api import server
from twinlab.api.throttle import ThrottleAudit


def _entries(audit_path) -> list[dict]:
    return [json.loads(line) for line in audit_path.read_text().splitlines()]


def test_unauthenticated_requests_are_limited_per_address(api, audit_path):
    slow = api.settings.with_(rate_per_s=1e-6, burst=2.0, throttle_audit_window_s=1e9)
    probe = {"probe": uuid.uuid4().hex}
    with serving(slow, api.secrets) as served, served.http() as http:
        token = served.forge(scope="read_aggregate")  # made before the bucket is empty
        codes = [http.get("/v1/results", params=probe).status_code for _ in range(5)]
        assert codes == [401, 401, 429, 429, 429]
        r = http.get("/healthz", params=probe)
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
        junk = {"Authorization": "Bearer not-a-token"}
        assert http.get("/v1/results", params=probe, headers=junk).status_code == 429
        form = {"grant_type": "client_credentials", "client_id": "modeler-app",
                "client_secret": served.secrets["modeler-app"]}  # fmt: skip
        assert http.post("/oauth/token", data=form).status_code == 429
        valid = {"Authorization": f"Bearer {token}"}  # a client is not held back by its address
        assert http.get("/v1/results", params=probe, headers=valid).status_code == 200
        mine = [e for e in _entries(audit_path) if e["params"].get("query") == probe]
        assert [e["action"] for e in mine] == ["api.denied"] * 2 + ["api.throttled", "api.request"]
    last = [e for e in _entries(audit_path) if e["action"] == "api.throttled"][-1]
    assert last["target"] == "addr:127.0.0.1" and last["params"] == {"suppressed": 5}


def test_throttle_audit_counts_the_rest_of_a_window():
    t = [0.0]
    log = ThrottleAudit(window_s=10, clock=lambda: t[0])
    assert log.admit("addr:a") == {} and log.admit("client:b") == {}
    assert [log.admit("addr:a") for _ in range(3)] == [None] * 3
    t[0] = 10.0
    assert log.admit("addr:a") == {"suppressed": 3}
    assert log.admit("addr:a") is None
    assert log.drain() == {"addr:a": 1}
    assert log.drain() == {}


def test_clients_behind_one_address_get_their_tokens_and_wrong_secrets_are_charged(api):
    """Right client credentials are charged to the client, not to its address; wrong ones
    to the address, which then refuses every token request before hashing a secret."""
    slow = api.settings.with_(rate_per_s=1e-6, burst=2.0, throttle_audit_window_s=1e9)

    def form(cid, secret):
        return {"grant_type": "client_credentials", "client_id": cid, "client_secret": secret}

    with serving(slow, api.secrets) as served, served.http() as http:
        granted = [http.post("/oauth/token", data=form(c, s)) for c, s in served.secrets.items()]
        assert len(granted) > 2 and {r.status_code for r in granted} == {200}
        wrong = [http.post("/oauth/token", data=form("modeler-app", "nope")) for _ in range(3)]
        assert [r.status_code for r in wrong] == [401, 401, 429]
        right = form("modeler-app", served.secrets["modeler-app"])
        assert http.post("/oauth/token", data=right).status_code == 429


def _proxy_options(tmp_path, monkeypatch, *proxies: str) -> dict:
    """The proxy options ``serve`` gives uvicorn for ``--trusted-proxy proxies``."""
    import uvicorn

    seen: dict = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.update(kw))
    monkeypatch.setattr(server, "prepare_audit", lambda project: tmp_path / "audit.jsonl")
    settings = server.ApiSettings.for_project(tmp_path, key_dir=tmp_path / "keys")
    server.serve(settings, insecure_http=True, trusted_proxies=proxies)
    return {k: seen[k] for k in ("proxy_headers", "forwarded_allow_ips")}


def test_behind_a_trusted_proxy_each_forwarded_client_has_its_own_bucket(
    api, audit_path, tmp_path, monkeypatch
):
    """With ``--trusted-proxy`` the token-less bucket is the forwarded client's, not the
    proxy's; a client cannot pick its bucket through a proxy by prepending addresses; and
    the header means nothing from a peer that is not a trusted proxy."""
    slow = api.settings.with_(rate_per_s=1e-6, burst=2.0, throttle_audit_window_s=1e9)
    trusted = _proxy_options(tmp_path, monkeypatch, "127.0.0.1", "10.0.0.0/8")
    assert trusted == {"proxy_headers": True, "forwarded_allow_ips": "127.0.0.1/32,10.0.0.0/8"}
    probe = {"probe": uuid.uuid4().hex}

    def codes(http, forwarded: str, n: int = 3) -> list[int]:
        headers = {"X-Forwarded-For": forwarded}
        return [http.get("/v1/results", params=probe, headers=headers).status_code
                for _ in range(n)]  # fmt: skip

    with serving(slow, api.secrets, **trusted) as served, served.http() as http:
        assert codes(http, "203.0.113.7") == [401, 401, 429]
        assert codes(http, "198.51.100.9, 10.1.2.3") == [401, 401, 429]  # via a second proxy
        assert codes(http, "198.51.100.9, 203.0.113.8") == [401, 401, 429]  # forged left part
        assert codes(http, "203.0.113.7", 1) == [429]
    # the first throttled answer of each bucket is audited in full: three buckets, not one
    mine = [e for e in _entries(audit_path) if e["params"].get("query") == probe]
    assert sum(e["action"] == "api.throttled" for e in mine) == 3
    last = [e for e in _entries(audit_path) if e["action"] == "api.throttled"][-1]
    assert last["target"] == "addr:203.0.113.7" and last["params"] == {"suppressed": 1}
    elsewhere = _proxy_options(tmp_path, monkeypatch, "192.0.2.1")
    with serving(slow, api.secrets, **elsewhere) as served, served.http() as http:
        assert codes(http, "203.0.113.50") + codes(http, "203.0.113.51") == [401, 401] + [429] * 4


@pytest.mark.parametrize("proxy", ["*", "proxy.example", "10.0.0.0/33"])
def test_a_trusted_proxy_must_be_an_address_or_network(proxy, tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="not an IP address or network"):
        _proxy_options(tmp_path, monkeypatch, proxy)


def test_an_ipv6_host_cannot_take_a_fresh_bucket_per_request(api, tmp_path, monkeypatch):
    """One host holds a whole IPv6 /64: its addresses share a bucket (another /64, and an
    IPv4 client written as IPv4-mapped IPv6, keep their own)."""
    slow = api.settings.with_(rate_per_s=1e-6, burst=2.0, throttle_audit_window_s=1e9)
    trusted = _proxy_options(tmp_path, monkeypatch, "127.0.0.1")
    with serving(slow, api.secrets, **trusted) as served, served.http() as http:

        def code(forwarded: str) -> int:
            return http.get("/healthz", headers={"X-Forwarded-For": forwarded}).status_code

        rotating = [code(f"2001:db8:7:1:{n:x}::1") for n in range(1, 6)]
        assert rotating == [200, 200, 429, 429, 429]
        assert code("2001:db8:7:2::1") == 200  # the next /64: someone else
        assert [code("203.0.113.60"), code("::ffff:203.0.113.60")] == [200, 200]
        assert code("203.0.113.60") == 429


def test_a_client_past_its_rate_gets_no_token_and_costs_no_hash(api, audit_path):
    """Right credentials were charged to the client but never refused: a client (or a
    leaked secret) could have the service hash Argon2id (19 MiB, ~50 ms) without bound."""
    slow = api.settings.with_(rate_per_s=1e-6, burst=2.0, throttle_audit_window_s=1e9)
    secret = api.secrets["stakeholder-app"]
    form = {"grant_type": "client_credentials", "client_id": "stakeholder-app",
            "client_secret": secret}  # fmt: skip
    with serving(slow, api.secrets) as served, served.http() as http:
        # no one else empties a client's bucket: a wrong secret is charged to its address
        wrong = {**form, "client_secret": "wrong"}
        assert http.post("/oauth/token", data=wrong).status_code == 401
        answers = [http.post("/oauth/token", data=form) for _ in range(3)]
        assert [r.status_code for r in answers] == [200, 200, 429]
        assert answers[2].json()["error"] == "slow_down"
        assert int(answers[2].headers["retry-after"]) >= 1
