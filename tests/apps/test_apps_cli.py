"""``twinlab serve``: the panel serve command it builds, its checks, adding users."""

from __future__ import annotations

import json
import os

import pytest
from click.testing import CliRunner

from twinlab.apps.auth import authenticate
from twinlab.apps.serving import oauth_settings, serve_command
from twinlab.cli.apps import serve
from twinlab.security.keyfiles import init_local_keys

AUDIT_ENV = {"TWINLAB_AUDIT_KEY": "a2V5"}  # present: serve checks that a key is configured
OAUTH_ENV = {
    "PANEL_OAUTH_KEY": "id",
    "PANEL_OAUTH_SECRET": "s",
    "PANEL_OAUTH_ENCRYPTION": "k",
    **AUDIT_ENV,
}


def test_serve_command_uses_the_hashed_auth_module_and_keeps_secrets_off_argv(project, credentials):
    argv, env = serve_command(
        root=project,
        port=5123,
        credentials=credentials,
        env={"TWINLAB_COOKIE_SECRET": "x" * 40, **AUDIT_ENV},
    )
    assert argv[1:4] == ["-m", "panel", "serve"]
    assert argv[argv.index("--auth-module") + 1].endswith("twinlab/apps/auth_module.py")
    assert argv[argv.index("--setup") + 1].endswith("twinlab/apps/server_setup.py")
    assert argv[argv.index("--address") + 1] == "127.0.0.1"
    assert "--basic-auth" not in argv
    assert "--enable-xsrf-cookies" in argv
    assert env["PANEL_COOKIE_SECRET"] == "x" * 40
    assert "x" * 40 not in " ".join(argv) and str(credentials) not in " ".join(argv)
    assert env["TWINLAB_CREDENTIALS"] == str(credentials.resolve())
    assert {a.rsplit("/", 1)[-1] for a in argv if a.endswith(".py")} >= {
        "whatif.py",
        "cohort.py",
        "patients.py",
        "reviewer.py",
    }


def test_serve_refuses_credentials_inside_the_project_and_empty_files(project, tmp_path):
    inside = project / "users.json"
    inside.write_text(json.dumps({"ana": {"role": "modeler", "password_hash": "x"}}))
    with pytest.raises(ValueError, match="inside the project"):
        serve_command(root=project, credentials=inside)
    with pytest.raises(ValueError, match="no users"):
        serve_command(root=project, credentials=tmp_path / "none.json")
    with pytest.raises(ValueError, match="unknown page"):
        serve_command(root=project, credentials=tmp_path / "none.json", pages=["admin"])


def test_oauth_configuration_is_validated():
    assert oauth_settings("github", OAUTH_ENV) == {"--oauth-provider": "github"}
    with pytest.raises(ValueError, match="unknown OAuth provider"):
        oauth_settings("myspace", OAUTH_ENV)
    with pytest.raises(ValueError, match="PANEL_OAUTH_SECRET"):
        oauth_settings("github", {"PANEL_OAUTH_KEY": "id"})
    with pytest.raises(ValueError, match="PANEL_OAUTH_ENCRYPTION"):
        oauth_settings("github", {"PANEL_OAUTH_KEY": "id", "PANEL_OAUTH_SECRET": "s"})


def test_oauth_serve_command_drops_the_password_module(project, credentials):
    argv, _ = serve_command(
        root=project, credentials=credentials, oauth_provider="google", env=OAUTH_ENV
    )
    assert "--auth-module" not in argv
    assert argv[argv.index("--oauth-provider") + 1] == "google"
    assert "s" not in argv[argv.index("--oauth-provider") :][2:]  # no secret on argv


