"""Read any mix of source files and folders; small FHIR files in batches.

:func:`read_sources` walks the given paths, picks each file's reader by sniffing
(:func:`twinlab.ingest.base.reader_for`), and reads the files – in this process
or as Dask tasks, a few runs of files per worker. FHIR files are read in batches
(:class:`twinlab.ingest.fhir.FhirBatch`: one table build per batch; per-file
results equal to :func:`read_file`'s, whose frames are cut from the batch tables
only when read). A file no reader accepts, or a
reader that crashes on a file, never stops the batch: the file becomes one
quarantined record saying why.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import logging
import os
import stat
import tempfile
import traceback
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from twinlab.ingest.base import QUARANTINE_COLUMNS, ReadResult, frame, quarantine_row, reader_for
from twinlab.ingest.fhir import FhirBatch
from twinlab.ingest.sdtm import kept_tables, merge_supp_results

__all__ = ["discover", "read_file", "read_files", "read_sources"]

log = logging.getLogger(__name__)

#: File names that are never sources (manifests, checksums, licences, docs).
IGNORED_NAMES = {"manifest.json", "README.md", "LICENSE", "LICENSE.txt", ".gitignore"}
IGNORED_SUFFIXES = {".md", ".txt.license", ".html", ".pdf", ".R", ".Rd", ".py", ".tbi", ".csi"}
_IGNORED_ENDINGS = tuple(IGNORED_SUFFIXES)  # str.endswith: ".txt.license" is no Path.suffix


def discover(paths: Iterable[str | Path], *, exclude: Iterable[str | Path] = ()) -> list[Path]:
    """Every candidate source file under ``paths``, sorted, without duplicates.

    A symbolic link that leads nowhere is a candidate too, so that the file it stood for is
    reported (:func:`read_file` quarantines it as unreadable) rather than skipped in silence;
    so is a special file (named pipe, socket, device: :func:`special_kind`), which
    :func:`read_file` reports as skipped without opening it (a pipe would block the run), and
    so is a folder that cannot be listed, which :func:`read_file` reports as unreadable.
    Files under a folder of ``exclude`` are not candidates: a run's own output folders, when
    they lie inside a source folder, are not read back as sources by the next run. Hidden
    files and folders (named ``.*``) and :data:`IGNORED_NAMES` / :data:`IGNORED_SUFFIXES`
    are not candidates either.

    A symbolic link inside a given folder that leads out of it (to another study's data, to
    ``/etc/passwd``), or to a folder, is never followed: it is a candidate under its own
    name, which :func:`read_file` reports as refused (``ingest.skipped``), so that a link
    planted in a delivery cannot pull files from outside it into the run.

    A folder is listed with :func:`os.scandir`, whose entries say what a regular file, a
    folder or a link is without a ``stat`` call a file: thousands of small files are found
    in milliseconds, before any of them can be read (on the Dask client, before any task).

    Raises
    ------
    FileNotFoundError
        If a given path does not exist.
    """
    found: set[Path] = set()
    skip = [Path(x).resolve() for x in exclude]
    for given in paths:
        path = Path(given)
        if not path.exists():
            raise FileNotFoundError(f"no such file or folder: {path}")
        if path.is_dir():
            if not path.name.startswith(".") or path.name == "..":
                root = path.resolve()
                found.update(_walk(root, root))
            continue
        if path.name.startswith(".") or _ignored(path.name):
            continue
        found.add(path.resolve() if path.is_file() else path.absolute())
    return sorted(f for f in found if not any(f.is_relative_to(x) for x in skip))


def _ignored(name: str) -> bool:
    """Whether a file of this name is never a source (:data:`IGNORED_NAMES`, suffixes)."""
    return name in IGNORED_NAMES or name.endswith(_IGNORED_ENDINGS)


def _walk(folder: Path, root: Path) -> Iterator[Path]:
    """The candidates under ``folder`` (a resolved path) inside the given folder whose
    resolved path is ``root``: regular files, links by :func:`_link_candidate`, special
    files, and folders that cannot be listed; links to folders and hidden entries are not
    walked into. Every path is its folder's resolved path and its own name."""
    try:
        with os.scandir(folder) as it:
            entries = list(it)
    except OSError:  # listed by its parent but not listable (permissions, gone meanwhile)
        yield folder
        return
    for entry in entries:
        name = entry.name
        if name.startswith("."):
            continue
        path = folder / name
        try:
            if entry.is_symlink():
                if not _ignored(name):
                    yield _link_candidate(path, root)
            elif entry.is_dir(follow_symlinks=False):
                yield from _walk(path, root)
            elif not _ignored(name) and (
                entry.is_file(follow_symlinks=False) or special_kind(path) is not None
            ):
                yield path
        except OSError:  # gone between the listing and the look: reported as unreadable
            yield path


