"""A real Dask cluster (two single-threaded worker processes, TLS on loopback), as the stages
start it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from distributed import Client

from twinlab.cluster import dask_client as start_client


@pytest.fixture(scope="session")
def dask_client() -> Iterator[Client]:
    with start_client(n_workers=2, memory_limit="1GiB") as client:
        client.wait_for_workers(2, timeout=60)
        yield client
