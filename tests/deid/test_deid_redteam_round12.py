"""A red-team corpus written for round 12 (none of its values planted in earlier rounds), in
note **genres** no earlier round used, each carrying identifiers of the patient and of
relatives, clinicians and staff: an e-mail thread pasted into a note (From:/To:/Cc:/Sent:
headers, a signature block with credentials, telephone, fax, pager and mobile), an HL7 v2
message (MSH, PID, NK1, PV1 and OBX segments: names as ``LAST^FIRST``, a record number, a
birth date ``YYYYMMDD``, an address as ``street^^town^state^ZIP``), a letter on letterhead
(the clinic's address, "Dear Mrs. X", "Re: name, DOB"), a pipe-delimited census and a CSV
export with a quoted ``"Last, First"`` cell, notes in Spanish and in French (a "calle" and a
"rue", "12 de marzo de 1957", "le 3 avril 2024", telephones in national groups), OCR noise
("J0nathan", "Sm1thwick-Orr", "DOB O3/O4/1962"), identifiers in URLs' query strings, a
dictated note with spelled numbers ("MRN is four four seven one two eight nine"), a family
history of several relatives (ages over 89, causes of death), initials only ("pt T.K.", "TK's
wife"), nicknames in quotes and brackets, and EHR logins ("user: hmarchetti7", "signed by
kpatel3"). Scrubbed as ingest does (:class:`~twinlab.deid.TextScrubber`: patterns and engine,
no known values), every planted value must go; the clinical words beside them must stay.

Policy decisions the corpus follows: a year alone ("died in 1988", "died 2011") is no date
element under Safe Harbor and is not planted (the ages over 89 beside it are); a time of day
stays, as in earlier rounds; the HL7 message's own fields (sending application "EPIC",
facility codes, message control id, LOINC "2345-7") are not planted, its timestamp is.

Before round 12, on the first batch (14 notes, 111 values), the harness counted 7 leaks: a
record number in a CSV export whose "Last, First" cell is quoted (the comma split the row,
and "patient_name,mrn" was not read as a person's table), a Spanish and a French telephone in
national groups ("976 55 41 82", "06 12 48 73 95"), a number after a lower-case "calle" ("la
calle Almendros 27"), initials before a relative ("TK's wife") and two EHR logins ("user:
hmarchetti7", "signed by kpatel3"); 9 of its 51 clinical phrases were lost: a pharmacist's
credential ("PharmD"), rheumatology's scores and antibodies ("DAS28-CRP 3.9", "anti-CCP"), an
eponym before "overlap" ("Sjogren overlap"), an echo measure and a symptom score ("LVEDD",
"IPSS") and Spanish and French clinical words ("neumonía", "amoxicilina", "atriale"). Probing
beyond the corpus found more, held as a second batch (4 notes, 28 values), which leaked 5: a
town in an HL7 address ("^^DULUTH^MN^55802"), dotted initials where they recur ("discussed
with J.S. today"), a login after "logged in as", a ZIP code spelled out and a Spanish mobile
after "teléfono móvil"; and lost 1 of 10 phrases ("furosemida"). A third batch (3 notes, 20
values) holds what probing the second found: ages over 89 in French and Spanish ("93 ans",
"91 años"), a relative's age between a comma and a sentence's full stop ("uncle Bartram,
92."), a Social Security number dictated with "dash" between its groups, a pager broken by a
dash ("Beeper 71-4490") and a login after "signed:"; 6 leaked, and a signature's title on the
line after the name ("Dr. Seraphina Oduya-Kessler\nAttending Hospitalist": Philter's
expression runs on across the line break) was lost. In all, before round 12: 18 of 159
planted values leaked (telephones 4, EHR logins 4, initials 2, geographic 3, a record number
1, ages over 89 3, a Social Security number 1) and 11 of 68 clinical phrases were lost;
after: none of either.

The benchmark (``benchmarks/deid_recall.py --notes 500``, seed 14: 625 notes) gave after round
12 the figures round 11 recorded: recall 1.0, precision of the replaced characters 0.9202,
clinical tokens removed 0.0004 (its generator plants none of the forms above).

The rules are bounded so as not to open leaks or lose words: a login after "user", "login",
"username", "uid" or "logged in as" with a colon, or holding a digit, "_" or "."; after
"signed/entered/verified... by" only a lower-case login with digits ("signed by the attending"
stays); initials before an apostrophe only in capitals and before a relative's word; a
telephone in national groups only after a Spanish, French or Portuguese telephone label, or
as a French number in five pairs opening with 0; a CSV comma inside double quotes splits no
cell, and a header of a name and a medical record number is a person's table (a drug list's
"ID, Name" is not); an HL7 town only between "^" and a two-letter state and a ZIP; initials
recur as a name only where the same initials were found as one, in the same form; a Spanish
or French word is kept as a clinical word of Philter's whitelist only in lower case, 7 letters
or more, no name of its lists, and the same as the English word but for its last 3 letters
and its accents ("pn" read as "n" for Spanish: "neumonía"), its own ending a Romance one
after a stem that opens with no name (a lower-case town "marrowsby" and "leopoldina" stay
flagged); credentials, echo measures, scores and HL7 segment names join the engine's words
that are never PHI alone ("PharmD", "LVEDD", "IPSS", "CCP", "DAS28", "OBX"); an age's
unit in another language only after a number from 90 to 149 ("ans", "años", "Jahre"); an age
before a full stop only after a comma and a person word or a capitalised name of Philter's
lists ("SpO2 was low, 92." stays); "dash" between digits only inside a run of 7 spelled
digits or more; a pager's number only after "pager", "beeper", "pgr" or "bleep" and with 4
digits or more ("pgr 12" stays); a word that a Philter expression took in across a line break
is kept only when it is a word of Philter's clinical whitelist and no name of its lists.

Found on the way: the first form of the cognate rule (any ending) kept a lower-case town of
tests/harmonize/test_harmonize_planted_round3.py ("quills" is a word of Philter's whitelist);
the Romance endings and the name stems bound it.

Left as they were (not in the kept lists): a lab symbol at the start of a line after an HL7
segment ends in a number ("...|2185550199\nK 4.1": Philter's catch-all takes the "K" with
the number, untyped, so the line-break rule above does not see it); an OCR surname of 4
characters ("Vo55"); a desk's "4-4471" (round 11) still keeps its "4-"; Spanish and French
function words Philter flags ("Fecha", "años", "vive", "hospitalisée", "joignable"), which
leak nothing but are lost; a cognate whose ending differs by more than 3 letters stays
flagged.
"""

