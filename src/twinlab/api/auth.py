"""Who may call what: bearer tokens, scopes onto the access matrix, per-client rate limits."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, unquote

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from twinlab.api.clients import authenticate_client, load_clients, registration
from twinlab.api.limits import RateLimiter
from twinlab.api.tokens import Principal, TokenError, TokenIssuer

__all__ = ["PATIENT_LEVEL", "TokenEndpointError", "grant", "requires"]

_bearer = HTTPBearer(auto_error=False, description="JWT access token (client credentials)")
#: actions whose requests carry patient-level data (subjects, their covariates): their body
#: is audited as its hash only, since the trail is read by roles without patient-level
#: access (``view_audit``: admins)
PATIENT_LEVEL = frozenset({"read_patient_level", "export_data"})


def _refuse(request: Request, status: int, why: str, headers: dict | None = None) -> None:
    request.state.refusal = why
    raise HTTPException(status, why, headers=headers)


def requires(action: str) -> Callable[..., Any]:
    """A dependency admitting a valid token that grants ``action`` to a role allowed to
    perform it (:mod:`twinlab.security.access`), within its client's rate limit."""

    def dependency(
        request: Request,
        credentials: HTTPAuthorizationCredentials | None = Depends(_bearer),  # noqa: B008
    ) -> Principal:
        app = request.app.state
        if action in PATIENT_LEVEL:  # whoever calls, refused or not
            request.state.body_hash_only = True
        if credentials is None or credentials.scheme.lower() != "bearer":
            _refuse(
                request,
                401,
                "a bearer token is required",
                {"WWW-Authenticate": 'Bearer realm="twinlab"'},
            )
        try:
            principal = app.verifier.verify(credentials.credentials)
        except TokenError as exc:
            _refuse(request, 401, str(exc), {"WWW-Authenticate": 'Bearer error="invalid_token"'})
        request.state.principal = principal
        wait = app.limiter.take(f"client:{principal.client}")
        if wait > 0:
            request.state.throttle_key = f"client:{principal.client}"
            _refuse(
                request, 429, "rate limit exceeded", {"Retry-After": RateLimiter.retry_after(wait)}
            )
        if not principal.may(action):
            _refuse(
                request, 403, f"this token does not grant {action!r} to role {principal.role!r}"
            )
        return principal

    return dependency


class TokenEndpointError(Exception):
    """An OAuth2 error response (RFC 6749 §5.2)."""

    def __init__(
        self, status: int, error: str, description: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(description)
        self.status, self.error, self.description = status, error, description
        self.headers = dict(headers or {})


def _basic(header: str | None) -> tuple[str, str] | None:
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        user, _, secret = base64.b64decode(header[6:], validate=True).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return None
    return unquote(user), unquote(secret)


def grant(request: Request, body: bytes, issuer: TokenIssuer, clients_file: Any) -> dict:
    """The client-credentials grant: authenticate the client, check the scopes asked for.

    A scope beyond what the client was registered with is refused (``invalid_scope``), never
    silently narrowed, so an attempt at escalation is visible in the audit log. A client
    whose bucket is empty (its tokens and its API calls take from the same one) is answered
    ``429`` before its secret is hashed.

    Raises
    ------
    TokenEndpointError
    """
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype and ctype != "application/x-www-form-urlencoded":
        raise TokenEndpointError(
            400,
            "invalid_request",
            "send the token request as application/x-www-form-urlencoded (RFC 6749)",
        )
    try:
        form = {k: v[0] for k, v in parse_qs(body.decode("utf-8"), strict_parsing=False).items()}
    except UnicodeDecodeError:
        raise TokenEndpointError(400, "invalid_request", "the body is not UTF-8") from None
    if form.get("grant_type") != "client_credentials":
        raise TokenEndpointError(400, "unsupported_grant_type", "use client_credentials")
    basic = _basic(request.headers.get("authorization"))
    client_id, secret = basic or (form.get("client_id"), form.get("client_secret"))
    if not client_id or not secret:
        raise TokenEndpointError(401, "invalid_client", "client authentication is required")
    request.state.client = client_id if len(client_id) <= 100 else client_id[:100]
    # a client past its rate gets no token, and costs no hash (only a right secret takes
    # from the client's bucket, so no one else can empty it)
    limiter = getattr(request.app.state, "limiter", None)
    wait = limiter.wait(f"client:{client_id}") if limiter is not None else 0.0
    if wait > 0:
        request.state.throttle_key = f"client:{client_id[:100]}"
        raise TokenEndpointError(
            429,
            "slow_down",
            "rate limit exceeded for this client",
            {"Retry-After": RateLimiter.retry_after(wait)},
        )
    entry = authenticate_client(load_clients(clients_file), client_id, secret)
    if entry is None:
        raise TokenEndpointError(401, "invalid_client", "unknown client or wrong secret")
    request.state.authenticated_client = client_id  # charged to its own bucket, not the address
    registered = set(entry.get("scopes") or [])
    asked = set(form["scope"].split()) if form.get("scope") else registered
    beyond = sorted(asked - registered)
    if beyond:
        raise TokenEndpointError(
            400, "invalid_scope", f"scopes not granted to this client: {beyond}"
        )
    return issuer.issue(client_id, entry["role"], sorted(asked), registration(entry))
