"""A small random population for the engine tests (a real implementation of the protocol).

Pickled by value, so Dask worker processes that cannot import the tests folder run it.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cloudpickle
import numpy as np
import pandas as pd

from twinlab.virtual import PatientChunk

cloudpickle.register_pickle_by_value(sys.modules[__name__])


@dataclass(frozen=True)
class LogNormalPopulation:
    """1-cmt oral patients: typical values × exp(eta) with etas and weights from the chunk rng.

    Two posterior draws scale the typical clearance by ``draw_cl``; a patient keeps its etas
    and covariates across draws. Residual error: combined, ``add_conc``/``prop_conc``.
    """

    n: int
    n_draws: int = 2
    model: str = "pk_1cmt_oral"
    draw_cl: tuple[float, ...] = (1.0, 1.3)
    add: float = 0.05
    prop: float = 0.1

    def chunk(self, start: int, stop: int, rng: np.random.Generator) -> PatientChunk:
        m = stop - start
        eta = rng.normal(0.0, 0.3, size=(3, m))
        wt = rng.normal(70.0, 10.0, size=m)
        ka = 1.2 * np.exp(eta[0])
        cl = 4.0 * (wt / 70.0) ** 0.75 * np.exp(eta[1])
        v = 40.0 * np.exp(eta[2])
        draws = np.asarray(self.draw_cl[: self.n_draws])[:, None]
        return PatientChunk(
            vpid=np.arange(start, stop, dtype=np.int64),
            params={
                "ka": np.broadcast_to(ka, (self.n_draws, m)).copy(),
                "cl": draws * cl,
                "v": np.broadcast_to(v, (self.n_draws, m)).copy(),
            },
            covariates=pd.DataFrame({"WT": wt}),
            draw=np.arange(self.n_draws, dtype=np.int64) * 10 + 3,
            source=np.array([f"P-{i:05d}" for i in range(start, stop)], dtype=object),
            sigma={
                "add_conc": np.full(self.n_draws, self.add),
                "prop_conc": np.full(self.n_draws, self.prop),
            },
        )

    def describe(self) -> dict[str, Any]:
        return {"kind": "lognormal-test", "model": self.model, "n": self.n, "n_draws": self.n_draws}


REPRODUCIBLE = ("result.zarr", "patients.parquet", "arms.parquet", "run.json")


def file_hashes(folder: Path) -> dict[str, str]:
    """sha256 of every file of the reproducible part of a result folder."""
    import hashlib

    out = {}
    for name in REPRODUCIBLE:
        root = folder / name
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for f in files:
            out[str(f.relative_to(folder))] = hashlib.sha256(f.read_bytes()).hexdigest()
    return out
