"""Tests of the VCF reader against real public VCFs, the synthetic study and broken files."""

from __future__ import annotations

import gzip
import time
from pathlib import Path

import pandas as pd
import pytest

from twinlab.ingest.base import reader_for, readers
from twinlab.ingest.vcf import DBSNP, Site, diplotype, load_sites, read_vcf

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
GENOMICS = DATA / "genomics"
GETRM = GENOMICS / "pharmcat_getrm"
CYVCF2 = GENOMICS / "cyvcf2_tests"
BIG = {"PharmCAT_tutorial_get-rm_wgs_30x_grch38_chr10.vcf.bgz",
       "PharmCAT_tutorial_get-rm_wgs_30x_grch38_chr16.vcf.bgz"}  # fmt: skip

needs_data = pytest.mark.skipif(not GENOMICS.is_dir(), reason="shared genomics data absent")


def _vcf_files() -> list[Path]:
    if not GENOMICS.is_dir():
        return []
    return sorted(p for p in GENOMICS.rglob("*") if p.is_file() and ".vcf" in p.name)


def _lines(path: Path) -> list[str]:
    opener = gzip.open if path.read_bytes()[:2] == b"\x1f\x8b" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        return fh.read().splitlines()


def _data_lines(path: Path) -> list[str]:
    return [ln for ln in _lines(path) if ln.strip() and not ln.startswith("#")]


def _grep_genotype(path: Path, pos: int, sample: str) -> str:
    """Independent decoding: the line at ``pos``, GT of ``sample`` as alleles."""
    lines = _lines(path)
    header = next(ln for ln in lines if ln.startswith("#CHROM")).split("\t")
    (line,) = [ln for ln in lines if not ln.startswith("#") and ln.split("\t")[1] == str(pos)]
    f = line.split("\t")
    alleles = [f[3], *f[4].split(",")]
    gt = f[header.index(sample)].split(":")[0]
    sep = "|" if "|" in gt else "/"
    return sep.join(alleles[int(i)] for i in gt.replace("|", "/").split("/"))


#: Real files with data lines whose INFO breaks its ##INFO declaration (quarantined,
#: ``vcf.info``): cyvcf2's test-hemi.vcf has ALT T with Number=A fields of two values each
#: (AB=0.259215,0.471042; its NUMALT=2 says the same): freebayes records cut to one ALT.
MALFORMED_INFO = {"test-hemi.vcf": 2}


def _malformed_info(path: Path, line: str) -> bool:
    """Whether ``line`` of ``path`` is one of the :data:`MALFORMED_INFO` lines (there: each
    line with a single ALT allele)."""
    return path.name in MALFORMED_INFO and "," not in line.split("\t")[4]


# --- every real file --------------------------------------------------------------------------


@needs_data
@pytest.mark.parametrize("path", _vcf_files(), ids=lambda p: p.name)
def test_every_real_vcf_reads_with_counts_reconciling(path: Path) -> None:
    data = _data_lines(path)
    res = read_vcf(path)
    assert res.records_in == len(data)
    assert res.records_accepted + len(res.quarantine) == res.records_in
    # all these files are well-formed at the data-line level, but for the INFO fields of
    # the lines named in MALFORMED_INFO
    bad = MALFORMED_INFO.get(path.name, 0)
    assert res.quarantine["check"].tolist() == ["vcf.info"] * bad
    data = [ln for ln in data if not _malformed_info(path, ln)]
    header = next(ln for ln in _lines(path) if ln.startswith("#CHROM")).rstrip().split("\t")
    assert list(res.persons["source_patient"]) == header[9:]
    # one event per (matched site, sample); sites are SNVs matched by pos + REF + ALT
    sites = {(s.chrom, s.pos, s.ref, s.alt) for s in load_sites()}
    expected = 0
    for ln in data:
        f = ln.split("\t")
        chrom = f[0].removeprefix("chr")
        for alt in f[4].split(","):
            expected += (chrom, int(f[1]), f[3], alt) in sites
    assert len(res.events) == expected * len(header[9:])


