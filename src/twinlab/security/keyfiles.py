"""Where secret keys may live, and the errors raised when they are missing or misplaced.

Secret keys (the audit signing key, the encryption master keys) come from an
environment variable or from a key file *outside* the repository: a key file
inside a git work tree is one ``git add`` away from being published, so it is
refused with :class:`KeyLocationError`. Key files must also be private to their
owner (mode ``0600`` or stricter on POSIX), like ``ssh`` demands.
"""

from __future__ import annotations

import functools
import os
import stat
import subprocess
from pathlib import Path

from twinlab.config import ConfigError
from twinlab.security.filemodes import make_dirs

__all__ = [
    "DEFAULT_KEY_DIR",
    "KEY_FILES",
    "KeyLocationError",
    "MissingKeyError",
    "check_key_file",
    "foreign_owner",
    "git_work_tree",
    "init_local_keys",
    "write_private_file",
    "write_public_file",
]


class MissingKeyError(ConfigError):
    """A required key is not configured (names the variable or file to set)."""


class KeyLocationError(ConfigError):
    """A key file lies where it must not (inside a git work tree, or readable by others)."""


def git_work_tree(path: str | Path | None = None) -> Path | None:
    """Return the top of the git work tree holding ``path``, or ``None``.

    Parameters
    ----------
    path
        A file or folder; the working directory by default.

    Returns
    -------
    Path or None
        The work tree's top folder; ``None`` outside any work tree or when
        ``git`` is not installed.
    """
    here = Path(path) if path is not None else Path.cwd()
    here = here.resolve()
    folder = here if here.is_dir() else here.parent
    while not folder.exists():
        folder = folder.parent
    # git's answer depends on the folder, the ``.git`` entries above it and git's variables;
    # asked once per such state (a key check runs on every signed audit entry: two ``git``
    # processes each time cost ~15 ms), asked again as soon as a repository appears or goes
    markers = tuple(str(p) for p in (folder, *folder.parents) if (p / ".git").exists())
    env = tuple(os.environ.get(v) for v in ("GIT_DIR", "GIT_WORK_TREE", "GIT_CEILING_DIRECTORIES"))
    top = _toplevel(str(folder), markers, env)
    return None if top is None else Path(top)


