"""Coded-concept names published verbatim: the vocabulary behind the ``display`` field policy.

A ``display`` (``CodeableConcept.coding.display``, SDTM ``--TEST``/``--TRT``...) is the human
label of a code from a terminology, not free text about a person. Scrubbed as free text, the
clinical engine's catch-all removes every word its whitelist lacks: a new drug's name
("Twinurostat"), "NHIS", "Fraction". The field policy (``field_policy.yaml``,
``display: keep: coded_display``) therefore keeps a display verbatim when its
``(code system, code, display)`` is an entry of a declared vocabulary:

* shipped with twinlab: the target codings of the terminology code maps
  (``terminology/tables/code_map_*.csv``) and ``terminology/tables/displays.csv`` (names of
  standard codes: LOINC, SNOMED CT, RxNorm, CVX), see :func:`shipped_vocabulary`;
* declared by the study (``harmonize`` section of ``params.yaml``): ``vocabulary`` entries
  ``{system, code, display}`` (the study's own code system) and ``products``, the names of the
  study drugs and products (a display equal to one of them is kept, whatever its code);
* declared by the study's ``define.xml`` beside its SDTM datasets
  (:mod:`twinlab.ingest.define`): the terms of the codelists that its coded variables
  (``--TESTCD`` with their decodes, ``--DECOD``, ``EXTRT``) refer to, ``EXTRT`` terms also as
  products; a term refused by the check below is reported (``report.json``:
  ``field_policy.define_xml``) and stays free text.

Every entry is checked when it is declared (:func:`check_display`): a display in which any
Safe Harbor pattern of the scrubber fires (date more specific than a year, telephone, e-mail,
SSN, labelled or serial-like number, run of 7+ digits, URL, IP address, age over 89, ZIP+4,
plate) is refused with a one-line error; so is a product name that is a person's first or
last name in Philter's name dictionaries (and no clinical word of its whitelist).

A kept display still loses the known identifier values of its patient (the scrubber's first
layer), and the PHI scan of the outputs still checks it for known values and every pattern
(:func:`display_findings`), only not with the engine's catch-all. Any other display (free
text, a name the vocabulary does not hold, a display beside another code) is scrubbed and
scanned as free text. Matching is exact: the system through
:func:`~twinlab.terminology.canonical_system`, the code as written, the display case- and
blank-insensitively (Synthea's misspelt ``Simvistatin 10 MG`` is no RxNorm name).

Examples
--------
>>> vocab = CodedVocabulary(products=["Twinurostat"])
>>> vocab.keeps("CDISC SDTM PCTESTCD", "TWINURO", "Twinurostat")
True
>>> vocab.keeps("CDISC SDTM PCTESTCD", "TWINURO", "Twinurostat, called 617-555-0100")
False
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from functools import cache
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "CodedVocabulary",
    "check_display",
    "display_findings",
    "is_person_name",
    "shipped_vocabulary",
]

_BLANKS = re.compile(r"\s+")


def _system(value: Any) -> str:
    from twinlab.terminology.systems import canonical_system

    text = "" if value is None or (isinstance(value, float) and value != value) else str(value)
    text = text.strip()
    return (canonical_system(text) or text).casefold() if text else ""


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    return _BLANKS.sub(" ", str(value)).strip().casefold()


def display_findings(display: str) -> list[tuple[str, int, int]]:
    """Every Safe Harbor pattern hit in a coded display (no engine catch-all).

    The check of a declared entry and the scan of a kept display use this one function, so
    the scrubber and the scan keep and check the same values.

    Parameters
    ----------
    display : str

    Returns
    -------
    list of (kind, start, end)
        Empty when no pattern of :data:`twinlab.deid.text.PATTERNS` fires.

    Examples
    --------
    >>> [k for k, _, _ in display_findings("Urate seen 2021-03-04, MRN 55213")]
    ['date', 'mrn']
    """
    from twinlab.deid.text import find_phi

    return find_phi(display, None, engine=False)


def is_person_name(word: str) -> bool:
    """Whether ``word`` (any case) is a first or last name of the de-identification engine's
    lists that is no word of its clinical whitelist."""
    names, clinical = _name_words()
    w = word.lower()
    return w in names and w not in clinical


@cache
def _name_words() -> tuple[frozenset[str], frozenset[str]]:
    """Philter's first and last names, and its clinical whitelist (lower case)."""
    from twinlab.deid.engine import _filters

    names: set[str] = set()
    safe: set[str] = set()
    for f in _filters():
        if type(f).__name__ == "SetFilter":
            (names if f.exclude else safe).update(str(w).lower() for w in f.data)
    return frozenset(names), frozenset(safe)


@cache
def _name_list(title: str) -> frozenset[str]:
    """The words of one of Philter's name lists (``"Firstnames Blacklist"``,
    ``"Lastnames Blacklist"``), lower case."""
    from twinlab.deid.engine import _filters

    return frozenset(
        str(w).lower()
        for f in _filters()
        if type(f).__name__ == "SetFilter" and f.title == title
        for w in f.data
    )


def _last_names() -> frozenset[str]:
    """Philter's last names alone (lower case)."""
    return _name_list("Lastnames Blacklist")


def _first_names() -> frozenset[str]:
    """Philter's first names alone (lower case)."""
    return _name_list("Firstnames Blacklist")


