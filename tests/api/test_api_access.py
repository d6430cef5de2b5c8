"""Access to the API: a real token flow against a real server; forged, expired, foreign and
escalated tokens refused; stakeholders get aggregates only; every request audited."""

from __future__ import annotations

import json
import time

import pytest
from api_fixtures import PATIENT_FIELDS, keys_of
from cryptography.hazmat.primitives.asymmetric import ec

from twinlab.api.keys import rotate
from twinlab.audit import verify


def _get(api, path, token=None, **kw):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with api.http() as http:
        return http.get(path, headers=headers, **kw)


def test_openapi_and_token_flow(api):
    with api.http() as http:
        spec = http.get("/openapi.json").json()
    assert spec["openapi"].startswith("3.1")
    assert "/v1/models" in spec["paths"] and "/oauth/token" in spec["paths"]
    token = api.token("modeler-app")
    r = _get(api, "/v1/models", token)
    assert r.status_code == 200, r.text
    assert [m["name"] for m in r.json()] == ["twin_test"]
    assert r.json()[0]["latest_validation"] == "passed"
    card = _get(api, "/v1/models/twin_test/versions/1", token).json()
    assert card["validation_status"] == "passed" and card["spec"]["model"] == "pk_1cmt_oral"
    lineage = _get(api, "/v1/models/twin_test/versions/1/lineage", token).json()
    assert "demo" in lineage["simulations"] and len(lineage["posterior_sha256"]) == 64
    gate = _get(api, "/v1/models/twin_test/versions/1/validation", token).json()
    assert gate["status"] == "passed" and gate["validation"]["gate"]["passed"] is True
    assert _get(api, "/v1/models/nope/versions", token).status_code == 404


@pytest.mark.parametrize(
    "claims, why",
    [
        ({"exp": int(time.time()) - 120}, "token expired"),
        ({"aud": "another-api"}, "another audience"),
        ({"iss": "someone-else"}, "another issuer"),
        ({"nbf": int(time.time()) + 600}, "not valid yet"),
        ({"twinlab_role": "superuser"}, "no known role"),
        ({"exp": None}, "invalid token"),
    ],
)
def test_bad_tokens_refused(api, claims, why):
    r = _get(api, "/v1/models", api.forge(**claims))
    assert r.status_code == 401 and why in r.json()["detail"]
    assert r.headers["www-authenticate"].startswith("Bearer")


def test_forged_and_unsigned_tokens_refused(api):
    other = ec.generate_private_key(ec.SECP256R1())
    assert _get(api, "/v1/models", api.forge(key=other)).status_code == 401  # same kid
    assert _get(api, "/v1/models", api.forge(key=other, kid="made-up")).status_code == 401
    good = api.token("modeler-app")
    head, body, sig = good.split(".")
    assert _get(api, "/v1/models", f"{head}.{body}.{sig[::-1]}").status_code == 401
    import base64

    none_head = base64.urlsafe_b64encode(b'{"alg":"none","kid":"x"}').rstrip(b"=").decode()
    assert _get(api, "/v1/models", f"{none_head}.{body}.").status_code == 401
    assert _get(api, "/v1/models").status_code == 401
    assert _get(api, "/v1/models", "not-a-jwt").status_code == 401


def test_key_rotation_keeps_old_tokens_valid(api):
    before = api.token("modeler-app")
    rotate(api.settings.key_dir)
    after = api.token("modeler-app")
    from jwt import get_unverified_header

    assert get_unverified_header(before)["kid"] != get_unverified_header(after)["kid"]
    assert _get(api, "/v1/models", before).status_code == 200
    assert _get(api, "/v1/models", after).status_code == 200
    kids = {k["kid"] for k in _get(api, "/.well-known/jwks.json").json()["keys"]}
    assert {get_unverified_header(t)["kid"] for t in (before, after)} <= kids


