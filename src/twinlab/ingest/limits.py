"""Bounded reading of source files: decompression-bomb and line-length limits.

A source file is read through :func:`read_bounded`, which streams gzip (and BGZF, a series
of gzip members) in chunks and stops as soon as the decompressed size passes a limit, so a
16 KB file that would expand to gigabytes costs at most the limit in memory. Text is split into
lines by :func:`split_lines`, on real line endings only (``\\n``, ``\\r\\n``, ``\\r``):
:meth:`str.splitlines` also breaks at 0x1C-0x1E, 0x85, U+2028..., which turns one bad byte
into a spurious extra "record".

The limits are generous defaults that a deployment can change without code:

``TWINLAB_MAX_INPUT_BYTES``
    Largest (decompressed) size of one source file, in bytes (default 1 GiB).
``TWINLAB_MAX_LINE_CHARS``
    Longest line of a line-oriented source, in characters (default 1 MiB).

A reader that meets :class:`InputTooLarge` quarantines the file with ``exc.check`` and
``exc.reason`` (which name the limit, never the content) and the run goes on.
"""

from __future__ import annotations

import gzip
import io
import os
import re
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

__all__ = [
    "DEFAULT_MAX_INPUT_BYTES",
    "DEFAULT_MAX_LINE_CHARS",
    "InputTooLarge",
    "checked_gunzip",
    "is_gzip",
    "max_input_bytes",
    "max_line_chars",
    "open_checked_gzip",
    "read_bounded",
    "read_bounded_prefix",
    "split_lines",
    "stream_damage",
    "unverified_bytes",
]

#: Default largest decompressed size of one source file (bytes).
DEFAULT_MAX_INPUT_BYTES = 1 << 30
#: Default longest line (characters).
DEFAULT_MAX_LINE_CHARS = 1 << 20

_CHUNK = 1 << 20
#: Most decompressed bytes of one gzip member held back until its CRC is checked: a BGZF
#: member (bgzip, the usual VCF compression) holds at most 64 KiB and is checked whole; a
#: larger member (a plain gzip of a whole file) is released in pieces of this size, its CRC
#: checked at its end only, so that memory stays bounded.
HOLD_BYTES = 1 << 20
_GZIP_MAGIC = b"\x1f\x8b"
_LINE_END = re.compile(r"\r\n|\r|\n")


class InputTooLarge(Exception):
    """A source file that passes a size limit (a decompression bomb, or simply too big).

    Attributes
    ----------
    check : str
        Machine name of the failed check (``ingest.size``).
    reason : str
        Readable reason naming the limit and how to raise it; never the file's content.
    """

    def __init__(self, limit: int, *, compressed: bool) -> None:
        what = "decompresses to" if compressed else "is"
        self.check = "ingest.size"
        self.reason = (
            f"file {what} more than {limit:,} bytes (possible decompression bomb); "
            "raise TWINLAB_MAX_INPUT_BYTES if the file is genuine"
        )
        super().__init__(self.reason)


def _env_int(name: str, default: int) -> int:
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"{name} must be a whole number of bytes, not {text!r}") from None
    if value <= 0:
        raise ValueError(f"{name} must be positive, not {value}")
    return value


def max_input_bytes() -> int:
    """The largest decompressed size of one source file (``TWINLAB_MAX_INPUT_BYTES``)."""
    return _env_int("TWINLAB_MAX_INPUT_BYTES", DEFAULT_MAX_INPUT_BYTES)


def max_line_chars() -> int:
    """The longest accepted line of a line-oriented source (``TWINLAB_MAX_LINE_CHARS``)."""
    return _env_int("TWINLAB_MAX_LINE_CHARS", DEFAULT_MAX_LINE_CHARS)


def is_gzip(path: Path) -> bool:
    """Whether ``path`` starts with the gzip magic bytes (gzip or BGZF)."""
    with Path(path).open("rb") as fh:
        return fh.read(2) == b"\x1f\x8b"


