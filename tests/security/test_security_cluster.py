"""The pipeline's own Dask clusters are never open (issue 16 §8): a local cluster speaks mutual
TLS on loopback with throwaway certificates, and an external scheduler is reached with the
certificates params.yaml names."""

from __future__ import annotations

import asyncio
import ssl
from urllib.parse import urlparse

import pytest
from tls_probe import identity, refused, tls_cluster

from twinlab.cluster import dask_client
from twinlab.pipeline import DaskParams

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def local_client():
    with dask_client(n_workers=1, memory_limit=None) as client:
        yield client


def test_a_local_cluster_speaks_tls_on_loopback_only(local_client):
    address = local_client.scheduler.address
    assert address.startswith("tls://127.0.0.1:")
    (worker,) = local_client.scheduler_info()["workers"]
    assert worker.startswith("tls://127.0.0.1:")
    assert urlparse(local_client.dashboard_link).hostname == "127.0.0.1"
    assert local_client.submit(sum, [1, 2, 3]).result(timeout=60) == 6


def test_another_process_cannot_use_the_local_cluster(local_client):
    address = local_client.scheduler.address
    assert refused(address.replace("tls://", "tcp://"))  # plain TCP, as Client("tcp://...")
    assert refused(address)  # TLS without any certificate
    anyone = ssl.create_default_context()
    anyone.check_hostname, anyone.verify_mode = False, ssl.CERT_NONE
    assert refused(address, ssl_context=anyone)  # TLS that trusts anything, no certificate
    # each cluster has certificates of its own: another cluster's do not open this one
    with dask_client(n_workers=1, memory_limit=None) as other:
        assert other.security.tls_ca_file != local_client.security.tls_ca_file
        assert refused(address, **other.security.get_connection_args("client"))
    reply = asyncio.run(identity(address, **local_client.security.get_connection_args("client")))
    assert reply["type"] == "Scheduler"


def test_an_external_scheduler_is_reached_with_the_certificates_params_name(tmp_path):
    with tls_cluster(tmp_path / "tls") as (cluster, _):
        section = {
            "address": cluster.scheduler_address,
            "tls_ca_file": "tls/ca.pem",
            "tls_cert_file": "tls/node.pem",
            "tls_key_file": "tls/node.key",
        }
        with DaskParams.from_mapping(section).client(tmp_path) as client:
            assert client.submit(sum, [4, 5]).result(timeout=60) == 9
        # without them (and no TLS in Dask's configuration) the scheduler does not answer
        assert refused(cluster.scheduler_address)