from __future__ import annotations

import pytest
from deid_redteam import leaks_and_losses, scrubbed

from twinlab.deid import text as deid_text

#: (style, note, planted identifiers, clinical words that must survive)
CORPUS: list[tuple[str, str, list[str], list[str]]] = [
    (
        "e-mail thread pasted into a note",
        "Pasted from Outlook:\nFrom: Thaddeus Wrenfield <t.wrenfield@lakemontclinic.org>\n"
        "Sent: Tuesday, April 9, 2024 3:12 PM\nTo: Marisol Okonkwo-Baptiste\n"
        "Cc: Desmond Ayerhart; Pharmacy Team\nSubject: RE: INR for Mr. Velasquez-Tromp\n\n"
        "Marisol - his INR was 3.8 today on warfarin 7.5 mg; holding one dose, recheck in 3 "
        "days. CrCl 42 mL/min.\n\nThaddeus Wrenfield, PharmD, BCPS\nClinical Pharmacist "
        "Specialist, Anticoagulation\nPhone 503-555-0184 | Fax 503-555-0185 | Pager 3921\n"
        "Mobile (971) 555-0126",
        [
            "Thaddeus",
            "Wrenfield",
            "t.wrenfield@lakemontclinic.org",
            "April 9, 2024",
            "Marisol",
            "Okonkwo-Baptiste",
            "Desmond",
            "Ayerhart",
            "Velasquez-Tromp",
            "503-555-0184",
            "503-555-0185",
            "3921",
            "(971) 555-0126",
        ],
        ["INR was 3.8", "warfarin 7.5 mg", "CrCl 42 mL/min", "PharmD", "Anticoagulation"],
    ),
    (
        "HL7 v2 message pasted into a note",
        "Interface error, raw message:\nMSH|^~\\&|EPIC|NWH|LAB|NWH|20240411083015||ADT^A01|"
        "MSG00417|P|2.5\nPID|1||88104527^^^NWH^MR||BRANNIGAN^LUCASTA^J||19380614|F|||"
        "4471 FENWICK RIDGE RD^^BEMIDJI^MN^56601||(218)555-0143|||M\nNK1|1|BRANNIGAN^"
        "CORMAC|SPO|4471 FENWICK RIDGE RD^^BEMIDJI^MN^56601|(218)555-0172\nPV1|1|I|4W^412^B|||"
        "|1730294^OYELARAN^TEMPERANCE^^^DR\nOBX|1|NM|2345-7^GLUCOSE^LN||182|mg/dL|70-99|H",
        [
            "88104527",
            "BRANNIGAN",
            "LUCASTA",
            "19380614",
            "4471 FENWICK RIDGE",
            "BEMIDJI",
            "56601",
            "(218)555-0143",
            "CORMAC",
            "(218)555-0172",
            "1730294",
            "OYELARAN",
            "TEMPERANCE",
            "20240411083015",
        ],
        ["ADT^A01", "GLUCOSE", "mg/dL", "70-99"],
    ),
    (
        "letter on letterhead",
        "Pinecrest Rheumatology Associates\n2290 Alderbrook Parkway, Suite 310\nCedar Falls, "
        "IA 50613\nTel 319-555-0161\n\nApril 15, 2024\n\nDear Mrs. Hollinrake,\n\nRe: "
        "Evangeline Hollinrake, DOB 02/27/1949\n\nI saw your mother today for her rheumatoid "
        "arthritis. DAS28-CRP 3.9, on methotrexate 15 mg weekly and folic acid 1 mg daily; "
        "anti-CCP positive. Sjogren overlap is possible.\n\nSincerely,\nAugustin "
        "Fairweather-Nkemelu, MD",
        [
            "Pinecrest",
            "2290 Alderbrook",
            "Cedar Falls",
            "50613",
            "319-555-0161",
            "April 15, 2024",
            "Hollinrake",
            "Evangeline",
            "02/27/1949",
            "Augustin",
            "Fairweather-Nkemelu",
        ],
        [
            "rheumatoid arthritis",
            "DAS28-CRP 3.9",
            "methotrexate 15 mg weekly",
            "folic acid 1 mg daily",
            "anti-CCP positive",
            "Sjogren",
        ],
    ),
    (
        "pipe-delimited table pasted into a note",
        "Census export:\nMRN|Name|DOB|Room|Attending|Dx\n"
        "51730962|Kettleborough, Wilhelmina|1951-08-23|5E-14|Dr. Ashdown|CHF NYHA III\n"
        "51730988|Pemberton-Oyelowo, Caspian|1960-01-09|5E-16|Dr. Ashdown|COPD GOLD 3\n"
        "Plan: diurese, BNP 1240.",
        [
            "51730962",
            "Kettleborough",
            "Wilhelmina",
            "1951-08-23",
            "51730988",
            "Pemberton-Oyelowo",
            "Caspian",
            "1960-01-09",
            "Ashdown",
        ],
        ["CHF NYHA III", "COPD GOLD 3", "BNP 1240"],
    ),
    (
        "CSV rows pasted into a note",
        "Labs export (csv):\npatient_name,mrn,collected,test,value\n"
        '"Quillfeather, Anselma",62018374,03/28/2024,HbA1c,8.1\n'
        '"Quillfeather, Anselma",62018374,04/02/2024,LDL,131\nStart atorvastatin 40 mg.',
        ["Quillfeather", "Anselma", "62018374", "03/28/2024", "04/02/2024"],
        ["HbA1c", "8.1", "LDL", "atorvastatin 40 mg"],
    ),
    (
        "note in Spanish",
        "Nota de enfermería: la paciente Remedios Altagracia Villanueva Echeverri, de 67 años, "
        "vive en la calle Almendros 27, 3º B, Zaragoza, con su hijo Baltasar. Fecha de "
        "nacimiento: 12 de marzo de 1957. Ingresó el 3 de abril de 2024 por neumonía; "
        "amoxicilina 1 g cada 8 horas, SatO2 93%. Teléfono 976 55 41 82.",
        [
            "Remedios",
            "Altagracia",
            "Villanueva",
            "Echeverri",
            "Almendros 27",
            "Zaragoza",
            "Baltasar",
            "12 de marzo de 1957",
            "3 de abril de 2024",
            "976 55 41 82",
        ],
        ["neumonía", "amoxicilina 1 g cada 8 horas", "SatO2 93%"],
    ),
    (
        "note in French",
        "Compte rendu: Mme Ghislaine Bérenger-Moulinet, née le 14 juillet 1941, demeurant "
        "18 rue des Tanneurs, 69004 Lyon, hospitalisée le 3 avril 2024 pour une fibrillation "
        "atriale. Son fils Anatole est joignable au 06 12 48 73 95. Apixaban 5 mg deux fois "
        "par jour, score CHA2DS2-VASc 4.",
        [
            "Ghislaine",
            "Bérenger-Moulinet",
            "14 juillet 1941",
            "18 rue des Tanneurs",
            "69004",
            "Lyon",
            "3 avril 2024",
            "Anatole",
            "06 12 48 73 95",
        ],
        ["fibrillation atriale", "Apixaban 5 mg", "CHA2DS2-VASc 4"],
    ),
    (
        "OCR noise from a scanned referral",
        "Scanned referral (OCR): Patient: J0nathan Sm1thwick-Orr  DOB O3/O4/1962  MRN 7O41928\n"
        "Referred by Dr. Ph1lippa Grunewald for Crohn disease; CRP 24 mg/L, calprotectin 610.",
        ["J0nathan", "Sm1thwick-Orr", "O3/O4/1962", "7O41928", "Ph1lippa", "Grunewald"],
        ["Crohn disease", "CRP 24 mg/L", "calprotectin 610"],
    ),
    (
        "identifiers in URLs' query strings",
        "Portal link sent: https://portal.example-health.org/chart?patient=Okafor-Lindgren"
        "&mrn=40938172&dob=1955-11-02 and viewer http://pacs/viewer?accession=ACC7730419"
        "&name=Philomena%20Okafor-Lindgren. Echo EF 35%, LVEDD 6.1 cm.",
        ["Okafor-Lindgren", "40938172", "1955-11-02", "ACC7730419", "Philomena"],
        ["Echo EF 35%", "LVEDD 6.1 cm"],
    ),
    (
        "dictated note with spelled numbers",
        "Dictated: patient Bartholomew Iwasaki-Crane, MRN is four four seven one two eight "
        "nine, date of birth is the ninth of October nineteen forty four, callback "
        "seven one four five five five zero one three eight. Creatinine one point four, "
        "lisinopril twenty milligrams daily.",
        [
            "Bartholomew",
            "Iwasaki-Crane",
            "four four seven one two eight nine",
            "ninth of October nineteen forty four",
            "seven one four five five five zero one three eight",
        ],
        ["Creatinine one point four", "lisinopril twenty milligrams daily"],
    ),
    (
        "family history with several relatives",
        "Family history: father Leopold Szczepanik died in 1988 of MI at 71; mother Henrietta "
        "Szczepanik is 96 and has Alzheimer disease; maternal grandmother Wilhelmine Oberhauser "
        "lived to 102, died 2011 of stroke; brother Casimir, 91, with Lynch syndrome (MLH1). "
        "No Huntington disease. Patient BRCA2 negative.",
        [
            "Leopold",
            "Szczepanik",
            "Henrietta",
            "96",
            "Wilhelmine",
            "Oberhauser",
            "102",
            "Casimir",
            "91",
        ],
        [
            "MI at 71",
            "Alzheimer disease",
            "stroke",
            "Lynch syndrome (MLH1)",
            "Huntington disease",
            "BRCA2 negative",
        ],
    ),
    (
        "initials-only references",
        "Pt T.K. seen with wife; TK's wife reports nocturia. Discussed with pt R.M.O. at "
        "bedside. Plan per Dr. W.H.: tamsulosin 0.4 mg qhs, PSA 6.2, IPSS 19.",
        ["T.K.", "TK", "R.M.O.", "W.H."],
        ["tamsulosin 0.4 mg qhs", "PSA 6.2", "IPSS 19", "nocturia"],
    ),
    (
        "nicknames in quotes",
        "Pt Reginald \"Reggie\" Tannenbaum-Ochoa, goes by 'Dutch', brought by his niece "
        "Clementine \u201cClemmie\u201d Aberash. Hx Graves disease, TSH <0.01, methimazole 10 mg.",
        ["Reginald", "Reggie", "Tannenbaum-Ochoa", "Dutch", "Clementine", "Clemmie", "Aberash"],
        ["Graves disease", "TSH <0.01", "methimazole 10 mg"],
    ),
    (
        "usernames and EHR user ids",
        "Audit trail: order entered by user: hmarchetti7, verified by pharmacist (login "
        "rvoskuijlen), signed by kpatel3 at 14:05; cosigned by user ID QZW48217. Vancomycin "
        "1250 mg q12h, trough 15.2.",
        ["hmarchetti7", "rvoskuijlen", "kpatel3", "QZW48217"],
        ["Vancomycin 1250 mg q12h", "trough 15.2", "14:05"],
    ),
    # a second batch: what probing beyond the first batch found, written as notes
    (
        "second batch: a reply header and an HL7 next of kin",
        "On Tue, Apr 9, 2024 at 3:12 PM Perpetua Ashgrove <pashgrove@gmail.com> wrote:\n"
        "NK1|1|VANTERPOOL^ORSOLYA^^^^|MTH|12 QUINCE ST^^DULUTH^MN^55802|2185550199\n"
        "K 4.1, Mg 1.9, phosphorus 3.3.",
        [
            "Apr 9, 2024",
            "Perpetua",
            "Ashgrove",
            "pashgrove@gmail.com",
            "VANTERPOOL",
            "ORSOLYA",
            "12 QUINCE",
            "DULUTH",
            "55802",
            "2185550199",
        ],
        ["Mg 1.9", "phosphorus 3.3", "3:12 PM"],
    ),
    (
        "second batch: initials repeated, a login and a ZIP spelled out",
        "Pt J.S. and her husband at bedside; plan discussed with J.S. today. Chart opened by "
        "the covering NP (logged in as tquince9). Her zip is nine four one one oh. A1c 7.2%, "
        "glipizide 5 mg.",
        ["J.S.", "tquince9", "nine four one one oh"],
        ["A1c 7.2%", "glipizide 5 mg", "covering NP"],
    ),
    (
        "second batch: Spanish and French addresses, telephones and labels",
        "Domicilio: Avda. de la Constitución 14, 41001 Sevilla; vive en C/ Mayor 3, Alcalá; "
        "teléfono móvil 612 34 56 78. Domicile: 12 bis rue du Faubourg-Saint-Honoré, 75008 "
        "Paris; Nom: Labrousse; Prénom: Amandine. Insuficiencia cardíaca, furosemida 40 mg.",
        [
            "Constitución 14",
            "41001",
            "Sevilla",
            "Mayor 3",
            "Alcalá",
            "612 34 56 78",
            "12 bis rue du Faubourg-Saint-Honoré",
            "75008",
            "Paris",
            "Labrousse",
            "Amandine",
        ],
        ["furosemida 40 mg"],
    ),
    (
        "second batch: OCR noise in a name, a date and a telephone",
        "Patient: Br1dget 0'Malley-Quist  DOB: l2/O9/1947  Ph: 6O8-555-Ol32\nDx: Graves "
        "disease, TSH 0.02, free T4 3.1.",
        ["Br1dget", "0'Malley-Quist", "l2/O9/1947", "6O8-555-Ol32"],
        ["Graves disease", "TSH 0.02", "free T4 3.1"],
    ),
    # a third batch: what probing beyond the second batch found, written as notes
    (
        "third batch: ages over 89 in French and Spanish, a relative's age at a sentence's end",
        "Le patient M. Théophile Garnier-Roussel, 93 ans, né le 2 février 1931 à Besançon. "
        "La señora Inmaculada Cifuentes, de 91 años, nacida el 7 de julio de 1933 en Cuenca. "
        "Family: mother Ysolde d. at 99 of CHF; uncle Bartram, 92. SpO2 was low, 88%.",
        [
            "Théophile",
            "Garnier-Roussel",
            "93 ans",
            "2 février 1931",
            "Besançon",
            "Inmaculada",
            "Cifuentes",
            "91 años",
            "7 de julio de 1933",
            "Cuenca",
            "Ysolde",
            "99",
            "Bartram",
            "92.",
        ],
        ["CHF", "SpO2 was low"],
    ),
    (
        "third batch: a pager broken by a dash and a login after a colon",
        "Regards,\nDr. Seraphina Oduya-Kessler\nAttending Hospitalist | Beeper 71-4490 | Pgr: "
        "4-4172\nsigned: lmartinez22, RN. Heparin 18 units/kg/h, aPTT 62.",
        ["Seraphina", "Oduya-Kessler", "71-4490", "4-4172", "lmartinez22"],
        ["Attending Hospitalist", "Heparin 18 units/kg/h", "aPTT 62"],
    ),
    (
        "third batch: a Social Security number dictated with dashes",
        "Dictation: pt's SSN is four one two dash five five dash nine nine eight one; "
        "hemoglobin nine point two, transfuse one unit.",
        ["four one two dash five five dash nine nine eight one"],
        ["hemoglobin nine point two", "transfuse one unit"],
    ),
]


