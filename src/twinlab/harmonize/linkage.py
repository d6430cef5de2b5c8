"""Record linkage: which persons in different sources are the same patient.

Every reader keys its events by its own patient key; the key space is the
format's (``("sdtm", USUBJID)``, ``("fhir", Patient.id)``, ``("vcf", sample)``),
so an SDTM PC file read without its DM file still lands on the same patient.

Linkage is a compact Fellegi–Sunter model on exact identifiers (no fuzzy matching on
names or birth dates). Candidate pairs are the person keys that share at least one
linking identifier value (blocking). For each identifier system present on **both**
sides of a pair, the pair scores the agreement weight ``log2(m/u)`` when they share a
value and the disagreement weight ``log2((1-m)/(1-u))`` when they do not (:data:`WEIGHTS`:
``m`` = P(agree | same person), ``u`` = P(agree | different people)); systems known on one
side only score 0. A pair is

* a **match** when its score reaches :data:`MATCH_THRESHOLD` and no *strong* identifier
  (:data:`STRONG_SYSTEMS`: study subject id, SSN, MRN of the same namespace) conflicts:
  the two keys become one patient;
* for **review** otherwise (a shared weak identifier such as an e-mail address, or a
  strong identifier in conflict): never merged, always reported.

Matches are merged in decreasing score order, and a merge that would put two
conflicting strong identifiers into one patient (A = B and B = C, but A and C carry
different subject ids) is refused and reported too. splink implements the same model
with estimated ``m``/``u`` and fuzzy comparisons; with a handful of exact identifiers
and no training data, fixed weights in this module are simpler to audit.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import pandas as pd

__all__ = [
    "LINKING_SYSTEMS",
    "MATCH_THRESHOLD",
    "REVIEW_THRESHOLD",
    "STRONG_SYSTEMS",
    "SYSTEM_ALIASES",
    "WEIGHTS",
    "link_persons",
    "linkage_report",
    "normalize_system",
    "patient_keys",
    "person_identifiers",
    "rekey",
]

#: Identifier systems (after :func:`normalize_system`) that identify one patient across sources,
#: in order of preference for the patient's representative identifier.
LINKING_SYSTEMS: tuple[str, ...] = (
    "usubjid", "mrn", "ssn", "vcf_sample", "device_serial", "email",
)  # fmt: skip
#: Systems that name exactly one person: two different values mean two different people.
STRONG_SYSTEMS: frozenset[str] = frozenset({"usubjid", "mrn", "ssn", "vcf_sample"})
#: ``(m, u)`` per linking system: P(values agree | same person), P(agree | different people).
WEIGHTS: dict[str, tuple[float, float]] = {
    "usubjid": (0.99, 1e-6),
    "mrn": (0.97, 1e-6),
    "ssn": (0.98, 1e-7),
    "vcf_sample": (0.95, 1e-5),
    "device_serial": (0.90, 1e-6),  # one study device per patient; devices are replaced
    "email": (0.90, 1e-3),  # shared by families and caregivers: never enough alone
}
#: Score (log2 likelihood ratio) from which a pair without strong conflict is one person:
#: one agreeing strong identifier (>= 19 bits) is enough, an e-mail address (~10) is not.
MATCH_THRESHOLD: float = 15.0
#: Score from which a pair of weak identifiers only (an e-mail address) is reviewed: it is
#: linked, and reported as such, only when no third patient shares the identifier (a wearable
#: account's e-mail that exactly one patient gives); otherwise it stays apart, reported.
REVIEW_THRESHOLD: float = 8.0
#: Regular expression -> normalized system name.
SYSTEM_ALIASES: tuple[tuple[str, str], ...] = (
    (r"^usubjid$", "usubjid"),
    (r"^urn:twinlab:study:[^:]+:subject$", "usubjid"),
    (r"^(mrn|MR|.*[:/]mrn)$", "mrn"),
    (r"^(ssn|.*us-ssn|.*social.?security.*)$", "ssn"),
    (r"^vcf_sample$", "vcf_sample"),
    (r"^(device_serial|.*device.*serial.*)$", "device_serial"),
)


def normalize_system(system: str) -> str:
    """The normalized name of an identifier system (itself when no alias matches)."""
    for pattern, name in SYSTEM_ALIASES:
        if re.match(pattern, system, flags=re.IGNORECASE):
            return name
    return system


def _agree(system: str) -> float:
    m, u = WEIGHTS[system]
    return math.log2(m / u)


def _disagree(system: str) -> float:
    m, u = WEIGHTS[system]
    return math.log2((1 - m) / (1 - u))


_Ident = tuple[str, str, str]  # (normalized system, comparison namespace, value)


def _linking(pairs: Iterable[tuple[str, str]]) -> set[_Ident]:
    out: set[_Ident] = set()
    for system, value in pairs:
        norm = normalize_system(str(system))
        if norm not in LINKING_SYSTEMS or value is None or not str(value).strip():
            continue
        # MRNs of different sites are different namespaces: they cannot conflict
        space = str(system).lower() if norm == "mrn" and ":" in str(system) else norm
        out.add(
            (norm, space, str(value).strip().lower() if norm == "email" else str(value).strip())
        )
    return out


@dataclass(frozen=True)
class _Comparison:
    score: float
    agree: tuple[str, ...]
    disagree: tuple[str, ...]
    strong_conflict: bool


def _compare(a: set[_Ident], b: set[_Ident]) -> _Comparison:
    """Fellegi–Sunter comparison of two identifier sets (see the module docstring)."""
    score, agree, disagree, strong = 0.0, [], [], False
    by_a: dict[str, set[str]] = {}
    by_b: dict[str, set[str]] = {}
    for norm, _, value in a:
        by_a.setdefault(norm, set()).add(value)
    for norm, _, value in b:
        by_b.setdefault(norm, set()).add(value)
    for norm in sorted(by_a.keys() & by_b.keys()):
        if by_a[norm] & by_b[norm]:
            score += _agree(norm)
            agree.append(norm)
            continue
        spaces_a = {s for n, s, _ in a if n == norm}
        spaces_b = {s for n, s, _ in b if n == norm}
        if spaces_a & spaces_b:
            score += _disagree(norm)
            disagree.append(norm)
            strong = strong or norm in STRONG_SYSTEMS
    return _Comparison(score, tuple(agree), tuple(disagree), strong)


def _conflicts(a: set[_Ident], b: set[_Ident]) -> tuple[str, ...]:
    """The strong systems (per namespace) on which two identifier sets share no value."""
    out = set()
    spaces = {(n, s) for n, s, _ in a if n in STRONG_SYSTEMS}
    for norm, space in spaces & {(n, s) for n, s, _ in b}:
        if not {v for n, s, v in a if s == space} & {v for n, s, v in b if s == space}:
            out.add(norm)
    return tuple(sorted(out))


class _UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def link_persons(
    keys: Iterable[tuple[str, str]],
    identifiers: dict[tuple[str, str], list[tuple[str, str]]],
) -> pd.DataFrame:
    """Group person keys into patients (Fellegi–Sunter, see the module docstring).

    Parameters
    ----------
    keys
        Every ``(format, source_patient)`` seen in events or persons.
    identifiers
        The identifiers ``[(system, value), ...]`` known for some of the keys.

    Returns
    -------
    pandas.DataFrame
        One row per key: ``format``, ``source_patient``, ``patient_key`` (the
        representative identifier ``"system:value"`` of the linked group,
        stable whatever the input order) and ``linked_by`` (the systems that
        joined the group). ``attrs["review"]`` lists every candidate pair that was
        **not** merged: ``left``, ``right`` (``(format, source_patient)``), ``score``,
        ``agree`` and ``disagree`` (system names, never values) and ``reason``.

    Examples
    --------
    >>> ids = {("fhir", "a"): [("mrn", "M1"), ("ssn", "900-00-0001"), ("email", "f@x.org")],
    ...        ("fhir", "b"): [("mrn", "M2"), ("ssn", "900-00-0002"), ("email", "f@x.org")],
    ...        ("sdtm", "S1"): [("usubjid", "S1"), ("mrn", "M1")]}
    >>> table = link_persons(ids, ids)
    >>> dict(zip(table["source_patient"], table["patient_key"]))
    {'a': 'usubjid:S1', 'S1': 'usubjid:S1', 'b': 'mrn:M2'}
    >>> table.attrs["review"][["score", "agree", "disagree", "reason"]].to_dict("records")[0]
    {'score': -0.9, 'agree': 'email', 'disagree': 'mrn,ssn', 'reason': 'strong identifier conflict'}
    """
    nodes = sorted(set(keys) | set(identifiers))
    index = {node: i for i, node in enumerate(nodes)}
    idents = [_linking(identifiers.get(node, [])) for node in nodes]
    holders: dict[tuple[str, str], list[int]] = {}
    for i, ids in enumerate(idents):
        for norm, _, value in ids:
            holders.setdefault((norm, value), []).append(i)
    candidates = sorted({(a, b) for h in holders.values() for a in h for b in h if a < b})
    compared = [(a, b, _compare(idents[a], idents[b])) for a, b in candidates]
    holders_of = holders
    uf = _UnionFind(len(nodes))
    members: dict[int, set[_Ident]] = dict(enumerate(idents))
    review: list[dict[str, object]] = []

    def flag(a: int, b: int, c: _Comparison, reason: str, merged: bool = False) -> None:
        review.append({"left": nodes[a], "right": nodes[b], "score": round(c.score, 1),
                       "agree": ",".join(c.agree), "disagree": ",".join(c.disagree),
                       "reason": reason, "merged": merged})  # fmt: skip

    def merge(a: int, b: int, c: _Comparison) -> bool:
        ra, rb = uf.find(a), uf.find(b)
        if ra == rb:
            return False
        clash = _conflicts(members[ra], members[rb])
        if clash:
            flag(a, b, c, f"would join conflicting {','.join(clash)} through other records")
            return False
        uf.union(ra, rb)
        members[uf.find(ra)] = members.pop(ra) | members.pop(rb)
        return True

    weak = []
    for a, b, c in sorted(compared, key=lambda t: (-t[2].score, t[0], t[1])):
        if c.strong_conflict:
            flag(a, b, c, "strong identifier conflict")
        elif c.score >= MATCH_THRESHOLD:
            merge(a, b, c)
        elif c.score >= REVIEW_THRESHOLD:
            weak.append((a, b, c))
        else:
            flag(a, b, c, "score below the review threshold")
    for a, b, c in weak:
        # a weak identifier links two records only if no third patient shares it
        holders = {
            uf.find(i)
            for n, _, v in idents[a] & idents[b]
            if n in c.agree
            for i in holders_of[(n, v)]
        }
        if len(holders) == 2 and merge(a, b, c):
            flag(a, b, c, "weak identifiers only, held by no one else: linked", merged=True)
        elif uf.find(a) != uf.find(b):
            flag(a, b, c, "weak identifiers only, shared with other patients")
    review = [
        r for r in review
        if r["merged"] or uf.find(index[r["left"]]) != uf.find(index[r["right"]])
    ]  # fmt: skip
    groups: dict[int, list[tuple[str, str]]] = {}
    for node in nodes:
        groups.setdefault(uf.find(index[node]), []).append(node)
    owners: dict[tuple[str, str], set[int]] = {}
    for root in groups:
        for n, _, v in members[root]:
            owners.setdefault((n, v), set()).add(root)
    rows = []
    for root, group in groups.items():
        linking = sorted({(n, v) for n, _, v in members[root]})
        # the representative is an identifier no other patient holds (a shared e-mail is not)
        ranked = sorted(
            (i for i in linking if len(owners[i]) == 1),
            key=lambda i: (LINKING_SYSTEMS.index(i[0]), i[1]),
        )
        representative = f"{ranked[0][0]}:{ranked[0][1]}" if ranked else "{}:{}".format(*min(group))
        systems = ",".join(sorted({s for s, _ in linking})) if len(group) > 1 else ""
        for fmt, source_patient in group:
            rows.append(
                {
                    "format": fmt,
                    "source_patient": source_patient,
                    "patient_key": representative,
                    "linked_by": systems,
                }
            )
    table = pd.DataFrame(rows, columns=["format", "source_patient", "patient_key", "linked_by"])
    table.attrs["review"] = pd.DataFrame(
        review, columns=["left", "right", "score", "agree", "disagree", "reason", "merged"]
    )
    return table


#: Names of systems in reports (a word such as "sample" can be someone's name in the scan).
_LABELS = {"vcf_sample": "vcf", "device_serial": "device", "usubjid": "subject"}


def _label(systems: str) -> str:
    return ",".join(_LABELS.get(s, s) for s in systems.split(",") if s)


def linkage_report(review: pd.DataFrame, patient_of: Callable[[tuple[str, str]], Any]) -> dict:
    """The ambiguous links of :func:`link_persons` for ``report.json``, without identifiers.

    Parameters
    ----------
    review
        ``link_persons(...).attrs["review"]``.
    patient_of
        ``(format, source_patient)`` -> the patient's public (pseudonymous) id.

    Returns
    -------
    dict
        ``model``, ``match_threshold``, ``ambiguous`` (pairs kept apart), ``weak_links``
        (pairs linked by a weak identifier no one else holds), (count) and ``pairs``: each with
        both patients' public ids and formats, the score, the systems that agree and
        disagree, and why the pair was not merged. Identifier values never appear.
    """
    pairs = [
        {
            "left": {"patient_id": patient_of(tuple(r.left)), "format": r.left[0]},
            "right": {"patient_id": patient_of(tuple(r.right)), "format": r.right[0]},
            "score": float(r.score),
            "agree": _label(r.agree),
            "disagree": _label(r.disagree),
            "reason": r.reason,
            "merged": bool(r.merged),
        }
        for r in review.itertuples(index=False)
    ]
    return {
        "model": "Fellegi-Sunter, twinlab.harmonize.linkage.WEIGHTS",
        "match_threshold": MATCH_THRESHOLD,
        "ambiguous": sum(not p["merged"] for p in pairs),
        "weak_links": sum(p["merged"] for p in pairs),
        "pairs": pairs,
    }


# --- linking the reader tables -------------------------------------------------------------


def person_identifiers(
    persons: pd.DataFrame, aliases: dict[str, str]
) -> dict[tuple[str, str], list[tuple[str, str]]]:
    """Identifiers per (format, source_patient), e-mail addresses included for linkage."""
    found: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for row in persons.itertuples(index=False):
        node = (row.format, str(row.source_patient))
        pairs = [(aliases.get(str(s), str(s)), str(v)) for s, v in (row.identifiers or [])]
        phi = row.phi if isinstance(row.phi, dict) else {}
        emails = phi.get("email") or []
        for email in [emails] if isinstance(emails, str) else emails:
            pairs.append(("email", str(email).strip().lower()))
        found.setdefault(node, []).extend(pairs)
    return found


def patient_keys(
    events: pd.DataFrame, persons: pd.DataFrame, aliases: dict[str, str]
) -> tuple[pd.Series, pd.DataFrame]:
    """Patient key per (format, source_patient), and the pairs left for review."""
    keys = set(zip(events["format"], events["source_patient"].astype(str), strict=True))
    keys |= set(zip(persons["format"], persons["source_patient"].astype(str), strict=True))
    table = link_persons(keys, person_identifiers(persons, aliases))
    return table.set_index(["format", "source_patient"])["patient_key"], table.attrs["review"]


def rekey(frame: pd.DataFrame, keys: pd.Series) -> pd.DataFrame:
    """A copy of ``frame`` whose ``source_patient`` is its patient key (:func:`patient_keys`)."""
    index = pd.MultiIndex.from_arrays([frame["format"], frame["source_patient"].astype(str)])
    out = frame.copy()
    out["source_patient"] = keys.reindex(index).to_numpy()
    return out
