"""Free-text scrubbing: known identifiers, PHI patterns and a clinical de-identification engine.

:class:`TextScrubber` finds, in one pass over the original text,

1. every known identifier value (an :class:`~twinlab.deid.identifiers.IdentifierSet`, built
   from the sources: names of the patient **and of their contacts and relatives**, address
   lines, phones, SSNs, MRNs and patient keys of any length, birth dates...),
   case- and accent-insensitively;
2. pattern hits (:data:`PATTERNS`): URLs with or without a scheme and host names, e-mail,
   IPv4/IPv6, MAC addresses, social-media handles, SSNs (also masked but for the last 4 digits,
   or labelled: ``SSN ending in 6789``), ZIP+4, telephone numbers (also local 7-digit forms,
   their extensions, and internal numbers after a label: ``pager 4471``), dates (also without a
   year: ``Mar 3rd``, ``14 Feb``, ``03/07``, ``seen on 4/3``, and a bare ``seen 2/14`` or
   ``14/2`` unless a score word or unit is beside it: ``strength 4/5``, ``2/3 tablets``; a day of
   the month alone: ``on the 14th``, ``the 3rd of the month``; month and year: ``since 1/2021``,
   ``2021-03``, ``10.2021``; birth years, which over 89 tell the age: ``born in 1925``; days in
   words: ``the fourth of March``, ``Fourteenth March 2021``; ``the 14th inst.``; named days
   of the year, a decision: ``Christmas 2019``, ``Thanksgiving`` are dates), ages over 89
   (``94-year-old``, ``ninety-three years old``, ``turned 93``, ``95th birthday``, ``her
   ninety-second birthday``, ``Frank
   Bush, 93,`` after a name or a word for a person),
   names after a title in any case (``seen by dr. brown``) or after a relation, when Philter
   lists it as a name (``son frank``), street addresses with their unit and PO boxes (``12 main
   st apt 4``), map coordinates (``29.9511, -90.0715``, ``29°57'04"N``, ``lat 29.951``; not
   ``37.5 °C`` or ``flexion 90°``), census tracts, block groups, voting precincts and wards
   (``the Lower 9th Ward``), places after a residence verb (``moved to Mobile``), e-mail
   addresses spelled out (``jdoe at gmail dot com``), references to a FHIR person
   (``Patient/5521``), labelled numbers (MRN, Medicaid, policy, licence plate, serial...),
   unlabelled serial-like codes that mix letters and digits (``K8J2-99A1``, ``7ABC123``), and
   runs of 7 or more digits; also compact ages (``92yM``,
   ``93/F``, ``M, 91``, ``dx at 91``, ``alive at 92``), a town before its state (``Peoria,
   IL``; before a code that is also a clinical abbreviation only with a comma, a ZIP code or
   a town of the gazetteer: not ``Lung CA``, ``Anterior MI``), street corners, UK and
   Canadian postcodes, telephone numbers with a trunk 0, spelled digit by digit or as letters
   (``1-800-FLOWERS``), seasons as a time of year (``spring 2021``), a weekday with its day
   (``Sat 12th``), network paths, image file names and camera file numbers (``IMG 2203``),
   payment card numbers in groups (``4111 1111 1111 1111``; not a schedule ``0800 1200 1600
   2000``), IMEI and UDI numbers after their label; towns
   and cities of a US gazetteer (``us_places.csv``: GeoNames places of 500 people or more,
   CC BY 4.0) after a locative word or before their county, a school, a landmark or their
   people (``a house in Biloxi``, ``IN BILOXI``, ``Tupelo High School``, ``the Biloxi fire
   chief``; in lower case only after a residence or travel verb or before its county, a school
   or a landmark; names that are also common or clinical words, such as ``Normal``,
   ``Mobile``, ``Home``, ``Lyme``, ``Norco``, are left to the residence, state and ZIP
   patterns; nor before a food: ``Brussels sprouts``), towns abroad in the same contexts
   (``world_places.csv``: GeoNames cities of 15,000 people or more, accents folded: ``born in
   Kraków``), a town before its country (``from Xalapa, Mexico``; ``countries.csv``), named
   regions smaller than a state (``us_regions.csv``, curated: ``the Inland Empire``, ``West
   Texas`` wherever capitalised; ``the Delta``, ``the Panhandle``, ``Upstate`` only after a
   locative word or residence verb, never before ``variant``, ``wave``...), any capitalised
   name after a strong cue (``grew up in``, ``is from``, ``emigrated from``, ``stationed at``),
   numbered roads (``off Highway 49``, ``I-10``), ages listed after a label
   (``Ages: pt 91, spouse 88``), card endings (``CC ending in 4417``), first names in lower
   case after a contact verb or ``lives with`` (``called mary at home``), telephone numbers
   written with slashes and portal user names (``Portal user: jdoe_1948``), nicknames
   (``known locally as "the Catfish King"``, ``nicknamed tiny``, ``goes by Red``, ``CB handle
   is Swamp Fox``, ``call sign KD5QXR``); tax numbers (``EIN 72-1409953``); whole
   names of places and facilities after ``St.``, ``Saint``, ``Mt.``, ``Ft.`` (``St. Luke's
   Medical Center``, ``Mt. Sinai``; in lower case before a name: ``st francis er``; not ``ST
   elevation`` or ``St. John's wort``); employers'
   and places' names in all-caps notes end before the sentence's own words (``WORKS AT ACME
   LUMBER AND HAS PAIN``: :data:`_NAME_STOP`); user names after their label without a colon
   (``username kez_lindqvist58``), a licence plate with its state (``plate TX KJM-4471``), and
   a unique characteristic: who someone is "the only / first / oldest ..." of in a community
   (``the only licensed alligator trapper in Terrebonne Parish``: ``[UNIQUE]``); and, from
   the fifth red-team round, notes from abroad and in other hands: health numbers of other
   countries after their label (``Aadhaar no: 4567 8912 3456``, ``Medicare no. 2123 45670
   1``, ``BC PHN 9123 456 789``, ``RAMQ TREJ 3107 1419``), an Australian postcode after its
   state (``NSW 2650``), French and Quebec streets (``221 rue Saint-Denis``), a flat before
   its building (``Flat 4B, Shanti Apartments``), a general practice's name (``Wrenfield
   Surgery``; not ``Vascular Surgery`` or ``Needs Surgery``), an area code in brackets
   (``(02) 9876 5432``), days glued to their month (``15Jan``, ``3Feb2021``) and a month with
   a short year (``Feb'21``, ``Jan-22``), years spelled out (``nineteen twenty nine``), French
   and Spanish dates (``le 14 juillet 1931``, ``3 de marzo``), national days abroad (``Anzac
   Day``), initials after a role, title or relation or before what they stand for (``Nurse
   T.W.``, ``J.S. (pt's initials)``, ``cc: JS/km``; not ``E. coli``, ``I.V.``), a
   ``Surname, Given`` name after its label (``ATTENDING: SUMMER, RAINE MD``), an age over 89
   restated (``Age 89 at enrolment, now 90``), a birth year ``born in '29``, registration
   plates after ``reg`` (``KX21 ABC``; not ``reg 10 units``), reddit and Discord user names,
   a town of a gazetteer after a telephone number or a business's name (``(tel. 0244 123 456,
   Tamale)``, ``Golden Dragon Restaurant, Flushing``), a practice in an all-caps note
   (``SEEN AT WRENFIELD SURGERY``), initials and French streets in a lower-case note (``nurse
   t.w.``, ``221 rue saint-denis``), a name after a title without its dot written as a title
   (``Mr Summer Rain``; not ``MR``, ``MS``) and a relative's given name and surname whose
   surname is a common word (``brother Sonny Day``); and, from the seventh round: ages over
   89 after a contracted subject or ahead (``shes 94 in june``, ``will be ninety-four``,
   ``Cyril is pushing 100``: a person, not ``Temp is almost 100``) or by decade (``lived
   into his mid-nineties``, ``in her tenth decade``), feasts of other calendars (``Ramadan``,
   ``Passover``, ``Mardi Gras``, ``Tet 2022``; ``Tet`` only before a year) and ``New Year's
   2022``, ISO and spelled week dates (``2021-W09-3``, ``week 14 of 2020``; not a trial's
   ``Week 14``), rural routes and post-office boxes by any name with their town (``RR 2 Box
   115``, ``HC 61 Box 20``, ``Post Office Box 88, Viper``; not ``RR 20``), a mobile-home lot
   and its park, a lower-case flat (``flat 4b``), a unit with a hyphen (``Apt 3-C``, ``Bldg
   7``), street suffixes of the Commonwealth (``17 kilmore crt``) and streets whose suffix is
   also a word, written as names (``2250 N. Alvernon Way``; not ``6 Minute Walk``), a
   congregation (``Greater New Hope Missionary Baptist Church``; not ``First Baptist
   Church``), what3words addresses and plus codes, a MAC address in dotted fours, an IBAN (by
   its check digits) and a sort code, a Cash App ``$cashtag``, a handle after ``on IG as`` and
   a portal login with dots, a number after an abbreviation glued to ``#`` (``HAR#5021-1887-34``)
   or after ``Acc:`` and other specimen and referral labels (not ``Path: pT2N0``), a licence
   abbreviated (``med lic. 35.123456``), biometric and meeting labels (``voiceprint VP
   88-2210``, ``meeting ID 845 2211 0934``), labelled codes in groups (``member ZGP 8834 5521
   01``, ``ID W123 456 789``), an extension before a full stop (``ext. 4412.``), and the
   particles of a surname joined to its name (``Hendrik van der Berg``, ``Patient: de la
   Cruz``: :func:`find_phi`; not ``von Willebrand disease``); and, from the eleventh round:
   military post addresses (``PSC 3417 Box 2290, APO AE 09461``), house numbers with a half
   or a letter (``2207 1/2 Elm Ave``, ``118-C Depot St``), neighbourhoods named by their side
   of town (``the Upper West Side``), a name spelled letter by letter (``spelled
   S-T-A-N``), a month's day as a cardinal word after a birth or date word (``birthday is
   march twelve``), a caller naming themself in lower case (``hi it's rob``), an
   interpreter's number after their name (``Rocio #4471``), a month/day after an admission or
   discharge label (``Discharge: 03-22``), a ZIP+4 with an en dash, and a telephone's area
   code or a date's prefix across a line break or hyphen (``919-`` / ``555-0128``,
   ``mid-March 2024``);
3. the spans of UCSF Philter's rules and dictionaries (:mod:`twinlab.deid.engine`, where the
   choice of engine is explained): names, places and anything else no clinical whitelist keeps;

and replaces each (overlaps merged, known values first) by ``[NAME]``, ``[DATE]``... (or, for
the patient key, by the pseudonym). ``engine=False`` leaves out the engine, for short
vocabulary-like values (qualifiers, sites) where its catch-all would remove device and drug
brand names.
"""

from __future__ import annotations

import functools
import ipaddress
import itertools
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import pandas as pd

from twinlab.deid._util import is_missing
from twinlab.deid.identifiers import IdentifierSet

__all__ = [
    "PATTERNS",
    "PhiPattern",
    "TextScrubber",
    "find_patterns",
    "find_phi",
    "person_name_runs",
    "pointer_phi",
    "scrub_text",
    "single_person_names",
]

_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
)


#: Month names but "may" (the verb: "we may first try...").
_MONTH_NOT_MAY = _MONTH.replace("|may|", "|")
# the second day of a range ("4 and 9", "4-9", "4th through the 9th"): a day of the month,
# not a time, a decimal or a dose
_DAY_RANGE = (
    r"\s*(?:-|\u2013|to|through|thru|until|and|&)\s*(?:the\s+)?"
    r"(?:[1-9]|[12]\d|3[01])(?:st|nd|rd|th)?\b(?![:.]\d|\s*(?:mg|mcg|ml|%|x\b))"
)
#: Days of the month spelled out (``the fourth of March``, ``March twenty-first``).
_DAY_WORD = (
    r"(?:first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|eleventh|twelfth"
    r"|thirteenth|fourteenth|fifteenth|sixteenth|seventeenth|eighteenth|nineteenth|twentieth"
    r"|twenty[-\s]?(?:first|second|third|fourth|fifth|sixth|seventh|eighth|ninth)|thirtieth"
    r"|thirty[-\s]?first)"
)
#: Named days of the year: each names a month and day (a date element finer than the year).
#: Decision: they are dates by Safe Harbor ("all elements of dates except year"), with or
#: without a year ("Christmas 2019" says 2019-12-25).
_HOLIDAY = (
    r"(?:christmas(?:\s+(?:day|eve))?(?!\s+(?:disease|factor))|xmas"
    # "New Year's Day", "New Year's 2022" (a year after it: the first of January)
    r"|new\s+year'?s?(?:\s+(?:day|eve)|(?=\s+(?:19|20)\d{2}\b))|thanksgiving(?:\s+day)?"
    r"|easter(?:\s+(?:sunday|monday))?|good\s+friday|halloween|valentine'?s?\s+day"
    r"|independence\s+day|(?:the\s+)?fourth\s+of\s+july|4th\s+of\s+july|memorial\s+day"
    r"|(?-i:Labou?r\s+Day|LABOU?R\s+DAY)|veterans'?\s+day|mother'?s\s+day|father'?s\s+day|boxing\s+day"
    r"|st\.?\s+patrick'?s\s+day|juneteenth|mlk\s+day|martin\s+luther\s+king\s+(?:jr\.?\s+)?day"
    r"|presidents'?\s+day|columbus\s+day|groundhog\s+day|all\s+saints'?\s+day|yom\s+kippur"
    r"|rosh\s+hashanah|hanukkah|diwali|eid\s+al[-\s](?:fitr|adha)"
    # national days abroad: "Anzac Day", "Canada Day", "Bastille Day", "Cinco de Mayo"
    r"|anzac\s+day|australia\s+day|canada\s+day|victoria\s+day|remembrance\s+(?:day|sunday)"
    r"|bastille\s+day|cinco\s+de\s+mayo|waitangi\s+day|republic\s+day|hogmanay|burns\s+night"
    r"|guy\s+fawkes(?:\s+night)?|bonfire\s+night|(?:lunar|chinese)\s+new\s+year|holi|pongal"
    r"|onam|st\.?\s+andrew'?s\s+day"
    # feasts and days of other calendars and of sport and trade: "Ramadan 2020", "Passover",
    # "Mardi Gras 2018", "Tet 2022" (only before a year: "Tet spells", "TET" are clinical)
    r"|ramadan|passover|pesach|purim|sukkot|shavuot|kwanzaa|nowruz|vesak|chuseok"
    r"|mardi\s+gras|ash\s+wednesday|palm\s+sunday|pentecost|whitsun(?:day)?"
    r"|three\s+kings'?\s+day|d[ií]a\s+de\s+(?:los\s+)?muertos|day\s+of\s+the\s+dead"
    r"|all\s+souls'?\s+day|orthodox\s+(?:christmas|easter)|super\s+bowl\s+sunday"
    r"|black\s+friday|cyber\s+monday|election\s+day|patriots'?\s+day"
    r"|(?-i:T[eế]t)(?=\s+(?:19|20)\d{2}\b))"
)
#: Month names in French and Spanish (notes from Quebec, and Spanish-speaking patients' notes):
#: "le 14 juillet 1931", "3 de marzo de 2021".
_MONTH_ABROAD = (
    r"(?:janvier|f[ée]vrier|mars|avril|mai|juin|juillet|ao[uû]t|septembre|octobre|novembre"
    r"|d[ée]cembre|enero|febrero|marzo|abril|mayo|junio|julio|agosto|sep?tiembre|octubre"
    r"|noviembre|diciembre)"
)
#: Ages over 89 spelled out (``ninety-three``, ``one hundred and two``).
_AGE_WORD = (
    r"(?:ninety(?:[-\s]?(?:one|two|three|four|five|six|seven|eight|nine))?"
    r"|(?:a|one)\s+hundred(?:\s+(?:and\s+)?(?:one|two|three|four|five|six|seven|eight|nine|ten"
    r"|eleven|twelve|thirteen|fourteen|fifteen|sixteen|seventeen|eighteen|nineteen"
    r"|(?:twenty|thirty|forty)(?:[-\s]?(?:one|two|three|four|five|six|seven|eight|nine))?))?)"
)
_AGE_NUM = r"(?:9\d|1[0-4]\d)"


@dataclass(frozen=True)
class PhiPattern:
    """A regular expression for one kind of PHI, with an optional validator of each match.

    When the expression has a group named ``v`` (or ``v2``... in other alternatives), that
    group is the PHI (the rest is context, such as a label: ``works at (?P<v>...)``).
    """

    kind: str
    regex: re.Pattern[str]
    valid: Callable[[str], bool] | None = None
    #: ``context(text, start, end)``: whether the match at ``text[start:end]`` is PHI in its
    #: surroundings (a bare ``2/14`` is a date unless a score word or unit is beside it)
    context: Callable[[str, int, int], bool] | None = None
    #: a quick search the text must pass before the expression runs at all (a word every
    #: match needs, where the expression itself starts with a long alternation)
    hint: re.Pattern[str] | None = None

    @functools.cached_property
    def _groups(self) -> list[str]:
        """The names of the PHI groups (``v``, ``v2``...), in order."""
        return sorted(g for g in self.regex.groupindex if re.fullmatch(r"v\d*", g))

    def finditer(self, text: str) -> Iterator[tuple[str, int, int]]:
        """Yield ``(kind, start, end)`` of each valid match.

        Alternatives of one expression may name their PHI ``v``, ``v2``, ``v3``...: the first
        group that took part in the match is the PHI.
        """
        if self.hint is not None and self.hint.search(text) is None:
            return
        groups = self._groups
        for m in self.regex.finditer(text):
            group: str | int = next((g for g in groups if m.group(g) is not None), 0)
            if not m.group(group) or (self.valid is not None and not self.valid(m.group(group))):
                continue
            if self.context is None or self.context(text, m.start(group), m.end(group)):
                yield self.kind, m.start(group), m.end(group)


def _is_ipv6(text: str) -> bool:
    try:
        ipaddress.IPv6Address(text.split("%", 1)[0])
    except ValueError:
        return False
    return True


def _phone_digits(text: str) -> bool:
    return 7 <= sum(c.isdigit() for c in text) <= 15


#: A digit spelled out ("oh" for zero, as numbers are read aloud).
_DIGIT_WORD = r"(?:zero|oh|one|two|three|four|five|six|seven|eight|nine)"
#: A word of a number spelled out ("twenty-two", "four eleven", "one hundred").
_NUMBER_WORD = (
    r"(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen"
    r"|fifteen|sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy"
    r"|eighty|ninety|hundred|thousand|oh|zero)"
)
#: A digit spelled out, or a pair or triple of it read aloud ("double oh", "triple five").
_SPOKEN_DIGIT = rf"(?:(?:double|triple)[\s-]+)?{_DIGIT_WORD}"
_CLOCK = re.compile(r"(?:[01]\d|2[0-3])[0-5]\d")


def _trunk_phone(text: str) -> bool:
    """A national number with its trunk 0 has 10 or 11 digits, and is no list of 24-hour clock
    times ("0800 1200 1600")."""
    groups = re.findall(r"\d+", text)
    return 10 <= sum(map(len, groups)) <= 11 and not all(_CLOCK.fullmatch(g) for g in groups)


def _card_digits(text: str) -> bool:
    """A payment card number: its groups are no list of 24-hour clock times ("0800 1200 1600
    2000", a medication schedule)."""
    groups = re.findall(r"\d+", text)
    return not all(_CLOCK.fullmatch(g) for g in groups)


