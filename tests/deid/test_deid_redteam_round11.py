"""A red-team corpus written for round 11 (none of its values planted in earlier rounds), laid
out along HIPAA Safe Harbor's 18 classes of identifiers of the patient **and of relatives,
household members and employers**: a discharge summary with a vitals table beside its dates
and an ALL-CAPS "LAST, FIRST MI" header, an obstetric delivery note (the baby's name, the
father's name and employer, LMP and EDD, gravida/para notation that must stay), an ED triage
note dictated by speech recognition (a name spelled letter by letter, a birth date and a
call-back number in words), an interpreter's note (name and ID), a transcribed voicemail in
lower case with an extension, names and telephones hyphenated across line breaks, identifiers
in brackets and after slashes, telephones of other countries (+44, +91, 0049) and extensions
("x4418"), an e-mail spelled out ("at yahoo"), a web address without a scheme, MAC and IPv6
addresses, device serials after "S/N:" and "SN:", a Medicare MBI, licences (DL#, "Lic#"), a VIN
and a plate, a birth certificate, a fingerprint ID, a photo's file name, ages over 89 in
numeric forms ("94yo", "age: 91", "in his 90s", "97 y.o."), dates in loose forms
("17MAR1931", "2024/3/17", "03-22", "Friday the 22nd", "mid-March 2024", "Spring of '19"),
ZIP+4, a unit, a PO box, a rural route's box, a county, neighbourhoods and a borough; and
clinical text that must stay beside them: drugs and doses, labs, scores, genes (BRCA1, HER2,
KRAS G12C) and eponyms (Parkinson, Crohn, Hodgkin, Hashimoto, Raynaud, Barrett, Meckel).
Scrubbed as ingest does (:class:`~twinlab.deid.TextScrubber`: patterns and engine, no known
values), every planted value must go; the clinical words beside them must stay.

Policy decisions the corpus follows: a time of day ("04:52", "16:40") is no date element and
stays, as in earlier rounds, even as a baby's time of birth; a device's or a car's make
(Medtronic, Subaru) is not planted; a bare zero-padded "03-17" with no date word before it is
left as it was (a range "03-06" reads the same).

Before round 11, on the first batch (16 notes, 121 values), the harness counted 5 leaks: a
month/day after "Discharge:" ("03-22", whose "03" also counted against the two table dates
beside it), an area code on the line before its number ("919-" / "555-0128") and the prefix
of "mid-March 2024"; 7 of its 74 clinical phrases were lost ("94% RA" in the table,
"G3P2012", "39w2d", "HER2-negative", "CEA 2.1", "Katz ADL 5/6", "TUG 14 s"). Probing beyond
the corpus found more, held as a second batch (5 notes, 22 values), which leaked 9: a
military post address ("PSC 3417 Box 2290"), a neighbourhood named by its side of town ("the
Upper West Side"), a month's day as a cardinal word ("birthday is march twelve"), house
numbers with a half or a letter ("2207 1/2 Tregothnan Ave", "118-C Depot Street"), a caller
naming herself in lower case ("hi it's rob"), a second broken telephone and date prefix
("early-March 2024") and a ZIP+4 written with an en dash; and lost 17 of 23 phrases: markers
with a hyphenated status ("ER-positive", "EGFR-mutant", "ALK-rearranged", "HER2-low"),
"Factor V Leiden", eponyms of anatomy ("circle of Willis", "ampulla of Vater", "Broca
aphasia", "Jackson-Pratt drain"), geriatric scales and obstetric notation. In all, before
round 11: 14 of 143 planted values leaked (12 distinct; dates 4, geographic 5, telephones 2,
a name 1) and 24 of 97 clinical phrases were lost; after: none of either.

The benchmark (``benchmarks/deid_recall.py --notes 500``, seed 14: 625 notes, 18,750
values) gave the same figures before and after round 11: recall 1.0, precision of the replaced
characters 0.9202, clinical tokens removed 0.0004 (its generator plants none of the forms
above).

The rules are bounded so as not to open leaks: a marker keeps its status only when it is in
capitals and a known marker, a gene or holds a digit ("DOE-LOW, JANE" stays a name); an
eponym of anatomy only after its structure and "of" ("son Willis of Tacoma" still goes); a
place before "area" or "canal" stays a place (those words were not added to the eponym
nouns); a month before a number word only after a birth or date word or capitalised, and
not before a unit of quantity ("march twelve miles"); a caller's name only a lower-case given
name of Philter's lists after a greeting.

Left as they were (not in the kept lists): "chest pane" (a speech-recognition typo Philter
flags), device and car makes (Cobalt, Watchman, Subaru), a lone brand ("Keytruda"),
"Hickman line", "West Side Story" (now taken as a neighbourhood), "desk 4-4471" (the "4-"
stays), a bare "Unit #4".
"""

