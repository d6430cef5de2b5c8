"""Harmonization vocabulary: code mapping to standard terminologies and UCUM unit normalization.

Apply to a reader's ``events`` table in this order::

    events = map_codes(events)        # SDTM/local codes -> LOINC, source kept in qualifiers
    events = normalize_units(events)  # values -> canonical SI UCUM unit of the code

Both keep every row: what cannot be mapped or converted is flagged in ``qualifiers``
(``unmapped``, ``unit_issue``) and counted by :func:`unmapped_report` and
:func:`unit_issue_report`. The mapping and unit tables are CSV files in ``tables/``.
"""

from __future__ import annotations

from twinlab.terminology.catalog import Analyte, analytes, canonical_units, code_map
from twinlab.terminology.codes import lookup_code, map_codes, unmapped_report
from twinlab.terminology.systems import (
    CVX,
    LOINC,
    RXNORM,
    SNOMED,
    STANDARD_SYSTEMS,
    UCUM,
    canonical_system,
)
from twinlab.terminology.ucum import UnitError, parse_ucum, to_ucum
from twinlab.terminology.units import (
    analyte_for,
    canonical_unit,
    conversion,
    convert,
    normalize_units,
    unit_issue_report,
)

__all__ = [
    "CVX",
    "LOINC",
    "RXNORM",
    "SNOMED",
    "STANDARD_SYSTEMS",
    "UCUM",
    "Analyte",
    "UnitError",
    "analyte_for",
    "analytes",
    "canonical_system",
    "canonical_unit",
    "canonical_units",
    "code_map",
    "conversion",
    "convert",
    "lookup_code",
    "map_codes",
    "normalize_units",
    "parse_ucum",
    "to_ucum",
    "unit_issue_report",
    "unmapped_report",
]
