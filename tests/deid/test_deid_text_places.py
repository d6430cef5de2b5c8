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
        "Met the Mount Sinai criteria.",
        "ADMITTED TO ST. JOSEPH'S HOSPITAL FOR CHEST PAIN.",
    ],
)
def test_st_in_clinical_words_stays(text):
    kept = {"ST elevation", "st segment", "wort", "encephalitis", "FOR CHEST PAIN", "Mount Sinai"}
    out = scrub_text(text)
    assert all(k in out for k in kept if k in text)


@pytest.mark.parametrize(
    ("text", "leaked"),
    [
        ("He grew up in the Golden Triangle and works in the Delta.", ["Golden", "Delta"]),
        ("Lives in the Panhandle with her husband.", ["Panhandle"]),
        ("Family is from Upstate; summers in the Lowcountry.", ["Upstate", "Lowcountry"]),
        ("Retired to Hill Country. Brother lives in the Inland Empire.", ["Hill", "Inland"]),
        ("Moved to the Bay Area; daughter in the Tri-Cities.", ["Bay Area", "Tri-Cities"]),
        ("Miner from the Iron Range, raised on the Eastern Shore", ["Iron", "Eastern Shore"]),
        ("now on the North Shore; sister on the Gulf Coast", ["North Shore", "Gulf Coast"]),
        ("Sister in West Texas, brother in Upstate New York.", ["West Texas", "Upstate"]),
        ("FATHER FARMS IN THE MISSISSIPPI DELTA", ["MISSISSIPPI DELTA"]),
        ("a Palouse native, moved upstate in May", ["Palouse", "upstate"]),
    ],
)
def test_named_regions_smaller_than_a_state_are_removed(text, leaked):
    assert _leaks(text, leaked) == []


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("EEG showed delta waves over the temporal leads.", "delta waves"),
        ("Infected with the Delta variant; in the Delta wave.", "Delta variant"),
        ("Delta-9 THC use daily.", "Delta-9 THC"),
        ("Anion gap and delta gap calculated; delta ratio 1.2", "delta ratio"),
        ("Ate Brussels sprouts with cheese.", "Brussels sprouts"),
        ("Meds: Tylenol, Motrin. Allergies: Penicillin, Sulfa.", "Tylenol, Motrin"),
    ],
)
def test_region_and_town_names_in_clinical_or_common_words_stay(text, kept):
    assert kept in scrub_text(text)


@pytest.mark.parametrize(
    ("text", "leaked"),
    [
        # towns abroad (GeoNames cities15000), accents or not
        ("She visited family in Guadalajara last month.", ["Guadalajara"]),
        ("Born in Kraków; came to Tromsø as a teen.", ["Krak", "Troms"]),
        ("Mother still lives near Bhaktapur with an uncle.", ["Bhaktapur"]),
        # a town before its country, known or not
        ("Pt is from Xalapa, Mexico.", ["Xalapa"]),
        ("raised in Tlacotalpan, Veracruz, Mexico", ["Tlacotalpan"]),
        ("Cousin in Little Snoring, United Kingdom", ["Little Snoring"]),
        # any capitalised name after a strong cue: US towns under 500 people, unknown towns
        ("She grew up in Frogmore Corners and is from Nowhereville.", ["Frogmore", "Nowhereville"]),
        ("He came here from Tinyburg; stationed at Camp Wexley", ["Tinyburg", "Wexley"]),
        ("emigrated from Oyotunji as a child", ["Oyotunji"]),
        # lower case, where the engine sees no proper noun: after a residence or travel verb
        ("pt lives in oaxaca with her mother", ["oaxaca"]),
        ("grew up in tromsø, moved to the bay area", ["troms", "bay area"]),
        ("dad still farming in the delta, son lives in the inland empire", ["delta", "inland"]),
    ],
)
def test_towns_abroad_and_unknown_towns_after_a_strong_cue_are_removed(text, leaked):
    assert _leaks(text, leaked) == []


def test_a_lower_case_town_further_after_its_residence_verb_is_removed():
    """ "lives w/ partner jesse in the upper peninsula, near escanaba": the verb was more than 40
    characters before "near"."""
    assert (
        _leaks("lives w/ partner jesse in the upper peninsula, near escanaba", ["escanaba"]) == []
    )


@pytest.mark.parametrize(
    ("text", "leaked"),
    [
        ("seen at st francis er 2 wks ago", ["st francis"]),
        ("transfered from mt carmel east", ["mt carmel"]),
    ],
)
def test_lower_case_saint_names_go_whole(text, leaked):
    assert _leaks(text, leaked) == []


@pytest.mark.parametrize(
    "text",
    ["st elevation in v2, st segment changes", "5 ft tall", "takes st john's wort", "st t wave"],
)
def test_lower_case_st_in_clinical_words_stays(text):
    assert scrub_text(text) == text


def test_a_hyphenated_given_name_goes_whole():
    """ "Jae-won Park": Philter kept "won", an English word."""
    out = scrub_text("Dad: Jae-won Park (deceased 2019); Mom: Hyun-joo Park")
    assert "won" not in out and "joo" not in out


@pytest.mark.parametrize(
    ("text", "leaked"),
    [
        ("pt lvies in biloxi w/ her son", ["biloxi"]),
        ("wife works at the casino in tunica", ["tunica"]),
    ],
)
def test_a_lower_case_town_after_a_misspelt_residence_verb_or_a_job_is_removed(text, leaked):
    assert _leaks(text, leaked) == []


def test_lower_case_words_after_work_or_lie_verbs_stay():
    text = "works in sales; works in oil and gas; pt lies in bed"
    assert scrub_text(text) == text


@pytest.mark.parametrize(
    "text",
    [
        "Hx of Lung CA. Prostate CA, s/p XRT. Colon CA.",
        "Anterior MI. Old MI, s/p PCI. ST Elevation MI.",
        "Heparin 5000 units SC. O2 2L NC. Under GA.",
    ],
)
def test_clinical_abbreviations_that_are_state_codes_make_no_town(text):
    """ "Lung CA" and "Anterior MI" were read as a town before its state."""
    assert scrub_text(text) == text


@pytest.mark.parametrize(
    ("text", "leaked"),
    [
        ("FRESNO CA 93701", ["FRESNO"]),
        ("moved from Fresno CA.", ["Fresno"]),
        ("Tinyburg, CA", ["Tinyburg"]),
    ],
)
def test_a_town_before_an_ambiguous_state_code_still_goes(text, leaked):
    assert _leaks(text, leaked) == []


def test_an_ordinal_ward_or_precinct_goes():
    out = scrub_text("Grew up in the Lower 9th Ward; votes in the 5th precinct; 3rd ward rounds")
    assert "9th" not in out and "5th" not in out and "3rd ward rounds" in out


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("Lives on 12 Main St. Has a dog.", "Has a dog."),
        ("LIVES ON 12 MAIN ST. HAS A DOG.", "HAS A DOG."),
        ("Patient is from Berlin. Denies pain.", "[ADDRESS]. Denies pain."),
        ("She lives in Tupelo. BP 120/80.", "[ADDRESS]. BP 120/80."),
    ],
)
def test_a_street_abbreviation_and_a_full_stop_end_the_place(text, kept):
    """ "Main St. Has" read as Saint Has (the next sentence's first word went), and a place at
    the end of a sentence took its full stop with it."""
    assert scrub_text(text).endswith(kept)
