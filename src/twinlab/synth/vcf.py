"""A multi-sample VCF 4.2 with the CYP2C9 *2/*3 and VKORC1 sites of the genotyped subjects."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from twinlab.synth import truth as T


def select_genotyped(subjects: pd.DataFrame, rng: np.random.Generator) -> np.ndarray:
    """Mask of subjects in the VCF: a ``GENOTYPED_FRACTION`` quota of the randomized ones.

    Parameters
    ----------
    subjects
        The subject table.
    rng
        The ``vcf`` stream.
    """
    rand = np.flatnonzero(~subjects["screen_fail"].to_numpy())
    k = round(T.GENOTYPED_FRACTION * len(rand))
    mask = np.zeros(len(subjects), dtype=bool)
    mask[np.sort(rng.permutation(rand)[:k])] = True
    return mask


def write_vcf(
    subjects: pd.DataFrame, genotyped: np.ndarray, path: Path, file_date: str,
    rng: np.random.Generator,
) -> tuple[int, int]:  # fmt: skip
    """Write ``genotypes.vcf``; sample ids are USUBJIDs.

    Each sample is either phased (``0|1``, haplotype order of the truth) or unphased (``0/1``);
    about ``VCF_MISSING_RATE`` of calls are ``./.``.

    Parameters
    ----------
    subjects
        The subject table with ``<rsid>_h1`` / ``<rsid>_h2`` allele columns.
    genotyped
        Mask of subjects to include, from :func:`select_genotyped`.
    path
        Target file.
    file_date
        ``YYYYMMDD`` written to ``##fileDate``.
    rng
        The ``vcf`` stream.

    Returns
    -------
    tuple of int
        Number of variant lines and of samples.
    """
    s = subjects[genotyped]
    n = len(s)
    phased = rng.random(n) < 0.6
    sites = list(T.VARIANTS)
    missing = rng.random((len(sites), n)) < T.VCF_MISSING_RATE
    depth = rng.integers(18, 90, (len(sites), n))
    gq = rng.integers(30, 100, (len(sites), n))
    lines = [
        "##fileformat=VCFv4.2",
        f"##fileDate={file_date}",
        "##source=twinlab.synth",
        "##reference=GRCh38",
        *(f"##contig=<ID={c},length={length},assembly=GRCh38>" for c, length in
          T.CONTIGS.items()),
        '##INFO=<ID=GENE,Number=1,Type=String,Description="Gene symbol">',
        '##INFO=<ID=AC,Number=A,Type=Integer,Description="Allele count in called genotypes">',
        '##INFO=<ID=AN,Number=1,Type=Integer,Description="Total number of called alleles">',
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
        '##FORMAT=<ID=DP,Number=1,Type=Integer,Description="Read depth">',
        '##FORMAT=<ID=GQ,Number=1,Type=Integer,Description="Genotype quality">',
        "\t".join(["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO"]
                  + (["FORMAT", *s["USUBJID"]] if n else [])),
    ]  # fmt: skip
    for j, rs in enumerate(sites):
        chrom, pos, ref, alt, gene, _star = T.VARIANTS[rs]
        h1 = s[f"{rs}_h1"].to_numpy()
        h2 = s[f"{rs}_h2"].to_numpy()
        lo, hi = np.minimum(h1, h2), np.maximum(h1, h2)
        calls = [
            "./.:.:." if missing[j, i]
            else (f"{h1[i]}|{h2[i]}" if phased[i] else f"{lo[i]}/{hi[i]}")
            + f":{depth[j, i]}:{gq[j, i]}"
            for i in range(n)
        ]  # fmt: skip
        called = ~missing[j]
        ac, an = int((h1 + h2)[called].sum()), int(2 * called.sum())
        fields = [chrom, str(pos), rs, ref, alt, ".", "PASS", f"GENE={gene};AC={ac};AN={an}"]
        lines.append("\t".join(fields + (["GT:DP:GQ", *calls] if n else [])))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(("\n".join(lines) + "\n").encode("ascii"))
    return len(sites), n