def _link_candidate(link: Path, root: Path) -> Path:
    """What stands for a symbolic link found under the folder whose resolved path is
    ``root``: its target's resolved path when that is a regular file inside ``root``, else
    the link's own name, which :func:`read_file` reports (refused when it leads to a folder
    or out of ``root``; unreadable when it leads nowhere or loops; skipped for a special
    file)."""
    try:
        mode = os.stat(link).st_mode
        target = link.resolve()
    except (OSError, RuntimeError):  # leads nowhere, or a loop
        return link
    if stat.S_ISREG(mode) and target.is_relative_to(root):
        return target
    return link


_SPECIAL_KINDS = (
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def special_kind(path: str | Path) -> str | None:
    """What kind of special file ``path`` is (links followed), or ``None`` for any other.

    Examples
    --------
    >>> special_kind("/dev/null"), special_kind("/")
    ('a character device', None)
    """
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return None
    return next((kind for test, kind in _SPECIAL_KINDS if test(mode)), None)


def read_file(path: str | Path, *, label: str | None = None) -> ReadResult:
    """Read one file with its registered reader, never raising for its content.

    Parameters
    ----------
    path
        The source file.
    label
        The name recorded as ``source_file``, a label already (:func:`printable_name`;
        default: the path as given, made one).
    """
    import twinlab.ingest  # noqa: F401 - registers the readers

    path = Path(path)
    name = label if label and _is_utf8(label) else printable_name(label or str(path))
    kind = special_kind(path)
    if kind is not None:  # never opened: a named pipe would block until written to
        return _unreadable(name, "unknown", "ingest.skipped", f"skipped: {kind}, not a file")
    if path.is_symlink() and path.exists():  # discover hands over only links out of a folder
        why = (
            "refused: a symbolic link leading out of the source folder (or to a folder) is "
            "not followed; copy the file in, or name it directly"
        )
        return _unreadable(name, "unknown", "ingest.skipped", why)
    try:
        with path.open("rb"):
            pass
    except OSError as err:  # else each sniff fails and the file "has no reader"
        why = f"cannot read the file: {err.strerror or type(err).__name__}"
        return _unreadable(name, "unknown", "ingest.io", why)
    try:
        before = _fingerprint(path)
    except OSError as err:
        return _unreadable(name, "unknown", "ingest.io", f"cannot read the file: {err.strerror}")
    reader = reader_for(path)
    if reader is None:
        return _unreadable(name, "unknown", "ingest.format", _no_reader(path))
    try:
        with _printable_path(path) as alias:
            result = reader.read(alias)
    except Exception as err:  # a reader bug must not stop the batch
        return _failed(name, reader.format, err)
    result.source_file = name
    result.digest = _digest(path)
    changed = _changed(path, before)
    if changed:
        return _unreadable(name, result.format, "ingest.changed", changed)
    return result


def _fingerprint(path: Path) -> tuple[int, int, int]:
    st = path.stat()
    return st.st_size, st.st_mtime_ns, st.st_ino


def _changed(path: Path, before: tuple[int, int, int]) -> str:
    """Why the file at ``path`` is not the one read (its size, time or inode changed since
    ``before``: written to, cut or replaced during the read), or ``""``."""
    try:
        after = _fingerprint(path)
    except OSError:
        after = (-1, -1, -1)
    if after == before:
        return ""
    what = "grew" if after[0] > before[0] else "shrank" if 0 <= after[0] < before[0] else "changed"
    return (
        f"the file {what} while it was read (size, modification time or inode changed): what "
        "was read may be neither the old file nor the new one; nothing of it is kept, read it "
        "again once it is complete"
    )


@contextlib.contextmanager
def _printable_path(path: Path) -> Iterator[Path]:
    """``path``, or a link to it under a name that is valid UTF-8 (:func:`printable_name`).

    Readers put their file's name into their tables (record pointers, a wearable's subject,
    raw text of a quarantined file); a name with bytes that are not UTF-8 cannot be written
    to Parquet, so the reader is handed a link whose whole path is printable.
    """
    if _is_utf8(str(path)):
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="twinlab-name-") as tmp:
        alias = Path(tmp) / printable_name(path.name)
        alias.symlink_to(path.absolute())
        yield alias


