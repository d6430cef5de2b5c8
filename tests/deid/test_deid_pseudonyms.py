"""Tests of twinlab.deid.pseudonyms: keyed, deterministic, vectorized."""

from __future__ import annotations

import re

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from twinlab.deid import PSEUDONYM_PATTERN, DeidKey, pseudonym, pseudonymize

KEY_A = DeidKey(b"A" * 32)
KEY_B = DeidKey(b"B" * 32)
idents = st.text(min_size=1, max_size=40)


@settings(max_examples=200, deadline=None)
@given(system=idents, value=idents)
def test_pseudonym_is_deterministic_per_key_and_differs_across_keys(system, value):
    p = pseudonym(system, value, key=KEY_A)
    assert re.fullmatch(PSEUDONYM_PATTERN, p)
    assert p == pseudonym(system, value, key=DeidKey(b"A" * 32))
    assert p != pseudonym(system, value, key=KEY_B)
    assert value not in p[2:] or len(value) < 6


def test_pseudonym_depends_on_system_and_value():
    base = pseudonym("urn:mrn", "123456", key=KEY_A)
    assert base != pseudonym("urn:study", "123456", key=KEY_A)
    assert base != pseudonym("urn:mrn", "123457", key=KEY_A)
    # the separator keeps ("ab", "c") and ("a", "bc") apart
    assert pseudonym("ab", "c", key=KEY_A) != pseudonym("a", "bc", key=KEY_A)


def test_pseudonym_is_not_a_plain_hash_of_the_value():
    import hashlib

    p = pseudonym("urn:mrn", "123456", key=KEY_A)
    digest = hashlib.sha256(b"urn:mrn\x1f123456").hexdigest()
    assert p[2:].lower() not in digest


@settings(max_examples=50, deadline=None)
@given(values=st.lists(idents, min_size=1, max_size=20))
def test_pseudonymize_matches_scalar_and_keeps_index(values):
    s = pd.Series(values, index=range(10, 10 + len(values)))
    out = pseudonymize(s, key=KEY_A, system="sys")
    assert list(out.index) == list(s.index)
    assert out.tolist() == [pseudonym("sys", v, key=KEY_A) for v in values]
    # one pseudonym per distinct value (no collisions at this size)
    assert out.nunique() == len(set(values))


def test_pseudonymize_pairs_and_missing_values():
    out = pseudonymize([("a", "1"), ("b", "1"), ("a", None)], key=KEY_A)
    assert out.iloc[0] == pseudonym("a", "1", key=KEY_A)
    assert out.iloc[1] == pseudonym("b", "1", key=KEY_A)
    assert pd.isna(out.iloc[2])
    assert out.dtype == "str"


def test_pseudonymize_without_system_needs_pairs():
    import pytest

    with pytest.raises(ValueError, match="system"):
        pseudonymize(["x"], key=KEY_A)
