"""Raw regular series (per-minute wearable data) of the timeline, de-identified.

:func:`deidentified_series` is a pure function of the readers' series side outputs, the
linkage keys and the crosswalk; the writer stores its result as ``series.zarr``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from twinlab.ingest.base import ReadResult

__all__ = ["SERIES_ATTRS", "SERIES_VARIABLES", "TIME_ENCODING", "deidentified_series"]

#: Attributes of a raw series that identify no one and are kept.
SERIES_ATTRS = ("format", "device", "epoch", "epoch_s", "tz_offset", "tz_offset_assumed")
#: Variables of the wearable exports read (:mod:`twinlab.ingest.wearables`; the columns of the
#: UK Biobank accelerometer tools' epoch time series), published under their names. Another
#: variable is published only when its name is a plain column name (letters, digits, ``_``,
#: ``-``) in which no detector of the scrubber, engine included, finds anything; else it is
#: left out: a column name is the exporter's free text ("chinedu okafor 4125550190" became the
#: name of a published array, which the PHI scan did not read).
SERIES_VARIABLES = frozenset(
    "heart_rate steps activity white_light off_wrist marker acc imputed light sedentary sleep"
    " moderate-vigorous MET walking enmoTrunc x y z temp lux".split()
)
_COLUMN_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,39}")
#: How the time axis is stored: from a fixed epoch. By default xarray writes the units from the
#: series' first time ("minutes since 2014-05-08 ..."): a shifted date as text, which can
#: equal an unshifted date of another patient and so stop the PHI scan.
TIME_ENCODING = {"units": "microseconds since 1970-01-01", "dtype": "int64"}


@functools.lru_cache(maxsize=1024)
def _publishable(variable: str) -> bool:
    """Whether a series variable is published under its name (:data:`SERIES_VARIABLES`)."""
    if variable in SERIES_VARIABLES:
        return True
    if not _COLUMN_NAME.fullmatch(variable):
        return False
    from twinlab.deid.text import find_phi

    return not find_phi(re.sub(r"[_-]+", " ", variable))


def deidentified_series(
    results: Sequence[ReadResult],
    keys: pd.Series,
    crosswalk: pd.DataFrame,
    scrub: Callable[[str], str] | None = None,
) -> dict[str, Any]:
    """Raw regular series (per-minute wearables), de-identified, by group name.

    Each series becomes the group ``<pseudonym>`` (``<pseudonym>_2``... for more devices), its
    time axis shifted by the patient's date shift (stored from a fixed epoch,
    :data:`TIME_ENCODING`), its device serial and any other identifying attribute dropped
    (only :data:`SERIES_ATTRS` are kept; their text goes through ``scrub``: a device name is
    a header cell the wearer's clinic fills in, "Spectrum Plus of E. Krasinski"). Series of a
    person linked to no patient of the timeline are left out, and so is a variable whose name
    may carry an identifier (:data:`SERIES_VARIABLES`).

    Parameters
    ----------
    results : sequence of ReadResult
        The files read; their ``series`` side outputs.
    keys : pandas.Series
        Patient key by ``(format, source_patient)``
        (:func:`twinlab.harmonize.linkage.patient_keys`).
    crosswalk : pandas.DataFrame
        ``source_patient`` (patient key), ``patient_id`` and ``shift_days``.
    scrub : callable, optional
        Applied to each text attribute kept (the pipeline's scrubber of coded values: known
        identifiers and PHI patterns, as for the events' ``device`` qualifier).

    Returns
    -------
    dict of str to xarray.Dataset
    """
    import xarray as xr

    shift = crosswalk.set_index("source_patient")
    groups: dict[str, xr.Dataset] = {}
    for r in results:
        for name, ds in sorted(r.series_of(xr.Dataset).items()):  # (tallies stay uncut)
            if "time" not in ds.coords:
                continue
            key = keys.get((r.format, str(ds.attrs.get("source_patient", name))))
            if key is None or key not in shift.index:
                continue
            pid, days = shift.loc[key, "patient_id"], int(shift.loc[key, "shift_days"])
            moved = ds.assign_coords(time=ds["time"] + np.timedelta64(days, "D"))
            moved["time"].encoding = dict(TIME_ENCODING)
            moved = moved.drop_vars([v for v in moved.data_vars if not _publishable(str(v))])
            kept = {k: ds.attrs[k] for k in SERIES_ATTRS if k in ds.attrs}
            moved.attrs = {
                k: scrub(v) if scrub is not None and isinstance(v, str) else v
                for k, v in kept.items()
            }
            label, n = pid, 1
            while label in groups:
                n += 1
                label = f"{pid}_{n}"
            groups[label] = moved
    return groups
