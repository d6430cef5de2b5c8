"""A red-team corpus written for round 10 (none of its values planted in earlier rounds): notes
in clinical styles no earlier round tried, each carrying identifiers of the patient **and of
relatives, household members, guardians and employers**: a surgical-pathology report (accession
and block labels, a grosser's initials), a radiology report (comparison dates "6/14/23" and "the
3rd of March", a technologist's dotted initials), a nursing SBAR handoff, a medication
reconciliation with the pharmacy's store number, telephone, fax and prescription number, a
social-work note (a guardian, a probate court's case number, an APS case, a school, a
workplace), a home-health visit with directions ("past the Shell station on Route 9"), a plate
and a gate code, a genetic-counselling pedigree (relatives' ages over 89, a date of death), a
death and autopsy summary, an insurance prior-authorization letter (member id, group, claim,
NPI, DEA), a research consent note, a patient-portal message (lower case, emoji), Hispanic
double surnames and a street named before its number ("Calle Ponce de León 418"), Vietnamese,
Arabic and Nigerian names, a UK postcode and an NHS number, Canadian postal codes, ages over 89
in words ("one hundred and one", in apposition), dates in many formats ("Q3 2023", "5th Sept",
"2024.05.17", "March the twelfth"), times attached to dates, implant serials and a UDI,
social-media handles and fundraising URLs, a fax cover with account numbers, camel-case product
names beside identifiers, eponyms and codes beside names; a second batch: a chaplain's note (a
funeral home, "the 14th", a parish and its town), a workers' compensation claim, a
correctional-health note, a Quebec address in French, a well-child visit (school, teacher,
daycare), a living-donor note, a lower-case portal message with Arabic names ("al-sayegh",
"ninety one"), a dialysis unit's transport. Scrubbed as ingest does
(:class:`~twinlab.deid.TextScrubber`: patterns and engine, no known values), every planted value
must go; the clinical words beside them must stay.

Policy decisions the corpus follows: a quarter ("Q3 2023") and a day-month without a year
("3/4", "the 3rd of March") are date elements finer than a year and go; a trial's registration
("NCT04417720") names the study, not a person, and stays; a study's own subject numbering is
not planted (the study's pseudonyms are its re-identification codes, Safe Harbor's permitted
exception); business names are planted only where they identify a person (an employer, a
school, a court, a pharmacy store), not a transport company or a device maker.

Before round 10, 6 of the 160 planted values of the first batch leaked: a relative's given name
that Philter's whitelist holds, after "Maternal aunt" ("Brunhilde") 1, a technologist's dotted
initials after "TECHNOLOGIST:" 1, a street named before its number ("Calle Ponce de León 418")
1, a street number whose town was followed by a Canadian province ("77 Maple Crest Dr, Hamilton
ON": "ON" read as a function word) 1, an age over 89 in apposition ("a spry one hundred and
one") 1 and a gate code 1; 12 clinical phrases of the kept lists were lost: camel-case product
names ("OmniPod", "ReliOn"), a brand in parentheses after its generic ("dupilumab (Dupixent)"),
"BP 120/80" after an e-mail address, a trial registration, eponyms and scales ("Fleischner",
"Hoehn and Yahr", "Tinetti", "Hoyer lift"), "EASI 24", and "Sickle cell", "Dual-chamber" at a
sentence's start. The second batch leaked 2 of 51 (a town after a parish's name and a comma,
"Duluth"; the particle "al-" of a lower-case Arabic surname) and lost 3 phrases ("1.2 million
IU/mL", "DTaP #5", and "Dry weight" taken as a town after "Lake Charles.").

Probing beyond the corpus (the limits and look-alikes below) found more, fixed by class: an age
over 89 after a relative's name ("her mother Folake Adeyemi-Bello is 102"), undotted initials
after a signing label ("Tech: mdh"), an Irish Eircode, a pharmacy benefit's group number
("RxGrp MD4410"), a store number, an employer after "work line at", a handle with digits after
"handle", a quarter or half of a year ("FY2023 Q4", "Q1'24", "1H 2024"); and, for precision,
"Vitamin D3 1000 units" (Philter read a date), "90% LAD, DES x1", brands before their dose
("Ozempic 0.25 mg"), an ICD-10-PCS code, a code after its system's name at a sentence's end
("CPT 99214."), the Glasgow Coma Scale's components ("E4V4M6"). The rules that keep words are
bounded so as not to open leaks: a camel-case word is a product only when one of its parts is
no name, no particle opens it, a device, form or dose follows it ("OmniPod pump") and no
person word, preposition of place or organisation's word is beside it; a surname eponym only
before its score or clinical word; a brand only beside its generic or before a lower-case dose
unit, and none of them a name of Philter's lists.

A third batch (5 notes, 26 values) holds what the probes found, as notes: on the code before
round 10, 8 of its values leaked and 5 of its clinical phrases were lost ("4 mm LUL nodule"
among them, kept since: lobes of the lung in capitals). In all, before round 10: 16 of 237
planted values leaked (names 4: initials twice, a relative's given name, a surname's particle;
geographic 4: two street numbers, a town, an Eircode; dates 5: two ages over 89, three quarters
or halves of a year; a health-plan group 1, a gate code 1, a relative's employer 1) and 20 of
130 clinical phrases were lost.

The benchmark (``benchmarks/deid_recall.py --notes 200``, seed 14) before and after round 10:
recall 0.9989 -> 1.0 (its last misses: "Nurse Ng", "PA Ng", "Jolanda A."), precision of the
replaced characters 0.9123 -> 0.9203, no clinical token lost either way.

Left as they were (not in the kept lists): "PillCam" (both its parts are names in Philter's
lists), a lower-case brand with no generic beside it ("jardiance 10"), French clinical
abbreviations ("FEVG"), "Comfort care" at a sentence's start ("Comfort" is a given name),
"Via PEG" and "mother Deceased" (Philter flags them), a transport company's name
("Medi-Van").
"""

