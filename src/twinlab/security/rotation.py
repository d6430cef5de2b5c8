"""Master-key rotation over folders of encrypted files (the raw zone).

Two ways to rotate, both leaving every file readable with the new master key alone:

*re-wrap* (the default, :func:`twinlab.security.crypto.rotate_bytes`)
    Only each file's data key is wrapped again, under the new master key; the payload and
    its data key are unchanged. Fast (a header per file, whatever the file's size). Use it
    for scheduled rotation and for retiring a key that is *not* suspected to be
    compromised: once the old master key is destroyed, nothing opens the files without
    the new one.
*re-encrypt* (``reencrypt_files=True``, :func:`twinlab.security.crypto.reencrypt_bytes`)
    Each file is decrypted and encrypted again under a fresh data key. It reads and writes
    every byte. Use it when the old master key, or a machine that held decrypted data
    keys, may be compromised, or when a policy limits how long a data key may be used:
    after a re-wrap, the leaked old key plus any earlier copy of a file (a backup, the DVC
    cache or remote, an old clone) still yields the data key that opens the *current*
    file; after a re-encryption it does not.

Neither protects copies made before the rotation: they stay readable with the old key, so
after a suspected leak delete them too (``dvc gc`` for the cache and remote, backups).

:func:`rotate_master_key` adds a new master key to the key file (kept as a keyring,
``{"current": id, "keys": {id: base64}}``, so files not yet rotated stay readable), checks
that every file's master key is in the keyring *before* changing any, then rotates each
file atomically. ``retire=True`` finally drops the other keys from the key file – only
when the given folders hold everything those keys encrypted.
"""

from __future__ import annotations

import base64
import json
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from twinlab.security.crypto import (
    KEY_ENV,
    KEY_FILE_ENV,
    MAGIC,
    Keyring,
    _atomic_write,
    generate_master_key,
    key_id_for,
    load_keyring,
    read_header,
    rotate,
)
from twinlab.security.keyfiles import (
    DEFAULT_KEY_DIR,
    MissingKeyError,
    check_key_file,
)

__all__ = ["RotationReport", "encrypted_files", "rotate_master_key", "write_keyring"]


@dataclass
class RotationReport:
    """What :func:`rotate_master_key` did.

    Attributes
    ----------
    mode : {"rewrap", "reencrypt"}
        How the files were rotated.
    new_key_id : str
        The master key every file is now wrapped with.
    files : list of Path
        The files rotated.
    before : dict
        Master key id -> number of files it wrapped before the rotation.
    key_file : Path or None
        The key file updated (``None`` when the keys came from ``$TWINLAB_MASTER_KEY``).
    added : bool
        Whether a new master key was generated and added.
    retired : list of str
        Key ids dropped from the key file.
    """

    mode: str
    new_key_id: str
    files: list[Path] = field(default_factory=list)
    before: dict[str, int] = field(default_factory=dict)
    key_file: Path | None = None
    added: bool = False
    retired: list[str] = field(default_factory=list)


def encrypted_files(folders: Iterable[str | Path]) -> list[Path]:
    """Every twinlab-encrypted file (by its magic bytes) under ``folders``, sorted.

    Raises
    ------
    NotADirectoryError
        If a folder does not exist.
    """
    out: set[Path] = set()
    for folder in folders:
        root = Path(folder)
        if not root.is_dir():
            raise NotADirectoryError(f"no folder {root}")
        for path in root.rglob("*"):
            if path.is_file() and not path.is_symlink():
                with path.open("rb") as fh:
                    if fh.read(len(MAGIC)) == MAGIC:
                        out.add(path)
    return sorted(out)


def write_keyring(path: str | Path, ring: Keyring) -> Path:
    """Write ``ring`` to a key file as ``{"current": id, "keys": {id: base64}}`` (0600)."""
    spec = {
        "current": ring.current,
        "keys": {kid: base64.b64encode(key).decode() for kid, key in ring.keys.items()},
    }
    path = Path(path)
    _atomic_write(path, (json.dumps(spec, indent=2) + "\n").encode())
    return path


