"""The field policy of the published timeline: every column declared, enforced at publish.

The policy is data (``field_policy.yaml`` in this package): for each table of the output, each
column's treatment (``kept``, ``transformed``, ``scrubbed`` or ``dropped``), the source
elements it comes from and, for vocabulary columns, the vocabulary its values must belong to.
:func:`apply_policy` enforces it on a table about to be written:

* a column not declared (or declared ``dropped``) is removed, and named in the result;
* a value of a vocabulary column outside its vocabulary (a unit that is no UCUM expression, a
  code system that is no known URI or local system) is replaced by null and counted: a unit
  column is no place for free text, and nothing there is scrubbed. A unit written in a known
  non-UCUM spelling (``LB``, ``beats/min``) is published in its UCUM spelling instead.

Examples
--------
>>> import pandas as pd
>>> events = pd.DataFrame({"code": ["8302-2"], "unit": ["Jane Doe"], "mrn": ["55213"]})
>>> out, report = apply_policy("events", events)
>>> list(out.columns), report
(['code', 'unit'], {'dropped_columns': ['mrn'], 'invalid_values': {'unit': 1}})
"""

from __future__ import annotations

import importlib.resources
import re
from functools import lru_cache
from typing import Any

import pandas as pd
import yaml

__all__ = [
    "KEEP_VOCABULARIES",
    "POLICIES",
    "apply_policy",
    "column_policy",
    "field_policy",
    "in_vocabulary",
    "structured_qualifiers",
    "system_phi",
]

#: The treatments a column may have.
POLICIES: tuple[str, ...] = ("kept", "transformed", "scrubbed", "dropped")
#: Vocabularies whose entries a scrubbed column keeps verbatim (``keep:``):
#: ``coded_display`` is :mod:`twinlab.deid.vocabulary`.
KEEP_VOCABULARIES: tuple[str, ...] = ("coded_display",)


@lru_cache(maxsize=1)
def field_policy() -> dict[str, Any]:
    """The field policy (``field_policy.yaml``), checked: every column has a known policy.

    Returns
    -------
    dict
        Tables -> columns -> entry, plus ``code_systems``, ``drop_qualifiers`` and
        ``coded_qualifiers``.

    Raises
    ------
    ValueError
        If a column's policy is not one of :data:`POLICIES`.
    """
    text = (importlib.resources.files("twinlab.deid") / "field_policy.yaml").read_text()
    policy = yaml.safe_load(text)
    for table, columns in policy.items():
        if not isinstance(columns, dict) or table in _STRUCTURED_QUALIFIERS:
            continue  # a list of qualifier keys (vocabulary_qualifiers: key -> vocabulary)
        for name, entry in columns.items():
            if entry.get("policy") not in POLICIES:
                raise ValueError(f"field policy: {table}.{name} has no valid policy")
            if entry.get("keep") not in (None, *KEEP_VOCABULARIES):
                raise ValueError(f"field policy: {table}.{name} keeps an unknown vocabulary")
    return policy


def column_policy(table: str, column: str) -> dict[str, Any] | None:
    """The policy entry of ``table.column`` (pattern entries included), or None if undeclared."""
    columns = field_policy().get(table)
    if not isinstance(columns, dict):
        return None
    if column in columns:
        return columns[column]
    for name, entry in columns.items():
        if entry.get("pattern") and re.fullmatch(name, column):
            return entry
    return None


#: The field policy's lists of qualifier keys whose values are no free text.
_STRUCTURED_QUALIFIERS = (
    "coded_qualifiers",
    "reference_qualifiers",
    "repeat_key_qualifiers",
    "date_qualifiers",
    "lot_qualifiers",
    "vocabulary_qualifiers",
)


@lru_cache(maxsize=1)
def structured_qualifiers() -> frozenset[str]:
    """The qualifier keys whose values the field policy scrubs as no free text (no engine).

    Coded, reference, date and lot qualifiers (``field_policy.yaml``): the scrubber does not
    run the clinical engine over their values, and the PHI scan does not either.

    Returns
    -------
    frozenset of str
    """
    policy = field_policy()
    return frozenset(k for name in _STRUCTURED_QUALIFIERS for k in policy.get(name, ()))


@lru_cache(maxsize=1)
def _code_systems() -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{p})" for p in field_policy()["code_systems"]), re.IGNORECASE)


#: What a source names freely in a code system: the path after a URI's scheme and host, the
#: name after a local prefix (``ODM:<StudyOID>``, ``twinlab:<name>``, ``sdtm:<domain>``).
_SYSTEM_PREFIX = re.compile(
    r"^(?:[a-z][a-z0-9+.-]*://[^/?#]*/?|urn:iso:std:iso:|(?:odm|twinlab|sdtm):|cdisc\s+sdtm\s+)",
    re.IGNORECASE,
)
#: An OID: numbers and dots only, its syntax is the whole check (a long arc is no record number)
_OID = re.compile(r"urn:oid:[0-9]+(?:\.[0-9]+)+", re.IGNORECASE)


