"""The docstring examples of the apps' modules run and pass."""

from __future__ import annotations

import doctest

import pytest

import twinlab.apps.auth
import twinlab.apps.disclosure
import twinlab.apps.memory
import twinlab.apps.stats
import twinlab.apps.summaries
import twinlab.apps.whatif


@pytest.mark.parametrize(
    "module",
    [
        twinlab.apps.auth,
        twinlab.apps.disclosure,
        twinlab.apps.memory,
        twinlab.apps.stats,
        twinlab.apps.summaries,
        twinlab.apps.whatif,
    ],
)
def test_docstring_examples(module):
    result = doctest.testmod(module)
    assert result.failed == 0
