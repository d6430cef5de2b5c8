"""Known identifier values: collected from a persons table, matched in any text.

An :class:`IdentifierSet` holds ``(kind, value)`` pairs – names, address lines, phone numbers,
SSNs, MRNs, birth dates... – and finds them in text **case-insensitively and
accent-insensitively** (``"JOSE NUNEZ"`` finds ``"José Núñez"``), with punctuation between the
parts of a value optional (``"OBrien"``, ``"O’Brien"`` and ``"O'Brien"`` all match ``O'Brien``)
and, for numbers, any separators (``"617.555.0123"`` and ``"6175550123"`` match
``(617) 555-0123``). A match must not run into a neighbouring letter or digit, so ``"Ann"``
does not match inside ``"Annual"`` nor ``"ED"`` inside a hex hash, but underscores count as
separators: ``"Aaron697"`` matches inside ``"Aaron697_Smith496.json"``.

Numbers are matched **with context**: a purely numeric value matches either as one whole
digit run or split into the groups of one of its own spellings (``617.555.0123`` for
``(617) 555-0123``, ``1950-03-07`` for a birth date), never as digits glued across other
punctuation, and never as part of a decimal number. So a ZIP code ``83022`` does not match the
LOINC code ``8302-2`` nor ZIP ``10000`` the value ``10000.0``, while ``"ZIP 83022"`` does.

Values that stand for a missing one (``unknown``, ``Not recorded``, ``non saisi``...) identify
no one and are not searched, nor are record keys that name a sample's role (a VCF's
``NORMAL``/``TUMOR`` or ``proband`` column). Values with fewer than 4 letters and digits are
not searched either, except name parts (from 2 letters on) and short **numeric identifiers**
(patient keys, MRNs: a 4-digit ``Patient.id`` is still an identifier), which match only as one
whole number in context: after an identifier label at any length (``MRN 5521``,
``Patient/5521``, ``subject #12``), or bare from 4 digits on when no unit follows and it is no
part of a date, time, ratio or decimal (``5521 mg`` and ``12/5521`` are not patient 5521).
"""

from __future__ import annotations

import bisect
import re
import unicodedata
from collections.abc import Iterable, Iterator
from typing import Any

import pandas as pd

from twinlab.deid._util import is_missing

__all__ = ["IdentifierSet", "date_variants", "fold", "identifiers_from", "person_identifiers"]

