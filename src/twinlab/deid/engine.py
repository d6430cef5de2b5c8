"""The clinical de-identification engine behind free text: UCSF Philter's rules and dictionaries.

Free text (notes, narratives, comments, ``valueString``, verbatim terms) goes through
`philter-lite <https://pypi.org/project/philter-lite/>`_, the maintained fork of UCSF's Philter
(Norgeot et al., *npj Digital Medicine* 2020: recall 99.5 % on the i2b2 2014 corpus). Its
``philter_delta`` configuration is ~300 ordered filters: regular expressions for dates, ages,
phone and ID numbers, addresses, e-mail and URLs; context rules (``Dr. X``, ``Mr X``); a
blacklist of 100,000+ first and last names and a whitelist of clinical words that keeps drug,
anatomy and lab names.

Why Philter, and not the other engines on PyPI (compared in December 2026):

* **Presidio** (``presidio-analyzer``) needs a spaCy language model for names and places; no
  official spaCy model is published on PyPI (``en-core-web-sm`` is distributed from GitHub
  releases, which our machines cannot reach; the PyPI copies are re-uploads by third parties
  that a PHI pipeline should not trust). Without one, Presidio is its pattern layer alone:
  no names at all.
* **scrubadub** finds names only through optional NER plug-ins (spaCy, Stanford) with the same
  model problem; its core is a dozen generic regexes (e-mail, phone, URL...) with no clinical
  context and no dictionaries.
* **philter-lite** is self-contained (its dictionaries ship in the wheel), was built and
  validated on clinical notes, and is deterministic. Its one outside dependency is NLTK's
  part-of-speech tagger (name sets fire only on proper nouns, ``NNP``), whose model is a
  download, not a package: :func:`_pos_tags` stands in for it with the two tags Philter's
  configuration asks about: ``NNP`` for a capitalised word and ``CD`` for a token with a digit.
  Lower-case names are then left to the known-identifier layer (every name of the patient and
  their relatives from the sources) and the patterns of :mod:`twinlab.deid.text`.

The engine is one layer: :class:`~twinlab.deid.text.TextScrubber` adds the known identifiers of
the patient and their relatives (of any length) and the patterns Philter's configuration lacks
(ages over 89, dates without a year written ``14 Feb``, host names, serial numbers, licence
plates, labelled insurance numbers); the PHI scan of the outputs uses the same detectors.
"""

from __future__ import annotations

import dataclasses
import importlib.resources
import re
import warnings
from functools import lru_cache
from typing import Any

__all__ = ["ENGINE", "philter_spans"]

#: Name and version of the engine, for reports.
ENGINE = "philter-lite 0.6.0 (philter_delta)"

