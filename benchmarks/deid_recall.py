"""De-identification benchmark: recall per Safe Harbor class, precision, clinical tokens lost.

A corpus of clinical notes is generated here, independently of the detectors: its own name,
street, city and employer lists (none taken from Philter's dictionaries or twinlab's patterns),
identifiers of all 18 Safe Harbor classes of the **patient and of relatives, clinicians,
employers**, each written in several formats chosen at random (``March 3, 2021``, ``3/3/21``,
``03-MAR-2021``, ``the 3rd of March``, ``14 Feb``; ``(617) 555-0142``, ``617.555.0142``,
``555 0142``, ``+1 617 555 0142``...), inside clinical sentences (drugs, doses, labs, units,
genes) whose tokens must survive. FHIR-like resources are rendered as JSON text and scrubbed the
same way (``text.div`` narratives, ``note`` fields).

Each note is scrubbed by three systems in the same run:

``twinlab``
    :class:`twinlab.deid.TextScrubber` with the known identifiers of the patient and relatives
    (as ingest builds them from the persons table), the patterns and the Philter engine;
``patterns+known``
    the same without the engine: known identifiers and this version's patterns (which grew in
    issue 14; the engine's contribution is the difference to ``twinlab``);
``engine``
    philter-lite alone (:func:`twinlab.deid.engine.philter_spans`).

A planted identifier counts as found when every letter and digit of it is replaced. Reported:
recall per class and overall, recall on the patient's own known identifiers, precision (share of
replaced characters that are PHI), and the share of clinical tokens wrongly removed.

Caveat: the patterns were last adjusted (phones written ``555 0142`` after a label, dates
followed by a full stop, plates with a space, "works at <Employer>") after reading the misses of
this generator on another seed (3); the results below are for seed 14. A corpus nobody tuned
on will score lower; the per-class table says where to look.

Usage::

    python benchmarks/deid_recall.py [--notes 400] [--seed 14] [--out benchmarks/results]
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import re
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FIRST = """Aurelio Bettina Caoimhe Dagny Eulalia Folasade Gwendolyn Hamish Ingrid Jovanka Kazimierz
Leocadia Marisol Nnamdi Oksana Perpetua Quillon Rosalind Svetlana Tadeusz Ulrike Valentijn
Wilhelmina Xiomara Yevgenia Zebulon Anouk Benedikt Cosimo Dervla Emeric Filippa Gaspard Hyacinth
Isidore Jolanda Kwabena Lisandro Maelys Niamh Ottoline Ptolemy Radomir Saoirse Thaddeus
Ysolde""".split()
LAST = """Abernathy-Quist Brightwater Castellanos Delacroix-Yoon Eisenhardt Fairweather Grzybowski
Hollingsworth Iwasaki-Morel Jablonski Kowalczyk Lindqvist MacGillivray Nakagawa-Pryce Okonkwo
Pemberton-Vasquez Quattrociocchi Rautenberg Szczepanski Thistlewood Urquhart Vanderkolk
Wojciechowski
Yarborough Zielinski O'Shaughnessy Ng Featherstonehaugh Ouellette Baptiste-Lindgren""".split()
STREETS = """Quarry Hollow|Larkspur|Tamarack Bend|Old Mill Race|Heron Pond|Cobblestone Ridge|Juniper
Glen|Wexford|Saltmarsh|Orchard Crest""".replace("\n", " ").split("|")
STREET_TYPES = ["Road", "Lane", "Drive", "Ct.", "Terrace", "Way", "Blvd", "St"]
CITIES = """Millbrook Falls|East Haddington|Port Caledon|Ravensworth|Quinnipoint|Lower Ashby|Fenwick
Harbor|Kessington|Marlowe Springs|Tillbury""".replace("\n", " ").split("|")
COUNTIES = ["Harrow County", "Oakmere County", "Brackton Parish"]
EMPLOYERS = ["Quillfeather Logistics", "Brindle & Oates LLP", "Sandhaven Mills", "Corvid Bakery"]
RELATIONS = ["daughter", "son", "wife", "husband", "sister", "brother", "grandson", "niece"]
ROLES = ["Dr.", "Nurse", "NP", "PA", "Dr"]
MONTHS = "January February March April May June July August September October November December"

