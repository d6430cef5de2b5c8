"""Code system URIs and the canonical names of the source systems that mapping tables use."""

from __future__ import annotations

import re

__all__ = [
    "CVX",
    "LOINC",
    "RXNORM",
    "SNOMED",
    "STANDARD_SYSTEMS",
    "UCUM",
    "canonical_system",
    "is_standard",
]

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
CVX = "http://hl7.org/fhir/sid/cvx"
UCUM = "http://unitsofmeasure.org"

#: Systems whose codes are already standard: ``map_codes`` keeps them and never flags them.
STANDARD_SYSTEMS: frozenset[str] = frozenset({LOINC, SNOMED, RXNORM, CVX})

#: Other spellings of the standard systems (lower case, without trailing slash) -> URI.
_ALIASES: dict[str, str] = {
    "loinc": LOINC,
    "http://loinc.org": LOINC,
    "https://loinc.org": LOINC,
    "urn:oid:2.16.840.1.113883.6.1": LOINC,
    "2.16.840.1.113883.6.1": LOINC,
    "snomed": SNOMED,
    "snomed ct": SNOMED,
    "snomed-ct": SNOMED,
    "snomedct": SNOMED,
    "sct": SNOMED,
    "http://snomed.info/sct": SNOMED,
    "urn:oid:2.16.840.1.113883.6.96": SNOMED,
    "2.16.840.1.113883.6.96": SNOMED,
    "rxnorm": RXNORM,
    "http://www.nlm.nih.gov/research/umls/rxnorm": RXNORM,
    "urn:oid:2.16.840.1.113883.6.88": RXNORM,
    "2.16.840.1.113883.6.88": RXNORM,
    "cvx": CVX,
    "http://hl7.org/fhir/sid/cvx": CVX,
    "urn:oid:2.16.840.1.113883.12.292": CVX,
    "2.16.840.1.113883.12.292": CVX,
}
#: SDTM test-code variables as a system name: 'LBTESTCD', 'SDTM LBTESTCD', 'sdtm:LBTESTCD',
#: 'CDISC SDTM.LBTESTCD', ... -> 'sdtm:LBTESTCD'.
_SDTM = re.compile(r"^(?:(?:cdisc)[\s._:/-]*)?(?:sdtm[\s._:/-]*)?([a-z]{2})testcd$")
#: A bare 'SDTM' system is resolved by the event's domain.
_SDTM_BY_DOMAIN = {
    "lab": "sdtm:LBTESTCD",
    "vital": "sdtm:VSTESTCD",
    "concentration": "sdtm:PCTESTCD",
}


def canonical_system(system: object, *, domain: object = None) -> str | None:
    """Return the canonical name of a code system as the mapping tables spell it.

    Standard systems become their URI (``LOINC``, OIDs and ``https`` variants are accepted);
    SDTM test-code variables become ``sdtm:<VAR>`` (e.g. ``sdtm:LBTESTCD``); a bare ``SDTM``
    system is resolved by ``domain`` (lab, vital, concentration). Anything else is returned as
    given (stripped); missing values give ``None``.

    Parameters
    ----------
    system : object
        The ``code_system`` as given.
    domain : object, optional
        The event's domain, used only for a bare ``SDTM`` system.

    Returns
    -------
    str or None

    Examples
    --------
    >>> canonical_system("urn:oid:2.16.840.1.113883.6.1")
    'http://loinc.org'
    >>> canonical_system("SDTM LBTESTCD")
    'sdtm:LBTESTCD'
    """
    if system is None or not isinstance(system, str):
        return None
    text = system.strip()
    if not text:
        return None
    key = text.lower().rstrip("/")
    if key in _ALIASES:
        return _ALIASES[key]
    match = _SDTM.match(key)
    if match:
        return f"sdtm:{match.group(1).upper()}TESTCD"
    if key in {"sdtm", "cdisc sdtm", "cdisc"} and isinstance(domain, str):
        return _SDTM_BY_DOMAIN.get(domain, text)
    return text


def is_standard(system: str | None) -> bool:
    """Whether ``system`` (canonical) is one of :data:`STANDARD_SYSTEMS`."""
    return system in STANDARD_SYSTEMS
