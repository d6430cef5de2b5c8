"""Red-team attacks on the results API that the other suites do not make: JWT header and
claim tricks (``alg=none``, HS256 signed with the public key, a ``kid`` naming a file, times
far in the future, missing ``aud``/``exp``, a token of megabytes), and a token that outlives
a change of its client's role or scopes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import pytest
from api_fixtures import serving

from twinlab.api.clients import add_client, load_clients
from twinlab.api.keys import jwks


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _hand_made(header: dict, claims: dict, key: bytes | None) -> str:
    """A JWT assembled by hand (``key``: HMAC-SHA256 secret; ``None``: no signature)."""
    signing = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    sig = b"" if key is None else hmac.new(key, signing.encode(), hashlib.sha256).digest()
    return f"{signing}.{_b64(sig)}"


def _claims(api) -> dict:
    now = int(time.time())
    return {"iss": api.settings.issuer, "aud": api.settings.audience, "sub": "reviewer-app",
            "iat": now, "nbf": now, "exp": now + 300, "twinlab_role": "reviewer",
            "scope": "read_aggregate read_patient_level"}  # fmt: skip


def test_unsigned_and_hmac_confused_tokens_are_refused(api):
    """``alg: none`` and HS256 keyed with the issuer's own public key (as JWK JSON, as its
    ``x`` coordinate, as PEM) are classic forgeries: each is 401, naming no key material."""
    from cryptography.hazmat.primitives import serialization

    from twinlab.api.keys import signing_key

    kid, key = signing_key(api.settings.key_dir)
    public = next(jwk for jwk in jwks(api.settings.key_dir)["keys"] if jwk["kid"] == kid)
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    claims = _claims(api)
    forged = [
        _hand_made({"alg": "none", "typ": "JWT", "kid": kid}, claims, None),
        _hand_made({"alg": "None", "kid": kid}, claims, None),
        _hand_made({"alg": "HS256", "kid": kid}, claims, json.dumps(public).encode()),
        _hand_made({"alg": "HS256", "kid": kid}, claims, public["x"].encode()),
        _hand_made({"alg": "HS256", "kid": kid}, claims, pem),
        _hand_made({"alg": "ES256", "kid": kid}, claims, pem),  # an HMAC called ES256
    ]
    with api.http() as http:
        answers = [http.get("/v1/results/demo/patients", headers=_auth(t)) for t in forged]
    assert [r.status_code for r in answers] == [401] * len(forged)
    for r in answers:
        assert public["x"] not in r.text and "BEGIN" not in r.text


@pytest.mark.parametrize(
    "kid",
    ["../../../../etc/passwd", "/dev/zero", "..%2f..%2fclients.json", "clients",
     "tls-key", "x" * 5000, "\x00", "000001"],
)  # fmt: skip
def test_a_kid_naming_a_file_or_nonsense_is_an_unknown_key(api, kid):
    """The ``kid`` is looked up among the published keys only, never opened as a path."""
    with api.http() as http:
        r = http.get("/v1/results", headers=_auth(api.forge(kid=kid)))
    assert r.status_code == 401
    assert r.json()["detail"] in ("token signed by an unknown key", "malformed token")
    assert kid not in r.text or len(kid) < 3


@pytest.mark.parametrize(
    "claims, why",
    [({"nbf": int(time.time()) + 10**8}, "not valid yet"),
     ({"iat": int(time.time()) + 10**8}, "not valid yet"),
     ({"exp": int(time.time()) - 60}, "expired"),
     ({"exp": None}, "invalid token"),
     ({"aud": None}, "invalid token"),
     ({"iss": None}, "invalid token"),
     ({"sub": None}, "invalid token"),
     ({"aud": "https://elsewhere.example"}, "another audience"),
     ({"iss": "https://evil.example"}, "another issuer"),
     ({"exp": "tomorrow"}, "invalid token"),
     ({"twinlab_role": "superuser"}, "no known role"),
     ({"twinlab_role": ["reviewer"]}, "no known role"),
     ({"sub": "no-such-client"}, "removed")],
)  # fmt: skip
def test_bad_times_and_missing_claims_are_refused(api, claims, why):
    with api.http() as http:
        r = http.get("/v1/results", headers=_auth(api.forge(**claims)))
    assert r.status_code == 401, r.text[:300]
    assert why in r.json()["detail"]


def test_a_token_of_megabytes_is_refused_without_echo(api):
    token = api.forge(padding="A" * 200_000)
    with api.http() as http:
        r = http.get("/v1/results", headers=_auth(token))
    assert r.status_code in (400, 401, 431)
    assert "AAAAAAAAAA" not in r.text


def test_a_tokens_role_and_scopes_go_with_its_clients_registration(api_settings, tmp_path):
    """A client demoted (role or scopes narrowed in the clients file, its secret kept) loses
    what it lost at once: its tokens issued before carry the old role and scopes, and must
    not keep them until they expire."""
    settings = api_settings.with_(clients_file=tmp_path / "clients.json")
    secrets = {"reviewer-app": add_client(settings.clients_file, "reviewer-app", "reviewer")}
    with serving(settings, secrets) as served:
        token = served.token("reviewer-app")
        with served.http() as http:
            assert http.get("/v1/results/demo/patients", headers=_auth(token)).status_code == 200
            clients = load_clients(settings.clients_file)
            clients["reviewer-app"]["scopes"] = ["read_aggregate"]  # narrowed, same secret
            _rewrite(settings.clients_file, clients)
            r = http.get("/v1/results/demo/patients", headers=_auth(token))
            assert r.status_code in (401, 403), r.status_code
            clients["reviewer-app"].update(role="stakeholder", scopes=["read_aggregate"])
            _rewrite(settings.clients_file, clients)
            r = http.get("/v1/results", headers=_auth(token))
            assert r.status_code == 401, r.text[:300]
            fresh = served.token("reviewer-app")  # a new token: the new role and scopes
            assert http.get("/v1/results", headers=_auth(fresh)).status_code == 200
            r = http.get("/v1/results/demo/patients", headers=_auth(fresh))
            assert r.status_code == 403


def _rewrite(file, clients) -> None:
    import os

    tmp = file.with_name(f".{file.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(clients, fh)
    os.replace(tmp, file)


def test_odm_values_cannot_add_elements_to_the_write_back():
    """Text that reaches the ODM file (the twin's version from ``run.json``, the EDC's
    subject keys from the crosswalk) closing its attribute and adding an ``ItemData`` of its
    own stays one attribute value; a control character is refused, not written."""
    from lxml import etree

    from twinlab.api.odm_export import ExportItem, OdmSchemaError, build_odm, validate_odm

    items = [ExportItem("IT.V", "Version", "text"), ExportItem("IT.S", "Score", "float")]
    evil = 'x"/><ItemData ItemOID="IT.S" Value="999"/><!--'
    key = "SUBJ-'\"><x>&amp;]]>"
    data = build_odm([{"subject_key": key, "IT.V": evil, "IT.S": 1.5}], items, study_oid="S1")
    validate_odm(data)
    ns = {"o": "http://www.cdisc.org/ns/odm/v1.3"}
    doc = etree.fromstring(data)
    assert [(e.get("ItemOID"), e.get("Value")) for e in doc.iterfind(".//o:ItemData", ns)] == [
        ("IT.V", evil),
        ("IT.S", "1.5"),
    ]
    assert [e.get("SubjectKey") for e in doc.iterfind(".//o:SubjectData", ns)] == [key]
    bad = build_odm([{"subject_key": "S\x01", "IT.V": "v", "IT.S": 1.0}], items, study_oid="S1")
    with pytest.raises(OdmSchemaError, match="not well-formed") as caught:
        validate_odm(bad)
    assert "S\x01" not in str(caught.value)


@pytest.mark.parametrize(
    "run",
    ["..", "%2e%2e", "%2e%2e%2f%2e%2e%2fetc", "demo%00", "demo%2f..%2fdemo", "..%5c..%5cdemo",
     ".hidden", "api", "job-", "job-..", "job-%2e%2e", "demo%20", "DEMO", "demo.", "~root"],
)  # fmt: skip
def test_a_run_name_is_never_a_path(api, run):
    token = api.token("reviewer-app")
    with api.http() as http:
        r = http.get(f"/v1/results/{run}/patients", headers=_auth(token))
    assert r.status_code in (404, 422), (run, r.status_code)
    assert str(api.settings.results) not in r.text and "Traceback" not in r.text


def test_a_request_body_cannot_name_its_owner_or_role(api):
    """Mass assignment: fields that would set who owns a job or what role acts are refused
    (422), never taken or silently dropped."""
    token = api.token("stakeholder-app")
    job = {"arms": {"A": {"dose": 1}}, "n_patients": 5}
    with api.http(headers=_auth(token)) as http:
        for extra in ({"client": "reviewer-app"}, {"owner": "reviewer-app"},
                      {"role": "reviewer"}, {"scopes": ["read_all_jobs"]}):  # fmt: skip
            r = http.post("/v1/jobs", json={**job, **extra})
            assert r.status_code == 422, (extra, r.status_code)
        export = {"run": "demo", "arm": "T100", "control_arm": "Placebo", "subjects": ["P001"],
                  "study_oid": "S1", "role": "reviewer"}  # fmt: skip
        assert http.post("/v1/edc/export", json=export).status_code in (403, 422)


def _audited(audit_path, target: str) -> list[dict]:
    lines = audit_path.read_text().splitlines() if audit_path.is_file() else []
    return [e for e in map(json.loads, lines) if e.get("target") == target]


@pytest.mark.parametrize(
    "method, path",
    [("POST", "/v1/prognostic-scores/"), ("POST", "/v1/prognostic_scores"),
     ("PUT", "/v1/prognostic-scores"), ("POST", "/v1/trials/power"),
     ("POST", "/v1/edc/export/"), ("POST", "/v1/nothing")],
)  # fmt: skip
def test_patient_data_sent_to_the_wrong_route_stays_out_of_the_trail(api, audit_path, method, path):
    """A client's slip (a trailing slash, a typo, the wrong method, subjects posted to an
    aggregate route) sends enrolled subjects' covariates where no patient-level route
    marks the body hash-only: the trail, read by admins without patient-level access, kept
    them in clear. Only an accepted request of a route that is not patient-level keeps
    its body."""
    body = {"run": "demo", "control_arm": "T100", "target": "auc", "delta": 1, "sd": 2,
            "subjects": [{"subject": "P-SECRET-7", "covariates": {"WT": 71.234567}}]}  # fmt: skip
    with api.http(headers=_auth(api.token("reviewer-app"))) as http:
        r = http.request(method, path, json=body)
    assert r.status_code >= 300
    entries = _audited(audit_path, path)
    assert entries, path
    text = json.dumps(entries[-1])
    assert "P-SECRET-7" not in text and "71.234567" not in text
    assert len(entries[-1]["params"].get("body_sha256", "0" * 64)) == 64


def test_no_origin_may_read_an_answer_and_the_jwks_holds_no_private_key(api):
    """The API takes bearer tokens only, so another site's page cannot act with a user's
    cookies; no answer may grant it reading either (no CORS), a preflight included. The
    published key set carries public members only (``d`` is an EC private key)."""
    token = api.token("reviewer-app")
    evil = {"Origin": "https://evil.example"}
    with api.http() as http:
        answers = [
            http.get("/v1/results", headers={**evil, **_auth(token)}),
            http.get("/v1/results/demo/patients", headers={**evil, **_auth(token)}),
            http.options(
                "/v1/results",
                headers={
                    **evil,
                    "Access-Control-Request-Method": "GET",
                    "Access-Control-Request-Headers": "authorization",
                },
            ),
            http.get("/.well-known/jwks.json", headers=evil),
        ]
        jwks_body = answers[-1].json()
    for r in answers:
        assert not any(h.lower().startswith("access-control-") for h in r.headers), r.headers
    assert jwks_body["keys"] and all(
        set(k) <= {"kty", "crv", "x", "y", "kid", "use", "alg"} for k in jwks_body["keys"]
    )


@pytest.mark.parametrize("query", ["jwt", "t", "bearer", "id"])
def test_a_token_sent_in_the_query_string_is_not_written_to_the_trail(api, audit_path, query):
    """A client that puts its bearer token in the URL (``?jwt=...``, a name the trail does
    not see as secret) had it written to the signed, append-only trail, where an admin
    (who by separation of duties reads no patient data) could replay a reviewer's token."""
    token = api.token("reviewer-app")
    with api.http() as http:
        http.get("/v1/results", params={query: token}, headers=_auth(token))
        http.get(f"/v1/{token}")
    tail = audit_path.read_text().splitlines()[-4:]
    signature = token.rsplit(".", 1)[1]
    assert not any(signature in line for line in tail)


@pytest.mark.parametrize("method", ["HEAD", "OPTIONS", "TRACE", "PATCH"])
def test_other_methods_on_a_patient_level_route_get_nothing_without_a_token(api, method):
    with api.http() as http:
        r = http.request(method, "/v1/results/demo/patients")
    assert r.status_code in (401, 405), (method, r.status_code)
    assert "P0" not in r.text and r.headers.get("x-total-count") is None