#: Philter phi_type -> twinlab kind.
_KINDS = {
    "DATE": "date",
    "Patient_Social_Security_Number": "ssn",
    "Email": "email",
    "Provider_Address_or_Location": "address",
    "Age": "age",
    "Name": "name",
}
_NO_ALNUM = re.compile(r"[^a-zA-Z0-9]+")
_TOKEN = re.compile(r"[^\W_]+")
#: Words Philter's wide regexes (addresses, IDs) sweep up with their neighbours: never PHI alone.
_FUNCTION_WORDS = frozenset(
    "a an and at by for from in of on or the to with zip v4 v6 ip id no".split()
    # pharmacogenomic words missing from Philter's clinical whitelist
    + "genotype genotypes allele alleles diplotype haplotype phenotype heterozygous homozygous"
    " hemizygous variant metabolizer metaboliser wildtype".split()
    # results below / above a limit of quantification, not done: laboratory result words
    + "blq bloq bql alq lloq uloq nd nq".split()
    # clinical and trial words Philter flags capitalised ("Return to clinic", "Seen by PT/OT",
    # "SUBJECT WITHDREW CONSENT", "COVID-19", "VISIT OUT OF WINDOW", "Ejection Fraction")
    + "return seen clinic pt ot slp covid subject subjects window ambulating fraction".split()
    # clinical scores and marker words ("APACHE II 18", "qSOFA 2", "HER2 3+", "exon 19 del")
    + "apache sofa qsofa curb her2 tps ki exon del scale ii iii iv vi vii viii ix".split()
    # ejection fraction and heart failure types ("HFrEF (EF 30%)")
    + "ef lvef hfref hfpef hfmref".split()
    # abbreviations Philter flags ("dad passed from MI", "Berlin criteria ARDS", "QNS")
    + "mi ards qns cmh2o".split()
    # a site of pain Philter flags in capitals ("PAIN IN LOW BACK", "Low Back Pain")
    + ["low"]
    # a herb named after a saint ("St. John's wort")
    + ["wort"]
    # nasal cannula and cancer (and North Carolina, California: states, no PHI)
    + ["nc", "ca"]
    # LOINC property axis (Creatinine [Moles/volume]): vocabulary of code names
    + "moles mcnc scnc ccnc ncnc acnc mfr vfr naric".split()
    # a unit ("HbA1c 53 mmol/mol") and words of forms Philter lists as surnames ("next of
    # kin", "postal code"); heads of named scores and rules ("Seattle Heart Failure Model")
    + "mol kin postal model index".split()
    # Latin of a diagnosis ("de novo AML"), a suicide-risk scale ("C-SSRS") and morphine
    # milligram equivalents ("MME 30"), which Philter flags
    + "novo ssrs mme".split()
    # a triage acuity scale ("CTAS 2"), dialysis adequacy ("Kt/V 1.9"), a gait measure
    # ("cadence 98 steps/min") and Greek letters of drug classes, proteins and chains
    # ("Beta-blocker", "Alpha-fetoprotein", "Kappa light chains")
    + "ctas kt cadence alpha beta gamma kappa lambda".split()
    # dermatology severity scores ("EASI 24", "PASI 12", "SCORAD 40", "DLQI 9"), and words
    # Philter's name lists hold that open a clinical phrase at a sentence's start ("Sickle
    # cell disease", "Dual-chamber pacemaker")
    + "easi pasi scorad dlqi sickle dual".split()
    # a count's multiplier ("HCV RNA 1.2 million IU/mL") and combined vaccines ("DTaP #5")
    + "million billion iu dtap tdap dtp".split()
    # milliunits ("oxytocin 2 mU/min")
    + ["mu"]
    # a tumour marker, a gait test, obstetric history's term-preterm-abortion-living count and
    # a panel's heading Philter flags ("CEA 2.1", "TUG 14 s", "TPAL 3-0-1-3", "Genes:")
    + "cea tug tpal genes spo2".split()
    # pharmacists' credentials in a signature block ("PharmD, BCPS"), echo measures ("LVEDD
    # 6.1 cm"), a prostate symptom score ("IPSS 19") and rheumatology's ("anti-CCP",
    # "DAS28-CRP 3.9"), which Philter flags
    + "pharmd bcps bcop bcacp bcgp bcpp bccp bcidp cdces".split()
    + "lvedd lvesd lvidd lvids ivsd lvpwd tapse ipss ccp das28".split()
    # the segments of an HL7 v2 message pasted into a note ("OBX|1|NM|...")
    + "msh evn pid pd1 nk1 pv1 pv2 orc obr obx nte al1 dg1 in1 gt1 mrg".split()
)
#: A clinical noun after an eponym: "Wilson disease", "Bell's palsy", "Foley catheter",
#: "Guillain-Barre syndrome", "Tanner stage", "Bence Jones protein" (a person's name there
#: names the disease, test or device, not the patient; known names are still removed first).
#: The words between are capitalised, and "test" is a head noun only in lower case
#: ("Phalen test"): a source may name a person "Test", and the scan of the output must see the
#: same context ("Alpha-fetoprotein [NAME]").
_EPONYM_AFTER = re.compile(
    r"(?:['’]s?)?(?:[-\s]+(?-i:[A-Z])[\w’']*(?:['’]s?)?){0,2}\s+(?:disease|syndrome|signs?|palsy"
    r"|lymphoma|sarcoma|tumou?r|carcinoma|leukemia|anemia|anaemia|thyroiditis|dementia"
    r"|encephalopathy|encephalitis|ataxia|chorea|dystrophy|neuralgia|neuropathy|hernia|cyst"
    r"|ulcer|fracture|disorder|phenomenon|triad|catheter|shunt|reflex|maneuver|manoeuvre"
    r"|score|criteria|classification|class|stage|staging|protein|bodies|nodes?|murmur|incision"
    r"|procedure|anomaly|contracture|esophagus|diverticulum|granuloma|lesions?|equation|formula"
    r"|gallop|toxin|vaccine|virus|bacillus|arteritis|vasculitis|pouch|fascia|ligament"
    r"|stockings?|splint|respirations?|breathing|scale|pattern|category|stain|repair|tendon"
    r"|fundoplication|esophagectomy|gastrectomy|surgery|bypass|osteotomy|amputation|wort"
    r"|tear|oesophagus|body|curves?|estimates?|grade|glands?|drain|duct|aphasia|overlap)\b",
    re.IGNORECASE,
)
#: Named definitions, assessments, indices, rules, models and tests ("Berlin definition",
#: "Montreal Cognitive Assessment", "Charlson Comorbidity Index", "Ottawa ankle rules",
#: "Phalen test"): words of everyday notes too ("Pt Kowalski assessment today"), so the eponym
#: must not follow a capitalised word (a title, a given name) or a person word.
_EPONYM_AFTER_ALONE = re.compile(
    r"(?:['’]s?)?(?P<mid>(?:[-\s]+(?-i:[A-Z])[\w’']*){0,2})(?:\s+(?-i:[a-z]+))?\s+"
    r"(?:definition|assessment|index|rules?|model|(?-i:test))\b",
    re.IGNORECASE,
)
#: A title or person word before a name ("Pt Kowalski assessment", "by Smith test").
_PERSON_CUE = re.compile(
    r"\b(?:pt|patient|mr|mrs|ms|miss|dr|prof|by|with|per|son|daughter|wife|husband|mother"
    r"|father|brother|sister|nurse|rn)[.:,]?$",
    re.IGNORECASE,
)
#: Capitalised words that open a phrase, not part of a name ("The Montreal Cognitive...").
_PHRASE_OPENERS = frozenset("the a an on in of and or her his their its this that".split())
_WORD_BEFORE = re.compile(r"([\w'’.:,]+)[ \t-]+$")
#: Eponyms of two or three people joined by hyphens, named without their clinical noun
#: ("Kaplan-Meier", "Child-Pugh B", "Wolff-Parkinson-White"): a double-barrelled surname
#: ("Okafor-Jones") is no eponym, so only these go through.
_EPONYM_COMPOUNDS = frozenset(
    "child-pugh kaplan-meier wolff-parkinson-white mallory-weiss guillain-barre guillain-barré"
    " stevens-johnson creutzfeldt-jakob charcot-marie-tooth osgood-schlatter legg-calve-perthes"
    " swan-ganz ehlers-danlos prader-willi henoch-schonlein henoch-schönlein cheyne-stokes"
    " ziehl-neelsen roux-en-y brown-sequard brown-séquard arnold-chiari dandy-walker"
    " waterhouse-friderichsen wernicke-korsakoff zollinger-ellison budd-chiari peutz-jeghers"
    " lambert-eaton osler-weber-rendu bland-altman mann-whitney kruskal-wallis"
    " cockcroft-gault silverman-andersen cam-icu".split()
)
#: Words for relatives and household members: no name, kept where Philter flags them after a
#: label or a code ("Relationship: Grandson", "NK1|1|...|DAU^Daughter"). "Son" is left out: a
#: surname too.
_KINSHIP = frozenset(
    "mother father husband wife spouse partner brother sister sibling daughter aunt uncle"
    " cousin niece nephew grandson granddaughter grandmother grandfather grandchild stepson"
    " stepdaughter stepmother stepfather guardian caregiver carer fiance fiancee"
    " household relationship relative".split()
)
_HYPHEN_WORD = re.compile(r"[\w'’]+(?:-[\w'’]+)+")
#: Eponyms and clinical abbreviations used alone ("Babinski negative", "NYHA II", "1/2 NS").
_CLINICAL_NAMES = frozenset(
    "babinski romberg kernig brudzinski mcburney rovsing homan homans trendelenburg valsalva"
    " heimlich foley hodgkin hodgkins alzheimer alzheimers parkinson parkinsons crohn crohns"
    " hashimoto nyha apgar gleason breslow swan ganz chvostek trousseau kussmaul korotkoff"
    " brugada charcot osgood schlatter perthes candida clostridioides ns lr d5w"
    " papanicolaou klinefelter angelman niemann ehlers danlos prader willi creutzfeldt"
    " ziehl neelsen nissen roux mohs achilles morse braden"
    # areas of the brain's language named alone ("Broca area", "Wernicke aphasia")
    " broca brocas wernicke wernickes".split()
)
#: Eponyms of a guideline, scale, score or device that are surnames too: kept only before their
#: score, grade or clinical word ("Fleischner follow-up", "Hoehn and Yahr stage 3", "Tinetti
#: 14", "Karnofsky 70", "Mallampati II", "Hoyer lift") and after no title or person word
#: ("Patient Lachman, Joan"; "Dr. Killip").
_SCORED_EPONYMS = frozenset(
    "fleischner hoehn yahr tinetti karnofsky mallampati killip hoyer lachman tinel phalen"
    " katz berg".split()
)
_SCORE_AFTER = re.compile(
    r"(?:['’]s)?(?:[ \t]*[:=]?[ \t]*(?:\d|[IV]{1,3}\b|class|grade|stage|score|scale|criteria"
    r"|test|sign|lift|follow|guideline|recommendation|adl|index|balance)"
    r"|[ \t]+and[ \t]+(?:Yahr|Tinel)\b|-)",
    re.IGNORECASE,
)