from __future__ import annotations

import pytest
from deid_redteam import leaks_and_losses, scrubbed

from twinlab.deid import text as deid_text

#: (style, note, planted identifiers, clinical words that must survive)
CORPUS: list[tuple[str, str, list[str], list[str]]] = [
    (
        "discharge summary with tabular vitals beside dates",
        "DISCHARGE SUMMARY\nPATIENT: QUINTERO-HALVORSEN, ROSALIND M   DOB: 17MAR1931   "
        "MRN: 60218835\nAdmit: 2024/3/17   Discharge: 03-22\n"
        "Date        BP       HR   SpO2\n03/18/2024  132/78   88   94% RA\n"
        "03/19/2024  118/70   76   97% RA\nAttending: Lysander Osterholt-Reyes, MD. PCP: Dr. "
        "Vashti Kerrigan.\nDx: Parkinson disease; Crohn disease in remission. Carbidopa-levodopa "
        "25/100 mg TID, mesalamine 1.2 g daily. Hgb 11.4 g/dL, Na 138.",
        [
            "QUINTERO-HALVORSEN",
            "ROSALIND",
            "17MAR1931",
            "60218835",
            "2024/3/17",
            "03-22",
            "03/18/2024",
            "03/19/2024",
            "Lysander",
            "Osterholt-Reyes",
            "Vashti",
            "Kerrigan",
        ],
        [
            "132/78",
            "94% RA",
            "118/70",
            "Parkinson disease",
            "Crohn disease",
            "Carbidopa-levodopa 25/100 mg TID",
            "mesalamine 1.2 g daily",
            "Hgb 11.4 g/dL",
            "Na 138",
        ],
    ),
    (
        "obstetric delivery note",
        "L&D NOTE: G3P2012 at 39w2d. LMP 06/11/2023, EDD 03/17/2024 by 8-wk US. Delivered a "
        "viable female infant, Baby Girl Antonescu, named Isadora, at 04:52 on Tuesday the "
        "19th; Apgars 8 and 9, weight 3410 g. Father of baby Dragomir Antonescu works as a "
        "lineman for Duquesne Light, cell +1 412 555 0147. GBS negative, Rh positive, EBL 350 "
        "mL, 2nd degree laceration repaired. Pitocin 10 units IM.",
        [
            "Antonescu",
            "Isadora",
            "06/11/2023",
            "03/17/2024",
            "Tuesday the 19th",
            "Dragomir",
            "Duquesne Light",
            "+1 412 555 0147",
        ],
        [
            "G3P2012",
            "39w2d",
            "8-wk US",
            "Apgars 8 and 9",
            "3410 g",
            "04:52",
            "GBS negative",
            "Rh positive",
            "EBL 350 mL",
            "2nd degree laceration",
            "Pitocin 10 units IM",
        ],
    ),
    (
        "ED triage dictated by speech recognition",
        "ED TRIAGE (dictated): this is a 92 y/o female named Ophelia Stanislawski spelled "
        "S-T-A-N-I-S-L-A-W-S-K-I brought by her grandson Ambrosius from 1187 Briar Patch Lane. "
        "Date of birth March twelfth nineteen thirty. Call back number six oh eight five five "
        "five oh one nine three. Complains of chest pane and shortness of breath, a fib with "
        "RVR rate 142. Troponin 0.04. Aspirin 324 mg chewed. Her primary is doctor Pendergrass.",
        [
            "92 y/o",
            "Ophelia",
            "Stanislawski",
            "S-T-A-N-I-S-L-A-W-S-K-I",
            "Ambrosius",
            "1187 Briar Patch",
            "March twelfth nineteen thirty",
            "six oh eight five five five oh one nine three",
            "Pendergrass",
        ],
        [
            "shortness of breath",
            "a fib with RVR rate 142",
            "Troponin 0.04",
            "Aspirin 324 mg chewed",
        ],
    ),
    (
        "interpreter note",
        "Interpreter services: Mandarin interpreter Xiaoling Qiu, ID #INT-40772, via video. "
        "Patient's husband Guo Weiming also present. Consent for EGD obtained; H. pylori "
        "positive; omeprazole 20 mg BID.",
        ["Xiaoling", "Qiu", "INT-40772", "Guo", "Weiming"],
        ["Mandarin interpreter", "EGD", "H. pylori", "omeprazole 20 mg BID"],
    ),
    (
        "transcribed voicemail",
        "Voicemail transcript 3/17 9:14am: hi this is ottilie fontenot-babineaux calling "
        "for my dad Ignace, his birthday is the 4th of july 1933, um he's out of his eliquis, "
        "you can reach me at 337 555 0162 extension 2231 or at my work at Ochsner Lafayette "
        "General, thanks bye",
        [
            "3/17",
            "ottilie",
            "fontenot-babineaux",
            "Ignace",
            "4th of july 1933",
            "337 555 0162",
            "2231",
            "Ochsner Lafayette General",
        ],
        ["eliquis"],
    ),
    (
        "identifiers broken across lines",
        "Consult continued. Pt's son Ansel-\nmo Wojtaszek (emergency contact, phone 919-\n"
        "555-0128) lives at 42 Wren-\nwood Court, Apex NC 27502-4417. HbA1c 9.2%, eGFR 48, "
        "metformin held.",
        ["Ansel-\nmo", "Wojtaszek", "919-\n555-0128", "42 Wren-\nwood", "Apex", "27502-4417"],
        ["HbA1c 9.2%", "eGFR 48", "metformin held"],
    ),
    (
        "ALL-CAPS header, brackets and slashes",
        "PATIENT: DOE-DUNSWORTH, ADAEZE A   [MRN 7730-1842]\nPCP/Referring: Haverford, "
        "Cornelius T.\nNOK (sister): Hildegund Dunsworth-Ames / cell 410.555.0175\nHPI: 67F "
        "with Hodgkin lymphoma (stage IIA, s/p ABVD x6), BRCA2 VUS, HER2-negative breast ca. "
        "CEA 2.1, LDH 212.",
        [
            "DOE-DUNSWORTH",
            "ADAEZE",
            "7730-1842",
            "Haverford",
            "Cornelius",
            "Hildegund",
            "Dunsworth-Ames",
            "410.555.0175",
        ],
        [
            "Hodgkin lymphoma",
            "stage IIA",
            "ABVD x6",
            "BRCA2 VUS",
            "HER2-negative",
            "CEA 2.1",
            "LDH 212",
        ],
    ),
    (
        "international telephones and extensions",
        "Contacts: daughter in London, Imogen Pryce-Whitley, +44 20 7946 0321; son in Pune, "
        "Aniruddh Kulkarni, +91 98220 45517; nephew in Hamburg 0049 40 5553 2197; care "
        "coordinator 614-555-0109 x4418. Warfarin 5 mg daily, INR 2.4.",
        [
            "London",
            "Imogen",
            "Pryce-Whitley",
            "+44 20 7946 0321",
            "Pune",
            "Aniruddh",
            "Kulkarni",
            "+91 98220 45517",
            "Hamburg",
            "0049 40 5553 2197",
            "614-555-0109 x4418",
        ],
        ["Warfarin 5 mg daily", "INR 2.4"],
    ),
    (
        "obfuscated e-mail, schemeless URL, MAC and IPv6",
        "Portal issue: pt's wife writes from jdoe.ferreira at yahoo dot com and blogs at "
        "caringforjoao.blogspot.com/2024/03; the home monitor (MAC 3C:22:FB:9A:10:7E, IPv6 "
        "2001:db8:4a2f::17) stopped syncing. CPAP AHI 3.1, usage 6.2 h/night.",
        [
            "jdoe.ferreira at yahoo",
            "caringforjoao.blogspot.com/2024/03",
            "3C:22:FB:9A:10:7E",
            "2001:db8:4a2f::17",
        ],
        ["CPAP AHI 3.1", "6.2 h/night"],
    ),
    (
        "device serials, beneficiary numbers and licences",
        "Device check: ICD (Medtronic Cobalt XT) S/N: RNB204417H, lead SN:PJN7712093. Medicare "
        "MBI 1EG4-TE5-MK73; secondary beneficiary no. XJH882041337. Driver's license DL# "
        "K4410-22871-0933. Home RN Priya Seshadri, nursing Lic# 2291847. Battery 9.1 y, RV "
        "threshold 0.75 V @ 0.4 ms.",
        [
            "RNB204417H",
            "PJN7712093",
            "1EG4-TE5-MK73",
            "XJH882041337",
            "K4410-22871-0933",
            "Priya",
            "Seshadri",
            "2291847",
        ],
        ["Battery 9.1 y", "RV threshold 0.75 V @ 0.4 ms"],
    ),
    (
        "vehicle, certificate, biometric and photo identifiers",
        "Security report: pt's car, a 2016 Subaru Outback VIN 4S4BSANC7G3274519, Oregon plate "
        "219 KLM, parked in lot C. Birth certificate no. 142-2019-0088317 copied to chart. "
        "Fingerprint ID FP-00938217 enrolled at badge desk. Full-face photo "
        "IMG_20240317_142233.jpg uploaded; retinal scan template RS-5541. Pt calm, CIWA 4.",
        [
            "4S4BSANC7G3274519",
            "219 KLM",
            "142-2019-0088317",
            "FP-00938217",
            "IMG_20240317_142233.jpg",
            "RS-5541",
        ],
        ["CIWA 4"],
    ),
    (
        "ages over 89 in numeric forms",
        "Geriatrics: pt is a 94yo man; wife is age: 91 and his brother in his 90s lives in "
        "Wichita Falls. Sister Oona, 97 y.o., is in memory care. MoCA 22/30, Katz ADL 5/6, TUG "
        "14 s, gait speed 0.8 m/s.",
        ["94yo", "91", "90s", "Wichita Falls", "Oona", "97 y.o."],
        ["MoCA 22/30", "Katz ADL 5/6", "TUG 14 s", "gait speed 0.8 m/s"],
    ),
    (
        "dates in loose forms",
        "Timeline per daughter Eulalie: fatigue began mid-March 2024, worse since Friday the "
        "22nd; seen in clinic on 09-14; TSH drawn 28FEB2023 and again 2023/11/5; first "
        "diagnosed in the Spring of '19. TSH 4.2, levothyroxine 50 mcg, LDL 96 mg/dL.",
        [
            "Eulalie",
            "mid-March 2024",
            "Friday the 22nd",
            "09-14",
            "28FEB2023",
            "2023/11/5",
            "Spring of '19",
        ],
        ["TSH 4.2", "levothyroxine 50 mcg", "LDL 96 mg/dL"],
    ),
    (
        "addresses with units, PO boxes, rural routes and neighbourhoods",
        "Residence: 3318 N Kedzie Ave Unit 2R, Logan Square, Chicago IL 60618-5512. Mailing: "
        "P.O. Box 9027, Marfa TX 79843. Grew up on Rural Route 3, Box 57, in Traverse County; "
        "daughter lives in Bed-Stuy, Brooklyn. Albumin 3.2, prealbumin 14.\nSigned: "
        "Haraldsen-Kwon, Ravi P, RN 03/21/2024 16:40",
        [
            "3318 N Kedzie",
            "2R",
            "Logan Square",
            "Chicago",
            "60618-5512",
            "9027",
            "Marfa",
            "79843",
            "Box 57",
            "Traverse",
            "Bed-Stuy",
            "Brooklyn",
            "Haraldsen-Kwon",
            "Ravi",
            "03/21/2024",
        ],
        ["Albumin 3.2", "prealbumin 14", "16:40"],
    ),
    (
        "oncology note dense with eponyms, genes and anatomy",
        "Oncology f/u: BRCA1 c.68_69delAG carrier, HER2 3+ by IHC, PD-L1 TPS 60%, EGFR exon 19 "
        "del negative, KRAS G12C. On trastuzumab 6 mg/kg q3w with pertuzumab. Hx Hashimoto "
        "thyroiditis, Raynaud phenomenon, Barrett esophagus, Meckel diverticulum, Sjogren "
        "syndrome. Mass abuts the left anterior descending artery and the pancreatic uncinate "
        "process. Her sister Zenobia Castellanos-Drury had HER2+ breast ca at 41.",
        ["Zenobia", "Castellanos-Drury"],
        [
            "BRCA1 c.68_69delAG",
            "HER2 3+",
            "PD-L1 TPS 60%",
            "EGFR exon 19",
            "KRAS G12C",
            "trastuzumab 6 mg/kg q3w",
            "pertuzumab",
            "Hashimoto thyroiditis",
            "Raynaud phenomenon",
            "Barrett esophagus",
            "Meckel diverticulum",
            "Sjogren syndrome",
            "left anterior descending artery",
            "pancreatic uncinate process",
            "HER2+ breast ca at 41",
        ],
    ),
    (
        "social history with household and employers",
        "Social hx: lives with partner Ottokar Lindqvist-Mora, a machinist at Boeing's Everett "
        "plant, and roommate Sunniva. Pt is a barista at Blue Heron Coffee. AUDIT-C 5, smokes "
        "1 ppd, 30 pack-years.",
        ["Ottokar", "Lindqvist-Mora", "Boeing", "Everett", "Sunniva", "Blue Heron Coffee"],
        ["AUDIT-C 5", "1 ppd", "30 pack-years"],
    ),
    # a second batch: what probing beyond the first batch found, written as notes
    (
        "second batch: a deployed spouse's military address",
        "Spouse deployed: SSgt Corwin Quarrington-Pryor, PSC 3417 Box 2290, APO AE 09461; "
        "pt's mother lives on the Upper West Side. Pt's birthday is march twelve. TSH 2.2.",
        ["Corwin", "Quarrington-Pryor", "3417", "2290", "09461", "Upper West Side", "twelve"],
        ["TSH 2.2"],
    ),
    (
        "second batch: an interpreter's number, house numbers with halves and letters",
        "Vietnamese interpreter Thuy #58213 on the line. Home: 2207 1/2 Tregothnan Ave; son's "
        "shop at 118-C Depot Street. Ferritin 14. Voicemail: hi it's rob from the pharmacy.",
        ["Thuy", "58213", "2207", "Tregothnan", "118-C", "Depot", "rob"],
        ["Vietnamese interpreter", "Ferritin 14", "from the pharmacy"],
    ),
    (
        "second batch: a spelled surname, a broken telephone, a date's prefix, a ZIP's dash",
        "Caller spelled her surname Q-U-I-L-L-O-N; cell 828-\n555-0131; symptoms since "
        "early-March 2024; ZIP 28801\u20131595. Dyspnea NYHA II.",
        ["Q-U-I-L-L-O-N", "828-\n555-0131", "early-March 2024", "28801\u20131595"],
        ["NYHA II"],
    ),
    (
        "second batch: markers' status, eponyms of anatomy and a relative",
        "Path: ER-positive, PR-negative, HER2-low (IHC 1+), EGFR-mutant, ALK-rearranged; "
        "Factor V Leiden heterozygous. Aneurysm at the circle of Willis; stone in the ampulla "
        "of Vater; Broca aphasia. Jackson-Pratt drain in place. Her aunt Eulalie Mbeki-Reyes "
        "had breast ca.",
        ["Eulalie", "Mbeki-Reyes"],
        [
            "ER-positive",
            "PR-negative",
            "HER2-low",
            "EGFR-mutant",
            "ALK-rearranged",
            "Factor V Leiden",
            "circle of Willis",
            "ampulla of Vater",
            "Broca aphasia",
            "Jackson-Pratt drain",
        ],
    ),
    (
        "second batch: geriatric and obstetric scores beside a son",
        "Geri: Katz ADL 5/6, TUG 14 s, Berg 41/56, CEA 2.1, SpO2 94% RA; son Ambrosius "
        "Dunsworth at bedside. OB hx G2P1001 at 38w6d, TPAL 1-0-0-1.",
        ["Ambrosius", "Dunsworth"],
        [
            "Katz ADL 5/6",
            "TUG 14 s",
            "Berg 41/56",
            "CEA 2.1",
            "SpO2 94% RA",
            "G2P1001",
            "38w6d",
            "TPAL 1-0-0-1",
        ],
    ),
]