def test_scope_escalation_refused(api):
    with api.http() as http:
        form = {
            "grant_type": "client_credentials",
            "client_id": "stakeholder-app",
            "client_secret": api.secrets["stakeholder-app"],
            "scope": "read_patient_level",
        }
        r = http.post("/oauth/token", data=form)
        assert r.status_code == 400 and r.json()["error"] == "invalid_scope"
        bad = dict(form, client_secret="wrong", scope="read_aggregate")
        assert http.post("/oauth/token", data=bad).status_code == 401
    # a token whose scope names more than the role may (an IdP's mistake) grants nothing more
    # (a token of the embedded issuer must also match its client's registration: 401)
    loud = api.forge(scope="read_patient_level read_aggregate", twinlab_role="stakeholder")
    assert _get(api, "/v1/results/demo/patients", loud).status_code in (401, 403)
    # a modeler client registered with read_aggregate only cannot read patients either
    narrow = api.token("narrow-app")
    assert _get(api, "/v1/results/demo/patients", narrow).status_code == 403
    assert _get(api, "/v1/results", narrow).status_code == 200
    # and an export is a reviewer's act
    modeler = api.token("modeler-app")
    with api.http() as http:
        r = http.post("/v1/edc/export", json={}, headers={"Authorization": f"Bearer {modeler}"})
    assert r.status_code in (403, 404)


def test_stakeholder_gets_aggregates_only(api):
    token = api.token("stakeholder-app")
    assert _get(api, "/v1/results/demo/patients", token).status_code == 403
    arms = _get(api, "/v1/results/demo/arms", token)
    assert arms.status_code == 200
    assert {row["n"] for row in arms.json()["items"]} <= {"60", "0"} | {f"<{5}"}
    summary = _get(api, "/v1/results/demo/summary", token, params={"weight_min": 61})
    body = summary.json()
    if summary.status_code == 200:
        assert body["weight_range"][0] == 60.0  # widened to the band edge
        assert int(body["n_real_patients"]) % 5 == 0
    else:
        assert summary.status_code == 403 and "too few" in body["detail"]
    for r in (arms, summary):
        assert not PATIENT_FIELDS & set(keys_of(r.json()))
    # one narrow cell is refused (disclosure), whatever it holds
    tiny = _get(
        api,
        "/v1/results/demo/summary",
        token,
        params={"weight_min": 100, "weight_max": 110, "crcl_max": 40, "cyp2c9": [2]},
    )
    assert tiny.status_code == 403
    # the modeler sees the exact population and patient rows
    modeler = api.token("modeler-app")
    full = _get(api, "/v1/results/demo/summary", modeler, params={"weight_min": 61}).json()
    assert full["weight_range"][0] == 61.0


def test_an_answer_reaches_the_client_only_once_it_is_audited(api, audit_path, monkeypatch):
    """A slow trail must hold the answer back, not be written after the client has it."""
    import twinlab.api.middleware as middleware

    slow = middleware.audit_event

    def slow_audit(*args, **kwargs):
        time.sleep(0.3)
        return slow(*args, **kwargs)

    monkeypatch.setattr(middleware, "audit_event", slow_audit)
    refused = _get(api, "/v1/results", api.forge(aud="someone-else"))
    assert refused.status_code == 401
    entries = [json.loads(line) for line in audit_path.read_text().splitlines()]
    last = [e for e in entries if e["action"].startswith("api.")][-1]
    assert last["action"] == "api.denied" and last["target"] == "/v1/results"
    assert last["params"]["refusal"] == "token is for another audience"


def test_every_request_and_refusal_audited(api, audit_path):
    token = api.token("modeler-app")
    assert _get(api, "/v1/results", token).status_code == 200
    assert _get(api, "/v1/results", api.forge(aud="x")).status_code == 401
    entries = [json.loads(line) for line in audit_path.read_text().splitlines()]
    requests = [e for e in entries if e["action"] == "api.request"]
    denied = [e for e in entries if e["action"] == "api.denied"]
    last = next(e for e in reversed(requests) if e["target"] == "/v1/results")
    assert last["actor"] == "modeler-app" and last["params"]["client"] == "modeler-app"
    assert "read_aggregate" in last["params"]["scope"] and len(last["new"]["result_sha256"]) == 64
    assert any(e["params"].get("refusal") == "token is for another audience" for e in denied)
    tokens = [e for e in requests if e["target"] == "/oauth/token"]
    assert tokens and all("client_secret" not in json.dumps(e) for e in tokens)
    assert verify(audit_path).ok