@pytest.mark.parametrize(("style", "note", "planted", "kept"), CORPUS, ids=[c[0] for c in CORPUS])
def test_round12_note_loses_every_planted_value_and_keeps_its_clinical_words(
    style, note, planted, kept
):
    assert leaks_and_losses(note, planted, kept) == ([], []), f"{style}\n{scrubbed(note)}"


@pytest.mark.parametrize(
    "text",
    [
        # words beside the round-12 patterns that open nothing
        "the user reports no pain; user error suspected; login screen froze",
        "signed by the attending; reviewed by pharmacy; entered by nursing",
        "signed: consent on file; pager 2 times overnight; pgr 12",
        "ICU's nurse called; the MD's note; per GI's recommendation",
        "ER-positive, MMR-deficient; COPD GOLD 3; HbA1c 8.1",
        "zip lock bag; postal service",
        "Clinical Pharmacist, PharmD, BCPS; LVEDD 5.2 cm, TAPSE 18 mm; IPSS 12; anti-CCP 250",
        "Sjogren overlap; DAS28-CRP 4.1",
        "doses 10 20 40 80 mg; HR 72",
        "GLUCOSE^LN; ADT^A01; OBX|1|NM|2345-7^GLUCOSE^LN||182|mg/dL|70-99|H",
        # a Spanish and a French clinical sentence
        "neumonía adquirida; amoxicilina 1 g; fibrillation atriale; furosemida 40 mg",
        # numbers after a comma at a sentence's end that are no relative's age
        "SpO2 was low, 92.",
        "Na 140, K 4.1, glucose 95.",
        "range 90, 95; mean 92",
    ],
)
def test_look_alikes_of_the_round12_rules_stay(text):
    assert scrubbed(text) == text


