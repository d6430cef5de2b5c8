"""The VCF parses and its genotypes match the truth table."""

from __future__ import annotations

from twinlab.synth import truth as T

from .conftest import Study


def test_vcf_header_samples_and_genotypes(study: Study) -> None:
    lines = (study.raw / "vcf" / "genotypes.vcf").read_text("ascii").splitlines()
    assert lines[0] == "##fileformat=VCFv4.2"
    assert any(ln.startswith("##contig=<ID=chr10") for ln in lines)
    assert any(ln.startswith("##FORMAT=<ID=GT") for ln in lines)
    header = next(ln for ln in lines if ln.startswith("#CHROM")).split("\t")
    samples = header[9:]
    truth = study.patients.set_index("USUBJID")
    assert set(samples) == set(truth.index[truth.genotyped])
    records = [ln.split("\t") for ln in lines if not ln.startswith("#")]
    assert [r[2] for r in records] == list(T.VARIANTS)
    seps = set()
    for rec in records:
        rs = rec[2]
        chrom, pos, ref, alt, *_ = T.VARIANTS[rs]
        assert (rec[0], int(rec[1]), rec[3], rec[4]) == (chrom, pos, ref, alt)
        for sample, call in zip(samples, rec[9:], strict=True):
            gt = call.split(":")[0]
            if gt == "./.":
                continue
            sep = "|" if "|" in gt else "/"
            seps.add(sep)
            a, b = (int(x) for x in gt.split(sep))
            assert a + b == truth.loc[sample, f"{rs}_alt_count"]
            if sep == "|":
                assert (a, b) == (truth.loc[sample, f"{rs}_h1"], truth.loc[sample, f"{rs}_h2"])
    assert seps == {"|", "/"}


def test_cyp2c9_factor_follows_lof_alleles(study: Study) -> None:
    p = study.patients
    lof = p.rs1799853_alt_count + p.rs1057910_alt_count
    assert (lof == p.cyp2c9_n_lof).all()
    assert (p.cyp2c9_factor == lof.map(dict(enumerate(T.CYP2C9_LOF_FACTOR)))).all()
