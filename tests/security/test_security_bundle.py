"""Key bundles: passphrase-encrypted export / import of the study's keys for a reviewer."""

from __future__ import annotations

import base64
import json
import stat
import struct
import subprocess

import pytest
from click.testing import CliRunner

from twinlab.cli import cli
from twinlab.security.bundle import (
    PASSPHRASE_ENV,
    BundleError,
    check_passphrase,
    export_bundle,
    import_bundle,
    passphrase_from,
    read_bundle,
    write_bundle,
)
from twinlab.security.keyfiles import KeyLocationError, init_local_keys

PASS = "orbit cactus lantern violet"
FAST = 2**14  # scrypt cost for the library tests (the default is 2**17)
ENVS = (
    "TWINLAB_DEID_KEY",
    "TWINLAB_DEID_KEY_FILE",
    "TWINLAB_MASTER_KEY",
    "TWINLAB_MASTER_KEY_FILE",
    "TWINLAB_MASTER_KEY_ID",
    "TWINLAB_AUDIT_LOG",
    PASSPHRASE_ENV,
)


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    for name in ENVS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


@pytest.fixture
def study(tmp_path):
    """The study's key folder, as 'twinlab keys init' makes it."""
    init_local_keys(tmp_path / "study-keys")
    return tmp_path / "study-keys"


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_reviewer_gets_the_same_keys_in_private_files(study, tmp_path):
    bundle = tmp_path / "out" / "bundle.twk"
    bundle.parent.mkdir()
    prints = export_bundle(bundle, PASS, include_master=True, folder=study, kdf_n=FAST)
    assert set(prints) == {"deid.key", "master.key"} and _mode(bundle) == 0o600
    result = import_bundle(bundle, PASS, folder=tmp_path / "reviewer" / "keys")
    for name in ("deid.key", "master.key"):
        got = result.files[name]
        assert got.read_text().strip() == (study / name).read_text().strip()
        assert _mode(got) == 0o600 and result.status[name] == "written"
    assert _mode(tmp_path / "reviewer" / "keys") == 0o700
    assert result.fingerprints == prints
    assert result.environment()["TWINLAB_DEID_KEY_FILE"] == str(result.files["deid.key"])


def test_without_include_master_only_the_deid_key_travels(study, tmp_path):
    bundle = tmp_path / "b.twk"
    assert set(export_bundle(bundle, PASS, folder=study, kdf_n=FAST)) == {"deid.key"}
    assert set(read_bundle(bundle, PASS)) == {"deid.key"}


def test_the_bundle_holds_no_key_material_in_clear(study, tmp_path):
    bundle = tmp_path / "b.twk"
    export_bundle(bundle, PASS, include_master=True, folder=study, kdf_n=FAST)
    blob = bundle.read_bytes()
    for name in ("deid.key", "master.key"):
        text = (study / name).read_text().strip()
        assert text.encode() not in blob and base64.b64decode(text) not in blob


def test_keys_come_from_the_environment_by_default(study, tmp_path, monkeypatch):
    monkeypatch.setenv("TWINLAB_DEID_KEY", "ab" * 32)
    monkeypatch.setenv("TWINLAB_MASTER_KEY_FILE", str(study / "master.key"))
    bundle = tmp_path / "b.twk"
    export_bundle(bundle, PASS, include_master=True, kdf_n=FAST)
    keys = read_bundle(bundle, PASS)
    assert keys["deid.key"] == "ab" * 32
    assert keys["master.key"] == (study / "master.key").read_text().strip()


def test_wrong_passphrase_and_any_altered_byte_fail_with_one_clear_error(study, tmp_path):
    bundle = tmp_path / "b.twk"
    export_bundle(bundle, PASS, folder=study, kdf_n=FAST)
    with pytest.raises(BundleError, match="wrong passphrase, or the bundle was altered"):
        read_bundle(bundle, PASS + "!")
    blob = bundle.read_bytes()
    (n_head,) = struct.unpack(">I", blob[4:8])
    header = json.loads(blob[8 : 8 + n_head])
    # the header is authenticated: a changed creation time (same length) fails like a
    # wrong passphrase, and so does a flipped ciphertext byte
    forged = json.dumps({**header, "created": header["created"].replace("2", "3")},
                        sort_keys=True, separators=(",", ":")).encode()  # fmt: skip
    assert len(forged) == n_head and forged != blob[8 : 8 + n_head]
    for altered in (blob[:8] + forged + blob[8 + n_head :], blob[:-1] + bytes([blob[-1] ^ 1])):
        bundle.write_bytes(altered)
        with pytest.raises(BundleError, match="wrong passphrase, or the bundle was altered"):
            read_bundle(bundle, PASS)
    bundle.write_bytes(b"PK\x03\x04 not a bundle")
    with pytest.raises(BundleError, match="not a twinlab key bundle"):
        read_bundle(bundle, PASS)


def test_a_crafted_header_cannot_make_the_import_allocate_gigabytes(study, tmp_path):
    bundle = tmp_path / "b.twk"
    export_bundle(bundle, PASS, folder=study, kdf_n=FAST)
    blob = bundle.read_bytes()
    (n_head,) = struct.unpack(">I", blob[4:8])
    header = json.loads(blob[8 : 8 + n_head])
    header["kdf"]["n"] = 2**30
    head = json.dumps(header).encode()
    bundle.write_bytes(blob[:4] + struct.pack(">I", len(head)) + head + blob[8 + n_head :])
    with pytest.raises(BundleError, match="outside the accepted bounds"):
        read_bundle(bundle, PASS)