def _p(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


_CLINICAL_CODE = re.compile(
    r"^(?:cyp\w+|hla\w*|ugt\w+|slco\w+|slc\w+|abc[bcg]\w+|vkorc\w+|nudt\w+|tpmt\w*|dpyd\w*"
    r"|g6pd\w*|ifnl\w+|rs\d+|nm\w+|np\w+|ng\w+|hba1c|a1c|sars\w*|covid\w*|h\d+n\d+"
    r"|\d+oh\w*|fev\d\w*|das\d\d\w*|t\dn\dm\d\w*|c\d+orf\d+|il\d+\w*|cd\d+\w*|ca\d+\w*|b\d+|apoe\w*"
    # risk scores and decades of a vital sign ("CHA2DS2-VASc", "HR 110s-120s")
    r"|cha2ds2\w*|chads2\w*|(?:\d+s)+"
    # the Glasgow Coma Scale's components ("E4V4M6", "E3VTM5")
    r"|e[1-4]v[1-5t]m[1-6]"
    # a tumour gene and a whole TNM stage ("PIK3CA", "ypT2N0M0")
    r"|pik3\w+|(?:[cpr]|yp)?t(?:[0-4][a-d]?|is|x)n[0-3x][a-c]?(?:m[01x][a-c]?)?"
    # a protein change by deletion, duplication, insertion or frameshift ("CFTR F508del")
    r"|[acdefghiklmnpqrstvwy]\d{1,4}(?:del|dup|ins|fs)\w{0,6}"
    # gravida and para ("G3P2012"), and a marker gene with its status or variant glued on by
    # a hyphen ("HER2-negative", "FLT3-ITD", "PD-L1"): obstetric and tumour data
    r"|g\d{1,2}p\d{1,5}"
    r"|(?:her|erbb|flt|idh|jak|npm|ntrk|fgfr|brca|msh|mlh|pms|tp|pdl|ros|palb|chek)\d{1,2}[a-z]?"
    r"(?:positive|negative|pos|neg|mutant|mutated|amplified|low|high|null|itd|tkd|wt"
    r"|rearranged|fusion|equivocal)?)$",
    re.IGNORECASE,
)


def _serial_like(text: str) -> bool:
    """A code mixing letters and digits at least twice (``7ABC123``, ``K8J2-99A1``), no gene."""
    alnum = re.sub(r"[\W_]", "", text)
    if len(alnum) < 6 or _CLINICAL_CODE.match(alnum):
        return False
    flips = sum(a.isdigit() != b.isdigit() for a, b in itertools.pairwise(alnum))
    return flips >= 2


_TLD = (
    r"(?:com|org|net|edu|gov|mil|int|io|info|biz|co|us|uk|ca|de|fr|nl|au|eu|health|care"
    r"|local|lan|internal|intranet|corp|localdomain|home|example|test)"
)
_LABELS = (
    r"mrn|mr#|medical\s+record(?:\s+(?:number|no\.?|#))?|acct|account(?:\s+no\.?)?"
    r"|member\s+id|member|subscriber(?:\s+id)?|policy(?:\s+no\.?)?|group(?:\s+no\.?)?"
    r"|medicaid(?:\s+(?:id|no\.?|number|#))?|medicare(?:\s+(?:id|no\.?|number|#))?"
    r"|insurance(?:\s+(?:id|no\.?|number|#))?|license|licence|plate|tag|dl|dea|npi"
    r"|serial(?:\s+(?:no\.?|number|#))?|s/n|sn|vin|device(?:\s+id)?|badge|employee\s+id"
    r"|certificate(?:\s+no\.?)?|passport"
    r"|(?:chart|case|claim|accession|encounter|visit|beneficiary|health\s+plan)"
    r"(?:\s+(?:id|no\.?|number|#))?|(?:patient|pt)\s+id|hicn|mbi|csn|fin"
    r"|driver'?s?\s+licen[cs]e(?:\s+(?:no\.?|number|#))?"
    r"|identifier|barcode|template|lot(?:\s+(?:no\.?|number|#))?|imei|meid|iccid|udi"
    # national and study numbers: "SIN 046 454 286", "NHS no. 943 476 5919", "subject 101-004"
    r"|sin|nhs\s+(?:no\.?|number|#)|health\s+card|ohip|phn|nino|national\s+id"
    # Indian and Australian health numbers: "Aadhaar no: 4567 8912 3456", "ABHA 91-2345-6789-0123",
    # "UHID 2022/45678", "IHI 8003 6012 3456 7890", "Medicare no. 2123 45670 1"
    r"|aadhaa?r(?:\s+card)?|abha|uhid|ihi|medicare\s+card|ramq"
    r"|(?:study\s+|trial\s+)?subject(?:\s+id)?|screening(?:\s+(?:id|no\.?|number))?"
    r"|randomi[sz]ation(?:\s+(?:id|no\.?|number))?|state\s+id(?:\s+card)?|unit\s+no\.?"
    # immigration, employment and legal numbers: "Green card A123-456-789", "Employee #E-4455"
    r"|green\s+card|alien(?:\s+registration)?(?:\s+(?:no\.?|number|#))?|a-number|uscis"
    r"|employee\s*(?:id|no\.?|number|#)|docket|inmate|booking|warrant|citation"
    r"|police\s+report|incident(?:\s+report)?"
    # military service numbers: "Navy service no. 4471-882", "DoD ID 1234567890"
    r"|service\s+(?:no\.?|number|#)|dod\s+id|va\s+(?:file|claim)(?:\s+(?:no\.?|number|#))?"
    # tax numbers of a person or a family business: "EIN 72-1409953", "ITIN 912-70-1234"
    r"|ein|fein|itin|tin|tax\s+id(?:\s+(?:no\.?|number|#))?"
    # a serial abbreviated ("ser. no. CI-22-0098871"), a commercial driver's licence ("CDL no.
    # D4471-2290-5512") and a prior authorization ("Prior auth PA-23-8871120")
    r"|ser\.?\s*(?:no\.?|number|#)|cdl|(?:prior\s+)?auth(?:ori[sz]ation)?"
    # a pharmacy benefit's group and cardholder numbers ("RxGrp MD4410", "RxID W2887")
    r"|rx\s*gr(?:ou)?p|rx\s*id"
)
#: More labels of :data:`_LABELS`, in a pattern of their own (with a quick hint): a licence
#: abbreviated ("med lic. 35.123456"), biometric records ("voiceprint VP 88-2210", "retina
#: scan ID RTN-0045512") and a video meeting ("meeting ID 845 2211 0934").
_LABELS_MORE = (
    r"lic\.?|(?:finger|thumb|palm|voice)\s*print(?:\s+(?:id|template|no\.?|#))?"
    r"|(?:retina(?:l)?|iris|palm\s+vein|face|facial)\s+(?:scan|template|id|print|code|hash)"
    r"(?:\s+id)?"
    # a biometric hash ("facial geometry hash fg_5c1e99a0", "biometric hash 9f0c...")
    r"|(?:(?:face|facial|hand|biometric)\s+)?geometry\s+hash|biometric\s+(?:hash|id|template)"
    r"|voice\s*id|meeting\s+(?:id|no\.?|number)|conference\s+id"
)
#: A code after a label in groups: a short capital prefix and digit groups ("VP 88-2210",
#: "ZGP 8834 5521 01", "W123 456 789", "845 2211 0934"; 5 digits or more, not "ST 01"), or
#: dotted ("35.123456", "RPH.04471").
_GROUPED_CODE = (
    r"(?-i:[A-Z]{1,4})[ ](?=(?:\d[ -]?){5})\d{2,6}(?:[ -]\d{2,6}){0,3}(?![\w-])"
    r"|(?-i:[A-Z]{0,3})\d{2,6}(?:[ ]\d{3,6}){1,3}(?:[ ]\d{2})?(?![\w-])"
    r"|[a-z]{0,5}\d{0,4}\.\d{4,}(?![\w.]|\.\w)|[a-z]{2,5}\.\d{3,}(?![\w.]|\.\w)"
)
#: The value after a label: digits in groups ("943 476 5919", "046 454 286") or one code; no
#: dose ("lot 20 mg").
_LABELLED_VALUE = (
    r"(?P<v>\d{3}[ ]\d{2,3}[ ]\d{3,4}(?!\d)|\d{4}(?:[ ]\d{4}){2,3}(?!\d)"
    r"|\d{4}[ ]\d{5}(?:[ ]\d)?(?!\d)|\d{4}[ ]\d{3}[ ]\d{3}(?!\d)"
    rf"|[a-z]{{4}}[ ]\d{{4}}[ ]\d{{4}}(?!\d)|{_GROUPED_CODE}"
    r"|(?=[\w-]*\d)[a-z0-9][\w-]{2,}(?:/\d+)?)"
    r"(?![\w-])(?!\s*(?:mg|mcg|ml|g|kg|units?|%)(?!\w))"
)
_NUMBER_WORDS = r"(?:no\.?|number|#)"
#: Social-media sites and words that introduce a user name.
_SOCIAL = (
    r"(?:twitter|instagram|insta|tiktok|snapchat|facebook|threads|linkedin|reddit"
    r"|telegram|skype|whatsapp|discord|mastodon|bluesky|youtube|username|user\s+name"
    r"|screen\s+name|gamertag|portal\s+(?:user(?:\s*name)?|id|login|account)|login\s+id|user\s*id"
    r"|userid)"
)

#: US state and territory postal codes (not OK, IN, OR, ME, HI: English words; nor MD, PA, MS:
#: credentials, "Jones, MD"); a town is written before one ("Peoria, IL").
_STATE_CODE = (
    r"(?:AL|AK|AZ|AR|CA|CO|CT|DE|DC|FL|GA|ID|IL|IA|KS|KY|LA|MA|MI|MN|MO|MT|NE|NV|NH|NJ"
    r"|NM|NY|NC|ND|OH|PA|RI|SC|SD|TN|TX|UT|VT|VA|WA|WV|WI|WY|PR|GU|VI)"
)
_STATE_NAME = (
    r"alabama|alaska|arizona|arkansas|california|colorado|connecticut|delaware|florida|georgia"
    r"|hawaii|idaho|illinois|indiana|iowa|kansas|kentucky|louisiana|maine|maryland"
    r"|massachusetts|michigan|minnesota|mississippi|missouri|montana|nebraska|nevada"
    r"|new\s+hampshire|new\s+jersey|new\s+mexico|new\s+york|north\s+carolina|north\s+dakota|ohio"
    r"|oklahoma|oregon|pennsylvania|rhode\s+island|south\s+carolina|south\s+dakota|tennessee"
    r"|texas|utah|vermont|virginia|washington|west\s+virginia|wisconsin|wyoming|puerto\s+rico"
)
#: A word of an employer's name: an abbreviation ("St.", "Inc."), initials ("J.P.") or a
#: capitalised word, dots only inside it (a full stop ends the name: "works at Acme. INR 2.4").
_ORG_WORD = (
    r"(?:(?:St|Mt|Ft|Dr|Co|Corp|Inc|Ltd|Bros|Assoc|Dept|Univ|Intl)\.|[A-Z]\.(?:[A-Z]\.)+"
    r"|[A-Z][\w'&-]*(?:\.[\w'&-]+)*)"
)
#: Words that end a name of an employer or a place when a note writes every word with a capital
#: ("WORKS AT ACME LUMBER AND HAS PAIN", "Works At Acme In Town"): the sentence's own verbs,
#: pronouns, prepositions and clinical words, never a word of the name after its first.
_NAME_STOP = (
    r"(?i:(?:and|or|but|has|had|have|is|was|were|are|be|been|will|would|can|could|should|may"
    r"|might|does|did|do|not|no|in|on|at|to|for|from|with|without|since|as|by|until|after"
    r"|before|during|while|when|where|who|which|that|because|so|then|now|x|per|he|she|they"
    r"|his|her|their|pt|patient|reports?|states?|denies|complains?|presents?|c/o|years?|yrs?"
    r"|daily|full|part|time|nights|days|shifts?|last|since|due)\b)"
)
#: A word of a name after its first (:data:`_ORG_WORD`, not a :data:`_NAME_STOP` word).
_ORG_NEXT = rf"(?!{_NAME_STOP}){_ORG_WORD}"
#: A job held for an employer ("a lineman with PG&E", "a teller at BofA", "a welder at Nucor"):
#: nouns of trades and posts, and those ending as trades do ("-man", "-worker", "-keeper"). Not
#: words a clinical thing is too ("carrier" of a gene, "agent" of a drug, "guard" of the mouth,
#: "pacemaker"): after "works as" any noun is a job (:data:`PATTERNS`).
_OCCUPATION = (
    # no clinical noun ending as a trade does ("a specimen for AFB", "a regimen with FOLFOX")
    r"(?:(?!(?:speci|regi|abdo|albu|fora|ceru|bitu|acu|sta|ru|se|hy|lu)men\b)[a-z]{3,}(?:man|men)|[a-z]+(?:woman|women|person|worker|keeper|smith|wright)"
    r"|teller|cashier|clerk|driver|operator|welder|mechanic|technician|tech|engineer"
    r"|electrician|plumber|carpenter|janitor|custodian|officer|analyst|assistant|aide"
    r"|labou?rer|miner|farmer|trucker|programmer|developer|accountant|lawyer|attorney"
    r"|pharmacist|cook|chef|server|waitress|waiter|bartender|barista|contractor|inspector"
    r"|supervisor|manager|courier|dispatcher|librarian|secretary|receptionist|banker"
    r"|consultant|scientist|researcher|pilot|conductor|firefighter|paramedic|machinist"
    r"|painter|roofer|logger|rancher|hairdresser|stylist|barber|tailor|designer|architect"
    r"|administrator|executive|director|coordinator|representative|rep|teacher|nurse|porter"
    r"|stocker|loader|packer|picker|sorter|installer|repairer|estimator|adjuster|auditor"
    r"|underwriter|paralegal|caregiver|housekeeper|nanny|intern|apprentice)s?"
)
#: "St.", "Saint", "Mt.", "Mount", "Ft.", "Fort" before a capitalised word: the start of the
#: name of a place or a facility ("St. Luke's Medical Center", "Mt. Sinai", "Ft. Worth"). In
#: capitals only with its dot: "ST elevation" is the segment of an ECG.
_SAINT = r"(?-i:St\.?|ST\.|Ste\.?|STE\.|Saint|SAINT|Mt\.?|MT\.|Mount|MOUNT|Ft\.?|FT\.|Fort|FORT)"
#: Words in or after a saint's name that make it a herb, a disease or a sign, no place ("St.
#: John's wort", "St. Louis encephalitis", "St. Vitus dance", "St. Anthony's fire").
_SAINT_NOT_A_PLACE = re.compile(
    r"\b(?:wort|encephalitis|dance|fire|virus)\b|^\W*(?:elevation|segment|depression|wave)",
    re.IGNORECASE,
)


#: The word before an abbreviated "St."/"Mt."/"Ft." when it names a street ("12 Main St. Has a
#: dog": Street, not Saint): a capitalised word or a number that is no preposition or article.
_STREET_BEFORE = re.compile(r"(?<![\w.])(?P<w>[A-Z0-9][\w'’-]*)[ \t]+$")
_SAINT_AFTER_WORD = frozenset(
    "at to in from the of near on and or by via into de la du le saint san santa".split()
)


def _saint_place(text: str, start: int, end: int) -> bool:
    """Whether a name after "St."/"Mt."/"Ft." is a place: no herb, disease or ECG word in it or
    right after it (:data:`_SAINT_NOT_A_PLACE`), no eponym ("Mount Sinai criteria"), and the
    abbreviation is no street's ("Main St. Has a dog")."""
    from twinlab.deid.engine import _EPONYM_AFTER

    if _EPONYM_AFTER.match(text, end) is not None:
        return False
    street = _STREET_BEFORE.search(text, max(0, start - 40), start)
    if (
        street is not None
        and text[start : start + 4].lower().rstrip(". \t") in ("st", "ste", "mt", "ft")
        and street.group("w").lower() not in _SAINT_AFTER_WORD
    ):
        return False
    words = text[start:end].split(None, 1)
    rest = (words[1] if len(words) > 1 else "") + text[end : end + 24]
    return _SAINT_NOT_A_PLACE.search(rest.split(".", 1)[0]) is None


#: Communities in which someone can be "the only ..." (a unique identifying characteristic);
#: not "area" or "region", words of anatomy too ("the only lesion in the area").
_UNIQUE_WHERE = (
    r"(?:county|parish|town|township|village|city|state|island|valley|tribe|community"
    r"|congregation|church|reservation|country|neighbou?rhood|district)"
)


def _lower_saint_place(text: str, start: int, end: int) -> bool:
    """Whether lower-case "st"/"mt"/"ft" and the word after are a place: the word a first or
    last name of Philter's dictionaries ("st francis", "mt carmel"; not "st elevation", "ft
    tall") and no herb or disease (:func:`_saint_place`)."""
    from twinlab.deid.vocabulary import _name_words

    word = re.sub(r"['’]s?$", "", text[start:end].split()[-1])
    return (
        word in _name_words()[0]
        and word not in _NOT_FIRST_NAME
        and word not in _NOT_A_CONTACT
        and _saint_place(text, start, end)
    )


#: Words after a title or a care role that are no name ("dr. to call", "mr. and mrs."), also
#: where the role names a field of a claim or form ("Line Provider Payment Amount", "Nurse
#: Visit Type": Philter lists "Payment" as a surname).
_NOT_A_NAME = (
    r"(?:and|or|to|the|a|an|of|at|in|on|for|with|by|from|is|was|will|has|had|who|said|says"
    r"|saw|called|today|re|regarding|recommends?|note|notes|office|orders?|visit|mrs?|ms"
    r"|payments?|amounts?|fees?|charges?|costs?|types?|signature|specialty|status|claims?"
    r"|billing|reimbursement|taxonomy|identifier|number|name|role)"
)
#: Words that make "2 tabs by mouth per dr" no street address.
_NOT_STREET = frozenset(
    "per the a an by with to of and or for at in on from days day weeks week hours hour doses"
    " dose tabs tab tablets tablet pills pill times mg ml mcg iv prn bid tid qid"
    " qd daily x as told see call".split()
)


#: Words after a relation that are first names in Philter's dictionaries but, there, a verb
#: or adjective ("son will call", "mother states") or an eponymous disease.
_NOT_FIRST_NAME = frozenset(
    "will may states an brought were too gave young older younger step also can did does"
    " said says helps helped calls called reports reported stated visits visited wants wanted"
    " needs needed feels felt thinks thought knows knew agrees agreed declined declines"
    " requested requests asked asks worries worried notes noted"
    " parkinson huntington crohn hodgkin graves addison cushing wilson down gehrig marfan"
    " turner kawasaki raynaud paget hashimoto lyme tourette asperger still bell".split()
)


#: Words for a relative's state written capitalised in family histories ("mother Deceased,
#: age 80"; "brother Alive, 70"): no name.
_RELATIVE_STATE = frozenset(
    "deceased alive living healthy well unknown adopted estranged died dead passed late"
    " diabetic hypertensive".split()
)


def _named_before_age(text: str, start: int) -> bool:
    """Whether the capitalised words between a person word and "is 102" (ending before
    ``start``) are a name: one of them no clinical word of Philter's whitelist, or a name of
    its lists ("mother Folake Adeyemi-Bello is 102"; not "Patient Temp is 99")."""
    from twinlab.deid.vocabulary import _name_words

    names, safe = _name_words()
    m = re.search(r"((?:[ \t]+[A-Z][\w'’-]+){1,3})\s+(?:is|was)\s+(?:now\s+)?$", text[:start])
    if m is None:  # a given name in lower case: "my grandma rosario is 96"
        low = re.search(r"[ \t]([a-z][a-z'’-]+)\s+(?:is|was)\s+(?:now\s+)?$", text[:start])
        return low is not None and _first_name(low.group(1))
    words = [w.lower() for w in re.findall(r"[^\W\d_]+", m.group(1))]
    return any(w in names or w not in safe for w in words)


def _clinical_word(word: str) -> bool:
    """Whether a capitalised word after a relation is a clinical or state word, not a given
    name: a relative's state (:data:`_RELATIVE_STATE`), a listed eponym or a disease name."""
    w = word.lower()
    return w in _RELATIVE_STATE or w in _NOT_FIRST_NAME


def _first_name(word: str) -> bool:
    """A first or last name of Philter's dictionaries (any case), not a word of
    :data:`_NOT_FIRST_NAME`."""
    from twinlab.deid.vocabulary import _name_words

    w = word.lower().replace("’", "'")
    return w not in _NOT_FIRST_NAME and w in _name_words()[0]


#: Verbs of contact before a person ("called mary", "spoke with john", "visit from ray",
#: "lives with grace").
_CONTACT_VERB = (
    r"(?:called|phoned|paged|texted|messaged|e-?mailed|(?:spoke|talked|met|visited|consulted)"
    r"\s+(?:with|to)|seen\s+with|accompanied\s+by|visited\s+by|(?:a\s+)?visit\s+from"
    r"|(?:brought|driven)\s+(?:in\s+)?by|informed|notified|contacted|updated|reached"
    r"|left\s+(?:a\s+)?(?:message|msg|vm|voicemail)\s+(?:for|with)|discussed\s+with"
    # a housemate: "lives with mary", not "came with frank hematuria"
    r"|(?:lives|living|lived|stays|staying|resides|residing)\s+with)"
)
#: Lower-case words after a contact verb that Philter lists as first names but, there, are
#: pronouns, people by their role or words of time ("called him", "notified staff").
_NOT_A_CONTACT = frozenset(
    "him her them his hers their us me you back again today tonight tomorrow yesterday later"
    " home staff team family patient pt nurse doctor chaplain ems worker husband wife son"
    " daughter mother father brother sister friend neighbor neighbour caregiver guardian"
    " mom dad mama papa nana daddy mommy granny grandma grandpa"
    " pharmacy office clinic lab labs radiology security rapid response code"
    " january february march april june july august september october november december"
    " will may said says".split()
)


def _lower_first_name(word: str) -> bool:
    """A lower-case word that is a first name of Philter's dictionaries, no pronoun or role
    (:data:`_NOT_A_CONTACT`, :data:`_NOT_FIRST_NAME`)."""
    from twinlab.deid.vocabulary import _first_names

    w = word.lower()
    return w not in _NOT_A_CONTACT and w not in _NOT_FIRST_NAME and w in _first_names()


def _after_lower_first_name(text: str, start: int, end: int) -> bool:
    """Whether the word before a lower-case surname is a first name after a contact verb, and
    the surname one of Philter's names ("called mary rose": "rose" is hers)."""
    from twinlab.deid.vocabulary import _name_words

    word = text[start:end].lower()
    m = re.search(r"([a-z'’-]+)\s+$", text[max(0, start - 30) : start])
    return (
        m is not None
        and _lower_first_name(m.group(1))
        and word not in _NOT_A_CONTACT
        and re.fullmatch(_NOT_A_NAME, word) is None
        and word in _name_words()[0]
    )


def _role_name(text: str, start: int, end: int) -> bool:
    """Whether the capitalised words after a care role are a name: one of them a first or last
    name of Philter's dictionaries and no clinical word ("nurse Agnieszka Nowak", not "nurse
    Practitioner" nor "Doctor Visit")."""
    from twinlab.deid.vocabulary import _name_words

    names, safe = _name_words()
    words = [w.lower() for w in re.findall(r"[^\W\d_]{2,}", text[start:end])]
    if re.fullmatch(r"[A-Z][a-z]", text[start:end]):  # a short surname: "Nurse Ng", "Dr. Wu"
        return words[0] not in _SHORT_WORDS
    return (
        bool(words)
        and not re.fullmatch(_NOT_A_NAME, words[0])
        and any(w in names and w not in safe and w not in _NOT_FIRST_NAME for w in words)
    )


#: Two-letter words that follow a care role in a sentence ("nurse to call", "RN on duty"), no
#: surname; any other two-letter word written as a name after a role is one ("Nurse Ng").
_SHORT_WORDS = frozenset(
    "in on at to by of is it up go do no so as an or if we me my us he be am pm ok hi re vs"
    " iv im po pr sc sq np pa md do rn".split()
)


def _street_words(text: str) -> bool:
    """A street address: no word between the number and the suffix is a dose or a function
    word ("2 tabs per dr" is none). The town after a comma is not read: a Canadian province
    ("Hamilton ON") is no function word there."""
    street = text.split(",", 1)[0]
    return not any(w in _NOT_STREET for w in re.findall(r"[a-z]+", street.lower()))


#: Words before a bare ``n/n`` that make it a score, ratio, strength, fraction or setting, not
#: a month/day ("strength 4/5", "pain is 7/10", "GCS 14/15", "BiPAP 10/5", "x 2/7").
_RATIO_BEFORE = re.compile(
    r"\b(?:scores?|scored|scales?|gcs|apgars?|i?adls?|katz|berg|phq\W?\d*|gad\W?\d*|mmse|moca|nihss|ecog|nyha"
    r"|braden|morse|strength|motor|power|reflex(?:es)?|dtrs?|murmurs?|grades?|graded|rated"
    r"|rates?|rating|pain|bp|pressures?|ratios?|titers?|titres?|dilution|x|times|out|stage"
    r"|tanner|gravida|para|g\d|sats?|spo2|o2|fio2|vision|va|acuity|pupils?|perrla?|split"
    r"|tabs?|tablets?|took|take|takes|taking|give|given|positive|negative|cultures?|bottles?"
    r"|nodes?|doses?|fraction|hr|rr|pulses?|vent|peep|psv?|cpap|bipap|ipap|epap|settings?"
    r"|wnl|correct|answered|recalled|recall|items?|criteria|about|approx"
    r"|approximately|only|all|each|every|per)\b\W*(?:[\w+]+\W+){0,3}$"
)
#: Words after a bare ``n/n`` that make it a quantity, not a month/day ("2/3 tablets",
#: "4/5 in the left arm", "5/5 bilaterally", "2/7 ago" for two days).
_RATIO_AFTER = re.compile(
    r"\s*(?:of\b|tabs?\b|tablets?|caps?\b|capsules?|pills?|doses?|mg|mcg|ug|ml|cc|g\b|units?"
    r"|ns\b|normal\s+saline|strength|%|cups?|sat|saline|pain|murmur|in\s+(?:the\s+)?(?:right|left|r|l"
    r"|bilateral|both|all|upper|lower|each)\b|bilat|throughout|symmetric|positive|negative"
    r"|pos\b|neg\b|(?:blood\s+)?cultures?|bottles?|sets?|nodes?|lymph|vessels?|fingers?|points?|pts\b"
    r"|on\s+(?:the\s+)?scale|scale|score|correct|ago|x\b|times|mm|cm|power|motor|reflex|dtr"
    r"|grade|systolic|diastolic|holosystolic|sem\b|ejection|dilution|titer|nights?|hours?"
    r"|hrs?|days?|weeks?|wks?|months?|mos?|years?|yrs?|servings?|drinks?|packs?|ppd|items?"
    r"|words?|objects?|questions?|criteria|split|strip|slices?|pieces?|portions?|dose|rule"
    r"|mmhg|cmh2o|psi|bpm|beats|breaths|hpf|lpf|fields?"
    # a pain score's circumstance: "7/10 with movement", "3/10 at rest"
    r"|with\s+(?:movement|activity|exertion|ambulation|walking|coughing|palpation|rom\b)"
    r"|at\s+(?:rest|worst|best|baseline)\b)"
)


#: Words just before ``n/n at`` that make it a score or a dose ("pain 4/10 at rest", "rated
#: 7/10 at worst", "took 1/2 at bedtime"); fewer than :data:`_RATIO_BEFORE`: "was seen 5/6 at
#: 10:00" is a date.
_SCORE_BEFORE = re.compile(
    r"\b(?:pain|scores?|scored|scales?|rated|rating|vas|nrs|gcs|nihss|strength|power|motor"
    r"|took|take|takes|taking|give|given|gave)"
    r"\W+(?:(?:is|was|of|at|now|currently|level|intensity)\W+){0,2}$"
)


def _not_a_score(text: str, start: int, end: int) -> bool:
    """Whether ``n/n`` before "at" is no score: no score word (:data:`_SCORE_BEFORE`) before."""
    return _SCORE_BEFORE.search(text[max(0, start - 40) : start].lower()) is None


def _month_day_context(text: str, start: int, end: int) -> bool:
    """Whether a bare ``n/n`` reads as a month/day: no score word before, no unit after."""
    before = text[max(0, start - 48) : start].lower()
    return _RATIO_BEFORE.search(before) is None and _RATIO_AFTER.match(text.lower(), end) is None


#: A number in a coordinate: its degrees (the first number of each, signed).
_DEGREES = re.compile(r"[-+]?\d+(?:\.\d+)?")


def _coordinates(text: str) -> bool:
    """Whether the numbers of a coordinate are degrees: a latitude within 90, a longitude
    within 180 (a pair: the first is the latitude)."""
    if "°" in text or "º" in text or "'" in text or "′" in text:
        first = _DEGREES.match(text)
        return first is not None and abs(float(first.group())) <= 180
    values = [abs(float(v)) for v in _DEGREES.findall(text)]
    if len(values) >= 2:
        return values[0] <= 90 and values[1] <= 180
    return bool(values) and values[0] <= 180


#: Words before ", 93," that make the number an age: a person's name or a word for a person.
_PERSON_WORDS = frozenset(
    "patient pt man woman male female gentleman lady resident veteran widow widower he she"
    " grandmother grandfather grandma grandpa grandparent mother father mom mum dad husband"
    " wife spouse partner brother sister sibling son daughter aunt uncle cousin niece nephew"
    " grandson granddaughter stepmother stepfather neighbor neighbour friend caregiver".split()
)
#: The same words as an alternation (an age after "her brother is"), longest first.
_PERSON_WORD = "|".join(sorted(_PERSON_WORDS, key=len, reverse=True))
#: Relatives and household members, as an alternation ("TK's wife").
_KIN_WORD = (
    r"wife|husband|spouse|partner|mother|father|mom|mum|dad|son|daughter|brother|sister"
    r"|sibling|aunt|uncle|cousin|niece|nephew|grand(?:mother|father|son|daughter|ma|pa)"
    r"|fianc[ée]e?|girlfriend|boyfriend|caregiver|guardian|family"
)


def _after_a_person(text: str, start: int, end: int) -> bool:
    """Whether the word before ``, 93,`` is a name (Philter's dictionaries) or a person."""
    from twinlab.deid.vocabulary import _name_words

    m = re.search(r"([A-Za-z'’-]+)\s*[,(]\s*$", text[max(0, start - 40) : start])
    if m is None:
        return False
    word = m.group(1).lower()
    return word in _PERSON_WORDS or (m.group(1)[0].isupper() and word in _name_words()[0])


#: Place names that are also common or clinical words ("discharged to Home", "in Normal sinus
#: rhythm", "history of Lyme", "switched to Norco", "allergic to Mango"): the gazetteer leaves
#: them to the other place patterns, which need a residence verb, a state or a ZIP code ("moved
#: to Mobile").
_PLACE_ALSO_A_WORD = frozenset(
    "acme advance airport alpha antlers apex arcade aspen assumption atlantic axis basin"
    " battlefield bay beach bell bend bliss branch bright cache cactus calcium canadian canon"
    " carefree cascade celebration center central centre chaparral charity christmas citrus"
    " cocoa colon combine commerce concrete continental convent convoy corn cottonwood"
    " countryside crest defiance delta deposit downtown drain early eastside echo eclectic"
    " effort eminence empire emporium energy english enterprise equality excelsior experiment"
    " export faith fossil freedom friend friendly friendship gap gateway glide goldenrod grace"
    " granite grant grants green gypsum hackberry halfway harbor hickory hill holiday home"
    " homeland hometown hope hurricane imperial independence industry junction junior justice"
    " keys keystone lakeshore lakeside landing lantana larkspur lead liberty lyme mango many"
    " marathon marble mark marked marks mart media medulla mercy midtown midway minor mission"
    " mobile monument mulberry mustang narrows nice nitro norco normal north northside"
    " occidental okay omega onset opportunity orange orient pace page palmetto panhandle"
    " parachute paramount parkway parole peculiar pine pioneer plain plains plantation plateau"
    " plum point poplar portage portal post pound progress prospect rapids reading reform"
    " republic reserve reservoir rice rifle rodeo roundup rule saline salmon sandstone sandwich"
    " scenic scissors seaside section senior shoreline sisters snowflake south southside"
    " speedway spring spur stagecoach stamps staples star start startup strong sulphur sycamore"
    " tangent tanner tea thermal toast tomahawk tornado trail trial triangle union unity"
    " university uptown valley volcano wall walls walnut ward west westside white wilson wise"
    " worth".split()
)


#: Letters that no Unicode decomposition folds to ASCII ("Tromsø", "Łódź", "Reykjavík").
_FOLD = str.maketrans(
    {"ø": "o", "Ø": "O", "æ": "ae", "Æ": "AE", "ß": "ss", "ł": "l", "Ł": "L", "đ": "d",
     "Đ": "D", "ı": "i", "œ": "oe", "Œ": "OE", "þ": "th", "Þ": "Th", "ð": "d", "’": "'"}
)  # fmt: skip


def _fold(text: str) -> str:
    """``text`` in lower case, its accents and special letters folded to ASCII (``Tromsø`` ->
    ``tromso``), as the gazetteers write names."""
    if text.isascii():
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text.translate(_FOLD))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


@functools.cache
def _us_places() -> tuple[frozenset[str], frozenset[str]]:
    """The US places of ``us_places.csv`` (lower case) and the first words of their names."""
    return _gazetteer(_data_lines("us_places.csv"))


def _data_lines(name: str) -> list[str]:
    """The lines of a data file shipped beside this module, less its ``#`` comments."""
    from importlib.resources import files

    text = (files("twinlab.deid") / name).read_text(encoding="utf-8")
    return [line for line in text.splitlines() if line and not line.startswith("#")]


def _gazetteer(
    names: Iterable[str], drop: frozenset[str] = _PLACE_ALSO_A_WORD
) -> tuple[frozenset[str], frozenset[str]]:
    """Names of places (less ``drop``: common or clinical words) and the first words of
    their names."""
    kept = frozenset(names) - drop
    return kept, frozenset(n.split(" ", 1)[0] for n in kept)


