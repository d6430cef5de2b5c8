"""Verify an audit log: the hash chain, sequence numbers and checkpoint signatures.

What :func:`verify` detects, and what it cannot
-----------------------------------------------
* **Edited entry** (any changed byte): the line is not canonical JSON, is not
  JSON, or its ``hash`` does not match its content.
* **Deleted, inserted, duplicated or reordered entries**: ``prev`` does not
  match the previous entry's hash, or ``seq`` is not the next number.
* **Truncated last line** (a cut inside an entry): the file does not end with a
  newline.
* **Rewritten chain** (an entry edited and every hash after it recomputed):
  detected at the first *signed checkpoint* after the edit when a verification
  key is given – the signature covers the head hash and count. Edits after the
  last checkpoint that rewrite the chain to the end are not detectable from the
  file alone.
* **Whole entries cut from the end**: a prefix of a valid log is itself a valid
  log, so this is only detectable against a count and head hash recorded
  elsewhere (:meth:`AuditLog.head`, a run record, a second copy) and given as
  ``expected_count`` / ``expected_head``. Signed checkpoints prove what the log
  held when they were signed, not that nothing came after them.
* Without a key, checkpoints are checked for consistency (count and head match
  their position) but their signatures are not; the result says so.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from twinlab.audit.keys import load_public_key, public_key_id, verify_signature
from twinlab.audit.log import CHECKPOINT_ACTION, GENESIS, canonical, entry_hash

__all__ = ["VerifyResult", "verify"]

_FIELDS: dict[str, type | tuple[type, ...]] = {
    "seq": int,
    "ts": str,
    "actor": str,
    "action": str,
    "target": str,
    "params": dict,
    "prev": str,
    "hash": str,
}


@dataclass(frozen=True)
class VerifyResult:
    """The outcome of :func:`verify`.

    Attributes
    ----------
    ok
        Whether the log is intact (as far as the given keys and anchors allow).
    n_entries
        Entries read that verified before the first problem (all when ``ok``).
    line
        1-based line number of the first bad entry, or ``None``.
    seq
        ``seq`` expected at that line (the position in the chain), or ``None``.
    reason
        What is wrong, in words (empty when ``ok``).
    head
        Hash of the last good entry (:data:`GENESIS` for an empty log).
    checkpoints
        Checkpoints found before the first problem.
    signatures_checked
        How many of them had their signature verified.
    last_checkpoint_count
        Count carried by the last good checkpoint.
    bad_line
        The raw text of the first bad line (shortened), for display.
    notes
        Limits of this verification (e.g. signatures not checked).
    """

    ok: bool
    n_entries: int
    line: int | None = None
    seq: int | None = None
    reason: str = ""
    head: str = GENESIS
    checkpoints: int = 0
    signatures_checked: int = 0
    last_checkpoint_count: int | None = None
    bad_line: str | None = None
    notes: tuple[str, ...] = field(default=())

    def __bool__(self) -> bool:
        return self.ok

    def __str__(self) -> str:
        if self.ok:
            return (
                f"OK: {self.n_entries} entries, {self.checkpoints} checkpoints "
                f"({self.signatures_checked} signatures verified), head {self.head[:16]}"
            )
        where = f"line {self.line}" + (f" (seq {self.seq})" if self.seq is not None else "")
        return f"FAILED at {where}: {self.reason}"


def _shorten(line: bytes, limit: int = 400) -> str:
    text = line.decode("utf-8", errors="replace")
    return text if len(text) <= limit else text[:limit] + "…"


def _check_checkpoint(
    entry: dict[str, Any], key: Ed25519PublicKey | bytes | None
) -> tuple[str | None, bool]:
    """Return (problem or None, whether the signature was checked)."""
    params = entry["params"]
    for name, kind in (("count", int), ("head", str), ("alg", str), ("key_id", str), ("sig", str)):
        if not isinstance(params.get(name), kind):
            return f"checkpoint lacks a valid {name!r}", False
    if params["count"] != entry["seq"] or params["head"] != entry["prev"]:
        return "checkpoint count/head do not match its position in the chain", False
    if key is None:
        return None, False
    kind = "ed25519" if isinstance(key, Ed25519PublicKey) else "hmac-sha256"
    if params["alg"] != kind:
        return f"checkpoint is signed with {params['alg']}, but a {kind} key was given", False
    if params["key_id"] != public_key_id(key):
        return (
            f"checkpoint was signed by key {params['key_id']}, not by the given key "
            f"{public_key_id(key)} (wrong key, or forged)"
        ), False
    try:
        signature = base64.b64decode(params["sig"], validate=True)
    except (binascii.Error, ValueError):
        return "checkpoint signature is not base64", False
    unsigned = {k: v for k, v in entry.items() if k != "hash"}
    unsigned["params"] = {k: v for k, v in params.items() if k != "sig"}
    if not verify_signature(params["alg"], key, canonical(unsigned), signature):
        return "bad checkpoint signature (forged, or the chain before it was rewritten)", True
    return None, True


def verify(
    path: str | Path,
    *,
    public_key: str | Path | bytes | Ed25519PublicKey | None = None,
    hmac_key: bytes | None = None,
    expected_count: int | None = None,
    expected_head: str | None = None,
    require_signed: bool = False,
) -> VerifyResult:
    """Verify an audit log and name its first bad entry.

    Parameters
    ----------
    path
        The log file.
    public_key
        Ed25519 public key (PEM file, PEM bytes, raw bytes or key object) to check
        checkpoint signatures with.
    hmac_key
        The shared key, for logs whose checkpoints use HMAC-SHA256.
    expected_count, expected_head
        Entry count and head hash recorded elsewhere (:meth:`AuditLog.head`);
        detect whole entries cut from the end.
    require_signed
        Fail when the log has no verified checkpoint signature (with a key given).

    Returns
    -------
    VerifyResult
        ``ok``, entry count and, on failure, the first bad line, its seq and why.

    Raises
    ------
    FileNotFoundError
        If the log does not exist.
    """
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"audit log not found: {file}")
    key: Ed25519PublicKey | bytes | None = None
    if public_key is not None:
        key = load_public_key(public_key)
    elif hmac_key is not None:
        key = hmac_key
    data = file.read_bytes()
    lines = data.split(b"\n")
    complete, last = lines[:-1], lines[-1]
    prev, n, checkpoints, signed, last_count = GENESIS, 0, 0, 0, None

    def fail(number: int, reason: str, raw: bytes | None) -> VerifyResult:
        return VerifyResult(
            ok=False,
            n_entries=n,
            line=number,
            seq=n,
            reason=reason,
            head=prev,
            checkpoints=checkpoints,
            signatures_checked=signed,
            last_checkpoint_count=last_count,
            bad_line=None if raw is None else _shorten(raw),
        )

    for number, raw in enumerate(complete, start=1):
        if not raw:
            return fail(number, "empty line", raw)
        try:
            entry = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            return fail(number, "bad JSON (entry edited or corrupted)", raw)
        if not isinstance(entry, dict):
            return fail(number, "not a JSON object", raw)
        for name, kind in _FIELDS.items():
            value = entry.get(name)
            if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
                return fail(number, f"malformed entry: missing or invalid {name!r}", raw)
        try:
            text = canonical(entry)
        except ValueError:  # NaN or infinity
            return fail(number, "bad JSON: a value is not finite (entry edited)", raw)
        if text != raw:
            return fail(number, "entry is not in canonical form (edited)", raw)
        if entry_hash(entry) != entry["hash"]:
            return fail(number, "hash mismatch: the entry was edited", raw)
        if entry["prev"] != prev:
            what = "deleted, inserted or reordered"
            if entry["seq"] != n:
                what += f"; seq is {entry['seq']}, expected {n}"
            return fail(number, f"prev mismatch: entries before this one were {what}", raw)
        if entry["seq"] != n:
            return fail(number, f"seq gap: seq is {entry['seq']}, expected {n}", raw)
        if entry["action"] == CHECKPOINT_ACTION:
            problem, checked = _check_checkpoint(entry, key)
            if problem is not None:
                return fail(number, problem, raw)
            checkpoints += 1
            signed += checked
            last_count = entry["params"]["count"]
        prev = entry["hash"]
        n += 1
    if last:
        return fail(len(complete) + 1, "truncated last line (no final newline)", last)
    end = len(complete) + 1
    if expected_count is not None and n != expected_count:
        gone = "cut from the end" if n < expected_count else "added"
        return fail(end, f"log has {n} entries, expected {expected_count} (entries {gone})", None)
    if expected_head is not None and prev != expected_head:
        return fail(end, f"head is {prev[:16]}…, expected {expected_head[:16]}…", None)
    if require_signed and signed == 0:
        return fail(end, "no verified checkpoint signature in the log", None)
    notes = []
    if key is None and checkpoints:
        notes.append("checkpoint signatures not checked (no key given)")
    if expected_count is None and expected_head is None:
        notes.append("entries cut from the end are undetectable without an expected count or head")
    return VerifyResult(
        ok=True,
        n_entries=n,
        head=prev,
        checkpoints=checkpoints,
        signatures_checked=signed,
        last_checkpoint_count=last_count,
        notes=tuple(notes),
    )
