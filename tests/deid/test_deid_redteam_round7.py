"""A red-team corpus written for round 7 (none of its values planted in earlier rounds): notes
in styles no earlier round tried, each carrying identifiers of the patient **and of relatives,
household members, landlords, employers and clinicians**: a genetic-counselling pedigree with
names of particles and accents, a psychiatry intake (household, school, church, landlord), an
SMS thread in casual spelling, a voicemail transcription (numbers and a street number in words),
a surgical pathology report and a radiology report (accession numbers, referring physicians,
ISO week dates, a GS1 UDI), a discharge summary with suffixes and quoted nicknames, rural
addresses (rural routes, post-office boxes, a mobile-home lot), a home monitoring set-up (a
Cisco MAC, IPv6, what3words, a plus code), vehicles, prescriber licences, insurance and bank
accounts (an IBAN, a sort code), online presence and biometrics, family names first and a name
in Chinese script, ages over 89 in words ("in her tenth decade", "pushing 100"), feasts of other
calendars ("Ramadan", "Tet 2022"), Arabic and Irish names, an occupational-health note, a
telehealth visit, and (a second batch) an obstetric note, gender-affirming care with a former
name, a hospice chaplain's note, ophthalmology and dental, a custody note, an emergency-contact
form, more ages and dates, and a text-speak portal message. Scrubbed as ingest does
(:class:`~twinlab.deid.TextScrubber`: patterns and engine, no known values), every planted
value must go and the clinical words beside them stay; the rules added for them must leave
look-alike clinical text alone.

Before round 7, 47 of the 272 planted values leaked: addresses 13 (rural routes, post-office
boxes, a mobile-home lot, a flat, a building and its unit, streets without or with an unusual
suffix, a church), ages over 89 10, numbers 9 (an accession, a licence, a hospital account, an
IBAN, two health-plan ids, a voiceprint, a meeting id, a service number), dates 6 (a birth year
later in its clause among them), names 2 (the particles of surnames), handles 2, places on a map
2, a ship served on 1, a telephone extension 1, and a telephone number spelled out whose "one"
the leaked age "ninety one" kept.
"""

from __future__ import annotations

import pytest
from deid_redteam import leaks_and_losses, scrubbed

from twinlab.deid import text as deid_text

