"""Dask clusters: a local one by default, any existing scheduler by address – never open.

Nothing home-made where Dask already does it: :func:`dask_client` starts a
:class:`distributed.LocalCluster` of worker *processes* with one thread each
(so pure-Python and NumPy work scale with cores, and a task's global state
stays in its process), or connects to the scheduler at an address taken from
the argument, the ``TWINLAB_DASK_ADDRESS`` environment variable or Dask's own
``scheduler-address`` configuration – e.g. a dask-jobqueue or dask-kubernetes
cluster running elsewhere.

A Dask scheduler runs whatever code a connected client sends, so a local cluster is
secured by default: it listens on 127.0.0.1 only and speaks mutual TLS with throwaway
certificates made for it (:meth:`distributed.Security.temporary`, held in memory and never
written), so another process of this machine – another user's included – can neither
connect in plain ``tcp://`` nor complete a TLS handshake without the certificate. Its
dashboard binds to 127.0.0.1 unless ``dashboard_address`` says otherwise. An external
scheduler is reached with the :class:`distributed.Security` given
(:func:`twinlab.security.tls.tls_security`), else with Dask's own
``distributed.comm.tls`` configuration.

A local cluster's worker processes are forked from a ``forkserver`` (where the platform has
one) rather than spawned. A spawned worker leaves through full interpreter finalization,
tearing down every module its tasks imported (PyMC, PyTensor, numba/LLVM, pandas: some 1,600);
that takes 1-3 s on an idle core and more than the 4 s the nanny grants a closing worker on a
loaded machine, so every stage ended with "Worker process still alive after 4.0 seconds,
killing" and a SIGKILL. A forked worker ends with ``os._exit`` once it has closed its
connections and flushed its streams, in milliseconds; it runs with this process's environment
of when the cluster starts, as a spawned worker would. The forkserver listens on a Unix socket
in a private (0700) temporary folder, so no other user can ask it for a process.

Every client registers :class:`ProfileRecursion` on its workers. A Dask performance report
(``twinlab.simulate.run(..., out=...)`` writes ``dask-report.html``) asks each worker for its
statistical profile: a call tree of nested dicts, two per stack frame, up to 100 frames deep
(:func:`distributed.profile.process` caps it at ``min(100, recursion limit // 4)``). Before
sending it the worker sizes the reply with :func:`dask.sizeof.sizeof`, which recurses about
twelve Python frames per stack frame; a stack deeper than ~80 frames – a task's first import
of zarr's package tree is 94 – ran past Python's default limit of 1,000, so every Dask stage
logged "Sizeof calculation for object of type 'dict' failed" (distributed's own issue 8578).
The plugin raises the workers' limit to :data:`WORKER_RECURSION_LIMIT`, where the deepest
profile is sized with room to spare; the profile itself is unchanged.

Every client also registers :class:`HeapReuse`. Dask's nanny starts workers with
``MALLOC_TRIM_THRESHOLD_=65536`` (``distributed.nanny.pre-spawn-environ``), which also
switches off glibc's adaptive ``mmap`` threshold: every array over 128 KiB is then mapped
fresh and unmapped when freed, so a worker page-faults its way through every chunk's
temporaries, where the client process reuses its heap. That made a simulation chunk ~20-30 %
slower in a worker than in process (``benchmarks/SIMULATE.md``). The plugin sets, in each
worker, where glibc's adaptive thresholds end up anyway (``mmap`` 32 MiB, trim 64 MiB): a
worker keeps at most that much freed memory for its next task.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import platform
import re
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dask
from distributed import Client, LocalCluster, Security, WorkerPlugin

ADDRESS_ENV = "TWINLAB_DASK_ADDRESS"
#: Where a local cluster listens: loopback only.
LOCAL_HOST = "127.0.0.1"

log = logging.getLogger(__name__)
#: Dask's setting for how a nanny starts its worker process.
START_METHOD_KEY = "distributed.worker.multiprocessing-method"
#: A worker's Python recursion limit: the deepest statistical profile Dask records (100
#: frames) costs dask.sizeof about 1,200 frames to size.
WORKER_RECURSION_LIMIT = 3000


class ProfileRecursion(WorkerPlugin):
    """Raise a worker's recursion limit to ``limit``, so that it can size its own profile.

    See the module's documentation: without it, a worker whose tasks ran a deep stack logs
    "Sizeof calculation for object of type 'dict' failed" when a performance report asks
    for its profile. A limit already higher is kept.
    """

    name = "twinlab-profile-recursion"

    def __init__(self, limit: int = WORKER_RECURSION_LIMIT) -> None:
        self.limit = int(limit)

    def setup(self, worker: Any) -> None:
        """Raise the limit in the worker's process (a restarted worker runs it again)."""
        if sys.getrecursionlimit() < self.limit:
            sys.setrecursionlimit(self.limit)


