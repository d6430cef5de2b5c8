"""NONMEM data sets: the nlmixr2 dialects, validation messages, round trip, the timeline bridge."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from repo_helpers import DRUG_CONC, make_cohort, shared_data

from twinlab.pkpd.dataset import (
    NonmemData,
    NonmemDataError,
    NonmemDataWarning,
    from_timeline,
    read_nonmem,
    write_nonmem,
)

DATA = shared_data() / "pk" / "nlmixr2data"
needs_data = pytest.mark.skipif(not DATA.is_dir(), reason="nlmixr2data not available")


def _raw(name: str) -> pd.DataFrame:
    raw = pd.read_csv(DATA / f"{name}.csv")
    raw.columns = raw.columns.str.upper()
    return raw


@needs_data
@pytest.mark.parametrize(("name", "n_subjects"), [("theo_sd", 12), ("theo_md", 12)])
def test_theophylline_reads_with_nlmixr2_dose_events(name, n_subjects):
    raw = _raw(name)
    data = read_nonmem(DATA / f"{name}.csv")
    f = data.frame
    assert data.n_subjects == n_subjects == raw["ID"].nunique()
    assert (f["EVID"] == 1).sum() == (raw["EVID"] == 101).sum()
    assert set(f.loc[f["EVID"] == 1, "CMT"]) == {1}
    assert (f["EVID"] == 0).sum() == (raw["EVID"] == 0).sum()
    assert f.loc[f["EVID"] == 1, "MDV"].eq(1).all() and f.loc[f["EVID"] == 0, "MDV"].eq(0).all()
    np.testing.assert_array_equal(f["DV"], raw["DV"])
    arrays = data.to_arrays()
    doses_per_id = raw[raw["EVID"] == 101].groupby("ID").size().to_numpy()
    assert ((arrays.dose_amt > 0).sum(axis=1) == doses_per_id).all()
    np.testing.assert_array_equal(arrays.subject_ids, np.sort(raw["ID"].unique()))
    assert arrays.n_obs == (raw["EVID"] == 0).sum()
    first_wt = raw.groupby("ID")["WT"].first().to_numpy()
    np.testing.assert_array_equal(arrays.covariates["WT"], first_wt)


@needs_data
def test_warfarin_codes_dvid_and_sex_and_reports_replicates():
    raw = _raw("warfarin")
    with pytest.warns(NonmemDataWarning, match="8 records share"):
        data = read_nonmem(DATA / "warfarin.csv")
    assert data.n_subjects == 32
    assert data.codes["DVID"] == {"cp": 1, "pca": 2}
    assert data.codes["SEX"] == {"male": 0, "female": 1}
    f = data.frame
    assert (f["DVID"] == 1).sum() == (raw["DVID"] == "cp").sum()
    assert (f["DVID"] == 2).sum() == (raw["DVID"] == "pca").sum()
    assert (f["SEX"] == 1).sum() == (raw["SEX"] == "female").sum()
    assert (f["EVID"] == 1).sum() == 32 and set(f.loc[f["EVID"] == 1, "CMT"]) == {1}
    assert len(data.duplicates()) == 8
    pk = data.to_arrays(dvid="cp")
    pd_ = data.to_arrays(dvid=2)
    assert pk.n_obs == ((raw["DVID"] == "cp") & (raw["EVID"] == 0)).sum()
    assert pd_.n_obs == ((raw["DVID"] == "pca") & (raw["EVID"] == 0)).sum()
    assert set(pk.obs_dvid) == {1} and set(pd_.obs_dvid) == {2}
    with pytest.raises(NonmemDataError, match="unknown endpoint 'effect'"):
        data.to_arrays(dvid="effect")


@needs_data
@pytest.mark.parametrize("name", ["theo_sd", "theo_md", "warfarin"])
def test_write_then_read_round_trips(name, tmp_path):
    with pytest.warns() if name == "warfarin" else _nothing():
        data = read_nonmem(DATA / f"{name}.csv")
    out = write_nonmem(data, tmp_path / f"{name}.csv")
    with pytest.warns() if name == "warfarin" else _nothing():
        back = read_nonmem(out)
    pd.testing.assert_frame_equal(back.frame, data.frame)
    assert back.codes == data.codes
    assert back.ids == data.ids


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _good() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "ID": [1, 1, 1, 2, 2],
            "TIME": [0.0, 1.0, 2.0, 0.0, 4.0],
            "EVID": [1, 0, 0, 1, 0],
            "AMT": [100.0, 0, 0, 50.0, 0],
            "CMT": [1, 2, 2, 1, 2],
            "DV": [np.nan, 1.5, 1.2, np.nan, 0.8],
        }
    )


def _with(**changes):
    def make() -> pd.DataFrame:
        df = _good()
        for column, (row, value) in changes.items():
            if column not in df.columns:
                df[column] = 0
            df[column] = df[column].astype(object)
            df.loc[row, column] = value
        return df

    return make


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: _good().drop(columns="CMT"), "missing required column.*CMT"),
        (_with(DV=(2, "abc")), r"column DV: must be numeric.*row 2 \('abc'\)"),
        (_with(TIME=(2, -1.0)), "column TIME: negative time.*row 2"),
        (_with(TIME=(2, 0.5)), "column TIME: time goes back within an ID.*row 2"),
        (_with(EVID=(1, 7)), "column EVID: unknown event id.*row 1"),
        (_with(ID=(4, 1)), "column ID: ID.*separate blocks"),
        (_with(ID=(1, 1.5)), "column ID: must be whole numbers.*row 1"),
        (_with(AMT=(0, -5.0)), "column AMT: negative amount.*row 0"),
        (_with(AMT=(1, 5.0)), "column AMT: an amount on a non-dose record.*row 1"),
        (_with(RATE=(0, -2)), "column RATE: modelled rate or duration.*not supported"),
        (_with(SS=(0, 1)), "column II: SS=1 needs II > 0.*row 0"),
        (_with(SS=(0, 2), II=(0, 24.0)), "column SS: SS=2.*not supported"),
        (_with(ADDL=(0, 3)), "column II: ADDL > 0 needs II > 0.*row 0"),
        (
            lambda: _good().assign(MDV=[1, 0, 0, 1, 0], DV=[np.nan, np.nan, 1.2, np.nan, 0.8]),
            "column DV: missing value on an observation.*row 1",
        ),
        (
            lambda: _good().assign(MDV=[1, 0, 0, 0, 0]),
            "column MDV: must be 1 on non-observation records.*row 3",
        ),
        (_with(CENS=(0, 1)), "column CENS: censoring flag on a non-observation.*row 0"),
        (_with(WT=(1, "heavy")), "column WT: must be numeric.*text columns are coded"),
        (_with(CMT=(0, 0)), "column CMT: a dose needs a compartment >= 1.*row 0"),
    ],
)
def test_invalid_data_gives_a_clear_error_naming_column_and_rows(make, match):
    with pytest.raises(NonmemDataError, match=match):
        NonmemData(make())


def test_nonmem_data_derives_defaults_and_types():
    data = NonmemData(_good().rename(columns=str.lower))
    f = data.frame
    assert list(f.columns[:11]) == [
        "ID", "TIME", "EVID", "AMT", "RATE", "CMT", "DV", "MDV", "ADDL", "II", "SS",
    ]  # fmt: skip
    assert f["MDV"].tolist() == [1, 0, 0, 1, 0]
    assert f["ID"].dtype == np.int64 and f["TIME"].dtype == np.float64


def test_read_nonmem_error_names_the_file(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("ID,TIME,EVID,AMT,CMT,DV\n1,0,1,100,1,.\n1,-1,0,0,2,3.0\n")
    with pytest.raises(NonmemDataError, match=r"bad\.csv: column TIME: negative time.*row 1"):
        read_nonmem(path)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(NonmemDataError, match="empty"):
        read_nonmem(empty)


def test_to_arrays_expands_addl_and_keeps_censoring(tmp_path):
    df = pd.DataFrame(
        {
            "ID": [7, 7, 7, 3, 3],
            "TIME": [0.0, 1.0, 30.0, 0.0, 2.0],
            "EVID": [1, 0, 0, 1, 0],
            "AMT": [100.0, 0, 0, 200.0, 0],
            "RATE": [0.0, 0, 0, 100.0, 0],
            "CMT": [1, 2, 2, 2, 2],
            "ADDL": [2, 0, 0, 0, 0],
            "II": [12.0, 0, 0, 0, 0],
            "DV": [np.nan, 2.0, 0.05, np.nan, 4.0],
            "CENS": [0, 0, 1, 0, 0],
        }
    )
    arrays = NonmemData(df).to_arrays()
    assert arrays.subject_ids.tolist() == [3, 7]
    assert arrays.dose_time.tolist() == [[0.0, 0.0, 0.0], [0.0, 12.0, 24.0]]
    assert arrays.dose_duration[0, 0] == 2.0 and arrays.dose_rate[0, 0] == 100.0
    assert arrays.obs_subject.tolist() == [1, 1, 0]
    assert arrays.obs_cens.tolist() == [False, True, False]
    np.testing.assert_array_equal(arrays.obs_lloq, [np.nan, 0.05, np.nan])


# --- from the harmonized timeline -----------------------------------------------------------


def _timeline_counts(cohort):
    ev = cohort.events
    copies = ev["qualifiers"].str.contains("duplicate_of", na=False)
    ev = ev[~copies]
    doses = ev[(ev["domain"] == "dose") & (ev["value_num"] > 0)]
    return ev, doses


def test_from_timeline_on_make_cohort_matches_the_timeline():
    cohort = make_cohort(n_patients=4, seed=3)
    data = from_timeline(
        cohort,
        conc_code=DRUG_CONC,
        covariates={"WT": "cov_weight_kg", "SEX": "sex", "SMOKER": "cov_smoker"},
    )
    f = data.frame
    assert data.n_subjects == 4
    assert data.ids == dict(enumerate(cohort.patient_ids, start=1))
    assert (f["EVID"] == 1).sum() == 12 and set(f.loc[f["EVID"] == 1, "CMT"]) == {1}
    assert (f["EVID"] == 0).sum() == 36 and set(f.loc[f["EVID"] == 0, "CMT"]) == {2}
    conc = cohort.events[cohort.events["code"] == DRUG_CONC]
    # ng/mL -> mg/L
    np.testing.assert_allclose(
        np.sort(f.loc[f["EVID"] == 0, "DV"]), np.sort(conc["value_num"] / 1000)
    )
    assert f.loc[f["EVID"] == 0, "LLOQ"].eq(0.0005).all()
    pts = cohort.patients.set_index("patient_id")
    for pid_num, pid in data.ids.items():
        row = f[f["ID"] == pid_num].iloc[0]
        assert row["WT"] == pts.loc[pid, "cov_weight_kg"]
        assert row["SEX"] == {"M": 0, "F": 1}[pts.loc[pid, "sex"]]
        assert row["SMOKER"] == data.codes["SMOKER"][pts.loc[pid, "cov_smoker"]]
    arrays = data.to_arrays()
    assert arrays.dose_time.tolist() == [[0.0, 24.0, 48.0]] * 4


def test_from_timeline_blq_duplicates_pd_and_infusions():
    cohort = make_cohort(n_patients=2, seed=0)
    ev = cohort.events.copy()
    conc = ev.index[ev["code"] == DRUG_CONC]
    ev.loc[conc[0], "qualifiers"] = json.dumps({"lloq": 0.5, "blq": True})
    ev.loc[conc[0], ["value_num", "unit"]] = [np.nan, np.nan]  # unit: the code's usual one
    ev.loc[conc[1], "qualifiers"] = json.dumps({"lloq": 0.5, "duplicate_of": "x"})
    dose = ev.index[ev["domain"] == "dose"]
    ev.loc[dose[0], "qualifiers"] = json.dumps({"route": "IV", "infusion_duration_h": 2.0})
    ev.loc[dose[1], "value_num"] = 0.0  # placebo-like: dropped and counted
    from twinlab.timeline import Cohort

    edited = Cohort(cohort.patients, ev, cohort.links)
    data = from_timeline(edited, conc_code=DRUG_CONC, pd_code="2160-0", covariates={})
    f = data.frame
    assert (f["CENS"] == 1).sum() == 1
    blq = f[f["CENS"] == 1].iloc[0]
    assert blq["DV"] == blq["LLOQ"] == 0.0005
    assert ((f["EVID"] == 0) & (f["DVID"] == 1)).sum() == 18 - 1  # one duplicate skipped
    assert ((f["EVID"] == 0) & (f["DVID"] == 2)).sum() == 4
    assert data.meta["dropped"]["zero_amount_doses"] == 1
    inf = f[(f["EVID"] == 1) & (f["RATE"] > 0)]
    assert len(inf) == 1 and inf["RATE"].iloc[0] == 50.0 and inf["CMT"].iloc[0] == 2
    # the creatinine at -24 h moves the time origin: TIME stays >= 0
    assert data.meta["time_origin_hours"][1] == -24.0 and f["TIME"].min() == 0.0
    arrays = data.to_arrays(dvid=2)
    assert set(arrays.obs_dvid) == {2} and not arrays.obs_cens.any()


def test_from_timeline_unknown_route_is_a_clear_error():
    cohort = make_cohort(n_patients=1)
    ev = cohort.events.copy()
    ev.loc[ev["domain"] == "dose", "qualifiers"] = json.dumps({"route": "nasal"})
    from twinlab.timeline import Cohort

    with pytest.raises(NonmemDataError, match=r"route missing or unknown \['nasal'\]"):
        from_timeline(Cohort(cohort.patients, ev, cohort.links), conc_code=DRUG_CONC)


@pytest.fixture(scope="module")
def demo_cohort(tmp_path_factory):
    """A small synthetic demo study, harmonized as the pipeline's ``harmonize`` stage does
    (the committed ``data/harmonized/demo`` is absent before the demo has run)."""
    from twinlab.deid import DeidKey
    from twinlab.harmonize import HarmonizeConfig, harmonize
    from twinlab.security.crypto import Keyring
    from twinlab.synth import SynthConfig, generate_study
    from twinlab.timeline import Cohort

    root = tmp_path_factory.mktemp("demo")
    generate_study(root / "raw", root / "truth", SynthConfig(n_patients=8, seed=11))
    harmonize(
        [root / "raw"], out_dir=root / "out", raw_zone=root / "zone",
        config=HarmonizeConfig(identifier_aliases={"vcf_sample": "usubjid"}),
        key=DeidKey(b"dataset-test-deid-key-32-bytes!!"),
        keyring=Keyring({"k1": b"dataset-test-master-key-32-bytes"}),
    )  # fmt: skip
    return Cohort.read(root / "out")


def test_from_timeline_on_the_demo_cohort_matches_the_timeline(demo_cohort):
    cohort = demo_cohort
    data = from_timeline(cohort, conc_code="TWINURO")
    ev, doses = _timeline_counts(cohort)
    conc = ev[ev["code"] == "TWINURO"]
    f = data.frame
    subjects = set(doses["patient_id"]) | set(conc["patient_id"])
    assert data.n_subjects == len(subjects)
    assert set(data.ids.values()) == subjects
    assert (f["EVID"] == 1).sum() == len(doses)
    assert (f["EVID"] == 0).sum() == len(conc)
    blq = conc["qualifiers"].str.contains('"blq": true', regex=False)
    assert (f["CENS"] == 1).sum() == blq.sum()
    per_id = f[f["EVID"] == 1].groupby("ID").size()
    per_patient = doses.groupby("patient_id").size()
    assert {data.ids[i]: n for i, n in per_id.items()} == per_patient.to_dict()
    arrays = data.to_arrays(dvid=1)
    assert arrays.n_obs == len(conc) and arrays.obs_cens.sum() == blq.sum()


def test_written_csv_is_rounded_as_nonmem_users_expect_and_reads_back(tmp_path):
    frame = _good().assign(
        TIME=[0.0, 5 / 12, 2.0, 0.0, 4.0],
        DV=[np.nan, 1.5, 1 / 3, np.nan, 0.8],
        CYP2C9=[0.0, 0.0, 0.0, 1.0, 1.0],  # a coded genotype
        CRCL=82.56741355866355,
    )
    out = write_nonmem(NonmemData(frame), tmp_path / "d.csv")
    lines = out.read_text().splitlines()
    header = lines[0].split(",")
    first_obs = dict(zip(header, lines[2].split(","), strict=True))
    assert first_obs["TIME"] == "0.416667" and first_obs["CRCL"] == "82.5674"
    assert first_obs["CYP2C9"] == "0" and first_obs["EVID"] == "0" and first_obs["CMT"] == "2"
    assert dict(zip(header, lines[1].split(","), strict=True))["AMT"] == "100"
    assert "e-" not in out.read_text() and "0.4166666" not in out.read_text()
    back = read_nonmem(out)
    # the same data set, to 6 significant digits, with the same column types
    pd.testing.assert_frame_equal(back.frame, NonmemData(frame).frame, rtol=1e-6)
    assert back.frame["TIME"].iloc[1] == 0.416667 and back.frame["CYP2C9"].dtype == float
