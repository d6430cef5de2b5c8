"""VCF reader: genotypes of samples at configured pharmacogenomic sites.

Reads plain ``.vcf`` and bgzipped ``.vcf.gz`` / ``.vcf.bgz`` files (BGZF is a series of gzip
members, read as one stream whose members are each released once their CRC checks:
:func:`~twinlab.ingest.limits.checked_gunzip`). A *record* is one data line. Lines at a
configured site (matched by contig, position, REF and the site's ALT allele – never by rsID
alone, since IDs are often ``.``) become one event per (site, sample); other well-formed lines
are accepted without events. A data line that repeats an accepted line exactly is read once and
counted in ``duplicates``: any line at a configured site (the lines that make events), and any
other line that repeats the line before it (a set of every line of a whole-genome file would cost
more memory than a duplicate line without events can do harm). Malformed data lines (wrong
column count, non-integer POS, a REF or ALT that is not alleles, a bad GT or more sample fields
than FORMAT keys at a configured site) are quarantined with the line as raw text, and so is a
second ``#CHROM`` line (the first names the samples). A ``#CHROM`` line that names a sample twice
refuses the whole file (one ``vcf.header`` record): whose genotypes are in which column cannot be
told, and bcftools refuses such a file too.

The parser is plain Python on purpose: cyvcf2 and pysam wrap the compiled htslib, which is not a
dependency of twinlab, and only a handful of positions are needed. To stay fast on whole-genome
files, a line is split into its sample columns only when its position is configured.

Genotype calls (``0/1``, ``1|0``, haploid ``1``, missing ``./.`` or ``.``, partial ``0/.``)
are validated only on the lines that are read in full (configured sites, or every line with
``sites="all"``).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import re
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, TextIO

import pandas as pd

from twinlab.ingest.base import (
    EVENT_COLUMNS,
    FIRST_YEAR,
    LAST_YEAR,
    PERSON_COLUMNS,
    QUARANTINE_COLUMNS,
    ReadResult,
    frame,
    holds_bad_bytes,
    quarantine_row,
    register,
)
from twinlab.ingest.limits import (
    max_line_chars,
    open_checked_gzip,
    stream_damage,
    unverified_bytes,
)

__all__ = ["DBSNP", "Site", "diplotype", "load_sites", "read_vcf", "sniff_vcf"]

#: Code system of rsIDs.
DBSNP = "http://www.ncbi.nlm.nih.gov/snp"
#: Code system of variants without an rsID (``sites="all"``): ``chrom:pos:ref:alt``.
LOCUS_SYSTEM = "twinlab:vcf-locus"

_GT = re.compile(r"^(?:\.|\d+)(?:[/|](?:\.|\d+))*$")
_RSID = re.compile(r"^rs\d+$")
#: REF: bases (IUPAC nucleotide codes, which some references hold, included).
_REF = re.compile(r"[ACGTNRYKMSWBDHV]+", re.I)
#: One ALT allele: bases, ``*`` (a deleted allele), a symbolic ``<ID>``, a single breakend
#: (``.A``, ``A.``) or a breakend with its mate (``G]17:198982]``, ``]13:123456]T``).
_ALT = re.compile(
    r"[ACGTNRYKMSWBDHV]+|\*|<[^<>\s]+>|\.[ACGTN]+|[ACGTN]+\."
    r"|[ACGTN]*[\[\]][^\[\]\s]+[\[\]][ACGTN]*",
    re.I,
)
_SUFFIXES = (".vcf", ".vcf.gz", ".vcf.bgz")
#: Characters read at a time while skipping the rest of an over-long line.
_SKIP_CHUNK = 1 << 20
#: Characters of an over-long line kept as its quarantined raw text.
_RAW_CHARS = 2000


@dataclass(frozen=True)
class Site:
    """One configured variant site.

    Parameters
    ----------
    gene : str
        HGNC gene symbol.
    rsid : str
        dbSNP identifier, e.g. ``"rs1799853"``.
    chrom : str
        Contig without a ``chr`` prefix, e.g. ``"10"``.
    pos : int
        1-based GRCh38 position.
    ref, alt : str
        Reference and alternate allele (forward strand).
    allele : str
        Star allele defined by ``alt`` (e.g. ``"*2"``), or ``""``.
    effect : str
        Free-text effect, e.g. ``"c.430C>T p.Arg144Cys"``.
    """

    gene: str
    rsid: str
    chrom: str
    pos: int
    ref: str
    alt: str
    allele: str = ""
    effect: str = ""


def load_sites(path: str | Path | None = None) -> tuple[Site, ...]:
    """Read a site table (CSV with ``gene,rsid,chrom,pos,ref,alt[,allele,effect]``).

    Parameters
    ----------
    path : str or Path, optional
        The CSV; default the shipped ``pgx_sites.csv`` (GRCh38 positions, each verified against
        the PharmCAT GeT-RM VCFs in the project's shared test data).

    Returns
    -------
    tuple of Site
    """
    if path is None:
        text = resources.files("twinlab.ingest").joinpath("pgx_sites.csv").read_text("utf-8")
    else:
        text = Path(path).read_text(encoding="utf-8")
    rows = csv.DictReader(text.splitlines())
    return tuple(
        Site(
            gene=r["gene"].strip(),
            rsid=r["rsid"].strip(),
            chrom=_norm_chrom(r["chrom"].strip()),
            pos=int(r["pos"]),
            ref=r["ref"].strip().upper(),
            alt=r["alt"].strip().upper(),
            allele=(r.get("allele") or "").strip(),
            effect=(r.get("effect") or "").strip(),
        )
        for r in rows
    )


def _resolve_sites(sites: Any) -> tuple[Site, ...] | None:
    """``None`` means every line (``sites="all"``)."""
    if sites is None:
        return load_sites()
    if isinstance(sites, str) and sites == "all":
        return None
    if isinstance(sites, str | Path):
        return load_sites(sites)
    if isinstance(sites, pd.DataFrame):
        records = sites.to_dict("records")
        return tuple(
            Site(
                gene=str(r["gene"]),
                rsid=str(r["rsid"]),
                chrom=_norm_chrom(str(r["chrom"])),
                pos=int(r["pos"]),
                ref=str(r["ref"]).upper(),
                alt=str(r["alt"]).upper(),
                allele="" if pd.isna(r.get("allele")) else str(r.get("allele", "")),
                effect="" if pd.isna(r.get("effect")) else str(r.get("effect", "")),
            )
            for r in records
        )
    return tuple(
        dataclasses.replace(s, chrom=_norm_chrom(s.chrom), ref=s.ref.upper(), alt=s.alt.upper())
        for s in sites
    )


def _norm_chrom(chrom: str) -> str:
    return chrom[3:] if chrom[:3].lower() == "chr" else chrom


def _open(path: Path) -> TextIO:
    with path.open("rb") as fh:
        magic = fh.read(2)
    if magic == b"\x1f\x8b":
        # a member's text once its CRC checks: a corrupt block adds no garbage lines
        return io.TextIOWrapper(
            open_checked_gzip(path), encoding="utf-8-sig", errors="twinlab.mark"
        )
    return path.open("r", encoding="utf-8-sig", errors="twinlab.mark")  # BOM dropped; BAD_BYTE


def sniff_vcf(path: Path) -> bool:
    """Whether ``path`` looks like a VCF (by suffix, or a ``##fileformat=VCF`` first line)."""
    name = path.name.lower()
    if name.endswith(_SUFFIXES):
        return True
    try:
        with _open(path) as fh:
            return fh.readline(64).startswith("##fileformat=VCF")
    except (OSError, EOFError, UnicodeError, zlib.error):
        return False


class _BadLine(Exception):
    def __init__(self, check: str, reason: str) -> None:
        super().__init__(reason)
        self.check = check
        self.reason = reason


def _parse_gt(gt: str, n_alleles: int) -> tuple[list[int | None], bool]:
    """Allele indices (``None`` = missing) and whether the call is phased."""
    if not _GT.match(gt):
        raise ValueError("GT is not a genotype (e.g. 0/1, 1|0, 1, ./.)")
    parts = re.split(r"[/|]", gt)
    idx = [None if p == "." else int(p) for p in parts]
    for i in idx:
        if i is not None and i >= n_alleles:
            raise ValueError(f"GT refers to an allele beyond the line's {n_alleles}")
    return idx, len(parts) > 1 and "/" not in gt


def _zygosity(idx: list[int | None]) -> str | None:
    if any(i is None for i in idx):
        return None
    if len(idx) == 1:
        return "hemizygous"
    return "homozygous" if len(set(idx)) == 1 else "heterozygous"


@dataclass
class _Header:
    samples: list[str]
    n_cols: int
    time: pd.Timestamp
    lineno: int = 0
    #: why the sample columns cannot be used (a sample named twice), else ""
    refused: str = ""
    #: the ``##INFO`` declarations: ID -> (Number, Type)
    info: dict[str, tuple[str, str]] = dataclasses.field(default_factory=dict)


def _read_header_line(line: str, lineno: int = 0) -> _Header:
    cols = line.rstrip().split("\t")  # a trailing tab is a common defect: no empty sample
    names = [s.strip() or f"sample{i + 1}" for i, s in enumerate(cols[9:])]
    first: dict[str, int] = {}
    refused = ""
    for column, s in enumerate(names, start=10):
        if s in first:  # invalid VCF (bcftools refuses it): whose genotypes are whose?
            refused = (f"the #CHROM line (line {lineno}) names one sample in columns "
                       f"{first[s]} and {column}: the genotypes of the two cannot be told "
                       "apart (invalid VCF; bcftools refuses it too)")  # fmt: skip
            break
        first[s] = column
    n_cols = 9 + len(names) if len(cols) > 8 else 8
    return _Header(names, n_cols, pd.NaT, lineno, refused)


#: Longest ``##fileDate`` value parsed: a date, even ISO with time and offset, is shorter (and
#: the date parser's time grows with the square of the text's length).
_MAX_DATE_CHARS = 40


_INFO_DECL = re.compile(r"^##INFO=<(.*)>\s*$")
_INFO_KEY = re.compile(r"^(?:[A-Za-z_][0-9A-Za-z_.]*|1000G)$")


def _info_declaration(line: str) -> dict[str, tuple[str, str]]:
    """``{ID: (Number, Type)}`` of one ``##INFO=<...>`` header line; ``{}`` when it does not
    declare both (such a key is then checked for its syntax only)."""
    m = _INFO_DECL.match(line.rstrip("\r\n"))
    if m is None:
        return {}
    fields = dict(part.split("=", 1) for part in re.findall(r'(\w+=(?:"[^"]*"|[^,]*))', m.group(1)))
    ident, number, kind = fields.get("ID"), fields.get("Number"), fields.get("Type")
    if not ident or number is None or kind is None:
        return {}
    return {ident: (number, kind)}


def _check_info(info: str, declared: dict[str, tuple[str, str]], n_alt: int) -> None:
    """Check a data line's INFO column against VCF syntax and its ``##INFO`` declarations.

    Raises
    ------
    _BadLine
        ``vcf.info`` for an entry that is not ``KEY`` or ``KEY=VALUE`` (no key, an invalid
        key, a second ``=``), or a declared key whose values break its Number (count;
        ``A`` = one per ALT, ``R`` = one per allele) or Type (Integer, Float: an empty value
        is none; Flag: no value). The reason names the key and the rule, never the value.
    """
    if info == ".":
        return
    for number, entry in enumerate(info.split(";"), start=1):
        if not entry:  # a trailing or doubled ';': tolerated, as htslib does
            continue
        key, eq, value = entry.partition("=")
        if not _INFO_KEY.match(key):
            why = f"INFO entry {number} has no valid key (KEY or KEY=VALUE)"
            raise _BadLine("vcf.info", why)
        if "=" in value:
            raise _BadLine("vcf.info", f"INFO field {key}: the value holds a second '='")
        if key in declared:
            _check_declared(key, value if eq else None, *declared[key], n_alt)


_INFO_TYPES = {
    "Integer": re.compile(r"^[+-]?\d+$"),
    "Float": re.compile(r"^(?:[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|[+-]?(?:inf|nan))$", re.I),
}  # Character and String: any text (annotators declare Character for words; htslib reads them)


def _check_declared(key: str, value: str | None, number: str, kind: str, n_alt: int) -> None:
    """Check one INFO value against its declared ``Number`` and ``Type``."""
    if kind == "Flag":
        if value is not None:
            raise _BadLine("vcf.info", f"INFO field {key}: declared a Flag, but given a value")
        return
    if value is None:
        if number == "0":
            return
        raise _BadLine("vcf.info", f"INFO field {key}: declared Type={kind}, but no value")
    values = value.split(",")
    expected = {"A": n_alt, "R": n_alt + 1}.get(number, int(number) if number.isdigit() else -1)
    if expected >= 0 and len(values) != expected:
        why = f"INFO field {key}: {len(values)} values, the header declares Number={number}"
        if number in ("A", "R"):
            why += f" ({expected} for this line)"
        raise _BadLine("vcf.info", why)
    pattern = _INFO_TYPES.get(kind)
    if pattern is not None and not all(v == "." or pattern.match(v) for v in values):
        raise _BadLine("vcf.info", f"INFO field {key}: a value is not of the declared Type={kind}")


def _file_date(line: str) -> pd.Timestamp:
    """The ``##fileDate`` of ``line`` in UTC, or NaT when it is not a date of care.

    Parameters
    ----------
    line : str
        The ``##fileDate=...`` header line.

    Returns
    -------
    pandas.Timestamp
        UTC timestamp; NaT for a value that is too long, unreadable, or outside the years
        :data:`~twinlab.ingest.base.FIRST_YEAR` to :data:`~twinlab.ingest.base.LAST_YEAR`
        (a placeholder such as ``99991231``).
    """
    value = line.split("=", 1)[1].strip()
    if len(value) > _MAX_DATE_CHARS:
        return pd.NaT
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError, OverflowError):
        return pd.NaT
    if pd.isna(ts) or not FIRST_YEAR <= ts.year <= LAST_YEAR:
        return pd.NaT
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def _lines(fh: TextIO, limit: int) -> Iterator[tuple[int, str, bool]]:
    """``(line number, line, too long)`` per line of ``fh``, never holding more than ``limit``
    characters of one line.

    A line longer than ``limit`` (its line ending not counted) is given as its first
    ``limit`` characters with ``too long`` set; the rest of it is read and dropped in chunks,
    so that a multi-gigabyte line costs one record, not the memory to hold it.
    """
    lineno = 0
    while True:
        line = fh.readline(limit + 1)
        if not line:
            return
        lineno += 1
        if len(line.rstrip("\r\n")) <= limit:
            yield lineno, line, False
            continue
        tail = line
        while tail and not tail.endswith("\n"):  # skip to the end of the over-long line
            tail = fh.readline(_SKIP_CHUNK)
        yield lineno, line[:limit], True


@register(
    "vcf",
    sniff=sniff_vcf,
    description="VCF 4.x (plain or bgzipped): genotypes at pharmacogenomic sites",
)
def read_vcf(path: str | Path, *, sites: Iterable[Site] | pd.DataFrame | str | Path | None = None
             ) -> ReadResult:  # fmt: skip
    """Read the genotypes of every sample at the configured sites of one VCF.

    Parameters
    ----------
    path : str or Path
        A ``.vcf``, ``.vcf.gz`` or ``.vcf.bgz`` file (gzip is recognised by its magic bytes).
    sites : iterable of Site, DataFrame, path, "all" or None
        Sites to genotype: ``None`` uses the shipped :func:`load_sites` table; a path or a
        DataFrame is a site table; ``"all"`` makes an event of every line and sample (for small
        files only: one event per line × sample).

    Returns
    -------
    ReadResult
        ``events`` (domain ``genomic_variant``, one per matched site and sample, rsID as
        ``code``, genotype as alleles in ``value_text``), ``persons`` (one per sample) and
        ``quarantine`` (malformed data lines; a line longer than
        :func:`~twinlab.ingest.limits.max_line_chars`, header or data, is one record
        ``vcf.line_length`` and is never held whole in memory; an empty file, or one with neither
        a ``#CHROM`` line nor data lines, is one record quarantined as ``vcf.empty``).

    Notes
    -----
    Contigs match with or without a ``chr`` prefix. A site matches a line with its position,
    its REF, and its ALT among the line's ALT alleles (or ALT ``.``: a reference-only line).
    Genotype indices map to ``[REF, *ALT]``, so multi-allelic lines are decoded correctly.
    A fully missing call gives an event with ``value_text`` ``None`` and ``no_call: true``.
    ``time`` is the ``##fileDate`` (UTC midnight) or NaT: germline genotypes are not dated.

    Examples
    --------
    >>> res = read_vcf("genotypes.vcf")  # doctest: +SKIP
    >>> res.events[["source_patient", "code", "value_text"]]  # doctest: +SKIP
    """
    path = Path(path)
    site_list = _resolve_sites(sites)
    index: dict[tuple[str, int], list[Site]] = {}
    for s in site_list or ():
        index.setdefault((s.chrom, s.pos), []).append(s)
    events: list[dict[str, Any]] = []
    quarantine: list[dict[str, str]] = []
    records_in = 0
    duplicates = 0
    previous: str | None = None  # the last accepted data line
    read_in_full: set[str] = set()  # accepted lines at configured sites (they make events)
    header: _Header | None = None
    file_time: pd.Timestamp = pd.NaT
    chrom_cache: dict[str, str] = {}
    refused_line = ""
    data_seen = False
    limit = max_line_chars()
    long_header = 0  # line number of a #CHROM line over the limit
    info_defs: dict[str, tuple[str, str]] = {}
    try:
        with _open(path) as fh:
            for lineno, line, too_long in _lines(fh, limit):
                if too_long:  # one record, whatever it was: its end was never read
                    records_in += 1
                    why = (f"line longer than {limit:,} characters (raise TWINLAB_MAX_LINE_CHARS "
                           "if the file is genuine)")  # fmt: skip
                    raw = line[:_RAW_CHARS]
                    quarantine.append(quarantine_row(f"L{lineno}", "vcf.line_length", why, raw))
                    previous = None
                    if line.startswith("#CHROM") and header is None:
                        long_header = lineno
                    continue
                if line.startswith("#"):
                    if data_seen and not line.startswith("#CHROM"):  # headers come first
                        records_in += 1
                        why = "a header line after the data lines (a data line's first byte lost?)"
                        text = line.rstrip("\r\n")
                        quarantine.append(quarantine_row(f"L{lineno}", "vcf.header", why, text))
                    elif line.startswith("##fileDate="):
                        file_time = _file_date(line)
                    elif line.startswith("##INFO=<"):
                        info_defs.update(_info_declaration(line))
                    elif line.startswith("#CHROM") and header is None:
                        header = _read_header_line(line, lineno)
                        header.info = info_defs
                        if header.refused:
                            refused_line = line.rstrip("\r\n")
                            break
                    elif line.startswith("#CHROM"):  # which line names the samples?
                        records_in += 1
                        why = (f"a second #CHROM header line: the samples are those of line "
                               f"{header.lineno}")  # fmt: skip
                        text = line.rstrip("\r\n")
                        quarantine.append(quarantine_row(f"L{lineno}", "vcf.header", why, text))
                    continue
                if not line.strip():
                    continue
                records_in += 1
                data_seen = header is not None  # data lines before #CHROM are reported alone
                text = line.rstrip("\r\n")
                if holds_bad_bytes(text):
                    why = "line holds bytes that are not text (not UTF-8, or NUL)"
                    quarantine.append(quarantine_row(f"L{lineno}", "vcf.encoding", why, text))
                    continue
                if header is None:
                    why = "data line before any #CHROM header line: sample columns unknown"
                    if long_header:
                        why += f" (the #CHROM line, line {long_header}, is over the length limit)"
                    quarantine.append(quarantine_row(f"L{lineno}", "vcf.header", why, text))
                    continue
                if text == previous or text in read_in_full:
                    duplicates += 1  # an exact copy of an accepted line: read once, declared
                    continue
                try:
                    full = _read_line(
                        text, lineno, header, index, site_list is None, chrom_cache, file_time,
                        events,
                    )  # fmt: skip
                except _BadLine as bad:
                    quarantine.append(quarantine_row(f"L{lineno}", bad.check, bad.reason, text))
                    previous = None
                    continue
                previous = text
                if full:
                    read_in_full.add(text)
    except (OSError, EOFError, zlib.error) as exc:
        if unverified_bytes(exc):  # lines were read from a gzip member that failed its check
            why = f"file unreadable: {stream_damage(exc)} (a plain gzip, not BGZF: no line kept)"
            whole = frame(QUARANTINE_COLUMNS, [quarantine_row("L1+", "vcf.io", why, "")])
            return ReadResult(str(path), "vcf", records_in=1, records_accepted=0, quarantine=whole)
        records_in += 1
        why = stream_damage(exc) if isinstance(exc, (EOFError, zlib.error)) else ""
        quarantine.append(
            quarantine_row(
                f"L{records_in}+",
                "vcf.io",
                f"file unreadable from here on ({type(exc).__name__}{': ' + why if why else ''})",
                "",
            )
        )
    if (
        header is not None
        and len(quarantine) == records_in >= 2
        and all(q["check"] == "vcf.columns" for q in quarantine)
    ):  # every line disagrees with the #CHROM line: the header is the fault (a sample too many)
        why = (
            f"every data line has another number of columns than the #CHROM line's "
            f"{header.n_cols}: the header does not describe the file, no line can be read"
        )
        q = quarantine_row(f"L{header.lineno}", "vcf.header", why, "")
        whole = frame(QUARANTINE_COLUMNS, [q])
        return ReadResult(str(path), "vcf", records_in=1, records_accepted=0, quarantine=whole)
    if header is not None and header.refused:  # the whole file: no line can be read
        q = quarantine_row(f"L{header.lineno}", "vcf.header", header.refused, refused_line)
        whole = frame(QUARANTINE_COLUMNS, [q])
        return ReadResult(str(path), "vcf", records_in=1, records_accepted=0, quarantine=whole)
    if header is None and records_in == 0:
        # nothing read and no #CHROM line: an empty (or empty after decompression) file is a
        # lost file, never "0 records" with no reason
        try:
            size = path.stat().st_size
        except OSError:
            size = -1
        records_in = 1
        reason = (
            "empty file: 0 bytes"
            if size == 0
            else "no #CHROM header line and no data lines: empty after decompression or not a VCF"
        )
        quarantine.append(quarantine_row("L0", "vcf.empty", reason, ""))
    samples = header.samples if header else []
    persons = frame(
        PERSON_COLUMNS,
        [
            {
                "source_patient": s,
                "identifiers": [("vcf_sample", s)],
                "sex": "U",
                "birth_date": None,
                "deceased": None,
                "site": None,
                "phi": {},
            }
            for s in samples
        ],
    )
    ev = frame(EVENT_COLUMNS, events)
    ev["time"] = pd.to_datetime(ev["time"], utc=True).astype("datetime64[us, UTC]")
    ev["end_time"] = pd.Series(pd.NaT, index=ev.index, dtype="datetime64[us, UTC]")
    ev["value_num"] = ev["value_num"].astype("float64")
    return ReadResult(
        source_file=str(path),
        format="vcf",
        records_in=records_in,
        records_accepted=records_in - len(quarantine) - duplicates,
        duplicates=duplicates,
        events=ev,
        persons=persons,
        quarantine=frame(QUARANTINE_COLUMNS, quarantine),
    )


def _read_line(
    text: str,
    lineno: int,
    header: _Header,
    index: dict[tuple[str, int], list[Site]],
    all_sites: bool,
    chrom_cache: dict[str, str],
    file_time: pd.Timestamp,
    events: list[dict[str, Any]],
) -> bool:
    """Check one data line and add its events; whether it was read in full (a matched site)."""
    n_cols = text.count("\t") + 1
    if n_cols != header.n_cols:
        raise _BadLine(
            "vcf.columns", f"{n_cols} tab-separated columns, the header declares {header.n_cols}"
        )
    head = text.split("\t", 8)
    chrom, pos_text, vid, ref, alt = head[:5]
    if not pos_text.isdigit():
        raise _BadLine("vcf.pos", "POS is not a positive integer")
    _check_alleles(ref, alt)
    if len(head) > 7:
        _check_info(head[7], header.info, alt.count(",") + 1 if alt != "." else 0)
    pos = int(pos_text)
    norm = chrom_cache.get(chrom)
    if norm is None:
        norm = chrom_cache[chrom] = _norm_chrom(chrom)
    ref_u, alts = ref.upper(), alt.upper().split(",")
    if all_sites:
        matched = [
            Site(gene="", rsid=vid, chrom=norm, pos=pos, ref=ref_u, alt=a) for a in alts if a != "."
        ] or [Site(gene="", rsid=vid, chrom=norm, pos=pos, ref=ref_u, alt=".")]
    else:
        candidates = index.get((norm, pos))
        if not candidates:
            return False
        matched = [s for s in candidates if s.ref == ref_u and (s.alt in alts or alts == ["."])]
        if not matched:
            return False
    if header.n_cols <= 8:
        return False  # sites-only VCF: nothing to genotype
    cols = text.split("\t")
    fmt = cols[8].split(":")
    if "GT" not in fmt:
        raise _BadLine("vcf.gt", "FORMAT has no GT field")
    gt_at = fmt.index("GT")
    alleles = [ref, *alt.split(",")] if alt != "." else [ref]
    calls = []
    for column, (sample, field) in enumerate(zip(header.samples, cols[9:], strict=True), 10):
        values = field.split(":")
        if len(values) > len(fmt):  # which value is which key cannot be told
            raise _BadLine(
                "vcf.format",
                f"column {column}: {len(values)} sample fields, FORMAT declares {len(fmt)}",
            )
        gt = values[gt_at] if gt_at < len(values) else "."
        try:
            calls.append((sample, column, *_parse_gt(gt, len(alleles))))
        except ValueError as exc:  # the column, not the sample name: names can identify
            raise _BadLine("vcf.gt", f"column {column}: {exc}") from None
    for site in matched:
        if all_sites:
            code, system = (
                (vid, DBSNP)
                if _RSID.match(vid)
                else (f"{norm}:{pos}:{ref}:{site.alt}", LOCUS_SYSTEM)
            )
        else:
            code, system = site.rsid, DBSNP
        for sample, column, idx, phased in calls:
            events.append(
                _event(site, code, system, (sample, column), idx, phased, alleles, chrom, pos,
                       lineno, file_time)
            )  # fmt: skip
    return True


def _check_alleles(ref: str, alt: str) -> None:
    """Refuse a line whose REF is not bases or whose ALT holds an allele no VCF allows.

    A REF of other letters (a shifted column, a typing error) cannot be matched to any site and
    would be accepted without a word; it is quarantined instead (``vcf.allele``), and so is an
    ALT allele that is neither bases, ``*``, a symbolic ``<ID>`` nor a breakend.

    Raises
    ------
    _BadLine
        ``vcf.allele``, naming the column (never the value).

    Examples
    --------
    >>> _check_alleles("TC", "T,<DEL>,*")
    >>> _check_alleles("Z", "C")
    Traceback (most recent call last):
    ...
    twinlab.ingest.vcf._BadLine: REF is not a sequence of bases (A, C, G, T, N or IUPAC codes)
    """
    if not _REF.fullmatch(ref):
        raise _BadLine(
            "vcf.allele", "REF is not a sequence of bases (A, C, G, T, N or IUPAC codes)"
        )
    if alt != "." and not all(_ALT.fullmatch(a) for a in alt.split(",")):
        raise _BadLine(
            "vcf.allele", "an ALT allele is not bases, '*', a symbolic <ID> or a breakend"
        )


def _event(
    site: Site,
    code: str,
    system: str,
    sample_column: tuple[str, int],
    idx: list[int | None],
    phased: bool,
    alleles: list[str],
    chrom: str,
    pos: int,
    lineno: int,
    file_time: pd.Timestamp,
) -> dict[str, Any]:
    sample, column = sample_column
    no_call = all(i is None for i in idx)
    sep = "|" if phased else "/"
    value = None if no_call else sep.join("." if i is None else alleles[i] for i in idx)
    called = [alleles[i].upper() for i in idx if i is not None]
    quals: dict[str, Any] = {
        "zygosity": _zygosity(idx),
        "phased": phased,
        "ploidy": len(idx),
        "alt_count": sum(a == site.alt for a in called),
        "called_alleles": len(called),
        "chrom": chrom,
        "pos": pos,
        "ref": site.ref,
        "alt": site.alt,
    }
    if site.gene:
        quals["gene"] = site.gene
    if site.allele:
        quals["allele"] = site.allele
    if no_call:
        quals["no_call"] = True
    quals = {k: v for k, v in quals.items() if v is not None}
    display = " ".join(p for p in (site.gene, site.allele or site.effect) if p) or None
    return {
        "source_patient": sample,
        "time": file_time,
        "end_time": pd.NaT,
        "domain": "genomic_variant",
        "code_system": system,
        "code": code,
        "display": display,
        "value_num": float("nan"),
        "value_text": value,
        "unit": None,
        "qualifiers": quals,
        "status": "final",
        # the sample's column, not its name: names can identify (as in the quarantine reasons)
        "source_record": f"L{lineno}:{chrom}:{pos}:{site.ref}>{site.alt}/column {column}",
    }


def diplotype(
    calls: pd.DataFrame,
    gene: str,
    *,
    sample: str | None = None,
    sites: Iterable[Site] | None = None,
) -> str | None:
    """A simple star-allele diplotype, e.g. ``"*1/*3"``, from the calls of one sample.

    Each defining site contributes its star allele once per copy of its ALT allele; the
    remaining copies (to two) are ``*1``.

    Parameters
    ----------
    calls : DataFrame
        Events from :func:`read_vcf`.
    gene : str
        Gene symbol, e.g. ``"CYP2C9"``.
    sample : str, optional
        The sample (``source_patient``); required when ``calls`` holds several.
    sites : iterable of Site, optional
        The defining sites; default the shipped table's sites of ``gene`` with a star allele.

    Returns
    -------
    str or None
        ``None`` when a defining site is absent from ``calls``, not fully called, or when the
        sites carry more than two variant alleles in total.

    Raises
    ------
    ValueError
        If ``gene`` has no star-allele site, or ``sample`` is needed and not given.

    Notes
    -----
    Limits: only the configured sites are tested, so any other variant allele is reported as
    ``*1``; alleles defined by several sites (e.g. TPMT ``*3A``) or core alleles shared by
    sub-alleles are not resolved; the method is phase-unaware – two different variant alleles
    are assumed to lie on different chromosomes (``*2/*3``), even if the call is unphased or
    phased *in cis*.
    """
    defining = [s for s in (sites or load_sites()) if s.gene == gene and s.allele]
    if not defining:
        raise ValueError(f"no star-allele site configured for gene {gene!r}")
    df = calls[calls["domain"] == "genomic_variant"]
    if sample is None:
        ids = df["source_patient"].dropna().unique()
        if len(ids) > 1:
            raise ValueError("calls hold several samples: pass sample=")
    else:
        df = df[df["source_patient"] == sample]
    by_code: dict[str, list[dict[str, Any]]] = {}
    for code, q in zip(df["code"], df["qualifiers"], strict=True):
        by_code.setdefault(code, []).append(q)
    stars: list[str] = []
    for site in defining:
        quals = [q for q in by_code.get(site.rsid, []) if q.get("alt") == site.alt]
        if not quals:
            return None
        counts = {(q.get("alt_count"), q.get("called_alleles"), q.get("ploidy")) for q in quals}
        if len(counts) != 1:
            return None  # the same site called differently on two lines
        alt_count, called, ploidy = counts.pop()
        if called != ploidy or ploidy != 2:
            return None
        stars += [site.allele] * int(alt_count)
    if len(stars) > 2:
        return None
    stars += ["*1"] * (2 - len(stars))
    return "/".join(sorted(stars, key=_star_key))


def _star_key(star: str) -> tuple[int, str]:
    m = re.match(r"\*(\d+)(.*)", star)
    return (int(m.group(1)), m.group(2)) if m else (10**6, star)