#: glibc's ``mallopt`` parameters (``malloc.h``)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3


class HeapReuse(WorkerPlugin):
    """Let a worker reuse freed memory for its next arrays (glibc's ``mallopt``).

    Sets ``M_MMAP_THRESHOLD`` to ``mmap_threshold`` and ``M_TRIM_THRESHOLD`` to
    ``trim_threshold`` bytes in the worker's process, where glibc's adaptive thresholds end
    up in a process of its own (see the module's documentation). Nothing happens on a C
    library other than glibc. ``applied`` records what ``mallopt`` answered (1: set).
    """

    name = "twinlab-heap-reuse"

    def __init__(self, mmap_threshold: int = 32 << 20, trim_threshold: int = 64 << 20) -> None:
        self.mmap_threshold = int(mmap_threshold)
        self.trim_threshold = int(trim_threshold)
        self.applied: dict[str, int] = {}

    def setup(self, worker: Any) -> None:
        """Set the thresholds in the worker's process (a restarted worker runs it again)."""
        if platform.libc_ver()[0] != "glibc":
            return
        import ctypes

        mallopt = ctypes.CDLL(None).mallopt  # this process's C library
        mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
        self.applied = {
            "M_MMAP_THRESHOLD": mallopt(_M_MMAP_THRESHOLD, self.mmap_threshold),
            "M_TRIM_THRESHOLD": mallopt(_M_TRIM_THRESHOLD, self.trim_threshold),
        }


def _register_plugins(client: Client) -> None:
    """The worker plugins every twinlab client registers (see the module's documentation)."""
    client.register_plugin(ProfileRecursion())
    client.register_plugin(HeapReuse())


def worker_start_method() -> str:
    """How a local cluster starts its worker processes: ``forkserver`` where available.

    Examples
    --------
    >>> worker_start_method() in ("forkserver", "spawn")
    True
    """
    return "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"


def scheduler_address(address: str | None = None) -> str | None:
    """Resolve the scheduler to connect to, or ``None`` for a local cluster.

    Parameters
    ----------
    address
        An explicit address (``tls://host:8786``); wins over everything else.

    Returns
    -------
    str or None
        ``address``, else ``$TWINLAB_DASK_ADDRESS``, else Dask's
        ``scheduler-address`` setting, else ``None``.
    """
    return address or os.environ.get(ADDRESS_ENV) or dask.config.get("scheduler-address", None)


def local_security() -> Security:
    """Throwaway mutual-TLS settings for one local cluster (in memory, encryption required).

    Examples
    --------
    >>> local_security().require_encryption
    True
    """
    return Security.temporary()


@contextmanager
def _private_scratch(cluster_kwargs: dict[str, Any]) -> Iterator[None]:
    """Give the local cluster a private (0700) scratch folder, removed when it closes.

    Workers spill task results (records being read, patient tables) to their
    ``local_directory``; Dask's default, ``/tmp/dask-scratch-space``, is made with the umask
    (others may read the spilled files) and shared by every user of the machine (another user
    could make it first). A ``local_directory`` or ``temporary-directory`` the caller chose is
    kept.
    """
    if "local_directory" in cluster_kwargs or dask.config.get("temporary-directory", None):
        yield
        return
    with tempfile.TemporaryDirectory(prefix="twinlab-dask-", ignore_cleanup_errors=True) as d:
        cluster_kwargs["local_directory"] = d
        yield


