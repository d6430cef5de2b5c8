"""The self-signed certificate names the host served (and the machine's hostname); one made
earlier that does not is kept, with a warning that says how to replace it."""

from __future__ import annotations

import ipaddress
import logging
import socket

import pytest
import uvicorn
from cryptography import x509
from repo_helpers import tls_handshake

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


def test_serve_offers_aead_suites_with_forward_secrecy_only(tmp_path, monkeypatch):
    """The server ``serve`` configures, run for real: TLS 1.0/1.1 and CBC suites refused."""
    import ssl
    import threading
    import time

    from api_fixtures import free_port

    seen: dict = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.update(app=app, **kw))
    monkeypatch.setattr(server, "prepare_audit", lambda project: tmp_path / "audit.jsonl")
    settings = ApiSettings.for_project(
        tmp_path, key_dir=tmp_path / "keys", clients_file=tmp_path / "clients.json"
    )
    server.serve(settings)
    app = seen.pop("app")
    kwargs = {k: v for k, v in seen.items() if k not in ("host", "port", "log_level")}
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="critical", **kwargs)
    server_ = uvicorn.Server(config)
    thread = threading.Thread(target=server_.run, daemon=True)
    thread.start()
    while not server_.started:
        assert thread.is_alive()
        time.sleep(0.05)

    def handshake(ciphers: str, version: ssl.TLSVersion) -> str | None:
        return tls_handshake(port, ciphers, version)

    try:
        v12 = ssl.TLSVersion.TLSv1_2
        assert handshake("ECDHE-ECDSA-AES128-GCM-SHA256", v12) == "ECDHE-ECDSA-AES128-GCM-SHA256"
        assert handshake("ECDHE-ECDSA-CHACHA20-POLY1305", v12) is not None
        for cbc in ("ECDHE-ECDSA-AES256-SHA384", "ECDHE-ECDSA-AES128-SHA256",
                    "ECDHE-ECDSA-AES128-SHA"):  # fmt: skip
            assert handshake(cbc, v12) is None, cbc
        assert handshake("ALL", ssl.TLSVersion.TLSv1_1) is None
        assert handshake("ALL", ssl.TLSVersion.TLSv1_3) is not None
    finally:
        server_.should_exit = True
        thread.join(timeout=10)
