"""The audit log: an append-only, hash-chained JSON-Lines file with signed checkpoints.

Each line is one entry in canonical JSON (sorted keys, compact separators,
UTF-8, one line)::

    {"action": ..., "actor": ..., "hash": ..., "new": ..., "old": ..., "params": {...},
     "prev": ..., "reason": ..., "seq": 0, "target": ..., "ts": "...Z", "v": 1}

``hash`` is the SHA-256 of the entry's canonical bytes without ``hash``;
``prev`` is the previous entry's ``hash`` (:data:`GENESIS` for ``seq`` 0), so
editing, deleting, inserting or reordering entries breaks the chain
(:func:`twinlab.audit.verify`). Parameters whose names look like secrets are
redacted *before* hashing, so secrets never reach the file.

Checkpoints (action ``audit.checkpoint``) carry the running count and the head
hash and are signed (Ed25519, or HMAC-SHA256): every ``checkpoint_every``
entries when the log has a signer, after an entry appended with
``checkpoint=True`` (what :mod:`twinlab.audit.trail` does at the end of every
stage run and event, so the head of a log is always signed), and on demand with
:meth:`AuditLog.checkpoint`. A signed checkpoint makes rewriting the chain
before it (editing an entry and recomputing every hash after it) detectable by
anyone holding the public key; :func:`twinlab.audit.verify` fails when the head
is not covered by one.

The head anchor: with ``anchor`` set, every checkpoint also writes its count and
hash to that second file (atomically, under the same lock). Kept where whoever
can write the log cannot (another account, another host, a write-once store), it
reveals entries cut from the end, which a log alone cannot: a prefix of a log
that ends at an earlier checkpoint is itself a valid signed log.

Concurrency: every append takes an exclusive ``fcntl.flock`` on the sidecar
``<log>.lock``, re-reads the true head from the file, appends one line with a
single ``write`` and ``fsync``-s it, so several processes (Dask workers, app
sessions) can share one log without losing or duplicating entries. POSIX only.
"""

from __future__ import annotations

import base64
import contextvars
import datetime as dt
import fcntl
import getpass
import hashlib
import json
import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from twinlab.audit.keys import Signer, load_signer
from twinlab.security.filemodes import file_mode, make_dirs

__all__ = [
    "ANCHOR_ENV",
    "CHECKPOINT_ACTION",
    "GENESIS",
    "REDACTED",
    "USER_ENV",
    "AuditLog",
    "AuditLogError",
    "acting_as",
    "canonical",
    "default_actor",
    "entry_hash",
    "is_secret_name",
    "redact",
    "utc_now",
]

USER_ENV = "TWINLAB_USER"
ANCHOR_ENV = "TWINLAB_AUDIT_ANCHOR"
GENESIS = "0" * 64
CHECKPOINT_ACTION = "audit.checkpoint"
REDACTED = "[REDACTED]"
FORMAT_VERSION = 1

_SECRET_WORDS = frozenset(
    {
        "password", "passwd", "pwd", "passphrase", "token", "tokens", "secret", "secrets",
        "credential", "credentials", "apikey", "private", "auth", "authorization", "cookie",
    }
)  # fmt: skip
_WORDS = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")


class AuditLogError(RuntimeError):
    """The log cannot be appended to safely (corrupt tail, unserializable entry)."""


