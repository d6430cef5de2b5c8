"""Appending to the audit log: entry fields, redaction, checkpoints, concurrent writers."""

from __future__ import annotations

import json
import multiprocessing as mp
import re
from pathlib import Path

import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from twinlab.audit import (
    CHECKPOINT_ACTION,
    GENESIS,
    REDACTED,
    AuditLog,
    AuditLogError,
    Ed25519Signer,
    HmacSigner,
    canonical,
    entry_hash,
    is_secret_name,
    redact,
    verify,
)
from twinlab.security import MissingKeyError


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


TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


def test_entries_carry_seq_time_actor_and_chain(tmp_path):
    log = AuditLog(tmp_path / "a.jsonl", actor="ana")
    first = log.append("model.fit", "models/pk1", params={"draws": 1000}, reason="initial fit")
    second = log.append("simulate", "results/s1.zarr", old={"n": 10}, new={"n": 20})
    assert (first["seq"], second["seq"]) == (0, 1)
    assert first["prev"] == GENESIS
    assert second["prev"] == first["hash"] == entry_hash(first)
    assert TS.match(first["ts"])
    assert first["actor"] == "ana" and first["reason"] == "initial fit"
    assert second["old"] == {"n": 10} and second["new"] == {"n": 20}
    lines = (tmp_path / "a.jsonl").read_bytes().splitlines()
    assert lines == [canonical(first), canonical(second)]
    assert list(log) == [first, second]
    assert log.tail(1) == [second]
    assert log.head() == {"count": 2, "head": second["hash"]}


def test_default_actor_comes_from_twinlab_user(tmp_path, monkeypatch):
    monkeypatch.setenv("TWINLAB_USER", "reviewer-7")
    assert AuditLog(tmp_path / "a.jsonl").append("data.access", "x")["actor"] == "reviewer-7"


@pytest.mark.parametrize(
    "name",
    ["key", "api_key", "apiKey", "masterkey", "password", "db_password", "passwd", "token",
     "access_token", "secret", "client-secret", "credentials", "private_key_pem", "AUTH"],
)  # fmt: skip
def test_secret_looking_names_are_detected(name):
    assert is_secret_name(name)


@pytest.mark.parametrize("name", ["dose", "key_id", "n_patients", "monkey_count", "seed", ""])
def test_ordinary_names_are_kept(name):
    assert not is_secret_name(name)


def test_secrets_are_redacted_before_hashing_and_never_written(tmp_path):
    path = tmp_path / "a.jsonl"
    entry = AuditLog(path).append(
        "stage.run",
        "deid",
        params={"pseudonym_key": "s3cr3t-A", "nested": {"password": "s3cr3t-B"}, "n": 3},
        old={"token": "s3cr3t-C"},
        new=[{"api_key": "s3cr3t-D"}],
    )
    raw = path.read_text(encoding="utf-8")
    assert "s3cr3t" not in raw
    assert entry["params"] == {"pseudonym_key": REDACTED, "nested": {"password": REDACTED}, "n": 3}
    assert entry["old"] == {"token": REDACTED} and entry["new"] == [{"api_key": REDACTED}]
    assert verify(path, require_signed=False).ok
    assert redact({"a": {"secret": 1}}) == {"a": {"secret": REDACTED}}


def test_numpy_and_path_values_are_recorded_as_plain_json(tmp_path):
    path = tmp_path / "a.jsonl"
    e = AuditLog(path).append(
        "simulate", "x", params={"n": np.int64(5), "w": np.float32(0.5), "p": Path("a/b")}
    )
    assert e["params"] == {"n": 5, "w": 0.5, "p": "a/b"}
    assert verify(path, require_signed=False).ok


