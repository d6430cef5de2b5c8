"""The PHI scanner reads zarr stores: metadata and text, not the bytes of numeric chunks."""

from __future__ import annotations

import numpy as np
import xarray as xr

from twinlab.deid import scan_for_phi


def test_numeric_chunks_are_skipped_but_attributes_and_text_arrays_are_scanned(tmp_path):
    rng = np.random.default_rng(3)
    clean = xr.Dataset({"hr": ("time", rng.normal(70, 9, 50_000))}, attrs={"device": "band"})
    clean.to_zarr(tmp_path / "clean.zarr", mode="w", consolidated=False)
    identifiers = [("name", "Zoë O'Brien"), ("name", "Li"), ("email", "zoe@example.org")]
    # random float bytes decode to stray letters; none of it is PHI
    assert scan_for_phi(tmp_path / "clean.zarr", identifiers) == []
    leaky = clean.assign_attrs(holder="zoe@example.org")
    leaky["note"] = ("n", np.array(["called Zoë O'Brien"], dtype=object))
    leaky.to_zarr(tmp_path / "leaky.zarr", mode="w", consolidated=False)
    findings = scan_for_phi(tmp_path / "leaky.zarr", identifiers)
    assert {"email", "name"} <= {f.kind for f in findings}
    assert any("note" in f.file for f in findings if f.kind == "name")


def test_the_names_of_zarr_nodes_are_scanned(tmp_path):
    """A variable's name is its array's folder: "zoe obrien 617-555-0142" was not read."""
    leaky = "zoe obrien 617-555-0142"
    ds = xr.Dataset({leaky: ("time", np.arange(3.0)), "hr": ("time", np.ones(3))})
    ds.to_zarr(tmp_path / "s.zarr", mode="w", consolidated=False)
    findings = scan_for_phi(tmp_path / "s.zarr", [("name", "Zoë O'Brien")])
    assert {"name", "pattern:phone"} <= {f.kind for f in findings}
    assert all(f.location == "node name" for f in findings)


def test_a_series_variable_the_policy_does_not_declare_is_a_finding(tmp_path):
    """series.zarr publishes the declared wearable variables only: an undeclared one (a GPS
    track, ``lat``, whose numbers no text check reads) stops the publication."""
    ds = xr.Dataset({"heart_rate": ("time", np.ones(3)), "lat": ("time", np.full(3, 43.615))},
                    coords={"time": np.arange(3)})  # fmt: skip
    ds.to_zarr(tmp_path / "series.zarr", group="P-1", mode="w", consolidated=False)
    findings = scan_for_phi(tmp_path / "series.zarr", [])
    assert [(f.kind, f.location) for f in findings] == [("policy:series_variable", "node name")]
    assert "lat" in findings[0].file
    ds.drop_vars("lat").to_zarr(tmp_path / "ok" / "series.zarr", group="P-1", consolidated=False)
    assert scan_for_phi(tmp_path / "ok" / "series.zarr", []) == []
