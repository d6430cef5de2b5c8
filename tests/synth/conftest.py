"""Small generated studies shared by the synth tests."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from twinlab.synth import StudyManifest, SynthConfig, generate_study

SMALL = SynthConfig(n_patients=30, screen_fail_fraction=0.1, wearable_fraction=0.2)


class Study:
    """A generated study: its folders, manifest and truth table."""

    def __init__(self, root: Path, config: SynthConfig) -> None:
        self.raw = root / "raw"
        self.truth = root / "truth"
        self.config = config
        self.manifest: StudyManifest = generate_study(self.raw, self.truth, config)
        self.patients = pd.read_csv(self.truth / "patients.csv", dtype={"SITEID": str})


@pytest.fixture(scope="session")
def study(tmp_path_factory: pytest.TempPathFactory) -> Study:
    return Study(tmp_path_factory.mktemp("study"), SMALL)


@pytest.fixture(scope="session")
def study_again(tmp_path_factory: pytest.TempPathFactory) -> Study:
    return Study(tmp_path_factory.mktemp("study_again"), SMALL)
