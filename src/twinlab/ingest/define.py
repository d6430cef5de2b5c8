"""The study's declared terminology from a CDISC Define-XML (``define.xml``) beside SDTM data.

A real SDTM submission ships a ``define.xml`` (Define-XML 1.0 / 2.x, an ODM extension) next
to its datasets: its ``CodeList`` elements (``CodeListItem`` with a ``Decode`` text, or
``EnumeratedItem``) are the study's controlled terms, and each dataset variable's ``ItemDef``
names the codelist of its values (``CodeListRef``). :func:`study_vocabulary` turns the
define.xml of every SDTM folder among a run's sources into entries of the coded-concept
vocabulary (:mod:`twinlab.deid.vocabulary`), so that the de-identification keeps the study's
own terms verbatim (a display such as ``XANOMELINE`` or ``Systolic Blood Pressure``), which the
clinical engine's catch-all would otherwise remove.

Which variables a codelist may keep: only a dataset variable (an ``ItemDef`` that an
``ItemGroupDef`` lists; value-level definitions are not used) whose ``CodeListRef`` points to
it, and only a variable whose value the SDTM reader publishes as a coded event
(:data:`CODED_VARIABLES`):

* ``--TESTCD`` (code) and its decode (the ``--TEST`` display): ``(CDISC SDTM --TESTCD, code,
  decode)``;
* ``--DECOD`` and ``EXTRT`` / ``ECTRT`` (the value is both code and display):
  ``(CDISC SDTM <variable>, term, term)``; the terms of the ``EXTRT`` / ``ECTRT`` codelist also
  name the study's products (:data:`PRODUCT_VARIABLES`), kept as a display whatever its code
  (an analyte ``PCTEST`` named after the study drug), like ``harmonize.products``.

A codelist on any other variable is not used (reported under ``skipped``): free text such as
``--TERM`` verbatim terms, ``CMTRT``, ``COVAL`` or ``--ORRES`` is scrubbed whatever a
define.xml says; visits, arms, categories and the like are qualifiers, which lose known
identifiers and patterns only anyway.

Every term is checked like a declared entry (:func:`twinlab.deid.vocabulary.check_display`): a
term in which any Safe Harbor pattern fires (a date, a telephone number, an e-mail address...)
or, for a product, a person's name, is refused with a one-line reason (logged, and listed in
the run's report without the term) and stays scrubbed as free text.

Parsing uses :func:`defusedxml.ElementTree.parse` with DTDs, entity declarations and external
references forbidden (XXE, "billion laughs"), like :mod:`twinlab.ingest.odm`, on at most
:data:`MAX_DEFINE_BYTES` bytes. A define.xml that is not well-formed XML, that the safe parser
refuses, or that declares no codelist is reported in one line and skipped: the run goes on
without its terms (the file is still read, and counted, as a source by the ODM reader).
"""

from __future__ import annotations

import logging
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import parse as _safe_parse

__all__ = [
    "CODED_VARIABLES",
    "MAX_DEFINE_BYTES",
    "PRODUCT_VARIABLES",
    "DefineTerms",
    "define_files",
    "is_define_name",
    "read_define",
    "study_vocabulary",
]

log = logging.getLogger(__name__)

#: The largest define.xml read (real ones are a few MB).
MAX_DEFINE_BYTES = 64 * 2**20
#: Dataset variables whose codelist terms may be kept: a test code (its decode is the test
#: name), a dictionary-coded term, the study treatment.
CODED_VARIABLES = re.compile(r"[A-Z]{2}(TESTCD|DECOD)|EXTRT|ECTRT")
#: Variables whose codelist terms name the study's products (kept as a display whatever code).
PRODUCT_VARIABLES = frozenset({"EXTRT", "ECTRT"})
_SDTM_NAME = re.compile(r"[A-Z][A-Z0-9_]{0,7}")
#: File extensions of SDTM datasets: a define.xml counts beside at least one of them.
_SDTM_SUFFIXES = frozenset({".xpt", ".csv"})


