"""Source files into three tables: keyed file ids, files delivered twice, the reader tables.

Pure functions of the readers' results (no I/O): :func:`file_ids`, :func:`declare_copies`
and :func:`collect`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from twinlab.ingest.base import ReadResult

__all__ = ["collect", "declare_copies", "file_ids"]


def file_ids(results: Sequence[ReadResult], key: Any) -> dict[str, str]:
    """A keyed id per source file: file names can hold PHI (Synthea names files after people)."""
    from twinlab.deid import pseudonym

    return {r.source_file: pseudonym("source_file", r.source_file, key=key, prefix="src-")
            for r in results}  # fmt: skip


def declare_copies(
    results: Sequence[ReadResult], ids: dict[str, str]
) -> tuple[list[ReadResult], dict[str, str]]:
    """A file whose bytes equal an earlier file's: every record of it declared a duplicate.

    The same file delivered twice (under another name, in another folder) is read once: the
    copy keeps its ``records_in``, all of them counted in ``duplicates``, and no events,
    persons, quarantine rows or series of its own. Files with no accepted record are never
    called copies (two empty files each keep their own reason).

    Returns
    -------
    tuple of (list of ReadResult, dict)
        The results with each copy emptied, and the keyed id of each copy's first file by the
        copy's keyed id.
    """
    first: dict[str, str] = {}
    copy_of: dict[str, str] = {}
    out: list[ReadResult] = []
    for r in results:
        original = first.get(r.digest) if r.digest else None
        if original is None:
            if r.digest and r.records_accepted:
                first[r.digest] = ids[r.source_file]
            out.append(r)
            continue
        copy_of[ids[r.source_file]] = original
        out.append(
            ReadResult(r.source_file, r.format, records_in=r.records_in, records_accepted=0,
                       duplicates=r.records_in, digest=r.digest)
        )  # fmt: skip
    return out, copy_of


def collect(results: Sequence[ReadResult], ids: dict[str, str]) -> tuple[pd.DataFrame, ...]:
    """Events, persons and quarantine of every file in one table each, with ``format`` (and the
    keyed ``source_file`` id) per row."""
    events, persons, quarantine = [], [], []
    for r in results:  # the columns added once, after one concatenation (no copy per file)
        if len(r.events):
            events.append((r.events, r.format, ids[r.source_file]))
        if len(r.persons):
            persons.append((r.persons, r.format, None))
        if len(r.quarantine):
            quarantine.append((r.quarantine, r.format, ids[r.source_file]))
    return _cat(events), _cat(persons, with_file=False), _cat(quarantine)


def _cat(parts: list[tuple[pd.DataFrame, str, str | None]], with_file: bool = True) -> pd.DataFrame:
    """Concatenate reader tables, adding ``format`` (and ``source_file``) per row."""
    if not parts:
        return pd.DataFrame()
    out = pd.concat([p[0] for p in parts], ignore_index=True)
    sizes = [len(p[0]) for p in parts]
    out["format"] = np.repeat(np.array([p[1] for p in parts], dtype=object), sizes)
    if with_file:
        out["source_file"] = np.repeat(np.array([p[2] for p in parts], dtype=object), sizes)
    return out
