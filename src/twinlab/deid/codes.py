"""Event codes under the field policy: a standard code is kept, any other a keyed pseudonym.

A code is clinical data when its system is a recognised standard (LOINC, SNOMED CT, RxNorm,
ICD, UCUM, ATC, CDISC controlled terminology, dbSNP, HGVS...: ``code_syntax`` of
``field_policy.yaml``) and it has that system's syntax (``8302-2`` under LOINC). A local or
unknown system's code (an ODM ItemOID, an institution's OID, a code with no system) can be
any text, such as ``JOHN-SMITH-MRN123``: it is published as a keyed pseudonym (``code-`` and
16 base32 characters), the same for the same (system, code), so grouping by code still works.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from twinlab.deid._util import is_missing
from twinlab.deid.identifiers import IdentifierSet
from twinlab.deid.keys import DeidKey
from twinlab.deid.pseudonyms import pseudonym
from twinlab.deid.vocabulary import CodedVocabulary

__all__ = ["CODE_SYSTEM", "is_code_pseudonym", "standard_code", "transform_codes"]

#: The system under which local codes are pseudonymized (with their own system in the value).
CODE_SYSTEM = "twinlab:local_code"
_PSEUDONYM = re.compile(r"code-[A-Z2-7]{16}")


@lru_cache(maxsize=1)
def _syntax() -> tuple[tuple[re.Pattern[str], re.Pattern[str] | None, bool], ...]:
    from twinlab.deid.policy import field_policy

    return tuple(
        (
            re.compile(e["system"], re.IGNORECASE),
            None if e["code"] == "ucum" else re.compile(e["code"], re.IGNORECASE),
            bool(e.get("text", False)),
        )
        for e in field_policy()["code_syntax"]
    )


def standard_code(
    system: Any,
    code: Any,
    identifiers: IdentifierSet | None = None,
    vocabulary: CodedVocabulary | None = None,
) -> bool:
    """Whether ``code`` is kept verbatim: a recognised standard system's code, in its syntax,
    or a coding the study declared (an entry of ``vocabulary``: ``harmonize.vocabulary``).

    Parameters
    ----------
    system, code : str
    identifiers : IdentifierSet, optional
        Known values: a code that is a word (``text: true`` in the policy) or a declared code
        must hold none of them, nor any PHI pattern; a word code also no person name that the
        name check of sponsor terms finds (:func:`~twinlab.deid.text.person_name_runs`,
        :func:`~twinlab.deid.text.single_person_names`: an SDTM ``--DECOD`` that repeats the
        verbatim "Bitten by Cornelius Vantongeren dog" is no dictionary term).
    vocabulary : CodedVocabulary, optional
        The declared codings (the study's own code system, reviewed in its parameters).

    Examples
    --------
    >>> standard_code("http://loinc.org", "8302-2"), standard_code("http://loinc.org", "8302")
    (True, False)
    >>> standard_code("ODM:ST1", "IT.VS.SYSBP"), standard_code(None, "8302-2")
    (False, False)
    """
    from twinlab.deid.policy import in_vocabulary
    from twinlab.deid.text import find_phi

    if is_missing(system) or is_missing(code) or not in_vocabulary("code_system", system):
        return False
    system, code = str(system).strip(), str(code)
    for sys_re, code_re, text in _syntax():
        if sys_re.fullmatch(system):
            ok = code_re.fullmatch(code) is not None if code_re else in_vocabulary("ucum", code)
            if ok and not (text and find_phi(code, identifiers, engine=False, names=True)):
                return True
            break
    declared = vocabulary is not None and vocabulary.declares(system, code)
    return declared and not find_phi(code, identifiers, engine=False)


def is_code_pseudonym(code: Any) -> bool:
    """Whether ``code`` has the form of a pseudonym made by :func:`transform_codes`."""
    return isinstance(code, str) and _PSEUDONYM.fullmatch(code) is not None


def transform_codes(
    systems: Iterable[Any],
    codes: Iterable[Any],
    *,
    key: DeidKey | bytes,
    identifiers: IdentifierSet | None = None,
    vocabulary: CodedVocabulary | None = None,
) -> list[Any]:
    """Each code as published: kept when :func:`standard_code`, else its keyed pseudonym.

    Missing codes stay missing.

    Examples
    --------
    >>> out = transform_codes(["http://loinc.org", "urn:local"], ["8302-2", "JOHN-SMITH-MRN123"],
    ...                       key=b"k" * 32)
    >>> out[0], out[1].startswith("code-"), "JOHN" in out[1]
    ('8302-2', True, False)
    """
    seen: dict[tuple[str, str], Any] = {}
    out: list[Any] = []
    for system, code in zip(systems, codes, strict=True):
        if is_missing(code):
            out.append(code)
            continue
        pair = ("" if is_missing(system) else str(system), str(code))
        if pair not in seen:
            seen[pair] = (
                code
                if standard_code(system, code, identifiers, vocabulary)
                else pseudonym(CODE_SYSTEM, "|".join(pair), key=key, prefix="code-")
            )
        out.append(seen[pair])
    return out
