"""Readers of clinical source formats, registered by format (see :mod:`twinlab.ingest.base`)."""

from __future__ import annotations

# Importing a reader module registers its format.
from twinlab.ingest import fhir as fhir
from twinlab.ingest import odm as odm
from twinlab.ingest import sdtm as sdtm
from twinlab.ingest import vcf as vcf
from twinlab.ingest import wearables as wearables
from twinlab.ingest.base import (
    EVENT_COLUMNS,
    PERSON_COLUMNS,
    QUARANTINE_COLUMNS,
    Reader,
    ReadResult,
    reader_for,
    readers,
    register,
)
from twinlab.ingest.run import discover, read_file, read_sources

__all__ = [
    "EVENT_COLUMNS",
    "PERSON_COLUMNS",
    "QUARANTINE_COLUMNS",
    "ReadResult",
    "Reader",
    "discover",
    "read_file",
    "read_sources",
    "reader_for",
    "readers",
    "register",
]