def test_add_user_prompts_twice_and_stores_a_hash(tmp_path):
    cred = tmp_path / "users.json"
    runner = CliRunner()
    res = runner.invoke(
        serve,
        ["--auth", str(cred), "--add-user", "ana", "--role", "modeler"],
        input="a-long-password\na-long-password\n",
    )
    assert res.exit_code == 0, res.output
    assert authenticate("ana", "a-long-password", cred) == "modeler"
    res = runner.invoke(
        serve,
        ["--auth", str(cred), "--add-user", "bo", "--role", "modeler"],
        input="a-long-password\nanother-one\n",
    )
    assert res.exit_code != 0 and "do not match" in res.output
    res = runner.invoke(serve, ["--auth", str(cred), "--add-user", "bo"])
    assert res.exit_code != 0 and "--role" in res.output


def test_dry_run_prints_the_command_and_errors_are_short(project, credentials):
    runner = CliRunner()
    res = runner.invoke(
        serve, ["--root", str(project), "--auth", str(credentials), "--port", "5999", "--dry-run"]
    )
    assert res.exit_code == 0, res.output
    assert "panel serve" in res.output and "5999" in res.output
    res = runner.invoke(serve, ["--root", str(project), "--auth", str(project / "x.json")])
    assert res.exit_code == 2 and "Traceback" not in res.output


def test_the_server_gets_only_the_environment_it_needs(project, credentials, tmp_path):
    caller = {
        "PATH": "/usr/bin",
        "HOME": "/home/ana",
        "TWINLAB_MASTER_KEY": "m" * 44,
        "TWINLAB_MASTER_KEY_FILE": "/keys/master.key",
        "TWINLAB_DEID_KEY": "d" * 44,
        "TWINLAB_DEID_KEY_FILE": "/keys/deid.key",
        "TWINLAB_BUNDLE_PASSPHRASE": "p",
        "AWS_SECRET_ACCESS_KEY": "aws",
        "TWINLAB_COOKIE_SECRET": "c" * 32,
        "TWINLAB_AUDIT_KEY": "a2V5",
        "TWINLAB_AUDIT_ANCHOR": str(tmp_path / "anchor"),
        "PANEL_OAUTH_ENCRYPTION": "k",
        "TWINLAB_WHATIF_SERVER_MB": "2048",
    }
    _, env = serve_command(root=project, credentials=credentials, env=caller)
    assert not {k for k in env if "MASTER" in k or "DEID" in k or "BUNDLE" in k or "AWS" in k}
    assert "TWINLAB_COOKIE_SECRET" not in env and env["PANEL_COOKIE_SECRET"] == "c" * 32
    for kept in (
        "PATH",
        "HOME",
        "TWINLAB_AUDIT_KEY",
        "TWINLAB_WHATIF_SERVER_MB",
        "TWINLAB_AUDIT_ANCHOR",
        "PANEL_OAUTH_ENCRYPTION",
    ):
        assert env[kept] == caller[kept]
    # the audit log is on by default, in the project's logs (the reviewer view shows it)
    assert env["TWINLAB_AUDIT_LOG"] == str(project.resolve() / "logs" / "audit.jsonl")


@pytest.mark.parametrize("where", ["env", "file"])
def test_a_short_cookie_secret_is_refused(project, credentials, tmp_path, where):
    short = "s" * 31
    kwargs = {"env": {**AUDIT_ENV, "TWINLAB_COOKIE_SECRET": short}}
    if where == "file":
        (tmp_path / "cookie").write_text(short)
        (tmp_path / "cookie").chmod(0o600)  # private, as a cookie secret file must be
        kwargs = {"env": AUDIT_ENV, "cookie_secret_file": tmp_path / "cookie"}
    with pytest.raises(ValueError, match=">= 32 bytes"):
        serve_command(root=project, credentials=credentials, **kwargs)


def test_half_a_tls_configuration_is_refused(project, credentials, tmp_path):
    with pytest.raises(ValueError, match="both --tls-cert and --tls-key"):
        serve_command(root=project, credentials=credentials, tls_cert=tmp_path, env=AUDIT_ENV)