@needs_data
@pytest.mark.parametrize(
    "path", [p for p in _vcf_files() if p.name not in BIG], ids=lambda p: p.name
)
def test_all_sites_mode_makes_one_event_per_line_alt_and_sample(path: Path) -> None:
    data = [ln for ln in _data_lines(path) if not _malformed_info(path, ln)]
    n_samples = len(next(ln for ln in _lines(path) if ln.startswith("#CHROM")).split()) - 9
    res = read_vcf(path, sites="all")
    expected = sum(max(1, len([a for a in ln.split("\t")[4].split(",") if a != "."]))
                   for ln in data)  # fmt: skip
    assert len(res.events) == expected * n_samples
    assert res.events["source_record"].is_unique
    # a pointer names the sample's column, never the sample (a name can identify)
    samples = next(ln for ln in _lines(path) if ln.startswith("#CHROM")).split()[9:]
    pointers = res.events["source_record"]
    assert pointers.str.fullmatch(r"L\d+:[^/]+/column \d+").all()
    assert not any(pointers.str.endswith(f"/{s}").any() for s in samples)


# --- known genotypes --------------------------------------------------------------------------

#: (sample, rsID) -> genotype, read off the PharmCAT GeT-RM files with grep.
KNOWN = {
    ("NA18526", "rs1799853"): "C/C",
    ("NA18526", "rs1057910"): "A/A",
    ("NA18526", "rs9923231"): "T/T",
    ("NA18565", "rs1799853"): "C/C",
    ("NA18565", "rs1057910"): "A/A",
    ("NA18565", "rs9923231"): "T/T",
    ("NA18861", "rs1799853"): "C/C",
    ("NA18861", "rs1057910"): "A/A",
    ("NA18861", "rs9923231"): "C/C",
    ("NA18526", "rs4149056"): "T/C",
    ("NA18565", "rs776746"): "T/C",
}
POS = {s.rsid: s.pos for s in load_sites()}


@needs_data
@pytest.mark.parametrize("sample", ["NA18526", "NA18565", "NA18861"])
def test_getrm_single_sample_genotypes_match_grep(sample: str) -> None:
    path = GETRM / f"{sample}.preprocessed.vcf"
    res = read_vcf(path)
    got = dict(zip(res.events["code"], res.events["value_text"], strict=True))
    for (s, rsid), gt in KNOWN.items():
        if s == sample:
            assert got[rsid] == gt
            assert _grep_genotype(path, POS[rsid], sample) == gt
    assert set(res.events["code_system"]) == {DBSNP}
    assert set(res.events["source_patient"]) == {sample}


@needs_data
def test_regional_bgzf_files_match_grep_although_ids_are_dots() -> None:
    chr10 = GETRM / "PharmCAT_tutorial_get-rm_wgs_30x_grch38_chr10.vcf.bgz"
    chr16 = GETRM / "PharmCAT_tutorial_get-rm_wgs_30x_grch38_chr16.vcf.bgz"
    events = pd.concat([read_vcf(chr10).events, read_vcf(chr16).events])
    got = {(p, c): v for p, c, v in events[["source_patient", "code", "value_text"]].values}
    for (sample, rsid), gt in KNOWN.items():
        if rsid in ("rs1799853", "rs1057910", "rs9923231"):
            assert got[(sample, rsid)] == gt
            path = chr16 if rsid == "rs9923231" else chr10
            assert _grep_genotype(path, POS[rsid], sample) == gt
    vk = events[events["code"] == "rs9923231"].set_index("source_patient")["qualifiers"]
    assert vk["NA18526"]["zygosity"] == "homozygous" and vk["NA18526"]["alt_count"] == 2
    assert vk["NA18861"]["alt_count"] == 0
    assert vk["NA18526"]["gene"] == "VKORC1"


@needs_data
def test_star_allele_and_diplotypes_of_getrm_samples() -> None:
    res = read_vcf(GETRM / "NA18565.preprocessed.vcf")
    q = res.events.set_index("code")["qualifiers"]
    assert q["rs1057910"]["allele"] == "*3" and q["rs1057910"]["gene"] == "CYP2C9"
    assert diplotype(res.events, "CYP2C9") == "*1/*1"
    assert diplotype(res.events, "CYP3A5") == "*1/*3"  # rs776746 T/C
    assert diplotype(res.events, "CYP2C19") == "*1/*1"


