"""Harmonize publishes only a clean, complete run, atomically, with private file modes."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from twinlab.deid import DeidKey
from twinlab.deid.scanner import Finding
from twinlab.harmonize import HarmonizeConfig, harmonize
from twinlab.security.crypto import Keyring
from twinlab.security.filemodes import backup_path, dir_mode, file_mode, publish_dir, recover
from twinlab.synth import SynthConfig, generate_study

KEY = DeidKey(b"harmonize-test-deid-key-32-bytes")
KEYRING = Keyring({"k1": b"harmonize-test-master-key-32-byt"})
CONFIG = HarmonizeConfig(identifier_aliases={"vcf_sample": "usubjid"})


@pytest.fixture(scope="module")
def raw(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("publish")
    generate_study(root / "raw", root / "truth", SynthConfig(n_patients=3, seed=3))
    return root / "raw"


def _run(raw: Path, root: Path):
    return harmonize([raw], out_dir=root / "out", raw_zone=root / "zone", config=CONFIG,
                     key=KEY, keyring=KEYRING)  # fmt: skip


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_outputs_and_raw_zone_are_private_and_replace_the_previous_run(raw, tmp_path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "stale.parquet").write_bytes(b"from an older run")
    (out / "series.zarr").mkdir()
    result = _run(raw, tmp_path)
    assert result.phi_findings == []
    assert not (out / "stale.parquet").exists()
    assert (out / "events.parquet").is_file()
    for folder in (out, tmp_path / "zone"):
        assert _mode(folder) == 0o700
        for p in folder.rglob("*"):
            assert _mode(p) == (0o700 if p.is_dir() else 0o600), p
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_dirty_scan_publishes_nothing_and_names_file_column_and_class(
    raw, tmp_path, monkeypatch
) -> None:
    _run(raw, tmp_path)
    before = _snapshot(tmp_path / "out"), _snapshot(tmp_path / "zone")

    def dirty(paths, identifiers, **kw):
        events = next(p for p in paths if Path(p).name == "events.parquet")
        return [Finding(str(events), "column 'display', row 3", "name", "J***")]

    monkeypatch.setattr("twinlab.deid.scan_for_phi", dirty)
    result = _run(raw, tmp_path)
    assert [(f.file, f.location, f.kind) for f in result.phi_findings] == [
        (str(tmp_path / "out" / "events.parquet"), "column 'display', row 3", "name")
    ]
    assert (_snapshot(tmp_path / "out"), _snapshot(tmp_path / "zone")) == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_a_failure_while_writing_leaves_the_previous_version(raw, tmp_path, monkeypatch) -> None:
    _run(raw, tmp_path)
    before = _snapshot(tmp_path / "out")

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("twinlab.harmonize.writer.write_json", boom)
    with pytest.raises(OSError, match="disk full"):
        _run(raw, tmp_path)
    assert _snapshot(tmp_path / "out") == before


def test_publish_dir_swaps_whole_folders_and_recovers_a_cut_swap(tmp_path) -> None:
    target, new = tmp_path / "t", tmp_path / "new"
    target.mkdir()
    (target / "old").write_text("old")
    new.mkdir()
    (new / "fresh").write_text("new")
    publish_dir(new, target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t"]
    assert [p.name for p in target.iterdir()] == ["fresh"]
    target.rename(backup_path(target))  # killed between the two renames of the fallback
    recover(target)
    assert (target / "fresh").read_text() == "new"


def test_file_mode_setting_is_validated_and_widens_folders_to_match(monkeypatch) -> None:
    assert (file_mode(), dir_mode()) == (0o600, 0o700)
    monkeypatch.setenv("TWINLAB_FILE_MODE", "640")
    assert (file_mode(), dir_mode()) == (0o640, 0o750)
    for bad in ("rw", "666", "700", "400"):
        monkeypatch.setenv("TWINLAB_FILE_MODE", bad)
        with pytest.raises(ValueError, match="TWINLAB_FILE_MODE"):
            file_mode()


def test_audit_log_and_run_records_are_private(tmp_path, monkeypatch) -> None:
    from twinlab.audit.trail import audit_stage

    monkeypatch.setenv("TWINLAB_AUDIT_LOG", str(tmp_path / "audit" / "log.jsonl"))
    monkeypatch.setenv("TWINLAB_AUDIT_UNSIGNED", "1")
    audit_stage("test", params={}, inputs=[], outputs=[])
    files = [p for p in (tmp_path / "audit").rglob("*") if p.is_file()]
    assert any(p.name == "log.jsonl" for p in files) and len(files) >= 2
    for p in files:
        assert _mode(p) == 0o600, p


def test_a_quarantine_reason_with_phi_blocks_publishing(raw, tmp_path, monkeypatch) -> None:
    """Reasons are scrubbed with every pattern (no engine): the gate scans them the same way,
    so a reason that carries a date, an age over 89 or a record number is no longer published
    because none of the three high-precision patterns (SSN, e-mail, phone) matched it."""
    import pandas as pd

    from twinlab.deid import scan_for_phi as real_scan

    def planted(paths, identifiers, **kw):
        paths = list(paths)
        q = next(Path(p) for p in paths if Path(p).name == "quarantine.parquet")
        table = pd.read_parquet(q)
        row = {c: "x" for c in table.columns}
        row["reason"] = "value seen 2/14 in chart of Frank Bush, 93, MRN A77812"
        table = pd.concat([table, pd.DataFrame([row])], ignore_index=True)
        table.to_parquet(q, index=False)
        return real_scan(paths, identifiers, **kw)

    monkeypatch.setattr("twinlab.deid.scan_for_phi", planted)
    result = _run(raw, tmp_path)
    found = {f.kind for f in result.phi_findings if f.location.startswith("column 'reason'")}
    assert {"detector:date", "detector:age", "detector:mrn"} <= found
    assert not (tmp_path / "out").exists()


SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
UNKNOWN_SAMPLE = SHARED / "genomics" / "cyvcf2_tests" / "test.mnp.vcf"
BUNDLE = SHARED / "fhir" / "synthea_smart" / "Tony_Beer_bb8cd3e5-8910-4eea-bbc6-3f64a4a655b8.json"


@pytest.mark.skipif(
    not (UNKNOWN_SAMPLE.is_file() and BUNDLE.is_file()), reason="shared data absent"
)
def test_a_sample_named_unknown_does_not_stop_the_publication(tmp_path) -> None:
    """The shared corpus' VCF names its sample 'unknown'; beside a file of no known format
    (format 'unknown' in every table) the scan once found that 'identifier' everywhere."""
    import shutil

    src = tmp_path / "src"
    src.mkdir()
    shutil.copyfile(UNKNOWN_SAMPLE, src / "test.mnp.vcf")
    shutil.copyfile(BUNDLE, src / "bundle.json")
    (src / "notes.md").write_text("not a clinical file\n")
    result = harmonize([src], out_dir=tmp_path / "out", raw_zone=tmp_path / "zone",
                       config=HarmonizeConfig(), key=KEY, keyring=KEYRING)  # fmt: skip
    assert result.phi_findings == []
    assert (tmp_path / "out" / "quarantine.parquet").is_file()
