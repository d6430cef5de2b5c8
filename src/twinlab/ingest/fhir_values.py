"""Small FHIR R4 datatype helpers for :mod:`twinlab.ingest.fhir`: JSON, dateTime, CodeableConcept.

Every helper here takes untrusted JSON (any type where an object was expected) and either returns
a usable value, ``None``, or raises :class:`Reject` with a quarantine check and a readable reason.
None of them raises anything else on bad content.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

try:  # orjson parses 3-5x faster than json and is optional
    import orjson as _orjson
except ImportError:  # pragma: no cover - exercised only where orjson is absent
    _orjson = None
import json as _json

from twinlab.ingest.base import FIRST_YEAR, LAST_YEAR

__all__ = [
    "NAT",
    "Reject",
    "TimeParser",
    "as_list",
    "codeable",
    "dumps",
    "first",
    "loads",
    "number",
    "text",
]

#: The int64 that numpy reads as NaT: the "no time" value of the time columns.
NAT = -(2**63)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
# FHIR R4 date / dateTime / instant, lenient on seconds (HH:MM accepted) and on a missing offset.
_DATE = re.compile(r"([0-9]{4})(?:-([0-9]{2})(?:-([0-9]{2}))?)?")
_DATETIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,9})?)?"
    r"(?:Z|[+-][0-9]{2}:[0-9]{2})?"
)

_OUT_OF_RANGE = f"is outside the years {FIRST_YEAR}-{LAST_YEAR} (a placeholder, not a date)"


class Reject(Exception):
    """A record cannot be used: ``check`` is the quarantine check, ``reason`` says why."""

    def __init__(self, check: str, reason: str) -> None:
        super().__init__(reason)
        self.check = check
        self.reason = reason


def loads(data: bytes | str) -> Any:
    """Parse JSON text with orjson when installed, else :mod:`json` (``ValueError`` on bad text).

    orjson refuses a few texts that :mod:`json` reads (e.g. ``1e400``); those are retried with
    :mod:`json`, so that one odd number quarantines one resource rather than the whole file.
    Text nested deeper than orjson's 1,024 levels raises ``ValueError``, and is not retried:
    how deep :mod:`json` goes is the process's recursion limit, which a Dask worker raises
    (a plugin of :mod:`twinlab.cluster`) and libraries change, so the same line would
    be read in one process and quarantined in another. Bytes are decoded as strict UTF-8
    first: :mod:`json` decodes bytes with ``surrogatepass``, reading an encoded surrogate
    (``ED A0 80``, not UTF-8) as a lone surrogate that no UTF-8 text or Parquet column can
    hold; here it is ``ValueError``.
    """
    if _orjson is not None:
        try:
            return _orjson.loads(data)
        except ValueError as exc:
            if "depth limit" in str(exc):  # not retried: json's depth is the process's
                raise ValueError("JSON nested deeper than 1,024 levels") from exc
    try:
        if isinstance(data, (bytes, bytearray, memoryview)):
            data = bytes(data).decode("utf-8")  # UnicodeDecodeError is a ValueError
        return _json.loads(data)
    except RecursionError as exc:
        raise ValueError("JSON nested too deeply") from exc


def dumps(obj: Any) -> str:
    """Serialize ``obj`` to compact JSON text (non-JSON values via ``str``)."""
    if _orjson is not None:
        try:
            return _orjson.dumps(obj, default=str).decode()
        except TypeError:  # e.g. integers beyond 64 bits
            pass
    try:
        return _json.dumps(obj, default=str, ensure_ascii=False, separators=(",", ":"))
    except RecursionError:  # nested deeper than the interpreter's stack allows
        return _dumps_deep(obj)


def _scalar(value: Any) -> str:
    return _json.dumps(value, default=str, ensure_ascii=False)


def _dumps_deep(obj: Any) -> str:
    """:func:`dumps` without recursion, for values nested past the recursion limit (a
    parsed document may be: orjson reads 1,024 levels)."""
    out: list[str] = []
    stack: list[Any] = [obj]
    while stack:
        item = stack.pop()
        if isinstance(item, _Token):
            out.append(item.text)
        elif isinstance(item, dict):
            parts: list[Any] = [_Token("{")]
            for i, (k, v) in enumerate(item.items()):
                parts += [_Token(("," if i else "") + _scalar(str(k)) + ":"), v]
            stack.extend(reversed([*parts, _Token("}")]))
        elif isinstance(item, list | tuple):
            parts = [_Token("[")]
            for i, v in enumerate(item):
                parts += [_Token(",")] * bool(i) + [v]
            stack.extend(reversed([*parts, _Token("]")]))
        else:
            out.append(_scalar(item))
    return "".join(out)


class _Token:
    """Literal JSON text on :func:`_dumps_deep`'s stack."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


def text(value: Any) -> str | None:
    """``value`` if it is a non-empty string, else ``None``."""
    return value if isinstance(value, str) and value else None