CLINICAL = [
    "warfarin 5 mg daily",
    "INR 2.4",
    "creatinine 88 umol/L",
    "metoprolol 25 mg twice daily",
    "ALT 34 U/L",
    "HbA1c 6.1%",
    "eGFR 54 mL/min/1.73m2",
    "apixaban 5 mg BID",
    "CYP2C9 *1/*3 genotype",
    "blood pressure 132/84 mmHg",
    "heart rate 72 bpm",
    "atrial fibrillation",
    "type 2 diabetes mellitus",
    "chronic kidney disease stage 3a",
    "potassium 4.1 mmol/L",
    "hemoglobin 12.9 g/dL",
    "no acute distress",
    "lungs clear",
    "mild bilateral ankle edema",
    "dapagliflozin 10 mg",
    "troponin below 14 ng/L",
    "weight 71.5 kg",
    "temperature 37.2 C",
    "SpO2 97% on room air",
    "plan to recheck INR",
]


@dataclass
class Note:
    """A generated note and its gold PHI spans."""

    text: str = ""
    spans: list[tuple[str, int, int, str]] = field(default_factory=list)  # class, s, e, owner
    clinical: list[tuple[int, int]] = field(default_factory=list)
    known: list[tuple[str, str]] = field(default_factory=list)

    def add(self, piece: str, kind: str | None = None, owner: str = "patient") -> None:
        start = len(self.text)
        self.text += piece
        if kind == "clinical":
            self.clinical.append((start, len(self.text)))
        elif kind:
            self.spans.append((kind, start, len(self.text), owner))


def _date(rng: random.Random, year: int | None = None) -> str:
    y = year or rng.randint(1930, 2024)
    m, d = rng.randint(1, 12), rng.randint(1, 28)
    month = MONTHS.split()[m - 1]
    suffix = {1: "st", 2: "nd", 3: "rd"}.get(d if d < 20 else d % 10, "th")
    return rng.choice([
        f"{y}-{m:02d}-{d:02d}", f"{m}/{d}/{y}", f"{m}/{d}/{y % 100:02d}", f"{d:02d}.{m:02d}.{y}",
        f"{month} {d}, {y}", f"{month[:3]} {d} {y}", f"{d:02d}-{month[:3].upper()}-{y}",
        f"{d} {month} {y}", f"{month[:3]} {d}{suffix}", f"{d} {month[:3]}", f"{m:02d}/{d:02d}",
        f"{d}{suffix} of {month}", f"{month} {y}",
    ])  # fmt: skip


def _phone(rng: random.Random) -> str:
    a, b, c = rng.randint(201, 989), rng.randint(200, 999), rng.randint(0, 9999)
    return rng.choice([
        f"({a}) {b}-{c:04d}", f"{a}.{b}.{c:04d}", f"{a}-{b}-{c:04d}", f"+1 {a} {b} {c:04d}",
        f"{b}-{c:04d}", f"{b} {c:04d}", f"1-{a}-{b}-{c:04d}", f"{a}{b}{c:04d}",
    ])  # fmt: skip


def _alnum(rng: random.Random, pattern: str) -> str:
    out = []
    for ch in pattern:
        if ch == "9":
            out.append(str(rng.randint(0, 9)))
        elif ch == "A":
            out.append(rng.choice("ABCDEFGHJKLMNPRSTUVWXYZ"))
        else:
            out.append(ch)
    return "".join(out)


