"""Every example in the package's docstrings (numpydoc ``Examples``) runs and shows what it
says: a documented call that drifted from the code fails here, not in a reader's session."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import twinlab

#: every module of the package but ``__main__`` ones (importing those runs the command)
MODULES = sorted(
    m.name
    for m in pkgutil.walk_packages(twinlab.__path__, "twinlab.")
    if not m.name.endswith(".__main__")
)


@pytest.mark.parametrize("name", MODULES)
def test_the_examples_of_a_module_run_as_written(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # examples that write files write them here
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    failed = []
    for test in finder.find(module, name):
        if runner.run(test, out=failed.append).failed:
            failed.append(f"in {test.name}\n")
    assert not failed, "".join(failed)
