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


@pytest.mark.parametrize(
    ("text", "leaked"),
    [
        ("Admitted to St. Luke's Medical Center after a fall.", ["St.", "Luke", "Medical Center"]),
        ("Transferred from Mt. Sinai yesterday.", ["Mt.", "Sinai"]),
        ("She moved here from Ft. Worth last year.", ["Ft.", "Worth"]),
        ("Followed at Saint Mary's Hospital for CHF.", ["Saint", "Mary", "Hospital"]),
        ("ADMITTED TO ST. JOSEPH'S HOSPITAL FOR CHEST PAIN.", ["ST.", "JOSEPH", "HOSPITAL"]),
        (
            "now at Ft Bragg with his unit; son in Ste. Genevieve",
            ["Ft ", "Bragg", "Ste.", "Genevieve"],
        ),
    ],
)
def test_saint_mount_and_fort_names_go_whole(text, leaked):
    """ "St." (and "Mt.", "Ft.") stayed before a scrubbed name: "St. [PHI]'[PHI]"."""
    assert _leaks(text, leaked) == []


@pytest.mark.parametrize(
    "text",
    [
        "ECG shows ST elevation in V2-V4; st segment depression noted.",
        "Takes St. John's wort daily; St John's Wort stopped.",
        "History of St. Louis encephalitis.",
        "ADMITTED TO ST. JOSEPH'S HOSPITAL FOR CHEST PAIN.",
    ],
)
def test_st_in_clinical_words_stays(text):
    kept = {"ST elevation", "st segment", "wort", "encephalitis", "FOR CHEST PAIN"}
    out = scrub_text(text)
    assert all(k in out for k in kept if k in text)