#: Person fields (``phi`` keys, lower case) that Safe Harbor lets stay: not searched.
ALLOWED_FIELDS = frozenset(
    {"state", "country", "use", "type", "system", "gender", "sex", "prefix", "suffix", "period"}
    # demographic and study-design fields readers keep beside PHI; none identifies a person
    | {"race", "ethnic", "ethnicity", "birth_sex", "age", "age_unit", "ageu"}
    | {"arm", "armcd", "actarm", "actarmcd", "screen_failure"}
)
#: PHI subtrees of vocabulary that identifies no one: a contact's relationship ("daughter",
#: "Next-of-Kin"), marital status, language. As known values they would remove the words
#: "daughter" or "English" from every note.
ALLOWED_SUBTREES = frozenset(
    {"relationship", "marital_status", "maritalstatus", "language", "communication"}
)
_MIN_ALNUM = 4
#: Values that stand for a missing one (as compact keys, :func:`_term_key`): they identify no
#: one, and searched as known values they would match the same word in every output (a VCF
#: whose sample column is named "unknown" stopped the publication of every file whose format,
#: status or source list said "unknown"). English, French, German and Spanish forms.
_PLACEHOLDER_KEYS = frozenset(
    "unknown unkn none null nil nan missing blank empty void notknown notapplicable"
    " notavailable notrecorded notreported notentered notgiven notstated notspecified"
    " notprovided notdone unspecified undefined anonymous anon redacted masked withheld"
    " declined refused removed deleted hidden private confidential xxxx xxxxx xxxxxx"
    " nonsaisi inconnu nonapplicable nondisponible nichteingegeben unbekannt nichtverfugbar"
    " desconocido noaplica nodisponible".split()
)
#: Record keys that name a sample's role, not a person (VCF sample columns of paired and
#: family calls: "NORMAL"/"TUMOR", "proband", "mother"): the same in every patient's file,
#: they identify no one, and searched as known values they removed every "NORMAL"
#: interpretation of a run's laboratory results (56,892 in the shared corpus). Only for the
#: key and identifier kinds: a surname "Case" is still searched.
_ROLE_KEYS = frozenset(
    "normal tumor tumour germline somatic control case proband mother father sibling sister"
    " brother child son daughter sample reference blood saliva plasma serum".split()
)
_ROLE_KINDS = frozenset({"patient_key", "identifier"})
#: Purely numeric identifiers shorter than this are not searched: a 4-digit subject number
#: ('1015') collides with counts, lab values and dates ('10-15') and identifies no one outside
#: its study; SSNs, phone numbers and MRNs are longer (and SSN/phone patterns are searched too).
#: ZIP codes and dates keep their own kinds and are always searched.
_MIN_DIGITS = 6
_MIN_NAME = 2
#: Identifier kinds whose short numeric values (a 4-digit Patient.id, a 5-digit MRN) are
#: still searched, as a whole token: after an identifier label (``MRN 5521``,
#: ``Patient/5521``, ``subject #12``) at any length, or bare from :data:`_MIN_BARE` digits on
#: when no unit follows (``5521 mg`` is a dose, not patient 5521).
_SHORT_KINDS = frozenset({"patient_key", "mrn", "identifier", "ssn", "phone", "phi"})
_MIN_BARE = 4
_LABEL = re.compile(
    r"(?:\b(?:patient|pt|subject|subj|usubjid|subjid|person|member|mrn|mr|medical record"
    r"|record|chart|case|sample|specimen|acct|account|id|identifier|ident|number|no)"
    r"|#)\W{0,3}$"
)
_UNIT_AFTER = re.compile(
    r"\s*(?:%|mg|mcg|ug|µg|g\b|kg|ml|l\b|dl|mmol|umol|µmol|nmol|pmol|iu|u/|units?\b|meq|cells"
    r"|copies|/|x\s*10|bpm|mmhg|cm|mm\b|m\b|h\b|hrs?|hours?|min|days?|weeks?|steps|kcal)"
)
_APOSTROPHES = dict.fromkeys(map(ord, "\u2018\u2019\u02bc\u02bb`\u00b4\u2032"), "'")
_FOLD_CACHE: dict[str, str] = {}
_TOKEN = re.compile(r"[^\W_]+")
_ISO_T = re.compile(r"(?<=\d)t(?=\d\d:)")


def _fold_char(c: str) -> str:
    f = _FOLD_CACHE.get(c)
    if f is None:
        d = unicodedata.normalize("NFKD", c.translate(_APOSTROPHES))
        f = "".join(x for x in d if not unicodedata.combining(x)).casefold()
        _FOLD_CACHE[c] = f
    return f


def fold(text: str) -> tuple[str, list[int] | None]:
    """Return ``text`` case- and accent-folded, with the original index of every folded char.

    Parameters
    ----------
    text : str

    Returns
    -------
    folded : str
    index : list of int or None
        ``index[j]`` is the position in ``text`` of folded character ``j``; None when the two
        are aligned one to one (ASCII text).

    Examples
    --------
    >>> fold("Núñez")[0]
    'nunez'
    """
    if text.isascii():
        return text.lower(), None
    chars: list[str] = []
    index: list[int] = []
    for i, c in enumerate(text):
        f = _fold_char(c)
        chars.append(f)
        index.extend([i] * len(f))
    return "".join(chars), index


def _alnum_chunks(folded: str) -> list[str]:
    return re.findall(r"[^\W_]+", folded)


