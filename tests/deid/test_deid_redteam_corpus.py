"""A red-team corpus written for round 4 (none of its values planted in earlier tests): notes in
the styles a hospital exports (discharge summary, nursing, social work, radiology, portal
message, phone triage, genetic-counselling pedigree, an all-caps legacy note, a hurried
lower-case note with typos), each carrying identifiers of all 18 Safe Harbor classes of the
patient **and of relatives**, scrubbed by :class:`~twinlab.deid.TextScrubber` as ingest does
(patterns and engine, no known values: a relative's name is rarely in the sources). Every
planted value must go; the clinical words beside them (drugs, doses, labs, anatomy, eponyms)
must stay."""

from __future__ import annotations

import re

import pytest
from deid_redteam import leaks, scrubbed

#: (style, note, planted identifiers, clinical words that must survive)
CORPUS: list[tuple[str, str, list[str], list[str]]] = [
    (
        "discharge summary",
        "DISCHARGE SUMMARY\n"
        "Patient: Oluwaseun Thibodeaux-Marsh  MRN: 44-8812-07  Acct#: 99310457\n"
        "Admitted 11/23/2021, discharged 11/29/2021 from Our Lady of Lourdes, 4801 Ambassador "
        "Caffery Pkwy, Lafayette, LA 70508. Health plan: Blue Cross member ID XJH442981773.\n"
        "HPI: 67M with Parkinson disease on carbidopa-levodopa 25/100 mg TID, admitted with "
        "aspiration pneumonia. WBC 14.2, lactate 2.1, Cr 1.3. Treated with ampicillin-sulbactam "
        "3 g IV q6h. Discharged to daughter Precious Thibodeaux (cell 337-555-0148) in "
        "Broussard. Follow up with Dr. Anjali Venkataraman on Dec 6th.",
        [
            "Oluwaseun",
            "Thibodeaux",
            "44-8812-07",
            "99310457",
            "11/23",
            "11/29",
            "Lourdes",
            "4801 Ambassador",
            "Caffery",
            "Lafayette",
            "70508",
            "XJH442981773",
            "Precious",
            "337-555-0148",
            "Broussard",
            "Anjali",
            "Venkataraman",
            "Dec 6th",
        ],
        [
            "Parkinson disease",
            "carbidopa-levodopa",
            "25/100 mg",
            "aspiration pneumonia",
            "WBC 14.2",
            "lactate 2.1",
            "ampicillin-sulbactam",
            "3 g IV q6h",
        ],
    ),
    (
        "nursing note",
        "0700 RN note: pt resting, SpO2 94% on 2L NC. Husband Dmitri Kovalenko visited, drove "
        "in from Port Arthur in his white F-150, plate TX KJM-4471, VIN 1FTFW1ET5DFC10312. "
        "Insulin pump serial PT-88214-B, CGM transmitter ID 8GK29Q. Foley catheter draining "
        "clear urine. Pt's fingerprint scan used for the med cabinet, voiceprint ID VP-30417. "
        "Fall risk: Morse 45. Pain 3/10 at rest.",
        [
            "Dmitri",
            "Kovalenko",
            "Port Arthur",
            "KJM-4471",
            "1FTFW1ET5DFC10312",
            "PT-88214-B",
            "8GK29Q",
            "VP-30417",
        ],
        ["SpO2 94%", "Foley catheter", "Morse 45", "Pain 3/10 at rest", "Insulin pump"],
    ),
    (
        "social work note",
        "SW: Met with pt and her sister Marisela Ocampo-Reyes. Pt grew up in Zacatecoluca, El "
        "Salvador, came to the US in 2004 and lives with her brother-in-law Teodoro in the "
        "Rio Grande Valley. She works at Valley Citrus Packers and her son works for "
        "Brownsville Tire & Lube. Son's SSN 512-44-9087 given for the Medicaid application "
        "(Medicaid # 700194432); his birth certificate no. 142-2004-118837 and her "
        "voter card (voting precinct 27) copied. Pt is the only Salvadoran midwife in "
        "Cameron County. Contact "
        "e-mail mocampo.reyes@yahoo.com. Dx: gestational diabetes, on metformin 500 mg BID.",
        [
            "Marisela",
            "Ocampo",
            "Zacatecoluca",
            "Teodoro",
            "Rio Grande Valley",
            "Valley Citrus Packers",
            "Brownsville Tire",
            "512-44-9087",
            "700194432",
            "142-2004-118837",
            "27",  # the voting precinct (the label may stay)
            "Salvadoran midwife",
            "Cameron",
            "mocampo.reyes@yahoo.com",
        ],
        ["gestational diabetes", "metformin 500 mg BID"],
    ),
    (
        "radiology report",
        "CT ABDOMEN/PELVIS W CONTRAST  Accession: RA-2021-0093381  Exam date: 03/14/2022 "
        "14:32. Ordering: Fenwick, Harriet MD (NPI 1467738291). Comparison: outside CT from "
        "St. Vincent's Birmingham dated 9/2/21. Findings: 2.3 cm hypodense lesion in hepatic "
        "segment VII; no hydronephrosis. Appendix normal. Images on PACS server 10.24.118.7; "
        "see https://pacs.stvincent-bhm.org/viewer?study=883192. Full-face photo attached "
        "as IMG_4471.JPG for wound tracking.",
        [
            "RA-2021-0093381",
            "03/14/2022",
            "Fenwick",
            "Harriet",
            "1467738291",
            "Vincent",
            "Birmingham",
            "9/2/21",
            "10.24.118.7",
            "pacs.stvincent-bhm.org",
            "IMG_4471",
        ],
        ["hypodense lesion", "hepatic segment VII", "hydronephrosis", "Appendix normal"],
    ),
    (
        "patient portal message",
        "Hi Dr. Abernethy, this is Keziah Lindqvist-Amadi (DOB 4/17/1958). My grandson Tobias "
        "set up my account, username kez_lindqvist58. Since my knee replacement on "
        "Valentine's Day the incision is red. I live at 22 Juniper Hollow Rd, Apt 3, in "
        "Nederland and my new number is (409) 555-0172; fax 409-555-0173. My mother lived "
        "to 96 and I want to see the grandkids graduate! Can I take ibuprofen 400 mg with "
        "my warfarin 5 mg? Thanks, Keziah",
        [
            "Abernethy",
            "Keziah",
            "Lindqvist",
            "4/17",
            "Tobias",
            "kez_lindqvist58",
            "Valentine",
            "22 Juniper Hollow",
            "Nederland",
            "(409) 555-0172",
            "409-555-0173",
            "96",
        ],
        ["knee replacement", "incision is red", "ibuprofen 400 mg", "warfarin 5 mg"],
    ),
    (
        "phone triage note",
        "Phone triage 2:10pm. Caller: Rosalind Achterberg (wife), callback 1-712-555-0190 ext "
        "22. Pt Emmerich Achterberg, 91 y/o, chest tightness since this morning, took "
        "nitroglycerin 0.4 mg SL x1. Lives on a farm outside Orange City near the Iowa line, "
        "Sioux County. Advised 911. Insurance: Wellmark policy no. WMK7730021-01. Driver's "
        "license IA 832KL4471 on file.",
        [
            "Rosalind",
            "Achterberg",
            "712-555-0190",
            "ext 22",
            "Emmerich",
            "91 y/o",
            "Orange City",
            "Sioux",
            "WMK7730021-01",
            "832KL4471",
        ],
        ["chest tightness", "nitroglycerin 0.4 mg SL"],
    ),
    (
        "genetic counselling pedigree",
        "Pedigree: proband Sigrun Haraldsdottir, 34F. Mother Ingibjorg (b. 1961, breast ca dx "
        "at 44, BRCA1 c.68_69delAG carrier) lives in Reykjavik. Maternal aunt Solveig "
        "Haraldsdottir d. 2015 of ovarian ca in Akureyri. Father Bjorn Einarsson, 68, healthy, "
        "works at Hekla Seafoods in Gloucester. Brother Gunnar (twin) has Crohn disease; his "
        "daughter Freyja Gunnarsdottir born 06/02/2019, Apgar 8/9. Maternal grandmother "
        "turned 97 last June. Family Facebook group: facebook.com/haraldsdottir.family.",
        [
            "Sigrun",
            "Haraldsdottir",
            "Ingibjorg",
            "Reykjavik",
            "Solveig",
            "Akureyri",
            "Bjorn",
            "Einarsson",
            "Hekla Seafoods",
            "Gloucester",
            "Gunnar",
            "Freyja",
            "06/02/2019",
            "97",
            "facebook.com/haraldsdottir",
        ],
        ["BRCA1", "c.68_69delAG", "ovarian ca", "Crohn disease", "Apgar 8/9", "breast ca"],
    ),
    (
        "all-caps legacy note",
        "PT IS A 58 YO M FROM HOUMA, LA. WIFE BERNADETTE LEBLANC PHONE 985 555 0114. WORKS "
        "AT TERREBONNE MARINE AND HAS LOW BACK PAIN X 3 WKS. SEEN AT ST. ANNE'S GENERAL ON "
        "JAN 4TH. SSN XXX-XX-6612. MRN 00451173. LIVES ON BAYOU BLUE RD. PLAN: "
        "CYCLOBENZAPRINE 10 MG QHS, PT EVAL. HE IS THE ONLY LICENSED ALLIGATOR TRAPPER IN "
        "TERREBONNE PARISH.",
        [
            "HOUMA",
            "BERNADETTE",
            "LEBLANC",
            "985 555 0114",
            "TERREBONNE MARINE",
            "ANNE",
            "JAN 4TH",
            "6612",
            "00451173",
            "BAYOU BLUE",
            "ALLIGATOR TRAPPER",
        ],
        ["LOW BACK PAIN", "CYCLOBENZAPRINE 10 MG QHS", "PT EVAL"],
    ),
    (
        "lower-case note with typos",
        "pt seen w/ her duaghter lupita, pt lives in el cenizo w/ grandson. dob 2/9/31, "
        "she is 93. came from nuevo laredo mexico in 1970s. pcp dr. okonjo-iweala. cell "
        "956 555 0131. zip 78046. hx htn on lisinopril 20mg daily, ckd3, a1c 7.9. pt email "
        "lupe.garza31 at gmail dot com. medicare # 1EG4-TE5-MK72.",
        [
            "lupita",
            "el cenizo",
            "2/9/31",
            "93",
            "nuevo laredo",
            "okonjo",
            "956 555 0131",
            "78046",
            "lupe.garza31",
            "1EG4-TE5-MK72",
        ],
        ["lisinopril 20mg daily", "htn", "ckd3", "a1c 7.9"],
    ),
]