def check_display(display: Any, *, where: str, product: bool = False) -> str:
    """Check one declared display; return it stripped.

    Parameters
    ----------
    display : str
        The concept's name as declared.
    where : str
        Where it is declared, for the message (``harmonize.products[0]``).
    product : bool
        A product name (kept whatever its code): also refused when a word of it is a
        person's name in Philter's dictionaries and no clinical word.

    Returns
    -------
    str

    Raises
    ------
    ValueError
        One line naming ``where`` and what was found (never the value itself).
    """
    if not isinstance(display, str) or not display.strip():
        raise ValueError(f"{where}: a display is a non-empty text")
    text = _BLANKS.sub(" ", display).strip()
    if len(text) > 200:
        raise ValueError(f"{where}: a concept name has at most 200 characters, not {len(text)}")
    found = sorted({k for k, _, _ in display_findings(text)})
    if found:
        raise ValueError(
            f"{where}: the display looks like an identifier ({', '.join(found)}); a vocabulary "
            "entry names a concept and is published verbatim"
        )
    if product:
        names, safe = _name_words()
        words = [w.lower() for w in re.findall(r"[^\W\d_]+", text)]
        if any(w in names and w not in safe for w in words):
            raise ValueError(
                f"{where}: a word of the product name is a person's name in the de-identification "
                "engine's dictionaries; declare the product's coding under harmonize.vocabulary"
            )
    return text


class CodedVocabulary:
    """A set of ``(system, code, display)`` entries and product names kept verbatim.

    Parameters
    ----------
    entries : iterable of (system, code, display) or of mappings with those keys
    products : iterable of str
        Study drug and product names: a display equal to one is kept whatever its code.
    where : str
        Where the entries are declared, for error messages.

    Raises
    ------
    ValueError
        If an entry is incomplete or its display fails :func:`check_display`.
    """

    def __init__(
        self,
        entries: Iterable[Any] = (),
        *,
        products: Iterable[str] = (),
        where: str = "vocabulary",
    ) -> None:
        triples: set[tuple[str, str, str]] = set()
        for i, entry in enumerate(entries):
            at = f"{where}[{i}]"
            if isinstance(entry, Mapping):
                unknown = set(entry) - {"system", "code", "display"}
                if unknown:
                    raise ValueError(
                        f"{at}: unknown key(s) {sorted(unknown)}; write system, code, display"
                    )
                entry = (entry.get("system"), entry.get("code"), entry.get("display"))
            system, code, display = tuple(entry)
            if not (isinstance(system, str) and system.strip()):
                raise ValueError(f"{at}: 'system' is the code system (a URI or local system)")
            if not (isinstance(code, str | int) and str(code).strip()):
                raise ValueError(f"{at}: 'code' is the code in that system")
            check_display(display, where=at)
            triples.add((_system(system), str(code).strip(), _text(display)))
        self._triples = frozenset(triples)
        self._products = frozenset(
            _text(check_display(p, where=f"products[{i}]", product=True))
            for i, p in enumerate(products)
        )

    def __len__(self) -> int:
        return len(self._triples) + len(self._products)

    def __repr__(self) -> str:
        return f"CodedVocabulary({len(self._triples)} entries, {len(self._products)} products)"

    def __or__(self, other: CodedVocabulary) -> CodedVocabulary:
        out = CodedVocabulary()
        out._triples = self._triples | other._triples
        out._products = self._products | other._products
        return out

    def keeps(self, system: Any, code: Any, display: Any) -> bool:
        """Whether the display of this coding is kept verbatim by the field policy.

        Kept: a declared entry or product name, and a display that only repeats its code
        (case aside) when that code is published verbatim (a dictionary term kept as its own
        code, such as the MedDRA terms "Fall" and "Death" of SDTM ``--DECOD``, which the
        clinical engine read as a season and a name): it adds nothing to the published code.
        """
        text = _text(display)
        if not text:
            return False
        if text in self._products:
            return True
        code_text = "" if code is None else str(code).strip()
        if (_system(system), code_text, text) in self._triples:
            return True
        if text != _text(code_text):
            return False
        from twinlab.deid.codes import standard_code

        return standard_code(system, code_text, vocabulary=self)

    def declares(self, system: Any, code: Any) -> bool:
        """Whether ``(system, code)`` is an entry's coding (a reviewed code of its system)."""
        if system is None or code is None:
            return False
        pair = (_system(system), str(code).strip())
        return any(t[:2] == pair for t in self._triples)

    def mask(self, frame: pd.DataFrame) -> np.ndarray:
        """Per row of ``frame`` (``code_system``, ``code``, ``display``): kept verbatim?"""
        if len(frame) == 0 or "display" not in frame or not len(self):
            return np.zeros(len(frame), dtype=bool)
        cols = [c for c in ("code_system", "code", "display") if c in frame]
        keys = frame[cols].astype(object).where(frame[cols].notna(), None)
        for c in ("code_system", "code"):
            if c not in keys:
                keys[c] = None
        triples = list(zip(keys["code_system"], keys["code"], keys["display"], strict=True))
        verdict = {t: self.keeps(*t) for t in set(triples)}
        return np.fromiter((verdict[t] for t in triples), dtype=bool, count=len(triples))


@cache
def shipped_vocabulary() -> CodedVocabulary:
    """The vocabulary shipped with twinlab (code-map targets and ``displays.csv``).

    Returns
    -------
    CodedVocabulary
    """
    from twinlab.terminology.catalog import code_map, read_table

    maps = code_map()
    maps = maps[(maps["code"] != "") & (maps["display"] != "")]
    entries = list(dict.fromkeys(zip(maps["system"], maps["code"], maps["display"], strict=True)))
    names = read_table("displays.csv")
    entries += list(zip(names["system"], names["code"], names["display"], strict=True))
    return CodedVocabulary(entries, where="twinlab terminology tables")
