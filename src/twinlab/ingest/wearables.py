"""Wearable exports: per-epoch series as xarray, daily summaries as events.

Supported shapes (sniffed from the content, not only the name):

``twinlab``
    The synthetic per-minute export of :mod:`twinlab.synth.wearables`: ``#`` comment lines
    (vendor, device model, serial, account holder name and e-mail, time zone) then
    ``timestamp,heart_rate,steps`` with ISO-8601 timestamps carrying a UTC offset.
``actiware``
    Philips Actiware "export files" (CSV) in English, French or German: key/value header
    sections (subject identity, name, address, device, time-zone offset, epoch length) and an
    epoch-by-epoch table with local dates (day-first or month-first: decided from the data) and
    decimal commas in German exports.
``awd``
    Cambridge Neurotechnology / Philips Actiwatch ``.AWD``: 7 header lines (name, start date
    ``dd-Mon-yyyy``, start time, epoch code, age, serial, sex) then one count per line, an
    optional ``M`` marking an event marker. AWD has no time zone: give ``utc_offset`` or UTC is
    assumed (and flagged).
``timeseries``
    Epoch time series of the UK Biobank accelerometer tools (``time,acc,...`` with timestamps
    like ``2014-05-07 13:29:50.439000+0100 [Europe/London]``), plain or gzipped.

A *record* is one data row (epoch). Rows with an unreadable timestamp, a non-numeric value, a
value outside the variable's plausible range for one epoch (rows of domain ``wearable_epoch``
in ``terminology/tables/plausibility.csv``: heart rate 20-300 /min, at most 300 steps/min, no
negative count or light level), bytes that are not UTF-8 or a duplicated timestamp are
quarantined, each alone, and so is a row whose field count does not fit the header; a
device's own missing-value token (``NaN``, empty cell) is accepted as missing. Header problems
never raise: unknown time zones are assumed UTC and flagged, a header without a usable start
time quarantines the rows it cannot date, a header that names a column twice quarantines the
file (``wearables.header``).

The files are parsed with :mod:`csv` and vectorised pandas: these vendor exports are not
readable by a generic CSV call (multi-section files, localized headers), and the actigraphy
library that knows them (pyActigraphy) is GPL-3 and pulls in a large stack.

Identifying header fields (names, e-mail, address, birth date, device serial) go to
``persons`` only, never into events or the series attributes; so does the owner's name in a
device name its owner gave it ("Ann Lee's Kestrel Band": ``device_owner``, the model
"Kestrel Band" published).
"""

from __future__ import annotations

import csv
import gzip
import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from twinlab.ingest.base import (
    BAD_BYTE,
    EVENT_COLUMNS,
    PERSON_COLUMNS,
    QUARANTINE_COLUMNS,
    ReadResult,
    decode_marked,
    frame,
    quarantine_row,
    register,
)
from twinlab.ingest.limits import (
    InputTooLarge,
    max_line_chars,
    read_bounded_prefix,
    split_lines,
    stream_damage,
)
from twinlab.terminology.plausibility import plausibility_table

__all__ = ["SUMMARY_SYSTEM", "read_wearables", "sniff_wearables"]

#: Code system of the daily summaries.
SUMMARY_SYSTEM = "twinlab:wearable"

#: AWD epoch codes (header line 4) -> seconds, after pyActigraphy's AWD reader.
AWD_EPOCHS = {1: 15, 2: 30, 4: 60, 8: 120, 20: 300}

_MISSING = {"", "nan", "na", "n/a", "null", "none", "kz"}  # "kZ": German "keine Zahl"
_PLACEHOLDERS = {"", "*", "not entered", "non saisi", "nicht eingegeben", "not applicable",
                 "non applicable", "nicht verfügbar", "not available"}  # fmt: skip
#: Unit of each variable's epochs (series attrs); the per-epoch plausible ranges are rows of
#: domain ``wearable_epoch`` in ``terminology/tables/plausibility.csv`` (:func:`_bounds`).
_UNITS = {"heart_rate": "/min", "steps": "{steps}", "activity": "{counts}", "acc": "mg",
          "white_light": "lx"}  # fmt: skip
_OFFSET = re.compile(r"([+-])(\d{2}):?(\d{2})$")


# --- the parsed file, before summaries --------------------------------------------------------


@dataclass
class _Parsed:
    fmt: str
    records_in: int = 0
    quarantine: list[dict[str, str]] = field(default_factory=list)
    #: accepted rows: UTC times (datetime64[ns], naive UTC), local times and values by variable
    utc: np.ndarray | None = None
    local: np.ndarray | None = None
    values: dict[str, np.ndarray] = field(default_factory=dict)
    #: variable whose non-missing epochs count as worn
    wear_var: str | None = None
    epoch_s: float | None = None
    device: str | None = None
    utc_offset: str | None = None
    tz_assumed: bool = False
    source_patient: str = ""
    identifiers: list[tuple[str, str]] = field(default_factory=list)
    sex: str = "U"
    birth_date: str | None = None
    phi: dict[str, str] = field(default_factory=dict)
    #: records quarantined before format parsing (over-long lines)
    extra_records: int = 0


# --- sniffing and opening ---------------------------------------------------------------------