#: (style, note, planted identifiers, clinical words that must survive)
CORPUS: list[tuple[str, str, list[str], list[str]]] = [
    (
        "genetic counselling pedigree with particles",
        "Hereditary cancer clinic. Proband Zoë van der Berg-Okafor, 41F, referred by Dr. Hendrik "
        "de Vries. Pedigree: maternal aunt Rosa died at ninety-three in Porto; maternal "
        "grandmother Maria da Conceição dos Santos lived into her late nineties in Braga. "
        'Maternal uncle João "Johnny" dos Santos, 89, lives in Fall River. Paternal '
        "grandfather Pieter van der Berg (d. 1987) farmed outside Zwolle. Half-brother Kees, "
        "b. the 12th of August 1979, carries MLH1 c.350C>T. Lynch syndrome likely; colonoscopy "
        "q1-2y, MSI-high tumour, von Willebrand disease in the father.",
        [
            "Zoë",
            "van der Berg-Okafor",
            "Hendrik",
            "de Vries",
            "Rosa",
            "ninety-three",
            "Porto",
            "Maria da Conceição dos Santos",
            "late nineties",
            "Braga",
            "João",
            "Johnny",
            "Fall River",
            "Pieter",
            "Zwolle",
            "Kees",
            "12th of August",
        ],
        ["MLH1 c.350C>T", "Lynch syndrome", "colonoscopy", "MSI-high", "von Willebrand disease"],
    ),
    (
        "psychiatry intake with household, school, church, landlord",
        "Psychiatry intake. Pt is a 16 y/o junior at Westbury Heights Academy, lives with "
        "mother Darlene O'Neil, stepfather Ray McAllister and half-sister Kaylee (7) in a "
        "duplex rented from landlord Gus Petrakis. Mother works nights at the Kroger on Dixie "
        "Hwy; stepfather drives for Allied Van Lines. Family attends Greater New Hope "
        "Missionary Baptist Church, where pt sings in the choir led by Pastor Eldridge "
        "Whitlow. Best friend Destiny Alvarez. School counselor Ms. Fennimore, ext. 4412. "
        "PHQ-A 19, C-SSRS positive for passive SI. Start sertraline 25 mg daily.",
        [
            "Westbury Heights",
            "Darlene",
            "O'Neil",
            "Ray",
            "McAllister",
            "Kaylee",
            "Gus",
            "Petrakis",
            "Dixie",
            "Allied Van Lines",
            "Greater New Hope",
            "Eldridge",
            "Whitlow",
            "Destiny",
            "Alvarez",
            "Fennimore",
            "4412",
        ],
        ["PHQ-A 19", "C-SSRS positive", "sertraline 25 mg daily", "passive SI"],
    ),
    (
        "SMS thread with casual spelling",
        "[SMS 7:02pm] hi its rosie from flat 4b, my nan bridget's not rite, cant get her up. "
        "shes 94 in june!! pls ring me on 07911 123456 or my bf declan 0789 321 0987. were at "
        "17 kilmore crt, dundalk. my snap is rosie_b_xo\n[reply] Hi Rosie, call 999 now. "
        "Does she take her bisoprolol?\n[SMS 7:05pm] ya 2.5mg. cashapp me $RosieB1998 for "
        "the taxi lol",
        [
            "rosie",
            "4b",
            "bridget",
            "94",
            "07911 123456",
            "declan",
            "0789 321 0987",
            "17 kilmore",
            "dundalk",
            "rosie_b_xo",
            "RosieB1998",
        ],
        ["bisoprolol", "2.5mg"],
    ),
    (
        "voicemail transcription",
        'Voicemail transcribed 10:42: "Hi uh this is Marguerite Delacroix-Boudreaux, calling '
        "about my dad, uh, Thibault Boudreaux, date of birth is the third of March, he's "
        "ninety one now. You can reach me at two two five, five five five, oh one four two. "
        "We're at four eleven Bayou Teche Road in Breaux Bridge. His doctor is doctor "
        'Landry." Message re: refill of furosemide 40 mg.',
        [
            "Marguerite",
            "Delacroix-Boudreaux",
            "Thibault",
            "third of March",
            "ninety one",
            "two two five, five five five, oh one four two",
            "four eleven Bayou Teche",
            "Breaux Bridge",
            "Landry",
        ],
        ["furosemide 40 mg", "refill"],
    ),
    (
        "surgical pathology report",
        "SURGICAL PATHOLOGY REPORT\nPath #: SP21-04417\nPatient: de la Cruz, María José\n"
        "MRN: 00-74-1193\nDOB: 07/22/1930 (Age: 91)\nCollected: 03/02/2021\n"
        "Referring: Hendrik van der Berg, MD\nSpecimen A: sigmoid colon, resection.\n"
        "DIAGNOSIS: Invasive adenocarcinoma, pT3 pN1a (1/14 lymph nodes). MMR intact (MLH1, "
        "PMS2, MSH2, MSH6). Block A3 to KRAS.\nPathologist: Siobhán Ní Bhriain, MD\n"
        "cc: Dr. Kwame Mensah-Bonsu, fax 614-555-0188",
        [
            "SP21-04417",
            "de la Cruz",
            "María José",
            "00-74-1193",
            "07/22/1930",
            "91",
            "03/02/2021",
            "Hendrik",
            "van der Berg",
            "Siobhán",
            "Ní Bhriain",
            "Kwame",
            "Mensah-Bonsu",
            "614-555-0188",
        ],
        [
            "Invasive adenocarcinoma",
            "pT3 pN1a",
            "MLH1",
            "PMS2",
            "Block A3",
            "KRAS",
            "sigmoid colon",
        ],
    ),
    (
        "radiology report with devices and week dates",
        "EXAM: MRI BRAIN W/WO. Acc: RAD-88-1127. Ordering: Nguyễn Thị Hoa, NP. Referring: "
        "Rashid bin Khalid Al-Mansoori, MD. COMPARISON: CT head of 2021-W09-3 and of week 14 "
        "of 2020. DEVICE: pacemaker serial PJN449812S; UDI (01)00643169007222(17)250131"
        "(10)A1234(21)SN98765. IMPRESSION: chronic small vessel ischemic change, no acute "
        "infarct. Fazekas grade 2.",
        [
            "RAD-88-1127",
            "Nguyễn",
            "Hoa",
            "Rashid",
            "Khalid",
            "Al-Mansoori",
            "2021-W09-3",
            "week 14 of 2020",
            "PJN449812S",
            "00643169007222",
            "250131",
            "A1234",
            "SN98765",
        ],
        ["chronic small vessel ischemic change", "Fazekas grade 2", "no acute infarct"],
    ),
    (
        "discharge summary with suffixes and nicknames",
        "DISCHARGE SUMMARY\nPatient Name: Santangelo, Robert J., Jr.\nAlso known as: "
        '"Bobby"\nAdmitted: Christmas Eve; discharged New Year\'s 2022\nAttending: Cornelius '
        "P. Whitfield III, MD\nHOSPITAL COURSE: First MI at Christmas 2019. NSTEMI, troponin "
        'peak 2.1, PCI to LAD with DES. Discharged to son Robert "Robbie" Santangelo III, at '
        "1418 Orchard Crest Ln, Unit 12. Follow-up with Dr. Ramaswamy in 2 weeks. Aspirin "
        "81 mg, ticagrelor 90 mg BID.",
        [
            "Santangelo",
            "Robert",
            "Bobby",
            "Christmas Eve",
            "New Year's",
            "Cornelius",
            "Whitfield",
            "Christmas",
            "Robbie",
            "1418 Orchard Crest",
            "Unit 12",
            "Ramaswamy",
        ],
        ["NSTEMI", "troponin peak 2.1", "PCI to LAD", "Aspirin 81 mg", "ticagrelor 90 mg BID"],
    ),
    (
        "rural addresses",
        "Pt's mailing address is RR 2 Box 115, Hazard KY 41701-2234; she lives on Lot 14 of "
        "Shady Acres Mobile Home Park. Daughter's mail goes to Post Office Box 88, Viper. Son "
        "lives in Bldg 7, Apt 3-C at 2250 N. Alvernon Way, Tucson; grandson at HC 61 Box 20. "
        "Retired coal miner, CWP on home O2 2L, FEV1 48%.",
        [
            "RR 2 Box 115",
            "Hazard",
            "41701-2234",
            "Lot 14",
            "Shady Acres",
            "Box 88",
            "Viper",
            "Bldg 7",
            "3-C",
            "2250",
            "Alvernon",
            "Tucson",
            "HC 61 Box 20",
        ],
        ["CWP", "home O2 2L", "FEV1 48%"],
    ),
    (
        "home monitoring network and location",
        "Remote monitoring set-up: hub MAC 0011.2233.44aa, IPv6 2001:db8:85a3::8a2e:370:7334, "
        "hostname rosa-pi.local. CGM serial 8HJ2KQ. Ambulance pin ///filled.count.soap, plus "
        "code 849VCWC8+R9, GPS 41°24'12.2\"N 2°10'26.5\"E. Glucose 7.8 mmol/L, time in range "
        "71%.",
        [
            "0011.2233.44aa",
            "2001:db8:85a3::8a2e:370:7334",
            "rosa-pi.local",
            "8HJ2KQ",
            "filled.count.soap",
            "849VCWC8+R9",
            "41°24'12.2\"N",
            "2°10'26.5\"E",
        ],
        ["Glucose 7.8 mmol/L", "time in range 71%"],
    ),
    (
        "vehicles after a crash",
        "MVC: restrained driver of a 2014 Silverado, VIN 1GCVKREC0EZ123456, Ohio tag HJK 4471; "
        "other car a grey Prius with plate 8XYZ123 (CA), driven by Tomasz Wiśniewski. "
        "Officer badge 2291. GCS 15, FAST negative, CT C-spine clear.",
        ["1GCVKREC0EZ123456", "HJK 4471", "8XYZ123", "Tomasz", "Wiśniewski", "2291"],
        ["GCS 15", "FAST negative", "CT C-spine clear"],
    ),
    (
        "prescriber licences",
        "Rx: oxycodone 5 mg q6h prn, #20. Prescriber Ayodele Okonjo-Bright, MD, DEA "
        "BO1234563, NPI 1598760432, Ohio med lic. 35.123456; dispensing RPh lic #RPH.04471. "
        "Pt's driver lic. OH RT123456. PDMP checked, MME 30.",
        [
            "Ayodele",
            "Okonjo-Bright",
            "BO1234563",
            "1598760432",
            "35.123456",
            "RPH.04471",
            "RT123456",
        ],
        ["oxycodone 5 mg q6h prn", "PDMP checked", "MME 30"],
    ),
    (
        "insurance and accounts",
        "Billing: BCBS TX member ZGP 8834 5521 01, Aetna ID W123 456 789, Medicaid CIN "
        "AB12345C, hospital account HAR#5021-1887-34. Refund to IBAN GB29 NWBK 6016 1331 9268 "
        "19 or sort code 20-32-06, account 73645918. Copay $40, deductible met.",
        [
            "ZGP 8834 5521 01",
            "W123 456 789",
            "AB12345C",
            "5021-1887-34",
            "GB29 NWBK 6016 1331 9268 19",
            "20-32-06",
            "73645918",
        ],
        ["Copay $40", "deductible met"],
    ),
    (
        "online presence, biometrics and photos",
        "Family set up gofundme.com/f/help-rosa-delgado and a blog at rosasjourney.blog; "
        "granddaughter posts on IG as rosie.grows.things. Biometrics on file: fingerprint "
        "template A77-2291, retina scan ID RTN-0045512, voiceprint VP 88-2210. Full-face "
        "photo stored as face_rosa_admit.heic. Wound 3 x 2 cm, granulating.",
        [
            "help-rosa-delgado",
            "rosasjourney.blog",
            "rosie.grows.things",
            "A77-2291",
            "RTN-0045512",
            "88-2210",
            "face_rosa_admit.heic",
        ],
        ["Wound 3 x 2 cm, granulating"],
    ),
    (
        "family name first and CJK script",
        "Vietnamese interpreter present. Pt NGUYEN Thi Lan (Nguyễn Thị Lan) with son TRAN Van "
        "Duc and daughter-in-law Park Ji-yeon. Neighbour Tanaka Hiroshi brought her. Mother's "
        "name in the chart: 王秀英. HbA1c 9.2%, on insulin glargine 20 units.",
        [
            "NGUYEN",
            "Thi",
            "Lan",
            "Nguyễn",
            "Thị",
            "TRAN",
            "Van",
            "Duc",
            "Park",
            "Ji-yeon",
            "Tanaka",
            "Hiroshi",
            "王秀英",
        ],
        ["HbA1c 9.2%", "insulin glargine 20 units"],
    ),
    (
        "ages over 89 in words",
        "Mrs. Agnes Fairclough will be ninety-four on the 12th; her sister Maud is in her "
        "tenth decade and their brother Cyril is pushing 100. Husband Wilfred lived into his "
        "mid-nineties. Frailty score 6, MMSE 21/30.",
        [
            "Agnes",
            "Fairclough",
            "ninety-four",
            "12th",
            "Maud",
            "tenth decade",
            "Cyril",
            "100",
            "Wilfred",
            "mid-nineties",
        ],
        ["Frailty score 6", "MMSE 21/30"],
    ),
    (
        "holidays and feasts with years",
        "Symptoms began during Ramadan 2020; worse after Passover 2019 and Mardi Gras 2018. "
        "Fell on Super Bowl Sunday 2021 and again at Tet 2022. Seen the day after Labor Day "
        "2020. Sodium 128, on tolvaptan.",
        ["Ramadan", "Passover", "Mardi Gras", "Super Bowl Sunday", "Tet", "Labor Day"],
        ["Sodium 128", "tolvaptan"],
    ),
    (
        "Arabic and Irish names with particles",
        "Consult for Yusuf bin Rashid Al-Hassan, accompanied by his wife Fatima Al-Zahrani and "
        "cousin Abdullah ibn Saud. Previous GP Dr. Seán Ó Súilleabháin in Cork; physio "
        "Mairéad Ní Dhomhnaill. BMI 31, OSA on CPAP 10 cmH2O.",
        [
            "Yusuf",
            "bin Rashid",
            "Al-Hassan",
            "Fatima",
            "Al-Zahrani",
            "Abdullah",
            "ibn Saud",
            "Seán",
            "Ó Súilleabháin",
            "Cork",
            "Mairéad",
            "Ní Dhomhnaill",
        ],
        ["BMI 31", "OSA on CPAP 10 cmH2O"],
    ),
    (
        "occupational health note",
        "Occupational health: forklift operator at the Amazon fulfilment centre DFW7 in "
        "Haslet, employee badge 44-19823, supervisor Lupe Ybarra. Injury on the 2nd shift of "
        "Cinco de Mayo. Workers' comp claim WC-2021-448812; adjuster Trent Holloway at "
        "Liberty Mutual, 817-555-0164. Lumbar strain, cyclobenzaprine 5 mg qhs, light duty.",
        [
            "DFW7",
            "Haslet",
            "44-19823",
            "Lupe",
            "Ybarra",
            "Cinco de Mayo",
            "WC-2021-448812",
            "Trent",
            "Holloway",
            "817-555-0164",
        ],
        ["Lumbar strain", "cyclobenzaprine 5 mg qhs", "light duty"],
    ),
    (
        "telehealth visit",
        "Video visit via Zoom, meeting ID 845 2211 0934, passcode 771204; pt joined from her "
        "daughter Imelda's house in Kenner. MyChart login imelda.r.kenner. Husband Teodoro "
        "aged ninety and a half, DNR. BP 132/84 on home cuff, weight 71 kg.",
        ["845 2211 0934", "771204", "Imelda", "Kenner", "imelda.r.kenner", "Teodoro", "ninety"],
        ["BP 132/84", "weight 71 kg", "DNR"],
    ),
    (
        "obstetric note with baby and partner",
        "G2P1 at 39+2. Partner Mateo Quispe-Huamán present. Baby boy 'Santi' (Santiago Quispe) "
        "born 04:12 on the 9th, 3.4 kg, Apgars 8/9. Doula Bethany from Birth Roots Doula "
        "Collective. Older sibling Valentina, 3, with abuela Rosa Huamán at 5B Riverside "
        "Towers. Oxytocin 10 units IM, EBL 350 mL.",
        [
            "Mateo",
            "Quispe-Huamán",
            "Santi",
            "Santiago",
            "Quispe",
            "9th",
            "Bethany",
            "Birth Roots",
            "Valentina",
            "Rosa",
            "Huamán",
            "5B",
            "Riverside Towers",
        ],
        ["Oxytocin 10 units IM", "EBL 350 mL", "Apgars 8/9"],
    ),
    (
        "gender-affirming care with former name",
        "Pt uses the name Jordan (legal name on insurance: Jessica Marie Tran, changed by court "
        "order, Harris County case 2019-55812). Pronouns they/them. Spouse Alex Okoro-Tran. "
        "Estradiol valerate 20 mg IM q2wk, estradiol 310 pg/mL.",
        ["Jordan", "Jessica", "Marie", "Tran", "Harris County", "2019-55812", "Alex", "Okoro-Tran"],
        ["Estradiol valerate 20 mg IM q2wk", "estradiol 310 pg/mL"],
    ),
    (
        "hospice chaplain note",
        "Chaplain visit. Pt (Catholic) asked for Fr. Tadeusz from St. Hedwig's parish; last "
        "rites given. Wife of 67 years, Irene, at bedside with granddaughter Kasia who flew in "
        "from Kraków. Pt served on the USS Midway 1958-61, Navy service no. 4471-882. PPS 20%, "
        "morphine 2.5 mg SL q2h prn.",
        ["Tadeusz", "Hedwig", "Irene", "Kasia", "Kraków", "USS Midway", "4471-882"],
        ["PPS 20%", "morphine 2.5 mg SL q2h prn"],
    ),
    (
        "ophthalmology and dental",
        "Ophth: VA 20/40 OD, IOP 18. Referred by optometrist Priya Raghunathan OD of ClearView "
        "Eyecare. Dental: tooth #14 extracted by Dr Haruto Sato DDS, 88 Sakura Ln. Retinal "
        "photo OD saved as fundus_OD_2021-03-03.tif.",
        ["Priya", "Raghunathan", "ClearView", "Haruto", "Sato", "88 Sakura", "2021-03-03"],
        ["VA 20/40 OD", "IOP 18", "tooth #14"],
    ),
    (
        "legal and custody",
        "CPS caseworker Tamika Freeman (DCFS ID 55-20931) called re: custody; mother's attorney "
        "Jonathan Weiss, Esq., Weiss & Partners, bar no. 287734. Court date set for the 22nd; "
        "judge Hon. Margaret Ellison, Dept. 14, Cook County. Child's school: Lincoln Park "
        "Elementary.",
        [
            "Tamika",
            "Freeman",
            "55-20931",
            "Jonathan",
            "Weiss",
            "287734",
            "22nd",
            "Margaret",
            "Ellison",
            "Cook County",
            "Lincoln Park",
        ],
        [],
    ),
    (
        "emergency contacts in a form",
        "EMERGENCY CONTACTS\n1) Nkechi Adeyemi (sister) H: 713.555.0133 W: 713.555.0190 x204\n"
        "2) Oluwaseun 'Seun' Adeyemi (nephew) - seun.adeyemi@protonmail.ch\nLanguage: Yoruba. "
        "Religion: Anglican. Occupation: retired postal carrier, USPS Houston.",
        [
            "Nkechi",
            "Adeyemi",
            "713.555.0133",
            "713.555.0190",
            "204",
            "Oluwaseun",
            "Seun",
            "seun.adeyemi@protonmail.ch",
            "Houston",
        ],
        ["Religion: Anglican", "retired postal carrier"],
    ),
    (
        "older ages and dates more",
        "Born the year of the Great Depression, 1929; celebrated her 95th in style. Centenarian "
        "neighbour Ethel. Grandpa was 101 yrs. Her ninety-sixth year. Seen on Tues 3/9; next "
        "visit 3rd Sept; ops on 2021.03.04 and 04.03.2021.",
        [
            "1929",
            "95th",
            "Ethel",
            "101",
            "ninety-sixth",
            "3/9",
            "3rd Sept",
            "2021.03.04",
            "04.03.2021",
        ],
        [],
    ),
    (
        "text-speak portal 2",
        "hey dr k its me maria g. my moms bday is 12/3/31 so shes 93!! we moved to 2201 e cesar "
        "chavez #4, austin 78702. my cel 512 555 0147. my ig is @mariag_atx. thx",
        [
            "maria",
            "12/3/31",
            "93",
            "2201 e cesar chavez",
            "#4",
            "austin",
            "78702",
            "512 555 0147",
            "mariag_atx",
        ],
        [],
    ),
]