def _scored_eponym(text: str, word: str, start: int, end: int) -> bool:
    """Whether ``word`` is an eponym of :data:`_SCORED_EPONYMS` before its score or clinical
    word, after no title or person word."""
    if word.lower() not in _SCORED_EPONYMS:
        return False
    before = _WORD_BEFORE.search(text, max(0, start - 40), start)
    if before is not None and _PERSON_CUE.search(before.group(1)):
        return False
    if word.lower() == "yahr" and re.search(
        r"hoehn[ \t]+and[ \t]+$", text[max(0, start - 12) : start], re.I
    ):
        return True
    return _SCORE_AFTER.match(text, end) is not None


#: Season words: Philter reads them as dates, but "fall" is also the commonest adverse event.
_SEASONS = frozenset({"spring", "summer", "fall", "autumn", "winter"})
_SEASON_BEFORE = re.compile(
    r"\b(?:in|during|over|by|since|until|till|through|this|last|next|that|each|every|past"
    r"|early|late|mid)\s*-?\s*(?:the\s+)?(?:early\s+|late\s+|mid-?\s*)?$",
    re.IGNORECASE,
)
_SEASON_YEAR = re.compile(r"\s*(?:of\s+)?(?:'\d{2}|(?:19|20)\d{2})\b", re.IGNORECASE)
#: An HGVS position and base (``c.-1639G>A``, ``c.430C>T``) right after its reference prefix.
_HGVS_PREFIX = re.compile(r"[cgmnrp]\.[-*]?$")
#: Variant and gene identifiers (dbSNP rsIDs, star alleles, pharmacogenes): clinical data.
_GENETIC = re.compile(
    r"rs\d+|cyp\d\w*|vkorc1|slco1b1|tpmt|dpyd|ugt1a1|nudt15|hla"
    # genes of hereditary cancer and tumour panels ("MLH1", "PMS2", "KRAS", "PIK3CA")
    r"|mlh1|msh[26]|pms[12]|epcam|brca[12]|palb2|chek2|tp53|pten|cdh1|stk11|mutyh|[khn]ras"
    r"|braf|egfr|erbb[234]|pik3ca|idh[12]|jak2|flt3|npm1|pdgfr[ab]|ntrk[1-3]|abl1|bcl[26]"
    r"|smad4|cdkn2a|rb1|wt1|men1|fgfr[1-4]|esr1|ros1"
    # haemochromatosis and other single-gene tests ("HFE C282Y homozygous")
    r"|hfe|cftr|g6pd|fmr1|htt|apoe",
    re.IGNORECASE,
)
#: A disease with its stage or type glued on ("ckd3", "CKD3b", "T2DM", "DM2"): clinical data.
_STAGED = re.compile(
    r"ckd[1-5][ab]?|t[12]dm|dm[12]|iddm|niddm"
    # a TNM stage ("pT3", "pN1a", "ypT2N0M0", "cM1")
    r"|(?:[cpr]|yp)?t(?:[0-4][a-d]?|is)(?:n[0-3x][a-c]?)?(?:m[01x][a-c]?)?"
    r"|(?:[cpr]|yp)?n[0-3x][a-c]?(?:m[01x])?|(?:[cpr]|yp)m[01x][a-c]?",
    re.IGNORECASE,
)


#: A protein change (``C282Y``, ``V600E``, ``p.L858R``, ``G12fs``): a variant of the gene
#: before it (:func:`_protein_change`), clinical data.
_PROTEIN_CHANGE = re.compile(
    r"[ACDEFGHIKLMNPQRSTVWY]\d{1,4}(?:[ACDEFGHIKLMNPQRSTVWY*X]|fs|del|dup|ins)"
)
_GENE_BEFORE = re.compile(r"([A-Za-z0-9]+)(?:\s+p)?[\s.]+$")
#: A hyphenated adjective of colour, shape or likeness after a word ("Rose-colored rash",
#: "Cushing-like habitus"): the word describes, it names no one.
_ADJECTIVE_TAIL = re.compile(
    r"-(?:colou?red|tinged|tinted|like|shaped|sized|stained|hued|scented)\b", re.IGNORECASE
)
#: The COPD severity grade of the GOLD report ("COPD GOLD 3", "GOLD group E"), not a surname.
_GOLD_AFTER = re.compile(r"\s+(?:[1-4]|[A-E])\b|\s+(?:stage|grade|group)\b", re.IGNORECASE)
_COPD_BEFORE = re.compile(r"\bcopd\W{1,3}$", re.IGNORECASE)


def _protein_change(text: str, word: str, start: int) -> bool:
    """Whether ``word`` (at ``start``) is a protein change of the gene named right before it
    ("HFE C282Y", "BRAF V600E", "EGFR p.L858R"), not a code of a person."""
    if _PROTEIN_CHANGE.fullmatch(word) is None:
        return False
    before = _GENE_BEFORE.search(text, max(0, start - 20), start)
    return before is not None and _GENETIC.fullmatch(before.group(1)) is not None


def _gold_grade(text: str, word: str, start: int, end: int) -> bool:
    """Whether ``word`` is the GOLD grade of COPD ("COPD GOLD 3", "GOLD 2 COPD"): "Gold" after
    "COPD", or "GOLD" in capitals before its grade or group."""
    if word.lower() != "gold":
        return False
    if _COPD_BEFORE.search(text[max(0, start - 8) : start]):
        return True
    return word == "GOLD" and _GOLD_AFTER.match(text, end) is not None


