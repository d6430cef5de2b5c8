"""Progress of a fit: a live display in a terminal or notebook, lines in a log, same draws."""

from __future__ import annotations

import importlib
import io
import re

import numpy as np

from twinlab.pkpd import progress
from twinlab.pkpd.fit import fit
from twinlab.pkpd.progress import ChainProgress, progress_mode

LINE = re.compile(
    r"\[fit\] \d+:\d\d elapsed: draws (\d+)/400 \(chain 1 (\d+)/200, chain 2 (\d+)/200\), "
    r"(\d+) divergences \((\d+) in warm-up\), "
    r"(about \d+:\d\d left|time left unknown yet|done)$"
)


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_is_live_in_a_terminal_logged_elsewhere_and_off_on_request():
    assert progress_mode(False, _Terminal()) == "off"
    assert progress_mode(None, _Terminal()) == "display"
    assert progress_mode(True, _Terminal()) == "display"
    assert progress_mode(None, io.StringIO()) == "log"  # a DVC stage's log
    assert progress_mode(True, io.StringIO()) == "log"


def test_a_log_line_counts_draws_per_chain_divergences_and_time_left():
    state = ChainProgress(chains=2, tune=100, draws=100)
    assert state.total == 400
    assert state.line(3.0).endswith(
        "draws 0/400 (chain 1 0/200, chain 2 0/200), "
        "0 divergences (0 in warm-up), time left unknown yet"
    )
    state.done[:] = [150, 50]
    state.divergences[:] = [1, 0]
    state.warmup_divergences[:] = [2, 1]
    assert state.line(70.0) == (
        "[fit] 1:10 elapsed: draws 200/400 (chain 1 150/200, chain 2 50/200), "
        "1 divergences (3 in warm-up), about 1:10 left"
    )
    state.done[:] = [200, 200]
    assert state.line(3700.0).startswith("[fit] 1:01:40 elapsed: draws 400/400")
    assert state.line(3700.0).endswith(", done")


def test_a_logged_fit_reports_as_it_goes_and_draws_what_a_silent_one_draws(
    tiny_fit, capsys, monkeypatch
):
    monkeypatch.setattr(progress, "LOG_EVERY_S", 0.02)
    # the lines come from nutpie's raw statistics, not its public inspect(), which converts
    # every draw to ArviZ (~1 s a call on the demo's 190 subjects)
    background = importlib.import_module("nutpie.sample")._BackgroundSampler

    def converts_every_draw(self):
        raise AssertionError("public inspect() used for progress")

    monkeypatch.setattr(background, "inspect", converts_every_draw)
    settings = dict(tiny_fit.settings)
    logged = fit(tiny_fit.spec, tiny_fit.arrays, progress=None, **settings)
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[0] == "[fit] sampling 2 chains x (100 warm-up + 100 draws) with nutpie"
    assert re.fullmatch(r"\[fit\] sampled 200 draws in \d+:\d\d, \d+ divergences", lines[-1])
    progress_lines = [LINE.match(line) for line in lines[1:-1]]
    assert progress_lines and all(progress_lines), lines
    done = [int(m.group(1)) for m in progress_lines]
    assert done == sorted(done) and 0 < done[-1] <= 400
    for m in progress_lines:
        assert int(m.group(1)) == int(m.group(2)) + int(m.group(3))
    # progress never changes the draws: the same seed gives what the silent fixture drew
    for name in ("cl", "omega_cl", "beta_cl_crcl", "z_cl"):
        np.testing.assert_array_equal(
            logged.idata.posterior[name].values, tiny_fit.idata.posterior[name].values
        )
    silent = fit(tiny_fit.spec, tiny_fit.arrays, progress=False, **settings)
    assert capsys.readouterr().err == ""
    np.testing.assert_array_equal(
        silent.idata.posterior["cl"].values, tiny_fit.idata.posterior["cl"].values
    )


class _PublicOnly:
    """A running nutpie sampler seen through its public API only (as other nutpie versions
    may offer it): no ``_sampler``."""

    def __init__(self, sampler):
        self.__sampler = sampler

    @property
    def is_finished(self):
        return self.__sampler.is_finished

    def inspect(self):
        return self.__sampler.inspect()

    def wait(self):
        return self.__sampler.wait()

    def cancel(self):
        self.__sampler.cancel()


def test_with_nutpies_public_api_only_the_log_still_counts_the_draws(tiny_fit, capsys, monkeypatch):
    import nutpie

    real = nutpie.sample
    monkeypatch.setattr(nutpie, "sample", lambda *a, **kw: _PublicOnly(real(*a, **kw)))
    monkeypatch.setattr(progress, "LOG_EVERY_S", 0.05)
    settings = dict(tiny_fit.settings)
    again = fit(tiny_fit.spec, tiny_fit.arrays, progress=None, **settings)
    lines = capsys.readouterr().err.strip().splitlines()
    matches = [LINE.match(line) for line in lines[1:-1]]
    assert matches and all(matches), lines
    assert max(int(m.group(1)) for m in matches) > 0
    np.testing.assert_array_equal(
        again.idata.posterior["cl"].values, tiny_fit.idata.posterior["cl"].values
    )
