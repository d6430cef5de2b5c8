"""The spec reference in docs/ is valid and lists exactly the structural models of the code."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from twinlab.cli import cli
from twinlab.pkpd.catalog import catalog, catalog_markdown
from twinlab.pkpd.models import MODELS
from twinlab.pkpd.population import PopulationSpec

DOC = Path(__file__).resolve().parents[2] / "docs" / "population-spec.md"


def test_docs_table_is_the_generated_catalog_and_its_example_spec_is_valid():
    text = DOC.read_text()
    assert text.endswith(catalog_markdown())  # regenerate: twinlab models catalog --markdown
    example = text.split("```yaml\n", 1)[1].split("```", 1)[0]
    spec = PopulationSpec.from_yaml(example)
    assert dict(spec.derived) == {"APGR_LOW": "APGR < 5", "LOW_WT_OR_AGE": "WT < 50 or AGE > 80"}
    assert {c.covariate for c in spec.covariates} == {"WT", "APGR_LOW", "CRCL"}
    for field in ("model", "parameters", "covariates", "derived", "errors", "centered"):
        assert f"| `{field}`" in text


def test_models_catalog_command_lists_every_model():
    res = CliRunner().invoke(cli, ["models", "catalog", "--json"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.output)
    assert [r["name"] for r in rows] == list(MODELS) == [r["name"] for r in catalog()]
    iv = next(r for r in rows if r["name"] == "pk_1cmt_iv")
    assert iv["parameters"] == ["cl", "v"] and "ADVAN1" in iv["dosing"]
    plain = CliRunner().invoke(cli, ["models", "catalog"])
    assert plain.exit_code == 0 and "pk_3cmt_oral" in plain.output