def _decimal_part(text: str, s: int, e: int) -> bool:
    """Whether digits ``text[s:e]`` are part of a decimal number (``10000.0``, ``0.25``)."""
    return re.match(r"[.,]\d", text[e : e + 2]) is not None or (
        re.fullmatch(r"\d[.,]", text[max(0, s - 2) : s]) is not None
    )


#: The pronoun "He" (Philter flags it: a surname, and helium): not after a capitalised word,
#: which would make it a surname ("Wei He").
_AFTER_CAPITAL = re.compile(r"[A-Z][\w'’-]*[ \t]+$")


def _pronoun_he(text: str, word: str, start: int) -> bool:
    """Whether ``word`` is the pronoun "He"/"he" ("He was seen"), not the surname."""
    return (
        word in ("He", "he", "HE")
        and _AFTER_CAPITAL.search(text[max(0, start - 30) : start]) is None
    )


#: Words before a month that make "MAR" the month ("in MAR", "since MAR", "mid-MAR").
_MONTH_BEFORE = re.compile(
    r"\b(?:in|on|since|until|till|from|of|by|early|late|mid|end|last|next|this)\W{0,2}$",
    re.IGNORECASE,
)


def _medication_record(text: str, word: str, start: int, end: int) -> bool:
    """Whether ``word`` is "MAR", the medication administration record ("MAR checked", "given
    per MAR"), not March: in capitals, no digit near it, no word before it that introduces a
    month ("ADMITTED IN MAR 2021" and "MAR 3" stay dates)."""
    return (
        word == "MAR"
        and not any(c.isdigit() for c in text[max(0, start - 6) : end + 6])
        and _MONTH_BEFORE.search(text[max(0, start - 12) : start]) is None
    )


#: "Label: Word, Word": the shape Philter reads as "Lastname, Firstname" after a label.
_LABEL_PAIR = re.compile(r"\w\s*:[ \t]*(?P<a>[A-Za-z]+)[ \t]*,[ \t]*(?P<b>[A-Za-z]+)\b")


def _label_pair_of_words(text: str, start: int, end: int) -> bool:
    """Whether the word at ``text[start:end]`` is one of a "Label: Word, Word" pair that
    Philter reads as a surname and a first name, but whose words are both clinical or English
    words of its whitelist and neither is in its name lists (``Patient: Stable, Alert``; not
    ``Patient: Rose, Faith``, whose words are names too)."""
    from twinlab.deid.vocabulary import _name_words

    m = next(
        (
            m
            for m in _LABEL_PAIR.finditer(text, max(0, start - 40), min(len(text), end + 40))
            if (m.start("a"), m.end("a")) == (start, end)
            or (m.start("b"), m.end("b")) == (start, end)
        ),
        None,
    )
    if m is None:
        return False
    names, clinical = _name_words()
    pair = (m.group("a").lower(), m.group("b").lower())
    return all(w in clinical and w not in names for w in pair)


def _not_a_season(text: str, word: str, start: int, end: int) -> bool:
    """Whether a season word is an event, not a time of year: "FALL AT HOME", "mechanical
    fall", "had a fall" stay; "in the fall", "last winter", "spring 2021" are dates."""
    if word.lower() not in _SEASONS:
        return False
    return (
        _SEASON_BEFORE.search(text[max(0, start - 24) : start]) is None
        and _SEASON_YEAR.match(text, end) is None
    )


#: A product's name written in camel case ("OmniPod", "PillCam", "ReliOn", "EpiPen"): a brand's
#: spelling, no person's; :func:`_product_name` leaves out given names run together ("JoAnn",
#: "MaryBeth") and surnames with a capitalised particle ("McDonald", "MacKenzie", "DeShawn").
_CAMEL = re.compile(r"([A-Z][a-z]+)((?:[A-Z][a-z]*)+)")
#: An organisation's word after a camel-case name ("BrightStar Care", "WellSpan Health") or a
#: preposition of place before it ("at WellSpan"): an employer or a place, no product.
_ORG_AFTER = re.compile(
    r"[ \t]+(?:Care|Health|Healthcare|Inc|LLC|Ltd|Group|Services?|Systems?|Bank|Pharmacy|Clinic"
    r"|Hospital|Center|Centre|School|Academy|University|College|Church|Foods|Logistics"
    r"|Solutions|Technologies|Partners|Homes?|Living|Corp|Corporation|Company|Co)\b"
)
_PLACE_PREPOSITION = re.compile(r"\b(?:at|for|from|with|by|in|to)[ \t]+$", re.IGNORECASE)
#: What follows a product's name in a note: its kind of device or form, a dose, a count
#: ("an OmniPod pump", "a ReliOn meter", "PillCam study"); a business ("runs BlueSky
#: Cleaning", "wife at FedEx Ground") has none of them.
_PRODUCT_AFTER = re.compile(
    r"(?:[ \t]+[A-Z][\w-]*)?[ \t]+(?:pumps?|meters?|sensors?|monitors?|devices?|systems?|pens?"
    r"|inhalers?|patch(?:es)?|catheters?|strips?|lancets?|tablets?|capsules?|cream|gel|spray"
    r"|camera|capsule|study|dressings?|boot|brace|app|cgm|insulin|mask|machine|lens(?:es)?"
    r"|stent|valve|graft|implant|needles?|syringes?|port|\d)",
    re.IGNORECASE,
)
_NAME_PREFIXES = frozenset(
    "mac van von del des dela della san ste sha fitz ter ben abu bin qua tre jah lat".split()
)


#: FHIR resource and data types written in camel case ("resourceType": "DocumentReference"): a
#: standard's vocabulary, no one's name.
_FHIR_TYPES = frozenset(
    "documentreference allergyintolerance medicationrequest medicationstatement"
    " medicationadministration medicationdispense diagnosticreport careplan careteam"
    " familymemberhistory relatedperson practitionerrole servicerequest episodeofcare"
    " immunizationrecommendation questionnaireresponse detectedissue clinicalimpression"
    " codeableconcept humanname contactpoint researchsubject researchstudy adverseevent"
    " bodystructure molecularsequence riskassessment nutritionorder devicerequest"
    " deviceusestatement imagingstudy explanationofbenefit claimresponse coverageeligibilityrequest"
    " valueset codesystem conceptmap structuredefinition operationoutcome".split()
)


