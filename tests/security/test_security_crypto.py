"""Envelope encryption: round trips, tamper detection, context binding, rotation, keys."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess

import pytest

from twinlab.security import (
    IntegrityError,
    KeyLocationError,
    Keyring,
    MissingKeyError,
    decrypt_bytes,
    decrypt_file,
    encrypt_bytes,
    encrypt_file,
    generate_master_key,
    key_id_for,
    load_keyring,
    read_header,
    rotate,
)


@pytest.fixture(autouse=True)
def _no_ambient_keys(monkeypatch):
    for name in ("TWINLAB_MASTER_KEY", "TWINLAB_MASTER_KEY_ID", "TWINLAB_MASTER_KEY_FILE"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def ring() -> Keyring:
    return Keyring.from_keys(generate_master_key())


def test_bytes_round_trip_with_fresh_data_keys(ring):
    data = os.urandom(5000)
    a = encrypt_bytes(data, context="patients", keyring=ring)
    b = encrypt_bytes(data, context="patients", keyring=ring)
    assert a != b and data not in a
    assert decrypt_bytes(a, context="patients", keyring=ring) == data
    assert decrypt_bytes(a, context=None, keyring=ring) == data  # stored context accepted
    empty = encrypt_bytes(b"", context="e", keyring=ring)
    assert decrypt_bytes(empty, context="e", keyring=ring) == b""


def test_file_round_trip_binds_the_file_name(ring, tmp_path):
    src = tmp_path / "patients.parquet"
    src.write_bytes(b"PAR1 patient-level rows")
    dst = encrypt_file(src, tmp_path / "patients.parquet.enc", keyring=ring)
    assert oct(dst.stat().st_mode & 0o777) == "0o600"
    assert decrypt_file(dst, keyring=ring) == src.read_bytes()
    header = read_header(dst)
    assert header.context == "patients.parquet.enc" and header.key_id == ring.current
    renamed = dst.rename(tmp_path / "events.parquet.enc")
    with pytest.raises(IntegrityError, match="context"):
        decrypt_file(renamed, keyring=ring)
    assert decrypt_file(renamed, context="patients.parquet.enc", keyring=ring) == src.read_bytes()


def test_every_flipped_byte_fails_authentication(ring):
    blob = encrypt_bytes(b"x" * 64, context="c", keyring=ring)
    header_len = read_header(blob).length
    regions = set()
    for pos in range(len(blob)):
        for mask in (0x01, 0x80):
            bad = bytearray(blob)
            bad[pos] ^= mask
            with pytest.raises(IntegrityError):
                decrypt_bytes(bytes(bad), context="c", keyring=ring)
        regions.add("header" if pos < header_len else "payload")
    assert regions == {"header", "payload"}  # magic, key id, nonces, wrapped key, digest, ct, tag


def test_truncation_and_garbage_fail_authentication(ring):
    blob = encrypt_bytes(b"y" * 100, context="c", keyring=ring)
    for cut in (0, 3, 10, read_header(blob).length, len(blob) - 1):
        with pytest.raises(IntegrityError):
            decrypt_bytes(blob[:cut], context="c", keyring=ring)
    with pytest.raises(IntegrityError):
        decrypt_bytes(blob + b"\0", context="c", keyring=ring)


def test_a_different_key_with_the_same_id_is_refused(ring):
    blob = encrypt_bytes(b"z", context="c", keyring=ring)
    impostor = Keyring({ring.current: generate_master_key()})
    with pytest.raises(IntegrityError, match="does not authenticate"):
        decrypt_bytes(blob, context="c", keyring=impostor)


def test_rotation_rewraps_and_old_key_is_then_not_needed(tmp_path):
    old, new = generate_master_key(), generate_master_key()
    ring_old = Keyring({"2024": old})
    src = tmp_path / "cohort.csv"
    src.write_bytes(b"id,dose\n1,5\n" * 100)
    enc = encrypt_file(src, tmp_path / "cohort.csv.enc", keyring=ring_old)
    payload_before = enc.read_bytes()[read_header(enc).length :]
    both = ring_old.with_key(new, kid="2025")
    assert both.current == "2025"
    assert decrypt_file(enc, keyring=both) == src.read_bytes()  # old data readable
    rotate(enc, "2025", keyring=both)
    header = read_header(enc)
    assert header.key_id == "2025"
    assert enc.read_bytes()[header.length :] == payload_before  # payload not re-encrypted
    only_new = both.without("2024")
    assert decrypt_file(enc, keyring=only_new) == src.read_bytes()
    with pytest.raises(MissingKeyError, match="'2025' is not in the keyring"):
        decrypt_file(enc, keyring=ring_old)


def test_missing_master_key_names_the_variables():
    with pytest.raises(MissingKeyError, match=r"TWINLAB_MASTER_KEY.*TWINLAB_MASTER_KEY_FILE"):
        load_keyring()
    with pytest.raises(MissingKeyError):
        encrypt_bytes(b"x", context="c")


def test_keyring_from_environment(monkeypatch):
    k1, k2 = generate_master_key(), generate_master_key()
    monkeypatch.setenv("TWINLAB_MASTER_KEY", base64.b64encode(k1).decode())
    ring = load_keyring()
    assert ring.current == key_id_for(k1) and ring.get(ring.current) == k1
    spec = f"a:{base64.b64encode(k1).decode()},b:{base64.b64encode(k2).decode()}"
    monkeypatch.setenv("TWINLAB_MASTER_KEY", spec)
    assert load_keyring().current == "b"
    monkeypatch.setenv("TWINLAB_MASTER_KEY_ID", "a")
    blob = encrypt_bytes(b"env", context="c")
    assert read_header(blob).key_id == "a" and decrypt_bytes(blob, context="c") == b"env"
    monkeypatch.setenv("TWINLAB_MASTER_KEY", "not base64!")
    with pytest.raises(MissingKeyError, match="base64"):
        load_keyring()
    monkeypatch.setenv("TWINLAB_MASTER_KEY", base64.b64encode(b"short").decode())
    with pytest.raises(MissingKeyError, match="32 bytes"):
        load_keyring()


def _key_file(path, text: str, mode: int = 0o600):
    path.write_text(text)
    path.chmod(mode)
    return path


def test_key_file_outside_the_repo_is_read(tmp_path, monkeypatch):
    k1, k2 = generate_master_key(), generate_master_key()
    spec = {"current": "k2", "keys": {"k1": base64.b64encode(k1).decode(),
                                      "k2": base64.b64encode(k2).decode()}}  # fmt: skip
    f = _key_file(tmp_path / "master.json", json.dumps(spec))
    monkeypatch.setenv("TWINLAB_MASTER_KEY_FILE", str(f))
    ring = load_keyring()
    assert ring.current == "k2" and ring.get("k1") == k1
    single = _key_file(tmp_path / "master.key", base64.b64encode(k1).decode() + "\n")
    assert load_keyring(key_file=single).get(key_id_for(k1)) == k1


def test_key_file_problems_are_clear_errors(tmp_path, monkeypatch):
    monkeypatch.setenv("TWINLAB_MASTER_KEY_FILE", str(tmp_path / "missing.key"))
    with pytest.raises(MissingKeyError, match=r"missing\.key.*TWINLAB_MASTER_KEY_FILE"):
        load_keyring()
    text = base64.b64encode(generate_master_key()).decode()
    loose = _key_file(tmp_path / "loose.key", text, 0o644)
    with pytest.raises(KeyLocationError, match="chmod 600"):
        load_keyring(key_file=loose)
    repo = tmp_path / "repo"
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    inside = _key_file(repo / "master.key", text)
    with pytest.raises(KeyLocationError, match="inside the git work tree"):
        load_keyring(key_file=inside)
    monkeypatch.chdir(repo)  # the current work tree counts too, wherever the file is named from
    with pytest.raises(KeyLocationError):
        load_keyring(key_file="master.key")


def test_the_work_tree_check_sees_a_repository_created_after_a_passing_check(tmp_path):
    # the check is cached per state of the .git entries above the file, so a repository
    # created (or removed) around an accepted key file is seen at the next check
    from twinlab.security.keyfiles import check_key_file

    folder = tmp_path / "later"
    folder.mkdir()
    key = _key_file(folder / "master.key", base64.b64encode(generate_master_key()).decode())
    assert check_key_file(key) == key.resolve()
    assert check_key_file(key) == key.resolve()  # from the cache
    subprocess.run(["git", "init", "-q", str(folder)], check=True)
    with pytest.raises(KeyLocationError, match="inside the git work tree"):
        check_key_file(key)
    shutil.rmtree(folder / ".git")
    assert check_key_file(key) == key.resolve()