@pytest.mark.parametrize(
    ("text", "gone"),
    [
        # logins
        ("username: bwexford", "bwexford"),
        ("login k.quarles", "k.quarles"),
        ("cosigned by mtenorio12 at 08:10", "mtenorio12"),
        ("e-signed by: dvarga7", "dvarga7"),
        ("signed: vkoenig5 RN", "vkoenig5"),
        ("pager # 3-3817", "3817"),
        # initials
        ("AB's husband called", "AB"),
        ("pt R.T. seen; R.T. prefers morning visits", "R.T."),
        # telephones and streets abroad
        ("teléfono: 91 555 12 34", "555"),
        ("tél. 04 72 11 22 33", "72"),
        ("vive en la calle Jazmines 9", "Jazmines"),
        # tables and HL7
        ('name,mrn,test\n"Vollmer, Ida",77210456,CBC', "77210456"),
        ("PID|1||123^^^H^MR||X^Y||19400101|F|||1 A ST^^WINONA^MN^55987", "WINONA"),
        ("postal code is two one two oh one", "two one two"),
        # a lower-case name is no cognate (Philter's lists hold it)
        ("spoke with margaret today", "margaret"),
        # a lower-case town whose stem is a clinical word has no Romance ending
        ("fall at 12 mill lane, marrowsby.", "marrowsby"),
    ],
)
def test_round12_rules_keep_their_limits(text, gone):
    assert gone not in scrubbed(text), scrubbed(text)


