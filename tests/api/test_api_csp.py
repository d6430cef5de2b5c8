"""The results API's content policy on every kind of answer of a real server: a JSON
service loads nothing and is never framed, so each answer – a result, a refusal, an
unknown route, a wrong method, a validation error, a token endpoint error and a throttled
request – says ``default-src 'none'; frame-ancestors 'none'``."""

from __future__ import annotations

from api_fixtures import serving

POLICY = "default-src 'none'; frame-ancestors 'none'"


def test_every_kind_of_answer_carries_the_policy(api):
    token = api.token("modeler-app")
    auth = {"Authorization": f"Bearer {token}"}
    slow = api.settings.with_(rate_per_s=1e-6, burst=1.0, throttle_audit_window_s=1e9)
    with api.http() as http:
        answers = [
            http.get("/healthz"),
            http.get("/v1/results", headers=auth),
            http.get("/v1/results"),
            http.get("/nope"),
            http.delete("/healthz"),
            http.post("/v1/trials/power", json={"delta": "x"}, headers=auth),
            http.post("/oauth/token", data={"grant_type": "password"}),
        ]
    with serving(slow, api.secrets) as served, served.http() as http:
        answers += [http.get("/v1/results") for _ in range(2)]
    codes = [r.status_code for r in answers]
    assert codes == [200, 200, 401, 404, 405, 422, 400, 401, 429], codes
    assert [r.headers.get("content-security-policy") for r in answers] == [POLICY] * 9