def checked_gunzip(fh: BinaryIO, *, hold: int = HOLD_BYTES) -> Iterator[bytes]:
    """The decompressed bytes of a gzip (or BGZF) stream, each member's once its CRC checks.

    :mod:`gzip` hands out what it decompresses at once and checks a member's CRC only at the
    member's end: bytes overwritten inside a member decompress to garbage first (lines a reader
    would count, quarantine or even accept as records the file never held), the error comes
    after. Here a member's text is held back until zlib has checked the member's CRC and size
    (or, for a member over ``hold`` bytes, released in pieces of ``hold``), so a corrupt
    member gives nothing. A stream that is cut (the end of a member, its CRC and size
    trailer included, missing) gives nothing of the cut member either: its bytes were never
    checked. The error raised says, in :func:`unverified_bytes`, how many bytes of the failing
    member were released before the failure (only a member over ``hold`` bytes: a plain gzip
    of a whole file, never a BGZF block): a reader that has used them must drop them (or the
    file) since the member they came from failed its check.

    Parameters
    ----------
    fh : binary file
        The compressed stream, at its start.
    hold : int
        Most decompressed bytes held back at once (default :data:`HOLD_BYTES`).

    Yields
    ------
    bytes
        Decompressed content, in order.

    Raises
    ------
    zlib.error
        For a corrupt member (bad deflate data, CRC or size mismatch): its bytes are dropped.
    gzip.BadGzipFile
        For data after a member that is not a gzip member.
    EOFError
        For a stream cut inside a member (after yielding what came before the cut).

    Examples
    --------
    >>> import io
    >>> data = gzip.compress(b"a\\n") + gzip.compress(b"b\\n")
    >>> b"".join(checked_gunzip(io.BytesIO(data)))
    b'a\\nb\\n'
    """
    d = zlib.decompressobj(wbits=31)
    buf = b""
    pending: list[bytes] = []
    held = 0
    released = 0  # bytes of the current member given out before its CRC was checked
    at_start = True  # no byte of the current member consumed yet
    while True:
        if not buf or (at_start and len(buf) < len(_GZIP_MAGIC)):
            more = fh.read(_CHUNK)
            if not more and at_start and not buf:
                return  # the stream ends between members
            if not more:
                out = b"" if at_start else d.decompress(b"", _CHUNK)
                if out:
                    pending.append(out)
                    held += len(out)
                    continue
                # a cut: the member's bytes were never checked (a missing trailer included)
                raise _unverified(
                    EOFError("Compressed file ended before the end-of-stream marker was reached"),
                    released,
                )
            buf += more
        if at_start and not buf.startswith(_GZIP_MAGIC):
            raise gzip.BadGzipFile("data after a gzip member is not a gzip member")
        at_start = False
        try:
            out = d.decompress(buf, _CHUNK)  # zlib.error on bad data or a CRC/size mismatch
        except zlib.error as err:
            raise _unverified(err, released) from None
        if out:
            pending.append(out)
            held += len(out)
        if d.eof:
            buf = d.unused_data
            d = zlib.decompressobj(wbits=31)
            at_start = True
        else:
            buf = d.unconsumed_tail
        if pending and (at_start or held >= hold):
            released += held
            yield b"".join(pending)
            pending, held = [], 0
        if at_start:  # the member's CRC checked: every byte of it is vouched for
            released = 0


def _unverified(err: Exception, released: int) -> Exception:
    err.twinlab_unverified = released  # type: ignore[attr-defined]
    return err


def stream_damage(err: BaseException) -> str:
    """Words for a gzip stream error (:func:`checked_gunzip`), never quoting the file.

    Examples
    --------
    >>> stream_damage(EOFError("cut")).startswith("gzip stream cut before its end")
    True
    """
    if isinstance(err, EOFError):
        return (
            "gzip stream cut before its end (the CRC and size trailer missing): "
            "the cut member is unchecked, none of it is kept"
        )
    if isinstance(err, zlib.error):
        return "gzip member failed its check (bad deflate data, CRC or size): none of it is kept"
    if isinstance(err, gzip.BadGzipFile):
        return "data after a gzip member is not gzip"
    return f"stream unreadable ({type(err).__name__})"


def unverified_bytes(err: BaseException) -> int:
    """How many bytes :func:`checked_gunzip` released from the member whose failure ``err``
    reports, before the failure: bytes no CRC vouches for (0 for a BGZF block, or any member
    up to ``hold`` bytes, which is held back whole).

    Examples
    --------
    >>> unverified_bytes(EOFError("cut"))
    0
    """
    return int(getattr(err, "twinlab_unverified", 0))


