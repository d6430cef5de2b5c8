"""Who may read which run: pipeline runs are published, a job's result is its submitter's.

A run the pipeline wrote (``results/<name>``, e.g. ``demo``) is published: every caller
whose token grants the route's action reads it. A job's result (``job-<id>``) belongs to
the client that submitted the job: the owner is the ``client`` column of the job's row in
``jobs.sqlite``, written at submit time from the verified token's subject (every row has
carried it since the table was made, so jobs persisted before this rule are owned too).

Another client's job is answered exactly as a run that does not exist (``404``, the same
message), so its existence does not leak; the refusal is audited as ``api.denied`` with the
real reason. Listings (``/v1/results``, a model's lineage) leave such runs out.

A token granting the access matrix's action ``read_all_jobs``
(:mod:`twinlab.security.access`) reads every job's result, within the route's own action: it
is the ``reviewer``'s, the accountable, regulator-facing role (it exports to the EDC and
verifies the audit trail, and checking a job the trail records needs its result), and a
reviewer's token narrowed to other scopes does not carry it. An ``admin`` does not: it
manages users and the trail, and by separation of duties reads no one's results. A job
folder with no row (its state lost, or copied in by hand) has no known owner: only such
tokens read it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from fastapi import HTTPException, Request

from twinlab.api import results
from twinlab.api.tokens import Principal

__all__ = ["READ_ALL_JOBS", "RunAccess"]

#: the action that reads every client's job results (see the module docstring)
READ_ALL_JOBS = "read_all_jobs"


class RunAccess:
    """The ownership rule over a results folder.

    Parameters
    ----------
    results_root : Path
        The results folder (jobs' results under ``api/jobs``).
    owner_of : callable
        A job id -> the client that submitted it, or ``None`` when unknown.
    """

    def __init__(self, results_root: Path, owner_of: Callable[[str], str | None]) -> None:
        self.root = Path(results_root)
        self._owner_of = owner_of

    def may_read(self, who: Principal | None, run: str) -> bool:
        """Whether ``who`` may read run ``run`` (published, its own job, or a token that
        grants :data:`READ_ALL_JOBS`)."""
        job = results.job_id(self.root, run)
        if job is None:
            return True
        if who is None:
            return False
        if who.may(READ_ALL_JOBS):
            return True
        return self._owner_of(job) == who.client

    def visible(self, who: Principal, runs: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        """The entries of ``runs`` (each with a ``run`` name) that ``who`` may read."""
        return [r for r in runs if self.may_read(who, r["run"])]

    def folder(self, request: Request, who: Principal, run: str) -> Path:
        """The folder of run ``run`` for ``who``.

        Raises
        ------
        HTTPException
            ``404`` for a run that does not exist and for another client's job alike (the
            latter audited as ``api.denied``).
        """
        missing = HTTPException(404, f"no run {run!r}")
        try:
            folder = results.run_dir(self.root, run)
        except KeyError:
            raise missing from None
        if not self.may_read(who, run):
            request.state.refusal = "the run is another client's job (answered as not found)"
            request.state.denied = True
            raise missing
        return folder
