"""Names of employers, facilities, regions and towns in free text (round 4 of the red team):
the whole name goes, the words of the sentence around it stay."""

from __future__ import annotations

import pytest

from twinlab.deid import scrub_text


def _leaks(text: str, leaked: list[str]) -> list[str]:
    out = scrub_text(text).lower()
    return [x for x in leaked if x.lower() in out]


@pytest.mark.parametrize(
    ("text", "employer", "kept"),
    [
        ("PT WORKS AT ACME LUMBER AND HAS PAIN IN LOW BACK.", "ACME LUMBER", "HAS PAIN IN LOW"),
        ("WIFE WORKS FOR PROCTER AND GAMBLE SINCE 2001.", "PROCTER AND GAMBLE", "SINCE"),
        ("SON EMPLOYED BY DELMAR FREIGHT FOR 10 YEARS", "DELMAR FREIGHT", "FOR 10 YEARS"),
        ("Works At Brannock Feed And Has Back Pain", "Brannock Feed", "And Has Back Pain"),
    ],
)
def test_an_all_caps_employer_name_stops_before_the_sentence_goes_on(text, employer, kept):
    """In capitals every word looked like a word of the name: the rest of the note went too."""
    out = scrub_text(text)
    assert employer not in out
    assert kept in out