@lru_cache(maxsize=4096)
def system_phi(system: str) -> tuple[str, ...]:
    """The PHI found in the part of a code system a source names freely (``ODM:<StudyOID>``,
    a URI's path): a code system is published verbatim, so ``ODM:JOHN-SMITH-MRN12345`` or
    ``twinlab:john-smith`` must not pass for one.

    Every pattern of the scrubber, on the name as written and with its separators
    (``._:/-``) read as spaces, and two words in a row that are person names in Philter's
    dictionaries and no clinical word. Returns the kinds found (empty: none).

    Examples
    --------
    >>> system_phi("ODM:P2006-101"), system_phi("http://terminology.hl7.org/CodeSystem/v3-ActCode")
    ((), ())
    >>> system_phi("ODM:JOHN-SMITH-MRN12345")
    ('mrn', 'name')
    """
    from twinlab.deid.text import find_patterns, person_name_runs

    text = str(system).strip()
    if _OID.fullmatch(text):
        return ()
    free = _SYSTEM_PREFIX.sub("", text)
    spaced = re.sub(r"[._:/-]+", " ", free)
    # a letters-and-digits name ('v3-ActCode') is no serial number as written
    kinds = {k for k, _, _ in find_patterns(free) if k != "id"}
    kinds.update(k for k, _, _ in find_patterns(spaced))
    kinds.update(k for k, _, _ in person_name_runs(free))
    return tuple(sorted(kinds))


#: A UCUM annotation: any text in braces (``{score}``, ``mL/min/{1.73_m2}``).
_ANNOTATION = re.compile(r"\{([^{}]*)\}")


@lru_cache(maxsize=4096)
def _is_ucum(unit: str) -> bool:
    """A UCUM expression whose annotations hold no PHI.

    UCUM lets an annotation hold any text, so ``mg{Jane Doe}/dL`` parses: an annotation in
    which a PHI pattern or a run of person names is found (:func:`~twinlab.deid.text.find_phi`
    without the engine) makes the unit no vocabulary value (nulled, counted).

    Examples
    --------
    >>> _is_ucum("{steps}/min"), _is_ucum("mg{John Smith}/dL"), _is_ucum("mg{617-555-0100}")
    (True, False, False)
    """
    from twinlab.deid.text import find_phi
    from twinlab.terminology.ucum import UnitError, parse_ucum

    try:
        parse_ucum(unit)
    except (UnitError, ValueError):
        return False
    notes = _ANNOTATION.findall(unit)
    return not any(find_phi(n, None, engine=False, names=True) for n in notes)


def in_vocabulary(vocabulary: Any, value: Any) -> bool:
    """Whether ``value`` belongs to ``vocabulary`` (``ucum``, ``code_system`` or a list)."""
    if value is None or (isinstance(value, float) and value != value):
        return True
    text = str(value).strip()
    if vocabulary == "ucum":
        return bool(text) and _is_ucum(text)
    if vocabulary == "code_system":
        return _code_systems().fullmatch(text) is not None and not system_phi(text)
    return text in {str(v) for v in vocabulary}


def apply_policy(table: str, frame: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Enforce the field policy on one output table (see the module docstring).

    Parameters
    ----------
    table : str
        A table of ``field_policy.yaml`` (``patients``, ``events``, ``links``, ``quarantine``).
    frame : pandas.DataFrame

    Returns
    -------
    frame : pandas.DataFrame
        The declared columns only, vocabulary values checked.
    report : dict
        ``dropped_columns`` (names), ``invalid_values`` and ``normalized_values`` (column ->
        count), each when not empty.
    """
    dropped: list[str] = []
    invalid: dict[str, int] = {}
    normalized: dict[str, int] = {}
    keep: list[str] = []
    for col in frame.columns:
        entry = column_policy(table, str(col))
        if entry is None or entry["policy"] == "dropped":
            dropped.append(str(col))
        else:
            keep.append(col)
    out = frame[keep].copy()
    for col in keep:
        vocabulary = column_policy(table, str(col)).get("vocabulary")
        if vocabulary is None:
            continue
        values = out[col]
        uniques = pd.unique(values[values.notna()])
        bad = {u for u in uniques if not in_vocabulary(vocabulary, u)}
        if not bad:
            continue
        spelled = {u: _ucum_spelling(u) for u in bad} if vocabulary == "ucum" else {}
        spelled = {u: v for u, v in spelled.items() if v is not None and _is_ucum(v)}
        if spelled:  # a known spelling of a UCUM unit ("LB"): published as UCUM ("[lb_av]")
            normalized[str(col)] = int(values.isin(set(spelled)).sum())
            values = values.replace(spelled).astype(values.dtype)
            bad -= set(spelled)
        if bad:
            mask = values.isin(bad)
            invalid[str(col)] = int(mask.sum())
            values = values.mask(mask)
        out[col] = values
    report: dict[str, Any] = {}
    if dropped:
        report["dropped_columns"] = dropped
    if invalid:
        report["invalid_values"] = invalid
    if normalized:
        report["normalized_values"] = normalized
    return out, report


def _ucum_spelling(unit: Any) -> str | None:
    from twinlab.terminology.ucum import UnitError, to_ucum

    try:
        return to_ucum(str(unit))
    except (UnitError, ValueError):
        return None