@pytest.mark.parametrize(("style", "note", "planted", "_kept"), CORPUS, ids=[c[0] for c in CORPUS])
def test_every_planted_identifier_is_removed(style, note, planted, _kept):
    out = scrubbed(note)
    assert leaks(note, planted, out) == [], f"{style}\n{out}"


@pytest.mark.parametrize(("style", "note", "_planted", "kept"), CORPUS, ids=[c[0] for c in CORPUS])
def test_clinical_content_survives(style, note, _planted, kept):
    out = scrubbed(note)
    lost = [k for k in kept if k not in out]
    assert lost == [], f"{style}: {lost}\n{out}"


@pytest.mark.parametrize(
    "display",
    [
        "Standard pregnancy test",
        "Standard pregnancy test (procedure)",
        "STANDARD PREGNANCY TEST",
        "Line Provider Payment Amount",
        "Nurse Visit Type",
    ],
)
def test_synthea_displays_are_no_name(display):
    """Displays of Synthea's claims and procedures came out as "[NAME]" (a care role before a
    word Philter lists as a surname: "Provider Payment")."""
    assert "[NAME]" not in scrubbed(display)


def test_a_name_after_a_care_role_still_goes():
    out = scrubbed("Attending Provider Dana Whitfield; nurse Agnieszka Nowak")
    assert "Whitfield" not in out and "Nowak" not in out