def test_diplotype_counts_alt_alleles_and_refuses_what_it_cannot_tell(tmp_path: Path) -> None:
    path = tmp_path / "d.vcf"
    path.write_text(
        "##fileformat=VCFv4.2\n"
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tA\tB\tC\tD\n"
        "10\t94942290\t.\tC\tT\t.\t.\t.\tGT\t0/1\t1/1\t./.\t1/1\n"
        "10\t94981296\t.\tA\tC\t.\t.\t.\tGT\t0|1\t0/0\t0/0\t0/1\n"
    )
    ev = read_vcf(path).events
    assert diplotype(ev, "CYP2C9", sample="A") == "*2/*3"
    assert diplotype(ev, "CYP2C9", sample="B") == "*2/*2"
    assert diplotype(ev, "CYP2C9", sample="C") is None  # no call at *2
    assert diplotype(ev, "CYP2C9", sample="D") is None  # three variant alleles
    assert diplotype(ev, "CYP2C19", sample="A") is None  # sites absent from the file
    with pytest.raises(ValueError, match="several samples"):
        diplotype(ev, "CYP2C9")
    with pytest.raises(ValueError, match="no star-allele"):
        diplotype(ev, "VKORC1", sample="A")


# --- contigs, multi-allelic, phasing, ploidy --------------------------------------------------


@needs_data
def test_chr_prefix_and_bare_contigs_give_the_same_calls(tmp_path: Path) -> None:
    src = GETRM / "NA18526.preprocessed.vcf"
    bare = tmp_path / "bare.vcf"
    bare.write_text(
        "\n".join(ln.removeprefix("chr") if not ln.startswith("#") else ln for ln in _lines(src))
        + "\n"
    )
    a, b = read_vcf(src).events, read_vcf(bare).events
    assert len(a) == 8
    assert list(a["value_text"]) == list(b["value_text"])
    assert list(a["code"]) == list(b["code"])
    # and sites given with a chr prefix match bare contigs too
    sites = [Site("VKORC1", "rs9923231", "chr16", 31096368, "C", "T")]
    assert read_vcf(bare, sites=sites).events["value_text"].tolist() == ["T/T"]


@needs_data
def test_multiallelic_genotype_indices_map_to_the_right_alleles() -> None:
    path = CYVCF2 / "test-format-string.vcf"
    site = Site("GENE", "rsX", "7", 55086957, "T", "C")  # ALT "A,C,G"
    ev = read_vcf(path, sites=[site]).events.set_index("source_patient")
    assert ev.loc["Tumor", "value_text"] == "A/C"  # 1/2
    assert ev.loc["Normal", "value_text"] == "C|G"  # 2|3
    assert ev.loc["Tumor", "qualifiers"]["alt_count"] == 1
    assert ev.loc["Tumor", "qualifiers"]["phased"] is False
    assert ev.loc["Normal", "qualifiers"]["phased"] is True
    assert ev.loc["Normal", "qualifiers"]["zygosity"] == "heterozygous"
    # a site whose ALT is not on the line at that position does not match
    assert read_vcf(path, sites=[Site("G", "r", "7", 55086957, "T", "TT")]).events.empty


@needs_data
def test_tpmt_site_matches_inside_a_multiallelic_record() -> None:
    res = read_vcf(GETRM / "NA18526.preprocessed.vcf")
    tpmt = res.events[res.events["code"] == "rs1142345"]
    assert tpmt["value_text"].tolist() == ["T/T"]  # ALT "C,G", GT 0/0
    assert tpmt["qualifiers"].iloc[0]["allele"] == "*3C"


@needs_data
def test_haploid_missing_and_partial_calls() -> None:
    path = CYVCF2 / "test-format-string.vcf"
    sites = [Site("G", "r1", "7", 55086958, "T", "G"), Site("G", "r2", "7", 55086959, "T", "T")]
    ev = read_vcf(path, sites=sites).events
    by = {(r, s): (v, q) for r, s, v, q in ev[["code", "source_patient", "value_text",
                                                "qualifiers"]].values}  # fmt: skip
    assert by[("r1", "Normal")][0] == "T"  # haploid "0"
    assert by[("r1", "Normal")][1]["zygosity"] == "hemizygous"
    assert by[("r1", "Tumor")][0] == "T/G/."  # "0/1/." triploid, partly missing
    assert "zygosity" not in by[("r1", "Tumor")][1]
    assert pd.isna(by[("r2", "Tumor")][0]) and by[("r2", "Tumor")][1]["no_call"] is True
    assert by[("r2", "Normal")][0] == "T|T"  # "0|2" with ALT "G,T"
    assert by[("r2", "Normal")][1]["alt_count"] == 2