@functools.cache
def _world_places() -> tuple[frozenset[str], frozenset[str]]:
    """Towns and cities outside the US (``world_places.csv``: GeoNames cities15000)."""
    return _gazetteer(_data_lines("world_places.csv"))


@functools.cache
def _countries() -> frozenset[str]:
    """Names of countries (``countries.csv``), lower case and folded to ASCII."""
    return frozenset(_data_lines("countries.csv"))


#: Words before a state's name that make a region of it ("West Texas", "Upstate New York").
_STATE_PARTS = (
    "north south east west northern southern eastern western central northeast northwest"
    " southeast southwest northeastern northwestern southeastern southwestern upstate"
    " downstate coastal"
).split()


@functools.cache
def _region_rows() -> tuple[tuple[str, str], ...]:
    """``(name, cue)`` of the named regions (``us_regions.csv``) and of the parts of states
    (``West Texas``, ``Upstate New York``: cue ``any``; not ``West Virginia``, a state)."""
    rows = [tuple(line.rsplit(",", 1)) for line in _data_lines("us_regions.csv")[1:]]
    states = [re.sub(r"\\s\+", " ", n) for n in _STATE_NAME.split("|")]
    parts = sorted({f"{d} {st}" for d in _STATE_PARTS for st in states} - set(states))
    return tuple(rows) + tuple((n, "any") for n in parts)  # type: ignore[return-value]


@functools.cache
def _regions() -> tuple[frozenset[str], frozenset[str]]:
    """Named regions smaller than a state and the first words of their names ("delta",
    "panhandle" included: :class:`PlacePattern` asks those for a locative word)."""
    return _gazetteer((n for n, _ in _region_rows()), drop=frozenset())


@functools.cache
def _regions_anywhere() -> frozenset[str]:
    """The regions that are places wherever they are written with capitals (cue ``any``)."""
    return frozenset(n for n, cue in _region_rows() if cue == "any")


#: A word of a place name in any alphabet (``Tromsø``; ``St.`` keeps its dot; a full stop after
#: the name is tried off).
_PLACE_TOKEN = re.compile(r"[^\W\d_](?:[^\W\d_]|['’-])*\.?")
#: A locative word just before a place ("in", "from", "near", "outside of", "in downtown").
_PLACE_BEFORE = re.compile(
    r"(?:\b(?P<p>in|from|near|outside(?:\s+of)?|around|to|towards?|into|of|at|via|through"
    r"|across|between|off)\s+(?:the\s+)?(?:(?:downtown|uptown|suburbs?\s+of|outskirts\s+of"
    r"|(?:city|town|village)\s+of|rural|(?:north|south|east|west)(?:ern)?)\s+)?"
    # the town after a telephone number or a business's name: "(tel. 0244 123 456, Accra)",
    # "employer: Golden Dragon Restaurant, Flushing"
    r"|\d{3,4}[ .-]\d{3,4},[ \t]+|(?-i:Restaurant|Inc\.?|LLC|Ltd\.?|Corp\.?|Company|Store"
    r"|Market|Bank|Diner|Cafe|Café|Bakery|Garage|Motors|Farms?|Mill|Factory|Warehouse),[ \t]+)$",
    re.IGNORECASE,
)
#: A locative word before a town abroad: :data:`_PLACE_BEFORE`'s, or a French or Spanish one
#: ("vit à Trois-Rivières", "vive en Sevilla", "originaria de Guadalajara", "près de Lyon").
_PLACE_BEFORE_ABROAD = re.compile(
    "(?:"
    + _PLACE_BEFORE.pattern.removesuffix("$")
    + r"|\b(?P<q>à|en|de|desde|hacia|vers|près\s+de|pres\s+de|cerca\s+de|proche\s+de)\s+)$",
    re.IGNORECASE,
)
#: A locative word or residence verb before a region ("on the Eastern Shore", "moved Upstate").
_REGION_BEFORE = re.compile(
    r"\b(?P<p>in|from|near|around|to|into|of|at|on|along|across|throughout|outside(?:\s+of)?"
    r"|lives?|living|lived|moved|moving|resides?|raised|stationed|back)\s+(?:the\s+)?"
    r"(?:(?:rural|(?:north|south|east|west)(?:ern)?)\s+)?$",
    re.IGNORECASE,
)
#: Words after a region's name that make it a clinical or common word ("Delta variant", "delta
#: wave", "Delta-9 THC", "Delta flight").
_REGION_NOT_AFTER = re.compile(
    r"[ \t]*-?[ \t]*(?:variants?|waves?|strains?|surge|air\s*lines?|airlines|flights?|agents?"
    r"|signs?|gap|checks?|hepatitis|virus|receptors?|agonists?|opioids?|t\b|9\b|thc|ratio"
    r"|value|score)",
    re.IGNORECASE,
)
#: Foods named after a town ("Dijon mustard", "Brussels sprouts"): no place.
_FOOD_AFTER = re.compile(
    r"[ \t]+(?:sprouts|mustard|sauce|pepper|cheese|wine|ham|sausage|lettuce|cabbage|salad)\b",
    re.IGNORECASE,
)


def _misspelt(words: str) -> str:
    """An alternation of ``words`` and their commonest typos: two neighbouring letters swapped
    ("lvies"), and one letter left out of words of 8 letters or more ("originaly")."""
    out: set[str] = set()
    for w in words.split():
        out.add(w)
        out.update(w[:i] + w[i + 1] + w[i] + w[i + 2 :] for i in range(len(w) - 1))
        if len(w) >= 8:
            out.update(w[:i] + w[i + 1 :] for i in range(len(w)))
    return "|".join(sorted(out, key=len, reverse=True))


#: Residence verbs, also misspelt ("pt lvies in biloxi").
_RESIDENCE_TYPO = _misspelt("lives lived living resides residing moved relocated originally")
#: Words before the locative word that make a lower-case place one ("grew up in biloxi").
_PLACE_VERB = re.compile(
    rf"\b(?:{_RESIDENCE_TYPO}|works?|working|worked|employed|job"
    r"|lives?|living|lived|resides?|residing|resided|moved|relocated|raised|grew\s+up|born"
    r"|native|hometown|stays?|staying|stayed|visiting|vacationing|vacationed|travel(?:l)?ed"
    r"|travel(?:l)?ing|drove|driving|came|comes|flew|arrived|transferred|transported|evacuated"
    r"|returned|commutes?|commuting|originally|hails|house|home|apartment|trailer"
    r"|farm(?:s|ing|ed)?|ranch(?:es|ing|ed)?)\b"
    r"[^.;:!?\n]{0,60}$",
    re.IGNORECASE,
)
#: Words after a place that name it as one: its county, a school or hospital there, its people.
_PLACE_AFTER = re.compile(
    r"[ \t]+(?:(?-i:County|Parish|Borough|Township|COUNTY|PARISH)\b"
    # a school or hospital of the town, maybe named further: "Tupelo Central High School"
    r"|(?-i:(?:[A-Z][\w'.-]*[ \t]+){0,2})(?:(?:High|Middle"
    r"|Junior\s+High|Elementary|Grade|Primary|Senior\s+High)(?:\s+School)?|Academy"
    r"|Community\s+College|College|Hospital|Medical\s+Center|Infirmary|Nursing\s+Home"
    r"|Police(?:\s+Department)?|Fire\s+Department|Public\s+Library"
    r"|(?P<people>native|natives|resident|residents|area)"
    # a local office or landmark: "the Biloxi fire chief", "the Biloxi Lighthouse mural"
    r"|(?:fire|police)\s+(?:chief|station|department|officer)|sheriff|mayor|city\s+council"
    r"|school\s+(?:board|district)|lighthouse|courthouse|city\s+hall|airport|harbou?r|marina"
    r"|casino|cemetery|post\s+office|public\s+schools|church)\b)",
    re.IGNORECASE,
)


#: Lower-case words inside a place's name ("Stratford upon Avon", "San Miguel de Allende").
_PLACE_PARTICLES = frozenset("of the on upon de del la le les da do di du am an sur".split())


def _place_case(words: list[str], prep: str | None) -> str | None:
    """How the words of a place are written: ``"title"``, ``"caps"`` (an all-caps note: the
    locative word before in capitals too) or ``"lower"``; None for anything else."""
    if all(w[0].isupper() or w in _PLACE_PARTICLES for w in words):
        if not any(w.isupper() for w in words):
            return "title"
        if all(w.isupper() and len(w) >= 3 for w in words):
            return "caps" if prep is None or prep.isupper() else None
        return "title" if all(not w.isupper() or len(w) <= 3 for w in words) else None
    return "lower" if all(w.islower() for w in words) else None


@dataclass(frozen=True)
class PlacePattern(PhiPattern):
    """Towns, cities and regions of a gazetteer, in context.

    By default the US towns and cities of ``us_places.csv`` (GeoNames); ``places`` names
    another gazetteer (``world_places.csv``: towns abroad; ``us_regions.csv``: named regions).
    A name is a place after a locative word (``a house in Biloxi``, ``drove from
    Hattiesburg``, ``IN BILOXI`` in an all-caps note) or before its county, a school, a
    hospital or its people (``Biloxi High School``, ``a Tupelo native``); in lower case only
    after a residence or travel verb or before its county, a school or a landmark (``grew up
    in biloxi``, ``biloxi high school``). Names that are also common or
    clinical words (:data:`_PLACE_ALSO_A_WORD`), eponyms (``of Lyme disease``) and names
    before a word of ``not_after`` (``Delta variant``, ``Dijon mustard``) are left alone;
    names of ``anywhere`` (``the Inland Empire``) are places wherever they are capitalised.
    """

    #: the gazetteer: its names (lower case, folded to ASCII) and their first words
    places: Callable[[], tuple[frozenset[str], frozenset[str]]] = _us_places
    #: the words just before a name that make it a place (group ``p``: the locative word)
    before: re.Pattern[str] = _PLACE_BEFORE
    #: words right after a name that make it no place
    not_after: re.Pattern[str] | None = _FOOD_AFTER
    #: names that are places wherever they are written with capitals
    anywhere: Callable[[], frozenset[str]] | None = None

    def finditer(self, text: str) -> Iterator[tuple[str, int, int]]:
        """Yield ``(kind, start, end)`` of each place name in context."""
        names, first = self.places()
        tokens = list(_PLACE_TOKEN.finditer(text))
        seen: set[str] = set()
        others: list[tuple[int, int, str]] = []
        i = 0
        while i < len(tokens):
            found = self._longest(text, tokens, i, names, first)
            if found is None:
                i += 1
                continue
            n, end, key = found
            start = tokens[i].start()
            words = [t.group().rstrip(".") for t in tokens[i : i + n]]
            in_context = self._in_context(text, start, end, words, key)
            if in_context:
                seen.add(key)
                yield self.kind, start, end
            else:
                others.append((start, end, key))
            i += n if in_context else 1
        # a place named once in context is that place at every mention ("lives in asheville
        # ... a librarian at unc asheville"), but for names that are also words and eponyms
        # ("lives in Ames ... Ames test negative")
        from twinlab.deid.engine import _EPONYM_AFTER, _EPONYM_AFTER_ALONE

        for start, end, key in others:
            if (
                key in seen
                and key not in _PLACE_ALSO_A_WORD
                and len(key) >= 4
                and _EPONYM_AFTER.match(text, end) is None
                and _EPONYM_AFTER_ALONE.match(text, end) is None
                and (self.not_after is None or self.not_after.match(text, end) is None)
            ):
                yield self.kind, start, end

    def _in_context(self, text: str, start: int, end: int, words: list[str], key: str) -> bool:
        """Whether the gazetteer name ``key`` at ``text[start:end]`` is a place there."""
        from twinlab.deid.engine import _ANATOMY_OF, _EPONYM_AFTER

        if _ANATOMY_OF.search(text, max(0, start - 20), start):  # "circle of Willis"
            return False
        before = self.before.search(text, max(0, start - 40), start)
        prep = (before.groupdict().get("q") or before.group("p")) if before else None
        case = _place_case(words, prep)
        if (
            case is None
            or _EPONYM_AFTER.match(text, end) is not None
            or (self.not_after is not None and self.not_after.match(text, end) is not None)
        ):
            return False
        if case == "lower":  # "grew up in biloxi", "biloxi high school"
            after = _PLACE_AFTER.match(text, end)
            return (after is not None and after.group("people") is None) or (
                before is not None
                and _PLACE_VERB.search(text, max(0, before.start() - 80), before.end()) is not None
            )
        return (
            before is not None
            or _PLACE_AFTER.match(text, end) is not None
            or (self.anywhere is not None and key in self.anywhere())
        )

    @staticmethod
    def _longest(
        text: str, tokens: list[re.Match[str]], i: int, names: frozenset[str], first: frozenset[str]
    ) -> tuple[int, int, str] | None:
        """``(words, end, name)`` of the longest gazetteer name starting at token ``i``."""
        head = _fold(tokens[i].group())
        if head not in first and head.rstrip(".") not in first:
            return None
        best = None
        key = ""
        for j in range(i, min(i + 5, len(tokens))):
            tok = tokens[j]
            if j > i and text[tokens[j - 1].end() : tok.start()] not in (" ", "\t"):
                break
            word = _fold(tok.group())
            bare = word.rstrip(".")  # "St." keeps its dot, "Biloxi." loses the full stop
            for form, end in ((word, tok.end()), (bare, tok.start() + len(bare))):
                name = key + " " + form if key else form
                if name in names:
                    best = (j - i + 1, end, name)
                    break
            key = key + " " + word if key else word
        return best


#: The words after a town's comma that may name its country ("Xalapa, Mexico", "Leeds, United
#: Kingdom").
_COUNTRY_WORDS = re.compile(r",[ \t]+((?:[^\W\d_][\w'’.-]*)(?:[ \t]+[^\W\d_][\w'’.-]*){0,3})")


def _before_a_country(text: str, start: int, end: int) -> bool:
    """Whether the capitalised words at ``text[start:end]`` come before a country's name
    (``countries.csv``): the words are its town."""
    m = _COUNTRY_WORDS.match(text, end)
    if m is None:
        return False
    words = _fold(m.group(1)).rstrip(".").split()
    return any(" ".join(words[:n]).rstrip(".,") in _countries() for n in range(1, len(words) + 1))


#: State codes that are clinical abbreviations too: "Lung CA" (cancer), "Anterior MI", "5000
#: units SC", "2L NC", "under GA", "Lasix DC", "Peds ID", "cardiac CO", "VA clinic".
_STATE_ALSO_CLINICAL = frozenset("CA MI SC NC GA DC ID CO VA NE AL DE IA".split())
_STATE_AFTER = re.compile(r"(,?)[ \t]+([A-Z]{2})\b(?:[ \t]*(\d{5}))?")


def _town_before_state(text: str, start: int, end: int) -> bool:
    """Whether capitalised words before a state are its town: before a code that is also a
    clinical abbreviation (:data:`_STATE_ALSO_CLINICAL`), only with a comma between, a ZIP
    code after or a town of the gazetteer ("Fresno CA"; not "Lung CA", "Anterior MI")."""
    m = _STATE_AFTER.match(text, end)
    if m is None or m.group(2) not in _STATE_ALSO_CLINICAL or m.group(1) or m.group(3):
        return True
    return _fold(text[start:end]) in _us_places()[0]


#: A label before a list of ages ("Ages: pt 91, spouse 88"), on the same line.
_AGES_LABEL = re.compile(r"\bages?\b\s*(?:[:=-]|of\b)[^\n]{0,60}$", re.IGNORECASE)


def _after_ages_label(text: str, start: int, end: int) -> bool:
    """Whether an "Ages:" label comes before a person's number on its line."""
    return _AGES_LABEL.search(text, max(0, start - 80), start) is not None


#: The PHI patterns (see the module docstring).
#: Words before a person's initials: a care role, a title, a relation, "Pt", "by", "cc".
_INITIALS_AFTER = (
    r"nurse|rn|np|pa|dr|doctor|pt|patient|mr|mrs|ms|miss|tech|technician|per|by|cc|attending"
    r"|resident|fellow|son|daughter|wife|husband|mother|father|brother|sister|spouse|partner"
    # imaging and laboratory staff who sign with initials ("TECHNOLOGIST: J.Q.R.")
    r"|technologist|technician|radiographer|sonographer|histotechnologist|pathologist"
    r"|pharmacist|scribe|transcriptionist"
)
#: Dotted abbreviations of clinical words, never initials ("given by I.V.", "with P.O. intake").
_NOT_INITIALS = frozenset(
    "I.V. P.O. I.M. S.C. S.L. P.R. N.G. O.D. O.S. O.U. A.M. P.M. M.D. R.N. D.O. N.P. P.A. P.T."
    " O.T. E.R. E.D. U.S. U.K. N.B. Q.D. B.I.D. T.I.D. Q.I.D. P.R.N. H.S. N.P.O. D.N.R. I.C.U."
    " O.R. E.M.S. G.I. I.D. C.T. M.R.I. E.K.G. E.C.G. C.X.R. U.A. B.P. H.R. R.R. O.B. G.P. D.O.B."
    " S.O.B. C.P.R. W.B.C. R.B.C. N.S. L.R. E.M.T.".split()
)


def _initials(value: str) -> bool:
    """Whether ``value`` (``T.W.``, ``A. B.``, ``JS/km``) is a person's initials, not a
    dotted clinical abbreviation (:data:`_NOT_INITIALS`)."""
    return value.replace(" ", "").replace("\t", "").upper() not in _NOT_INITIALS


#: Words before "Surgery" or "Health Centre" that make a department or a kind of surgery,
#: not a general practice's name ("Vascular Surgery", "Day Surgery", "Community Health Centre").
_NOT_A_PRACTICE = frozenset(
    "general vascular cardiac cardiothoracic thoracic plastic orthopaedic orthopedic colorectal"
    " neuro neurological paediatric pediatric day minor major oral dental maxillofacial breast"
    " hand spinal spine bariatric transplant trauma emergency robotic endocrine upper lower"
    " hepatobiliary urological urologic ophthalmic eye ent cosmetic reconstructive mohs same"
    " ambulatory outpatient inpatient elective urgent keyhole laparoscopic open previous prior"
    " recent post pre after before for of the a an and had has underwent needs needed"
    " requires required planned scheduled cataract hip knee heart back brain eye foot sinus"
    " gastric weight bypass cancer tumour tumor oncologic oncological surgical metabolic"
    " community primary rural mental public women's womens children's childrens student"
    " veterans federally qualified family group medical health care thyroid lung liver kidney"
    " renal colon bowel prostate bladder valve skin ear nose throat head neck joint shoulder"
    " ankle wrist hernia gallbladder appendix retinal jaw spinal cardiovascular vascular".split()
)


#: Words of a dose after "reg" (regular insulin: "REG 10 UNITS"), never of a plate.
_DOSE_WORD = re.compile(r"\b(?:units?|u|iu|mg|mcg|ml|kg|tabs?|caps?)\b", re.IGNORECASE)


def _plate_like(value: str) -> bool:
    """Whether ``value`` after "reg" is a plate (letters and digits: ``KX21 ABC``), not a dose
    of regular insulin (``10 UNITS``)."""
    return (
        any(c.isdigit() for c in value)
        and any(c.isalpha() for c in value)
        and _DOSE_WORD.search(value) is None
    )


def _a_person_name(value: str) -> bool:
    """Whether ``"Surname, Given"`` after a label holds a person name of Philter's dictionaries
    (``SUMMER, RAINE``), not clinical words (``Patient: Stable, Alert``)."""
    from twinlab.deid.vocabulary import _name_words

    names = _name_words()[0]
    return any(w.lower() in names for w in re.findall(r"[A-Za-z'’-]+", value))


#: Words before a practice's name that say where someone is registered or was seen.
_PRACTICE_BEFORE = re.compile(
    r"\b(?:at|from|to|with|gp|practice|registered|the)\W{0,3}$", re.IGNORECASE
)


#: A word of an all-caps practice's name: not the note's own words before it ("SEEN AT").
_CAPS_WORD = (
    r"(?!(?:SEEN|FROM|WITH|THE|AND|LIVES|NEAR|REFERRED|VISITED|ATTENDS|REGISTERED|NEEDS)\b)"
    r"[A-Z]{3,}"
)


def _a_practice(text: str, start: int, end: int) -> bool:
    """Whether the capitalised words ``text[start:end]`` before "Surgery" or "Health Centre"
    name a practice (``Wrenfield``, ``at Riverside``), not a specialty, an operation or a
    sentence's first words (``Vascular``, ``Cataract``, ``Needs Surgery``).

    A word no clinical word list holds (:data:`_NOT_A_PRACTICE`, Philter's whitelist) or a
    name of Philter's dictionaries makes a name; English words alone (``Riverside``) only after
    a word that introduces a place (``at``, ``from``, ``GP``: :data:`_PRACTICE_BEFORE`).
    """
    from twinlab.deid.vocabulary import _name_words

    words = [w.lower() for w in text[start:end].split()]
    if all(w in _NOT_A_PRACTICE for w in words):
        return False
    names, clinical = _name_words()
    if any(w in names or w not in clinical for w in words):
        return True
    return (
        _PRACTICE_BEFORE.search(text[max(0, start - 20) : start]) is not None
        or _ADDRESS_AFTER_PRACTICE.match(text, end) is not None
    )


#: Words right before a practice whose noun is in lower case ("at Stonebridge surgery"): a
#: place's introduction, not "the" or "had" ("after the Whipple surgery" names an operation).
_AT_PRACTICE = re.compile(r"\b(?:at|from|gp|registered[ \t]+(?:at|with))[ \t]+$", re.IGNORECASE)


def _a_practice_in_lower_case(text: str, start: int, end: int) -> bool:
    """Whether the capitalised words ``text[start:end]`` before a lower-case "surgery" or
    "health centre" name a practice: after "at" or "from" (:data:`_AT_PRACTICE`), and a
    practice by :func:`_a_practice` (no specialty, no operation)."""
    return _AT_PRACTICE.search(text[max(0, start - 20) : start]) is not None and _a_practice(
        text, start, end
    )


#: The practice's noun, then its street address ("Riverside Surgery, 14 Kings Road"): the
#: words before a street line name an organisation or a place.
_ADDRESS_AFTER_PRACTICE = re.compile(
    r"[ \t]+(?:Surgery|Medical[ \t]+Practice|Group[ \t]+Practice|Family[ \t]+Practice"
    r"|Health[ \t]+Cent(?:re|er)|Medical[ \t]+Cent(?:re|er))[ \t]*,[ \t]*"
    r"(?:(?:Unit|Suite|Flat)[ \t]+\w+[ \t]*,?[ \t]*)?\d{1,5}[A-Za-z]?,?(?:[ \t]+[A-Z][\w'’-]*){1,3}"
    r"[ \t]+(?:Street|St|Road|Rd|Lane|Ln|Avenue|Ave|Drive|Dr|Close|Way|Crescent|Place|Terrace"
    r"|Gardens|Grove|Court|Row|Boulevard|Blvd|Square|Parade|Walk|Highway|Hwy)\b",
    re.IGNORECASE,
)

#: Words of a place that an all-caps facility abbreviation follows ("VALLEY MED", "LAKESIDE
#: HOSP", "RIVER CTR"): the features of a landscape that name hospitals and clinics (not
#: "COUNTY", "CITY" or "NORTH": a generic "COUNTY HOSP" names none).
_PLACE_ELEMENT = frozenset(
    "valley river riverside riverview lake lakeside lakeview mountain mount hill hills hillside"
    " park bay creek springs spring harbor harbour coast coastal bayside brook brookside meadow"
    " meadows forest woods wood grove oak oaks pine pines cedar maple willow ridge highland"
    " highlands heights prairie canyon mesa summit shore beach island port haven glen dale"
    " vista crest falls mercy".split()
)


#: Words around a numbered station that make it a fire, police or ambulance station.
_EMERGENCY_WORD = re.compile(
    r"\b(?:fire|police|ambulance|ems|rescue|sheriff|crews?|medics?|paramedics?|firefighters?"
    r"|officers?|responders?|dispatch\w*)\b",
    re.IGNORECASE,
)


def _emergency_station(text: str, start: int, end: int) -> bool:
    """Whether ``Station 42`` at ``text[start:end]`` is a fire, police or ambulance station
    (an emergency word in it or within its sentence's 60 characters either side), not a
    nurses' or a blood-drawing station."""
    sentence = re.split(r"[.;\n]", text[max(0, start - 60) : start])[-1] + text[start:end]
    sentence += re.split(r"[.;\n]", text[end : end + 60])[0]
    return _EMERGENCY_WORD.search(sentence) is not None


#: A word of an all-caps facility's name: not the note's own words before it.
_FACILITY_WORD = (
    r"(?!(?:SEEN|FROM|WITH|THE|AND|FOR|TO|AT|IN|OF|TRANSFER\w*|SENT|ADMITTED|DISCHARGED"
    r"|REFERRED|NEAR|LIVES|VISITED|ATTENDS|FOLLOWS)\b)[A-Z]{3,}"
)


def _facility_place(text: str, start: int, end: int) -> bool:
    """Whether the all-caps words before a facility abbreviation (``VALLEY`` of ``VALLEY MED``)
    name a place: their last is a word of a place (:data:`_PLACE_ELEMENT`) or a town of a
    gazetteer, not a specialty (``GEN MED``, ``INT MED``, ``ANTICOAG CLINIC``)."""
    last = _fold(text[start:end].split()[-1])
    return last in _PLACE_ELEMENT or last in _us_places()[0] or last in _world_places()[0]


#: Pronouns and words for a person that an age over 89 follows as its subject ("she's 94",
#: "her brother will be ninety-four"): :data:`_PERSON_WORDS` and the pronouns.
_SUBJECT_WORDS = _PERSON_WORDS | frozenset("she he they who".split())


#: The subject before the verb of an age ahead or nearly reached ("Cyril is pushing",
#: "she'll be", "Mrs. Agnes Fairclough will be").
_AGE_VERB_BEFORE = re.compile(
    r"(?<![A-Za-z'’-])([A-Za-z][A-Za-z'’-]*?)(?:['’](?:ll|s))?\.?\s+"
    r"(?:(?:will|would|is|was|be|have|been|now|pushing|approaching|nearly|almost|going|on"
    r"|close|to|well|over|about|has|had|reached)\s+)*$"
)


def _person_subject(text: str, start: int, end: int) -> bool:
    """Whether the word before "will be", "is pushing"... (the verb before an age over 89) is a
    person: a pronoun or word for a person (:data:`_SUBJECT_WORDS`) or a capitalised name of
    Philter's dictionaries that no clinical word is ("Cyril is pushing 100"; not "Temp is
    almost 100", "HR will be 95")."""
    from twinlab.deid.vocabulary import _name_words

    m = _AGE_VERB_BEFORE.search(text, max(0, start - 60), start)
    if m is None:
        return False
    word = m.group(1)
    lower = word.lower()
    if lower in _SUBJECT_WORDS:
        return True
    names, clinical = _name_words()
    return word[:1].isupper() and not word.isupper() and lower in names and lower not in clinical


