"""Red-team attacks on key and credential files that the other suites do not make: every
folder twinlab creates on the way to a secret (not only the last one) under a permissive
umask, and a key folder that others may write to (they could delete or swap the keys)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from twinlab.security.keyfiles import KeyLocationError


@contextmanager
def _umask(mask: int) -> Iterator[None]:
    previous = os.umask(mask)
    try:
        yield
    finally:
        os.umask(previous)


def _loose(root: Path) -> list[str]:
    """Everything under ``root`` that group or others may write to, and secret files
    they may read."""
    out = []
    for path in [root, *root.rglob("*")]:
        mode = stat.S_IMODE(path.lstat().st_mode)
        if mode & 0o022:
            out.append(f"{path.relative_to(root)} {mode:04o}")
        elif path.is_file() and "key" in path.name and "pub" not in path.name and mode & 0o077:
            out.append(f"{path.relative_to(root)} {mode:04o}")
    return out


def _make_secrets(root: Path) -> None:
    from twinlab.api.clients import add_client
    from twinlab.api.keys import rotate, tls_files
    from twinlab.apps.auth import add_user
    from twinlab.audit.keys import generate_keypair
    from twinlab.security.keyfiles import init_local_keys
    from twinlab.security.tls import make_test_certificates

    rotate(root / "api" / "deep" / "keys")
    tls_files(root / "tls" / "deep" / "keys")
    add_client(root / "clients" / "deep" / "clients.json", "app", "modeler")
    add_user(root / "users" / "deep" / "c.json", "alice", "modeler", "correct horse battery")
    init_local_keys(root / "local" / "deep" / "keys")
    generate_keypair(root / "audit" / "deep" / "keys")
    make_test_certificates(root / "cluster" / "deep" / "certs")


def test_under_umask_000_no_folder_on_the_way_to_a_secret_is_writable_by_others(tmp_path):
    """``mkdir(parents=True, mode=0o700)`` gives ``0700`` to the last folder only: the ones
    above it get ``0777 & ~umask``, and under ``umask 000`` anyone on the machine could
    rename them and put their own folder (their own keys, clients, users) in their place."""
    root = tmp_path / "home"
    with _umask(0):
        _make_secrets(root)
    created = [p for p in root.rglob("*")]
    assert len(created) > 20
    assert _loose(root / "api") == []
    assert [p for p in _loose(root) if not p.startswith(".")] == []


def test_the_audit_log_and_its_folders_are_private_under_umask_000(tmp_path, monkeypatch):
    from twinlab.audit import audit_event
    from twinlab.audit.log import AuditLog

    log = AuditLog(tmp_path / "a" / "b" / "audit.jsonl", actor="t")
    with _umask(0):
        log.append("test.event", "target", params={"x": 1})
    assert _loose(tmp_path) == []
    monkeypatch.setenv("TWINLAB_AUDIT_LOG", str(tmp_path / "c" / "d" / "audit.jsonl"))
    monkeypatch.setenv("TWINLAB_AUDIT_UNSIGNED", "1")
    with _umask(0):
        audit_event("test.event", "target", params={"x": 1})
    assert _loose(tmp_path) == []


def test_a_key_folder_others_may_write_to_is_refused(tmp_path):
    """Whoever may write to the API's key folder may delete the signing keys (every token
    stops) or add files the server then reads: refused, as ``ssh`` refuses such a folder."""
    from twinlab.api.keys import rotate, signing_key

    folder = tmp_path / "keys"
    rotate(folder)
    os.chmod(folder, 0o777)
    with pytest.raises(KeyLocationError, match="others may write"):
        signing_key(folder)
    os.chmod(folder, 0o700)
    assert signing_key(folder)[0]


_ROOT_ONLY = pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0, reason="giving a file away needs root"
)
_NOBODY = 65534


@_ROOT_ONLY
def test_a_secret_file_owned_by_someone_else_is_refused(tmp_path):
    """A service run as root (a container's default) reads a ``0600`` file whoever owns it:
    another local user who could put their own clients file, users file or key where the
    service looks (a writable folder on the way, a stale path) would register themselves
    as a reviewer, log in as anyone or sign the audit trail. As ``ssh`` does, a secret file
    must belong to the user reading it (or root)."""
    from twinlab.api.clients import add_client, load_clients
    from twinlab.apps.auth import add_user, load_credentials
    from twinlab.security.keyfiles import check_key_file, write_private_file

    clients = tmp_path / "clients.json"
    add_client(clients, "app", "reviewer")
    users = tmp_path / "users.json"
    add_user(users, "ana", "modeler", "correct horse battery")
    key = write_private_file(tmp_path / "audit.key", b"c2VjcmV0\n")
    assert load_clients(clients) and load_credentials(users) and check_key_file(key)
    for file in (clients, users, key):
        os.chown(file, _NOBODY, _NOBODY)
    with pytest.raises(ValueError, match="owned by"):
        load_clients(clients)
    with pytest.raises(ValueError, match="owned by"):
        load_credentials(users)
    with pytest.raises(KeyLocationError, match="owned by"):
        check_key_file(key)


@_ROOT_ONLY
def test_an_api_key_folder_owned_by_someone_else_is_refused(tmp_path):
    from twinlab.api.keys import rotate, signing_key

    folder = tmp_path / "keys"
    rotate(folder)
    os.chown(folder, _NOBODY, _NOBODY)
    with pytest.raises(KeyLocationError, match="owned by"):
        signing_key(folder)


def test_outputs_written_under_umask_000_leave_no_folder_others_may_write_to(tmp_path):
    """The raw zone, harmonized outputs and reports are written through ``write_atomic``
    and ``staged_dir``: the folders they make on the way were ``0777`` under ``umask 000``
    (anyone could swap a patient-level output for their own)."""
    from twinlab.security.filemodes import staged_dir, write_atomic

    with _umask(0):
        write_atomic(tmp_path / "zone" / "deep" / "table.json", "{}")
        with staged_dir(tmp_path / "out" / "deep" / "result") as folder:
            (folder / "a.txt").write_text("1")  # the caller's own file: its own mode
    assert [p for p in _loose(tmp_path) if not p.endswith("a.txt 0666")] == []


def test_a_secret_is_never_written_through_a_link(tmp_path):
    """A link planted where a key or an export is rewritten (``overwrite=True``: the API's
    TLS key, an ODM export) made the write land in the file it named: refused, and the
    named file is left as it was."""
    from twinlab.security.keyfiles import write_private_file

    victim = tmp_path / "victim.key"
    victim.write_bytes(b"precious\n")
    link = tmp_path / "export.xml"
    link.symlink_to(victim)
    with pytest.raises(OSError):
        write_private_file(link, b"<ODM/>", overwrite=True)
    with pytest.raises(OSError):
        write_private_file(link, b"<ODM/>")
    assert victim.read_bytes() == b"precious\n"


@pytest.mark.parametrize("address", ["10.0.0.5:8786", "tcp://10.0.0.5:8786", "ws://10.0.0.5:1"])
def test_a_scheduler_address_that_is_not_tls_is_warned_about(monkeypatch, caplog, address):
    """``host:port`` is Dask's plain ``tcp://`` too: it was connected to without a word."""
    import logging

    from twinlab import cluster

    class _Stop(Exception):
        pass

    def refuse(*args, **kwargs):
        raise _Stop

    monkeypatch.setattr(cluster, "Client", refuse)
    with caplog.at_level(logging.WARNING, logger=cluster.log.name), pytest.raises(_Stop):
        with cluster.dask_client(address):
            pass
    assert "is not tls://" in caplog.text
