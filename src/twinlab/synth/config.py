"""Configuration of a synthetic study and its random streams."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

#: Independent random streams, one per concern, in spawn order. Append new names at the end
#: only: a child's stream depends on its index, so appending keeps every existing draw.
STREAMS: tuple[str, ...] = (
    "design",
    "covariates",
    "genotypes",
    "pk_eta",
    "pd_eta",
    "schedule",
    "pk_error",
    "pd_error",
    "identity",
    "fhir",
    "vcf",
    "wearables",
    "sdtm",
)

_STUDY_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,19}")


@dataclass(frozen=True, kw_only=True)
class SynthConfig:
    """Size, seed and shape of a synthetic study.

    Parameters
    ----------
    n_patients
        Number of screened subjects (screen failures included).
    seed
        Seed of every random draw; the same config gives byte-identical files.
    study_id
        STUDYID, 1-20 characters from ``[A-Za-z0-9_-]``.
    wearable_fraction
        Share of randomized patients with a wearable export.
    wearable_days
        Days of per-minute wearable data per device.
    screen_fail_fraction
        Share of screened subjects who fail screening.
    start_date
        ISO date of the first possible screening visit.
    """

    n_patients: int = 200
    seed: int = 20261126
    study_id: str = "TWL-001"
    wearable_fraction: float = 0.25
    wearable_days: int = 1
    screen_fail_fraction: float = 0.05
    start_date: str = "2025-01-06"

    def __post_init__(self) -> None:
        _check_int("n_patients", self.n_patients, 1)
        _check_int("seed", self.seed, 0)
        _check_int("wearable_days", self.wearable_days, 1, 366)
        for name in ("wearable_fraction", "screen_fail_fraction"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"{name} must be a number in [0, 1], got {value!r}")
            if not math.isfinite(value) or not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value!r}")
        if not isinstance(self.study_id, str) or not _STUDY_ID.fullmatch(self.study_id):
            raise ValueError(
                f"study_id must be 1-20 characters from [A-Za-z0-9_-], got {self.study_id!r}"
            )
        try:
            dt.date.fromisoformat(self.start_date)
        except (TypeError, ValueError):
            raise ValueError(
                f"start_date must be an ISO date YYYY-MM-DD, got {self.start_date!r}"
            ) from None
        if len(self.start_date) != 10:
            raise ValueError(f"start_date must be an ISO date YYYY-MM-DD, got {self.start_date!r}")

    @property
    def start(self) -> dt.date:
        """The start date as a :class:`datetime.date`."""
        return dt.date.fromisoformat(self.start_date)

    def to_dict(self) -> dict[str, Any]:
        """Return the fields as a plain dict."""
        return dataclasses.asdict(self)


def _check_int(name: str, value: object, low: int, high: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if value < low or (high is not None and value > high):
        bounds = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise ValueError(f"{name} must be {bounds}, got {value!r}")


def rng_streams(seed: int) -> dict[str, np.random.Generator]:
    """Return one independent generator per concern, spawned from ``SeedSequence(seed)``.

    Parameters
    ----------
    seed
        The study seed.

    Returns
    -------
    dict
        Maps each name in :data:`STREAMS` to its :class:`numpy.random.Generator`.
    """
    children = np.random.SeedSequence(seed).spawn(len(STREAMS))
    return {
        name: np.random.default_rng(child) for name, child in zip(STREAMS, children, strict=True)
    }