def canonical(obj: Any) -> bytes:
    """Return the canonical JSON bytes of ``obj``: sorted keys, compact, UTF-8, one line.

    Raises
    ------
    ValueError
        For NaN or infinite floats (not JSON).
    TypeError
        For objects JSON cannot hold.
    """
    return json.dumps(
        obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def entry_hash(entry: Mapping[str, Any]) -> str:
    """Return the SHA-256 hex digest of ``entry``'s canonical bytes without ``hash``."""
    return hashlib.sha256(canonical({k: v for k, v in entry.items() if k != "hash"})).hexdigest()


def utc_now() -> str:
    """Return the current UTC time as ISO-8601 with microseconds and ``Z``."""
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


#: who acts in the current context (a dashboard user), set by :func:`acting_as`
_ACTOR: contextvars.ContextVar[str | None] = contextvars.ContextVar("twinlab_actor", default=None)


@contextmanager
def acting_as(user: str) -> Iterator[None]:
    """Within the block, entries written by this thread or task carry ``user`` as actor.

    A server acting for several users (the dashboards) wraps each user's work in it, so
    entries written deep in the library (a data access, a simulation) name that user and
    not the server's account.
    """
    token = _ACTOR.set(user)
    try:
        yield
    finally:
        _ACTOR.reset(token)


def default_actor() -> str:
    """Return the user of :func:`acting_as`, else ``$TWINLAB_USER``, else the OS user name,
    else ``"unknown"``."""
    if _ACTOR.get():
        return str(_ACTOR.get())
    if os.environ.get(USER_ENV):
        return os.environ[USER_ENV]
    try:
        return getpass.getuser()
    except Exception:  # no user database in some containers
        return "unknown"


def is_secret_name(name: str) -> bool:
    """Return whether a parameter name looks like it holds a secret.

    A name is secret-looking when one of its words (split at ``_``, ``-``, ``.``
    and camelCase) is ``password``, ``token``, ``secret``, ``credential`` and
    the like, or its last word ends in ``key`` (``key``, ``api_key``,
    ``masterKey``, ``apikey``). Over-redaction is preferred to a leak.

    Examples
    --------
    >>> [is_secret_name(n) for n in ("api_key", "dbPassword", "key_id", "dose")]
    [True, True, False, False]
    """
    words = [w.lower() for w in _WORDS.findall(str(name))]
    if not words:
        return False
    if any(w in _SECRET_WORDS or w.startswith("password") for w in words):
        return True
    return words[-1].endswith(("key", "keys"))


def redact(value: Any) -> Any:
    """Return a copy of ``value`` with every secret-looking mapping key's value redacted.

    Recurses into mappings and lists; values are replaced by :data:`REDACTED`.
    """
    if isinstance(value, Mapping):
        return {str(k): REDACTED if is_secret_name(str(k)) else redact(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return value


def _jsonable(obj: Any) -> Any:
    """``json.dumps`` default: NumPy scalars and arrays, paths, dates, sets."""
    if hasattr(obj, "tolist") and callable(obj.tolist):  # numpy scalar or array
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, dt.datetime | dt.date):
        return obj.isoformat()
    if isinstance(obj, set | frozenset):
        return sorted(obj, key=repr)
    raise TypeError(f"cannot record a {type(obj).__name__} in the audit log")


def _plain(value: Any) -> Any:
    """Round-trip through JSON so what is stored is exactly what is hashed."""
    try:
        text = json.dumps(value, default=_jsonable, allow_nan=False)
    except ValueError as err:
        raise AuditLogError(f"audit entries cannot hold NaN or infinity: {err}") from None
    except TypeError as err:
        raise AuditLogError(str(err)) from None
    return json.loads(text)


def _seal(entry: dict[str, Any]) -> dict[str, Any]:
    entry = {k: v for k, v in entry.items() if k != "hash"}
    entry["hash"] = entry_hash(entry)
    return entry


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


class AuditLog:
    """An append-only, hash-chained audit log in a JSON-Lines file.

    Parameters
    ----------
    path
        The log file (created on first append, with its folder).
    actor
        Who acts; :func:`default_actor` by default.
    signer
        Signs checkpoints (:func:`twinlab.audit.keys.load_signer` gives one from
        the environment). Without a signer no automatic checkpoints are written.
    checkpoint_every
        Write a signed checkpoint after every this many entries, i.e. at every
        ``(N + 1)``-th position of the chain (needs ``signer``); ``None`` or 0
        turns it off. On-demand checkpoints do not shift those positions.
    anchor
        A second file that every checkpoint overwrites with ``{"count", "head"}``
        (see the module notes); give it to :func:`twinlab.audit.verify` as ``anchor``.

    Examples
    --------
    >>> log = AuditLog(tmp / "audit.jsonl", actor="ana")  # doctest: +SKIP
    >>> log.append("model.fit", "models/pk1", params={"draws": 1000})["seq"]  # doctest: +SKIP
    0
    """

    def __init__(
        self,
        path: str | Path,
        *,
        actor: str | None = None,
        signer: Signer | None = None,
        checkpoint_every: int | None = 100,
        anchor: str | Path | None = None,
    ) -> None:
        self.path = Path(path)
        self.anchor = None if anchor is None else Path(anchor)
        self.actor = actor or default_actor()
        self.signer = signer
        self.checkpoint_every = checkpoint_every
        self.lock_path = self.path.with_name(self.path.name + ".lock")

    def __repr__(self) -> str:
        return f"AuditLog({str(self.path)!r}, actor={self.actor!r})"

    # -- locking and the head -------------------------------------------------
    @contextmanager
    def _locked(self, *, exclusive: bool = True) -> Iterator[None]:
        make_dirs(self.path.parent)
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, file_mode())
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def _last_line(self) -> bytes | None:
        try:
            fh = self.path.open("rb")
        except FileNotFoundError:
            return None
        with fh:
            size = fh.seek(0, os.SEEK_END)
            if size == 0:
                return None
            fh.seek(size - 1)
            if fh.read(1) != b"\n":
                raise AuditLogError(
                    f"{self.path}: the last line is incomplete (a crashed write or a "
                    "truncation); run 'twinlab audit verify' before appending"
                )
            block, tail, pos = 65536, b"", size - 1
            while pos > 0:
                start = max(0, pos - block)
                fh.seek(start)
                tail = fh.read(pos - start) + tail
                pos = start
                if b"\n" in tail:
                    break
            return tail.rsplit(b"\n", 1)[-1]

    def _head(self) -> tuple[int, str]:
        line = self._last_line()
        if line is None:
            return 0, GENESIS
        try:
            last = json.loads(line)
            ok = isinstance(last, dict) and canonical(last) == line
            ok = ok and last.get("hash") == entry_hash(last) and isinstance(last.get("seq"), int)
        except (ValueError, UnicodeDecodeError):
            ok = False
        if not ok:
            raise AuditLogError(
                f"{self.path}: the last entry is corrupt; run 'twinlab audit verify' "
                "before appending"
            )
        return last["seq"] + 1, last["hash"]

    def head(self) -> dict[str, Any]:
        """Return ``{"count": n, "head": hash}`` – record it elsewhere to detect truncation.

        Give both to :func:`twinlab.audit.verify` (``expected_count``,
        ``expected_head``) later: a log cut after its last entry is otherwise a
        valid, shorter log.
        """
        with self._locked(exclusive=False):
            count, head = self._head()
        return {"count": count, "head": head}

    # -- writing ---------------------------------------------------------------
    def _entry(self, seq: int, prev: str, action: str, target: str, **fields: Any) -> dict:
        return _seal(
            {
                "v": FORMAT_VERSION,
                "seq": seq,
                "ts": utc_now(),
                "actor": self.actor,
                "action": action,
                "target": target,
                "params": fields.get("params") or {},
                "old": fields.get("old"),
                "new": fields.get("new"),
                "reason": fields.get("reason"),
                "prev": prev,
            }
        )

    def _checkpoint_entry(self, signer: Signer, seq: int, prev: str) -> dict[str, Any]:
        entry = self._entry(
            seq,
            prev,
            CHECKPOINT_ACTION,
            self.path.name,
            params={
                "count": seq,
                "head": prev,
                "alg": signer.algorithm,
                "key_id": signer.key_id,
            },
        )
        del entry["hash"]
        signature = signer.sign(canonical(entry))
        entry["params"]["sig"] = base64.b64encode(signature).decode("ascii")
        return _seal(entry)

    def _write_anchor(self, entries: list[dict[str, Any]]) -> None:
        if self.anchor is None or entries[-1]["action"] != CHECKPOINT_ACTION:
            return
        last = entries[-1]
        body = canonical({"count": last["seq"] + 1, "head": last["hash"], "log": self.path.name})
        make_dirs(self.anchor.parent)
        tmp = self.anchor.with_name(f".{self.anchor.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, file_mode())
        try:
            _write_all(fd, body + b"\n")
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.anchor)

    def _write(self, entries: list[dict[str, Any]]) -> None:
        data = b"".join(canonical(e) + b"\n" for e in entries)
        new = not self.path.exists()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, file_mode())
        try:
            _write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        if new:
            dir_fd = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        self._write_anchor(entries)

    def append(
        self,
        action: str,
        target: str,
        *,
        params: Mapping[str, Any] | None = None,
        old: Any = None,
        new: Any = None,
        reason: str | None = None,
        checkpoint: bool = False,
    ) -> dict[str, Any]:
        """Append one entry and return it (as written, with ``seq`` and ``hash``).

        Parameters
        ----------
        action
            What happened: ``stage.run``, ``data.access``, ``model.fit``,
            ``simulate``, ``dashboard.query``...
        target
            What it happened to (a path, a model, a dashboard).
        params
            Parameters (JSON-able; secret-looking names are redacted).
        old, new
            The values before and after, where something changed (redacted alike).
        reason
            Why (required by Part 11 for changes to records).
        checkpoint
            Also sign a checkpoint over the new head, in the same write (needs
            the log's ``signer``), so no unsigned tail is ever left behind.

        Returns
        -------
        dict
            The entry.

        Raises
        ------
        AuditLogError
            If the log's tail is corrupt or the entry cannot be serialized.
        ValueError
            If ``checkpoint`` is asked for a log without a signer.
        """
        if checkpoint and self.signer is None:
            raise ValueError("checkpoint=True needs an AuditLog with a signer")
        if not action or action == CHECKPOINT_ACTION:
            raise ValueError(f"invalid audit action {action!r}")
        fields = {
            "params": _plain(redact(dict(params or {}))),
            "old": _plain(redact(old)),
            "new": _plain(redact(new)),
            "reason": reason,
        }
        with self._locked():
            seq, prev = self._head()
            entry = self._entry(seq, prev, action, str(target), **fields)
            batch = [entry]
            every = self.checkpoint_every
            # checkpoints fill every (N+1)-th position: seq N, 2N+1, 3N+2, ...
            periodic = bool(every) and (seq + 2) % (every + 1) == 0
            if self.signer is not None and (checkpoint or periodic):
                batch.append(self._checkpoint_entry(self.signer, seq + 1, entry["hash"]))
            self._write(batch)
        return entry

    def checkpoint(self, *, signer: Signer | None = None) -> dict[str, Any]:
        """Append a signed checkpoint (count and head hash) now and return it.

        Parameters
        ----------
        signer
            Overrides the log's signer; without either, the key is loaded from
            the environment (:func:`twinlab.audit.keys.load_signer`).

        Raises
        ------
        MissingKeyError
            If no signing key is available (naming the variables to set).
        """
        signer = signer or self.signer or load_signer()
        with self._locked():
            seq, prev = self._head()
            entry = self._checkpoint_entry(signer, seq, prev)
            self._write([entry])
        return entry

    def seal(self, *, signer: Signer | None = None) -> dict[str, Any] | None:
        """Checkpoint the head unless it already is a checkpoint (end of a run).

        Returns
        -------
        dict or None
            The checkpoint written, or ``None`` when the head was already signed
            or the log is empty.

        Raises
        ------
        MissingKeyError
            If no signing key is available.
        """
        signer = signer or self.signer or load_signer()
        with self._locked():
            line = self._last_line()
            if line is None or json.loads(line).get("action") == CHECKPOINT_ACTION:
                return None
            seq, prev = self._head()
            entry = self._checkpoint_entry(signer, seq, prev)
            self._write([entry])
        return entry

    # -- reading ---------------------------------------------------------------
    def __iter__(self) -> Iterator[dict[str, Any]]:
        """Yield the entries in file order (unverified; use :func:`verify` for that)."""
        if not self.path.exists():
            return
        with self.path.open("rb") as fh:
            for number, line in enumerate(fh, start=1):
                try:
                    yield json.loads(line)
                except ValueError:
                    raise AuditLogError(f"{self.path}:{number}: not a JSON entry") from None

    def tail(self, n: int) -> list[dict[str, Any]]:
        """Return the last ``n`` entries."""
        entries = list(self)
        return entries[-n:] if n > 0 else []
