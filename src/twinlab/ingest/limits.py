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
import os
import re
import zlib
from pathlib import Path

__all__ = [
    "DEFAULT_MAX_INPUT_BYTES",
    "DEFAULT_MAX_LINE_CHARS",
    "InputTooLarge",
    "is_gzip",
    "max_input_bytes",
    "max_line_chars",
    "read_bounded",
    "read_bounded_prefix",
    "split_lines",
]

#: Default largest decompressed size of one source file (bytes).
DEFAULT_MAX_INPUT_BYTES = 1 << 30
#: Default longest line (characters).
DEFAULT_MAX_LINE_CHARS = 1 << 20

_CHUNK = 1 << 20
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
        reader keeps the complete records before the damage and quarantines the rest.

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
    with gzip.open(path, "rb") as gz:
        while True:
            try:  # read1: one step of the stream, so an error loses no byte decoded before it
                chunk = gz.read1(min(_CHUNK, limit + 1 - size))
            except (EOFError, zlib.error, gzip.BadGzipFile) as err:
                return b"".join(parts), err
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
