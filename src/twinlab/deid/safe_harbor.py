"""HIPAA Safe Harbor rules (45 CFR §164.514(b)(2)) and how twinlab applies each of them.

How twinlab handles the 18 identifier classes of §164.514(b)(2)(i):

====  ===========================================  =============================================
 #    identifier class                             twinlab handling
====  ===========================================  =============================================
 A    names                                        removed (persons ``phi``); exact removal from
                                                   free text, file names and record pointers
 B    geography smaller than a state               ZIP → first 3 digits, ``"000"`` for the
                                                   restricted ZIP3 (:data:`RESTRICTED_ZIP3`);
                                                   street, city, county, map coordinates,
                                                   census tract, precinct removed; state kept
 C    dates (except year) related to a person      events: shifted per patient
                                                   (:mod:`twinlab.deid.dates`); birth date →
                                                   year only; ages > 89 → ``"90+"`` with birth
                                                   year ``"90+"``; death date removed; dates in
                                                   free text removed
 D    telephone numbers                            removed (fields, free text: pattern + exact)
 E    fax numbers                                  removed (as telephone numbers)
 F    e-mail addresses                             removed (fields, free text: pattern + exact)
 G    social security numbers                      removed (identifiers, free text)
 H    medical record numbers                       removed; the patient key is pseudonymized
 I    health plan beneficiary numbers              removed (identifiers, free text exact)
 J    account numbers                              removed (identifiers, free text exact/labels)
 K    certificate/licence numbers                  removed (identifiers, free text exact)
 L    vehicle identifiers, serials, plates         removed (identifiers, free text exact)
 M    device identifiers and serial numbers        removed (identifiers, free text exact); the
                                                   device *model* in qualifiers is kept
 N    web URLs                                     removed (fields, free text pattern)
 O    IP addresses                                 removed (free text: IPv4 and IPv6 patterns)
 P    biometric identifiers (finger, voice prints) removed: no such column is carried over
 Q    full-face photographs, comparable images     removed: no such column is carried over
 R    any other unique identifying number, code    patient key → keyed pseudonym
                                                   (:mod:`twinlab.deid.pseudonyms`); other
                                                   identifier values removed everywhere
====  ===========================================  =============================================

Free text (every class above) goes through :class:`~twinlab.deid.text.TextScrubber`: the
known values of the patient, their contacts, relatives (``RelatedPerson``,
``FamilyMemberHistory``) and the file's practitioners; patterns (dates without a year, ages
over 89, labelled and serial-like numbers, URLs and host names...); and UCSF Philter's rules and
dictionaries (:mod:`twinlab.deid.engine`), whose catch-all removes any word its clinical
whitelist does not keep (employers, cities, unknown names). Narrative text of a source nobody
reviewed is dropped (``harmonize.free_text``). Every published column is declared in
``field_policy.yaml`` (:mod:`twinlab.deid.policy`).

Only the columns of the timeline's ``patients`` table (pseudonym, sex, birth year, site,
shifted index date, sources) and ZIP3/state covariates leave the raw zone: every other
person field is dropped by construction, whatever it holds (an allow-list, not a deny-list).

The restricted ZIP3 areas are the 17 three-digit ZIP codes that HHS lists in its *Guidance
Regarding Methods for De-identification of PHI* (2012, §2.4) as covering 20,000 people or
fewer according to the 2000 U.S. Census (ZIP Code Tabulation Areas). The rule asks for
"the current publicly available data from the Bureau of the Census": pass ``restricted=`` to
:func:`zip3` to use a list derived from a newer census.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from typing import Any, overload

import pandas as pd

from twinlab.deid._util import is_missing

__all__ = [
    "AGE_CEILING",
    "RESTRICTED_ZIP3",
    "SAFE_HARBOR_CLASSES",
    "age_in_years",
    "birth_year",
    "zip3",
]

#: Ages above this are reported as ``"90+"`` (Safe Harbor: "all ages over 89").
AGE_CEILING = 89
#: Three-digit ZIP codes with ≤ 20,000 inhabitants (HHS guidance, 2000 Census) → ``"000"``.
RESTRICTED_ZIP3: frozenset[str] = frozenset(
    "036 059 063 102 203 556 692 790 821 823 830 831 878 879 884 890 893".split()
)
#: The 18 Safe Harbor identifier classes -> how twinlab handles them (see the module docstring).
SAFE_HARBOR_CLASSES: dict[str, str] = {
    "names": "removed",
    "geography below state": "generalized (ZIP3 or 000; state kept; rest removed)",
    "dates except year": "shifted (events) / generalized to year, 90+ (birth); removed (death)",
    "telephone numbers": "removed",
    "fax numbers": "removed",
    "email addresses": "removed",
    "social security numbers": "removed",
    "medical record numbers": "removed (patient key pseudonymized)",
    "health plan beneficiary numbers": "removed",
    "account numbers": "removed",
    "certificate/license numbers": "removed",
    "vehicle identifiers": "removed",
    "device identifiers/serial numbers": "removed",
    "web URLs": "removed",
    "IP addresses": "removed",
    "biometric identifiers": "removed",
    "full-face photographs": "removed",
    "other unique identifying numbers or codes": "pseudonymized (patient key) / removed",
}

_ISO = re.compile(r"^\s*(\d{4})(?:-(\d{1,2})(?:-(\d{1,2}))?)?")


@overload
def zip3(values: str | None, *, restricted: Iterable[str] = ...) -> str | None: ...
@overload
def zip3(values: Iterable[Any], *, restricted: Iterable[str] = ...) -> pd.Series: ...
def zip3(values: Any, *, restricted: Iterable[str] = RESTRICTED_ZIP3) -> Any:
    """Generalize ZIP codes to their first three digits (``"000"`` for restricted areas).

    Parameters
    ----------
    values : str, None or iterable
        ZIP codes as text (``"02139"``, ``"02139-4307"``, ``"021394307"``); a number loses
        its leading zeros, so pass text.
    restricted : iterable of str
        The ZIP3 codes to replace by ``"000"``.

    Returns
    -------
    str, None or pandas.Series
        The ZIP3; None when a value has fewer than 3 digits, is missing, or is not a US ZIP.

    Examples
    --------
    >>> zip3("02139-4307"), zip3("03601"), zip3(None)
    ('021', '000', None)
    """
    blocked = frozenset(restricted)
    if isinstance(values, str) or values is None or is_missing(values):
        return _zip3(values, blocked)
    index = values.index if isinstance(values, pd.Series) else None
    return pd.Series([_zip3(v, blocked) for v in values], index=index, dtype="str", name="zip3")


def _zip3(value: Any, blocked: frozenset[str]) -> str | None:
    if value is None or is_missing(value):
        return None
    text = str(value).strip()
    m = re.fullmatch(r"(\d{5})(?:[\s-]?\d{4})?", text)
    if m is None:
        return None
    z3 = m.group(1)[:3]
    return "000" if z3 in blocked else z3


def _birth_parts(value: Any) -> tuple[int, int | None, int | None] | None:
    if value is None or is_missing(value):
        return None
    if isinstance(value, dt.date | pd.Timestamp):
        return value.year, value.month, value.day
    m = _ISO.match(str(value))
    if m is None:
        return None
    year = int(m.group(1))
    month = int(m.group(2)) if m.group(2) else None
    day = int(m.group(3)) if m.group(3) and month else None
    return year, month, day


def age_in_years(birth_date: Any, reference: Any) -> int | None:
    """Return the age in completed years at ``reference``, assuming the oldest possible birth.

    A partial birth date (``"1950"`` or ``"1950-03"``) is read as the earliest day it allows
    (1 January, or the 1st of the month), which gives the *highest* possible age, so the
    ``90+`` rule errs on the safe side.

    Parameters
    ----------
    birth_date : str, date or Timestamp
        ISO text (``YYYY``, ``YYYY-MM``, ``YYYY-MM-DD``, optionally with a time) or a date.
    reference : str, date or Timestamp
        The date at which the age is taken.

    Returns
    -------
    int or None
        None when either date is missing or unreadable.

    Examples
    --------
    >>> age_in_years("1934-06-01", "2024-05-31"), age_in_years("1934-06-01", "2024-06-01")
    (89, 90)
    """
    parts = _birth_parts(birth_date)
    ref = _birth_parts(reference)
    if parts is None or ref is None or ref[1] is None or ref[2] is None:
        return None
    year, month, day = parts
    month = month or 1
    day = day or 1
    ry, rm, rd = ref
    return ry - year - (1 if (rm, rd) < (month, day) else 0)


def birth_year(birth_date: Any, reference: Any, *, ceiling: int = AGE_CEILING) -> str | None:
    """Return the Safe Harbor birth year: ``"YYYY"``, or ``"90+"`` when older than ``ceiling``.

    Parameters
    ----------
    birth_date : str, date or Timestamp
        The (possibly partial) birth date.
    reference : str, date, Timestamp or None
        The date at which the age is taken (the patient's reference date or the data
        cut-off). When None, the year is still reported only if the patient cannot be over
        ``ceiling`` today.
    ceiling : int
        The highest age reported as such.

    Returns
    -------
    str or None
        None when the birth date is missing or unreadable.

    Examples
    --------
    >>> birth_year("1950-03-07", "2024-01-01"), birth_year("1930", "2024-01-01")
    ('1950', '90+')
    """
    parts = _birth_parts(birth_date)
    if parts is None:
        return None
    if reference is None or is_missing(reference):
        reference = dt.datetime.now(dt.UTC).date()
    age = age_in_years(birth_date, reference)
    if age is None or age > ceiling:
        return "90+"
    return f"{parts[0]:04d}"