def _product_name(text: str, word: str, start: int) -> bool:
    """Whether ``word`` (at ``start``) is a product's camel-case name: its first part of 3
    letters or more and no name particle, one of its parts no name of Philter's lists
    ("OmniPod": "Pod"; not "MaryBeth", "KayLee"), the whole no name, and no title or person
    word before it ("son DonTavious")."""
    m = _CAMEL.fullmatch(word)
    if m is not None and word.lower() in _FHIR_TYPES:
        return True
    if m is None or len(m.group(1)) < 3 or m.group(1).lower() in _NAME_PREFIXES:
        return False
    from twinlab.deid.vocabulary import _name_words

    names = _name_words()[0]
    parts = [m.group(1), *re.findall(r"[A-Z][a-z]*", m.group(2))]
    before = _WORD_BEFORE.search(text, max(0, start - 40), start)
    end = start + len(word)
    return (
        word.lower() not in names
        and _PRODUCT_AFTER.match(text, end) is not None
        and _ORG_AFTER.match(text, end) is None
        and _PLACE_PREPOSITION.search(text[max(0, start - 8) : start]) is None
        and not all(p.lower() in names for p in parts)
        and (before is None or not _PERSON_CUE.search(before.group(1)))
    )


#: The end of an e-mail or web address right before a word (Philter's URL rule takes the word
#: after it too: "quincy@gmail.com BP 120/80"); the address itself is a pattern's.
_WEB_ADDRESS_BEFORE = re.compile(r"(?:@|https?://|www\.)[^\s]*\.[a-z]{2,6}(?:/[^\s]*)?[ \t]+$")


def _after_web_address(text: str, word: str, start: int) -> bool:
    """Whether ``word`` (at ``start``) is a clinical word of Philter's whitelist, no name of its
    lists, right after an e-mail or web address."""
    if _WEB_ADDRESS_BEFORE.search(text[max(0, start - 120) : start]) is None:
        return False
    from twinlab.deid.vocabulary import _name_words

    names, safe = _name_words()
    return word.lower() in safe and word.lower() not in names


#: A clinical trial's registration ("NCT04417720", "ISRCTN12345678", "ACTRN12619000123456"):
#: the study's number, no person's.
_ACCENTS = str.maketrans("áàâäãéèêëíìîïóòôöõúùûüñç", "aaaaaeeeeiiiiooooouuuunc")


@lru_cache(maxsize=1)
def _clinical_stems() -> dict[str, tuple[str, ...]]:
    """Philter's clinical whitelist, no name of its lists, by the first 6 letters."""
    from twinlab.deid.vocabulary import _name_words

    names, safe = _name_words()
    stems: dict[str, list[str]] = {}
    for w in safe - names:
        if len(w) >= 6 and w.isalpha():
            stems.setdefault(w[:6], []).append(w)
    return {k: tuple(v) for k, v in stems.items()}


#: The endings a Spanish, French or Portuguese word puts where English has its own
#: ("furosemid-a", "atrial-e", "amoxicil-ina"): a town's "-by" or "-ton" is none of them.
_ROMANCE_ENDINGS = frozenset(
    "|a|e|o|s|as|es|os|ia|ie|io|ina|ine|ino|ica|ico|ique|ale|ida|ido|ada|ado|ee".split("|")
)


def _swept_across_a_line(
    text: str, word: str, start: int, end: int, typed: list[tuple[int, int, str]]
) -> bool:
    """Whether ``word`` is a clinical word of Philter's whitelist, no name of its lists, that
    one of Philter's expressions took in only by running on across a line break from the line
    before ("Dr. Seraphina Oduya\nAttending Hospitalist", "...|2185550199\nK 4.1")."""
    if not any(a < start and end <= b and "\n" in text[a:start] for a, b, _ in typed):
        return False
    from twinlab.deid.vocabulary import _name_words

    names, safe = _name_words()
    w = word.lower()
    return w in safe and w not in names


def _common_prefix(a: str, b: str) -> int:
    """The number of letters ``a`` and ``b`` open with in common."""
    n = min(len(a), len(b))
    return next((i for i in range(n) if a[i] != b[i]), n)


def _cognate(word: str) -> bool:
    """Whether a lower-case word of 7 letters or more, no name of Philter's lists, is the
    Spanish, French or Portuguese form of a word of its clinical whitelist: the same letters
    but for the last three at most, the word's own a Romance ending (:data:`_ROMANCE_ENDINGS`)
    after a stem that opens with no name of 6 letters or more ("amoxicilina": amoxicillin,
    "atriale": atrial; not "leopoldina"), the accents aside, and Spanish's "pn" and "ps"
    written "n" and "s" ("neumonía": pneumonia).

    Examples
    --------
    >>> [_cognate(w) for w in ["amoxicilina", "neumonía", "atriale", "ottilie", "Atriale"]]
    [True, True, True, False, False]
    """
    if len(word) < 7 or not word.isalpha() or not word.islower():
        return False
    from twinlab.deid.vocabulary import _name_words

    names = _name_words()[0]
    if word in names:
        return False
    plain = word.translate(_ACCENTS)
    forms = [plain] + (["p" + plain] if plain[:1] in "ns" else [])
    stems = _clinical_stems()
    for form in forms:
        for known in stems.get(form[:6], ()):
            same = _common_prefix(form, known)
            if (
                same >= max(6, len(form) - 3)
                and same >= len(known) - 3
                and form[same:] in _ROMANCE_ENDINGS
                and not any(form[:i] in names for i in range(6, same + 1))  # "leopold-ina"
            ):
                return True
    return False


_TRIAL_REGISTRATION = re.compile(r"NCT\d{8}|ISRCTN\d{8}|ACTRN\d{14}", re.IGNORECASE)
#: A generic drug's name by its stem (INN suffixes: "dupilumab", "empagliflozin", "apixaban").
_GENERIC_DRUG = (
    r"[a-z]{2,}(?:mab|cept|nib|tinib|ciclib|parib|pril|sartan|olol|alol|statin|azole|prazole"
    r"|mycin|micin|cillin|floxacin|cycline|gliflozin|gliptin|glutide|tide|parin|xaban|gatran"
    r"|vir|dronate|oxetine|afil|azepam|azolam|triptan|caine|setron|lukast|terol|sone|olone"
    r"|pine|dipine|tidine|platin|rubicin|taxel|fungin|semide|thiazide|profen|coxib|lutamide)"
)
#: A brand's name in parentheses after its generic ("dupilumab (Dupixent)") or before it
#: ("Dupixent (dupilumab)").
_BRAND_AFTER_GENERIC = re.compile(rf"(?i:\b{_GENERIC_DRUG})\s*\($")
_GENERIC_AFTER_BRAND = re.compile(rf"\s*\((?i:{_GENERIC_DRUG})\b")


