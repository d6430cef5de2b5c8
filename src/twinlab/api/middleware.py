"""The ASGI guard around every request: body size limit, timeout, security headers, and the
audit entry.

Every request is audited before the last byte of its answer is sent, so a client never holds
an answer the trail does not have yet (``api.request``; refusals ``api.denied``, another
client's job answered ``404`` included; throttled ones ``api.throttled``, the first of a
flood in full and the rest counted, :mod:`twinlab.api.throttle`; one failing on a
bug too, answered ``500``): the client, its role and scopes, the endpoint, the query
parameters and the request body's hash, the status and the SHA-256 of the response body (the
"result hash"). A small JSON body is kept too (members named like secrets redacted by the
trail, :func:`twinlab.audit.log.redact`), but never the token endpoint's: it carries the client
secret, in whatever shape a client sends it (a JSON string of the form is no mapping to
redact), and the trail is signed and append-only, so a secret written there stays; nor the
body of a patient-level route (:data:`twinlab.api.auth.PATIENT_LEVEL`: subjects and their
covariates), since roles without patient-level access read the trail (``view_audit``);
nor the body of a refused request (``4xx``/``5xx``): subjects posted to an aggregate route by
mistake, refused as invalid, would otherwise be kept in clear.

A request past its timeout is answered ``504`` and its handler cancelled; a sync handler
already in its thread cannot be stopped, so a handler with a side effect (a job queued, a file
written) first takes the request's :class:`Deadline` (:func:`side_effect`): once the ``504``
is out, the side effect is refused; once the side effect is under way, the request is no
longer timed out and gets its real answer, late. A ``504`` therefore means that nothing
happened, and a client's retry creates nothing twice.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import threading
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

import anyio
from fastapi import HTTPException

from twinlab.api.throttle import TOKEN_PATH, ThrottleAudit
from twinlab.audit.trail import audit_event

__all__ = ["SECURITY_HEADERS", "Deadline", "ServiceGuard", "side_effect"]

_JSON_AUDIT_MAX = 8192
#: a JWT (or any JWS / JWE compact token): base64url JSON header ``eyJ``, then dot-separated
#: parts; wherever a client put one (``?jwt=``, the path), the trail keeps none
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{4,}(?:\.[A-Za-z0-9_-]*){1,4}")


def _scrub(text: str) -> str:
    """``text`` with every token-looking run replaced by ``[REDACTED]``."""
    from twinlab.audit.log import REDACTED

    return _JWT.sub(REDACTED, text)


#: on every response: nothing cached (answers carry patient-level data and tokens), no
#: sniffing, framing, referrers or active content; HSTS over HTTPS
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"cache-control", b"no-store"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"),
    (b"referrer-policy", b"no-referrer"),
)
_HSTS = (b"strict-transport-security", b"max-age=31536000")


class _TooLarge(Exception):
    pass


def _not_json(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is out of range")
    return value


def _action(status: int, state: dict) -> str:
    if status in (401, 403) or state.get("denied"):  # denied: e.g. another client's job, 404
        return "api.denied"
    if status == 429:
        return "api.throttled"
    return "api.request"


class Deadline:
    """Whichever comes first of a request's timeout and its handler's side effect."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state = "open"

    def commit(self) -> bool:
        """The handler is about to act: ``False`` if the request has already timed out."""
        with self._lock:
            if self._state == "open":
                self._state = "committed"
            return self._state == "committed"

    def expire(self) -> bool:
        """The timeout: ``False`` if the handler has already committed to its side effect."""
        with self._lock:
            if self._state == "open":
                self._state = "expired"
            return self._state == "expired"


def side_effect(request: Any) -> None:
    """Call in a handler right before its side effect: raises ``HTTPException(504)`` (an
    answer nobody will see: the ``504`` was sent) if the request has timed out, and
    otherwise keeps the timeout from answering for it.

    Parameters
    ----------
    request : starlette.requests.Request
        The request; one not served through :class:`ServiceGuard` always proceeds.
    """
    deadline = getattr(request.state, "deadline", None)
    if deadline is not None and not deadline.commit():
        raise HTTPException(504, "request timed out")


