"""A TLS scheduler with certificate files, and a probe of a Dask server with a raw comm (no
Client, so nothing retries): is it answered?"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from distributed import LocalCluster, Security
from distributed.comm import connect

from twinlab.security.tls import make_test_certificates, tls_security


@contextmanager
def tls_cluster(folder: Path) -> Iterator[tuple[LocalCluster, Security]]:
    """An in-process TLS cluster on loopback (one worker) with test certificates in
    ``folder`` (``ca.pem``, ``node.pem``, ``node.key``), and its :class:`Security`."""
    files = make_test_certificates(folder)
    security = tls_security(
        ca_file=files.ca_file, cert_file=files.cert_file, key_file=files.key_file
    )
    with LocalCluster(
        n_workers=1,
        threads_per_worker=1,
        processes=False,
        protocol="tls",
        host="127.0.0.1",
        security=security,
        dashboard_address=None,
    ) as cluster:
        yield cluster, security


async def identity(address: str, **connection_args) -> dict:
    """The server's reply to ``identity`` over a connection made with ``connection_args``."""
    comm = await connect(address, timeout="3s", **connection_args)
    try:
        await comm.write({"op": "identity"})
        return await comm.read()
    finally:
        comm.abort()


def refused(address: str, **connection_args) -> bool:
    """Whether the server refuses to talk over this connection."""
    try:
        asyncio.run(identity(address, **connection_args))
    except (OSError, TimeoutError, ssl.SSLError, ValueError, TypeError):
        return True
    return False
