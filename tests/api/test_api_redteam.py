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