from __future__ import annotations

import pytest
from deid_redteam import leaks_and_losses, scrubbed

from twinlab.deid import text as deid_text

#: (style, note, planted identifiers, clinical words that must survive)
CORPUS: list[tuple[str, str, list[str], list[str]]] = [
    (
        "surgical pathology report",
        "SURGICAL PATHOLOGY REPORT\nAccession: S24-01734   Received: 02/27/2024 10:12\n"
        "Patient: Brannigan-Oyelowo, Theodora   MRN 30418827\nSubmitting: Dr. Ignatius "
        "Pelletier   Grossed by: KRT\nA. Right breast, 10 o'clock, core biopsy (S24-01734-A1)\n"
        "Diagnosis: invasive ductal carcinoma, Nottingham grade 2; ER 95%, PR 40%, HER2 1+ "
        "(IHC). Ki-67 18%. BRCA1 testing advised.",
        [
            "S24-01734",
            "02/27/2024",
            "Brannigan-Oyelowo",
            "Theodora",
            "30418827",
            "Ignatius",
            "Pelletier",
            "KRT",
        ],
        [
            "invasive ductal carcinoma",
            "Nottingham grade 2",
            "ER 95%",
            "HER2 1+",
            "Ki-67 18%",
            "BRCA1",
            "10 o'clock",
            "10:12",
        ],
    ),
    (
        "radiology report with comparison and technologist",
        "EXAM: CT chest w/o contrast  DATE: 11-Jan-2024 14:22\nCOMPARISON: CT 6/14/23 and "
        "chest radiograph from the 3rd of March.\nTECHNOLOGIST: J.Q.R.  Reading radiologist: "
        "Anneliese Vorderbrügge, MD\nFINDINGS: 6 mm RLL ground-glass nodule, stable. No "
        "effusion. Fleischner follow-up in 12 months.",
        ["11-Jan-2024", "6/14/23", "3rd of March", "J.Q.R.", "Anneliese", "Vorderbrügge"],
        ["6 mm RLL ground-glass nodule", "Fleischner", "14:22", "12 months"],
    ),
    (
        "nursing SBAR handoff",
        "SBAR 1900 handoff, bed 12B.\nS: Mr. Delacourt-Mbeki (Fitzgerald), 93 y/o, post-op "
        "day 2 Whipple procedure.\nB: Wife Genevieve at bedside overnight, her cell "
        "(207) 555-0138. Son Rafferty flying in from Halifax NS B3H 2Y9.\nA: BP 104/62, HR 96, "
        "Foley catheter in place, UOP 30 mL/h, Glasgow Coma Scale 15.\nR: recheck lactate at "
        "2300.",
        [
            "Delacourt-Mbeki",
            "Fitzgerald",
            "93 y/o",
            "Genevieve",
            "(207) 555-0138",
            "Rafferty",
            "Halifax",
            "B3H 2Y9",
        ],
        [
            "Whipple procedure",
            "BP 104/62",
            "HR 96",
            "Foley catheter",
            "Glasgow Coma Scale 15",
            "UOP 30 mL/h",
        ],
    ),
    (
        "medication reconciliation with pharmacy",
        "Med rec completed with pt's daughter Marisela. Preferred pharmacy: Walgreens #07731, "
        "2210 Beaumont Ave, Lufkin TX 75901, ph 936-555-0172, fax 936-555-0173. Rx #6620194.\n"
        "Home meds: apixaban 5 mg BID, metoprolol succinate 25 mg daily, insulin glargine "
        "(Lantus) 18 units qHS, EpiPen PRN, atorvastatin 40 mg.",
        [
            "Marisela",
            "07731",
            "2210 Beaumont",
            "Lufkin",
            "75901",
            "936-555-0172",
            "936-555-0173",
            "6620194",
        ],
        [
            "apixaban 5 mg BID",
            "metoprolol succinate 25 mg daily",
            "Lantus",
            "EpiPen",
            "atorvastatin 40 mg",
        ],
    ),
    (
        "social-work note with court and guardian",
        "SW note: Pt's granddaughter Keziah Abernethy-Rios (legal guardian per Cuyahoga County "
        "Probate Court case no. 2023-GDN-00417) reports pt lived with her at 1451 Lorain Rd, "
        "Apt 3C, Fairview Park. Keziah works nights at Dollar General; her son Tobias attends "
        "Westwood Elementary. APS case #OH-558120 closed. PHQ-9 score 14.",
        [
            "Keziah",
            "Abernethy-Rios",
            "Cuyahoga",
            "2023-GDN-00417",
            "1451 Lorain",
            "3C",
            "Fairview Park",
            "Dollar General",
            "Tobias",
            "Westwood",
            "OH-558120",
        ],
        ["PHQ-9 score 14", "legal guardian"],
    ),
    (
        "home-health visit with directions",
        "Home visit 10:30. Pt lives down the gravel lane, third house past the Shell station on "
        "Route 9, blue trailer with the plate WVX-4471 in the yard. Neighbor Orville Trimble "
        "(key holder) 304-555-0190. Wound VAC changed, 4 x 3 cm sacral wound, Braden 13. "
        "Gate code 4418.",
        ["Shell", "Route 9", "WVX-4471", "Orville", "Trimble", "304-555-0190", "4418"],
        ["Wound VAC", "4 x 3 cm sacral wound", "Braden 13", "10:30"],
    ),
    (
        "genetic counselling pedigree",
        "Pedigree: proband's maternal grandmother, Ilse Vandermeulen, died 14 March 2019 at age "
        "ninety-three of ovarian cancer. Maternal aunt Brunhilde (age 61) has a known BRCA2 "
        "c.5946delT pathogenic variant. Paternal grandfather Casimir Oduya is alive at 97. "
        "Lynch syndrome panel (MLH1, MSH2) negative.",
        [
            "Ilse",
            "Vandermeulen",
            "14 March 2019",
            "ninety-three",
            "Brunhilde",
            "Casimir",
            "Oduya",
            "97",
        ],
        ["BRCA2 c.5946delT", "Lynch syndrome", "MLH1", "MSH2", "ovarian cancer"],
    ),
    (
        "death and autopsy summary",
        "Pronounced dead 04/09/2024 at 03:17 by Dr. Seraphina Quint-Holloway. Time of death "
        "confirmed. Autopsy A24-0089 performed by Coroner's Office of Yellowstone County. "
        "Next of kin (brother Lazarus Echeverri-Stone, Billings MT) notified. Cause: acute "
        "MI with LAD occlusion; COPD contributory.",
        [
            "04/09/2024",
            "Seraphina",
            "Quint-Holloway",
            "A24-0089",
            "Yellowstone",
            "Lazarus",
            "Echeverri-Stone",
            "Billings",
        ],
        ["LAD occlusion", "COPD contributory", "03:17"],
    ),
    (
        "insurance prior-authorization letter",
        "RE: Prior authorization request\nMember: Ofelia Sandoval-Gutiérrez  Member ID: "
        "XJH448120963  Group #: 0077412-B\nClaim no. 2024031400871\nPrescriber: Bartholomew "
        "Ikeda, MD  NPI 1457302986  DEA BI4471203\nRequested: dupilumab (Dupixent) 300 mg SC "
        "q2 weeks for moderate-to-severe atopic dermatitis (ICD-10 L20.9), EASI 24.",
        [
            "Ofelia",
            "Sandoval-Gutiérrez",
            "XJH448120963",
            "0077412-B",
            "2024031400871",
            "Bartholomew",
            "Ikeda",
            "1457302986",
            "BI4471203",
        ],
        ["dupilumab", "Dupixent", "300 mg SC", "L20.9", "EASI 24"],
    ),
    (
        "research consent note",
        "Research consent: CARDIO-HF trial (NCT04417720). Consent obtained 2/9/2024 from pt and "
        "her husband Evander Maczynski, witnessed by coordinator Philippa Strand. Subject "
        "assigned study number per protocol. Baseline NT-proBNP 2410 pg/mL, LVEF 30%.",
        ["2/9/2024", "Evander", "Maczynski", "Philippa", "Strand"],
        ["NCT04417720", "NT-proBNP 2410 pg/mL", "LVEF 30%"],
    ),
    (
        "patient portal message",
        "hi dr lowenstein its rosalba 🙂 my moms sugars been like 280 all wk, she takes the "
        "metformin 1000mg twice a day n jardiance 10. can u call me back at 773 555 0148?? "
        "also my new email is rosalba.tk1988@outlook.com thx!! 🙏",
        ["lowenstein", "rosalba", "773 555 0148", "rosalba.tk1988@outlook.com"],
        ["metformin 1000mg", "280"],
    ),
    (
        "Hispanic double surnames",
        "Paciente: María de los Ángeles Quiñones Villalobos, 67 años. Acompañada por su hijo "
        "Ezequiel Quiñones Betancourt. Domicilio: Calle Ponce de León 418, San Juan PR 00907. "
        "HbA1c 8.4%, glipizide 5 mg.",
        [
            "María",
            "Ángeles",
            "Quiñones",
            "Villalobos",
            "Ezequiel",
            "Betancourt",
            "Calle Ponce de León 418",
            "00907",
        ],
        ["HbA1c 8.4%", "glipizide 5 mg"],
    ),
    (
        "Vietnamese and Arabic names",
        "Interpreter (Vietnamese) used. Pt Nguyễn Thị Hoa, accompanied by son Trần Văn Khải and "
        "daughter-in-law Noor Al-Hashimi, who works at Sahara Halal Market. Hep B surface "
        "antigen positive, tenofovir 300 mg daily, ALT 62 U/L.",
        ["Nguyễn", "Thị", "Hoa", "Trần", "Văn", "Khải", "Noor", "Al-Hashimi", "Sahara Halal"],
        ["tenofovir 300 mg daily", "ALT 62 U/L", "Hep B surface antigen"],
    ),
    (
        "Nigerian names and UK postcode",
        "Transfer letter from Dr Oluwaseun Adebayo-Okafor, St Thomas' ward, London SE1 7EH. "
        "Patient Chukwuemeka Nwachukwu-Eze (NHS no. 485 777 3456), wife Ngozi on 07700 900418. "
        "Sickle cell disease (HbSS), hydroxycarbamide 1 g daily, Hb 78 g/L.",
        [
            "Oluwaseun",
            "Adebayo-Okafor",
            "SE1 7EH",
            "Chukwuemeka",
            "Nwachukwu-Eze",
            "485 777 3456",
            "Ngozi",
            "07700 900418",
        ],
        ["Sickle cell disease", "HbSS", "hydroxycarbamide 1 g daily", "Hb 78 g/L"],
    ),
    (
        "ages over 89 in words",
        "Ninety-four-year-old woman admitted with fall. Her sister, a spry one hundred and one, "
        "lives in the same facility. Husband died at age ninety. MMSE 22/30, Tinetti 14.",
        ["Ninety-four", "one hundred and one", "ninety"],
        ["MMSE 22/30", "Tinetti 14"],
    ),
    (
        "dates in many formats",
        "Symptoms began the 3rd of March, worsened on 3/4, and were reviewed at the Q3 2023 "
        "clinic; last seen Tues 5th Sept; colonoscopy scheduled 2024.05.17; prior echo "
        "20230918. Also seen on March the twelfth. Day 3 of antibiotics, CURB-65 score 2.",
        ["3rd of March", "3/4", "Q3", "5th Sept", "2024.05.17", "20230918", "March the twelfth"],
        ["CURB-65 score 2", "Day 3 of antibiotics"],
    ),
    (
        "implant device serials and UDI",
        "Dual-chamber pacemaker implanted 07/22/2021: Medtronic Azure XT, SN PZX612447H; "
        "UDI (01)00643169701247(17)250630(21)PZX612447H. RA lead serial no. BBL0221987V. "
        "Interrogation: battery 8.5 years, RV pacing 12%.",
        ["07/22/2021", "PZX612447H", "00643169701247", "250630", "BBL0221987V"],
        ["RV pacing 12%", "battery 8.5 years", "Dual-chamber pacemaker"],
    ),
    (
        "social media handles and URLs",
        "Pt's son posts updates as @dariusfenwick_93 on Instagram and runs "
        "www.fenwickfamilyupdates.com; the GoFundMe is gofundme.com/f/help-for-dolores-fenwick. "
        "BP 142/88, HR 78. Donepezil 10 mg qHS.",
        ["dariusfenwick_93", "fenwickfamilyupdates", "help-for-dolores-fenwick"],
        ["BP 142/88", "HR 78", "Donepezil 10 mg qHS"],
    ),
    (
        "fax cover and account numbers",
        "FAX COVER - To: Hollis Creek Cardiology, fax (501) 555-0161, attn: Marguerite. From "
        "billing, acct no. 0041-77320-9, encounter 88412037. Pages: 3. Enclosed: echo report "
        "(LVEF 55%), Holter summary.",
        ["Hollis Creek", "(501) 555-0161", "Marguerite", "0041-77320-9", "88412037"],
        ["LVEF 55%", "Holter"],
    ),
    (
        "case management discharge planning",
        "CM: Pt to discharge to daughter Anastasiya Pryhodko's home at 77 Maple Crest Dr, "
        "Hamilton ON L8P 4R5, Canada. Son-in-law Bohdan works for Stelco. Transport by her "
        "Honda, plate BXRT 902. Will need Hoyer lift, CPAP settings 10 cmH2O.",
        [
            "Anastasiya",
            "Pryhodko",
            "77 Maple Crest",
            "Hamilton",
            "L8P 4R5",
            "Bohdan",
            "Stelco",
            "BXRT 902",
        ],
        ["Hoyer lift", "CPAP", "10 cmH2O"],
    ),
    (
        "ED provider note with times attached to dates",
        "Arrived 12/30/2023 @ 23:48 via EMS from Kittanning. Last known well 12/30 at 2100. "
        "tPA given 12/31 0041. NIHSS 14 -> 6. Wife Marguerite Oyelaran-Duffy at bedside. CT "
        "angiogram: left M1 occlusion.",
        ["12/30/2023", "Kittanning", "12/30", "12/31", "Oyelaran-Duffy"],
        ["NIHSS 14", "M1 occlusion", "tPA", "23:48"],
    ),
    (
        "employer and school in occupational history",
        "Occupational hx: pt is a welder at Bollinger Shipyards in Lockport; wife Delphine "
        "teaches at Lafourche Parish Central High School. Daughter Sabine is a nursing student "
        "at Nicholls State. Spirometry FEV1/FVC 0.62, FEV1 58% predicted.",
        ["Bollinger", "Lockport", "Delphine", "Lafourche", "Sabine", "Nicholls"],
        ["FEV1/FVC 0.62", "FEV1 58% predicted", "Spirometry"],
    ),
    (
        "CamelCase products next to identifiers",
        "Seen by Dr. Pemberton. Started on NovoLog 8 units with meals and FreeStyle Libre "
        "sensor; uses an OmniPod pump and a ReliOn meter. Prior PillCam negative. HbA1c 9.2%. "
        "Patient email: quincy.ashdown@gmail.com BP 120/80.",
        ["Pemberton", "quincy.ashdown@gmail.com"],
        ["NovoLog 8 units", "FreeStyle Libre", "OmniPod", "ReliOn", "HbA1c 9.2%", "BP 120/80"],
    ),
    (
        "eponyms and codes beside names",
        "Mr. Rutherford Achterberg has Parkinson's disease (ICD-10 G20, SNOMED 49049000), "
        "Hoehn and Yahr stage 3. Carbidopa-levodopa 25/100 TID. Apgar of grandson 8 and 9. "
        "LOINC 718-7 Hgb 11.1 g/dL.",
        ["Rutherford", "Achterberg"],
        [
            "Parkinson's disease",
            "G20",
            "49049000",
            "Hoehn and Yahr stage 3",
            "Carbidopa-levodopa 25/100 TID",
            "Apgar",
            "718-7",
            "Hgb 11.1 g/dL",
        ],
    ),
    (
        "telephone encounter with relative's workplace",
        "TC from pt's husband Leopold Fairbanks-Noor, calling on his lunch break at the "
        "Anheuser-Busch brewery in St. Louis, ext 4417. Requests refill of warfarin 5 mg; INR "
        "2.6 on 01/05. Callback 314-555-0119 after 5pm.",
        [
            "Leopold",
            "Fairbanks-Noor",
            "Anheuser-Busch",
            "St. Louis",
            "4417",
            "01/05",
            "314-555-0119",
        ],
        ["warfarin 5 mg", "INR 2.6"],
    ),
    (
        "second batch: chaplain and bereavement note",
        "Chaplain visit. Family gathered: widow Henrietta Lowgren-Baptiste and grandson "
        "Ignatius (Iggy) Baptiste. Arrangements with Kettleby & Sons Funeral Home, service "
        "Saturday the 14th at 10 am at St. Casimir Parish, Duluth. Comfort care: morphine 2 mg "
        "IV q2h PRN, glycopyrrolate 0.2 mg.",
        [
            "Henrietta",
            "Lowgren-Baptiste",
            "Ignatius",
            "Iggy",
            "Baptiste",
            "Kettleby",
            "14th",
            "St. Casimir",
            "Duluth",
        ],
        ["morphine 2 mg IV q2h PRN", "glycopyrrolate 0.2 mg"],
    ),
    (
        "second batch: workers' compensation claim",
        "Work injury 08/19/2024 at Grainger Logistics warehouse, Joliet. Supervisor Dwayne "
        "Kopecky witnessed. WC claim #WC-24-0091873, adjuster Priyanka Venkataraman "
        "(630-555-0104 x221). L4-L5 disc herniation on MRI, gabapentin 300 mg TID, PT 2x/week.",
        [
            "08/19/2024",
            "Grainger",
            "Joliet",
            "Dwayne",
            "Kopecky",
            "WC-24-0091873",
            "Priyanka",
            "Venkataraman",
            "630-555-0104",
        ],
        ["L4-L5 disc herniation", "gabapentin 300 mg TID", "PT 2x/week"],
    ),
    (
        "second batch: correctional health note",
        "Inmate #A-774120, housed at Fort Dodge Correctional Facility, Unit C-2. Seen via "
        "telemed; officer Szymanski present. Hep C RNA 1.2 million IU/mL, sofosbuvir-velpatasvir "
        "1 tab daily x 12 weeks.",
        ["A-774120", "Fort Dodge", "Szymanski"],
        ["Hep C RNA 1.2 million IU/mL", "sofosbuvir-velpatasvir", "12 weeks"],
    ),
    (
        "second batch: Quebec address in French",
        "Patiente: Geneviève Tremblay-Ouellet, née le 4 juillet 1951. Adresse: 1234, rue "
        "Saint-Denis, app. 5, Montréal (Québec) H2X 3K8. Fille: Maude Ouellet, tél. "
        "514-555-0183. FEVG 35 %, bisoprolol 2,5 mg.",
        [
            "Geneviève",
            "Tremblay-Ouellet",
            "4 juillet",
            "1234",
            "Saint-Denis",
            "Montréal",
            "H2X 3K8",
            "Maude",
            "514-555-0183",
        ],
        ["bisoprolol 2,5 mg", "35 %"],
    ),
    (
        "second batch: pediatric well-child with school and daycare",
        "6 yo seen with mom (Latisha) and stepdad Reginald. Attends 1st grade at Pinecrest "
        "Academy, teacher Mrs. Okonkwo-Hale; after-school at Little Sprouts Daycare. Growth "
        "50th percentile, BMI 16.1, MMR #2 and DTaP #5 given. Hearing screen pass.",
        ["Latisha", "Reginald", "Pinecrest", "Okonkwo-Hale", "Little Sprouts"],
        ["MMR #2", "DTaP #5", "BMI 16.1", "50th percentile"],
    ),
    (
        "second batch: transplant coordinator note",
        "Living donor evaluation: donor is pt's cousin Thaddeus Mwangi-Holt (DOB 1/30/1979, "
        "UNOS ID DJK4471), lives in Ypsilanti. Recipient crossmatch negative, cPRA 12%, "
        "tacrolimus trough goal 8-10 ng/mL.",
        ["Thaddeus", "Mwangi-Holt", "1/30/1979", "DJK4471", "Ypsilanti"],
        ["cPRA 12%", "tacrolimus trough goal 8-10 ng/mL", "crossmatch negative"],
    ),
    (
        "second batch: portal message in Arabic names, lowercase",
        "salam dr. this is abu khalil (mahmoud al-sayegh) writing for my father yusuf, he is "
        "ninety one now. his bp was 168/94 this morning and he refuses the amlodipine 10mg 😟 "
        "we live at 4410 dearborn st apt 2 in hamtramck. whatsapp +1 313 555 0117",
        [
            "khalil",
            "mahmoud",
            "al-sayegh",
            "yusuf",
            "ninety one",
            "4410 dearborn",
            "hamtramck",
            "+1 313 555 0117",
        ],
        ["bp was 168/94", "amlodipine 10mg"],
    ),
    (
        "second batch: dialysis unit note",
        "HD chair 7, Mon/Wed/Fri. Transport by Reliable Medi-Van (driver Consuelo), pickup "
        "from 88 Sycamore Bend Rd, Lake Charles. Dry weight 72.5 kg, Kt/V 1.4, EPO 4000 "
        "units, access: L AVF with good thrill.",
        ["Consuelo", "88 Sycamore Bend", "Lake Charles"],
        ["Dry weight 72.5 kg", "Kt/V 1.4", "EPO 4000 units", "L AVF", "HD chair 7"],
    ),
    (
        "third batch: radiology addendum with undotted initials",
        "ADDENDUM 3/5/24 0812. Comparison: 01/2023 and Jan '22 studies. Tech: mdh. Dictated by "
        "Dr. Villanueva-Tsai. 4 mm LUL nodule unchanged; Lung-RADS 2.",
        ["3/5/24", "01/2023", "Jan '22", "mdh", "Villanueva-Tsai"],
        ["4 mm LUL nodule", "Lung-RADS 2"],
    ),
    (
        "third batch: pharmacy benefit card",
        "Coverage verified: Member ID W2887 4410 92, Group 77120, RxBIN 610014, RxGrp MD4410. "
        "Pharmacy: Rite Aid store 10412, fax 215.555.0199. Vitamin D3 1000 units daily, "
        "Entresto 49/51 mg BID.",
        ["W2887 4410 92", "77120", "MD4410", "10412", "215.555.0199"],
        ["Vitamin D3 1000 units daily", "Entresto 49/51 mg BID"],
    ),
    (
        "third batch: relatives' ages and workplaces in a family meeting",
        "Family meeting: her mother Folake Adeyemi-Bello is 102 and lives with them; husband "
        "Babatunde's work line at Target HQ is 612-555-0100. Cath: 90% LAD, DES x1; LVEF 40%.",
        ["Folake", "Adeyemi-Bello", "102", "Babatunde", "Target", "612-555-0100"],
        ["90% LAD, DES x1", "LVEF 40%"],
    ),
    (
        "third batch: Irish referral with Eircode",
        "Referred by Dr Siobhán Ní Bhriain, Galway University Hospital, H91 YR71. Patient's son "
        "Cathal posts as @cathal_obriain92. Karnofsky 70, ECOG 1, Mallampati II.",
        ["Siobhán", "Bhriain", "Galway", "H91 YR71", "Cathal", "cathal_obriain92"],
        ["Karnofsky 70", "ECOG 1", "Mallampati II"],
    ),
    (
        "third batch: quarterly review with fiscal dates",
        "Quality review FY2023 Q4: pt's A1c trend Q1'24 8.1%, 1H 2024 target <7%. Seen with "
        "grandson Ptolemy (age 19). GCS 15 (E4V5M6).",
        ["Q4", "Q1", "1H", "Ptolemy"],
        ["8.1%", "<7%", "E4V5M6"],
    ),
]


