"""Synthetic demo study: raw sources in their native formats plus the ground truth.

:func:`generate_study` writes a randomized, placebo-controlled study of the fictional
xanthine-oxidase inhibitor twinurostat as FHIR R4 bundles, SDTM XPORT files, a VCF and wearable
exports, deterministically from :class:`SynthConfig`; the true parameters are documented in
:mod:`twinlab.synth.truth`.
"""

from __future__ import annotations

from twinlab.synth.config import SynthConfig
from twinlab.synth.pkpd import bateman, concentrations, simulate_turnover
from twinlab.synth.study import ManifestEntry, StudyManifest, generate_study

__all__ = [
    "ManifestEntry",
    "StudyManifest",
    "SynthConfig",
    "bateman",
    "concentrations",
    "generate_study",
    "simulate_turnover",
]
