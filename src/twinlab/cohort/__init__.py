"""Virtual populations: covariates from the real cohort × posterior draws × variability."""

from __future__ import annotations

from twinlab.cohort.base import KnownPopulation, PatientChunk, Population, chunk_rng

__all__ = ["KnownPopulation", "PatientChunk", "Population", "chunk_rng"]
