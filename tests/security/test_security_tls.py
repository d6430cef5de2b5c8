"""Dask over mutual TLS: certified clients compute, plaintext and uncertified ones are refused."""

from __future__ import annotations

import asyncio
import ssl

import pytest
from distributed import Client
from tls_probe import identity as _identity
from tls_probe import refused as _refused
from tls_probe import tls_cluster as start_tls_cluster

from twinlab.security.tls import make_test_certificates, tls_security

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tls_cluster(tmp_path_factory):
    with start_tls_cluster(tmp_path_factory.mktemp("tls")) as (cluster, security):
        yield cluster, security


def test_tls_client_computes(tls_cluster):
    cluster, security = tls_cluster
    assert cluster.scheduler_address.startswith("tls://127.0.0.1:")
    with Client(cluster.scheduler_address, security=security, timeout="10s") as client:
        assert client.submit(sum, [1, 2, 3]).result(timeout=30) == 6
        (worker,) = client.scheduler_info()["workers"]
        assert worker.startswith("tls://")


def test_certified_connection_is_answered(tls_cluster):
    cluster, security = tls_cluster
    reply = asyncio.run(
        _identity(cluster.scheduler_address, **security.get_connection_args("client"))
    )
    assert reply["type"] == "Scheduler"


def test_plaintext_client_is_refused(tls_cluster):
    cluster, _ = tls_cluster
    assert _refused(cluster.scheduler_address.replace("tls://", "tcp://"))


def test_client_without_certificate_is_refused(tls_cluster):
    cluster, security = tls_cluster
    trusting = ssl.create_default_context(cafile=security.tls_ca_file)
    trusting.check_hostname = False  # trusts the server, presents no certificate of its own
    assert _refused(cluster.scheduler_address, ssl_context=trusting)
    assert _refused(cluster.scheduler_address)  # no TLS settings at all


def test_client_certified_by_another_ca_is_refused(tls_cluster, tmp_path):
    cluster, _ = tls_cluster
    other = make_test_certificates(tmp_path)
    rogue = tls_security(ca_file=other.ca_file, cert_file=other.cert_file, key_file=other.key_file)
    assert _refused(cluster.scheduler_address, **rogue.get_connection_args("client"))


def test_missing_certificate_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="TLS CA certificate not found"):
        tls_security(ca_file=tmp_path / "ca.pem", cert_file="x", key_file="y")


def test_test_certificates_keep_keys_private(tmp_path):
    files = make_test_certificates(tmp_path)
    assert files.key_file.stat().st_mode & 0o077 == 0
    assert b"BEGIN CERTIFICATE" in files.ca_file.read_bytes()


def test_a_private_key_others_may_read_is_refused(tmp_path):
    """With the node key, any user of a shared machine or file system joins the cluster,
    and a Dask scheduler runs whatever code its clients send."""
    files = make_test_certificates(tmp_path)
    files.key_file.chmod(0o644)
    with pytest.raises(ValueError, match="chmod 600"):
        tls_security(ca_file=files.ca_file, cert_file=files.cert_file, key_file=files.key_file)
    files.key_file.chmod(0o600)
    assert tls_security(
        ca_file=files.ca_file, cert_file=files.cert_file, key_file=files.key_file
    ).require_encryption