def _brand_name(text: str, word: str, start: int, end: int) -> bool:
    """Whether ``word`` is a drug's brand beside its generic name (:data:`_GENERIC_DRUG`) and
    no name of Philter's lists."""
    if not (
        (
            _BRAND_AFTER_GENERIC.search(text[max(0, start - 40) : start])
            and text[end : end + 1] == ")"
        )
        or _GENERIC_AFTER_BRAND.match(text, end)
    ):
        return False
    from twinlab.deid.vocabulary import _name_words

    return word.lower() not in _name_words()[0]


#: A vitamin's letter and number after "vitamin" ("Vitamin D3", "vit B12", "vitamin K2"), and
#: a dose's unit after a number ("1000 units"): Philter reads "D3 1000" as a date.
_VITAMIN_BEFORE = re.compile(r"\b(?:vitamin|vit\.?)[ \t]*$", re.IGNORECASE)
_VITAMIN = re.compile(r"[ABCDEK]\d{0,2}")
_DOSE_UNIT_AFTER = re.compile(
    r"[ \t]*(?:units?|iu|mg|mcg|µg|ug|mmol|meq|ml|tabs?|caps?|puffs?)\b", re.IGNORECASE
)


#: A dose right after a word: "Ozempic 0.25 mg", "Entresto 49/51 mg", "Jardiance 10 mg". The
#: unit as notes write it: a coded display in capitals ("Simvistatin 10 MG") is the field
#: policy's to keep (its vocabulary), not the catch-all's.
_DOSE_AFTER = re.compile(
    r"[ \t]+\d+(?:\.\d+)?(?:/\d+(?:\.\d+)?)?[ \t]*(?:mg|mcg|µg|ug|g|units?|IU|iu|mL|ml|mEq"
    r"|mmol|mg/mL|mg/kg)\b"
)


def _drug_before_dose(text: str, word: str, end: int) -> bool:
    """Whether capitalised ``word`` (ending at ``end``) is a drug's name before its dose and no
    name of Philter's lists (a brand the whitelist lacks: "Ozempic 0.25 mg")."""
    if not word[:1].isupper() or _DOSE_AFTER.match(text, end) is None:
        return False
    from twinlab.deid.vocabulary import _name_words

    return word.lower() not in _name_words()[0]


def _vitamin_dose(text: str, word: str, start: int, end: int) -> bool:
    """Whether ``word`` is a vitamin's name after "vitamin", or a number before a dose unit."""
    if _VITAMIN.fullmatch(word) and _VITAMIN_BEFORE.search(text[max(0, start - 12) : start]):
        return True
    return word.isdigit() and _DOSE_UNIT_AFTER.match(text, end) is not None


#: Coronary anatomy, grafts and stents, lobes of the lung and quadrants of the abdomen in
#: capitals ("90% LAD, DES x1", "LIMA to LAD", "4 mm LUL nodule"), which Philter's name lists
#: hold ("Lad", "Des", "Lul"): in capitals they name no one.
_ANATOMY_CAPITALS = frozenset(
    "LAD LCX RCA PDA PLB LIMA RIMA SVG DES BMS OM OM1 OM2 D1 D2"
    " LUL LLL RUL RML RLL LUQ RUQ LLQ RLQ"
    # room air after a saturation ("SpO2 94% RA")
    " RA".split()
)
#: A marker's status glued on by a hyphen: "ER-positive", "EGFR-mutant", "ALK-rearranged".
_STATUS = (
    r"positive|negative|pos|neg|mutant|mutated|amplified|rearranged|equivocal|low"
    r"|deficient|proficient|expressing|wildtype"
)
#: Markers without a digit whose status is written after them ("ER-positive", "MMR-deficient");
#: others need a digit ("HER2-low") or to be a gene of :data:`_GENETIC` ("EGFR-mutant").
_MARKERS = frozenset("ER PR AR HR MMR MSI TMB".split())
_STATUS_AFTER = re.compile(rf"-(?:{_STATUS})\b", re.IGNORECASE)
_MARKER_BEFORE = re.compile(r"(?<![\w-])[A-Z][A-Z0-9]{0,5}-$")
_STATUS_WORD = re.compile(_STATUS, re.IGNORECASE)
#: An anatomical structure named after a person: "circle of Willis", "sphincter of Oddi",
#: "ampulla of Vater", "loop of Henle", "tetralogy of Fallot".
_ANATOMY_OF = re.compile(
    r"\b(?:circle|sphincter|ampulla|loop|islets?|canals?|pouch|space|tetralogy|ligament"
    r"|bundle|organ|crypts?|foramen|triangle|angle|duct|node|glands?)[ \t]+of[ \t]+$",
    re.IGNORECASE,
)
_ANATOMY_HEAD = re.compile(
    r"circle|sphincter|ampulla|loop|islets?|canals?|pouch|space|tetralogy|ligament|bundle"
    r"|organ|crypts?|foramen|triangle|angle|duct|node|glands?",
    re.IGNORECASE,
)
_EPONYM_OF = re.compile(r"[ \t]+of[ \t]+(?-i:[A-Z])[a-z]")
#: The clotting factor before its variant's city ("Factor V Leiden").
_FACTOR_V = re.compile(r"\bfactor[ \t]+(?:v|5)[ \t]+leiden\b", re.IGNORECASE)
#: Genes whose symbols are also words or given names ("MET exon 14", "RET", "ALK-rearranged",
#: "c-KIT"): kept in capitals only ("Kit Marlowe", "Ret Alvarez" are people).
_GENES_IN_CAPITALS = frozenset("MET RET ALK KIT MYC MYCN VHL APC ATM".split())
#: Gestational age written as weeks and days ("39w2d", "38w6d").
_GESTATION = re.compile(r"\d{1,2}w[0-6]d?", re.IGNORECASE)


def _marker(word: str) -> bool:
    """Whether ``word`` names a tumour or hormone marker in capitals ("ER", "HER2", "EGFR")."""
    if not word.isupper() or len(word) > 6:
        return False
    return (
        word in _MARKERS
        or word in _GENES_IN_CAPITALS
        or any(c.isdigit() for c in word)
        or bool(_GENETIC.fullmatch(word))
    )