#: An age over 89 and what may follow it in a sentence (not a unit, a percentage, a ratio).
_AGE_END = (
    r"(?=\s*(?:[.,;:!?)](?!\d)|$|\s+(?:and|but|with|who|today|now|when|at|in|on|by|next|this"
    r"|soon|or|so|tomorrow|years?|yrs?|y/?o|yo|going)\b))"
)


#: Words after a number that make a residence verb's object no street ("moved to 2 hourly
#: checks", "lives at 3 different places", "moved to 4 north", "moved to 5 west ward").
_NOT_A_RESIDENCE = frozenset(
    "hourly daily weekly different other separate places times ward unit units icu ccu picu"
    " nicu micu sicu pacu floor bed beds room tower wing stepdown telemetry tele med surg rehab"
    " obs observation oncology cardiology patients pts years yrs months weeks days hours"
    " locations homes nursing care assisted l lpm nc o2 fio2 liters litres".split()
)


def _residence_street(value: str) -> bool:
    """Whether a residence verb's number and words are a street without its suffix: two words
    or more, one of 4 letters or more, none a word of :data:`_NOT_A_RESIDENCE` or
    :data:`_NOT_STREET` (a dose, a ward, oxygen: "moved to 2 L NC")."""
    words = re.findall(r"[a-z]+", value.lower())
    return (
        len(words) >= 2
        and any(len(w) >= 4 for w in words)
        and not any(w in _NOT_A_RESIDENCE or w in _NOT_STREET for w in words)
    )


def _iban(value: str) -> bool:
    """Whether ``value`` is an IBAN by its ISO 13616 check digits (mod 97 == 1)."""
    code = re.sub(r"\s", "", value).upper()
    if not 15 <= len(code) <= 34:
        return False
    digits = "".join(str(int(c, 36)) for c in code[4:] + code[:4])
    return int(digits) % 97 == 1


#: Words of a place of worship's name that name a faith or denomination, not one congregation
#: ("First Baptist Church", "the Catholic Church"; "Greater New Hope Missionary Baptist
#: Church" is one).
_FAITH_WORDS = frozenset(
    "the a an our her his their first second third united catholic roman baptist southern"
    " methodist lutheran episcopal presbyterian pentecostal orthodox greek russian coptic"
    " evangelical missionary reformed anglican adventist seventh-day seventh day free african"
    " ame zion holiness apostolic christian community bible non-denominational nondenominational"
    " unitarian universalist latter-day saints jehovah's mormon hindu sikh buddhist jewish reform"
    " conservative islamic muslim local family church".split()
)


#: A word that makes capitalised words a company: a legal form or a trading word.
_COMPANY_WORD = re.compile(
    r"\b(?:LLC|L\.L\.C\.|Inc|Corp|Corporation|Co|Company|Ltd|LLP|PLLC|Services|Industries"
    r"|Enterprises|Partners|Associates|Holdings|Logistics|Construction|Manufacturing"
    r"|Technologies)\b"
)


def _a_job_employer(text: str, start: int, end: int) -> bool:
    """Whether the capitalised words after a job are its employer, not a condition: the first
    is no eponym before its noun nor a listed eponym or gene ("a caregiver for Parkinson
    patients", "a nurse for BRCA2 carriers"), and after "with" ("a nurse with COPD") no
    clinical word of Philter's whitelist nor a name, unless it holds "&" ("a lineman with
    PG&E")."""
    from twinlab.deid.engine import _GENETIC, _clinical_name
    from twinlab.deid.vocabulary import _name_words

    first = re.match(r"[\w'&-]+", text[start:end])
    word = first.group() if first else ""
    if _clinical_name(text, word, start + len(word)) or _GENETIC.fullmatch(word):
        return False
    m = re.search(r"\b(at|for|with|by)\s+$", text[max(0, start - 8) : start], re.IGNORECASE)
    if m is None or m.group(1).lower() != "with" or "&" in word:
        return True
    if _COMPANY_WORD.search(text[start:end]):  # "a roofer with Apex Roofing LLC"
        return True
    names, clinical = _name_words()
    return word.lower() not in clinical and word.lower() not in names


def _a_congregation(text: str, start: int, end: int) -> bool:
    """Whether the capitalised words before "Church", "Mosque", "Temple"... name one
    congregation: a word of them is no word of a faith (:data:`_FAITH_WORDS`)."""
    return any(w.lower() not in _FAITH_WORDS for w in text[start:end].split())


#: The town after an address and its comma ("12 Elm St, Apt 3C, Pasadena", "PO Box 88,
#: Viper"): up to three capitalised words, not a sentence's first word.
_TOWN_AFTER = (
    r"(?:\s*,\s*(?-i:(?!(?:The|He|She|They|Patient|Pt|And|But|Then|Per)\b)"
    # a full stop after a word of 3 lower-case letters or more ends the sentence, and the
    # town ("Lake Charles. Dry weight"); one after an abbreviation does not ("St. Louis")
    r"[A-Z][\w'.-]*(?:(?<![a-z]{3}\.)[ \t]+[A-Z][\w'.-]*){0,2}))?"
)


