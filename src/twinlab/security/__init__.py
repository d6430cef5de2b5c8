"""Security: envelope encryption at rest, role-based access control, TLS for Dask.

See :mod:`twinlab.security.crypto`, :mod:`twinlab.security.access` and
:mod:`twinlab.security.tls`.
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
    rotate,
    rotate_bytes,
)
from twinlab.security.keyfiles import KeyLocationError, MissingKeyError, check_key_file

__all__ = [
    "ACTIONS",
    "MATRIX",
    "ROLES",
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
    "generate_master_key",
    "is_allowed",
    "key_id_for",
    "load_keyring",
    "read_header",
    "require",
    "rotate",
    "rotate_bytes",
]