def number(value: Any) -> float | None:
    """``value`` as a finite float if it is a JSON number (not a boolean), else ``None``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        out = float(value)
    except OverflowError:
        return None
    return out if out - out == 0 else None  # finite


def as_list(value: Any) -> list:
    """``value`` if it is a list, else an empty list (for loops over repeating elements)."""
    return value if isinstance(value, list) else []


def first(value: Any) -> Any:
    """The first element of a non-empty list, or ``value`` itself when it is not a list."""
    if isinstance(value, list):
        return value[0] if value else None
    return value


def codeable(cc: Any, prefer: str | None = None) -> tuple[str | None, str, str | None] | None:
    """Pick ``(system, code, display)`` from a CodeableConcept (or a bare Coding).

    Parameters
    ----------
    cc
        The CodeableConcept JSON (anything is tolerated).
    prefer
        A code system URI to prefer when several codings are given (e.g. LOINC, RxNorm).

    Returns
    -------
    tuple or None
        ``None`` when no coding carries a non-empty string code; ``display`` falls back to the
        concept's ``text``.
    """
    if not isinstance(cc, dict):
        return None
    codings = cc.get("coding")
    if codings is None and "code" in cc:  # a bare Coding (e.g. Encounter.class)
        codings = [cc]
    if not isinstance(codings, list):
        return None
    chosen = None
    for coding in codings:
        if isinstance(coding, dict) and text(coding.get("code")):
            if chosen is None:
                chosen = coding
            if prefer is None or coding.get("system") == prefer:
                chosen = coding
                break
    if chosen is None:
        return None
    display = text(chosen.get("display")) or text(cc.get("text"))
    return text(chosen.get("system")), chosen["code"], display


def concept_text(cc: Any) -> str | None:
    """A short text for a CodeableConcept: first coding's code, else its ``text``."""
    picked = codeable(cc)
    if picked is not None:
        return picked[1]
    return text(cc.get("text")) if isinstance(cc, dict) else None


class TimeParser:
    """Parse FHIR ``date`` / ``dateTime`` / ``instant`` text to UTC microseconds, with a cache.

    Full date-times with an offset are converted to UTC; partial dates (``2019``, ``2019-03``,
    ``2019-03-01``) become the start of their period in UTC with a precision of ``'year'``,
    ``'month'`` or ``'day'``. A date-time without an offset (invalid FHIR, but common) is read
    as UTC and flagged. The cache matters: EHR exports repeat the same timestamps many times.
    """

    def __init__(self) -> None:
        self._cache: dict[str, tuple[int, str | None, bool] | str] = {}

    def parse(self, value: Any, field: str) -> tuple[int, str | None, bool]:
        """Return ``(epoch microseconds, precision or None, offset missing)``.

        Raises
        ------
        Reject
            ``fhir.date`` when ``value`` is not a valid FHIR date/dateTime.
        """
        if not isinstance(value, str):
            raise Reject("fhir.date", f"{field} is {type(value).__name__}, not a date string")
        hit = self._cache.get(value)
        if hit is None:
            hit = self._parse(value)
            if len(self._cache) < 100_000:
                self._cache[value] = hit
        if isinstance(hit, str):
            raise Reject("fhir.date", f"{field} {hit}")
        return hit

    @staticmethod
    def _parse(value: str) -> tuple[int, str | None, bool] | str:
        bad = "not a valid FHIR date/dateTime"
        if "T" in value:
            m = _DATETIME.fullmatch(value)
            if m is None:
                return bad
            try:
                dt = datetime.fromisoformat(value)
            except ValueError:
                return bad
            if not FIRST_YEAR <= dt.year <= LAST_YEAR:
                return _OUT_OF_RANGE
            naive = dt.tzinfo is None
            if naive:
                dt = dt.replace(tzinfo=UTC)
            try:
                return (dt - _EPOCH) // _US, None, naive
            except OverflowError:
                return bad
        m = _DATE.fullmatch(value)
        if m is None:
            return bad
        year, month, day = m.groups()
        try:
            d = date(int(year), int(month or 1), int(day or 1))
        except ValueError:
            return bad
        if not FIRST_YEAR <= d.year <= LAST_YEAR:
            return _OUT_OF_RANGE
        precision = "day" if day else "month" if month else "year"
        dt = datetime(d.year, d.month, d.day, tzinfo=UTC)
        return (dt - _EPOCH) // _US, precision, False

    def first_of(
        self, resource: dict, fields: tuple[str, ...]
    ) -> tuple[int, int, dict[str, Any]] | None:
        """Time and end time from the first present field among ``fields``.

        A field named ``...Period`` contributes ``start`` (and ``end``); other fields are
        dateTimes. Returns ``(time, end_time, qualifiers)`` or ``None`` when no field holds a
        usable start; raises :class:`Reject` for an invalid date or an end before the start.
        """
        for field in fields:
            value = resource.get(field)
            if value is None:
                continue
            name = field
            end = NAT
            quals: dict[str, Any] = {}
            if name == "period" or name.endswith("Period"):
                if not isinstance(value, dict):
                    raise Reject("fhir.structure", f"{name} is not an object")
                start = value.get("start")
                if value.get("end") is not None:
                    end, _, _ = self.parse(value["end"], f"{name}.end")
                if start is None:
                    continue
                value = start
                name = f"{name}.start"
            t, precision, naive = self.parse(value, name)
            if end != NAT and end < t:
                raise Reject("fhir.period", f"{name.split('.')[0]} ends before it starts")
            if precision is not None:
                quals["date_precision"] = precision
            if naive:
                quals["offset_missing"] = True
            if field != fields[0]:
                quals["time_source"] = name
            return t, end, quals
        return None