PATTERNS: tuple[PhiPattern, ...] = (
    PhiPattern("url", _p(r"\b(?:https?|ftp)://[^\s<>\"']+|\bwww\.[^\s<>\"']+")),
    # a local part of at most 64 characters (RFC 5321): linear time on long tokens
    # a Fediverse handle (``@jdoe@mastodon.social``) goes whole, its leading "@" too
    PhiPattern("email", _p(r"(?:(?<![\w@])@)?[\w.+'-]{1,64}@[\w-]+(?:\.[\w-]+)+")),
    PhiPattern(  # a short link without its scheme: "bit.ly/abc123", "t.co/x1Y", "goo.gl/q"
        "url",
        _p(
            r"(?<![\w@.-])(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+"
            r"(?:ly|gl|gd|me|to|be|co|link|page|app)/[\w-][^\s<>\"']*"
        ),
    ),
    PhiPattern(
        "url",
        _p(
            rf"(?<![\w@.-])(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+{_TLD}\b(?::\d+)?"
            r"(?:/[^\s<>\"']*)?"
        ),
    ),
    PhiPattern(
        "ip",
        _p(
            r"(?<!\d)(?<!\d\.)(?:(?:25[0-5]|2[0-4]\d|[01]?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|[01]?\d?\d)(?!\.?\d)"
        ),
    ),
    PhiPattern(
        "ip", _p(r"(?<![\w:])[0-9a-f]{0,4}(?::[0-9a-f]{0,4}){2,7}(?:%\w+)?(?![\w:])"), _is_ipv6
    ),
    PhiPattern("ssn", _p(r"(?<!\d)\d{3}([- ])\d{2}\1\d{4}(?!\d)")),
    PhiPattern("zip", _p(r"(?<!\d)\d{5}[-\u2013]\d{4}(?!\d)")),  # an en dash too: "21201–1595"
    PhiPattern(  # an institution after its field's label: "InstitutionName: Lakeshore Imaging"
        "address",
        re.compile(
            r"(?i:\b(?:institution|facility|hospital|organi[sz]ation|station)[ \t_]?name"
            r"|\binstitution(?:[ \t_]?address)?)[ \t]*[:=][ \t]*"
            r"(?P<v>[^\W_][^\n|;]{1,80}?)[ \t]*(?=[\n|;]|$)"
        ),
        hint=_p(r"institution|name\s*[:=]"),
    ),
    PhiPattern(  # a ZIP code after a town's state: "Dubuque IA 52001", "Peoria, IL 61602"
        "zip",
        re.compile(
            rf"\b[A-Z][A-Za-z'.-]+,?[ \t]+{_STATE_CODE}[ \t]+(?P<v>\d{{5}})"
            r"(?![\w-]|[.,]\d)"
        ),
    ),
    PhiPattern(  # a ZIP code's first three digits, labelled: "ZIP3 592", "3-digit ZIP 036"
        "zip",
        _p(
            r"\b(?:zip-?3|zip\s+prefix|(?:3|three)-?\s*digit\s+zip(?:\s+code)?)\s*[:#]?\s*"
            r"(?P<v>\d{3})(?!\d)"
        ),
        hint=_p(r"zip"),
    ),
    PhiPattern(
        "date",
        _p(
            # each alternative starts at a digit or at a word start: one test rejects the rest
            r"(?=\d|\b[a-z])(?:"
            r"(?<!\d)\d{4}[-/.](?:0?[1-9]|1[0-2])[-/.](?:0?[1-9]|[12]\d|3[01])"
            r"(?:[T ]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?(?!\d)"
            # one separator throughout ("4-6/10" is a pain score, not a date)
            r"|(?<![\d.])\d{1,2}(?P<sep>[-/.\u2013])\d{1,2}(?P=sep)(?:\d{4}|\d{2})(?!\d|\.\d)"
            # ranges of days: "March 4 and 9, 2021", "Mar 4-9", "4 to 9 March"
            rf"|\b{_MONTH}\.?\s+\d{{1,2}}(?:st|nd|rd|th)?{_DAY_RANGE}(?:,?\s+\d{{4}}\b)?"
            rf"|\b\d{{1,2}}(?:st|nd|rd|th)?{_DAY_RANGE}(?:\s+of)?[\s-]+{_MONTH}\b\.?"
            rf"|\b{_MONTH}\.?\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}}\b"
            rf"|\b\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH}\.?,?\s+\d{{4}}\b"
            rf"|\b{_MONTH}\.?,?\s+\d{{4}}\b"
            rf"|\b\d{{1,2}}[-\s]{_MONTH}[-\s]\d{{2,4}}\b"
            # without a year: "Mar 3rd", "March 3", "14 Feb", "3rd of March", "03/07"
            rf"|\b{_MONTH}\.?\s+\d{{1,2}}(?:st|nd|rd|th)?\b(?![:.]\d)"
            rf"|\b\d{{1,2}}(?:st|nd|rd|th)?(?:\s+of)?[\s-]+{_MONTH}\b\.?"
            r"|(?<![\d/.:-])(?:0[1-9]|1[0-2])/(?:0[1-9]|[12]\d|3[01])(?![\d/:-]|\.\d)"
            # "Mar-04-2021", "4.III.2021", spelled days, "March the 4th", holidays
            rf"|\b{_MONTH}[-/.]\d{{1,2}}[-/.]\d{{2,4}}\b"
            r"|(?<![\w.])\d{1,2}[./-](?:i{1,3}|iv|vi{0,3}|ix|xi{0,2})[./-]\d{2,4}\b"
            rf"|\b{_DAY_WORD}\s+(?:day\s+)?of\s+{_MONTH}\b\.?"
            # without "of", before a year: "Fourteenth March 2021" (not "the third March dose")
            rf"|\b{_DAY_WORD}\s+{_MONTH}\b\.?(?=,?\s+(?:19|20)\d{{2}}\b)"
            rf"|\b{_MONTH_NOT_MAY}\.?\s+(?:the\s+)?{_DAY_WORD}\b|(?-i:\b(?:May|MAY)\s+)"
            rf"(?:the\s+)?{_DAY_WORD}\b"
            rf"|\b{_MONTH}\.?\s+the\s+\d{{1,2}}(?:st|nd|rd|th)\b"
            # a weekday and a day of the month: "Sat 12th", "Tuesday the 4th"
            r"|\b(?:mon|tue|tues|wed|thu|thur|thurs|fri|sat|sun)(?:day)?\.?,?\s+(?:the\s+)?"
            r"(?:[1-9]|[12]\d|3[01])(?:st|nd|rd|th)\b"
            rf"|\b{_HOLIDAY}\b"
            # a season with its year: "spring 2021", "fall of '19", "winter 2020-21"
            r"|\b(?:spring|summer|fall|autumn|winter)\s+(?:of\s+)?(?:'\d{2}|(?:19|20)\d{2})"
            r"(?:[-/]\d{2,4})?\b"
            r")"
        ),
    ),
    PhiPattern(  # a day/month before a time ("seen 5/6 at 10:00"); not "pain 4/10 at rest"
        "date",
        _p(
            r"(?=\d)(?<![\d/.:-])(?:0?[1-9]|[12]\d|3[01])/(?:0?[1-9]|1[0-2])"
            r"(?=\s+(?:at|@)\b(?!\s+(?:rest|worst|best|baseline)\b))"
        ),
        context=_not_a_score,
    ),
    PhiPattern(  # month and year: "since 1/2021", "01-2021", "2021-03"
        "date",
        _p(
            r"(?=\d|\b[a-z])"  # each alternative starts at a digit or a word start
            r"(?<!dilution )(?<!titer )(?<!titre )(?<!ratio )"
            r"(?<![\d/.-])(?:0?[1-9]|1[0-2])/(?:19|20)\d{2}(?![\d/]|\.\d)"
            r"|(?<![\d/.-])(?:0[1-9]|1[0-2])-(?:19|20)\d{2}(?![\d-]|\.\d)"
            r"|(?<![\d/.-])(?:19|20)\d{2}-(?:0[1-9]|1[0-2])(?![\d-]|\.\d)"
            # with a dot: "10.2021", "2021.10"; unpadded only after a cue ("since 3.2021")
            r"|(?<![\w/.,-])(?:0[1-9]|1[0-2])\.(?:19|20)\d{2}(?!\d|\.\d)"
            r"|(?<![\w/.,-])(?:19|20)\d{2}\.(?:0[1-9]|1[0-2])(?!\d|\.\d)"
            r"|\b(?:on|since|until|till|dated|from|in|seen)\s+(?P<v>[1-9]\.(?:19|20)\d{2})(?!\d|\.\d)"
        ),
    ),
    PhiPattern(  # a bare month/day ("seen 2/14", "admitted 14/2"), not a score or fraction
        "date",
        _p(
            # a range "2/14-2/16" is two dates
            r"(?<![\w/.:+*|])(?<!(?<!\d\d\d|\d:\d)\d\s)(?<![^\d/]-)(?:0?[1-9]|1[0-2])/(?:0?[1-9]|[12]\d|3[01])"
            r"(?![\w/:+]|-(?!\d{1,2}/)|\.\d)"
            r"|(?<![\w/.:+*|-])(?<!(?<!\d\d\d|\d:\d)\d\s)(?!24/7\b)(?:1[3-9]|2\d|3[01])/(?:0?[1-9]|1[0-2])"
            r"(?![\w/:+-]|\.\d)"
        ),
        context=_month_day_context,
    ),
    PhiPattern(  # a day of the month without its month: "on the 14th", "the 3rd of the month"
        "date",
        _p(
            r"\b(?:the|on)\s+(?P<v>(?:[1-9]|[12]\d|3[01])(?:st|nd|rd|th))\b(?=\s+of\s+(?:the\s+|this\s+"
            r"|last\s+|next\s+|that\s+|each\s+|every\s+)?month\b|\s+(?:inst|ult|prox)\b"
            r"|\s*(?:[.,;:!?)]|$)|\s+(?:for"
            r"|at|when|with|to|in|we|he|she|they|i|was|is|but|after|before|as|because|where|so"
            r"|then|until|till|via|by|from|through|due|around|about|of\s+(?:this|last|next)\b)\b)"
            rf"|\bthe\s+(?P<v2>{_DAY_WORD})\b(?=\s+of\s+(?:the\s+|this\s+|last\s+|next\s+)?month\b)"
            rf"|\bon\s+the\s+(?P<v3>{_DAY_WORD})\b(?=\s*(?:[.,;:!?)]|$))"
        ),
    ),
    PhiPattern(  # ages listed after a label: "Ages: pt 91, spouse 88", "ages - mother 96"
        "age",
        _p(rf"\b(?:{_PERSON_WORD})\s*[:=-]?\s*(?P<v>{_AGE_NUM})\b(?![.,]?\d|\s*(?:%|/|[a-z]))"),
        context=_after_ages_label,
        hint=_p(r"\bages?\b"),
    ),
    PhiPattern(  # an age over 89 between commas after a name: "Frank Bush, 93, admitted"
        "age",
        # or at a sentence's end: "uncle Bartram, 92."
        _p(
            rf"[,(]\s*(?P<v>9\d|1[0-4]\d|{_AGE_WORD})\s*"
            r"(?:,|\)|[.;](?!\d)|(?=\s+(?:y|yo|yrs?|m|f)\b))"
        ),
        context=_after_a_person,
    ),
    PhiPattern(  # a birth year: over 89 it is an age ("born in 1925"); the patients table has it
        "date",
        _p(
            r"\b(?:born(?:\s+in)?|dob|d\.o\.b\.?|yob|year\s+of\s+birth|birth\s+year|b\.)"
            r"\s*[:#]?\s*(?P<v>(?:18|19|20)\d{2}|['’]\d{2})\b"
            # later in its clause: "Born the year of the Great Depression, 1929"
            r"|\bborn\b[^.;\n\d]{1,50}?(?P<v2>(?:18|19)\d{2})\b"
        ),
    ),
    PhiPattern(  # an age over 89 after the age then: "Age 89 at enrolment, now 90"
        "age",
        _p(
            r"\b(?:age[sd]?|turned|turns)\b[^.;\n]{0,40}?\b(?:now|currently|today)\s*[:=]?\s*"
            rf"(?:aged?\s+)?(?P<v>{_AGE_NUM}|{_AGE_WORD})\b(?![.,]?\d|\s*(?:%|/|[a-z]{{1,3}}\b(?<!yo)))"
        ),
        hint=_p(r"\b(?:now|currently|today)\b"),
    ),
    PhiPattern(  # a name as "Surname, Given" after its label: "ATTENDING: SUMMER, RAINE MD"
        "name",
        re.compile(
            r"(?i:\b(?:name|attending|provider|physician|pcp|gp|ordering|referring|consultant"
            r"|surgeon|resident|patient|pt|doctor|nurse|verified\s+by|signed\s+by)\s*:[ \t]*)"
            r"(?P<v>[A-Z][A-Za-z'’-]+,[ \t]*[A-Z][A-Za-z'’-]+(?:[ \t]+[A-Z]\.?(?![\w]))?)"
        ),
        _a_person_name,
    ),
    PhiPattern(  # an unpadded month/day after a word that introduces a date ("seen on 4/3")
        "date",
        _p(
            r"\b(?:on|since|until|till|dated|thru|through|dos|dob|starting|started|effective"
            r"|admitted|discharged|due|admit|admission|discharge|dc|d/c|visit|date)[:\s]\s*"
            r"(?P<v>(?<![\d/.:-])(?:(?:0?[1-9]|1[0-2])/(?:0?[1-9]|[12]\d|3[01])"
            r"|0[1-9]-(?:0[1-9]|[12]\d|3[01])))(?![\d/:-]|\.\d)"
            # a fraction: "started on 1/2 NS", "on 3/4 strength"
            r"(?!\s*(?:ns\b|normal\s+saline|tabs?\b|tablets?|strength|doses?\b|of\b|mg|ml|cc|units?"
            r"|cups?|pills?|%|saline|sat|times|x\b|days?|weeks?|hours?|hrs?|min(?:ute)?s?\b"
            r"|months?|years?|episodes?|l\b|lpm|liters?|litres?))"
        ),
    ),
    PhiPattern(
        "phone",
        _p(
            r"(?<![\w+])(?:\+?1[\s.-]?)?(?:\(\d{3}\)\s?|\d{3}[\s.-])\d{3}[\s.-]\d{4}(?!\d)"
            r"|(?<![\w+])(?:\+?1[\s.-]?)?\(\d{3}\)\s?\d{7}(?!\d)"  # "(617)5550177"
            r"|(?<![\w+/.])\d{3}/\d{3}/\d{4}(?![\w/])"  # "228/555/0193"
            r"|(?<![\w+])\+\d[\d\s().-]{6,}\d(?!\d)"
            # dialled abroad without the "+": "0044 20 7946 0958", "011 52 55 1234 5678"
            r"|(?<![\w+.,/-])(?:00|011)[\s.-]?[1-9][\d\s().-]{6,}\d(?!\d)"
            r"|(?<![\w.,/-])\d{3}[-.]\d{4}(?![\w.,/-]?\d)"
        ),
        _phone_digits,
    ),
    PhiPattern(  # a national number with its trunk 0: "07700 900123", "020 7946 0958"
        "phone",
        # a separator after the area code: an unbroken "0123456789" is a code (and a long number)
        _p(
            r"(?<![\w+.,/:-])0[1-9]\d{1,3}[\s-]\d{3,4}[\s-]?\d{3,4}(?![\w.,/:-]?\d)"
            # the area code in brackets: "(02) 9876 5432", "(0161) 496 0000"
            r"|(?<![\w.,/:-])\(0[1-9]\d{0,3}\)[ \t]?\d{3,4}[ \t-]?\d{3,4}(?![\w.,/:-]?\d)"
        ),
        _trunk_phone,
    ),
    PhiPattern(  # a vanity number: "1-800-FLOWERS", "800-GET-WELL", "call 555-HELP"
        "phone",
        re.compile(
            r"(?<![\w-])(?:1[-.\s]?)?\(?8(?:00|33|44|55|66|77|88)\)?[-.\s]"
            r"(?=[A-Z0-9-]*[A-Z])[A-Z0-9]{2,4}-?[A-Z0-9]{3,5}(?![\w-])"
            r"|(?i:\b(?:call|phone|tel|dial|text|ph)\b\W{0,3})(?P<v>\d{3}-(?=[A-Z0-9-]*[A-Z])"
            r"[A-Z0-9]{4}|\d{3}-[A-Z0-9]{3}-(?=[A-Z0-9]*[A-Z])[A-Z0-9]{4})(?![\w-])"
        ),
    ),
    PhiPattern(  # digits spelled out: "six one seven five five five zero one nine nine", and
        # read aloud in pairs: "oh seven seven double oh nine double one two three four"
        "phone",
        # a dictated "dash" between the groups: "four one two dash five five dash nine nine..."
        _p(rf"\b{_SPOKEN_DIGIT}(?:(?:[\s,-]+|\s+dash\s+){_SPOKEN_DIGIT}){{6,}}\b"),
    ),
    PhiPattern(  # the extension after a telephone number: "555-123-4567 ext. 89", "x123"
        "phone",
        _p(
            r"(?<=\d[-.\s]\d{4})\s*,?\s*(?P<v>(?:(?:ext|extn|extension)\.?\s*|x\s?)\d{1,6})(?!\w)"
            r"|(?<=\d{4})\s*,?\s*(?P<v2>(?:ext|extn|extension)\.?\s*\d{1,6})(?!\w)"
        ),
    ),
    PhiPattern(  # SSN masked but for its last 4, or labelled in any grouping ("SSN ending 6789")
        "ssn",
        _p(
            r"(?<![\w*#])[x*#]{3}[- ]?[x*#]{2}[- ]?\d{4}(?!\d)"
            r"|\b(?:ssn|ss#|ss\s+no\.?|soc(?:ial)?\.?\s+sec(?:urity)?\.?"
            rf"(?:\s+{_NUMBER_WORDS})?)(?:\s+(?:is|was))?\s*[:#]*\s*"
            r"(?:(?:ending|ends)\s+(?:in|with)\s+|last\s+(?:4|four)(?:\s+digits)?\s*[:#]?\s*"
            r"(?:(?:is|are|of)\s+)?)?(?P<v>\d(?:[\d -]{2,9}\d)?)(?!\d)"
            r"|\blast\s+(?:4|four)(?:\s+digits)?\s+of\s+(?:the\s+|her\s+|his\s+|their\s+)?"
            rf"(?:ssn|social(?:\s+security)?(?:\s+{_NUMBER_WORDS})?)\s*[:#]?\s*"
            r"(?:(?:is|are|was)\s+)?(?P<v2>\d{4})\b"
        ),
    ),
    PhiPattern(  # the last digits of a card or account: "credit card ending 4321"
        "mrn",
        _p(
            r"\b(?:card|cc|visa|mastercard|amex|account|acct|a/c|policy|member\s+id|id)\s+"
            r"(?:no\.?\s+|number\s+|#\s*)?"
            r"(?:ending|ends)\s+(?:in\s+|with\s+)?[:#]?\s*(?P<v>\d{3,6})\b"
        ),
    ),
    PhiPattern(  # a network path names a host and often a user: "\\\\fileserver01\\scans\\x.pdf"
        "url",
        _p(r"\\\\[\w.$-]+(?:\\[^\s\\]+)*|\b[a-z]:\\(?:users|documents and settings)\\[^\s\\]+"),
    ),
    PhiPattern(  # an image file (a photograph, full-face ones included): "DSC_0042.JPG"
        "photo",
        _p(
            r"(?<![\w.-])[\w.-]*[a-z0-9]\.(?:jpe?g|png|heic|heif|gif|tiff?|bmp|webp|raw|dng"
            # a video clip shows the face as a photograph does: "PXL_20230301_184455.mp4"
            r"|mp4|mov|m4v|avi|3gp|mkv|wmv)\b"
            # a camera's file number without its extension: "IMG 2203", "DSC_0042", "PXL-88"
            r"|\b(?:img|dsc|dscn|dscf|pxl|dcim)[_ -]?\d{2,}\b"
        ),
    ),
    PhiPattern(  # a payment card number in groups: "4111 1111 1111 1111", Amex 4-6-5
        "account",
        _p(r"(?<![\d.,-])(?:\d{4}([ -])\d{4}\1\d{4}\1\d{4}|\d{4}([ -])\d{6}\2\d{5})(?![\d,]|\.\d)"),
        _card_digits,
    ),
    PhiPattern(  # a MAC address (a device identifier)
        "device",
        _p(r"(?<![\w:.-])[0-9a-f]{2}([:-])[0-9a-f]{2}(?:\1[0-9a-f]{2}){4}(?![\w:.-])"),
    ),
    PhiPattern(  # a social-media handle: with a digit or "_", or named as one
        "handle",
        _p(
            r"(?=@|\b[a-z])"  # each alternative starts at an "@" or a word start
            r"(?:(?<![\w.@/])@(?=[\w.]*[\d_])[a-z0-9_][\w.]{2,29}(?<!\.)"
            rf"|(?<![\w.@/])@[a-z][\w.]{{2,29}}(?<!\.)(?=\s+(?:on|via|at)\s+{_SOCIAL}\b)"
            rf"|\b{_SOCIAL}\b\s*(?:(?:account|id|name|handle)\s*)?"
            r"(?:(?:[:=]|\bis\b)\s*(?P<v>@?(?=[\w.]*[a-z])[a-z0-9_][\w.]{2,29}(?<!\.))"
            r"|(?P<v2>@[a-z0-9_][\w.]{2,29}(?<!\.))"
            # no colon, a digit or "_" in it: "username kez_lindqvist58"
            r"|(?P<v3>(?=[\w.]*[a-z])(?=[\w.]*[\d_])[a-z0-9_][\w.]{2,29}(?<!\.))))"
        ),
    ),
    PhiPattern(
        "phone",
        _p(
            r"\b(?:cell|mobile|phone|tel|telephone|fax|pager|beeper|call|ph|home|work)\b\W{0,3}"
            r"(?:(?:at|on|is)\s+)?(?P<v>\d{3}[\s.-]\d{4})(?!\d)"
        ),
    ),
    PhiPattern(  # an internal number: "pager 4471", "ext. 23591", "beeper #5512"
        "phone",
        _p(
            r"\b(?:pager|beeper|pgr|bleep|extension|extn|ext)\b\.?\s*(?:no\.?|number|#)?\s*[:#]?\s*"
            # a full stop after it ends the sentence ("ext. 4412."); a decimal is no number
            r"(?P<v>\d{4,6})(?![\d]|[.,]\d|\s*(?:degrees?|deg\b|°|%|mg|ml))"
        ),
    ),
    PhiPattern(  # a title before a name in any case ("seen by dr. brown", "mrs. white")
        "name",
        _p(
            r"(?<![\w.])(?:dr\.?|mrs\.?|mr\.|ms\.|mx\.|prof\.)\s+"
            rf"(?P<v>(?!{_NOT_A_NAME}\b)[a-z][\w'’-]*(?:\s+(?!{_NOT_A_NAME}\b)[a-z][\w'’-]*)?)"
        ),
    ),
    PhiPattern(  # a doctor's title glued to a name in a site id ("SITE-DR-NAKAMURA", "dr_kim")
        "name",
        _p(r"(?<![^\W_])(?:dr|prof)[-_](?P<v>[a-z][a-z'’]+)(?![^\W_])"),
        context=_role_name,
    ),
    PhiPattern(  # a capitalised name after a care role ("IM by nurse Agnieszka Nowak", "RN Kim")
        "name",
        _p(
            r"\b(?:nurse|rn|lpn|cna|np|(?-i:PA)(?:-C)?|aide|tech(?:nician)?|pharmacist|physician|doctor"
            r"|therapist|midwife|paramedic|emt|provider|attending|resident|chaplain"
            r"|investigator|coordinator|phlebotomist|(?:social|case)\s+worker)\s*[:,]?\s+"
            r"(?P<v>(?-i:[A-Z][a-z'’-]+|[A-Z]\.)(?:\s+(?-i:[A-Z][a-z'’-]+))?)"
        ),
        context=_role_name,
    ),
    PhiPattern(  # a title without its dot, written as a title: "Mr Summer Rain" (not "MR", "MS")
        "name",
        re.compile(
            rf"\b(?:Mr|Ms|Miss|Mx)[ \t]+(?P<v>(?!(?i:{_NOT_A_NAME})\b)[A-Z][a-z'’-]+"
            r"(?:[ \t]+[A-Z][a-z'’-]+)?)"
        ),
    ),
    PhiPattern(  # a relative's given name and surname, the surname a common word ("Sonny Day")
        "name",
        _p(
            r"\b(?:daughter|son|wife|husband|sister|brother|mother|father|niece|nephew|aunt|uncle"
            r"|cousin|grand(?:daughter|son|mother|father)|partner|spouse|neighbou?r|friend)"
            r"(?:'s)?(?:\s*[,:(]\s*|\s+)(?P<v>(?-i:[A-Z][a-z'’-]+[ \t]+[A-Z][a-z'’-]+))\b"
        ),
        context=_role_name,
    ),
    PhiPattern(  # a relative's one given name before what is said of them: "Maternal aunt
        # Brunhilde (age 61)", "sister Ilse, 93," (Philter's whitelist holds some given names)
        "name",
        _p(
            r"\b(?:daughter|son|wife|husband|sister|brother|mother|father|niece|nephew|aunt"
            r"|uncle|cousin|grand(?:daughter|son|mother|father|child)|half[-\s](?:brother|sister)"
            r"|step(?:son|daughter|mother|father)|twin|guardian)[ \t]+"
            rf"(?P<v>(?!(?i:{_NOT_A_NAME})\b)(?-i:[A-Z][a-z'’]+(?:-[A-Z][a-z'’]+)?))"
            r"(?=\s*\(\s*(?:age[ds]?\b|\d)|\s*,\s*(?:age[ds]?\b|\d{1,3}\b)"
            r"|[ \t]+(?:is|was|has|had|who|died|lives|lived|passed|aged?)\b"
            r"|[ \t]+\d{1,3}[ \t]*(?:y/?o|yrs?|years?)\b)"
        ),
        context=lambda text, start, end: not _clinical_word(text[start:end]),
    ),
    PhiPattern(  # a household member's or relative's nickname in quotes: "roommate 'Skip'"
        "name",
        _p(
            r"\b(?:husband|wife|spouse|partner|brother|sister|sibling|son|daughter|mother|father"
            r"|mom|mum|dad|aunt|uncle|cousin|niece|nephew|grand(?:son|daughter|mother|father|ma|pa)"
            r"|neighbou?r|friend|caregiver|roommate|housemate|flatmate|landlord|landlady"
            r"|boyfriend|girlfriend|fianc[ée]e?|guardian|sponsor|buddy)(?:['’]s)?[ \t]+[\"“'‘]"
            r"(?P<v>(?-i:[A-Z][\w'’-]*(?:[ \t]+[A-Z][\w'’-]*){0,2}))[\"”'’]"
        ),
    ),
    PhiPattern(  # a relative's first name in lower case, a common word too ("son frank")
        "name",
        _p(
            r"\b(?:daughter|son|wife|husband|sister|brother|mother|father|mom|dad|niece|nephew"
            r"|aunt|uncle|cousin|grand(?:daughter|son|mother|father|child|ma|pa)|partner|spouse"
            r"|fianc[eé]e?|boyfriend|girlfriend|friend|neighbou?r|caregiver|guardian"
            r"|step(?:son|daughter|mother|father)|sibling|child|twin)(?:'s)?(?:\s*[,:(]\s*|\s+)"
            r"(?:named\s+)?(?P<v>[a-z][a-z'’]+(?:-[a-z]+)?)\b"
        ),
        _first_name,
    ),
    PhiPattern(  # a nickname: 'known locally as "the Catfish King"', "nicknamed Bubba"
        "name",
        _p(
            r"\b(?:(?:known|famous)(?:\s+(?:locally|around\s+town|to\s+\w+))?\s+as|nicknamed"
            r"|nickname\s*[:=]?|goes\s+by|a\.?k\.?a\.?|prefers\s+to\s+be\s+called)\s*"
            r"[\"“'‘](?P<v>[^\"”'’\n]{1,40})[\"”'’]"
            r"|\b(?:nicknamed|nickname\s*[:=]|a\.?k\.?a\.?|prefers\s+to\s+be\s+called)\s+"
            r"(?P<v2>[a-z][\w'’-]+)|\bgoes\s+by\s+(?P<v3>(?-i:[A-Z][a-z'’-]+))"
            # a radio name: "his CB handle is Swamp Fox", "call sign KD5QXR"
            r"|\b(?:(?:cb|radio|ham|trucker)\s+handle|call\s*sign)\s*(?:is\b|[:=])?\s*"
            r"(?P<v4>(?-i:[A-Z][\w'’-]*(?:[ \t]+[A-Z][\w'’-]*){0,2}))"
        ),
    ),
    PhiPattern(  # a first name in lower case after a contact verb ("called mary at home")
        "name",
        _p(rf"\b{_CONTACT_VERB}\s+(?P<v>[a-z][a-z'’-]+)\b"),
        _lower_first_name,
    ),
    PhiPattern(  # and the surname after it ("spoke with mary rose")
        "name",
        _p(rf"\b{_CONTACT_VERB}\s+[a-z][a-z'’-]+\s+(?P<v>[a-z][a-z'’-]+)\b"),
        context=_after_lower_first_name,
    ),
    PhiPattern(  # a street address, its unit; a PO box
        "address",
        _p(
            # a word of the street's name ends with a dot only as an abbreviation ("St. Charles
            # Ave"): "2 large bore IVs. Place patient" crosses a full stop, no street
            r"\b\d{1,6}(?:[a-z]|-[a-z](?![\w-])|\s+1/2)?(?:\s+[nsew]\.?)?"
            r"(?P<w>(?:\s+(?:(?:st|mt|ft|ste|[nsew])\.(?=\s)"
            r"|[a-z][\w'-]*(?:\.[\w'-]+)*)){1,3}?)\s+"
            r"(?:street|st|avenue|ave|road|rd|boulevard|blvd|lane|ln|drive|dr|court|ct|terrace"
            r"|place|pl|highway|hwy|parkway|pkwy|circle|cir|crt|cres|crescent|mews|gardens"
            r"|gdns|tce|terr|parade|pde|grove|alley|pike|esplanade|wynd|trl)\b\.?"
            r"(?:\s*,?\s*(?:apt|apartment|unit|suite|ste|#|room|rm|fl|floor)\.?\s*#?\s*[\w-]+)?"
            # the town after it: "12 Elm St, Apt 3C, Pasadena" (capitalized, up to three words)
            rf"{_TOWN_AFTER}"
            r"|\bp\.?\s*o\.?\s*box\s+\d+"
        ),
        _street_words,
    ),
    PhiPattern(  # a point on the map: a coordinate pair or one with a hemisphere or label
        "geo",
        _p(
            # degrees with a hemisphere, minutes or seconds: 29°57'04"N, 29.95° N (not 37.5 °C)
            r"(?<![\w.])\d{1,3}(?:\.\d+)?\s*[°º]\s*(?:\d{1,2}(?:\.\d+)?\s*['′]\s*"
            r"(?:\d{1,2}(?:\.\d+)?\s*(?:[\"″]|'')\s*)?)?[nsew](?![a-z/-])"
            r"|(?<![\w.])\d{1,3}\s*[°º]\s*\d{1,2}(?:\.\d+)?\s*['′](?:\s*\d{1,2}(?:\.\d+)?\s*"
            r"(?:[\"″]|''))?"
            # decimal degrees with hemispheres: "29.9511 N, 90.0715 W"
            r"|(?<![\w.])\d{1,2}\.\d{3,}\s*[ns]\b\W{0,3}\d{1,3}\.\d{3,}\s*[ew](?![a-z])"
            # an unlabelled pair of 4+ decimals: "(29.951134, -90.071533)"
            r"|(?<![\w.-])(?P<v>[-+]?\d{1,2}\.\d{4,}\s*[,;/]\s*[-+]?\d{1,3}\.\d{4,})(?![\d.])"
            # labelled: "lat 29.95113", "GPS: -33.86, 151.21", "longitude -90.07"
            r"|\b(?:lat|lon|lng|long)\b\s*[:=]?\s*(?P<v2>[-+]?\d{1,3}\.\d{3,})"
            r"|\b(?:latitude|longitude|gps|geo(?:location)?|coordinates?|coords?|lat/lon[g]?)\b"
            r"(?:\s+(?:fix|point|position|location|reading))?\s*(?:[:=]|\bis\b|\bat\b)?\s*[(\[]?\s*"
            r"(?P<v3>[-+]?\d{1,3}\.\d+(?:\s*[°º])?(?:\s*[nsew]\b)?"
            r"(?:\s*[,;/]\s*[-+]?\d{1,3}\.\d+(?:\s*[°º])?(?:\s*[nsew]\b)?)?)"
        ),
        _coordinates,
    ),
    PhiPattern(  # a street named before its number, as in Spanish, Portuguese, French, Italian
        # and German addresses: "Calle Ponce de León 418", "Rua das Flores 12B", "Via Roma 5"
        "address",
        _p(
            r"(?-i:\b(?:Calle|CALLE|calle|C/|Avenida|AVENIDA|avenida|Avda\.|avda\.|Av\.|Carrera"
            r"|Cra\.|Camino|Paseo|paseo|rua|travessa"
            r"|Plaza|Rua|RUA|Avenue\s+de|Rue|RUE|Boulevard|Chemin|Viale|Corso"
            r"|Piazza|Praça|Travessa|Largo)"
            r"(?:[ \t]+(?:[A-ZÁÉÍÓÚÑÂÊÔÃÕÇ][\w'’.-]*|de|del|la|las|los|da|das|do|dos|di|della"
            r"|des|du|le|les|y|e)){1,5}),?[ \t]+(?:n[º°o]\.?[ \t]*)?\d{1,5}[A-Za-z]?\b"
            # a German street glued to its word: "Hauptstraße 12", "Lindenweg 4a"
            r"|(?-i:\b[A-ZÄÖÜ][a-zäöüß]+(?:straße|strasse|str\.|weg|gasse|allee|platz|ring|damm))"
            r"[ \t]+\d{1,4}[a-z]?\b"
        ),
    ),
    PhiPattern(  # a pharmacy's or shop's store number: "Store #4471", "store no. 0773"
        "id",
        _p(r"\bstore\s*(?:no\.?|number|#)\s*[:#]?\s*(?P<v>\d{2,6})\b"),
    ),
    PhiPattern(  # a code that opens the home: "gate code 4418", "lockbox 2291", "door code #7713"
        "id",
        _p(
            r"\b(?:(?:gate|door|alarm|entry|garage|building|buzzer|access|house|apartment)\s+"
            r"(?:code|combo|combination|pin)|lock\s*box|key\s*box|key\s*pad)"
            r"(?:\s+(?:code|combo|combination|pin))?\s*(?:is\s+)?[:#=]?\s*#?"
            r"(?P<v>\d{3,8}[#*]?)(?!\s*(?:mg|ml|units?|%))\b"
        ),
    ),
    PhiPattern(  # a numbered road: "a farm off Highway 49", "Hwy 90", "US-98", "I-10 exit 46"
        "address",
        _p(
            r"\b(?:highway|hwy|route|rte|road|rd)\.?\s*#?\s*\d{1,4}[a-z]?\b"
            # an interstate (not iodine: "I-131"), a US or state route in capitals
            r"|(?:\binterstate\s+\d{1,3}|(?-i:\b(?:I-\d{1,2}|(?:US|SR|FM)[- ]\d{1,4})))\b"
            r"(?:\s+exit\s+\d+)?"
        ),
    ),
    PhiPattern(  # a census or voting area: "census tract 0071.02", "block group 3", "precinct 12"
        "address",
        _p(
            r"\b(?:census\s+(?:tract|block)|block\s+group|(?:voting\s+|election\s+)?precinct"
            r"|(?:city\s+|parish\s+|electoral\s+)ward)\s*(?:no\.?|number|#)?\s*[:#]?\s*"
            r"(?P<v>\d[\d.]*[a-z]?)\b"
            # an ordinal ward or precinct of a city: "the Lower 9th Ward", "5th precinct"
            # (a ward with its capital: "3rd ward rounds" is the hospital's)
            r"|(?P<v2>(?:(?:lower|upper)\s+)?\d{1,2}(?:st|nd|rd|th)\s+(?:(?-i:Ward|WARD)|precinct))\b"
        ),
    ),
    PhiPattern(  # an apartment or suite on its own, before its street: "Apartment 4B, 220 W"
        "address",
        _p(
            r"\b(?:apt|apartment|suite|ste)\b\.?\s*(?:no\.?|#)?\s*"
            r"(?P<v>\d+(?:-?[a-z](?![a-z]))?(?:-\d+)?|[a-z](?:-?\d+)?)(?![\w-])"
            # a building of a housing estate: "Bldg 7, Apt 3-C"
            r"|\b(?:bldg|blg)\b\.?\s*#?\s*(?P<v2>\d+[a-z]?|[a-z]\d*)\b"
            r"|\bbuilding\s+#?\s*(?P<v3>\d+[a-z]?)\b(?=\s*,?\s*(?:apt|apartment|unit|flat|suite|#))"
        ),
    ),
    PhiPattern(  # a place someone lives or comes from ("moved to Mobile", "from Normal")
        "address",
        re.compile(
            r"(?i:\b(?:lives|living|lived|resides|residing|resided|moved|relocated|retired"
            r"|raised|grew\s+up|native|hometown|born|works|worked|working|employed|stays"
            r"|staying|stayed|visiting|commutes|commuting|stationed|deployed|vacation(?:ed|ing)"
            r"|travel(?:l)?(?:ed|ing))\s+(?:alone\s+|with\s+\w+\s+)?"
            r"(?:in|to|from|at|near|of|outside(?:\s+of)?)\s+(?:the\s+)?"
            # where someone comes from: "is from", "came here from", "emigrated from"
            r"|\b(?:is|was|are|were|came|comes|originally|hails|hailed|emigrated|immigrated"
            r"|fled|escaped)(?:\s+(?:here|originally|over|back))?\s+from\s+(?:the\s+)?"
            r"(?:(?:downtown|uptown|suburbs?\s+of|outskirts\s+of|city\s+of|town\s+of)\s+)?)"
            # a full stop ends the place, but for St., Mt., Ft. ("in Yonkers. Retired...")
            r"(?P<v>(?![A-Z]{1,4}\b)(?!(?:Rehab|Army|Navy|Marines?|Air\s+Force|Military|Section"
            r"|Hospice|Floor|Unit|Ward|Room|Neurology|Cardiology|Oncology|Surgery|Medicine"
            r"|Psychiatry|Pediatrics|Telemetry|Stepdown|Nursing|Assisted|Skilled|Memory|Group"
            r"|Shelter|Hospital|Emergency|Intensive|Behavioral|Long[-\s]Term|Radiology|Pharmacy"
            r"|Dialysis|Triage|Recovery|Clinic|Home|Work|School|Jail|Prison|Labs?|Dr|Mr|Mrs|Ms"
            r"|(?:Mon|Tues?|Wed(?:nes)?|Thu(?:rs)?|Fri|Sat(?:ur)?|Sun)(?:day)?"
            r")\b)[A-Z][\w'.-]*(?:(?:(?<!\.)|(?<=[SMF]t\.))\s+"
            rf"(?![A-Z]{{1,4}}\b)(?!{_NAME_STOP})[A-Z][\w'.-]*){{0,3}})"
        ),
    ),
    PhiPattern(  # a town before its country: "from Xalapa, Mexico", "Ibadan, NIGERIA"
        "address",
        re.compile(
            rf"(?<![\w'’-])(?![A-Z]{{1,4}}\b|{_NAME_STOP}|(?:Dr|Mr|Mrs|Ms|Mx|Prof|The)\b)"
            r"[A-Z][^\W\d_]+(?:[-'’][^\W\d_]+)*"
            r"(?:[ \t]+(?:de|del|la|[A-Z][^\W\d_]+(?:[-'’][^\W\d_]+)*)){0,3}(?=,[ \t]+[^\W\d_])"
        ),
        context=_before_a_country,
    ),
    PhiPattern(  # a town before its state: "Scottsdale, AZ", "Peoria, Illinois", "BILOXI, MS"
        "address",
        re.compile(
            r"(?P<v>(?<![\w'-])(?!(?:Dr|Mr|Mrs|Ms|Mx|Prof)\b)(?:[A-Z][a-z'.-]+|[A-Z]{3,})"
            r"(?:[ \t]+(?:[A-Z][a-z'.-]+|[A-Z]{3,})){0,2})"
            rf",?[ \t]+(?:{_STATE_CODE}|(?i:{_STATE_NAME}))(?=[ \t]*(?:\d{{5}}|[.,;:)\n]|$))"
        ),
        context=_town_before_state,
    ),
    # a town or city of the gazetteer in context: "a house in Biloxi", "Biloxi High School"
    PlacePattern("address", re.compile(r"(?!)")),
    # abroad: "grew up in Guadalajara", "a house in Tromsø" (not "Brussels sprouts")
    PlacePattern("address", re.compile(r"(?!)"), places=_world_places, before=_PLACE_BEFORE_ABROAD),
    # a named region: "the Inland Empire", "grew up in the Delta" (not "Delta variant")
    PlacePattern(
        "address",
        re.compile(r"(?!)"),
        places=_regions,
        before=_REGION_BEFORE,
        not_after=_REGION_NOT_AFTER,
        anywhere=_regions_anywhere,
    ),
    PhiPattern(  # a saint's or mountain's place or facility: "St. Luke's Medical Center"
        "address",
        re.compile(
            rf"(?<![\w.])(?P<v>{_SAINT}[ \t]+[A-Z][\w'’-]*(?:[ \t]+(?:(?i:of|the|de|la|du)[ \t]+)?"
            rf"(?!{_NAME_STOP}){_ORG_WORD}){{0,4}})"
        ),
        context=_saint_place,
    ),
    PhiPattern(  # and in lower case: "seen at st francis er", "transfered from mt carmel"
        "address",
        re.compile(r"(?<![\w.])(?<!\d[ \t])(?P<v>(?:st|mt|ft)\.?[ \t]+[a-z][a-z'’]+)"),
        context=_lower_saint_place,
    ),
    PhiPattern(  # a street corner: "on 5th and Main", "corner of Oak and Elm"
        "address",
        re.compile(
            r"(?i:\b\d+(?:st|nd|rd|th)\s+(?:st(?:reet)?\.?\s+|ave(?:nue)?\.?\s+)?(?:and|&)\s+)"
            r"[A-Z][\w'.-]*"
            r"|(?i:\bcorner\s+of\s+)(?P<v>[A-Z][\w'.-]*(?:\s+[A-Z][\w'.-]*)?\s+(?:and|&)\s+"
            r"[A-Z0-9][\w'.-]*)"
        ),
    ),
    PhiPattern(  # a UK or Canadian postal code: "LS8 2QR", "SW1A 1AA", "K1A 0B1"
        "zip",
        # the last two letters of a UK code are never C I K M O V ("B12 1MG" is a dose)
        re.compile(
            r"\b[A-Z]{1,2}\d[A-Z\d]?\s\d[ABD-HJLNP-UW-Z]{2}\b"
            r"|\b[ABCEGHJ-NPRSTVXY]\d[A-Z]\s\d[A-Z]\d\b"
            # an Irish Eircode: a routing key and a unique identifier ("H91 YR71", "D6W XK27")
            r"|\b(?:[AC-FHKNPRTV-Y]\d{2}|D6W)\s[0-9AC-FHKNPRTV-Y]{4}\b"
        ),
    ),
    PhiPattern(  # a short number labelled with "#": "Patient #4567", "ID#: 4567"
        "id",
        _p(
            r"\b(?:patient|pt|id|subject|record|member|file)\s*(?:#|no\.|number)\s*:?\s*"
            r"(?P<v>[a-z0-9-]*\d[a-z0-9-]*)"
        ),
    ),
    PhiPattern(  # an e-mail address spelled out: "john dot smith at gmail dot com"
        "email",
        _p(
            # bounded repetitions: linear time on long hyphenated or "dot"-filled text
            r"(?<![\w+.-])[\w+-]{1,64}(?:(?:\s*[\[(]\s*dot\s*[\])]\s*|\s+dot\s+|\.)[\w+-]{1,64}){0,3}"
            r"\s*[\[(]?\s*(?:at|@)\s*[\])]?"
            r"\s*[\w-]{1,63}(?:\s*[\[(]?\s*dot\s*[\])]?\s*[\w-]{1,63}){0,3}?"
            rf"\s*[\[(]?\s*dot\s*[\])]?\s*{_TLD}\b"
        ),
    ),
    PhiPattern(  # the name ends at a full stop (but for an abbreviation) or a line's end
        "employer",
        re.compile(
            r"(?i:\b(?:works?|worked|working)\s+(?:at|for)|\bemployed\s+(?:at|by)|\bemployer"
            # a work telephone or office: "her work line at Target HQ", "his office at Cargill"
            r"|\bwork\s+(?:line|phone|number|cell|extension|ext\.?|e-?mail)\s+(?:at|for)"
            r"|\bretired\s+from)\W{0,3}\s*"
            rf"(?P<v>{_ORG_WORD}(?:[ \t]+(?i:&|and|of)?[ \t]*{_ORG_NEXT}){{0,4}}\.?)"
        ),
    ),
    PhiPattern(  # an employer after a job: "works as a carrier for USPS", "a lineman with PG&E"
        "employer",
        re.compile(
            r"(?i:(?:\b(?:works?|worked|working|employed)\s+as\s+(?:an?\s+)?(?:[a-z-]+\s+)?"
            rf"[a-z-]+|\b(?:as|is|was|a|an)\s+(?:an?\s+)?(?:[a-z-]+\s+)?{_OCCUPATION})"
            r"\s+(?:at|for|with|by)\s+)"
            rf"(?P<v>{_ORG_WORD}(?:[ \t]+(?i:&|and|of)?[ \t]*{_ORG_NEXT}){{0,4}})"
        ),
        context=_a_job_employer,
        hint=re.compile(r"\b(?i:at|for|with|by)\s+[A-Z]"),
    ),
    PhiPattern(
        "vehicle",
        _p(
            r"\b(?:plates?|tags?|registration|vin|licen[cs]e\s+plates?)\b\s*(?:no\.?|number|#)?[:#]?\s*"
            # the state before it: "plate TX KJM-4471"
            rf"(?P<v>(?:(?-i:{_STATE_CODE}|OK|IN|OR|ME|HI|MD|PA|MS)[ \t]+)?"
            r"(?=[a-z0-9 -]*\d)[a-z0-9]{1,4}[ -]?[a-z0-9]{2,14})\b"
        ),
    ),
    PhiPattern(
        "age",
        _p(
            # in French, Spanish, Portuguese and German too: "93 ans", "91 años", "92 Jahre"
            r"\b(?:9\d|1[0-4]\d)\+?\s*-?\s*(?:years?|yrs?|y/?o|yo|y\.o\.?|ans|años|anos|jahre)"
            r"(?:[\s-]*old)?(?!\w)"
            r"|\b(?:aged?|age:)\s*(?:9\d|1[0-4]\d)\b|\b(?:9\d|1[0-4]\d)(?=\s*(?:M|F)\b)"
            # "92yM", "93yoF", "93/F", "F/93", "90-something-year-old", "ninety-odd"
            rf"|\b{_AGE_NUM}\s*y(?:o|rs?)?\.?(?=\s*(?:m|f|male|female|man|woman)\b)|\b{_AGE_NUM}\s*/\s*(?:m|f|male|female)\b"
            rf"|\b(?:m|f|male|female)\s*/\s*{_AGE_NUM}\b(?!\s*/)"
            # "M, 91", "Female, 93", "90y"
            rf"|(?-i:\b(?:M|F|Male|Female|MALE|FEMALE)),\s*{_AGE_NUM}\b(?![.,]?\d|\s*%)"
            rf"|\b{_AGE_NUM}y\b"
            r"|\b(?:9\d|ninety)[\s-]*(?:something|odd|plus|ish)[\s-]*(?:years?|yrs?|y/?o|yo)\b"
            r"|\bninety[\s-]*(?:something|odd|plus|ish)\b"
            r"|\bnonagenarian|\bcentenarian"
            # "in her late 90s", "she is 92."
            # "lived into his mid-nineties", "in her tenth decade" (her nineties)
            r"|\b(?:in|into)\s+(?:his|her|their|the)\s+(?:early\s+|mid[-\s]?|late\s+)?"
            r"(?:90'?s|nineties|(?:tenth|10th|eleventh|11th)\s+decade)"
            # "her mother still is 95", "my dad really was 99", "her aunt is already 91"
            rf"|\b(?:{_PERSON_WORD})\.?\s+(?:(?:still|really|actually)\s+)?(?:is|was)\s+"
            rf"(?:(?:now|already|almost|nearly|over|about)\s+)?(?P<v>9\d|1[0-4]\d|{_AGE_WORD})"
            r"(?=\s*(?:[.,;](?!\d)|$|\s+(?:and|but|with|who|today|now|when|at|in|on|by)\b))"
            # "turned 93", "age of 93", "93rd birthday", spelled out: "ninety-three years old"
            rf"|\b(?:turned|turns|turning|age\s+of)\s+(?:{_AGE_NUM}|{_AGE_WORD})\b"
            # "ninety-one going on ninety-two": both ages
            rf"|\b{_AGE_WORD}\s+going\s+on\s+(?:{_AGE_NUM}|{_AGE_WORD})\b"
            # "her late husband reached ninety-eight", "reached the age of 97" (a number
            # alone after "reached" is an age only after a person: see the next patterns)
            rf"|\breached\s+(?:(?:the\s+)?age\s+(?:of\s+)?(?:{_AGE_NUM}|{_AGE_WORD})|{_AGE_WORD})\b"
            # "lived to 103", "lived until 95", "lived to be 97"
            rf"|\blived\s+(?:to|until|till)\s+(?:be\s+|age\s+)?(?P<v3>{_AGE_NUM}|{_AGE_WORD})\b"
            r"(?![.,]?\d|\s*%)"
            # "died at 94", "passed away aged 91", "diagnosed at the age of 93"
            r"|\b(?:died|dies|passed(?:\s+away)?|deceased|expired|diagnosed|widowed|dx(?:'?d)?"
            r"|onset|d\.|alive|living)\s*(?:at|@|aged?)\s+(?:the\s+)?(?:age\s+(?:of\s+)?)?"
            rf"(?P<v2>{_AGE_NUM}|{_AGE_WORD})\b(?![.,]?\d|\s*%)"
            # "(d. 94, CVA)", "deceased 97;", "passed 96": the age right after, no unit
            rf"|\b(?:d\.|deceased|passed)\s*(?P<v4>{_AGE_NUM})\b(?![.,]?\d|\s*(?:%|[/:]"
            r"|d\b|days?|h\b|hrs?|hours?|min|minutes?|wks?|weeks?|mos?|months?|mg|ml))"
            rf"|\b{_AGE_NUM}(?:st|nd|rd|th)\s+birthday\b"
            # "celebrated her 95th", "in his 96th year", "her ninety-sixth year"
            rf"|\b(?:celebrat\w+|marked|reached|turned)\s+(?:his|her|their)\s+{_AGE_NUM}"
            r"(?:st|nd|rd|th)\b"
            r"|\b(?:his|her|their)\s+(?:(?:9\d|1[0-4]\d)(?:st|nd|rd|th)|ninetieth"
            r"|ninety[-\s]?(?:first|second|third|fourth|fifth|sixth|seventh|eighth|ninth)"
            r"|(?:one\s+)?hundredth)\s+year\b"
            # spelled out: "her ninety-second birthday", "his hundredth birthday"
            r"|\b(?:ninetieth|ninety[-\s]?(?:first|second|third|fourth|fifth|sixth|seventh"
            r"|eighth|ninth)|(?:one\s+)?hundredth|(?:a|one)\s+hundred\s+and\s+\w+?(?:st|nd|rd|th))"
            r"\s+birthday\b"
            # "Age at death: 93", "age at dx 91", "the patient, who is 91,"
            r"|\bage\s+(?:at|of)\s+(?:death|dx|diagnosis|onset|presentation|admission)\s*[:=]?\s*"
            rf"(?P<v5>{_AGE_NUM}|{_AGE_WORD})\b(?![.,]?\d|\s*%)"
            rf"|\bwho\s+(?:is|was)\s+(?:now\s+)?(?P<v6>{_AGE_NUM}|{_AGE_WORD})"
            r"(?=\s*(?:[.,;](?!\d)|$|\s+(?:and|but|with|who|today|now|when|at|in|on|by|years?)\b))"
            rf"|\b{_AGE_WORD}[\s-]+(?:years?|yrs?)(?:[\s-]+old)?\b"
            rf"|\b(?:aged?|age:)\s*{_AGE_WORD}\b"
            # an age in apposition: "her sister, a spry one hundred and one, lives here"
            rf"|(?<=,)\s*an?\s+(?:[a-z]+\s+)?(?P<v7>{_AGE_WORD})(?=\s*[,;)]|\s*[.](?!\d))"
        ),
    ),
    PhiPattern(  # an age after a relative's name: "her mother Folake Adeyemi-Bello is 102"
        "age",
        _p(
            rf"\b(?:{_PERSON_WORD})\.?(?P<n>(?:[ \t]+(?-i:[A-Z][\w'’-]+)){{1,3}}"
            r"|[ \t]+(?-i:[a-z][a-z'’-]+))\s+(?:is|was)\s+"
            rf"(?:now\s+)?(?P<v>9\d|1[0-4]\d|{_AGE_WORD})"
            r"(?=\s*(?:[.,;](?!\d)|$|\s+(?:and|but|with|who|today|now|when|years?)\b))"
        ),
        context=lambda text, start, end: _named_before_age(text, start),
    ),
    PhiPattern(  # a quarter or half of a year, finer than the year: "Q3 2023", "Q1'24",
        # "FY2023 Q4", "Q2 of 2024", "1H 2024", "H2-2023"
        "date",
        re.compile(
            r"\b(?:Q[1-4]|[12]H|H[12])(?:[ \t]*(?:of[ \t]+)?(?:FY|CY)?[ \t]*[-/]?[ \t]*"
            r"(?:19|20)\d{2}|[ \t]*[-/'’][ \t]*\d{2})\b"
            r"|\b(?:FY|CY)[ \t]*['’]?(?:(?:19|20)\d{2}|\d{2})[ \t]*[-/]?[ \t]*"
            r"(?P<v>Q[1-4]|[12]H|H[12])\b"
        ),
    ),
    PhiPattern(  # a day and month glued ("15Jan", "21stMarch", "3Feb2021"); month and 'YY
        "date",
        _p(
            rf"(?<![\w.])(?:[1-9]|[12]\d|3[01])(?:st|nd|rd|th)?{_MONTH}(?:\d{{2}}|\d{{4}})?\b"
            # "Feb'21", "Sept'19", "Jan-22" (the 22nd of January, or 2022: a date either way)
            rf"|\b{_MONTH}\.?\s*(?:['’]|-(?=\d{{2}}\b(?![-/.]\d)))\s*\d{{2}}\b"
        ),
    ),
    PhiPattern(  # a day and a month of French or Spanish: "le 14 juillet 1931", "3 de marzo"
        "date",
        _p(
            rf"\b(?:[1-9]|[12]\d|3[01])(?:er)?\s+(?:de\s+)?{_MONTH_ABROAD}\b"
            r"(?:,?\s+(?:de\s+)?(?:19|20)\d{2}\b)?"
        ),
    ),
    PhiPattern(  # a registration plate after "reg" or "rego": "Car reg KX21 ABC", "rego ABC-123"
        "vehicle",
        re.compile(
            r"(?i:\b(?:reg(?:istration)?|rego)\b\.?[ \t]*(?:no\.?|number|#)?[:#]?[ \t]*)"
            r"(?P<v>[A-Z]{2}\d{2}[ ]?[A-Z]{3}|[A-Z0-9]{2,4}[- ]?[A-Z0-9]{2,4})\b"
        ),
        _plate_like,
    ),
    PhiPattern(  # a reddit user ("u/jsmith_rides") or a Discord tag ("jsmith#4421")
        "handle",
        _p(r"(?<![\w/])u/[a-z0-9_-]{3,20}\b|\bdiscord\b\W{0,3}(?P<v>[\w.]{2,32}#\d{4})\b"),
    ),
    PhiPattern(  # an area code spelled out, as dictated: "area code nine one nine"
        "phone",
        _p(rf"\barea\s+code\s+(?:is\s+)?(?P<v>{_DIGIT_WORD}(?:[\s,-]+{_DIGIT_WORD}){{2}})\b"),
        hint=_p(r"\barea\s+code\b"),
    ),
    PhiPattern(  # the last digits of a number spelled out: "SSN ends in four four seven one"
        "number",
        _p(
            r"\b(?:ends?|ending)\s+(?:in|with)\s+"
            rf"(?P<v>{_DIGIT_WORD}(?:[\s,-]+{_DIGIT_WORD}){{2,5}})\b"
        ),
        hint=_p(r"\b(?:ends?|ending)\b"),
    ),
    PhiPattern(  # a street number in words before a street: "twenty-two Juniper Hollow Drive"
        "address",
        re.compile(
            rf"(?i:\b{_NUMBER_WORD}(?:[\s-]+{_NUMBER_WORD}){{0,3}})"
            r"(?:[ \t]+[A-Z][\w'’-]*){1,3}[ \t]+"
            # the suffix as a name writes it ("ST elevation" is none; "Dr." before a name either)
            r"(?:Street|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Court|Ct|Terrace|Place"
            r"|Pl|Highway|Hwy|Parkway|Pkwy|Circle|Cir|Way|Trail|Trl|STREET|AVENUE|ROAD|DRIVE"
            r"|LANE|COURT|(?:Dr|St)(?!\.?[ \t]+[A-Z]))\b\.?"
        ),
        hint=_p(r"(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|teen|ty)\b"),
    ),
    PhiPattern(  # a year spelled out: "dob march third nineteen twenty nine" (over 89: an age)
        "date",
        _p(
            r"\bnineteen(?:[-\s]+hundred(?:\s+and)?)?[-\s]+(?:twenty|thirty|forty|fifty|sixty"
            rf"|seventy|eighty|ninety)(?:[-\s]?{_DIGIT_WORD})?\b"
        ),
        hint=_p(r"nineteen"),
    ),
    PhiPattern(  # an Australian postcode after its state: "Wagga Wagga NSW 2650"
        "zip",
        re.compile(
            r"\b(?:NSW|VIC|QLD|TAS|ACT|SA|WA|NT|Vic|Qld|Tas)\.?,?[ \t]+(?P<v>\d{4})\b(?![.,]\d)"
        ),
    ),
    PhiPattern(  # a French or Quebec street: "221 rue Saint-Denis", "45 avenue Laurier Ouest"
        "address",
        re.compile(
            r"\b\d{1,5}(?:[ \t]?(?:bis|ter|[A-Ba-b]))?,?[ \t]+(?i:rue|avenue|boulevard"
            r"|chemin|place|all[ée]e|impasse|quai|rang|montée)\b"
            r"(?:[ \t]+(?i:de[ \t]+la|de[ \t]+l['’]|des|du|de|d['’]|la|le|les))?[ \t]*"
            r"[A-ZÀ-Ý][\w'’.-]*(?:[ \t-]+(?:[A-ZÀ-Ý][\w'’.-]*|de|du|des|la))*"
        ),
    ),
    PhiPattern(  # and in a lower-case note: "lives at 221 rue saint-denis"
        "address",
        re.compile(
            r"\b\d{1,5},?[ \t]+(?:rue|boulevard|chemin)[ \t]+(?:(?:de[ \t]+la|de[ \t]+l['’]|des|du"
            r"|de|d['’])[ \t]*)?[a-zà-ÿ][\w'’-]*"
        ),
    ),
    PhiPattern(  # a flat or unit before its building: "Flat 4B, Shanti Apartments"
        "address",
        re.compile(
            r"\b(?:Flat|FLAT)[ \t]+(?P<v>\d+[A-Z]?)\b"
            r"|\b(?:Unit|UNIT)[ \t]+(?P<v2>\d+[A-Z]?/\d+)\b"
        ),
    ),
    PhiPattern(  # a general practice: "Riverside Surgery", "Ashgrove Medical Practice"
        "address",
        re.compile(
            r"(?P<v>[A-Z][a-z'’]+(?:[ \t]+[A-Z][a-z'’]+){0,2})[ \t]+(?=(?:Surgery"
            r"|Medical[ \t]+Practice"
            r"|Group[ \t]+Practice|Family[ \t]+Practice|Health[ \t]+Cent(?:re|er)"
            r"|Medical[ \t]+Cent(?:re|er))\b)"
        ),
        context=_a_practice,
    ),
    PhiPattern(  # a practice before its noun in lower case, after "at" or "from": "nurse
        # at Stonebridge surgery" (only a capitalised "Surgery" was read as a practice's)
        "address",
        re.compile(
            r"(?P<v>[A-Z][a-z'’]+(?:[ \t]+[A-Z][a-z'’]+){0,2})[ \t]+(?=(?:surgery"
            r"|medical[ \t]+practice|group[ \t]+practice|family[ \t]+practice"
            r"|health[ \t]+cent(?:re|er)|medical[ \t]+cent(?:re|er))\b)"
        ),
        context=_a_practice_in_lower_case,
    ),
    PhiPattern(  # a fire, police or ambulance station by its number: "crew from Station 42"
        "address",
        re.compile(
            r"(?<!\w)(?i:(?:fire|police|ambulance|ems|rescue)[ \t]+)?(?-i:Station|STATION)"
            r"[ \t]+(?:No\.?[ \t]*|#[ \t]*)?\d{1,4}\b(?![ \t]*(?:mg|ml|%|/))"
        ),
        context=_emergency_station,
    ),
    PhiPattern(  # an all-caps facility after a place: "TRANSFER FROM VALLEY MED", "LAKESIDE HOSP"
        "address",
        re.compile(
            rf"(?P<v>\b{_FACILITY_WORD}(?:[ \t]+{_FACILITY_WORD}){{0,2}})"
            r"(?=[ \t]+(?:MED(?:[ \t]+CTR)?|HOSP|CLINIC|CTR|MED[ \t]+CENTER)\b)"
        ),
        context=_facility_place,
    ),
    PhiPattern(  # and in an all-caps note: "SEEN AT WRENFIELD SURGERY"
        "address",
        re.compile(
            rf"(?P<v>\b{_CAPS_WORD}(?:[ \t]+{_CAPS_WORD}){{0,2}})[ \t]+(?=(?:SURGERY"
            r"|MEDICAL[ \t]+PRACTICE|GROUP[ \t]+PRACTICE|FAMILY[ \t]+PRACTICE"
            r"|HEALTH[ \t]+CENT(?:RE|ER)|MEDICAL[ \t]+CENT(?:RE|ER))\b)"
        ),
        context=_a_practice,
    ),
    PhiPattern(  # initials of a person after a role, title or relation ("Nurse T.W.", "Pt A.B.")
        "name",
        re.compile(
            rf"(?:\b(?i:{_INITIALS_AFTER})\.?:?[ \t]+)(?P<v>(?:[A-Z]\.[ \t]?){{2,3}}(?![a-z]))"
            # or before what they stand for: "J.S. (pt's initials)", "R.K.M. (attending)"
            r"|(?P<v2>\b(?:[A-Z]\.){2,3})(?=[ \t]*\((?i:(?:pt|patient)['’]?s?[ \t]+)?"
            r"(?i:initials|attending|resident|fellow|rn|np|md|scribe|nurse)\))"
            # a dictating doctor's and typist's initials: "cc: JS/km", "JS/km" alone on its line
            r"|(?:(?i:\bcc)[ \t]*:?[ \t]*|^[ \t]*)(?P<v3>[A-Z]{2,3}/[a-z]{2,3})[ \t]*$"
            # in a lower-case note, after a care role only: "nurse t.w. gave meds"
            r"|\b(?:nurse|rn|np|dr|attending|resident|tech)\.?:?[ \t]+"
            r"(?P<v4>(?:[a-z]\.){2,3})(?!\w)"
            # undotted initials after a signing role's label: "Tech: mdh", "Scribe: JQR"
            r"|\b(?i:tech|technologist|technician|radiographer|sonographer|scribe|typist"
            r"|transcriptionist|transcribed\s+by|typed\s+by|grossed\s+by|initials)[ \t]*:[ \t]*"
            r"(?P<v5>(?!(?i:na|no|yes|none|rn|lpn|md|do|np|pa|ma|cna|emt|the|and|see)\b)"
            r"(?:[a-z]{2,3}|[A-Z]{2,3}))\b(?![./-]\w)",
            re.MULTILINE,
        ),
        _initials,
    ),
    # round 7 (free text of counselling, psychiatry, SMS, voicemail, pathology, billing notes)
    PhiPattern(  # an age over 89 after "she's", "he's", "shes" ("shes 94 in june")
        "age",
        _p(
            rf"\b(?:she|he|they)['’]?(?:s|re)\s+(?:now\s+|already\s+|just\s+)?"
            rf"(?P<v>{_AGE_NUM}|{_AGE_WORD}){_AGE_END}"
        ),
        hint=_p(r"\b(?:she|he|they)['’]?(?:s|re)\b"),
    ),
    PhiPattern(  # an age ahead or nearly reached: "will be ninety-four", "Cyril is pushing 100"
        "age",
        _p(
            r"\b(?:will\s+be|['’]ll\s+be|would\s+(?:be|have\s+been)|(?:has\s+|had\s+)?reached"
            r"|(?:is|was|['’]s)\s+"
            r"(?:now\s+)?(?:pushing|approaching|nearly|almost|going\s+on|close\s+to|well\s+over"
            r"|over|about))\s+"
            rf"(?P<v>{_AGE_NUM}|{_AGE_WORD}|1[0-4]\d){_AGE_END}"
        ),
        context=_person_subject,
        hint=_p(
            r"\b(?:be|been|pushing|approaching|nearly|almost|going|close|over|about|reached)\b"
        ),
    ),
    PhiPattern(  # a week of a year: ISO "2021-W09-3", "2021W09", "week 14 of 2020"
        "date",
        _p(
            r"(?<![\w-])(?:19|20)\d{2}-?w(?:0[1-9]|[1-4]\d|5[0-3])(?:-?[1-7])?(?![\w-])"
            r"|\b(?:(?:calendar\s+)?week|wk|cw|kw)\.?\s*#?\s*(?:0?[1-9]|[1-4]\d|5[0-3])\s*"
            # the year after a separator or a blank ("KW32 2022"), no dose ("wk 2 2000 mg")
            r"(?:(?:of|/|,)\s*)?(?:19|20)\d{2}\b(?![.,]?\d|\s*(?:mg|mcg|ml|units?|iu)\b)"
            r"|\bthe\s+(?:[1-9]|[1-4]\d|5[0-3])(?:st|nd|rd|th)\s+week\s+of\s+(?:19|20)\d{2}\b"
        ),
        hint=_p(r"\d-?w\d|\b(?:week|wk|cw|kw)(?:\b|\d)"),
    ),
    PhiPattern(  # a rural route or highway-contract box: "RR 2 Box 115", "HC 61 Box 20"
        "address",
        _p(
            r"\b(?:r\.?r\.?|h\.?c\.?|rural\s+route|star\s+route|highway\s+contract(?:\s+route)?"
            r"|rte?)\s*#?\s*\d{1,4}\s*,?\s*box\s*#?\s*\d{1,5}\b|\brural\s+route\s*#?\s*\d{1,4}\b"
        ),
        hint=_p(r"\b(?:box|rural)\b"),
    ),
    PhiPattern(  # a post-office box by any name, and the town after it
        "address",
        _p(
            r"\b(?:post\s+office\s+box|p\.?\s*o\.?\s*box|p\.?o\.?b\.?|pmb|private\s+mail\s+bag"
            rf"|locked\s+bag)\s*#?\s*\d{{1,6}}\b{_TOWN_AFTER}"
        ),
        hint=_p(r"box|\b(?:pob|p\.o\.b|pmb|bag)\b"),
    ),
    PhiPattern(  # a lot and its mobile-home park: "Lot 14 of Shady Acres Mobile Home Park"
        "address",
        re.compile(
            r"(?i:\b(?:lot|space|pad|site|trailer)\s*#?\s*)(?P<v>\d{1,4}[a-z]?)\b"
            r"(?=[^.\n]{0,50}\b(?i:mobile\s+home|trailer|rv|caravan|manufactured\s+home)"
            r"\s+(?i:park|court|community|estates|village|site))"
            r"|(?P<v2>[A-Z][\w'’-]*(?:[ \t]+[A-Z][\w'’-]*){0,3})[ \t]+(?=(?i:mobile\s+home"
            r"|trailer|rv|caravan|manufactured\s+home)\s+(?i:park|court|community|estates"
            r"|village)\b)"
        ),
        hint=_p(r"\b(?:mobile\s+home|trailer|rv|caravan|manufactured\s+home)\s"),
    ),
    PhiPattern(  # a flat in a lower-case note: "its rosie from flat 4b"
        "address",
        _p(r"\bflat\s+#?\s*(?P<v>\d{1,4}[a-z])\b"),
    ),
    PhiPattern(  # a street whose suffix is also a word, written as a name: "2250 N. Alvernon Way"
        "address",
        re.compile(
            # (not "Walk", "View", "Point", "Loop": "6 Minute Walk", "4 Chamber View")
            r"\b\d{1,5}[A-Z]?(?:[ \t]+[NSEW]\.?)?(?:[ \t]+[A-Z][a-z'’-]+){1,3}[ \t]+(?:Way|Close"
            r"|Row|Square|Trail|Cove|Hollow|Ridge|Bend|Pass|Crossing|Heights|Vale|Glen|Rise"
            r"|Landing)\b"
        ),
        _street_words,
    ),
    PhiPattern(  # a residential building by name, its unit before: "5B Riverside Towers"
        "address",
        re.compile(
            r"(?:\b\d{1,4}[A-Z]?,?[ \t]+)?(?<![\w'’-])(?!(?:The|A|An)\b)[A-Z][\w'’-]*"
            r"(?:[ \t]+[A-Z][\w'’-]*){0,2}[ \t]+(?:Towers|Apartments|Apts|Residences|Manor|Lofts"
            r"|Mansions|Condominiums|Condos|Flats)\b"
        ),
        hint=re.compile(r"Towers|Apartments|Apts|Residences|Manor|Lofts|Mansions|Condo|Flats"),
    ),
    PhiPattern(  # a street with no suffix after a residence verb: "moved to 2201 e cesar chavez"
        "address",
        _p(
            r"\b(?:lives?|living|moved|moving|relocated|resides?|residing|staying|address\s+is"
            r"|new\s+address(?:\s+is)?)\s+(?:at|to|in)?\s*"
            r"(?P<v>\d{1,6}[a-z]?(?:\s+[nsew]\.?)?(?:\s+[a-z][\w'’.-]*){1,4}"
            r"(?:\s*,?\s*(?:#|apt\.?|unit|suite|ste\.?)\s*\w+)?)"
        ),
        _residence_street,
    ),
    PhiPattern(  # a ship served on: "served on the USS Midway", "HMS Ark Royal"
        "employer",
        re.compile(
            r"\b(?:USS|USNS|USCGC|HMS|HMAS|HMCS|HMNZS)[ \t]+(?P<v>[A-Z][\w'’-]*"
            r"(?:[ \t]+[A-Z][\w'’.-]*){0,2})"
        ),
    ),
    PhiPattern(  # a congregation: "Greater New Hope Missionary Baptist Church"
        "address",
        re.compile(
            rf"(?P<v>(?!(?:The|A|An)\b){_ORG_WORD}(?:[ \t]+{_ORG_NEXT}){{0,5}})[ \t]+"
            # (not "Temple": "Left Temple tenderness")
            r"(?=(?:Church|Chapel|Synagogue|Mosque|Masjid|Cathedral|Tabernacle"
            r"|Kingdom[ \t]+Hall|Ministries|Gurdwara|Mandir)\b)"
        ),
        context=_a_congregation,
        hint=re.compile(
            r"Church|Chapel|Synagogue|Mosque|Masjid|Cathedral|Tabernacle|Kingdom"
            r"|Ministries|Gurdwara|Mandir"
        ),
    ),
    PhiPattern(  # a what3words address ("///filled.count.soap") or an Open Location Code
        "geo",
        re.compile(
            r"(?<![\w/])(?:/{3}|(?i:what3words|w3w)\s*[:=]?\s*(?:/{3})?)[a-z]+\.[a-z]+\.[a-z]+\b"
            r"|(?<![\w+])[23456789CFGHJMPQRVWX]{4,8}\+[23456789CFGHJMPQRVWX]{2,3}(?![\w+])"
        ),
    ),
    PhiPattern(  # a MAC address in dotted groups of four (Cisco): "0011.2233.44aa"
        "device",
        _p(r"(?<![\w.:-])[0-9a-f]{4}\.[0-9a-f]{4}\.[0-9a-f]{4}(?![\w.:-])"),
        lambda v: any(c.isdigit() for c in v) and not re.fullmatch(r"[\d.]+", v),
    ),
    PhiPattern(  # an IBAN (by its check digits): "GB29 NWBK 6016 1331 9268 19"
        "account",
        re.compile(r"\b[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]{4}){2,7}(?:[ ]?[A-Z0-9]{1,3})?\b"),
        _iban,
    ),
    PhiPattern(  # a UK bank sort code and the account after it
        "account",
        _p(r"\bsort\s+code\s*[:#]?\s*(?P<v>\d{2}[- ]\d{2}[- ]\d{2})\b"),
    ),
    PhiPattern(  # a Cash App "$cashtag"; a handle after "on IG as"; a login with dots
        "handle",
        _p(
            r"(?<![\w$])\$(?=[\w-]*[a-z])[a-z][\w-]{2,19}\b"
            r"|\b(?:on|via)\s+(?:ig|insta(?:gram)?|snap(?:chat)?|fb|facebook|tiktok|twitter"
            r"|venmo|cash\s*app|paypal)\s+(?:as|under)\s+"
            r"(?P<v>@?[a-z0-9_][\w.-]{2,29}(?<![.-]))"
            r"|\b(?:venmo|cash\s*app|cashapp|paypal(?:\.me)?|snap)\s*[:=]?\s*"
            r"(?P<v2>@?(?=[\w.-]*[\d_.-])[a-z0-9_][\w.-]{2,29}(?<![.-]))"
            r"|\b(?:mychart|my\s+chart|portal|app)\s+(?:login|log-in|user(?:name)?|sign-in|id)"
            r"\s*[:=]?\s*(?P<v3>@?[a-z0-9_][\w.-]{2,29}(?<![.-]))"
            # a handle or user name with a digit or "_" in it: "handle MaryJones88"
            r"|\b(?:handle|username|user\s+name|screen\s*name|gamertag)\s*(?:is\b|[:=])?\s*"
            r"(?P<v4>@?(?=[\w.-]*[\d_])[a-z0-9_][\w.-]{2,29}(?<![.-]))"
        ),
    ),
    PhiPattern(  # a number labelled by an abbreviation glued to "#": "HAR#5021-1887-34"
        "mrn",
        _p(r"\b[a-z]{2,6}#\s*:?\s*(?P<v>(?=[\w-]*\d{4})[a-z0-9][\w-]{3,})(?![\w-])"),
    ),
    PhiPattern(  # a specimen, accession or referral number after its abbreviation and a colon
        "mrn",
        _p(
            r"(?:\b(?:acc|accn|acsn|accession|requisition|confirmation|tracking|authorization"
            r"|referral|ticket)\b\.?\s*(?:no\.?|number|#)?\s*[:#]"
            # "Path:" and "Cyto:" also head findings ("Path: pT2N0"): a number word or "#" too
            r"|\b(?:path|surg(?:ical)?\s+path|cyto(?:logy)?|req|conf|auth)\b\.?\s*"
            r"(?:no\.?|number|#)\s*:?)"
            r"\s*(?P<v>(?=[\w-]*\d)[a-z0-9][\w-]{2,}(?:[./][\w-]+)*)"
            r"(?![\w-])(?!\s*(?:mg|mcg|ml|g|kg|units?|%)(?!\w))"
        ),
    ),
    PhiPattern("id", _p(r"\b(?:patient|person|relatedperson|practitioner|group)/[\w.-]+")),
    PhiPattern(  # a unique characteristic: "the only female shrimp boat captain in the county"
        "unique",
        _p(
            r"\b(?:the|an?)\s+(?:only|first|last|oldest|youngest|sole)\s+"
            r"(?P<v>(?:[\w'’-]+\s+){0,5}?[\w'’-]+)(?=\s+(?:in|on|of|at|for)\s+"
            r"(?:(?:the|this|our|their|his|her)\s+)?(?:(?-i:[A-Z][\w'’-]*)\s+){0,3}"
            rf"{_UNIQUE_WHERE}\b)"
        ),
    ),
    PhiPattern(  # the value only: the label ("MRN", "fingerprint template") is no PHI; a label
        # is a word of its own ("SIN" is none inside "SINCE 2021-03-04")
        "mrn",
        _p(
            rf"\b(?:{_LABELS})(?:(?<![a-z])|(?![a-z]))(?:\s*(?:[:#]|no\.?|number(?!\s+of\b)))*\s*"
            rf"{_LABELLED_VALUE}"
        ),
    ),
    PhiPattern(  # and after the labels of :data:`_LABELS_MORE`
        "mrn",
        _p(
            rf"\b(?:{_LABELS_MORE})(?:(?<![a-z])|(?![a-z]))(?:\s*(?:[:#]|no\.?|number(?!\s+of\b)))*\s*"
            rf"{_LABELLED_VALUE}"
        ),
        hint=_p(r"lic|print|scan|template|voice|meeting|conference|face|iris|hash|biometric"),
    ),
    PhiPattern(
        "id",
        _p(r"(?<![\w-])(?=[\w-]*\d)(?=[\w-]*[a-z])[a-z0-9]+(?:-[a-z0-9]+)*(?![\w-])"),
        _serial_like,
    ),
    # not a dbSNP rsID, nor a trial's registration ("NCT04417720", "ISRCTN12345678"): the
    # study's, no person's
    PhiPattern("number", _p(r"(?<![\d.,])(?<!rs)(?<!nct)(?<!isrctn)(?<!actrn)\d{7,}(?![\d.,])")),
    PhiPattern(  # a caller naming themself in lower case (a voicemail): "hi it's rob from"
        "name",
        _p(
            r"\b(?:hi|hello|hey|yes|morning|afternoon|evening)\b[ \t,!.]+(?:it'?s|it\s+is"
            r"|this\s+is|my\s+name\s+is|i'?m|i\s+am)\s+(?P<v>[a-z][a-z'’-]+)\b"
        ),
        lambda v: v.islower() and _lower_first_name(v),
        hint=_p(r"\b(?:hi|hello|hey|yes|morning|afternoon|evening)\b"),
    ),
    PhiPattern(  # a military post address: "PSC 1234 Box 5678, APO AE 09204", "CMR 480 Box 219"
        "address",
        _p(
            r"\b(?:psc|cmr|unit)\s*#?\s*\d{3,5}\s*,?\s*box\s*#?\s*\d{1,5}\b"
            r"(?:\s*,?\s*(?:apo|fpo|dpo)\s+(?:ae|ap|aa)(?:\s+\d{5}(?:-\d{4})?)?\b)?"
            r"|\b(?:apo|fpo|dpo)\s+(?:ae|ap|aa)\s+\d{5}(?:-\d{4})?\b"
        ),
        hint=_p(r"\b(?:box|apo|fpo|dpo)\b"),
    ),
    PhiPattern(  # a name spelled letter by letter: "spelled S-T-A-N-I-S-L-A-W-S-K-I", "K O W"
        "name",
        _p(
            r"\bspell(?:ed|s|ing)?(?:\s+(?:it|her|his|my|their|the|name|surname|last|first"
            r"|given|as|out)){0,4}\s*[:,]?\s*"
            r"(?P<v>[a-z](?:(?:[ \t]*[-.][ \t]*|[ \t]+)[a-z](?![\w'’])){2,}\.?)"
        ),
        hint=_p(r"spell"),
    ),
    PhiPattern(  # a month and its day as a cardinal word: "birthday is march twelve"
        "date",
        re.compile(
            rf"(?:(?i:\b(?:birthday|born|dob|d\.o\.b\.|date\s+of\s+birth|on)\s*(?:is|was|:)?"
            rf"\s*(?:on\s+)?){_MONTH}|(?-i:\b(?:Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)"
            r"[a-z]*))\.?\s+(?:the\s+)?(?i:(?:twenty|thirty)[-\s](?:one|two|three|four|five|six"
            r"|seven|eight|nine)|thirty|twenty|thirteen|fourteen|fifteen|sixteen|seventeen"
            r"|eighteen|nineteen|one|two|three|four|five|six|seven|eight|nine|ten|eleven"
            r"|twelve)\b(?![-\s]+(?:years?|months?|weeks?|days?|hours?|times|mg|units?|miles?"
            r"|pounds?|lbs?|kg|tablets?|pills?|doses?|of)\b)",
            re.IGNORECASE,
        ),
    ),
    PhiPattern(  # a neighbourhood named by its side of town: "the Upper West Side", "North End"
        "address",
        re.compile(
            r"\b(?:(?:Upper|Lower|Near|Far)[ \t]+)?(?:East|West|North|South|Northeast|Northwest"
            r"|Southeast|Southwest)[ \t]+(?:Side|End)\b"
        ),
        hint=re.compile(r"Side|End"),
    ),
    PhiPattern(  # an interpreter's or an operator's number after their name: "Rocio #4471"
        "id",
        _p(
            r"\b(?:interpreter|translator|operator|badge)\b[^.;\n]{0,40}?#[ \t]*:?[ \t]*"
            r"(?P<v>[a-z]{0,4}\d{3,}[\w-]*)"
        ),
        hint=_p(r"interpreter|translator|operator|badge"),
    ),
    PhiPattern(  # a code labelled "ID" ("fingerprint ID 998877"), after "number" (its kind wins)
        "id",
        _p(
            r"\bid\b\s*[:#]?\s*(?:no\.?|number|#)?\s*"
            rf"(?P<v>{_GROUPED_CODE}|(?=[\w-]*\d)[a-z0-9][\w-]{{2,}})"
            r"(?![\w-])(?!\s*(?:mg|mcg|ml|g|kg|units?|%)(?!\w))"
        ),
    ),
    PhiPattern(  # an EHR login: "user: hmarchetti7", "login rvoskuijlen", "signed by kpatel3"
        "handle",
        _p(
            r"\b(?:user(?:[ \t]?name)?|login|log-?in|user[ \t]?id|uid"
            r"|logged[ \t]+(?:in|on)[ \t]+as)\b[ \t]*"
            # after a colon any login; without one, a login with a digit, "_" or "." in it
            r"(?:[:=][ \t]*(?P<v>(?=[\w.-]*[a-z])[a-z0-9_][\w.-]{2,29}(?<![.-]))"
            r"|(?P<v2>(?-i:[a-z])(?=[\w.-]*[\d_.])[a-z0-9_][\w.-]{2,29}(?<![.-])))"
            # a lower-case login with digits after a verb of the audit trail
            r"|\b(?:(?:co-?|e-?)?signed|entered|verified|reviewed|authored|ordered|documented"
            r"|modified|released|performed|accessed|viewed|printed)(?:[ \t]+by)?[ \t]*:?[ \t]*"
            r"(?P<v3>(?-i:[a-z][a-z._-]*\d+[a-z]?))(?![\w.-])"
        ),
        hint=_p(r"user|log-?in|uid|\bby\b|signed"),
    ),
    PhiPattern(  # a town in an HL7 v2 address before its state and ZIP: "^^DULUTH^MN^55802"
        "address",
        re.compile(r"\^(?P<v>[A-Za-z][A-Za-z .'’-]{1,40})\^[A-Z]{2}\^\d{5}(?:-\d{4})?\b"),
        hint=re.compile(r"\^[A-Z]{2}\^\d"),
    ),
    PhiPattern(  # a ZIP code spelled out, as dictated: "zip nine four one one oh"
        "zip",
        _p(
            r"\b(?:zip|zip[ \t]+code|post(?:al)?[ \t]+code)\s+(?:is\s+)?"
            rf"(?P<v>{_DIGIT_WORD}(?:[\s,-]+{_DIGIT_WORD}){{4}})\b"
        ),
        hint=_p(r"\bzip|\bpost"),
    ),
    PhiPattern(  # a pager's number, often short and broken by a dash: "Beeper 71-4490"
        "phone",
        _p(
            r"\b(?:pager|beeper|pgr|bleep)\b\.?[ \t]*(?:#|no\.?|number)?[ \t]*[:#]?[ \t]*"
            r"(?P<v>\d{1,5}(?:[-.][ \t]?\d{2,5})?)(?![\w.-]?\d)"
        ),
        lambda v: sum(c.isdigit() for c in v) >= 4,
        hint=_p(r"pager|beeper|pgr|bleep"),
    ),
    PhiPattern(  # a person named by initials before a relative: "TK's wife", "JS' daughter"
        "name",
        re.compile(rf"(?<![\w.-])(?P<v>[A-Z]{{2,3}})(?:['’]s|['’])[ \t]+(?i:{_KIN_WORD})\b"),
        hint=re.compile(r"[A-Z]{2}['’]"),
    ),
    PhiPattern(  # a telephone after a French, Spanish or Portuguese label ("Teléfono 976 55 41
        # 82", "joignable au 06 12 48 73 95"), and a French number in five pairs
        "phone",
        _p(
            r"\b(?:tel[ée]fono|tfno|tlfno?|tl[fn]|m[óo]vil|celular|t[ée]l[ée]?phone|t[ée]l"
            r"|portable|joignable[ \t]+au)\b\.?[ \t]*(?:[:=][ \t]*)?"
            r"(?P<v>\+?\d{2,4}(?:[ .-]\d{2,4}){2,5})(?![\w.,/-]?\d)"
            r"|(?<![\w+.,/:-])(?P<v2>0[1-9](?:([ .])\d{2})(?:\3\d{2}){3})(?![\w.,/:-]?\d)"
        ),
        _phone_digits,
    ),
)

