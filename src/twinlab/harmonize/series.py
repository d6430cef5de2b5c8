"""Raw regular series (per-minute wearable data) of the timeline, de-identified.

:func:`deidentified_series` is a pure function of the readers' series side outputs, the
linkage keys and the crosswalk; the writer stores its result as ``series.zarr``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from twinlab.ingest.base import ReadResult

__all__ = ["SERIES_ATTRS", "SERIES_VARIABLES", "TIME_ENCODING", "deidentified_series"]

#: Attributes of a raw series that identify no one and are kept.
SERIES_ATTRS = ("format", "device", "epoch", "epoch_s", "tz_offset", "tz_offset_assumed")
#: Variables of the wearable exports read (:mod:`twinlab.ingest.wearables`; the columns of the
#: UK Biobank accelerometer tools' epoch time series; the light channels of actigraphs),
#: published under their names. Every other variable is left out (unknown fields default to
#: dropped): a column name is the exporter's free text ("chinedu okafor 4125550190" became the
#: name of a published array, which the PHI scan did not read), and a plainly named column can
#: hold identifiers the scan does not read either: a GPS track (``lat``, ``gps_longitude``,
#: geographic subdivisions below a state, published as numbers in binary chunks).
SERIES_VARIABLES = frozenset(
    "heart_rate steps activity white_light red_light green_light blue_light off_wrist marker"
    " acc imputed light sedentary sleep moderate-vigorous MET walking enmoTrunc x y z temp"
    " lux".split()
)
#: How the time axis is stored: from a fixed epoch. By default xarray writes the units from the
#: series' first time ("minutes since 2014-05-08 ..."): a shifted date as text, which can
#: equal an unshifted date of another patient and so stop the PHI scan.
TIME_ENCODING = {"units": "microseconds since 1970-01-01", "dtype": "int64"}


def _publishable(variable: str) -> bool:
    """Whether a series variable is published under its name (:data:`SERIES_VARIABLES`)."""
    return variable in SERIES_VARIABLES


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
    is not declared (:data:`SERIES_VARIABLES`: a name may carry an identifier, a column a GPS
    track).

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
        identifiers, PHI patterns and person names, as for the events' ``device``
        qualifier).

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
