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
import json
import secrets
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from jwt.algorithms import ECAlgorithm

from twinlab.security.keyfiles import (
    KeyLocationError,
    check_key_file,
    git_work_tree,
    write_private_file,
)

__all__ = ["jwks", "key_folder", "retire", "rotate", "signing_key", "tls_files"]

_SUFFIX = ".es256.pem"


def key_folder(folder: str | Path) -> Path:
    """The key folder, created private (``0700``); refused inside a git work tree."""
    where = Path(folder).expanduser().resolve()
    tree = git_work_tree(where)
    if tree is not None:
        raise KeyLocationError(f"API key folder {where} lies inside the git work tree {tree}")
    where.mkdir(parents=True, exist_ok=True, mode=0o700)
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


def tls_files(folder: str | Path, host: str = "localhost") -> tuple[Path, Path]:
    """A self-signed certificate and key for ``host`` in the folder (made once, 1 year).

    For a workstation or a test; a deployment gives its own with ``--tls-cert/--tls-key``.
    """
    where = key_folder(folder)
    cert_file, key_file = where / "tls-cert.pem", where / "tls-key.pem"
    if cert_file.is_file() and key_file.is_file():
        return cert_file, key_file
    import ipaddress

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = dt.datetime.now(dt.UTC)
    alt = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    if host not in ("localhost", "127.0.0.1"):
        alt.append(x509.DNSName(host))
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(x509.SubjectAlternativeName(alt), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    write_private_file(key_file, key_pem, overwrite=True)
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert_file, key_file
