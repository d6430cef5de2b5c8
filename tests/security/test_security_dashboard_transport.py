"""``twinlab serve`` (the dashboards) sends passwords, session cookies and patient-level
pages: off loopback it serves HTTPS only, as ``twinlab api`` does, unless the user turns
that off on purpose (``--insecure-http``, behind a TLS-terminating proxy)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from twinlab.apps.auth import add_user
from twinlab.cli.apps import serve
from twinlab.security.tls import make_test_certificates


@pytest.fixture
def args(tmp_path, monkeypatch) -> list[str]:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TWINLAB_AUDIT_UNSIGNED", "1")
    project = tmp_path / "project"
    project.mkdir()
    users = tmp_path / "home" / "users.json"
    users.parent.mkdir()
    add_user(users, "ana", "modeler", "correct horse battery staple")
    return ["--root", str(project), "--auth", str(users), "--dry-run"]


def _panel_address(output: str) -> str:
    argv = output.split()
    return argv[argv.index("--address") + 1]


@pytest.mark.parametrize("address", ["0.0.0.0", "::", "10.1.2.3", "dashboards.example.org"])
def test_plain_http_off_loopback_is_refused(args, address):
    res = CliRunner().invoke(serve, [*args, "--address", address])
    assert res.exit_code == 2, res.output
    error = [line for line in res.output.splitlines() if "Error" in line]
    assert len(error) == 1 and "--tls-cert" in error[0] and "in the clear" in error[0]


@pytest.mark.parametrize("address", ["127.0.0.1", "localhost", "::1"])
def test_plain_http_on_loopback_is_served(args, address):
    res = CliRunner().invoke(serve, [*args, "--address", address])
    assert res.exit_code == 0, res.output
    assert _panel_address(res.output) == address


def test_off_loopback_with_tls_or_when_turned_off_on_purpose(args, tmp_path):
    files = make_test_certificates(tmp_path / "tls")
    tls = ["--tls-cert", str(files.cert_file), "--tls-key", str(files.key_file)]
    res = CliRunner().invoke(serve, [*args, "--address", "0.0.0.0", *tls])
    assert res.exit_code == 0, res.output
    assert "--ssl-certfile" in res.output.split()
    res = CliRunner().invoke(serve, [*args, "--address", "0.0.0.0", "--insecure-http"])
    assert res.exit_code == 0, res.output
    assert _panel_address(res.output) == "0.0.0.0"


def test_a_cookie_secret_file_others_may_read_is_refused(args, tmp_path):
    """Tornado signs session cookies with it: whoever reads it logs in as anyone."""
    secret = tmp_path / "home" / "cookie-secret"
    secret.write_text("c" * 48)
    secret.chmod(0o644)
    res = CliRunner().invoke(serve, [*args, "--cookie-secret-file", str(secret)])
    assert res.exit_code == 2 and "chmod 600" in res.output, res.output
    secret.chmod(0o600)
    assert CliRunner().invoke(serve, [*args, "--cookie-secret-file", str(secret)]).exit_code == 0


@pytest.mark.parametrize("where", ["option", "environment"])
@pytest.mark.parametrize("origin", ["*", "*:5006"])
def test_a_websocket_origin_matching_any_site_is_refused(args, monkeypatch, where, origin):
    """Any origin would let another site (a sibling subdomain gets the session cookie)
    open the dashboards' websocket as the user; Bokeh's environment variable replaces the
    command line's list, so it is checked too."""
    extra = ["--allow-websocket-origin", origin]
    if where == "environment":
        monkeypatch.setenv("BOKEH_ALLOW_WS_ORIGIN", f"dash.example.org:5006,{origin}")
        extra = []
    res = CliRunner().invoke(serve, [*args, *extra])
    assert res.exit_code == 2 and "websocket origin" in res.output, res.output
    named = ["--allow-websocket-origin", "dash.example.org:5006"]
    monkeypatch.setenv("BOKEH_ALLOW_WS_ORIGIN", "dash.example.org:5006")
    assert CliRunner().invoke(serve, [*args, *named]).exit_code == 0
