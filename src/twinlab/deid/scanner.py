"""PHI scanner: look for identifier values and PHI patterns in files meant to leave the raw zone.

:func:`scan_for_phi` reads every file it is given (folders recursively) and reports each place
where a known identifier value (an :class:`~twinlab.deid.identifiers.IdentifierSet`, e.g. from
:func:`~twinlab.deid.identifiers.identifiers_from`) or a high-precision PHI pattern (SSN,
e-mail, telephone) occurs:

* Parquet (``.parquet``, ``.pq``; via pyarrow): every string column, including strings nested
  in lists, structs and dictionaries, date and timestamp columns (as ISO text, to find birth
  dates), column names, and the key/value metadata of the file, the schema and each field;
  the free-text values of a ``qualifiers`` JSON column (keys outside the field policy's
  coded, reference, date and lot qualifiers) also get every detector of the scrubber, as
  ``text_columns`` do;
* JSON and notebooks (``.json``, ``.ipynb``, ``.geojson``): every string value and key, with
  its JSON path (JSON Lines and invalid JSON fall back to text); a JSON *number* (a count, a
  range bound of a report) is checked only for long numeric identifiers (SSN, phone, MRN),
  never for ZIP codes or dates, which short numbers equal by chance;
* CSV/TSV: every cell, with its row and column;
* anything else (``.txt``, ``.html``, ``.md``, ``.log``...): every line, as UTF-8 text
  (undecodable bytes replaced).

Identifier values are matched with context (:class:`~twinlab.deid.identifiers.IdentifierSet`):
whole tokens, numbers with their own digit grouping and never inside a decimal number, so
the LOINC code ``8302-2`` or the bound ``10000.0`` is no ZIP code. HTML character references
are decoded before matching (``O&#39;Brien`` is found). Free-text columns (``text_columns``)
get every detector of the scrubber, ``pattern_columns`` (the quarantine's ``reason``, scrubbed
without the engine) every pattern; a ``display`` the field policy kept as a declared concept
name (``vocabulary``, :mod:`twinlab.deid.vocabulary`) gets every pattern but not the engine's
catch-all, as in the scrubber. A ``code`` column holds only what the field policy publishes:
a standard system's code in that system's syntax, or the keyed pseudonym of any other code
(:mod:`twinlab.deid.codes`); anything else is a finding of kind ``policy:local_code``; a
``code_system`` with PHI in what a source names freely (``ODM:JOHN-SMITH``,
:func:`~twinlab.deid.policy.system_phi`) one of kind ``policy:code_system``. A
:class:`Finding` says where and what kind of identifier was found and shows it **masked**
(first character, then ``*`` for each letter or digit), so the scan report cannot leak.
"""

from __future__ import annotations

import csv
import functools
import html
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from twinlab.deid.identifiers import IdentifierSet, identifiers_from
from twinlab.deid.text import SCAN_PATTERNS, find_patterns, find_phi, pointer_phi
from twinlab.deid.vocabulary import CodedVocabulary, display_findings

__all__ = ["Finding", "mask", "scan_for_phi", "scan_text"]