def _term_key(value: str, *, kind: str) -> str | None:
    """The compact (folded, letters and digits only) key of a value, or None if unspecific.

    Short numbers are kept for the identifier kinds (:data:`_SHORT_KINDS`): they are matched
    only as a whole token in context (:meth:`IdentifierSet._in_context`).
    """
    key = "".join(_alnum_chunks(fold(value)[0]))
    if key in _PLACEHOLDER_KEYS or (kind in _ROLE_KINDS and key in _ROLE_KEYS):
        return None
    if key.isdigit() and len(key) < _MIN_DIGITS and kind != "zip" and not kind.endswith("date"):
        return key if kind in _SHORT_KINDS and key.strip("0") else None
    return key if len(key) >= (_MIN_NAME if kind == "name" else _MIN_ALNUM) else None


def _labelled(folded: str, start: int) -> bool:
    """Whether an identifier label (``MRN``, ``Patient/``, ``subject #``...) ends at ``start``."""
    return _LABEL.search(folded[max(0, start - 32) : start]) is not None


def _short_in_context(folded: str, s: int, e: int, bare: bool = True) -> bool:
    """Whether the short number at ``folded[s:e]`` reads as an identifier (module docstring)."""
    before, after = folded[max(0, s - 2) : s], folded[e : e + 2]
    if re.fullmatch(r"\d[-./:,]", before) or re.match(r"[-./:,]\d", after):
        return False  # part of a date, time, ratio, decimal or code
    if _labelled(folded, s):
        return True
    return bare and e - s >= _MIN_BARE and _UNIT_AFTER.match(folded, e) is None


def _groupings(value: str, key: str, kind: str) -> set[tuple[int, ...]]:
    """The digit groupings a numeric ``key`` may be written in: whole, as given, usual forms."""
    out = {(len(key),), tuple(len(c) for c in _alnum_chunks(fold(value)[0]))}
    if kind == "phone" and len(key) == 10:
        out |= {(3, 3, 4), (3, 7)}
    if kind == "ssn" and len(key) == 9:
        out.add((3, 2, 4))
    if kind == "zip" and len(key) == 9:
        out.add((5, 4))
    return out


def date_variants(value: Any) -> list[str]:
    """Common spellings of a full date (ISO, US, European, compact, month names).

    Parameters
    ----------
    value : str, date or Timestamp
        A full date (partial dates have no variants: a bare year is not an identifier).

    Returns
    -------
    list of str

    Examples
    --------
    >>> date_variants("1950-03-07")[:3]
    ['1950-03-07', '03/07/1950', '3/7/1950']
    """
    if is_missing(value):
        return []
    m = re.match(r"^\s*(\d{4})-(\d{1,2})-(\d{1,2})", str(value))
    if m is None:
        return []
    y, mo, d = (int(g) for g in m.groups())
    if not (1 <= mo <= 12 and 1 <= d <= 31):
        return []
    month = (
        "January February March April May June July August September October November December"
    ).split()[mo - 1]
    return [
        f"{y:04d}-{mo:02d}-{d:02d}",
        f"{mo:02d}/{d:02d}/{y:04d}",
        f"{mo}/{d}/{y:04d}",
        f"{d:02d}/{mo:02d}/{y:04d}",
        f"{d:02d}.{mo:02d}.{y:04d}",
        f"{y:04d}{mo:02d}{d:02d}",
        f"{month} {d}, {y:04d}",
        f"{month[:3]} {d}, {y:04d}",
        f"{d} {month} {y:04d}",
        f"{d} {month[:3]} {y:04d}",
    ]