@pytest.mark.parametrize(("style", "note", "planted", "kept"), CORPUS, ids=[c[0] for c in CORPUS])
def test_round11_note_loses_every_planted_value_and_keeps_its_clinical_words(
    style, note, planted, kept
):
    assert leaks_and_losses(note, planted, kept) == ([], []), f"{style}\n{scrubbed(note)}"


@pytest.mark.parametrize(
    "text",
    [
        # eponyms, genes, drugs, labs and scores of the precision probes
        "Hx Bell's palsy, Graves disease, Addison's disease, Cushing syndrome, Wilson disease.",
        "Kaposi sarcoma, Burkitt lymphoma, Ewing sarcoma, Marfan syndrome, Klinefelter syndrome.",
        "Babinski sign, Murphy sign, Kernig and Brudzinski negative, Romberg positive.",
        "Phalen and Tinel positive, Kussmaul respirations, Virchow node, Zenker diverticulum.",
        "Mallory-Weiss tear, Nissen fundoplication, Swan-Ganz catheter, Jackson-Pratt drain.",
        "Genes: TP53, MLH1, MSH2, PALB2, ATM, CHEK2, APC, JAK2 V617F, BCR-ABL, FLT3-ITD, NPM1.",
        "IDH1, ALK, ROS1, MET exon 14, RET, NTRK, CFTR F508del, HLA-B27, HFE C282Y, APOE4.",
        "Factor V Leiden heterozygous; MTHFR normal.",
        "Labs: Ferritin 12, CA-125 44, PSA 4.1, BNP 880, D-dimer 0.9, CEA 2.1, LDH 212.",
        "Katz ADL 5/6, TUG 14 s, Berg 41/56, MMSE 24/30, NIHSS 4, CHA2DS2-VASc 4, MELD 18.",
        "circle of Willis, sphincter of Oddi, ampulla of Vater, loop of Henle, Bartholin gland.",
        "Broca area, Wernicke area, Broca aphasia, Eustachian tube, Achilles tendon.",
        "HER2-negative, ER-positive, PR-negative, EGFR-mutant, ALK-rearranged, MMR-deficient.",
        "SpO2 94% RA; 94% on RA.",
        "G3P2012 at 39w2d; G1P0 at 38w6d; TPAL 3-0-1-3; GA 39+2 wks; Apgars 8/9.",
        # words beside the round-11 patterns that open nothing
        "spelled correctly; spelling as above; it is spelled out in the chart",
        "interpreter used; operator 3 stopped",
        "PSC note written; 2 units of PRBC given",
        "discharge 3-4 times daily",
        "hi i'm fine thanks; yes it's done; hi this is the lab",
        "upper side of the wound; west side of the abdomen",
    ],
)
def test_look_alikes_of_the_round11_rules_stay(text):
    assert scrubbed(text) == text


