"""Verifying the audit log: thousands of seeded mutations, each detected at its first bad line."""

from __future__ import annotations

import base64
import json
import random
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from twinlab.audit import (
    CHECKPOINT_ACTION,
    AuditLog,
    Ed25519Signer,
    HmacSigner,
    canonical,
    entry_hash,
    verify,
)
from twinlab.audit.testing import example_log


@pytest.fixture(autouse=True)
def _no_ambient_keys(monkeypatch):
    for name in ("TWINLAB_AUDIT_KEY", "TWINLAB_AUDIT_KEY_FILE", "TWINLAB_AUDIT_HMAC_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TWINLAB_USER", "tester")


@pytest.fixture(scope="module")
def private_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture(scope="module")
def signer(private_key) -> Ed25519Signer:
    return Ed25519Signer(private_key)


@pytest.fixture
def signed_log(tmp_path: Path, signer) -> Path:
    """A 60-entry log with a signed checkpoint after every 10 entries."""
    return example_log(tmp_path / "audit.jsonl", 60, signer=signer).path


def _first_difference(original: list[bytes], mutated: list[bytes]) -> int:
    """1-based number of the first line where ``mutated`` departs from ``original``."""
    for i, (a, b) in enumerate(zip(original, mutated, strict=False), start=1):
        if a != b:
            return i
    return min(len(original), len(mutated)) + 1


def _seal(entry: dict) -> bytes:
    entry = {k: v for k, v in entry.items() if k != "hash"}
    entry["hash"] = entry_hash(entry)
    return canonical(entry)


def _mutate(data: bytes, rng: random.Random, kind: str) -> tuple[bytes, int]:
    """Apply one mutation; return the mutated bytes and the line verify must name."""
    lines = data.split(b"\n")[:-1]
    n = len(lines)
    if kind == "flip":
        pos = rng.randrange(len(data))
        out = bytearray(data)
        out[pos] ^= rng.randrange(1, 256)
        return bytes(out), data[:pos].count(b"\n") + 1
    if kind == "delete":
        k = rng.randrange(n)
        new = lines[:k] + lines[k + 1 :]
    elif kind == "duplicate":
        src, k = rng.randrange(n), rng.randrange(n + 1)
        new = [*lines[:k], lines[src], *lines[k:]]
    elif kind == "forge":
        k = rng.randrange(n + 1)
        entry = json.loads(lines[rng.randrange(n)])
        entry["target"] = "forged"
        entry["seq"] = k
        entry["prev"] = f"{rng.getrandbits(256):064x}"
        new = [*lines[:k], _seal(entry), *lines[k:]]
    elif kind == "swap":
        i, j = sorted(rng.sample(range(n), 2))
        new = list(lines)
        new[i], new[j] = new[j], new[i]
    elif kind == "truncate":
        cut = rng.randrange(len(data))
        out = data[:cut]
        # a torn last line is named itself; whole entries cut are named just past the end
        return out, out.count(b"\n") + 1
    else:  # pragma: no cover
        raise ValueError(kind)
    return b"".join(line + b"\n" for line in new), _first_difference(lines, new)


KINDS = ("flip", "flip", "flip", "delete", "duplicate", "forge", "swap", "truncate")


def test_two_thousand_random_mutations_are_all_detected_at_the_first_bad_line(
    signed_log, private_key, tmp_path
):
    data = signed_log.read_bytes()
    anchor = AuditLog(signed_log).head()
    rng = random.Random(20240611)
    target = tmp_path / "mutated.jsonl"
    seen: dict[str, int] = {}
    for trial in range(2000):
        kind = rng.choice(KINDS)
        mutated, line = _mutate(data, rng, kind)
        if mutated == data:  # e.g. a duplicate that lands next to itself at the end
            continue
        target.write_bytes(mutated)
        result = verify(
            target,
            public_key=private_key.public_key(),
            expected_count=anchor["count"],
            expected_head=anchor["head"],
            require_signed=False,  # the chain itself; the signed head is tested elsewhere
        )
        assert not result.ok, f"trial {trial} ({kind}) not detected"
        assert result.line == line, f"trial {trial} ({kind}): {result} (expected line {line})"
        assert result.reason
        seen[kind] = seen.get(kind, 0) + 1
        # without external anchors, only whole entries cut from the end can go unnoticed
        plain = verify(target, require_signed=False)
        tail_cut = mutated.endswith(b"\n") and data.startswith(mutated)
        assert plain.ok == tail_cut, f"trial {trial} ({kind}): {plain}"
    assert sum(seen.values()) > 1900 and set(seen) == set(KINDS)


