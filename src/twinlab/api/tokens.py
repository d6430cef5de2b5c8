"""JWT bearer tokens: issued by the embedded endpoint, verified against a JWKS.

PyJWT (``pyjwt[crypto]``) signs and verifies: it is small, widely used and well kept, checks
``exp``/``nbf``/``iss``/``aud`` itself, and its :class:`jwt.PyJWKClient` fetches and caches an
identity provider's JWKS, fetching it again when a token names an unknown ``kid`` (key
rotation). Only ``RS256`` and ``ES256`` are accepted (never ``none`` or an HMAC algorithm a
public key could be abused for).
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt

from twinlab.api import keys
from twinlab.api.clients import ClientRegistry, registration
from twinlab.api.settings import ApiSettings
from twinlab.security.access import ROLES, is_allowed

__all__ = ["ALGORITHMS", "Principal", "TokenError", "TokenIssuer", "TokenVerifier"]

ALGORITHMS = ("RS256", "ES256")
#: The claim of an embedded token that ties it to its client's registration (role, secret).
REGISTRATION_CLAIM = "twl_reg"
_LEEWAY_S = 5
log = logging.getLogger(__name__)


class TokenError(Exception):
    """A token that is not accepted (the message says why, without echoing the token)."""


@dataclass(frozen=True)
class Principal:
    """Who calls: the client id, its role and the scopes its token grants."""

    client: str
    role: str
    scopes: frozenset[str]

    def may(self, action: str) -> bool:
        """Whether the token grants ``action`` *and* the role may perform it (deny by default)."""
        return action in self.scopes and is_allowed(self.role, action)

    @property
    def aggregate_only(self) -> bool:
        """Whether this caller may not read patient-level data (stakeholders, admins)."""
        return not self.may("read_patient_level")


class TokenIssuer:
    """Signs access tokens of the client-credentials grant with the newest key."""

    def __init__(self, settings: ApiSettings) -> None:
        self.settings = settings

    def issue(
        self, client: str, role: str, scopes: list[str], registration: str = ""
    ) -> dict[str, Any]:
        """An OAuth2 token response (RFC 6749 §5.1) for ``client`` (``registration``: its
        :func:`twinlab.api.clients.registration`, checked by :class:`TokenVerifier`)."""
        kid, key = keys.signing_key(self.settings.key_dir)
        now = int(time.time())
        claims = {
            "iss": self.settings.issuer,
            "aud": self.settings.audience,
            "sub": client,
            "iat": now,
            "nbf": now,
            "exp": now + self.settings.token_ttl_s,
            "jti": secrets.token_hex(12),
            "scope": " ".join(sorted(scopes)),
            self.settings.role_claim: role,
            REGISTRATION_CLAIM: registration,
        }
        token = jwt.encode(claims, key, algorithm="ES256", headers={"kid": kid})
        return {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": self.settings.token_ttl_s,
            "scope": claims["scope"],
        }


class _LocalKeys:
    """The embedded issuer's JWKS, read again when a token names a key not seen yet or the
    key folder changed (a retired key stops verifying at once, not at the next start)."""

    def __init__(self, folder: Any) -> None:
        self.folder = folder
        self._lock = threading.Lock()
        self._set: dict[str, Any] = {}
        self._where: Any = None
        self._files: frozenset[str] | None = None

    def _listing(self) -> frozenset[str]:
        if self._where is None:
            self._where = keys.key_folder(self.folder)
        try:
            return frozenset(os.listdir(self._where))
        except FileNotFoundError:
            return frozenset()

    def _reload(self, files: frozenset[str]) -> None:
        self._files = files
        self._set = {k.key_id: k for k in jwt.PyJWKSet.from_dict(keys.jwks(self.folder)).keys}

    def get(self, kid: str) -> Any:
        with self._lock:
            files = self._listing()
            if kid not in self._set or files != self._files:
                self._reload(files)
            if kid not in self._set:
                raise TokenError("token signed by an unknown key")
            return self._set[kid].key


def _check_jwks_url(url: str) -> None:
    import ipaddress
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not host or not (parts.scheme == "https" or (parts.scheme == "http" and loopback)):
        raise ValueError(
            f"the JWKS URL {url!r} must be https:// (plain http:// on loopback only): keys "
            "fetched in the clear can be swapped for an attacker's"
        )


class TokenVerifier:
    """Checks a bearer token: signature (JWKS by ``kid``), ``iss``, ``aud``, ``exp``, ``nbf``.

    Parameters
    ----------
    settings : ApiSettings
        ``jwks_url`` set: an external identity provider's keys (over HTTPS; plain HTTP only
        on loopback); else the embedded issuer's.

    Raises
    ------
    ValueError
        For a JWKS URL that is neither HTTPS nor plain HTTP on loopback (whoever sits on the
        path could hand the service their own keys and forge any token).
    """

    def __init__(self, settings: ApiSettings) -> None:
        self.settings = settings
        if settings.jwks_url:
            _check_jwks_url(settings.jwks_url)
            client = jwt.PyJWKClient(
                settings.jwks_url,
                cache_keys=True,
                lifespan=300,
                timeout=10,
                cooldown_duration=settings.jwks_cooldown_s,
            )

            def remote(kid: str) -> Any:
                try:
                    return client.get_signing_key(kid).key
                except jwt.PyJWKClientConnectionError as exc:  # the URL: server log only
                    log.warning("the identity provider's keys could not be read: %s", exc)
                    raise TokenError("the identity provider's keys could not be read") from None
                except jwt.PyJWKClientError:  # its message quotes the token's kid
                    raise TokenError("token signed by an unknown key") from None

            self._key: Callable[[str], Any] = remote
        else:
            self._key = _LocalKeys(settings.key_dir).get
        self._clients = None if settings.jwks_url else ClientRegistry(settings.clients_file)

    def verify(self, token: str) -> Principal:
        """The principal of a valid token.

        Raises
        ------
        TokenError
            For a malformed, forged, expired, not-yet-valid or foreign token, or one without
            a known role.
        """
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise TokenError("malformed token") from None
        if header.get("alg") not in ALGORITHMS:  # the caller's text is not echoed (audited)
            raise TokenError(f"algorithm not accepted (only {', '.join(ALGORITHMS)})")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise TokenError("token names no key (kid)")
        try:
            claims = jwt.decode(
                token,
                self._key(kid),
                algorithms=list(ALGORITHMS),
                audience=self.settings.audience,
                issuer=self.settings.issuer,
                leeway=_LEEWAY_S,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise TokenError("token expired") from None
        except jwt.ImmatureSignatureError:
            raise TokenError("token not valid yet") from None
        except jwt.InvalidAudienceError:
            raise TokenError("token is for another audience") from None
        except jwt.InvalidIssuerError:
            raise TokenError("token from another issuer") from None
        except jwt.InvalidTokenError as exc:
            raise TokenError(f"invalid token: {type(exc).__name__}") from None
        role = claims.get(self.settings.role_claim)
        if role not in ROLES:
            raise TokenError("token carries no known role")
        raw = claims.get("scope", claims.get("scp", ""))
        if isinstance(raw, str):
            scopes = raw.split()
        elif isinstance(raw, list):
            scopes = [s for s in raw if isinstance(s, str)]
        else:
            raise TokenError("token scope is neither a string nor a list")
        if self._clients is not None:  # our own tokens: their client still as registered
            entry = self._clients.get(str(claims["sub"]))
            if entry is None or registration(entry) != claims.get(REGISTRATION_CLAIM):
                raise TokenError("the token's client was removed or given a new secret")
            # a client demoted in place (its role or scopes narrowed, its secret kept) keeps
            # none of what it lost: its earlier tokens carry the old role and scopes
            if role != entry.get("role") or not set(scopes) <= set(entry.get("scopes") or ()):
                raise TokenError("the token's client was given another role or fewer scopes")
        return Principal(str(claims["sub"]), str(role), frozenset(scopes))
