"""TLS for Dask clusters: certificates to :class:`distributed.Security`, and test certificates.

Running a TLS cluster
---------------------
With a CA certificate ``ca.pem`` and, for each party, a certificate and key
signed by that CA (one pair may serve all parties on a private cluster)::

    dask scheduler --protocol tls --tls-ca-file ca.pem \\
        --tls-cert node.pem --tls-key node.key
    dask worker tls://scheduler-host:8786 --tls-ca-file ca.pem \\
        --tls-cert node.pem --tls-key node.key

and connect from Python with ``Client("tls://scheduler-host:8786",
security=tls_security(ca_file=..., cert_file=..., key_file=...))``, or in-process
with ``LocalCluster(protocol="tls", security=...)``. Dask uses *mutual* TLS:
every party must present a certificate signed by the CA, so a client without
one (or speaking plain ``tcp://``) is refused. ``require_encryption=True`` also
stops this process from opening unencrypted connections. Dask checks the
certificate chain but not host names. Keep key files outside the repository
and readable only by their owner.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from distributed import Security

from twinlab.security.filemodes import make_dirs
from twinlab.security.keyfiles import check_key_file, write_private_file, write_public_file

__all__ = ["SERVER_CIPHERS", "TLSFiles", "make_test_certificates", "tls_security"]

#: TLS 1.2 suites the HTTPS servers (results API, dashboards) offer (TLS 1.3's are all
#: AEAD): forward secrecy and AEAD only, no CBC (uvicorn's default, OpenSSL's "TLSv1", and
#: Python's default server context offer CBC suites); TLS 1.0 and 1.1 are refused
SERVER_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:DHE+CHACHA20:!aNULL:!eNULL"


@dataclass(frozen=True)
class TLSFiles:
    """Paths of a CA certificate and of one certificate + private key it signed."""

    ca_file: Path
    cert_file: Path
    key_file: Path


def tls_security(
    *,
    ca_file: str | Path,
    cert_file: str | Path,
    key_file: str | Path,
    require_encryption: bool = True,
) -> Security:
    """Build a :class:`distributed.Security` using one certificate for every role.

    Parameters
    ----------
    ca_file
        CA certificate (PEM) that signed the certificates of all parties.
    cert_file, key_file
        This party's certificate and private key (PEM).
    require_encryption
        Refuse unencrypted connections from this process.

    Returns
    -------
    distributed.Security
        For ``Client``, ``Scheduler``, ``Worker`` or ``LocalCluster(protocol="tls")``.

    Raises
    ------
    FileNotFoundError
        If a file is missing (named in the message).
    twinlab.security.keyfiles.KeyLocationError
        If the private key is readable by group or others, or lies in a git work tree.
    """
    files = {"CA certificate": ca_file, "certificate": cert_file, "private key": key_file}
    for what, file in files.items():
        if not Path(file).is_file():
            raise FileNotFoundError(f"TLS {what} not found: {file}")
    # whoever reads it joins the cluster as this party, and a Dask scheduler runs any code
    # a client sends: private (0600) and outside any git work tree, as every key here
    check_key_file(key_file, what="Dask TLS private key")
    ca, cert, key = (str(Path(f).resolve()) for f in (ca_file, cert_file, key_file))
    return Security(
        tls_ca_file=ca,
        tls_client_cert=cert,
        tls_client_key=key,
        tls_scheduler_cert=cert,
        tls_scheduler_key=key,
        tls_worker_cert=cert,
        tls_worker_key=key,
        require_encryption=require_encryption,
    )


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "twinlab test"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def make_test_certificates(
    directory: str | Path, *, hostname: str = "localhost", days: int = 1
) -> TLSFiles:
    """Create a throwaway self-signed CA and a certificate it signs, for tests and demos.

    Parameters
    ----------
    directory
        Folder to write ``ca.pem``, ``ca.key``, ``node.pem`` and ``node.key`` to
        (keys with mode 0600).
    hostname
        DNS name in the certificate (``127.0.0.1`` and ``::1`` are always added).
    days
        Validity.

    Returns
    -------
    TLSFiles
        The CA certificate and the node's certificate and key.
    """
    folder = make_dirs(directory, 0o700)
    now = dt.datetime.now(dt.UTC)
    start, end = now - dt.timedelta(minutes=5), now + dt.timedelta(days=days)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(_name("twinlab test CA"))
        .issuer_name(_name("twinlab test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    node_key = ec.generate_private_key(ec.SECP256R1())
    node_cert = (
        x509.CertificateBuilder()
        .subject_name(_name(hostname))
        .issuer_name(ca_cert.subject)
        .public_key(node_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName(hostname),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                    x509.IPAddress(ipaddress.ip_address("::1")),
                ]
            ),
            critical=False,
        )
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    files = TLSFiles(folder / "ca.pem", folder / "node.pem", folder / "node.key")
    write_public_file(files.ca_file, ca_cert.public_bytes(serialization.Encoding.PEM))
    write_public_file(files.cert_file, node_cert.public_bytes(serialization.Encoding.PEM))
    write_private_file(folder / "ca.key", _pem(ca_key), overwrite=True)
    write_private_file(files.key_file, _pem(node_key), overwrite=True)
    return files