@pytest.mark.parametrize(
    "text",
    [
        "The only abnormality in the area was a small nodule.",
        "The first dose in the ED was given; the only lesion in the region of the pancreas.",
        "She is the only one of her siblings with diabetes.",
    ],
)
def test_only_and_first_in_clinical_sentences_are_no_unique_characteristic(text):
    assert "[UNIQUE]" not in scrubbed(text)


@pytest.mark.parametrize(
    ("text", "leaked"),
    [
        ("EIN 72-1409953 for the family business", ["72"]),
        ("Tax ID no. 91-0837726 (husband's plumbing company)", ["91", "0837726"]),
    ],
)
def test_tax_numbers_go_whole(text, leaked):
    """The 7 digits after the hyphen went as a long number; the 2 before stayed."""
    out = scrubbed(text)
    assert [x for x in leaked if re.search(rf"\b{x}\b", out)] == []


def test_a_radio_handle_is_a_nickname():
    out = scrubbed("Pt's CB handle is Swamp Fox; ham radio call sign KD5QXR. Door handle injury.")
    assert "Swamp" not in out and "Fox" not in out and "KD5QXR" not in out
    assert "handle injury" in out


@pytest.mark.parametrize(
    ("text", "leaked"),
    [
        ("Son's credit card 4111 1111 1111 1111 on file", ["4111", "1111"]),
        ("Amex 3782 822463 10005.", ["3782", "822463", "10005"]),
        ("Phone IMEI 35-209900-176148-1", ["35", "209900", "176148"]),
        ("see photo of pt's face in chart (IMG 2203)", ["2203"]),
    ],
)
def test_card_numbers_phone_imeis_and_camera_file_numbers(text, leaked):
    out = scrubbed(text)
    assert [x for x in leaked if re.search(rf"\b{x}\b", out)] == []


def test_a_medication_schedule_is_no_card_number():
    assert "0800 1200 1600 2000" in scrubbed("Insulin at 0800 1200 1600 2000")