@pytest.mark.parametrize(("style", "note", "planted", "kept"), CORPUS, ids=[c[0] for c in CORPUS])
def test_round7_note_loses_every_planted_value_and_keeps_its_clinical_words(
    style, note, planted, kept
):
    assert leaks_and_losses(note, planted, kept) == ([], []), f"{style}\n{scrubbed(note)}"


@pytest.mark.parametrize(
    "text",
    [
        # ages: a weight, a share, a vital sign, a delay after the words of an age
        "she's 95% adherent to her inhaler",
        "he's 92 kg today",
        "he's 90 days post-op",
        "Temp is almost 100 tonight",
        "HR will be 95 on metoprolol",
        "Glucose is nearly 100 fasting",
        "patient is over 90 kg",
        "her son will be 95 minutes late",
        # dates: a spell of tetralogy, an exercise test, a trial's week
        "Tet spells resolved after repair",
        "TET 2021 negative for ischemia",
        "WEEK 14 visit done",
        "Week 52 / early termination",
        "a new year resolution",
        "Pentecostal faith, declines blood",
        # addresses: vital signs and measures beside "RR", "HC", "Lot", "flat", street words
        "RR 20, HR 88, SpO2 96%",
        "HC 34 cm at birth",
        "Lot 14 of the vaccine given",
        "T waves flat in V4",
        "6 Minute Walk Test 320 m",
        "4 Chamber View normal",
        # labelled numbers: findings after "Path:", "Cyto:", "Req:", "Acc:"; guidelines
        "Path: pT2N0, margins clear",
        "Cyto: 12 cells",
        "Req: 2 units PRBC",
        "Acc: 3 loops",
        "ACC/AHA 2017 guideline",
        "ACC 2021 guideline",
        "Group A 23 strep",
        "ext 4.5 cm",
        "cost $40 copay",
        "pain meds as needed",
        # particles before a word nothing flagged; genes, stages, scales and units
        "von Willebrand disease",
        "de novo AML",
        "de Quervain tenosynovitis",
        "MLH1, MSH2, MSH6 and PMS2 intact; KRAS, NRAS and BRAF negative; PIK3CA mutated",
        "pT3 pN1a cM0, ypT2N0M0 after therapy",
        "Fazekas grade 2",
        "C-SSRS positive for passive SI",
        "MME 30",
        # residence verbs, ordinals and birth words beside no address, age or birth year
        "moved to 2 hourly checks",
        "lives at 3 different places",
        "moved to 2 L NC",
        "staying at 10 mg",
        "her 3rd year of college",
        "the 95th percentile",
        "celebrated her 50th",
        "born at 32 weeks in 2019",
        "USS score 4",
    ],
)
def test_look_alikes_of_the_round7_rules_stay(text):
    assert scrubbed(text) == text


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("Referring: Hendrik van der Berg, MD", "Hendrik van der Berg"),
        ("Patient: de la Cruz, María José", "de la Cruz"),
        ("grandmother Maria da Conceição dos Santos lived", "Maria da Conceição dos Santos"),
        ("Consult for Yusuf bin Rashid Al-Hassan", "Yusuf bin Rashid Al-Hassan"),
    ],
)
def test_a_surnames_particles_go_with_the_name(text, name):
    """ "[NAME] van [NAME]" kept the particles of a surname; they go with it now."""
    out = scrubbed(text)
    assert out.startswith(text.split(name)[0] + "["), out
    assert not any(w in out for w in name.split()), out