_PARQUET = {".parquet", ".pq"}
_JSON = {".json", ".ipynb", ".geojson"}
_CSV = {".csv": ",", ".tsv": "\t"}
#: Location suffix of a JSON number (matched against long numeric identifiers only).
_NUMBER_TAG = " (number)"
_NOT_IN_NUMBERS = ("zip",)
#: Columns of codes, vocabularies and JSON qualifiers (numbers: lloq, dose number...): a bare
#: short number there is data, not a patient (the scrubber still removes it from text).
_VOCABULARY = tuple(
    f"column {c!r}"
    for c in ("code", "code_system", "unit", "orig_unit", "domain", "status", "qualifiers")
)
#: Columns of record pointers (``dm.xpt#row=1015``): scanned as the scrubber clears them
#: (:func:`~twinlab.deid.text.pointer_phi`: a row number is a position; a date is a finding).
_POINTERS = ("column 'source_record'",)
_NO_IDENTIFIERS = IdentifierSet()
#: A free-text cell that is one number (a measurement's original value): no text to scan.
_ONE_NUMBER = re.compile(r"\s*[<>]?=?\s*[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?\s*")
#: Columns of ids this package computes with a keyed hash (event ids, row hashes, pseudonyms,
#: keyed file and record ids), and the exact form of such an id: a value of that form is
#: random-looking text made here, which holds no identifier (only digit runs that match one
#: by chance); anything else in these columns is scanned like any text.
_KEYED_COLUMNS = tuple(
    f"column {c!r}"
    for c in ("event_id", "from_event_id", "to_event_id", "row_hash", "patient_id",
              "source_file", "source_record", "site")
)  # fmt: skip
#: The location of a Parquet or CSV cell: its column's name.
_CELL_COLUMN = re.compile(r"column '(\w+)', row |row \d+, column '(\w+)'$")


@functools.cache
def _closed_vocabularies() -> dict[str, frozenset[str]]:
    """Column -> the terms of its closed vocabulary: the timeline's domains and the value
    lists of the field policy (``status``, ``sex``, ``cov_state``), which the policy enforces
    (a value outside its list is published as null)."""
    from twinlab.deid.policy import field_policy
    from twinlab.timeline.schema import DOMAINS

    terms: dict[str, set[str]] = {"domain": set(DOMAINS)}
    policy = field_policy()
    for table in ("patients", "events"):
        for column, entry in (policy.get(table) or {}).items():
            if isinstance(entry, dict) and isinstance(entry.get("vocabulary"), list):
                terms.setdefault(column, set()).update(map(str, entry["vocabulary"]))
    return {c: frozenset(t) for c, t in terms.items()}


def _closed_term(location: str, text: str) -> bool:
    """Whether a cell is a term of its column's closed vocabulary: it names no one, even when
    a patient's name is spelled the same (a patient named Vital made the domain "vital" a
    finding, and the run refused to publish)."""
    m = _CELL_COLUMN.match(location)
    column = m and (m.group(1) or m.group(2))
    return bool(column) and text in _closed_vocabularies().get(column, ())


