"""Where the running process writes its audit entries.

Library code calls :func:`audit_event` at each pipeline stage, data access,
fit, simulation and dashboard query. The log in use is the file named by
``$TWINLAB_AUDIT_LOG`` (``twinlab demo`` sets it to ``logs/audit.jsonl`` in the
project, so every DVC stage it runs writes there); with the variable unset,
nothing is written – a modeler's scratch session does not need a log, a
regulated run sets one.

The log is signed: every event and stage run is followed, in the same write, by
a checkpoint signed with the key from :func:`twinlab.audit.keys.load_signer`
(``twinlab keys init`` creates it and prints ``TWINLAB_AUDIT_KEY_FILE``), so its
head is always covered by a signature. Without a key nothing is written and a
:class:`~twinlab.security.MissingKeyError` says how to get one; an unsigned log
is written only when ``$TWINLAB_AUDIT_UNSIGNED`` is ``1`` (throwaway logs whose
integrity is not the point, e.g. in tests). ``$TWINLAB_AUDIT_ANCHOR`` names a
second file that keeps the head outside the log (see :mod:`twinlab.audit.log`).

A stage's run record (input and output hashes that
match ``dvc.lock``, parameters, code and package versions) is written beside the
log, under ``runs/``, and its SHA-256 goes into the entry.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from twinlab.audit.keys import load_signer
from twinlab.audit.log import ANCHOR_ENV, AuditLog, utc_now
from twinlab.audit.records import run_record
from twinlab.security.filemodes import dir_mode, file_mode, make_dirs

__all__ = ["AUDIT_LOG_ENV", "UNSIGNED_ENV", "audit_event", "audit_log", "audit_stage"]

AUDIT_LOG_ENV = "TWINLAB_AUDIT_LOG"
UNSIGNED_ENV = "TWINLAB_AUDIT_UNSIGNED"


def audit_log(*, actor: str | None = None) -> AuditLog | None:
    """The signed audit log named by ``$TWINLAB_AUDIT_LOG``, or ``None`` when unset.

    Parameters
    ----------
    actor
        Who acts (a dashboard user); :func:`twinlab.audit.log.default_actor` by default.

    Raises
    ------
    MissingKeyError
        If no signing key is configured and ``$TWINLAB_AUDIT_UNSIGNED`` is not ``1``.
    KeyLocationError
        If the signing key file is misplaced or readable by others.
    """
    path = os.environ.get(AUDIT_LOG_ENV, "").strip()
    if not path:
        return None
    signer = None if os.environ.get(UNSIGNED_ENV) == "1" else load_signer()
    anchor = os.environ.get(ANCHOR_ENV, "").strip() or None
    make_dirs(Path(path).parent)
    return AuditLog(path, actor=actor, signer=signer, anchor=anchor)


def audit_event(
    action: str,
    target: str | os.PathLike[str],
    *,
    params: Mapping[str, Any] | None = None,
    new: Any = None,
    reason: str | None = None,
    actor: str | None = None,
) -> dict[str, Any] | None:
    """Append one entry, and a signed checkpoint, to the active audit log (no-op without one).

    Parameters
    ----------
    action, target, params, new, reason
        As :meth:`twinlab.audit.AuditLog.append`.
    actor
        Who acts, when not the process's user (a dashboard user).

    Returns
    -------
    dict or None
        The entry written.
    """
    log = audit_log(actor=actor)
    if log is None:
        return None
    return log.append(
        action,
        str(target),
        params=dict(params or {}),
        new=new,
        reason=reason,
        checkpoint=log.signer is not None,
    )


def audit_stage(
    stage: str,
    *,
    params: Mapping[str, Any],
    inputs: Iterable[str | os.PathLike[str]],
    outputs: Iterable[str | os.PathLike[str]],
    seed: int | None = None,
    summary: Mapping[str, Any] | None = None,
) -> dict[str, Any] | None:
    """Record a stage run: a run record file beside the log and a ``stage.run`` entry.

    Parameters
    ----------
    stage
        The stage name (as in ``dvc.yaml``).
    params
        The stage's parameters.
    inputs, outputs
        Files and folders read and written (hashed as DVC does).
    seed
        The random seed, when the stage draws random numbers.
    summary
        Small JSON-able results worth keeping in the entry (counts, statuses).

    Returns
    -------
    dict or None
        The audit entry (``None`` without an active log).
    """
    log = audit_log()
    if log is None:
        return None
    record = run_record(
        stage=stage,
        params=params,
        inputs=[str(p) for p in inputs],
        outputs=[str(p) for p in outputs],
        seed=seed,
        audit_log=log,
    )
    body = json.dumps(record, indent=2, sort_keys=True, default=str).encode()
    stamp = utc_now().replace(":", "").replace("-", "").replace(".", "")
    runs = log.path.parent / "runs"
    runs.mkdir(exist_ok=True, mode=dir_mode())
    record_file = runs / f"{stamp}-{stage}.json"
    fd = os.open(record_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, file_mode())
    with os.fdopen(fd, "wb") as fh:
        fh.write(body)
    return log.append(
        "stage.run",
        stage,
        params=dict(params),
        new={
            "run_record": record_file.name,
            "run_record_sha256": hashlib.sha256(body).hexdigest(),
            "outputs": record.get("outputs"),
            **dict(summary or {}),
        },
        checkpoint=log.signer is not None,
    )