@needs_data
def test_phased_and_unphased_calls_in_one_file() -> None:
    path = CYVCF2 / "test.comp_het.3.vcf"
    lines = _lines(path)
    data = [ln.split("\t") for ln in lines if not ln.startswith("#")]
    res = read_vcf(path, sites="all")
    got = {r: q["phased"] for r, q in res.events[["source_record", "qualifiers"]].values}
    n_phased = n_unphased = 0
    lineno = {ln: i for i, ln in enumerate(lines, start=1)}
    for f in data:
        no = lineno["\t".join(f)]
        for column, value in enumerate(f[9:], start=10):
            gt = value.split(":")[0]
            key = next(
                k for k in got if k.startswith(f"L{no}:") and k.endswith(f"/column {column}")
            )
            assert got[key] is ("|" in gt)
            n_phased += "|" in gt
            n_unphased += "/" in gt
    assert n_phased > 0 and n_unphased > 0


@needs_data
def test_invalid_header_with_trailing_tab_is_read_best_effort() -> None:
    res = read_vcf(CYVCF2 / "test-invalid-header.vcf", sites="all")
    assert res.persons["source_patient"].tolist() == ["FOO"]
    assert res.records_in == 5 and res.quarantine.empty
    assert res.events.set_index("code").loc["rs2", "value_text"] == "T/T"
    assert res.events.set_index("code").loc["rs1", "value_text"] == "A/G"  # "1/0"


# --- broken files -----------------------------------------------------------------------------

HEADER = (
    "##fileformat=VCFv4.2\n##fileDate=20240115\n"
    "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS1\tS2\n"
)


def test_malformed_lines_are_quarantined_with_reasons(tmp_path: Path) -> None:
    body = [
        "chr10\t94942290\trs1799853\tC\tT\t.\tPASS\t.\tGT:DP\t0/1:30\t1|1:20",  # good
        "chr10\t94942290\t.\tC\tT\t.\tPASS\t.\tGT\t0/1",  # too few columns
        "chr10\tabc\t.\tC\tT\t.\tPASS\t.\tGT\t0/1\t0/0",  # bad POS
        "chr10\t94981296\t.\tA\tC\t.\tPASS\t.\tGT\t0/x\t0/0",  # bad GT at a site
        "chr16\t31096368\t.\tC\tT\t.\tPASS\t.\tGT\t0/5\t0/0",  # allele index out of range
        "chr12\t21178615\t.\tT\tC\t.\tPASS\t.\tDP:GT\t12:0/1\t9:1/1",  # GT not first: tolerated
        "chr7\t99672916\t.\tT\tC\t.\tPASS\t.\tDP\t12\t9",  # no GT at a site
        "chr1\t12345\t.\tG\tA\t.\tPASS\t.\tGT\t0/x\t0/0",  # bad GT, not a site: accepted
    ]
    path = tmp_path / "broken.vcf"
    path.write_text(HEADER + "\n".join(body) + "\n")
    res = read_vcf(path)
    assert res.records_in == 8
    q = res.quarantine.set_index("source_record")
    assert q["check"].to_dict() == {
        "L5": "vcf.columns", "L6": "vcf.pos", "L7": "vcf.gt", "L8": "vcf.gt", "L10": "vcf.gt",
    }  # fmt: skip
    # the column, never the sample name (an identifier) nor the value
    assert "column 10" in q.loc["L7", "reason"] and "S1" not in q.loc["L7", "reason"]
    assert "0/x" not in q.loc["L7", "reason"] and "0/x" in q.loc["L7", "raw"]
    assert q.loc["L6", "raw"] == body[2]
    assert res.records_accepted == 3
    ev = res.events.set_index(["code", "source_patient"])["value_text"]
    assert ev[("rs1799853", "S1")] == "C/T" and ev[("rs1799853", "S2")] == "T|T"
    assert ev[("rs4149056", "S2")] == "C/C"
    assert str(res.events["time"].iloc[0]) == "2024-01-15 00:00:00+00:00"


