"""Harmonization: record linkage, time alignment, same-fact linking and data quality."""

from __future__ import annotations

from twinlab.harmonize.linkage import LINKING_SYSTEMS, link_persons, normalize_system
from twinlab.harmonize.pipeline import HarmonizeConfig, HarmonizeResult, harmonize
from twinlab.harmonize.quality import PLAUSIBLE_RANGES, quality_report

__all__ = [
    "LINKING_SYSTEMS",
    "PLAUSIBLE_RANGES",
    "HarmonizeConfig",
    "HarmonizeResult",
    "harmonize",
    "link_persons",
    "normalize_system",
    "quality_report",
]
