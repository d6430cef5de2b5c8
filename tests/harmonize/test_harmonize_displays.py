"""Real Synthea bundles: coded displays kept by the field policy, planted identifiers not.

A slice of ``/work/shared/data`` (skipped when absent) harmonized with the shipped vocabulary and
with none: fewer redacted displays, and the PHI scan, the patients' names and the identifiers
planted in displays of declared codes all say nothing got through (issue 15).
"""

from __future__ import annotations

import json
import re

import pyarrow.parquet as pq
import pytest
from repo_helpers import shared_data

from twinlab.deid import DeidKey
from twinlab.deid.vocabulary import CodedVocabulary
from twinlab.harmonize import HarmonizeConfig, harmonize
from twinlab.security.crypto import Keyring

SYNTHEA = shared_data() / "fhir" / "synthea_smart"
pytestmark = pytest.mark.skipif(not SYNTHEA.is_dir(), reason="../shared/data is not present")
PLACEHOLDER = re.compile(r"\[[A-Z_]+\]")
#: identifiers planted after the names of declared codes (LOINC 72166-2 and 4544-3)
PLANTED = {"72166-2": " {name}, call 617-555-0199", "4544-3": " MRN 4471920 on 2019-03-14"}


def _codings(obj):
    if isinstance(obj, dict):
        if isinstance(obj.get("code"), str) and "system" in obj:
            yield obj
        for value in obj.values():
            yield from _codings(value)
    elif isinstance(obj, list):
        for value in obj:
            yield from _codings(value)


def _slice(folder) -> set[str]:
    """Four bundles copied to ``folder``, identifiers planted in the first; the names."""
    folder.mkdir()
    names: set[str] = set()
    for i, src in enumerate(sorted(SYNTHEA.glob("*.json"))[:4]):
        bundle = json.loads(src.read_text())
        for entry in bundle["entry"]:
            res = entry["resource"]
            if res["resourceType"] == "Patient":
                for name in res.get("name", []):
                    names.update(n for n in [name.get("family"), *name.get("given", [])] if n)
        if i == 0:
            planted = set()
            for coding in _codings(bundle):
                if coding["code"] in PLANTED and coding["code"] not in planted:
                    tail = PLANTED[coding["code"]].format(name=" ".join(sorted(names)))
                    coding["display"] += tail
                    planted.add(coding["code"])
            assert planted == set(PLANTED)
        (folder / src.name).write_text(json.dumps(bundle))
    return names


def _run(sources, out):
    result = harmonize(
        [sources], out_dir=out / "out", raw_zone=out / "zone", config=HarmonizeConfig(),
        key=DeidKey(b"real-data-test-deid-key-32-bytes"),
        keyring=Keyring({"t": b"real-data-test-master-key-32-byt"}),
    )  # fmt: skip
    events = pq.read_table(out / "out" / "events.parquet").to_pandas()
    redacted = int(events["display"].astype(str).str.contains(PLACEHOLDER).sum())
    return result, events, redacted


def test_real_coded_displays_are_kept_and_identifiers_are_not(tmp_path, monkeypatch):
    names = _slice(tmp_path / "src")
    kept, events, n_kept = _run(tmp_path / "src", tmp_path / "kept")
    assert kept.phi_findings == []
    assert kept.report["field_policy"]["displays_kept_by_vocabulary"] > 100
    shown = set(events["display"].dropna())
    assert {"Tobacco smoking status NHIS", "Smokes tobacco daily"} <= shown
    # Synthea's misspelt "Simvistatin 10 MG" is no RxNorm name: still scrubbed
    assert "Simvistatin 10 MG" not in shown
    # the displays carrying planted identifiers went through the scrubber, as free text
    for code in PLANTED:
        mine = events.loc[events["code"] == code, "display"].astype(str)
        assert mine.str.contains(PLACEHOLDER).sum() == 1, code

    monkeypatch.setattr(HarmonizeConfig, "coded_vocabulary", lambda self: CodedVocabulary())
    scrubbed, _, n_scrubbed = _run(tmp_path / "src", tmp_path / "scrubbed")
    assert scrubbed.phi_findings == []
    assert n_kept < n_scrubbed / 2  # 29 of 83 on this slice: the policy keeps the rest

    pattern = re.compile(r"\b(" + "|".join(map(re.escape, sorted(names))) + r")\b")
    for file in (tmp_path / "kept" / "out").rglob("*"):
        if file.suffix not in (".parquet", ".json"):
            continue
        text = (
            json.dumps(pq.read_table(file).to_pylist(), default=str)
            if file.suffix == ".parquet"
            else file.read_text()
        )
        assert pattern.search(text) is None, f"{file.name} holds a patient's name"
        for planted in ("617-555-0199", "4471920", "2019-03-14"):
            assert planted not in text, f"{file.name} holds a planted identifier"
