"""The :class:`Cohort`: the three timeline tables together, as a modeler uses them."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow
import xarray as xr

from twinlab.config import resolve
from twinlab.security.filemodes import private_umask
from twinlab.timeline.io import read_table, write_table
from twinlab.timeline.schema import CURRENT_VERSION, coerce_table, empty_table
from twinlab.timeline.validation import validate_cohort

__all__ = ["AGGREGATIONS", "Cohort", "UnknownPatientError"]

#: Aggregations accepted by :meth:`Cohort.timeseries`.
AGGREGATIONS: tuple[str, ...] = ("mean", "median", "min", "max", "sum", "first", "last", "count")


class UnknownPatientError(KeyError):
    """A patient id that is not in the cohort."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


def _hours_or_timedelta(value: Any, name: str) -> pd.Timedelta:
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        return pd.Timedelta(hours=float(value))
    try:
        return pd.Timedelta(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a timedelta, a string like '6h' or hours") from None


class Cohort:
    """A harmonized cohort: ``patients``, ``events`` and ``links`` tables.

    Parameters
    ----------
    patients : pandas.DataFrame
        One row per patient (see :func:`~twinlab.timeline.table_schema`).
    events : pandas.DataFrame
        One row per dated fact.
    links : pandas.DataFrame, optional
        Typed edges between events; default none.
    validate : bool
        Validate the tables and the keys between them (default true).

    Raises
    ------
    TimelineValidationError
        When ``validate`` and a table breaks the schema.

    Notes
    -----
    The tables are coerced to the schema dtypes and columns (missing nullable columns are
    added). A Cohort is meant to be immutable: every method returns new objects.

    Examples
    --------
    >>> cohort = Cohort.read("data/harmonized/demo")  # doctest: +SKIP
    >>> heavy = cohort.filter("cov_weight_kg > 70")  # doctest: +SKIP
    """

    def __init__(
        self,
        patients: pd.DataFrame,
        events: pd.DataFrame,
        links: pd.DataFrame | None = None,
        *,
        validate: bool = True,
    ) -> None:
        self._patients = coerce_table("patients", patients)
        self._events = coerce_table("events", events)
        self._links = empty_table("links") if links is None else coerce_table("links", links)
        if validate:
            validate_cohort(self._patients, self._events, self._links)
        self._validated = validate
        self._arrow: dict[str, pyarrow.Table] | None = None

    @classmethod
    def _trusted(cls, patients: pd.DataFrame, events: pd.DataFrame, links: pd.DataFrame) -> Cohort:
        new = cls.__new__(cls)
        new._patients = patients.reset_index(drop=True)
        new._events = events.reset_index(drop=True)
        new._links = links.reset_index(drop=True)
        new._validated = True
        new._arrow = None
        return new

    # --- tables and I/O -----------------------------------------------------------------------

    @property
    def patients(self) -> pd.DataFrame:
        """The ``patients`` table (do not modify in place)."""
        return self._patients

    @property
    def events(self) -> pd.DataFrame:
        """The ``events`` table (do not modify in place)."""
        return self._events

    @property
    def links(self) -> pd.DataFrame:
        """The ``links`` table (do not modify in place)."""
        return self._links

    @property
    def schema_version(self) -> str:
        """The schema version of the tables (always the current one)."""
        return CURRENT_VERSION

    @property
    def patient_ids(self) -> pd.Index:
        """The patient ids, in table order."""
        return pd.Index(self._patients["patient_id"], name="patient_id")

    def __len__(self) -> int:
        return len(self._patients)

    @classmethod
    def read(cls, path: str | os.PathLike[str], *, validate: bool = True) -> Cohort:
        """Read a cohort folder (``patients.parquet``, ``events.parquet``, ``links.parquet``).

        Older schema versions are migrated; ``links.parquet`` may be absent.

        Parameters
        ----------
        path : path-like
            The folder.
        validate : bool
            Validate the tables and the keys between them (default true).

        Returns
        -------
        Cohort
        """
        path = resolve(path)  # from the project root: the same from notebooks/
        if not path.is_dir():
            raise FileNotFoundError(f"no cohort folder at {path}")
        patients = read_table(path / "patients.parquet", table="patients", validate=False)
        events = read_table(path / "events.parquet", table="events", validate=False)
        links_path = path / "links.parquet"
        links = (
            read_table(links_path, table="links", validate=False) if links_path.exists() else None
        )
        from twinlab.audit import audit_event

        audit_event("data.access", path, params={"patients": len(patients), "events": len(events)})
        return cls(patients, events, links, validate=validate)

    def write(self, path: str | os.PathLike[str]) -> Path:
        """Write the cohort to a folder of three Parquet files (created if needed), private
        to their owner whatever the umask (:func:`~twinlab.timeline.io.write_table`).

        Parameters
        ----------
        path : path-like

        Returns
        -------
        pathlib.Path
            The folder.
        """
        path = Path(path)
        with private_umask():  # a folder made here: its owner's only
            path.mkdir(parents=True, exist_ok=True)
        if not self._validated:
            validate_cohort(self._patients, self._events, self._links)
        for name, df in (("patients", self._patients), ("events", self._events)):
            write_table(name, df, path / f"{name}.parquet", validate=False)
        write_table("links", self._links, path / "links.parquet", validate=False)
        return path

    # --- queries -------------------------------------------------------------------------------

    def _arrow_tables(self) -> dict[str, pyarrow.Table]:
        if self._arrow is None:
            self._arrow = {
                name: pyarrow.Table.from_pandas(df, preserve_index=False)
                for name, df in (
                    ("patients", self._patients),
                    ("events", self._events),
                    ("links", self._links),
                )
            }
        return self._arrow

    def query(self, sql: str) -> pd.DataFrame:
        """Run DuckDB SQL over the tables ``patients``, ``events`` and ``links``.

        The tables are handed to DuckDB as Arrow (no copy per query) and the result comes back
        through Arrow, so text is ``str`` and times are ``datetime64[us, UTC]`` (the session time
        zone is UTC).

        Parameters
        ----------
        sql : str
            A statement that returns rows.

        Returns
        -------
        pandas.DataFrame

        Examples
        --------
        >>> cohort.query("SELECT domain, count(*) AS n FROM events GROUP BY ALL")  # doctest: +SKIP
        """
        con = duckdb.connect()
        try:
            con.execute("SET TimeZone = 'UTC'")
            for name, table in self._arrow_tables().items():
                con.register(name, table)
            relation = con.sql(sql)
            if relation is None:
                raise ValueError("Cohort.query needs a statement that returns rows")
            result = relation.arrow()
            if hasattr(result, "read_all"):  # DuckDB >= 1.4 hands back a RecordBatchReader
                result = result.read_all()
            return result.to_pandas()
        finally:
            con.close()

    def _subset(self, patient_ids: pd.Series) -> Cohort:
        patients = self._patients[self._patients["patient_id"].isin(patient_ids)]
        events = self._events[self._events["patient_id"].isin(patients["patient_id"])]
        ids = events["event_id"]
        links = self._links[
            self._links["from_event_id"].isin(ids) & self._links["to_event_id"].isin(ids)
        ]
        return Cohort._trusted(patients, events, links)

    def filter(
        self, where: str | None = None, *, has_event: Mapping[str, Any] | None = None
    ) -> Cohort:
        """Return the sub-cohort of the patients that match, with their events and links.

        Parameters
        ----------
        where : str, optional
            A DuckDB boolean expression over ``patients`` columns, e.g.
            ``"cov_weight_kg > 70 AND sex = 'F'"``.
        has_event : mapping, optional
            Keep patients with at least one event matching every ``column: value`` pair, e.g.
            ``{"domain": "condition", "code": "90560007"}``; a list, tuple or set value matches
            any of its items, ``None`` matches missing values.

        Returns
        -------
        Cohort
            All events of the kept patients (not only the matching ones), and the links whose
            both ends are kept.
        """
        mask = pd.Series(True, index=self._patients.index)
        if where is not None:
            ids = self.query(f"SELECT patient_id FROM patients WHERE {where}")["patient_id"]
            mask &= self._patients["patient_id"].isin(ids)
        if has_event:
            ev = self._events
            match = pd.Series(True, index=ev.index)
            for column, value in has_event.items():
                if column not in ev.columns:
                    raise ValueError(f"has_event: events has no column {column!r}")
                if value is None:
                    match &= ev[column].isna()
                elif isinstance(value, (list, tuple, set, frozenset)):
                    match &= ev[column].isin(list(value))
                else:
                    match &= ev[column] == value
            mask &= self._patients["patient_id"].isin(ev.loc[match, "patient_id"])
        return self._subset(self._patients.loc[mask, "patient_id"])

    def _check_patient(self, patient_id: str) -> None:
        if not (self._patients["patient_id"] == patient_id).any():
            examples = ", ".join(map(repr, self._patients["patient_id"].head(3)))
            raise UnknownPatientError(
                f"unknown patient_id {patient_id!r}: not among the {len(self)} patients"
                + (f" (e.g. {examples})" if examples else "")
            )

    def timeline(self, patient_id: str) -> pd.DataFrame:
        """Return one patient's events, sorted by time (then event id).

        Parameters
        ----------
        patient_id : str

        Returns
        -------
        pandas.DataFrame
            With a fresh RangeIndex.

        Raises
        ------
        UnknownPatientError
            A ``KeyError`` when the patient is not in the cohort.
        """
        self._check_patient(patient_id)
        ev = self._events[self._events["patient_id"] == patient_id]
        return ev.sort_values(["time", "event_id"], kind="stable").reset_index(drop=True)

    def _code_events(self, code: str) -> pd.DataFrame:
        """Events of ``code``, without second copies of one fact (``duplicate_of`` qualifier)."""
        ev = self._events
        copies = ev["qualifiers"].str.contains('"duplicate_of"', regex=False, na=False)
        ev = ev[~copies]
        if "|" in code:  # FHIR token syntax: system|code
            system, code = code.split("|", 1)
            return ev[(ev["code"] == code) & (ev["code_system"] == system)]
        return ev[ev["code"] == code]

    def covariates(
        self, codes: Mapping[str, str] | None = None, *, at: str | Any = "index"
    ) -> pd.DataFrame:
        """Return one row per patient: the ``cov_*`` columns plus values taken from events.

        Parameters
        ----------
        codes : mapping of str to str, optional
            New column name → event code (or ``"system|code"``). The value is the event's
            ``value_num`` (``value_text`` for codes without numeric values): the last one at or
            before the reference time, else the first one after it.
        at : "index" or timedelta
            The reference time: the patient's index date, or the index date plus this offset
            (a timedelta, a string like ``"7D"`` or hours).

        Returns
        -------
        pandas.DataFrame
            Indexed by ``patient_id`` in table order; missing where no value or no index date.
            ``attrs["units"]`` maps each requested name to its unit.
        """
        pts = self._patients.set_index("patient_id")
        out = pts[[c for c in pts.columns if str(c).startswith("cov_")]].copy()
        offset = pd.Timedelta(0) if at == "index" else _hours_or_timedelta(at, "at")
        ref = pts["index_date"] + offset
        units: dict[str, str | None] = {}
        for name, code in (codes or {}).items():
            if name in out.columns:
                raise ValueError(f"covariate name {name!r} clashes with a patients column")
            ev = self._code_events(code)
            column = "value_num" if ev["value_num"].notna().any() else "value_text"
            ev = ev[ev[column].notna()].sort_values(["time", "event_id"], kind="stable")
            ref_t = ev["patient_id"].map(ref)
            before = ev[ev["time"] <= ref_t].drop_duplicates("patient_id", keep="last")
            after = ev[ev["time"] > ref_t].drop_duplicates("patient_id", keep="first")
            after = after[~after["patient_id"].isin(before["patient_id"])]
            chosen = pd.concat([before, after]).set_index("patient_id")
            out[name] = chosen[column].reindex(out.index)
            unit = chosen["unit"].dropna().unique()
            if len(unit) > 1:
                raise ValueError(f"code {code!r} has several units {sorted(unit)}; harmonize first")
            units[name] = str(unit[0]) if len(unit) else None
        out.attrs["units"] = units
        return out

    def timeseries(
        self,
        code: str,
        *,
        freq: str | pd.Timedelta = "1h",
        start: Any = None,
        end: Any = None,
        agg: str = "mean",
    ) -> xr.DataArray:
        """Return one code's numeric values on a regular grid of time since each index date.

        Parameters
        ----------
        code : str
            Event code, or ``"system|code"``.
        freq : str or timedelta
            Grid step, e.g. ``"1h"``, ``"30min"``, ``"1D"``.
        start, end : timedelta, str or float, optional
            Grid range as offsets from the index date (floats are hours); both are rounded down
            to a multiple of ``freq`` and included. Default: the range of the data.
        agg : str
            How the values in a cell ``[t, t + freq)`` are combined: one of
            :data:`AGGREGATIONS`.

        Returns
        -------
        xarray.DataArray
            Dims ``(patient, time)``; ``time`` is the offset from the index date
            (``timedelta64``) with a ``hours`` coordinate beside it; NaN where there is no data
            (0 for ``count``). Patients without an index date are all NaN. ``attrs`` hold
            ``code``, ``code_system``, ``display``, ``units``, ``freq``, ``agg``.

        Raises
        ------
        ValueError
            For an unknown ``agg``, a non-positive ``freq`` or a code with several units.
        """
        if agg not in AGGREGATIONS:
            raise ValueError(f"agg must be one of {AGGREGATIONS}, not {agg!r}")
        step = pd.Timedelta(freq)
        if step <= pd.Timedelta(0):
            raise ValueError(f"freq must be positive, not {freq!r}")
        ids = self.patient_ids
        index_date = self._patients.set_index("patient_id")["index_date"]
        ev = self._code_events(code)
        ev = ev[ev["value_num"].notna()].sort_values(["time", "event_id"], kind="stable")
        offset = ev["time"] - ev["patient_id"].map(index_date)
        ev, offset = ev[offset.notna()], offset[offset.notna()]
        units = ev["unit"].dropna().unique()
        if len(units) > 1:
            raise ValueError(f"code {code!r} has several units {sorted(units)}; harmonize first")
        bins = np.floor(offset / step).astype("int64")
        lo = (
            int(np.floor(_hours_or_timedelta(start, "start") / step)) if start is not None else None
        )
        hi = int(np.floor(_hours_or_timedelta(end, "end") / step)) if end is not None else None
        if lo is None:
            lo = int(bins.min()) if len(bins) else 0
        if hi is None:
            hi = int(bins.max()) if len(bins) else lo - 1
        keep = (bins >= lo) & (bins <= hi)
        cells = (
            pd.DataFrame(
                {
                    "patient_id": ev["patient_id"][keep],
                    "bin": bins[keep],
                    "v": ev["value_num"][keep],
                }
            )
            .groupby(["patient_id", "bin"], sort=False)["v"]
            .agg(agg)
        )
        n_time = max(hi - lo + 1, 0)
        data = np.full((len(ids), n_time), 0.0 if agg == "count" else np.nan)
        if len(cells):
            rows = ids.get_indexer(cells.index.get_level_values("patient_id"))
            cols = cells.index.get_level_values("bin").to_numpy() - lo
            data[rows, cols] = cells.to_numpy(dtype=float)
        grid = pd.to_timedelta(np.arange(lo, hi + 1) * step.value, unit="ns")
        first = ev.iloc[0] if len(ev) else None
        attrs = {
            "code": code,
            "code_system": None
            if first is None or pd.isna(first["code_system"])
            else str(first["code_system"]),
            "display": None
            if first is None or pd.isna(first["display"])
            else str(first["display"]),
            "units": str(units[0]) if len(units) else None,
            "freq": str(step),
            "agg": agg,
            "time_origin": "index_date",
        }
        return xr.DataArray(
            data,
            dims=("patient", "time"),
            coords={
                "patient": np.asarray(ids, dtype=object),
                "time": grid.to_numpy().astype("timedelta64[ns]"),
                "hours": ("time", grid / pd.Timedelta(hours=1)),
            },
            name=code,
            attrs={k: v for k, v in attrs.items() if v is not None},
        )

    # --- display -------------------------------------------------------------------------------

    def __repr__(self) -> str:
        domains = self._events["domain"].value_counts()
        shown = ", ".join(f"{d} {n}" for d, n in domains.head(8).items())
        more = f", … {len(domains) - 8} more" if len(domains) > 8 else ""
        return (
            f"<twinlab.Cohort (schema {self.schema_version}): {len(self)} patients, "
            f"{len(self._events)} events, {len(self._links)} links"
            + (f"\n  domains: {shown}{more}>" if len(domains) else ">")
        )
