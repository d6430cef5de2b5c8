"""Verify an audit log: the hash chain, sequence numbers and checkpoint signatures.

What :func:`verify` detects, and what it cannot
-----------------------------------------------
* **Edited entry** (any changed byte): the line is not canonical JSON, is not
  JSON, or its ``hash`` does not match its content.
* **Deleted, inserted, duplicated or reordered entries**: ``prev`` does not
  match the previous entry's hash, or ``seq`` is not the next number.
* **Truncated last line** (a cut inside an entry): the file does not end with a
  newline.
* **Rewritten chain** (an entry edited and every hash after it recomputed, or
  checkpoints dropped and the chain recomputed): detected because, by default
  (``require_signed=True``), the head of the log must be a checkpoint whose
  signature verifies – the signature covers the head hash and count, so every
  entry before it is covered. A log with no checkpoint, or with entries after its
  last one (a *stale* checkpoint), fails. Writers checkpoint at the end of every
  run (:mod:`twinlab.audit.trail`), so an intact log always ends in one.
* **Whole entries cut from the end**: a log cut back to an earlier checkpoint is
  itself a valid signed log, so this is only detectable against a head recorded
  elsewhere: the *anchor* file the writer keeps outside the log
  (``AuditLog(anchor=...)``, ``$TWINLAB_AUDIT_ANCHOR``) given as ``anchor``, or
  a count and head hash (:meth:`AuditLog.head`, a run record) given as
  ``expected_count`` / ``expected_head``.
* The key: ``public_key`` or ``hmac_key``, else the one configured in the
  environment (:func:`twinlab.audit.keys.verification_key`). Without any, a
  strict verification fails; ``require_signed=False`` checks only the chain,
  which anyone can recompute after an edit – the result's notes say so.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from twinlab.audit.keys import (
    load_public_key,
    public_key_id,
    verification_key,
    verify_signature,
)
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


def _read_anchor(file: Path) -> tuple[int, str]:
    if not file.is_file():
        raise FileNotFoundError(f"audit anchor not found: {file}")
    try:
        data = json.loads(file.read_bytes())
        count, head = data["count"], data["head"]
    except (ValueError, UnicodeDecodeError, TypeError, KeyError):
        raise ValueError(f"{file} is not an audit anchor file (count and head)") from None
    if not isinstance(count, int) or not isinstance(head, str):
        raise ValueError(f"{file} is not an audit anchor file (count and head)")
    return count, head


def _unsigned_head(
    key: Ed25519PublicKey | bytes | None,
    n: int,
    checkpoints: int,
    signed: int,
    signed_head: str,
    head: str,
) -> str | None:
    """Why the head of a chain-valid log is not covered by a verified signature, or ``None``."""
    if key is None:
        return (
            "no key to check checkpoint signatures: give the public key (--public-key, "
            "$TWINLAB_AUDIT_PUBLIC_KEY_FILE) or configure the signing key; without one an "
            "edited and re-chained log cannot be told from an intact one"
        )
    if n == 0:
        return "the log is empty: no signed checkpoint"
    if signed == 0:
        what = "unsigned log" if checkpoints == 0 else "no checkpoint signed by this key"
        return f"no signed checkpoint in the log ({what}, or its checkpoints were removed)"
    if signed_head != head:
        return (
            "stale checkpoint: entries after the last signed checkpoint are not covered by a "
            "signature (edited after it, checkpoints removed, or a run that did not finish)"
        )
    return None


def verify(
    path: str | Path,
    *,
    public_key: str | Path | bytes | Ed25519PublicKey | None = None,
    hmac_key: bytes | None = None,
    expected_count: int | None = None,
    expected_head: str | None = None,
    anchor: str | Path | None = None,
    require_signed: bool = True,
) -> VerifyResult:
    """Verify an audit log and name its first bad entry.

    Parameters
    ----------
    path
        The log file.
    public_key
        Ed25519 public key (PEM file, PEM bytes, raw bytes or key object) to check
        checkpoint signatures with; default: the environment's
        (:func:`twinlab.audit.keys.verification_key`).
    hmac_key
        The shared key, for logs whose checkpoints use HMAC-SHA256.
    expected_count, expected_head
        Entry count and head hash recorded elsewhere (:meth:`AuditLog.head`);
        detect whole entries cut from the end.
    anchor
        The head anchor file the writer kept outside the log; the log must end
        exactly at the count and hash it holds.
    require_signed
        Fail unless the head of the log is a checkpoint whose signature verifies
        (default). ``False`` checks the chain (and any checkpoints) only.

    Returns
    -------
    VerifyResult
        ``ok``, entry count and, on failure, the first bad line, its seq and why.

    Raises
    ------
    FileNotFoundError
        If the log or the anchor does not exist.
    ValueError
        If the anchor file is not one written by :class:`AuditLog`.
    """
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"audit log not found: {file}")
    anchored = None if anchor is None else _read_anchor(Path(anchor))
    key: Ed25519PublicKey | bytes | None = None
    if public_key is not None:
        key = load_public_key(public_key)
    elif hmac_key is not None:
        key = hmac_key
    elif require_signed:
        key = verification_key()
    data = file.read_bytes()
    lines = data.split(b"\n")
    complete, last = lines[:-1], lines[-1]
    prev, n, checkpoints, signed, last_count = GENESIS, 0, 0, 0, None
    signed_head = GENESIS  # hash of the last checkpoint whose signature verified

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
            if checked:
                signed_head = entry["hash"]
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
    if anchored is not None and (n, prev) != anchored:
        count, head = anchored
        return fail(
            end,
            f"log ends at {n} entries, head {prev[:16]}…, but its anchor records {count} "
            f"entries, head {head[:16]}… (entries cut from the end, or the log rewritten)",
            None,
        )
    if require_signed:
        problem = _unsigned_head(key, n, checkpoints, signed, signed_head, prev)
        if problem is not None:
            return fail(end, problem, None)
    notes = []
    if key is None and checkpoints:
        notes.append("checkpoint signatures not checked (no key given)")
    if not require_signed:
        notes.append(
            "the head is not required to be signed: an edited and re-chained log passes this check"
        )
    if expected_count is None and expected_head is None and anchored is None:
        notes.append(
            "entries cut back to an earlier checkpoint are undetectable without an anchor "
            "or an expected count or head"
        )
    return VerifyResult(
        ok=True,
        n_entries=n,
        head=prev,
        checkpoints=checkpoints,
        signatures_checked=signed,
        last_checkpoint_count=last_count,
        notes=tuple(notes),
    )
