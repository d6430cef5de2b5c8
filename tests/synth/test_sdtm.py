"""SDTM XPORT files read back with the right values."""

from __future__ import annotations

import numpy as np
import pyreadstat

from twinlab.synth import truth as T

from .conftest import Study


def _read(study: Study, name: str):
    return pyreadstat.read_xport(str(study.raw / "sdtm" / f"{name}.xpt"))


def test_row_counts_and_labels(study: Study) -> None:
    n = study.config.n_patients
    n_rand = int((study.patients.ARMCD != "SCRNFAIL").sum())
    dm, meta = _read(study, "dm")
    assert len(dm) == n and meta.table_name == "DM"
    assert meta.column_names_to_labels["USUBJID"] == "Unique Subject Identifier"
    assert (dm.ARMCD == "SCRNFAIL").sum() == n - n_rand
    assert (dm.loc[dm.ARMCD == "SCRNFAIL", "RFSTDTC"] == "").all()
    assert len(_read(study, "ex")[0]) == n_rand * T.N_DOSE_DAYS
    assert len(_read(study, "pc")[0]) == n_rand * len(T.PK_SCHEDULE)
    assert len(_read(study, "vs")[0]) == 2 * n
    assert len(_read(study, "lb")[0]) == 3 * n + len(T.URATE_DAYS) * n_rand


def test_header_datetime_is_fixed_from_config(study: Study) -> None:
    _, meta = _read(study, "pc")
    assert meta.creation_time.date().isoformat() == study.config.start_date


def test_blq_rows_have_missing_numeric_result(study: Study) -> None:
    pc, _ = _read(study, "pc")
    blq = pc.PCORRES.isin(["BLQ", "<0.05"])
    assert blq.any() and (~blq).any()
    assert set(pc.loc[blq, "PCORRES"]) == {"BLQ", "<0.05"}
    assert pc.loc[blq, "PCSTRESN"].isna().all()
    quantified = pc.loc[~blq]
    assert (quantified.PCSTRESN >= T.LLOQ).all()
    np.testing.assert_allclose(quantified.PCORRES.astype(float), quantified.PCSTRESN)
    placebo = set(study.patients.loc[study.patients.ARMCD == "PBO", "USUBJID"])
    assert pc.loc[pc.USUBJID.isin(placebo), "PCSTRESN"].isna().all()


def test_urate_standard_units(study: Study) -> None:
    lb, _ = _read(study, "lb")
    urate = lb[lb.LBTESTCD == "URATE"]
    assert set(urate.LBORRESU) == {"mg/dL"} and set(urate.LBSTRESU) == {"umol/L"}
    expected = urate.LBORRES.astype(float) * 59.48
    assert np.all(np.abs(urate.LBSTRESN - expected) <= 0.05 + 1e-9)
    assert (lb.LBBLFL == "Y").any()


def test_dm_and_vs_match_truth(study: Study) -> None:
    dm, _ = _read(study, "dm")
    truth = study.patients.set_index("USUBJID")
    dm = dm.set_index("USUBJID")
    assert (dm.AGE == truth.loc[dm.index, "age"]).all()
    assert (dm.ARMCD == truth.loc[dm.index, "ARMCD"]).all()
    vs, _ = _read(study, "vs")
    wt = vs[vs.VSTESTCD == "WEIGHT"].set_index("USUBJID").VSSTRESN
    np.testing.assert_allclose(wt, truth.loc[wt.index, "weight_kg"], atol=1e-9)
