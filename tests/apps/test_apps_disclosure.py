"""Small-cell disclosure control against an attacker who searches the filters.

The attacker is a stakeholder: it moves the what-if's filters (weight and CrCL ranges,
fine values such as the 30–48.3 kg of the security review, genotype choices) through the
same objects the served page binds its widgets to, and reads only what the page shows (the
summary, provenance, genotype table, the refusal). An oracle with patient-level access checks
what the attacker could have learnt: no answered population has fewer than k real patients,
no two answered populations one inside the other differ by 1..k-1 patients, every count shown
is rounded, and a refusal never says how many patients there are."""

from __future__ import annotations

import itertools
import re

import numpy as np
import pandas as pd
import pytest

from twinlab.apps.context import AppContext
from twinlab.apps.disclosure import CRCL_BANDS, REFUSAL, WEIGHT_BANDS
from twinlab.apps.views import CohortView, WhatIfView
from twinlab.apps.whatif import WhatIf

K = 5


@pytest.fixture(scope="module")
def real(project) -> pd.DataFrame:
    """The oracle's view: every real patient's covariates (patient-level access)."""
    w = WhatIf(root=str(project))
    eligible = w.virtual_cohort(0, criteria=(), method="resample").eligible
    names = w.level_names("CYP2C9")
    out = eligible[["WT", "CRCL", "CYP2C9"]].reset_index(drop=True)
    out["genotype"] = out["CYP2C9"].map(lambda c: names[int(c)])
    return out


def _members(real: pd.DataFrame, criteria: list[str]) -> frozenset[int]:
    """The real patients a list of criteria selects (evaluated by pandas, not twinlab)."""
    mask = np.ones(len(real), bool)
    for c in criteria:
        c = c.replace("CYP2C9 in", "genotype in")
        mask &= real.eval(c).to_numpy()
    return frozenset(np.flatnonzero(mask).tolist())


def _search_space(genotypes: list[str]) -> list[dict]:
    """What the attacker tries: sweeps with fine steps, the band grid, genotype choices."""
    full_w, full_c = (30.0, 200.0), (10.0, 250.0)
    weights = [30.0, 41.0, 48.3, 59.9, 60.0, 61.5, 79.9, 80.0, 99.0, 100.0, 109.7, 120.0, 200.0]
    crcls = [10.0, 29.9, 30.0, 45.55, 60.0, 89.9, 90.0, 119.99, 120.0, 250.0]
    out = [
        {"weight_range": (lo, hi), "crcl_range": full_c, "genotypes": []}
        for lo, hi in itertools.combinations(weights, 2)
    ]
    out += [
        {"weight_range": full_w, "crcl_range": (lo, hi), "genotypes": []}
        for lo, hi in itertools.combinations(crcls, 2)
    ]
    w_edges, c_edges = WEIGHT_BANDS[:-1], CRCL_BANDS[:-1]
    for (wl, wh), (cl, ch) in itertools.product(
        itertools.combinations(w_edges[:4], 2), itertools.combinations(c_edges, 2)
    ):
        out.append({"weight_range": (wl, wh), "crcl_range": (cl, ch), "genotypes": []})
    for r in (1, 2):
        for chosen in itertools.combinations(genotypes, r):
            for wr in (full_w, (60.0, 100.0), (30.0, 60.0)):
                out.append({"weight_range": wr, "crcl_range": full_c, "genotypes": list(chosen)})
    return out


def _numbers(text: str) -> list[int]:
    """The real-patient counts of the provenance line ("about **40** ... of about 40")."""
    pairs = re.findall(r"about \*\*(\d+)\*\*|of about (\d+)", text)
    return [int(a or b) for a, b in pairs]