@pytest.mark.parametrize("header", [HEADER, HEADER.split("\n", 2)[2]], ids=["##", "#CHROM"])
def test_a_utf8_byte_order_mark_is_not_part_of_the_first_line(tmp_path: Path, header: str) -> None:
    # a BOM (Windows editors) made the first line '\ufeff##fileformat...': a data line before
    # #CHROM, quarantined; or '\ufeff#CHROM...': no header, every genotype line quarantined
    text = header + "chr10\t94942290\trs1799853\tC\tT\t.\tPASS\t.\tGT\t0/1\t1|1\n"
    plain = read_vcf(_write(tmp_path / "plain.vcf", text.encode()))
    for name, data in [("bom.vcf", b"\xef\xbb\xbf" + text.encode()),
                       ("bom.vcf.gz", gzip.compress(b"\xef\xbb\xbf" + text.encode()))]:  # fmt: skip
        res = read_vcf(_write(tmp_path / name, data))
        assert (res.records_in, res.records_accepted, len(res.quarantine)) == (1, 1, 0), name
        pd.testing.assert_frame_equal(res.events, plain.events)


GOOD = "chr10\t94942290\trs1799853\tC\tT\t.\tPASS\t.\tGT\t0/1\t1|1"


@pytest.mark.parametrize("where", ["before the data", "between data lines"])
def test_a_second_chrom_line_is_quarantined_alone(tmp_path: Path, where: str) -> None:
    # it was skipped without a word (and, naming other samples, hid a concatenated file)
    chrom = "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS2\tS1"
    other = "chr16\t31096368\t.\tC\tT\t.\tPASS\t.\tGT\t0/0\t0/1"
    lines = [chrom, GOOD, other] if where == "before the data" else [GOOD, chrom, other]
    plain = read_vcf(_write(tmp_path / "plain.vcf", (HEADER + f"{GOOD}\n{other}\n").encode()))
    res = read_vcf(_write(tmp_path / "two.vcf", (HEADER + "\n".join(lines) + "\n").encode()))
    at = 4 + lines.index(chrom)
    assert (res.records_in, res.records_accepted) == (3, 2)
    q = res.quarantine.iloc[0]
    assert (q["source_record"], q["check"], q["raw"]) == (f"L{at}", "vcf.header", chrom)
    assert "second #CHROM" in q["reason"] and "line 3" in q["reason"]
    assert res.persons["source_patient"].tolist() == ["S1", "S2"]  # the first line's samples
    cols = [c for c in res.events.columns if c != "source_record"]  # line numbers moved
    pd.testing.assert_frame_equal(res.events[cols], plain.events[cols])


@pytest.mark.parametrize("gz", [False, True])
def test_a_sample_named_twice_refuses_the_file(tmp_path: Path, gz: bool) -> None:
    # the second S1 was read as a sample 'S1#2': a patient nobody enrolled
    header = HEADER.replace("\tS2\n", "\tS2\tS1\n")
    text = (header + GOOD + "\t0/0\n" + GOOD + "\t1/1\n").encode()
    res = read_vcf(_write(tmp_path / ("dup.vcf.gz" if gz else "dup.vcf"),
                          gzip.compress(text) if gz else text))  # fmt: skip
    assert (res.records_in, res.records_accepted, res.duplicates) == (1, 0, 0)
    q = res.quarantine.iloc[0]
    assert (q["source_record"], q["check"]) == ("L3", "vcf.header")
    assert "columns 10 and 12" in q["reason"] and "S1" not in q["reason"]
    assert q["raw"] == header.splitlines()[2]
    assert res.events.empty and res.persons.empty


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_data_without_chrom_header_is_quarantined_line_by_line(tmp_path: Path) -> None:
    path = tmp_path / "nohdr.vcf"
    path.write_text("##fileformat=VCFv4.2\n10\t94942290\t.\tC\tT\t.\t.\t.\tGT\t0/1\n\n")
    res = read_vcf(path)
    assert res.records_in == 1 and res.quarantine["check"].tolist() == ["vcf.header"]
    assert res.persons.empty and res.events.empty