@pytest.mark.parametrize(
    ("text", "gone"),
    [
        # a place before an eponym's clinical word is still a place where it is no eponym
        ("lives in the Tacoma area", "Tacoma"),
        ("moved to the Boston area", "Boston"),
        ("son Willis of Tacoma visited", "Willis"),
        ("daughter Broca called", "Broca"),
        # a surname in capitals before a status word is no marker
        ("PATIENT: DOE-LOW, JANE", "DOE"),
        ("Seen with KIM-POSITIVE", "KIM"),
        # gene symbols that are given names are genes in capitals only
        ("Kit Marlowe visited today", "Kit"),
        ("with Ret Alvarez", "Ret"),
        # military and lettered addresses, a caller, a spelled name, a month's day in words
        ("Unit 2050 Box 4190, FPO AP 96522", "2050"),
        ("CMR 480 Box 219, APO AE 09128", "219"),
        ("hello this is deb, call me back", "deb"),
        ("Name spelled K O W A L S K I per pt", "K O W"),
        ("Discharge: 03-22", "03-22"),
        ("her DOB is April nine", "nine"),
        ("lives in the North End", "North End"),
        ("Spanish interpreter Rocio #4471", "4471"),
        ("Lives at 1412-B Elm Street", "1412"),
    ],
)
def test_round11_rules_keep_their_limits(text, gone):
    assert gone not in scrubbed(text), scrubbed(text)