def test_an_attacker_searching_the_filters_cannot_single_anyone_out(project, real):
    ctx = AppContext("sam", "stakeholder", project, min_cell=K)
    w = WhatIf(root=str(project), n_patients=100, duration_days=2, min_cell=K)
    view = WhatIfView(w, ctx)
    answered: dict[frozenset[int], str] = {}
    refusals = set()
    genotypes = list(w.param.genotypes.objects)
    space = _search_space(genotypes)
    for query in space:
        w.param.update(**query)
        if view._error.visible:  # refused: the page says so, and nothing else
            refusal, stale = view._error.object.split("\n\n")
            assert "previous results are hidden" in stale and not view._results.visible
            refusals.add(refusal)
            continue
        prov = view._provenance.object
        criteria = re.search(r"criteria: `([^`]*)`", prov).group(1)
        members = _members(
            real, [] if criteria == "none" else [c.strip("()") for c in criteria.split(" and (")]
        )
        # every count shown is rounded, never the real one when that is not a multiple of 5
        shown = _numbers(prov)
        assert len(shown) == 2 and all(n % 5 == 0 for n in shown), prov
        table = view._by_genotype.object
        assert view._by_genotype.visible == (not table.empty)  # no lone "CYP2C9" header
        assert "Attainment by CYP2C9 genotype" in view._by_genotype_note.object
        assert "n" not in table.columns  # virtual counts per genotype mirror the real ones
        for g in table["CYP2C9"]:  # each genotype row is a population of >= K
            assert len([i for i in members if real["genotype"][i] == g]) >= K
        # the filters the answer rests on are band edges, whatever the slider said
        for value in re.findall(r"(?:WT|CRCL) [<>=]+ ([\d.]+)", criteria):
            assert float(value) in WEIGHT_BANDS + CRCL_BANDS
        answered[members] = criteria
    assert refusals == {f"**Cannot answer:** {REFUSAL.format(k=K)}"}  # says no count
    assert len(answered) >= 10 and len(refusals) == 1  # the search did reach both
    # what the oracle knows: no answered population is small, nor differs by a small group
    # from another answered population that contains it (differencing)
    assert min(len(m) for m in answered) >= K
    for a, b in itertools.permutations(answered, 2):
        if a < b:
            assert len(b - a) >= K, (answered[a], answered[b], len(b - a))
    # the review's probe: 30–48.3 kg widens to the whole band below 60 kg, and the slider
    # shows the band
    w.param.update(weight_range=(30.0, 48.3), crcl_range=(10.0, 250.0), genotypes=[])
    assert w.criteria() == ["WT < 60"] and w.weight_range == (30.0, 60.0)


def test_a_rare_genotype_is_not_offered_and_small_groups_are_refused(project, real):
    w = WhatIf(root=str(project), n_patients=100, duration_days=2, min_cell=K)
    # the CrCL bands of the fixture hold [0, 15, 17, 3, 5] patients: 'CRCL >= 120' has 5
    # patients, but 'CRCL >= 90' has 3 more: answering both would single those 3 out
    counts = np.bincount(np.searchsorted(CRCL_BANDS[1:-1], real["CRCL"], side="right"))
    small = [i for i, n in enumerate(counts) if 0 < n < K]
    assert small, "the fixture must have a small CrCL band for this test"
    band = small[0]
    w.crcl_range = (CRCL_BANDS[band + 1], 250.0)  # from the band above the small one
    with pytest.raises(ValueError) as refused:
        w.population()
    assert str(refused.value) == REFUSAL.format(k=K)
    assert not re.search(r"\d", str(refused.value).replace(str(K), ""))
    unprotected = WhatIf(root=str(project), n_patients=100, crcl_range=w.crcl_range)
    assert unprotected.population().description["real"]["eligible"] > 0  # modelers: answered
    assert set(w.param.genotypes.objects) == {
        g for g, n in real["genotype"].value_counts().items() if n >= K
    }


def test_the_cohort_page_never_gives_back_a_suppressed_count(project):
    sam = AppContext("sam", "stakeholder", project, min_cell=K)
    ana = AppContext("ana", "modeler", project, min_cell=K)
    for ctx, hidden in ((sam, True), (ana, False)):
        view = CohortView(ctx)
        tables = [p.object for p in view._quality().objects if isinstance(p.object, pd.DataFrame)]
        sex = tables[0].set_index("check").loc["patients.sex"]
        if hidden:  # the failure count beside a suppressed cell, and the rate it gives
            assert (sex["failed"], sex["failure_rate"]) == ("<5", "<5")
            assert all(
                v.startswith("<") or int(v) % 5 == 0
                for t in tables
                for c in ("checked", "failed", "records_in", "accepted", "quarantined")
                if c in t
                for v in t[c]
            )
        else:
            assert sex["failed"] == 1
        counts = next(
            p.object
            for p in view._counts().objects
            if isinstance(getattr(p, "object", None), pd.DataFrame)
        )
        if hidden:
            assert all(v.startswith("<") or int(v) % 5 == 0 for v in counts["n"])