def _read_text(path: Path, max_bytes: int | None = None) -> tuple[str, Exception | None]:
    """The file's text, gunzipped in a bounded stream (:func:`read_bounded_prefix`), and the
    stream error that cut it short: then the text ends with its last complete line."""
    data, err = read_bounded_prefix(path, max_bytes=max_bytes)
    if err is not None:
        if b"\n" not in data:
            raise err
        data = data[: data.rindex(b"\n") + 1]  # the line the damage cut is lost with the rest
    text = decode_marked(data)[0]  # a bad byte becomes BAD_BYTE: its row is quarantined
    return text.removeprefix("\ufeff"), err


def _drop_long_lines(text: str, p: _Parsed, limit: int) -> str:
    """Quarantine each line longer than ``limit`` alone; keep its place as an empty line."""
    lines = split_lines(text)
    long = [i for i, ln in enumerate(lines) if len(ln) > limit]
    for i in long:
        p.quarantine.append(
            quarantine_row(f"line {i + 1}", "wearables.line_length",
                           f"line longer than {limit:,} characters", lines[i][:2000])
        )  # fmt: skip
        lines[i] = ""
    p.extra_records += len(long)
    return "\n".join(lines) if long else text


def _head(path: Path, n: int = 4096) -> str:
    with path.open("rb") as fh:
        data = fh.read(n)
    if data[:2] == b"\x1f\x8b":
        with gzip.open(path, "rb") as gz:
            data = gz.read(n)
    return data.decode("utf-8", errors="replace").removeprefix("\ufeff")


def _detect(path: Path, head: str) -> str | None:
    first = split_lines(head.lstrip())[0] if head.strip() else ""
    if "Actiware" in first:
        return "actiware"
    lines = [ln.strip() for ln in split_lines(head)]
    if lines and lines[0].startswith("#"):
        for ln in lines:
            if not ln.startswith("#") and ln:
                cols = [c.strip().lower() for c in _fields(ln)]
                if "timestamp" in cols and ({"heart_rate", "steps"} & set(cols)):
                    return "twinlab"
                break
    if first.lower().startswith("time,acc"):
        return "timeseries"
    if path.suffix.lower() == ".awd":
        return "awd"
    return None


def sniff_wearables(path: Path) -> bool:
    """Whether ``path`` is a wearable export this module reads (checked on its first bytes)."""
    try:
        return _detect(path, _head(path)) is not None
    except (OSError, EOFError, zlib.error):
        return False


# --- value helpers ----------------------------------------------------------------------------