#: The patterns the PHI scanner reports on in every string (high precision); free-text columns
#: are scanned with every pattern and the engine (:func:`find_phi`).
SCAN_PATTERNS: tuple[str, ...] = ("ssn", "email", "phone")
_PLACEHOLDER = re.compile(r"\[[A-Z_]+\]")


def find_patterns(
    text: str, *, kinds: Iterable[str] | None = None
) -> Iterator[tuple[str, int, int]]:
    """Yield ``(kind, start, end)`` of every pattern hit in ``text`` (overlaps allowed)."""
    wanted = None if kinds is None else set(kinds)
    for pattern in PATTERNS:
        if wanted is None or pattern.kind in wanted:
            yield from pattern.finditer(text)


#: A word of four letters or more and the full stop after it: the end of a sentence, not an
#: abbreviation's dot ("St.", "Jr.", "D.C.").
_SENTENCE_END = re.compile(r"(?<![\w.])[^\W\d_]{4,}\.$")


def _full_stop_off(text: str, start: int, end: int) -> int:
    """``end`` without the full stop that ends the sentence a pattern's span ends it
    (``lives in Tupelo.``: the name goes, the full stop stays)."""
    at_break = end == len(text) or text[end].isspace()
    if at_break and end - start > 1 and _SENTENCE_END.search(text, start, end):
        return end - 1
    return end