@pytest.mark.parametrize(("style", "note", "planted", "kept"), CORPUS, ids=[c[0] for c in CORPUS])
def test_round10_note_loses_every_planted_value_and_keeps_its_clinical_words(
    style, note, planted, kept
):
    assert leaks_and_losses(note, planted, kept) == ([], []), f"{style}\n{scrubbed(note)}"


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        # camel-case products and brands beside their generic names
        ("Uses an OmniPod pump, a FreeStyle Libre sensor and a ReliOn meter; EpiPen PRN", None),
        ("dupilumab (Dupixent) 300 mg; Eliquis (apixaban) 5 mg BID", None),
        # a clinical word right after an e-mail or web address
        ("Email: someone@example.org BP 120/80, HR 72", " BP 120/80, HR 72"),
        ("See https://example.org/faq HR 72", " HR 72"),
        # a trial's registration
        ("Enrolled in NCT04417720 (ISRCTN12345678)", None),
        # eponyms, scales and scores of round 10
        ("Fleischner follow-up; Hoehn and Yahr stage 3; Tinetti 14; Hoyer lift; EASI 24", None),
        ("Sickle cell disease. Dual-chamber pacemaker. HCV RNA 1.2 million IU/mL. DTaP #5", None),
        # a relation word before a capitalised clinical or state word, no name
        ("Family hx: brother Type 2 DM; sister Breast ca, 45; Father Has diabetes", None),
        # numbers after words of the access-code rule that open nothing
        ("alarm 0600, building 300, entry 1230", None),
        # an ICD-10-PCS code after its system's name, a vital sign after "Patient ... is"
        ("ICD-10-PCS 0SRD0J9.", None),
        ("Patient Temp is 99.", None),
        ("patient weight is 95 kg; the patient is about 95% adherent", None),
        # a vitamin and its dose (Philter reads "D3 1000" as a date)
        ("Vitamin D3 1000 units daily, vit B12 1000 mcg", None),
        # undotted initials after a signing label are not these words
        ("Scribe: none", None),
        # coronary anatomy and stents in capitals
        ("Cath: 90% LAD, DES x1; LIMA to LAD", None),
        # brands the whitelist lacks before their dose; codes at a sentence's end; GCS parts
        ("Started Ozempic 0.25 mg weekly; Entresto 49/51 mg BID; Jardiance 10 mg", None),
        ("Procedure: CPT 99214. ICD-10 E11.65.", None),
        ("GCS 14 (E4V4M6), CAM-ICU negative, Pitocin 2 mU/min", None),
        # dosing intervals and receptors are no quarters or halves
        ("q4h prn, Q4 hours, H2 blocker, 1H NMR", None),
        # a quoted word after "patient" is the patient's state, no nickname
        ("patient 'Stable' per nurse", None),
        # two-letter words after a role, a letter after a clinical word
        ("Nurse to call; NG tube placed. Vitamin A. Hepatitis B.", None),
        ("PA and lateral views. PA Chest film.", None),
        # a FHIR resource type in camel case
        ('"DocumentReference", "AllergyIntolerance"', None),
        # a town after a street ends at a full stop
        ("Lives at 88 Elm Rd, Lake Charles. Dry weight 72.5 kg", ". Dry weight 72.5 kg"),
    ],
)
def test_look_alikes_of_the_round10_rules_stay(text, kept):
    out = scrubbed(text)
    assert (out == text) if kept is None else out.endswith(kept), out


