"""Who may log in to the apps, and which pages each role may open.

Users live in a credentials file *outside the repository* (default
``~/.config/twinlab/users.json``, or ``$TWINLAB_CREDENTIALS``): a JSON object of
``user -> {"role": ..., "password_hash": ...}``. Passwords are hashed with scrypt
(``hashlib.scrypt``, a memory-hard KDF from the standard library) and a per-user
random salt, stored as ``scrypt$n$r$p$salt$hash`` (base64), and compared in
constant time. A user without ``password_hash`` can only come in through an
OAuth provider (the role still comes from this file).

Failed logins are throttled per (user name, client address), and per client address across
user names, with growing delays (:class:`LoginThrottle`, used by :func:`login`): no address
or name is ever locked out. Logins are server-side sessions
(:class:`SessionStore`): logging out revokes one. The credentials file must not be readable
by group or others.

Pages are authorized by :func:`authorize` (Panel's ``authorize_callback``): a page
maps to one action of :mod:`twinlab.security.access`, and everything else – an
unknown user, role or page – is denied.
"""

from __future__ import annotations

import base64
import functools
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

from twinlab.api.throttle import FailureDelays, address_key
from twinlab.security.access import ROLES, is_allowed
from twinlab.security.filemodes import make_dirs
from twinlab.security.keyfiles import foreign_owner

