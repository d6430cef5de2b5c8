"""API clients of the embedded token endpoint (OAuth2 client-credentials grant).

Clients live in a JSON file outside the repository (default
``~/.config/twinlab/api_clients.json``, mode ``0600``; refused when group or others may read
it): ``client_id -> {"role": ..., "scopes": [...], "secret_hash": ...}``. Secrets are random
(32 bytes, shown once by ``twinlab api add-client``) and stored as Argon2id hashes
(``argon2-cffi``: the OWASP's first choice of password hash, memory-hard, and a well-kept
binding of the reference implementation). A client's scopes are the actions of the access
matrix (:mod:`twinlab.security.access`) its role may perform, or fewer.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import stat
import threading
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from twinlab.security.access import ROLES, allowed_actions
from twinlab.security.filemodes import make_dirs
from twinlab.security.keyfiles import foreign_owner

__all__ = [
    "ClientRegistry",
    "add_client",
    "authenticate_client",
    "load_clients",
    "registration",
    "remove_client",
]

# 19 MiB, 2 passes: the OWASP's minimum Argon2id setting (a token request stays ~50 ms)
_HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
_DUMMY = _HASHER.hash("timing-equalizer")
_ID_OK = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-@")


def load_clients(path: str | os.PathLike[str]) -> dict[str, dict[str, Any]]:
    """Read the clients file (``{}`` if it does not exist).

    Raises
    ------
    ValueError
        If group or others may read or write it, it belongs to another user, or it is not
        a JSON object of clients with known roles.
    """
    file = Path(path).expanduser()
    if not file.is_file():
        return {}
    mode = stat.S_IMODE(file.stat().st_mode)
    if mode & 0o077:
        raise ValueError(f"clients file {file} is readable by others (mode {mode:o}): chmod 600")
    foreign = foreign_owner(file)
    if foreign:  # another user's clients: they would register themselves
        raise ValueError(f"clients file {file} is {foreign}, not by this user")
    try:
        clients = json.loads(file.read_text())
    except ValueError as exc:
        raise ValueError(f"clients file {file} is not valid JSON: {exc}") from None
    if not isinstance(clients, dict) or not all(
        isinstance(c, dict) and c.get("role") in ROLES for c in clients.values()
    ):
        raise ValueError(f"clients file {file}: each client needs a role among {ROLES}")
    return clients


def add_client(
    path: str | os.PathLike[str],
    client_id: str,
    role: str,
    scopes: list[str] | None = None,
) -> str:
    """Register (or re-key) ``client_id`` with ``role``; return its new secret (shown once).

    Parameters
    ----------
    path : path
        The clients file (created with mode ``0600``).
    client_id : str
        Letters, digits, ``. _ - @``.
    role : str
        One of :data:`twinlab.security.access.ROLES`.
    scopes : list of str, optional
        The actions the client may ask for (default: all its role may perform); each must
        be one its role may perform.

    Raises
    ------
    ValueError
        For a bad id, an unknown role, or a scope the role may not have.
    """
    if not client_id or not set(client_id) <= _ID_OK:
        raise ValueError(f"invalid client id {client_id!r}: use letters, digits, '._-@'")
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; roles: {', '.join(ROLES)}")
    allowed = allowed_actions(role)
    scopes = sorted(allowed) if scopes is None else sorted(set(scopes))
    beyond = [s for s in scopes if s not in allowed]
    if beyond:
        raise ValueError(f"role {role!r} may not have scopes {beyond}; it may: {sorted(allowed)}")
    file = Path(path).expanduser()
    clients = load_clients(file)
    secret = secrets.token_urlsafe(32)
    clients[client_id] = {"role": role, "scopes": scopes, "secret_hash": _HASHER.hash(secret)}
    _write(file, clients)
    return secret


def remove_client(path: str | os.PathLike[str], client_id: str) -> bool:
    """Unregister ``client_id``: no new token, and its tokens stop verifying at once
    (:class:`ClientRegistry`). Returns whether it was registered."""
    file = Path(path).expanduser()
    clients = load_clients(file)
    if clients.pop(client_id, None) is None:
        return False
    _write(file, clients)
    return True


def _write(file: Path, clients: dict[str, dict[str, Any]]) -> None:
    """Replace the clients file atomically, mode ``0600``."""
    make_dirs(file.parent, 0o700)
    tmp = file.with_name(f".{file.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, stat.S_IRUSR | stat.S_IWUSR)
    with os.fdopen(fd, "w") as fh:
        json.dump(clients, fh, indent=2, sort_keys=True)
    os.replace(tmp, file)


def registration(entry: dict[str, Any]) -> str:
    """A short digest of a client's current secret hash, carried by its tokens: a client
    removed or registered again (``add-client``: a new secret, maybe a new role) no longer
    matches."""
    return hashlib.sha256(str(entry.get("secret_hash")).encode()).hexdigest()[:16]


class ClientRegistry:
    """The clients file as the token verifier sees it, read again whenever it changes."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path).expanduser()
        self._lock = threading.Lock()
        self._stamp: tuple[int, int, int] | None = None
        self._clients: dict[str, dict[str, Any]] = {}

    def get(self, client_id: str) -> dict[str, Any] | None:
        """The client's entry now, or ``None`` when it is not registered."""
        try:
            st = self.path.stat()
            stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
        except FileNotFoundError:
            return None
        with self._lock:
            if stamp != self._stamp:
                self._clients, self._stamp = load_clients(self.path), stamp
            return self._clients.get(client_id)


def authenticate_client(
    clients: dict[str, dict[str, Any]], client_id: str, secret: str
) -> dict[str, Any] | None:
    """The client's entry if ``secret`` is right, else ``None`` (an unknown id costs one
    hash too, so timing does not tell which clients exist)."""
    entry = clients.get(client_id)
    stored = entry.get("secret_hash") if entry else None
    try:
        _HASHER.verify(stored or _DUMMY, secret)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None
    return entry if stored else None
