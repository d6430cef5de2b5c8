"""Docstring examples of the NCA, model catalogue, NONMEM reader, spec and exact exposure."""

from __future__ import annotations

import doctest
import importlib

import pytest


@pytest.mark.parametrize(
    "module",
    [
        "twinlab.pkpd.nca",
        "twinlab.pkpd.catalog",
        "twinlab.pkpd.dataset",
        "twinlab.pkpd.population",
        "twinlab.simulate.exposure",
    ],
)
def test_docstring_examples(module):
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