#: Location suffix of a display the field policy kept as a declared concept name.
_KEPT_TAG = " (coded display)"
#: Location suffix of a free-text value inside the ``qualifiers`` column (every detector).
_FREE_QUALIFIER_TAG = " (free-text qualifier)"
#: Location suffix of a date qualifier's ISO date (field policy ``date_qualifiers``), which the
#: de-identification shifted like the event times: read as they are.
_SHIFTED_TAG = " (shifted date)"
_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_KEYED_ID = re.compile(r"ev-[0-9a-f]{24}|[0-9a-f]{64}|(?:P|src|rec|code|ref|site)-[A-Z2-7]{16}")
_TIMESTAMP = re.compile(
    r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Finding:
    """One place where PHI was found.

    Attributes
    ----------
    file : str
        The file.
    location : str
        Where in the file (``column 'x', row 3``, ``$.cells[2].source[0]``, ``line 7``...).
    kind : str
        What was found: a known identifier kind (``name``, ``ssn``, ``birth_date``...) or a
        pattern (``pattern:email``...).
    masked : str
        The value found, masked (e.g. ``J********``).
    """

    file: str
    location: str
    kind: str
    masked: str


def mask(value: str) -> str:
    """Mask a found value: keep its first character, ``*`` for every other letter or digit.

    Examples
    --------
    >>> mask("999-12-3456")
    '9**-**-****'
    """
    if not value:
        return value
    return value[0] + re.sub(r"[^\W_]", "*", value[1:])


def scan_text(
    text: str,
    identifiers: IdentifierSet,
    *,
    patterns: Iterable[str] = SCAN_PATTERNS,
    bare_short: bool = True,
) -> list[tuple[str, str]]:
    """Return ``(kind, masked value)`` for every identifier and pattern hit in ``text``.

    ``bare_short=False``: short numeric identifiers only after a label (vocabulary columns).
    """
    if not isinstance(text, str) or not text:
        return []
    if "&" in text:
        text = html.unescape(text)
    hits = [(k, mask(text[s:e])) for k, s, e in identifiers.finditer(text, bare_short=bare_short)]
    hits += [(f"pattern:{k}", mask(text[s:e])) for k, s, e in find_patterns(text, kinds=patterns)]
    return hits


def _as_identifiers(identifiers: Any) -> IdentifierSet:
    if identifiers is None:
        return IdentifierSet()
    if isinstance(identifiers, IdentifierSet):
        return identifiers
    if isinstance(identifiers, pd.DataFrame):
        return identifiers_from(identifiers)
    return IdentifierSet(identifiers)


def _files(paths: str | Path | Iterable[str | Path]) -> Iterator[Path]:
    items = [paths] if isinstance(paths, str | Path) else list(paths)
    for item in items:
        p = Path(item)
        if p.is_dir():
            seen: set[Path] = set()
            for f in sorted(f for f in p.rglob("*") if f.is_file()):
                target = _zarr_target(f)
                if target is not None and target not in seen:
                    seen.add(target)
                    yield target
        elif p.is_file():
            target = _zarr_target(p)
            if target is not None:
                yield target
        else:
            raise FileNotFoundError(f"nothing to scan at {p}")


_NUMERIC_ZARR = re.compile(r"^(u?int\d+|float\d+|complex\d+|bool)$")


def _zarr_target(file: Path) -> Path | None:
    """What to scan for ``file``: itself, its zarr (v3) array folder, or nothing.

    A chunk of a numeric array holds no text (decoded as text, its compressed bytes
    would match name fragments by chance): skipped. A chunk of a text array is
    compressed too, so the array is read through zarr instead (its folder is
    returned, once). Metadata (``zarr.json``, attributes included) is scanned as JSON.
    """
    if file.name == "zarr.json":
        return file
    for folder in file.parents:
        meta = folder / "zarr.json"
        if meta.is_file():
            try:
                info = json.loads(meta.read_text())
            except ValueError:
                return file
            if info.get("node_type") != "array":
                return file
            return None if _NUMERIC_ZARR.match(str(info.get("data_type", ""))) else folder
    return file


def _strings_zarr_array(folder: Path) -> Iterator[tuple[str, str]]:
    import zarr

    values = zarr.open_array(str(folder), mode="r")[...]
    for i, value in enumerate(np.asarray(values, dtype=object).ravel()):
        if isinstance(value, str | bytes):
            text = value.decode(errors="replace") if isinstance(value, bytes) else value
            yield f"array element {i}", text


def _strings_json(obj: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield f"{path} (key)", str(k)
            yield from _strings_json(
                v, f"{path}.{k}" if re.fullmatch(r"\w+", k) else f"{path}[{k!r}]"
            )
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _strings_json(v, f"{path}[{i}]")
    elif isinstance(obj, str):
        yield path, obj
    elif isinstance(obj, int | float) and not isinstance(obj, bool):
        yield f"{path}{_NUMBER_TAG}", str(obj)


def _strings_text(file: Path) -> Iterator[tuple[str, str]]:
    text = file.read_bytes().decode("utf-8", errors="replace")
    for i, line in enumerate(text.splitlines(), start=1):
        yield f"line {i}", line


def _strings_csv(file: Path, delimiter: str) -> Iterator[tuple[str, str]]:
    text = file.read_bytes().decode("utf-8", errors="replace")
    reader = csv.reader(text.splitlines(), delimiter=delimiter)
    header: list[str] = []
    for r, row in enumerate(reader):
        if r == 0:
            header = row
        for c, cell in enumerate(row):
            name = header[c] if c < len(header) else str(c)
            yield (f"header, column {c}" if r == 0 else f"row {r}, column {name!r}"), cell


def _arrow_strings(array: Any, name: str) -> Iterator[tuple[str, str]]:
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    t = array.type
    if pa.types.is_dictionary(t):
        array = array.cast(t.value_type)
        t = array.type
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        encoded = pc.dictionary_encode(array)
        values = encoded.dictionary.to_pylist()
        indices = encoded.indices.to_numpy(zero_copy_only=False)
        rows = np.flatnonzero(indices == indices)  # skip nulls (NaN after conversion)
        seen, at = np.unique(indices[rows], return_index=True)  # each value's first row
        first = dict(zip(seen.astype(np.int64).tolist(), rows[at].tolist(), strict=True))
        for idx, value in enumerate(values):
            if value is not None:
                yield f"column {name!r}, row {first.get(idx, '?')}", value
    elif pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        yield from _arrow_strings(pc.list_flatten(array), f"{name}[]")
    elif pa.types.is_struct(t):
        for i in range(t.num_fields):
            yield from _arrow_strings(array.field(i), f"{name}.{t.field(i).name}")
    elif pa.types.is_timestamp(t) or pa.types.is_date(t):
        dates = (
            pc.strftime(array, format="%Y-%m-%dT%H:%M:%S")
            if pa.types.is_timestamp(t)
            else array.cast(pa.string())
        )
        yield from _arrow_strings(dates, name)


#: A name of this package's own schema (``field_policy``, ``index_date``, ``field_name``):
#: lower-case words joined by underscores, where a key, a column name or Parquet metadata
#: stands; its words name no one (a relative named Field or Index stopped every publication).
_SCHEMA_NAME = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)+")
_SCHEMA_PLACES = ("column name", "file metadata")


def _schema_name(location: str, text: str) -> bool:
    """Whether ``text`` is a schema name (:data:`_SCHEMA_NAME`) where names of the schema
    stand: a JSON key, a column name or a value of Parquet's file metadata."""
    return (location.endswith("(key)") or location.startswith(_SCHEMA_PLACES)) and bool(
        _SCHEMA_NAME.fullmatch(text)
    )


def _metadata_strings(location: str, text: str) -> Iterator[tuple[str, str]]:
    """A Parquet file's metadata value: the string values of a JSON object (pandas writes its
    schema so, whose keys, ``field_name``, ``pandas_type``..., are its own words: a relative
    named Field stopped every publication), else the whole text."""
    obj = _json_object(text)
    if obj is None:
        yield location, text
        return
    stack: list[Any] = [obj]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str):
            yield location, item


