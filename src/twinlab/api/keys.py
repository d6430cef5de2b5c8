"""The embedded token issuer's signing keys, their JWKS, rotation, and the TLS certificate.

Signing keys are ECDSA P-256 (``ES256``) private keys, one PEM file per key id (``kid``) in
the key folder (default ``~/.config/twinlab/keys/api``, refused inside a git work tree, files
mode ``0600``: a key that group or others may read is refused). The newest key signs; every
key still in the folder is published in the JWKS, so tokens signed before a rotation stay
valid until they expire. :func:`rotate` adds a key;
:func:`retire` removes old ones (do it once the longest token lifetime has passed).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import secrets
import socket
import stat
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from jwt.algorithms import ECAlgorithm

from twinlab.security.filemodes import make_dirs
from twinlab.security.keyfiles import (
    KeyLocationError,
    check_key_file,
    foreign_owner,
    git_work_tree,
    write_private_file,
    write_public_file,
)

__all__ = [
    "cert_names",
    "jwks",
    "key_folder",
    "names_host",
    "retire",
    "rotate",
    "served_names",
    "signing_key",
    "tls_files",
]

_SUFFIX = ".es256.pem"


def key_folder(folder: str | Path) -> Path:
    """The key folder, created private (``0700``, as every folder made above it); refused
    inside a git work tree, or when group or others may write to it (they could delete the
    keys, or add one the server would publish and sign with)."""
    where = Path(folder).expanduser().resolve()
    tree = git_work_tree(where)
    if tree is not None:
        raise KeyLocationError(f"API key folder {where} lies inside the git work tree {tree}")
    make_dirs(where, 0o700)
    mode = stat.S_IMODE(where.stat().st_mode)
    if mode & 0o022:
        raise KeyLocationError(
            f"API key folder {where} has mode {mode:04o}: others may write to it; chmod 700 {where}"
        )
    foreign = foreign_owner(where)
    if foreign:
        raise KeyLocationError(f"API key folder {where} is {foreign}, not by this user")
    return where


def _seq(file: Path) -> int:
    head = file.name.split("-", 1)[0]
    return int(head) if head.isdigit() else 0


def _keys(folder: Path) -> list[Path]:
    """Key files, oldest first (a key id starts with a sequence number, then its time)."""
    return sorted(folder.glob(f"*{_SUFFIX}"), key=lambda f: (_seq(f), f.name))


def rotate(folder: str | Path) -> str:
    """Create a new signing key; return its key id. Older keys stay published."""
    where = key_folder(folder)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
    files = _keys(where)
    seq = _seq(files[-1]) + 1 if files else 1
    kid = f"{seq:06d}-{stamp}-{secrets.token_hex(4)}"
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    write_private_file(where / f"{kid}{_SUFFIX}", pem)
    return kid


def retire(folder: str | Path, keep: int = 1) -> list[str]:
    """Delete all but the ``keep`` newest keys; return the key ids removed."""
    files = _keys(key_folder(folder))
    gone = files[: max(0, len(files) - max(1, keep))]
    for f in gone:
        f.unlink()
    return [f.name.removesuffix(_SUFFIX) for f in gone]


def _load(file: Path) -> ec.EllipticCurvePrivateKey:
    check_key_file(file, what="API signing key")  # a key others may read forges tokens
    key = serialization.load_pem_private_key(file.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{file} is not an EC private key")
    return key


def signing_key(folder: str | Path) -> tuple[str, ec.EllipticCurvePrivateKey]:
    """The newest key ``(kid, key)``; one is created when the folder has none."""
    where = key_folder(folder)
    files = _keys(where)
    if not files:
        rotate(where)
        files = _keys(where)
    return files[-1].name.removesuffix(_SUFFIX), _load(files[-1])


def jwks(folder: str | Path) -> dict[str, Any]:
    """The public JWKS of every key in the folder (RFC 7517)."""
    out = []
    for file in _keys(key_folder(folder)):
        jwk = json.loads(ECAlgorithm.to_jwk(_load(file).public_key()))
        jwk.update(kid=file.name.removesuffix(_SUFFIX), use="sig", alg="ES256")
        out.append(jwk)
    return {"keys": out}


#: bind addresses that mean "every interface": clients reach them by the machine's name
_WILDCARDS = ("", "0.0.0.0", "::")


def _ip(name: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        return None


def served_names(host: str) -> list[str]:
    """The names a self-signed certificate for a server bound to ``host`` should carry:
    loopback, the bound host (unless it is a wildcard such as ``0.0.0.0``) and this
    machine's hostname.

    Examples
    --------
    >>> names = served_names("10.1.2.3")
    >>> names[:4], socket.gethostname() in names
    (['localhost', '127.0.0.1', '::1', '10.1.2.3'], True)
    """
    names = ["localhost", "127.0.0.1", "::1"]
    if host.strip("[]") not in _WILDCARDS:
        names.append(host.strip("[]"))
    hostname = socket.gethostname()
    if hostname and hostname.isascii():
        names.append(hostname)
    return list(dict.fromkeys(n.lower() if _ip(n) is None else str(_ip(n)) for n in names))


def required_name(host: str) -> str:
    """The name clients use for a server bound to ``host`` (the hostname for a wildcard)."""
    host = host.strip("[]")
    return socket.gethostname() if host in _WILDCARDS else host


def _san(names: list[str]) -> x509.SubjectAlternativeName:
    return x509.SubjectAlternativeName(
        [x509.IPAddress(ip) if (ip := _ip(n)) else x509.DNSName(n) for n in names]
    )


def cert_names(cert_file: str | Path) -> list[str]:
    """The DNS names and IP addresses a certificate's SAN carries (lower-case)."""
    cert = x509.load_pem_x509_certificate(Path(cert_file).read_bytes())
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return [n.lower() for n in san.get_values_for_type(x509.DNSName)] + [
        str(ip) for ip in san.get_values_for_type(x509.IPAddress)
    ]


def names_host(cert_file: str | Path, host: str) -> bool:
    """Whether the certificate names ``host`` (a wildcard bind: this machine's hostname)."""
    want = required_name(host)
    ip = _ip(want)
    return (str(ip) if ip else want.lower()) in cert_names(cert_file)


def tls_files(folder: str | Path, host: str = "127.0.0.1") -> tuple[Path, Path]:
    """A self-signed certificate and key for a server bound to ``host`` (made once, 1 year).

    The certificate names :func:`served_names`. One already in the folder is kept as it is,
    even when it does not name ``host`` (clients may pin it): see :func:`names_host`.
    For a workstation or a test; a deployment gives its own with ``--tls-cert/--tls-key``.
    """
    where = key_folder(folder)
    cert_file, key_file = where / "tls-cert.pem", where / "tls-key.pem"
    if cert_file.is_file() and key_file.is_file():
        return cert_file, key_file
    key = ec.generate_private_key(ec.SECP256R1())
    names = served_names(host)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, required_name(host)[:64])])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(_san(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    write_private_file(key_file, key_pem, overwrite=True)
    write_public_file(cert_file, cert.public_bytes(serialization.Encoding.PEM))
    return cert_file, key_file