@functools.lru_cache(maxsize=256)
def _toplevel(folder: str, markers: tuple[str, ...], env: tuple[str | None, ...]) -> str | None:
    """``git rev-parse --show-toplevel`` in ``folder`` (the other arguments key the cache)."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--show-toplevel"],
            cwd=folder,
            capture_output=True,
            text=True,
            check=False,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0 or not out.stdout.strip():
        return None
    return str(Path(out.stdout.strip()).resolve())


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.relative_to(folder)
    except ValueError:
        return False
    return True


def foreign_owner(path: str | Path) -> str | None:
    """Why ``path`` may not hold a secret for this process: ``"owned by uid N"`` when it
    belongs to neither this user nor root, else ``None`` (and always on Windows).

    A process run as root reads a ``0600`` file whoever owns it: a file another local user
    put in place (their clients, users or keys) must not be taken as this service's own.
    """
    if os.name != "posix":
        return None
    owner = Path(path).stat().st_uid
    return None if owner in (os.geteuid(), 0) else f"owned by uid {owner}"


def check_key_file(path: str | Path, *, what: str = "key file", env: str | None = None) -> Path:
    """Check that a secret key file exists, is private and lies outside any git work tree.

    Parameters
    ----------
    path
        The key file.
    what
        What the file holds, for error messages.
    env
        The environment variable that named the file, for error messages.

    Returns
    -------
    Path
        The resolved path.

    Raises
    ------
    MissingKeyError
        If the file does not exist.
    KeyLocationError
        If it lies inside the current git work tree (or its own folder's), is
        readable or writable by group or others, or belongs to another user.
    """
    file = Path(path).expanduser().resolve()
    named = f" (from ${env})" if env else ""
    if not file.is_file():
        raise MissingKeyError(f"{what} not found: {file}{named}")
    for start in (None, file.parent):
        tree = git_work_tree(start)
        if tree is not None and _inside(file, tree):
            raise KeyLocationError(
                f"{what} {file}{named} lies inside the git work tree {tree}; "
                "move it outside the repository (e.g. ~/.config/twinlab/)"
            )
    if os.name == "posix":
        mode = stat.S_IMODE(file.stat().st_mode)
        if mode & 0o077:
            raise KeyLocationError(
                f"{what} {file}{named} has mode {mode:04o}; make it private: chmod 600 {file}"
            )
        foreign = foreign_owner(file)
        if foreign:
            raise KeyLocationError(f"{what} {file}{named} is {foreign}, not by this user")
    return file


def write_private_file(path: str | Path, data: bytes, *, overwrite: bool = False) -> Path:
    """Write ``data`` to a new file readable only by its owner (mode ``0600``).

    Parameters
    ----------
    path
        The file to create.
    data
        Its content.
    overwrite
        Replace an existing file instead of raising :class:`FileExistsError`.

    Returns
    -------
    Path
        The file written.
    """
    file = Path(path)
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if overwrite else os.O_EXCL)
    # never through a link: one planted where a key or an export is (re)written would have
    # the secret written over, or into, whatever file it names
    flags |= getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(file, flags, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    return file


def write_public_file(path: str | Path, data: bytes) -> Path:
    """Write (or replace) a public file, such as a certificate or a public key: readable by
    all, writable by its owner only (``0644``) whatever the umask.

    Under ``umask 000`` a plain ``write_bytes`` leaves it ``0666``: anyone could put their
    own CA certificate or audit public key in its place, and the cluster would trust their
    certificates, a reviewer would verify their forged audit log.
    """
    file = Path(path)
    fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
    try:
        os.fchmod(fd, 0o644)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    return file


#: Where ``twinlab keys init`` puts a workstation's own keys (outside any repository).
DEFAULT_KEY_DIR = Path("~/.config/twinlab/keys")
#: Environment variable -> key file name, for every secret twinlab reads from a file.
KEY_FILES: dict[str, str] = {
    "TWINLAB_DEID_KEY_FILE": "deid.key",
    "TWINLAB_MASTER_KEY_FILE": "master.key",
    # base64 of a 32-byte Ed25519 seed: signs the audit log's checkpoints
    "TWINLAB_AUDIT_KEY_FILE": "audit.key",
}


def init_local_keys(folder: str | Path | None = None) -> dict[str, Path]:
    """Create this workstation's de-identification, master and audit signing keys if missing.

    Each key is 32 random bytes, base64-encoded, in a ``0600`` file under
    ``folder`` (default ``~/.config/twinlab/keys``); the audit key is an
    Ed25519 seed, and its public key (for reviewers) is written beside it as
    ``audit.pub.pem``. Existing keys are kept: regenerating the
    de-identification key would change every pseudonym, losing the master key
    would make the raw zone unreadable, and a new audit key would no longer
    match the checkpoints already signed.

    Parameters
    ----------
    folder
        Where the key files live; refused inside a git work tree.

    Returns
    -------
    dict
        Environment variable -> key file, ready for ``os.environ.update``.
    """
    import base64
    import secrets

    where = Path(folder or DEFAULT_KEY_DIR).expanduser().resolve()
    tree = git_work_tree(where)
    if tree is not None:
        raise KeyLocationError(f"key folder {where} lies inside the git work tree {tree}")
    make_dirs(where, 0o700)
    files = {}
    for env, name in KEY_FILES.items():
        file = where / name
        if not file.exists():
            write_private_file(file, base64.b64encode(secrets.token_bytes(32)) + b"\n")
        files[env] = file
    public = where / "audit.pub.pem"
    if not public.exists():
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        seed = base64.b64decode(files["TWINLAB_AUDIT_KEY_FILE"].read_bytes().strip())
        write_public_file(
            public,
            Ed25519PrivateKey.from_private_bytes(seed)
            .public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            ),
        )
    return files