@pytest.mark.parametrize(
    ("passphrase", "match"),
    [
        ("short pass", "too short"),
        ("abababababababab", "only 2 distinct characters"),
        ("Password123!", "mostly 'password'"),
        ("123456789012", "mostly '123456'"),
        ("98765432109876", "only digits or a sequence"),
        ("abcdefghijklmnop", "only digits or a sequence"),
    ],
)
def test_weak_passphrases_are_refused(passphrase, match, study, tmp_path):
    with pytest.raises(BundleError, match=match):
        check_passphrase(passphrase)
    with pytest.raises(BundleError, match=match):
        export_bundle(tmp_path / "b.twk", passphrase, folder=study, kdf_n=FAST)
    assert not (tmp_path / "b.twk").exists()


def test_a_bundle_is_never_written_inside_a_git_work_tree(study, tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    with pytest.raises(KeyLocationError, match="inside the git work tree"):
        export_bundle(repo / "sub" / "b.twk", PASS, folder=study, kdf_n=FAST)
    assert not (repo / "sub" / "b.twk").exists()
    bundle = tmp_path / "b.twk"
    export_bundle(bundle, PASS, folder=study, kdf_n=FAST)
    with pytest.raises(KeyLocationError, match="inside the git work tree"):
        import_bundle(bundle, PASS, folder=repo / "keys")
    with pytest.raises(BundleError, match="exists; pass --force"):
        export_bundle(bundle, PASS, folder=study, kdf_n=FAST)


def test_import_refuses_to_replace_a_different_key_unless_forced(study, tmp_path):
    bundle = tmp_path / "b.twk"
    export_bundle(bundle, PASS, include_master=True, folder=study, kdf_n=FAST)
    mine = tmp_path / "mine"
    init_local_keys(mine)  # the reviewer's own, different keys
    before = {p.name: p.read_bytes() for p in mine.iterdir()}
    with pytest.raises(BundleError, match=r"already hold.* a different key"):
        import_bundle(bundle, PASS, folder=mine)
    assert {p.name: p.read_bytes() for p in mine.iterdir()} == before  # nothing written
    result = import_bundle(bundle, PASS, folder=mine, force=True)
    assert result.status == {"deid.key": "replaced", "master.key": "replaced"}
    for name, backup in result.backups.items():
        assert backup.read_bytes() == before[name] and _mode(backup) == 0o600
        assert (mine / name).read_text().strip() == (study / name).read_text().strip()
    again = import_bundle(bundle, PASS, folder=mine)
    assert again.status == {"deid.key": "unchanged", "master.key": "unchanged"}


def test_the_passphrase_file_must_be_private(tmp_path, monkeypatch):
    file = tmp_path / "pass.txt"
    file.write_text(PASS + "\n")
    file.chmod(0o644)
    with pytest.raises(KeyLocationError, match="chmod 600"):
        passphrase_from(file)
    file.chmod(0o600)
    assert passphrase_from(file) == PASS
    assert passphrase_from() is None
    monkeypatch.setenv(PASSPHRASE_ENV, PASS)
    assert passphrase_from() == PASS


def test_write_bundle_refuses_unknown_keys(tmp_path):
    with pytest.raises(BundleError, match="a bundle holds keys among"):
        write_bundle({"audit.key": "x"}, tmp_path / "b.twk", PASS, kdf_n=FAST)


def test_cli_export_then_import_on_another_workstation(study, tmp_path, monkeypatch):
    runner = CliRunner()
    bundle = tmp_path / "bundle.twk"
    # typed twice at the prompt (never an argument)
    result = runner.invoke(
        cli,
        ["keys", "export", "--out", str(bundle), "--dir", str(study), "--include-master"],
        input=f"{PASS}\n{PASS}\n",
    )
    assert result.exit_code == 0, result.output
    assert "deid.key  fingerprint" in result.output and _mode(bundle) == 0o600
    passfile = tmp_path / "pass"
    passfile.write_text(PASS)
    passfile.chmod(0o600)
    reviewer = tmp_path / "reviewer-keys"
    result = runner.invoke(
        cli,
        ["keys", "import", str(bundle), "--dir", str(reviewer), "--passphrase-file", str(passfile)],
    )
    assert result.exit_code == 0, result.output
    assert f"export TWINLAB_DEID_KEY_FILE={reviewer / 'deid.key'}" in result.output
    assert (reviewer / "master.key").read_bytes().strip() == (
        study / "master.key"
    ).read_bytes().strip()


def test_cli_mistakes_are_one_line_errors(study, tmp_path, monkeypatch):
    runner = CliRunner()
    bundle = tmp_path / "bundle.twk"
    monkeypatch.setenv(PASSPHRASE_ENV, PASS)
    assert (
        runner.invoke(cli, ["keys", "export", "--out", str(bundle), "--dir", str(study)]).exit_code
        == 0
    )
    monkeypatch.setenv(PASSPHRASE_ENV, "a different one, entirely")
    cases = [
        ["keys", "import", str(bundle), "--dir", str(tmp_path / "r")],
        ["keys", "import", str(tmp_path / "missing.twk")],
        ["keys", "export", "--out", str(bundle), "--dir", str(study)],
    ]
    expected = ["wrong passphrase", "no key bundle", "exists; pass --force"]
    for args, message in zip(cases, expected, strict=True):
        result = runner.invoke(cli, args)
        assert result.exit_code == 2, result.output
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: ") and message in lines[0]
        assert result.exception is None or isinstance(result.exception, SystemExit)
    monkeypatch.setenv(PASSPHRASE_ENV, "weak")
    result = runner.invoke(
        cli, ["keys", "export", "--out", str(tmp_path / "x.twk"), "--dir", str(study)]
    )
    assert result.exit_code == 2 and "Error: passphrase too short" in result.output
