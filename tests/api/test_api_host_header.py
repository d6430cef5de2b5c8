"""The request's ``Host`` header is the client's to choose: nothing the service answers is
built from it. OpenID discovery names its endpoints under the configured public URL (the
one ``serve`` sets by default), and no trailing-slash redirect echoes the host (a real
server over TLS, a forged ``Host``)."""

from __future__ import annotations

import threading
import time

import pytest
import uvicorn
from api_fixtures import Served, free_port, serving
from click.testing import CliRunner

from twinlab.api import server
from twinlab.api.cli import api as API_CLI
from twinlab.api.keys import tls_files
from twinlab.api.settings import ApiSettings

EVIL = {"Host": "evil.example"}


def test_discovery_names_the_configured_public_url_whatever_the_host(api_settings, api_secrets):
    settings = api_settings.with_(public_url="https://twins.example.org:8443/")
    with serving(settings, api_secrets) as served, served.http() as http:
        forged = http.get("/.well-known/openid-configuration", headers=EVIL)
        plain = http.get("/.well-known/openid-configuration")
    assert forged.status_code == 200 and forged.json() == plain.json()
    assert forged.json()["token_endpoint"] == "https://twins.example.org:8443/oauth/token"
    assert forged.json()["jwks_uri"] == "https://twins.example.org:8443/.well-known/jwks.json"
    assert "evil" not in forged.text


def test_no_answer_echoes_a_forged_host(api):
    token = api.token("modeler-app")
    with api.http() as http:
        answers = [
            http.get("/healthz/", headers=EVIL),
            http.get("/v1/results/", headers={**EVIL, "Authorization": f"Bearer {token}"}),
            http.get("/.well-known/openid-configuration", headers=EVIL),
        ]
    for r in answers:
        assert r.status_code == 404, (r.request.url, r.status_code)  # no redirect
        assert "location" not in r.headers
        assert "evil" not in r.text
    assert "--public-url" in answers[-1].json()["detail"]  # not configured: says how


def test_serve_sets_the_public_url_from_the_address_it_listens_on(
    api_settings, api_secrets, monkeypatch
):
    """``serve`` run for real (its app on the port it was given): discovery names that port."""
    seen: dict = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.update(app=app, **kw))
    port = free_port()
    server.serve(api_settings, host="127.0.0.1", port=port)
    config = uvicorn.Config(
        seen["app"],
        host="127.0.0.1",
        port=port,
        log_level="critical",
        ssl_certfile=seen["ssl_certfile"],
        ssl_keyfile=seen["ssl_keyfile"],
    )
    run = uvicorn.Server(config)
    thread = threading.Thread(target=run.run, daemon=True)
    thread.start()
    while not run.started:
        assert thread.is_alive()
        time.sleep(0.05)
    cert, _ = tls_files(api_settings.key_dir)
    try:
        served = Served(f"https://127.0.0.1:{port}", api_settings, cert, api_secrets)
        with served.http() as http:
            found = http.get("/.well-known/openid-configuration", headers=EVIL).json()
    finally:
        run.should_exit = True
        thread.join(timeout=10)
    assert found["token_endpoint"] == f"https://127.0.0.1:{port}/oauth/token"
    assert server.default_public_url("0.0.0.0", 443).startswith("https://")
    assert server.default_public_url("::1", 80, https=False) == "http://[::1]"


@pytest.mark.parametrize(
    "url", ["ftp://x.example", "https://", "https://u:p@x.example", "https://x.example/?a=1"]
)
def test_a_bad_public_url_is_a_one_line_error(url, tmp_path):
    with pytest.raises(ValueError, match="must be http"):
        ApiSettings(public_url=url)
    out = CliRunner().invoke(API_CLI, ["serve", "--project", str(tmp_path), "--public-url", url])
    assert out.exit_code == 2 and "Traceback" not in out.output
    assert "must be http(s)://host" in out.output