#: A column header of a table pasted into a note (comma-, semicolon-, tab- or pipe-delimited)
#: that names an identifier, normalised to lower case and single spaces ("last_name", "DOB",
#: "Phone #", "Nachname", "Geburtsdatum", "Ort"), with the kind of its cells.
_ID_COLUMN = re.compile(
    r"(?:(?:patient|pt|pat|member|subscriber|contact|nok|guardian|emergency contact) )?"
    r"(?:(?P<name>(?:first|last|given|family|middle|full|maiden|sur)(?: ?name)?|name|fname"
    r"|lname|nachname|vorname|nom|pr[ée]nom|apellidos?|nombre)"
    r"|(?P<date>dob|birth ?date|date of birth|d\.o\.b\.?|geburtsdatum"
    r"|date de naissance|fecha de nacimiento)"
    r"|(?P<address>city|town|street|address(?: line)?(?: ?\d)?|addr\d?|zip(?: code)?"
    r"|post(?:al)? ?code|county|ort|stadt|wohnort|stra(?:ß|ss)e|plz|ville|adresse|ciudad"
    r"|direcci[óo]n)"
    r"|(?P<phone>phone(?: #| no\.?| number)?|tel|telephone|mobile|cell|fax|telefon"
    r"|t[ée]l[ée]phone|tel[ée]fono)|(?P<email>e ?mail|courriel)|(?P<ssn>ssn)"
    r"|(?P<id>mrn|id|account(?: #| no\.?)?|acct(?: #| no\.?)?|fin|member id|insurance id))"
)
_CELL_SPLIT = {
    # a comma outside double quotes: a CSV cell '"Quillfeather, Anselma"' is one cell
    ",": re.compile(r',(?=(?:[^"\n]*"[^"\n]*")*[^"\n]*$)'),
    ";": re.compile(r";"),
    "\t": re.compile(r"\t"),
    "|": re.compile(r"\|"),
}


def _table_cells(text: str) -> list[tuple[str, int, int]]:
    """The cells under identifier columns of tables pasted into ``text``: a header line of three
    cells or more, split by commas, semicolons, tabs or pipes, two of which at least name a person's
    identifier (:data:`_ID_COLUMN`: a name and a birth date, a city and a telephone; a record
    number alone or a "Name" column alone is a drug list's or a lab table's), and the lines
    after it with as many cells.

    Parameters
    ----------
    text : str

    Returns
    -------
    list of (kind, start, end)

    Examples
    --------
    >>> t = "id,dob,city,analyte\\nPT-55012,1941-11-23,Kalamazoo,HbA1c"
    >>> [(k, t[s:e]) for k, s, e in _table_cells(t)]
    [('id', 'PT-55012'), ('date', '1941-11-23'), ('address', 'Kalamazoo')]
    """
    lines = [(m.start(1), m.group(1)) for m in re.finditer(r"(?:^|(?<=\n))([^\n]*)", text)]
    out: list[tuple[str, int, int]] = []
    i = 0
    while i < len(lines):
        kinds, sep = _id_columns(lines[i][1])
        i += 1
        if not kinds:
            continue
        width = len(sep.split(lines[i - 1][1]))
        while i < len(lines):
            start, line = lines[i]
            cuts = [0] + [m.end() for m in sep.finditer(line)]
            if len(cuts) != width:
                break
            ends = [m.start() for m in sep.finditer(line)] + [len(line)]
            for col, kind in kinds.items():
                cell = line[cuts[col] : ends[col]]
                m = re.search(r"\w(?:.*\w)?", cell)
                if m is not None:
                    out.append((kind, start + cuts[col] + m.start(), start + cuts[col] + m.end()))
            i += 1
    return out


def _id_columns(line: str) -> tuple[dict[int, str], re.Pattern[str]]:
    """``({column: kind}, delimiter)`` of a header line naming identifier columns, or empty."""
    for sep in _CELL_SPLIT.values():
        cells = sep.split(line)
        if len(cells) < 3:
            continue
        kinds = {}
        for col, cell in enumerate(cells):
            key = re.sub(r"[\s_]+", " ", cell.strip(" \t\"'*").lower()).strip()
            m = _ID_COLUMN.fullmatch(key)
            if m is not None:
                kinds[col] = next(k for k, v in m.groupdict().items() if v is not None)
        if sum(k != "id" for k in kinds.values()) >= 2 or _named_record(cells, kinds):
            return kinds, sep  # not a drug list's "ID", "Name"
    return {}, _CELL_SPLIT[","]


#: A column of a person's record number (not a drug's or an item's "ID").
_RECORD_COLUMN = re.compile(
    r"(?:patient |pt )?(?:mrn|medical record(?: number| no\.?| #)?|record #)"
)


def _named_record(cells: list[str], kinds: dict[int, str]) -> bool:
    """Whether a header names a person and their medical record number ("patient_name,mrn")."""
    keys = [re.sub(r"[\s_]+", " ", c.strip(" \t\"'*").lower()).strip() for c in cells]
    return "name" in kinds.values() and any(_RECORD_COLUMN.fullmatch(k) for k in keys)


#: A code after the name of its code system ("SNOMED CT: 431857002", "snomed=431857002",
#: "icd10=N18.4", "RxCUI 197361"): a concept, not a record number, and the system's name no
#: name of a person.
_SYSTEM_CODE = re.compile(
    r"\b(?i:snomed(?:[ -]?ct)?|sctid|loinc|rxnorm|rxcui|cpt|hcpcs|ndc|umls|icd-?(?:9|10|11)"
    r"(?:-?cm|-?pcs)?)(?:[ \t]+(?i:code|concept|id))?[ \t]*[:=#]?[ \t]*"
    r"[A-Z]?\d(?:[\d.-]*\d)?(?![\w-]|\.\w)"
    # an ICD-10-PCS procedure code: 7 characters, letters among them ("0SRD0J9")
    r"|\b(?i:icd-?10-?pcs)(?:[ \t]+(?i:code))?[ \t]*[:=#]?[ \t]*[0-9A-HJ-NP-Z]{7}(?![\w-]|\.\w)"
)


#: A number that OCR misread: digits with the letters OCR takes for them ("O7/22/l936",
#: "52OO1", "2l4 Brlarwood Ln"), a whole token, at least one digit and one such letter.
_OCR_NUMBER = re.compile(
    r"(?<![^\W\d_])(?=[0-9OolI]*\d)(?=[0-9OolI]*[OolI])[0-9OolI]{2,}(?![^\W\d_])"
)
_OCR_DIGITS = str.maketrans("OolI", "0011")


def _ocr_hits(text: str) -> list[tuple[str, int, int]]:
    """Pattern hits of ``text`` read with OCR's misread numbers (:data:`_OCR_NUMBER`) put right
    ("O" and "o" as 0, "l" and "I" as 1), the hits that take in such a number only.

    Parameters
    ----------
    text : str

    Returns
    -------
    list of (kind, start, end)
        Spans of ``text`` itself: the fix keeps every character's place.

    Examples
    --------
    >>> [(k, t[s:e]) for t in ["DOB: O7/22/l936"] for k, s, e in _ocr_hits(t)]
    [('date', 'O7/22/l936')]
    """
    fixed = [(m.start(), m.end()) for m in _OCR_NUMBER.finditer(text)]
    if not fixed:
        return []
    chars = list(text)
    for a, b in fixed:
        chars[a:b] = text[a:b].translate(_OCR_DIGITS)
    read = "".join(chars)
    return [(k, s, e) for k, s, e in find_patterns(read) if any(a < e and s < b for a, b in fixed)]


def find_phi(
    text: str,
    identifiers: IdentifierSet | None = None,
    *,
    patterns: bool = True,
    engine: bool = True,
    names: bool = False,
    skip: frozenset[str] = frozenset(),
) -> list[tuple[str, int, int]]:
    """Every PHI span of ``text`` by the scrubber's detectors, merged, in text order.

    Parameters
    ----------
    text : str
    identifiers : IdentifierSet, optional
        Known values (matched first: their kind wins where detectors overlap).
    patterns, engine : bool
        Also run :data:`PATTERNS` and the clinical engine (:mod:`twinlab.deid.engine`).
    names : bool
        Also report runs of person names (:func:`person_name_runs`) and single person names
        that a cue or their case marks (:func:`single_person_names`; with ``patterns``).
    skip : frozenset of str
        Pattern kinds not reported (``{"id", "number"}`` for a product lot number, which is a
        serial by nature).

    Returns
    -------
    list of (kind, start, end)
        Non-overlapping spans; placeholders left by an earlier pass (``[NAME]``) are no PHI.

    Examples
    --------
    >>> [(k, t[s:e]) for t in ["Seen 14 Feb by nurse Ortiz, 94-year-old"]
    ...  for k, s, e in find_phi(t)]
    [('date', '14 Feb'), ('name', 'Ortiz'), ('age', '94-year-old')]
    """
    if not isinstance(text, str) or not text:
        return []
    spans: list[tuple[int, str, int, int]] = []
    if identifiers is not None:
        spans += [(0, k, s, e) for k, s, e in identifiers.finditer(text)]
    if patterns:
        hits = [(k, s, e) for k, s, e in find_patterns(text) if k not in skip]
        hits += [(k, s, e) for k, s, e in _ocr_hits(text) if k not in skip]
        hits += [(k, s, e) for k, s, e in _table_cells(text) if k not in skip]
        spans += [(1, k, s, _full_stop_off(text, s, e)) for k, s, e in hits]
    if patterns and names:
        spans += [(1, k, s, e) for k, s, e in person_name_runs(text)]
        spans += [(1, k, s, e) for k, s, e in single_person_names(text)]
    if engine:
        from twinlab.deid.engine import philter_spans

        spans += [(2, k, s, e) for k, s, e in philter_spans(text)]
    if not spans:
        return []
    held = [(m.start(), m.end()) for m in _PLACEHOLDER.finditer(text)]
    held += [(m.start(), m.end()) for m in _SYSTEM_CODE.finditer(text)]
    spans = [t for t in spans if not any(a <= t[2] and t[3] <= b for a, b in held)]
    spans.sort(key=lambda t: (t[2], t[0], -t[3]))
    out: list[tuple[str, int, int]] = []
    rank: list[int] = []
    for r, k, s, e in spans:
        if out and s < out[-1][2]:
            k0, s0, e0 = out[-1]
            out[-1] = (k if r < rank[-1] else k0, s0, max(e0, e))
            rank[-1] = min(r, rank[-1])
        else:
            out.append((k, s, e))
            rank.append(r)
    out = _with_initial(text, _town_after_address(text, out))
    out = _with_particles(text, out)
    out = _repeated_initials(text, out)
    if engine or names:
        out = _with_first_names(text, out)
    return _across_line_breaks(text, _with_date_prefix(text, out))


#: A person's initials: "J.S.", "R.M.O.", "TK".
_INITIALS_ONLY = re.compile(r"(?:[A-Z]\.){2,3}|[A-Z]{2,3}")


def _repeated_initials(text: str, spans: list[tuple[str, int, int]]) -> list[tuple[str, int, int]]:
    """``spans`` and every other whole-word occurrence of initials found as a name once ("pt
    J.S. ... discussed with J.S. today")."""
    found = {text[s:e] for k, s, e in spans if k == "name" and _INITIALS_ONLY.fullmatch(text[s:e])}
    if not found:
        return spans
    more = [
        ("name", m.start(), m.end())
        for value in found
        for m in re.finditer(rf"(?<![\w.]){re.escape(value)}(?![^\W_])", text)
    ]
    more = [t for t in more if not any(s < t[2] and t[1] < e for _, s, e in spans)]
    return sorted(spans + more, key=lambda t: t[1]) if more else spans


#: A part of a month glued to a date by a hyphen ("mid-March 2024", "late-2023"): the prefix
#: goes with the date.
_DATE_PREFIX = re.compile(r"(?<![\w-])(?:mid|early|late|end|beginning)-$", re.IGNORECASE)


def _with_date_prefix(text: str, spans: list[tuple[str, int, int]]) -> list[tuple[str, int, int]]:
    """``spans`` with each date's hyphenated prefix ("mid-March 2024") taken into it."""
    out = []
    for k, s, e in spans:
        m = _DATE_PREFIX.search(text, max(0, s - 12), s) if k == "date" else None
        out.append((k, m.start() if m is not None else s, e))
    return out


#: A middle or last initial right after a name: "Jolanda A.," "Pt Kwabena A. MRN".
_INITIAL_AFTER = re.compile(r"[ \t]+[A-Z]\.(?=[\s,;:)]|$)")


def _with_initial(text: str, spans: list[tuple[str, int, int]]) -> list[tuple[str, int, int]]:
    """``spans`` with the initial right after a name's span (its last word capitalised)."""
    out = []
    for kind, s, e in spans:
        m = _INITIAL_AFTER.match(text, e)
        last = text[s:e].split()[-1:] or [""]
        if kind in ("name", "phi") and m is not None and last[0][:1].isupper():
            e = m.end()
        out.append((kind, s, e))
    return out


#: Up to three capitalised words after a comma: the town after a street, a parish, a facility.
_TOWN_AFTER_ADDRESS = re.compile(r",[ \t]*([A-Z][\w'’-]+(?:[ \t]+[A-Z][\w'’-]+){0,2})")


def _town_after_address(text: str, spans: list[tuple[str, int, int]]) -> list[tuple[str, int, int]]:
    """``spans`` with the town named right after an address's span and a comma ("St. Casimir
    Parish, Duluth"): the longest run of its words that the gazetteers (US and world places)
    hold, where no span covers it already."""
    out = list(spans)
    for i, (kind, _, end) in enumerate(spans):
        m = _TOWN_AFTER_ADDRESS.match(text, end)
        if kind != "address" or m is None:
            continue
        if i + 1 < len(spans) and spans[i + 1][1] < m.end():
            continue
        places = _us_places()[0] | _world_places()[0]
        words = list(re.finditer(r"[\w'’-]+", m.group(1)))
        for n in range(len(words), 0, -1):
            if _fold(m.group(1)[: words[n - 1].end()]) in places:
                out.append(("address", m.start(1), m.start(1) + words[n - 1].end()))
                break
    return sorted(out, key=lambda t: (t[1], t[2]))