def test_nan_and_unserializable_values_are_refused(tmp_path):
    log = AuditLog(tmp_path / "a.jsonl")
    with pytest.raises(AuditLogError, match="NaN"):
        log.append("simulate", "x", params={"v": float("nan")})
    with pytest.raises(AuditLogError, match="object"):
        log.append("simulate", "x", params={"v": object()})
    with pytest.raises(ValueError, match="invalid audit action"):
        log.append(CHECKPOINT_ACTION, "x")
    assert (
        not (tmp_path / "a.jsonl").exists()
        or verify(tmp_path / "a.jsonl", require_signed=False).n_entries == 0
    )


def test_checkpoints_every_n_entries_are_signed(tmp_path, signer, private_key):
    path = tmp_path / "a.jsonl"
    log = AuditLog(path, signer=signer, checkpoint_every=5)
    for i in range(12):
        log.append("simulate", "x", params={"i": i})
    on_demand = log.checkpoint()
    entries = list(log)
    cps = [e for e in entries if e["action"] == CHECKPOINT_ACTION]
    assert [e["seq"] for e in cps] == [5, 11, on_demand["seq"]]
    for cp in cps:
        assert cp["params"]["count"] == cp["seq"]
        assert cp["params"]["head"] == cp["prev"]
        assert cp["params"]["alg"] == "ed25519"
    result = verify(path, public_key=private_key.public_key())
    assert result.ok and result.signatures_checked == 3
    assert result.last_checkpoint_count == on_demand["seq"]


def test_checkpoint_without_a_key_names_the_variables(tmp_path):
    with pytest.raises(MissingKeyError, match="TWINLAB_AUDIT_KEY"):
        AuditLog(tmp_path / "a.jsonl").checkpoint()


def test_append_refuses_a_log_with_a_torn_or_edited_tail(tmp_path):
    path = tmp_path / "a.jsonl"
    log = AuditLog(path)
    log.append("simulate", "x")
    with path.open("ab") as fh:
        fh.write(b'{"seq":1')
    with pytest.raises(AuditLogError, match="incomplete"):
        log.append("simulate", "y")
    path.write_bytes(
        path.read_bytes().splitlines(keepends=True)[0].replace(b"simulate", b"simulat")
    )
    with pytest.raises(AuditLogError, match="corrupt"):
        log.append("simulate", "y")


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=10,
)  # fmt: skip


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(params=st.dictionaries(st.text(max_size=8), json_values, max_size=4), target=st.text())
def test_any_json_params_round_trip_and_verify(tmp_path_factory, params, target):
    path = tmp_path_factory.mktemp("h") / "a.jsonl"
    log = AuditLog(path, actor="ü")
    entry = log.append("dashboard.query", target, params=params, reason="ß\n\u2028")
    log.append("dashboard.query", target, params=params)
    assert entry["params"] == json.loads(json.dumps(redact(params)))
    assert verify(path, require_signed=False).ok


def _writer(path: str, worker: int, n: int, hmac_key: bytes) -> None:
    log = AuditLog(path, actor=f"w{worker}", signer=HmacSigner(hmac_key), checkpoint_every=50)
    for i in range(n):
        log.append("simulate", f"chunk-{worker}-{i}", params={"worker": worker, "i": i})


def test_concurrent_writers_lose_and_duplicate_nothing(tmp_path):
    path = tmp_path / "shared.jsonl"
    key = b"k" * 32
    n_procs, n_each = 4, 200
    ctx = mp.get_context("fork")
    procs = [ctx.Process(target=_writer, args=(str(path), w, n_each, key)) for w in range(n_procs)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    result = verify(path, hmac_key=key)
    assert result.ok, str(result)
    entries = list(AuditLog(path))
    assert [e["seq"] for e in entries] == list(range(len(entries)))
    work = [(e["params"]["worker"], e["params"]["i"]) for e in entries if e["action"] == "simulate"]
    assert len(work) == len(set(work)) == n_procs * n_each
    assert set(work) == {(w, i) for w in range(n_procs) for i in range(n_each)}
    assert result.signatures_checked == len(entries) - n_procs * n_each > 0
