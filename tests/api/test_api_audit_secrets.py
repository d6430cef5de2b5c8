"""Client secrets never reach the signed, append-only audit trail: a token request sent as
JSON (a JSON object, or the form encoded once more as a JSON string, which also parsed as a
valid form and was granted) is refused with a word on the form it needs, and the token
endpoint's body is never written."""

from __future__ import annotations

import json


def test_a_json_token_request_is_refused_and_its_secret_not_audited(api, audit_path):
    secret = api.secrets["reviewer-app"]
    bodies = [
        json.dumps(
            {
                "grant_type": "client_credentials",
                "client_id": "reviewer-app",
                "client_secret": secret,
            }
        ),
        # both a JSON string and a valid form
        json.dumps(
            f"a=1&grant_type=client_credentials&client_id=reviewer-app&client_secret={secret}&b="
        ),
    ]
    with api.http() as http:
        for body in bodies:
            r = http.post(
                "/oauth/token", content=body, headers={"Content-Type": "application/json"}
            )
            assert r.status_code == 400, r.text
            assert r.json()["error"] == "invalid_request"
            assert "x-www-form-urlencoded" in r.json()["error_description"]
        form = {"grant_type": "client_credentials", "client_id": "reviewer-app",
                "client_secret": secret}  # fmt: skip
        assert http.post("/oauth/token", data=form).status_code == 200  # a form still works
    assert secret not in audit_path.read_text()
