"""Dask clusters: a local one by default, any existing scheduler by address.

Nothing home-made where Dask already does it: :func:`dask_client` starts a
:class:`distributed.LocalCluster` of worker *processes* with one thread each
(so pure-Python and NumPy work scale with cores, and a task's global state
stays in its process), or connects to the scheduler at an address taken from
the argument, the ``TWINLAB_DASK_ADDRESS`` environment variable or Dask's own
``scheduler-address`` configuration – e.g. a dask-jobqueue or dask-kubernetes
cluster running elsewhere.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import dask
from distributed import Client, LocalCluster

ADDRESS_ENV = "TWINLAB_DASK_ADDRESS"

log = logging.getLogger(__name__)


def scheduler_address(address: str | None = None) -> str | None:
    """Resolve the scheduler to connect to, or ``None`` for a local cluster.

    Parameters
    ----------
    address
        An explicit address (``tcp://host:8786``); wins over everything else.

    Returns
    -------
    str or None
        ``address``, else ``$TWINLAB_DASK_ADDRESS``, else Dask's
        ``scheduler-address`` setting, else ``None``.
    """
    return address or os.environ.get(ADDRESS_ENV) or dask.config.get("scheduler-address", None)


@contextmanager
def dask_client(
    address: str | None = None,
    *,
    n_workers: int | None = None,
    threads_per_worker: int = 1,
    memory_limit: str | None = "auto",
    security: Any = None,
    **cluster_kwargs: Any,
) -> Iterator[Client]:
    """Yield a Dask client, closing what this call started when done.

    Parameters
    ----------
    address
        Scheduler to connect to; see :func:`scheduler_address`. When none is
        configured a local cluster is started.
    n_workers
        Worker processes of the local cluster (default: one per core).
    threads_per_worker
        Threads in each local worker process (default 1).
    memory_limit
        Memory limit per local worker (Dask's syntax).
    security
        A :class:`distributed.Security` for TLS
        (:func:`twinlab.security.tls.tls_security`); a local cluster then
        speaks ``tls://`` only.
    **cluster_kwargs
        Passed on to :class:`distributed.LocalCluster`.

    Yields
    ------
    distributed.Client
        A connected client.

    Examples
    --------
    >>> from twinlab.cluster import dask_client
    >>> with dask_client(n_workers=2) as client:  # doctest: +SKIP
    ...     client.submit(sum, [1, 2]).result()
    3
    """
    target = scheduler_address(address)
    if target:
        log.info("connecting to Dask scheduler at %s", target)
        client = Client(target, security=security)
        try:
            yield client
        finally:
            client.close()
        return
    workers = n_workers or os.cpu_count() or 1
    log.info("starting a local Dask cluster: %d worker processes", workers)
    cluster_kwargs.setdefault("dashboard_address", ":0")
    if security is not None:
        cluster_kwargs.update(security=security, protocol="tls")
    with (
        LocalCluster(
            n_workers=workers,
            threads_per_worker=threads_per_worker,
            processes=True,
            memory_limit=memory_limit,
            **cluster_kwargs,
        ) as cluster,
        Client(cluster, security=security) as client,
    ):
        yield client