def _marker_status(text: str, word: str, start: int, end: int) -> bool:
    """Whether ``word`` is a marker in capitals before its hyphenated status ("ER-positive"),
    or that status after it ("EGFR-mutant"), or an eponym of anatomy ("loop of Henle")."""
    if _STATUS_AFTER.match(text, end) is not None and _marker(word):
        return True
    before = _MARKER_BEFORE.search(text, max(0, start - 8), start)
    if _STATUS_WORD.fullmatch(word) and before is not None and _marker(before.group()[:-1]):
        return True
    for m in _FACTOR_V.finditer(text, max(0, start - 12), min(len(text), end + 12)):
        if m.start() <= start and end <= m.end():
            return True
    if _ANATOMY_HEAD.fullmatch(word) and _EPONYM_OF.match(text, end):  # "circle" of Willis
        return True
    return word[:1].isupper() and _ANATOMY_OF.search(text, max(0, start - 20), start) is not None


def _clinical_name(text: str, word: str, end: int) -> bool:
    """Whether ``word`` (ending at ``end``) names a disease, sign, device or drug here: an
    eponym before its clinical noun or a listed eponym."""
    if word.isdigit():
        return False
    if word.lower() in _CLINICAL_NAMES or _EPONYM_AFTER.match(text, end) is not None:
        return True
    start = end - len(word)
    if _eponym_phrase(text, start, end):
        return True
    for m in _HYPHEN_WORD.finditer(text, max(0, start - 30), min(len(text), end + 30)):
        if m.start() <= start and end <= m.end():
            return m.group().lower() in _EPONYM_COMPOUNDS
    return False


def _eponym_phrase(text: str, start: int, end: int) -> bool:
    """Whether the word at ``text[start:end]`` is part of a named assessment, index, rule or
    test ("Montreal Cognitive Assessment", "Phalen test"), not a person's name.

    The phrase is the word with the capitalised words right before it (at most 2, from a
    phrase opener such as "The" on) and those up to the head noun
    (:data:`_EPONYM_AFTER_ALONE`). Its words but the first are no person names of Philter's
    dictionaries ("John Smith assessment" is a person), and no title or person word comes
    before it (:data:`_PERSON_CUE`: "Pt Kowalski assessment", "Mr John Smith test").
    """
    m = _EPONYM_AFTER_ALONE.match(text, end)
    if m is None:
        return False
    from twinlab.deid.vocabulary import _name_words

    names = _name_words()[0]
    phrase = [text[start:end], *re.findall(r"[\w’']+", m.group("mid"))]
    at = start
    for _ in range(3):
        before = _WORD_BEFORE.search(text, max(0, at - 40), at)
        if before is None:
            break
        word = before.group(1)
        if _PERSON_CUE.search(word):
            return False
        if not word[:1].isupper() or word.lower() in _PHRASE_OPENERS or not word[-1].isalnum():
            break
        if len(phrase) >= 4:
            return False
        phrase.insert(0, word)
        at = before.start()
    return not any(w.lower() in names for w in phrase[1:])


def _hyphen_tail(text: str, word: str, start: int, out: list[tuple[str, int, int]]) -> bool:
    """Whether ``word`` (at ``start``) ends a hyphenated name whose capitalised first part is
    flagged: a given name ("Jae-won", "Hyun-joo": Philter keeps "won", an English word) or a
    double-barrelled surname whose second part is a word ("Vasquez-Bright", "Okafor-Young")."""
    if not (out and out[-1][2] == start - 1 and text[start - 1] == "-" and word.isalpha()):
        return False
    first = _TOKEN.findall(text, out[-1][1], out[-1][2])[-1]
    if word.islower():
        return len(word) <= 4 and text[out[-1][1]].isupper()
    return _title_word(word) and _title_word(first) and len(first) >= 3


def _title_word(word: str) -> bool:
    """A capitalised word of three letters or more ("Bright", not "BRIGHT", "Xa" or "HbA")."""
    return len(word) >= 3 and word[0].isupper() and word[1:].isalpha() and word[1:].islower()


def _pos_tags(text: str) -> list[tuple[str, str]]:
    """Stand-in for ``nltk.pos_tag`` over Philter's own tokenisation (see the module docstring).

    Philter splits on whitespace and punctuation and keeps whitespace items (their positions
    carry the character offsets), so the tags must come back for exactly those items.
    """
    from philter_lite import philter

    tags: list[tuple[str, str]] = []
    for item in philter._get_clean(text):
        if item.isspace():
            tags.append((item, "SP"))
        elif any(c.isdigit() for c in item):
            tags.append((item, "CD"))
        elif item[:1].isupper():
            tags.append((item, "NNP"))
        else:
            tags.append((item, "NN"))
    return tags


@lru_cache(maxsize=1)
def _filters() -> list[Any]:
    import philter_lite
    from philter_lite import philter

    # The model-free tagger replaces NLTK's downloadable one (module docstring).
    philter._get_pos = _pos_tags
    config = importlib.resources.files("philter_lite") / "configs" / "philter_delta.toml"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        filters = philter_lite.load_filters(str(config))
    return [_guarded(f) for f in filters]


def _guarded(f: Any) -> Any:
    """``f``, its regex wrapped in :class:`_Guarded` when it is Philter's ``name_age``."""
    pattern = getattr(getattr(f, "data", None), "pattern", None)
    if isinstance(pattern, str) and pattern.endswith(_AGE_CONTEXT_TAIL):
        return dataclasses.replace(f, data=_Guarded(f.data, _AGE_CONTEXT))
    return f


#: How Philter's ``name_age`` pattern ends: it matches only before "is a 45 y.o",
#: "is a 45 year-old" or ", a 45 year old".
_AGE_CONTEXT_TAIL = (
    r"((?=\sis\sa\s\d{1,3}\sy\.o)|(?=\sis\sa\s\d{1,3}\sy\.o)|(?=\sis\sa\s\d{1,3}\syear\-old)"
    r"|(?=\,\sa\s\d{1,3}\syear[\s\-]old))\b"
)
_AGE_CONTEXT = re.compile(r"(?i)\sis\sa\s\d{1,3}\s(?:y\.o|year\-old)|,\sa\s\d{1,3}\syear[\s\-]old")


class _Guarded:
    r"""A filter's regex searched only in a text holding the context it requires.

    Philter's ``name_age`` pattern nests quantifiers over letters
    (``([A-Z][a-zA-Z]+(\s)?){1,2}`` twice, case-blind): on a run of letters with no such
    context it backtracks through every split of the run before failing: 10 s for 200 letters,
    minutes for 400 (a sequence, a base64 blob, a long code in a comment), which hung the
    run. Where the context is absent the pattern cannot match, so skipping it changes nothing.
    """

    def __init__(self, regex: re.Pattern[str], guard: re.Pattern[str]) -> None:
        self.regex, self.guard = regex, guard

    def finditer(self, text: str) -> Any:
        return self.regex.finditer(text) if self.guard.search(text) else iter(())

    def __getattr__(self, name: str) -> Any:
        return getattr(self.regex, name)


