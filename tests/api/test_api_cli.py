"""``twinlab api`` commands: add-client (hashed secret, private file), rotate-key, and the
server's secure defaults."""

from __future__ import annotations

import json
import stat

from click.testing import CliRunner

from twinlab.api.cli import api
from twinlab.api.clients import authenticate_client, load_clients

API_CLI = api  # the test of a served client takes the 'api' fixture


def test_add_client_stores_only_a_hash_in_a_private_file(tmp_path):
    clients = tmp_path / "home" / "clients.json"
    out = CliRunner().invoke(
        api, ["add-client", "etl-1", "--role", "reviewer", "--scope", "export_data",
              "--clients", str(clients)],
    )  # fmt: skip
    assert out.exit_code == 0, out.output
    secret = out.output.split("client_secret=")[1].split()[0]
    assert stat.S_IMODE(clients.stat().st_mode) == 0o600
    text = clients.read_text()
    assert secret not in text and "$argon2id$" in text
    entry = json.loads(text)["etl-1"]
    assert entry["role"] == "reviewer" and entry["scopes"] == ["export_data"]
    assert authenticate_client(load_clients(clients), "etl-1", secret) is not None
    assert authenticate_client(load_clients(clients), "etl-1", secret + "x") is None
    escalate = CliRunner().invoke(
        api, ["add-client", "x", "--role", "stakeholder", "--scope", "read_patient_level",
              "--clients", str(clients)],
    )  # fmt: skip
    assert escalate.exit_code == 2 and "may not have scopes" in escalate.output
    clients.chmod(0o644)
    bad = CliRunner().invoke(api, ["add-client", "y", "--role", "modeler", "--clients",
                                   str(clients)])  # fmt: skip
    assert bad.exit_code == 2 and "chmod 600" in bad.output


def test_a_removed_or_rekeyed_client_is_refused_at_once(api, tmp_path):
    from api_fixtures import serving

    settings = api.settings.with_(clients_file=tmp_path / "clients.json")
    add = ["add-client", "etl-1", "--role", "reviewer", "--clients", str(settings.clients_file)]
    out = CliRunner().invoke(API_CLI, add)
    secrets = {"etl-1": out.output.split("client_secret=")[1].split()[0]}
    with serving(settings, secrets) as served, served.http() as http:
        token = served.token("etl-1")

        def models(tok: str) -> int:
            return http.get("/v1/models", headers={"Authorization": f"Bearer {tok}"}).status_code

        assert models(token) == 200
        # registered again (a new secret, as after a leak): tokens of the old secret stop
        out = CliRunner().invoke(API_CLI, add)
        served.secrets["etl-1"] = out.output.split("client_secret=")[1].split()[0]
        assert models(token) == 401
        token = served.token("etl-1")
        assert models(token) == 200
        remove = ["remove-client", "etl-1", "--clients", str(settings.clients_file)]
        out = CliRunner().invoke(API_CLI, remove)
        assert out.exit_code == 0 and "removed etl-1" in out.output
        assert models(token) == 401  # at once, not when the token expires
        again = CliRunner().invoke(API_CLI, remove)
        assert again.exit_code == 2 and "no client 'etl-1'" in again.output


def test_rotate_key_and_secure_defaults(tmp_path):
    keys = tmp_path / "keys"
    first = CliRunner().invoke(api, ["rotate-key", "--key-dir", str(keys)])
    second = CliRunner().invoke(api, ["rotate-key", "--key-dir", str(keys), "--keep", "1"])
    assert first.exit_code == 0 and second.exit_code == 0 and "retired" in second.output
    assert len(list(keys.glob("*.pem"))) == 1
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in keys.glob("*.pem"))
    off_loopback = CliRunner().invoke(
        api, ["serve", "--host", "0.0.0.0", "--insecure-http", "--project", str(tmp_path)]
    )
    assert off_loopback.exit_code == 2 and "loopback only" in off_loopback.output


def test_a_project_folder_that_does_not_exist_is_refused_not_made(tmp_path):
    """A mistyped --project was created (with an empty job store) and served."""
    missing = tmp_path / "no-such-project"
    cert = tmp_path / "cert.pem"
    cert.write_text("x")  # half a TLS setting: refused before serving, were the project taken
    args = ["serve", "--project", str(missing), "--tls-cert", str(cert)]
    out = CliRunner().invoke(API_CLI, args)
    assert out.exit_code == 2 and "Traceback" not in out.output
    assert "does not exist" in out.output
    assert not missing.exists()