def _strings_parquet(
    file: Path, vocabulary: CodedVocabulary | None = None
) -> Iterator[tuple[str, str]]:
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(file)
    kv = pf.metadata.metadata or {}
    for k, v in kv.items():
        key = k.decode("utf-8", errors="replace")
        yield "file metadata (key)", key
        yield from _metadata_strings(f"file metadata {key!r}", v.decode("utf-8", errors="replace"))
    schema = pf.schema_arrow
    for field in schema:
        yield "column name", field.name
        for k, v in (field.metadata or {}).items():
            yield (
                f"field {field.name!r} metadata",
                f"{k.decode(errors='replace')}={v.decode(errors='replace')}",
            )
    table = pf.read()
    coded = vocabulary is not None and {"code_system", "code", "display"} <= set(table.column_names)
    for name, column in zip(table.column_names, table.columns, strict=True):
        if coded and name == "display":
            yield from _strings_display(table, vocabulary)
        elif name == "qualifiers":
            yield from _shifted_qualifiers(_arrow_strings(column, name))
        else:
            yield from _arrow_strings(column, name)
        if name == "qualifiers":
            yield from _free_text_qualifiers(_arrow_strings(column, name), vocabulary)


def _shifted_qualifiers(cells: Iterable[tuple[str, str]]) -> Iterator[tuple[str, str]]:
    """The ``qualifiers`` cells as the de-identification wrote them: each ISO date of a date
    qualifier (field policy ``date_qualifiers``, shifted by the patient's date shift) yielded
    apart, tagged :data:`_SHIFTED_TAG`; the keyed pseudonym of a reference qualifier
    (``reference_qualifiers``, ``repeat_key_qualifiers``: ``ref-`` and 16 base32 characters,
    which can spell ``SSN2...``)
    left out, as the keyed id columns are; so is the term of a vocabulary qualifier
    (``vocabulary_qualifiers``) that is in its vocabulary, a closed term that names no one
    (a clinician surnamed Day made every date precision "day" a finding); the rest of the
    cell as JSON text."""
    from twinlab.deid.policy import field_policy

    policy = field_policy()
    dated = frozenset(policy.get("date_qualifiers", ()))
    keyed = frozenset(policy.get("reference_qualifiers", ())) | frozenset(
        policy.get("repeat_key_qualifiers", ())
    )
    closed = _vocabulary_qualifiers()
    quoted = tuple(f'"{k}"' for k in dated | keyed | frozenset(closed))  # a JSON key

    def kept(k: str, v: Any) -> bool:
        if not isinstance(v, str):
            return False
        if k in dated:
            return bool(_ISO_DAY.fullmatch(v))
        if k in keyed:
            return bool(_KEYED_ID.fullmatch(v))
        return k in closed and bool(v.strip()) and closed[k].allowed(v)

    for location, text in cells:
        obj = _json_object(text) if any(k in text for k in quoted) else None
        held = {k: v for k, v in (obj or {}).items() if kept(k, v)}
        if not held:
            yield location, text
            continue
        rest = {k: v for k, v in obj.items() if k not in held}
        yield location, json.dumps(rest, ensure_ascii=False, sort_keys=True)
        for k, v in held.items():
            if k in dated:
                yield f"{location} $.{k}{_SHIFTED_TAG}", v


