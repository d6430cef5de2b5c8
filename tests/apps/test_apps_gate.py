"""The apps serve only a twin version whose validation gate passed, and say so; the
pipeline's simulation stages open the registered twin under the same rule."""

from __future__ import annotations

import shutil

import pytest
from apps_fixtures import GATE, known_fit

from twinlab.apps.twin import available_models, open_twin, registered_models
from twinlab.apps.whatif import WhatIf
from twinlab.pipeline.scenario import virtual_cohort_from_params
from twinlab.pkpd.gate import GateBounds, validate
from twinlab.pkpd.registry import NotValidatedError, record_validation, register


@pytest.fixture
def mixed(project, tmp_path):
    """A copy of the project whose twin also has version 2 (never gated) and 3 (failed)."""
    root = shutil.copytree(project, tmp_path / "project")
    twin = known_fit()
    register(twin, "twin_test", root=root / "models", diagnostics={})
    register(twin, "twin_test", root=root / "models", diagnostics={}, validation=validate(twin))
    return root


def test_only_a_version_that_passed_is_offered_and_the_others_are_listed_as_such(mixed):
    assert available_models(mixed) == ["twin_test/1"]
    assert [(m["model"], m["validation"]) for m in registered_models(mixed)] == [
        ("twin_test/1", "passed"),
        ("twin_test/2", "not validated"),
        ("twin_test/3", "failed"),
    ]
    assert available_models(mixed, validated_only=False)[-1] == "twin_test/3"


def test_opening_an_unvalidated_or_failed_version_is_refused_with_the_reason(mixed):
    with pytest.raises(NotValidatedError, match="twin_test/2 has no validation gate result"):
        open_twin(mixed, "twin_test/2")
    failed = validate(known_fit()).failures[0]
    with pytest.raises(NotValidatedError, match=f"twin_test/3 failed .*at {failed.parameter}"):
        open_twin(mixed, "twin_test/3")
    with pytest.raises(ValueError, match="not a registered version that passed"):
        WhatIf(root=str(mixed), model="twin_test/3")


def test_the_what_if_serves_the_latest_validated_version_and_labels_it(mixed):
    w = WhatIf(root=str(mixed), n_patients=200, seed=3)
    assert w.model == "twin_test/1"  # not the newer versions that have not passed
    validation = w.provenance()["validation"]
    assert validation.startswith("passed (R-hat ≤ 1.1, bulk ESS ≥ 20")


def test_a_gate_recorded_later_makes_a_version_servable(mixed):
    with pytest.raises(NotValidatedError):
        open_twin(mixed, "twin_test/2")
    record_validation(validate(known_fit(), bounds=GATE), "twin_test", 2, root=mixed / "models")
    assert open_twin(mixed, "twin_test/2").version == 2
    assert available_models(mixed) == ["twin_test/1", "twin_test/2"]
    # and a stricter gate withdraws it again, even from the open-twin cache
    record_validation(
        validate(known_fit(), bounds=GateBounds()), "twin_test", 2, root=mixed / "models"
    )
    with pytest.raises(NotValidatedError, match="failed its validation gate"):
        open_twin(mixed, "twin_test/2")


def test_no_validated_version_is_a_clear_error_naming_what_is_registered(project, tmp_path):
    root = shutil.copytree(project, tmp_path / "project")
    shutil.rmtree(root / "models" / "twin_test")
    register(known_fit(), "twin_test", root=root / "models", diagnostics={})
    with pytest.raises(ValueError, match=r"has passed its validation gate \(twin_test/1 \(not"):
        WhatIf(root=str(root))


def test_the_simulation_stages_open_only_a_validated_twin(mixed):
    section = {
        "model": "twin_test",
        "models_root": "models",
        "timeline_dir": "data/harmonized/demo",
        "n_patients": 10,
    }
    population = virtual_cohort_from_params({**section, "model_version": 1}, root=mixed)
    fit = population.describe()["fit"]
    assert (fit["version"], fit["validation"]) == (1, "passed")
    with pytest.raises(NotValidatedError, match="twin_test/3 failed its validation gate"):
        virtual_cohort_from_params(section, root=mixed)  # the latest version failed


def test_the_dashboards_label_the_served_version_and_list_every_status(mixed):
    import panel as pn

    from twinlab.apps.context import AppContext
    from twinlab.apps.views import ReviewerView, WhatIfView

    view = WhatIfView(
        WhatIf(root=str(mixed), n_patients=200, seed=3), AppContext("ana", "modeler", mixed)
    )
    text = view._provenance.object
    assert "model **twin_test/1**" in text and "validation gate **passed (R-hat ≤ 1.1" in text
    page = ReviewerView(AppContext("rita", "reviewer", mixed))._content()
    tables = [o for o in page.objects if isinstance(o, pn.pane.DataFrame)]
    # the latest version's gate as recorded with its bounds (it failed: R-hat above 1.01)
    texts = [str(o.object) for o in page.objects if isinstance(o, pn.pane.Markdown)]
    assert "Validation gate of twin_test/3: <span class='gate-status'>FAILED</span>" in "".join(
        texts
    )
    checks = next(t.object for t in tables if "bound" in t.object.columns)
    assert "≤ 1.01" in checks["bound"].tolist() and "NO" in checks["passed"].tolist()
    models = next(t.object for t in tables if "validation gate" in t.object.columns)
    assert models.to_dict("records") == [
        {
            "model (name/version)": m["model"],
            "structural model": m["structural_model"],
            "validation gate": m["validation"],
        }
        for m in registered_models(mixed)
    ]