@pytest.mark.parametrize(
    "text", ["Via PICC line 2 days", "Plaza 3 pharmacy", "Rue de la Paix is the street"]
)
def test_a_street_named_before_its_number_needs_its_number(text):
    assert not [k for k, _, _ in deid_text.find_patterns(text) if k == "address"]


@pytest.mark.parametrize(
    ("text", "gone"),
    [
        # run-together given names, name particles and a person cue keep camel case out
        ("Seen with MaryBeth and KayLee", "MaryBeth"),
        ("Seen with MaryBeth and KayLee", "KayLee"),
        ("Seen with MacKenzie and DeShawn", "MacKenzie"),
        ("Seen with MacKenzie and DeShawn", "DeShawn"),
        ("son DonTavious called", "DonTavious"),
        # a brand beside its generic only when it is no name of Philter's lists
        ("son Marco (Marcovir) called", "Marco"),
        # a name after a web address still goes
        ("mail bob@example.com Quincy said", "Quincy"),
        ("sister Ilse, 93, lives nearby", "Ilse"),
        ("uncle Bartholomew is 70", "Bartholomew"),
        ("Rua das Flores 12B, Porto", "12B"),
        ("Hauptstraße 12, Innsbruck", "12"),
        ("lockbox 2291 by the door", "2291"),
        ("door code is #7713", "7713"),
        ("her brother, a hale ninety-six, drove", "ninety-six"),
        ("Her mother Folake Adeyemi-Bello is 102.", "102"),
        ("my grandma rosario is 96 now", "96"),
        ("her mother still is 95.", "95"),
        ("Store #4471 CVS Pharmacy", "4471"),
        ("Comparison: 01/2023. Tech: mdh. Impression: stable", "mdh"),
        ("Galway University Hospital, H91 YR71", "H91"),
        ("Group 77120, RxGrp MD4410", "MD4410"),
        ("her work line at Target HQ is 612-555-0100", "Target"),
        ("Seen with Des and Lad Okafor", "Des"),
        ("Mr. Rutherford 10 mg given", "Rutherford"),
        # eponyms that are surnames go before no score and after a person word; an
        # organisation in camel case is no product; a handle with digits goes
        ("Patient Lachman, Joan presented", "Lachman"),
        ("daughter Karen Tinetti called", "Tinetti"),
        ("wife at WellSpan Health", "WellSpan"),
        ("Aide from BrightStar Care", "BrightStar"),
        ("Pt's daughter runs BlueSky Cleaning", "BlueSky"),
        ("son-in-law owns a QuikTrip franchise", "QuikTrip"),
        ("uncle Brunhilde 61 years", "Brunhilde"),
        ("Contact her on Skype, handle MaryJones88", "MaryJones88"),
        # a quarter or half of a year is a date element finer than the year
        ("FY2023 Q4 review", "Q4"),
        ("labs in Q1'24", "Q1"),
        ("plan for 1H 2024", "1H"),
        # a household member's nickname in quotes
        ("Hx per pt's roommate 'Skip' (real name Stephen)", "Skip"),
        # a two-letter surname after a care role, an initial after a name (the benchmark's
        # misses on seed 14)
        ("Reviewed by Nurse Ng with nurse Hamish", "Ng"),
        ("Reviewed by PA Ng with nurse Marisol", "Ng"),
        ("Pt Jolanda A., MRN 45036691", "A."),
    ],
)
def test_round10_rules_keep_their_limits(text, gone):
    assert gone not in scrubbed(text), scrubbed(text)


@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [
        ("TECHNOLOGIST: J.Q.R.", "name", "J.Q.R."),
        ("Maternal aunt Brunhilde (age 61)", "name", "Brunhilde"),
        ("Domicilio: Calle Ponce de León 418, San Juan", "address", "Calle Ponce de León 418"),
        ("home at 77 Maple Crest Dr, Hamilton ON L8P 4R5", "address", "77 Maple Crest Dr"),
        ("Gate code 4418", "id", "4418"),
        ("Her sister, a spry one hundred and one, lives here", "age", "one hundred and one"),
    ],
)
def test_round10_patterns_take_the_whole_value(text, kind, value):
    found = [text[s:e] for k, s, e in deid_text.find_patterns(text) if k == kind]
    assert any(value in f for f in found), found


def test_a_town_after_an_address_and_its_comma_goes():
    out = scrubbed("Service at St. Casimir Parish, Duluth. Morphine 2 mg IV.")
    assert "Duluth" not in out and out.endswith("Morphine 2 mg IV."), out


def test_an_arabic_surname_particle_goes_with_the_name():
    assert "al-" not in scrubbed("writing for mahmoud al-sayegh today")