@contextmanager
def dask_client(
    address: str | None = None,
    *,
    n_workers: int | None = None,
    threads_per_worker: int = 1,
    memory_limit: str | None = "auto",
    security: Security | None = None,
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
        A :class:`distributed.Security` (:func:`twinlab.security.tls.tls_security`). For
        an external scheduler: its certificates (default: Dask's ``distributed.comm.tls``
        configuration). For a local cluster: its certificates (default: throwaway ones,
        :func:`local_security`); a local cluster always speaks ``tls://`` only.
    **cluster_kwargs
        Passed on to :class:`distributed.LocalCluster` (``host`` defaults to 127.0.0.1,
        ``dashboard_address`` to ``127.0.0.1:0``: loopback, any free port;
        ``local_directory``, where workers spill, to a private temporary folder removed
        with the cluster).

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
        if "://" not in target or not target.startswith("tls://"):  # host:port is tcp://
            log.warning(
                "Dask scheduler %s is not tls://: anyone who can reach it can run code in its "
                "workers (and a scheduler impersonated on the way, in this process); use a "
                "tls:// scheduler with certificates",
                target,
            )
        client = Client(target, security=security if security is not None else Security())
        try:
            _register_plugins(client)
            yield client
        finally:
            client.close()
        return
    workers = n_workers or os.cpu_count() or 1
    log.info("starting a local Dask cluster (TLS, loopback): %d worker processes", workers)
    security = security if security is not None else local_security()
    cluster_kwargs.setdefault("host", LOCAL_HOST)
    cluster_kwargs.setdefault("dashboard_address", f"{LOCAL_HOST}:0")
    cluster_kwargs.update(security=security, protocol="tls")
    # a forked worker's environment is the forkserver's, from when it started: give each
    # worker this process's environment of now, as a spawned one would have
    cluster_kwargs["env"] = {**os.environ, **cluster_kwargs.get("env", {})}
    with (
        _private_scratch(cluster_kwargs),
        dask.config.set({START_METHOD_KEY: worker_start_method()}),  # also for restarts
        LocalCluster(
            n_workers=workers,
            threads_per_worker=threads_per_worker,
            processes=True,
            memory_limit=memory_limit,
            **cluster_kwargs,
        ) as cluster,
        Client(cluster, security=security) as client,
    ):
        _register_plugins(client)
        yield client


#: A ``<link>`` to another host (the report's template takes its icon from docs.dask.org)
_REMOTE_LINK = re.compile(r"""<link\b[^>]*\bhref=["']?(?:https?:)?//[^>]*>\s*""", re.IGNORECASE)


@contextmanager
def performance_report(filename: str | os.PathLike[str]) -> Iterator[None]:
    """Dask's performance report of what runs inside, written self-contained to ``filename``.

    :class:`distributed.performance_report` with Bokeh's scripts inline (~1.7 MB) and without
    the template's icon from docs.dask.org: the report opens offline and tells no other host
    that it is being read.

    Parameters
    ----------
    filename : path
        The HTML file to write when the block ends.

    Examples
    --------
    >>> from twinlab.cluster import dask_client, performance_report
    >>> with dask_client(n_workers=1) as client:  # doctest: +SKIP
    ...     with performance_report("report.html"):
    ...         client.submit(sum, [1, 2]).result()
    3
    """
    from distributed import performance_report as dask_report

    path = Path(filename)
    with dask_report(filename=str(path), mode="inline"):
        yield
    html = path.read_text(encoding="utf-8")
    path.write_text(_REMOTE_LINK.sub("", html), encoding="utf-8")
