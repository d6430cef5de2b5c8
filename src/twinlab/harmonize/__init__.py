"""Harmonization: record linkage, time alignment, same-fact linking and data quality.

:func:`harmonize` = :func:`build_timeline` (pure table functions: :mod:`.sources`,
:mod:`.linkage`, :mod:`.timing`, :mod:`.validation`, :mod:`.facts`, :mod:`.covariates`,
:mod:`.series`, :mod:`.accounting`) then the one writer, :func:`.writer.publish`.
"""

from __future__ import annotations

from twinlab.harmonize.linkage import LINKING_SYSTEMS, link_persons, normalize_system
from twinlab.harmonize.pipeline import HarmonizeConfig, HarmonizeResult, build_timeline, harmonize
from twinlab.harmonize.quality import quality_report, typical_ranges

__all__ = [
    "LINKING_SYSTEMS",
    "HarmonizeConfig",
    "HarmonizeResult",
    "build_timeline",
    "harmonize",
    "link_persons",
    "normalize_system",
    "quality_report",
    "typical_ranges",
]
