"""The ``audit`` command group: verify, show, checkpoint, keygen."""

from __future__ import annotations

import stat
import subprocess

import pytest
from click.testing import CliRunner

from twinlab.audit import AuditLog
from twinlab.cli import cli


@pytest.fixture(autouse=True)
def _no_ambient_keys(monkeypatch):
    for name in ("TWINLAB_AUDIT_KEY", "TWINLAB_AUDIT_KEY_FILE", "TWINLAB_AUDIT_HMAC_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TWINLAB_USER", "tester")


@pytest.fixture
def runner():
    return CliRunner()


@pytest.mark.parametrize("command", [[], ["verify"], ["show"], ["keygen"], ["checkpoint"]])
def test_every_command_has_help(runner, command):
    result = runner.invoke(cli, ["audit", *command, "--help"])
    assert result.exit_code == 0 and "Usage" in result.output


@pytest.fixture
def keys(runner, tmp_path):
    out = tmp_path / "keys"
    result = runner.invoke(cli, ["audit", "keygen", "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out / "audit_ed25519.pem", out / "audit_ed25519.pub.pem"


def test_keygen_writes_a_private_key_only_its_owner_can_read(keys, runner):
    private, public = keys
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert b"PRIVATE KEY" in private.read_bytes() and b"PUBLIC KEY" in public.read_bytes()
    again = runner.invoke(cli, ["audit", "keygen", "--out", str(private.parent)])
    assert again.exit_code == 2 and "not overwriting" in again.output


def test_keygen_refuses_a_folder_inside_a_git_work_tree(runner, tmp_path):
    subprocess.run(["git", "init", "-q", str(tmp_path / "repo")], check=True)
    result = runner.invoke(cli, ["audit", "keygen", "--out", str(tmp_path / "repo" / "keys")])
    assert result.exit_code == 2 and "git work tree" in result.output


def test_verify_exits_0_when_intact_and_1_with_the_first_bad_entry(runner, keys, tmp_path):
    private, public = keys
    path = tmp_path / "a.jsonl"
    log = AuditLog(path)
    for i in range(5):
        log.append("simulate", f"s{i}", params={"i": i})
    ok = runner.invoke(cli, ["audit", "checkpoint", str(path), "--key-file", str(private)])
    assert ok.exit_code == 0 and "checkpoint at seq 5" in ok.output
    good = runner.invoke(cli, ["audit", "verify", str(path), "--public-key", str(public)])
    assert good.exit_code == 0 and "OK: 6 entries" in good.output
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:2] + lines[3:]))
    bad = runner.invoke(cli, ["audit", "verify", str(path)])
    assert bad.exit_code == 1
    assert "FAILED at line 3 (seq 2)" in bad.output and '"target":"s3"' in bad.output


def test_verify_with_expected_count_detects_a_cut_tail(runner, tmp_path):
    path = tmp_path / "a.jsonl"
    log = AuditLog(path)
    for i in range(4):
        log.append("simulate", f"s{i}")
    head = log.head()
    path.write_bytes(b"".join(path.read_bytes().splitlines(keepends=True)[:3]))
    plain = runner.invoke(cli, ["audit", "verify", "--chain-only", str(path)])
    assert plain.exit_code == 0 and "undetectable" in plain.output
    anchored = runner.invoke(
        cli,
        [
            "audit",
            "verify",
            "--chain-only",
            str(path),
            *("--expect-count", "4"),
            *("--expect-head", head["head"]),
        ],
    )
    assert anchored.exit_code == 1 and "expected 4" in anchored.output


def test_checkpoint_without_key_is_a_clear_error(runner, tmp_path, monkeypatch):
    result = runner.invoke(cli, ["audit", "checkpoint", str(tmp_path / "a.jsonl")])
    assert result.exit_code == 2 and "TWINLAB_AUDIT_KEY" in result.output


def test_show_prints_the_tail(runner, tmp_path):
    path = tmp_path / "a.jsonl"
    log = AuditLog(path, actor="ana")
    for i in range(5):
        log.append("dashboard.query", f"q{i}", params={"dose": i}, reason="what-if")
    result = runner.invoke(cli, ["audit", "show", str(path), "--tail", "2"])
    assert result.exit_code == 0
    out = result.output.splitlines()
    assert len(out) == 2 and "q3" in out[0] and "q4" in out[1] and "ana" in out[1]
    raw = runner.invoke(cli, ["audit", "show", str(path), "--json", "-n", "1"])
    assert raw.output.strip() == path.read_text().splitlines()[-1]
