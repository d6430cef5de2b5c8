"""What ``twinlab serve`` runs: ``panel serve`` of the apps, behind a login and page roles.

Login is either Panel's login page checked against the hashed credentials file (the
default: ``--auth-module`` :mod:`twinlab.apps.auth_module`) or an OAuth provider
(``--oauth-provider github|google|azure|okta|generic|...``, Panel's providers; key, secret
and encryption key from ``PANEL_OAUTH_KEY``, ``PANEL_OAUTH_SECRET``,
``PANEL_OAUTH_ENCRYPTION`` so they never show in a process list). Either way the role of
each user comes from the credentials file and every page is authorized by
:func:`twinlab.apps.auth.authorize` (deny by default).

The command itself is :mod:`twinlab.cli.apps`.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from twinlab.apps.auth import CREDENTIALS_ENV, PAGES, credentials_path, load_credentials
from twinlab.apps.connections import (
    EXEMPT_ENV,
    HEAD_TIMEOUT_ENV,
    HEAD_TIMEOUT_S,
    PER_ADDRESS,
    PER_ADDRESS_ENV,
    limits_from_env,
)
from twinlab.apps.memory import SERVER_MB_ENV, SESSION_MB_ENV
from twinlab.audit.keys import HMAC_KEY_ENV, KEY_ENV, KEY_FILE_ENV, load_signer
from twinlab.audit.log import ANCHOR_ENV
from twinlab.audit.trail import AUDIT_LOG_ENV, UNSIGNED_ENV
from twinlab.security.keyfiles import DEFAULT_KEY_DIR, KEY_FILES, check_key_file

__all__ = ["COOKIE_SECRET_ENV", "oauth_settings", "serve_command", "server_environment"]

COOKIE_SECRET_ENV = "TWINLAB_COOKIE_SECRET"
_APPS = Path(__file__).resolve().parent
_OAUTH_ENV = ("PANEL_OAUTH_KEY", "PANEL_OAUTH_SECRET")
_MIN_SECRET = 32


def oauth_settings(provider: str, env: Mapping[str, str]) -> dict[str, str]:
    """Check an OAuth configuration; return the ``panel serve`` options it adds.

    Raises
    ------
    ValueError
        For a provider Panel does not know, or a key/secret missing from the environment.
    """
    from panel.auth import AUTH_PROVIDERS

    known = sorted(k for k in AUTH_PROVIDERS if k != "pam")
    if provider not in known:
        raise ValueError(f"unknown OAuth provider {provider!r}; Panel knows {', '.join(known)}")
    missing = [k for k in _OAUTH_ENV if not env.get(k)]
    if missing:
        raise ValueError(
            f"OAuth provider {provider!r} needs {' and '.join(missing)} in the environment "
            "(the app's client id and secret, registered with the provider)"
        )
    if not env.get("PANEL_OAUTH_ENCRYPTION"):
        raise ValueError(
            "OAuth needs PANEL_OAUTH_ENCRYPTION (generate one with 'panel oauth-secret') so "
            "tokens are not stored in clear in cookies"
        )
    return {"--oauth-provider": provider}


def _loopback(address: str) -> bool:
    """Whether ``address`` is reached from this machine only (``localhost``, ``127.0.0.0/8``,
    ``::1``); a wildcard (``0.0.0.0``, ``::``, empty) or a name is not."""
    if address.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(address.strip().strip("[]")).is_loopback
    except ValueError:
        return False


def _cookie_secret(env: Mapping[str, str], keyfile: Path | None) -> str:
    if keyfile is not None:  # whoever reads it can forge any user's session cookie
        check_key_file(keyfile, what="cookie secret file")
        secret, where = keyfile.read_text().strip(), str(keyfile)
    elif env.get(COOKIE_SECRET_ENV):
        secret, where = env[COOKIE_SECRET_ENV].strip(), f"${COOKIE_SECRET_ENV}"
    else:
        return secrets.token_urlsafe(32)  # sessions do not outlive this server
    if len(secret.encode()) < _MIN_SECRET:
        raise ValueError(
            f"the cookie secret in {where} is too short (need >= {_MIN_SECRET} bytes; "
            "make one with: python -c 'import secrets; print(secrets.token_urlsafe(32))')"
        )
    return secret


#: what the server process may see of the caller's environment: names, and name prefixes
#: ending in ``_``. Not the master, de-identification or bundle keys: the dashboards read
#: harmonized data and models, never raw data.
_ENV_NAMES = frozenset(
    {
        "PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TZ", "TMPDIR", "TEMP", "TMP",
        "VIRTUAL_ENV", "CONDA_PREFIX", "PYTHONPATH", "SSL_CERT_FILE", "SSL_CERT_DIR",
        "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy",
        "OMP_NUM_THREADS", "MPLCONFIGDIR", "TWINLAB_WHATIF_PATIENTS", "TWINLAB_USER",
        SESSION_MB_ENV, SERVER_MB_ENV,
        AUDIT_LOG_ENV, UNSIGNED_ENV, ANCHOR_ENV, KEY_ENV, KEY_FILE_ENV, HMAC_KEY_ENV,
    }
)  # fmt: skip
_ENV_PREFIXES = ("LC_", "XDG_", "PANEL_", "BOKEH_", "NUMBA_", "MKL_", "OPENBLAS_", "DASK_")


#: Panel and Bokeh settings read from the environment that would open the dashboards past
#: twinlab's login or checks: refused rather than passed on to the server.
_WEAKENING_ENV = {
    "PANEL_OAUTH_OPTIONAL": "lets visitors in without logging in",
    "PANEL_OAUTH_GUEST_ENDPOINTS": "serves pages to visitors who did not log in",
    "PANEL_BASIC_AUTH": "replaces twinlab's login (users, roles, audit) by one shared password",
    "PANEL_ADMIN_ENDPOINT": "serves Panel's admin page (sessions, logs, server state)",
    "BOKEH_XSRF_COOKIES": "changes the cross-site request forgery check of the login form",
}


def _refuse_weakening_env(env: Mapping[str, str]) -> None:
    for name, why in _WEAKENING_ENV.items():
        if env.get(name, "").strip():
            raise ValueError(
                f"${name} is set: it {why}; unset it to serve the dashboards (twinlab sets "
                "what they need itself)"
            )


def server_environment(env: Mapping[str, str]) -> dict[str, str]:
    """The part of ``env`` the ``panel serve`` process needs (see :data:`_ENV_NAMES`)."""
    return {k: v for k, v in env.items() if k in _ENV_NAMES or k.startswith(_ENV_PREFIXES)}


def _check_audit_key(env: dict[str, str]) -> None:
    """Refuse to serve when the dashboards could not write their (signed) audit log.

    Without an audit key in ``env``, this workstation's key file (``twinlab keys init``,
    which ``twinlab demo`` runs: ``~/.config/twinlab/keys/audit.key``) is used when it
    exists, so the dashboards sign the same log as the pipeline; ``env`` is updated.
    """
    if env.get(UNSIGNED_ENV) == "1":
        return
    local = Path(DEFAULT_KEY_DIR).expanduser() / KEY_FILES[KEY_FILE_ENV]
    if not any(env.get(k) for k in (KEY_ENV, KEY_FILE_ENV, HMAC_KEY_ENV)) and local.is_file():
        env[KEY_FILE_ENV] = str(local)
    if env.get(KEY_FILE_ENV) and not env.get(KEY_ENV):
        load_signer(key_file=env[KEY_FILE_ENV])  # its location and mode are checked
    if not any(env.get(k) for k in (KEY_ENV, KEY_FILE_ENV, HMAC_KEY_ENV)):
        raise ValueError(
            "no audit signing key: the dashboards audit every query; run 'twinlab keys init' "
            f"and export the {KEY_FILE_ENV} line it prints (or set {UNSIGNED_ENV}=1 for a "
            "throwaway unsigned log)"
        )


def serve_command(
    *,
    root: str | os.PathLike[str],
    port: int = 5006,
    address: str = "127.0.0.1",
    credentials: str | os.PathLike[str] | None = None,
    pages: Sequence[str] = tuple(PAGES),
    cookie_secret_file: str | os.PathLike[str] | None = None,
    oauth_provider: str | None = None,
    oauth_redirect_uri: str | None = None,
    allow_websocket_origin: Sequence[str] = (),
    min_cell: int = 5,
    tls_cert: str | os.PathLike[str] | None = None,
    tls_key: str | os.PathLike[str] | None = None,
    insecure_http: bool = False,
    head_timeout_s: float = HEAD_TIMEOUT_S,
    max_connections_per_address: int = PER_ADDRESS,
    trusted_proxies: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
) -> tuple[list[str], dict[str, str]]:
    """The ``panel serve`` command line and environment that ``twinlab serve`` runs.

    Secrets (the cookie secret, OAuth credentials) travel in the environment, never on the
    command line; the credentials file is named by ``$TWINLAB_CREDENTIALS``. The server gets
    only the environment it needs (:func:`server_environment`: not the master or
    de-identification keys), with the audit signing key and ``$TWINLAB_AUDIT_LOG``
    (default ``<root>/logs/audit.jsonl``); without an audit key (or
    ``$TWINLAB_AUDIT_UNSIGNED=1``) it refuses to serve. Tornado's XSRF check is on (the
    login form carries the token). Off loopback it serves HTTPS only (``tls_cert`` and
    ``tls_key``): passwords, session cookies and patient-level pages never cross a network
    in the clear unless ``insecure_http`` says so (behind a TLS-terminating proxy). A
    connection must send its request head within ``head_timeout_s`` and one address may
    hold ``max_connections_per_address`` connections (``0``: no cap; ``trusted_proxies``
    are exempt): :mod:`twinlab.apps.connections`.

    Returns
    -------
    argv : list of str
        The command.
    env : dict
        Its environment.

    Raises
    ------
    ValueError
        For a project root that is not a folder, an unknown page, a credentials file
        inside the project or readable by others,
        no user able to log in, a cookie secret shorter than 32 bytes (or in a file others
        may read, or in a git work tree), no audit signing key,
        half a TLS configuration, plain HTTP off loopback without ``insecure_http``, a
        websocket origin matching any host (``*``, also from ``$BOKEH_ALLOW_WS_ORIGIN``), a
        Panel or Bokeh variable that would open the pages past the login
        (:data:`_WEAKENING_ENV`), an incomplete OAuth configuration, a head timeout that
        is not a positive number, a negative connection cap, or a trusted proxy that is
        not an IP address or network.
    """
    env = dict(os.environ if env is None else env)
    root = Path(root).resolve()
    if not root.is_dir():  # a typo would serve pages that fail on every query
        raise ValueError(f"the project root {root} is not a folder (--root)")
    unknown = sorted(set(pages) - set(PAGES))
    if unknown or not pages:
        raise ValueError(f"unknown page(s) {unknown}; pages: {', '.join(PAGES)}")
    cred = credentials_path(credentials).resolve()
    if cred.is_relative_to(root):
        raise ValueError(
            f"the credentials file {cred} is inside the project {root}: keep it outside "
            "the repository (default ~/.config/twinlab/users.json)"
        )
    users = load_credentials(cred)
    if not users:
        raise ValueError(
            f"no users in {cred}; add one with 'twinlab serve --add-user NAME --role ROLE'"
        )
    if oauth_provider is None and not any(u.get("password_hash") for u in users.values()):
        raise ValueError(
            f"no user in {cred} has a password (OAuth-only users need --oauth-provider)"
        )
    if min_cell < 1:
        raise ValueError(f"min_cell must be at least 1, not {min_cell}")
    if (tls_cert is None) != (tls_key is None):
        raise ValueError("TLS needs both --tls-cert and --tls-key")
    if tls_key is not None:  # whoever reads it can impersonate this server
        check_key_file(tls_key, what="TLS private key")
    if tls_cert is None and not insecure_http and not _loopback(address):
        raise ValueError(
            f"plain HTTP on {address!r} would send passwords, session cookies and patient "
            "data over the network in the clear: give --tls-cert and --tls-key, listen on "
            "127.0.0.1, or (behind a TLS-terminating proxy) pass --insecure-http"
        )
    limits = {
        HEAD_TIMEOUT_ENV: str(float(head_timeout_s)),
        PER_ADDRESS_ENV: str(int(max_connections_per_address)),
        EXEMPT_ENV: ",".join(p.strip() for p in trusted_proxies),
    }
    limits_from_env(limits)  # checked here, with a clear message, not in the server
    _check_audit_key(env)
    _refuse_weakening_env(env)
    argv = [
        sys.executable,
        "-m",
        "panel",
        "serve",
        *[str(_APPS / "pages" / f"{p}.py") for p in pages],
        "--address",
        address,
        "--port",
        str(port),
        "--setup",
        str(_APPS / "server_setup.py"),
        "--enable-xsrf-cookies",
    ]
    if tls_cert is not None and tls_key is not None:
        argv += ["--ssl-certfile", str(Path(tls_cert).resolve())]
        argv += ["--ssl-keyfile", str(Path(tls_key).resolve())]
    origins = list(allow_websocket_origin) or [f"{address}:{port}", f"localhost:{port}"]
    # Bokeh's $BOKEH_ALLOW_WS_ORIGIN replaces the command line's list: checked alike
    env_origins = [o.strip() for o in env.get("BOKEH_ALLOW_WS_ORIGIN", "").split(",")]
    for origin in [*origins, *(o for o in env_origins if o)]:
        if origin.strip() == "*" or origin.strip().startswith("*:"):
            raise ValueError(
                f"websocket origin {origin!r} would let any web site a user visits drive "
                "the dashboards with the user's session: name the origins "
                "(host:port) users open the dashboards from"
            )
    for origin in origins:
        argv += ["--allow-websocket-origin", origin]
    if oauth_provider is not None:
        for k, v in oauth_settings(oauth_provider, env).items():
            argv += [k, v]
        if oauth_redirect_uri:
            argv += ["--oauth-redirect-uri", oauth_redirect_uri]
    else:
        argv += ["--auth-module", str(_APPS / "auth_module.py")]
    secret = _cookie_secret(env, Path(cookie_secret_file) if cookie_secret_file else None)
    served = server_environment(env)
    served.update(
        {
            "PANEL_COOKIE_SECRET": secret,
            CREDENTIALS_ENV: str(cred),
            "TWINLAB_ROOT": str(root),
            "TWINLAB_MIN_CELL": str(min_cell),
            AUDIT_LOG_ENV: env.get(AUDIT_LOG_ENV) or str(root / "logs" / "audit.jsonl"),
            **limits,
        }
    )
    return argv, served
