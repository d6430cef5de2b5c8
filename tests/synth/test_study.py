"""Determinism, manifest and truth separation of generate_study."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import pytest

from twinlab.synth import SynthConfig, generate_study

from .conftest import SMALL, Study


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_same_config_gives_identical_bytes(study: Study, study_again: Study) -> None:
    first, second = _files(study.raw), _files(study_again.raw)
    assert first.keys() == second.keys()
    assert [k for k in first if first[k] != second[k]] == []
    assert _files(study.truth) == _files(study_again.truth)


def test_different_seed_gives_different_bytes(study: Study, tmp_path: Path) -> None:
    other = dataclasses.replace(SMALL, seed=SMALL.seed + 1)
    generate_study(tmp_path / "raw", tmp_path / "truth", other)
    ours = (study.raw / "sdtm" / "pc.xpt").read_bytes()
    assert (tmp_path / "raw" / "sdtm" / "pc.xpt").read_bytes() != ours
    assert sorted(_files(tmp_path / "raw")) != sorted(_files(study.raw))  # new UUIDs


def test_wearables_do_not_change_pk_draws(study: Study, tmp_path: Path) -> None:
    other = dataclasses.replace(SMALL, wearable_fraction=0.0)
    generate_study(tmp_path / "raw", tmp_path / "truth", other)
    for name in ("pc.xpt", "lb.xpt", "dm.xpt"):
        assert (tmp_path / "raw" / "sdtm" / name).read_bytes() == (
            study.raw / "sdtm" / name
        ).read_bytes()
    assert not any((tmp_path / "raw" / "wearables").iterdir())


def test_manifest_counts_and_hashes_match_files(study: Study) -> None:
    manifest = json.loads((study.raw / "manifest.json").read_text("utf-8"))
    assert manifest["config"] == SMALL.to_dict()
    listed = {f["path"]: f for f in manifest["files"]}
    on_disk = {k for k in _files(study.raw) if k != "manifest.json"}
    assert set(listed) == on_disk
    for rel, entry in listed.items():
        data = (study.raw / rel).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"]
        if entry["format"].startswith("fhir"):
            assert len(json.loads(data)["entry"]) == entry["records"]
        elif entry["format"] == "wearable-csv":
            assert data.count(b"\n") - data.count(b"\n#") - 2 == entry["records"]
        elif entry["format"] == "vcf-4.2":
            lines = data.decode().splitlines()
            assert sum(not ln.startswith("#") for ln in lines) == entry["records"]
            header = next(ln for ln in lines if ln.startswith("#CHROM"))
            assert len(header.split("\t")) - 9 == entry["samples"]
    assert [f["path"] for f in manifest["files"]] == sorted(listed)
    assert manifest == study.manifest.to_dict()


def test_truth_lives_only_in_truth_dir(study: Study) -> None:
    assert (study.truth / "parameters.json").is_file()
    assert (study.truth / "patients.csv").is_file()
    names = {p.name for p in study.raw.rglob("*")}
    assert "parameters.json" not in names and "patients.csv" not in names
    params = json.loads((study.truth / "parameters.json").read_text("utf-8"))
    assert params["pk"]["cl_l_per_h"] == 5.0 and params["pd"]["kout_per_h"] == 0.02
    assert len(study.patients) == SMALL.n_patients
    assert (study.patients["ARMCD"] == "SCRNFAIL").sum() == round(0.1 * SMALL.n_patients)


def test_overlapping_folders_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="separate"):
        generate_study(tmp_path / "raw", tmp_path / "raw" / "truth", SMALL)


def test_non_empty_out_dir_needs_overwrite(study: Study, tmp_path: Path) -> None:
    config = SynthConfig(n_patients=3)
    generate_study(tmp_path / "raw", tmp_path / "truth", config)
    with pytest.raises(FileExistsError):
        generate_study(tmp_path / "raw", tmp_path / "truth", config)
    generate_study(tmp_path / "raw", tmp_path / "truth", config, overwrite=True)


def test_all_screen_failures_still_write_every_format(tmp_path: Path) -> None:
    config = SynthConfig(n_patients=3, screen_fail_fraction=1.0)
    manifest = generate_study(tmp_path / "raw", tmp_path / "truth", config)
    formats = {f.format for f in manifest.files}
    assert {"fhir-r4-bundle+json", "sas-xport-v5", "vcf-4.2"} <= formats
