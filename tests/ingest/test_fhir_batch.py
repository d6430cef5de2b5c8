"""Batched FHIR reading gives, file by file, exactly what reading each file alone gives."""

from __future__ import annotations

import hashlib
import json
import pickle
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from test_fhir import check_contract, handcrafted, obs, write

import twinlab.ingest.fhir as fhir
import twinlab.ingest.run as run
from twinlab.harmonize.series import deidentified_series
from twinlab.harmonize.sources import collect, declare_copies
from twinlab.ingest.base import ReadResult
from twinlab.ingest.fhir import read_fhir, read_fhir_batch
from twinlab.ingest.run import read_file, read_sources


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """Small per-patient bundles from the synthetic study, with faults planted among them."""
    synth = pytest.importorskip("twinlab.synth")
    tmp = tmp_path_factory.mktemp("batch")
    synth.generate_study(tmp / "study", tmp / "truth", synth.SynthConfig(n_patients=5))
    folder = tmp / "study" / "fhir"
    bundle = handcrafted()
    bundle["entry"][0]["resource"]["birthDate"] = "1950-13"  # the Patient: fhir.date
    copied = {**bundle["entry"][1], "fullUrl": "urn:uuid:obs-1"}
    bundle["entry"] += [copied, copied]  # an exact duplicate
    write(folder, "b_faults.json", bundle)
    write(folder, "c_truncated.json", json.dumps(handcrafted()).encode()[:-40])
    write(folder, "d_text.json", b'{"resourceType": "Bundle", "entry": [ not json')
    marked = json.dumps(handcrafted()).replace("mg/dL", "mg/d\udcffL", 1)
    write(folder, "e_badbyte.json", marked.encode("utf-8", "surrogateescape"))
    write(folder, "f_empty.json", {"resourceType": "Bundle", "type": "collection", "entry": []})
    write(folder, "f_blank.json", b"")
    good = obs("2160-0", "2020-01-01T00:00:00Z", subject="Patient/1", valueQuantity={"value": 1})
    write(folder, "g_lines.ndjson", json.dumps(good) + "\n{broken\n" + json.dumps(good) + "\n")
    (folder / "h_notes.csv").write_text("a,b\n1,2\n")  # no reader: breaks the run of FHIR files
    write(folder, "i_single.json", obs("8867-4", "2021-03", subject="Patient/2"))
    return folder


def assert_same(batched: ReadResult, alone: ReadResult) -> None:
    """Tables, tally and counts identical (exact values, dtypes and index types)."""
    strict: dict[str, Any] = {"check_exact": True, "check_index_type": True}
    assert batched.counts == alone.counts
    pd.testing.assert_frame_equal(batched.events, alone.events, **strict)
    pd.testing.assert_frame_equal(batched.persons, alone.persons, **strict)
    pd.testing.assert_frame_equal(batched.quarantine, alone.quarantine, **strict)
    tally = "fhir.resource_counts"
    if tally in alone.series:
        pd.testing.assert_frame_equal(batched.series[tally], alone.series[tally], **strict)


def test_batch_equals_file_by_file_with_planted_faults(corpus: Path) -> None:
    files = [*sorted(p for p in corpus.iterdir() if p.suffix != ".csv"), corpus / "absent.json"]
    batched = read_fhir_batch(files)
    assert len(batched) == len(files)
    checks: set[str] = set()
    for path, got in zip(files, batched, strict=True):
        assert isinstance(got, ReadResult)
        if not got.duplicates:  # (ReadResult itself checks the count with duplicates)
            check_contract(got)
        assert_same(got, read_fhir(path))
        if path.exists():
            assert got.digest == hashlib.sha256(path.read_bytes()).hexdigest()
        checks |= set(got.quarantine["check"])
    assert {"fhir.date", "fhir.parse", "fhir.encoding", "fhir.io"} <= checks
    by_name = {p.name: r for p, r in zip(files, batched, strict=True)}
    assert by_name["b_faults.json"].duplicates == 1
    assert by_name["d_text.json"].quarantine["source_record"].tolist() == ["file"]
    assert by_name["f_empty.json"].records_in == 0
    assert by_name["g_lines.ndjson"].records_accepted == 2
    synthetic = [r for p, r in zip(files, batched, strict=True) if len(p.stem) == 36]
    assert synthetic and all(len(r.events) and not len(r.quarantine) for r in synthetic)


def test_read_sources_batches_give_the_per_file_results(corpus: Path, monkeypatch) -> None:
    monkeypatch.setattr(run, "BATCH_FILES", 3)  # batches cut inside the run of FHIR files
    got = read_sources([corpus])
    files = sorted(corpus.iterdir())
    assert [r.source_file for r in got] == [f.name for f in files]
    for path, result in zip(files, got, strict=True):
        alone = read_file(path, label=path.name)
        assert_same(result, alone)
        assert result.digest == alone.digest
    assert got[[f.suffix for f in files].index(".csv")].quarantine["check"].tolist() == [
        "ingest.format"
    ]