@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [
        ("user: hmarchetti7", "handle", "hmarchetti7"),
        ("signed by kpatel3 at 14:05", "handle", "kpatel3"),
        ("TK's wife reports", "name", "TK"),
        ("joignable au 06 12 48 73 95", "phone", "06 12 48 73 95"),
        ("Teléfono 976 55 41 82", "phone", "976 55 41 82"),
        ("en la calle Almendros 27, 3º B", "address", "calle Almendros 27"),
        ("RD^^BEMIDJI^MN^56601|", "address", "BEMIDJI"),
        ("zip nine four one one oh", "zip", "nine four one one oh"),
        ("Mme Garnier, 93 ans, née", "age", "93 ans"),
        ("de 91 años", "age", "91 años"),
        ("uncle Bartram, 92.", "age", "92"),
        (
            "SSN is four one two dash five five dash nine nine eight one",
            "phone",
            "four one two dash",
        ),
    ],
)
def test_round12_patterns_take_the_whole_value(text, kind, value):
    found = [text[s:e] for k, s, e in deid_text.find_patterns(text) if k == kind]
    assert any(value in f for f in found), found


def test_a_quoted_csv_cell_is_one_cell():
    t = 'patient_name,mrn,collected\n"Quillfeather, Anselma",62018374,03/28/2024'
    cells = [(k, t[s:e]) for k, s, e in deid_text._table_cells(t)]
    assert cells == [("name", "Quillfeather, Anselma"), ("id", "62018374")], cells


def test_a_record_number_alone_is_no_persons_table():
    t = "id,mrn,analyte\n4471,55120983,HbA1c"
    assert deid_text._table_cells(t) == []


@pytest.mark.parametrize(
    "word", ["ottilie", "fontenot", "margaret", "Atriale", "zaragoza", "marrowsby", "leopoldina"]
)
def test_names_and_capitals_are_no_cognates(word):
    from twinlab.deid.engine import _cognate

    assert not _cognate(word)