def _key_file(key_file: str | Path | None) -> Path | None:
    if key_file is not None:
        return check_key_file(key_file, what="master key file")
    if os.environ.get(KEY_ENV):
        return None  # keys from the environment: nothing to update
    if os.environ.get(KEY_FILE_ENV):
        return check_key_file(os.environ[KEY_FILE_ENV], what="master key file", env=KEY_FILE_ENV)
    default = DEFAULT_KEY_DIR.expanduser() / "master.key"
    if default.exists():
        return check_key_file(default, what="master key file")
    raise MissingKeyError(
        f"no master key to rotate: set ${KEY_FILE_ENV} (or ${KEY_ENV}), or run 'twinlab keys init'"
    )


def rotate_master_key(
    folders: Sequence[str | Path],
    *,
    reencrypt_files: bool = False,
    to: str | None = None,
    key_file: str | Path | None = None,
    retire: bool = False,
) -> RotationReport:
    """Rotate every encrypted file under ``folders`` to a (new) master key.

    Parameters
    ----------
    folders
        Folders of encrypted files (e.g. ``data/raw_zone/demo``), searched recursively.
    reencrypt_files
        Re-encrypt under fresh data keys instead of re-wrapping the data keys (see the
        module docstring for when to use which).
    to
        Rotate to this existing key id of the keyring instead of generating a new key
        (required when the keys come from ``$TWINLAB_MASTER_KEY``, which twinlab does not
        rewrite).
    key_file
        The master key file to read and update; by default ``$TWINLAB_MASTER_KEY_FILE``,
        else ``~/.config/twinlab/keys/master.key``.
    retire
        Afterwards drop every other key from the key file. Only when ``folders`` hold all
        that the old keys encrypted: anything else they encrypted becomes unreadable.

    Returns
    -------
    RotationReport

    Raises
    ------
    MissingKeyError
        A file's master key is not in the keyring (checked before any file changes), or
        ``to`` is not in the keyring.
    ValueError
        Keys from ``$TWINLAB_MASTER_KEY`` without ``to``, or ``retire`` without a key file.
    """
    file = _key_file(key_file)
    ring = load_keyring(key_file=file) if file is not None else load_keyring()
    if file is None and (to is None or retire):
        raise ValueError(
            f"the master keys come from ${KEY_ENV}, which twinlab does not rewrite: add the "
            "new key to it yourself and pass --to KEY_ID (and remove old keys yourself)"
        )
    files = encrypted_files(folders)
    headers = {path: read_header(path) for path in files}
    before = Counter(h.key_id for h in headers.values())
    missing = sorted(set(before) - set(ring.keys))
    if missing:
        raise MissingKeyError(
            f"files are encrypted under master key(s) {missing} that are not in the keyring; "
            "nothing was rotated"
        )
    added = False
    if to is None:
        key = generate_master_key()
        to = key_id_for(key)
        ring = ring.with_key(key, kid=to)
        write_keyring(file, ring)  # type: ignore[arg-type]  # before any file changes
        added = True
    elif to not in ring.keys:
        raise MissingKeyError(f"master key {to!r} is not in the keyring ({sorted(ring.keys)})")
    elif file is not None and ring.current != to:
        ring = Keyring(ring.keys, current=to)
        write_keyring(file, ring)
    for path in files:
        rotate(path, to, keyring=ring, reencrypt=reencrypt_files)
    retired: list[str] = []
    if retire and file is not None:
        retired = sorted(k for k in ring.keys if k != to)
        write_keyring(file, Keyring({to: ring.get(to)}, current=to))
    return RotationReport(
        mode="reencrypt" if reencrypt_files else "rewrap",
        new_key_id=to,
        files=files,
        before=dict(before),
        key_file=file,
        added=added,
        retired=retired,
    )