@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [
        ("refund to GB29 NWBK 6016 1331 9268 19 today", "account", "GB29 NWBK 6016 1331 9268 19"),
        ("CT of 2021-W09-3", "date", "2021-W09-3"),
        ("CT of week 14 of 2020", "date", "week 14 of 2020"),
        ("pin ///filled.count.soap", "geo", "///filled.count.soap"),
        ("plus code 849VCWC8+R9", "geo", "849VCWC8+R9"),
        ("hub 0011.2233.44aa", "device", "0011.2233.44aa"),
        ("RR 2 Box 115", "address", "RR 2 Box 115"),
        ("HC 61 Box 20", "address", "HC 61 Box 20"),
        ("Post Office Box 88, Viper", "address", "Post Office Box 88, Viper"),
        ("cashapp me $RosieB1998", "handle", "$RosieB1998"),
    ],
)
def test_round7_patterns_take_the_whole_value(text, kind, value):
    found = [text[s:e] for k, s, e in deid_text.find_patterns(text) if k == kind]
    assert value in found, found


def test_an_iban_needs_its_check_digits():
    """A run of capitals and digits shaped like an IBAN is one only by ISO 13616's mod 97."""
    assert not [
        k for k, _, _ in deid_text.find_patterns("GB28 NWBK 6016 1331 9268 19") if k == "account"
    ]