@functools.lru_cache(maxsize=1)
def _vocabulary_qualifiers() -> dict[str, Any]:
    """The checks of the field policy's ``vocabulary_qualifiers`` (key -> check)."""
    from twinlab.deid.policy import field_policy
    from twinlab.deid.tables import _VocabularyQualifier

    vocab = field_policy().get("vocabulary_qualifiers") or {}
    return {k: _VocabularyQualifier(v) for k, v in vocab.items()}


def _json_object(text: str) -> dict[str, Any] | None:
    """``text`` read as a JSON object, else None."""
    try:
        obj = json.loads(text)
    except ValueError:
        return None
    return obj if isinstance(obj, dict) else None


def _qualifier_leaves(obj: Any, path: str, coded: frozenset[str]) -> Iterator[tuple[str, str]]:
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k not in coded:
                yield from _qualifier_leaves(v, f"{path}.{k}", coded)
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _qualifier_leaves(v, f"{path}[{i}]", coded)
    elif isinstance(obj, str):
        yield path, obj


def _free_text_qualifiers(
    cells: Iterable[tuple[str, str]], vocabulary: CodedVocabulary | None = None
) -> Iterator[tuple[str, str]]:
    """The free-text string values of a ``qualifiers`` JSON column (those of keys outside the
    field policy's structured qualifiers, :func:`~twinlab.deid.policy.structured_qualifiers`),
    tagged :data:`_FREE_QUALIFIER_TAG`: the scrubber ran
    the clinical engine over them, so the scan does too. A top-level ``source_display`` that
    ``vocabulary`` keeps for its ``source_system`` and ``source_code`` (the scrubber kept it as
    a declared concept name) is tagged :data:`_KEPT_TAG` instead: every pattern, no engine."""
    from twinlab.deid.policy import structured_qualifiers

    coded = structured_qualifiers()
    verdicts: dict[tuple[str, str, str], bool] = {}
    for location, text in cells:
        try:
            obj = json.loads(text)
        except ValueError:
            continue
        if not isinstance(obj, dict):
            continue
        shown = obj.get("source_display")
        if vocabulary is not None and isinstance(shown, str):
            coding = (str(obj.get("source_system")), str(obj.get("source_code")), shown)
            if coding not in verdicts:
                verdicts[coding] = vocabulary.keeps(
                    obj.get("source_system"), obj.get("source_code"), shown
                )
        if vocabulary is not None and isinstance(shown, str) and verdicts[coding]:
            yield f"{location} $.source_display{_KEPT_TAG}", shown
            obj = {k: v for k, v in obj.items() if k != "source_display"}
        for path, value in _qualifier_leaves(obj, "$", coded):
            yield f"{location} {path}{_FREE_QUALIFIER_TAG}", value


