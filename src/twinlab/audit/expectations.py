"""What a reproduction on another machine must match exactly, and what within a tolerance.

``twinlab reproduce`` classifies every output of a ``dvc.lock`` before comparing it
(:func:`classify_outputs`):

* ``bit-identical`` – everything a fit does not feed. The data stages are deterministic:
  pinned seeds, and values written at their stated precision, so the last-bit differences of
  vectorised ``exp``/``log``/``pow`` between CPUs (AVX-512 vs AVX2 kernels) never reach a
  file. So is the data a sampling stage writes before it samples.
* ``Monte Carlo`` – a posterior (a folder holding ``posterior.zarr``). MCMC draws follow every
  last bit of the arithmetic, so on another CPU they differ; the posterior's summaries are
  compared instead (:func:`compare_posterior_json`): every summarized posterior mean within
  ``k`` Monte Carlo standard errors, ``|a - b| <= k sqrt(mcse_a^2 + mcse_b^2)``, with
  ``mcse = sd / sqrt(ess_bulk)`` (or the summary's ``mcse_mean``). The other statistics of the
  draws (SDs, intervals, R-hat, ESS, divergences) are the gate's to judge, and it must still
  pass. Names, data hashes, specs and sampler settings must not change at all.
* ``follows the fit`` – the reports of a sampling stage and every output of a stage that
  depends on one: bit-identical when every posterior reproduced bit for bit, else allowed to
  differ only when the posterior stayed within its tolerance and the reproduction passed the
  gate.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "AFTER_FIT",
    "DRAW_HASH_KEYS",
    "EXACT",
    "MONTE_CARLO",
    "POSTERIOR_STORE",
    "RUN_KEYS",
    "SUMMARY_GROUPS",
    "Tolerance",
    "classify_outputs",
    "compare_posterior_json",
    "flatten",
    "holds_posterior",
    "in_store",
    "share_of_bound",
]

#: What an output is expected to reproduce as (see the module docstring).
#: Must reproduce byte for byte (encrypted files: their plaintext).
EXACT = "bit-identical"
#: A posterior: compared through its summaries, within Monte Carlo error.
MONTE_CARLO = "Monte Carlo"
#: Bit-identical when the posterior is; else it may differ if the gate passed.
AFTER_FIT = "follows the fit"
#: The store a fit writes its draws to (:meth:`twinlab.pkpd.fit.FitResult.to_zarr`).
POSTERIOR_STORE = "posterior.zarr"
#: Groups of a posterior summary whose entries carry ``mean``, ``sd`` and ``ess_bulk``.
SUMMARY_GROUPS = ("parameters", "omega", "sigma", "effects")
#: Subtrees of a posterior's JSON files that describe the run, not the draws: never move.
RUN_KEYS = frozenset({"spec", "settings"})
#: Keys that hash the draws themselves: they move with them.
DRAW_HASH_KEYS = frozenset({"posterior_sha256"})


@dataclass(frozen=True)
class Tolerance:
    """How far a reproduction may differ from the record, and where.

    Attributes
    ----------
    monte_carlo_stages
        Stages that sample (MCMC): a folder output of theirs holding ``posterior.zarr`` is
        compared within Monte Carlo error, their reports follow it, and so does every stage
        downstream of them.
    k_mcse
        How many Monte Carlo standard errors a posterior mean may move:
        ``|a - b| <= k_mcse * sqrt(mcse_a**2 + mcse_b**2)``.
    """

    monte_carlo_stages: tuple[str, ...] = ("fit",)
    k_mcse: float = 4.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.k_mcse) and self.k_mcse > 0):
            raise ValueError(f"k_mcse must be a positive number, got {self.k_mcse!r}")

    def posterior_rule(self) -> str:
        """The tolerance of a posterior, as one line."""
        k = f"{self.k_mcse:g}"
        return (
            f"every posterior mean within {k} Monte Carlo standard errors, |a - b| <= "
            f"{k}*sqrt(mcse_a^2 + mcse_b^2) with mcse = sd/sqrt(ess_bulk); and the gate passed"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {"monte_carlo_stages": list(self.monte_carlo_stages), "k_mcse": self.k_mcse}


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested mappings as ``{"a.b.c": leaf}`` (lists and empty mappings are leaves).

    Examples
    --------
    >>> flatten({"a": {"b": 1, "c": [2]}, "d": {}})
    {'a.b': 1, 'a.c': [2], 'd': {}}
    """
    if isinstance(value, Mapping) and value:
        out: dict[str, Any] = {}
        for key, sub in value.items():
            out.update(flatten(sub, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: value}


def _related(a: str, b: str) -> bool:
    """Whether one path is the other or inside it."""
    return a == b or a.startswith(b.rstrip("/") + "/") or b.startswith(a.rstrip("/") + "/")


def holds_posterior(manifest: Mapping[str, str] | None) -> bool:
    """Whether a folder output holds a fit's posterior (a ``posterior.zarr`` store).

    Parameters
    ----------
    manifest
        ``{relative path: md5}`` of the folder's files (``None``: unknown).

    Examples
    --------
    >>> holds_posterior({"fit/posterior.zarr/zarr.json": "a", "fit/summary.json": "b"})
    True
    >>> holds_posterior({"demo.csv": "c"}), holds_posterior(None)
    (False, False)
    """
    return any(POSTERIOR_STORE in Path(rel).parts for rel in manifest or {})


def _is_report(path: str) -> bool:
    return path.endswith((".ipynb", ".html", ".json"))


def classify_outputs(
    lock: Mapping[str, Any],
    posteriors: Iterable[str] = (),
    tolerance: Tolerance | None = None,
) -> dict[str, str]:
    """What every output of a ``dvc.lock`` must reproduce as.

    Parameters
    ----------
    lock
        A parsed ``dvc.lock``.
    posteriors
        Outputs that hold a fit's posterior (a folder with ``posterior.zarr``).
    tolerance
        Which stages sample (default :class:`Tolerance`'s ``fit``).

    Returns
    -------
    dict
        Output path to ``bit-identical`` (:data:`EXACT`), ``Monte Carlo``
        (:data:`MONTE_CARLO`: a posterior of a sampling stage, or of any stage when listed in
        ``posteriors``) or ``follows the fit`` (:data:`AFTER_FIT`: the reports – notebooks,
        HTML, JSON – of a sampling stage and every output of a stage that depends on one,
        through the ``deps`` of ``dvc.lock``). Other outputs of a sampling stage (the data it
        writes before it samples) are bit-identical.

    Examples
    --------
    >>> lock = {"stages": {
    ...     "harmonize": {"outs": [{"path": "data/h"}]},
    ...     "fit": {"deps": [{"path": "data/h"}],
    ...             "outs": [{"path": "data/nm"}, {"path": "models/m"}, {"path": "r/fit.html"}]},
    ...     "simulate": {"deps": [{"path": "models/m"}], "outs": [{"path": "results/x"}]}}}
    >>> classify_outputs(lock, posteriors=["models/m"])  # doctest: +NORMALIZE_WHITESPACE
    {'data/h': 'bit-identical', 'data/nm': 'bit-identical', 'models/m': 'Monte Carlo',
     'r/fit.html': 'follows the fit', 'results/x': 'follows the fit'}
    """
    tolerance = tolerance or Tolerance()
    posteriors = set(posteriors)
    stages = lock.get("stages") or {}
    outs = {
        name: [o["path"] for o in (body or {}).get("outs") or []] for name, body in stages.items()
    }
    deps = {
        name: [d["path"] for d in (body or {}).get("deps") or []] for name, body in stages.items()
    }
    sampling = {s for s in stages if s in tolerance.monte_carlo_stages} | {
        s for s, paths in outs.items() if posteriors & set(paths)
    }
    after: set[str] = set()
    tainted = [p for s in sampling for p in outs[s]]
    changed = True
    while changed:  # stages reading anything a sampling (or later) stage wrote
        changed = False
        for stage in stages.keys() - sampling - after:
            if any(_related(d, t) for d in deps[stage] for t in tainted):
                after.add(stage)
                tainted.extend(outs[stage])
                changed = True
    classes: dict[str, str] = {}
    for stage, paths in outs.items():
        for path in paths:
            if stage in sampling:
                classes[path] = (
                    MONTE_CARLO if path in posteriors else AFTER_FIT if _is_report(path) else EXACT
                )
            elif path in posteriors:
                classes[path] = MONTE_CARLO
            else:
                classes[path] = AFTER_FIT if stage in after else EXACT
    return classes


def _mcse(stats: Mapping[str, Any]) -> float | None:
    """Monte Carlo standard error of a summarized mean: its own, else ``sd / sqrt(ess)``."""
    own = stats.get("mcse_mean")
    if _number(own):
        return float(own)
    sd, ess = stats.get("sd"), stats.get("ess_bulk")
    if _number(sd) and _number(ess) and ess > 0:
        return float(sd) / math.sqrt(float(ess))
    return None


def _number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def _summaries(doc: Any, prefix: str = "") -> dict[str, Mapping[str, Any]]:
    """``{flat prefix: summary}`` of every posterior summary in a JSON document."""
    found: dict[str, Mapping[str, Any]] = {}
    if isinstance(doc, Mapping):
        params = doc.get("parameters")
        if isinstance(params, Mapping) and any(
            isinstance(v, Mapping) and "mean" in v for v in params.values()
        ):
            found[prefix] = doc
        for key, sub in doc.items():
            found.update(_summaries(sub, f"{prefix}.{key}" if prefix else str(key)))
    return found


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


def _statistic(value: Any) -> bool:
    """A number, boolean or list of them: something computed from the draws."""
    if isinstance(value, list):
        return all(_statistic(v) for v in value)
    return value is None or isinstance(value, int | float | bool)


def compare_posterior_json(
    recorded: Any, reproduced: Any, *, k: float = 4.0
) -> tuple[list[dict[str, Any]], list[str], int]:
    """Compare two JSON documents of a posterior within Monte Carlo error.

    Parameters
    ----------
    recorded, reproduced
        The parsed documents (a fit's ``summary.json``, a model card holding one under
        ``summary``, diagnostics...).
    k
        Monte Carlo standard errors a mean may move.

    Returns
    -------
    checks : list of dict
        One per summarized mean (``parameters``, ``omega``, ``sigma``, ``effects``):
        ``quantity``, ``recorded``, ``reproduced``, ``difference``, ``bound``
        (``k * sqrt(mcse_a**2 + mcse_b**2)``) and ``held``.
    fixed : list of str
        What differs and must not: keys added or removed, text (names, data hashes), the
        ``spec`` and ``settings`` subtrees.
    statistics : int
        How many other values of the draws differ (SDs, intervals, R-hat, ESS, divergences,
        shrinkage; the gate judges them).

    Examples
    --------
    >>> a = {"parameters": {"cl": {"mean": 5.0, "sd": 0.2, "ess_bulk": 400.0}}}
    >>> b = {"parameters": {"cl": {"mean": 5.03, "sd": 0.21, "ess_bulk": 390.0}}}
    >>> checks, fixed, statistics = compare_posterior_json(a, b)
    >>> checks[0]["held"], round(checks[0]["bound"], 4), fixed, statistics
    (True, 0.0584, [], 2)
    """
    checks: list[dict[str, Any]] = []
    mean_keys: set[str] = set()
    after_summaries = _summaries(reproduced)
    for prefix, before in _summaries(recorded).items():
        now = after_summaries.get(prefix)
        if now is None:
            continue
        for group in SUMMARY_GROUPS:
            g_a, g_b = before.get(group) or {}, now.get(group) or {}
            for name in sorted(g_a.keys() & g_b.keys()):
                s_a, s_b = g_a[name], g_b[name]
                if not (isinstance(s_a, Mapping) and isinstance(s_b, Mapping)):
                    continue
                key = ".".join(p for p in (prefix, group, name, "mean") if p)
                mean_keys.add(key)
                a, b = s_a.get("mean"), s_b.get("mean")
                e_a, e_b = _mcse(s_a), _mcse(s_b)
                bound = k * math.hypot(e_a, e_b) if e_a is not None and e_b is not None else None
                ok = _same(a, b) or (
                    _number(a) and _number(b) and bound is not None and abs(b - a) <= bound
                )
                checks.append({
                    "quantity": f"{group}.{name}" + (f" ({prefix})" if prefix else ""),
                    "recorded": a,
                    "reproduced": b,
                    "difference": b - a if _number(a) and _number(b) else None,
                    "bound": bound,
                    "held": bool(ok),
                })  # fmt: skip
    flat_a, flat_b = flatten(recorded), flatten(reproduced)
    fixed: list[str] = []
    statistics = 0
    for key in sorted(flat_a.keys() | flat_b.keys()):
        if key in mean_keys:
            continue
        if key not in flat_a or key not in flat_b:
            fixed.append(f"key {key}: {'added' if key not in flat_a else 'removed'}")
            continue
        a, b = flat_a[key], flat_b[key]
        if _same(a, b):
            continue
        parts = set(key.split("."))
        if parts & DRAW_HASH_KEYS or (not parts & RUN_KEYS and _statistic(a) and _statistic(b)):
            statistics += 1
        else:
            fixed.append(f"key {key}: {_snippet(a)} -> {_snippet(b)}")
    return checks, fixed, statistics


def in_store(rel: str) -> bool:
    """Whether a file lies inside a zarr store (the draws, not their summaries).

    Examples
    --------
    >>> in_store("fit/posterior.zarr/posterior/ka/c/0/0"), in_store("fit/summary.json")
    (True, False)
    """
    return any(part.endswith(".zarr") for part in Path(rel).parts[:-1])


def share_of_bound(check: Mapping[str, Any]) -> float:
    """How much of its bound a check of :func:`compare_posterior_json` used (``inf``: none).

    Examples
    --------
    >>> share_of_bound({"difference": -0.02, "bound": 0.08, "held": True})
    0.25
    """
    diff, bound = check.get("difference"), check.get("bound")
    if diff is None or bound is None:
        return 0.0 if check.get("held") else math.inf
    return abs(diff) / bound if bound > 0 else (0.0 if diff == 0 else math.inf)


def _snippet(value: Any, width: int = 60) -> str:
    text = json.dumps(value)
    return text if len(text) <= width else text[: width - 3] + "..."
