"""The first fit on a machine draws what every later fit draws.

PyTensor compiles its Numba functions with fast-math by default; the machine code a process
compiled for a model and the code it stored on disk then computed other last bits, so a
fit from an empty cache (a fresh clone, a reviewer's machine, CI) drew other chains than
the same fit once the cache was warm; and the population kernels twinlab compiles itself
(``twinlab.pkpd.events``) computed otherwise when Numba loaded them from its cache than when
it compiled them with the model. The fits run in fresh processes: from empty caches, warm,
and a model compiled afresh beside a warm Numba cache."""

from __future__ import annotations

import os
import subprocess
import sys

SCRIPT = """
import hashlib, numpy as np
from twinlab.pkpd.fit import fit
from twinlab.pkpd.population import PopulationSpec, simulated_study
spec = PopulationSpec.from_dict({"model": "pk_2cmt_oral", "errors": "combined",
    "parameters": {"ka": 1.0, "cl": 3.0, "v": 30.0, "q": 2.0, "v2": 40.0}})
truth = {"ka": 1.2, "cl": 3.0, "v": 30.0, "q": 2.0, "v2": 40.0, "omega_ka": 0.3,
         "omega_cl": 0.25, "omega_v": 0.15, "omega_q": 0.2, "omega_v2": 0.2,
         "sigma_add_conc": 0.05, "sigma_prop_conc": 0.1}
arrays, _ = simulated_study(spec, truth, n_subjects=12, seed=4)
post = fit(spec, arrays, draws=60, tune=60, chains=1, seed=3, progress=False).idata.posterior
h = hashlib.sha256()
for name in sorted(post.data_vars):
    h.update(np.ascontiguousarray(post[name].values).tobytes())
print("DRAWS", h.hexdigest())
"""


def _draws(env: dict[str, str]) -> str:
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=900
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return next(line for line in out.stdout.splitlines() if line.startswith("DRAWS"))


def test_a_fit_from_an_empty_cache_draws_what_a_warm_one_draws(tmp_path):
    def env(compiledir: str) -> dict[str, str]:
        flags = f"base_compiledir={tmp_path / compiledir}"
        numba_dir = str(tmp_path / "numba")  # twinlab's own compiled functions
        return {**os.environ, "PYTENSOR_FLAGS": flags, "NUMBA_CACHE_DIR": numba_dir}

    cold = _draws(env("first"))
    assert any((tmp_path / "first").rglob("*.nbi"))  # the cold fit filled the cache
    warm = _draws(env("first"))  # the model stored by the first fit
    # a model compiled afresh while twinlab's own Numba functions could come from their
    # cache (a machine that ran anything else of twinlab before its first fit)
    again = _draws(env("second"))
    assert cold == warm == again  # the digests of every posterior array