def _strings_display(table: Any, vocabulary: CodedVocabulary) -> Iterator[tuple[str, str]]:
    """The ``display`` column, each value once per verdict of the field policy.

    A value at a row whose ``(code_system, code, display)`` the vocabulary keeps is tagged
    :data:`_KEPT_TAG` (checked for known values and every pattern, not the engine's
    catch-all); the same text at any other row is scanned as free text.
    """
    frame = table.select(["code_system", "code", "display"]).to_pandas()
    kept = vocabulary.mask(frame)
    display = frame["display"].astype(object)
    present = display.notna().to_numpy()
    for flag, tag in ((False, ""), (True, _KEPT_TAG)):
        first = display[present & (kept == flag)].drop_duplicates()
        for row, value in first.items():
            yield f"column 'display', row {row}{tag}", str(value)


def _series_findings(file: Path) -> Iterator[Finding]:
    """A variable of the published series (an array of a group of ``series.zarr``) that the
    series policy does not declare (:data:`twinlab.harmonize.series.SERIES_VARIABLES`):
    unknown fields are never published, and a plainly named column can hold what no text check
    reads (a GPS track, ``lat`` / ``gps_longitude``, as numbers in binary chunks)."""
    if file.name != "zarr.json" or "series.zarr" not in file.parts[:-2]:
        return
    try:
        info = json.loads(file.read_text())
    except ValueError:
        return
    if info.get("node_type") != "array" or file.parent.name == "time":
        return
    from twinlab.harmonize.series import SERIES_VARIABLES

    if file.parent.name not in SERIES_VARIABLES:
        yield Finding(str(file), "node name", "policy:series_variable", mask(file.parent.name))


def _code_findings(
    file: Path, identifiers: IdentifierSet, vocabulary: CodedVocabulary | None
) -> Iterator[Finding]:
    """A Parquet table's codes (``code``, and a coded value's ``value_code`` in
    ``qualifiers``) that the field policy would not publish: neither a standard system's code
    in its syntax (:func:`~twinlab.deid.codes.standard_code`) nor a keyed pseudonym of a local
    code (each distinct (system, code) once); and each ``code_system`` with PHI in the part a
    source names freely (:func:`~twinlab.deid.policy.system_phi`, ``ODM:JOHN-SMITH``)."""
    import pyarrow.parquet as pq

    from twinlab.deid.codes import is_code_pseudonym, standard_code
    from twinlab.deid.policy import system_phi

    names = pq.ParquetFile(file).schema_arrow.names
    pairs: dict[tuple[Any, Any], str] = {}  # (system, code) -> where it is first
    if "code" in names:
        columns = ["code_system", "code"] if "code_system" in names else ["code"]
        frame = pd.read_parquet(file, columns=columns)
        systems = frame["code_system"] if "code_system" in frame else [None] * len(frame)
        for row, (system, code) in enumerate(zip(systems, frame["code"], strict=True)):
            if isinstance(code, str):
                pairs.setdefault((system, code), f"column 'code', row {row}")
    if "qualifiers" in names:  # the code of a coded value: the same policy
        quals = pd.read_parquet(file, columns=["qualifiers"])["qualifiers"]
        for row, text in enumerate(quals):
            try:
                obj = json.loads(text) if isinstance(text, str) else text
            except ValueError:
                continue
            if isinstance(obj, dict) and isinstance(obj.get("value_code"), str):
                where = f"column 'qualifiers', row {row} $.value_code"
                pairs.setdefault((obj.get("value_system"), obj["value_code"]), where)
    for (system, code), where in pairs.items():
        if not is_code_pseudonym(code) and not standard_code(system, code, identifiers, vocabulary):
            yield Finding(str(file), where, "policy:local_code", mask(code))
    if "code_system" in names:  # a system is published verbatim: no PHI in its free part
        systems = pd.read_parquet(file, columns=["code_system"])["code_system"]
        for system in systems.dropna().unique():
            if isinstance(system, str) and system_phi(system):
                row = int(np.flatnonzero((systems == system).to_numpy())[0])
                where = f"column 'code_system', row {row}"
                yield Finding(str(file), where, "policy:code_system", mask(system))