__all__ = [
    "CREDENTIALS_ENV",
    "PAGES",
    "LoginThrottle",
    "SessionStore",
    "add_user",
    "authenticate",
    "authorize",
    "credentials_path",
    "hash_password",
    "load_credentials",
    "login",
    "logout_token",
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
        If the file is not a JSON object of ``user -> {"role": ...}`` with known roles, or
        group or others may read or write it, or it belongs to another user.
    """
    file = credentials_path(path)
    if not file.is_file():
        return {}
    mode = stat.S_IMODE(file.stat().st_mode)
    if mode & 0o077:
        raise ValueError(
            f"credentials file {file} is readable or writable by others (mode {mode:o}): "
            f"run 'chmod 600 {file}'"
        )
    foreign = foreign_owner(file)
    if foreign:  # another user's file: they would log in as anyone
        raise ValueError(f"credentials file {file} is {foreign}, not by this user")
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
    make_dirs(file.parent, 0o700)
    tmp = file.with_name(f".{file.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, stat.S_IRUSR | stat.S_IWUSR)
    with os.fdopen(fd, "w") as fh:
        json.dump(users, fh, indent=2, sort_keys=True)
    os.replace(tmp, file)
    return file


@functools.lru_cache(maxsize=1)
def _decoy_hash() -> str:
    """A hash no password is checked against for real, made once per process."""
    return hash_password("timing-equalizer", salt=b"\0" * 16)


def _one_hash(password: str) -> None:
    """Spend one hash on a refused login, so its timing tells nothing (as a known user's
    check: one scrypt run, the decoy made once beforehand)."""
    verify_password(password, _decoy_hash())


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
    """Growing delays between failed logins, per (user name, client address) and per client
    address across user names.

    Nothing is ever locked: after ``free`` failures of one name from one address, that pair
    must wait ``base_s * 2 ** (failures - free - 1)`` seconds (at most ``max_s``) before its
    next attempt is even checked; after ``address_free`` failures from one address, whatever
    the names, the address waits alike (one address spraying a common password over many
    user names). An attempt inside a wait is refused whatever the password. A success
    forgets the pair's failures, not the address's (a spray with one account of its own does
    not start over). Addresses are counted as the API counts them
    (:func:`twinlab.api.throttle.address_key`: an IPv6 peer's ``/64``). The delays are
    :class:`twinlab.api.throttle.FailureDelays`.

    Parameters
    ----------
    free : int
        Failures of one name from one address allowed without a delay.
    address_free : int
        Failures from one address, across names, allowed without a delay.
    **delays
        ``base_s``, ``max_s``, ``forget_s``, ``clock`` of both
        (:class:`~twinlab.api.throttle.FailureDelays`).
    """

    def __init__(self, free: int = 3, address_free: int = 20, **delays: Any) -> None:
        self.pairs = FailureDelays(free, **delays)
        self.addresses = FailureDelays(address_free, **delays)
        self.free, self.base_s = free, self.pairs.base_s

    def delay(self, failures: int) -> float:
        """Seconds a pair waits after ``failures`` failures (0 up to ``free``)."""
        return self.pairs.delay(failures)

    def refusal(self, name: str, client: str) -> tuple[float, str]:
        """Seconds before ``name`` may try again from ``client`` and what holds it back:
        ``"address"`` (the address's failures across names), ``"user"`` (this name's from
        this address), or ``""`` (``0``: now)."""
        address = address_key(client)
        by_address = self.addresses.wait(address)
        by_pair = self.pairs.wait((name, address))
        if by_address >= by_pair:
            return by_address, ("address" if by_address > 0 else "")
        return by_pair, "user"

    def wait(self, name: str, client: str) -> float:
        """Seconds before ``name`` may try again from ``client`` (0: now)."""
        return self.refusal(name, client)[0]

    def failed(self, name: str, client: str) -> float:
        """Record a failure; return the delay it imposes on the pair (seconds)."""
        return self.record(name, client)[0]

    def record(self, name: str, client: str) -> tuple[float, float]:
        """Record a failure; return the delays it imposes on the pair and on the address."""
        address = address_key(client)
        return self.pairs.failed((name, address)), self.addresses.failed(address)

    def succeeded(self, name: str, client: str) -> None:
        """Forget the pair's failures (after a successful login)."""
        self.pairs.forget((name, address_key(client)))


def login(
    name: str,
    password: str,
    client: str,
    throttle: LoginThrottle,
    path: str | os.PathLike[str] | None = None,
) -> bool:
    """Check a login form: the password, unless this name or this address must still wait.

    An attempt inside its wait is refused whatever the password (the password is still
    hashed, so the answer takes as long); the failure that starts the delays of a pair is
    audited (``dashboard.throttled``), and the one that starts the delays of an address
    across names (``dashboard.throttled_address``).
    """
    if throttle.wait(name, client) > 0:
        _one_hash(password)
        return False
    if authenticate(name, password, path) is not None:
        throttle.succeeded(name, client)
        return True
    delay, by_address = throttle.record(name, client)
    if delay > 0 and delay == throttle.base_s:
        _audit(
            "dashboard.throttled",
            name,
            "login",
            {"failures": throttle.free + 1, "delay_s": delay, "client": client},
        )
    if (
        by_address > 0 and by_address == throttle.addresses.base_s
    ):  # the first delay of this address
        _audit(
            "dashboard.throttled_address",
            None,
            "login",
            {"failures": throttle.addresses.free + 1, "delay_s": by_address, "client": client},
        )
    return False


class SessionStore:
    """Login sessions held by the server, so that logging out revokes one.

    A login opens a random session id (kept in a signed cookie beside Panel's user cookie);
    a request is logged in only while its id is open here, for its user, and not expired.
    Logging out closes it: a copied cookie no longer works (and none outlives the server).
    A session may be opened with a ``stamp`` (the user's password hash at login): asked with
    another stamp (a new password, a removed user) it is no longer open.

    Parameters
    ----------
    max_age_s : float
        A session's lifetime (seconds).
    clock : callable
        Time in seconds.
    """

    def __init__(
        self, max_age_s: float = 8 * 3600.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.max_age_s = max_age_s
        self._clock = clock
        self._open: dict[str, tuple[str, float, str]] = {}
        self._lock = threading.Lock()

    def open(self, user: str, stamp: str = "") -> str:
        """Open a session of ``user`` (``stamp``: see the class); return its id."""
        sid = secrets.token_urlsafe(32)
        now = self._clock()
        with self._lock:
            self._open = {k: v for k, v in self._open.items() if v[1] > now}
            self._open[sid] = (user, now + self.max_age_s, stamp)
        return sid

    def user(self, sid: str | None, stamp: str | None = None) -> str | None:
        """The user of an open session (``None``: unknown, closed, expired, or opened with
        another stamp than ``stamp``, when given)."""
        if not sid:
            return None
        with self._lock:
            entry = self._open.get(sid)
        if entry is None or entry[1] <= self._clock():
            return None
        if stamp is not None and not secrets.compare_digest(entry[2], stamp):
            return None
        return entry[0]

    def close_stale(self, stamp_of: Callable[[str], str | None]) -> list[tuple[str, str]]:
        """Close every open session whose user's stamp is no longer the one it was opened
        with (``stamp_of(user)``: the stamp now, ``None`` for a removed user).

        Returns
        -------
        list of (str, str)
            The ``(session id, user)`` of the sessions closed.

        Examples
        --------
        >>> store = SessionStore()
        >>> a, b = store.open("ana", "h1"), store.open("bo", "h2")
        >>> store.close_stale({"ana": "h1", "bo": "h3"}.get) == [(b, "bo")], store.user(b)
        (True, None)
        """
        with self._lock:
            users = {entry[0] for entry in self._open.values()}
        now = {user: stamp_of(user) for user in users}
        closed = []
        with self._lock:
            for sid, (user, _, stamp) in list(self._open.items()):
                current = now.get(user, stamp)
                if current is None or not secrets.compare_digest(current, stamp):
                    del self._open[sid]
                    closed.append((sid, user))
        return closed

    def close(self, sid: str | None) -> str | None:
        """Close a session; return its user (``None`` if it was not open)."""
        with self._lock:
            entry = self._open.pop(sid, None) if sid else None
        return entry[0] if entry else None


def logout_token(secret: str | bytes, sid: str) -> str:
    """The token a logout form must post for session ``sid``: an HMAC of the session id
    under the server's cookie ``secret``, so only a page of this server, opened with this
    session, can log it out (a cross-site form or link cannot know it).

    Examples
    --------
    >>> a = logout_token("s" * 32, "sid-1")
    >>> a == logout_token("s" * 32, "sid-1"), a == logout_token("s" * 32, "sid-2")
    (True, False)
    """
    key = secret.encode() if isinstance(secret, str) else secret
    return hmac.new(key, b"twinlab-logout:" + sid.encode(), hashlib.sha256).hexdigest()


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