@dataclass
class DefineTerms:
    """The terms one define.xml declares for coded SDTM variables, and what was not used.

    Attributes
    ----------
    path : pathlib.Path
        The define.xml.
    entries : list of (system, code, display)
        Accepted vocabulary entries (system ``CDISC SDTM <variable>``).
    products : list of str
        Accepted product names (terms of the ``EXTRT`` / ``ECTRT`` codelist).
    variables : dict
        Variable -> the OIDs of the codelists that it takes its terms from.
    codelists : int
        Codelists declared in the file.
    refused : list of str
        One line per refused term: where, and why (never the term).
    skipped : dict
        Variable -> the codelist it refers to, not used (a free-text or qualifier variable, or
        a codelist the file does not declare).
    error : str or None
        Why the whole file was skipped (not XML, unsafe XML, no codelist), one line.
    label : str
        The file's ``source_file`` label in the run (:func:`twinlab.ingest.read_sources`).
    """

    path: Path
    entries: list[tuple[str, str, str]] = field(default_factory=list)
    products: list[str] = field(default_factory=list)
    variables: dict[str, list[str]] = field(default_factory=dict)
    codelists: int = 0
    refused: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    label: str = ""

    def summary(self, file_id: str) -> dict[str, Any]:
        """The run report's lineage record (terms counted, not listed, except products).

        Parameters
        ----------
        file_id : str
            The keyed id of the file (its name lives in the raw zone).
        """
        out: dict[str, Any] = {"file": file_id}
        if self.error is not None:
            out["error"] = self.error
            return out
        out.update(
            codelists=self.codelists,
            variables=self.variables,
            entries=len(self.entries),
            products=sorted(set(self.products)),
            refused=self.refused,
            skipped=dict(sorted(self.skipped.items())),
        )
        return out


def _local(tag: Any) -> str:
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


def _oneline(text: Any, limit: int = 80) -> str:
    """An attribute of the file for a message: one line, printable, at most ``limit`` chars."""
    s = re.sub(r"\s+", " ", str(text)).strip()
    s = "".join(c if c.isprintable() else "?" for c in s)
    return s if len(s) <= limit else s[: limit - 3] + "..."


def _text(elem: ET.Element) -> str | None:
    """The (English, else first) ``TranslatedText`` under a ``Decode`` element."""
    texts = [t for t in elem.iter() if _local(t.tag) == "TranslatedText"]
    for t in texts:
        lang = next((v for k, v in t.attrib.items() if _local(k) == "lang"), "")
        if lang.lower().startswith("en") and (t.text or "").strip():
            return t.text
    return next((t.text for t in texts if (t.text or "").strip()), None)