def test_truncated_gzip_and_non_vcf_never_raise(tmp_path: Path) -> None:
    good = (HEADER + "chr10\t94942290\t.\tC\tT\t.\t.\t.\tGT\t0/1\t0/0\n" * 2000).encode()
    path = tmp_path / "cut.vcf.gz"
    path.write_bytes(gzip.compress(good)[:-200])
    res = read_vcf(path)
    assert res.quarantine["check"].iloc[-1] == "vcf.io"
    # the same line repeated: read once, the copies declared
    assert res.records_in == res.records_accepted + len(res.quarantine) + res.duplicates
    # one gzip member cut before its CRC: nothing of it is vouched for, nothing is kept
    assert (res.records_in, res.records_accepted) == (1, 0)
    assert "cut before its end" in res.quarantine["reason"].iloc[0]
    junk = tmp_path / "junk.vcf"
    junk.write_bytes(b"\x00\xff not a vcf\nat all\n")
    res = read_vcf(junk)
    assert res.records_in == 2
    assert res.quarantine["check"].tolist() == ["vcf.encoding", "vcf.header"]


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("zero.vcf.gz", b"", "empty file: 0 bytes"),
        ("zero.vcf", b"", "empty file: 0 bytes"),
        ("empty.vcf.gz", gzip.compress(b""), "no #CHROM header line"),
        ("meta.vcf.bgz", gzip.compress(b"##fileformat=VCFv4.2\n"), "no #CHROM header line"),
    ],
)
def test_an_empty_vcf_is_one_quarantined_record_with_a_reason(
    tmp_path: Path, name: str, data: bytes, reason: str
) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    res = read_vcf(path)
    assert (res.records_in, res.records_accepted) == (1, 0)
    assert res.quarantine["check"].tolist() == ["vcf.empty"]
    assert res.quarantine["reason"].iloc[0].startswith(reason)


def test_a_header_only_vcf_is_zero_records_not_a_fault(tmp_path: Path) -> None:
    path = tmp_path / "none.vcf.gz"
    path.write_bytes(gzip.compress(HEADER.encode()))
    res = read_vcf(path)
    assert (res.records_in, len(res.quarantine), len(res.persons)) == (0, 0, 2)


def test_registered_and_sniffed(tmp_path: Path) -> None:
    assert readers()["vcf"].read is read_vcf
    path = tmp_path / "x.vcf.bgz"
    path.write_bytes(gzip.compress(HEADER.encode()))
    assert reader_for(path).format == "vcf"
    odd = tmp_path / "calls.txt"
    odd.write_text(HEADER)
    assert reader_for(odd).format == "vcf"


def test_shipped_sites_table() -> None:
    sites = load_sites()
    by = {s.rsid: s for s in sites}
    assert len(by) == 8
    assert (by["rs1799853"].chrom, by["rs1799853"].pos) == ("10", 94942290)
    assert (by["rs1057910"].ref, by["rs1057910"].alt, by["rs1057910"].allele) == ("A", "C", "*3")
    assert (by["rs9923231"].chrom, by["rs9923231"].pos) == ("16", 31096368)


@needs_data
@pytest.mark.parametrize("rsid", sorted(POS))
def test_shipped_positions_are_those_of_the_real_grch38_files(rsid: str) -> None:
    site = next(s for s in load_sites() if s.rsid == rsid)
    line = next(
        ln for ln in _lines(GETRM / "NA18526.preprocessed.vcf")
        if not ln.startswith("#") and ln.split("\t")[2] == rsid
    )  # fmt: skip
    f = line.split("\t")
    assert (f[0].removeprefix("chr"), int(f[1]), f[3]) == (site.chrom, site.pos, site.ref)
    assert site.alt in f[4].split(",")


# --- the synthetic study ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def synth_study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    try:
        from twinlab.synth import SynthConfig, generate_study
    except ImportError:
        pytest.skip("twinlab.synth not importable")
    root = tmp_path_factory.mktemp("synth")
    generate_study(root / "out", root / "truth",
                   SynthConfig(n_patients=20, wearable_fraction=0.2))  # fmt: skip
    return root


def test_synthetic_vcf_genotypes_and_diplotypes_match_the_truth(synth_study: Path) -> None:
    path = synth_study / "out" / "vcf" / "genotypes.vcf"
    truth = pd.read_csv(synth_study / "truth" / "patients.csv", dtype=str).set_index("USUBJID")
    res = read_vcf(path)
    samples = res.persons["source_patient"].tolist()
    assert res.records_in == 3 and len(res.events) == 3 * len(samples)
    checked = 0
    for s in samples:
        mine = res.events[res.events["source_patient"] == s]
        complete = not any(q.get("no_call") for q in mine["qualifiers"])
        got = diplotype(res.events, "CYP2C9", sample=s)
        if complete:
            assert got == truth.loc[s, "cyp2c9_diplotype"]
            checked += 1
        else:
            assert got is None
        for q, rsid in zip(mine["qualifiers"], mine["code"], strict=True):
            if not q.get("no_call"):
                assert q["alt_count"] == int(truth.loc[s, f"{rsid}_alt_count"])
    assert checked >= len(samples) - 2


