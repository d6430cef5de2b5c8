"""Bounded what-if memory: per session, per server (all sessions of a process), and answers
that keep no full-size arrays they do not need."""

from __future__ import annotations

import numpy as np
import pytest

from twinlab.apps.memory import Ledger, SessionCache, nbytes
from twinlab.apps.whatif import WhatIf

KB = 1024


def _array(kb: int) -> np.ndarray:
    return np.zeros(kb * KB // 8)


def test_a_session_keeps_within_its_byte_budget_least_recently_used_first():
    cache = SessionCache(budget=10 * KB, ledger=Ledger(budget=1 << 30))
    for i in range(3):
        cache.put(("a", i), _array(4))
    assert cache.bytes <= 10 * KB and ("a", 0) not in cache and ("a", 2) in cache
    cache.get(("a", 1))  # used again: now the newest
    cache.put(("b", 0), _array(4), size=5)
    assert ("a", 1) in cache and ("a", 2) not in cache
    big = _array(20)  # larger than the budget: kept while it is the newest
    cache.put(("c", 0), big)
    assert ("c", 0) in cache and cache.bytes == big.nbytes


def test_the_server_budget_evicts_the_oldest_entries_of_any_session():
    ledger = Ledger(budget=12 * KB)
    one, two = (
        SessionCache(budget=1 << 30, ledger=ledger),
        SessionCache(budget=1 << 30, ledger=ledger),
    )
    one.put(("x", 0), _array(4))
    two.put(("x", 0), _array(4))
    one.put(("x", 1), _array(4))
    assert ledger.total() == 12 * KB
    two.put(("x", 1), _array(4))  # over: the oldest entry of all (session one's) goes
    assert ("x", 0) not in one and ("x", 1) in one and ("x", 0) in two and ("x", 1) in two
    assert ledger.total() <= 12 * KB
    del two  # a closed session's memory no longer counts
    assert ledger.total() == 4 * KB


def test_nbytes_counts_arrays_in_nested_values():
    assert nbytes({"a": np.zeros(10), "b": (np.zeros(5), "text")}) == 120


def test_budgets_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("TWINLAB_WHATIF_SESSION_MB", "2")
    assert SessionCache(ledger=Ledger()).budget == 2 * 1024 * KB
    monkeypatch.setenv("TWINLAB_WHATIF_SERVER_MB", "lots")
    with pytest.raises(ValueError, match="megabytes"):
        Ledger().limit()


def test_a_tight_budget_gives_the_same_answers_and_holds_no_full_profiles(project, monkeypatch):
    free = WhatIf(root=str(project), n_patients=300, seed=2)
    monkeypatch.setenv("TWINLAB_WHATIF_SESSION_MB", "0.5")
    tight = WhatIf(root=str(project), n_patients=300, seed=2)
    for dose in (100.0, 150.0, 100.0):
        free.dose = tight.dose = dose
        for endpoint in ("conc", "effect"):
            assert tight.bands(endpoint).equals(free.bands(endpoint))
        assert tight.attainment().equals(free.attainment())
        assert tight._cache.bytes <= 0.5 * 1024 * KB or len(tight._cache.sizes) == 1
    assert tight._cache.evictions > 0
    # linear PK: the answers keep the response at the band points only and no
    # concentrations (they held both in full: twice this)
    answers = free._answers()
    full = free.concentrations().nbytes
    assert answers["conc"] is None and nbytes(answers) < full / 2