@pytest.mark.parametrize("n", [0, 1, 2, 9, 10, 11, 37, 120])
@pytest.mark.parametrize("signed", [False, True])
def test_intact_logs_of_any_length_verify(tmp_path, n, signed, signer, private_key):
    path = tmp_path / "a.jsonl"
    log = example_log(path, n, signer=signer if signed else None)
    if n == 0:
        path.touch()
    head = log.head()
    key = private_key.public_key() if signed else None
    result = verify(
        path,
        public_key=key,
        expected_count=head["count"],
        expected_head=head["head"],
        require_signed=False,
    )
    assert result.ok, str(result)
    assert result.n_entries == head["count"] == n + (n // 10 if signed else 0)
    assert result.signatures_checked == (n // 10 if signed else 0)
    assert verify(path, require_signed=False).ok
    if signed and n:
        log.seal()
        assert verify(path, public_key=key).ok


def test_report_names_line_seq_and_reason(signed_log, tmp_path):
    lines = signed_log.read_bytes().splitlines(keepends=True)
    edited = lines[6].replace(b'"i":6', b'"i":7')
    path = tmp_path / "edited.jsonl"
    path.write_bytes(b"".join([*lines[:6], edited, *lines[7:]]))
    result = verify(path)
    assert (result.ok, result.line, result.seq) == (False, 7, 6)
    assert "hash mismatch" in result.reason and '"i":7' in result.bad_line
    assert "FAILED at line 7 (seq 6)" in str(result)
    path.write_bytes(b"".join(lines[:3] + lines[4:]))
    assert "prev mismatch" in verify(path).reason
    path.write_bytes(b"".join(lines)[:-5])
    assert "truncated last line" in verify(path).reason


def _rewrite_chain(lines: list[bytes], edit_at: int, signer=None) -> list[bytes]:
    """An attacker edits one entry and recomputes every hash (and re-signs with ``signer``)."""
    out, prev = [], None
    for i, raw in enumerate(lines):
        entry = json.loads(raw)
        if i == edit_at:
            entry["params"]["dose_mg"] = 0.0
        if prev is not None:
            entry["prev"] = prev
        if entry["action"] == CHECKPOINT_ACTION:
            entry["params"]["head"] = entry["prev"]
            if signer is not None:
                unsigned = {k: v for k, v in entry.items() if k != "hash"}
                unsigned["params"] = {k: v for k, v in entry["params"].items() if k != "sig"}
                sig = signer.sign(canonical(unsigned))
                entry["params"]["sig"] = base64.b64encode(sig).decode()
        line = _seal(entry)
        prev = json.loads(line)["hash"]
        out.append(line)
    return out


def test_rewritten_chain_is_caught_by_the_next_signed_checkpoint(signed_log, private_key, tmp_path):
    lines = signed_log.read_bytes().splitlines()
    path = tmp_path / "rewritten.jsonl"
    path.write_bytes(b"\n".join(_rewrite_chain(lines, 3)) + b"\n")
    assert verify(path, require_signed=False).ok  # the chain alone is consistent again ...
    result = verify(path, public_key=private_key.public_key())
    assert not result.ok and result.line == 11  # ... but the checkpoint at seq 10 is not
    assert "bad checkpoint signature" in result.reason


def test_checkpoint_signed_by_a_forger_is_detected(signed_log, private_key, tmp_path):
    lines = signed_log.read_bytes().splitlines()
    forger = Ed25519Signer(Ed25519PrivateKey.generate())
    path = tmp_path / "forged.jsonl"
    path.write_bytes(b"\n".join(_rewrite_chain(lines, 3, signer=forger)) + b"\n")
    result = verify(path, public_key=private_key.public_key())
    assert not result.ok and result.line == 11
    assert "bad checkpoint signature" in result.reason
    assert verify(path, public_key=forger.public_key).line == 11  # claims the real key's id


def test_wrong_public_key_is_detected(signed_log):
    other = Ed25519PrivateKey.generate().public_key()
    result = verify(signed_log, public_key=other)
    assert not result.ok and result.line == 11 and "not by the given key" in result.reason


def test_hmac_checkpoints_verify_with_the_shared_key_only(tmp_path):
    path = tmp_path / "a.jsonl"
    example_log(path, 9, signer=HmacSigner(b"s" * 32), checkpoint_every=4)
    assert verify(path, hmac_key=b"s" * 32).signatures_checked == 2
    assert not verify(path, hmac_key=b"t" * 32).ok
    ed = Ed25519PrivateKey.generate().public_key()
    assert "hmac-sha256" in verify(path, public_key=ed).reason


def test_require_signed_and_missing_file(tmp_path):
    path = tmp_path / "a.jsonl"
    example_log(path, 3)
    key = Ed25519PrivateKey.generate().public_key()
    assert not verify(path, public_key=key, require_signed=True).ok
    with pytest.raises(FileNotFoundError, match="audit log not found"):
        verify(Path(tmp_path / "missing.jsonl"))
