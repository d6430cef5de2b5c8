"""Who may log in to the apps, and which pages each role may open.

Users live in a credentials file *outside the repository* (default
``~/.config/twinlab/users.json``, or ``$TWINLAB_CREDENTIALS``): a JSON object of
``user -> {"role": ..., "password_hash": ...}``. Passwords are hashed with scrypt
(``hashlib.scrypt``, a memory-hard KDF from the standard library) and a per-user
random salt, stored as ``scrypt$n$r$p$salt$hash`` (base64), and compared in
constant time. A user without ``password_hash`` can only come in through an
OAuth provider (the role still comes from this file).

Pages are authorized by :func:`authorize` (Panel's ``authorize_callback``): a page
maps to one action of :mod:`twinlab.security.access`, and everything else – an
unknown user, role or page – is denied.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from twinlab.security.access import ROLES, is_allowed

__all__ = [
    "CREDENTIALS_ENV",
    "PAGES",
    "add_user",
    "authenticate",
    "authorize",
    "credentials_path",
    "hash_password",
    "load_credentials",
    "page_of",
    "role_of",
    "verify_password",
]

CREDENTIALS_ENV = "TWINLAB_CREDENTIALS"

#: page (URL path without the leading slash) -> the action it needs.
PAGES: Mapping[str, str] = {
    "whatif": "simulate",
    "cohort": "read_aggregate",
    "patients": "read_patient_level",
    "reviewer": "view_audit",
}

# scrypt cost n=2**15, r=8, p=1: 32 MiB and ~0.1 s per hash (OWASP lists n=2**17 as its
# first choice; 2**15 keeps a login well under a second on a shared 2-core machine).
_SCRYPT = {"n": 2**15, "r": 8, "p": 1}
_MAXMEM = 128 * 1024 * 1024
_MIN_PASSWORD = 8


def credentials_path(path: str | os.PathLike[str] | None = None) -> Path:
    """The credentials file: ``path``, else ``$TWINLAB_CREDENTIALS``, else the user default."""
    if path is not None:
        return Path(path).expanduser()
    env = os.environ.get(CREDENTIALS_ENV, "").strip()
    if env:
        return Path(env).expanduser()
    return Path("~/.config/twinlab/users.json").expanduser()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """Hash ``password`` with scrypt and a random 16-byte salt.

    Returns
    -------
    str
        ``scrypt$n$r$p$salt$hash`` (salt and hash base64).

    Examples
    --------
    >>> h = hash_password("correct horse")
    >>> h.startswith("scrypt$"), verify_password("correct horse", h), verify_password("x", h)
    (True, True, False)
    """
    if not isinstance(password, str) or not password:
        raise ValueError("the password must be a non-empty string")
    salt = secrets.token_bytes(16) if salt is None else salt
    n, r, p = _SCRYPT["n"], _SCRYPT["r"], _SCRYPT["p"]
    digest = hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, maxmem=_MAXMEM)
    return f"scrypt${n}${r}${p}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    """Return whether ``password`` matches the ``stored`` hash (constant-time compare).

    A malformed hash never matches.
    """
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest, validate=True)
        got = hashlib.scrypt(
            password.encode(),
            salt=base64.b64decode(salt, validate=True),
            n=int(n),
            r=int(r),
            p=int(p),
            maxmem=_MAXMEM,
            dklen=len(expected),
        )
    except (ValueError, TypeError, AttributeError):
        return False
    return hmac.compare_digest(got, expected)


def load_credentials(path: str | os.PathLike[str] | None = None) -> dict[str, dict[str, Any]]:
    """Read the credentials file (``{}`` if it does not exist).

    Raises
    ------
    ValueError
        If the file is not a JSON object of ``user -> {"role": ...}`` with known roles.
    """
    file = credentials_path(path)
    if not file.is_file():
        return {}
    try:
        users = json.loads(file.read_text())
    except ValueError as exc:
        raise ValueError(f"credentials file {file} is not valid JSON: {exc}") from None
    if not isinstance(users, dict):
        raise ValueError(f"credentials file {file} must hold a JSON object of users")
    for name, entry in users.items():
        if not isinstance(entry, dict) or entry.get("role") not in ROLES:
            raise ValueError(
                f"credentials file {file}: user {name!r} needs a role among {', '.join(ROLES)}"
            )
    return users


def add_user(
    path: str | os.PathLike[str] | None,
    name: str,
    role: str,
    password: str | None,
) -> Path:
    """Add or replace user ``name`` with ``role`` (and a hashed ``password``).

    Parameters
    ----------
    path : path or None
        The credentials file (see :func:`credentials_path`); created with mode 0600.
    name : str
        User name (letters, digits, ``. _ - @``).
    role : str
        One of :data:`twinlab.security.access.ROLES`.
    password : str or None
        At least 8 characters; ``None`` for an OAuth-only user.

    Returns
    -------
    Path
        The credentials file.
    """
    if not name or not all(c.isalnum() or c in "._-@" for c in name):
        raise ValueError(f"invalid user name {name!r}: use letters, digits, '.', '_', '-', '@'")
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; roles: {', '.join(ROLES)}")
    if password is not None and len(password) < _MIN_PASSWORD:
        raise ValueError(f"the password must have at least {_MIN_PASSWORD} characters")
    file = credentials_path(path)
    users = load_credentials(file)
    entry: dict[str, Any] = {"role": role}
    if password is not None:
        entry["password_hash"] = hash_password(password)
    users[name] = entry
    file.parent.mkdir(parents=True, exist_ok=True)
    tmp = file.with_name(f".{file.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, stat.S_IRUSR | stat.S_IWUSR)
    with os.fdopen(fd, "w") as fh:
        json.dump(users, fh, indent=2, sort_keys=True)
    os.replace(tmp, file)
    return file


def authenticate(
    name: str, password: str, path: str | os.PathLike[str] | None = None
) -> str | None:
    """Return the role of ``name`` if ``password`` is right, else ``None``.

    An unknown user costs one hash as well, so timing does not tell which users exist.
    """
    users = load_credentials(path)
    entry = users.get(name)
    stored = entry.get("password_hash") if entry else None
    if not stored:
        verify_password(password, hash_password("timing-equalizer", salt=b"\0" * 16))
        return None
    return entry["role"] if verify_password(password, stored) else None


def role_of(name: str | None, path: str | os.PathLike[str] | None = None) -> str | None:
    """The role of user ``name`` in the credentials file (``None`` if unknown)."""
    if not name:
        return None
    entry = load_credentials(path).get(name)
    return entry.get("role") if entry else None


def page_of(url_path: str) -> str:
    """The page a URL path opens: ``"/whatif/ws"`` -> ``"whatif"``, ``"/"`` -> ``""``."""
    parts = [p for p in url_path.split("?")[0].split("/") if p]
    if parts and parts[-1] == "ws":
        parts = parts[:-1]
    return parts[0] if parts else ""


def _user_name(user_info: Any) -> str | None:
    if isinstance(user_info, Mapping):
        for key in ("user", "login", "email", "preferred_username", "username"):
            if isinstance(user_info.get(key), str):
                return user_info[key]
        return None
    return user_info if isinstance(user_info, str) else None


def authorize(user_info: Any, request_path: str) -> bool:
    """Panel ``authorize_callback``: may this user open this page? Deny by default.

    Parameters
    ----------
    user_info : dict or str
        What the auth provider says about the user (Panel's ``state.user_info``).
    request_path : str
        The URL path asked for.

    Returns
    -------
    bool
        ``True`` only for a user with a known role asking for the index (``/``) or a page in
        :data:`PAGES` whose action the role may perform.
    """
    name = _user_name(user_info)
    try:
        role = role_of(name)
    except ValueError:
        role = None
    page = page_of(request_path)
    action = PAGES.get(page)
    allowed = role in ROLES and (page == "" or (action is not None and is_allowed(role, action)))
    if not allowed:
        _audit_denied(name, role, page)
    return allowed


def _audit_denied(name: str | None, role: str | None, page: str) -> None:
    """Record a refused page in the audit log (``dashboard.denied``), if one is active."""
    from twinlab.audit.log import AuditLog
    from twinlab.audit.trail import audit_log

    log = audit_log()
    if log is None:
        return
    actor = name if name and all(c.isalnum() or c in "._-@" for c in name) else "unknown"
    AuditLog(log.path, actor=actor).append(
        "dashboard.denied", page or "/", params={"user": actor, "role": role}
    )