class _Chunks(io.RawIOBase):
    """A readable binary stream over an iterator of byte chunks."""

    def __init__(self, chunks: Iterator[bytes], raw: BinaryIO) -> None:
        self._chunks = chunks
        self._raw = raw
        self._left = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        while not self._left:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._left = memoryview(chunk)
        n = min(len(b), len(self._left))
        b[:n] = self._left[:n]
        self._left = self._left[n:]
        return n

    def close(self) -> None:
        self._raw.close()
        super().close()


def open_checked_gzip(path: str | Path) -> io.BufferedReader:
    """A gzip or BGZF file opened for reading through :func:`checked_gunzip`.

    Parameters
    ----------
    path : str or Path
        The compressed file.

    Returns
    -------
    io.BufferedReader
        The decompressed content; reading raises as :func:`checked_gunzip` does.
    """
    raw = Path(path).open("rb")
    return io.BufferedReader(_Chunks(checked_gunzip(raw), raw), buffer_size=_CHUNK)


def read_bounded(path: str | Path, *, max_bytes: int | None = None) -> bytes:
    """The bytes of ``path``, gunzipped in a stream when gzip, never more than ``max_bytes``.

    Parameters
    ----------
    path : str or Path
        A plain or gzip/BGZF file.
    max_bytes : int, optional
        Limit on the (decompressed) size; default :func:`max_input_bytes`.

    Returns
    -------
    bytes
        The whole (decompressed) content.

    Raises
    ------
    InputTooLarge
        As soon as the content passes ``max_bytes``; at most ``max_bytes`` plus one chunk
        is ever held in memory.
    OSError, EOFError, zlib.error
        For unreadable or corrupt files.

    Examples
    --------
    >>> read_bounded("steps.csv.gz", max_bytes=10_000_000)  # doctest: +SKIP
    """
    data, err = read_bounded_prefix(path, max_bytes=max_bytes)
    if err is not None:
        raise err
    return data


def read_bounded_prefix(
    path: str | Path, *, max_bytes: int | None = None
) -> tuple[bytes, Exception | None]:
    """Like :func:`read_bounded`, but a corrupt or cut gzip stream gives what came before.

    Returns
    -------
    tuple of (bytes, Exception or None)
        The (decompressed) content, and the stream error that ended it early (``EOFError``,
        ``zlib.error``, ``gzip.BadGzipFile``) or ``None`` when the whole file was read: a
        reader keeps the complete records before the damage and quarantines the rest. Only
        the members whose CRC checked are kept: nothing of a plain (one-member) gzip whose CRC
        fails or whose end is cut, the blocks before the damage of a BGZF file.

    Raises
    ------
    InputTooLarge
        As :func:`read_bounded`.
    OSError
        For a file that cannot be opened or read at all.
    """
    path = Path(path)
    limit = max_input_bytes() if max_bytes is None else max_bytes
    compressed = is_gzip(path)
    if not compressed:
        if path.stat().st_size > limit:
            raise InputTooLarge(limit, compressed=False)
        return path.read_bytes(), None
    parts: list[bytes] = []
    size = 0
    with path.open("rb") as fh:
        # a member's bytes once its CRC checks (never more than the limit held back)
        chunks = checked_gunzip(fh, hold=min(HOLD_BYTES, limit + 1))
        while True:
            try:
                chunk = next(chunks, b"")
            except (EOFError, zlib.error, gzip.BadGzipFile) as err:
                data = b"".join(parts)  # less the failing member's bytes given out unchecked
                return data[: len(data) - unverified_bytes(err)], err
            if not chunk:
                break
            size += len(chunk)
            if size > limit:
                raise InputTooLarge(limit, compressed=True)
            parts.append(chunk)
    return b"".join(parts), None


def split_lines(text: str) -> list[str]:
    """Split ``text`` on ``\\n``, ``\\r\\n`` and ``\\r`` only; no trailing empty line.

    Unlike :meth:`str.splitlines`, control bytes such as 0x1E (record separator) or 0x0C stay
    inside their line, so a bad byte spoils one record instead of creating new ones.

    Examples
    --------
    >>> split_lines("a,1\\r\\nb\\x1e,2\\n")
    ['a,1', 'b\\x1e,2']
    """
    lines = _LINE_END.split(text)
    if lines and lines[-1] == "":
        lines.pop()
    return lines
