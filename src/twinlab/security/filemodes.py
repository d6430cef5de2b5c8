"""Private by default: the modes of the files twinlab writes, and atomic folder publishing.

The raw zone, the harmonized outputs and the audit log hold (or describe) patient data, so
they are created readable by their owner only: files ``0600``, folders ``0700``. A site that
shares outputs through a group sets ``TWINLAB_FILE_MODE`` (octal, e.g. ``640``); folders get
the same bits plus search (``x``) wherever a read bit is set (``640`` -> ``750``).

:func:`private_umask` applies the mode to everything a library creates (pyarrow, zarr, json)
while a block runs; :func:`restrict_tree` fixes the modes of files that already existed.
:func:`publish_dir` swaps a staged folder into place in one step, :func:`staged_dir` writes a
folder that way, and :func:`write_atomic` replaces one file in one step: a reader, or a kill,
sees the old version or the new one, never half of it.

Their temporary names (``.<name>.<pid>-<host>-<random>.partial`` for a folder, ``.tmp`` for a
file) say which process on which machine owns them: one killed outright (``SIGKILL``, a power
cut) leaves its own behind, and the next write of the same target removes those of dead
processes on this machine (:func:`sweep_stale`), never a live writer's or another machine's.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import glob
import os
import re
import secrets
import shutil
import socket
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = [
    "DEFAULT_FILE_MODE",
    "backup_path",
    "dir_mode",
    "file_mode",
    "make_dirs",
    "private_umask",
    "publish_dir",
    "recover",
    "restrict_tree",
    "staged_dir",
    "sweep_stale",
    "write_atomic",
]

#: Mode of files twinlab creates unless ``TWINLAB_FILE_MODE`` says otherwise.
DEFAULT_FILE_MODE = 0o600


def file_mode() -> int:
    """The mode of created files: ``TWINLAB_FILE_MODE`` (octal) or ``0600``.

    Raises
    ------
    ValueError
        For a setting that is not an octal mode, or that makes files executable or writable
        by others.
    """
    text = os.environ.get("TWINLAB_FILE_MODE", "").strip()
    if not text:
        return DEFAULT_FILE_MODE
    try:
        mode = int(text, 8)
    except ValueError:
        msg = f"TWINLAB_FILE_MODE must be an octal mode such as 600, not {text!r}"
        raise ValueError(msg) from None
    if mode & ~0o664 or (mode & 0o600) != 0o600:
        raise ValueError(
            f"TWINLAB_FILE_MODE={text} is not allowed: files must be owner read-write, never "
            "executable nor writable by others (use 600, 640 or 660)"
        )
    return mode


def dir_mode() -> int:
    """The mode of created folders: :func:`file_mode` plus ``x`` where ``r`` is set."""
    mode = file_mode()
    return mode | ((mode & 0o444) >> 2)


def make_dirs(path: str | Path, mode: int | None = None) -> Path:
    """Create folder ``path`` and every missing folder above it with ``mode`` (default
    :func:`dir_mode`); return it.

    ``Path.mkdir(parents=True, mode=...)`` gives ``mode`` to the last folder only: those
    above it get ``0777`` less the umask, so under ``umask 000`` anyone on the machine may
    rename them and put a folder of their own (their keys, their users) in their place.
    Folders that already exist are left as they are.

    Examples
    --------
    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> oct(make_dirs(root / "a" / "b", 0o700).parent.stat().st_mode & 0o777)
    '0o700'
    """
    where = Path(path)
    mode = dir_mode() if mode is None else mode
    missing = []
    folder = where
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=mode)  # the umask may narrow ``mode``, never widen it
        except FileExistsError:  # made meanwhile by another process
            pass
    return where


def _parent_mode() -> int:
    """The mode of folders made on the way to an output: readable as before (``0755``),
    group-writable only where :func:`file_mode` lets the group write, never writable by
    others, whatever the umask."""
    return 0o755 | (dir_mode() & 0o070)


@contextmanager
def private_umask() -> Iterator[None]:
    """Create files with :func:`file_mode` and folders with :func:`dir_mode` in this block.

    The umask is process-wide: other threads creating files meanwhile get the same (stricter)
    modes, never looser ones.
    """
    previous = os.umask(0o777 & ~dir_mode())
    try:
        yield
    finally:
        os.umask(previous)


def restrict_tree(path: str | Path) -> None:
    """Set :func:`file_mode` / :func:`dir_mode` on ``path`` and everything under it."""
    root = Path(path)
    if not root.exists():
        return
    fmode, dmode = file_mode(), dir_mode()
    if root.is_file():
        os.chmod(root, fmode)
        return
    os.chmod(root, dmode)
    for base, dirs, files in os.walk(root):
        for d in dirs:
            os.chmod(os.path.join(base, d), dmode)
        for f in files:
            p = os.path.join(base, f)
            if not os.path.islink(p):
                os.chmod(p, fmode)


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux ``renameat2(RENAME_EXCHANGE)``); False if unsupported."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    rc = fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    if rc == 0:
        return True
    err = ctypes.get_errno()
    if err in (38, 22, 95):  # ENOSYS, EINVAL, EOPNOTSUPP: the file system cannot exchange
        return False
    raise OSError(err, os.strerror(err), str(b))


def backup_path(target: Path) -> Path:
    """Where :func:`publish_dir` keeps the previous version while it swaps."""
    return target.with_name(f".{target.name}.previous")


def recover(target: str | Path) -> None:
    """Put back the previous version of ``target`` if a publish was killed mid-swap."""
    target = Path(target)
    old = backup_path(target)
    if old.exists() and not target.exists():
        os.rename(old, target)
    elif old.exists():
        shutil.rmtree(old, ignore_errors=True)


def publish_dir(staging: str | Path, target: str | Path) -> None:
    """Replace folder ``target`` by ``staging`` in one step; nothing of the old one survives.

    On Linux the two are exchanged atomically (``renameat2``), so a reader or a kill sees either
    the old or the new folder, never a mix. Elsewhere the old folder is first renamed aside
    (:func:`recover` puts it back if the process dies between the two renames).

    Parameters
    ----------
    staging : str or Path
        The complete new version, on the same file system (beside ``target``).
    target : str or Path
        The published folder (created if absent).
    """
    staging, target = Path(staging), Path(target)
    recover(target)
    if not target.exists():
        os.rename(staging, target)
        return
    if _exchange(staging, target):
        shutil.rmtree(staging)  # now the previous version
        return
    old = backup_path(target)
    os.rename(target, old)
    os.rename(staging, target)
    shutil.rmtree(old)


#: The owner part of a temporary name: ``<pid>-<host>-<random>``.
_OWNER = re.compile(r"^(?P<pid>\d+)-(?P<host>[0-9a-f]{8})-[0-9a-f]{8}$")
_KINDS = ("partial", "tmp")


def _host() -> str:
    """This machine, as 8 hex digits (a shared file system may hold several machines' files)."""
    return f"{zlib.crc32(socket.gethostname().encode('utf-8')):08x}"


def temporary_name(target: str | Path, kind: str) -> Path:
    """A new temporary path beside ``target`` naming this process as its owner.

    Parameters
    ----------
    target : str or Path
        The file or folder it will replace.
    kind : {"partial", "tmp"}
        ``partial`` for a staged folder, ``tmp`` for a file.
    """
    target = Path(target)
    owner = f"{os.getpid()}-{_host()}-{secrets.token_hex(4)}"
    return target.with_name(f".{target.name}.{owner}.{kind}")


def _alive(pid: int) -> bool:
    """Whether process ``pid`` (on this machine) still runs; this process counts as alive."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


def sweep_stale(target: str | Path) -> list[Path]:
    """Remove what killed writers of ``target`` left beside it.

    Only temporary paths of :func:`staged_dir` and :func:`write_atomic` for this very
    target, made on this machine by a process that no longer runs, are removed; a concurrent
    writer's, another machine's, and anything else are left alone.

    Returns
    -------
    list of Path
        What was removed.
    """
    target = Path(target)
    removed = []
    for kind in _KINDS:
        pattern = f".{glob.escape(target.name)}.*.{kind}"
        for path in target.parent.glob(pattern):
            owner = _OWNER.match(path.name[len(target.name) + 2 : -len(kind) - 1])
            if owner is None or owner["host"] != _host() or _alive(int(owner["pid"])):
                continue
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
            removed.append(path)
    return removed


@contextmanager
def staged_dir(target: str | Path) -> Iterator[Path]:
    """A new folder beside ``target`` for the block to write, published as ``target`` in one
    step when the block ends (:func:`publish_dir`).

    Nothing of the previous ``target`` survives; a block that fails or is stopped removes
    its folder and leaves ``target`` as it was. The folder gets :func:`dir_mode`. Folders
    left by writers of ``target`` that were killed outright are removed first
    (:func:`sweep_stale`).

    Parameters
    ----------
    target : str or Path
        The folder to publish (its parent is created).

    Yields
    ------
    Path
        The folder to write, on the same file system as ``target``.

    Examples
    --------
    >>> import tempfile
    >>> out = Path(tempfile.mkdtemp()) / "result"
    >>> with staged_dir(out) as folder:
    ...     _ = (folder / "a.txt").write_text("1")
    ...     out.exists()
    False
    >>> sorted(p.name for p in out.iterdir())
    ['a.txt']
    """
    target = Path(target)
    make_dirs(target.parent, _parent_mode())
    recover(target)
    sweep_stale(target)
    folder = temporary_name(target, "partial")
    folder.mkdir(mode=0o700)
    try:
        folder.chmod(dir_mode())
        yield folder
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    publish_dir(folder, target)


def write_atomic(path: str | Path, data: bytes | str, *, mode: int | None = None) -> Path:
    """Replace file ``path`` by ``data`` in one step (a temporary file beside it, synced, then
    renamed over it): a reader or a kill sees the old content or the new, never part of it.

    Parameters
    ----------
    path : str or Path
        The file (its folder is created).
    data : bytes or str
        The content (text as UTF-8).
    mode : int, optional
        The file's mode (default :func:`file_mode`).

    Returns
    -------
    Path
        ``path``.

    Examples
    --------
    >>> import tempfile
    >>> file = write_atomic(Path(tempfile.mkdtemp()) / "m.json", '{"a": 1}\\n')
    >>> file.read_text(), oct(file.stat().st_mode & 0o777)
    ('{"a": 1}\\n', '0o600')
    """
    path = Path(path)
    make_dirs(path.parent, _parent_mode())
    sweep_stale(path)
    tmp = temporary_name(path, "tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, file_mode() if mode is None else mode)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data.encode("utf-8") if isinstance(data, str) else data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path
