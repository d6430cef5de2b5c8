"""Forgeries a reviewer reproduced against the audit trail (issue 16, item 6) now fail.

Each forger edits the file and recomputes every hash after the edit, so the chain alone is
consistent again; only the signature over the head (and the head anchor kept outside the log)
can tell.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from twinlab.audit import CHECKPOINT_ACTION, AuditLog, audit_event, canonical, entry_hash, verify
from twinlab.audit.trail import audit_stage
from twinlab.cli import cli
from twinlab.security import MissingKeyError

SEED = Ed25519PrivateKey.generate().private_bytes_raw()


@pytest.fixture(autouse=True)
def _signing_key(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("TWINLAB_AUDIT_KEY_FILE", "TWINLAB_AUDIT_HMAC_KEY", "TWINLAB_AUDIT_UNSIGNED"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TWINLAB_AUDIT_KEY", base64.b64encode(SEED).decode())
    monkeypatch.setenv("TWINLAB_AUDIT_LOG", str(tmp_path / "logs" / "audit.jsonl"))
    monkeypatch.setenv("TWINLAB_AUDIT_ANCHOR", str(tmp_path / "elsewhere" / "audit.head"))
    monkeypatch.setenv("TWINLAB_USER", "ana")


def _write_run(n: int = 6) -> Path:
    """A run as the library writes it: events, then a stage run."""
    for i in range(n):
        audit_event("data.access", f"data/harmonized/part-{i}", params={"rows": i})
    audit_stage("simulate", params={"n": n}, inputs=[], outputs=[])
    return _log_path()


def _log_path() -> Path:
    return Path(os.environ["TWINLAB_AUDIT_LOG"])


def _anchor() -> Path:
    return Path(os.environ["TWINLAB_AUDIT_ANCHOR"])


def _rechain(entries: list[dict]) -> bytes:
    """Renumber and re-hash ``entries`` from the start, as a forger would."""
    prev, out = "0" * 64, []
    for seq, entry in enumerate(entries):
        entry = {k: v for k, v in entry.items() if k != "hash"}
        entry["seq"], entry["prev"] = seq, prev
        entry["hash"] = prev = entry_hash(entry)
        out.append(canonical(entry) + b"\n")
    return b"".join(out)


def _entries(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_bytes().splitlines()]


def test_a_run_written_by_the_library_is_signed_to_its_head_and_verifies():
    path = _write_run()
    entries = _entries(path)
    assert entries[-1]["action"] == CHECKPOINT_ACTION
    result = verify(path, anchor=_anchor())
    assert result.ok and result.signatures_checked >= 1, result


def test_without_a_signing_key_nothing_is_written_unless_unsigned_is_opted_into(monkeypatch):
    monkeypatch.delenv("TWINLAB_AUDIT_KEY")
    with pytest.raises(MissingKeyError, match="twinlab keys init"):
        audit_event("data.access", "x")
    assert not _log_path().exists()
    monkeypatch.setenv("TWINLAB_AUDIT_UNSIGNED", "1")
    audit_event("data.access", "x")
    assert [e["action"] for e in _entries(_log_path())] == ["data.access"]


def test_an_unsigned_log_edited_and_rechained_does_not_verify(monkeypatch):
    monkeypatch.setenv("TWINLAB_AUDIT_UNSIGNED", "1")
    for i in range(5):
        audit_event("dashboard.query", "whatif", params={"dose": i})
    path = _log_path()
    entries = _entries(path)
    entries[2]["params"]["dose"] = 99
    path.write_bytes(_rechain(entries))
    assert verify(path, require_signed=False).ok  # the chain alone cannot tell
    result = verify(path)
    assert not result.ok and "no signed checkpoint" in result.reason


def test_a_signed_log_with_its_checkpoints_dropped_does_not_verify():
    path = _write_run()
    kept = [e for e in _entries(path) if e["action"] != CHECKPOINT_ACTION]
    path.write_bytes(_rechain(kept))
    result = verify(path)
    assert not result.ok and "no signed checkpoint" in result.reason


def test_entries_edited_after_the_last_checkpoint_do_not_verify():
    path = _write_run()
    entries = _entries(path)
    # drop the final checkpoint and edit the stage run before it: the rest still verifies
    del entries[-1]
    entries[-1]["params"]["n"] = 1000
    path.write_bytes(_rechain(entries))
    result = verify(path)
    assert not result.ok and "stale checkpoint" in result.reason


def test_an_entry_appended_after_the_last_checkpoint_does_not_verify():
    path = _write_run()
    AuditLog(path, actor="mallory").append("data.access", "forged")
    result = verify(path)
    assert not result.ok and "stale checkpoint" in result.reason


def test_a_log_cut_back_to_an_earlier_checkpoint_is_caught_by_its_anchor():
    path = _write_run()
    entries = path.read_bytes().splitlines(keepends=True)
    cut = max(i for i, e in enumerate(_entries(path)[:-1]) if e["action"] == CHECKPOINT_ACTION)
    path.write_bytes(b"".join(entries[: cut + 1]))
    assert verify(path).ok  # a signed prefix is a valid log on its own ...
    anchor = _anchor()
    result = verify(path, anchor=anchor)  # ... but not the one its anchor recorded
    assert not result.ok and "anchor" in result.reason


def test_the_verify_command_fails_on_forgeries_and_chain_only_says_what_it_skips(monkeypatch):
    path = _write_run()
    runner = CliRunner()
    assert runner.invoke(cli, ["audit", "verify", str(path)]).exit_code == 0
    kept = [e for e in _entries(path) if e["action"] != CHECKPOINT_ACTION]
    path.write_bytes(_rechain(kept))
    anchored = runner.invoke(cli, ["audit", "verify", str(path)])  # $TWINLAB_AUDIT_ANCHOR
    assert anchored.exit_code == 1 and "anchor records" in anchored.output
    monkeypatch.delenv("TWINLAB_AUDIT_ANCHOR")
    refused = runner.invoke(cli, ["audit", "verify", str(path)])
    assert refused.exit_code == 1 and "no signed checkpoint" in refused.output
    assert "Traceback" not in refused.output
    chain = runner.invoke(cli, ["audit", "verify", "--chain-only", str(path)])
    assert chain.exit_code == 0 and "re-chained log passes" in chain.output


def test_verify_without_any_key_fails_and_says_how_to_give_one(monkeypatch):
    path = _write_run()
    monkeypatch.delenv("TWINLAB_AUDIT_KEY")
    result = verify(path)
    assert not result.ok and "--public-key" in result.reason
    public = Ed25519PrivateKey.from_private_bytes(SEED).public_key()
    assert verify(path, public_key=public).ok


def test_keys_init_creates_the_audit_signing_key_and_its_public_key(tmp_path, monkeypatch):
    from twinlab.audit.keys import load_public_key, load_signer
    from twinlab.security.keyfiles import init_local_keys

    monkeypatch.delenv("TWINLAB_AUDIT_KEY")
    files = init_local_keys(tmp_path / "keys")
    signer = load_signer(key_file=files["TWINLAB_AUDIT_KEY_FILE"])
    public = load_public_key(tmp_path / "keys" / "audit.pub.pem")
    assert signer.public_key == public
