"""De-identification by HIPAA Safe Harbor: keyed pseudonyms, date shifting, PHI scanning.

The table of the 18 Safe Harbor identifier classes and how twinlab handles each is in
:mod:`twinlab.deid.safe_harbor` (and :data:`SAFE_HARBOR_CLASSES`).
"""

from __future__ import annotations

from twinlab.deid.dates import DATE_SHIFT_PURPOSE, date_shift_days, shift_dates
from twinlab.deid.identifiers import IdentifierSet, date_variants, identifiers_from
from twinlab.deid.keys import (
    KEY_ENV,
    KEY_FILE_ENV,
    MIN_KEY_BYTES,
    DeidKey,
    DeidKeyError,
    load_key,
)
from twinlab.deid.pseudonyms import PSEUDONYM_PATTERN, pseudonym, pseudonymize
from twinlab.deid.safe_harbor import (
    AGE_CEILING,
    RESTRICTED_ZIP3,
    SAFE_HARBOR_CLASSES,
    age_in_years,
    birth_year,
    zip3,
)
from twinlab.deid.scanner import Finding, scan_for_phi
from twinlab.deid.tables import PATIENT_SYSTEM, deidentify
from twinlab.deid.text import PATTERNS, TextScrubber, scrub_text

__all__ = [
    "AGE_CEILING",
    "DATE_SHIFT_PURPOSE",
    "KEY_ENV",
    "KEY_FILE_ENV",
    "MIN_KEY_BYTES",
    "PATIENT_SYSTEM",
    "PATTERNS",
    "PSEUDONYM_PATTERN",
    "RESTRICTED_ZIP3",
    "SAFE_HARBOR_CLASSES",
    "DeidKey",
    "DeidKeyError",
    "Finding",
    "IdentifierSet",
    "TextScrubber",
    "age_in_years",
    "birth_year",
    "date_shift_days",
    "date_variants",
    "deidentify",
    "identifiers_from",
    "load_key",
    "pseudonym",
    "pseudonymize",
    "scan_for_phi",
    "scrub_text",
    "shift_dates",
    "zip3",
]