def _is_utf8(name: str) -> bool:
    """Whether ``name`` holds no byte that is not UTF-8 (no lone surrogate)."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _no_reader(path: Path) -> str:
    """Why no reader took ``path``: empty, blank, UTF-16 text, or no known format."""
    try:
        with path.open("rb") as fh:
            head = fh.read(4096)
    except OSError:
        head = b"?"
    if not head:
        return "the file is empty (0 bytes)"
    if not head.strip() and len(head) < 4096:
        return "the file holds only blank space"
    if head.startswith((b"\xff\xfe", b"\xfe\xff")) or _utf16_without_bom(head):
        return "no reader recognizes this file: it is UTF-16 text (readers take UTF-8)"
    if head.startswith(b"\x1f\x8b"):
        return (
            "no reader recognizes this file: it is gzip-compressed (only VCF and wearable "
            "exports are read compressed: decompress it)"
        )
    return "no reader recognizes this file"


def _utf16_without_bom(head: bytes) -> bool:
    """Whether ``head`` reads as UTF-16 text without a byte-order mark.

    Text in the Latin range is one NUL byte and one ASCII byte per character in UTF-16: one
    lane of the bytes (odd ones in little-endian, even ones in big-endian) is then mostly NUL
    and the other almost never. Binary data and UTF-8 text do not look so.

    Parameters
    ----------
    head : bytes
        The first bytes of the file.

    Examples
    --------
    >>> _utf16_without_bom("STUDYID,DOMAIN\\n".encode("utf-16-le"))
    True
    >>> _utf16_without_bom(b"STUDYID,DOMAIN\\n"), _utf16_without_bom(b"\\x00\\x01\\x02")
    (False, False)
    """
    if len(head) < 16:
        return False
    lanes = (head[0::2], head[1::2])
    share = [lane.count(0) / len(lane) for lane in lanes]
    return max(share) >= 0.5 and min(share) < 0.1


def _failed(name: str, fmt: str, err: Exception) -> ReadResult:
    """The one quarantined record of a file its reader crashed on."""
    # no file name, no message: both can carry patient names; the quarantine row's raw
    # text (encrypted in the raw zone) keeps them for `twinlab lineage`
    log.warning("the %s reader failed on a file (%s)", fmt, type(err).__name__)
    reason = f"the {fmt} reader failed: {type(err).__name__}"
    detail = traceback.format_exception_only(type(err), err)[-1].strip()
    return _unreadable(name, fmt, "ingest.reader", reason, detail)


#: Readers that read many files in one call (one table build per batch), by format: a class
#: built from the paths whose ``results()`` gives each path's ReadResult or exception, and the
#: most files and bytes of input a batch holds.
BATCH_READERS: dict[str, Any] = {"fhir": FhirBatch}
BATCH_FILES = 512
BATCH_BYTES = 32 * 2**20


def read_files(pairs: Sequence[tuple[Path, str]]) -> list[ReadResult]:
    """Read ``(path, label)`` pairs, in order; small files of a batch-capable format together;
    each result records its ``path``.

    Consecutive files of a format in :data:`BATCH_READERS` are read in batches (at most
    :data:`BATCH_FILES` files and :data:`BATCH_BYTES` bytes) that build one table per batch;
    the results are those of :func:`read_file` on each file, a reader crash on one file still
    quarantining that file alone; SUPP-- qualifiers are merged into their parent SDTM
    domains of the same folder among ``pairs``, from the tables read here.
    """
    return _unpack(_read_packed(pairs))


def _read_packed(pairs: Sequence[tuple[Path, str]]) -> list[Any]:
    """:func:`read_files` before its batches are cut into per-file results: ReadResults and
    ``(format, batch, labels)`` items, cheap to ship from a Dask worker (a few tables a batch).

    The SDTM results are returned with the SUPP-- qualifiers of each folder merged
    (:func:`twinlab.ingest.sdtm.merge_supp_results`), from the tables this call loaded: the
    folder's files are read once, in the task that reads them (:func:`_units` keeps a
    folder's SDTM files in one task).
    """
    # The cyclic GC paused for the whole call, not per batch: a collection between batches
    # would walk every result read so far (acyclic tables of Python objects), again and again.
    paused = gc.isenabled()
    gc.disable()
    try:
        with kept_tables() as tables:
            return _merged(_read_all(pairs), tables)
    finally:
        if paused:
            gc.enable()


def _merged(items: list[Any], tables: dict[str, Any]) -> list[Any]:
    """``items`` with the SUPP-- qualifiers of their SDTM results merged (``tables``: the
    tables already loaded, by path)."""
    at = [i for i, item in enumerate(items) if isinstance(item, ReadResult)]
    merged = merge_supp_results([items[i] for i in at], tables)
    out = list(items)
    for i, result in zip(at, merged, strict=True):
        out[i] = result
    return out


def _read_all(pairs: Sequence[tuple[Path, str]]) -> list[Any]:
    import twinlab.ingest  # noqa: F401 - registers the readers

    out: list[Any] = []
    batch: list[tuple[Path, str]] = []
    size, fmt = 0, ""

    def flush() -> None:
        nonlocal size
        if batch:
            before = {}
            for p, _ in batch:
                with contextlib.suppress(OSError):
                    before[p] = _fingerprint(p)
            read = BATCH_READERS[fmt]([p for p, _ in batch])
            changed = {p: _changed(p, before.get(p, (-1, -1, -1))) for p, _ in batch}
            out.append((fmt, read, list(batch), {p: why for p, why in changed.items() if why}))
            batch.clear()
            size = 0

    for path, label in pairs:
        # a special file is never sniffed (opening a named pipe blocks): read_file skips it;
        # a link is one out of its folder (discover): read_file refuses it
        unusual = special_kind(path) is not None or path.is_symlink()
        reader = None if unusual else reader_for(path)
        if reader is None or reader.format not in BATCH_READERS or not _is_utf8(str(path)):
            flush()
            out.append(_recorded(read_file(path, label=label), path))
            continue
        try:
            nbytes = path.stat().st_size
        except OSError:
            nbytes = 0
        if batch and (
            reader.format != fmt or len(batch) >= BATCH_FILES or size + nbytes > BATCH_BYTES
        ):
            flush()
        fmt = reader.format
        batch.append((path, label))
        size += nbytes
    flush()
    return out


def _unpack(items: list[Any]) -> list[ReadResult]:
    out: list[ReadResult] = []
    for item in items:
        if isinstance(item, ReadResult):
            out.append(item)
            continue
        fmt, read, pairs, changed = item
        for (path, label), result in zip(pairs, read.results(), strict=True):
            if path in changed:
                result = _unreadable(label, fmt, "ingest.changed", changed[path])
            elif isinstance(result, Exception):
                result = _failed(label, fmt, result)
            else:
                result.source_file = label
            out.append(_recorded(result, path))
    return out


def _recorded(result: ReadResult, path: Path) -> ReadResult:
    """``result`` with the file it was read from recorded (``ReadResult.path``)."""
    result.path = str(path)
    return result


def _digest(path: Path) -> str:
    """SHA-256 of the file's bytes, or ``""`` when it cannot be read again."""
    try:
        with path.open("rb") as fh:
            return hashlib.file_digest(fh, "sha256").hexdigest()
    except OSError:
        return ""