@pytest.mark.parametrize("date", ["99991231", "00010101", "2" * 1_000_000])
def test_a_placeholder_or_runaway_file_date_leaves_the_genotypes_undated(
    tmp_path: Path, date: str
) -> None:
    # 9999-12-31 was taken as the date of every genotype; a 1 MB value took minutes to parse
    body = "chr10\t94942290\trs1799853\tC\tT\t.\tPASS\t.\tGT\t0/1\t1|1\n"
    path = tmp_path / "dated.vcf"
    path.write_text(HEADER.replace("20240115", date) + body)
    start = time.perf_counter()
    res = read_vcf(path)
    assert time.perf_counter() - start < 5
    assert (res.records_in, res.records_accepted) == (1, 1)
    assert len(res.events) == 2 and res.events["time"].isna().all()


def test_a_data_line_turned_header_line_is_quarantined_not_skipped(tmp_path: Path) -> None:
    # a '#' in place of a data line's first byte made it a header line, skipped unseen
    body = [
        "chr10\t94942290\trs1799853\tC\tT\t.\tPASS\t.\tGT\t0/1\t1|1",
        "#hr10\t94981296\t.\tA\tC\t.\tPASS\t.\tGT\t0/1\t0/0",
        "chr12\t21178615\t.\tT\tC\t.\tPASS\t.\tGT\t0/1\t1/1",
    ]
    path = tmp_path / "flipped.vcf"
    path.write_text(HEADER + "\n".join(body) + "\n")
    res = read_vcf(path)
    assert (res.records_in, res.records_accepted) == (3, 2)
    q = res.quarantine.iloc[0]
    assert (q["source_record"], q["check"], q["raw"]) == ("L5", "vcf.header", body[1])


def test_a_data_line_above_the_header_costs_that_line_alone(tmp_path: Path) -> None:
    # the header lines after it must not become records of their own
    line = "chr10\t94942290\trs1799853\tC\tT\t.\tPASS\t.\tGT\t0/1\t1|1"
    path = tmp_path / "early.vcf"
    path.write_text(line + "\n" + HEADER + line + "\n")
    res = read_vcf(path)
    assert (res.records_in, res.records_accepted) == (2, 1)
    assert res.quarantine["source_record"].tolist() == ["L1"]


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
def test_an_over_long_line_is_one_record_and_never_held_whole(
    tmp_path: Path, gz: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a VCF line had no length limit: a multi-GB line was read into memory whole
    import tracemalloc

    monkeypatch.setenv("TWINLAB_MAX_LINE_CHARS", "1000")
    line = "chr10\t94942290\trs1799853\tC\tT\t.\tPASS\t.\tGT\t0/1\t1|1"
    long = "chr10\t94942291\t.\tC\tT\t.\tPASS\t" + "X" * 20_000_000 + "\tGT\t0/1\t1|1"
    data = (HEADER + line + "\n" + long + "\n" + line.replace("rs1799853", "rs2") + "\n").encode()
    path = tmp_path / ("long.vcf.gz" if gz else "long.vcf")
    path.write_bytes(gzip.compress(data) if gz else data)
    tracemalloc.start()
    try:
        res = read_vcf(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8_000_000, peak  # the line is 20 MB
    n_header = HEADER.count("\n")
    assert (res.records_in, res.records_accepted) == (3, 2)
    q = res.quarantine.iloc[0]
    assert (q["source_record"], q["check"]) == (f"L{n_header + 2}", "vcf.line_length")
    assert "1,000 characters" in q["reason"] and len(q["raw"]) <= 2000
    assert res.events["source_record"].str.startswith(f"L{n_header + 3}:").any()


def test_an_over_long_chrom_line_is_named_in_the_reason_of_the_lines_after_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TWINLAB_MAX_LINE_CHARS", "200")
    names = "\t".join(f"SAMPLE{i:04d}" for i in range(30))
    line = "chr10\t94942290\trs1799853\tC\tT\t.\tPASS\t.\tGT" + "\t0/1" * 30
    head = "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t"
    path = _write(tmp_path / "wide.vcf", (head + names + "\n" + line + "\n").encode())
    res = read_vcf(path)
    assert (res.records_in, res.records_accepted) == (2, 0)
    assert res.quarantine["check"].tolist() == ["vcf.line_length", "vcf.header"]
    assert "the #CHROM line, line 2, is over the length limit" in res.quarantine["reason"].iloc[1]
    assert "SAMPLE" not in "".join(res.quarantine["reason"])
