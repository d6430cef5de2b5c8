"""Running the service: uvicorn with TLS on, the audit log on, limits on.

Secure by default: HTTPS with the certificate given, else a self-signed one made once in the
key folder (``~/.config/twinlab/keys/api``; for a workstation, a test or behind a
TLS-terminating proxy that trusts it), naming loopback, the bound host and the machine's
hostname (a certificate made earlier that does not name the host served is kept, with a
warning); plain HTTP only when asked and only on loopback.
A client's address (its token-less rate-limit bucket, the ``client`` of its audit entries) is
its TCP peer's. Behind a reverse proxy every such request would share the proxy's bucket: name
the proxy with ``trusted_proxies`` (``--trusted-proxy``) and the address its
``X-Forwarded-For`` gives is used instead, for requests from that proxy only (the right-most
address not itself a trusted proxy, so a client cannot forge one by sending the header).
Requests are audited to ``$TWINLAB_AUDIT_LOG`` (default ``<project>/logs/audit.jsonl``)
signed with the audit key (``twinlab keys init``'s when none is in the environment); without
one the service does not start.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import socket
from pathlib import Path

from twinlab.api.settings import ApiSettings
from twinlab.security.tls import SERVER_CIPHERS

__all__ = ["connection_options", "prepare_audit", "serve"]

log = logging.getLogger(__name__)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def default_public_url(host: str, port: int, *, https: bool = True) -> str:
    """The public URL of a service listening on ``host:port``: that address, or this
    machine's name for a wildcard (``0.0.0.0``, ``::``); the default port of the scheme
    left out.

    Examples
    --------
    >>> default_public_url("127.0.0.1", 8443), default_public_url("::1", 443)
    ('https://127.0.0.1:8443', 'https://[::1]')
    """
    name = host.strip().strip("[]")
    if name in ("", "0.0.0.0", "::"):
        name = socket.getfqdn()
    elif ":" in name:
        name = f"[{name}]"
    scheme, default = ("https", 443) if https else ("http", 80)
    return f"{scheme}://{name}" + ("" if port == default else f":{port}")


def prepare_audit(project: Path) -> Path:
    """Set ``$TWINLAB_AUDIT_LOG`` (default ``<project>/logs/audit.jsonl``) and the signing key
    (this workstation's when none is configured); return the log.

    Raises
    ------
    ValueError
        If no audit signing key can be found (and unsigned logs are not asked for).
    """
    from twinlab.audit.keys import HMAC_KEY_ENV, KEY_ENV, KEY_FILE_ENV, load_signer
    from twinlab.audit.trail import AUDIT_LOG_ENV, UNSIGNED_ENV
    from twinlab.security.keyfiles import DEFAULT_KEY_DIR, KEY_FILES

    env = os.environ
    log = Path(env.get(AUDIT_LOG_ENV) or Path(project) / "logs" / "audit.jsonl")
    env[AUDIT_LOG_ENV] = str(log)
    if env.get(UNSIGNED_ENV) == "1":
        return log
    local = Path(DEFAULT_KEY_DIR).expanduser() / KEY_FILES[KEY_FILE_ENV]
    if not any(env.get(k) for k in (KEY_ENV, KEY_FILE_ENV, HMAC_KEY_ENV)) and local.is_file():
        env[KEY_FILE_ENV] = str(local)
    if not any(env.get(k) for k in (KEY_ENV, KEY_FILE_ENV, HMAC_KEY_ENV)):
        raise ValueError(
            "no audit signing key: the API audits every request; run 'twinlab keys init' and "
            f"export the {KEY_FILE_ENV} line it prints"
        )
    load_signer()  # a misplaced or world-readable key fails here, before serving
    return log


def _proxies(values: tuple[str, ...]) -> list[str]:
    """The trusted proxies as normalized networks; a ValueError for anything else ("*"
    included: trusting every peer would let any client choose its own address)."""
    networks = []
    for value in values:
        try:
            networks.append(str(ipaddress.ip_network(value.strip(), strict=False)))
        except ValueError:
            raise ValueError(
                f"--trusted-proxy {value!r} is not an IP address or network (CIDR)"
            ) from None
    return networks


def _check_secrets(settings: ApiSettings) -> None:
    """Refuse to start with a clients file or a signing key that others may read (rather
    than answer every token request ``500``).

    Raises
    ------
    ValueError
        If either is readable or writable by group or others (or lies in a git work tree).
    """
    from twinlab.api.clients import load_clients
    from twinlab.api.keys import jwks

    load_clients(settings.clients_file)
    if not settings.jwks_url:
        jwks(settings.key_dir)


def _self_signed(key_dir: Path, host: str) -> tuple[Path, Path]:
    """The self-signed certificate for ``host`` (made naming it, loopback and the hostname);
    one made before that does not name ``host`` is kept, with a warning saying how to
    replace it (clients may pin it: it is never replaced behind their back)."""
    from twinlab.api.keys import cert_names, names_host, required_name, tls_files

    cert, key = tls_files(key_dir, host)
    if not names_host(cert, host):
        log.warning(
            "the self-signed certificate %s names %s but not %r: clients connecting by that "
            "name will refuse it. It is kept (clients may pin it); to make one that names "
            "this host, move %s and %s aside and start again (then give clients the new "
            "certificate), or serve your own with --tls-cert/--tls-key.",
            cert, ", ".join(cert_names(cert)) or "nothing", required_name(host), cert, key,
        )  # fmt: skip
    return cert, key


def connection_options(
    settings: ApiSettings, max_connections: int = 200, trusted_proxies: tuple[str, ...] = ()
) -> dict:
    """uvicorn's options for connections: at most ``max_connections``, none of them held
    without a request (``settings.head_timeout_s``), at most
    ``settings.max_connections_per_address`` of one address but a trusted proxy's
    (:mod:`twinlab.api.connections`)."""
    from twinlab.api.connections import guarded_protocol

    return {
        "limit_concurrency": max_connections,
        "timeout_keep_alive": 5,
        "http": guarded_protocol(
            head_timeout_s=settings.head_timeout_s,
            per_address=settings.max_connections_per_address,
            exempt=trusted_proxies,
        ),
    }


def serve(
    settings: ApiSettings,
    *,
    host: str = "127.0.0.1",
    port: int = 8443,
    tls_cert: Path | None = None,
    tls_key: Path | None = None,
    insecure_http: bool = False,
    max_connections: int = 200,
    trusted_proxies: tuple[str, ...] = (),
) -> None:
    """Serve the API with uvicorn until interrupted.

    Parameters
    ----------
    settings
        Its settings; without a ``public_url``, :func:`default_public_url` of ``host`` and
        ``port`` (what OpenID discovery names its endpoints under).
    trusted_proxies
        Addresses or networks (CIDR) of reverse proxies whose ``X-Forwarded-For`` and
        ``X-Forwarded-Proto`` are believed; none by default.

    Raises
    ------
    ValueError
        For half a TLS configuration, plain HTTP off loopback, no audit key, a clients
        file or signing key others may read, or a trusted proxy that is no address or
        network.
    """
    import uvicorn

    from twinlab.api.app import create_app

    if (tls_cert is None) != (tls_key is None):
        raise ValueError("TLS needs both --tls-cert and --tls-key")
    if insecure_http and not _loopback(host):
        raise ValueError("plain HTTP is allowed on loopback only: give --tls-cert/--tls-key")
    if insecure_http and tls_cert is not None:
        raise ValueError("--insecure-http and --tls-cert exclude each other")
    proxies = _proxies(trusted_proxies)
    if settings.public_url is None:
        settings = settings.with_(
            public_url=default_public_url(host, port, https=not insecure_http)
        )
    prepare_audit(settings.project)
    _check_secrets(settings)
    if tls_key is not None:  # the user's own: as private as the keys made here
        from twinlab.security.keyfiles import check_key_file

        check_key_file(tls_key, what="TLS private key")
    ssl = {}
    if not insecure_http:
        if tls_cert is None:
            tls_cert, tls_key = _self_signed(settings.key_dir, host)
            from twinlab.security.keyfiles import check_key_file

            # one made earlier is kept as it is: still private?
            check_key_file(tls_key, what="TLS private key")
        ssl = {
            "ssl_certfile": str(tls_cert),
            "ssl_keyfile": str(tls_key),
            "ssl_ciphers": SERVER_CIPHERS,
        }
    uvicorn.run(
        create_app(settings),
        host=host,
        port=port,
        **connection_options(settings, max_connections, tuple(proxies)),
        timeout_graceful_shutdown=10,
        server_header=False,
        # a client's address is its peer's; X-Forwarded-For only from a proxy named trusted
        proxy_headers=bool(proxies),
        forwarded_allow_ips=",".join(proxies) if proxies else None,
        log_level="warning",
        **ssl,
    )