class ServiceGuard:
    """Pure ASGI middleware (no buffering of responses: the result hash is streamed).

    Parameters
    ----------
    app : ASGI app
    max_body_bytes : int
        Larger request bodies are answered ``413``.
    timeout_s : float
        Requests taking longer are answered ``504`` (if nothing was sent yet); see
        :meth:`_within_time` for what becomes of their handler.
    throttles : ThrottleAudit, optional
        Which throttled answers (``429`` of a rate limit) are audited in full
        (:mod:`twinlab.api.throttle`); default: all.
    """

    def __init__(
        self,
        app: Any,
        *,
        max_body_bytes: int,
        timeout_s: float,
        throttles: ThrottleAudit | None = None,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.timeout_s = timeout_s
        self.throttles = throttles
        self._audit_threads = anyio.CapacityLimiter(4)

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        deadline = state["deadline"] = Deadline()
        headers = dict(scope.get("headers") or [])
        status = {"code": 500, "started": False, "audited": False, "timed_out": False}
        body_hash, result_hash = hashlib.sha256(), hashlib.sha256()
        seen = {"bytes": 0, "json": bytearray()}
        ctype = headers.get(b"content-type", b"").split(b";")[0].strip()
        keep_json = ctype == b"application/json" and scope.get("path") != TOKEN_PATH

        async def counted_receive() -> dict:
            message = await receive()
            if message["type"] == "http.request":
                chunk = message.get("body", b"")
                seen["bytes"] += len(chunk)
                if seen["bytes"] > self.max_body_bytes:
                    raise _TooLarge
                body_hash.update(chunk)
                if keep_json and seen["bytes"] <= _JSON_AUDIT_MAX:
                    seen["json"] += chunk
            return message

        extra = [*SECURITY_HEADERS, *([_HSTS] if scope.get("scheme") == "https" else [])]

        async def hashing_send(message: dict) -> None:
            if message["type"] == "http.response.start":
                status["code"], status["started"] = message["status"], True
                have = {k.lower() for k, _ in message.get("headers") or []}
                added = [(k, v) for k, v in extra if k not in have]
                message = {**message, "headers": [*(message.get("headers") or []), *added]}
            elif message["type"] == "http.response.body":
                result_hash.update(message.get("body", b""))
                if not message.get("more_body", False):
                    await audit()
            await send(message)

        async def audit() -> None:
            if not status["audited"]:
                status["audited"] = True
                await self._audit(scope, state, status["code"], body_hash, result_hash, seen)

        async def answer(code: int, detail: str) -> None:
            body = json.dumps({"detail": detail}).encode()
            await hashing_send(
                {
                    "type": "http.response.start",
                    "status": code,
                    "headers": [(b"content-type", b"application/json")],
                }
            )
            await hashing_send({"type": "http.response.body", "body": body})

        async def app_send(message: dict) -> None:
            if not status["timed_out"]:  # after the 504, what the handler sends is dropped
                await hashing_send(message)

        async def timed_out() -> None:
            status["timed_out"] = True
            state["refusal"] = f"request took over {self.timeout_s:g} s"
            if not status["started"]:
                await answer(504, state["refusal"])

        length = headers.get(b"content-length", b"0")
        try:
            if length.isdigit() and int(length) > self.max_body_bytes:
                raise _TooLarge
            await self._within_time(
                lambda: self.app(scope, counted_receive, app_send),
                on_timeout=timed_out,
                deadline=deadline,
            )
        except _TooLarge:
            state["refusal"] = f"request body over {self.max_body_bytes} bytes"
            if not status["started"]:
                await answer(413, state["refusal"])
        except Exception:  # a bug: answered and audited here, logged by the server
            state["refusal"] = "internal error"
            if not status["started"]:
                await answer(500, "internal error")
            await audit()
            raise
        await audit()  # a response that never sent its last body message

    async def _within_time(
        self,
        call: Callable[[], Awaitable[None]],
        *,
        on_timeout: Callable[[], Awaitable[None]],
        deadline: Deadline,
    ) -> None:
        """Await ``call``; past ``timeout_s`` await ``on_timeout`` (the ``504``), then cancel
        ``call`` and wait until it ends, unless ``call`` has committed to a side effect
        (:func:`side_effect`): then wait for its answer, however late.

        A handler still waiting for a worker thread is cancelled before it starts; a sync
        handler already in its thread cannot be stopped, so it is waited for (its request
        keeps its connection slot and its thread's token of the pool): timed-out handlers
        never hold more threads than the pool has, nor more requests than the server's
        connection limit. Exceptions of ``call`` are raised here.
        """
        errors: list[Exception] = []
        done = anyio.Event()

        async def run() -> None:
            try:
                await call()
            except Exception as exc:  # raised below, outside the task group
                errors.append(exc)
            finally:
                done.set()

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(run)
            with anyio.move_on_after(self.timeout_s):
                await done.wait()
            if not done.is_set():
                if deadline.expire():
                    await on_timeout()
                    tasks.cancel_scope.cancel()
                else:
                    await done.wait()
        if errors:
            raise errors[0]

    async def _audit(
        self, scope: dict, state: dict, code: int, body_hash: Any, result_hash: Any, seen: dict
    ) -> None:
        extra: dict[str, int] | None = {}
        if code == 429 and state.get("throttle_key") and self.throttles is not None:
            extra = self.throttles.admit(state["throttle_key"])
            if extra is None:  # counted: written with the key's next audited throttle
                return
        principal = state.get("principal")
        query = {
            k: v if len(v) > 1 else v[0]
            for k, v in parse_qs(_scrub(scope.get("query_string", b"").decode("latin-1"))).items()
        }
        params: dict[str, Any] = {
            "client": principal.client if principal else state.get("client", "anonymous"),
            "role": principal.role if principal else None,
            "scope": sorted(principal.scopes) if principal else [],
            "endpoint": f"{scope['method']} {_scrub(scope['path'])}",
            "query": query,
            "status": code,
            **extra,
        }
        if seen["bytes"]:
            params["body_sha256"] = body_hash.hexdigest()
            if (
                seen["json"]
                and seen["bytes"] <= _JSON_AUDIT_MAX
                and not state.get("body_hash_only")
                and code < 400  # a refused body may be a patient-level one sent astray
            ):
                try:  # NaN / 1e999 are not JSON numbers: such a body is kept as its hash only
                    params["body"] = json.loads(
                        _scrub(bytes(seen["json"]).decode("utf-8")),
                        parse_constant=_not_json,
                        parse_float=_finite,
                    )
                except ValueError:
                    pass
        if state.get("refusal"):
            params["refusal"] = state["refusal"]
        actor = params["client"] if principal else "anonymous"
        await anyio.to_thread.run_sync(  # own threads: handlers that hang cannot starve it
            lambda: audit_event(
                _action(code, state),
                _scrub(scope["path"]),
                params=params,
                new={"status": code, "result_sha256": result_hash.hexdigest()},
                actor=actor,
            ),
            limiter=self._audit_threads,
        )