def philter_spans(text: str) -> list[tuple[str, int, int]]:
    """Return ``(kind, start, end)`` of every span Philter marks as PHI in ``text``.

    Parameters
    ----------
    text : str

    Returns
    -------
    list of (str, int, int)
        Spans in text order, each one or more words: every word no "safe" filter of Philter
        kept (Philter's catch-all), ``kind`` from the filter that flagged it (``date``,
        ``name``, ``age``...) or ``phi``.

    Examples
    --------
    >>> [text[s:e] for text in ["Seen by Dr. Hallie Brightwater on Mar 3rd."]
    ...  for _, s, e in philter_spans(text)]
    ['Hallie Brightwater', 'Mar', '3rd']
    """
    if not text or not _NO_ALNUM.sub("", text):
        return []
    long_words = [(m.start(), m.end()) for m in _LONG_WORD.finditer(text)]
    if long_words:  # PHI whole, and blanked for Philter: a run of letters costs it minutes
        blanked = list(text)
        for s, e in long_words:
            blanked[s:e] = " " * (e - s)
        rest = philter_spans("".join(blanked))
        return _joined(
            text, [(s, e, "phi") for s, e in long_words] + [(s, e, k) for k, s, e in rest]
        )
    if len(text) > _WINDOW:
        return _windowed_spans(text)
    return _spans(text)


#: A word this long is no clinical term Philter could keep: PHI as a whole (an identifier, an
#: encoded blob), never read by Philter, whose patterns backtrack on long runs of letters.
_LONG_WORD = re.compile(r"[^\W_]{100,}")


#: Longest text Philter reads at once, and the context each window adds on either side. Many
#: of Philter's patterns scan ahead without bound (``(?!.*\bPager\b)`` at every word), so
#: their time grows with the square of the text: 1.5 s for 8,000 characters of notes, hours
#: for one value of 2 MB, which hung the run. Windows make the time linear.
_WINDOW = 1000
_MARGIN = 200


def _cut(text: str, at: int) -> int:
    """``at`` moved back to just after a blank within 100 characters (else ``at`` itself)."""
    if at >= len(text):
        return len(text)
    blank = max(text.rfind(" ", at - 100, at), text.rfind("\n", at - 100, at))
    return blank + 1 if blank > 0 else at


def _windowed_spans(text: str) -> list[tuple[str, int, int]]:
    """:func:`philter_spans` of a long text, window by window (each with :data:`_MARGIN`
    characters of context either side): every span found in any window, overlaps joined.

    Words are at most 100 characters here (longer ones never reach Philter), so a window
    ends at a blank unless 100 characters hold none.
    """
    found: list[tuple[int, int, str]] = []
    start = 0
    while start < len(text):
        end = _cut(text, start + _WINDOW)
        end = end if end > start else min(len(text), start + _WINDOW)
        lo, hi = _cut(text, max(0, start - _MARGIN)), _cut(text, end + _MARGIN)
        lo = lo if lo <= start else start
        found.extend((lo + s, lo + e, kind) for kind, s, e in _spans(text[lo:hi]))
        start = end
    return _joined(text, found)


def _joined(text: str, found: list[tuple[int, int, str]]) -> list[tuple[str, int, int]]:
    """``(start, end, kind)`` spans in text order as ``(kind, start, end)``: overlapping ones,
    and ones of one kind with only blanks between, joined."""
    out: list[tuple[str, int, int]] = []
    for s, e, kind in sorted(found):
        if out and (s <= out[-1][2] or (out[-1][0] == kind and not text[out[-1][2] : s].strip())):
            out[-1] = (out[-1][0], out[-1][1], max(e, out[-1][2]))
        else:
            out.append((kind, s, e))
    return out


def _spans(text: str) -> list[tuple[str, int, int]]:
    """:func:`philter_spans` of one text, read by Philter at once."""
    import philter_lite

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        include, _, tracker = philter_lite.detect_phi(text, _filters())
    # Philter's rule: everything that no "safe" filter kept is PHI (a catch-all), typed by
    # the filter that flagged it where one did.
    typed = sorted((e.start, e.stop, _KINDS.get(e.phi_type, "phi")) for e in tracker.phi)
    kept = bytearray(len(text))
    for a, b in include.filecoords():
        kept[a:b] = b"\x01" * (b - a)
    out: list[tuple[str, int, int]] = []
    for m in _TOKEN.finditer(text):
        s, e = m.start(), m.end()
        word = m.group()
        if not _hyphen_tail(text, word, s, out) and (
            all(kept[s:e])
            or word.lower() in _FUNCTION_WORDS
            or word.lower() in _KINSHIP
            or _GENETIC.fullmatch(word)
            or _STAGED.fullmatch(word)
            or (_HGVS_PREFIX.search(text[max(0, s - 4) : s]) and word[:1].isdigit())
            or (word.isdigit() and (len(word) <= 3 or _decimal_part(text, s, e)))
            or _clinical_name(text, word, e)
            or _not_a_season(text, word, s, e)
            or _pronoun_he(text, word, s)
            or _medication_record(text, word, s, e)
            or _label_pair_of_words(text, s, e)
            or _protein_change(text, word, s)
            or _ADJECTIVE_TAIL.match(text, e) is not None
            or _gold_grade(text, word, s, e)
            or _product_name(text, word, s)
            or _after_web_address(text, word, s)
            or _TRIAL_REGISTRATION.fullmatch(word)
            or _brand_name(text, word, s, e)
            or _vitamin_dose(text, word, s, e)
            or _drug_before_dose(text, word, e)
            or word in _ANATOMY_CAPITALS
            or _scored_eponym(text, word, s, e)
            or _marker_status(text, word, s, e)
            or _GESTATION.fullmatch(word)
            or word in _GENES_IN_CAPITALS
            or _cognate(word)
            or _swept_across_a_line(text, word, s, e, typed)
        ):
            continue
        kind = next((k for a, b, k in typed if a < e and s < b), "phi")
        if out and out[-1][0] == kind and not text[out[-1][2] : s].strip():
            out[-1] = (kind, out[-1][1], e)  # "Hallie Brightwater": one span
        else:
            out.append((kind, s, e))
    return out