def make_note(rng: random.Random) -> Note:
    """One note with identifiers of every class, of the patient and of others."""
    n = Note()
    first, last = rng.choice(FIRST), rng.choice(LAST)
    rel_first, rel_last = rng.choice(FIRST), rng.choice([last, rng.choice(LAST)])
    doc = rng.choice(LAST)
    nurse = rng.choice(FIRST)
    mrn = str(rng.randint(1000, 99999999))
    pid = str(rng.randint(1000, 9999))
    ssn = f"{rng.randint(100, 899)}-{rng.randint(10, 99)}-{rng.randint(1000, 9999)}"
    phone = _phone(rng)
    email = (
        f"{first.lower()}.{last.lower().replace(chr(39), '')}{rng.randint(1, 99)}@"
        + rng.choice(["mailbox.example.com", "post.example.net", "example.org"])
    )
    street = f"{rng.randint(2, 9999)} {rng.choice(STREETS)} {rng.choice(STREET_TYPES)}"
    city = rng.choice(CITIES)
    zipc = f"{rng.randint(10000, 99999)}"
    birth = _date(rng, rng.randint(1925, 1995))
    n.known = [("name", f"{first} {last}"), ("name", first), ("name", last), ("mrn", mrn),
               ("patient_key", pid), ("ssn", ssn), ("phone", phone), ("email", email),
               ("address", street), ("city", city), ("zip", zipc),
               ("name", f"{rel_first} {rel_last}"), ("name", rel_first),
               ("name", rel_last)]  # fmt: skip
    c = lambda: n.add(rng.choice(CLINICAL), "clinical")  # noqa: E731
    n.add(rng.choice(["Patient ", "Pt ", "Seen: "]))
    spelled = [f"{first} {last}", f"{last.upper()}, {first.upper()}", f"{first} {last[0]}."]
    n.add(rng.choice(spelled), "name")
    n.add(", MRN ")
    n.add(mrn, "mrn")
    n.add(", DOB ")
    n.add(birth, "date")
    n.add(". On ")
    c()
    n.add(" and ")
    c()
    n.add(". Admitted ")
    n.add(_date(rng), "date")
    n.add(", discharged ")
    n.add(_date(rng), "date")
    n.add(". Accompanied by her " if rng.random() < 0.5 else ". Seen with his ")
    n.add(rng.choice(RELATIONS) + " ")
    n.add(f"{rel_first} {rel_last}", "name", "relative")
    n.add(" (cell ")
    n.add(_phone(rng), "phone", "relative")
    n.add("), who works at ")
    n.add(rng.choice(EMPLOYERS), "employer", "relative")
    n.add(". ")
    c()
    n.add(". Reviewed by ")
    n.add(rng.choice(ROLES) + " ")
    n.add(doc, "name", "clinician")
    n.add(" with nurse ")
    n.add(nurse, "name", "clinician")
    n.add(". Lives at ")
    n.add(street, "address")
    n.add(", ")
    n.add(city, "city")
    n.add(rng.choice([", ", " "]))
    n.add(zipc, "zip")
    n.add(rng.choice([" in ", ", "]))
    n.add(rng.choice(COUNTIES), "city")
    n.add(". Phone ")
    n.add(phone, "phone")
    n.add(rng.choice([", fax ", "; fax: "]))
    n.add(_phone(rng), "fax")
    n.add(". Email ")
    n.add(email, "email")
    n.add(". SSN ")
    n.add(rng.choice([ssn, ssn.replace("-", " "), ssn.replace("-", "")]), "ssn")
    n.add(". ")
    c()
    n.add(rng.choice([". Medicaid ", ". Health plan ID ", ". Member # "]))
    n.add(_alnum(rng, rng.choice(["AA99999999A", "999999999A", "AAA-999-99-9999"])), "health_plan")
    n.add(rng.choice([". Account ", ". Acct no. "]))
    n.add(_alnum(rng, rng.choice(["99999999", "AC-999999", "9999-99999"])), "account")
    n.add(rng.choice([". Driver licence ", ". DL# ", ". Nursing license "]))
    n.add(_alnum(rng, rng.choice(["A9999999", "99-AAA-9999", "A999-999-99-999"])), "license")
    n.add(rng.choice([". Car plate ", ". Vehicle tag ", ". VIN "]))
    n.add(_alnum(rng, rng.choice(["9AAA999", "AAA 9999", "1AAAA99A99A999999"])), "vehicle")
    n.add(rng.choice([". Pump serial ", ". Pacemaker SN ", ". Device "]))
    n.add(_alnum(rng, rng.choice(["A9A9-99A9", "AA99999999", "99A-A999-9A"])), "device")
    n.add(". Portal ")
    n.add(rng.choice([f"www.{city.split()[0].lower()}clinic.org/p/{pid}",
                      f"https://portal.example.com/u/{mrn}",
                      f"{city.split()[0].lower()}-health.example.net"]), "url")  # fmt: skip
    n.add(" from ")
    n.add(rng.choice([f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
                      f"ws-{rng.randint(10, 99)}.radiology.local"]), "ip")  # fmt: skip
    n.add(". Fingerprint template ")
    n.add(_alnum(rng, "FP-99A9A9A9"), "biometric")
    n.add(", photo ")
    n.add(f"{first.lower()}_{last.lower().replace(chr(39), '')}", "photo")
    n.add("_face.jpg")
    n.add(". Study badge ")
    n.add(_alnum(rng, "AA-9999-A9"), "other_id")
    n.add(". She is a ")
    age = rng.randint(90, 104)
    n.add(rng.choice([f"{age}-year-old", f"{age} y/o", f"{age} yo", f"aged {age}"]), "age")
    n.add(" seen for Patient/")
    n.add(pid, "mrn")
    n.add(". ")
    c()
    n.add(".")
    return n


