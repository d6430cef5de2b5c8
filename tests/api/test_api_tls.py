"""The self-signed certificate names the host served (and the machine's hostname); one made
earlier that does not is kept, with a warning that says how to replace it."""

from __future__ import annotations

import ipaddress
import logging
import socket

import pytest
import uvicorn
from cryptography import x509

from twinlab.api import server
from twinlab.api.keys import tls_files
from twinlab.api.settings import ApiSettings


def _san(cert) -> tuple[set[str], set]:
    loaded = x509.load_pem_x509_certificate(cert.read_bytes())
    san = loaded.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    dns = {n.lower() for n in san.get_values_for_type(x509.DNSName)}
    return dns, set(san.get_values_for_type(x509.IPAddress))


@pytest.mark.parametrize("host", ["0.0.0.0", "10.1.2.3", "2001:db8::7", "api.example.org"])
def test_self_signed_certificate_names_the_served_host(tmp_path, host):
    cert, _ = tls_files(tmp_path / "keys", host)
    dns, ips = _san(cert)
    assert {"localhost", socket.gethostname().lower()} <= dns
    assert ipaddress.ip_address("127.0.0.1") in ips
    if host == "0.0.0.0":
        assert "0.0.0.0" not in dns and ipaddress.ip_address("0.0.0.0") not in ips
    elif host == "api.example.org":
        assert host in dns
    else:
        assert ipaddress.ip_address(host) in ips


def _serve(tmp_path, monkeypatch, host: str) -> dict:
    seen: dict = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.update(kw))
    monkeypatch.setattr(server, "prepare_audit", lambda project: tmp_path / "audit.jsonl")
    settings = ApiSettings.for_project(
        tmp_path, key_dir=tmp_path / "keys", clients_file=tmp_path / "clients.json"
    )
    server.serve(settings, host=host)
    return seen


def test_a_certificate_not_naming_the_host_is_kept_with_a_warning(tmp_path, monkeypatch, caplog):
    old, _ = tls_files(tmp_path / "keys", "127.0.0.1")  # made for loopback only
    pinned = old.read_bytes()
    with caplog.at_level(logging.WARNING, logger="twinlab.api.server"):
        seen = _serve(tmp_path, monkeypatch, "10.9.8.7")
    assert seen["ssl_certfile"] == str(old) and old.read_bytes() == pinned
    [warning] = [r.getMessage() for r in caplog.records if r.name == "twinlab.api.server"]
    assert "'10.9.8.7'" in warning and "move" in warning and "--tls-cert" in warning
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="twinlab.api.server"):
        _serve(tmp_path, monkeypatch, "0.0.0.0")  # reached by the hostname, which it names
    assert not [r for r in caplog.records if r.name == "twinlab.api.server"]
