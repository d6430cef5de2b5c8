"""The audit trail: a hash-chained, signed, append-only log and run records.

See :mod:`twinlab.audit.log` (writing), :mod:`twinlab.audit.verify` (checking,
and what can and cannot be detected), :mod:`twinlab.audit.records` (run
records); the ``twinlab audit`` commands are :mod:`twinlab.cli.audit`.
"""

from twinlab.audit.keys import (
    Ed25519Signer,
    HmacSigner,
    Signer,
    generate_keypair,
    load_public_key,
    load_signer,
)
from twinlab.audit.log import (
    CHECKPOINT_ACTION,
    GENESIS,
    REDACTED,
    AuditLog,
    AuditLogError,
    canonical,
    default_actor,
    entry_hash,
    is_secret_name,
    redact,
)
from twinlab.audit.records import (
    code_version,
    dir_md5,
    hash_path,
    package_versions,
    run_record,
    write_run_record,
)
from twinlab.audit.trail import AUDIT_LOG_ENV, audit_event, audit_log, audit_stage
from twinlab.audit.verify import VerifyResult, verify

__all__ = [
    "AUDIT_LOG_ENV",
    "CHECKPOINT_ACTION",
    "GENESIS",
    "REDACTED",
    "AuditLog",
    "AuditLogError",
    "Ed25519Signer",
    "HmacSigner",
    "Signer",
    "VerifyResult",
    "audit_event",
    "audit_log",
    "audit_stage",
    "canonical",
    "code_version",
    "default_actor",
    "dir_md5",
    "entry_hash",
    "generate_keypair",
    "hash_path",
    "is_secret_name",
    "load_public_key",
    "load_signer",
    "package_versions",
    "redact",
    "run_record",
    "verify",
    "write_run_record",
]
