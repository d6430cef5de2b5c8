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
    keyed ``source_file`` id) per row.

    Files read in one batch (:class:`twinlab.ingest.fhir.FhirBatch`) are not cut into frames
    of their own: each run of consecutive files whose rows follow each other in the same batch
    table (:meth:`ReadResult.rows <twinlab.ingest.base.ReadResult.rows>`) is one slice of it. A
    copy emptied by :func:`declare_copies` ends a run, so its rows never enter. The tables are
    those that concatenating every file's frames would give (same rows, order and dtypes).
    """
    return (
        _cat(results, "events", ids),
        _cat(results, "persons", None),
        _cat(results, "quarantine", ids),
    )


def _cat(results: Sequence[ReadResult], kind: str, ids: dict[str, str] | None) -> pd.DataFrame:
    """The ``kind`` tables of ``results`` concatenated, with ``format`` (and, given ``ids``,
    ``source_file``) per row; one slice per run of contiguous rows of one table."""
    runs: list[list[Any]] = []  # [table, start, stop]
    labels: list[tuple[str, str | None, int]] = []  # per file: format, keyed id, rows
    for r in results:
        table, a, b = r.rows(kind)
        if a == b:
            continue
        labels.append((r.format, ids[r.source_file] if ids is not None else None, b - a))
        if runs and runs[-1][0] is table and runs[-1][2] == a:
            runs[-1][2] = b
        else:
            runs.append([table, a, b])
    if not runs:
        return pd.DataFrame()
    out = pd.concat(
        [t if a == 0 and b == len(t) else t.iloc[a:b] for t, a, b in runs], ignore_index=True
    )
    sizes = [n for _, _, n in labels]
    out["format"] = np.repeat(np.array([f for f, _, _ in labels], dtype=object), sizes)
    if ids is not None:
        out["source_file"] = np.repeat(np.array([i for _, i, _ in labels], dtype=object), sizes)
    return out
