"""Inclusion / exclusion criteria written as readable expressions over covariate names.

A criterion is a Python-like boolean expression over the model's covariate names, e.g.
``"WT >= 50 and CRCL > 30"``, ``"CYP2C9 in [0, 1]"``, ``"not (AGE > 80 and SEX == 1)"`` or
``'CYP2C9 == "*1/*1"'`` (text levels of a coded covariate are replaced by their codes).
Several criteria must all hold.

Expressions are parsed with :mod:`ast`, checked against a short list of allowed constructs
(comparisons, ``in [...]``, ``and / or / not`` (or ``& | ~``), arithmetic, numbers, strings,
covariate names) and evaluated on NumPy arrays by the small evaluator below – nothing is passed
to :func:`eval`. ``pandas.eval`` was not used because it resolves ``@name`` against the
caller's variables and reports an unknown column without the list of known ones. As in
Python, ``& | ~`` bind tighter than comparisons, so each comparison they join must be in
parentheses (a criterion that forgets them is refused rather than silently misread).

Criteria may come from a dashboard user or a parameter file, so their cost is bounded before
anything is evaluated: an expression holds at most :data:`MAX_LENGTH` characters and nests at
most :data:`MAX_DEPTH` levels; a number is at most :data:`MAX_LITERAL_CHARS` characters long and
at most :data:`MAX_MAGNITUDE` in absolute value; ``**`` takes a number (optionally negated) of at
most :data:`MAX_EXPONENT` in absolute value as its exponent, so ``WT > 10**10**7`` (a
ten-million-digit integer) is refused instead of pinning a core. Numbers are evaluated as
64-bit floats, never as Python's unbounded integers.

A missing value never satisfies a comparison (``WT > 50`` and ``WT <= 50`` are both false),
so its negation holds: ``not (WT > 100)`` keeps patients whose weight is unknown. Patients
missing a covariate the model needs are left out before the criteria apply.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "MAX_DEPTH",
    "MAX_EXPONENT",
    "MAX_LENGTH",
    "MAX_LITERAL_CHARS",
    "MAX_MAGNITUDE",
    "Criteria",
]

#: Longest criterion accepted, in characters.
MAX_LENGTH = 1000
#: Deepest nesting of a criterion's syntax tree.
MAX_DEPTH = 50
#: Longest numeric literal accepted, in characters (``1e300`` is 5, a 40-digit integer 40).
MAX_LITERAL_CHARS = 24
#: Largest absolute value of a numeric constant.
MAX_MAGNITUDE = 1e15
#: Largest absolute value of the (literal) exponent of ``**``.
MAX_EXPONENT = 10

_COMPARE = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
}
_BINARY = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Pow: operator.pow,
    ast.Mod: operator.mod,
    ast.BitAnd: np.logical_and,
    ast.BitOr: np.logical_or,
}
_ALLOWED_HINT = (
    "use covariate names, numbers, comparisons (== != < <= > >=), 'in [...]', "
    "and / or / not (or & | ~) and arithmetic (+ - * / ** %)"
)


@dataclass(frozen=True)
class Criteria:
    """Validated criteria over a fixed set of covariate names.

    Parameters
    ----------
    expressions : str or sequence of str
        The criteria; all must hold. Empty: everyone is eligible.
    names : sequence of str
        The covariate names an expression may use.
    codes : mapping, optional
        Per coded covariate, text level -> code, so that ``CYP2C9 == "*1/*1"`` works.

    Raises
    ------
    ValueError
        A syntax error, an unknown covariate name, an unknown text level or a construct that
        is not allowed, with the offending expression.

    Examples
    --------
    >>> import pandas as pd
    >>> c = Criteria("WT >= 50 and CYP2C9 == '*1/*1'", ["WT", "CYP2C9"],
    ...              codes={"CYP2C9": {"*1/*1": 0, "*1/*2": 1}})
    >>> c.mask(pd.DataFrame({"WT": [40.0, 60.0, 70.0], "CYP2C9": [0, 0, 1]})).tolist()
    [False, True, False]
    >>> Criteria("HEIGHT > 150", ["WT"])
    Traceback (most recent call last):
    ...
    ValueError: criterion 'HEIGHT > 150': unknown covariate 'HEIGHT'; known: ['WT']
    """

    expressions: tuple[str, ...]
    names: tuple[str, ...]
    codes: Mapping[str, Mapping[str, float]] | None = None

    def __init__(
        self,
        expressions: str | Sequence[str] = (),
        names: Sequence[str] = (),
        *,
        codes: Mapping[str, Mapping[str, float]] | None = None,
    ) -> None:
        if isinstance(expressions, str):
            expressions = (expressions,) if expressions.strip() else ()
        exprs = tuple(str(e).strip() for e in expressions)
        if any(not e for e in exprs):
            raise ValueError("a criterion is an empty string")
        object.__setattr__(self, "expressions", exprs)
        object.__setattr__(self, "names", tuple(names))
        object.__setattr__(self, "codes", {k: dict(v) for k, v in dict(codes or {}).items()})
        trees = tuple(self._parse(e) for e in exprs)
        object.__setattr__(self, "_trees", trees)

    def __bool__(self) -> bool:
        return bool(self.expressions)

    def __reduce__(self) -> tuple[Any, ...]:
        # re-validate on unpickling (Dask workers) instead of pickling AST nodes
        return (_rebuild, (self.expressions, self.names, self.codes))

    @property
    def text(self) -> str:
        """All criteria as one expression (``"(a) and (b)"``), or ``""``."""
        if len(self.expressions) == 1:
            return self.expressions[0]
        return " and ".join(f"({e})" for e in self.expressions)

    @property
    def used(self) -> tuple[str, ...]:
        """Covariate names the criteria use, sorted."""
        out = set()
        for tree in self._trees:  # type: ignore[attr-defined]
            out |= {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
        return tuple(sorted(out))

    def mask(self, frame: Any) -> np.ndarray:
        """Boolean array: which rows of ``frame`` (columns by covariate name) pass all criteria."""
        n = len(frame)
        out = np.ones(n, dtype=bool)
        columns = {name: np.asarray(frame[name], dtype=float) for name in self.used}
        with np.errstate(all="ignore"):
            for expr, tree in zip(self.expressions, self._trees, strict=True):  # type: ignore[attr-defined]
                value = np.asarray(_evaluate(tree.body, columns, self.codes))
                if value.dtype != bool:
                    raise ValueError(
                        f"criterion {expr!r} is not a condition (it gives {value.dtype} values, "
                        "not true/false); compare it with something, e.g. 'WT >= 50'"
                    )
                out &= np.broadcast_to(value, (n,))
        return out

    def _parse(self, expr: str) -> ast.Expression:
        if len(expr) > MAX_LENGTH:
            raise ValueError(
                f"criterion {expr[:40]!r}... is {len(expr)} characters long; at most "
                f"{MAX_LENGTH} are allowed"
            )
        try:
            tree = ast.parse(expr, mode="eval")
        except SyntaxError as err:
            hint = ""
            if "=" in expr and "==" not in expr and "<=" not in expr and ">=" not in expr:
                hint = "; use == to test equality"
            raise ValueError(
                f"criterion {expr!r} is not a valid expression: {err.msg} "
                f"(at character {err.offset}){hint}"
            ) from None
        _check_depth(expr, tree)
        known = set(self.names)
        for node in ast.walk(tree):
            if isinstance(node, ast.Name):
                if node.id not in known:
                    raise ValueError(
                        f"criterion {expr!r}: unknown covariate {node.id!r}; known: {sorted(known)}"
                    )
            elif isinstance(node, ast.Constant):
                if not isinstance(node.value, int | float | str | bool):
                    raise ValueError(f"criterion {expr!r}: constant {node.value!r} not allowed")
                _check_number(expr, node)
            elif not isinstance(node, _ALLOWED_NODES):
                raise ValueError(
                    f"criterion {expr!r}: {type(node).__name__} is not allowed; {_ALLOWED_HINT}"
                )
        for node in ast.walk(tree):
            if isinstance(node, ast.Compare):
                self._check_compare(expr, node)
            elif _is_logical(node):
                operands = [node.operand] if isinstance(node, ast.UnaryOp) else []
                operands += [node.left, node.right] if isinstance(node, ast.BinOp) else []
                if not all(_is_condition(o) for o in operands):
                    raise ValueError(
                        f"criterion {expr!r}: & | ~ bind tighter than comparisons; put each "
                        "comparison in parentheses, e.g. '(WT >= 50) & (CRCL > 30)', or use "
                        "and / or / not"
                    )
            elif isinstance(node, ast.List | ast.Tuple):
                if not all(isinstance(e, ast.Constant) for e in node.elts):
                    raise ValueError(f"criterion {expr!r}: a list may hold constants only")
            elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow):
                _check_exponent(expr, node.right)
        for node in ast.walk(tree):  # text only as a coded covariate's level, never computed
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and not hasattr(node, "_twinlab_codes")
            ):
                raise ValueError(
                    f"criterion {expr!r}: text {node.value!r} may only be compared with a coded "
                    "covariate, e.g. \"CYP2C9 == 'PM'\", not computed with"
                )
        return tree

    def _check_compare(self, expr: str, node: ast.Compare) -> None:
        operands = [node.left, *node.comparators]
        for op, right in zip(node.ops, node.comparators, strict=True):
            if isinstance(op, ast.In | ast.NotIn) and not isinstance(right, ast.List | ast.Tuple):
                raise ValueError(f"criterion {expr!r}: 'in' needs a list, e.g. 'X in [0, 1]'")
        names = [o.id for o in operands if isinstance(o, ast.Name)]
        texts = [
            e.value
            for o in operands
            for e in (o.elts if isinstance(o, ast.List | ast.Tuple) else [o])
            if isinstance(e, ast.Constant) and isinstance(e.value, str)
        ]
        if not texts:
            return
        coded = [n for n in names if n in (self.codes or {})]
        if len(coded) != 1:
            raise ValueError(
                f"criterion {expr!r}: text values compare only with one coded covariate "
                f"(coded: {sorted(self.codes or {})})"
            )
        levels = self.codes[coded[0]]  # type: ignore[index]
        unknown = [t for t in texts if t not in levels]
        if unknown:
            raise ValueError(
                f"criterion {expr!r}: {coded[0]} has no level {unknown[0]!r}; "
                f"levels: {sorted(levels)}"
            )
        for o in operands:
            o._twinlab_codes = levels  # type: ignore[attr-defined]
            for e in o.elts if isinstance(o, ast.List | ast.Tuple) else ():
                e._twinlab_codes = levels  # type: ignore[attr-defined]


_ALLOWED_NODES = (
    ast.Expression,
    ast.BoolOp,
    ast.And,
    ast.Or,
    ast.UnaryOp,
    ast.Not,
    ast.Invert,
    ast.USub,
    ast.UAdd,
    ast.Compare,
    ast.In,
    ast.NotIn,
    ast.BinOp,
    ast.Load,
    ast.List,
    ast.Tuple,
    *_COMPARE,
    *_BINARY,
)


def _check_depth(expr: str, tree: ast.AST) -> None:
    """Refuse a syntax tree nested deeper than :data:`MAX_DEPTH` (walked without recursion)."""
    stack = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ValueError(
                f"criterion {expr!r} nests more than {MAX_DEPTH} levels deep; simplify it"
            )
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))


def _check_number(expr: str, node: ast.Constant) -> None:
    """Refuse a numeric literal that is too long or too large (bools and strings pass)."""
    value = node.value
    if isinstance(value, bool) or not isinstance(value, int | float):
        return
    source = ast.get_source_segment(expr, node) or repr(value)
    if len(source) > MAX_LITERAL_CHARS:
        raise ValueError(
            f"criterion {expr!r}: the number {source[:20]}... is {len(source)} characters long; "
            f"at most {MAX_LITERAL_CHARS} are allowed"
        )
    if not abs(value) <= MAX_MAGNITUDE:  # also refuses inf and nan
        raise ValueError(
            f"criterion {expr!r}: the number {source} is larger than {MAX_MAGNITUDE:g} in "
            "absolute value"
        )


def _check_exponent(expr: str, node: ast.AST) -> None:
    """Accept ``** n`` only for a literal ``n`` (optionally signed), ``|n| <= MAX_EXPONENT``."""
    literal = node.operand if isinstance(node, ast.UnaryOp) else node
    if (
        (isinstance(node, ast.UnaryOp) and not isinstance(node.op, ast.USub | ast.UAdd))
        or not isinstance(literal, ast.Constant)
        or isinstance(literal.value, bool)
        or not isinstance(literal.value, int | float)
    ):
        raise ValueError(
            f"criterion {expr!r}: the exponent of ** must be a number, e.g. 'WT ** 0.75' "
            f"(not {ast.get_source_segment(expr, node) or type(node).__name__!r})"
        )
    if abs(literal.value) > MAX_EXPONENT:
        raise ValueError(
            f"criterion {expr!r}: the exponent {literal.value!r} of ** is larger than "
            f"{MAX_EXPONENT} in absolute value"
        )


def _is_logical(node: ast.AST) -> bool:
    return (isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitAnd | ast.BitOr)) or (
        isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Invert)
    )


def _is_condition(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Compare | ast.BoolOp)
        or _is_logical(node)
        or (isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not))
        or (isinstance(node, ast.Constant) and isinstance(node.value, bool))
    )


def _rebuild(
    expressions: tuple[str, ...], names: tuple[str, ...], codes: Mapping[str, Any]
) -> Criteria:
    return Criteria(expressions, names, codes=codes)


def _constant(node: ast.Constant) -> Any:
    levels = getattr(node, "_twinlab_codes", None)
    if isinstance(node.value, str):
        return float(levels[node.value])  # checked at parse time
    if isinstance(node.value, bool):
        return node.value
    # 64-bit floats: arithmetic on them cannot grow without bound like Python integers
    return np.float64(node.value)


def _evaluate(node: ast.AST, columns: Mapping[str, np.ndarray], codes: Any) -> Any:
    if isinstance(node, ast.Name):
        return columns[node.id]
    if isinstance(node, ast.Constant):
        return _constant(node)
    if isinstance(node, ast.BoolOp):
        values = [np.asarray(_evaluate(v, columns, codes), dtype=bool) for v in node.values]
        fn = np.logical_and if isinstance(node.op, ast.And) else np.logical_or
        return fn.reduce(values)
    if isinstance(node, ast.UnaryOp):
        value = _evaluate(node.operand, columns, codes)
        if isinstance(node.op, ast.Not | ast.Invert):
            return np.logical_not(value)
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.BinOp):
        left = _evaluate(node.left, columns, codes)
        right = _evaluate(node.right, columns, codes)
        return _BINARY[type(node.op)](left, right)
    if isinstance(node, ast.Compare):
        result: Any = True
        left = _evaluate(node.left, columns, codes)
        for op, comp in zip(node.ops, node.comparators, strict=True):
            if isinstance(op, ast.In | ast.NotIn):
                values = [_constant(e) for e in comp.elts]  # type: ignore[attr-defined]
                test = np.isin(left, values)
                test = ~test if isinstance(op, ast.NotIn) else test
                right = None
            else:
                right = _evaluate(comp, columns, codes)
                test = _COMPARE[type(op)](left, right)
            result = np.logical_and(result, test)
            left = right
        return result
    raise ValueError(f"{type(node).__name__} is not allowed; {_ALLOWED_HINT}")  # pragma: no cover
