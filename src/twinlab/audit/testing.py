"""Helpers for testing code that writes or checks audit logs: small, varied, seeded logs."""

from __future__ import annotations

from pathlib import Path

from twinlab.audit.keys import Signer
from twinlab.audit.log import AuditLog

__all__ = ["EXAMPLE_ACTIONS", "example_log", "fill_log"]

EXAMPLE_ACTIONS: tuple[str, ...] = (
    "stage.run",
    "data.access",
    "model.fit",
    "simulate",
    "dashboard.query",
)


def fill_log(log: AuditLog, n: int) -> AuditLog:
    """Append ``n`` varied entries (parameters, old/new values, reasons, non-ASCII text).

    Returns
    -------
    AuditLog
        ``log``.
    """
    for i in range(n):
        log.append(
            EXAMPLE_ACTIONS[i % len(EXAMPLE_ACTIONS)],
            f"results/scenario-{i % 7}.zarr",
            params={"i": i, "dose_mg": 12.5 * i, "arm": "Bé ✓" if i % 3 else "placebo"},
            old={"n": i} if i % 4 == 0 else None,
            new={"n": i + 1} if i % 4 == 0 else None,
            reason="scheduled" if i % 5 == 0 else None,
        )
    return log


def example_log(
    path: str | Path,
    n: int,
    *,
    signer: Signer | None = None,
    checkpoint_every: int | None = 10,
    actor: str = "ana",
) -> AuditLog:
    """Write a log of ``n`` entries (plus signed checkpoints when ``signer`` is given).

    Examples
    --------
    >>> log = example_log(tmp / "audit.jsonl", 25)  # doctest: +SKIP
    >>> log.head()["count"]  # doctest: +SKIP
    25
    """
    log = AuditLog(path, actor=actor, signer=signer, checkpoint_every=checkpoint_every)
    return fill_log(log, n)
