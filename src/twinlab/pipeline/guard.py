"""One pipeline run at a time in a project, and a stopped run that cleans up after itself.

:func:`project_lock` is held by ``twinlab run`` (for all its stages and report notebooks) and
by :func:`twinlab.pipeline.run_stage`: a second run started in the same project meanwhile is
refused at once with one line naming the run that holds it (its process, stage and start),
never interleaving its writes with the first one's. The lock is an advisory ``flock`` on
``.dvc/tmp/twinlab-run.lock`` in a DVC project (``.twinlab-run.lock`` in the project folder
otherwise): the kernel releases it when its holder ends, however it ends, so a killed run
never leaves the project locked. A process that already holds it may take it again (a stage
inside ``twinlab run``).

:func:`terminate_cleanly` turns ``SIGTERM`` (what ``kill``, a scheduler or a container stop
sends) into an exception while a run works, so its staged outputs are removed and the
previous outputs stay as they were, as they do on Ctrl-C.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["PipelineLockedError", "lock_path", "project_lock", "terminate_cleanly"]

#: Exit status of a run stopped by SIGTERM (128 + 15, as a shell reports it).
TERMINATED = 143

_held: dict[Path, tuple[int, Any]] = {}
_guard = threading.Lock()


class PipelineLockedError(RuntimeError):
    """Another pipeline run holds the project: a user's to wait for (exit status 2)."""


def lock_path(root: str | Path) -> Path:
    """The lock file of project ``root``: under ``.dvc/tmp/`` in a DVC project (DVC ignores
    it), else ``.twinlab-run.lock`` in the project folder."""
    root = Path(root).resolve()
    if (root / ".dvc").is_dir():
        return root / ".dvc" / "tmp" / "twinlab-run.lock"
    return root / ".twinlab-run.lock"


def _holder(fd: int) -> str:
    """Who holds the lock, from what it wrote into the file."""
    try:
        info = json.loads(os.pread(fd, 4096, 0).decode("utf-8") or "{}")
    except (OSError, ValueError):
        info = {}
    if not info:
        return "another run"
    return f"'twinlab run {info.get('what', '?')}' (process {info.get('pid', '?')}, " \
        f"started {info.get('started', '?')})"  # fmt: skip


@contextmanager
def project_lock(root: str | Path, what: str) -> Iterator[Path]:
    """Hold project ``root``'s pipeline lock while the block runs; refuse if another holds it.

    Parameters
    ----------
    root : str or Path
        The project folder (where ``params.yaml`` is).
    what : str
        What runs (a stage's name), shown to a run that is refused meanwhile.

    Yields
    ------
    Path
        The lock file.

    Raises
    ------
    PipelineLockedError
        Another process holds the lock: one line saying which and what to do.
    PermissionError, OSError
        The lock file cannot be created (a read-only project folder).
    """
    path = lock_path(root)
    with _guard:
        if path in _held:  # this process holds it already (a stage inside `twinlab run`)
            count, fd = _held[path]
            _held[path] = (count + 1, fd)
            reentered = True
        else:
            reentered = False
    if reentered:
        try:
            yield path
        finally:
            with _guard:
                count, fd = _held[path]
                _held[path] = (count - 1, fd)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise PipelineLockedError(
                f"another pipeline run is working in {Path(root).resolve()}: {_holder(fd)}; "
                f"wait for it to finish, then run again (lock: {path})"
            ) from None
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        info = json.dumps({"pid": os.getpid(), "what": what, "started": stamp})
        os.ftruncate(fd, 0)
        os.pwrite(fd, info.encode("utf-8"), 0)
        with _guard:
            _held[path] = (1, fd)
        try:
            yield path
        finally:
            with _guard:
                _held.pop(path, None)
            os.ftruncate(fd, 0)
    finally:
        os.close(fd)  # releases the flock


@contextmanager
def terminate_cleanly() -> Iterator[None]:
    """While the block runs, ``SIGTERM`` raises :class:`SystemExit` (status 143) after one
    line on stderr, so ``finally`` blocks and staged outputs are cleaned up; outside the main
    thread (where no handler can be set) nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: Any) -> None:
        del signum, frame
        print("Error: stopped by SIGTERM; outputs not yet published were removed, the "
              "previous ones are as they were", file=sys.stderr)  # fmt: skip
        raise SystemExit(TERMINATED)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
