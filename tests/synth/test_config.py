"""SynthConfig validation."""

from __future__ import annotations

import pytest

from twinlab.synth import SynthConfig


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("n_patients", 0, "n_patients"),
        ("n_patients", 2.5, "n_patients"),
        ("seed", -1, "seed"),
        ("wearable_fraction", 1.5, "wearable_fraction"),
        ("wearable_fraction", float("nan"), "wearable_fraction"),
        ("screen_fail_fraction", -0.1, "screen_fail_fraction"),
        ("wearable_days", 0, "wearable_days"),
        ("study_id", "", "study_id"),
        ("study_id", "TWL 001", "study_id"),
        ("start_date", "06/01/2025", "start_date"),
        ("start_date", "2025-02-30", "start_date"),
    ],
)
def test_bad_values_raise_value_error(field: str, value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SynthConfig(**{field: value})


def test_defaults_are_valid_and_keyword_only() -> None:
    config = SynthConfig()
    assert config.n_patients == 200 and config.start_date == "2025-01-06"
    with pytest.raises(TypeError):
        SynthConfig(10)  # type: ignore[misc]
