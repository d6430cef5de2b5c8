"""Who may log in to the apps, and which pages each role may open.

Users live in a credentials file *outside the repository* (default
``~/.config/twinlab/users.json``, or ``$TWINLAB_CREDENTIALS``): a JSON object of
``user -> {"role": ..., "password_hash": ...}``. Passwords are hashed with scrypt
(``hashlib.scrypt``, a memory-hard KDF from the standard library) and a per-user
random salt, stored as ``scrypt$n$r$p$salt$hash`` (base64), and compared in
constant time. A user without ``password_hash`` can only come in through an
OAuth provider (the role still comes from this file).

Failed logins are throttled (:class:`LoginThrottle`, used by :func:`login`): five failures
within 15 minutes for one user name, or for one client address, lock that name or address
out for 15 minutes, right password or not; each lock-out is audited (``dashboard.lockout``).

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
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from twinlab.security.access import ROLES, is_allowed

__all__ = [
    "CREDENTIALS_ENV",
    "PAGES",
    "LoginThrottle",
    "add_user",
    "authenticate",
    "authorize",
    "credentials_path",
    "hash_password",
    "load_credentials",
    "login",
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


def _one_hash(password: str) -> None:
    """Spend one hash on a refused login, so its timing tells nothing."""
    verify_password(password, hash_password("timing-equalizer", salt=b"\0" * 16))


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
        _one_hash(password)
        return None
    return entry["role"] if verify_password(password, stored) else None


class LoginThrottle:
    """Failed-login limits per key (a user name, a client address).

    Parameters
    ----------
    max_failures : int
        Failures within ``window_s`` that lock a key.
    window_s : float
        How far back failures count (seconds).
    lockout_s : float
        How long a locked key is refused (seconds).
    clock : callable
        Monotonic time in seconds (tests pass a fake one).
    """

    def __init__(
        self,
        max_failures: int = 5,
        window_s: float = 900.0,
        lockout_s: float = 900.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_failures < 1 or window_s <= 0 or lockout_s <= 0:
            raise ValueError("max_failures, window_s and lockout_s must be positive")
        self.max_failures = max_failures
        self.window_s = window_s
        self.lockout_s = lockout_s
        self._clock = clock
        self._failures: dict[str, list[float]] = {}
        self._locked_until: dict[str, float] = {}
        self._lock = threading.Lock()

    def locked(self, *keys: str) -> float:
        """Seconds until every one of ``keys`` is free again (0 when none is locked)."""
        now = self._clock()
        with self._lock:
            return max([self._locked_until.get(k, now) - now for k in keys] + [0.0])

    def failed(self, *keys: str) -> list[str]:
        """Record a failure for each key; return the keys this failure locks."""
        now = self._clock()
        newly = []
        with self._lock:
            for k in keys:
                recent = [t for t in self._failures.get(k, []) if now - t < self.window_s]
                recent.append(now)
                if len(recent) >= self.max_failures:
                    self._locked_until[k] = now + self.lockout_s
                    newly.append(k)
                    recent = []
                self._failures[k] = recent
            if len(self._failures) + len(self._locked_until) > self._PRUNE_ABOVE:
                self._prune(now)
        return newly

    #: keys held before stale ones are dropped (names sprayed by an attacker stay bounded)
    _PRUNE_ABOVE = 10_000

    def _prune(self, now: float) -> None:
        """Drop keys with no failure inside the window and locks that have run out."""
        self._failures = {
            k: ts for k, ts in self._failures.items() if ts and now - ts[-1] < self.window_s
        }
        self._locked_until = {k: t for k, t in self._locked_until.items() if t > now}

    def succeeded(self, *keys: str) -> None:
        """Forget the failures of ``keys`` (after a successful login)."""
        with self._lock:
            for k in keys:
                self._failures.pop(k, None)


def login(
    name: str,
    password: str,
    client: str,
    throttle: LoginThrottle,
    path: str | os.PathLike[str] | None = None,
) -> bool:
    """Check a login form: the password, unless the name or the client address is locked.

    A locked name or address is refused whatever the password (the password is still hashed,
    so the answer takes as long); a failure that locks one is audited.
    """
    keys = (f"user:{name}", f"client:{client}")
    if throttle.locked(*keys) > 0:
        _one_hash(password)
        return False
    if authenticate(name, password, path) is not None:
        throttle.succeeded(keys[0])
        return True
    for key in throttle.failed(*keys):
        _audit(
            "dashboard.lockout",
            name,
            key.split(":", 1)[0],
            {"minutes": throttle.lockout_s / 60, "failures": throttle.max_failures},
        )
    return False


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
        _audit("dashboard.denied", name, page or "/", {"role": role})
    return allowed


def _audit(action: str, name: str | None, target: str, params: dict[str, Any]) -> None:
    """Record a refusal in the audit log, if one is active, as the user (or ``unknown``)."""
    from twinlab.audit.trail import audit_event

    actor = name if name and all(c.isalnum() or c in "._-@" for c in name) else "unknown"
    audit_event(action, target, params={"user": actor, **params}, actor=actor)
