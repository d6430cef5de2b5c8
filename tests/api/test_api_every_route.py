"""Deny by default on every route the service has, as its OpenAPI schema lists them (a
route added later is checked too): without a token ``401``, with a valid token that grants
nothing ``403``; only the listed public routes answer without one."""

from __future__ import annotations

import re

#: routes that need no token (the token endpoint, key discovery, liveness, the schema)
PUBLIC = {
    ("GET", "/healthz"),
    ("GET", "/openapi.json"),
    ("GET", "/.well-known/jwks.json"),
    ("GET", "/.well-known/openid-configuration"),
    ("POST", "/oauth/token"),
}
_VALUES = {"name": "twin_test", "version": "1", "run": "demo", "job_id": "0" * 32}


def _routes(api) -> list[tuple[str, str]]:
    with api.http() as http:
        spec = http.get("/openapi.json").json()
    out = [(m.upper(), p) for p, ops in spec["paths"].items() for m in ops]
    out.append(("GET", "/openapi.json"))
    return out


def _url(path: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: _VALUES[m.group(1)], path)


def test_every_route_but_the_public_ones_needs_a_token_that_grants_it(api):
    routes = _routes(api)
    assert len(routes) >= 20 and PUBLIC <= set(routes)
    nothing = api.forge(sub="modeler-app", scope="")  # valid, registered, grants no action
    with api.http() as http:
        for method, path in routes:
            if (method, path) in PUBLIC:
                continue
            body = {"json": {}} if method in ("POST", "PUT", "PATCH") else {}
            anonymous = http.request(method, _url(path), **body)
            assert anonymous.status_code == 401, (method, path, anonymous.text)
            assert anonymous.headers["www-authenticate"].startswith("Bearer")
            headers = {"Authorization": f"Bearer {nothing}"}
            refused = http.request(method, _url(path), headers=headers, **body)
            assert refused.status_code == 403, (method, path, refused.text)
