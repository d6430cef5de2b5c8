"""UCUM unit expressions on a pint registry.

pint does the arithmetic of units; this module only rewrites UCUM notation into pint's, token by
token: bracketed atoms (``[lb_av]``, ``[in_i]``, ``[degF]``, ``mm[Hg]``, ``[IU]``), ``Cel``,
powers of ten (``10*9``, ``10^9``), exponents written after the atom (``m2``, ``s-1``), ``.``
for multiplication, a leading ``/`` (``/min``) and annotations (``{steps}``, which are unity).
No maintained Python UCUM parser is a twinlab dependency, and pint's own parser already handles
everything after this rewrite, so the rewrite is kept to a small tokenizer.

Non-UCUM spellings found in real data (``LB``, ``mmHg``, ``x10^9/L``, ``IU/L``...) are turned
into UCUM first by :func:`to_ucum` through ``tables/unit_synonyms.csv``.
"""

from __future__ import annotations

import math
import re
import tokenize
from functools import cache, lru_cache
from typing import Any

import pint

from twinlab.terminology.catalog import unit_synonyms

__all__ = ["UnitError", "parse_ucum", "registry", "to_pint", "to_ucum"]


class UnitError(ValueError):
    """A unit that cannot be parsed, or a conversion that cannot be done; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


#: UCUM atoms that take no prefix -> pint names.
_PLAIN: dict[str, str] = {
    "[lb_av]": "avoirdupois_pound",
    "[oz_av]": "avoirdupois_ounce",
    "[in_i]": "inch",
    "[ft_i]": "foot",
    "[degF]": "degree_Fahrenheit",
    "Cel": "degree_Celsius",
    "mm[Hg]": "millimeter_Hg",
    "cm[H2O]": "centimeter_H2O",
    "%": "percent",
    "[ppm]": "ppm",
    "min": "minute",
    "h": "hour",
    "d": "day",
    "wk": "week",
    "mo": "ucum_month",
    "a": "julian_year",
}
#: UCUM metric atoms (these take prefixes) -> pint symbols.
_METRIC: dict[str, str] = {
    "g": "g",
    "t": "t",
    "m": "m",
    "L": "L",
    "l": "L",
    "s": "s",
    "mol": "mol",
    "eq": "eq_",
    "U": "U",
    "[IU]": "IU_",
    "[iU]": "IU_",
    "kat": "kat",
    "Pa": "Pa",
    "bar": "bar",
    "K": "K",
    "J": "J",
    "W": "W",
    "N": "N",
    "V": "V",
    "Hz": "Hz",
    "cal": "cal",
}
_PREFIXES = ("da", "Y", "Z", "E", "P", "T", "G", "M", "k", "h", "d", "c", "m", "u", "n", "p", "f",
             "a", "z", "y")  # fmt: skip


def _atom(atom: str) -> str:
    if atom in _PLAIN:
        return _PLAIN[atom]
    if atom in _METRIC:
        return _METRIC[atom]
    for prefix in _PREFIXES:
        if atom.startswith(prefix) and atom[len(prefix) :] in _METRIC:
            return prefix + _METRIC[atom[len(prefix) :]]
    raise UnitError(f"unknown UCUM symbol {atom!r}")  # not "atom": Philter removes it


_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<open>\()
  | (?P<close>\))
  | (?P<mul>\.)
  | (?P<div>/)
  | (?P<annotation>\{[^{}]*\})
  | (?P<ten>10[*^](?P<tenexp>[+-]?\d+))
  | (?P<number>\d+)
  | (?P<atom>(?:\[[^\[\]]*\]|[^\s.\/(){}\[\]0-9+\-])+)(?P<exp>[+-]?\d+)?
    """,
    re.VERBOSE,
)


@cache
def registry() -> pint.UnitRegistry:
    """The shared pint registry, extended with the units and contexts UCUM data needs.

    Added: ``equivalent`` (``eq``, its own dimension, converted to moles only with an analyte's
    valence), ``international_unit`` (``[IU]``, its own dimension, arbitrary), ``ucum_month``
    (``mo``, a Julian year / 12). Contexts (activated per analyte by
    :mod:`twinlab.terminology.units`): ``molar`` (``mw``: mass <-> substance), ``valence``
    (``z``: equivalents <-> substance) and ``iu_as_u`` (IU <-> enzyme unit).
    """
    ureg = pint.UnitRegistry(autoconvert_offset_to_baseunit=False, cache_folder=None)
    ureg.define("equivalent = [equivalent] = eq_")
    ureg.define("international_unit = [international_unit] = IU_")
    ureg.define("ucum_month = julian_year / 12")

    def ctx(name: str, rules: list[tuple[str, str, Any]], **defaults: Any) -> None:
        context = pint.Context(name, defaults=defaults)
        for src, dst, func in rules:
            context.add_transformation(src, dst, func)
        ureg.add_context(context)

    ctx(
        "molar",
        [
            ("[mass]", "[substance]", lambda u, v, mw, **_: v / mw),
            ("[substance]", "[mass]", lambda u, v, mw, **_: v * mw),
            ("[mass]/[volume]", "[substance]/[volume]", lambda u, v, mw, **_: v / mw),
            ("[substance]/[volume]", "[mass]/[volume]", lambda u, v, mw, **_: v * mw),
        ],
        mw=None,
    )
    eq_per_mol = ureg.Quantity(1.0, "equivalent/mol")
    ctx(
        "valence",
        [
            ("[equivalent]", "[substance]", lambda u, v, z, **_: v / (z * eq_per_mol)),
            ("[substance]", "[equivalent]", lambda u, v, z, **_: v * (z * eq_per_mol)),
            (
                "[equivalent]/[volume]",
                "[substance]/[volume]",
                lambda u, v, z, **_: v / (z * eq_per_mol),
            ),
            (
                "[substance]/[volume]",
                "[equivalent]/[volume]",
                lambda u, v, z, **_: v * (z * eq_per_mol),
            ),
        ],
        z=None,
    )
    u_per_iu = ureg.Quantity(1.0, "enzyme_unit/international_unit")
    ctx(
        "iu_as_u",
        [
            ("[international_unit]", "[substance]/[time]", lambda u, v, **_: v * u_per_iu),
            ("[substance]/[time]", "[international_unit]", lambda u, v, **_: v / u_per_iu),
            (
                "[international_unit]/[volume]",
                "[substance]/[time]/[volume]",
                lambda u, v, **_: v * u_per_iu,
            ),
            (
                "[substance]/[time]/[volume]",
                "[international_unit]/[volume]",
                lambda u, v, **_: v / u_per_iu,
            ),
        ],
    )
    return ureg