def _replaced(text: str, out_spans: list[tuple[str, int, int]]) -> bytearray:
    covered = bytearray(len(text))
    for _, s, e in out_spans:
        covered[s:e] = b"\x01" * (e - s)
    return covered


def _alnum_positions(text: str, s: int, e: int) -> list[int]:
    return [i for i in range(s, e) if text[i].isalnum()]


def evaluate(notes: list[Note], system: Callable[[Note], list[tuple[str, int, int]]]) -> dict:
    """Recall per class, recall on known identifiers, precision and clinical loss."""
    found: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    known = [0, 0]
    phi_chars = tp_chars = out_chars = 0
    clin = [0, 0]
    t0 = time.perf_counter()
    for n in notes:
        covered = _replaced(n.text, system(n))
        gold = bytearray(len(n.text))
        for kind, s, e, owner in n.spans:
            pos = _alnum_positions(n.text, s, e)
            hit = all(covered[i] for i in pos)
            found[kind][0] += hit
            found[kind][1] += 1
            found[f"owner:{owner}"][0] += hit
            found[f"owner:{owner}"][1] += 1
            for i in pos:
                gold[i] = 1
            value = n.text[s:e]
            if owner == "patient" and any(
                re.sub(r"\W", "", v).lower() == re.sub(r"\W", "", value).lower() for _, v in n.known
            ):
                known[0] += hit
                known[1] += 1
        for i, ch in enumerate(n.text):
            if ch.isalnum():
                out_chars += covered[i]
                tp_chars += covered[i] and gold[i]
                phi_chars += gold[i]
        for s, e in n.clinical:
            for m in re.finditer(r"[^\W_]+", n.text[s:e]):
                clin[1] += 1
                clin[0] += any(covered[s + m.start() : s + m.end()])
    seconds = time.perf_counter() - t0
    classes = {
        k: round(v[0] / v[1], 4) for k, v in sorted(found.items()) if not k.startswith("owner:")
    }
    total = sum(v[1] for k, v in found.items() if not k.startswith("owner:"))
    hits = sum(v[0] for k, v in found.items() if not k.startswith("owner:"))
    return {
        "recall_overall": round(hits / total, 4),
        "recall_per_class": classes,
        "recall_per_owner": {
            k[6:]: round(v[0] / v[1], 4) for k, v in found.items() if k.startswith("owner:")
        },
        "recall_known_patient_identifiers": round(known[0] / known[1], 4) if known[1] else None,
        "planted": total,
        "precision_chars": round(tp_chars / out_chars, 4) if out_chars else None,
        "clinical_tokens_removed": round(clin[0] / clin[1], 4),
        "clinical_tokens": clin[1],
        "ms_per_note": round(1000 * seconds / len(notes), 2),
    }  # fmt: skip


