"""Free-text scrubbing: PHI patterns plus exact removal of known identifier values.

:class:`TextScrubber` replaces, in this order,

1. every known identifier value (an :class:`~twinlab.deid.identifiers.IdentifierSet`, built
   from the input persons table: names, address lines, phones, SSNs, MRNs, birth dates...),
   case- and accent-insensitively, by ``[NAME]``, ``[ADDRESS]``, ... ;
2. pattern hits (:data:`PATTERNS`): URLs, e-mail addresses, IPv4 and IPv6 addresses, SSNs,
   ZIP+4 codes, telephone numbers, dates other than a bare year, MRN-like labelled numbers
   (``MRN: 123456``, ``acct #A-99812``) and any run of 7 or more digits, by ``[URL]``,
   ``[EMAIL]``...

The regular expressions are the usual ones from de-identification tools (e.g. the Philter and
``scrubadub`` pattern sets); a statistical name finder (NER) is deliberately not used: names
are removed exactly from the known identities, which is what Safe Harbor requires of a data
holder who has them. Bare five-digit numbers are not treated as ZIP codes (too many lab
values look like one); the known ZIP codes of the input persons are removed exactly.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import pandas as pd

from twinlab.deid._util import is_missing
from twinlab.deid.identifiers import IdentifierSet

__all__ = ["PATTERNS", "PhiPattern", "TextScrubber", "find_patterns", "scrub_text"]

_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
)


@dataclass(frozen=True)
class PhiPattern:
    """A regular expression for one kind of PHI, with an optional validator of each match."""

    kind: str
    regex: re.Pattern[str]
    valid: Callable[[str], bool] | None = None

    def finditer(self, text: str) -> Iterator[tuple[str, int, int]]:
        """Yield ``(kind, start, end)`` of each valid match."""
        for m in self.regex.finditer(text):
            if self.valid is None or self.valid(m.group()):
                yield self.kind, m.start(), m.end()


def _is_ipv6(text: str) -> bool:
    try:
        ipaddress.IPv6Address(text.split("%", 1)[0])
    except ValueError:
        return False
    return True


def _phone_digits(text: str) -> bool:
    return 7 <= sum(c.isdigit() for c in text) <= 15


def _p(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


#: The PHI patterns, applied in this order (see the module docstring).
PATTERNS: tuple[PhiPattern, ...] = (
    PhiPattern("url", _p(r"\b(?:https?|ftp)://[^\s<>\"']+|\bwww\.[^\s<>\"']+")),
    PhiPattern("email", _p(r"[\w.+'-]+@[\w-]+(?:\.[\w-]+)+")),
    PhiPattern(
        "ip",
        _p(
            r"(?<!\d)(?<!\d\.)(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?!\.?\d)"
        ),
    ),
    PhiPattern(
        "ip", _p(r"(?<![\w:])[0-9a-f]{0,4}(?::[0-9a-f]{0,4}){2,7}(?:%\w+)?(?![\w:])"), _is_ipv6
    ),
    PhiPattern("ssn", _p(r"(?<!\d)\d{3}([- ])\d{2}\1\d{4}(?!\d)")),
    PhiPattern("zip", _p(r"(?<!\d)\d{5}-\d{4}(?!\d)")),
    PhiPattern(
        "date",
        _p(
            r"(?<!\d)\d{4}[-/.](?:0?[1-9]|1[0-2])[-/.](?:0?[1-9]|[12]\d|3[01])"
            r"(?:[T ]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?(?!\d)"
            r"|(?<![\d.])\d{1,2}[-/.]\d{1,2}[-/.](?:\d{4}|\d{2})(?![\d.])"
            rf"|\b{_MONTH}\.?\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}}\b"
            rf"|\b\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH}\.?,?\s+\d{{4}}\b"
            rf"|\b{_MONTH}\.?,?\s+\d{{4}}\b"
            rf"|\b\d{{1,2}}[-\s]{_MONTH}[-\s]\d{{2,4}}\b"
        ),
    ),
    PhiPattern(
        "phone",
        _p(
            r"(?<![\w+])(?:\+?1[\s.-]?)?(?:\(\d{3}\)\s?|\d{3}[\s.-])\d{3}[\s.-]\d{4}(?!\d)"
            r"|(?<![\w+])\+\d[\d\s().-]{6,}\d(?!\d)"
        ),
        _phone_digits,
    ),
    PhiPattern(
        "mrn",
        _p(
            r"\b(?:mrn|mr#|medical\s+record(?:\s+(?:number|no\.?|#))?|acct|account(?:\s+no\.?)?"
            r"|member\s+id|policy(?:\s+no\.?)?|license|licence|serial(?:\s+no\.?)?|s/n|vin)"
            r"\s*[:#]?\s*(?=[\w-]*\d)[a-z0-9][\w-]{3,}"
        ),
    ),
    PhiPattern("number", _p(r"(?<![\d.,])\d{7,}(?![\d.,])")),
)

#: The patterns the PHI scanner reports on (high precision).
SCAN_PATTERNS: tuple[str, ...] = ("ssn", "email", "phone")


def find_patterns(
    text: str, *, kinds: Iterable[str] | None = None
) -> Iterator[tuple[str, int, int]]:
    """Yield ``(kind, start, end)`` of every pattern hit in ``text`` (overlaps allowed)."""
    wanted = None if kinds is None else set(kinds)
    for pattern in PATTERNS:
        if wanted is None or pattern.kind in wanted:
            yield from pattern.finditer(text)


class TextScrubber:
    """Removes PHI from free text (known values, then patterns).

    Parameters
    ----------
    identifiers : IdentifierSet, optional
        The known identifier values to remove exactly.
    replace : mapping of str to str, optional
        Replacement for known values of a given kind, instead of ``[KIND]`` (e.g. the
        patient key -> its pseudonym).

    Examples
    --------
    >>> TextScrubber().scrub("call 617-555-0123 or mail a.b@example.org on 2020-03-04")
    'call [PHONE] or mail [EMAIL] on [DATE]'
    """

    def __init__(
        self,
        identifiers: IdentifierSet | None = None,
        *,
        replace: Callable[[str, str], str] | None = None,
    ) -> None:
        self.identifiers = identifiers if identifiers is not None else IdentifierSet()
        self._replace = replace

    def __repr__(self) -> str:
        return f"TextScrubber({self.identifiers!r})"

    def scrub(self, text: Any, *, patterns: bool = True) -> Any:
        """Return ``text`` with PHI replaced; missing values and non-strings pass unchanged.

        Parameters
        ----------
        text : str
        patterns : bool
            Also apply :data:`PATTERNS` (False: known values only, e.g. for file names and
            record pointers, where long numbers are legitimate).
        """
        if not isinstance(text, str) or not text:
            return text
        if self._replace is None:
            out = self.identifiers.sub(text)
        else:
            out = _sub_known(self.identifiers, text, self._replace)
        if patterns:
            for pattern in PATTERNS:
                out = pattern.regex.sub(
                    lambda m, p=pattern: (
                        f"[{p.kind.upper()}]"
                        if p.valid is None or p.valid(m.group())
                        else m.group()
                    ),
                    out,
                )
        return out

    def scrub_series(self, values: pd.Series, *, patterns: bool = True) -> pd.Series:
        """Scrub a Series of text, each distinct value once; missing values stay missing."""
        uniques = pd.unique(values[values.notna()])
        mapping = {u: self.scrub(u, patterns=patterns) for u in uniques}
        return values.map(lambda v: v if is_missing(v) else mapping.get(v, v)).astype(values.dtype)

    def scrub_obj(self, obj: Any, *, patterns: bool = True) -> Any:
        """Scrub every string (values and keys) inside nested dicts and lists."""
        if isinstance(obj, str):
            return self.scrub(obj, patterns=patterns)
        if isinstance(obj, dict):
            return {
                self.scrub(str(k), patterns=patterns): self.scrub_obj(v, patterns=patterns)
                for k, v in obj.items()
            }
        if isinstance(obj, list | tuple):
            return [self.scrub_obj(v, patterns=patterns) for v in obj]
        return obj


def _sub_known(ids: IdentifierSet, text: str, replace: Callable[[str, str], str]) -> str:
    parts: list[str] = []
    pos = 0
    for kind, s, e in ids.finditer(text):
        parts.append(text[pos:s])
        parts.append(replace(kind, text[s:e]))
        pos = e
    parts.append(text[pos:])
    return "".join(parts)


def scrub_text(text: str, identifiers: IdentifierSet | None = None) -> str:
    """Return ``text`` with known identifier values and PHI patterns replaced.

    Parameters
    ----------
    text : str
    identifiers : IdentifierSet, optional

    Returns
    -------
    str

    Examples
    --------
    >>> scrub_text("see https://x.example.org/p?id=7 from 10.0.0.12")
    'see [URL] from [IP]'
    """
    return TextScrubber(identifiers).scrub(text)