def to_ucum(unit: object) -> str:
    """Return the UCUM spelling of a unit as given in a source.

    Exact synonyms first (``LB`` -> ``[lb_av]``, ``C`` -> ``Cel``), then the text itself when it
    parses as UCUM, then case-insensitive synonyms (``Mg/Dl`` -> ``mg/dL``).

    Parameters
    ----------
    unit : object
        The unit text (surrounding blanks ignored).

    Returns
    -------
    str

    Raises
    ------
    UnitError
        If the unit is missing or neither a known spelling nor valid UCUM.

    Examples
    --------
    >>> to_ucum("LB"), to_ucum("x10^9/L"), to_ucum("mg/dL")
    ('[lb_av]', '10*9/L', 'mg/dL')
    """
    if not isinstance(unit, str) or not unit.strip():
        raise UnitError("no unit given")
    return _to_ucum(unit.strip())


@lru_cache(maxsize=4096)
def _to_ucum(text: str) -> str:
    exact, folded = unit_synonyms()
    if text in exact:
        return exact[text]
    try:
        parse_ucum(text)
        return text
    except UnitError as err:
        if text.casefold() in folded:
            return folded[text.casefold()]
        raise UnitError(f"unknown unit {text!r}: {err.reason}") from None


def to_pint(ucum: str) -> str:
    """Rewrite a UCUM expression as a pint expression (no validation of the atoms).

    Raises
    ------
    UnitError
        If the text is not a well-formed UCUM term.
    """
    out: list[str] = []
    pos = 0
    expect_operand = True
    while pos < len(ucum):
        m = _TOKEN.match(ucum, pos)
        if m is None:
            raise UnitError(f"unexpected {ucum[pos:]!r} in {ucum!r}")
        pos = m.end()
        if m.group("space"):
            raise UnitError(f"blank inside unit {ucum!r}")
        if m.group("open"):
            out.append("(")
            expect_operand = True
        elif m.group("close"):
            out.append(")")
            expect_operand = False
        elif m.group("mul") or m.group("div"):
            if expect_operand:
                if (m.group("div") and not out) or (out and out[-1] == "("):
                    out.append("1")
                else:
                    raise UnitError(f"operator without operand in {ucum!r}")
            out.append("*" if m.group("mul") else "/")
            expect_operand = True
        elif m.group("annotation"):
            if expect_operand:  # an annotation alone is unity
                out.append("1")
                expect_operand = False
        elif m.group("ten"):
            out.append(f"1e{int(m.group('tenexp'))}")
            expect_operand = False
        elif m.group("number"):
            out.append(m.group("number"))
            expect_operand = False
        else:
            atom, exp = m.group("atom"), m.group("exp")
            name = _atom(atom)
            out.append(f"{name}**{int(exp)}" if exp else name)
            expect_operand = False
    if expect_operand:
        raise UnitError(f"incomplete unit {ucum!r}")
    return "".join(out)


@lru_cache(maxsize=4096)
def parse_ucum(ucum: str) -> pint.Quantity:
    """Parse a UCUM expression into a pint quantity (magnitude = the numeric factor, e.g. 1e9).

    Raises
    ------
    UnitError
        If the expression is malformed or names a unit pint does not know.
    """
    ureg = registry()
    expr = to_pint(ucum)
    try:
        q = ureg.parse_expression(expr)
    except (
        pint.errors.PintError,
        AttributeError,
        SyntaxError,
        TypeError,
        ValueError,
        ArithmeticError,
        tokenize.TokenError,  # a parenthesis never closed ("mg/(dL"): pint's tokenizer
    ) as err:  # ArithmeticError: a factor of zero divides ("mg/dL/0"), or one overflows
        raise UnitError(f"cannot parse {ucum!r}: {err}") from None
    if not isinstance(q, ureg.Quantity):
        q = ureg.Quantity(float(q), "dimensionless")
    factor = float(q.magnitude)
    if not math.isfinite(factor) or factor == 0:  # "0", "10*999": no conversion can use it
        raise UnitError(f"cannot parse {ucum!r}: its numeric factor is {factor!r}")
    return q