class IdentifierSet:
    """A set of known identifier values, searchable in text (see the module docstring).

    Parameters
    ----------
    pairs : iterable of (kind, value)
        ``kind`` says what the value is (``"name"``, ``"ssn"``, ``"phone"``...); it is what a
        match reports. Missing and too unspecific values are skipped. Values of a kind ending
        in ``date`` (``birth_date``...) are also searched in their common spellings
        (:func:`date_variants`).

    Examples
    --------
    >>> ids = IdentifierSet([("name", "José Núñez"), ("ssn", "999-12-3456")])
    >>> [(k, s, e) for k, s, e in ids.finditer("jose nunez, ssn 999123456")]
    [('name', 0, 10), ('ssn', 16, 25)]
    """

    def __init__(self, pairs: Iterable[tuple[str, Any]] = ()) -> None:
        kinds: dict[str, str] = {}
        groups: dict[str, set[tuple[int, ...]]] = {}
        for kind, value in pairs:
            if is_missing(value):
                continue
            values = [str(value)]
            if kind.endswith("date"):
                values += date_variants(value)
            for v in values:
                key = _term_key(v, kind=kind)
                if key is not None:
                    kinds.setdefault(key, kind)
                    if key.isdigit():
                        groups.setdefault(key, set()).update(_groupings(v, key, kind))
        self._kinds = kinds
        self._groups = groups
        self._sorted = sorted(kinds)
        counts: dict[str, int] = {}
        for kind in kinds.values():
            counts[kind] = counts.get(kind, 0) + 1
        self._counts = counts

    def __len__(self) -> int:
        return len(self._kinds)

    def __repr__(self) -> str:
        return f"IdentifierSet(<{len(self)} values redacted>)"

    @property
    def kinds(self) -> dict[str, int]:
        """How many values of each kind are searched."""
        return dict(self._counts)

    def _is_prefix(self, text: str) -> bool:
        i = bisect.bisect_left(self._sorted, text)
        return i < len(self._sorted) and self._sorted[i].startswith(text)

    def finditer(self, text: str, *, bare_short: bool = True) -> Iterator[tuple[str, int, int]]:
        """Yield ``(kind, start, end)`` for each known value found in ``text``.

        ``bare_short=False`` matches short numeric identifiers only after a label (for codes
        and code systems, where a bare 4-digit number is part of the vocabulary).

        The folded text is cut into tokens (runs of letters and digits); a value matches
        when its compact key equals the concatenation of one or more consecutive tokens, so
        it never starts or ends inside a word or number. A numeric value must also match
        with its own digit grouping and not be part of a decimal number (module docstring).
        The longest match wins; matches do not overlap.
        """
        if not self._kinds or not text:
            return
        folded, index = fold(text)
        folded = _ISO_T.sub(" ", folded)  # "1950-03-07t10:00" -> a date token, then a time
        tokens = [(m.start(), m.end(), m.group()) for m in _TOKEN.finditer(folded)]
        i = 0
        while i < len(tokens):
            acc, j, best = tokens[i][2], i, -1
            while self._is_prefix(acc):
                if acc in self._kinds and self._in_context(acc, folded, tokens, i, j, bare_short):
                    best = j
                j += 1
                if j == len(tokens):
                    break
                acc += tokens[j][2]
            if best < 0:
                i += 1
                continue
            key = "".join(t[2] for t in tokens[i : best + 1])
            s, e = tokens[i][0], tokens[best][1]
            if index is None:
                yield self._kinds[key], s, e
            else:
                yield self._kinds[key], index[s], index[e - 1] + 1
            i = best + 1

    def _in_context(
        self,
        key: str,
        folded: str,
        tokens: list[tuple[int, int, str]],
        i: int,
        j: int,
        bare_short: bool = True,
    ) -> bool:
        """Whether tokens ``i..j`` spelling numeric ``key`` are that number, not a fragment."""
        allowed = self._groups.get(key)
        if allowed is None:
            return True
        if len(key) < _MIN_DIGITS and self._kinds[key] in _SHORT_KINDS:
            return i == j and _short_in_context(folded, tokens[i][0], tokens[j][1], bare_short)
        if tuple(len(t[2]) for t in tokens[i : j + 1]) not in allowed:
            return False
        s, e = tokens[i][0], tokens[j][1]
        before = folded[max(0, s - 2) : s]
        after = folded[e : e + 2]
        decimal = re.compile(r"[.,]\d")
        return not (
            (len(before) == 2 and before[0].isdigit() and before[1] in ".,")
            or decimal.fullmatch(after) is not None
        )

    def sub(self, text: str, repl: Any = "[{kind}]") -> str:
        """Replace every known value in ``text`` by ``repl`` (formatted with ``kind``)."""
        hits = list(self.finditer(text))
        if not hits:
            return text
        parts: list[str] = []
        pos = 0
        for kind, s, e in hits:
            parts.append(text[pos:s])
            parts.append(repl(kind) if callable(repl) else repl.format(kind=kind.upper()))
            pos = e
        parts.append(text[pos:])
        return "".join(parts)