def test_a_tls_key_others_may_read_is_refused(project, credentials, tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.write_text("certificate")
    key.write_text("private key")
    key.chmod(0o644)
    with pytest.raises(ValueError, match="chmod 600"):
        serve_command(
            root=project, credentials=credentials, tls_cert=cert, tls_key=key, env=AUDIT_ENV
        )


def test_serve_without_an_audit_key_refuses_in_one_line(
    project, credentials, monkeypatch, tmp_path
):
    for var in ("TWINLAB_AUDIT_KEY", "TWINLAB_AUDIT_KEY_FILE", "TWINLAB_AUDIT_HMAC_KEY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.delenv("TWINLAB_AUDIT_UNSIGNED", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # a workstation without keys
    args = ["--root", str(project), "--auth", str(credentials), "--dry-run"]
    res = CliRunner().invoke(serve, args)
    assert res.exit_code == 2 and "Traceback" not in res.output
    error = [line for line in res.output.splitlines() if "Error" in line]
    assert len(error) == 1 and "twinlab keys init" in error[0]
    assert "TWINLAB_AUDIT_UNSIGNED=1" in error[0]
    monkeypatch.setenv("TWINLAB_AUDIT_UNSIGNED", "1")  # a throwaway log, on purpose
    assert CliRunner().invoke(serve, args).exit_code == 0


def test_serve_signs_with_this_workstations_audit_key_after_the_demo(
    project, credentials, monkeypatch, tmp_path
):
    # twinlab demo creates ~/.config/twinlab/keys; twinlab serve then signs the same log
    for var in ("TWINLAB_AUDIT_KEY", "TWINLAB_AUDIT_KEY_FILE", "TWINLAB_AUDIT_HMAC_KEY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.delenv("TWINLAB_AUDIT_UNSIGNED", raising=False)
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    keys = init_local_keys()
    _, env = serve_command(root=project, credentials=credentials, env=dict(os.environ))
    assert env["TWINLAB_AUDIT_KEY_FILE"] == str(keys["TWINLAB_AUDIT_KEY_FILE"])
    assert "TWINLAB_DEID_KEY_FILE" not in env and "TWINLAB_MASTER_KEY_FILE" not in env


@pytest.mark.parametrize(
    "name",
    ["PANEL_OAUTH_OPTIONAL", "PANEL_OAUTH_GUEST_ENDPOINTS", "PANEL_BASIC_AUTH",
     "PANEL_ADMIN_ENDPOINT", "BOKEH_XSRF_COOKIES"],
)  # fmt: skip
def test_panel_settings_that_open_the_pages_are_refused(project, credentials, name):
    """Panel and Bokeh read these from the environment, and ``panel serve`` gets the
    ``PANEL_*``/``BOKEH_*`` variables: one left in a shell would let visitors past the
    login (or drop its XSRF check). They are refused, by name."""
    argv, _ = serve_command(root=project, credentials=credentials, env=AUDIT_ENV)
    assert argv  # the same call serves without it
    with pytest.raises(ValueError, match=name):
        serve_command(root=project, credentials=credentials, env={**AUDIT_ENV, name: "1"})


def test_a_project_root_that_does_not_exist_is_one_line(credentials, tmp_path):
    missing = tmp_path / "no-such-project"
    with pytest.raises(ValueError, match="is not a folder"):
        serve_command(root=missing, credentials=credentials, env=AUDIT_ENV)
    res = CliRunner().invoke(
        serve, ["--root", str(missing), "--auth", str(credentials), "--dry-run"], env=AUDIT_ENV
    )
    assert res.exit_code == 2 and "is not a folder" in res.output
    assert "Traceback" not in res.output and not missing.exists()


def test_help_says_when_cookies_are_secure_behind_a_proxy():
    """Behind a TLS-terminating proxy (``--insecure-http``) cookies were silently not
    ``Secure``: ``--help`` says what makes them so (a named proxy's X-Forwarded-Proto)."""
    res = CliRunner().invoke(serve, ["--help"], terminal_width=200)
    assert res.exit_code == 0
    text = " ".join(res.output.split())
    assert "Cookies are then Secure only for requests whose X-Forwarded-Proto is https" in text
    assert "from a --trusted-proxy" in text and "from anyone else they are ignored" in text
