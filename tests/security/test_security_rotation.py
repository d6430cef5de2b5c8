"""Master-key rotation of a raw zone: re-wrap versus re-encrypt under fresh data keys."""

from __future__ import annotations

import base64
import json

import pytest
from click.testing import CliRunner

from twinlab.cli import cli
from twinlab.security import (
    IntegrityError,
    Keyring,
    MissingKeyError,
    decrypt_bytes,
    encrypt_bytes,
    generate_master_key,
    load_keyring,
    read_header,
)
from twinlab.security.keyfiles import write_private_file
from twinlab.security.rotation import encrypted_files, rotate_master_key

TABLES = {"lineage.parquet": b"row " * 500, "files.json": b'{"a": "patient file name"}'}


@pytest.fixture(autouse=True)
def _no_ambient_keys(monkeypatch, tmp_path):
    for name in ("TWINLAB_MASTER_KEY", "TWINLAB_MASTER_KEY_ID", "TWINLAB_MASTER_KEY_FILE",
                 "TWINLAB_AUDIT_LOG"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


@pytest.fixture
def zone(tmp_path):
    """A key file as 'twinlab keys init' writes it and a raw zone encrypted under it."""
    old = generate_master_key()
    key_file = write_private_file(tmp_path / "master.key", base64.b64encode(old) + b"\n")
    ring = Keyring.from_keys(old)
    folder = tmp_path / "raw_zone"
    (folder / "sub").mkdir(parents=True)
    for i, (name, data) in enumerate(TABLES.items()):
        where = folder / ("sub" if i else "") / f"{name}.enc"
        where.write_bytes(encrypt_bytes(data, context=name, keyring=ring))
    (folder / "README.txt").write_text("not encrypted")
    return folder, key_file, ring


def _blobs(folder):
    return {p.relative_to(folder): p.read_bytes() for p in encrypted_files([folder])}


def _spliced(old: bytes, new: bytes) -> bytes:
    """The old file's header (data key wrapped by the old master key) + the new payload."""
    return old[: read_header(old).length] + new[read_header(new).length :]


@pytest.mark.parametrize("reencrypt", [False, True])
def test_rotation_leaves_every_file_readable_with_the_new_key_alone(zone, reencrypt):
    folder, key_file, old_ring = zone
    before = _blobs(folder)
    report = rotate_master_key([folder], reencrypt_files=reencrypt, key_file=key_file)
    assert len(report.files) == 2 and report.added
    assert report.before == {old_ring.current: 2}
    ring = load_keyring(key_file=key_file)
    assert ring.current == report.new_key_id and set(ring.keys) == {
        old_ring.current,
        report.new_key_id,
    }
    new_only = Keyring({report.new_key_id: ring.get(report.new_key_id)})
    for rel, blob in _blobs(folder).items():
        context = rel.name.removesuffix(".enc")
        assert read_header(blob).key_id == report.new_key_id
        assert decrypt_bytes(blob, context=context, keyring=new_only) == TABLES[context]
        payload_kept = (
            blob[read_header(blob).length :] == before[rel][read_header(before[rel]).length :]
        )
        assert payload_kept is not reencrypt
    assert (folder / "README.txt").read_text() == "not encrypted"


def test_after_a_rewrap_the_old_key_and_an_old_copy_still_open_the_file(zone):
    folder, key_file, old_ring = zone
    before = _blobs(folder)
    rotate_master_key([folder], key_file=key_file)
    for rel, blob in _blobs(folder).items():
        context = rel.name.removesuffix(".enc")
        opened = decrypt_bytes(_spliced(before[rel], blob), context=context, keyring=old_ring)
        assert opened == TABLES[context]


def test_after_reencryption_the_old_key_and_an_old_copy_do_not(zone):
    folder, key_file, old_ring = zone
    before = _blobs(folder)
    rotate_master_key([folder], reencrypt_files=True, key_file=key_file)
    for rel, blob in _blobs(folder).items():
        with pytest.raises(IntegrityError):
            decrypt_bytes(_spliced(before[rel], blob), context=None, keyring=old_ring)


def test_a_file_under_an_unknown_key_stops_the_rotation_before_anything_changes(zone):
    folder, key_file, _ = zone
    stranger = Keyring.from_keys(generate_master_key())
    (folder / "other.enc").write_bytes(encrypt_bytes(b"x", context="other", keyring=stranger))
    before, key_text = _blobs(folder), key_file.read_bytes()
    with pytest.raises(MissingKeyError, match="nothing was rotated"):
        rotate_master_key([folder], reencrypt_files=True, key_file=key_file)
    assert _blobs(folder) == before and key_file.read_bytes() == key_text


def test_retire_drops_the_old_keys_from_the_key_file(zone):
    folder, key_file, old_ring = zone
    report = rotate_master_key([folder], reencrypt_files=True, key_file=key_file, retire=True)
    spec = json.loads(key_file.read_text())
    assert spec["current"] == report.new_key_id and list(spec["keys"]) == [report.new_key_id]
    assert report.retired == [old_ring.current]


def test_keys_from_the_environment_need_an_explicit_target(zone, monkeypatch):
    folder, _, old_ring = zone
    new = generate_master_key()
    ring = old_ring.with_key(new, kid="k2026")
    text = ",".join(f"{k}:{base64.b64encode(v).decode()}" for k, v in ring.keys.items())
    monkeypatch.setenv("TWINLAB_MASTER_KEY", text)
    with pytest.raises(ValueError, match="does not rewrite"):
        rotate_master_key([folder])
    report = rotate_master_key([folder], to="k2026", reencrypt_files=True)
    assert report.key_file is None and not report.added
    assert {read_header(b).key_id for b in _blobs(folder).values()} == {"k2026"}


def test_cli_rotate_reencrypt(zone, monkeypatch):
    folder, key_file, _ = zone
    monkeypatch.setenv("TWINLAB_MASTER_KEY_FILE", str(key_file))
    result = CliRunner().invoke(cli, ["keys", "rotate", str(folder), "--reencrypt"])
    assert result.exit_code == 0, result.output
    assert "re-encrypted 2 file(s) under master key" in result.output
    result = CliRunner().invoke(cli, ["keys", "rotate", str(folder), "--to", "nope"])
    assert result.exit_code == 2
    assert result.output.startswith("Error: master key 'nope' is not in the keyring")