def _kind_of(path: tuple[str, ...]) -> str | None:
    names = [p.lower() for p in path]
    if any(n in ALLOWED_FIELDS for n in names[-1:]) or ALLOWED_SUBTREES.intersection(names):
        return None
    joined = "/".join(names)
    for word, kind in (
        ("email", "email"),
        ("mail", "email"),
        ("fax", "phone"),
        ("phone", "phone"),
        ("tel", "phone"),
        ("postal", "zip"),
        ("zip", "zip"),
        ("city", "city"),
        ("district", "city"),
        ("county", "city"),
        ("line", "address"),
        ("address", "address"),
        ("street", "address"),
        ("name", "name"),
        ("given", "name"),
        ("family", "name"),
        ("url", "url"),
    ):
        if word in joined:
            return kind
    return "phi"


def _leaves(obj: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], str]]:
    if isinstance(obj, dict):
        system = obj.get("system") if isinstance(obj.get("system"), str) else None
        for k, v in obj.items():
            if system and k == "value":  # FHIR ContactPoint / Identifier: {system, value}
                yield from _leaves(v, (*path, system))
            else:
                yield from _leaves(v, (*path, str(k)))
    elif isinstance(obj, list | tuple):
        for v in obj:
            yield from _leaves(v, path)
    elif isinstance(obj, str):
        if obj.strip():
            yield path, obj
    elif not is_missing(obj) and isinstance(obj, int | float):
        yield path, str(obj)


#: A number after a label or a letter prefix (``MRN-00482913``, ``SSN: 123-45-6789``).
_LABELLED_NUMBER = re.compile(r"[A-Za-z][A-Za-z.]*\s*[#:.-]?\s*(\d[\d\s./-]*\d)")
#: A telephone extension at the end of a number (``ext. 22``, ``x301``).
_EXTENSION = re.compile(r"\s*(?:ext\.?|extension|x)\s*\d{1,6}\s*$", re.IGNORECASE)
#: A North American number with its country code (``+1 (412) 555-0173``, ``1-724-555-0148``).
_NANP = re.compile(r"\s*\+?\s*1[\s.-]*(\(?\d{3}\)?[\s.-]*\d{3}[\s.-]*\d{4})\s*")


def _phone_variants(value: str) -> list[str]:
    """The forms a telephone number is also written in: without its extension, and without
    the country code of a North American number (``+1 (412) 555-0173 ext. 22`` is searched as
    ``+1 (412) 555-0173`` and ``(412) 555-0173`` too, so ``412.555.0173`` is found).

    Examples
    --------
    >>> _phone_variants("+1 (412) 555-0173 ext. 22")
    ['+1 (412) 555-0173', '(412) 555-0173']
    """
    out: list[str] = []
    bare = _EXTENSION.sub("", value)
    if bare != value and bare.strip():
        out.append(bare)
    m = _NANP.fullmatch(bare)
    if m:
        out.append(m.group(1))
    return out


