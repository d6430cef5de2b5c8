"""Record linkage: which persons in different sources are the same patient.

Every reader keys its events by its own patient key; the key space is the
format's (``("sdtm", USUBJID)``, ``("fhir", Patient.id)``, ``("vcf", sample)``),
so an SDTM PC file read without its DM file still lands on the same patient.
Persons are then joined when they share a *linking identifier* – a study subject
id, an MRN – after normalizing identifier systems (:data:`SYSTEM_ALIASES`).
Linkage is deterministic (exact identifiers only; no fuzzy matching on names or
birth dates, which would need a reviewed probabilistic linkage step).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import pandas as pd

__all__ = ["LINKING_SYSTEMS", "SYSTEM_ALIASES", "link_persons", "normalize_system"]

#: Identifier systems (after :func:`normalize_system`) that identify one patient across sources,
#: in order of preference for the patient's representative identifier.
LINKING_SYSTEMS: tuple[str, ...] = ("usubjid", "mrn", "vcf_sample", "device_serial", "email")
#: Regular expression -> normalized system name.
SYSTEM_ALIASES: tuple[tuple[str, str], ...] = (
    (r"^usubjid$", "usubjid"),
    (r"^urn:twinlab:study:[^:]+:subject$", "usubjid"),
    (r"^(mrn|MR|.*[:/]mrn)$", "mrn"),
    (r"^vcf_sample$", "vcf_sample"),
    (r"^(device_serial|.*device.*serial.*)$", "device_serial"),
)


def normalize_system(system: str) -> str:
    """The normalized name of an identifier system (itself when no alias matches)."""
    for pattern, name in SYSTEM_ALIASES:
        if re.match(pattern, system, flags=re.IGNORECASE):
            return name
    return system


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
    """Group person keys into patients.

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
        joined the group).
    """
    nodes = sorted(set(keys) | set(identifiers))
    index = {node: i for i, node in enumerate(nodes)}
    uf = _UnionFind(len(nodes))
    owner: dict[tuple[str, str], int] = {}
    for node in nodes:
        for system, value in identifiers.get(node, []):
            norm = normalize_system(str(system))
            if norm not in LINKING_SYSTEMS or value in (None, ""):
                continue
            ident = (norm, str(value).strip())
            if ident in owner:
                uf.union(owner[ident], index[node])
            else:
                owner[ident] = index[node]
    groups: dict[int, list[tuple[str, str]]] = {}
    for node in nodes:
        groups.setdefault(uf.find(index[node]), []).append(node)
    rows = []
    for members in groups.values():
        idents = {
            (normalize_system(str(s)), str(v).strip())
            for m in members
            for s, v in identifiers.get(m, [])
            if v not in (None, "")
        }
        linking = sorted(i for i in idents if i[0] in LINKING_SYSTEMS)
        ranked = sorted(linking, key=lambda i: (LINKING_SYSTEMS.index(i[0]), i[1]))
        representative = (
            f"{ranked[0][0]}:{ranked[0][1]}" if ranked else "{}:{}".format(*min(members))
        )
        systems = ",".join(sorted({s for s, _ in linking}))
        for fmt, source_patient in members:
            rows.append(
                {
                    "format": fmt,
                    "source_patient": source_patient,
                    "patient_key": representative,
                    "linked_by": systems,
                }
            )
    return pd.DataFrame(rows, columns=["format", "source_patient", "patient_key", "linked_by"])
