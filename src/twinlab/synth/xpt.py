"""Byte-for-byte deterministic SAS XPORT v5 files through pyreadstat."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pandas as pd
import pyreadstat

_STAMP = re.compile(rb"\d\d[A-Z]{3}\d\d:\d\d:\d\d:\d\d")
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_MEMBER = b"HEADER RECORD*******DSCRPTR HEADER RECORD!!!!!!!"


def xpt_stamp(when: dt.datetime) -> bytes:
    """Format ``when`` as an XPORT header datetime, e.g. ``b"06JAN25:00:00:00"``."""
    month = _MONTHS[when.month - 1]
    return f"{when:%d}{month}{when:%y}:{when:%H:%M:%S}".encode("ascii")


def write_xpt(
    df: pd.DataFrame,
    path: Path,
    *,
    table_name: str,
    file_label: str,
    labels: dict[str, str],
    created: dt.datetime,
) -> int:
    """Write ``df`` as an XPORT v5 file whose header datetimes are ``created``.

    pyreadstat stamps the library and member headers with the current time; this overwrites
    the four stamps so that the same data always give the same bytes.

    Parameters
    ----------
    df
        The data; string columns must hold no missing values (use ``""``).
    path
        Target file.
    table_name, file_label
        Dataset name (at most 8 characters) and label.
    labels
        Column label by column name (at most 40 characters each).
    created
        The datetime written into the headers.

    Returns
    -------
    int
        Number of rows written.
    """
    pyreadstat.write_xport(
        df,
        str(path),
        file_label=file_label,
        column_labels=[labels[c] for c in df.columns],
        table_name=table_name,
        file_format_version=5,
    )
    data = bytearray(path.read_bytes())
    stamp = xpt_stamp(created)
    member = data.find(_MEMBER)
    if member < 0:
        raise RuntimeError(f"{path}: no member header found")
    # library header: 2nd record ends with created, 3rd starts with modified;
    # member descriptor: same layout in the two records after its header record
    for offset in (144, 160, member + 144, member + 160):
        if not _STAMP.fullmatch(bytes(data[offset : offset + 16])):
            raise RuntimeError(f"{path}: unexpected XPORT header layout at byte {offset}")
        data[offset : offset + 16] = stamp
    path.write_bytes(bytes(data))
    return len(df)