def _identifier_kind(system: str) -> str:
    s = system.lower()
    if "ssn" in s or "social" in s:
        return "ssn"
    if "mrn" in s or s.endswith(":mr") or "medical" in s:
        return "mrn"
    return "identifier"


def _identifier_pairs(value: Any) -> Iterator[tuple[str, str]]:
    if value is None or (not isinstance(value, list | tuple) and is_missing(value)):
        return
    items = value if isinstance(value, list | tuple) else [value]
    if hasattr(value, "tolist"):
        items = value.tolist()
    for item in items:
        if isinstance(item, dict):
            system, val = str(item.get("system") or ""), item.get("value")
        elif isinstance(item, list | tuple) and len(item) == 2:
            system, val = str(item[0] or ""), item[1]
        else:
            system, val = "", item
        if val is None or is_missing(val):
            continue
        val = str(val)
        kind = _identifier_kind(system)
        yield kind, val
        # a label or letter prefix before the number: "MRN12345678", "SSN 123-45-6789",
        # "S530-4417-8823" are also searched as the number alone ("12345678", "123-45-6789")
        m = _LABELLED_NUMBER.fullmatch(val)
        if m and sum(c.isdigit() for c in m.group(1)) >= 5:
            yield kind, m.group(1)


def person_identifiers(person: pd.Series | dict[str, Any]) -> list[tuple[str, str]]:
    """Return the ``(kind, value)`` pairs that identify one person (a persons-table row).

    Covers the source patient key, every ``identifiers`` value, every ``phi`` leaf except the
    allowed ones (state, country), each word of a name, and the spellings of the birth and
    death dates.

    Parameters
    ----------
    person : pandas.Series or dict
        One row with :data:`twinlab.ingest.base.PERSON_COLUMNS`.

    Returns
    -------
    list of (kind, value)
    """
    get = person.get
    pairs: list[tuple[str, str]] = []
    key = get("source_patient")
    if not is_missing(key):
        pairs.append(("patient_key", str(key)))
    pairs.extend(_identifier_pairs(get("identifiers")))
    phi = get("phi")
    if isinstance(phi, dict):
        for path, value in _leaves(phi):
            kind = _kind_of(path)
            if kind is None:
                continue
            pairs.append((kind, value))
            if kind == "name":
                pairs.extend(("name", w) for w in re.split(r"[\s,/-]+", value) if w)
            if kind == "zip":
                digits = re.sub(r"\D", "", value)
                if len(digits) > 5:
                    pairs.append(("zip", digits[:5]))
            if kind == "email" and "@" in value:
                pairs.append(("email", value.split("@", 1)[0]))
            if kind == "phone":
                pairs.extend(("phone", v) for v in _phone_variants(value))
    for kind, column in (("birth_date", "birth_date"), ("death_date", "deceased")):
        value = get(column)
        if not is_missing(value) and re.match(r"^\s*\d{4}-\d{1,2}-\d{1,2}", str(value)):
            pairs.append((kind, str(value)))
    return pairs


def identifiers_from(persons: pd.DataFrame) -> IdentifierSet:
    """Build the set of identifier values to search for from a persons table.

    Parameters
    ----------
    persons : pandas.DataFrame
        A table with :data:`twinlab.ingest.base.PERSON_COLUMNS` (extra columns ignored).

    Returns
    -------
    IdentifierSet

    Examples
    --------
    >>> persons = pd.DataFrame({"source_patient": ["pt-0001"], "identifiers": [[]],
    ...                         "phi": [{"name": "Renée O'Brien"}], "birth_date": ["1950-03-07"]})
    >>> ids = identifiers_from(persons)
    >>> sorted(ids.kinds)
    ['birth_date', 'name', 'patient_key']
    """
    pairs: list[tuple[str, str]] = []
    for row in persons.to_dict("records"):
        pairs.extend(person_identifiers(row))
    return IdentifierSet(pairs)