def _unreadable(name: str, fmt: str, check: str, reason: str, detail: str = "") -> ReadResult:
    row = quarantine_row("file", check, reason, {"file": name, "detail": detail})
    return ReadResult(
        source_file=name,
        format=fmt,
        records_in=1,
        records_accepted=0,
        quarantine=frame(QUARANTINE_COLUMNS, [row]),
    )


def read_sources(
    paths: Sequence[str | Path],
    *,
    client: Any = None,
    root: str | Path | None = None,
    exclude: Sequence[str | Path] = (),
) -> list[ReadResult]:
    """Read every source file under ``paths``.

    Parameters
    ----------
    paths
        Files and folders, in any mix of supported formats.
    client
        A :class:`distributed.Client` to read files as parallel tasks (about
        four batches of files per worker, in sorted order); files are read in
        this process when omitted.
    root
        Folder that ``source_file`` labels are made relative to (default: the
        common parent of ``paths``).
    exclude
        Folders whose files are not read (:func:`discover`), e.g. the run's own outputs.

    Returns
    -------
    list of ReadResult
        One per file, in sorted path order (the same whatever the workers); each records
        the file it read (``path``) and its label (``source_file``). SUPP-- qualifiers are
        merged into their parent SDTM domain of the same folder
        (:func:`twinlab.ingest.sdtm.merge_supp_results`) by the task that reads the folder,
        from the tables it loaded: no file is read twice, none on the client.
    """
    files = discover(paths, exclude=exclude)
    base = Path(root).resolve() if root is not None else _common_parent(paths)
    labels = [_label(f, base) for f in files]
    pairs = list(zip(files, labels, strict=True))
    if client is None:
        return read_files(pairs)
    # A task per file costs more than reading a small bundle: a few batches per worker.
    workers = max(1, len(client.scheduler_info().get("workers", {})))
    size = max(1, -(-len(pairs) // (workers * 4)))
    futures = client.map(_read_packed, _batches(_units(pairs), size), pure=False)
    results = [result for items in client.gather(futures) for result in _unpack(items)]
    order = {str(path): k for k, path in enumerate(files)}
    return sorted(results, key=lambda r: order[r.path])


#: Suffixes of the files that may be SDTM domains: a folder's such files are read by one task.
SDTM_SUFFIXES = {".xpt", ".csv"}


def _units(pairs: Sequence[tuple[Path, str]]) -> list[list[tuple[Path, str]]]:
    """``pairs`` in groups that one task must read together: the possible SDTM files of a
    folder holding a SUPP-- dataset (named ``supp*``, as SDTM names them; its parent domains
    are merged in the task), every other file alone; in the order of each group's first file.

    A folder of many CSV files and no SUPP-- dataset (wearable exports) stays spread over
    the tasks.
    """
    with_supp = {
        p.parent
        for p, _ in pairs
        if p.suffix.lower() in SDTM_SUFFIXES and p.name.lower().startswith("supp")
    }
    units: list[list[tuple[Path, str]]] = []
    folders: dict[Path, list[tuple[Path, str]]] = {}
    for path, label in pairs:
        if path.suffix.lower() not in SDTM_SUFFIXES or path.parent not in with_supp:
            units.append([(path, label)])
        elif path.parent in folders:
            folders[path.parent].append((path, label))
        else:
            folders[path.parent] = [(path, label)]
            units.append(folders[path.parent])
    return units


def _batches(units: list[list[tuple[Path, str]]], size: int) -> list[list[tuple[Path, str]]]:
    """``units`` packed in order into batches of about ``size`` files, no unit split."""
    batches: list[list[tuple[Path, str]]] = []
    for unit in units:
        if batches and len(batches[-1]) + len(unit) <= size:
            batches[-1].extend(unit)
        else:
            batches.append(list(unit))
    return batches


def _common_parent(paths: Sequence[str | Path]) -> Path:
    resolved = [Path(p).resolve() for p in paths]
    parents = [p if p.is_dir() else p.parent for p in resolved]
    common = parents[0]
    for p in parents[1:]:
        while common not in (p, *p.parents):
            common = common.parent
    return common


def _label(file: Path, base: Path) -> str:
    try:
        return printable_name(file.relative_to(base).as_posix())
    except ValueError:
        return printable_name(file.as_posix())


def printable_name(name: str) -> str:
    """``name`` as valid UTF-8 text that names one file only: each byte of a file name that
    is not UTF-8 as ``\\xNN``, each backslash doubled (``\\\\``).

    Python decodes such bytes to lone surrogates (PEP 383), which no Parquet or JSON output
    can hold: one file named in Latin-1 on a UTF-8 system stopped the whole run. Backslashes
    are doubled so that a name holding ``\\xe9`` as text is not taken for the byte: the label
    is reversible (:func:`twinlab.harmonize.lineage.source_file` reads it back).

    Examples
    --------
    >>> printable_name("caf\\udce9.csv"), printable_name("caf\\\\xe9.csv")
    ('caf\\\\xe9.csv', 'caf\\\\\\\\xe9.csv')
    >>> printable_name("café.csv")
    'café.csv'
    """
    if "\\" not in name and _is_utf8(name):
        return name
    raw = name.encode("utf-8", "surrogateescape").replace(b"\\", b"\\\\")
    return raw.decode("utf-8", "backslashreplace")