def test_reader_crash_on_one_file_spares_its_batch(corpus: Path, monkeypatch) -> None:
    files = sorted(corpus.glob("*.json"))
    victim = files[len(files) // 2]
    expected = {f: read_file(f, label=f.name) for f in files if f != victim}
    collect = fhir._collect

    def crash_on_victim(path: Path, times: Any) -> Any:
        if path == victim:
            raise KeyError("reader bug")
        return collect(path, times)

    monkeypatch.setattr(fhir, "_collect", crash_on_victim)
    got = read_sources(files, root=corpus)
    for path, result in zip(files, got, strict=True):
        if path == victim:
            assert result.quarantine["check"].tolist() == ["ingest.reader"]
            assert (result.records_in, result.records_accepted) == (1, 0)
        else:
            assert_same(result, expected[path])


def test_a_file_breaking_the_batch_table_is_isolated(corpus: Path, monkeypatch) -> None:
    files = sorted(corpus.glob("*.json"))
    victim = files[1]
    expected = read_fhir_batch(files)
    tables = fhir._Tables

    def fail_with_victim(parts: list) -> Any:
        if any(p.path == victim for p in parts):
            raise ValueError("a value the table cannot hold")
        return tables(parts)

    monkeypatch.setattr(fhir, "_Tables", fail_with_victim)
    got = read_fhir_batch(files)
    assert isinstance(got[1], ValueError)
    for i, (result, want) in enumerate(zip(got, expected, strict=True)):
        if i != 1:
            assert_same(result, want)


def test_a_batch_shipped_by_pickle_cuts_into_the_same_results(corpus: Path) -> None:
    files = sorted(corpus.glob("*.json"))  # as a Dask worker returns it to the client
    shipped = pickle.loads(pickle.dumps(fhir.FhirBatch(files)))
    for path, got in zip(files, shipped.results(), strict=True):
        assert_same(got, read_fhir(path))


def test_collect_of_batches_equals_collect_of_per_file_results(corpus: Path, tmp_path, monkeypatch):
    """Harmonize's tables from batch slices equal those of per-file frames, a copy left out."""
    folder = tmp_path / "copied"
    shutil.copytree(corpus, folder)
    original = min(p for p in folder.glob("*.json") if len(p.stem) == 36)
    assert original.name < "b_copy.json"  # the copy comes later, inside the batch
    shutil.copyfile(original, folder / "b_copy.json")
    monkeypatch.setattr(run, "BATCH_FILES", 8)  # the copy inside a batch, before b_faults
    batched = read_sources([folder])
    alone = [read_file(f, label=f.name) for f in sorted(folder.iterdir())]
    ids = {r.source_file: f"src-{i}" for i, r in enumerate(alone)}
    got, copies = declare_copies(batched, ids)
    want, want_copies = declare_copies(alone, ids)
    assert copies == want_copies == {ids["b_copy.json"]: ids[original.name]}
    for table, expected in zip(collect(got, ids), collect(want, ids), strict=True):
        pd.testing.assert_frame_equal(table, expected, check_exact=True, check_index_type=True)
    assert [r.counts for r in got] == [r.counts for r in want]
    assert deidentified_series(got, pd.Series(dtype=object), pd.DataFrame(
        columns=["source_patient", "patient_id", "shift_days"])) == {}  # fmt: skip
    lazy = [r for r in got if type(r) is not ReadResult]
    assert len(lazy) > len(got) // 2
    assert not any({"events", "persons", "quarantine", "series"} & set(vars(r)) for r in lazy)
    first = lazy[0]  # read, a frame is cut and cached; pickled, a plain result of its own
    assert first.events is first.events
    shipped = pickle.loads(pickle.dumps(first))
    assert type(shipped) is ReadResult
    assert_same(shipped, read_file(folder / first.source_file, label=first.source_file))


def test_a_broken_link_is_reported_unreadable_not_skipped(tmp_path: Path) -> None:
    # discover() kept regular files only: a link to a file that is gone (or a link loop) was
    # skipped in silence, so the run never said that a source was missing
    write(tmp_path, "good.json", handcrafted())
    (tmp_path / "gone.json").symlink_to(tmp_path / "elsewhere" / "moved.json")
    (tmp_path / "loop.json").symlink_to(tmp_path / "loop.json")
    results = {r.source_file: r for r in read_sources([tmp_path])}
    assert sorted(results) == ["gone.json", "good.json", "loop.json"]
    for name in ("gone.json", "loop.json"):
        bad = results[name]
        assert (bad.records_in, bad.records_accepted) == (1, 0)
        assert bad.quarantine["check"].tolist() == ["ingest.io"]
        assert bad.quarantine["reason"].iloc[0].startswith("cannot read the file: ")
    assert (
        results["good.json"].records_accepted == read_fhir(tmp_path / "good.json").records_accepted
    )


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "the file is empty (0 bytes)"),
        (b" \r\n\t\n", "the file holds only blank space"),
        ('{"resourceType": "Patient"}'.encode("utf-16"), "it is UTF-16 text"),
        (b"\x00\x01\x02", "no reader recognizes this file"),
    ],
    ids=["empty", "blank", "utf-16", "binary"],
)
def test_a_file_no_reader_takes_says_why(tmp_path: Path, data: bytes, reason: str) -> None:
    # each was 'no reader recognizes this file', which names no fault a user can fix
    for name in ("bundle.json", "lb.csv", "study.xml"):
        (tmp_path / name).write_bytes(data)
        result = read_file(tmp_path / name)
        assert result.quarantine["check"].tolist() == ["ingest.format"]
        assert reason in result.quarantine["reason"].iloc[0], name