def _parse(path: Path) -> ET.Element:
    """The root element; raises ``ValueError`` with a one-line reason."""
    try:
        size = path.stat().st_size
    except OSError as err:
        raise ValueError(f"cannot read the file ({err.strerror or type(err).__name__})") from None
    if size > MAX_DEFINE_BYTES:
        raise ValueError(f"larger than {MAX_DEFINE_BYTES} bytes ({size})")
    try:
        tree = _safe_parse(str(path), forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as err:
        raise ValueError(
            f"refused by the safe XML parser ({type(err).__name__}: DTDs, entity declarations "
            "and external references are not read)"
        ) from None
    except ET.ParseError as err:
        line = getattr(err, "position", (0, 0))[0]
        raise ValueError(f"not well-formed XML (line {line})") from None
    except (OSError, UnicodeError, ValueError) as err:
        raise ValueError(f"cannot read the file ({type(err).__name__})") from None
    root = tree.getroot()
    if _local(root.tag) != "ODM":
        raise ValueError("not a Define-XML document (its root is not ODM)")
    return root


def read_define(path: str | Path) -> DefineTerms:
    """The terms a define.xml declares for the coded SDTM variables (module docstring).

    Never raises for the file's content: a file that cannot be used has ``error`` set.

    Parameters
    ----------
    path : str or pathlib.Path

    Returns
    -------
    DefineTerms
    """
    from twinlab.deid.vocabulary import check_display

    out = DefineTerms(Path(path))
    try:
        root = _parse(out.path)
    except ValueError as err:
        out.error = f"define.xml skipped: {err}"
        log.warning("%s", out.error)
        return out
    codelists: dict[str, list[tuple[str, str | None]]] = {}
    items: dict[str, tuple[str, str | None]] = {}
    dataset_items: set[str] = set()
    for elem in root.iter():
        tag = _local(elem.tag)
        if tag == "CodeList" and elem.get("OID"):
            terms: list[tuple[str, str | None]] = []
            for item in elem:
                kind = _local(item.tag)
                coded = item.get("CodedValue")
                if kind not in ("CodeListItem", "EnumeratedItem") or not (coded or "").strip():
                    continue  # an item without a code names nothing
                decode = next((d for d in item if _local(d.tag) == "Decode"), None)
                terms.append((str(coded), _text(decode) if decode is not None else None))
            codelists[str(elem.get("OID"))] = terms
        elif tag == "ItemDef" and elem.get("OID"):
            ref = next((c for c in elem if _local(c.tag) == "CodeListRef"), None)
            items[str(elem.get("OID"))] = (
                str(elem.get("Name") or ""),
                ref.get("CodeListOID") if ref is not None else None,
            )
        elif tag == "ItemGroupDef":
            dataset_items.update(str(r.get("ItemOID")) for r in elem if _local(r.tag) == "ItemRef")
    out.codelists = len(codelists)
    said = _oid_names(list(codelists))
    if not codelists:
        out.error = "define.xml skipped: it declares no CodeList"
        log.warning("%s", out.error)
        return out
    used: dict[tuple[str, str], None] = {}
    for oid in sorted(dataset_items):
        name, cl = items.get(oid, ("", None))
        if cl is None or not _SDTM_NAME.fullmatch(name):
            continue
        if cl not in codelists:
            named = _oneline(cl) if _plain_oid(cl) else "an undeclared CodeList"
            out.skipped[name] = f"{named} (not declared)"
        elif not CODED_VARIABLES.fullmatch(name):
            out.skipped.setdefault(name, said[cl])
        else:
            used[(name, cl)] = None
    for name, cl in used:
        out.variables.setdefault(name, []).append(said[cl])
        system = f"CDISC SDTM {name}"
        product = name in PRODUCT_VARIABLES
        for i, (coded, decode) in enumerate(codelists[cl]):
            where = f"define.xml CodeList {said[cl]} item {i + 1}"
            # a test code's display is its decode (the --TEST name), never the code itself
            names = (decode,) if name.endswith("TESTCD") else (coded, decode)
            for display in dict.fromkeys(t for t in names if t and t.strip()):
                try:  # the code itself is checked where it is published (standard_code)
                    text = check_display(display, where=where, product=product)
                except ValueError as err:
                    out.refused.append(str(err))
                    continue
                out.entries.append((system, coded.strip(), text))
                if product:
                    out.products.append(text)
    if out.refused:
        log.warning("define.xml: %d term(s) refused; first: %s", len(out.refused), out.refused[0])
    return out


#: An OID a report may quote: letters, digits and ``._-`` (``CL.AESEV``, ``CL_NY``).
_OID = re.compile(r"[A-Za-z][A-Za-z0-9._-]{0,63}")


def _plain_oid(oid: str) -> bool:
    """Whether a sender's OID may be quoted in the run report and the log: OID-shaped, and
    none of its words (split at ``._-`` and case changes) a person name of the dictionaries
    that is no clinical word. A codelist OID is the sponsor's free name: "CL.MH.Carroway_
    Elspeth" and "CL.MHCAT.Dr Gideon Marchbanks" were published in report.json.

    Examples
    --------
    >>> [_plain_oid(o) for o in ("CL.AESEV", "CL.NY", "C66742", "CL.MH.Carroway_Elspeth")]
    [True, True, True, False]
    """
    from twinlab.deid.vocabulary import is_person_name

    if not _OID.fullmatch(oid):
        return False
    words = re.findall(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+", oid)
    return not any(is_person_name(w) for w in words)


def _oid_names(oids: list[str]) -> dict[str, str]:
    """How the report and the log name each declared codelist: its OID when
    :func:`_plain_oid`, else its place in the file (``CodeList #3``)."""
    return {o: o if _plain_oid(o) else f"CodeList #{i}" for i, o in enumerate(oids, 1)}


def define_files(files: Iterable[str | Path]) -> list[Path]:
    """The define.xml files among the files a run read that lie beside an SDTM dataset it read.

    Parameters
    ----------
    files : iterable of path
        The files the run's ingest read, as it recorded them (``ReadResult.path``): nothing
        is searched for again.

    Returns
    -------
    list of pathlib.Path
        Sorted; a file named ``define*.xml`` (any case) in a folder from which the run read a
        ``.xpt`` or ``.csv`` file.
    """
    read = [Path(f) for f in files]
    with_data = {f.parent for f in read if f.suffix.lower() in _SDTM_SUFFIXES}
    beside = {f for f in read if is_define_name(f.name) and f.parent in with_data}
    return sorted(f for f in beside if f.is_file())  # not a link that leads nowhere


def is_define_name(name: str) -> bool:
    """Whether a file ``name`` (or a label ending in it) is a define.xml's: ``define*.xml``,
    any case."""
    base = name.rsplit("/", 1)[-1].lower()
    return base.startswith("define") and base.endswith(".xml")


def study_vocabulary(
    files: Iterable[tuple[str | Path, str]],
) -> tuple[Any, list[DefineTerms]]:
    """The vocabulary declared by the define.xml files of a run's SDTM folders.

    Parameters
    ----------
    files : iterable of (path, str)
        Each file the run's ingest read and its label (``ReadResult.path`` and
        ``.source_file``, :func:`twinlab.ingest.read_sources`).

    Returns
    -------
    (CodedVocabulary, list of DefineTerms)
        The accepted entries and products of every define.xml, and what each file gave.
    """
    from twinlab.deid.vocabulary import CodedVocabulary

    labels = {Path(path): label for path, label in files}
    read = [read_define(p) for p in define_files(labels)]
    for d in read:
        d.label = labels[d.path]
    entries = [e for d in read for e in d.entries]
    products = [p for d in read for p in d.products]
    return CodedVocabulary(entries, products=products, where="define.xml"), read