@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [
        ("PSC 1234 Box 5678, APO AE 09204", "address", "PSC 1234 Box 5678, APO AE 09204"),
        ("Name spelled S-T-A-N-I-S-L-A-W-S-K-I", "name", "S-T-A-N-I-S-L-A-W-S-K-I"),
        ("Home: 2207 1/2 Larkspur Ave", "address", "2207 1/2 Larkspur Ave"),
        ("the patient's birthday is march twelve", "date", "march twelve"),
        ("mother lives on the Upper West Side", "address", "Upper West Side"),
        ("ZIP 28801\u20131595", "zip", "28801\u20131595"),
    ],
)
def test_round11_patterns_take_the_whole_value(text, kind, value):
    found = [text[s:e] for k, s, e in deid_text.find_patterns(text) if k == kind]
    assert any(value in f for f in found), found


def test_a_telephone_broken_after_its_area_code_goes_whole():
    out = scrubbed("phone 919-\n555-0128) today")
    assert "919" not in out and out.endswith(") today"), out


def test_a_date_prefix_goes_with_its_date():
    out = scrubbed("fatigue since mid-March 2024, worse late-2023")
    assert "mid" not in out, out


@pytest.mark.parametrize("text", ["they march twelve miles a day", "on March five-day course"])
def test_a_month_before_a_number_word_of_a_quantity_is_no_date(text):
    found = [text[s:e] for k, s, e in deid_text.find_patterns(text) if k == "date"]
    assert not any("twelve" in f or "five" in f for f in found), found
