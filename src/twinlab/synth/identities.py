"""Fictional but realistic personal identifiers (PHI planted on purpose for de-identification).

Phone numbers use the fictional 555-01xx range, e-mail addresses the reserved ``example.*``
domains and SSN-like numbers the never-issued 9xx area.
"""

from __future__ import annotations

import unicodedata

import numpy as np
import pandas as pd

from twinlab.synth import truth as T
from twinlab.synth.population import quota

GIVEN_MALE = (
    "José", "James", "Michael", "Robert", "David", "John", "William", "Luis", "Jürgen",
    "François", "Seán", "Chidi", "Wei", "Hiroshi", "Ahmed", "Mateo", "Björn", "André",
    "Rafael", "Thomas", "Daniel", "Joseph", "Carlos", "Kwame", "Nikolai",
)  # fmt: skip
GIVEN_FEMALE = (
    "Zoë", "María", "Mary", "Patricia", "Jennifer", "Linda", "Elizabeth", "Renée", "Chloé",
    "Siobhán", "Ana", "Fatima", "Mei", "Yuki", "Ingrid", "Noëlle", "Beatriz", "Ava", "Sarah",
    "Karen", "Lucía", "Aaliyah",
)  # fmt: skip
FAMILY = (
    "O'Brien", "Nuñez", "García", "Smith", "Johnson", "Williams", "Brown", "Jones", "Miller",
    "Davis", "Rodríguez", "Martínez", "Hernández", "López", "González", "Wilson", "Anderson",
    "Taylor", "Moore", "D'Angelo", "O'Connor", "Müller", "Nguyen", "Kim", "Patel", "Okafor",
    "Johansson", "Kowalski", "Dubois", "Lefèvre",
)  # fmt: skip
STREETS = (
    "Main St", "Oak Ave", "Maple Dr", "Cedar Ln", "Washington Blvd", "Park Rd", "Elm St",
    "Lakeview Ter", "Sunset Blvd", "Hillcrest Way", "Church St", "Mill Rd",
)  # fmt: skip
#: (city, state, ZIP3, telephone area code)
CITIES = (
    ("Boston", "MA", "021", "617"), ("New York", "NY", "100", "212"),
    ("Philadelphia", "PA", "191", "215"), ("Atlanta", "GA", "303", "404"),
    ("Miami", "FL", "331", "305"), ("Chicago", "IL", "606", "312"),
    ("Houston", "TX", "770", "713"), ("Dallas", "TX", "752", "214"),
    ("Minneapolis", "MN", "554", "612"), ("St. Louis", "MO", "631", "314"),
    ("Los Angeles", "CA", "900", "213"), ("San Francisco", "CA", "941", "415"),
    ("Seattle", "WA", "981", "206"), ("Portland", "OR", "972", "503"),
    ("San José", "CA", "951", "408"), ("Coeur d'Alene", "ID", "838", "208"),
)  # fmt: skip
#: Cities in the 17 ZIP3 areas that HIPAA Safe Harbor restricts (population < 20,000).
RESTRICTED_CITIES = (
    ("Lebanon", "NH", "036", "603"), ("Saint Johnsbury", "VT", "059", "802"),
    ("New London", "CT", "063", "860"), ("New York", "NY", "102", "212"),
    ("Washington", "DC", "203", "202"), ("Duluth", "MN", "556", "218"),
    ("North Platte", "NE", "692", "308"), ("Amarillo", "TX", "790", "806"),
    ("Yellowstone National Park", "WY", "821", "307"), ("Rawlins", "WY", "823", "307"),
    ("Jackson", "WY", "830", "307"), ("Kemmerer", "WY", "831", "307"),
    ("Socorro", "NM", "878", "575"), ("Truth or Consequences", "NM", "879", "575"),
    ("Tucumcari", "NM", "884", "575"), ("Las Vegas", "NV", "890", "702"),
    ("Ely", "NV", "893", "775"),
)  # fmt: skip
RESTRICTED_ZIP3 = tuple(c[2] for c in RESTRICTED_CITIES)
EMAIL_DOMAINS = ("example.com", "example.org", "example.net", "mail.example.com")


def ascii_fold(text: str) -> str:
    """Lower-case ASCII letters and digits of ``text`` (accents dropped, punctuation removed)."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if c.isascii() and c.isalnum()).lower()


def simulate_identities(subjects: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Draw a name, address, phone, e-mail, SSN-like number and MRN for every subject.

    Parameters
    ----------
    subjects
        The subject table (``USUBJID``, ``SITEID``, ``sex``), in output order.
    rng
        The ``identity`` stream.

    Returns
    -------
    pandas.DataFrame
        One row per subject, same order, with ``given``, ``family``, ``line``, ``city``,
        ``state``, ``zip``, ``phone``, ``email``, ``ssn`` and ``mrn``.
    """
    n = len(subjects)
    male = subjects["sex"].to_numpy() == "M"
    gm = rng.integers(0, len(GIVEN_MALE), n)
    gf = rng.integers(0, len(GIVEN_FEMALE), n)
    given = np.where(male, np.array(GIVEN_MALE)[gm], np.array(GIVEN_FEMALE)[gf])
    family = np.array(FAMILY)[rng.integers(0, len(FAMILY), n)]
    restricted = quota(rng, n, T.RESTRICTED_ZIP_FRACTION)
    city_idx = rng.integers(0, len(CITIES), n)
    rcity_idx = rng.integers(0, len(RESTRICTED_CITIES), n)
    place = [
        RESTRICTED_CITIES[r] if is_r else CITIES[c]
        for is_r, c, r in zip(restricted, city_idx, rcity_idx, strict=True)
    ]
    house = rng.integers(1, 9900, n)
    street = np.array(STREETS)[rng.integers(0, len(STREETS), n)]
    apt = rng.integers(1, 40, n)
    has_apt = rng.random(n) < 0.3
    zip2 = rng.integers(0, 100, n)
    phone = rng.integers(0, 100, n)
    mail_n = rng.integers(1, 100, n)
    domain = np.array(EMAIL_DOMAINS)[rng.integers(0, len(EMAIL_DOMAINS), n)]
    ssn = rng.integers(0, 10**8, n)
    ssn_area = rng.integers(900, 1000, n)
    mrn = rng.integers(10**7, 10**8, n)
    rows = []
    for i in range(n):
        city, state, zip3, area = place[i]
        rows.append(
            {
                "given": given[i],
                "family": family[i],
                "line1": f"{house[i]} {street[i]}",
                "line2": f"Apt {apt[i]}" if has_apt[i] else "",
                "city": city,
                "state": state,
                "zip": f"{zip3}{zip2[i]:02d}",
                "phone": f"({area}) 555-01{phone[i]:02d}",
                "email": f"{ascii_fold(given[i])}.{ascii_fold(family[i])}{mail_n[i]}@{domain[i]}",
                "ssn": f"{ssn_area[i]}-{ssn[i] // 10**4 % 100:02d}-{ssn[i] % 10**4:04d}",
                "mrn": f"MRN{mrn[i]}",
            }
        )
    return pd.DataFrame(rows, index=subjects.index)
