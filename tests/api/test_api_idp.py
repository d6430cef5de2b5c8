"""An external identity provider: RS256 tokens verified against its JWKS served over HTTP on
loopback, a rotated key fetched again by kid, foreign keys refused."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from twinlab.api import ApiSettings
from twinlab.api.tokens import TokenError, TokenVerifier

ISSUER = "https://idp.example.org/realms/trials"


class _Idp:
    """A JWKS endpoint whose keys the test changes (rotation)."""

    def __init__(self) -> None:
        self.keys: dict[str, rsa.RSAPrivateKey] = {}
        idp = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                jwks = {"keys": [
                    {**json.loads(RSAAlgorithm.to_jwk(k.public_key())), "kid": kid,
                     "alg": "RS256", "use": "sig"} for kid, k in idp.keys.items()]}  # fmt: skip
                body = json.dumps(jwks).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/certs"

    def add(self, kid: str) -> None:
        self.keys[kid] = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def token(self, kid: str, **claims) -> str:
        now = int(time.time())
        body = {"iss": ISSUER, "aud": "twinlab-api", "sub": "svc-stats", "iat": now,
                "exp": now + 300, "scp": ["read_aggregate"], "twinlab_role": "reviewer",
                **claims}  # fmt: skip
        return jwt.encode(body, self.keys[kid], algorithm="RS256", headers={"kid": kid})


@pytest.fixture
def idp():
    server = _Idp()
    yield server
    server.server.shutdown()


def test_external_idp_rs256_and_rotation(idp, tmp_path):
    idp.add("k1")
    settings = ApiSettings(issuer=ISSUER, jwks_url=idp.url, key_dir=tmp_path, jwks_cooldown_s=0)
    verifier = TokenVerifier(settings)
    who = verifier.verify(idp.token("k1"))
    assert (who.client, who.role, who.may("read_aggregate")) == ("svc-stats", "reviewer", True)
    assert not who.may("read_patient_level")  # the scope does not grant it
    idp.add("k2")  # the provider rotates: a token of the new key is fetched by its kid
    assert verifier.verify(idp.token("k2")).client == "svc-stats"
    stranger = _Idp()
    stranger.add("k1")  # the same kid, another key
    with pytest.raises(TokenError, match="invalid token"):
        verifier.verify(stranger.token("k1"))
    with pytest.raises(TokenError, match="issuer"):
        verifier.verify(idp.token("k1", iss="https://evil.example.org"))
    stranger.server.shutdown()


def test_an_unknown_kid_is_not_echoed(idp, tmp_path):
    """The refusal (sent to the caller, audited) names no attacker-chosen ``kid``."""
    idp.add("k1")
    settings = ApiSettings(issuer=ISSUER, jwks_url=idp.url, key_dir=tmp_path, jwks_cooldown_s=0)
    stranger = _Idp()
    stranger.add("SUBJ-0042 Jane Doe")
    with pytest.raises(TokenError) as refused:
        TokenVerifier(settings).verify(stranger.token("SUBJ-0042 Jane Doe"))
    stranger.server.shutdown()
    assert "Jane" not in str(refused.value) and "unknown key" in str(refused.value)