def systems() -> dict[str, Callable[[Note], list[tuple[str, int, int]]]]:
    """The scrubbers compared (module docstring)."""
    from twinlab.deid import IdentifierSet, TextScrubber
    from twinlab.deid.engine import philter_spans

    def full(n: Note) -> list[tuple[str, int, int]]:
        return TextScrubber(IdentifierSet(n.known)).find(n.text)

    def baseline(n: Note) -> list[tuple[str, int, int]]:
        return TextScrubber(IdentifierSet(n.known), engine=False).find(n.text)

    return {"twinlab": full, "patterns+known": baseline, "engine": lambda n: philter_spans(n.text)}


def fhir_notes(rng: random.Random, k: int) -> list[Note]:
    """Notes wrapped as FHIR resource JSON text (narrative div and annotation), same gold."""
    out = []
    for _ in range(k):
        n = make_note(rng)
        wrapped = Note(known=n.known)
        prefix = '{"resourceType": "DocumentReference", "text": {"div": "<div>'
        wrapped.text = prefix + n.text + '</div>"}}'
        shift = len(prefix)
        wrapped.spans = [(c, s + shift, e + shift, o) for c, s, e, o in n.spans]
        wrapped.clinical = [(s + shift, e + shift) for s, e in n.clinical]
        out.append(wrapped)
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark and write ``deid_recall.json`` and ``deid_recall.md``."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--notes", type=int, default=400)
    ap.add_argument("--seed", type=int, default=14)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = ap.parse_args(argv)
    rng = random.Random(args.seed)
    notes = [make_note(rng) for _ in range(args.notes)] + fhir_notes(rng, args.notes // 4)
    results = {name: evaluate(notes, fn) for name, fn in systems().items()}
    from importlib.metadata import version

    record = {
        "protocol": {
            "notes": len(notes),
            "seed": args.seed,
            "found_when": "every letter and digit of the planted value is replaced",
            "precision": "share of replaced letters and digits that are planted PHI",
            "clinical_tokens_removed": "share of clinical-phrase words touched by a replacement",
            "philter_lite": version("philter-lite"),
            "python": platform.python_version(),
        },
        "results": results,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "deid_recall.json").write_text(json.dumps(record, indent=2) + "\n")
    classes = sorted(results["twinlab"]["recall_per_class"])
    lines = [
        "# De-identification recall (benchmarks/deid_recall.py)",
        "",
        f"{len(notes)} generated notes (seed {args.seed}), "
        f"{results['twinlab']['planted']} planted identifiers.",
        "",
        "| metric | " + " | ".join(results) + " |",
        "|---|" + "---:|" * len(results),
    ]
    for key in ("recall_overall", "recall_known_patient_identifiers", "precision_chars",
                "clinical_tokens_removed", "ms_per_note"):  # fmt: skip
        lines.append(f"| {key} | " + " | ".join(str(r[key]) for r in results.values()) + " |")
    for owner in sorted(results["twinlab"]["recall_per_owner"]):
        lines.append(
            f"| recall, {owner} | "
            + " | ".join(str(r["recall_per_owner"][owner]) for r in results.values()) + " |"
        )  # fmt: skip
    for c in classes:
        lines.append(
            f"| recall, {c} | "
            + " | ".join(str(r["recall_per_class"][c]) for r in results.values()) + " |"
        )  # fmt: skip
    (args.out / "deid_recall.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return record


if __name__ == "__main__":
    main()
