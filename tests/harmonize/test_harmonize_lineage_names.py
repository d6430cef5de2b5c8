"""``twinlab lineage --sources`` reopens a source file whose name is not UTF-8 (the ingest
records such a byte as ``\\xNN``, and a backslash as ``\\\\``: a file named with the text
``\\xe9`` is another label), and a name the ingest never saw is one line, no traceback (a
real ingest of a small study, the real command)."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from twinlab.cli import cli
from twinlab.deid import DeidKey
from twinlab.harmonize import HarmonizeConfig, harmonize
from twinlab.harmonize.lineage import source_file, trace_event
from twinlab.security.crypto import Keyring
from twinlab.synth import SynthConfig, generate_study
from twinlab.timeline import Cohort

MASTER_KEY = b"lineage-names-test-master-key-32"
OFFSETS = {"101": "-05:00", "102": "-05:00", "201": "-06:00", "202": "-06:00"}
LATIN1 = b"caf\xe9.json"  # a Latin-1 name on a UTF-8 file system
TEXT = "caf\\xe9.json"  # a name that holds a backslash, an x, an e and a 9
#: the labels the ingest records for them
LABELS = {"latin1": "fhir/caf\\xe9.json", "text": "fhir/caf\\\\xe9.json"}


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("names")
    raw = root / "raw"
    generate_study(raw, root / "truth", SynthConfig(n_patients=2, seed=7, wearable_fraction=0))
    first, second = sorted((raw / "fhir").glob("*.json"))[:2]
    os.rename(first, os.fsdecode(os.fsencode(first.parent) + b"/" + LATIN1))
    second.rename(second.parent / TEXT)  # both present: two files, two labels
    keyring = Keyring.from_keys(MASTER_KEY)  # the key ring $TWINLAB_MASTER_KEY gives
    harmonize(
        [raw], out_dir=root / "out", raw_zone=root / "zone", key=DeidKey(b"d" * 32),
        keyring=keyring, config=HarmonizeConfig(site_utc_offsets=OFFSETS),
    )  # fmt: skip
    events = Cohort.read(root / "out").events
    traces = {}
    for event_id in events["event_id"]:
        trace = trace_event(event_id, timeline_dir=root / "out", raw_zone=root / "zone",
                            keyring=keyring)  # fmt: skip
        traces.setdefault(trace["source_path"], (event_id, trace))
    missing = [label for label in LABELS.values() if label not in traces]
    assert not missing, f"no event traced to {missing}; labels: {sorted(traces)}"
    event, trace = traces[LABELS["latin1"]]
    return {"raw": raw, "out": root / "out", "zone": root / "zone", "event": event,
            "trace": trace, "traces": traces}  # fmt: skip


def _lineage(study: dict, *extra: str, event: str | None = None):
    env = {"TWINLAB_MASTER_KEY": base64.b64encode(MASTER_KEY).decode()}
    args = ["lineage", event or study["event"], "--timeline", str(study["out"]),
            "--raw-zone", str(study["zone"]), *extra]  # fmt: skip
    return CliRunner().invoke(cli, args, env=env)


def test_lineage_reopens_a_source_file_whose_name_is_not_utf8(study):
    out = _lineage(study, "--sources", str(study["raw"]))
    assert out.exit_code == 0, out.output
    assert "source record as read:" in out.output
    assert study["trace"]["source_record"] in out.output.split("source record as read:")[1]
    found = source_file(study["raw"], LABELS["latin1"])
    assert os.fsencode(found.name) == LATIN1


def test_a_name_holding_backslash_x_e9_and_the_byte_e9_have_two_labels(study):
    """Both files are in the study: each label reopens its own file, whose records it has."""
    assert source_file(study["raw"], LABELS["text"]).name == TEXT
    assert os.fsencode(source_file(study["raw"], LABELS["latin1"]).name) == LATIN1
    for label in LABELS.values():
        event, trace = study["traces"][label]
        out = _lineage(study, "--sources", str(study["raw"]), event=event)
        assert out.exit_code == 0, out.output
        assert trace["source_record"] in out.output.split("source record as read:")[1]


def test_a_name_written_as_text_is_not_taken_for_other_bytes(study, tmp_path):
    # "\xc3\xa9" written out is not how the ingest records "é" (valid UTF-8, kept as is)
    (tmp_path / "café.json").write_text("{}")
    with pytest.raises(FileNotFoundError, match="moved or renamed"):
        source_file(tmp_path, "caf\\xc3\\xa9.json")
    (tmp_path / TEXT).write_text("{}")  # a name that holds a backslash
    assert source_file(tmp_path, "caf\\\\xe9.json").name == TEXT
    with pytest.raises(FileNotFoundError):  # its old, ambiguous label is the byte's now
        source_file(tmp_path, "caf\\xe9.json")
    (tmp_path / "a\\b.json").write_text("{}")  # a label written before backslashes doubled
    assert source_file(tmp_path, "a\\b.json").name == "a\\b.json"


def test_a_source_file_gone_since_the_ingest_is_one_line(study, tmp_path: Path):
    out = _lineage(study, "--sources", str(tmp_path))
    assert out.exit_code == 2 and "Traceback" not in out.output
    assert "moved or renamed" in out.output