def _numbers(raw: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Floats (NaN for missing tokens) and a mask of cells that are neither finite numbers nor
    missing (``inf``, ``1e400``: bad values, not a gap in the series)."""
    s = raw.fillna("").astype(str).str.strip()
    missing = s.str.lower().isin(_MISSING)
    comma = s.str.contains(",", regex=False) & ~s.str.contains(".", regex=False)
    s = s.where(~comma, s.str.replace(",", ".", regex=False))
    num = pd.to_numeric(s.where(~missing, None), errors="coerce").to_numpy(
        dtype="float64", copy=True
    )
    bad = ~np.isfinite(num) & ~missing.to_numpy()
    num[~np.isfinite(num)] = np.nan
    return num, bad


def _offset_minutes(text: str | None) -> int | None:
    if not text:
        return None
    m = _OFFSET.search(text.strip())
    if not m:
        return None
    sign = -1 if m.group(1) == "-" else 1
    return sign * (int(m.group(2)) * 60 + int(m.group(3)))


def _fmt_offset(minutes: int) -> str:
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


#: A device name its owner gave it, as phones and watches name themselves ("Ann Lee's Watch",
#: "Ann’s Kestrel Band 2"): the owner before a possessive, the model after it.
_OWNED_DEVICE = re.compile(r"^\s*(?P<owner>\S.{0,79}?)['’]s?\s+(?P<model>\S.*)$")


def _device_model(value: str | None, p: _Parsed) -> str | None:
    """The device model of a header's device field; an owner's name in it goes to ``p.phi``.

    The model is published (the ``device`` qualifier, the series attributes); a device name
    that its owner gave it carries the owner's name, a person identifier of the wearer or of a
    relative whose device it is: kept in ``persons.phi`` (``device_owner``, a known identifier)
    and left out of the model.

    Parameters
    ----------
    value : str or None
        The header's device (model or name) field.
    p : _Parsed
        The file being parsed; its ``phi`` gets ``device_owner``.

    Returns
    -------
    str or None
        The model (the text after the possessive), else ``value`` unchanged.
    """
    m = _OWNED_DEVICE.match(value) if value else None
    if m is None:
        return value
    p.phi["device_owner"] = m.group("owner")
    return m.group("model").strip()


def _clean(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return None if value.casefold() in _PLACEHOLDERS else value


def _zone_disagrees(stamps: pd.Series, utc: pd.Series, off_min: pd.Series) -> pd.Series:
    """Rows whose UTC offset is not their named time zone's at that instant
    (``2014-05-07 13:29:50+0000 [Europe/London]``: London is +01:00 in May).

    Such a row is placed an hour or more from where it belongs (onto another row's minute,
    whose duplicate it would make the good row look like): it cannot be placed. An unknown
    zone name is not checked; a change of offset at a real DST transition agrees.
    """
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    zones = stamps.str.extract(r"\[([A-Za-z_+\-/0-9]{1,64})\]\s*$")[0]
    bad = pd.Series(False, index=stamps.index)
    for name in zones.dropna().unique():
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            continue
        rows = (zones == name) & utc.notna() & off_min.notna()
        if not rows.any():
            continue
        there = utc[rows].dt.tz_convert(name)
        expected = (there.dt.tz_localize(None) - utc[rows].dt.tz_localize(None)).dt.total_seconds()
        bad[rows] = (expected / 60).to_numpy() != off_min[rows].astype("float64").to_numpy()
    return bad


def _accept(
    p: _Parsed,
    raw_rows: list[str],
    pointers: list[str],
    utc: pd.Series,
    local: pd.Series,
    columns: dict[str, pd.Series],
    no_offset: np.ndarray | None = None,
    wrong_zone: np.ndarray | None = None,
) -> None:
    """Validate rows: bad time / bad numbers / duplicates to quarantine, the rest kept
    (``no_offset``: rows whose timestamp reads but names no UTC offset; ``wrong_zone``: rows
    whose offset is not their named zone's)."""
    n = len(raw_rows)
    utc = _naive_utc(utc) if isinstance(utc.dtype, pd.DatetimeTZDtype) else utc
    bad_time = (utc.isna() | local.isna()).to_numpy()
    reasons: list[str | None] = [None] * n
    checks: list[str | None] = [None] * n
    for i, row in enumerate(raw_rows):  # the root cause first: a bad byte spoils any cell
        if BAD_BYTE in row:
            checks[i] = "wearables.encoding"
            reasons[i] = "row holds bytes that are not text (not UTF-8, or NUL)"
    for i in np.flatnonzero(bad_time):
        if checks[i] is None:
            checks[i], reasons[i] = "wearables.timestamp", "timestamp is missing or unreadable"
            if no_offset is not None and no_offset[i]:
                reasons[i] = "timestamp has no UTC offset (Z or +hh:mm): it cannot be placed"
            elif wrong_zone is not None and wrong_zone[i]:
                reasons[i] = (
                    "timestamp's UTC offset is not its named time zone's at that instant: "
                    "it cannot be placed"
                )
    values = {}
    for name, col in columns.items():
        num, bad = _numbers(col)
        values[name] = num
        for i in np.flatnonzero(bad & ~bad_time):
            if checks[i] is None:
                checks[i] = "wearables.value"
                reasons[i] = f"{name} value is not a finite number"
    ok = np.array([c is None for c in checks], dtype=bool)
    p.epoch_s = _infer_epoch(p.epoch_s, utc.to_numpy()[ok])
    for name, num in values.items():
        bounds = _bounds(name, p.epoch_s)
        if bounds is None:
            continue
        low, high, scale, why = bounds
        out = ok & ((num < low / scale) | (num > high / scale))  # NaN (missing) is not out
        for i in np.flatnonzero(out):
            checks[i], reasons[i] = "wearables.range", why
        ok &= ~out
    dup = pd.Series(utc.to_numpy())[ok].duplicated(keep="first").reindex(range(n), fill_value=False)
    dup = dup.to_numpy(dtype=bool)
    for i in np.flatnonzero(dup):
        checks[i], reasons[i] = "wearables.duplicate", "timestamp repeats an earlier row"
    ok &= ~dup
    for i in np.flatnonzero(~ok):
        p.quarantine.append(quarantine_row(pointers[i], checks[i], reasons[i], raw_rows[i]))
    p.utc = utc.to_numpy()[ok].astype("datetime64[ns]")
    p.local = local.to_numpy()[ok].astype("datetime64[ns]")
    p.values = {k: v[ok] for k, v in values.items()}


def _bounds(name: str, epoch_s: float) -> tuple[float, float, float, str] | None:
    """Plausible range of one epoch of ``name``: low, high, the factor that turns an epoch's
    value into the table's unit (a count per epoch into a rate per minute) and the reason an
    epoch outside it gets; None for a variable without a range."""
    table = plausibility_table()
    row = table[(table["domain"] == "wearable_epoch") & (table["code"] == name)]
    if row.empty or name not in _UNITS:
        return None
    low, high, unit = row["low"].iloc[0], row["high"].iloc[0], row["unit"].iloc[0]
    if unit == _UNITS[name]:
        scale = 1.0
    elif unit == f"{_UNITS[name]}/min":
        scale = 60.0 / epoch_s
    else:
        raise ValueError(f"plausibility.csv: wearable_epoch {name} in {unit!r}, the reader "
                         f"has {_UNITS[name]!r} per epoch")  # fmt: skip
    per = f" ({epoch_s:g} s epochs)" if scale != 1.0 else ""
    why = f"{name} is outside the plausible range {low:g} to {high:g} {unit}{per} of one epoch"
    return low, high, scale, why


def _naive_utc(s: pd.Series) -> pd.Series:
    return s.dt.tz_convert("UTC").dt.tz_localize(None)


# --- format parsers ---------------------------------------------------------------------------


def _fields(line: str) -> list[str]:
    """The comma-separated fields of ``line``, CSV quoting honoured where it has quotes (an
    unclosed quote leaves the line as plain fields: its width or values quarantine it)."""
    if '"' not in line:
        return line.split(",")
    try:
        return next(csv.reader([line], strict=True))
    except (csv.Error, StopIteration):
        return line.split(",")


class _HeaderError(Exception):
    """A data table header the reader cannot use: the whole file is quarantined."""


def _unique_columns(cols: list[str]) -> None:
    """Raise :class:`_HeaderError` when a column name (other than blank) is repeated.

    Parameters
    ----------
    cols : list of str
        The header's column names.

    Raises
    ------
    _HeaderError
        Giving the positions of the first repeated column (its values could be either
        column's), not its name: a column name is the exporter's free text, and the reason is
        published in quarantine.parquet ("rosamund ingleby 77120459" appeared there, in a case
        no detector reads as a name).
    """
    seen: dict[str, int] = {}
    for i, name in enumerate(cols, start=1):
        if name and name in seen:
            raise _HeaderError(
                f"a column name appears twice in the header (columns {seen[name]} and {i})"
            )
        seen[name] = i


def _parse_twinlab(text: str, p: _Parsed) -> None:
    lines = split_lines(text)
    meta: dict[str, str] = {}
    header_at = None
    for i, ln in enumerate(lines):
        if ln.startswith("#"):
            body = ln[1:].strip()
            if ":" in body:
                k, v = body.split(":", 1)
                meta[k.strip().lower()] = v.strip()
            elif body:
                meta.setdefault("banner", body)
            continue
        if ln.strip():
            header_at = i
            break
    if header_at is None:
        return
    cols = [c.strip().lower() for c in _fields(lines[header_at])]
    _unique_columns(cols)
    body = [(i + 1, ln) for i, ln in enumerate(lines[header_at + 1 :], start=header_at + 1)]
    # a '#' line below the header is a row (a corrupted first byte?), not a comment to skip
    body = [(no, ln) for no, ln in body if ln.strip()]
    p.records_in = len(body)
    rows = [_fields(ln) for _, ln in body]
    raw = [ln for _, ln in body]
    pointers = [f"line {no}" for no, _ in body]
    width = len(cols)
    bad_width = [i for i, r in enumerate(rows) if len(r) != width]
    for i in bad_width:
        p.quarantine.append(
            quarantine_row(pointers[i], "wearables.columns",
                           f"{len(rows[i])} fields, the header has {width}", raw[i])
        )  # fmt: skip
    keep = [i for i, r in enumerate(rows) if len(r) == width]
    df = pd.DataFrame([rows[i] for i in keep], columns=cols, dtype=object)
    raw = [raw[i] for i in keep]
    pointers = [pointers[i] for i in keep]
    ts = df.get("timestamp", pd.Series([None] * len(df), dtype=object)).astype(str).str.strip()
    utc = pd.to_datetime(ts, format="ISO8601", utc=True, errors="coerce")
    off = ts.str.extract(r"([+-]\d{2}:?\d{2}|Z)$")[0]
    minutes = {o: 0 if o == "Z" else _offset_minutes(o) for o in off.dropna().unique()}
    off_min = off.map(minutes, na_action="ignore")  # each distinct offset parsed once
    no_offset = (utc.notna() & off_min.isna()).to_numpy()
    utc = utc.where(off_min.notna())  # a timestamp without offset cannot be placed in UTC
    local = _naive_utc(utc) + pd.to_timedelta(off_min.astype("float64"), unit="min")
    variables = {c: df[c] for c in cols if c in ("heart_rate", "steps")}
    _accept(p, raw, pointers, utc, local, variables, no_offset)
    offsets = off_min.dropna()
    tz_min = _offset_minutes(meta.get("timezone"))
    if tz_min is None and len(offsets):
        tz_min = int(offsets.mode().iloc[0])
    p.utc_offset = _fmt_offset(tz_min) if tz_min is not None else None
    p.device = _device_model(meta.get("device_model") or meta.get("device"), p)
    serial = meta.get("serial_number") or meta.get("serial")
    p.wear_var = "heart_rate" if "heart_rate" in variables else next(iter(variables), None)
    p.source_patient = serial or ""
    if serial:
        p.identifiers.append(("device_serial", serial))
    for key, value in meta.items():
        if key in _DEVICE_META or key in ("serial_number", "serial", "timezone", "banner"):
            continue
        if key == "device_name" and _OWNED_DEVICE.match(value):
            # the name its owner gave the device ("Ann Lee's Kestrel Band"): the owner is PHI
            # (device_owner), the model's words are no name to remove from every text
            model = _device_model(value, p)
            p.device = p.device or model
            continue
        name = {"account_holder": "name", "account_email": "email"}.get(key, key)
        p.phi[name] = value
        if name == "email":
            p.identifiers.append(("email", value))


#: Header keys of the twinlab export that describe the device or the export, not its wearer:
#: never person identifiers. As known values they stopped the publication of the series whose
#: device model names its vendor ("vendor: FitCo", device "FitCo HR2").
_DEVICE_META = frozenset(
    "device_model device vendor manufacturer brand model firmware firmware_version"
    " hardware_version software_version app_version export_version".split()
)


_RPX_KEYS = {
    "identity": ("identity", "identité", "identität"),
    "initials": ("initials", "initiales", "initialen"),
    "name": ("full name", "nom complet", "vollständiger name"),
    "address": ("street address", "adresse", "straße und hausnummer"),
    "city": ("city state zip country", "ville/département/code postal/pays", "stadt plz land"),
    "phone": ("phone", "téléphone", "telefonnummer"),
    "sex": ("gender", "sexe", "geschlecht"),
    "birth_date": ("date of birth", "date de naissance", "geburtsdatum"),
    "device": ("actiwatch type", "type d'actiwatch", "actiwatch-typ"),
    "offset": ("time zone offset", "décalage du fuseau horaire", "zeitzonenverschiebung"),
    "epoch": ("epoch length", "longueur de la période", "epochenlänge"),
    "serial": ("actiwatch serial number", "numéro de série de l'actiwatch",
               "actiwatch-seriennummer"),
}  # fmt: skip
_RPX_LOOKUP = {alias.casefold(): key for key, aliases in _RPX_KEYS.items() for alias in aliases}
_RPX_COLS = {
    "date": ("date", "datum"),
    "time": ("time", "heure", "zeit"),
    "activity": ("activity", "activité", "aktivität"),
    "white_light": ("white light", "lumière blanche", "weißes licht"),
    "off_wrist": ("off-wrist status", "statut hors poignet", "status „nicht am handgelenk“"),
}
_RPX_COL_LOOKUP = {alias.casefold(): key for key, aliases in _RPX_COLS.items() for alias in aliases}
_LINE_WORDS = {"line", "ligne", "zeile"}
_SEX = {"female": "F", "femme": "F", "weiblich": "F", "male": "M", "homme": "M",
        "männlich": "M"}  # fmt: skip


def _parse_actiware(text: str, p: _Parsed) -> None:
    lines = split_lines(text)
    meta: dict[str, str] = {}
    header_at = None
    for i, ln in enumerate(lines):
        cells = next(csv.reader([ln]), [])
        if not cells:
            continue
        key = cells[0].strip().rstrip(":").strip().casefold()
        if key in _RPX_LOOKUP and len(cells) > 1 and _RPX_LOOKUP[key] not in meta:
            meta[_RPX_LOOKUP[key]] = cells[1]
        if key in _LINE_WORDS and any(c.strip().casefold() in ("date", "datum") for c in cells):
            header_at = i  # the epoch-by-epoch table is the last table of the file
    if header_at is None:
        return
    header_at = _table_start(lines, header_at)
    cols = [c.strip().casefold() for c in next(csv.reader([lines[header_at]]))]
    names = [_RPX_COL_LOOKUP.get(c) for c in cols]
    body = [(no + 1, ln) for no, ln in enumerate(lines) if no > header_at and ln.strip()]
    p.records_in = len(body)
    rows = [_fields(ln) for _, ln in body]  # one line each: an open quote spans no other
    raw = [ln for _, ln in body]
    pointers = [f"line {no}" for no, _ in body]
    width = len([c for c in cols if c])

    def cell(row: list[str], name: str) -> str | None:
        if name not in names:
            return None
        j = names.index(name)
        return row[j] if j < len(row) else None

    ok_rows = [i for i, r in enumerate(rows) if len([c for c in r if c != ""]) <= width]
    for i in sorted(set(range(len(rows))) - set(ok_rows)):
        p.quarantine.append(
            quarantine_row(pointers[i], "wearables.columns",
                           f"{len(rows[i])} fields do not fit the {width}-column header", raw[i])
        )  # fmt: skip
    rows = [rows[i] for i in ok_rows]
    raw = [raw[i] for i in ok_rows]
    pointers = [pointers[i] for i in ok_rows]
    stamp = pd.Series([f"{cell(r, 'date')} {cell(r, 'time')}".strip() for r in rows], dtype=object)
    local = _parse_local(stamp)
    off_min = _offset_minutes(meta.get("offset"))
    if off_min is None:
        off_min, p.tz_assumed = 0, True
    utc = local - pd.Timedelta(minutes=off_min)
    utc = utc.dt.tz_localize("UTC")
    variables = {
        name: pd.Series([cell(r, name) for r in rows], dtype=object)
        for name in ("activity", "white_light", "off_wrist")
        if name in names
    }
    epoch = _numbers(pd.Series([meta.get("epoch")]))[0][0]
    p.epoch_s = float(epoch) if np.isfinite(epoch) and epoch > 0 else None
    _accept(p, raw, pointers, utc, local, variables)
    p.utc_offset = _fmt_offset(off_min)
    p.wear_var = "activity" if "activity" in variables else None
    p.device = _device_model(_clean(meta.get("device")), p)
    serial = _clean(meta.get("serial"))
    identity = _clean(meta.get("identity"))
    p.source_patient = identity or serial or ""
    if identity:
        p.identifiers.append(("actiware_identity", identity))
    if serial:
        p.identifiers.append(("device_serial", serial))
    p.sex = _SEX.get((meta.get("sex") or "").strip().casefold(), "U")
    dob = _clean(meta.get("birth_date"))
    if dob:
        parsed = _parse_local(pd.Series([dob + " 00:00:00"], dtype=object))
        p.birth_date = dob if parsed.isna().iloc[0] else parsed.iloc[0].date().isoformat()
    for key in ("name", "initials", "address", "city", "phone"):
        value = _clean(meta.get(key))
        if value:
            p.phi[key] = value


def _table_start(lines: list[str], last: int) -> int:
    """Index of the line that opens the epoch table whose header line is ``lines[last]``.

    The first copy of that header followed by an epoch row (a line number first) opens it: a
    copy further down is a bad row inside the table, not its start (the epochs above it would
    be lost without a word), and a copy in the header sections above is not the table.

    Parameters
    ----------
    lines : list of str
        The file's lines.
    last : int
        Index of the last line that reads as an epoch table header.

    Returns
    -------
    int
        Index of the table's header line (``last`` when no earlier copy opens it).
    """
    for i, line in enumerate(lines[:last]):
        if line != lines[last]:
            continue
        after = next((ln for ln in lines[i + 1 :] if ln.strip()), "")
        if _fields(after)[0].strip().isdigit():
            return i
    return last


def _parse_local(stamp: pd.Series) -> pd.Series:
    """Parse local ``date time`` text, day-first or month-first, whichever fits the rows."""
    s = stamp.str.replace(".", "/", regex=False).str.replace("-", "/", regex=False)
    best, best_score = None, (-1, -1)
    for fmt in ("%d/%m/%Y %H:%M:%S", "%m/%d/%Y %H:%M:%S", "%Y/%m/%d %H:%M:%S"):
        parsed = pd.to_datetime(s, format=fmt, errors="coerce")
        valid = int(parsed.notna().sum())
        steady = int((parsed.diff().dropna() >= pd.Timedelta(0)).sum())
        if (valid, steady) > best_score:
            best, best_score = parsed, (valid, steady)
    return best


def _parse_awd(text: str, p: _Parsed, utc_offset: str | None) -> None:
    lines = split_lines(text)
    head = [ln.strip() for ln in lines[:7]]
    head += [""] * (7 - len(head))
    body = [(no + 1, ln) for no, ln in enumerate(lines) if no >= 7 and ln.strip()]
    p.records_in = len(body)
    if body:  # a blank line inside the epoch table is an epoch lost, not nothing
        first, last = body[0][0], body[-1][0]
        for no in range(first + 1, last):
            if not lines[no - 1].strip():
                why = "epoch line is blank (its count is lost; later epochs keep their times)"
                p.quarantine.append(quarantine_row(f"line {no}", "wearables.value", why, ""))
                p.extra_records += 1
    code = _numbers(pd.Series([head[3]]))[0][0]
    epoch = AWD_EPOCHS.get(int(code)) if np.isfinite(code) else None
    p.epoch_s = float(epoch or 60)
    start = pd.to_datetime(f"{head[1]} {head[2]}", format="%d-%b-%Y %H:%M", errors="coerce")
    counts = pd.Series([ln.split()[0] for _, ln in body], dtype=object)
    n = len(body)
    if pd.isna(start):
        local = pd.Series(pd.NaT, index=range(n), dtype="datetime64[ns]")
    else:
        # one epoch per line after the header: a line set aside (blank, or too long) keeps its
        # slot, so that the epochs after it keep their times
        slot = np.array([no - 8 for no, _ in body], dtype="int64")
        local = pd.Series(start + pd.to_timedelta(slot * p.epoch_s, unit="s"))
    off_min = _offset_minutes(utc_offset)
    if off_min is None:
        off_min, p.tz_assumed = 0, True
    utc = (local - pd.Timedelta(minutes=off_min)).dt.tz_localize("UTC")
    raw = [ln.strip() for _, ln in body]
    pointers = [f"line {no}" for no, _ in body]
    markers = pd.Series([1.0 if len(ln.split()) > 1 else 0.0 for _, ln in body], dtype=object)
    _accept(p, raw, pointers, utc, local, {"activity": counts, "marker": markers})
    if pd.isna(start):  # every row was quarantined: say why in the reasons
        for q in p.quarantine:
            q["check"] = "wearables.header"
            q["reason"] = "header start date/time (lines 2-3) is unreadable"
    p.utc_offset = _fmt_offset(off_min)
    p.wear_var = "activity"
    p.device = "Actiwatch (AWD)"
    p.source_patient = head[0] or head[5]
    if head[0]:
        p.identifiers.append(("awd_subject", head[0]))
    if head[5]:
        p.identifiers.append(("device_serial", head[5]))
    p.sex = {"M": "M", "F": "F"}.get(head[6].upper(), "U")


def _parse_timeseries(text: str, p: _Parsed, stem: str) -> None:
    lines = [(no + 1, ln) for no, ln in enumerate(split_lines(text)) if ln.strip()]
    if not lines:
        return
    cols = [c.strip() for c in _fields(lines[0][1])]
    _unique_columns(cols)
    body = lines[1:]
    p.records_in = len(body)
    rows = [_fields(ln) for _, ln in body]
    for (no, ln), r in zip(body, rows, strict=True):
        if len(r) != len(cols):
            p.quarantine.append(
                quarantine_row(f"line {no}", "wearables.columns",
                               f"{len(r)} fields, the header has {len(cols)}", ln)
            )  # fmt: skip
    keep = [i for i, r in enumerate(rows) if len(r) == len(cols)]
    df = pd.DataFrame([rows[i] for i in keep], columns=cols, dtype=object)
    raw = [body[i][1] for i in keep]
    pointers = [f"line {body[i][0]}" for i in keep]
    ts = df[df.columns[0]].str.replace(r"\s*\[.*\]$", "", regex=True).str.strip()
    utc = pd.to_datetime(ts, format="ISO8601", utc=True, errors="coerce")
    off_min = ts.str.extract(r"([+-]\d{2}:?\d{2})$")[0].map(_offset_minutes, na_action="ignore")
    off_min = off_min.where(~ts.str.match(r".*\d[Zz]$", na=False), 0.0)  # Z: UTC itself
    no_offset = (utc.notna() & off_min.isna()).to_numpy()  # said so, not 'unreadable'
    utc = utc.where(off_min.notna())
    wrong_zone = _zone_disagrees(df[df.columns[0]], utc, off_min)
    utc = utc.where(~wrong_zone)
    local = _naive_utc(utc) + pd.to_timedelta(off_min.astype("float64"), unit="min")
    variables = {c: df[c] for c in df.columns[1:]}
    _accept(p, raw, pointers, utc, local, variables, no_offset, wrong_zone.to_numpy())
    offsets = off_min.dropna()
    p.utc_offset = _fmt_offset(int(offsets.mode().iloc[0])) if len(offsets) else None
    p.wear_var = "acc" if "acc" in variables else None
    # the zone name of the time stamps ("[America/Boise]") names a city or a county (a
    # geographic subdivision below a state): not published, the UTC offset (utc_offset) is
    p.device = "accelerometer epoch time series"
    p.source_patient = stem


# --- summaries --------------------------------------------------------------------------------

#: variable -> [(code, statistic, unit, display)]
_SUMMARIES: dict[str, list[tuple[str, str, str, str]]] = {
    "heart_rate": [
        ("heart_rate_mean", "mean", "/min", "Heart rate, daily mean"),
        ("heart_rate_min", "min", "/min", "Heart rate, daily minimum"),
        ("heart_rate_max", "max", "/min", "Heart rate, daily maximum"),
    ],
    "steps": [("steps_total", "sum", "{steps}", "Steps, daily total")],
    "activity": [("activity_total", "sum", "{counts}", "Activity counts, daily total")],
    "acc": [("acc_mean", "mean", "mg", "Acceleration (ENMO), daily mean")],
}


def _summaries(p: _Parsed, epoch_s: float) -> list[dict[str, Any]]:
    if p.utc is None or not len(p.utc):
        return []
    local_day = p.local.astype("datetime64[D]")
    offset = p.local - p.utc  # per row, so a DST change inside a file is respected
    events = []
    df = pd.DataFrame({"day": local_day, "offset": offset, **p.values})
    for n_day, (day, g) in enumerate(df.groupby("day", sort=True), start=1):
        day_ts = pd.Timestamp(day)
        off = g["offset"].iloc[0]
        start = (day_ts - off).tz_localize("UTC")
        end = (day_ts + pd.Timedelta(days=1) - off).tz_localize("UTC")
        quals_base: dict[str, Any] = {
            "window_h": 24,
            "local_date": day_ts.date().isoformat(),
            "utc_offset": _fmt_offset(int(off / pd.Timedelta(minutes=1))),
            "epoch_s": epoch_s,
            "n_epochs": len(g),
        }
        if p.device:
            quals_base["device"] = p.device
        if p.tz_assumed:
            quals_base["utc_offset_assumed"] = True
        stats: list[tuple[str, float, str, str]] = []
        for var, specs in _SUMMARIES.items():
            if var not in g:
                continue
            col = g[var].astype("float64")
            for code, stat, unit, display in specs:
                if col.notna().sum() == 0:
                    continue
                stats.append((code, float(getattr(col, stat)()), unit, display))
        if p.wear_var and p.wear_var in g:
            worn = g[p.wear_var].notna()
            if "off_wrist" in g:
                worn &= g["off_wrist"].fillna(0) != 1
            minutes = float(worn.sum() * epoch_s / 60.0)
            stats.append(("wear_minutes", minutes, "min", "Wear time, daily total"))
        for code, value, unit, display in stats:
            if not np.isfinite(value):
                continue
            events.append(
                {
                    "source_patient": p.source_patient,
                    "time": start,
                    "end_time": end,
                    "domain": "wearable_summary",
                    "code_system": SUMMARY_SYSTEM,
                    "code": code,
                    "display": display,
                    "value_num": value,
                    "value_text": None,
                    "unit": unit,
                    "qualifiers": dict(quals_base),
                    "status": "final",
                    # the day's number in the file, not its date: a date identifies
                    "source_record": f"day {n_day}/{code}",
                }
            )
    return events


def _dataset(p: _Parsed, epoch_s: float) -> xr.Dataset:
    order = np.argsort(p.utc, kind="stable")
    data_vars = {k: ("time", v[order]) for k, v in p.values.items()}
    ds = xr.Dataset(data_vars, coords={"time": p.utc[order]})
    ds["time"].attrs["time_zone"] = "UTC"
    for k, unit in _UNITS.items():
        if k in ds:
            ds[k].attrs["units"] = unit
    ds.attrs.update(
        {
            "format": p.fmt,
            "device": p.device or "",
            "epoch": f"{epoch_s:g}s",
            "epoch_s": epoch_s,
            "tz_offset": p.utc_offset or "",
            "tz_offset_assumed": int(p.tz_assumed),
            "source_patient": p.source_patient,
        }
    )
    return ds


def _infer_epoch(epoch_s: float | None, utc: np.ndarray | None) -> float:
    """``epoch_s`` (from a header) or the median step between the ``utc`` times, else 60 s."""
    if epoch_s:
        return epoch_s
    if utc is not None and len(utc) > 1:
        diffs = np.diff(np.sort(utc)).astype("timedelta64[ms]").astype("float64") / 1000.0
        diffs = diffs[diffs > 0]
        if len(diffs):
            return float(np.median(diffs))
    return 60.0


# --- the reader -------------------------------------------------------------------------------


@register(
    "wearables",
    sniff=sniff_wearables,
    description="wearable exports (twinlab CSV, Actiware CSV, Actiwatch AWD, epoch time series)",
)
def read_wearables(
    path: str | Path,
    *,
    utc_offset: str | None = None,
    max_bytes: int | None = None,
    max_line: int | None = None,
) -> ReadResult:
    """Read one wearable export into a per-epoch series and daily summary events.

    Parameters
    ----------
    path : str or Path
        The export (format sniffed from the content; see the module docstring).
    utc_offset : str, optional
        ``"+01:00"``-style offset of the device clock, for formats that do not record it
        (AWD). Ignored where the file states its own offset.
    max_bytes : int, optional
        Largest (decompressed) size read; a larger file (a gzip bomb) is quarantined whole
        with check ``ingest.size``. Default :func:`twinlab.ingest.limits.max_input_bytes`.
    max_line : int, optional
        Longest line in characters; a longer line is quarantined alone
        (``wearables.line_length``). Default :func:`twinlab.ingest.limits.max_line_chars`.

    Returns
    -------
    ReadResult
        ``series`` maps the source patient key to an :class:`xarray.Dataset` (dim ``time`` in
        UTC; variables such as ``heart_rate``, ``steps``, ``activity``; attrs ``device``,
        ``epoch``, ``tz_offset``, ``source_patient``); ``events`` hold the daily summaries
        (domain ``wearable_summary``, code system ``twinlab:wearable``) per *local* calendar
        day, from local midnight to the next (``time``/``end_time`` in UTC, ``qualifiers``
        with ``window_h=24`` and ``local_date``); ``persons`` the device holder with any
        identifying header fields.

    Examples
    --------
    >>> res = read_wearables("KB2-0001.csv")  # doctest: +SKIP
    >>> res.series[res.persons.source_patient[0]].steps.sum()  # doctest: +SKIP
    """
    path = Path(path)
    try:
        text, cut = _read_text(path, max_bytes)
    except InputTooLarge as exc:
        return _whole_file(path, exc.check, exc.reason)
    except (OSError, EOFError, zlib.error) as exc:  # the message may quote the path: not kept
        why = getattr(exc, "strerror", None) or stream_damage(exc)
        return _whole_file(path, "wearables.io", f"file unreadable ({type(exc).__name__}: {why})")
    fmt = _detect(path, text[:4096])
    if fmt is None:
        return _whole_file(path, "wearables.format", "not a wearable export this reader knows",
                           text[:2000])  # fmt: skip
    p = _Parsed(fmt)
    if cut is not None:  # a corrupt or cut gzip stream: the rows before the damage are read
        why = f"file unreadable from here on ({type(cut).__name__}: {stream_damage(cut)})"
        at = len(split_lines(text)) + 1
        p.quarantine.append(quarantine_row(f"line {at}+", "wearables.io", why, ""))
        p.extra_records += 1
    text = _drop_long_lines(text, p, max_line_chars() if max_line is None else max_line)
    try:
        if fmt == "twinlab":
            _parse_twinlab(text, p)
        elif fmt == "actiware":
            _parse_actiware(text, p)
        elif fmt == "awd":
            _parse_awd(text, p, utc_offset)
        else:
            _parse_timeseries(text, p, path.name.split(".")[0])
    except _HeaderError as exc:
        return _whole_file(path, "wearables.header", str(exc), text[:2000])
    p.records_in += p.extra_records
    if p.records_in == 0 and not p.quarantine and p.utc is None:
        return _whole_file(path, "wearables.header", f"{fmt} export without a data table",
                           text[:2000])  # fmt: skip
    p.source_patient = p.source_patient or path.name.split(".")[0]
    epoch_s = _infer_epoch(p.epoch_s, p.utc)
    events = frame(EVENT_COLUMNS, _summaries(p, epoch_s))
    for col in ("time", "end_time"):
        events[col] = pd.to_datetime(events[col], utc=True).astype("datetime64[us, UTC]")
    events["value_num"] = events["value_num"].astype("float64")
    person = {
        "source_patient": p.source_patient,
        "identifiers": p.identifiers,
        "sex": p.sex,
        "birth_date": p.birth_date,
        "deceased": None,
        "site": None,
        "phi": p.phi,
    }
    accepted = 0 if p.utc is None else len(p.utc)
    series = {p.source_patient: _dataset(p, epoch_s)} if accepted else {}
    return ReadResult(
        source_file=str(path),
        format="wearables",
        records_in=p.records_in,
        records_accepted=accepted,
        events=events,
        persons=frame(PERSON_COLUMNS, [person]),
        quarantine=frame(QUARANTINE_COLUMNS, p.quarantine),
        series=series,
    )


def _whole_file(path: Path, check: str, reason: str, raw: str = "") -> ReadResult:
    return ReadResult(
        source_file=str(path),
        format="wearables",
        records_in=1,
        records_accepted=0,
        quarantine=frame(QUARANTINE_COLUMNS, [quarantine_row("file", check, reason, raw)]),
    )