def _strings(file: Path, vocabulary: CodedVocabulary | None = None) -> Iterator[tuple[str, str]]:
    suffix = file.suffix.lower()
    if file.is_dir():
        yield from _strings_zarr_array(file)
    elif suffix in _PARQUET:
        yield from _strings_parquet(file, vocabulary)
    elif suffix in _JSON:
        if file.name == "zarr.json":  # a zarr node's name (an array's: a variable) is its folder's
            yield "node name", file.parent.name
        try:
            obj = json.loads(file.read_bytes().decode("utf-8", errors="replace"))
        except ValueError:
            yield from _strings_text(file)
        else:
            yield from _strings_json(obj, "$")
    elif suffix in _CSV:
        yield from _strings_csv(file, _CSV[suffix])
    else:
        yield from _strings_text(file)


def scan_for_phi(
    paths: str | Path | Iterable[str | Path],
    identifiers: IdentifierSet | pd.DataFrame | Iterable[tuple[str, str]] | None,
    *,
    patterns: Iterable[str] = SCAN_PATTERNS,
    dates_in_timestamps: bool = False,
    text_columns: Iterable[str] = (),
    pattern_columns: Iterable[str] = (),
    vocabulary: CodedVocabulary | None = None,
) -> list[Finding]:
    """Scan files for known identifier values and PHI patterns.

    Parameters
    ----------
    paths : path or iterable of paths
        Files and folders (scanned recursively).
    identifiers : IdentifierSet, persons DataFrame, iterable of (kind, value) or None
        The known values to look for (a persons table is turned into a set by
        :func:`~twinlab.deid.identifiers.identifiers_from`).
    patterns : iterable of str
        The :data:`~twinlab.deid.text.PATTERNS` kinds to report (default SSN, e-mail, phone).
    dates_in_timestamps : bool
        Also report known dates (birth, death) found in a value that is one whole ISO 8601
        datetime with a time of day (an event time, e.g. a Parquet timestamp column) or a
        shifted date qualifier (a wearable summary's ``local_date``). Off by
        default: shifted event times coincide by chance with *someone's* real birth date
        (with 26 Synthea patients, 51 times in 1,700 events), which is no leak. Known dates
        in date columns and text are always reported.
    text_columns : iterable of str
        Columns (Parquet, CSV) holding scrubbed free text: scanned with every detector of
        the scrubber (:func:`~twinlab.deid.text.find_phi`: all patterns and the clinical
        engine), not only the high-precision patterns.
    pattern_columns : iterable of str
        Columns (Parquet, CSV) the scrubber cleaned with every pattern but not the engine
        (``TextScrubber(engine=False)``: the quarantine's ``reason``): scanned with every
        pattern, so what the scrubber would remove blocks publishing.
    vocabulary : CodedVocabulary, optional
        The coded-concept names the field policy kept (:mod:`twinlab.deid.vocabulary`): in
        a Parquet table with ``code_system``, ``code`` and ``display``, a display whose
        triple is an entry is checked for known values and every pattern
        (:func:`~twinlab.deid.vocabulary.display_findings`) instead of the full detectors of
        ``text_columns``. Without it, every display is scanned as free text.

    Returns
    -------
    list of Finding
        One per (file, location, kind, masked value); empty when the files look clean. A
        file that cannot be read at all gives a finding of kind ``unreadable``.

    Raises
    ------
    FileNotFoundError
        If a path does not exist.
    """
    ids = _as_identifiers(identifiers)
    wanted = tuple(patterns)
    full = tuple(f"column {c!r}" for c in text_columns)
    patterned = tuple(f"column {c!r}" for c in pattern_columns)
    full_cache: dict[tuple[str, bool], list[tuple[str, str]]] = {}
    findings: dict[Finding, None] = {}
    cache: dict[tuple[str, bool], list[tuple[str, str]]] = {}
    for file in _files(paths):
        try:
            for location, text in _strings(file, vocabulary):
                if location.startswith(_KEYED_COLUMNS) and _KEYED_ID.fullmatch(text):
                    continue
                if _closed_term(location, text) or _schema_name(location, text):
                    continue
                if location.startswith(_POINTERS):  # as the scrubber clears a pointer
                    hits = [
                        ("pattern:date" if k == "date" else k, mask(text[s:e]))
                        for k, s, e in pointer_phi(text, ids)
                    ]
                    hits += scan_text(text, _NO_IDENTIFIERS, patterns=wanted)
                    for kind, masked in hits:
                        findings[Finding(str(file), location, kind, masked)] = None
                    continue
                # a code, or one number (a measurement): short identifiers only after a label
                coded = location.startswith(_VOCABULARY) or bool(_ONE_NUMBER.fullmatch(text))
                hits = cache.get((text, coded))
                if hits is None:
                    hits = scan_text(text, ids, patterns=wanted, bare_short=not coded)
                    if _TIMESTAMP.fullmatch(text.strip()):
                        # digits of a shifted event time match other numbers by chance;
                        # only a real (unshifted) date in it would be a leak
                        hits = [h for h in hits if dates_in_timestamps and h[0].endswith("date")]
                    cache[(text, coded)] = hits
                if location.endswith(_SHIFTED_TAG):  # like a shifted event time
                    hits = [h for h in hits if dates_in_timestamps and h[0].endswith("date")]
                if location.endswith(_NUMBER_TAG):
                    hits = [
                        h for h in hits if h[0] not in _NOT_IN_NUMBERS and not h[0].endswith("date")
                    ]
                if location.endswith(_KEPT_TAG):  # a declared concept name: every pattern
                    hits = hits + [
                        (f"detector:{k}", mask(text[s:e])) for k, s, e in display_findings(text)
                    ]
                elif (
                    (full and location.startswith(full))
                    or (patterned and location.startswith(patterned))
                    or location.endswith(_FREE_QUALIFIER_TAG)
                ) and not _ONE_NUMBER.fullmatch(text):
                    # the engine too, except in columns scrubbed without it
                    engine = not (patterned and location.startswith(patterned))
                    more = full_cache.get((text, engine))
                    if more is None:
                        # a keyed pseudonym the scrubber put for a patient key is no PHI
                        more = [
                            (f"detector:{k}", mask(text[s:e]))
                            for k, s, e in find_phi(text, None, engine=engine)
                            if not _KEYED_ID.fullmatch(text[s:e])
                        ]
                        full_cache[(text, engine)] = more
                    hits = hits + more
                for kind, masked in hits:
                    findings[Finding(str(file), location, kind, masked)] = None
            if file.suffix.lower() in _PARQUET:
                findings.update(dict.fromkeys(_code_findings(file, ids, vocabulary)))
            findings.update(dict.fromkeys(_series_findings(file)))
        except Exception as exc:
            findings[Finding(str(file), "whole file", "unreadable", type(exc).__name__)] = None
    return list(findings)
