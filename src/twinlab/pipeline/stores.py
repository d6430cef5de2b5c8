"""The project's DVC stores (cache and local remote): private to their owner.

DVC keeps a copy of every stage output, de-identified timelines and the encrypted raw zone
included, in its cache and in the remote that ``dvc push`` fills. It makes each cached file
read-only for everyone (``0444``, whatever the umask) and creates its folders with the
umask of the process that first needs them (``0755`` under the usual ``022``): without more,
anyone on the machine could read the copies of files twinlab wrote ``0600``.

:func:`private_stores` makes the root folder of the cache and of every local remote private
(created ``0700`` when missing, :func:`~twinlab.security.filemodes.dir_mode` otherwise), so
nothing under them can be reached by others whatever DVC's own modes. ``twinlab demo``,
every ``twinlab run`` stage (what ``dvc repro`` runs) and ``twinlab reproduce`` call it, and
run DVC under :func:`~twinlab.security.filemodes.private_umask`. A store created by a plain
``dvc pull`` or ``dvc push`` before any of them ran gets the caller's umask until the next
twinlab stage; run DVC under ``umask 077`` to close that gap too.
"""

from __future__ import annotations

import configparser
import os
import re
from pathlib import Path

from twinlab.security.filemodes import dir_mode

__all__ = ["dvc_stores", "private_stores"]

_REMOTE = re.compile(r"""^'?remote\s+"(?P<name>[^"]+)"'?$""")
_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)


def _config(root: Path) -> configparser.ConfigParser:
    """``.dvc/config`` with ``.dvc/config.local`` over it (unreadable parts are ignored)."""
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    for name in ("config", "config.local"):
        try:
            parser.read(root / ".dvc" / name, encoding="utf-8")
        except (configparser.Error, UnicodeDecodeError):
            continue
    return parser


def _local(value: str, base: Path) -> Path | None:
    """A local folder from a DVC path setting (relative to ``.dvc/``), or None for a URL."""
    text = value.strip().strip("'\"")
    if not text or (_SCHEME.match(text) and not text.lower().startswith("file://")):
        return None
    text = re.sub(r"^file://", "", text, flags=re.IGNORECASE)
    path = Path(os.path.expandvars(text)).expanduser()
    return path if path.is_absolute() else (base / path).resolve()


def dvc_stores(root: str | Path) -> list[Path]:
    """The local folders that hold copies of the project's outputs: the DVC cache
    (``cache.dir``, default ``.dvc/cache``; not when ``cache.shared`` says a group shares it on
    purpose) and every remote with a local URL.

    Parameters
    ----------
    root
        The DVC project (the folder holding ``.dvc/``).

    Returns
    -------
    list of Path
        Absolute, without duplicates, in the order: cache, then remotes as configured.

    Examples
    --------
    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> (d / ".dvc").mkdir()
    >>> _ = (d / ".dvc" / "config").write_text("['remote \\"r\\"']\\n    url = /srv/dvc\\n")
    >>> [p.as_posix() for p in dvc_stores(d)][1:]
    ['/srv/dvc']
    """
    base = Path(root).resolve() / ".dvc"
    config = _config(Path(root).resolve())
    cache = config.get("cache", "dir", fallback="") or ""
    shared = (config.get("cache", "shared", fallback="") or "").strip().strip("'\"")
    found = [] if shared else [_local(cache, base) if cache.strip() else base / "cache"]
    for section in config.sections():
        if _REMOTE.match(section.strip()) and config.has_option(section, "url"):
            found.append(_local(config.get(section, "url"), base))
    out: list[Path] = []
    for path in found:
        if path is not None and path not in out:
            out.append(path)
    return out


def private_stores(root: str | Path) -> list[Path]:
    """Make the root folder of each of :func:`dvc_stores` private to its owner.

    A missing folder is created with :func:`~twinlab.security.filemodes.dir_mode` (``0700``
    by default; its parents with the usual modes); one that exists gets that mode when this
    user owns it. A folder that cannot be created or changed (another owner, a read-only
    mount) is left as it is.

    Returns
    -------
    list of Path
        The folders that are now private (none outside a DVC project).
    """
    if not (Path(root) / ".dvc").is_dir():
        return []
    mode = dir_mode()
    done: list[Path] = []
    for folder in dvc_stores(root):
        try:
            folder.parent.mkdir(parents=True, exist_ok=True)
            folder.mkdir(mode=mode, exist_ok=True)
            if folder.stat().st_uid == os.getuid() and folder.stat().st_mode & 0o777 != mode:
                folder.chmod(mode)
        except OSError:
            continue
        if folder.stat().st_mode & 0o777 & ~mode == 0:
            done.append(folder)
    return done