#: A word broken across a line by a hyphen (OCR, a narrow column): its part before the break
#: (at the end of the searched text) and its part after it (at the start).
_BROKEN_BEFORE = re.compile(r"(?<![^\W\d_])[^\W\d_]+-[ \t]*\n[ \t]*$")
#: The area code of a telephone number whose line broke after its hyphen ("919-" / "555-0128").
_BROKEN_PHONE_BEFORE = re.compile(r"(?<![\w-])(?:\+?1[-. ]?)?\(?\d{3}\)?-[ \t]*\n[ \t]*$")
_BROKEN_AFTER = re.compile(r"-?[ \t]*\n[ \t]*[^\W\d_]+(?![^\W\d_])")


def _across_line_breaks(text: str, spans: list[tuple[str, int, int]]) -> list[tuple[str, int, int]]:
    """``spans`` with the other part of a word a hyphen broke across lines ("Ar-" / "mand
    Bellweather", "Pitts-" / "field MA"): a span that ends at the hyphen takes the next line's
    first word, one that starts a line takes the part before the hyphen.

    Parameters
    ----------
    text : str
    spans : list of (kind, start, end)
        Non-overlapping, in text order.

    Returns
    -------
    list of (kind, start, end)
        Still non-overlapping, in text order.

    Examples
    --------
    >>> t = "Pt: Ar-\\nmand Quillfeather"
    >>> [t[s:e] for _, s, e in _across_line_breaks(t, [("name", 8, 25)])]
    ['Ar-\\nmand Quillfeather']
    """
    out: list[tuple[str, int, int]] = []
    for k, s, e in spans:
        broken = _BROKEN_PHONE_BEFORE if k == "phone" else _BROKEN_BEFORE
        before = broken.search(text, max(0, s - 40), s)
        if before is not None:
            s = before.start()
        if text[e - 1 : e] == "-" or text[e : e + 1] == "-":
            after = _BROKEN_AFTER.match(text, e)
            if after is not None and "\n" in after.group():
                e = after.end()
        if out and s <= out[-1][2]:
            out[-1] = (out[-1][0], out[-1][1], max(e, out[-1][2]))
        else:
            out.append((k, s, e))
    return out


#: The particles of surnames ("van der Berg", "de la Cruz", "dos Santos", "bin Rashid", "Ní
#: Bhriain", "ibn Saud"), in lower case between the parts of a name.
_PARTICLE = (
    r"(?:van|von|der|den|de|del|della|dei|degli|di|da|das|dos|do|du|des|la|le|lo|ter|ten|zu"
    r"|bin|ibn|bint|binti|al|el|ní|nic|ó|ua|mac|ap|y)"
)
#: A run of particles right before a span (the span starts at the end of the searched text).
_PARTICLE_RUN = re.compile(
    rf"(?<![^\s(\"“'‘,:;/]){_PARTICLE}(?:[ \t]+{_PARTICLE})*(?:[ \t]+|-)$", re.IGNORECASE
)
#: A title or a label just before a name's particles ("Dr. van Dijk", "Patient: de la Cruz").
_PARTICLE_CUE = re.compile(
    r"(?:\b(?:dr|mr|mrs|ms|mx|miss|prof|sr|sra|mme|mlle|herr|frau)\.?|[^\W\d_]+[ \t]*:|^)[ \t]*$",
    re.IGNORECASE | re.MULTILINE,
)
#: The kinds of spans a name's particles join (the engine's catch-all ``phi`` and a surname
#: that is also a place: "de la Cruz").
_NAME_KINDS = frozenset({"name", "phi", "address"})


def _with_particles(text: str, spans: list[tuple[str, int, int]]) -> list[tuple[str, int, int]]:
    """``spans`` with the particles of a surname joined to its name (``Hendrik van der Berg``
    was ``[NAME] van [NAME]``): a run of particles (:data:`_PARTICLE`) right before a name's
    span goes with it when a name's span ends right before the particles, or a title or a
    label does (``Patient: de la Cruz``). A particle before a word that nothing flagged stays
    (``von Willebrand disease``, ``de novo``)."""
    out: list[tuple[str, int, int]] = []
    for k, s, e in spans:
        m = None
        if k in _NAME_KINDS:
            m = _PARTICLE_RUN.search(text, out[-1][2] if out else 0, s)
        if m is not None:
            prev = out[-1] if out else None
            between = text[prev[2] : m.start()] if prev is not None else "x"
            if prev is not None and prev[0] in _NAME_KINDS and not between.strip(" \t\"”’')"):
                out[-1] = ("name" if "name" in (prev[0], k) else k, prev[1], e)
                continue
            if _PARTICLE_CUE.search(text, max(prev[2] if prev else 0, m.start() - 30), m.start()):
                out.append(("name", m.start(), e))
                continue
        out.append((k, s, e))
    return out


#: A capitalised word right before a span, blank space between (the span starts at the end of
#: the searched text).
_WORD_BEFORE = re.compile(r"(?<![\w'’.-])([A-Z][a-z'’]{2,})[ \t]+$")


def _with_first_names(text: str, spans: list[tuple[str, int, int]]) -> list[tuple[str, int, int]]:
    """``spans`` with the first names before a name's span joined to it: ``by Osgood
    Penhallow`` was ``by Osgood [PHI]`` (the engine keeps a first name that is an eponym of its
    clinical whitelist, and flags the surname it does not know). A capitalised word (3 letters
    or more) right before a name's span (:data:`_NAME_KINDS`), blank space between, joins it
    when it is a first or last name of the dictionaries that no clinical word is; the next word
    before it is tried too ("Mary Ann [NAME]"). A word before nothing flagged stays
    (``Osgood-Schlatter disease``, ``caused by Osgood Schlatter``)."""
    from twinlab.deid.vocabulary import _name_words

    names, clinical = _name_words()
    out: list[tuple[str, int, int]] = []
    for k, s, e in spans:
        if k in _NAME_KINDS:
            floor = out[-1][2] if out else 0
            while (m := _WORD_BEFORE.search(text, floor, s)) is not None:
                word = m.group(1).lower()
                if word not in names or word in clinical:
                    break
                k, s = "name", m.start(1)
        out.append((k, s, e))
    return out


#: distinct texts a scrubber remembers before it starts over
_MEMO_SIZE = 200_000
#: A full date in a record pointer: ISO (``2025-05-10``), day-month-year / month-day-year
#: with a 4-digit year, a month name with a day and a year (SAS ``DATE9`` ``17APR2023``,
#: ``17-Apr-2023``, ``Apr-17-2023``: EDC repeat keys), or a compact ``20230417`` that is a
#: whole repeat key or bracketed value (after ``#`` or ``[``; elsewhere a number, such as a
#: VCF position after ``:``, is a position).
POINTER_DATE = re.compile(
    r"(?<![\d.])(?:1[89]|20)\d{2}[-/.](?:0?[1-9]|1[0-2])[-/.](?:0?[1-9]|[12]\d|3[01])(?![\d.])"
    r"|(?<![\d.])\d{1,2}[-/.]\d{1,2}[-/.](?:1[89]|20)\d{2}(?![\d.])"
    rf"|(?<![^\W_])\d{{1,2}}[-/. ]?{_MONTH}[-/. ]?(?:(?:1[89]|20)\d{{2}}|\d{{2}})(?![^\W_])"
    rf"|(?<![^\W_]){_MONTH}[-/. ]?\d{{1,2}}[-/., ]{{1,2}}(?:1[89]|20)\d{{2}}(?![^\W_])"
    r"|(?<=[#\[])(?:1[89]|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])(?=[\]#@/]|$)",
    re.IGNORECASE,
)


#: What a position follows in a pointer (``#row=12``, ``entry[3]``, ``item[2]``, ``line[5]``,
#: ``tail[1]``, ``@4``, ``column 10``, ``day 2``, ``line 7``, ``L66:chr1:1234``, a repeat key
#: ``IG.AE#3``).
_POSITION_BEFORE = re.compile(
    r"(?:row=|entry\[|component\[|item\[|line\[|tail\[|@|column |day |line |^L|:|(?<=[\w.])#)$",
    re.IGNORECASE,
)


#: A word as the name check reads it: a capitalised or lower-case word, or an upper-case run
#: (``JOHN_SMITH`` and ``JohnSmith`` are two words each).
_NAME_WORD = re.compile(r"[A-Za-z][a-z]+|[A-Z]+(?![a-z])")
#: A token: a run of letters and digits.
_ALNUM_TOKEN = re.compile(r"[^\W_]+")


def person_name_runs(text: str) -> list[tuple[str, int, int]]:
    """Runs of two or more words in a row that are person names and no clinical word.

    The name check of short vocabulary-like values (sponsor terms such as a visit name, code
    systems), where the clinical engine's catch-all would remove real terms: a word counts when
    it is a first or last name of Philter's dictionaries and not in its clinical whitelist; one
    such word alone ("EMER", a FHIR encounter class) is no name, two in a row are
    (``WEEK 4 JOHN SMITH``, ``IG.JOHN_SMITH``). Digits and separators between them do not
    break a run. A token of letters and digits (a keyed id ``src-KXQKTRXEW5EU5TOK``, an event
    id ``ev-8ba60bea3cd6...``, a lot ``EW0182``) holds no name words: its letters spell names by
    chance.

    Parameters
    ----------
    text : str

    Returns
    -------
    list of (kind, start, end)
        ``("name", start, end)`` per run, from its first word's start to its last word's end.

    Examples
    --------
    >>> [(k, t[s:e]) for t in ["WEEK 4 JOHN SMITH"] for k, s, e in person_name_runs(t)]
    [('name', 'JOHN SMITH')]
    >>> person_name_runs("NOT HISPANIC OR LATINO"), person_name_runs("EMER")
    ([], [])
    >>> person_name_runs("src-KXQKTRXEW5EU5TOK")
    []
    """
    from twinlab.deid.vocabulary import _name_words

    names, clinical = _name_words()
    runs: list[tuple[str, int, int]] = []
    run: list[tuple[int, int]] = []
    for start, end, word in [*_words_of_letters(text), (0, 0, "")]:
        if len(word) > 1 and word in names and word not in clinical:
            run.append((start, end))
            continue
        if len(run) >= 2:
            runs.append(("name", run[0][0], run[-1][1]))
        run = []
    return runs


#: Words after which a single name word of a sponsor term is a person ("REVIEW BY KOWALSKI",
#: "CALL WITH Nowak", "PER ABERNATHY", "C/O SMITH"): a title or care role is a pattern already.
_SINGLE_NAME_CUE = re.compile(
    r"\b(?:by|per|from|with|c/o|attn|called|seen|contact|caller|for|investigator|inv|pi|sub-?i"
    r"|patient|pt|subject|relative|mother|father|son|daughter|wife|husband|spouse)\W{0,3}$",
    re.IGNORECASE,
)


#: Words of visit and time-point names (SDTM ``VISIT``, ``--TPT``, ``EPOCH``): a value holding
#: one is a sponsor's schedule term, whose every other word is the sponsor's vocabulary.
_TIMEPOINT_WORDS = frozenset(
    "week wk wks day days visit visits predose postdose pre post dose screening screen"
    " rescreen rescreening baseline cycle cycles hour hours hr hrs min mins minute minutes"
    " month months mo year years yr follow up fu unscheduled unsch end eot eos eop"
    " randomization randomisation washout trough infusion early termination et"
    " discontinuation retrieval placement removal ambul period run tele telephone remote"
    " onsite morning evening bedtime dawn dusk noon midnight sunrise sunset".split()
)
#: The most words of a schedule term (a longer value is a sentence: a trial summary's).
_TERM_WORDS = 8
#: Endings whose forms in Philter's clinical whitelist show a name-list word is an English one
#: too ("reader": "read"; "pollen": "pollination"); a plain plural does not ("smiths").
_ENGLISH_FORMS = ("ed", "ing", "er", "ers", "ly", "ness", "ful", "less", "ity", "ous", "ish")


def _an_english_word(word: str, clinical: frozenset[str]) -> bool:
    """Whether the lower-case ``word`` (a name of Philter's lists, none of its whitelist) is an
    English word by the forms of it the whitelist holds: a derived form (``walked``,
    ``reading``), its stem (``reader``: ``read``), or a Latinate form (``pollen``:
    ``pollination``)."""
    forms = [word + end for end in _ENGLISH_FORMS]
    if word.endswith("er"):  # "reader": "read"; "tanner": "tan"
        forms += [word[:-2], word[:-1], word[:-3]]
    if word.endswith("e"):
        forms += [word[:-1] + "ing", word + "d"]
    if word.endswith("en"):
        forms += [word[:-2] + end for end in ("inate", "ination", "inosis")]
    return any(f in clinical for f in forms)


def _lone_surname(
    text: str, words: list[tuple[int, int, str]], i: int, clinical: frozenset[str]
) -> bool:
    """Whether word ``i`` of a sponsor's schedule term is a surname alone (``WEEK 4 KOWALSKI``,
    ``DAY 1 PREDOSE NGUYEN``): the term is short (:data:`_TERM_WORDS`) and holds a visit or
    time-point word (:data:`_TIMEPOINT_WORDS`), and the word is of 4 letters or more, no part
    of a hyphenated compound (``ADAS-Cog``), a last name of Philter's lists, no word of its
    whitelist or of a schedule, no English word by its forms (:func:`_an_english_word`:
    ``POLLEN``, ``READER``) and no eponym's (``TANNER STAGING``)."""
    from twinlab.deid.engine import _EPONYM_AFTER
    from twinlab.deid.vocabulary import _last_names

    start, end, word = words[i]
    return (
        len(words) <= _TERM_WORDS
        and text[start - 1 : start] != "-"
        and text[end : end + 1] != "-"
        and _EPONYM_AFTER.match(text, end) is None
        and len(word) >= 4
        and word not in _TIMEPOINT_WORDS
        and word in _last_names()
        and word not in clinical
        and any(w in _TIMEPOINT_WORDS for j, (_, _, w) in enumerate(words) if j != i)
        and not _an_english_word(word, clinical)
    )


#: Words that name a relative, a household member or a title: a word after one that no
#: dictionary holds is a name (``CALL WITH DAUGHTER HAZELBURY``).
_RELATION_CUE = re.compile(
    r"\b(?:mother|father|son|daughter|wife|husband|spouse|sister|brother|sibling|relative"
    r"|partner|fianc[ée]e?|neighbou?r|caregiver|carer|guardian|friend|aunt|uncle|niece|nephew"
    r"|cousin|grand(?:mother|father|son|daughter|ma|pa)|step(?:mother|father|son|daughter)"
    r"|dr|mr|mrs|ms|miss)\.?\W{0,3}$",
    re.IGNORECASE,
)


#: Words before a person's name by what the person did ("INTERRUPTED BY <name>", "c/o"), before
#: which a word of no dictionary is a name (:func:`_unknown_name`).
_UNKNOWN_NAME_CUE = re.compile(r"\b(?:by|c/o|attn|called|caller)\W{0,3}$", re.IGNORECASE)


def _unknown_name(
    text: str,
    words: list[tuple[int, int, str]],
    i: int,
    names: frozenset[str],
    clinical: frozenset[str],
    found: list[tuple[str, int, int]],
) -> bool:
    """Whether word ``i``, of no dictionary (no person name, no clinical, schedule or English
    word: :func:`_an_english_word`), is a name by its place: after a relation or a title
    (:data:`_RELATION_CUE`), of 5 letters or more after a word that introduces a person by what
    they did (:data:`_UNKNOWN_NAME_CUE`: "BY HAVERGAL"; not "per", "with" or "for", before a
    drug or a standard: "PER RECIST", "WITH TWINUROSTAT"), or right after a name already
    ``found`` (blank space between)."""
    start, end, word = words[i]
    if (
        len(word) < 3
        or word in names
        or word in clinical
        or word in _TIMEPOINT_WORDS
        or _an_english_word(word, clinical)
        or text[end : end + 1] == "-"
        or text[start - 1 : start] == "-"
    ):
        return False
    before = text[max(0, start - 16) : start]
    if _RELATION_CUE.search(before):
        return True
    if len(word) >= 5 and _UNKNOWN_NAME_CUE.search(before):
        return True  # "DRUG INTERRUPTED BY HAVERGAL": a person the dictionaries lack
    return bool(found) and found[-1][2] <= start and not text[found[-1][2] : start].strip()


def single_person_names(text: str) -> list[tuple[str, int, int]]:
    """Single person names of a short vocabulary-like value that a cue or their case marks.

    One name word alone is no name to :func:`person_name_runs` (``EMER``; and Philter's name
    dictionaries hold ``POLLEN`` and ``READER``), so a visit called ``WEEK 4 KOWALSKI`` kept
    it. A single word counts here when it is a first or last name of Philter's dictionaries, no
    clinical word of its whitelist, at least 3 letters, and either

    * follows a word that introduces a person (``by``, ``per``, ``with``, ``c/o``...:
      :data:`_SINGLE_NAME_CUE`) or is followed by a possessive ``'s`` (``KOWALSKI'S CALL``), or
    * is capitalised in a value whose other words (two or more) are all in upper case
      (``5 MIN POST DOSE Kowalski``: a sponsor's terms are written in one case), or
    * is a surname alone in a visit or time-point name (``WEEK 4 KOWALSKI``: a last name of
      the dictionaries that no clinical, schedule or English word is, :func:`_lone_surname`).

    A word of no dictionary at all (no name, clinical, schedule or English word) counts too
    when it follows a word that names a relative or a title (``DAUGHTER HAZELBURY``,
    ``DR MABERLY``) or a name found here (``DAUGHTER PHILIPPA RAVENSWORTH``: a surname the
    dictionaries lack after a first name they hold), :func:`_unknown_name`.

    Parameters
    ----------
    text : str
        A sponsor term, a code system or another short value read without the engine.

    Returns
    -------
    list of (str, int, int)
        ``("name", start, end)`` of each such word, in text order.

    Examples
    --------
    >>> [t[s:e] for t in ["REVIEW BY KOWALSKI"] for _, s, e in single_person_names(t)]
    ['KOWALSKI']
    >>> [t[s:e] for t in ["5 MIN POST DOSE Kowalski"] for _, s, e in single_person_names(t)]
    ['Kowalski']
    >>> [t[s:e] for t in ["WEEK 4 KOWALSKI"] for _, s, e in single_person_names(t)]
    ['KOWALSKI']
    >>> single_person_names("EMER"), single_person_names("WEEK 4 POLLEN")
    ([], [])
    """
    from twinlab.deid.vocabulary import _name_words

    names, clinical = _name_words()
    words = list(_words_of_letters(text))
    out: list[tuple[str, int, int]] = []
    for i, (start, end, word) in enumerate(words):
        if _unknown_name(text, words, i, names, clinical, out):
            out.append(("name", start, end))
            continue
        if len(word) < 3 or word not in names or word in clinical:
            continue
        if _lone_surname(text, words, i, clinical):
            out.append(("name", start, end))
            continue
        original = text[start:end]
        others = [text[a:b] for a, b, _ in words if a != start]
        contrast = (
            original[:1].isupper()
            and original[1:].islower()
            and len(others) >= 2
            and all(o.isupper() for o in others)
        )
        cue = (
            _SINGLE_NAME_CUE.search(text[max(0, start - 30) : start]) is not None
            or re.match(r"['’]s\b", text[end : end + 3], re.IGNORECASE) is not None
        )
        if contrast or cue:
            out.append(("name", start, end))
    return out


def _words_of_letters(text: str) -> Iterator[tuple[int, int, str]]:
    """``(start, end, lower-case word)`` of the words of ``text``'s tokens without a digit."""
    for token in _ALNUM_TOKEN.finditer(text):
        if any(c.isdigit() for c in token.group()):
            continue
        for m in _NAME_WORD.finditer(token.group()):
            yield token.start() + m.start(), token.start() + m.end(), m.group().lower()


#: The sponsor's OIDs in an ODM record pointer: ``ClinicalData[ST.1]``,
#: ``StudyEventData[SE.V1#2]``, ``FormData[F.VS]``, ``ItemGroupData[IG.LB#1]`` (the repeat key
#: after ``#`` is left to the date check).
_POINTER_OID = re.compile(r"(?<=Data\[)[^\]#]+")


def pointer_phi(text: str, identifiers: IdentifierSet) -> list[tuple[str, int, int]]:
    """The PHI spans of a record pointer, in text order, without overlaps.

    Known values, except a short number in a position (``dm.xpt#row=1015`` is row 1015, not
    subject 1015; ``SubjectData[1015]`` is the subject), full dates whatever their owner
    (:data:`POINTER_DATE`; a reader writes positions, so a date is a reader's mistake that
    would undo the shift of the event's time), and runs of person names in the sponsor's OIDs
    of an ODM pointer (:func:`person_name_runs` in ``ItemGroupData[IG.JOHN_SMITH#2]``, which
    the qualifiers lose them from too; only there: elsewhere a pointer holds keyed ids and
    UUIDs, whose letters can spell names by chance, and must stay unique).

    Examples
    --------
    >>> ids = IdentifierSet([("patient_key", "1015")])
    >>> [(k, s, e) for k, s, e in pointer_phi("ae.xpt#row=1015", ids)]
    []
    >>> pointer_phi("ODM/SubjectData[1015]/ItemGroupData[IG.AE]@2", ids)
    [('patient_key', 16, 20)]
    """
    spans = [
        (k, s, e)
        for k, s, e in identifiers.finditer(text)
        if not (
            e - s < 6 and text[s:e].isdigit() and _POSITION_BEFORE.search(text[max(0, s - 10) : s])
        )
    ]
    spans += [("date", m.start(), m.end()) for m in POINTER_DATE.finditer(text)]
    spans += [
        (k, m.start() + s, m.start() + e)
        for m in _POINTER_OID.finditer(text)
        for k, s, e in person_name_runs(m.group())
    ]
    spans.sort(key=lambda t: (t[1], -t[2]))
    out: list[tuple[str, int, int]] = []
    for span in spans:
        if not out or span[1] >= out[-1][2]:
            out.append(span)
    return out


class TextScrubber:
    """Removes PHI from free text (known values, patterns and the clinical engine).

    Parameters
    ----------
    identifiers : IdentifierSet, optional
        The known identifier values to remove exactly.
    replace : callable, optional
        ``replace(kind, matched)`` -> replacement for known values, instead of ``[KIND]``
        (e.g. the patient key -> its pseudonym).
    engine : bool
        Run the clinical de-identification engine too (default); False for short
        vocabulary-like values.
    names : bool
        Also remove runs of person names (:func:`person_name_runs`): the name check of
        vocabulary-like values scrubbed without the engine (sponsor terms, sites).
    skip : frozenset of str
        Pattern kinds not removed (see :func:`find_phi`).

    Examples
    --------
    >>> TextScrubber().scrub("call 617-555-0123 or mail a.b@example.org on 2020-03-04")
    'call [PHONE] or mail [EMAIL] on [DATE]'
    """

    def __init__(
        self,
        identifiers: IdentifierSet | None = None,
        *,
        replace: Callable[[str, str], str] | None = None,
        engine: bool = True,
        names: bool = False,
        skip: frozenset[str] = frozenset(),
    ) -> None:
        self.identifiers = identifiers if identifiers is not None else IdentifierSet()
        self._replace = replace
        self.engine = engine
        self.names = names
        self.skip = skip
        self._known = frozenset(self.identifiers.kinds)
        # scrubbed text by (text, patterns): values repeat across rows (qualifier values,
        # terms); the identifiers are fixed, so a value's result never changes
        self._memo: dict[tuple[str, bool | None], str] = {}

    def __repr__(self) -> str:
        return f"TextScrubber({self.identifiers!r}, engine={self.engine})"

    def find(self, text: Any, *, patterns: bool = True) -> list[tuple[str, int, int]]:
        """The PHI spans :meth:`scrub` replaces (:func:`find_phi` with this scrubber's set)."""
        return find_phi(
            text,
            self.identifiers,
            patterns=patterns,
            engine=patterns and self.engine,
            names=self.names,
            skip=self.skip,
        )

    def scrub(self, text: Any, *, patterns: bool = True) -> Any:
        """Return ``text`` with PHI replaced; missing values and non-strings pass unchanged.

        Parameters
        ----------
        text : str
        patterns : bool
            Also apply :data:`PATTERNS` and the engine (False: known values only, e.g. for
            record pointers, where long numbers are legitimate).
        """
        if not isinstance(text, str) or not text:
            return text
        return self._replaced(text, patterns, lambda: self.find(text, patterns=patterns))

    def _replaced(
        self, text: str, memo_key: bool | None, spans: Callable[[], list[tuple[str, int, int]]]
    ) -> str:
        """``text`` with each of ``spans()`` replaced (remembered under ``memo_key``)."""
        memo = self._memo.get((text, memo_key))
        if memo is not None:
            return memo
        parts: list[str] = []
        pos = 0
        for kind, s, e in spans():
            parts.append(text[pos:s])
            if self._replace is not None and kind in self._known:
                parts.append(self._replace(kind, text[s:e]))
            else:
                parts.append(f"[{kind.upper()}]")
            pos = e
        parts.append(text[pos:])
        out = "".join(parts)
        if len(self._memo) >= _MEMO_SIZE:
            self._memo.clear()
        self._memo[(text, memo_key)] = out
        return out

    def scrub_series(
        self, values: pd.Series, *, patterns: bool = True, pointers: bool = False
    ) -> pd.Series:
        """Scrub a Series of text, each distinct value once; missing values stay missing.

        ``pointers=True``: the values are record pointers (:meth:`scrub_pointer`).
        """
        uniques = pd.unique(values[values.notna()])
        if pointers:
            mapping = {u: self.scrub_pointer(u) for u in uniques}
        else:
            mapping = {u: self.scrub(u, patterns=patterns) for u in uniques}
        return values.map(lambda v: v if is_missing(v) else mapping.get(v, v)).astype(values.dtype)

    def scrub_pointer(self, text: Any) -> Any:
        """Return a record pointer (``dm.xpt#row=1015``, ``entry[3]``) with known values and
        full dates replaced.

        The spans are :func:`pointer_phi`'s: a row number is not the subject number 1015.
        """
        if not isinstance(text, str) or not text:
            return text
        return self._replaced(text, None, lambda: pointer_phi(text, self.identifiers))

    def scrub_obj(self, obj: Any, *, patterns: bool = True) -> Any:
        """Scrub every string (values and keys) inside nested dicts and lists."""
        if isinstance(obj, str):
            return self.scrub(obj, patterns=patterns)
        if isinstance(obj, dict):
            return {
                self.scrub(str(k), patterns=patterns): self.scrub_obj(v, patterns=patterns)
                for k, v in obj.items()
            }
        if isinstance(obj, list | tuple):
            return [self.scrub_obj(v, patterns=patterns) for v in obj]
        return obj


def scrub_text(text: str, identifiers: IdentifierSet | None = None) -> str:
    """Return ``text`` with known identifier values and PHI patterns replaced.

    Parameters
    ----------
    text : str
    identifiers : IdentifierSet, optional

    Returns
    -------
    str

    Examples
    --------
    >>> scrub_text("see https://x.example.org/p?id=7 from 10.0.0.12")
    'see [URL] from [IP]'
    """
    return TextScrubber(identifiers).scrub(text)
