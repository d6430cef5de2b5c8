"""Security: envelope encryption at rest, role-based access control, TLS for Dask.

See :mod:`twinlab.security.crypto`, :mod:`twinlab.security.access`,
:mod:`twinlab.security.tls`, :mod:`twinlab.security.bundle` (passphrase-encrypted key
bundles for reviewers) and :mod:`twinlab.security.rotation` (master-key rotation).
"""

from twinlab.security.access import (
    ACTIONS,
    MATRIX,
    ROLES,
    PermissionDenied,
    allowed_actions,
    is_allowed,
    require,
)
from twinlab.security.bundle import BundleError, export_bundle, import_bundle, read_bundle
from twinlab.security.crypto import (
    EnvelopeHeader,
    IntegrityError,
    Keyring,
    decrypt_bytes,
    decrypt_file,
    encrypt_bytes,
    encrypt_file,
    generate_master_key,
    key_id_for,
    load_keyring,
    read_header,
    reencrypt_bytes,
    rotate,
    rotate_bytes,
)
from twinlab.security.keyfiles import KeyLocationError, MissingKeyError, check_key_file
from twinlab.security.rotation import rotate_master_key

__all__ = [
    "ACTIONS",
    "MATRIX",
    "ROLES",
    "BundleError",
    "EnvelopeHeader",
    "IntegrityError",
    "KeyLocationError",
    "Keyring",
    "MissingKeyError",
    "PermissionDenied",
    "allowed_actions",
    "check_key_file",
    "decrypt_bytes",
    "decrypt_file",
    "encrypt_bytes",
    "encrypt_file",
    "export_bundle",
    "generate_master_key",
    "import_bundle",
    "is_allowed",
    "key_id_for",
    "load_keyring",
    "read_bundle",
    "read_header",
    "reencrypt_bytes",
    "require",
    "rotate",
    "rotate_bytes",
    "rotate_master_key",
]
