"""A local OAuth provider for the apps' tests (Panel's ``generic`` provider talks to it;
nothing leaves the machine): a token endpoint that trades a code for an access token, and
a user-info endpoint that names the token's user."""

from __future__ import annotations

import json
import secrets
import threading
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Provider(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.codes: dict[str, str] = {}  # code -> user
        self.tokens: dict[str, str] = {}  # access token -> user

    def code_for(self, user: str) -> str:
        """A one-time authorization code that logs ``user`` in."""
        code = secrets.token_urlsafe(16)
        self.codes[code] = user
        return code


class _Handler(BaseHTTPRequestHandler):
    server: _Provider

    def log_message(self, *args: object) -> None:
        pass

    def _json(self, code: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:  # the token endpoint
        length = int(self.headers.get("Content-Length", 0))
        form = urllib.parse.parse_qs(self.rfile.read(length).decode())
        user = self.server.codes.pop(form.get("code", [""])[0], None)
        if self.path != "/token" or user is None:
            self._json(400, {"error": "invalid_grant"})
            return
        token = secrets.token_urlsafe(16)
        self.server.tokens[token] = user
        self._json(200, {"access_token": token, "token_type": "bearer"})

    def do_GET(self) -> None:  # the user-info endpoint
        token = self.headers.get("Authorization", "").removeprefix("Bearer ")
        user = self.server.tokens.get(token)
        if self.path != "/userinfo" or user is None:
            self._json(401, {"error": "invalid_token"})
            return
        self._json(200, {"email": user})


@contextmanager
def oauth_provider() -> Iterator[tuple[_Provider, dict[str, str]]]:
    """The running provider and the environment that points ``twinlab serve
    --oauth-provider generic`` at it."""
    from cryptography.fernet import Fernet

    provider = _Provider()
    thread = threading.Thread(target=provider.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{provider.server_address[1]}"
    env = {
        "PANEL_OAUTH_KEY": "twinlab-test-client",
        "PANEL_OAUTH_SECRET": "twinlab-test-secret",
        "PANEL_OAUTH_ENCRYPTION": Fernet.generate_key().decode(),
        "PANEL_OAUTH_AUTHORIZE_URL": base + "/authorize",
        "PANEL_OAUTH_TOKEN_URL": base + "/token",
        "PANEL_OAUTH_USER_URL": base + "/userinfo",
    }
    try:
        yield provider, env
    finally:
        provider.shutdown()
        provider.server_close()
